//! RFC 7662 introspection for service clients (API.md 2.3): Basic credentials, `active` only
//! for a live session of an unbanned owner, everything else `{"active": false}` at once, and
//! wrong client secrets limited like wrong passwords.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use thunderhead::domain::BanChange;

use crate::helpers::{limit, TestApp, TestResult};

struct Client {
    name: String,
    secret: String,
}

async fn client(app: &TestApp, name: &str) -> Client {
    let secret = app
        .state
        .app
        .create_client(name)
        .await
        .expect("the client is created")
        .expect("the name is free");
    Client {
        name: name.to_owned(),
        secret,
    }
}

async fn introspect(app: &TestApp, client: &Client, body: Value) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}/api/introspect", app.base))
        .basic_auth(&client.name, Some(&client.secret))
        .json(&body)
        .send()
        .await
        .expect("introspect");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_live_token_is_active_and_everything_else_is_not() -> TestResult {
    let app = TestApp::spawn().await;
    let files = client(&app, "files").await;
    let (alice, token) = app.user_with_token("alice", false).await;
    let (_, staff_token) = app.user_with_token("boss", true).await;

    let (status, body) = introspect(&app, &files, json!({ "token": token })).await;
    assert_eq!(status, 200, "{body}");
    let session = app.get("/api/user/session", &token).await.body;
    assert_eq!(
        body,
        json!({
            "active": true,
            "sub": alice.to_string(),
            "username": "alice",
            "staff": false,
            "iat": session["iat"],
            "exp": session["exp"],
            "token_type": "Bearer",
        })
    );
    let (_, body) = introspect(&app, &files, json!({ "token": staff_token })).await;
    assert_eq!(body["staff"], true);
    // Form bodies, as RFC 7662 has them.
    let resp = app
        .client
        .post(format!("{}/api/introspect", app.base))
        .basic_auth(&files.name, Some(&files.secret))
        .form(&[
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await?;
    assert_eq!(resp.json::<Value>().await?["active"], true);

    // Forged, then banned, then revoked, then expired: inactive at once, each time.
    let mut forged = token.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    for bad in [forged.as_str(), "garbage", ""] {
        let (status, body) = introspect(&app, &files, json!({ "token": bad })).await;
        if bad.is_empty() {
            assert_eq!(status, 400, "an empty token is a missing one");
            assert_eq!(body["fields"], json!(["token"]));
        } else {
            assert_eq!(
                (status.as_u16(), body.clone()),
                (200, json!({"active": false}))
            );
        }
    }
    app.state.app.change_ban(alice, BanChange::Ban).await?;
    let (_, body) = introspect(&app, &files, json!({ "token": token })).await;
    assert_eq!(body, json!({"active": false}), "banned");
    app.state.app.change_ban(alice, BanChange::Unban).await?;
    let (_, body) = introspect(&app, &files, json!({ "token": token })).await;
    assert_eq!(body["active"], true, "unbanned");
    let other = app.login("alice").await;
    app.delete("/api/user/sessions/all?allButSelf=true", &other, None)
        .await;
    let (_, body) = introspect(&app, &files, json!({ "token": token })).await;
    assert_eq!(body, json!({"active": false}), "revoked");
    let (_, body) = introspect(&app, &files, json!({ "token": other })).await;
    assert_eq!(body["active"], true);
    app.clock.advance_secs(24 * 60 * 60 + 1);
    let (_, body) = introspect(&app, &files, json!({ "token": other })).await;
    assert_eq!(body, json!({"active": false}), "expired");
    Ok(())
}

#[tokio::test]
async fn client_credentials_are_checked_first_and_a_revoked_client_is_refused_at_once() -> TestResult
{
    let app = TestApp::spawn().await;
    let files = client(&app, "files").await;
    let (_, token) = app.user_with_token("alice", false).await;
    let wrong = Client {
        name: "files".into(),
        secret: "not the secret".into(),
    };
    let nobody = Client {
        name: "nobody".into(),
        secret: files.secret.clone(),
    };
    for (who, body) in [
        (&wrong, json!({ "token": token })),
        (&nobody, json!({ "token": token })),
        (&wrong, json!({})),
    ] {
        let resp = app
            .client
            .post(format!("{}/api/introspect", app.base))
            .basic_auth(&who.name, Some(&who.secret))
            .json(&body)
            .send()
            .await?;
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Basic realm=\"thunderhead\"")
        );
    }
    // No credentials at all, or a Bearer token instead of them.
    for auth in [None, Some(format!("Bearer {token}"))] {
        let mut request = app
            .client
            .post(format!("{}/api/introspect", app.base))
            .json(&json!({ "token": token }));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        app.send(request)
            .await
            .assert_error(401, "INVALID_PASSWORD_ERROR");
    }
    let (status, body) = introspect(&app, &files, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"], json!(["token"]));

    // Revoked: the very next call is refused. A new client of the same name gets a new secret.
    assert!(app.state.app.revoke_client("files").await?.is_some());
    let (status, _) = introspect(&app, &files, json!({ "token": token })).await;
    assert_eq!(status, 401);
    let renewed = client(&app, "files").await;
    assert_ne!(renewed.secret, files.secret);
    let (status, _) = introspect(&app, &files, json!({ "token": token })).await;
    assert_eq!(status, 401, "the old secret stays dead");
    let (_, body) = introspect(&app, &renewed, json!({ "token": token })).await;
    assert_eq!(body["active"], true);
    assert!(
        app.state.app.create_client("files").await?.is_none(),
        "a live client's name is taken"
    );
    let listed = app.state.app.list_clients().await?;
    assert_eq!(listed.len(), 1);
    Ok(())
}

#[tokio::test]
async fn fifty_at_once_each_get_their_own_answer_and_wrong_secrets_hit_the_limit() -> TestResult {
    let app = TestApp::spawn_limited(thunderhead::ratelimit::RateLimits {
        failed_password: limit(10, 900),
        ..thunderhead::ratelimit::RateLimits::OFF
    })
    .await;
    let files = client(&app, "files").await;
    let mut tokens = Vec::new();
    for name in ["alice", "bob", "carol", "dave", "erin"] {
        tokens.push(app.user_with_token(name, false).await.1);
    }
    // Revoke bob's: his answers must say inactive, the others' active.
    app.delete("/api/user/sessions/all", &tokens[1], None).await;
    let answers = join_all((0..50).map(|i| {
        let token = tokens[i % tokens.len()].clone();
        let app = &app;
        let files = &files;
        async move {
            (
                i % 5,
                introspect(app, files, json!({ "token": token })).await,
            )
        }
    }))
    .await;
    for (who, (status, body)) in answers {
        assert_eq!(status, 200);
        assert_eq!(body["active"], who != 1, "{who}: {body}");
    }
    let wrong = Client {
        name: "files".into(),
        secret: "guess".into(),
    };
    let answers =
        join_all((0..50).map(|_| introspect(&app, &wrong, json!({ "token": tokens[0] })))).await;
    let count = |code: u16| answers.iter().filter(|(s, _)| s.as_u16() == code).count();
    assert_eq!((count(401), count(429)), (10, 40), "ten guesses, then 429");
    // The right secret still works: only guessing is limited.
    let (_, body) = introspect(&app, &files, json!({ "token": tokens[0] })).await;
    assert_eq!(body["active"], true);
    Ok(())
}
