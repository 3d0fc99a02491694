//! Settings, layered: built-in defaults < TOML file < environment < flags. Clap reads the
//! environment and the flags (a flag beats its variable); this module lays them over the
//! file and the defaults and validates the result into `Config`. Every numeric setting is
//! checked against stated bounds, so a zero or an absurd value stops the program at start
//! (exit 2) instead of panicking a background task later.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::domain::password::HashCost;
use crate::http::ConnectionLimits;
use crate::ratelimit::{Limit, RateLimits};
use crate::store::{Backend, DatabaseUrl, PoolSettings};

/// The validated settings the server and the CLI run with. `Debug` redacts the database
/// password (through `DatabaseUrl`).
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub key_file: PathBuf,
    pub rate_limits: RateLimits,
    pub trusted_proxies: Vec<IpNet>,
    pub hash_cost: HashCost,
    /// Threads that hash passwords; each holds `hash_cost.memory_kib` of memory.
    pub hash_threads: usize,
    /// Password checks that may wait for a hashing thread; more are answered 429.
    pub hash_queue: usize,
    pub body_limit: usize,
    pub domain: String,
    pub subdomain: Option<String>,
    pub pool: PoolSettings,
    pub request_timeout: Duration,
    pub prune_interval: Duration,
    pub connections: ConnectionLimits,
    pub log_format: LogFormat,
    /// Set the `thunderhead_token` cookie at sign-in (for forward authentication).
    pub auth_cookie: bool,
    pub cookie_secure: bool,
    pub cookie_domain: Option<String>,
    /// Hosts the web page may return a signed-in person to.
    pub return_hosts: Vec<String>,
    /// A session unused this long is dead; off by default.
    pub session_idle_timeout: Option<Duration>,
    /// A login beyond this many sessions ends the least recently used; off by default.
    pub max_sessions_per_user: Option<u32>,
}

/// How log lines are written: for people, or one JSON object per line for collectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            database_url: DatabaseUrl::new("sqlite://thunderhead.db"),
            key_file: PathBuf::from("thunderhead-key.pem"),
            rate_limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            hash_cost: HashCost::default(),
            hash_threads: crate::hashing::default_hash_threads(),
            hash_queue: 64,
            body_limit: 1024 * 1024,
            domain: "localhost".into(),
            subdomain: None,
            pool: PoolSettings::default(),
            request_timeout: Duration::from_secs(10),
            prune_interval: Duration::from_secs(600),
            connections: ConnectionLimits::default(),
            log_format: LogFormat::Text,
            auth_cookie: false,
            cookie_secure: true,
            cookie_domain: None,
            return_hosts: Vec::new(),
            session_idle_timeout: None,
            max_sessions_per_user: None,
        }
    }
}

