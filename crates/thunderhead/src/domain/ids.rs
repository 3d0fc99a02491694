//! Newtype IDs so a user ID can never be passed where a session ID is expected.

use std::fmt;

/// A user's ID: decimal digits on the wire, never reused once deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// A session's ID: the `iat` of its token, unique per user and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub i64);

impl UserId {
    /// Parses the wire form; only plain decimal digits are accepted.
    pub fn parse(text: &str) -> Option<Self> {
        parse_digits(text).map(Self)
    }
}

impl SessionId {
    pub fn parse(text: &str) -> Option<Self> {
        parse_digits(text).map(Self)
    }
}

fn parse_digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_parse() {
        assert_eq!(UserId::parse("42"), Some(UserId(42)));
        assert_eq!(UserId::parse("-1"), None);
        assert_eq!(UserId::parse("+1"), None);
        assert_eq!(UserId::parse(""), None);
        assert_eq!(UserId::parse("1e3"), None);
        assert_eq!(UserId::parse("99999999999999999999"), None);
        assert_eq!(
            SessionId::parse("1700000000"),
            Some(SessionId(1_700_000_000))
        );
    }
}
