//! Settings through the real binary: every row of the README's configuration table works as
//! a flag, as an environment variable and as a file key; bad values stop the program with
//! exit 2; unknown variables are warned about; passwords never show; the signing key is
//! checked against the database.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::cli::{spawn_server, Env};
use crate::helpers::TestResult;

const BIN: &str = env!("CARGO_BIN_EXE_thunderhead");

/// Runs the binary with only `vars` in its environment; (exit code, stdout, stderr).
fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .envs(vars.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `thunderhead config`'s output, as TOML.
fn effective(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> toml::Table {
    let mut all = args.to_vec();
    all.push("config");
    let (code, out, err) = run(dir, &all, vars);
    assert_eq!(code, 0, "{args:?} {vars:?}: {err}");
    out.parse()
        .unwrap_or_else(|e| panic!("not TOML: {e}\n{out}"))
}

fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

/// One row of the README's table: (flag, environment variable, file key).
fn readme_rows() -> Vec<(String, String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Configuration section");
    let cell = |c: &str| {
        c.trim()
            .trim_matches('`')
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches('`')
            .to_owned()
    };
    section
        .lines()
        .filter(|line| {
            line.starts_with('|') && !line.starts_with("|---") && !line.starts_with("| flag")
        })
        .map(|line| {
            // `on\|off` is an escaped pipe inside a cell.
            let line = line.replace("\\|", "/");
            let cells: Vec<&str> = line.split('|').collect();
            (cell(cells[1]), cell(cells[2]), cell(cells[3]))
        })
        .collect()
}

/// For each file key: the text given to a flag or variable, the TOML given in a file, and
/// the value `thunderhead config` must then show.
fn samples() -> BTreeMap<&'static str, (&'static str, &'static str, toml::Value)> {
    use toml::Value::{Boolean, Integer, String as S};
    let s = |v: &str| S(v.into());
    BTreeMap::from([
        (
            "listen",
            ("127.0.0.1:9999", "\"127.0.0.1:9999\"", s("127.0.0.1:9999")),
        ),
        (
            "database_url",
            (
                "sqlite://other.db",
                "\"sqlite://other.db\"",
                s("sqlite://other.db"),
            ),
        ),
        ("key_file", ("other.pem", "\"other.pem\"", s("other.pem"))),
        ("rate_limits.enabled", ("off", "false", Boolean(false))),
        ("rate_limits.general", ("7/70", "\"7/70\"", s("7/70"))),
        ("rate_limits.login", ("3/30", "\"3/30\"", s("3/30"))),
        ("rate_limits.register", ("2/20", "\"2/20\"", s("2/20"))),
        (
            "rate_limits.failed_password",
            ("4/40", "\"4/40\"", s("4/40")),
        ),
        (
            "trusted_proxies",
            (
                "10.0.0.0/8,127.0.0.1",
                "[\"10.0.0.0/8\", \"127.0.0.1/32\"]",
                toml::Value::Array(vec![s("10.0.0.0/8"), s("127.0.0.1/32")]),
            ),
        ),
        ("body_limit", ("2048", "2048", Integer(2048))),
        (
            "domain",
            ("files.example", "\"files.example\"", s("files.example")),
        ),
        ("subdomain", ("u", "\"u\"", s("u"))),
        ("argon2.memory_kib", ("1024", "1024", Integer(1024))),
        ("argon2.iterations", ("3", "3", Integer(3))),
        ("argon2.parallelism", ("2", "2", Integer(2))),
        ("hash_threads", ("3", "3", Integer(3))),
        ("hash_queue", ("77", "77", Integer(77))),
        ("database.max_connections", ("9", "9", Integer(9))),
        ("database.acquire_timeout_secs", ("7", "7", Integer(7))),
        ("request_timeout_secs", ("12", "12", Integer(12))),
        ("prune_interval_secs", ("90", "90", Integer(90))),
        ("header_read_timeout_secs", ("11", "11", Integer(11))),
        ("keep_alive_timeout_secs", ("33", "33", Integer(33))),
        ("max_connections", ("500", "500", Integer(500))),
        ("log_format", ("json", "\"json\"", s("json"))),
        ("auth_cookie", ("on", "true", Boolean(true))),
        ("session_idle_timeout_secs", ("600", "600", Integer(600))),
        ("max_sessions_per_user", ("5", "5", Integer(5))),
        ("cookie_secure", ("off", "false", Boolean(false))),
        (
            "cookie_domain",
            ("example.com", "\"example.com\"", s("example.com")),
        ),
        (
            "return_hosts",
            (
                "files.example.com,127.0.0.1:8080",
                "[\"files.example.com\", \"127.0.0.1:8080\"]",
                toml::Value::Array(vec![s("files.example.com"), s("127.0.0.1:8080")]),
            ),
        ),
    ])
}

#[test]
fn every_setting_in_the_readme_works_in_all_three_layers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let samples = samples();
    let rows = readme_rows();
    assert!(rows.len() >= 20, "{rows:?}");
    let defaults = effective(dir.path(), &[], &[]);
    let mut walked = 0;
    for (flag, var, key) in rows {
        if key.is_empty() {
            // `--config` (the file layer itself) and RUST_LOG.
            continue;
        }
        let (text, literal, expected) = samples
            .get(key.as_str())
            .unwrap_or_else(|| panic!("no sample for README key {key}"));
        assert_ne!(
            lookup(&defaults, &key),
            Some(expected),
            "{key}: the sample is the default"
        );
        assert!(flag.starts_with("--"), "{key} has no flag in the README");
        assert!(
            !var.is_empty(),
            "{key} has no environment variable in the README"
        );
        let by_flag = effective(dir.path(), &[&flag, text], &[]);
        assert_eq!(lookup(&by_flag, &key), Some(expected), "{flag} {text}");
        let by_env = effective(dir.path(), &[], &[(&var, text)]);
        assert_eq!(lookup(&by_env, &key), Some(expected), "{var}={text}");
        let file = dir.path().join("t.toml");
        let toml_text = match key.split_once('.') {
            Some((table, name)) => format!("[{table}]\n{name} = {literal}\n"),
            None => format!("{key} = {literal}\n"),
        };
        std::fs::write(&file, &toml_text)?;
        let by_file = effective(dir.path(), &["--config", file.to_str().unwrap_or("")], &[]);
        assert_eq!(lookup(&by_file, &key), Some(expected), "file: {toml_text}");
        walked += 1;
    }
    assert_eq!(
        walked,
        samples.len(),
        "every sampled setting is in the README"
    );
    Ok(())
}

