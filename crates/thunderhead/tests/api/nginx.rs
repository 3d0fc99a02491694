//! A real nginx (Debian's package) with `auth_request` in front of a small upstream, using the
//! README's own configuration block: signed in, the upstream answers with the username nginx
//! passed on; signed out, revoked or banned, nginx refuses the very next request. Ignored
//! unless asked for (it needs nginx installed); CI installs nginx and runs it on both backends.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use thunderhead::domain::BanChange;

use crate::helpers::{TestApp, TestResult, PASSWORD};
use crate::process::{wait_for, Process};

const NGINX: &str = "/usr/sbin/nginx";

/// The README's nginx block, with the test's ports in place of the documented ones.
fn readme_block(nginx: u16, upstream: u16, thunderhead: u16) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let block = readme
        .split("## Protecting other services")
        .nth(1)
        .and_then(|section| section.split("```nginx\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("an nginx block under \"Protecting other services\"");
    block
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{nginx}"))
        .replace("127.0.0.1:3000", &format!("127.0.0.1:{upstream}"))
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{thunderhead}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// nginx in the foreground as one process (no workers to switch users), everything in `dir`.
fn start_nginx(dir: &Path, site: &str, upstream: u16) -> std::io::Result<Process> {
    let d = dir.display();
    let config = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\nevents {{ worker_connections 256; }}\nhttp {{\n\
         access_log {d}/access.log;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
         {site}\n\
         # The protected app: says who nginx told it the caller is.\n\
         server {{\n    listen 127.0.0.1:{upstream};\n    location / {{\n        default_type text/plain;\n\
         return 200 \"hello $http_x_auth_username (id $http_x_auth_user_id, staff $http_x_auth_staff)\";\n    }}\n}}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), config)?;
    let mut command = Command::new(NGINX);
    command
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(dir.join("nginx.conf"));
    Process::spawn("nginx", command)
}

#[tokio::test]
#[ignore = "needs nginx (Debian's nginx-light); CI installs it and runs it"]
async fn nginx_lets_in_the_signed_in_and_refuses_the_rest_at_once() -> TestResult {
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} is missing: apt-get install nginx-light"
    );
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = thunderhead::ratelimit::RateLimits::OFF;
        c.auth_cookie = true;
        c.cookie_secure = false;
    })
    .await;
    let thunderhead_port: u16 = app
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or("the server's port")?;
    let (nginx_port, upstream_port) = (free_port(), free_port());
    let dir = tempfile::tempdir()?;
    let site = readme_block(nginx_port, upstream_port, thunderhead_port);
    let _nginx = start_nginx(dir.path(), &site, upstream_port)?;
    let site_url = format!("http://127.0.0.1:{nginx_port}/files/1");
    let client = reqwest::Client::new();
    let visit = |auth: Option<(&'static str, String)>| {
        let mut request = client.get(&site_url);
        if let Some((name, value)) = auth {
            request = request.header(name, value);
        }
        async move {
            let resp = request.send().await.ok()?;
            let status = resp.status().as_u16();
            Some((status, resp.text().await.unwrap_or_default()))
        }
    };
    wait_for("nginx to answer", Duration::from_secs(10), || visit(None)).await?;

    let (alice, _) = app.user_with_token("alice", false).await;
    let login = app
        .call(
            reqwest::Method::POST,
            "/api/user/session",
            None,
            Some(json!({"username": "alice", "password": PASSWORD})),
        )
        .await;
    let token = login.body["token"].as_str().unwrap_or_default().to_owned();
    let cookie = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .ok_or("sign-in set the cookie")?
        .to_owned();

    // Signed out.
    assert_eq!(visit(None).await.map(|r| r.0), Some(401));
    // Signed in, by header and by cookie: the upstream sees who it is.
    for auth in [("Authorization", token.clone()), ("Cookie", cookie.clone())] {
        let (status, body) = visit(Some(auth)).await.ok_or("nginx answers")?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, format!("hello alice (id {alice}, staff false)"));
    }
    // Fifty at once through nginx: each let in.
    let answers = join_all((0..50).map(|_| visit(Some(("Cookie", cookie.clone()))))).await;
    assert!(answers.iter().all(|a| a.as_ref().map(|r| r.0) == Some(200)));

    // Banned: refused on the very next request (403 Banned, as API.md has it); then let in again.
    app.state.app.change_ban(alice, BanChange::Ban).await?;
    assert_eq!(
        visit(Some(("Cookie", cookie.clone()))).await.map(|r| r.0),
        Some(403)
    );
    app.state.app.change_ban(alice, BanChange::Unban).await?;
    assert_eq!(
        visit(Some(("Cookie", cookie.clone()))).await.map(|r| r.0),
        Some(200)
    );

    // Signed out (the session ended): 401 on the very next request.
    let iat = app.get("/api/user/session", &token).await.body["iat"].clone();
    app.delete(&format!("/api/user/session/{iat}"), &token, None)
        .await;
    assert_eq!(
        visit(Some(("Cookie", cookie.clone()))).await.map(|r| r.0),
        Some(401)
    );
    assert_eq!(
        visit(Some(("Authorization", token))).await.map(|r| r.0),
        Some(401)
    );
    Ok(())
}
