//! Every kind of bad token is 401 InvalidSession, and never a 500.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use thunderhead::domain::token::{Claims, KeyPair};

use crate::helpers::{TestApp, TestResult};

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap_or_default();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap_or_default())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn forged_tampered_and_foreign_tokens_are_refused() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, token) = app.user_with_token("alice", false).await;
    let (_, _staff_token) = app.user_with_token("boss", true).await;
    let claims = claims_of(&token);
    let [header, _, signature] =
        <[&str; 3]>::try_from(token.split('.').collect::<Vec<_>>()).map_err(|_| "token shape")?;

    // Same claims, another key.
    let other_key = KeyPair::generate().sign(&serde_json::from_value::<Claims>(claims.clone())?);
    // Claims changed to another user (the staff member), original signature kept.
    let mut escalated = claims.clone();
    escalated["sub"] = json!("2");
    let tampered = format!("{header}.{}.{signature}", b64(&escalated));
    // alg: none, with and without a signature.
    let none_header = b64(&json!({"alg": "none", "typ": "JWT"}));
    let alg_none = format!("{none_header}.{}.", b64(&claims));
    let alg_none_sig = format!("{none_header}.{}.{signature}", b64(&claims));
    // HS256 keyed with the server's public key (the classic algorithm-confusion attack).
    let hs_header = b64(&json!({"alg": "HS256", "typ": "JWT"}));
    let signing_input = format!("{hs_header}.{}", b64(&claims));
    let public_pem = app.store.signing_keys().await?[0].public_key.clone();
    let mut mac = Hmac::<Sha256>::new_from_slice(public_pem.as_bytes())?;
    mac.update(signing_input.as_bytes());
    let hs256 = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    // A flipped signature byte.
    let mut sig = URL_SAFE_NO_PAD.decode(signature)?;
    sig[10] ^= 1;
    let bad_sig = format!(
        "{header}.{}.{}",
        token.split('.').nth(1).unwrap_or_default(),
        URL_SAFE_NO_PAD.encode(sig)
    );

    for (what, bad) in [
        ("other key", other_key),
        ("tampered claims", tampered),
        ("alg none", alg_none),
        ("alg none with signature", alg_none_sig),
        ("HS256 with public key", hs256),
        ("flipped signature", bad_sig),
        ("garbage", "garbage".to_owned()),
        ("empty", String::new()),
        ("four parts", format!("{token}.x")),
        ("huge", "a".repeat(8000)),
        ("non-base64", "!!!.???.###".to_owned()),
    ] {
        let resp = app.get("/api/user/session", &bad).await;
        assert_eq!(resp.status, 401, "{what}: {}", resp.body);
        assert_eq!(resp.body["code"], "INVALID_SESSION_ERROR", "{what}");
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"), "{what}");
    }
    // The genuine token still works, also with the Bearer prefix.
    assert_eq!(app.get("/api/user/session", &token).await.status, 200);
    assert_eq!(
        app.get("/api/user/session", &format!("Bearer {token}"))
            .await
            .status,
        200
    );
    assert_eq!(claims["sub"], alice.to_string());
    Ok(())
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_refused() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, token) = app.user_with_token("alice", false).await;
    // A correctly signed token for a session that was never created.
    let claims = claims_of(&token);
    let never = app
        .state
        .app
        .tokens()
        .sign(&Claims {
            sub: alice.to_string(),
            name: "ghost".into(),
            iat: claims["iat"].as_i64().unwrap_or_default() + 1000,
            exp: claims["exp"].as_i64().unwrap_or_default(),
        })
        .ok_or("the key set signs")?;
    app.get("/api/user/session", &never)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    // Revoked.
    let revoked = app.login("alice").await;
    let iat = claims_of(&revoked)["iat"].clone();
    app.delete(&format!("/api/user/session/{iat}"), &token, None)
        .await;
    app.get("/api/user/session", &revoked)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    // Expired.
    app.clock.advance_secs(24 * 3600);
    app.get("/api/user/session", &token)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    Ok(())
}

