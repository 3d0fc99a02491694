//! Any user's sessions, for staff: the seed's five endpoints.

use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get};
use axum::{Json, Router};

use super::own_sessions::session_ids;
use crate::error::ApiResult;
use crate::http::body::Fields;
use crate::http::extract::{PathIds, QueryParams};
use crate::http::views::{DeleteBulk, ListView, SessionView};
use crate::http::{guard, AppState};

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/user/{id}/sessions", get(list).delete(revoke_listed))
        .route("/api/user/{id}/session/{sid}", get(one).delete(revoke_one))
        .route("/api/user/{id}/sessions/all", delete(revoke_all))
        .route_layer(from_fn_with_state(state.clone(), guard::staff))
}

async fn list(
    State(state): State<AppState>,
    ids: PathIds,
    query: QueryParams,
) -> ApiResult<Json<ListView<SessionView>>> {
    let sessions = state.app.list_sessions(ids.user(0)?, query.page()).await?;
    Ok(Json(sessions.into()))
}

async fn one(State(state): State<AppState>, ids: PathIds) -> ApiResult<Json<SessionView>> {
    let session = state.app.session(ids.user(0)?, ids.session(1)?).await?;
    Ok(Json(session.into()))
}

async fn revoke_one(State(state): State<AppState>, ids: PathIds) -> ApiResult<Json<SessionView>> {
    let session = state
        .app
        .revoke_session(ids.user(0)?, ids.session(1)?)
        .await?;
    Ok(Json(session.into()))
}

async fn revoke_listed(
    State(state): State<AppState>,
    ids: PathIds,
    fields: Fields,
) -> ApiResult<Json<DeleteBulk>> {
    let user = ids.user(0)?;
    // Body fields come before the user's existence in the contract's order of checks.
    let sessions = session_ids(&fields)?;
    let count = state.app.revoke_sessions(user, &sessions).await?;
    Ok(Json(DeleteBulk {
        count,
        kind: "session",
    }))
}

async fn revoke_all(State(state): State<AppState>, ids: PathIds) -> ApiResult<Json<DeleteBulk>> {
    let count = state.app.revoke_all_sessions(ids.user(0)?, None).await?;
    Ok(Json(DeleteBulk {
        count,
        kind: "session",
    }))
}
