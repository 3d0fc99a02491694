//! `thunderhead import cumulonimbus` against a Cumulonimbus-3-shaped database built in
//! PostgreSQL from API.md's table description, into SQLite or PostgreSQL (whichever the
//! environment selects), checked through the HTTP API: tokens the original issued, bcrypt
//! passwords of several costs, bans, staff, IDs, lists, a dry run, and a second run.
//! The source needs PostgreSQL (`TEST_SOURCE_DATABASE_URL`, else `TEST_DATABASE_URL`), so the
//! test is ignored unless asked for; CI runs it into both backends.

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::ConnectOptions;

use crate::cli::{spawn_server, Env};
use crate::helpers::TestResult;

fn source_admin_url() -> String {
    std::env::var("TEST_SOURCE_DATABASE_URL")
        .ok()
        .or_else(crate::helpers::postgres_url)
        .filter(|u| !u.is_empty())
        .expect("the import test needs PostgreSQL for its source: TEST_SOURCE_DATABASE_URL or TEST_DATABASE_URL")
}

/// The original's schema, from API.md 2.5, with a file-hosting table beside it.
const SCHEMA: &str = r#"
CREATE TABLE "Users" (
    id          VARCHAR(255) PRIMARY KEY,
    username    VARCHAR(255) NOT NULL,
    email       VARCHAR(255) NOT NULL,
    staff       BOOLEAN NOT NULL DEFAULT FALSE,
    password    VARCHAR(255) NOT NULL,
    domain      VARCHAR(255) NOT NULL,
    subdomain   VARCHAR(255),
    "bannedAt"  TIMESTAMPTZ,
    sessions    JSONB[],
    "createdAt" TIMESTAMPTZ NOT NULL,
    "updatedAt" TIMESTAMPTZ NOT NULL
);
CREATE TABLE "Files" (id VARCHAR(255) PRIMARY KEY, userid VARCHAR(255), filename TEXT);
INSERT INTO "Files" VALUES ('abc.png', '1667700000001', 'cat.png');
"#;

struct Source {
    admin: String,
    schema: String,
}

impl Source {
    async fn create() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let admin = source_admin_url();
        let schema = format!("cumulo_{}", rand::random::<u32>());
        let mut conn = PgConnectOptions::from_str(&admin)?.connect().await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await?;
        sqlx::raw_sql(&format!("SET search_path TO {schema}; {SCHEMA}"))
            .execute(&mut conn)
            .await?;
        Ok(Self { admin, schema })
    }

    fn url(&self) -> String {
        let sep = if self.admin.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.admin, self.schema
        )
    }

    async fn conn(&self) -> Result<sqlx::PgConnection, sqlx::Error> {
        PgConnectOptions::from_str(&self.url())?.connect().await
    }

    /// Everything in the source, to show the import changed nothing there.
    async fn fingerprint(&self) -> Result<String, sqlx::Error> {
        let mut conn = self.conn().await?;
        sqlx::query_scalar(
            r#"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM
               (SELECT u::text AS t FROM "Users" u UNION ALL SELECT f::text FROM "Files" f) x"#,
        )
        .fetch_one(&mut conn)
        .await
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        crate::helpers::drop_schema(&self.admin, &self.schema);
    }
}