/// The TOML file's shape, and what `thunderhead config` prints. Unknown keys are an error, so
/// a typo cannot silently do nothing. Plain keys come before tables: TOML needs that order.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_proxies: Option<Vec<IpNet>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_limit: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_read_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_threads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_queue: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_cookie: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie_secure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_hosts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_idle_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sessions_per_user: Option<u32>,
    #[serde(default)]
    pub rate_limits: FileRateLimits,
    #[serde(default)]
    pub argon2: FileArgon2,
    #[serde(default)]
    pub database: FileDatabase,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileRateLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub general: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_password: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileArgon2 {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_kib: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileDatabase {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquire_timeout_secs: Option<u64>,
}

/// Settings given as flags or environment variables; `None` where neither was given.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// TOML settings file
    #[arg(long, env = "THUNDERHEAD_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8000]
    #[arg(long, env = "THUNDERHEAD_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://thunderhead.db]
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// ES256 signing key (PEM); created on first start if missing [default: thunderhead-key.pem]
    #[arg(long, env = "THUNDERHEAD_KEY_FILE", global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// `off` switches every rate limit off, `on` back on (over a file's `enabled = false`)
    #[arg(long, env = "THUNDERHEAD_RATE_LIMITS", global = true, value_name = "on|off", value_parser = parse_switch)]
    pub rate_limits: Option<bool>,
    /// General limit per user or IP, N/SECONDS or off [default: 100/300]
    #[arg(long, env = "THUNDERHEAD_RATE_LIMIT_GENERAL", global = true, value_name = "N/SECS", value_parser = parse_limit)]
    pub rate_limit_general: Option<LimitSetting>,
    /// Successful logins per IP [default: 1/60]
    #[arg(long, env = "THUNDERHEAD_RATE_LIMIT_LOGIN", global = true, value_name = "N/SECS", value_parser = parse_limit)]
    pub rate_limit_login: Option<LimitSetting>,
    /// Accounts created per IP [default: 1/1800]
    #[arg(long, env = "THUNDERHEAD_RATE_LIMIT_REGISTER", global = true, value_name = "N/SECS", value_parser = parse_limit)]
    pub rate_limit_register: Option<LimitSetting>,
    /// Wrong passwords per IP and per account [default: 10/900]
    #[arg(long, env = "THUNDERHEAD_RATE_LIMIT_FAILED_PASSWORD", global = true, value_name = "N/SECS", value_parser = parse_limit)]
    pub rate_limit_failed_password: Option<LimitSetting>,
    /// Proxies whose X-Forwarded-For is believed, comma-separated IPs or CIDRs
    #[arg(long, env = "THUNDERHEAD_TRUSTED_PROXIES", global = true, value_name = "CIDRS", value_parser = parse_networks)]
    pub trusted_proxies: Option<Networks>,
    /// Largest request body in bytes [default: 1048576]
    #[arg(
        long,
        env = "THUNDERHEAD_BODY_LIMIT",
        global = true,
        value_name = "BYTES"
    )]
    pub body_limit: Option<usize>,
    /// Domain reported on users [default: localhost]
    #[arg(long, env = "THUNDERHEAD_DOMAIN", global = true)]
    pub domain: Option<String>,
    /// Subdomain reported on users [default: none]
    #[arg(long, env = "THUNDERHEAD_SUBDOMAIN", global = true)]
    pub subdomain: Option<String>,
    /// Argon2id memory cost in KiB [default: 19456]
    #[arg(
        long,
        env = "THUNDERHEAD_ARGON2_MEMORY_KIB",
        global = true,
        value_name = "KIB"
    )]
    pub argon2_memory_kib: Option<u32>,
    /// Argon2id passes [default: 2]
    #[arg(
        long,
        env = "THUNDERHEAD_ARGON2_ITERATIONS",
        global = true,
        value_name = "N"
    )]
    pub argon2_iterations: Option<u32>,
    /// Argon2id lanes [default: 1]
    #[arg(
        long,
        env = "THUNDERHEAD_ARGON2_PARALLELISM",
        global = true,
        value_name = "N"
    )]
    pub argon2_parallelism: Option<u32>,
    /// Threads hashing passwords at once [default: half the cores, at least 1]
    #[arg(
        long,
        env = "THUNDERHEAD_HASH_THREADS",
        global = true,
        value_name = "N"
    )]
    pub hash_threads: Option<usize>,
    /// Password checks that may wait for a hashing thread; beyond, 429 [default: 64]
    #[arg(long, env = "THUNDERHEAD_HASH_QUEUE", global = true, value_name = "N")]
    pub hash_queue: Option<usize>,
    /// Database connections per instance [default: 8]
    #[arg(
        long,
        env = "THUNDERHEAD_DB_MAX_CONNECTIONS",
        global = true,
        value_name = "N"
    )]
    pub db_max_connections: Option<u32>,
    /// Time to wait for a database connection before answering 500 [default: 5s]
    #[arg(long, env = "THUNDERHEAD_DB_ACQUIRE_TIMEOUT", global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub db_acquire_timeout: Option<Duration>,
    /// Time a request may take before it is answered (500, or 408 while its body is still
    /// arriving) [default: 10s]
    #[arg(long, env = "THUNDERHEAD_REQUEST_TIMEOUT", global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,
    /// How often expired sessions are deleted [default: 600s]
    #[arg(long, env = "THUNDERHEAD_PRUNE_INTERVAL", global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub prune_interval: Option<Duration>,
    /// Time a client has to send a request's headers, from connecting or from its first byte
    /// after an idle spell [default: 10s]
    #[arg(long, env = "THUNDERHEAD_HEADER_READ_TIMEOUT", global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub header_read_timeout: Option<Duration>,
    /// Time an idle keep-alive connection is kept open [default: 75s]
    #[arg(long, env = "THUNDERHEAD_KEEP_ALIVE_TIMEOUT", global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub keep_alive_timeout: Option<Duration>,
    /// Client connections served at once; more wait to be accepted [default: 10000]
    #[arg(
        long,
        env = "THUNDERHEAD_MAX_CONNECTIONS",
        global = true,
        value_name = "N"
    )]
    pub max_connections: Option<usize>,
    /// Log lines as `text` or one JSON object per line [default: text]
    #[arg(long, env = "THUNDERHEAD_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// `on` sets the thunderhead_token cookie at sign-in, for forward authentication [default: off]
    #[arg(long, env = "THUNDERHEAD_AUTH_COOKIE", global = true, value_name = "on|off", value_parser = parse_switch)]
    pub auth_cookie: Option<bool>,
    /// `off` leaves Secure off the cookie, for plain-HTTP set-ups [default: on]
    #[arg(long, env = "THUNDERHEAD_COOKIE_SECURE", global = true, value_name = "on|off", value_parser = parse_switch)]
    pub cookie_secure: Option<bool>,
    /// The cookie's Domain, to share it with subdomains [default: none]
    #[arg(
        long,
        env = "THUNDERHEAD_COOKIE_DOMAIN",
        global = true,
        value_name = "DOMAIN"
    )]
    pub cookie_domain: Option<String>,
    /// Hosts the web page may send people back to after sign-in (?return=URL), comma-separated
    #[arg(long, env = "THUNDERHEAD_RETURN_HOSTS", global = true, value_name = "HOSTS", value_parser = parse_hosts)]
    pub return_hosts: Option<Hosts>,
    /// A session not used for this long is dead (401) [default: off]
    #[arg(long, env = "THUNDERHEAD_SESSION_IDLE_TIMEOUT", global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub session_idle_timeout: Option<Duration>,
    /// A login beyond this many sessions ends the least recently used [default: off]
    #[arg(
        long,
        env = "THUNDERHEAD_MAX_SESSIONS_PER_USER",
        global = true,
        value_name = "N"
    )]
    pub max_sessions_per_user: Option<u32>,
}