/// Speed must not cost a guarantee: a token that was just served (its signature cached) is
/// refused on the very next request once its session is revoked, its owner banned, its
/// password changed, or its time is up.
#[tokio::test]
async fn a_warm_token_is_refused_on_the_very_next_request() -> TestResult {
    let app = TestApp::spawn().await;
    let (_, staff) = app.user_with_token("boss", true).await;
    let (alice, first) = app.user_with_token("alice", false).await;
    let app = &app;
    let warm = |token: String| async move {
        for _ in 0..3 {
            assert_eq!(app.get("/api/user/session", &token).await.status, 200);
        }
        token
    };
    // Revoked by its owner from another session.
    let other = warm(app.login("alice").await).await;
    let iat = claims_of(&other)["iat"].clone();
    app.delete(&format!("/api/user/session/{iat}"), &first, None)
        .await;
    app.get("/api/user/session", &other)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    // Revoked by staff, all at once.
    let first = warm(first).await;
    app.delete(&format!("/api/user/{alice}/sessions/all"), &staff, None)
        .await;
    app.get("/api/user/session", &first)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    // Banned, and let back in.
    let token = warm(app.login("alice").await).await;
    app.patch(&format!("/api/user/{alice}/ban"), &staff, json!({}))
        .await;
    app.get("/api/user/session", &token)
        .await
        .assert_error(403, "BANNED_ERROR");
    app.patch(&format!("/api/user/{alice}/ban"), &staff, json!({}))
        .await;
    assert_eq!(app.get("/api/user/session", &token).await.status, 200);
    // A new password ends the other sessions.
    let other = warm(app.login("alice").await).await;
    let changed = app
        .patch(
            "/api/user",
            &token,
            json!({"password": crate::helpers::PASSWORD, "newPassword": "another one"}),
        )
        .await;
    assert_eq!(changed.status, 200);
    app.get("/api/user/session", &other)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    // Expired.
    let token = warm(token).await;
    // A day from its ID, which may be a few seconds past its login (the IDs of one user's
    // logins in one second count up).
    let iat = app.get("/api/user/session", &token).await.body["iat"]
        .as_i64()
        .unwrap_or_default();
    app.clock.advance_secs(iat + 24 * 3600 - app.now_s());
    app.get("/api/user/session", &token)
        .await
        .assert_error(401, "INVALID_SESSION_ERROR");
    Ok(())
}

/// The same token with its signature's S replaced by n - S, which plain ECDSA also accepts.
fn high_s_twin(token: &str) -> String {
    use p256::ecdsa::Signature;
    let (signed, signature) = token.rsplit_once('.').unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    let signature = Signature::from_slice(&bytes).expect("a P-256 signature");
    let (r, s) = signature.split_scalars();
    let twin = Signature::from_scalars(r, -*s).expect("n - s is a valid scalar");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(twin.to_bytes()))
}

#[tokio::test]
async fn a_token_has_one_spelling_and_names_its_key() -> TestResult {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    for _ in 0..8 {
        let token = app.login("alice").await;
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap_or_default())?,
        )?;
        assert_eq!(header["alg"], "ES256");
        assert_eq!(
            header["kid"].as_str(),
            app.state.app.tokens().signing_kid().as_deref()
        );
        assert_eq!(app.get("/api/user/session", &token).await.status, 200);
        app.get("/api/user/session", &high_s_twin(&token))
            .await
            .assert_error(401, "INVALID_SESSION_ERROR");
    }
    Ok(())
}

#[tokio::test]
async fn a_password_hashed_at_an_older_cost_is_rehashed_at_login() -> TestResult {
    use thunderhead::clock::Clock;
    use thunderhead::domain::password::HashCost;
    use thunderhead::hashing::PasswordHasher;
    use thunderhead::store::NewUser;
    let app = TestApp::spawn().await;
    // An account whose hash was made when the cost was lower.
    let older = HashCost {
        memory_kib: 128,
        ..crate::helpers::TEST_HASH_COST
    };
    let old_hash = PasswordHasher::new(older, 1, 1)?
        .hash(crate::helpers::PASSWORD.into())
        .await?;
    let user = app
        .store
        .create_user(
            &NewUser {
                username: "alice".into(),
                email: "alice@example.com".into(),
                password_hash: old_hash.clone(),
                staff: false,
            },
            app.clock.now_ms(),
        )
        .await?;
    let first = app.login("alice").await;
    let stored = app
        .store
        .user_by_id(user.id)
        .await?
        .map(|u| u.password_hash)
        .unwrap_or_default();
    assert_ne!(stored, old_hash, "rehashed");
    let cost = crate::helpers::TEST_HASH_COST;
    assert!(
        stored.starts_with(&format!(
            "$argon2id$v=19$m={},t={},p={}$",
            cost.memory_kib, cost.iterations, cost.parallelism
        )),
        "{stored}"
    );
    // Same password, same sessions: nothing else changed.
    assert_eq!(app.get("/api/user/session", &first).await.status, 200);
    let again = app.login("alice").await;
    assert_eq!(app.get("/api/user/session", &again).await.status, 200);
    let unchanged = app
        .store
        .user_by_id(user.id)
        .await?
        .map(|u| u.password_hash);
    assert_eq!(unchanged, Some(stored), "an up-to-date hash is left alone");
    Ok(())
}
