//! HTTP: the router, the guard in front of each route, and `serve`.

mod body;
mod client_ip;
mod cookie;
mod error;
mod extract;
mod guard;
mod listener;
mod log;
mod ratelimit_headers;
mod routes;
mod views;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ipnet::IpNet;
use tokio::net::TcpListener;

use crate::error::ApiError;
use crate::service::App;

use body::BodyProgress;
pub use cookie::CookieSettings;
pub use listener::ConnectionLimits;
pub use views::Directory;

/// HTTP-only settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub body_limit: usize,
    /// A request still running after this answers 500 (408 while its body is still
    /// arriving); a stuck database cannot hang clients.
    pub request_timeout: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub directory: Directory,
    pub connections: ConnectionLimits,
    /// The `thunderhead_token` cookie, when `--auth-cookie on`.
    pub cookie: Option<CookieSettings>,
    /// Hosts the web page may send a signed-in person back to (`?return=URL`).
    pub return_hosts: Vec<String>,
}

#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub http: Arc<HttpSettings>,
}

pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(routes::sanity::routes(&state))
        .merge(routes::health::routes())
        .merge(routes::own_sessions::routes(&state))
        .merge(routes::user_sessions::routes(&state))
        .merge(routes::account::routes(&state))
        .merge(routes::users::routes(&state))
        .merge(routes::keys::routes(&state))
        .merge(routes::introspect::routes())
        .merge(routes::forward::routes())
        .merge(routes::web::routes())
        .fallback(guard::no_endpoint)
        .method_not_allowed_fallback(guard::no_endpoint)
        .layer(from_fn_with_state(state.clone(), time_limit))
        .with_state(state);
    log::layer(routes)
}

/// Answers a request still running after the request timeout: 408 if its body is still
/// arriving (a slow client), else 500 (something here is stuck).
async fn time_limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let limit = state.http.request_timeout;
    // Only requests that may carry a body read one.
    let progress = (req.method() != axum::http::Method::GET).then(|| {
        let progress = BodyProgress::default();
        req.extensions_mut().insert(progress.clone());
        progress
    });
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) if progress.is_some_and(|p| p.reading()) => ApiError::RequestTimeout.into_response(),
        Err(_) => {
            ApiError::internal(anyhow::anyhow!("request timed out after {limit:?}")).into_response()
        }
    }
}

/// Serves on an already bound listener until `shutdown` resolves, then lets in-flight
/// requests finish. Tests bind `127.0.0.1:0` and pass the listener in.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.http.connections.clone();
    listener::serve_connections(listener, router(state), limits, shutdown).await
}