#[test]
fn later_layers_win_and_limits_can_be_switched_back_on() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "[rate_limits]\nenabled = false\nlogin = \"5/60\"\n")?;
    let path = file.to_str().unwrap_or("");
    let off = effective(dir.path(), &["--config", path], &[]);
    assert_eq!(
        lookup(&off, "rate_limits.login").and_then(|v| v.as_str()),
        Some("off")
    );
    let on = effective(
        dir.path(),
        &["--config", path],
        &[("THUNDERHEAD_RATE_LIMITS", "on")],
    );
    assert_eq!(
        lookup(&on, "rate_limits.login").and_then(|v| v.as_str()),
        Some("5/60")
    );
    assert_eq!(
        lookup(&on, "rate_limits.general").and_then(|v| v.as_str()),
        Some("100/300")
    );
    let flag = effective(
        dir.path(),
        &["--config", path, "--rate-limits", "off"],
        &[("THUNDERHEAD_RATE_LIMITS", "on")],
    );
    assert_eq!(
        lookup(&flag, "rate_limits.enabled"),
        Some(&toml::Value::Boolean(false))
    );
    Ok(())
}

#[test]
fn zero_and_absurd_numbers_stop_the_program_with_exit_2() -> TestResult {
    let dir = tempfile::tempdir()?;
    for (args, vars, named) in [
        (vec!["--prune-interval", "0"], vec![], "prune_interval"),
        (
            vec![],
            vec![("THUNDERHEAD_REQUEST_TIMEOUT", "0")],
            "request_timeout",
        ),
        (vec!["--hash-threads", "0"], vec![], "hash_threads"),
        (vec!["--body-limit", "0"], vec![], "body_limit"),
        (vec!["--max-connections", "0"], vec![], "max_connections"),
        (vec!["--header-read-timeout", "1w"], vec![], "duration"),
        (
            vec![],
            vec![("THUNDERHEAD_DB_MAX_CONNECTIONS", "0")],
            "max_connections",
        ),
    ] {
        let mut all = args.clone();
        all.push("config");
        let (code, _, err) = run(dir.path(), &all, &vars);
        assert_eq!(code, 2, "{args:?} {vars:?}: {err}");
        assert!(err.contains(named), "{args:?} {vars:?}: {err}");
    }
    std::fs::write(dir.path().join("t.toml"), "prune_interval_secs = 0\n")?;
    let (code, _, err) = run(dir.path(), &["--config", "t.toml", "config"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("prune_interval"), "{err}");
    Ok(())
}

#[test]
fn unknown_variables_are_warned_about_and_passwords_never_shown() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (code, out, err) = run(
        dir.path(),
        &["config"],
        &[
            ("THUNDERHEAD_LISTN", "0.0.0.0:1"),
            (
                "DATABASE_URL",
                "postgres://u:hunter2@127.0.0.1:1/db?password=hunter3",
            ),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("THUNDERHEAD_LISTN"), "{err}");
    assert!(
        !err.contains("THUNDERHEAD_DATABASE"),
        "known names are not warned about: {err}"
    );
    for text in [&out, &err] {
        assert!(
            !text.contains("hunter2") && !text.contains("hunter3"),
            "{text}"
        );
    }
    // Nor when the database cannot be reached.
    let (code, out, err) = run(
        dir.path(),
        &["migrate", "--db-acquire-timeout", "1"],
        &[(
            "DATABASE_URL",
            "postgres://u:hunter2@127.0.0.1:1/db?password=hunter3",
        )],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot open database"), "{err}");
    for text in [&out, &err] {
        assert!(
            !text.contains("hunter2") && !text.contains("hunter3"),
            "{text}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_readmes_proxy_setting_starts_the_server() -> TestResult {
    let env = Env::new().await?;
    let (_server, base) = spawn_server(
        &env,
        &[("THUNDERHEAD_TRUSTED_PROXIES", "10.0.0.10,127.0.0.1/32")],
    )
    .await?;
    let resp = reqwest::get(format!("{base}/api")).await?;
    assert_eq!(resp.status(), 200);
    Ok(())
}

#[tokio::test]
async fn an_exposed_key_is_warned_about_and_a_different_key_refused() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new().await?;
    let key = env.dir.path().join("thunderhead-key.pem");
    let (server, _) = spawn_server(&env, &[]).await?;
    let log = server.output();
    drop(server);
    assert!(!log.contains("readable by group"), "created 0600: {log}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))?;
    let (server, _) = spawn_server(&env, &[]).await?;
    let log = server.output();
    drop(server);
    assert!(log.contains("readable by group or others"), "{log}");
    // Another key on the same database: every token would be refused here, so no start.
    std::fs::remove_file(&key)?;
    let (code, _, err) = env.run(&["serve", "--listen", "127.0.0.1:0"], "")?;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is not the one this database was first used with"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn json_logs_carry_the_request_id_that_is_echoed() -> TestResult {
    let env = Env::new().await?;
    let (server, base) = spawn_server(&env, &[("THUNDERHEAD_LOG_FORMAT", "json")]).await?;
    let client = reqwest::Client::new();
    let given = client
        .get(format!("{base}/api/user/session"))
        .header("X-Request-Id", "probe-1")
        .send()
        .await?;
    assert_eq!(
        given.headers()["x-request-id"],
        "probe-1",
        "a request ID sent is kept"
    );
    let made = client.get(format!("{base}/api")).send().await?;
    let made = made.headers()["x-request-id"].to_str()?.to_owned();
    assert_eq!(made.len(), 20, "{made}");
    let mut server = server;
    let lines = server
        .wait_for_output(
            "both requests' lines",
            std::time::Duration::from_secs(10),
            |out| {
                let answered: Vec<serde_json::Value> = out
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter(|v| v["fields"]["message"] == "answered")
                    .collect();
                (answered.len() >= 2).then_some(answered)
            },
        )
        .await?;
    let ids: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["span"]["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"probe-1") && ids.contains(&made.as_str()),
        "{lines:?}"
    );
    let probe = lines.iter().find(|l| l["span"]["id"] == "probe-1");
    assert_eq!(
        probe.map(|l| l["span"]["route"].clone()),
        Some("/api/user/session".into())
    );
    assert_eq!(
        probe.map(|l| l["fields"]["status"].clone()),
        Some(401.into())
    );
    Ok(())
}
