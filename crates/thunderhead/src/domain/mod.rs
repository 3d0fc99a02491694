//! Domain types and rules that do not depend on HTTP or storage.

pub mod ids;
pub mod import;
pub mod password;
pub mod sealing;
pub mod session_name;
pub mod token;
pub mod validate;

pub use ids::{SessionId, UserId};

/// A user as the store holds it. `password_hash` never leaves the service layer.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    #[sqlx(try_from = "i64")]
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub staff: bool,
    /// Milliseconds since the UNIX epoch.
    pub banned_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The account's own domain and subdomain, for accounts imported from a Cumulonimbus;
    /// `None` for accounts made here, which report the configured ones.
    pub domain: Option<String>,
    pub subdomain: Option<String>,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("staff", &self.staff)
            .field("banned_at", &self.banned_at)
            .finish_non_exhaustive()
    }
}

/// A session row. `id` is the token's `iat`; `exp` is in whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    #[sqlx(try_from = "i64")]
    pub user_id: UserId,
    #[sqlx(rename = "iat", try_from = "i64")]
    pub id: SessionId,
    pub exp: i64,
    pub name: String,
    /// When it was opened, in milliseconds.
    pub created_at: i64,
    /// Its last use as the database knows it (a flush interval behind at most), milliseconds.
    pub used_at: Option<i64>,
    /// The client's address at sign-in, and at its last use.
    pub ip: Option<String>,
    pub last_ip: Option<String>,
    /// The raw `User-Agent` at sign-in.
    pub user_agent: Option<String>,
}

/// How a ban changes: set, lift, or flip whatever it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanChange {
    Ban,
    Unban,
    Toggle,
}

/// What authenticating a token yields: the session and the owner's standing.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuthRecord {
    #[sqlx(flatten)]
    pub session: SessionRecord,
    pub staff: bool,
    pub banned_at: Option<i64>,
    /// The owner's username, for those who pass identity on (forward auth, introspection).
    pub username: String,
}

impl From<i64> for UserId {
    fn from(value: i64) -> Self {
        Self(value)
    }
}

impl From<i64> for SessionId {
    fn from(value: i64) -> Self {
        Self(value)
    }
}

/// One page of a list, already clamped to the contract's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
}

impl Page {
    pub const MAX_LIMIT: u32 = 50;

    /// Applies the contract's lenient rules: a bad limit means 50, a bad offset means 0.
    pub fn from_query(limit: Option<&str>, offset: Option<&str>) -> Self {
        let limit = limit
            .and_then(|l| l.trim().parse::<i64>().ok())
            .filter(|l| (1..=i64::from(Self::MAX_LIMIT)).contains(l))
            .and_then(|l| u32::try_from(l).ok())
            .unwrap_or(Self::MAX_LIMIT);
        let offset = offset
            .and_then(|o| o.trim().parse::<u64>().ok())
            .filter(|o| i64::try_from(*o).is_ok())
            .unwrap_or(0);
        Self { limit, offset }
    }
}

/// A page of items plus the total the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    pub count: u64,
    pub items: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::Page;

    #[test]
    fn page_rules_follow_the_contract() {
        let p = |l, o| Page::from_query(l, o);
        assert_eq!(
            p(None, None),
            Page {
                limit: 50,
                offset: 0
            }
        );
        assert_eq!(
            p(Some("10"), Some("5")),
            Page {
                limit: 10,
                offset: 5
            }
        );
        assert_eq!(
            p(Some("0"), Some("-1")),
            Page {
                limit: 50,
                offset: 0
            }
        );
        assert_eq!(
            p(Some("51"), Some("x")),
            Page {
                limit: 50,
                offset: 0
            }
        );
        assert_eq!(
            p(Some("-3"), Some("1.5")),
            Page {
                limit: 50,
                offset: 0
            }
        );
        assert_eq!(
            p(Some("50"), Some("99999999999999999999")),
            Page {
                limit: 50,
                offset: 0
            }
        );
    }
}
