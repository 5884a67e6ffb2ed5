//! The admin server of a real agent: health and readiness follow the tunnel,
//! and no endpoint ever shows a key, token, header value, payload or URL
//! credential, during or after traffic that carries them.

use crate::support::control_plane::MockControlPlane;
use crate::support::{http, process, wait_until, TempDir, API_KEY, WAIT};
use serde_json::{json, Value};
use std::time::Duration;
const SHARD: &str = "SHARD-SECRET-5d1e";
const BEARER: &str = "BEARER-SECRET-77ab";
const PAYLOAD: &str = "PAYLOAD-SECRET-0c3f";
const PROXY_PASSWORD: &str = "PROXYPW-SECRET-91";

fn get(base: &str, path: &str) -> (u16, String) {
    let reply = http::get(&format!("{base}{path}"));
    (reply.status, reply.body)
}

fn admin_url(file: &std::path::Path) -> String {
    wait_until(WAIT, "the admin URL file", || {
        let url = std::fs::read_to_string(file).ok()?;
        let url = url.trim().trim_end_matches('/');
        (!url.is_empty()).then(|| url.to_string())
    })
}

fn scrape_all(base: &str) -> String {
    ["/healthz", "/readyz", "/metrics", "/ui", "/", "/api/status"]
        .iter()
        .map(|p| get(base, p).1)
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_clean(text: &str, when: &str) {
    for secret in [API_KEY, SHARD, BEARER, PAYLOAD, PROXY_PASSWORD] {
        assert!(!text.contains(secret), "{secret} visible {when}");
    }
}

fn command(request_id: &str, tool: &str, args: Value) -> Value {
    json!({"request_id": request_id, "shard_token": SHARD, "command_type": "jsonrpc",
        "created_at": "", "headers": {"Authorization": [format!("Bearer {BEARER}")]},
        "jsonrpc": {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": tool, "arguments": args}}})
}

#[test]
fn admin_endpoints_follow_the_tunnel_and_leak_nothing() {
    let dir = TempDir::new("admin-e2e");
    let url_file = dir.path().join("admin.url");
    let cp = MockControlPlane::start();
    let proxy = format!("http://user:{PROXY_PASSWORD}@127.0.0.1:9");
    let mut agent = process::agent_with_env(
        &cp.url,
        &[
            "--admin-address",
            "127.0.0.1:0",
            "--admin-url-file",
            url_file.to_str().unwrap(),
        ],
        &[
            ("HTTPS_PROXY", proxy.as_str()),
            ("HTTP_PROXY", proxy.as_str()),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ],
    );
    let base = admin_url(&url_file);

    // Ready once the first poll succeeded; connected; the tunnel's name shown.
    wait_until(WAIT, "/readyz to say ready", || {
        get(&base, "/readyz").0 == 200
    });
    let health: Value = serde_json::from_str(&get(&base, "/healthz").1).unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["connected"], true);

    cp.push_commands(vec![
        command("r_echo", "echo", json!({"text": PAYLOAD})),
        command("r_slow", "sleep", json!({"ms": 1500})),
    ]);
    cp.wait_terminal("r_echo", WAIT);
    // During traffic: one command still in flight.
    let during = scrape_all(&base);
    assert_clean(&during, "during traffic");
    cp.wait_terminal("r_slow", WAIT);

    let status: Value = serde_json::from_str(&get(&base, "/api/status").1).unwrap();
    let text = status.to_string();
    assert!(
        text.contains("tools/call") && text.contains("echo"),
        "{text}"
    );
    let after = scrape_all(&base);
    assert_clean(&after, "after traffic");
    assert!(
        after.contains("tunnel_client_requests_total{status=\"success\"} 2"),
        "{after}"
    );

    let status = agent.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    assert_clean(&agent.output(), "in the log");
}

#[test]
fn a_busy_admin_port_is_a_clear_startup_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let cp = MockControlPlane::start();
    let mut agent = process::agent(&cp.url, &["--admin-address", &address]);
    let status = agent.wait_exit(WAIT);
    assert_eq!(status.code(), Some(1));
    let out = agent.output();
    assert!(
        out.contains("in use") && out.contains("--admin-address"),
        "{out}"
    );
    assert_eq!(out.matches("tunnel-client:").count(), 1, "{out}");
}
