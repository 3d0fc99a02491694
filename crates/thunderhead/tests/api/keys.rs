//! The key set (API.md 2.3): `kid` on every token, a JWK Set an independent JWT library can
//! verify with, rotation and retirement from the CLI followed by every running instance
//! within 10 s, and kid-less tokens verifying against the key file's key until it retires.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::cli::{spawn_server, Env};
use crate::helpers::{TestApp, TestResult};
use crate::process::{wait_for, Process};
use crate::tokens::{b64, claims_of};

/// API.md: every instance follows a key change within 10 s.
const FOLLOWS_WITHIN: Duration = Duration::from_secs(10);

fn kid_of(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    header["kid"].as_str().map(str::to_owned)
}

/// A token for the same session as `token`, signed by `pem`'s key without a `kid`: as the
/// original Cumulonimbus, and this server before keys had IDs, signed them.
fn kid_less(pem: &str, token: &str) -> String {
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::DecodePrivateKey;
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(pem).expect("the key file is PKCS#8");
    let signed = format!(
        "{}.{}",
        b64(&json!({"alg": "ES256", "typ": "JWT"})),
        b64(&claims_of(token))
    );
    let signature: p256::ecdsa::Signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

#[tokio::test]
async fn the_jwk_set_verifies_tokens_with_an_independent_library() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, token) = app.user_with_token("alice", false).await;
    let client = reqwest::Client::new();
    let mut sets = Vec::new();
    for path in ["/.well-known/jwks.json", "/api/.well-known/jwks.json"] {
        let resp = client.get(format!("{}{path}", app.base)).send().await?;
        assert_eq!(resp.status(), 200, "{path}");
        sets.push(resp.json::<Value>().await?);
    }
    assert_eq!(sets[0], sets[1]);
    let keys = sets[0]["keys"].as_array().ok_or("keys")?;
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    for (field, value) in [
        ("kty", "EC"),
        ("crv", "P-256"),
        ("alg", "ES256"),
        ("use", "sig"),
    ] {
        assert_eq!(jwk[field], value, "{jwk}");
    }
    assert!(jwk.get("d").is_none(), "no private part: {jwk}");
    assert_eq!(jwk["kid"].as_str(), kid_of(&token).as_deref());

    // jsonwebtoken (not this crate's code) checks the signature with the published key.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone())?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation)?;
    assert_eq!(data.claims["sub"], alice.to_string());
    assert_eq!(data.header.kid.as_deref(), kid_of(&token).as_deref());
    // And refuses a token whose claims were changed.
    let [header, _, signature] =
        <[&str; 3]>::try_from(token.split('.').collect::<Vec<_>>()).map_err(|_| "shape")?;
    let mut claims = claims_of(&token);
    claims["sub"] = json!("999");
    let forged = format!("{header}.{}.{signature}", b64(&claims));
    assert!(jsonwebtoken::decode::<Value>(&forged, &key, &validation).is_err());
    Ok(())
}

#[tokio::test]
async fn private_keys_are_sealed_in_the_database() -> TestResult {
    let app = TestApp::spawn().await;
    let rows = app.store.signing_keys().await?;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert!(row.legacy, "the key file's key verifies kid-less tokens");
    assert!(row.public_key.contains("BEGIN PUBLIC KEY"));
    assert!(
        !row.private_key.contains("PRIVATE KEY") && row.private_key.len() > 40,
        "sealed, not PEM"
    );
    assert!(
        !format!("{row:?}").contains(&row.private_key),
        "Debug leaves it out"
    );
    Ok(())
}