/// A list of host names as one value (see `Networks` for why a newtype).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts(pub Vec<String>);

fn parse_hosts(text: &str) -> Result<Hosts, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(valid_host)
        .collect::<Result<_, _>>()
        .map(Hosts)
}

/// A host name (or `name:port`) as the return check compares it: lower case, no scheme or path.
fn valid_host(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "{text:?} is not a host name (no scheme or path: files.example.com)"
        ))
    }
}

fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        other => Err(format!("{other:?} is neither on nor off")),
    }
}

/// A limit or `off`; a newtype because clap gives `Option<Option<_>>` a meaning of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSetting(pub Option<Limit>);

fn parse_limit(text: &str) -> Result<LimitSetting, String> {
    Limit::parse_setting(text).map(LimitSetting)
}

/// A list of networks as one value; a newtype because clap reads `Option<Vec<_>>` as a
/// repeatable argument of single items, and a parser returning the whole list then panics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networks(pub Vec<IpNet>);

fn parse_networks(text: &str) -> Result<Networks, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an IP address or CIDR"))
        })
        .collect::<Result<_, _>>()
        .map(Networks)
}

/// Seconds, or a number with a suffix: `90s`, `15m`, `12h`, `30d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a duration (seconds, or e.g. 90s, 15m, 12h, 30d)");
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let amount: u64 = digits.trim().parse().map_err(|_| bad())?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    amount
        .checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// Checks that `value` lies in `min..=max`, naming the setting otherwise.
fn within<T: PartialOrd + std::fmt::Display>(
    name: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), String> {
    if value < min || value > max {
        return Err(format!(
            "{name} must be between {min} and {max}, not {value}"
        ));
    }
    Ok(())
}

fn within_secs(name: &str, value: Duration, max_secs: u64) -> Result<(), String> {
    within(name, value.as_secs(), 1, max_secs)
}

const HOUR: u64 = 3600;

