//! The admin server of a real agent: health and readiness follow the tunnel,
//! and no endpoint ever shows a key, token, header value, payload or URL
//! credential, during or after traffic that carries them.

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::agent::AgentProcess;
use support::mock_cp::MockControlPlane;
use support::API_KEY;

const WAIT: Duration = Duration::from_secs(15);
const SHARD: &str = "SHARD-SECRET-5d1e";
const BEARER: &str = "BEARER-SECRET-77ab";
const PAYLOAD: &str = "PAYLOAD-SECRET-0c3f";
const PROXY_PASSWORD: &str = "PROXYPW-SECRET-91";

fn get(base: &str, path: &str) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut resp = agent.get(format!("{base}{path}")).call().unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

fn admin_url(file: &std::path::Path) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(url) = std::fs::read_to_string(file) {
            if !url.trim().is_empty() {
                return url.trim().trim_end_matches('/').to_string();
            }
        }
        assert!(Instant::now() < deadline, "admin URL file never written");
        std::thread::sleep(Duration::from_millis(20));
    }
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
    let dir = std::env::temp_dir().join(format!("tunnel-admin-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url_file = dir.join("admin.url");
    let cp = MockControlPlane::start();
    let proxy = format!("http://user:{PROXY_PASSWORD}@127.0.0.1:9");
    let mut agent = AgentProcess::start_with_env(
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
    let deadline = Instant::now() + WAIT;
    while get(&base, "/readyz").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready: {}",
            get(&base, "/readyz").1
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let health: Value = serde_json::from_str(&get(&base, "/healthz").1).unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["connected"], true);

    cp.push_commands(vec![
        command("r_echo", "echo", json!({"text": PAYLOAD})),
        command("r_slow", "sleep", json!({"ms": 1500})),
    ]);
    cp.wait_terminal("r_echo", WAIT).unwrap();
    // During traffic: one command still in flight.
    let during = scrape_all(&base);
    assert_clean(&during, "during traffic");
    cp.wait_terminal("r_slow", WAIT).unwrap();

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
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_busy_admin_port_is_a_clear_startup_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let cp = MockControlPlane::start();
    let mut agent = AgentProcess::start(&cp.url, &["--admin-address", &address]);
    let status = agent
        .wait_exit(WAIT)
        .expect("agent kept running on a busy admin port");
    assert_eq!(status.code(), Some(1));
    let out = agent.output();
    assert!(
        out.contains("in use") && out.contains("--admin-address"),
        "{out}"
    );
    assert_eq!(out.matches("tunnel-client:").count(), 1, "{out}");
}
