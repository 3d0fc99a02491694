//! The one place an error becomes a response: the contract's code, message and status. A 5xx
//! carries no detail; the detail goes to the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::ratelimit_headers::RateLimitHeaders;
use crate::error::ApiError;

impl ApiError {
    fn status_code_message(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            Permissions => (
                StatusCode::FORBIDDEN,
                "INSUFFICIENT_PERMISSIONS_ERROR",
                "Missing Permissions",
            ),
            InvalidUser => (StatusCode::NOT_FOUND, "INVALID_USER_ERROR", "Invalid User"),
            InvalidUserUnauthorized => (
                StatusCode::UNAUTHORIZED,
                "INVALID_USER_ERROR",
                "Invalid User",
            ),
            InvalidPassword | ClientUnauthorized => (
                StatusCode::UNAUTHORIZED,
                "INVALID_PASSWORD_ERROR",
                "Invalid Password",
            ),
            PasswordMismatch => (
                StatusCode::BAD_REQUEST,
                "INVALID_PASSWORD_ERROR",
                "Invalid Password",
            ),
            InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ERROR",
                "Invalid Session",
            ),
            SessionNotFound => (
                StatusCode::NOT_FOUND,
                "INVALID_SESSION_ERROR",
                "Invalid Session",
            ),
            InvalidEndpoint => (
                StatusCode::NOT_FOUND,
                "INVALID_ENDPOINT_ERROR",
                "Invalid Endpoint",
            ),
            UserExists => (
                StatusCode::CONFLICT,
                "USER_EXISTS_ERROR",
                "User Already Exists",
            ),
            MissingFields(_) => (
                StatusCode::BAD_REQUEST,
                "MISSING_FIELDS_ERROR",
                "Missing Fields",
            ),
            Banned => (StatusCode::FORBIDDEN, "BANNED_ERROR", "Account Banned"),
            BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE_ERROR",
                "Request Body Too Large",
            ),
            RateLimited(_) | Overloaded => (
                StatusCode::TOO_MANY_REQUESTS,
                "RATELIMITED_ERROR",
                "You Have Been Ratelimited. Please Try Again Later.",
            ),
            RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "REQUEST_TIMEOUT_ERROR",
                "Request Timeout",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "Internal Server Error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.status_code_message();
        let body = match &self {
            ApiError::MissingFields(fields) => {
                json!({ "code": code, "message": message, "fields": fields })
            }
            _ => json!({ "code": code, "message": message }),
        };
        let mut response = (status, Json(body)).into_response();
        match self {
            ApiError::Internal(err) => {
                tracing::error!(error = %crate::error::Chain(&err), "request failed")
            }
            ApiError::InvalidToken => {
                // RFC 7235: a 401 names the scheme the client should use.
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::ClientUnauthorized => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"thunderhead\""),
                );
            }
            ApiError::RateLimited(decision) => {
                RateLimitHeaders(Some(decision)).apply(response.headers_mut(), true);
            }
            ApiError::Overloaded => {
                // A hash takes tens of milliseconds; the queue drains within a second.
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::RequestTimeout => {
                // The rest of the body may still be on its way; the connection cannot be reused.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                tracing::info!("request body still arriving at the request timeout; answered 408");
            }
            _ => {}
        }
        response
    }
}
