use reqwest::Method;

use crate::helpers::{TestApp, TestResult};

#[tokio::test]
async fn any_method_on_api_says_hello() -> TestResult {
    let app = TestApp::spawn().await;
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ] {
        let resp = app.call(method.clone(), "/api", None, None).await;
        assert_eq!(resp.status, 200, "{method}");
        assert_eq!(resp.body["hello"], "world");
        assert_eq!(resp.body["version"], env!("CARGO_PKG_VERSION"));
    }
    Ok(())
}

#[tokio::test]
async fn unknown_paths_and_methods_are_invalid_endpoints() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with_token("alice", false).await;
    for (method, path) in [
        (Method::GET, "/api/nope"),
        (Method::GET, "/api/files"),
        (Method::POST, "/api/upload"),
        (Method::GET, "/api/domains"),
        (Method::PUT, "/api/user/session"),
        (Method::POST, "/api/user/sessions"),
        (Method::GET, "/elsewhere"),
    ] {
        let resp = app.call(method.clone(), path, Some(&token), None).await;
        resp.assert_error(404, "INVALID_ENDPOINT_ERROR");
    }
    // Staff paths only match numeric IDs.
    let (_, staff) = app.user_with_token("boss", true).await;
    app.get("/api/user/abc/sessions", &staff)
        .await
        .assert_error(404, "INVALID_ENDPOINT_ERROR");
    Ok(())
}

#[tokio::test]
async fn responses_are_json_whatever_accept_says() -> TestResult {
    let app = TestApp::spawn().await;
    let resp = app
        .send(
            app.client
                .get(format!("{}/api/nothing", app.base))
                .header("Accept", "text/html"),
        )
        .await;
    resp.assert_error(404, "INVALID_ENDPOINT_ERROR");
    Ok(())
}
