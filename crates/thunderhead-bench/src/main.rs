//! `thunderhead-bench`: seeds its own data, starts a Thunderhead server in a child process,
//! drives load over keep-alive connections, and prints a table.
//!
//!     cargo run --release -p thunderhead-bench -- [--database-url postgres://…] [--connections 32]

mod load;
mod report;
mod seed;
mod server;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use hyper::Method;
use serde_json::json;
use thunderhead::domain::password::HashCost;
use thunderhead::hashing::PasswordHasher;

use load::{drive, once, Shot};
use report::{Report, Row};
use server::{Server, ServerOptions};

#[derive(Debug, Parser)]
#[command(about = "Benchmark Thunderhead: seed, serve, load, report")]
struct Args {
    /// Database to run on; a fresh SQLite file in a temporary directory if omitted. For
    /// PostgreSQL a fresh schema is made in the named database and dropped afterwards.
    #[arg(long)]
    database_url: Option<String>,
    /// Keep-alive connections for the throughput scenarios.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds each load scenario runs.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Sessions of the heavy user.
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
    /// The server's log level (`info` logs every request, as in production).
    #[arg(long, default_value = "info")]
    server_log: String,
    /// Argon2id memory cost (KiB), passes and lanes; the server's defaults.
    #[arg(long, num_args = 3, value_names = ["KIB", "PASSES", "LANES"], default_values_t = [19_456, 2, 1])]
    argon2: Vec<u32>,
}

fn main() -> ExitCode {
    if std::env::var_os(server::CHILD_FLAG).is_some() {
        return thunderhead::cli::main(std::env::args_os());
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("thunderhead-bench: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("thunderhead-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (url, cleanup) = match &args.database_url {
        Some(url) if url.starts_with("postgres") => {
            let schema = format!("thunderhead_bench_{}", rand::random::<u32>());
            let admin = seed::Admin::open(url).await?;
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin.0)
                .await?;
            let sep = if url.contains('?') { '&' } else { '?' };
            (
                format!("{url}{sep}options=-c%20search_path%3D{schema}"),
                Some((admin, schema)),
            )
        }
        Some(url) => (url.clone(), None),
        None => (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            None,
        ),
    };
    let outcome = bench(&args, &url, dir.path()).await;
    if let Some((admin, schema)) = cleanup {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin.0)
            .await;
    }
    outcome
}

