//! `/api/auth/forward` for reverse proxies (nginx `auth_request`, Traefik `ForwardAuth`, Caddy
//! `forward_auth`): 200 with the identity headers for a live session, 401 otherwise, 403 for a
//! banned owner or, with `?staff=true`, a non-staff one. The proxy calls it once for every
//! request it lets through, on behalf of whoever made that request, so it counts against no
//! general limit: each answer is one cached signature check and one primary-key lookup.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use crate::error::{ApiError, ApiResult};
use crate::http::extract::QueryParams;
use crate::http::guard::RequestIp;
use crate::http::{cookie, guard, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/auth/forward", any(forward))
}

const USER_ID: HeaderName = HeaderName::from_static("x-auth-user-id");
const USERNAME: HeaderName = HeaderName::from_static("x-auth-username");
const STAFF: HeaderName = HeaderName::from_static("x-auth-staff");
const SESSION: HeaderName = HeaderName::from_static("x-auth-session");

async fn forward(
    State(state): State<AppState>,
    RequestIp(ip): RequestIp,
    query: QueryParams,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // The header first (scripts, other services), then the cookie (browsers).
    let token = guard::token_from_header(&headers)
        .or_else(|| cookie::token_from(&headers))
        .ok_or(ApiError::InvalidToken)?;
    // The proxy asks on behalf of the person's request: it is a use of their session.
    let caller = state.app.authenticate(token, Some(ip)).await?;
    if query.get("staff") == Some("true") && !caller.staff {
        return Err(ApiError::Permissions);
    }
    let username = HeaderValue::from_str(&caller.username)
        .map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;
    Ok((
        StatusCode::OK,
        [
            (USER_ID, HeaderValue::from(caller.user().0)),
            (USERNAME, username),
            (
                STAFF,
                HeaderValue::from_static(if caller.staff { "true" } else { "false" }),
            ),
            (SESSION, HeaderValue::from(caller.session.id.0)),
        ],
    )
        .into_response())
}
