//! Several real `thunderhead` processes on one PostgreSQL database: revocations, bans, session
//! IDs and the login and wrong-password limits hold across all of them. PostgreSQL only (on
//! SQLite there is one instance by design): ignored unless asked for, as CI does on
//! PostgreSQL with `--include-ignored`, and failing loudly without TEST_DATABASE_URL.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::cli::{spawn_server, Env};
use crate::helpers::TestResult;
use crate::process::Process;

const PASSWORD: &str = "instance pass";

struct Cluster {
    _env: Env,
    bases: Vec<String>,
    _servers: Vec<Process>,
    client: reqwest::Client,
    /// The user ID `thunderhead user create` gave alice.
    alice: String,
}

impl Cluster {
    async fn start(
        instances: usize,
        limits: &[(&str, &str)],
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let env = Env::new().await?;
        assert!(
            env.db.is_postgres(),
            "multi-instance tests need TEST_DATABASE_URL (PostgreSQL)"
        );
        // Every instance signs with the same key, as a real deployment must.
        let mut servers = Vec::new();
        let mut bases = Vec::new();
        for _ in 0..instances {
            let (child, base) = spawn_server(&env, limits).await?;
            servers.push(child);
            bases.push(base);
        }
        let mut ids = Vec::new();
        for name in ["alice", "boss"] {
            let staff: &[&str] = if name == "boss" { &["--staff"] } else { &[] };
            let mut args = vec!["user", "create", "--username", name, "--email"];
            let email = format!("{name}@example.com");
            args.push(&email);
            args.extend_from_slice(staff);
            let (code, out, err) = env.run(&args, &format!("{PASSWORD}\n"))?;
            assert_eq!(code, 0, "{err}");
            // "created user alice (id 1795…)"
            let id = out
                .split("(id ")
                .nth(1)
                .and_then(|rest| rest.split([')', ',']).next())
                .ok_or_else(|| format!("no id in {out:?}"))?;
            ids.push(id.to_owned());
        }
        Ok(Self {
            _env: env,
            bases,
            _servers: servers,
            client: reqwest::Client::new(),
            alice: ids[0].clone(),
        })
    }

    async fn login(
        &self,
        instance: usize,
        username: &str,
        password: &str,
    ) -> Result<(u16, Value), reqwest::Error> {
        let resp = self
            .client
            .post(format!("{}/api/user/session", self.bases[instance]))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await?;
        Ok((
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        ))
    }

    async fn token(
        &self,
        instance: usize,
        username: &str,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let (status, body) = self.login(instance, username, PASSWORD).await?;
        assert_eq!(status, 201, "{body}");
        Ok(body["token"].as_str().unwrap_or_default().to_owned())
    }

