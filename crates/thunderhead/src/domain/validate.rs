//! Input rules of the contract, each answering with the offending field's name.

/// Passwords longer than this are refused rather than hashed: a bound on work per request.
pub const MAX_PASSWORD_CHARS: usize = 1024;
pub const MAX_EMAIL_CHARS: usize = 254;

/// `^[a-z0-9_.-]{1,60}$`, case-insensitively; returns the stored (lower-case) form.
pub fn username(raw: &str) -> Option<String> {
    let lower = raw.to_ascii_lowercase();
    let ok = (1..=60).contains(&lower.len())
        && lower
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    ok.then_some(lower)
}

/// Something that looks like an address: one `@`, no spaces, a dot in the domain.
pub fn email(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let (local, domain) = trimmed.split_once('@')?;
    let ok = trimmed.len() <= MAX_EMAIL_CHARS
        && !local.is_empty()
        && !domain.contains('@')
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.split('.').filter(|part| !part.is_empty()).count() >= 2
        && !domain.starts_with('.')
        && !domain.ends_with('.');
    ok.then(|| trimmed.to_owned())
}

pub fn password(raw: &str) -> bool {
    !raw.is_empty() && raw.chars().count() <= MAX_PASSWORD_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username("Alice_1.x-y").as_deref(), Some("alice_1.x-y"));
        assert_eq!(username(""), None);
        assert_eq!(username("has space"), None);
        assert_eq!(username("ünïcode"), None);
        assert_eq!(username(&"a".repeat(61)), None);
        assert!(username(&"a".repeat(60)).is_some());
    }

    #[test]
    fn emails() {
        assert!(email("a@b.co").is_some());
        assert!(email("a@b").is_none());
        assert!(email("a@@b.co").is_none());
        assert!(email("a b@c.de").is_none());
        assert!(email("@b.co").is_none());
        assert!(email("a@.b.co").is_none());
    }
}
