//! The protective limits hold when the same request arrives many times at once: each attempt
//! takes its unit of budget before its password is hashed, so no more passwords are checked
//! than the limit allows. And a login flood is answered 429, never 500.

use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;
use thunderhead::domain::password::HashCost;
use thunderhead::ratelimit::RateLimits;

use crate::helpers::{limit, Resp, TestApp, TestResult, PASSWORD};

fn trusting_localhost(c: &mut thunderhead::config::Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap_or_else(|_| unreachable!())];
}

/// A login from `ip` (believed through the trusted local proxy).
async fn login_from(app: &TestApp, ip: &str, username: &str, password: &str) -> Resp {
    app.send(
        app.client
            .post(format!("{}/api/user/session", app.base))
            .header("X-Forwarded-For", ip)
            .json(&json!({"username": username, "password": password})),
    )
    .await
}

/// How many answers had each status.
fn tally(answers: &[Resp], status: u16) -> usize {
    answers
        .iter()
        .filter(|r| r.status.as_u16() == status)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_wrong_guesses_at_once_from_one_ip_check_at_most_the_limit() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits {
            failed_password: limit(10, 900),
            ..RateLimits::OFF
        };
        trusting_localhost(c);
    })
    .await;
    app.create_user("alice", false).await;
    app.create_user("bob", false).await;
    let answers =
        join_all((0..50).map(|_| login_from(&app, "203.0.113.1", "alice", "wrong"))).await;
    assert_eq!(
        tally(&answers, 401),
        10,
        "checked against the password hash"
    );
    assert_eq!(tally(&answers, 429), 40);
    for refused in answers.iter().filter(|r| r.status == 429) {
        refused.assert_error(429, "RATELIMITED_ERROR");
        assert!(refused.header("retry-after").is_some());
    }
    // The address is spent, for every account.
    login_from(&app, "203.0.113.1", "bob", PASSWORD)
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_guesses_from_ten_ips_at_one_account_check_at_most_the_limit() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits {
            failed_password: limit(10, 900),
            ..RateLimits::OFF
        };
        trusting_localhost(c);
    })
    .await;
    app.create_user("alice", false).await;
    let ips: Vec<String> = (1..=10).map(|i| format!("198.51.100.{i}")).collect();
    let answers =
        join_all((0..200).map(|i| login_from(&app, &ips[i % 10], "alice", "wrong"))).await;
    assert_eq!(tally(&answers, 401), 10, "the account's budget");
    assert_eq!(tally(&answers, 429), 190);
    // Locked for everyone, the right password included: the deliberate trade-off.
    login_from(&app, "192.0.2.99", "alice", PASSWORD)
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_correct_logins_at_once_pass_a_limit_of_one_once() -> TestResult {
    let app = TestApp::spawn_limited(RateLimits {
        login: limit(1, 60),
        ..RateLimits::OFF
    })
    .await;
    app.create_user("alice", false).await;
    let body = json!({"username": "alice", "password": PASSWORD});
    let answers = join_all(
        (0..10).map(|_| app.call(Method::POST, "/api/user/session", None, Some(body.clone()))),
    )
    .await;
    assert_eq!(tally(&answers, 201), 1);
    assert_eq!(tally(&answers, 429), 9);
    Ok(())
}

#[tokio::test]
async fn failed_logins_give_their_login_slot_back() -> TestResult {
    let app = TestApp::spawn_limited(RateLimits {
        login: limit(1, 60),
        ..RateLimits::OFF
    })
    .await;
    app.create_user("alice", false).await;
    let wrong = json!({"username": "alice", "password": "wrong"});
    for _ in 0..3 {
        app.call(Method::POST, "/api/user/session", None, Some(wrong.clone()))
            .await
            .assert_error(401, "INVALID_PASSWORD_ERROR");
    }
    app.call(Method::POST, "/api/user/session", None, Some(json!({})))
        .await
        .assert_error(400, "MISSING_FIELDS_ERROR");
    let right = json!({"username": "alice", "password": PASSWORD});
    let first = app
        .call(Method::POST, "/api/user/session", None, Some(right.clone()))
        .await;
    assert_eq!(first.status, 201, "only successes count: {}", first.body);
    app.call(Method::POST, "/api/user/session", None, Some(right))
        .await
        .assert_error(429, "RATELIMITED_ERROR");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_sign_ups_at_once_pass_a_limit_of_one_once() -> TestResult {
    let app = TestApp::spawn_limited(RateLimits {
        register: limit(1, 1800),
        ..RateLimits::OFF
    })
    .await;
    let signup = |i: usize| {
        json!({"username": format!("user{i}"), "email": format!("u{i}@example.com"),
               "password": "p", "repeatPassword": "p"})
    };
    let answers =
        join_all((0..5).map(|i| app.call(Method::POST, "/api/user", None, Some(signup(i))))).await;
    assert_eq!(tally(&answers, 201), 1);
    assert_eq!(tally(&answers, 429), 4);
    Ok(())
}

#[tokio::test]
async fn a_failed_sign_up_gives_its_slot_back() -> TestResult {
    let app = TestApp::spawn_limited(RateLimits {
        register: limit(1, 1800),
        ..RateLimits::OFF
    })
    .await;
    let mismatch = json!({"username": "one", "email": "one@example.com", "password": "p", "repeatPassword": "q"});
    app.call(Method::POST, "/api/user", None, Some(mismatch))
        .await
        .assert_error(400, "INVALID_PASSWORD_ERROR");
    let good = json!({"username": "one", "email": "one@example.com", "password": "p", "repeatPassword": "p"});
    assert_eq!(
        app.call(Method::POST, "/api/user", None, Some(good))
            .await
            .status,
        201
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_is_answered_429_and_a_real_user_still_gets_in() -> TestResult {
    // One hashing thread, a short queue and costly hashes (tens of milliseconds each): 200
    // wrong passwords at once, each from its own address and inside every limit, would queue
    // seconds of hashing, past the 3 s request timeout (500s, before the queue was bounded).
    // Bounded, no request waits for more than five hashes.
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits::OFF;
        c.hash_threads = 1;
        c.hash_queue = 4;
        c.request_timeout = Duration::from_secs(3);
        c.hash_cost = HashCost {
            memory_kib: 16 * 1024,
            iterations: 4,
            parallelism: 1,
        };
        trusting_localhost(c);
    })
    .await;
    app.create_user("alice", false).await;
    let app = &app;
    let flood = join_all((0..200).map(|i| {
        let ip = format!("10.{}.{}.1", i / 200, i % 200);
        async move { login_from(app, &ip, "alice", "wrong").await }
    }));
    let real = async {
        tokio::task::yield_now().await;
        login_from(app, "192.0.2.1", "alice", PASSWORD).await
    };
    let (answers, real) = tokio::join!(flood, real);
    // `send` has already asserted that none of them was a 500.
    assert!(tally(&answers, 429) > 0, "the queue overflowed");
    assert_eq!(tally(&answers, 401) + tally(&answers, 429), 200);
    for refused in answers.iter().filter(|r| r.status == 429) {
        refused.assert_error(429, "RATELIMITED_ERROR");
        assert_eq!(refused.header("retry-after"), Some("1"));
    }
    assert!(
        [201, 429].contains(&real.status.as_u16()),
        "the real user: {} {}",
        real.status,
        real.body
    );
    // Once the flood has drained, the real user gets in.
    let after = login_from(app, "192.0.2.1", "alice", PASSWORD).await;
    assert_eq!(after.status, 201, "{}", after.body);
    Ok(())
}
