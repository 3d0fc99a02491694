//! The caller's own account and signing up.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, TestResult, PASSWORD};

fn signup(username: &str, email: &str) -> serde_json::Value {
    json!({"username": username, "email": email, "password": "pw-1", "repeatPassword": "pw-1"})
}

#[tokio::test]
async fn register_creates_account_and_first_session() -> TestResult {
    let app = TestApp::spawn().await;
    let resp = app
        .call(
            Method::POST,
            "/api/user",
            None,
            Some(signup("NewUser", "new@example.com")),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let token = resp.body["token"].as_str().unwrap_or_default();
    let me = app.get("/api/user", token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "newuser");
    assert_eq!(me.body["email"], "new@example.com");
    assert_eq!(app.get("/api/user/sessions", token).await.body["count"], 1);
    Ok(())
}

#[tokio::test]
async fn register_errors() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let post = |body| app.call(Method::POST, "/api/user", None, Some(body));
    post(signup("ALICE", "other@example.com"))
        .await
        .assert_error(409, "USER_EXISTS_ERROR");
    post(signup("other", "Alice@Example.com"))
        .await
        .assert_error(409, "USER_EXISTS_ERROR");
    let mismatch =
        json!({"username": "x", "email": "x@example.com", "password": "a", "repeatPassword": "b"});
    post(mismatch)
        .await
        .assert_error(400, "INVALID_PASSWORD_ERROR");
    let resp = post(json!({"username": "x"})).await;
    resp.assert_error(400, "MISSING_FIELDS_ERROR");
    assert_eq!(
        resp.body["fields"],
        json!(["email", "password", "repeatPassword"])
    );
    let resp = post(signup("bad name!", "not-an-email")).await;
    resp.assert_error(400, "MISSING_FIELDS_ERROR");
    assert_eq!(resp.body["fields"], json!(["username", "email"]));
    let resp = post(signup(&"a".repeat(61), "long@example.com")).await;
    assert_eq!(resp.body["fields"], json!(["username"]));
    Ok(())
}

#[tokio::test]
async fn edit_own_account() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("bob", false).await;
    let (_, token) = app.user_with_token("alice", false).await;
    let other = app.login("alice").await;
    let resp = app
        .patch("/api/user", &token, json!({"username": "alicia"}))
        .await;
    resp.assert_error(400, "MISSING_FIELDS_ERROR");
    assert_eq!(resp.body["fields"], json!(["password"]));
    let resp = app
        .patch("/api/user", &token, json!({"password": PASSWORD}))
        .await;
    assert_eq!(
        resp.body["fields"],
        json!(["username", "email", "newPassword"])
    );
    app.patch(
        "/api/user",
        &token,
        json!({"password": "wrong", "username": "x"}),
    )
    .await
    .assert_error(401, "INVALID_PASSWORD_ERROR");
    app.patch(
        "/api/user",
        &token,
        json!({"password": PASSWORD, "username": "BOB"}),
    )
    .await
    .assert_error(409, "USER_EXISTS_ERROR");
    let resp = app
        .patch(
            "/api/user",
            &token,
            json!({"password": PASSWORD, "username": "Alicia", "email": "a@new.example"}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["username"], "alicia");
    assert_eq!(resp.body["email"], "a@new.example");
    assert_eq!(
        app.get("/api/user/session", &other).await.status,
        200,
        "no password change, sessions stay"
    );
    let resp = app
        .patch(
            "/api/user",
            &token,
            json!({"password": PASSWORD, "newPassword": "fresh"}),
        )
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        app.get("/api/user/session", &token).await.status,
        200,
        "the current session survives"
    );
    app.get("/api/user/session", &other)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    let login = app
        .call(
            Method::POST,
            "/api/user/session",
            None,
            Some(json!({"username": "alicia", "password": "fresh"})),
        )
        .await;
    assert_eq!(login.status, 201);
    Ok(())
}

#[tokio::test]
async fn delete_own_account() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with_token("alice", false).await;
    let resp = app.delete("/api/user", &token, Some(json!({}))).await;
    assert_eq!(resp.body["fields"], json!(["username", "password"]));
    app.delete(
        "/api/user",
        &token,
        Some(json!({"username": "bob", "password": PASSWORD})),
    )
    .await
    .assert_error(401, "INVALID_USER_ERROR");
    app.delete(
        "/api/user",
        &token,
        Some(json!({"username": "alice", "password": "nope"})),
    )
    .await
    .assert_error(401, "INVALID_PASSWORD_ERROR");
    let resp = app
        .delete(
            "/api/user",
            &token,
            Some(json!({"username": "ALICE", "password": PASSWORD})),
        )
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["username"], "alice");
    app.get("/api/user", &token)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    Ok(())
}
