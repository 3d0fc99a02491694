//! The seed's five endpoints.

use serde_json::json;

use crate::helpers::{TestApp, TestResult};

#[tokio::test]
async fn staff_list_and_get_any_users_sessions() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, staff) = app.user_with_token("boss", true).await;
    let (alice, alice_token) = app.user_with_token("alice", false).await;
    app.login("alice").await;
    let list = app
        .get(&format!("/api/user/{alice}/sessions"), &staff)
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["count"], 2);
    assert!(list.body["items"]
        .as_array()
        .is_some_and(|items| items.iter().all(|s| s["sub"] == alice.to_string())));
    let page = app
        .get(
            &format!("/api/user/{alice}/sessions?limit=1&offset=1"),
            &staff,
        )
        .await;
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(1));
    let iat = app.get("/api/user/session", &alice_token).await.body["iat"].clone();
    let one = app
        .get(&format!("/api/user/{alice}/session/{iat}"), &staff)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["iat"], iat);
    app.get("/api/user/999/sessions", &staff)
        .await
        .assert_error(404, "INVALID_USER_ERROR");
    app.get(&format!("/api/user/999/session/{iat}"), &staff)
        .await
        .assert_error(404, "INVALID_USER_ERROR");
    app.get(&format!("/api/user/{alice}/session/1"), &staff)
        .await
        .assert_error(404, "INVALID_SESSION_ERROR");
    app.get("/api/user/99999999999999999999999/sessions", &staff)
        .await
        .assert_error(404, "INVALID_USER_ERROR");
    Ok(())
}

#[tokio::test]
async fn staff_delete_one_returns_the_session() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, staff) = app.user_with_token("boss", true).await;
    let (alice, alice_token) = app.user_with_token("alice", false).await;
    let session = app.get("/api/user/session", &alice_token).await.body;
    let deleted = app
        .delete(
            &format!("/api/user/{alice}/session/{}", session["iat"]),
            &staff,
            None,
        )
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body, session);
    app.get("/api/user/session", &alice_token)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    app.delete(
        &format!("/api/user/{alice}/session/{}", session["iat"]),
        &staff,
        None,
    )
    .await
    .assert_error(404, "INVALID_SESSION_ERROR");
    app.delete(
        &format!("/api/user/999/session/{}", session["iat"]),
        &staff,
        None,
    )
    .await
    .assert_error(404, "INVALID_USER_ERROR");
    Ok(())
}

#[tokio::test]
async fn staff_bulk_and_all() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, staff) = app.user_with_token("boss", true).await;
    let alice = app.create_user("alice", false).await;
    let mut iats = Vec::new();
    for _ in 0..4 {
        let token = app.login("alice").await;
        iats.push(app.get("/api/user/session", &token).await.body["iat"].to_string());
    }
    let bulk = app
        .delete(
            &format!("/api/user/{alice}/sessions"),
            &staff,
            Some(json!({"sessions": [iats[0], iats[1], "42"]})),
        )
        .await;
    assert_eq!(bulk.body, json!({"count": 2, "type": "session"}));
    let bad = app
        .delete(
            &format!("/api/user/{alice}/sessions"),
            &staff,
            Some(json!({"sessions": "x"})),
        )
        .await;
    bad.assert_error(400, "MISSING_FIELDS_ERROR");
    assert_eq!(bad.body["fields"], json!(["sessions"]));
    // Body fields are checked before the target user.
    app.delete("/api/user/999/sessions", &staff, Some(json!({})))
        .await
        .assert_error(400, "MISSING_FIELDS_ERROR");
    app.delete(
        "/api/user/999/sessions",
        &staff,
        Some(json!({"sessions": []})),
    )
    .await
    .assert_error(404, "INVALID_USER_ERROR");
    let all = app
        .delete(&format!("/api/user/{alice}/sessions/all"), &staff, None)
        .await;
    assert_eq!(all.body, json!({"count": 2, "type": "session"}));
    assert_eq!(
        app.get(&format!("/api/user/{alice}/sessions"), &staff)
            .await
            .body["count"],
        0
    );
    app.delete("/api/user/999/sessions/all", &staff, None)
        .await
        .assert_error(404, "INVALID_USER_ERROR");
    // Staff still have their own session.
    assert_eq!(app.get("/api/user/session", &staff).await.status, 200);
    Ok(())
}

#[tokio::test]
async fn order_of_checks_on_staff_endpoints() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, alice_token) = app.user_with_token("alice", false).await;
    let (boss, boss_token) = app.user_with_token("boss", true).await;
    let paths = [
        (reqwest::Method::GET, format!("/api/user/{alice}/sessions")),
        (reqwest::Method::GET, format!("/api/user/{alice}/session/1")),
        (
            reqwest::Method::DELETE,
            format!("/api/user/{alice}/session/1"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/user/{alice}/sessions"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/user/{alice}/sessions/all"),
        ),
        (reqwest::Method::GET, "/api/users".to_owned()),
        (reqwest::Method::GET, format!("/api/user/{alice}")),
        (reqwest::Method::PATCH, format!("/api/user/{alice}")),
        (reqwest::Method::PATCH, format!("/api/user/{alice}/ban")),
        (reqwest::Method::DELETE, format!("/api/user/{alice}")),
        (reqwest::Method::DELETE, "/api/users".to_owned()),
    ];
    for (method, path) in &paths {
        app.call(method.clone(), path, None, None)
            .await
            .assert_error(401, "INVALID_SESSION_ERROR");
        app.call(method.clone(), path, Some("garbage"), Some(json!({})))
            .await
            .assert_error(401, "INVALID_SESSION_ERROR");
        app.call(method.clone(), path, Some(&alice_token), Some(json!({})))
            .await
            .assert_error(403, "INSUFFICIENT_PERMISSIONS_ERROR");
    }
    // A banned staff member gets Banned before anything else.
    app.state
        .app
        .change_ban(boss, thunderhead::domain::BanChange::Ban)
        .await?;
    for (method, path) in &paths {
        app.call(method.clone(), path, Some(&boss_token), Some(json!({})))
            .await
            .assert_error(403, "BANNED_ERROR");
    }
    Ok(())
}
