//! Sessions people can recognise (API.md 2.1): where and when each was opened and last used,
//! uses written in batches (one statement per flush, a busy session once), the idle timeout,
//! and the cap on sessions per user, exact under fifty logins at once.

use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use thunderhead::clock::Clock;
use thunderhead::domain::{SessionId, UserId};
use thunderhead::store::SessionUse;

use crate::helpers::{TestApp, TestResult, PASSWORD};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

async fn login_as(app: &TestApp, username: &str, user_agent: &str) -> (String, Value) {
    let resp = app
        .send(
            app.client
                .post(format!("{}/api/user/session", app.base))
                .header("User-Agent", user_agent)
                .json(&json!({"username": username, "password": PASSWORD})),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let token = resp.body["token"].as_str().unwrap_or_default().to_owned();
    let session = app.get("/api/user/session", &token).await.body;
    (token, session)
}

#[tokio::test]
async fn every_session_says_where_and_when_it_was_opened_and_used() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _) = app.user_with_token("alice", false).await;
    let (_, staff) = app.user_with_token("boss", true).await;
    let (token, session) = login_as(&app, "alice", FIREFOX).await;
    // Part 1's fields are as they were.
    assert_eq!(session["name"], "Firefox v120.0 on Linux");
    assert_eq!(session["sub"], alice.to_string());
    assert!(session["iat"].is_i64() && session["exp"].is_i64());
    // Part 2's.
    let now = chrono::DateTime::from_timestamp_millis(app.clock.now_ms())
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default();
    assert!(
        session["createdAt"]
            .as_str()
            .is_some_and(|t| t.starts_with(&now)),
        "{session}"
    );
    assert_eq!(session["ip"], "127.0.0.1");
    assert_eq!(session["userAgent"], FIREFOX);
    // This very request used it.
    assert!(session["usedAt"].is_string(), "{session}");
    assert_eq!(session["lastIp"], "127.0.0.1");
    // The same fields in every list and on the staff endpoints.
    let own = app.get("/api/user/sessions", &token).await.body;
    let mine = own["items"]
        .as_array()
        .and_then(|items| items.iter().find(|s| s["iat"] == session["iat"]))
        .cloned()
        .unwrap_or(Value::Null);
    for field in ["createdAt", "usedAt", "ip", "lastIp", "userAgent"] {
        assert_eq!(mine[field], session[field], "{field}");
    }
    let by_staff = app
        .get(
            &format!("/api/user/{alice}/session/{}", session["iat"]),
            &staff,
        )
        .await
        .body;
    assert_eq!(by_staff["userAgent"], FIREFOX);
    assert_eq!(by_staff["ip"], "127.0.0.1");
    // A session never used since its login has no `usedAt` yet: the login is not a use.
    let resp = app
        .call(
            Method::POST,
            "/api/user/session",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    let unused_iat = app.clock.now_s();
    assert_eq!(resp.status, 201);
    let list = app.get("/api/user/sessions", &token).await.body;
    let fresh = list["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|s| s["iat"].as_i64() >= Some(unused_iat) && s["iat"] != session["iat"])
        })
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(fresh["usedAt"], Value::Null, "{list}");
    assert_eq!(fresh["userAgent"], Value::Null, "no User-Agent was sent");
    // A long User-Agent is kept to 512 characters.
    let long = format!("{FIREFOX} {}", "x".repeat(2000));
    let (_, session) = login_as(&app, "alice", &long).await;
    assert_eq!(
        session["userAgent"].as_str().map(|s| s.chars().count()),
        Some(512)
    );
    Ok(())
}

