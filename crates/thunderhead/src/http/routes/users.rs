//! Any account, for staff.

use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, patch};
use axum::{Json, Router};

use crate::domain::{BanChange, UserId};
use crate::error::{ApiError, ApiResult};
use crate::http::body::Fields;
use crate::http::extract::{PathIds, QueryParams};
use crate::http::views::{DeleteBulk, ListView, UserView};
use crate::http::{guard, AppState};
use crate::service::{AccountEdit, Caller, MAX_BULK};

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list).delete(remove_listed))
        .route("/api/user/{id}", get(show).patch(edit).delete(remove))
        .route("/api/user/{id}/ban", patch(toggle_ban))
        .route_layer(from_fn_with_state(state.clone(), guard::staff))
}

async fn list(
    State(state): State<AppState>,
    query: QueryParams,
) -> ApiResult<Json<ListView<UserView>>> {
    let users = match query.get("search") {
        Some(text) => state.app.search_accounts(text, query.page()).await?,
        None => state.app.list_accounts(query.page()).await?,
    };
    Ok(Json(state.http.directory.users(users)))
}

async fn show(State(state): State<AppState>, ids: PathIds) -> ApiResult<Json<UserView>> {
    let user = state.app.account(ids.user(0)?).await?;
    Ok(Json(state.http.directory.user(user)))
}

async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    ids: PathIds,
    fields: Fields,
) -> ApiResult<Json<UserView>> {
    let target = ids.user(0)?;
    let mut check = fields.check();
    let edit = AccountEdit {
        username: check.optional_text("username"),
        email: check.optional_text("email"),
        password: check.optional_text("password"),
        staff: check.optional_flag("staff"),
    };
    check.finish()?;
    if edit.username.is_none()
        && edit.email.is_none()
        && edit.password.is_none()
        && edit.staff.is_none()
    {
        return Err(ApiError::MissingFields(vec![
            "username", "email", "password", "staff",
        ]));
    }
    let user = state.app.edit_any_account(&caller, target, edit).await?;
    Ok(Json(state.http.directory.user(user)))
}

async fn toggle_ban(State(state): State<AppState>, ids: PathIds) -> ApiResult<Json<UserView>> {
    let user = state
        .app
        .change_ban(ids.user(0)?, BanChange::Toggle)
        .await?;
    Ok(Json(state.http.directory.user(user)))
}

async fn remove(State(state): State<AppState>, ids: PathIds) -> ApiResult<Json<UserView>> {
    let user = state.app.delete_account(ids.user(0)?).await?;
    Ok(Json(state.http.directory.user(user)))
}

async fn remove_listed(
    State(state): State<AppState>,
    fields: Fields,
) -> ApiResult<Json<DeleteBulk>> {
    let mut check = fields.check();
    let ids = check.id_list("users", MAX_BULK);
    check.finish()?;
    let ids: Vec<UserId> = ids.into_iter().flatten().map(UserId).collect();
    let count = state.app.delete_accounts(&ids).await?;
    Ok(Json(DeleteBulk {
        count,
        kind: "user",
    }))
}
