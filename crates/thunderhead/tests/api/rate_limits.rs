use reqwest::Method;
use serde_json::json;
use thunderhead::ratelimit::RateLimits;

use crate::helpers::{limit, TestApp, TestResult, PASSWORD};

#[tokio::test]
async fn general_limit_reports_headers_and_answers_429() -> TestResult {
    let app = TestApp::spawn_limited(RateLimits {
        general: limit(3, 60),
        ..RateLimits::OFF
    })
    .await;
    let (_, token) = app.user_with_token("alice", false).await;
    let (_, other) = app.user_with_token("bob", false).await;
    for remaining in [2, 1, 0] {
        let resp = app.get("/api/user/session", &token).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(
            resp.header("x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
        assert_eq!(resp.header("ratelimit-limit"), Some("3"));
        assert_eq!(
            resp.header("ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
        let reset_at: i64 = resp.header("x-ratelimit-reset").unwrap_or("0").parse()?;
        assert!(
            (reset_at - (app.now_s() + 60)).abs() <= 1,
            "reset is a UNIX time"
        );
        let reset_in: i64 = resp.header("ratelimit-reset").unwrap_or("0").parse()?;
        assert!(
            (59..=60).contains(&reset_in),
            "RateLimit-Reset is seconds: {reset_in}"
        );
        assert!(resp.header("retry-after").is_none());
    }
    let limited = app.get("/api/user/session", &token).await;
    limited.assert_error(429, "RATELIMITED_ERROR");
    assert_eq!(
        limited.body["message"],
        "You Have Been Ratelimited. Please Try Again Later."
    );
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert!(limited
        .header("retry-after")
        .is_some_and(|s| s.parse::<i64>().is_ok_and(|s| (1..=60).contains(&s))));
    // Per user: another user has their own budget.
    assert_eq!(app.get("/api/user/session", &other).await.status, 200);
    app.clock.advance_secs(61);
    assert_eq!(
        app.get("/api/user/session", &token).await.status,
        200,
        "a new window"
    );
    Ok(())
}

#[tokio::test]
async fn limits_come_after_auth_ban_and_staff_checks() -> TestResult {
    let app = TestApp::spawn_limited(RateLimits {
        general: limit(1, 60),
        ..RateLimits::OFF
    })
    .await;
    let (_, token) = app.user_with_token("alice", false).await;
    assert_eq!(app.get("/api/user/session", &token).await.status, 200);
    app.get("/api/user/session", &token)
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    app.get("/api/user/session", "bad-token")
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    app.get("/api/users", &token)
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS_ERROR");
    // Public requests are limited per IP: the login above spent this address's one request.
    app.call(Method::POST, "/api/user/session", None, Some(json!({})))
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    app.clock.advance_secs(60);
    assert_eq!(
        app.call(Method::POST, "/api/user/session", None, Some(json!({})))
            .await
            .status,
        400
    );
    Ok(())
}

#[tokio::test]
async fn one_successful_login_per_window() -> TestResult {
    let app = TestApp::spawn_limited(RateLimits {
        login: limit(1, 60),
        ..RateLimits::OFF
    })
    .await;
    app.create_user("alice", false).await;
    let body = json!({"username": "alice", "password": PASSWORD});
    let first = app
        .call(Method::POST, "/api/user/session", None, Some(body.clone()))
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("x-ratelimit-limit"), Some("1"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("0"));
    let second = app
        .call(Method::POST, "/api/user/session", None, Some(body.clone()))
        .await;
    second.assert_error(429, "RATELIMITED_ERROR");
    assert!(second.header("retry-after").is_some());
    app.clock.advance_secs(60);
    assert_eq!(
        app.call(Method::POST, "/api/user/session", None, Some(body))
            .await
            .status,
        201
    );
    Ok(())
}

#[tokio::test]
async fn one_signup_per_window() -> TestResult {
    let app = TestApp::spawn_limited(RateLimits {
        register: limit(1, 1800),
        ..RateLimits::OFF
    })
    .await;
    let signup = |name: &str| json!({"username": name, "email": format!("{name}@example.com"), "password": "p", "repeatPassword": "p"});
    assert_eq!(
        app.call(Method::POST, "/api/user", None, Some(signup("one")))
            .await
            .status,
        201
    );
    app.call(Method::POST, "/api/user", None, Some(signup("two")))
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    // The limit is checked before the body.
    app.call(Method::POST, "/api/user", None, Some(json!({})))
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    Ok(())
}

#[tokio::test]
async fn wrong_passwords_are_limited_per_ip_and_per_account() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits {
            failed_password: limit(3, 900),
            ..RateLimits::OFF
        };
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap_or_else(|_| unreachable!())];
    })
    .await;
    app.create_user("alice", false).await;
    app.create_user("bob", false).await;
    let attempt = |ip: &'static str, user: &'static str, password: &'static str| {
        app.send(
            app.client
                .post(format!("{}/api/user/session", app.base))
                .header("X-Forwarded-For", ip)
                .json(&json!({"username": user, "password": password})),
        )
    };
    for _ in 0..3 {
        attempt("203.0.113.1", "alice", "wrong")
            .await
            .assert_error(401, "INVALID_PASSWORD_ERROR");
    }
    // The right password no longer helps from this address...
    attempt("203.0.113.1", "bob", PASSWORD)
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    // ...nor for this account from anywhere else.
    attempt("203.0.113.2", "alice", PASSWORD)
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    // Other accounts from other addresses are unaffected.
    assert_eq!(attempt("203.0.113.2", "bob", PASSWORD).await.status, 201);
    // Guessing usernames counts too.
    for name in ["x1", "x2", "x3"] {
        attempt("203.0.113.3", name, "p")
            .await
            .assert_error(404, "INVALID_USER_ERROR");
    }
    attempt("203.0.113.3", "bob", PASSWORD)
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    app.clock.advance_secs(901);
    assert_eq!(attempt("203.0.113.1", "alice", PASSWORD).await.status, 201);
    Ok(())
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() -> TestResult {
    let app = TestApp::spawn_limited(RateLimits {
        general: limit(1, 60),
        ..RateLimits::OFF
    })
    .await;
    let public = |ip: &'static str| {
        app.send(
            app.client
                .post(format!("{}/api/user/session", app.base))
                .header("X-Forwarded-For", ip)
                .json(&json!({})),
        )
    };
    assert_eq!(public("198.51.100.1").await.status, 400);
    public("198.51.100.2")
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    Ok(())
}

/// Listening on `[::]`, IPv4 peers arrive as `::ffff:a.b.c.d`; a trusted IPv4 proxy must
/// still be recognised, or every client behind it shares its budget.
#[tokio::test]
async fn a_mapped_ipv4_proxy_is_trusted_and_ipv6_clients_share_their_64() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.listen = "[::]:0".parse().unwrap_or_else(|_| unreachable!());
        c.rate_limits = RateLimits {
            general: limit(1, 60),
            ..RateLimits::OFF
        };
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap_or_else(|_| unreachable!())];
    })
    .await;
    let from = |ip: &'static str| {
        app.send(
            app.client
                .get(format!("{}/api", app.base))
                .header("X-Forwarded-For", ip),
        )
    };
    assert_eq!(from("203.0.113.1").await.status, 200);
    assert_eq!(
        from("203.0.113.2").await.status,
        200,
        "another client behind the proxy has its own budget"
    );
    from("203.0.113.1")
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    // One /64 is one client: its addresses share one budget; the next /64 is another.
    assert_eq!(from("2001:db8:0:1::1").await.status, 200);
    from("2001:db8:0:1:ffff::2")
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    assert_eq!(from("2001:db8:0:2::1").await.status, 200);
    Ok(())
}
