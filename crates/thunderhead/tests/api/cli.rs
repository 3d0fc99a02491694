//! The `thunderhead` binary itself: serving, shutting down, and the user commands.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestDb, TestResult};
use crate::process::Process;

const BIN: &str = env!("CARGO_BIN_EXE_thunderhead");

pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: TestDb,
}

impl Env {
    pub async fn new() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let (db, _store) = TestDb::open(&Default::default()).await?;
        Ok(Self {
            dir: tempfile::tempdir()?,
            db,
        })
    }

    /// Like `new`, but nothing has created the schema yet.
    pub async fn unmigrated() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self {
            dir: tempfile::tempdir()?,
            db: TestDb::empty().await?,
        })
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", self.db.url())
            .env("THUNDERHEAD_ARGON2_MEMORY_KIB", "256")
            .env("THUNDERHEAD_ARGON2_ITERATIONS", "1");
        cmd
    }

    pub fn run(
        &self,
        args: &[&str],
        stdin: &str,
    ) -> Result<(i32, String, String), Box<dyn std::error::Error + Send + Sync>> {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        ))
    }
}

/// Starts `thunderhead serve` on an ephemeral port and reads the address from its log.
pub async fn spawn_server(
    env: &Env,
    extra_env: &[(&str, &str)],
) -> Result<(Process, String), Box<dyn std::error::Error + Send + Sync>> {
    let mut cmd = env.command();
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info,thunderhead::http=debug")
        .env("NO_COLOR", "1");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut server = Process::spawn("thunderhead serve", cmd)?;
    let base = server
        .wait_for_output(
            "the server to say its address",
            Duration::from_secs(30),
            |out| {
                // `address=…` in text, `"address":"…"` in JSON.
                let text = out
                    .split("address=")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next());
                let json = || out.split("\"address\":\"").nth(1)?.split('"').next();
                Some(format!("http://{}", text.or_else(json)?))
            },
        )
        .await?;
    Ok((server, base))
}

#[tokio::test]
async fn user_commands_and_serve_work_together() -> TestResult {
    let env = Env::new().await?;
    let (code, out, err) = env.run(
        &[
            "user",
            "create",
            "--username",
            "Root",
            "--email",
            "root@example.com",
            "--staff",
        ],
        "s3cret pass\n",
    )?;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created user root"), "{out}");
    let (code, _, err) = env.run(
        &[
            "user",
            "create",
            "--username",
            "root",
            "--email",
            "x@example.com",
        ],
        "pw\n",
    )?;
    assert_eq!(code, 2);
    assert!(err.contains("taken"), "{err}");
    let (code, _, err) = env.run(
        &[
            "user",
            "create",
            "--username",
            "nopw",
            "--email",
            "n@example.com",
        ],
        "",
    )?;
    assert_eq!(code, 2, "empty stdin is an empty password: {err}");

    let (mut server, base) = spawn_server(&env, &[("THUNDERHEAD_RATE_LIMITS", "off")]).await?;
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{base}/api/user/session"))
        .json(&json!({"username": "root", "password": "s3cret pass"}))
        .send()
        .await?;
    assert_eq!(login.status(), 201);
    let token = login.json::<serde_json::Value>().await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let users = client
        .get(format!("{base}/api/users"))
        .header("Authorization", &token)
        .send()
        .await?;
    assert_eq!(users.status(), 200, "root is staff");

    // The CLI works on the database while the server runs, and the server sees it at once.
    let (code, out, err) = env.run(&["user", "ban", "root"], "")?;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("banned"));
    let banned = client
        .get(format!("{base}/api/user"))
        .header("Authorization", &token)
        .send()
        .await?;
    assert_eq!(banned.status(), 403);
    assert_eq!(env.run(&["user", "ban", "root", "--off"], "")?.0, 0);
    assert_eq!(env.run(&["user", "staff", "root", "--off"], "")?.0, 0);
    let users = client
        .get(format!("{base}/api/users"))
        .header("Authorization", &token)
        .send()
        .await?;
    assert_eq!(users.status(), 403, "no longer staff");
    let (code, _, err) = env.run(&["user", "staff", "ghost"], "")?;
    assert_eq!(code, 2);
    assert!(err.contains("ghost"));

    // SIGTERM: a graceful stop with exit status 0.
    server.terminate()?;
    let exit = server.wait_exit(Duration::from_secs(15)).await?;
    assert!(exit.success(), "{exit:?}");
    assert!(
        env.dir.path().join("thunderhead-key.pem").exists(),
        "a key is created on first start"
    );
    Ok(())
}

