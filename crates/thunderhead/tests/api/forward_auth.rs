//! Forward authentication for reverse proxies and the opt-in `thunderhead_token` cookie
//! (API.md 2.3), through the real server. The real nginx in front of it is `nginx.rs`.

use reqwest::Method;
use serde_json::json;
use thunderhead::domain::BanChange;

use crate::helpers::{TestApp, TestResult, PASSWORD};

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn forward(app: &TestApp, method: Method, query: &str, auth: Auth<'_>) -> Answer {
    let mut request = app
        .client
        .request(method, format!("{}/api/auth/forward{query}", app.base));
    request = match auth {
        Auth::None => request,
        Auth::Header(token) => request.header("Authorization", format!("Bearer {token}")),
        Auth::Cookie(token) => {
            request.header("Cookie", format!("other=1; thunderhead_token={token}"))
        }
    };
    let resp = request.send().await.expect("forward auth answers");
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
    }
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Header(&'a str),
    Cookie(&'a str),
}

#[tokio::test]
async fn forward_auth_names_the_user_and_refuses_everyone_else() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, token) = app.user_with_token("alice", false).await;
    let (boss, staff_token) = app.user_with_token("boss", true).await;
    let iat = app.get("/api/user/session", &token).await.body["iat"].clone();

    for auth in [Auth::Header(&token), Auth::Cookie(&token)] {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let answer = forward(&app, method, "", auth).await;
            assert_eq!(answer.status, 200);
            assert_eq!(
                answer.header("x-auth-user-id"),
                Some(alice.to_string().as_str())
            );
            assert_eq!(answer.header("x-auth-username"), Some("alice"));
            assert_eq!(answer.header("x-auth-staff"), Some("false"));
            assert_eq!(
                answer.header("x-auth-session"),
                Some(iat.to_string().as_str())
            );
        }
    }
    assert_eq!(forward(&app, Method::GET, "", Auth::None).await.status, 401);
    assert_eq!(
        forward(&app, Method::GET, "", Auth::Header("forged"))
            .await
            .status,
        401
    );
    // Staff only.
    assert_eq!(
        forward(&app, Method::GET, "?staff=true", Auth::Header(&token))
            .await
            .status,
        403
    );
    let staff = forward(&app, Method::GET, "?staff=true", Auth::Cookie(&staff_token)).await;
    assert_eq!(staff.status, 200);
    assert_eq!(staff.header("x-auth-staff"), Some("true"));
    assert_eq!(
        staff.header("x-auth-user-id"),
        Some(boss.to_string().as_str())
    );

    // The cookie is for forward authentication only: the JSON API wants the header.
    let resp = app
        .send(
            app.client
                .get(format!("{}/api/user/session", app.base))
                .header("Cookie", format!("thunderhead_token={token}")),
        )
        .await;
    resp.assert_error(401, "INVALID_SESSION_ERROR");

    // Banned: 403 (API.md); unbanned: back.
    app.state.app.change_ban(alice, BanChange::Ban).await?;
    assert_eq!(
        forward(&app, Method::GET, "", Auth::Cookie(&token))
            .await
            .status,
        403
    );
    app.state.app.change_ban(alice, BanChange::Unban).await?;
    assert_eq!(
        forward(&app, Method::GET, "", Auth::Cookie(&token))
            .await
            .status,
        200
    );
    // Revoked: the very next request.
    app.delete(&format!("/api/user/session/{iat}"), &token, None)
        .await;
    assert_eq!(
        forward(&app, Method::GET, "", Auth::Cookie(&token))
            .await
            .status,
        401
    );
    Ok(())
}

fn set_cookie(resp: &crate::helpers::Resp) -> Option<String> {
    resp.header("set-cookie").map(str::to_owned)
}