impl Config {
    /// Lays the file (if any) and the overrides over the defaults, and validates.
    pub fn resolve(overrides: &Overrides) -> Result<Self, String> {
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut config = Self::default();
        // The switch is laid like any other setting and applied last, so `on` from the
        // environment or a flag can undo a file's `enabled = false`.
        let mut limits_on = true;
        config.apply_file(file, &mut limits_on)?;
        config.apply_overrides(overrides, &mut limits_on);
        if !limits_on {
            config.rate_limits = RateLimits::OFF;
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        Backend::from_url(self.database_url.expose())?;
        self.hash_cost.validate()?;
        within("hash_threads", self.hash_threads, 1, 256)?;
        within("hash_queue", self.hash_queue, 1, 100_000)?;
        within("body_limit", self.body_limit, 1, 1 << 30)?;
        within(
            "database.max_connections",
            self.pool.max_connections,
            1,
            10_000,
        )?;
        within_secs("database.acquire_timeout", self.pool.acquire_timeout, HOUR)?;
        within_secs("request_timeout", self.request_timeout, HOUR)?;
        within_secs("prune_interval", self.prune_interval, 30 * 24 * HOUR)?;
        within_secs(
            "header_read_timeout",
            self.connections.header_read_timeout,
            HOUR,
        )?;
        within_secs(
            "keep_alive_timeout",
            self.connections.keep_alive_timeout,
            24 * HOUR,
        )?;
        within(
            "max_connections",
            self.connections.max_connections,
            1,
            1_000_000,
        )?;
        if let Some(idle) = self.session_idle_timeout {
            // Uses reach the database a flush interval late; a shorter timeout would end
            // sessions in steady use on other instances.
            within(
                "session_idle_timeout",
                idle.as_secs(),
                2 * crate::service::USAGE_FLUSH_EVERY.as_secs(),
                10 * 365 * 24 * HOUR,
            )?;
        }
        if let Some(cap) = self.max_sessions_per_user {
            within("max_sessions_per_user", cap, 1, 1_000_000)?;
        }
        Ok(())
    }

    fn apply_file(&mut self, file: FileConfig, limits_on: &mut bool) -> Result<(), String> {
        let secs = |v: Option<u64>| v.map(Duration::from_secs);
        set(&mut self.listen, file.listen);
        set(
            &mut self.database_url,
            file.database_url.map(DatabaseUrl::new),
        );
        set(&mut self.key_file, file.key_file);
        set(&mut self.trusted_proxies, file.trusted_proxies);
        set(&mut self.body_limit, file.body_limit);
        set(&mut self.domain, file.domain);
        if file.subdomain.is_some() {
            self.subdomain = file.subdomain;
        }
        set(&mut self.prune_interval, secs(file.prune_interval_secs));
        set(&mut self.request_timeout, secs(file.request_timeout_secs));
        set(
            &mut self.connections.header_read_timeout,
            secs(file.header_read_timeout_secs),
        );
        set(
            &mut self.connections.keep_alive_timeout,
            secs(file.keep_alive_timeout_secs),
        );
        set(&mut self.connections.max_connections, file.max_connections);
        set(&mut self.hash_cost.memory_kib, file.argon2.memory_kib);
        set(&mut self.hash_cost.iterations, file.argon2.iterations);
        set(&mut self.hash_cost.parallelism, file.argon2.parallelism);
        set(&mut self.hash_threads, file.hash_threads);
        set(&mut self.hash_queue, file.hash_queue);
        set(&mut self.log_format, file.log_format);
        set(&mut self.auth_cookie, file.auth_cookie);
        set(&mut self.cookie_secure, file.cookie_secure);
        if file.cookie_domain.is_some() {
            self.cookie_domain = file.cookie_domain;
        }
        if let Some(secs) = file.session_idle_timeout_secs {
            self.session_idle_timeout = Some(Duration::from_secs(secs));
        }
        if file.max_sessions_per_user.is_some() {
            self.max_sessions_per_user = file.max_sessions_per_user;
        }
        if let Some(hosts) = file.return_hosts {
            self.return_hosts = hosts
                .iter()
                .map(|h| valid_host(h))
                .collect::<Result<_, _>>()?;
        }
        set(
            &mut self.pool.max_connections,
            file.database.max_connections,
        );
        set(
            &mut self.pool.acquire_timeout,
            secs(file.database.acquire_timeout_secs),
        );
        let limits = &file.rate_limits;
        for (slot, text) in [
            (&mut self.rate_limits.general, &limits.general),
            (&mut self.rate_limits.login, &limits.login),
            (&mut self.rate_limits.register, &limits.register),
            (
                &mut self.rate_limits.failed_password,
                &limits.failed_password,
            ),
        ] {
            if let Some(text) = text {
                *slot = Limit::parse_setting(text)?;
            }
        }
        set(limits_on, limits.enabled);
        Ok(())
    }

    fn apply_overrides(&mut self, o: &Overrides, limits_on: &mut bool) {
        set(&mut self.listen, o.listen);
        set(
            &mut self.database_url,
            o.database_url.as_deref().map(DatabaseUrl::new),
        );
        set(&mut self.key_file, o.key_file.clone());
        set(
            &mut self.rate_limits.general,
            o.rate_limit_general.map(|l| l.0),
        );
        set(&mut self.rate_limits.login, o.rate_limit_login.map(|l| l.0));
        set(
            &mut self.rate_limits.register,
            o.rate_limit_register.map(|l| l.0),
        );
        set(
            &mut self.rate_limits.failed_password,
            o.rate_limit_failed_password.map(|l| l.0),
        );
        set(limits_on, o.rate_limits);
        set(
            &mut self.trusted_proxies,
            o.trusted_proxies.clone().map(|n| n.0),
        );
        set(&mut self.body_limit, o.body_limit);
        set(&mut self.domain, o.domain.clone());
        if o.subdomain.is_some() {
            self.subdomain = o.subdomain.clone();
        }
        set(&mut self.hash_cost.memory_kib, o.argon2_memory_kib);
        set(&mut self.hash_cost.iterations, o.argon2_iterations);
        set(&mut self.hash_cost.parallelism, o.argon2_parallelism);
        set(&mut self.hash_threads, o.hash_threads);
        set(&mut self.hash_queue, o.hash_queue);
        set(&mut self.pool.max_connections, o.db_max_connections);
        set(&mut self.pool.acquire_timeout, o.db_acquire_timeout);
        set(&mut self.request_timeout, o.request_timeout);
        set(&mut self.prune_interval, o.prune_interval);
        set(
            &mut self.connections.header_read_timeout,
            o.header_read_timeout,
        );
        set(
            &mut self.connections.keep_alive_timeout,
            o.keep_alive_timeout,
        );
        set(&mut self.connections.max_connections, o.max_connections);
        set(&mut self.log_format, o.log_format);
        set(&mut self.auth_cookie, o.auth_cookie);
        set(&mut self.cookie_secure, o.cookie_secure);
        if o.cookie_domain.is_some() {
            self.cookie_domain = o.cookie_domain.clone();
        }
        set(&mut self.return_hosts, o.return_hosts.clone().map(|h| h.0));
        if o.session_idle_timeout.is_some() {
            self.session_idle_timeout = o.session_idle_timeout;
        }
        if o.max_sessions_per_user.is_some() {
            self.max_sessions_per_user = o.max_sessions_per_user;
        }
    }

    /// The settings in the file's own shape, every key filled in and the database password
    /// redacted: what `thunderhead config` prints.
    pub fn to_file(&self) -> FileConfig {
        let limit = |l: Option<Limit>| {
            Some(l.map_or_else(
                || "off".to_owned(),
                |l| format!("{}/{}", l.requests, l.window_secs),
            ))
        };
        FileConfig {
            listen: Some(self.listen),
            database_url: Some(self.database_url.to_string()),
            key_file: Some(self.key_file.clone()),
            trusted_proxies: Some(self.trusted_proxies.clone()),
            body_limit: Some(self.body_limit),
            domain: Some(self.domain.clone()),
            subdomain: self.subdomain.clone(),
            prune_interval_secs: Some(self.prune_interval.as_secs()),
            request_timeout_secs: Some(self.request_timeout.as_secs()),
            header_read_timeout_secs: Some(self.connections.header_read_timeout.as_secs()),
            keep_alive_timeout_secs: Some(self.connections.keep_alive_timeout.as_secs()),
            max_connections: Some(self.connections.max_connections),
            hash_threads: Some(self.hash_threads),
            hash_queue: Some(self.hash_queue),
            log_format: Some(self.log_format),
            auth_cookie: Some(self.auth_cookie),
            cookie_secure: Some(self.cookie_secure),
            cookie_domain: self.cookie_domain.clone(),
            return_hosts: Some(self.return_hosts.clone()),
            session_idle_timeout_secs: self.session_idle_timeout.map(|d| d.as_secs()),
            max_sessions_per_user: self.max_sessions_per_user,
            rate_limits: FileRateLimits {
                enabled: Some(self.rate_limits != RateLimits::OFF),
                general: limit(self.rate_limits.general),
                login: limit(self.rate_limits.login),
                register: limit(self.rate_limits.register),
                failed_password: limit(self.rate_limits.failed_password),
            },
            argon2: FileArgon2 {
                memory_kib: Some(self.hash_cost.memory_kib),
                iterations: Some(self.hash_cost.iterations),
                parallelism: Some(self.hash_cost.parallelism),
            },
            database: FileDatabase {
                max_connections: Some(self.pool.max_connections),
                acquire_timeout_secs: Some(self.pool.acquire_timeout.as_secs()),
            },
        }
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let reason = e.message().to_owned();
        format!("config file {} is invalid: {reason}", path.display())
    })
}