#[tokio::test]
async fn bad_settings_are_one_line_errors_with_exit_2() -> TestResult {
    let env = Env::new().await?;
    std::fs::write(env.dir.path().join("bad.pem"), "not a key")?;
    std::fs::write(env.dir.path().join("bad.toml"), "listen = 5\n")?;
    for (args, needle) in [
        (vec!["--no-such-flag"], "--no-such-flag"),
        (vec!["--database-url", "mysql://h/db", "migrate"], "mysql"),
        (
            vec!["--database-url", "thunderhead.db", "migrate"],
            "scheme",
        ),
        (vec!["--listen", "nowhere"], "nowhere"),
        (
            vec!["--key-file", "bad.pem", "--listen", "127.0.0.1:0"],
            "bad.pem",
        ),
        (
            vec!["--key-file", "missing-dir/k.pem", "--listen", "127.0.0.1:0"],
            "missing-dir/k.pem",
        ),
        (vec!["--config", "bad.toml"], "bad.toml"),
        (vec!["--config", "absent.toml"], "absent.toml"),
        (vec!["--rate-limit-login", "often"], "often"),
    ] {
        let (code, _, err) = env.run(&args, "")?;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    Ok(())
}

/// A brand-new database opened by several processes at once (servers starting together, or a
/// server and `thunderhead migrate`): each applies the schema or waits for the one that does;
/// none fails.
#[tokio::test]
async fn processes_creating_the_schema_together_all_succeed() -> TestResult {
    for _round in 0..3 {
        let env = Env::unmigrated().await?;
        let children = (0..6)
            .map(|_| {
                env.command()
                    .arg("migrate")
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<Vec<_>, _>>()?;
        for child in children {
            let out = child.wait_with_output()?;
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{err}");
            assert!(err.contains("up to date"), "{err}");
        }
        let (code, out, err) = env.run(
            &["user", "create", "--username", "first", "--email", "f@x.io"],
            "a fine password\n",
        )?;
        assert_eq!(code, 0, "{out}{err}");
    }
    Ok(())
}

/// SIGTERM while a request is being served: the request still gets its answer, then the
/// server exits cleanly.
#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() -> TestResult {
    let env = Env::new().await?;
    // A deliberately slow hash keeps the login in flight when the signal arrives.
    let slow = [
        ("THUNDERHEAD_ARGON2_MEMORY_KIB", "65536"),
        ("THUNDERHEAD_ARGON2_ITERATIONS", "6"),
        ("THUNDERHEAD_RATE_LIMITS", "off"),
    ];
    let mut create = env.command();
    create
        .args([
            "user",
            "create",
            "--username",
            "slow",
            "--email",
            "slow@example.com",
        ])
        .envs(slow)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = create.spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(b"pw\n")?;
    }
    assert!(child.wait()?.success());
    let (mut server, base) = spawn_server(&env, &slow).await?;
    let login = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}/api/user/session"))
            .json(&json!({"username": "slow", "password": "pw"}))
            .send()
            .await
            .map(|r| (r.status().as_u16(), Instant::now()))
    });
    // The server's own word that the login is in flight, rather than a guess at how long.
    server
        .wait_for_output("the login to start", Duration::from_secs(15), |out| {
            out.lines()
                .any(|l| l.contains("started") && l.contains("/api/user/session"))
                .then_some(())
        })
        .await?;
    server.terminate()?;
    let signalled = Instant::now();
    let (login_status, answered) = login.await??;
    assert_eq!(login_status, 201, "the in-flight login was answered");
    assert!(
        answered > signalled,
        "the login was still in flight when the signal arrived"
    );
    let exit = server.wait_exit(Duration::from_secs(15)).await?;
    assert!(exit.success(), "{exit:?}");
    Ok(())
}