async fn bench(args: &Args, url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let cost = HashCost {
        memory_kib: args.argon2[0],
        iterations: args.argon2[1],
        parallelism: args.argon2[2],
    };
    eprintln!("seeding accounts and {} sessions…", args.sessions);
    let db = seed::Seeder::open(url).await?;
    let [_, one, many, _, fifty] = <[_; 5]>::try_from(db.accounts(cost).await?)
        .map_err(|_| anyhow::anyhow!("seeding made the wrong number of accounts"))?;
    let now = unix_now();
    let far = now + 30 * 24 * 3600;
    db.add_sessions(many, now - 1_000_000, args.sessions, far)
        .await?;
    db.add_sessions(fifty, now - 1_000_000, 49, far).await?;

    let server = Server::start(&ServerOptions {
        database_url: url,
        key_file: &server::key_path(dir),
        log_file: &dir.join("server.log"),
        log_level: &args.server_log,
        argon2: [cost.memory_kib, cost.iterations, cost.parallelism],
    })?;
    let addr = server.addr;
    let token = |name: &'static str| login(addr, name);
    let (staff_token, one_token, many_token) = (
        token("staff").await?,
        token("one").await?,
        token("many").await?,
    );
    let fifty_token = token("fifty").await?;
    let mut report = Report::new(url, args.connections, Duration::from_secs(args.duration));
    let secs = Duration::from_secs(args.duration);
    let n = args.connections;

    let scenarios = [
        ("GET /api", Shot::get("/api", None)),
        (
            "GET /api/user/session (authenticated)",
            Shot::get("/api/user/session", Some(&one_token)),
        ),
        (
            "GET /api/user/sessions, 1 session",
            Shot::get("/api/user/sessions", Some(&one_token)),
        ),
        (
            "GET /api/user/sessions, 50 sessions",
            Shot::get("/api/user/sessions", Some(&fifty_token)),
        ),
        (
            "GET /api/user/sessions, 100k sessions",
            Shot::get("/api/user/sessions", Some(&many_token)),
        ),
        (
            "staff GET /api/user/:id/sessions, 1 session",
            Shot::get(format!("/api/user/{one}/sessions"), Some(&staff_token)),
        ),
        (
            "staff GET /api/user/:id/sessions, 100k sessions",
            Shot::get(format!("/api/user/{many}/sessions"), Some(&staff_token)),
        ),
    ];
    for (name, shot) in scenarios {
        eprintln!("{name}…");
        let stats = drive(addr, n, secs, shot).await;
        report.push(Row::new(name, n, &stats, server.rss_mib()));
    }

    // Logins: bounded by the password hash, whose own cost is measured beside them.
    let hash_ms = hash_cost_ms(cost).await?;
    let login_shot = Shot::login("login");
    eprintln!("logins…");
    let stats = drive(addr, 4, secs, login_shot.clone()).await;
    report.push(Row::new(
        "POST /api/user/session (login)",
        4,
        &stats,
        server.rss_mib(),
    ));
    report.note(format!(
        "one Argon2id hash ({} KiB, {} passes, {} lane) takes {hash_ms:.1} ms in this process",
        cost.memory_kib, cost.iterations, cost.parallelism
    ));

    // Authenticated reads with and without a burst of logins beside them.
    let quiet_conns = 8;
    let auth = Shot::get("/api/user/session", Some(&one_token));
    eprintln!("authenticated GETs, quiet and during a login burst…");
    let quiet = drive(addr, quiet_conns, secs, auth.clone()).await;
    report.push(Row::new(
        "GET /api/user/session, no logins beside",
        quiet_conns,
        &quiet,
        server.rss_mib(),
    ));
    let (busy, burst) = tokio::join!(
        drive(addr, quiet_conns, secs, auth.clone()),
        drive(addr, 4, secs, login_shot)
    );
    report.push(Row::new(
        "GET /api/user/session, during login burst",
        quiet_conns,
        &busy,
        server.rss_mib(),
    ));
    report.push(Row::new(
        "  (the login burst beside it)",
        4,
        &burst,
        server.rss_mib(),
    ));

    // Revocations for a user holding many sessions.
    eprintln!("revocations…");
    let (status, body, took) = once(
        addr,
        &Shot {
            method: Method::DELETE,
            ..Shot::get(format!("/api/user/{many}/sessions/all"), Some(&staff_token))
        },
    )
    .await?;
    anyhow::ensure!(status == 200, "revoke-all answered {status}: {body}");
    report.single(
        format!(
            "staff revoke-all of {} sessions (one request)",
            body["count"]
        ),
        took,
    );
    let seeding = Instant::now();
    let base = now + 10_000_000;
    db.add_sessions(many, base, args.sessions, far).await?;
    // The revoke-all above left 100k rows for the background purge; time it, and measure the
    // bulk revocations on the steady state after it.
    let seeded_for = seeding.elapsed();
    let purge_started = Instant::now();
    while db.purge_pending().await? {
        anyhow::ensure!(
            purge_started.elapsed() < Duration::from_secs(120),
            "the purge did not finish in 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    report.note(format!(
        "the background purge of the {} revoked rows finished {:.1} s after the revoke-all answered \
         (while {} new sessions were being seeded for the same user)",
        args.sessions,
        purge_started.elapsed().as_secs_f64() + seeded_for.as_secs_f64(),
        args.sessions
    ));
    let mut total = Duration::ZERO;
    let mut worst = Duration::ZERO;
    let mut deleted = 0;
    for batch in 0..10 {
        let ids: Vec<String> = (0..100)
            .map(|i| (base + batch * 100 + i).to_string())
            .collect();
        let (status, body, took) = once(
            addr,
            &Shot {
                method: Method::DELETE,
                body: Some(json!({ "sessions": ids }).to_string()),
                ..Shot::get(format!("/api/user/{many}/sessions"), Some(&staff_token))
            },
        )
        .await?;
        anyhow::ensure!(status == 200, "bulk revoke answered {status}: {body}");
        deleted += body["count"].as_u64().unwrap_or(0);
        total += took;
        worst = worst.max(took);
    }
    report.single(
        format!(
            "staff bulk revoke of {deleted} listed sessions of {} (10 requests × 100)",
            args.sessions
        ),
        total,
    );
    report.single("  slowest of those 10 requests".to_owned(), worst);
    let (_, peak) = server.rss_mib();
    report.peak_rss(peak);
    report.check_targets();
    println!("{}", report.render());
    drop(server);
    Ok(())
}

async fn login(addr: SocketAddr, username: &str) -> anyhow::Result<String> {
    let shot = Shot::login(username);
    let (status, body, _) = once(addr, &shot).await?;
    anyhow::ensure!(
        status == 201,
        "login of {username} answered {status}: {body}"
    );
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token in {body}"))
}

async fn hash_cost_ms(cost: HashCost) -> anyhow::Result<f64> {
    let hasher = PasswordHasher::new(cost, 1, 1)?;
    let rounds = 10;
    let started = Instant::now();
    for _ in 0..rounds {
        hasher.hash(seed::PASSWORD.into()).await?;
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
