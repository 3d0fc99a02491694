//! Child processes in tests: output goes to a file (never a pipe that can fill up), waits
//! have deadlines and say what they waited for, and the output is shown when a test fails
//! or `TEST_LOG=1` is set.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a wait looks again; what it waits for is its predicate, never the interval.
const POLL: Duration = Duration::from_millis(20);

/// Polls `probe` until it yields a value or `within` passes; the error names `what`.
pub async fn wait_until<T>(
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(format!("gave up after {within:?} waiting for {what}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `wait_until` for a probe that must itself wait (an HTTP request, say).
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(format!("gave up after {within:?} waiting for {what}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Process {
    /// Starts `command` with its standard output and error in one file.
    pub fn spawn(name: &str, mut command: Command) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("output.log");
        let file = std::fs::File::create(&log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
            _dir: dir,
        })
    }

    /// Everything the process has written so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the output satisfies `probe`; fails with the output if it never does, or
    /// if the process exits first.
    pub async fn wait_for_output<T>(
        &mut self,
        what: &str,
        within: Duration,
        mut probe: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, String> {
        let mut exited = None;
        let found = wait_until(what, within, || {
            if let Some(value) = probe(&self.output()) {
                return Some(Some(value));
            }
            exited = self.child.try_wait().ok().flatten();
            exited.map(|_| None)
        })
        .await;
        match found {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(format!(
                "{} exited ({exited:?}) before {what}:\n{}",
                self.name,
                self.output()
            )),
            Err(err) => Err(format!("{}: {err}:\n{}", self.name, self.output())),
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) -> std::io::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "kill -TERM failed: {status}"
            )))
        }
    }

    /// Waits for the process to exit on its own.
    pub async fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus, String> {
        let child = &mut self.child;
        let name = self.name.clone();
        wait_until(&format!("{name} to exit"), within, || {
            child.try_wait().ok().flatten()
        })
        .await
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() || crate::helpers::test_log() {
            eprintln!("---- output of {} ----\n{}", self.name, self.output());
        }
    }
}
