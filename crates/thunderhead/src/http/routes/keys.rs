//! The JWK Set (RFC 7517) of the keys that verify, for services that check tokens offline.
//! Offline checking proves only that Thunderhead signed a token; whether its session still
//! lives is what introspection and forward authentication answer.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::http::{guard, AppState};

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/api/.well-known/jwks.json", get(jwks))
        .route_layer(from_fn_with_state(state.clone(), guard::public))
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        // A verifier may keep it a minute; a retired key's tokens die at once here anyway.
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        )],
        Json(json!({ "keys": state.app.jwks() })),
    )
}
