//! `ANY /api`: is the server there, and which version. Limited per IP like every endpoint;
//! probes use `/healthz` instead.

use axum::middleware::from_fn_with_state;
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::http::{guard, AppState};

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api", any(hello))
        .route("/api/", any(hello))
        .route_layer(from_fn_with_state(state.clone(), guard::public))
}

async fn hello() -> Json<Value> {
    Json(json!({ "hello": "world", "version": env!("CARGO_PKG_VERSION") }))
}
