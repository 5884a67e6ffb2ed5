//! The agent with a Streamable HTTP MCP server (the built-in stub's HTTP form):
//! JSON answers, SSE progress, acknowledged notifications, session
//! termination and an unreachable server, through the real binaries.

mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::agent::{AgentProcess, CLIENT};
use support::mock_cp::MockControlPlane;

const WAIT: Duration = Duration::from_secs(15);

struct HttpStub(Child, String);

impl HttpStub {
    fn start() -> Self {
        let mut child = Command::new(CLIENT)
            .args(["dev", "mcp-stub", "--http", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_string();
        HttpStub(child, format!("{url}/mcp"))
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(request_id: &str, kind: &str, headers: Value, message: Option<Value>) -> Value {
    let mut c = json!({"request_id": request_id, "shard_token": "st", "command_type": kind,
        "created_at": "2026-01-01T00:00:00Z", "headers": headers});
    if let Some(m) = message {
        c["jsonrpc"] = m;
    }
    c
}

#[test]
fn http_mcp_server_end_to_end() {
    let stub = HttpStub::start();
    let cp = MockControlPlane::start();
    let agent = AgentProcess::start(&cp.url, &["--mcp-server-url", &stub.1]);
    cp.push_commands(vec![
        command("r_init", "jsonrpc", json!({}), Some(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))),
        command("r_note", "jsonrpc", json!({}), Some(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))),
        command("r_prog", "jsonrpc", json!({"Accept": ["application/json, text/event-stream"]}), Some(json!({"jsonrpc": "2.0", "id": "p",
            "method": "tools/call", "params": {"name": "progress", "arguments": {"steps": 2}, "_meta": {"progressToken": "t1"}}}))),
        command("r_end", "session_termination", json!({"Mcp-Session-Id": ["whatever"]}), None),
    ]);
    let init = cp
        .wait_terminal("r_init", WAIT)
        .unwrap_or_else(|| panic!("no initialize answer:\n{}", agent.output()));
    assert_eq!(init["resp_code"], 200);
    assert_eq!(
        init["resp_json"]["result"]["serverInfo"]["name"],
        "tunnel-client-stub"
    );
    assert_eq!(init["resp_headers"]["Content-Type"][0], "application/json");
    assert!(
        init["resp_headers"]["Mcp-Session-Id"][0].is_string(),
        "{init}"
    );

    let note = cp.wait_terminal("r_note", WAIT).unwrap();
    assert_eq!(note["resp_type"], "notify_ack");
    assert_eq!(note["resp_code"], 202);

    cp.wait_terminal("r_prog", WAIT).unwrap();
    let kinds: Vec<Value> = cp
        .posts_for("r_prog")
        .iter()
        .map(|p| p["resp_type"].clone())
        .collect();
    assert_eq!(
        kinds,
        [
            json!("jsonrpc_notify"),
            json!("jsonrpc_notify"),
            json!("jsonrpc_response")
        ]
    );

    let end = cp
        .wait_terminal("r_end", WAIT)
        .unwrap_or_else(|| panic!("no termination answer:\n{}", agent.output()));
    assert_eq!(end["resp_type"], "session_termination_response");
    assert_eq!(end["resp_code"], 204);
}

#[test]
fn an_unreachable_http_server_gets_a_synthesized_connect_failure() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cp = MockControlPlane::start();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let agent = AgentProcess::start(&cp.url, &["--mcp-server-url", &url]);
    cp.push_commands(vec![command(
        "r_down",
        "jsonrpc",
        json!({}),
        Some(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"})),
    )]);
    let body = cp.wait_terminal("r_down", WAIT).unwrap();
    assert_eq!(body["resp_code"], 502);
    assert_eq!(body["resp_json"]["id"], 7);
    let failure = &body["resp_json"]["error"]["data"]["tunnel_failure"];
    assert_eq!(failure["source"], "connect");
    assert_eq!(failure["transport_error_kind"], "connection_refused");
    assert!(
        !body.to_string().contains(&port.to_string()),
        "URL leaked into the failure"
    );
    assert!(agent.wait_for_output("r_down", WAIT), "{}", agent.output());
}
