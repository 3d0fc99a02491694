//! The README's decisions where the contract is silent, each held to its word.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use thunderhead::domain::password::HashCost;
use thunderhead::ratelimit::RateLimits;

use crate::helpers::{limit, TestApp, TestResult, PASSWORD};

#[tokio::test]
async fn staff_changing_their_own_password_keep_their_session() -> TestResult {
    let app = TestApp::spawn().await;
    let (boss, current) = app.user_with_token("boss", true).await;
    let other = app.login("boss").await;
    let resp = app
        .patch(
            &format!("/api/user/{boss}"),
            &current,
            json!({"password": "a new one"}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(app.get("/api/user/session", &current).await.status, 200);
    app.get("/api/user/session", &other)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    Ok(())
}

#[tokio::test]
async fn wrong_passwords_on_account_edits_and_deletion_count_toward_the_limits() -> TestResult {
    let app = TestApp::spawn_limited(RateLimits {
        failed_password: limit(3, 900),
        ..RateLimits::OFF
    })
    .await;
    let (_, token) = app.user_with_token("alice", false).await;
    app.patch(
        "/api/user",
        &token,
        json!({"password": "wrong", "email": "x@example.com"}),
    )
    .await
    .assert_error(401, "INVALID_PASSWORD_ERROR");
    app.delete(
        "/api/user",
        &token,
        Some(json!({"username": "alice", "password": "wrong"})),
    )
    .await
    .assert_error(401, "INVALID_PASSWORD_ERROR");
    app.patch(
        "/api/user",
        &token,
        json!({"password": "wrong", "email": "y@example.com"}),
    )
    .await
    .assert_error(401, "INVALID_PASSWORD_ERROR");
    // The budget is spent: the right password is refused too, here and at login.
    app.patch(
        "/api/user",
        &token,
        json!({"password": PASSWORD, "email": "z@example.com"}),
    )
    .await
    .assert_error(429, "RATELIMITED_ERROR");
    app.call(
        Method::POST,
        "/api/user/session",
        None,
        Some(json!({"username": "alice", "password": PASSWORD})),
    )
    .await
    .assert_error(429, "RATELIMITED_ERROR");
    Ok(())
}

#[tokio::test]
async fn control_characters_are_stripped_from_session_names() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    for (given, kept) in [
        ("my\tlaptop", "mylaptop"),
        ("tele\u{85}phone\u{9f}", "telephone"),
        ("Łukasz's laptop", "Łukasz's laptop"),
    ] {
        let name = reqwest::header::HeaderValue::from_bytes(given.as_bytes())?;
        let resp = app
            .send(
                app.client
                    .post(format!("{}/api/user/session", app.base))
                    .header("X-Token-Name", name)
                    .json(&json!({"username": "alice", "password": PASSWORD})),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        let token = resp.body["token"].as_str().unwrap_or_default();
        assert_eq!(app.get("/api/user/session", token).await.body["name"], kept);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_timeout_is_a_500_on_sqlite_too() -> TestResult {
    // A hash far slower than the 1 s request timeout: the login is still hashing when the
    // timeout answers. (The outage tests show the same for a stuck PostgreSQL.)
    let slow = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits::OFF;
        c.request_timeout = Duration::from_secs(1);
        c.hash_cost = HashCost {
            memory_kib: 256 * 1024,
            iterations: 8,
            parallelism: 1,
        };
    })
    .await;
    slow.create_user("alice", false).await;
    let started = std::time::Instant::now();
    let resp = slow
        .send_allowing_500(
            slow.client
                .post(format!("{}/api/user/session", slow.base))
                .json(&json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    resp.assert_error(500, "INTERNAL_SERVER_ERROR");
    assert_eq!(resp.body["message"], "Internal Server Error");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        started.elapsed()
    );
    Ok(())
}
