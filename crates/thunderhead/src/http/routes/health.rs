//! `/healthz` and `/readyz` for load balancers and orchestrators: outside `/api` and never
//! rate limited, so probes neither spend nor are refused a client's budget.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::http::AppState;

/// Readiness fails when the database has not answered within this long.
const READY_WITHIN: Duration = Duration::from_secs(1);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthy))
        .route("/readyz", get(ready))
}

/// The process serves.
async fn healthy() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers too.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.app.database_answers(READY_WITHIN).await {
        (StatusCode::OK, Json(json!({ "status": "ok" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable" })),
        )
    }
}
