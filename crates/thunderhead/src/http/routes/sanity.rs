//! `ANY /api`: is the server there, and which version.

use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api", any(hello))
        .route("/api/", any(hello))
}

async fn hello() -> Json<Value> {
    Json(json!({ "hello": "world", "version": env!("CARGO_PKG_VERSION") }))
}
