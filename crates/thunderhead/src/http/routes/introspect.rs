//! `POST /api/introspect` (RFC 7662) for service clients. Not counted against a general
//! limit: a service asks once per request it serves, and its name and secret are checked on
//! every call; wrong credentials count against the failed-password limit of the address.

use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::ApiResult;
use crate::http::body::Fields;
use crate::http::guard::RequestIp;
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/introspect", post(introspect))
}

async fn introspect(
    State(state): State<AppState>,
    RequestIp(ip): RequestIp,
    headers: HeaderMap,
    fields: Fields,
) -> ApiResult<Json<Answer>> {
    let (client, secret) = basic_credentials(&headers).unwrap_or_default();
    let mut check = fields.check();
    let token = check.non_empty_text("token");
    let token = check.finish().map(|()| token);
    let found = state
        .app
        .introspect(ip, &client, &secret, token.as_deref().ok())
        .await?;
    Ok(Json(match found {
        Some(caller) => Answer::Active {
            active: true,
            sub: caller.user().to_string(),
            username: caller.username,
            staff: caller.staff,
            iat: caller.session.id.0,
            exp: caller.session.exp,
            token_type: "Bearer",
        },
        None => Answer::Inactive { active: false },
    }))
}

/// RFC 7662 2.2: `active`, and for a live token who it is and when it was issued and ends.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Answer {
    Active {
        active: bool,
        sub: String,
        username: String,
        staff: bool,
        iat: i64,
        exp: i64,
        token_type: &'static str,
    },
    Inactive {
        active: bool,
    },
}

/// RFC 7617: `Basic base64(name:secret)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (name, secret) = decoded.split_once(':')?;
    Some((name.to_owned(), secret.to_owned()))
}
