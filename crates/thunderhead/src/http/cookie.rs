//! The opt-in `thunderhead_token` cookie (API.md 2.3): set on sign-in and sign-up, cleared
//! when a request ends the caller's own session, and read by forward authentication only,
//! so no state-changing request of the JSON API can ride on it.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponseParts, ResponseParts};

pub const NAME: &str = "thunderhead_token";

/// How the cookie is set, when `--auth-cookie on`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    /// `Secure` (HTTPS only); off for plain-HTTP set-ups such as local tests.
    pub secure: bool,
    /// `Domain`, to share the cookie with the protected services' subdomains.
    pub domain: Option<String>,
}

/// A `Set-Cookie` to add to a response, or nothing.
pub struct SetCookie(Option<HeaderValue>);

impl SetCookie {
    pub const NONE: Self = Self(None);

    /// The cookie holding `token` until `max_age_s` from now (the session's own expiry).
    pub fn token(settings: Option<&CookieSettings>, token: &str, max_age_s: i64) -> Self {
        Self(settings.and_then(|s| attributes(s, token, max_age_s.max(0))))
    }

    /// The cookie cleared.
    pub fn clear(settings: Option<&CookieSettings>) -> Self {
        Self(settings.and_then(|s| attributes(s, "", 0)))
    }
}

fn attributes(settings: &CookieSettings, value: &str, max_age_s: i64) -> Option<HeaderValue> {
    let mut cookie = format!("{NAME}={value}; Max-Age={max_age_s}; Path=/; HttpOnly; SameSite=Lax");
    if settings.secure {
        cookie.push_str("; Secure");
    }
    if let Some(domain) = &settings.domain {
        cookie.push_str("; Domain=");
        cookie.push_str(domain);
    }
    HeaderValue::from_str(&cookie).ok()
}

impl IntoResponseParts for SetCookie {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Some(value) = self.0 {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
        Ok(res)
    }
}

/// The token in the request's `thunderhead_token` cookie, if any.
pub fn token_from(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == NAME && !value.is_empty())
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_has_the_contracts_attributes() {
        let secure = CookieSettings {
            secure: true,
            domain: Some("example.com".into()),
        };
        let shown = |cookie: SetCookie| cookie.0.and_then(|v| v.to_str().ok().map(str::to_owned));
        assert_eq!(
            shown(SetCookie::token(Some(&secure), "a.b.c", 60)).as_deref(),
            Some("thunderhead_token=a.b.c; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure; Domain=example.com")
        );
        let plain = CookieSettings {
            secure: false,
            domain: None,
        };
        assert_eq!(
            shown(SetCookie::clear(Some(&plain))).as_deref(),
            Some("thunderhead_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax")
        );
        assert!(SetCookie::token(None, "a.b.c", 60).0.is_none());
    }

    #[test]
    fn the_token_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; thunderhead_token=x.y.z; b=2"),
        );
        assert_eq!(token_from(&headers), Some("x.y.z"));
        let mut empty = HeaderMap::new();
        empty.append(
            header::COOKIE,
            HeaderValue::from_static("thunderhead_token="),
        );
        assert_eq!(token_from(&empty), None);
    }
}
