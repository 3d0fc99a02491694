//! Hostile and sloppy input: never a 500, never a crash, always the contract's error body.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, TestResult, PASSWORD};

#[tokio::test]
async fn wrong_types_name_the_fields() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let resp = app
        .call(
            Method::POST,
            "/api/user/session",
            None,
            Some(json!({"username": 5, "password": ["x"], "rememberMe": "maybe"})),
        )
        .await;
    resp.assert_error(400, "MISSING_FIELDS_ERROR");
    assert_eq!(
        resp.body["fields"],
        json!(["username", "password", "rememberMe"])
    );
    for body in [json!([1, 2]), json!("string"), json!(null), json!(42)] {
        let resp = app
            .call(Method::POST, "/api/user/session", None, Some(body))
            .await;
        resp.assert_error(400, "MISSING_FIELDS_ERROR");
    }
    Ok(())
}

#[tokio::test]
async fn unknown_fields_are_ignored() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let resp = app
        .call(
            Method::POST,
            "/api/user/session",
            None,
            Some(
                json!({"username": "alice", "password": PASSWORD, "admin": true, "x": {"y": [1]}}),
            ),
        )
        .await;
    assert_eq!(resp.status, 201);
    Ok(())
}

#[tokio::test]
async fn huge_bodies_are_413() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with_token("alice", false).await;
    let big = "x".repeat(2 * 1024 * 1024);
    let resp = app
        .send(
            app.client
                .post(format!("{}/api/user/session", app.base))
                .header("content-type", "application/json")
                .body(format!("{{\"username\":\"{big}\"}}")),
        )
        .await;
    resp.assert_error(413, "BODY_TOO_LARGE_ERROR");
    // Without a Content-Length (chunked), the limit still holds.
    let chunks =
        futures::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])));
    let resp = app
        .send(
            app.client
                .delete(format!("{}/api/user/sessions", app.base))
                .header("Authorization", &token)
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(chunks)),
        )
        .await;
    resp.assert_error(413, "BODY_TOO_LARGE_ERROR");
    assert_eq!(app.get("/api/user/session", &token).await.status, 200);
    Ok(())
}

#[tokio::test]
async fn non_utf8_deep_and_long_input() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let raw = |content_type: &'static str, body: Vec<u8>| {
        app.send(
            app.client
                .post(format!("{}/api/user/session", app.base))
                .header("content-type", content_type)
                .body(body),
        )
    };
    raw("application/json", vec![0xff, 0xfe, 0x00, 0x7b])
        .await
        .assert_error(400, "MISSING_FIELDS_ERROR");
    raw(
        "application/x-www-form-urlencoded",
        b"username=%ff%fe&password=%c3".to_vec(),
    )
    .await
    .assert_error(404, "INVALID_USER_ERROR");
    raw(
        "multipart/form-data; boundary=xyz",
        b"--xyz\r\nbroken".to_vec(),
    )
    .await
    .assert_error(400, "MISSING_FIELDS_ERROR");
    raw("multipart/form-data", b"no boundary".to_vec())
        .await
        .assert_error(400, "MISSING_FIELDS_ERROR");
    raw("text/plain", b"hello".to_vec())
        .await
        .assert_error(400, "MISSING_FIELDS_ERROR");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    raw("application/json", deep.into_bytes())
        .await
        .assert_error(400, "MISSING_FIELDS_ERROR");
    let deep_object = format!(
        "{{\"username\":{}1{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    raw("application/json", deep_object.into_bytes())
        .await
        .assert_error(400, "MISSING_FIELDS_ERROR");
    let long = "a".repeat(500_000);
    let resp = app
        .call(
            Method::POST,
            "/api/user/session",
            None,
            Some(json!({"username": long, "password": long})),
        )
        .await;
    resp.assert_error(404, "INVALID_USER_ERROR");
    let signup = json!({"username": "ok", "email": "ok@example.com", "password": long, "repeatPassword": long});
    let resp = app
        .call(Method::POST, "/api/user", None, Some(signup))
        .await;
    resp.assert_error(400, "MISSING_FIELDS_ERROR");
    assert_eq!(resp.body["fields"], json!(["password"]));
    let resp = app
        .send(
            app.client
                .post(format!("{}/api/user/session", app.base))
                .header("X-Token-Name", "n".repeat(4000))
                .json(&json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(resp.status, 201);
    let token = resp.body["token"].as_str().unwrap_or_default();
    assert_eq!(
        app.get("/api/user/session", token).await.body["name"]
            .as_str()
            .map(str::len),
        Some(256)
    );
    // Still alive and well.
    assert_eq!(app.call(Method::GET, "/api", None, None).await.status, 200);
    Ok(())
}

#[tokio::test]
async fn odd_paths_and_queries() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with_token("alice", false).await;
    let (_, staff) = app.user_with_token("boss", true).await;
    // A session ID that is not one (not digits, negative, fractional, too large) names no
    // session: 404 InvalidSession, as the README's decisions say.
    for path in [
        "/api/user/session/%ff",
        "/api/user/session/-1",
        "/api/user/session/1.5",
        "/api/user/session/99999999999999999999999",
    ] {
        app.get(path, &token)
            .await
            .assert_error(404, "INVALID_SESSION_ERROR");
    }
    // A query that does not parse is read as best it can be: the defaults.
    let list = app
        .get("/api/user/sessions?limit=%ff&offset=%", &token)
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["count"], 1);
    app.get("/api/user/%ff/sessions", &staff)
        .await
        .assert_error(404, "INVALID_ENDPOINT_ERROR");
    Ok(())
}