#[tokio::test]
async fn uses_are_written_in_one_statement_per_flush_and_never_move_back() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, token) = app.user_with_token("alice", false).await;
    let (bob, bob_token) = app.user_with_token("bob", false).await;
    let iat = app.get("/api/user/session", &token).await.body["iat"]
        .as_i64()
        .unwrap_or(0);
    // A busy session: a hundred requests, then one flush writes it once.
    join_all((0..100).map(|_| app.get("/api/user/session", &token))).await;
    app.get("/api/user/session", &bob_token).await;
    assert_eq!(
        app.state.app.flush_usage().await?,
        2,
        "two sessions, each written once"
    );
    assert_eq!(app.state.app.flush_usage().await?, 0, "nothing new");
    let stored = app
        .store
        .session(alice, SessionId(iat), app.now_s())
        .await?
        .found()
        .ok_or("alice's session")?;
    assert_eq!(stored.used_at, Some(app.clock.now_ms()));
    assert_eq!(stored.last_ip.as_deref(), Some("127.0.0.1"));
    // Many sessions' uses: one statement. An older use never replaces a newer one.
    let older = SessionUse {
        user: alice,
        id: SessionId(iat),
        at_ms: app.clock.now_ms() - 60_000,
        ip: "10.9.9.9".into(),
    };
    let bob_iat = app.get("/api/user/session", &bob_token).await.body["iat"]
        .as_i64()
        .unwrap_or(0);
    let newer = SessionUse {
        user: bob,
        id: SessionId(bob_iat),
        at_ms: app.clock.now_ms() + 1,
        ip: "10.8.8.8".into(),
    };
    let gone = SessionUse {
        user: UserId(999_999),
        id: SessionId(1),
        at_ms: app.clock.now_ms(),
        ip: "10.7.7.7".into(),
    };
    assert_eq!(app.store.record_uses(&[older, newer, gone]).await?, 1);
    let alice_row = app
        .store
        .session(alice, SessionId(iat), app.now_s())
        .await?
        .found();
    assert_eq!(
        alice_row.and_then(|s| s.last_ip).as_deref(),
        Some("127.0.0.1"),
        "not moved back"
    );
    let bob_row = app
        .store
        .session(bob, SessionId(bob_iat), app.now_s())
        .await?
        .found();
    assert_eq!(bob_row.and_then(|s| s.last_ip).as_deref(), Some("10.8.8.8"));
    Ok(())
}

#[tokio::test]
async fn an_idle_session_dies_and_one_in_use_never_does() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = thunderhead::ratelimit::RateLimits::OFF;
        c.session_idle_timeout = Some(Duration::from_secs(120));
    })
    .await;
    let (_, busy) = app.user_with_token("alice", false).await;
    let idle = app.login("alice").await;
    // Used every 100 s, written or not: never idle for 120 s.
    for round in 0..6 {
        app.clock.advance_secs(100);
        assert_eq!(
            app.get("/api/user/session", &busy).await.status,
            200,
            "round {round}"
        );
        if round % 2 == 0 {
            app.state.app.flush_usage().await?;
        }
    }
    // The other was never used after its login, 600 s ago.
    app.get("/api/user/session", &idle)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    app.clock.advance_secs(121);
    app.get("/api/user/session", &busy)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    Ok(())
}

#[tokio::test]
async fn fifty_logins_at_once_with_a_cap_of_three_leave_exactly_three() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = thunderhead::ratelimit::RateLimits::OFF;
        c.max_sessions_per_user = Some(3);
    })
    .await;
    let (_, first) = app.user_with_token("alice", false).await;
    let logins = join_all((0..50).map(|_| {
        app.call(
            Method::POST,
            "/api/user/session",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
    }))
    .await;
    assert!(logins.iter().all(|r| r.status == 201));
    let newest = logins
        .iter()
        .filter_map(|r| r.body["token"].as_str())
        .max_by_key(|t| crate::tokens::claims_of(t)["iat"].as_i64())
        .ok_or("a token")?;
    let list = app.get("/api/user/sessions", newest).await.body;
    assert_eq!(list["count"], 3, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));
    app.get("/api/user/session", &first)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");

    // Least recently used goes first: of three, the one in use stays.
    let (_, bob_a) = app.user_with_token("bob", false).await;
    app.clock.advance_secs(10);
    let bob_b = app.login("bob").await;
    app.clock.advance_secs(10);
    let _bob_c = app.login("bob").await;
    app.clock.advance_secs(10);
    assert_eq!(app.get("/api/user/session", &bob_a).await.status, 200);
    app.state.app.flush_usage().await?;
    let _bob_d = app.login("bob").await;
    assert_eq!(
        app.get("/api/user/session", &bob_a).await.status,
        200,
        "used last: kept"
    );
    app.get("/api/user/session", &bob_b)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    Ok(())
}
