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
use thunderhead::domain::UserId;
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
    /// Accounts the staff search looks through.
    #[arg(long, default_value_t = 100_000)]
    accounts: usize,
    /// The server's log level (`info` logs every request, as in production).
    #[arg(long, default_value = "info")]
    server_log: String,
    /// A quick run that only shows the benchmark still works (every scenario present, no
    /// request failed, memory readable); the targets are printed but not checked. CI runs it.
    #[arg(long)]
    smoke: bool,
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
        Ok(report) => {
            println!("{}", report.render());
            let problems = report.problems();
            if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                for problem in problems {
                    eprintln!("thunderhead-bench: {problem}");
                }
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("thunderhead-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<Report> {
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

/// The seeded accounts and a signed-in token of each.
struct Cast {
    one: UserId,
    many: UserId,
    staff_token: String,
    one_token: String,
    many_token: String,
    fifty_token: String,
    /// The introspection scenario's service client.
    client: (String, String),
}

/// What every scenario needs.
struct Bench<'a> {
    args: &'a Args,
    server: Server,
    db: seed::Seeder,
    cast: Cast,
    report: Report,
    /// Expiry of every seeded session: far enough to outlive the run.
    far: i64,
}

async fn bench(args: &Args, url: &str, dir: &std::path::Path) -> anyhow::Result<Report> {
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
    eprintln!("seeding {} accounts for the search…", args.accounts);
    db.members(args.accounts).await?;

    let server = Server::start(&ServerOptions {
        database_url: url,
        key_file: &server::key_path(dir),
        log_file: &dir.join("server.log"),
        log_level: &args.server_log,
        argon2: [cost.memory_kib, cost.iterations, cost.parallelism],
    })?;
    let addr = server.addr;
    let cast = Cast {
        one,
        many,
        staff_token: login(addr, "staff").await?,
        one_token: login(addr, "one").await?,
        many_token: login(addr, "many").await?,
        fifty_token: login(addr, "fifty").await?,
        client: ("bench".to_owned(), db.client("bench").await?),
    };
    let report = Report::new(url, args.connections, Duration::from_secs(args.duration));
    let mut bench = Bench {
        args,
        server,
        db,
        cast,
        report,
        far,
    };
    bench.check_introspection().await?;
    bench.reads().await;
    bench.logins(cost).await?;
    bench.revocations().await?;
    bench.usage_writes(&dir.join("server.log"))?;
    let mut report = bench.report;
    report.check_targets(args.smoke);
    Ok(report)
}

impl Bench<'_> {
    fn secs(&self) -> Duration {
        Duration::from_secs(self.args.duration)
    }

    /// Runs one load scenario and records it with the server's peak memory during it.
    async fn measure(&mut self, name: &str, connections: usize, shot: Shot) {
        eprintln!("{name}…");
        self.server.reset_peak_rss();
        let stats = drive(self.server.addr, connections, self.secs(), shot).await;
        let rss = self.server.peak_rss_mib();
        self.report.push(Row::new(name, connections, &stats, rss));
    }

    /// The introspection scenario must measure live answers, not `{"active": false}`.
    async fn check_introspection(&self) -> anyhow::Result<()> {
        let c = &self.cast;
        let (status, body, _) = once(
            self.server.addr,
            &Shot::introspect(&c.client.0, &c.client.1, &c.one_token),
        )
        .await?;
        anyhow::ensure!(
            status == 200 && body["active"] == true,
            "introspection answered {status}: {body}"
        );
        Ok(())
    }

    /// Throughput of the reads, from the ceiling (`GET /api`) to the heaviest list.
    async fn reads(&mut self) {
        let c = &self.cast;
        let scenarios = [
            ("GET /api", Shot::get("/api", None)),
            (
                "GET /api/user/session (authenticated)",
                Shot::get("/api/user/session", Some(&c.one_token)),
            ),
            (
                "GET /api/auth/forward (forward auth)",
                Shot::get("/api/auth/forward", Some(&c.one_token)),
            ),
            (
                "POST /api/introspect (service client)",
                Shot::introspect(&c.client.0, &c.client.1, &c.one_token),
            ),
            (
                "GET /api/user/sessions, 1 session",
                Shot::get("/api/user/sessions", Some(&c.one_token)),
            ),
            (
                "GET /api/user/sessions, 50 sessions",
                Shot::get("/api/user/sessions", Some(&c.fifty_token)),
            ),
            (
                "GET /api/user/sessions, 100k sessions",
                Shot::get("/api/user/sessions", Some(&c.many_token)),
            ),
            (
                "staff GET /api/user/:id/sessions, 1 session",
                Shot::get(
                    format!("/api/user/{}/sessions", c.one),
                    Some(&c.staff_token),
                ),
            ),
            (
                "staff GET /api/users?search=, 100k accounts",
                // A part of a name, as staff type it: 20 of the 100,000 seeded accounts hold "4242".
                Shot::get("/api/users?search=4242", Some(&c.staff_token)),
            ),
            (
                "staff GET /api/user/:id/sessions, 100k sessions",
                Shot::get(
                    format!("/api/user/{}/sessions", c.many),
                    Some(&c.staff_token),
                ),
            ),
        ];
        for (name, shot) in scenarios {
            self.measure(name, self.args.connections, shot).await;
        }
    }

    /// Logins, bounded by the password hash, whose own cost is measured beside them; then
    /// authenticated reads with and without a burst of logins beside them.
    async fn logins(&mut self, cost: HashCost) -> anyhow::Result<()> {
        let hash_ms = hash_cost_ms(cost).await?;
        let login_shot = Shot::login("login");
        self.measure("POST /api/user/session (login)", 4, login_shot.clone())
            .await;
        self.report.note(format!(
            "one Argon2id hash ({} KiB, {} passes, {} lane) takes {hash_ms:.1} ms in this process",
            cost.memory_kib, cost.iterations, cost.parallelism
        ));
        let quiet_conns = 8;
        let auth = Shot::get("/api/user/session", Some(&self.cast.one_token));
        self.measure(
            "GET /api/user/session, no logins beside",
            quiet_conns,
            auth.clone(),
        )
        .await;
        eprintln!("authenticated GETs during a login burst…");
        self.server.reset_peak_rss();
        let addr = self.server.addr;
        let (busy, burst) = tokio::join!(
            drive(addr, quiet_conns, self.secs(), auth),
            drive(addr, 4, self.secs(), login_shot)
        );
        let rss = self.server.peak_rss_mib();
        self.report.push(Row::new(
            "GET /api/user/session, during login burst",
            quiet_conns,
            &busy,
            rss,
        ));
        self.report
            .push(Row::new("  (the login burst beside it)", 4, &burst, rss));
        Ok(())
    }

    /// Session uses are written in batches (API.md 2.1): the server logs each flush with how
    /// many sessions it wrote in how many statements. Every flush must be one statement, and
    /// write each session once, however many requests it made.
    fn usage_writes(&mut self, log: &std::path::Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(log)?;
        let field = |line: &str, name: &str| -> Option<u64> {
            line.split(&format!("{name}="))
                .nth(1)?
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        let flushes: Vec<(u64, u64)> = text
            .lines()
            .filter(|l| l.contains("wrote session uses"))
            .filter_map(|l| Some((field(l, "sessions")?, field(l, "statements")?)))
            .collect();
        let requests: u64 = self.report.requests_measured();
        let sessions: u64 = flushes.iter().map(|f| f.0).sum();
        let one_statement_each = flushes.iter().all(|f| f.1 == 1);
        self.report
            .usage(flushes.len(), sessions, requests, one_statement_each);
        Ok(())
    }

    /// Revocations for a user holding many sessions: all at once, then listed ones in bulk.
    async fn revocations(&mut self) -> anyhow::Result<()> {
        eprintln!("revocations…");
        let (addr, many, sessions) = (self.server.addr, self.cast.many, self.args.sessions);
        let staff = self.cast.staff_token.clone();
        let (status, body, took) = once(
            addr,
            &Shot {
                method: Method::DELETE,
                ..Shot::get(format!("/api/user/{many}/sessions/all"), Some(&staff))
            },
        )
        .await?;
        anyhow::ensure!(status == 200, "revoke-all answered {status}: {body}");
        self.report.single(
            format!(
                "staff revoke-all of {} sessions (one request)",
                body["count"]
            ),
            took,
        );
        let seeding = Instant::now();
        let base = unix_now() + 10_000_000;
        self.db.add_sessions(many, base, sessions, self.far).await?;
        // The revoke-all above left its rows for the background purge; time it, and measure
        // the bulk revocations on the steady state after it.
        let seeded_for = seeding.elapsed();
        let purge_started = Instant::now();
        while self.db.purge_pending().await? {
            anyhow::ensure!(
                purge_started.elapsed() < Duration::from_secs(120),
                "the purge did not finish in 2 minutes"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.report.note(format!(
            "the background purge of the {sessions} revoked rows finished {:.1} s after the \
             revoke-all answered (while {sessions} new sessions were being seeded for the same user)",
            purge_started.elapsed().as_secs_f64() + seeded_for.as_secs_f64(),
        ));
        let mut total = Duration::ZERO;
        let mut worst = Duration::ZERO;
        let mut deleted = 0;
        let batches = (sessions / 100).min(10) as i64;
        for batch in 0..batches {
            let ids: Vec<String> = (0..100)
                .map(|i| (base + batch * 100 + i).to_string())
                .collect();
            let (status, body, took) = once(
                addr,
                &Shot {
                    method: Method::DELETE,
                    body: Some(json!({ "sessions": ids }).to_string()),
                    ..Shot::get(format!("/api/user/{many}/sessions"), Some(&staff))
                },
            )
            .await?;
            anyhow::ensure!(status == 200, "bulk revoke answered {status}: {body}");
            deleted += body["count"].as_u64().unwrap_or(0);
            total += took;
            worst = worst.max(took);
        }
        self.report.single(
            format!(
                "staff bulk revoke of {deleted} listed sessions of {sessions} ({batches} requests × 100)"
            ),
            total,
        );
        self.report
            .single("  slowest of those requests".to_owned(), worst);
        Ok(())
    }
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
