//! The last client-visible differences from the contract: every `/api` path is limited and
//! says so in its headers (probes use `/healthz` and `/readyz`), unknown paths are 404 with
//! or without a token, booleans are booleans, blank passwords are missing fields.

use reqwest::Method;
use serde_json::json;
use thunderhead::ratelimit::RateLimits;

use crate::helpers::{assert_lifetime, limit, TestApp, TestResult, PASSWORD};

fn general(requests: u32) -> RateLimits {
    RateLimits {
        general: limit(requests, 60),
        ..RateLimits::OFF
    }
}

#[tokio::test]
async fn the_sanity_endpoint_and_unknown_paths_are_limited_probes_are_not() -> TestResult {
    let app = TestApp::spawn_limited(general(3)).await;
    for (path, status, remaining) in [
        ("/api", 200, "2"),
        ("/api/no/such/thing", 404, "1"),
        ("/api/user/files", 404, "0"),
    ] {
        let resp = app.call(Method::GET, path, None, None).await;
        assert_eq!(resp.status, status, "{path}: {}", resp.body);
        assert_eq!(resp.header("x-ratelimit-limit"), Some("3"), "{path}");
        assert_eq!(
            resp.header("x-ratelimit-remaining"),
            Some(remaining),
            "{path}"
        );
        assert!(resp.header("ratelimit-reset").is_some(), "{path}");
    }
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let limited = app.call(method, "/api", None, None).await;
        limited.assert_error(429, "RATELIMITED_ERROR");
        assert!(limited.header("retry-after").is_some());
    }
    app.call(Method::GET, "/api/domains", None, None)
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    // Probes: outside /api, never limited, no rate-limit headers.
    for _ in 0..5 {
        for path in ["/healthz", "/readyz"] {
            let resp = app.call(Method::GET, path, None, None).await;
            assert_eq!(resp.status, 200, "{path}");
            assert_eq!(resp.body, json!({"status": "ok"}));
            assert!(resp.header("x-ratelimit-limit").is_none());
        }
    }
    Ok(())
}

#[tokio::test]
async fn unknown_paths_are_404_with_or_without_a_token() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with_token("alice", false).await;
    let (staff_id, staff) = app.user_with_token("boss", true).await;
    for path in [
        "/api/user/files",
        "/api/domains",
        "/api/upload",
        "/api/user/files/sessions",
        "/api/user/x1/session/5",
        "/api/user/1x/ban",
    ] {
        for auth in [None, Some(token.as_str()), Some(staff.as_str())] {
            for method in [Method::GET, Method::POST, Method::PATCH, Method::DELETE] {
                app.call(method.clone(), path, auth, None)
                    .await
                    .assert_error(404, "INVALID_ENDPOINT_ERROR");
            }
        }
    }
    // Real staff paths still answer as before.
    assert_eq!(
        app.get(&format!("/api/user/{staff_id}"), &staff)
            .await
            .status,
        200
    );
    app.call(Method::GET, &format!("/api/user/{staff_id}"), None, None)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    Ok(())
}

#[tokio::test]
async fn booleans_are_booleans() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _) = app.user_with_token("alice", false).await;
    let (_, staff) = app.user_with_token("boss", true).await;
    for value in [
        json!("yes"),
        json!("true"),
        json!(1),
        json!("on"),
        json!([true]),
    ] {
        let resp = app
            .patch(
                &format!("/api/user/{alice}"),
                &staff,
                json!({"staff": value}),
            )
            .await;
        resp.assert_error(400, "MISSING_FIELDS_ERROR");
        assert_eq!(resp.body["fields"], json!(["staff"]), "{value}");
    }
    let still = app.get(&format!("/api/user/{alice}"), &staff).await;
    assert_eq!(still.body["staff"], false, "nothing made alice staff");
    for value in [json!("no"), json!("false"), json!(0)] {
        let resp = app
            .call(
                Method::POST,
                "/api/user/session",
                None,
                Some(json!({"username": "alice", "password": PASSWORD, "rememberMe": value})),
            )
            .await;
        resp.assert_error(400, "MISSING_FIELDS_ERROR");
        assert_eq!(resp.body["fields"], json!(["rememberMe"]));
    }
    // Forms carry text: `true`, `false` and a checked checkbox's `on`; nothing else.
    for (value, status) in [
        ("true", 201),
        ("on", 201),
        ("false", 201),
        ("yes", 400),
        ("1", 400),
        ("", 400),
    ] {
        let resp = app
            .send(
                app.client
                    .post(format!("{}/api/user/session", app.base))
                    .form(&[
                        ("username", "alice"),
                        ("password", PASSWORD),
                        ("rememberMe", value),
                    ]),
            )
            .await;
        assert_eq!(resp.status, status, "rememberMe={value:?}: {}", resp.body);
    }
    Ok(())
}

#[tokio::test]
async fn a_blank_password_or_username_at_login_is_a_missing_field() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    for (body, fields) in [
        (
            json!({"username": "alice", "password": ""}),
            json!(["password"]),
        ),
        (
            json!({"username": "alice", "password": "   "}),
            json!(["password"]),
        ),
        (
            json!({"username": "", "password": PASSWORD}),
            json!(["username"]),
        ),
        (
            json!({"username": "", "password": ""}),
            json!(["username", "password"]),
        ),
    ] {
        let resp = app
            .call(Method::POST, "/api/user/session", None, Some(body.clone()))
            .await;
        resp.assert_error(400, "MISSING_FIELDS_ERROR");
        assert_eq!(resp.body["fields"], fields, "{body}");
    }
    Ok(())
}

#[tokio::test]
async fn a_day_is_exactly_a_day_from_the_sessions_own_id() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    // Several logins in one second: the later ones get later IDs, and their lifetimes
    // count from those IDs.
    for _ in 0..3 {
        let token = app.login("alice").await;
        assert_lifetime(&app, &token, None, 86_400).await;
    }
    Ok(())
}
