use serde_json::json;

use crate::helpers::{TestApp, TestResult};

#[tokio::test]
async fn list_is_newest_first_and_paginated() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let mut tokens = Vec::new();
    for _ in 0..7 {
        tokens.push(app.login("alice").await);
    }
    let token = &tokens[0];
    let all = app.get("/api/user/sessions", token).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["count"], 7);
    let iats: Vec<i64> = all.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|s| s["iat"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(iats.len(), 7);
    assert!(
        iats.windows(2).all(|w| w[0] > w[1]),
        "newest first: {iats:?}"
    );
    let page = app.get("/api/user/sessions?limit=3&offset=2", token).await;
    assert_eq!(page.body["count"], 7, "count is the total, not the page");
    let page_iats: Vec<i64> = page.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|s| s["iat"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(page_iats, iats[2..5]);
    for bad in [
        "limit=0",
        "limit=-5",
        "limit=abc",
        "limit=51",
        "offset=-1&limit=999",
        "offset=zz",
    ] {
        let resp = app.get(&format!("/api/user/sessions?{bad}"), token).await;
        assert_eq!(resp.status, 200, "{bad}");
        assert_eq!(
            resp.body["items"].as_array().map(Vec::len),
            Some(7),
            "{bad}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn get_and_delete_one_session() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let first = app.login("alice").await;
    let second = app.login("alice").await;
    let second_iat = app.get("/api/user/session", &second).await.body["iat"].clone();
    let resp = app
        .get(&format!("/api/user/session/{second_iat}"), &first)
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body["iat"], second_iat);
    app.get("/api/user/session/12345", &first)
        .await
        .assert_error(404, "INVALID_SESSION_ERROR");
    app.get("/api/user/session/not-a-number", &first)
        .await
        .assert_error(404, "INVALID_SESSION_ERROR");
    let deleted = app
        .delete(&format!("/api/user/session/{second_iat}"), &first, None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        deleted.body,
        json!({"code": "GENERIC_SUCCESS", "message": "Session Deleted"})
    );
    app.get("/api/user/session", &second)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    app.delete(&format!("/api/user/session/{second_iat}"), &first, None)
        .await
        .assert_error(404, "INVALID_SESSION_ERROR");
    Ok(())
}

#[tokio::test]
async fn users_cannot_see_or_end_each_others_sessions() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, alice) = app.user_with_token("alice", false).await;
    // IDs are unique per user; a later second keeps bob's ID apart from any of alice's.
    app.clock.advance_secs(5);
    let (_, bob) = app.user_with_token("bob", false).await;
    let bob_iat = app.get("/api/user/session", &bob).await.body["iat"].clone();
    app.get(&format!("/api/user/session/{bob_iat}"), &alice)
        .await
        .assert_error(404, "INVALID_SESSION_ERROR");
    app.delete(&format!("/api/user/session/{bob_iat}"), &alice, None)
        .await
        .assert_error(404, "INVALID_SESSION_ERROR");
    let bulk = app
        .delete(
            "/api/user/sessions",
            &alice,
            Some(json!({"sessions": [bob_iat.to_string()]})),
        )
        .await;
    assert_eq!(bulk.body["count"], 0);
    assert_eq!(app.get("/api/user/session", &bob).await.status, 200);
    Ok(())
}

#[tokio::test]
async fn bulk_delete_counts_what_it_deleted() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let keeper = app.login("alice").await;
    let mut iats = Vec::new();
    for _ in 0..3 {
        let token = app.login("alice").await;
        iats.push(app.get("/api/user/session", &token).await.body["iat"].to_string());
    }
    let mut listed = iats.clone();
    listed.push("99".into());
    listed.push("garbage".into());
    let resp = app
        .delete(
            "/api/user/sessions",
            &keeper,
            Some(json!({"sessions": listed})),
        )
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, json!({"count": 3, "type": "session"}));
    assert_eq!(
        app.get("/api/user/sessions", &keeper).await.body["count"],
        1
    );
    // Form bodies give arrays as repeated keys, with or without brackets.
    let extra = app.login("alice").await;
    let extra_iat = app.get("/api/user/session", &extra).await.body["iat"].to_string();
    let form = app
        .send(
            app.client
                .delete(format!("{}/api/user/sessions", app.base))
                .header("Authorization", &keeper)
                .form(&[("sessions[]", extra_iat.as_str()), ("sessions[]", "1")]),
        )
        .await;
    assert_eq!(form.body["count"], 1, "{}", form.body);
    Ok(())
}

#[tokio::test]
async fn bulk_delete_rejects_bad_lists() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with_token("alice", false).await;
    let too_many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    for body in [
        json!({}),
        json!({"sessions": "1"}),
        json!({"sessions": 5}),
        json!({"sessions": too_many}),
        json!({"sessions": [{"a": 1}]}),
    ] {
        let resp = app
            .delete("/api/user/sessions", &token, Some(body.clone()))
            .await;
        resp.assert_error(400, "MISSING_FIELDS_ERROR");
        assert_eq!(resp.body["fields"], json!(["sessions"]), "{body}");
    }
    let hundred: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let resp = app
        .delete(
            "/api/user/sessions",
            &token,
            Some(json!({"sessions": hundred})),
        )
        .await;
    assert_eq!(resp.status, 200, "exactly 100 is allowed");
    Ok(())
}

#[tokio::test]
async fn delete_all_with_and_without_self() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let me = app.login("alice").await;
    let other = app.login("alice").await;
    app.login("alice").await;
    let resp = app
        .delete("/api/user/sessions/all?allButSelf=true", &me, None)
        .await;
    assert_eq!(resp.body, json!({"count": 2, "type": "session"}));
    assert_eq!(app.get("/api/user/session", &me).await.status, 200);
    app.get("/api/user/session", &other)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    app.login("alice").await;
    let resp = app
        .delete("/api/user/sessions/all?allButSelf=false", &me, None)
        .await;
    assert_eq!(resp.body["count"], 2);
    app.get("/api/user/session", &me)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    Ok(())
}

#[tokio::test]
async fn expired_sessions_are_never_listed_counted_or_accepted() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let short = app.login("alice").await;
    let resp = app
        .call(
            reqwest::Method::POST,
            "/api/user/session",
            None,
            Some(json!({"username": "alice", "password": crate::helpers::PASSWORD, "rememberMe": true})),
        )
        .await;
    let long = resp.body["token"].as_str().unwrap_or_default().to_owned();
    let short_iat = app.get("/api/user/session", &short).await.body["iat"].clone();
    app.clock.advance_secs(24 * 3600 + 1);
    app.get("/api/user/session", &short)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    let list = app.get("/api/user/sessions", &long).await;
    assert_eq!(list.body["count"], 1);
    app.get(&format!("/api/user/session/{short_iat}"), &long)
        .await
        .assert_error(404, "INVALID_SESSION_ERROR");
    let bulk = app
        .delete(
            "/api/user/sessions",
            &long,
            Some(json!({"sessions": [short_iat.to_string()]})),
        )
        .await;
    assert_eq!(
        bulk.body["count"], 0,
        "an expired session is not counted as deleted"
    );
    Ok(())
}
