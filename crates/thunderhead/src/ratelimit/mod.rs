//! Fixed-window rate limits. The counters sit behind `CounterStore` so one process can keep
//! them in memory and several can share them. The general limit is always counted in this
//! process (it is hit on every request, and a write per request to a shared store would cost
//! more than it protects); logins, sign-ups and wrong passwords use the shared counters, so
//! running more instances does not multiply anyone's password guesses.

mod memory;
mod shared;

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::Clock;

pub use memory::MemoryCounters;
pub use shared::StoreCounters;

/// `requests` per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub requests: u32,
    pub window_secs: u64,
}

impl Limit {
    /// Parses `N/SECONDS` (also `N/5m`, `N/1h`); `off` is `None`.
    pub fn parse_setting(text: &str) -> Result<Option<Self>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad =
            || format!("rate limit {text:?} is not N/SECONDS (e.g. 100/300 or 100/5m) or off");
        let (requests, window) = text.split_once('/').ok_or_else(bad)?;
        let requests: u32 = requests.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let (digits, unit) = match window.char_indices().last() {
            Some((i, c @ ('s' | 'm' | 'h'))) => (&window[..i], c),
            _ => (window, 's'),
        };
        let amount: u64 = digits.parse().map_err(|_| bad())?;
        let window_secs = amount.saturating_mul(match unit {
            'm' => 60,
            'h' => 3600,
            _ => 1,
        });
        if requests == 0 || window_secs == 0 {
            return Err(bad());
        }
        Ok(Some(Self {
            requests,
            window_secs,
        }))
    }
}

/// The limit classes of the contract; each can be switched off (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub general: Option<Limit>,
    /// Successful logins per IP.
    pub login: Option<Limit>,
    /// Accounts created per IP.
    pub register: Option<Limit>,
    /// Wrong passwords, per IP and per account.
    pub failed_password: Option<Limit>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            general: Some(Limit {
                requests: 100,
                window_secs: 300,
            }),
            login: Some(Limit {
                requests: 1,
                window_secs: 60,
            }),
            register: Some(Limit {
                requests: 1,
                window_secs: 1800,
            }),
            failed_password: Some(Limit {
                requests: 10,
                window_secs: 900,
            }),
        }
    }
}

impl RateLimits {
    pub const OFF: Self = Self {
        general: None,
        login: None,
        register: None,
        failed_password: None,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    General,
    Login,
    Register,
    FailedPassword,
}

impl Class {
    fn prefix(self) -> &'static str {
        match self {
            Self::General => "general",
            Self::Login => "login",
            Self::Register => "register",
            Self::FailedPassword => "failed-password",
        }
    }
}

/// The state of one limit after a request; what the rate-limit headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// UNIX seconds at which the window ends.
    pub reset_at_s: i64,
    /// Seconds from now until then, at least 1.
    pub reset_in_s: i64,
}

/// One window's counter after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u32,
    pub reset_at_ms: i64,
}

#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Adds `cost` to `key`'s counter, starting a new window of `window_ms` if none is running.
    /// A cost of 0 only reads.
    async fn add(
        &self,
        key: &str,
        cost: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<Window>;
}

#[derive(Clone)]
pub struct RateLimiter {
    local: Arc<dyn CounterStore>,
    shared: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
    limits: RateLimits,
}

impl RateLimiter {
    /// `local` counts the general limit; `shared` counts logins, sign-ups and wrong passwords.
    pub fn new(
        local: Arc<dyn CounterStore>,
        shared: Arc<dyn CounterStore>,
        clock: Arc<dyn Clock>,
        limits: RateLimits,
    ) -> Self {
        Self {
            local,
            shared,
            clock,
            limits,
        }
    }

    fn limit(&self, class: Class) -> Option<Limit> {
        match class {
            Class::General => self.limits.general,
            Class::Login => self.limits.login,
            Class::Register => self.limits.register,
            Class::FailedPassword => self.limits.failed_password,
        }
    }

    /// Counts one request and says whether it is within the limit. `None` when the class is off.
    pub async fn hit(&self, class: Class, key: &str) -> anyhow::Result<Option<Decision>> {
        self.apply(class, key, 1).await
    }

    /// Says whether one more counted event would still be allowed, without counting.
    pub async fn check(&self, class: Class, key: &str) -> anyhow::Result<Option<Decision>> {
        self.apply(class, key, 0).await
    }

    async fn apply(&self, class: Class, key: &str, cost: u32) -> anyhow::Result<Option<Decision>> {
        let Some(limit) = self.limit(class) else {
            return Ok(None);
        };
        let now_ms = self.clock.now_ms();
        let window_ms = i64::try_from(limit.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let full_key = format!("{}:{key}", class.prefix());
        let counters = if class == Class::General {
            &self.local
        } else {
            &self.shared
        };
        let window = counters.add(&full_key, cost, window_ms, now_ms).await?;
        // A read (cost 0) asks whether the next event fits; a hit asks whether this one did.
        let allowed = if cost == 0 {
            window.count < limit.requests
        } else {
            window.count <= limit.requests
        };
        Ok(Some(Decision {
            allowed,
            limit: limit.requests,
            remaining: limit.requests.saturating_sub(window.count),
            reset_at_s: (window.reset_at_ms + 999).div_euclid(1000),
            reset_in_s: ((window.reset_at_ms - now_ms + 999).div_euclid(1000)).max(1),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse() {
        assert_eq!(Limit::parse_setting("off"), Ok(None));
        assert_eq!(
            Limit::parse_setting("100/300"),
            Ok(Some(Limit {
                requests: 100,
                window_secs: 300
            }))
        );
        assert_eq!(
            Limit::parse_setting("10/15m"),
            Ok(Some(Limit {
                requests: 10,
                window_secs: 900
            }))
        );
        assert!(Limit::parse_setting("0/10").is_err());
        assert!(Limit::parse_setting("ten/10").is_err());
        assert!(Limit::parse_setting("10").is_err());
    }
}
