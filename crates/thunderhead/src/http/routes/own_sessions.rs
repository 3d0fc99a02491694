//! A signed-in user's own sessions, and signing in.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use super::{session_name_from, user_agent_from};
use crate::domain::SessionId;
use crate::error::ApiResult;
use crate::http::body::Fields;
use crate::http::cookie::SetCookie;
use crate::http::extract::{ClientIp, PathIds, QueryParams};
use crate::http::ratelimit_headers::RateLimitHeaders;
use crate::http::views::{DeleteBulk, ListView, SessionView, Success, SuccessfulAuth};
use crate::http::{guard, AppState};
use crate::service::{Caller, Credentials, MAX_BULK};

pub fn routes(state: &AppState) -> Router<AppState> {
    let public = Router::new()
        .route("/api/user/session", post(login))
        .route_layer(from_fn_with_state(state.clone(), guard::public));
    let signed_in = Router::new()
        .route("/api/user/session", get(current))
        .route("/api/user/session/{sid}", get(one).delete(revoke_one))
        .route("/api/user/sessions", get(list).delete(revoke_listed))
        .route("/api/user/sessions/all", delete(revoke_all))
        .route_layer(from_fn_with_state(state.clone(), guard::user));
    public.merge(signed_in)
}

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    fields: Fields,
) -> ApiResult<impl IntoResponse> {
    // The login limit comes before the body's fields.
    let mut admission = state.app.admit_login(ip).await?;
    let mut check = fields.check();
    let username = check.non_empty_text("username");
    let password = check.non_empty_text("password");
    let remember = check.optional_flag("rememberMe").unwrap_or(false);
    let credentials = admission
        .or_release(check.finish().map(|()| Credentials {
            username,
            password,
            remember,
            session_name: session_name_from(&headers),
            user_agent: user_agent_from(&headers),
        }))
        .await?;
    let (issued, decision) = state.app.login(admission, credentials, ip).await?;
    Ok((
        StatusCode::CREATED,
        RateLimitHeaders(decision),
        SetCookie::token(
            state.http.cookie.as_ref(),
            &issued.token,
            issued.remaining_s,
        ),
        Json(SuccessfulAuth {
            token: issued.token,
            exp: issued.exp,
        }),
    ))
}

async fn current(caller: Caller) -> Json<SessionView> {
    Json(caller.session.into())
}

async fn one(
    State(state): State<AppState>,
    caller: Caller,
    ids: PathIds,
) -> ApiResult<Json<SessionView>> {
    let session = state.app.session(caller.user(), ids.session(0)?).await?;
    Ok(Json(session.into()))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryParams,
) -> ApiResult<Json<ListView<SessionView>>> {
    let sessions = state.app.list_sessions(caller.user(), query.page()).await?;
    Ok(Json(sessions.into()))
}

async fn revoke_one(
    State(state): State<AppState>,
    caller: Caller,
    ids: PathIds,
) -> ApiResult<(SetCookie, Json<Success>)> {
    let id = ids.session(0)?;
    state.app.revoke_session(caller.user(), id).await?;
    // Ending one's own session signs this browser out of the protected services too.
    let cookie = if id == caller.session.id {
        SetCookie::clear(state.http.cookie.as_ref())
    } else {
        SetCookie::NONE
    };
    Ok((cookie, Json(Success::new("Session Deleted"))))
}

async fn revoke_listed(
    State(state): State<AppState>,
    caller: Caller,
    fields: Fields,
) -> ApiResult<Json<DeleteBulk>> {
    let ids = session_ids(&fields)?;
    let count = state.app.revoke_sessions(caller.user(), &ids).await?;
    Ok(Json(DeleteBulk {
        count,
        kind: "session",
    }))
}

async fn revoke_all(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryParams,
) -> ApiResult<(SetCookie, Json<DeleteBulk>)> {
    let keep = (query.get("allButSelf") == Some("true")).then_some(caller.session.id);
    let count = state.app.revoke_all_sessions(caller.user(), keep).await?;
    let cookie = match keep {
        Some(_) => SetCookie::NONE,
        None => SetCookie::clear(state.http.cookie.as_ref()),
    };
    Ok((
        cookie,
        Json(DeleteBulk {
            count,
            kind: "session",
        }),
    ))
}

/// The `sessions` field of a bulk revocation: at most 100 entries, unknown ones included.
pub(super) fn session_ids(fields: &Fields) -> ApiResult<Vec<SessionId>> {
    let mut check = fields.check();
    let ids = check.id_list("sessions", MAX_BULK);
    check.finish()?;
    Ok(ids.into_iter().flatten().map(SessionId).collect())
}
