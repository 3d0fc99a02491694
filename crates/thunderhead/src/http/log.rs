//! One span per request, carrying its method, route template and request ID, so every line
//! logged while it runs (an error's detail, say) says which request it belongs to; and one
//! line per request when it is answered. Never headers, bodies or query strings, so tokens
//! and passwords cannot reach the log.
//!
//! The request ID is the client's or proxy's `X-Request-Id` when it sends one, else made
//! here; it is echoed in the response either way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use axum::Router;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every route (and the fallback) in the request span and the request line.
pub fn layer(router: Router) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!(target: "thunderhead::http", "request", method = %req.method(), route, path = req.uri().path(), id)
        })
        .on_request(|_: &Request, _: &Span| {
            tracing::debug!(target: "thunderhead::http", "started");
        })
        .on_response(|res: &Response, latency: Duration, _: &Span| {
            let latency_ms = latency.as_secs_f64() * 1000.0;
            tracing::info!(target: "thunderhead::http", status = res.status().as_u16(), latency_ms = format!("{latency_ms:.2}"), "answered");
        })
        // Failures are already logged with their detail where they happen.
        .on_failure(());
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, NextRequestId::new()))
}

/// Request IDs unique across restarts without a random draw per request: a random prefix per
/// process and a counter.
#[derive(Clone)]
struct NextRequestId {
    prefix: u32,
    counter: std::sync::Arc<AtomicU64>,
}

impl NextRequestId {
    fn new() -> Self {
        Self {
            prefix: rand_core::RngCore::next_u32(&mut rand_core::OsRng),
            counter: std::sync::Arc::default(),
        }
    }
}

impl MakeRequestId for NextRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:08x}{n:012x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}
