//! The contract's order of checks for every endpoint: token (401) -> owner banned (403) ->
//! staff only (403) -> general rate limit (429). Routes declare which access they need.
//! Every `/api` request passes a guard, unknown endpoints included, so every one is limited
//! and carries the rate-limit headers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client_ip::client_ip;
use super::extract::ClientIp;
use super::ratelimit_headers::RateLimitHeaders;
use super::AppState;
use crate::error::ApiError;
use crate::ratelimit::client_key;
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

async fn guard(state: AppState, access: Access, req: Request, next: Next) -> Response {
    let ip = request_ip(&state, &req);
    // `/api/user/{id}` also matches `/api/user/files`: a user ID that is not digits is no
    // endpoint, answered as one before any token is looked at.
    let names_a_user = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str().contains("{id}"));
    let mut req = if names_a_user {
        let (mut parts, body) = req.into_parts();
        if !user_ids_are_digits(&mut parts).await {
            return unknown_endpoint(&state, ip).await;
        }
        Request::from_parts(parts, body)
    } else {
        req
    };
    let caller = match access {
        Access::Public => None,
        Access::User | Access::Staff => {
            match authenticate(&state, token_from_header(req.headers()), ip).await {
                Ok(caller) => Some(caller),
                Err(err) => return err.into_response(),
            }
        }
    };
    if access == Access::Staff && !caller.as_ref().is_some_and(|c| c.staff) {
        return ApiError::Permissions.into_response();
    }
    let key = match &caller {
        Some(caller) => format!("user:{}", caller.user()),
        None => format!("ip:{}", client_key(ip)),
    };
    let decision = match state.app.count_request(&key).await {
        Ok(decision) => decision,
        Err(refused) => return refused.into_response(),
    };
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

/// The answer to a path that names no endpoint: 404, counted against the client's address.
async fn unknown_endpoint(state: &AppState, ip: IpAddr) -> Response {
    let key = format!("ip:{}", client_key(ip));
    match state.app.count_request(&key).await {
        Ok(decision) => {
            let mut response = ApiError::InvalidEndpoint.into_response();
            RateLimitHeaders(decision).apply(response.headers_mut(), false);
            response
        }
        Err(refused) => refused.into_response(),
    }
}

/// Whether the route's `{id}` (always a user ID) is plain decimal digits.
async fn user_ids_are_digits(parts: &mut axum::http::request::Parts) -> bool {
    let Ok(params) = RawPathParams::from_request_parts(parts, &()).await else {
        return true;
    };
    params
        .iter()
        .filter(|(name, _)| *name == "id")
        .all(|(_, value)| !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
}

/// The fallback of the router: every path no route matches, limited like any endpoint.
pub async fn no_endpoint(State(state): State<AppState>, req: Request) -> Response {
    let ip = request_ip(&state, &req);
    unknown_endpoint(&state, ip).await
}

/// The client's address: the peer, or what trusted proxies forwarded.
fn request_ip(state: &AppState, req: &Request) -> IpAddr {
    client_ip_of(state, req.extensions(), req.headers())
}

/// The client's address from a request's connection and headers: the peer, or what trusted
/// proxies forwarded.
fn client_ip_of(
    state: &AppState,
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
) -> IpAddr {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    client_ip(peer, forwarded, &state.http.trusted_proxies)
}

/// The token from `Authorization`: the documented bare form, or `Bearer <token>`.
pub fn token_from_header(headers: &axum::http::HeaderMap) -> Option<&str> {
    let header = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let token = match header.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => header,
    };
    Some(token)
}

async fn authenticate(
    state: &AppState,
    token: Option<&str>,
    ip: IpAddr,
) -> Result<Caller, ApiError> {
    let token = token.ok_or(ApiError::InvalidToken)?;
    state.app.authenticate(token, Some(ip)).await
}

/// The client's address for routes without a guard (which resolve it themselves).
pub struct RequestIp(pub IpAddr);

impl FromRequestParts<AppState> for RequestIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip_of(state, &parts.extensions, &parts.headers)))
    }
}
