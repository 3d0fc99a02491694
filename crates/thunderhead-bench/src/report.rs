//! The table the benchmark prints, and the targets checked against it.

use std::fmt::Write;
use std::time::Duration;

use crate::load::Stats;

/// Every scenario a run must have; a run missing one has failed.
const SCENARIOS: [&str; 14] = [
    "GET /api",
    "GET /api/user/session (authenticated)",
    "GET /api/auth/forward (forward auth)",
    "POST /api/introspect (service client)",
    "GET /api/user/sessions, 1 session",
    "GET /api/user/sessions, 50 sessions",
    "GET /api/user/sessions, 100k sessions",
    "staff GET /api/user/:id/sessions, 1 session",
    "staff GET /api/user/:id/sessions, 100k sessions",
    "staff GET /api/users?search=, 100k accounts",
    "POST /api/user/session (login)",
    "GET /api/user/session, no logins beside",
    "GET /api/user/session, during login burst",
    "  (the login burst beside it)",
];

pub struct Row {
    name: String,
    connections: usize,
    samples: usize,
    rps: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    errors: u64,
    /// The server's peak resident memory during this scenario; `None` if it could not be read.
    rss: Option<f64>,
}

impl Row {
    pub fn new(name: &str, connections: usize, stats: &Stats, rss: Option<f64>) -> Self {
        Self {
            name: name.to_owned(),
            connections,
            samples: stats.latencies_us.len(),
            rps: stats.requests_per_sec(),
            p50: stats.quantile_ms(0.50),
            p99: stats.quantile_ms(0.99),
            p999: stats.quantile_ms(0.999),
            errors: stats.errors,
            rss,
        }
    }
}

pub struct Report {
    database: String,
    connections: usize,
    duration: Duration,
    rows: Vec<Row>,
    singles: Vec<(String, Duration)>,
    notes: Vec<String>,
    checks: Vec<(String, bool)>,
    /// A smoke run: targets are shown, not held to.
    smoke: bool,
    /// (flushes, sessions written, requests measured, every flush one statement)
    usage: Option<(usize, u64, u64, bool)>,
}

impl Report {
    pub fn new(database: &str, connections: usize, duration: Duration) -> Self {
        let database = thunderhead::store::redact_url(database);
        let database = match database.split_once("?options") {
            Some((base, _)) => format!("{base} (fresh schema)"),
            None => database,
        };
        Self {
            database,
            connections,
            duration,
            rows: Vec::new(),
            singles: Vec::new(),
            notes: Vec::new(),
            checks: Vec::new(),
            smoke: false,
            usage: None,
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn single(&mut self, name: String, took: Duration) {
        self.singles.push((name, took));
    }

    /// Every request the load scenarios measured.
    pub fn requests_measured(&self) -> u64 {
        self.rows.iter().map(|r| r.samples as u64).sum()
    }

    /// What the server's flushes of session uses came to (see `usage_writes`).
    pub fn usage(
        &mut self,
        flushes: usize,
        sessions: u64,
        requests: u64,
        one_statement_each: bool,
    ) {
        self.usage = Some((flushes, sessions, requests, one_statement_each));
    }

    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// The highest of the scenarios' peaks.
    fn peak_rss(&self) -> Option<f64> {
        self.rows
            .iter()
            .map(|r| r.rss)
            .try_fold(0.0_f64, |peak, rss| rss.map(|r| peak.max(r)))
    }

    /// Why this run cannot be trusted or has missed a target; empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for name in SCENARIOS {
            if self.exact(name).is_none() {
                problems.push(format!("scenario {name:?} is missing"));
            }
        }
        for row in &self.rows {
            if row.errors > 0 {
                problems.push(format!("{}: {} requests failed", row.name, row.errors));
            }
            if row.samples == 0 {
                problems.push(format!("{}: no request was measured", row.name));
            }
            if row.rss.is_none() {
                problems.push(format!(
                    "{}: the server's memory could not be read",
                    row.name
                ));
            }
        }
        if !self.smoke {
            for (check, ok) in &self.checks {
                if !ok {
                    problems.push(format!("target missed: {check}"));
                }
            }
        }
        problems
    }

