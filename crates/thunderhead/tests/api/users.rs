//! Staff account management.

use serde_json::{json, Value};

use crate::helpers::{TestApp, TestResult, PASSWORD};

#[tokio::test]
async fn list_and_get_users() -> TestResult {
    let app = TestApp::spawn().await;
    let (boss, staff) = app.user_with_token("boss", true).await;
    let alice = app.create_user("alice", false).await;
    let bob = app.create_user("bob", false).await;
    let list = app.get("/api/users", &staff).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["count"], 3);
    let ids: Vec<String> = list.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|u| u["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        ids,
        [bob.to_string(), alice.to_string(), boss.to_string()],
        "newest first"
    );
    let page = app.get("/api/users?limit=1&offset=1", &staff).await;
    assert_eq!(page.body["items"][0]["id"], alice.to_string());
    let user = app.get(&format!("/api/user/{alice}"), &staff).await;
    assert_eq!(user.status, 200);
    let body = &user.body;
    assert_eq!(body["username"], "alice");
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["staff"], false);
    assert_eq!(body["domain"], "localhost");
    assert_eq!(body["subdomain"], serde_json::Value::Null);
    assert_eq!(body["bannedAt"], serde_json::Value::Null);
    assert!(
        body["createdAt"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z')),
        "{body}"
    );
    assert!(body.get("password_hash").is_none() && body.get("passwordHash").is_none());
    app.get("/api/user/999", &staff)
        .await
        .assert_error(404, "INVALID_USER_ERROR");
    Ok(())
}

#[tokio::test]
async fn staff_edit_any_account() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, staff) = app.user_with_token("boss", true).await;
    let (alice, alice_token) = app.user_with_token("alice", false).await;
    app.create_user("bob", false).await;
    let path = format!("/api/user/{alice}");
    let resp = app.patch(&path, &staff, json!({})).await;
    resp.assert_error(400, "MISSING_FIELDS_ERROR");
    assert_eq!(
        resp.body["fields"],
        json!(["username", "email", "password", "staff"])
    );
    app.patch(&path, &staff, json!({"username": "Bob"}))
        .await
        .assert_error(409, "USER_EXISTS_ERROR");
    app.patch(&path, &staff, json!({"email": "BOB@example.com"}))
        .await
        .assert_error(409, "USER_EXISTS_ERROR");
    app.patch(&path, &staff, json!({"username": "no spaces allowed"}))
        .await
        .assert_error(400, "MISSING_FIELDS_ERROR");
    app.patch("/api/user/999", &staff, json!({"staff": true}))
        .await
        .assert_error(404, "INVALID_USER_ERROR");
    let resp = app
        .patch(&path, &staff, json!({"username": "Alicia", "staff": true}))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["username"], "alicia");
    assert_eq!(resp.body["staff"], true);
    assert_eq!(
        app.get("/api/users", &alice_token).await.status,
        200,
        "alice is staff now"
    );
    // A new password set by staff ends the account's sessions.
    let resp = app
        .patch(&path, &staff, json!({"password": "new password"}))
        .await;
    assert_eq!(resp.status, 200);
    app.get("/api/user/session", &alice_token)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    let login = app
        .call(
            reqwest::Method::POST,
            "/api/user/session",
            None,
            Some(json!({"username": "alicia", "password": "new password"})),
        )
        .await;
    assert_eq!(login.status, 201);
    Ok(())
}

#[tokio::test]
async fn ban_toggles_and_shuts_the_user_out() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, staff) = app.user_with_token("boss", true).await;
    let (alice, alice_token) = app.user_with_token("alice", false).await;
    let banned = app
        .patch(&format!("/api/user/{alice}/ban"), &staff, json!({}))
        .await;
    assert_eq!(banned.status, 200);
    assert!(banned.body["bannedAt"].is_string());
    for path in ["/api/user/session", "/api/user/sessions", "/api/user"] {
        app.get(path, &alice_token)
            .await
            .assert_error(403, "BANNED_ERROR");
    }
    app.call(
        reqwest::Method::POST,
        "/api/user/session",
        None,
        Some(json!({"username": "alice", "password": PASSWORD})),
    )
    .await
    .assert_error(403, "BANNED_ERROR");
    let unbanned = app
        .patch(&format!("/api/user/{alice}/ban"), &staff, json!({}))
        .await;
    assert_eq!(unbanned.body["bannedAt"], serde_json::Value::Null);
    assert_eq!(
        app.get("/api/user/session", &alice_token).await.status,
        200,
        "unbanning restores sessions"
    );
    app.patch("/api/user/999/ban", &staff, json!({}))
        .await
        .assert_error(404, "INVALID_USER_ERROR");
    Ok(())
}