    async fn status(
        &self,
        instance: usize,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> Result<u16, reqwest::Error> {
        let resp = self
            .client
            .request(method, format!("{}{path}", self.bases[instance]))
            .header("Authorization", token)
            .send()
            .await?;
        Ok(resp.status().as_u16())
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL); CI runs it"]
async fn revocations_and_bans_reach_every_instance_at_once() -> TestResult {
    let cluster = Cluster::start(3, &[("THUNDERHEAD_RATE_LIMITS", "off")]).await?;
    let get = reqwest::Method::GET;
    let staff = cluster.token(0, "boss").await?;
    let victim = cluster.token(1, "alice").await?;
    for i in 0..3 {
        assert_eq!(
            cluster
                .status(i, get.clone(), "/api/user/session", &victim)
                .await?,
            200,
            "instance {i}"
        );
    }
    // Revoke through instance 0; the very next request on every other instance is refused.
    let all = cluster
        .status(
            0,
            reqwest::Method::DELETE,
            &format!("/api/user/{}/sessions/all", cluster.alice),
            &staff,
        )
        .await?;
    assert_eq!(all, 200);
    for i in 0..3 {
        assert_eq!(
            cluster
                .status(i, get.clone(), "/api/user/session", &victim)
                .await?,
            401,
            "instance {i}"
        );
    }
    // A ban through instance 2 is enforced by all.
    let fresh = cluster.token(0, "alice").await?;
    assert_eq!(
        cluster
            .status(
                2,
                reqwest::Method::PATCH,
                &format!("/api/user/{}/ban", cluster.alice),
                &staff,
            )
            .await?,
        200
    );
    for i in 0..3 {
        assert_eq!(
            cluster
                .status(i, get.clone(), "/api/user/session", &fresh)
                .await?,
            403,
            "instance {i}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL); CI runs it"]
async fn logins_spread_over_instances_get_distinct_ids() -> TestResult {
    let cluster = Cluster::start(3, &[("THUNDERHEAD_RATE_LIMITS", "off")]).await?;
    let logins = join_all((0..90).map(|i| cluster.login(i % 3, "alice", PASSWORD))).await;
    let mut iats = Vec::new();
    for login in logins {
        let (status, body) = login?;
        assert_eq!(status, 201, "{body}");
        let token = body["token"].as_str().unwrap_or_default().to_owned();
        let me: Value = cluster
            .client
            .get(format!("{}/api/user/session", cluster.bases[0]))
            .header("Authorization", &token)
            .send()
            .await?
            .json()
            .await?;
        iats.push(me["iat"].as_i64().unwrap_or_default());
    }
    iats.sort_unstable();
    iats.dedup();
    assert_eq!(iats.len(), 90, "no two sessions share an ID");
    Ok(())
}

#[tokio::test]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL); CI runs it"]
async fn login_and_password_limits_hold_across_instances() -> TestResult {
    let limits = [
        ("THUNDERHEAD_RATE_LIMIT_GENERAL", "off"),
        ("THUNDERHEAD_RATE_LIMIT_LOGIN", "2/60"),
        ("THUNDERHEAD_RATE_LIMIT_FAILED_PASSWORD", "4/900"),
    ];
    let cluster = Cluster::start(3, &limits).await?;
    // Four wrong guesses spread over three instances use up the one budget.
    for i in 0..4 {
        let (status, _) = cluster.login(i % 3, "alice", "wrong").await?;
        assert_eq!(status, 401, "guess {i}");
    }
    for i in 0..3 {
        let (status, body) = cluster.login(i, "alice", PASSWORD).await?;
        assert_eq!(status, 429, "instance {i}: {body}");
    }
    // The address is blocked for every account now, on every instance.
    let (other, _) = cluster.login(0, "boss", PASSWORD).await?;
    assert_eq!(other, 429, "the IP is still blocked for wrong passwords");
    Ok(())
}

#[tokio::test]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL); CI runs it"]
async fn successful_login_limit_is_shared() -> TestResult {
    let limits = [
        ("THUNDERHEAD_RATE_LIMIT_GENERAL", "off"),
        ("THUNDERHEAD_RATE_LIMIT_LOGIN", "2/60"),
    ];
    let cluster = Cluster::start(3, &limits).await?;
    assert_eq!(cluster.login(0, "alice", PASSWORD).await?.0, 201);
    assert_eq!(cluster.login(1, "alice", PASSWORD).await?.0, 201);
    for i in 0..3 {
        assert_eq!(
            cluster.login(i, "alice", PASSWORD).await?.0,
            429,
            "instance {i}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL); CI runs it"]
async fn fifty_guesses_at_once_over_two_instances_check_at_most_the_limit() -> TestResult {
    let limits = [
        ("THUNDERHEAD_RATE_LIMIT_GENERAL", "off"),
        // Off, or the one login in flight at a time would refuse the others first.
        ("THUNDERHEAD_RATE_LIMIT_LOGIN", "off"),
        ("THUNDERHEAD_RATE_LIMIT_FAILED_PASSWORD", "10/900"),
        ("THUNDERHEAD_HASH_QUEUE", "1000"),
    ];
    let cluster = Cluster::start(2, &limits).await?;
    let guesses = join_all((0..50).map(|i| cluster.login(i % 2, "alice", "wrong"))).await;
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess?.0);
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (10, 40), "{statuses:?}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL); CI runs it"]
async fn fifty_logins_over_two_instances_with_a_cap_of_three_leave_three() -> TestResult {
    let cluster = Cluster::start(
        2,
        &[
            ("THUNDERHEAD_RATE_LIMITS", "off"),
            ("THUNDERHEAD_MAX_SESSIONS_PER_USER", "3"),
        ],
    )
    .await?;
    let logins = join_all((0..50).map(|i| cluster.login(i % 2, "alice", PASSWORD))).await;
    let mut tokens = Vec::new();
    for login in logins {
        let (status, body) = login?;
        assert_eq!(status, 201, "{body}");
        tokens.push(body["token"].as_str().unwrap_or_default().to_owned());
    }
    let mut alive = 0;
    for token in &tokens {
        if cluster
            .status(0, reqwest::Method::GET, "/api/user/session", token)
            .await?
            == 200
        {
            alive += 1;
        }
    }
    assert_eq!(
        alive, 3,
        "exactly the cap survives fifty logins over two instances"
    );
    Ok(())
}