    fn row(&self, prefix: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name.starts_with(prefix))
    }

    fn exact(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// The targets of the performance issue, each with the numbers behind it.
    pub fn check_targets(&mut self, smoke: bool) {
        self.smoke = smoke;
        let mut checks = Vec::new();
        if let (Some(api), Some(auth)) = (
            self.exact("GET /api"),
            self.row("GET /api/user/session (auth"),
        ) {
            let share = auth.rps / api.rps.max(1e-9);
            checks.push((
                format!(
                    "authenticated GET at {:.0}% of GET /api throughput (target >= 50%)",
                    share * 100.0
                ),
                share >= 0.5,
            ));
            checks.push((
                format!(
                    "authenticated GET p99 {:.2} ms at {} connections (target < 5 ms)",
                    auth.p99, auth.connections
                ),
                auth.p99 < 5.0,
            ));
        }
        // Other services call these on every request they serve: they must cost what an
        // authenticated GET costs (issue #10: within 1.2x).
        if let Some(auth) = self.row("GET /api/user/session (auth") {
            for name in ["GET /api/auth/forward", "POST /api/introspect"] {
                if let Some(row) = self.row(name) {
                    let cost = auth.rps / row.rps.max(1e-9);
                    checks.push((
                        format!("{name} costs {cost:.2}x an authenticated GET (target <= 1.2x)"),
                        cost <= 1.2,
                    ));
                }
            }
        }
        if let (Some(fifty), Some(many)) = (
            self.row("GET /api/user/sessions, 50 "),
            self.row("GET /api/user/sessions, 100k"),
        ) {
            let cost = fifty.rps / many.rps.max(1e-9);
            checks.push((format!("GET /api/user/sessions: a full page of a 100k-session user costs {cost:.2}x a full page of a 50-session user (history alone; target <= 1.5x)"), cost <= 1.5));
        }
        for who in ["GET /api/user/sessions", "staff GET /api/user/:id/sessions"] {
            if let (Some(one), Some(many)) = (
                self.row(&format!("{who}, 1 ")),
                self.row(&format!("{who}, 100k")),
            ) {
                let cost = one.rps / many.rps.max(1e-9);
                checks.push((format!("{who}: a 100k-session page costs {cost:.2}x a 1-session page (target <= 1.5x)"), cost <= 1.5));
            }
        }
        for (name, took) in &self.singles {
            if !name.starts_with(' ') {
                let ms = took.as_secs_f64() * 1000.0;
                checks.push((
                    format!("{name}: {ms:.1} ms (target well under 100 ms)"),
                    ms < 100.0,
                ));
            }
        }
        if let (Some(quiet), Some(busy)) = (
            self.row("GET /api/user/session, no logins"),
            self.row("GET /api/user/session, during"),
        ) {
            let ratio = busy.p99 / quiet.p99.max(1e-9);
            checks.push((
                format!("p99 during a login burst is {ratio:.2}x the quiet p99 (target <= 3x)"),
                ratio <= 3.0,
            ));
        }
        // Uses are noted in memory and flushed every 30 s in one statement (issue #12).
        let (flushes, written, requests, one_each) = self.usage.unwrap_or((0, 0, 0, false));
        checks.push((
            format!(
                "session uses: {flushes} flushes wrote {written} session rows in all, for {requests} measured requests{} (target: at least one flush, one statement each)",
                if one_each { ", one statement each" } else { ", NOT one statement each" }
            ),
            flushes > 0 && one_each,
        ));
        let peak = self.peak_rss().unwrap_or(f64::NAN);
        checks.push((
            format!("server peak RSS {peak:.1} MiB (target < 50 MiB)"),
            peak < 50.0,
        ));
        self.checks = checks;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let _ = writeln!(
            out,
            "Thunderhead {} on {} ({cores} cores; client and server share them)",
            env!("CARGO_PKG_VERSION"),
            self.database
        );
        let _ = writeln!(
            out,
            "{} s per scenario, {} connections unless stated\n",
            self.duration.as_secs(),
            self.connections
        );
        let _ = writeln!(out, "| scenario | conns | req/s | p50 ms | p99 ms | p99.9 ms | errors | server peak RSS MiB (this scenario) |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.rows {
            let rss = r
                .rss
                .map_or_else(|| "unreadable".to_owned(), |m| format!("{m:.1}"));
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {rss} |",
                r.name, r.connections, r.rps, r.p50, r.p99, r.p999, r.errors
            );
        }
        let _ = writeln!(out, "\n| single operation | time ms |\n|---|---:|");
        for (name, took) in &self.singles {
            let _ = writeln!(out, "| {name} | {:.1} |", took.as_secs_f64() * 1000.0);
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n{note}");
        }
        let _ = writeln!(
            out,
            "\nTargets{}:",
            if self.smoke {
                " (smoke run: shown, not held to)"
            } else {
                ""
            }
        );
        for (check, ok) in &self.checks {
            let _ = writeln!(out, "- [{}] {check}", if *ok { "pass" } else { "FAIL" });
        }
        let problems = self.problems();
        if !problems.is_empty() {
            let _ = writeln!(out, "\nProblems (the run exits non-zero):");
            for problem in problems {
                let _ = writeln!(out, "- {problem}");
            }
        }
        out
    }
}
