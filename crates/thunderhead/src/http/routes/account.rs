//! The caller's own account, and signing up.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{session_name_from, user_agent_from};
use crate::error::{ApiError, ApiResult};
use crate::http::body::Fields;
use crate::http::cookie::SetCookie;
use crate::http::extract::ClientIp;
use crate::http::ratelimit_headers::RateLimitHeaders;
use crate::http::views::{SuccessfulAuth, UserView};
use crate::http::{guard, AppState};
use crate::service::{AccountEdit, Caller, Registration};

pub fn routes(state: &AppState) -> Router<AppState> {
    let public = Router::new()
        .route("/api/user", post(register))
        .route_layer(from_fn_with_state(state.clone(), guard::public));
    let signed_in = Router::new()
        .route("/api/user", get(show).patch(edit).delete(remove))
        .route_layer(from_fn_with_state(state.clone(), guard::user));
    public.merge(signed_in)
}

async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    fields: Fields,
) -> ApiResult<impl IntoResponse> {
    // The sign-up limit comes before the body's fields.
    let mut admission = state.app.admit_registration(ip).await?;
    let mut check = fields.check();
    let username = check.text("username");
    let email = check.text("email");
    let password = check.text("password");
    let repeat_password = check.text("repeatPassword");
    let remember = check.optional_flag("rememberMe").unwrap_or(false);
    let form = admission
        .or_release(check.finish().map(|()| Registration {
            username,
            email,
            password,
            repeat_password,
            remember,
            session_name: session_name_from(&headers),
            user_agent: user_agent_from(&headers),
        }))
        .await?;
    let (issued, decision) = state.app.register(admission, form, ip).await?;
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

async fn show(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<UserView>> {
    let user = state.app.account(caller.user()).await?;
    Ok(Json(state.http.directory.user(user)))
}

async fn edit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    fields: Fields,
) -> ApiResult<Json<UserView>> {
    let mut check = fields.check();
    let current = check.text("password");
    let edit = AccountEdit {
        username: check.optional_text("username"),
        email: check.optional_text("email"),
        password: check.optional_text("newPassword"),
        staff: None,
    };
    check.finish()?;
    if edit.username.is_none() && edit.email.is_none() && edit.password.is_none() {
        return Err(ApiError::MissingFields(vec![
            "username",
            "email",
            "newPassword",
        ]));
    }
    let user = state
        .app
        .edit_own_account(&caller, &current, edit, ip)
        .await?;
    Ok(Json(state.http.directory.user(user)))
}

async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Caller,
    fields: Fields,
) -> ApiResult<(SetCookie, Json<UserView>)> {
    let mut check = fields.check();
    let username = check.text("username");
    let password = check.text("password");
    check.finish()?;
    let user = state
        .app
        .delete_own_account(&caller, &username, &password, ip)
        .await?;
    // The account, and with it this browser's session, is gone.
    Ok((
        SetCookie::clear(state.http.cookie.as_ref()),
        Json(state.http.directory.user(user)),
    ))
}
