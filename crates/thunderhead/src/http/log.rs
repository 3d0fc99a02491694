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
            // The template, not the path: bounded, and free of IDs. A path no route matched
            // is the one thing worth seeing whole.
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or_else(|| req.uri().path(), MatchedPath::as_str);
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!(target: "thunderhead::http", "request", method = %req.method(), route, id)
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
        // 20 hex digits: 8 of the prefix, 12 of the counter. Written by hand, as this runs on
        // every request.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = [0u8; 20];
        let digits = (u128::from(self.prefix) << 48) | u128::from(n & 0xffff_ffff_ffff);
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = HEX[((digits >> (4 * (19 - i))) & 0xf) as usize];
        }
        HeaderValue::from_bytes(&id).ok().map(RequestId::new)
    }
}