/// `THUNDERHEAD_*` variables in `vars` that no setting reads: most likely typos, which would
/// otherwise do nothing without a word.
pub fn unknown_variables(vars: impl IntoIterator<Item = String>, known: &[String]) -> Vec<String> {
    let mut unknown: Vec<String> = vars
        .into_iter()
        .filter(|name| name.starts_with("THUNDERHEAD_") && !known.contains(name))
        .collect();
    unknown.sort();
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("thunderhead-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let file = dir.join("t.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndomain = \"file.example\"\n[rate_limits]\nlogin = \"5/60\"\nenabled = false\n[argon2]\nmemory_kib = 4096\n",
        )
        .map_err(|e| e.to_string())?;
        let overrides = Overrides {
            config: Some(file.clone()),
            domain: Some("flag.example".into()),
            ..Overrides::default()
        };
        let config = Config::resolve(&overrides)?;
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.domain, "flag.example");
        assert_eq!(
            config.rate_limits,
            RateLimits::OFF,
            "the file switched limits off"
        );
        assert_eq!(config.hash_cost.memory_kib, 4096);
        assert_eq!(config.hash_cost.iterations, HashCost::default().iterations);
        // The switch from a later layer turns them back on, with the file's limits.
        let overrides = Overrides {
            config: Some(file),
            rate_limits: Some(true),
            ..Overrides::default()
        };
        let config = Config::resolve(&overrides)?;
        assert_eq!(
            config.rate_limits.login,
            Some(Limit {
                requests: 5,
                window_secs: 60
            })
        );
        assert_eq!(config.rate_limits.general, RateLimits::default().general);
        Ok(())
    }

    #[test]
    fn bad_values_are_named() {
        let overrides = Overrides {
            database_url: Some("mysql://x/y".into()),
            ..Overrides::default()
        };
        assert!(Config::resolve(&overrides).is_err_and(|e| e.contains("mysql")));
        let overrides = Overrides {
            config: Some(PathBuf::from("/nonexistent/thunderhead.toml")),
            ..Overrides::default()
        };
        assert!(
            Config::resolve(&overrides).is_err_and(|e| e.contains("/nonexistent/thunderhead.toml"))
        );
        for (overrides, name) in [
            (
                Overrides {
                    prune_interval: Some(Duration::ZERO),
                    ..Overrides::default()
                },
                "prune_interval",
            ),
            (
                Overrides {
                    hash_queue: Some(0),
                    ..Overrides::default()
                },
                "hash_queue",
            ),
            (
                Overrides {
                    body_limit: Some(0),
                    ..Overrides::default()
                },
                "body_limit",
            ),
            (
                Overrides {
                    max_connections: Some(0),
                    ..Overrides::default()
                },
                "max_connections",
            ),
            (
                Overrides {
                    db_max_connections: Some(0),
                    ..Overrides::default()
                },
                "database.max_connections",
            ),
        ] {
            let result = Config::resolve(&overrides);
            assert!(
                result.as_ref().is_err_and(|e| e.contains(name)),
                "{name}: {:?}",
                result.map(|_| ())
            );
        }
    }

    #[test]
    fn durations_take_suffixes() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn debug_hides_database_password() {
        let config = Config {
            database_url: DatabaseUrl::new("postgres://u:hunter2@h/db?password=hunter3"),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_variables_are_found() {
        let known = vec!["THUNDERHEAD_LISTEN".to_owned()];
        let vars = ["THUNDERHEAD_LISTEN", "THUNDERHEAD_LISTN", "PATH"].map(String::from);
        assert_eq!(unknown_variables(vars, &known), vec!["THUNDERHEAD_LISTN"]);
    }
}
