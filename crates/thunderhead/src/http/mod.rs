//! HTTP: the router, the guard in front of each route, and `serve`.

mod body;
mod error;
mod extract;
mod guard;
mod log;
mod ratelimit_headers;
mod routes;
mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ipnet::IpNet;
use tokio::net::TcpListener;

use crate::error::ApiError;
use crate::service::App;

pub use views::Directory;

/// HTTP-only settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub body_limit: usize,
    /// A request still running after this answers 500; a stuck database cannot hang clients.
    pub request_timeout: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub directory: Directory,
}

#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub http: Arc<HttpSettings>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::sanity::routes())
        .merge(routes::own_sessions::routes(&state))
        .merge(routes::user_sessions::routes(&state))
        .merge(routes::account::routes(&state))
        .merge(routes::users::routes(&state))
        .merge(routes::web::routes())
        .fallback(invalid_endpoint)
        .method_not_allowed_fallback(invalid_endpoint)
        .layer(from_fn_with_state(state.clone(), time_limit))
        .layer(from_fn(log::log_request))
        .with_state(state)
}

async fn time_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.http.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::internal(anyhow::anyhow!("request timed out after {limit:?}")).into_response()
        }
    }
}

async fn invalid_endpoint() -> ApiError {
    ApiError::InvalidEndpoint
}

/// Serves on an already bound listener until `shutdown` resolves, then lets in-flight
/// requests finish. Tests bind `127.0.0.1:0` and pass the listener in.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}
