//! The concurrency claims: unique session IDs under a burst of logins of one user, no
//! resurrection when revocation races a login, and hashing that does not stall the server.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;
use thunderhead::domain::password::HashCost;

use crate::helpers::{TestApp, TestResult, PASSWORD};

fn iat_of(token: &str) -> i64 {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|c| c["iat"].as_i64())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_logins_make_two_hundred_sessions() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let tokens: Vec<String> = join_all((0..200).map(|_| app.login("alice"))).await;
    let mut iats: Vec<i64> = tokens.iter().map(|t| iat_of(t)).collect();
    iats.sort_unstable();
    iats.dedup();
    assert_eq!(iats.len(), 200, "every session has its own ID");
    let mut listed = Vec::new();
    for offset in (0..200).step_by(50) {
        let page = app
            .get(&format!("/api/user/sessions?offset={offset}"), &tokens[0])
            .await;
        assert_eq!(page.body["count"], 200);
        listed.extend(
            page.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["iat"].as_i64()),
        );
    }
    listed.sort_unstable();
    assert_eq!(listed, iats, "each one is listed");
    // Each is revocable alone: revoking one leaves exactly the others working.
    for (i, token) in tokens.iter().enumerate().skip(1).take(20) {
        let resp = app
            .delete(
                &format!("/api/user/session/{}", iat_of(token)),
                &tokens[0],
                None,
            )
            .await;
        assert_eq!(resp.status, 200, "session {i}");
        app.get("/api/user/session", token)
            .await
            .assert_error(401, "INVALID_SESSION_ERROR");
    }
    assert_eq!(
        app.get("/api/user/sessions", &tokens[0]).await.body["count"],
        180
    );
    assert_eq!(app.get("/api/user/session", &tokens[199]).await.status, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_racing_a_login_neither_resurrects_nor_loses() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, staff) = app.user_with_token("boss", true).await;
    let alice = app.create_user("alice", false).await;
    for round in 0..25 {
        let old: Vec<String> = join_all((0..3).map(|_| app.login("alice"))).await;
        let revoke_path = format!("/api/user/{alice}/sessions/all");
        let revoke = app.delete(&revoke_path, &staff, None);
        let (revoked, new_token) = tokio::join!(revoke, app.login("alice"));
        let revoked_count = revoked.body["count"].as_i64().unwrap_or(-1);
        for token in &old {
            app.get("/api/user/session", token)
                .await
                .assert_error(401, "INVALID_SESSION_ERROR");
        }
        let new_alive = app.get("/api/user/session", &new_token).await.status == 200;
        // The new session was either deleted by the revocation (and counted) or survives.
        assert_eq!(revoked_count, 3 + i64::from(!new_alive), "round {round}");
        let listed = app
            .get(&format!("/api/user/{alice}/sessions"), &staff)
            .await
            .body["count"]
            .as_i64();
        assert_eq!(listed, Some(i64::from(new_alive)), "round {round}");
        assert!(
            old.iter().all(|t| iat_of(t) != iat_of(&new_token)),
            "a revoked ID is never reused"
        );
        app.delete(&format!("/api/user/{alice}/sessions/all"), &staff, None)
            .await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_does_not_stall_other_requests() -> TestResult {
    // Deliberately costly hashes: ~tens of ms each, 16 of them queued on 2 cores.
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = thunderhead::ratelimit::RateLimits::OFF;
        c.hash_cost = HashCost {
            memory_kib: 32 * 1024,
            iterations: 3,
            parallelism: 1,
        };
    })
    .await;
    app.create_user("alice", false).await;
    let body = json!({"username": "alice", "password": PASSWORD});
    let logins = join_all(
        (0..16).map(|_| app.call(Method::POST, "/api/user/session", None, Some(body.clone()))),
    );
    let probes = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let started = Instant::now();
            assert_eq!(app.call(Method::GET, "/api", None, None).await.status, 200);
            worst = worst.max(started.elapsed());
        }
        worst
    };
    let started = Instant::now();
    let (results, worst) = tokio::join!(logins, probes);
    let burst = started.elapsed();
    assert!(results.iter().all(|r| r.status == 201));
    // A stalled runtime would hold a probe for most of the burst.
    assert!(
        worst < burst / 4,
        "worst probe {worst:?} during a {burst:?} burst"
    );
    Ok(())
}

/// Many authenticated requests at once, for different users and sessions, some of them
/// revoked or banned: each gets its own answer (on PostgreSQL they share lookup queries).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_each_get_their_own_answer() -> TestResult {
    let app = TestApp::spawn().await;
    let staff = app.user_with_token("boss", true).await.1;
    let mut cases = Vec::new(); // (token, username, iat, the status its requests must get)
    for name in ["ann", "ben", "cat", "dan"] {
        app.create_user(name, false).await;
        for _ in 0..3 {
            let token = app.login(name).await;
            cases.push((token.clone(), name, iat_of(&token), 200));
        }
    }
    // Ben's middle session is revoked; Dan is banned.
    let ben_revoked = cases[4].2;
    let resp = app
        .delete(
            &format!("/api/user/session/{ben_revoked}"),
            &cases[3].0,
            None,
        )
        .await;
    assert_eq!(resp.status, 200);
    cases[4].3 = 401;
    let dan = app.get("/api/user", &cases[9].0).await.body["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let resp = app
        .patch(&format!("/api/user/{dan}/ban"), &staff, json!({}))
        .await;
    assert_eq!(resp.status, 200);
    for case in &mut cases[9..] {
        case.3 = 403;
    }
    let requests = (0..240).map(|i| {
        let (token, name, iat, status) = cases[i % cases.len()].clone();
        let app = &app;
        async move {
            let resp = app.get("/api/user/session", &token).await;
            assert_eq!(resp.status, status, "{name}'s session {iat}: {}", resp.body);
            if status == 200 {
                assert_eq!(resp.body["iat"], iat, "{name} got someone else's session");
                let me = app.get("/api/user", &token).await;
                assert_eq!(me.body["username"], name);
            }
        }
    });
    join_all(requests).await;
    Ok(())
}
