//! The server under test: this same executable, re-run as `thunderhead serve` in a child
//! process, so its memory is its own and the client's work is not counted against it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child's environment; `main` then runs the server instead of the benchmark.
/// Not `THUNDERHEAD_*`: the server warns about variables of that prefix it does not know.
pub const CHILD_FLAG: &str = "BENCH_RUN_THUNDERHEAD_SERVER";

/// A rate-limit budget no scenario comes near: a billion per minute.
const UNREACHABLE: &str = "1000000000/60";

pub struct Server {
    child: Child,
    pub addr: std::net::SocketAddr,
}

pub struct ServerOptions<'a> {
    pub database_url: &'a str,
    pub key_file: &'a Path,
    pub log_file: &'a Path,
    pub log_level: &'a str,
    pub argon2: [u32; 3],
}

impl Server {
    pub fn start(options: &ServerOptions<'_>) -> anyhow::Result<Self> {
        let log = std::fs::File::create(options.log_file)?;
        let child = Command::new(std::env::current_exe()?)
            .env(CHILD_FLAG, "1")
            .env(
                "RUST_LOG",
                format!("{},thunderhead::server=info", options.log_level),
            )
            // Every limit on, as in production, at budgets the load cannot reach: the limiter's
            // cost is measured, its refusals are not.
            .env("THUNDERHEAD_RATE_LIMIT_GENERAL", UNREACHABLE)
            .env("THUNDERHEAD_RATE_LIMIT_LOGIN", UNREACHABLE)
            .env("THUNDERHEAD_RATE_LIMIT_REGISTER", UNREACHABLE)
            .env("THUNDERHEAD_RATE_LIMIT_FAILED_PASSWORD", UNREACHABLE)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                options.database_url,
            ])
            .arg("--key-file")
            .arg(options.key_file)
            .args(["--argon2-memory-kib", &options.argon2[0].to_string()])
            .args(["--argon2-iterations", &options.argon2[1].to_string()])
            .args(["--argon2-parallelism", &options.argon2[2].to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut server = Self {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
        };
        server.addr = wait_for_address(&mut server.child, options.log_file)?;
        Ok(server)
    }

    /// Starts a new peak: the kernel resets `VmHWM` to the current RSS when "5" is written to
    /// `clear_refs`, so each scenario reports its own peak, not the run's so far.
    pub fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// Peak resident memory in MiB since the last reset, from /proc; `None` if unreadable.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_address(child: &mut Child, log_file: &Path) -> anyhow::Result<std::net::SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let log = std::fs::read_to_string(log_file).unwrap_or_default();
        if let Some(addr) = log
            .lines()
            .find_map(|l| l.split("address=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
        {
            return Ok(addr);
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("server exited with {status}:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("server did not start within 60 s")
}

pub fn key_path(dir: &Path) -> PathBuf {
    dir.join("bench-key.pem")
}
