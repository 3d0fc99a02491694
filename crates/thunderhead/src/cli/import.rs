//! `thunderhead import cumulonimbus`: streams the original's accounts in batches, checks each
//! row against the import rules, writes each batch in one transaction (or rolls it back with
//! `--dry-run`), shows progress, and ends with a report. A bad row is reported and skipped;
//! only a failure to read the source or write the target stops the run, and a run can be
//! repeated: what is already here is left alone.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::cumulonimbus::Source;
use crate::domain::import::{account_from, SessionTally};
use crate::domain::token::KeyPair;
use crate::server::StartError;
use crate::store::{redact_url, ImportOutcome};

use super::keys::{key_set_error, operator_app};
use super::ImportCommand;

/// Accounts per batch: one FETCH and one target transaction each.
const BATCH: u32 = 500;
/// Refused rows listed in the report; the rest are counted (each is also in the log).
const LISTED_REFUSALS: usize = 100;

#[derive(Default)]
struct Report {
    read: u64,
    added: u64,
    existing: u64,
    refused: u64,
    sessions_added: u64,
    sessions: SessionTally,
    refusals: Vec<String>,
}

pub async fn run(config: Config, command: ImportCommand) -> Result<(), StartError> {
    let ImportCommand::Cumulonimbus { from, key, dry_run } = command;
    let shown = redact_url(&from);
    let runtime = |context: String| move |e: anyhow::Error| StartError::Runtime(e.context(context));
    let original_key = match &key {
        Some(path) => {
            let pem = std::fs::read_to_string(path).map_err(|e| {
                StartError::Settings(format!(
                    "cannot read the original's key {}: {e}",
                    path.display()
                ))
            })?;
            Some(KeyPair::from_pem(&pem).ok_or_else(|| {
                StartError::Settings(format!(
                    "{} is not a PEM-encoded P-256 private key (the original's certs/jwt.pem is)",
                    path.display()
                ))
            })?)
        }
        None => None,
    };
    let app = operator_app(&config).await?;
    let mut source = Source::open(&from)
        .await
        .map_err(runtime(format!("cannot open the source database {shown}")))?;
    let summary = source
        .summary()
        .await
        .map_err(runtime(format!("cannot read \"Users\" in {shown}")))?;
    tracing::info!(accounts = summary.accounts, source = %shown, dry_run, "importing from Cumulonimbus");
    if !dry_run {
        if let Some(highest) = summary.highest_id {
            app.reserve_user_ids(crate::domain::UserId(highest))
                .await
                .map_err(|e| StartError::Runtime(anyhow::Error::new(e)))?;
        }
    }
    let progress = Progress::new(summary.accounts);
    let mut report = Report::default();
    let now_s = chrono::Utc::now().timestamp();
    loop {
        let rows = source
            .next_batch(BATCH)
            .await
            .map_err(runtime(format!("cannot read \"Users\" in {shown}")))?;
        if rows.is_empty() {
            break;
        }
        report.read += rows.len() as u64;
        let mut accounts = Vec::with_capacity(rows.len());
        for row in &rows {
            match account_from(row, now_s) {
                Ok((account, tally)) => {
                    report.sessions += tally;
                    accounts.push(account);
                }
                Err(why) => report.refuse(&row.id, &row.username, &why),
            }
        }
        let outcomes = app.import_accounts(&accounts, dry_run).await.map_err(|e| {
            StartError::Runtime(anyhow::Error::new(e).context("cannot write the accounts"))
        })?;
        for (account, outcome) in accounts.iter().zip(outcomes) {
            match outcome {
                ImportOutcome::Added { sessions } => {
                    report.added += 1;
                    report.sessions_added += sessions;
                }
                ImportOutcome::Existing { sessions } => {
                    report.existing += 1;
                    report.sessions_added += sessions;
                }
                ImportOutcome::Conflict(why) => {
                    report.refuse(&account.id.to_string(), &account.username, why)
                }
            }
        }
        progress.advance(report.read);
    }
    progress.finish(report.read);
    if !dry_run {
        app.finish_import().await.map_err(|e| {
            StartError::Runtime(anyhow::Error::new(e).context("cannot gather statistics"))
        })?;
    }
    source
        .close()
        .await
        .map_err(runtime(format!("cannot close the source database {shown}")))?;
    let key_line = match (&original_key, dry_run) {
        (Some(key), false) => {
            let added = app.adopt_legacy_key(key).await.map_err(key_set_error)?;
            format!(
                "the original's key {} now verifies its tokens{}",
                key.kid(),
                if added { "" } else { " (it did already)" }
            )
        }
        (Some(key), true) => format!("the original's key {} would verify its tokens", key.kid()),
        (None, _) => "no --key: tokens the original issued will not verify here".to_owned(),
    };
    print!("{}", report.render(&shown, dry_run, &key_line));
    Ok(())
}

impl Report {
    fn refuse(&mut self, id: &str, username: &str, why: &str) {
        self.refused += 1;
        tracing::warn!(id, username, reason = why, "row refused");
        if self.refusals.len() < LISTED_REFUSALS {
            self.refusals
                .push(format!("  id {id:?} ({username}): {why}"));
        }
    }

    fn render(&self, source: &str, dry_run: bool, key_line: &str) -> String {
        let mut out = format!(
            "Import from {source}{}\n",
            if dry_run {
                " (dry run: nothing was changed)"
            } else {
                ""
            }
        );
        let verb = if dry_run { "would be " } else { "" };
        let lines = [
            ("accounts read", self.read),
            (&format!("accounts {verb}added"), self.added),
            ("accounts already here (left as they were)", self.existing),
            ("accounts refused", self.refused),
            (&format!("sessions {verb}added"), self.sessions_added),
            (
                "duplicate sessions merged (same second)",
                self.sessions.merged,
            ),
            ("expired sessions skipped", self.sessions.expired),
            ("malformed sessions skipped", self.sessions.malformed),
        ];
        for (label, value) in lines {
            out.push_str(&format!("{label:<44} {value}\n"));
        }
        out.push_str(key_line);
        out.push('\n');
        if !self.refusals.is_empty() {
            out.push_str("refused rows:\n");
            for line in &self.refusals {
                out.push_str(line);
                out.push('\n');
            }
            if self.refused > self.refusals.len() as u64 {
                out.push_str(&format!(
                    "  … and {} more (each is in the log)\n",
                    self.refused - self.refusals.len() as u64
                ));
            }
        }
        out
    }
}

/// A bar on a terminal; plain lines, at most every few seconds, when not.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    started: Instant,
    last_line: std::sync::Mutex<Instant>,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} accounts ({per_sec}, {eta} left)",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            total,
            started: Instant::now(),
            last_line: std::sync::Mutex::new(Instant::now()),
        }
    }

    fn advance(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        const EVERY: Duration = Duration::from_secs(2);
        if let Ok(mut last) = self.last_line.lock() {
            if last.elapsed() >= EVERY {
                *last = Instant::now();
                eprintln!("imported {done} of {} accounts", self.total);
            }
        }
    }

    fn finish(&self, read: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!(
            "read {read} accounts in {:.1} s",
            self.started.elapsed().as_secs_f64()
        );
    }
}