#[tokio::test]
async fn delete_users_takes_their_sessions() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, staff) = app.user_with_token("boss", true).await;
    let (alice, alice_token) = app.user_with_token("alice", false).await;
    let deleted = app
        .delete(&format!("/api/user/{alice}"), &staff, None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["username"], "alice");
    app.get("/api/user/session", &alice_token)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    app.delete(&format!("/api/user/{alice}"), &staff, None)
        .await
        .assert_error(404, "INVALID_USER_ERROR");
    let count = app
        .store
        .list_sessions(
            alice,
            app.now_s(),
            thunderhead::domain::Page {
                limit: 50,
                offset: 0,
            },
        )
        .await?;
    assert_eq!(count, None, "the account is gone, and its sessions with it");

    let (bob, bob_token) = app.user_with_token("bob", false).await;
    let carol = app.create_user("carol", false).await;
    let bulk = app
        .delete(
            "/api/users",
            &staff,
            Some(json!({"users": [bob.to_string(), carol.to_string(), "12345", "x"]})),
        )
        .await;
    assert_eq!(bulk.body, json!({"count": 2, "type": "user"}));
    app.get("/api/user/session", &bob_token)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    let bad = app
        .delete("/api/users", &staff, Some(json!({"users": 3})))
        .await;
    bad.assert_error(400, "MISSING_FIELDS_ERROR");
    assert_eq!(bad.body["fields"], json!(["users"]));
    // A deleted user's ID is never handed out again.
    let dave = app.create_user("dave", false).await;
    assert!(dave.0 > carol.0);
    Ok(())
}

#[tokio::test]
async fn staff_find_accounts_by_any_part_of_a_name_or_email() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, staff) = app.user_with_token("boss", true).await;
    let (_, alice_token) = app.user_with_token("alice", false).await;
    for (name, email) in [
        ("alicia", "alicia@work.example"),
        ("bob", "Bob.Builder@Example.com"),
        ("carol_99", "c%99@x_y.example"),
        ("dave", "dave@example.org"),
    ] {
        let account = thunderhead::service::NewAccount {
            username: name.into(),
            email: email.into(),
            password: PASSWORD.into(),
            staff: false,
        };
        app.state.app.create_account(account).await?;
    }
    let names = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|u| u["username"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (text, expected) in [
        ("ALI", vec!["alicia", "alice"]),
        ("lic", vec!["alicia", "alice"]),
        ("builder", vec!["bob"]),
        ("example.com", vec!["bob", "alice", "boss"]),
        ("c%9", vec!["carol_99"]),
        ("_", vec!["carol_99"]),
        ("%", vec!["carol_99"]),
        ("\"", vec![]),
        ("org", vec!["dave"]),
        ("99", vec!["carol_99"]),
        ("zz", vec![]),
        ("nobody-has-this", vec![]),
    ] {
        let path = format!("/api/users?search={}", urlencode(text));
        let resp = app.get(&path, &staff).await;
        assert_eq!(resp.status, 200, "{text}: {}", resp.body);
        assert_eq!(names(&resp.body), expected, "{text}");
        assert_eq!(resp.body["count"], expected.len(), "{text}");
    }
    // Paged: count is every match, items one page of them, newest first.
    let resp = app
        .get("/api/users?search=example&limit=2&offset=1", &staff)
        .await;
    assert_eq!(resp.body["count"], 6);
    assert_eq!(names(&resp.body), vec!["carol_99", "bob"]);
    // 1 to 100 characters.
    for bad in [String::new(), "x".repeat(101)] {
        app.get(&format!("/api/users?search={bad}"), &staff)
            .await
            .assert_error(400, "MISSING_FIELDS_ERROR");
    }
    assert_eq!(
        app.get(&format!("/api/users?search={}", "x".repeat(100)), &staff)
            .await
            .status,
        200
    );
    // Staff only, as the list is.
    app.get("/api/users?search=ali", &alice_token)
        .await
        .assert_error(403, "INSUFFICIENT_PERMISSIONS_ERROR");
    // Renamed and deleted accounts are found as they are now.
    let alicia = app
        .state
        .app
        .find_account("alicia")
        .await?
        .ok_or("alicia")?;
    app.patch(
        &format!("/api/user/{}", alicia.id),
        &staff,
        json!({"username": "zelda"}),
    )
    .await;
    let resp = app.get("/api/users?search=zel", &staff).await;
    assert_eq!(names(&resp.body), vec!["zelda"]);
    let resp = app.get("/api/users?search=alic", &staff).await;
    assert_eq!(
        names(&resp.body),
        vec!["zelda", "alice"],
        "the email still says alicia"
    );
    app.delete(&format!("/api/user/{}", alicia.id), &staff, None)
        .await;
    let resp = app.get("/api/users?search=zel", &staff).await;
    assert_eq!(resp.body["count"], 0);
    Ok(())
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
