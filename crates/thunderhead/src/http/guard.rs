//! The contract's order of checks for every endpoint: token (401) -> owner banned (403) ->
//! staff only (403) -> general rate limit (429). Routes declare which access they need.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use super::extract::ClientIp;
use super::ratelimit_headers::RateLimitHeaders;
use super::AppState;
use crate::error::ApiError;
use crate::ratelimit::Class;
use crate::service::Caller;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed; limited per client IP.
    Public,
    /// A valid token; limited per user.
    User,
    /// A valid token of a staff member.
    Staff,
}

macro_rules! guard_fn {
    ($name:ident, $access:expr) => {
        /// Middleware for routes needing this access.
        pub async fn $name(State(state): State<AppState>, req: Request, next: Next) -> Response {
            guard(state, $access, req, next).await
        }
    };
}

guard_fn!(public, Access::Public);
guard_fn!(user, Access::User);
guard_fn!(staff, Access::Staff);

async fn guard(state: AppState, access: Access, mut req: Request, next: Next) -> Response {
    let ip = client_ip(&req, &state.http.trusted_proxies);
    let caller = match access {
        Access::Public => None,
        Access::User | Access::Staff => match authenticate(&state, bearer_token(&req)).await {
            Ok(caller) => Some(caller),
            Err(err) => return err.into_response(),
        },
    };
    if access == Access::Staff && !caller.as_ref().is_some_and(|c| c.staff) {
        return ApiError::Permissions.into_response();
    }
    let key = match &caller {
        Some(caller) => format!("user:{}", caller.user()),
        None => format!("ip:{ip}"),
    };
    let decision = match state.app.limiter.hit(Class::General, &key).await {
        Ok(decision) => decision,
        Err(err) => return ApiError::Internal(err).into_response(),
    };
    if let Some(rejected) = decision.filter(|d| !d.allowed) {
        return ApiError::RateLimited(rejected).into_response();
    }
    req.extensions_mut().insert(ClientIp(ip));
    if let Some(caller) = caller {
        req.extensions_mut().insert(caller);
    }
    let mut response = next.run(req).await;
    // A route-specific limit (login, sign-up) already reported itself; it is the stricter one.
    if !RateLimitHeaders::present(response.headers()) {
        RateLimitHeaders(decision).apply(response.headers_mut(), false);
    }
    response
}

/// The token from `Authorization`: the documented bare form, or `Bearer <token>`.
fn bearer_token(req: &Request) -> Option<String> {
    let header = req.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
    let token = match header.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => header,
    };
    Some(token.to_owned())
}

async fn authenticate(state: &AppState, token: Option<String>) -> Result<Caller, ApiError> {
    let token = token.ok_or(ApiError::InvalidToken)?;
    state.app.authenticate(&token).await
}

/// The socket's peer, unless that peer is a trusted proxy: then the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy.
fn client_ip(req: &Request, trusted: &[IpNet]) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or_else(|| forwarded.first())
        .copied()
        .unwrap_or(peer)
}
