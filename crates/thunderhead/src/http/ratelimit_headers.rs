//! The rate-limit headers of the contract: Cumulonimbus's `X-RateLimit-*` (reset as a UNIX
//! time), the IETF draft's `RateLimit-*` (reset in seconds), and `Retry-After` on a 429.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponseParts, ResponseParts};

use crate::ratelimit::Decision;

pub struct RateLimitHeaders(pub Option<Decision>);

const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");

impl RateLimitHeaders {
    /// Whether a response already reports a limit (a stricter, route-specific one).
    pub fn present(headers: &HeaderMap) -> bool {
        headers.contains_key(X_LIMIT)
    }

    pub fn apply(&self, headers: &mut HeaderMap, rejected: bool) {
        let Some(d) = self.0 else { return };
        let pairs = [
            (X_LIMIT, i64::from(d.limit)),
            (X_REMAINING, i64::from(d.remaining)),
            (X_RESET, d.reset_at_s),
            (LIMIT, i64::from(d.limit)),
            (REMAINING, i64::from(d.remaining)),
            (RESET, d.reset_in_s),
        ];
        for (name, value) in pairs {
            headers.insert(name, HeaderValue::from(value));
        }
        if rejected {
            headers.insert(RETRY_AFTER, HeaderValue::from(d.reset_in_s));
        }
    }
}

impl IntoResponseParts for RateLimitHeaders {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        self.apply(res.headers_mut(), false);
        Ok(res)
    }
}