/// A token as the original signed it: header without `kid`, claims `sub`, `name`, `iat`, `exp`.
fn original_token(
    key: &p256::ecdsa::SigningKey,
    sub: &str,
    name: &str,
    iat: i64,
    exp: i64,
) -> String {
    use p256::ecdsa::signature::Signer;
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let signed = format!(
        "{}.{}",
        b64(json!({"alg": "ES256", "typ": "JWT"})),
        b64(json!({"sub": sub, "name": name, "iat": iat, "exp": exp}))
    );
    let signature: p256::ecdsa::Signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

const ALICE: &str = "1667700000001";
const BOB: &str = "1667700000002";
const CAROL: &str = "1667700000003";
const DAVE: &str = "1667700000004";

#[tokio::test]
#[ignore = "needs PostgreSQL for the source database (TEST_SOURCE_DATABASE_URL or TEST_DATABASE_URL); CI runs it"]
async fn a_cumulonimbus_database_comes_across_whole() -> TestResult {
    let source = Source::create().await?;
    let now = chrono::Utc::now().timestamp();
    let (live, later) = (now - 3_600, now + 86_400);
    // Sessions as the original kept them: a live one and its same-second twin (a later
    // expiry), an expired one, a malformed element; bob's are NULL, dave's an empty array.
    let alice_sessions = json!([
        {"iat": live, "exp": later, "name": "Firefox v120 on Linux"},
        {"iat": live, "exp": later + 100, "name": "Firefox v120 on Linux"},
        {"iat": now - 200_000, "exp": now - 100_000, "name": "old"},
        {"iat": live - 10, "exp": later, "name": "ShareX"},
        "not a session"
    ]);
    let carol_sessions = json!([{"iat": live, "exp": later, "name": "phone"}]);
    let mut conn = source.conn().await?;
    let insert = r#"INSERT INTO "Users" (id, username, email, staff, password, domain, subdomain,
        "bannedAt", sessions, "createdAt", "updatedAt")
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8::TIMESTAMPTZ,
                CASE WHEN jsonb_typeof($9::jsonb) = 'array' THEN COALESCE(
                    (SELECT array_agg(e) FROM jsonb_array_elements($9::jsonb) e), '{}'::jsonb[]) END,
                $10::TIMESTAMPTZ, $10::TIMESTAMPTZ)"#;
    let created = "2022-11-06T01:12:06.000Z";
    // (id, username, staff, bcrypt cost, banned at, sessions, password's first word)
    type Row<'a> = (
        &'a str,
        &'a str,
        bool,
        u32,
        Option<&'a str>,
        Option<Value>,
        &'a str,
    );
    let rows: [Row; 6] = [
        (
            ALICE,
            "Alice",
            false,
            4,
            None,
            Some(alice_sessions),
            "alice",
        ),
        (BOB, "bob", true, 5, None, None, "bob"),
        (
            CAROL,
            "carol",
            false,
            6,
            Some("2023-01-01T00:00:00Z"),
            Some(carol_sessions),
            "carol",
        ),
        (DAVE, "dave", false, 7, None, Some(json!([])), "dave"),
        ("not-a-number", "eve", false, 4, None, None, "eve"),
        (
            "1667700000009",
            "has space",
            false,
            4,
            None,
            None,
            "mallory",
        ),
    ];
    for (id, username, staff, cost, banned, sessions, password) in rows {
        sqlx::query(insert)
            .bind(id)
            .bind(username)
            .bind(format!("{}@example.com", username.replace(' ', "")))
            .bind(staff)
            .bind(bcrypt::hash(format!("{password} pass"), cost)?)
            .bind("alekeagle.me")
            .bind((username == "Alice").then_some("alice"))
            .bind(banned)
            .bind(sessions.unwrap_or(Value::Null))
            .bind(created)
            .execute(&mut conn)
            .await?;
    }
    let before = source.fingerprint().await?;

    // The original's key, as `openssl ecparam -genkey` wrote its certs/jwt.pem (SEC1).
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let pem = secret.to_sec1_pem(p256::pkcs8::LineEnding::LF)?;
    let signing = p256::ecdsa::SigningKey::from(&secret);
    let alice_token = original_token(&signing, ALICE, "Firefox v120 on Linux", live, later);
    let sharex_token = original_token(&signing, ALICE, "ShareX", live - 10, later);
    let carol_token = original_token(&signing, CAROL, "phone", live, later);

    let env = Env::new().await?;
    let key_path = env.dir.path().join("jwt.pem");
    std::fs::write(&key_path, pem.as_bytes())?;
    let from = source.url();
    let import = |dry: bool| {
        let mut args = vec!["import", "cumulonimbus", "--from", from.as_str(), "--key"];
        args.push(key_path.to_str().unwrap_or_default());
        if dry {
            args.push("--dry-run");
        }
        env.run(&args, "")
    };
    let count = |report: &str, label: &str| -> Option<u64> {
        report
            .lines()
            .find(|l| l.starts_with(label))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
    };

    // A dry run reports exactly what would happen and changes nothing.
    let (code, report, err) = import(true)?;
    assert_eq!(code, 0, "{err}");
    assert!(report.contains("dry run: nothing was changed"), "{report}");
    assert_eq!(count(&report, "accounts read"), Some(6), "{report}");
    assert_eq!(
        count(&report, "accounts would be added"),
        Some(4),
        "{report}"
    );
    assert_eq!(count(&report, "accounts refused"), Some(2), "{report}");
    assert_eq!(
        count(&report, "sessions would be added"),
        Some(3),
        "{report}"
    );
    assert_eq!(
        count(&report, "duplicate sessions merged"),
        Some(1),
        "{report}"
    );
    assert_eq!(
        count(&report, "expired sessions skipped"),
        Some(1),
        "{report}"
    );
    assert_eq!(
        count(&report, "malformed sessions skipped"),
        Some(1),
        "{report}"
    );
    assert!(
        report.contains("\"not-a-number\"") && report.contains("not a positive decimal"),
        "{report}"
    );
    assert!(
        report.contains("has space") && report.contains("not a valid username"),
        "{report}"
    );
    let store = thunderhead::store::connect(
        &thunderhead::store::DatabaseUrl::new(env.db.url()),
        &Default::default(),
    )
    .await?;
    assert_eq!(
        store
            .list_users(thunderhead::domain::Page::from_query(None, None))
            .await?
            .count,
        0
    );
    assert_eq!(
        store.signing_keys().await?.len(),
        1,
        "the dry run adopted no key"
    );

    // The real run.
    let (code, report, err) = import(false)?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&report, "accounts added"), Some(4), "{report}");
    assert_eq!(count(&report, "sessions added"), Some(3), "{report}");
    assert!(report.contains("now verifies its tokens"), "{report}");
    assert_eq!(
        source.fingerprint().await?,
        before,
        "the source is untouched, files included"
    );

    let (_server, base) = spawn_server(
        &env,
        &[
            ("THUNDERHEAD_RATE_LIMIT_GENERAL", "off"),
            ("THUNDERHEAD_RATE_LIMIT_LOGIN", "off"),
            ("THUNDERHEAD_RATE_LIMIT_REGISTER", "off"),
            ("THUNDERHEAD_RATE_LIMIT_FAILED_PASSWORD", "3/900"),
        ],
    )
    .await?;
    let http = reqwest::Client::new();
    let get = |path: &str, token: &str| {
        let request = http
            .get(format!("{base}/api{path}"))
            .header("Authorization", token);
        async move {
            let resp = request.send().await.expect("request");
            (
                resp.status().as_u16(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let login = |username: &str, password: &str| {
        let request = http
            .post(format!("{base}/api/user/session"))
            .json(&json!({"username": username, "password": password}));
        async move {
            let resp = request.send().await.expect("request");
            (
                resp.status().as_u16(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    // The original's tokens work, with their iat, exp and name; the twin was merged.
    let (status, session) = get("/user/session", &alice_token).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["iat"], live);
    assert_eq!(session["exp"], later + 100, "merged: the later expiry");
    assert_eq!(session["name"], "Firefox v120 on Linux");
    assert_eq!(get("/user/session", &sharex_token).await.0, 200);
    let (_, list) = get("/user/sessions", &alice_token).await;
    assert_eq!(list["count"], 2, "{list}");
    // The account kept its ID, names, domain and dates.
    let (_, user) = get("/user", &alice_token).await;
    assert_eq!(user["id"], ALICE);
    assert_eq!(user["username"], "alice");
    assert_eq!(
        (user["domain"].as_str(), user["subdomain"].as_str()),
        (Some("alekeagle.me"), Some("alice"))
    );
    assert_eq!(user["createdAt"], "2022-11-06T01:12:06.000Z");
    // Bans: the token and a login with the right password are both refused.
    assert_eq!(get("/user/session", &carol_token).await.0, 403);
    assert_eq!(login("carol", "carol pass").await.0, 403);

    // bcrypt passwords of every cost sign in, and are replaced by Argon2id on the way.
    for (name, password) in [
        ("alice", "alice pass"),
        ("bob", "bob pass"),
        ("dave", "dave pass"),
    ] {
        let (status, body) = login(name, password).await;
        assert_eq!(status, 201, "{name}: {body}");
        let hash = store
            .user_by_username(name)
            .await?
            .map(|u| u.password_hash)
            .unwrap_or_default();
        assert!(hash.starts_with("$argon2id$"), "{name}: {hash}");
        assert_eq!(
            login(name, password).await.0,
            201,
            "{name} again, on Argon2id"
        );
    }
    // Staff stayed staff; new accounts are numbered after the highest imported ID.
    let (_, bob) = login("bob", "bob pass").await;
    let bob_token = bob["token"].as_str().unwrap_or_default().to_owned();
    let (status, users) = get("/users", &bob_token).await;
    assert_eq!((status, users["count"].clone()), (200, json!(4)));
    let resp = http
        .post(format!("{base}/api/user"))
        .json(&json!({"username": "newbie", "email": "n@example.com", "password": "pw", "repeatPassword": "pw"}))
        .send()
        .await?;
    let newbie: Value = resp.json().await?;
    let newbie_token = newbie["token"].as_str().unwrap_or_default();
    let (_, me) = get("/user", newbie_token).await;
    let id: i64 = me["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    assert!(
        id > 1_667_700_000_009,
        "new ID {id} is after every imported one"
    );
    assert_eq!(
        me["domain"], "localhost",
        "new accounts report the configured domain"
    );

    // A second run adds nothing and changes nothing: not even the session revoked meanwhile.
    let sharex_iat = live - 10;
    let resp = http
        .delete(format!("{base}/api/user/session/{sharex_iat}"))
        .header("Authorization", &alice_token)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let (code, report, err) = import(false)?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&report, "accounts added"), Some(0), "{report}");
    assert_eq!(count(&report, "accounts already here"), Some(4), "{report}");
    assert_eq!(count(&report, "sessions added"), Some(0), "{report}");
    assert_eq!(
        get("/user/session", &sharex_token).await.0,
        401,
        "still revoked"
    );
    let (_, user) = get("/user", &alice_token).await;
    assert_eq!(user["username"], "alice");
    assert_eq!(source.fingerprint().await?, before);

    // The wrong-password limit applies to imported accounts too (3 per 15 minutes here).
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(login("dave", "wrong").await.0);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    Ok(())
}
