//! Settings, layered: built-in defaults < TOML file < environment < flags. Clap reads the
//! environment and the flags (a flag beats its variable); this module lays them over the
//! file and the defaults and validates the result into `Config`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::domain::password::HashCost;
use crate::ratelimit::{Limit, RateLimits};
use crate::store::{redact_url, Backend, PoolSettings};

/// The validated settings the server and the CLI run with.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub key_file: PathBuf,
    pub rate_limits: RateLimits,
    pub trusted_proxies: Vec<IpNet>,
    pub hash_cost: HashCost,
    /// Threads that hash passwords; each holds `hash_cost.memory_kib` of memory.
    pub hash_threads: usize,
    pub body_limit: usize,
    pub domain: String,
    pub subdomain: Option<String>,
    pub pool: PoolSettings,
    pub request_timeout: Duration,
    pub prune_interval: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("key_file", &self.key_file)
            .field("rate_limits", &self.rate_limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("hash_cost", &self.hash_cost)
            .field("hash_threads", &self.hash_threads)
            .field("body_limit", &self.body_limit)
            .field("domain", &self.domain)
            .field("subdomain", &self.subdomain)
            .field("pool", &self.pool)
            .field("request_timeout", &self.request_timeout)
            .field("prune_interval", &self.prune_interval)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            database_url: "sqlite://thunderhead.db".into(),
            key_file: PathBuf::from("thunderhead-key.pem"),
            rate_limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            hash_cost: HashCost::default(),
            hash_threads: crate::domain::password::default_hash_threads(),
            body_limit: 1024 * 1024,
            domain: "localhost".into(),
            subdomain: None,
            pool: PoolSettings::default(),
            request_timeout: Duration::from_secs(10),
            prune_interval: Duration::from_secs(600),
        }
    }
}

/// The TOML file's shape. Unknown keys are an error, so a typo cannot silently do nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub key_file: Option<PathBuf>,
    pub trusted_proxies: Option<Vec<IpNet>>,
    pub body_limit: Option<usize>,
    pub domain: Option<String>,
    pub subdomain: Option<String>,
    pub prune_interval_secs: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    #[serde(default)]
    pub rate_limits: FileRateLimits,
    pub argon2: Option<HashCost>,
    pub hash_threads: Option<usize>,
    #[serde(default)]
    pub database: FileDatabase,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRateLimits {
    pub enabled: Option<bool>,
    pub general: Option<String>,
    pub login: Option<String>,
    pub register: Option<String>,
    pub failed_password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDatabase {
    pub max_connections: Option<u32>,
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
    /// `off` switches every rate limit off
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
    pub trusted_proxies: Option<Vec<IpNet>>,
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
    /// Database connections per instance [default: 8]
    #[arg(
        long,
        env = "THUNDERHEAD_DB_MAX_CONNECTIONS",
        global = true,
        value_name = "N"
    )]
    pub db_max_connections: Option<u32>,
    /// Seconds to wait for a database connection before answering 500 [default: 5]
    #[arg(
        long,
        env = "THUNDERHEAD_DB_ACQUIRE_TIMEOUT",
        global = true,
        value_name = "SECS"
    )]
    pub db_acquire_timeout: Option<u64>,
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

fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an IP address or CIDR"))
        })
        .collect()
}

impl Config {
    /// Lays the file (if any) and the overrides over the defaults, and validates.
    pub fn resolve(overrides: &Overrides) -> Result<Self, String> {
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut config = Self::default();
        config.apply_file(file)?;
        config.apply_overrides(overrides);
        Backend::from_url(&config.database_url)?;
        if config.request_timeout.is_zero() || config.pool.acquire_timeout.is_zero() {
            return Err("timeouts must be at least one second".into());
        }
        config.hash_cost.validate()?;
        if config.hash_threads == 0 {
            return Err("hash_threads must be at least 1".into());
        }
        Ok(config)
    }

    fn apply_file(&mut self, file: FileConfig) -> Result<(), String> {
        set(&mut self.listen, file.listen);
        set(&mut self.database_url, file.database_url);
        set(&mut self.key_file, file.key_file);
        set(&mut self.trusted_proxies, file.trusted_proxies);
        set(&mut self.body_limit, file.body_limit);
        set(&mut self.domain, file.domain);
        if file.subdomain.is_some() {
            self.subdomain = file.subdomain;
        }
        set(
            &mut self.prune_interval,
            file.prune_interval_secs.map(Duration::from_secs),
        );
        set(&mut self.hash_cost, file.argon2);
        set(&mut self.hash_threads, file.hash_threads);
        set(
            &mut self.request_timeout,
            file.request_timeout_secs.map(Duration::from_secs),
        );
        set(
            &mut self.pool.max_connections,
            file.database.max_connections,
        );
        set(
            &mut self.pool.acquire_timeout,
            file.database.acquire_timeout_secs.map(Duration::from_secs),
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
        if limits.enabled == Some(false) {
            self.rate_limits = RateLimits::OFF;
        }
        Ok(())
    }

    fn apply_overrides(&mut self, o: &Overrides) {
        set(&mut self.listen, o.listen);
        set(&mut self.database_url, o.database_url.clone());
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
        if o.rate_limits == Some(false) {
            self.rate_limits = RateLimits::OFF;
        }
        set(&mut self.trusted_proxies, o.trusted_proxies.clone());
        set(&mut self.body_limit, o.body_limit);
        set(&mut self.domain, o.domain.clone());
        if o.subdomain.is_some() {
            self.subdomain = o.subdomain.clone();
        }
        set(&mut self.hash_cost.memory_kib, o.argon2_memory_kib);
        set(&mut self.hash_cost.iterations, o.argon2_iterations);
        set(&mut self.hash_cost.parallelism, o.argon2_parallelism);
        set(&mut self.hash_threads, o.hash_threads);
        set(&mut self.pool.max_connections, o.db_max_connections);
        set(
            &mut self.pool.acquire_timeout,
            o.db_acquire_timeout.map(Duration::from_secs),
        );
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
            "listen = \"127.0.0.1:9000\"\ndomain = \"file.example\"\n[rate_limits]\nlogin = \"5/60\"\n",
        )
        .map_err(|e| e.to_string())?;
        let overrides = Overrides {
            config: Some(file),
            domain: Some("flag.example".into()),
            ..Overrides::default()
        };
        let config = Config::resolve(&overrides)?;
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.domain, "flag.example");
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
    }

    #[test]
    fn debug_hides_database_password() {
        let config = Config {
            database_url: "postgres://u:hunter2@h/db".into(),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