/// Two `thunderhead serve` processes on one database (a SQLite file or a PostgreSQL schema)
/// and the CLI in a third: a rotation and a retirement reach both servers within 10 s.
#[tokio::test]
async fn rotation_and_retirement_reach_every_running_instance() -> TestResult {
    let env = Env::new().await?;
    let limits_off = [("THUNDERHEAD_RATE_LIMITS", "off")];
    let (server_a, a) = spawn_server(&env, &limits_off).await?;
    let (server_b, b) = spawn_server(&env, &limits_off).await?;
    let servers: [Process; 2] = [server_a, server_b];
    let (code, _, err) = env.run(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "a@example.com",
        ],
        "alice pass\n",
    )?;
    assert_eq!(code, 0, "{err}");
    let client = reqwest::Client::new();
    let login = |base: String| {
        let client = client.clone();
        async move {
            let resp = client
                .post(format!("{base}/api/user/session"))
                .json(&json!({"username": "alice", "password": "alice pass"}))
                .send()
                .await
                .ok()?;
            let body: Value = resp.json().await.ok()?;
            body["token"].as_str().map(str::to_owned)
        }
    };
    let status = |base: &str, token: &str| {
        let request = client
            .get(format!("{base}/api/user/session"))
            .header("Authorization", token);
        async move {
            request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let jwks_kids = |base: &str| {
        let request = client.get(format!("{base}/.well-known/jwks.json"));
        async move {
            let set: Value = request.send().await.ok()?.json().await.ok()?;
            let mut kids: Vec<String> = set["keys"]
                .as_array()?
                .iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect();
            kids.sort();
            Some(kids)
        }
    };

    let old = login(a.clone()).await.ok_or("login on a")?;
    let first_kid = kid_of(&old).ok_or("kid")?;
    let pem = std::fs::read_to_string(env.dir.path().join("thunderhead-key.pem"))?;
    let legacy = kid_less(&pem, &old);
    for base in [&a, &b] {
        assert_eq!(status(base, &old).await, 200);
        assert_eq!(
            status(base, &legacy).await,
            200,
            "kid-less, by the key file's key"
        );
    }

    let (code, out, err) = env.run(&["keys", "rotate"], "")?;
    assert_eq!(code, 0, "{err}");
    let second_kid = out.trim().to_owned();
    assert_eq!(second_kid.len(), 16, "{out}");
    assert_ne!(second_kid, first_kid);
    let started = std::time::Instant::now();
    for base in [&a, &b] {
        wait_for(
            &format!("{base} to sign with the new key"),
            FOLLOWS_WITHIN,
            || {
                let login = login(base.clone());
                let wanted = second_kid.clone();
                async move { login.await.filter(|t| kid_of(t) == Some(wanted)) }
            },
        )
        .await?;
    }
    let followed = started.elapsed();
    for base in [&a, &b] {
        assert_eq!(status(base, &old).await, 200, "older keys keep verifying");
        let mut both = vec![first_kid.clone(), second_kid.clone()];
        both.sort();
        assert_eq!(jwks_kids(base).await, Some(both));
    }
    let (code, out, _) = env.run(&["keys", "list"], "")?;
    assert_eq!(code, 0);
    assert!(
        out.contains(&first_kid) && out.contains(&second_kid),
        "{out}"
    );
    assert!(out.contains("signs new tokens"), "{out}");

    let (code, _, err) = env.run(&["keys", "retire", &first_kid], "")?;
    assert_eq!(code, 0, "{err}");
    for base in [&a, &b] {
        wait_for(
            &format!("{base} to refuse the retired key"),
            FOLLOWS_WITHIN,
            || {
                let answer = status(base, &old);
                async move { (answer.await == 401).then_some(()) }
            },
        )
        .await?;
        assert_eq!(
            status(base, &legacy).await,
            401,
            "retiring the key file's key ends kid-less tokens too"
        );
        assert_eq!(jwks_kids(base).await, Some(vec![second_kid.clone()]));
    }
    let newest = login(b.clone()).await.ok_or("login on b")?;
    assert_eq!(status(&a, &newest).await, 200);

    let (code, _, err) = env.run(&["keys", "retire", &second_kid], "")?;
    assert_eq!(code, 2, "the last live key stays: {err}");
    assert!(err.contains("last live key"), "{err}");
    let (code, _, err) = env.run(&["keys", "retire", "0000000000000000"], "")?;
    assert_eq!(code, 2, "{err}");
    eprintln!("both instances signed with a rotated key {followed:?} after `keys rotate`");

    // No key, public or sealed, ever reaches a log line.
    let store = thunderhead::store::connect(
        &thunderhead::store::DatabaseUrl::new(env.db.url()),
        &Default::default(),
    )
    .await?;
    for server in &servers {
        let log = server.output();
        assert!(
            !log.contains("PRIVATE KEY") && !log.contains(pem.trim()),
            "{log}"
        );
        for row in store.signing_keys().await? {
            assert!(!log.contains(&row.private_key), "{log}");
        }
    }
    Ok(())
}

/// `thunderhead client create | list | revoke` against a running server in another process:
/// the secret is printed once, alone on standard output, and stops working at once.
#[tokio::test]
async fn service_clients_from_the_cli_are_seen_by_a_running_server_at_once() -> TestResult {
    let env = Env::new().await?;
    let (_server, base) = spawn_server(&env, &[("THUNDERHEAD_RATE_LIMITS", "off")]).await?;
    let (code, _, err) = env.run(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "a@example.com",
        ],
        "alice pass\n",
    )?;
    assert_eq!(code, 0, "{err}");
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{base}/api/user/session"))
        .json(&json!({"username": "alice", "password": "alice pass"}))
        .send()
        .await?
        .json()
        .await?;
    let token = token["token"].as_str().unwrap_or_default().to_owned();

    let (code, out, err) = env.run(&["client", "create", "files"], "")?;
    assert_eq!(code, 0, "{err}");
    let secret = out.trim_end_matches('\n');
    assert_eq!(out.lines().count(), 1, "the secret alone: {out:?}");
    assert_eq!(secret.len(), 43, "256 bits, base64url: {secret}");
    assert!(!err.contains(secret), "the secret only on standard output");
    let (code, _, err) = env.run(&["client", "create", "files"], "")?;
    assert_eq!(code, 2, "a live name is taken: {err}");
    let (code, listed, _) = env.run(&["client", "list"], "")?;
    assert_eq!(code, 0);
    assert!(
        listed.contains("files") && !listed.contains(secret),
        "{listed}"
    );

    let introspect = |secret: String| {
        let request = client
            .post(format!("{base}/api/introspect"))
            .basic_auth("files", Some(secret))
            .form(&[("token", token.as_str())]);
        async move {
            let resp = request.send().await.expect("introspect");
            (
                resp.status().as_u16(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = introspect(secret.to_owned()).await;
    assert_eq!(
        (status, body["active"].clone(), body["username"].clone()),
        (200, json!(true), json!("alice"))
    );
    let (code, _, err) = env.run(&["client", "revoke", "files"], "")?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        introspect(secret.to_owned()).await.0,
        401,
        "refused on the very next call"
    );
    let (code, _, _) = env.run(&["client", "revoke", "files"], "")?;
    assert_eq!(code, 2, "nothing left to revoke");
    Ok(())
}