#[tokio::test]
async fn the_cookie_is_set_at_sign_in_and_cleared_when_the_own_session_ends() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = thunderhead::ratelimit::RateLimits::OFF;
        c.auth_cookie = true;
        c.cookie_secure = true;
        c.cookie_domain = Some("example.com".into());
    })
    .await;
    app.create_user("alice", false).await;
    let login = |remember: bool| {
        app.call(
            Method::POST,
            "/api/user/session",
            None,
            Some(json!({"username": "alice", "password": PASSWORD, "rememberMe": remember})),
        )
    };
    // The cookie lives exactly as long as the session: until its `exp`.
    let resp = login(false).await;
    let token = resp.body["token"].as_str().unwrap_or_default().to_owned();
    let max_age = resp.body["exp"].as_i64().unwrap_or_default() - app.now_s();
    assert_eq!(max_age, 86_400);
    assert_eq!(
        set_cookie(&resp),
        Some(format!(
            "thunderhead_token={token}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax; Secure; Domain=example.com"
        ))
    );
    let remembered = login(true).await;
    let max_age = remembered.body["exp"].as_i64().unwrap_or_default() - app.now_s();
    assert!(max_age >= 315_576_000, "ten years");
    assert!(
        set_cookie(&remembered).is_some_and(|c| c.contains(&format!("Max-Age={max_age};"))),
        "{:?}",
        set_cookie(&remembered)
    );
    let resp = app
        .call(
            Method::POST,
            "/api/user",
            None,
            Some(json!({"username": "bob", "email": "bob@example.com", "password": PASSWORD, "repeatPassword": PASSWORD})),
        )
        .await;
    assert_eq!(resp.status, 201);
    assert!(set_cookie(&resp).is_some_and(|c| c.starts_with("thunderhead_token=ey")));

    let cleared =
        "thunderhead_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax; Secure; Domain=example.com";
    // Ending another session, or all but this one, keeps this browser's cookie.
    let other = remembered.body["token"].as_str().unwrap_or_default();
    let other_iat = app.get("/api/user/session", other).await.body["iat"].clone();
    let resp = app
        .delete(&format!("/api/user/session/{other_iat}"), &token, None)
        .await;
    assert_eq!((resp.status.as_u16(), set_cookie(&resp)), (200, None));
    let resp = app
        .delete("/api/user/sessions/all?allButSelf=true", &token, None)
        .await;
    assert_eq!((resp.status.as_u16(), set_cookie(&resp)), (200, None));
    // Ending its own: cleared.
    let own_iat = app.get("/api/user/session", &token).await.body["iat"].clone();
    let resp = app
        .delete(&format!("/api/user/session/{own_iat}"), &token, None)
        .await;
    assert_eq!(set_cookie(&resp).as_deref(), Some(cleared));
    let token = login(false).await.body["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let resp = app.delete("/api/user/sessions/all", &token, None).await;
    assert_eq!(set_cookie(&resp).as_deref(), Some(cleared));
    Ok(())
}

#[tokio::test]
async fn without_the_setting_no_cookie_is_set() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let resp = app
        .call(
            Method::POST,
            "/api/user/session",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(resp.status, 201);
    assert_eq!(set_cookie(&resp), None);
    Ok(())
}

#[tokio::test]
async fn the_page_returns_only_to_named_hosts() -> TestResult {
    let app = TestApp::spawn_with(|c| c.return_hosts = vec!["files.example.com".into()]).await;
    let page = |query: &'static str| {
        let request = app.client.get(format!("{}/{query}", app.base));
        async move {
            request
                .send()
                .await
                .expect("page")
                .text()
                .await
                .unwrap_or_default()
        }
    };
    let named = page("?return=https%3A%2F%2Ffiles.example.com%2Fa%3Fb%3D1%26c%3D2").await;
    assert!(
        named.contains(
            r#"<meta name="thunderhead-return" content="https://files.example.com/a?b=1&amp;c=2">"#
        ),
        "{named}"
    );
    for elsewhere in [
        "?return=https%3A%2F%2Fevil.example%2F",
        "?return=%2F%2Fevil.example",
        "?return=javascript%3Aalert(1)",
        "?return=https%3A%2F%2Ffiles.example.com%2F%22%3E%3Cscript%3E",
        "",
    ] {
        assert!(
            !page(elsewhere).await.contains("thunderhead-return"),
            "{elsewhere}"
        );
    }
    Ok(())
}
