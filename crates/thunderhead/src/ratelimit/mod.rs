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

/// One window's counter after a take. `count` goes no higher than the limit plus one: that
/// extra one marks the window as full, so a refused attempt takes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u32,
    pub reset_at_ms: i64,
}

/// Counters of fixed windows. Taking is one atomic step (a check and an increment together),
/// so 50 attempts arriving at once can never all pass a limit of 10 (the counters used to be
/// read before a password was hashed and written after, which let every one of them through).
#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Takes one unit of `key`'s budget of `limit` in its current window, starting a window
    /// of `window_ms` if none runs; a full window stays as it is. Returns the window after.
    async fn take(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<Window>;

    /// Gives back one unit taken from the window that ends at `reset_at_ms`; nothing when that
    /// window is already over.
    async fn give_back(&self, key: &str, limit: u32, reset_at_ms: i64) -> anyhow::Result<()>;
}

/// The key that limits a client by address: an IPv4 address as it is, an IPv6 address by its
/// /64, the block one subscriber usually holds whole (and could otherwise walk through).
/// Written where it is formatted into a counter key, so the hot path allocates once.
pub fn client_key(ip: std::net::IpAddr) -> ClientKey {
    ClientKey(ip.to_canonical())
}

/// See `client_key`.
#[derive(Debug, Clone, Copy)]
pub struct ClientKey(std::net::IpAddr);

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            std::net::IpAddr::V4(v4) => v4.fmt(f),
            std::net::IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                write!(f, "{}/64", std::net::Ipv6Addr::from(prefix))
            }
        }
    }
}

#[derive(Clone)]
pub struct RateLimiter {
    local: Arc<dyn CounterStore>,
    shared: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
    limits: RateLimits,
}

/// A unit of budget held while the attempt it admits runs. `keep` spends it (the attempt
/// counts); `release` gives it back (it does not, as the contract says of a correct password
/// or a failed login). Dropped without either, say because the request timed out or the
/// client went away, it is given back in the background.
pub struct Reservation {
    counters: Arc<dyn CounterStore>,
    key: String,
    reset_at_ms: i64,
    decision: Decision,
    armed: bool,
}

impl Reservation {
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The attempt counts.
    pub fn keep(mut self) {
        self.armed = false;
    }

    /// The attempt does not count. Failing to give the unit back is logged, never the
    /// caller's error: the worst it does is count one attempt too many.
    pub async fn release(mut self) {
        self.armed = false;
        give_back(
            self.counters.clone(),
            std::mem::take(&mut self.key),
            self.decision.limit,
            self.reset_at_ms,
        )
        .await;
    }
}

async fn give_back(counters: Arc<dyn CounterStore>, key: String, limit: u32, reset_at_ms: i64) {
    if let Err(err) = counters.give_back(&key, limit, reset_at_ms).await {
        tracing::warn!(error = %crate::error::Chain(&err), "giving back a rate-limit reservation failed");
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(give_back(
            self.counters.clone(),
            std::mem::take(&mut self.key),
            self.decision.limit,
            self.reset_at_ms,
        ));
    }
}

/// Why a reservation was not made.
#[derive(Debug)]
pub enum Refused {
    /// The budget is spent; the decision says until when.
    Limited(Decision),
    Failed(anyhow::Error),
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

    fn counters(&self, class: Class) -> &Arc<dyn CounterStore> {
        if class == Class::General {
            &self.local
        } else {
            &self.shared
        }
    }

    /// Counts one request and says whether it is within the limit. `None` when the class is off.
    pub async fn hit(&self, class: Class, key: &str) -> anyhow::Result<Option<Decision>> {
        Ok(self
            .take(class, key)
            .await?
            .map(|(decision, _, _)| decision))
    }

    /// Takes one unit of budget for an attempt whose outcome decides whether it counts.
    /// `Ok(None)` when the class is off.
    pub async fn reserve(&self, class: Class, key: &str) -> Result<Option<Reservation>, Refused> {
        let Some((decision, full_key, window)) =
            self.take(class, key).await.map_err(Refused::Failed)?
        else {
            return Ok(None);
        };
        if !decision.allowed {
            return Err(Refused::Limited(decision));
        }
        Ok(Some(Reservation {
            counters: self.counters(class).clone(),
            key: full_key,
            reset_at_ms: window.reset_at_ms,
            decision,
            armed: true,
        }))
    }

    async fn take(
        &self,
        class: Class,
        key: &str,
    ) -> anyhow::Result<Option<(Decision, String, Window)>> {
        let Some(limit) = self.limit(class) else {
            return Ok(None);
        };
        let now_ms = self.clock.now_ms();
        let window_ms = i64::try_from(limit.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let full_key = format!("{}:{key}", class.prefix());
        let window = self
            .counters(class)
            .take(&full_key, limit.requests, window_ms, now_ms)
            .await?;
        let decision = Decision {
            allowed: window.count <= limit.requests,
            limit: limit.requests,
            remaining: limit.requests.saturating_sub(window.count),
            reset_at_s: (window.reset_at_ms + 999).div_euclid(1000),
            reset_in_s: ((window.reset_at_ms - now_ms + 999).div_euclid(1000)).max(1),
        };
        Ok(Some((decision, full_key, window)))
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

    #[test]
    fn clients_are_keyed_by_address_and_ipv6_by_64() {
        let key = |s: &str| {
            client_key(s.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))).to_string()
        };
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_eq!(
            key("::ffff:203.0.113.9"),
            "203.0.113.9",
            "a mapped IPv4 is IPv4"
        );
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }

    #[tokio::test]
    async fn fifty_at_once_take_at_most_the_limit_and_release_gives_back() -> anyhow::Result<()> {
        let counters: Arc<dyn CounterStore> = Arc::new(MemoryCounters::default());
        let clock = Arc::new(crate::clock::ManualClock::new(1_000_000));
        let limiter = RateLimiter::new(
            counters.clone(),
            counters,
            clock,
            RateLimits {
                failed_password: Some(Limit {
                    requests: 10,
                    window_secs: 900,
                }),
                ..RateLimits::OFF
            },
        );
        let attempts = (0..50).map(|_| limiter.reserve(Class::FailedPassword, "ip:1"));
        let results = futures::future::join_all(attempts).await;
        let mut held = Vec::new();
        for result in results {
            match result {
                Ok(Some(reservation)) => held.push(reservation),
                Ok(None) => anyhow::bail!("the class is on"),
                Err(Refused::Limited(d)) => assert_eq!(d.remaining, 0),
                Err(Refused::Failed(e)) => return Err(e),
            }
        }
        assert_eq!(held.len(), 10);
        // Giving one back makes room for exactly one more.
        if let Some(one) = held.pop() {
            one.release().await;
        }
        assert!(limiter
            .reserve(Class::FailedPassword, "ip:1")
            .await
            .is_ok_and(|r| r.is_some()));
        assert!(matches!(
            limiter.reserve(Class::FailedPassword, "ip:1").await,
            Err(Refused::Limited(_))
        ));
        Ok(())
    }
}
