//! The web page at `/`: three files compiled into the binary, so it works offline and from a
//! fresh clone with no build step. The page talks to the same `/api` as every other client.
//! `/?return=URL` sends a person back to URL after signing in, only if its host is one of
//! `--return-hosts`: the server checks, and only then names it in the page, so the page can
//! never be made into an open redirect.

use std::borrow::Cow;

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::http::extract::QueryParams;
use crate::http::AppState;

const INDEX: &str = include_str!("../../../web/index.html");
const SCRIPT: &str = include_str!("../../../web/app.js");
const STYLE: &str = include_str!("../../../web/app.css");

/// Only this origin's own files; no inline script or style, no frames, no plugins.
const POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
    img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route(
            "/app.js",
            get(|| async { page("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/app.css",
            get(|| async { page("text/css; charset=utf-8", STYLE) }),
        )
}

async fn index(State(state): State<AppState>, query: QueryParams) -> Response {
    let back = query
        .get("return")
        .filter(|url| may_return_to(url, &state.http.return_hosts));
    let body = match back {
        Some(url) => Cow::Owned(INDEX.replacen(
            "</head>",
            &format!(
                "  <meta name=\"thunderhead-return\" content=\"{}\">\n</head>",
                escape_attribute(url)
            ),
            1,
        )),
        None => Cow::Borrowed(INDEX),
    };
    page("text/html; charset=utf-8", body)
}

/// An absolute http(s) URL, without credentials, to one of `hosts` (`name` or `name:port`).
fn may_return_to(url: &str, hosts: &[String]) -> bool {
    let Ok(uri) = url.parse::<Uri>() else {
        return false;
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return false;
    };
    if !matches!(scheme, "http" | "https") || authority.as_str().contains('@') {
        return false;
    }
    let host = authority.host().to_ascii_lowercase();
    let with_port = authority.as_str().to_ascii_lowercase();
    hosts.iter().any(|h| *h == host || *h == with_port)
}

fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn page(content_type: &'static str, body: impl Into<Cow<'static, str>>) -> Response {
    let body: Cow<'static, str> = body.into();
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_named_hosts_are_returned_to() {
        let hosts = vec!["files.example.com".to_owned(), "127.0.0.1:8080".to_owned()];
        for good in [
            "https://files.example.com/a?b=c",
            "http://FILES.example.com",
            "http://127.0.0.1:8080/x",
        ] {
            assert!(may_return_to(good, &hosts), "{good}");
        }
        for bad in [
            "https://evil.example/",
            "//files.example.com/",
            "/relative",
            "javascript:alert(1)",
            "https://files.example.com@evil.example/",
            "https://evil.example/?files.example.com",
            "http://127.0.0.1:9090/",
            "ftp://files.example.com/",
        ] {
            assert!(!may_return_to(bad, &hosts), "{bad}");
        }
        assert_eq!(escape_attribute("a\"<b>&'"), "a&quot;&lt;b&gt;&amp;&#39;");
    }
}
