use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_lifetime, TestApp, TestResult, PASSWORD};

#[tokio::test]
async fn login_returns_a_token_for_a_named_session() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.create_user("alice", false).await;
    let resp = app
        .send(
            app.client
                .post(format!("{}/api/user/session", app.base))
                .header(
                    "User-Agent",
                    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                )
                .json(&json!({"username": "ALICE", "password": PASSWORD})),
        )
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    let token = resp.body["token"].as_str().unwrap_or_default().to_owned();
    let exp = resp.body["exp"].as_i64().unwrap_or_default();
    assert_eq!(exp, app.now_s() + 24 * 3600);
    let me = app.get("/api/user/session", &token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["name"], "Firefox v121.0 on Linux");
    assert_eq!(me.body["exp"], exp);
    assert_eq!(me.body["sub"], alice.to_string());
    assert!(me.body["iat"]
        .as_i64()
        .is_some_and(|iat| (iat - app.now_s()).abs() <= 1));
    Ok(())
}

#[tokio::test]
async fn remember_me_lasts_ten_years_and_headers_name_sessions() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    for (header, value, expected) in [
        ("X-Token-Name", "ShareX on desktop", "ShareX on desktop"),
        ("X-Session-Name", "Script", "Script"),
        ("User-Agent", "ShareX/15.0", "ShareX/15.0"),
    ] {
        let resp = app
            .send(
                app.client
                    .post(format!("{}/api/user/session", app.base))
                    .header(header, value)
                    .json(&json!({"username": "alice", "password": PASSWORD, "rememberMe": true})),
            )
            .await;
        assert_eq!(resp.status, 201);
        let token = resp.body["token"].as_str().unwrap_or_default();
        assert_lifetime(&app, token, Some(&resp.body), 315_576_000).await;
        assert_eq!(
            app.get("/api/user/session", token).await.body["name"],
            expected
        );
    }
    Ok(())
}

#[tokio::test]
async fn login_accepts_form_and_multipart_bodies() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let form = app
        .send(
            app.client
                .post(format!("{}/api/user/session", app.base))
                .form(&[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("rememberMe", "true"),
                ]),
        )
        .await;
    assert_eq!(form.status, 201, "{}", form.body);
    let token = form.body["token"].as_str().unwrap_or_default();
    assert_lifetime(&app, token, Some(&form.body), 315_576_000).await;
    let multipart = reqwest::multipart::Form::new()
        .text("username", "alice")
        .text("password", PASSWORD);
    let multi = app
        .send(
            app.client
                .post(format!("{}/api/user/session", app.base))
                .multipart(multipart),
        )
        .await;
    assert_eq!(multi.status, 201, "{}", multi.body);
    Ok(())
}

#[tokio::test]
async fn login_errors() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let login = |body| app.call(Method::POST, "/api/user/session", None, Some(body));
    let resp = login(json!({})).await;
    resp.assert_error(400, "MISSING_FIELDS_ERROR");
    assert_eq!(resp.body["fields"], json!(["username", "password"]));
    let resp = login(json!({"username": "alice"})).await;
    assert_eq!(resp.body["fields"], json!(["password"]));
    login(json!({"username": "alice", "password": "wrong"}))
        .await
        .assert_error(401, "INVALID_PASSWORD_ERROR");
    login(json!({"username": "nobody", "password": PASSWORD}))
        .await
        .assert_error(404, "INVALID_USER_ERROR");
    login(json!({"username": "not a valid name!", "password": PASSWORD}))
        .await
        .assert_error(404, "INVALID_USER_ERROR");
    Ok(())
}
