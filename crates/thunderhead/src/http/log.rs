//! One line per request: method, path, status, latency. Never headers or bodies, so tokens
//! and passwords cannot reach the log; the query string is left out for the same reason.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

pub async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(target: "thunderhead::http", %method, %path, status, latency_ms = format!("{latency_ms:.2}"), "request");
    response
}
