//! The agent with a Streamable HTTP MCP server (the built-in stub's HTTP form):
//! JSON answers, SSE progress, acknowledged notifications, session
//! termination and an unreachable server, through the real binaries.

use crate::support::control_plane::MockControlPlane;
use crate::support::{closed_port, process, WAIT};
use serde_json::{json, Value};

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
    let (_stub, stub_url) = process::http_stub();
    let cp = MockControlPlane::start();
    let _agent = process::agent(&cp.url, &["--mcp-server-url", &stub_url]);
    cp.push_commands(vec![
        command("r_init", "jsonrpc", json!({}), Some(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))),
        command("r_note", "jsonrpc", json!({}), Some(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))),
        command("r_prog", "jsonrpc", json!({"Accept": ["application/json, text/event-stream"]}), Some(json!({"jsonrpc": "2.0", "id": "p",
            "method": "tools/call", "params": {"name": "progress", "arguments": {"steps": 2}, "_meta": {"progressToken": "t1"}}}))),
        command("r_end", "session_termination", json!({"Mcp-Session-Id": ["whatever"]}), None),
    ]);
    let init = cp.wait_terminal("r_init", WAIT);
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

    let note = cp.wait_terminal("r_note", WAIT);
    assert_eq!(note["resp_type"], "notify_ack");
    assert_eq!(note["resp_code"], 202);

    cp.wait_terminal("r_prog", WAIT);
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

    let end = cp.wait_terminal("r_end", WAIT);
    assert_eq!(end["resp_type"], "session_termination_response");
    assert_eq!(end["resp_code"], 204);
}

#[test]
fn an_unreachable_http_server_gets_a_synthesized_connect_failure() {
    // A port that was free a moment ago: nothing listens there.
    let port = closed_port();
    let cp = MockControlPlane::start();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let agent = process::agent(&cp.url, &["--mcp-server-url", &url]);
    cp.push_commands(vec![command(
        "r_down",
        "jsonrpc",
        json!({}),
        Some(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"})),
    )]);
    let body = cp.wait_terminal("r_down", WAIT);
    assert_eq!(body["resp_code"], 502);
    assert_eq!(body["resp_json"]["id"], 7);
    let failure = &body["resp_json"]["error"]["data"]["tunnel_failure"];
    assert_eq!(failure["source"], "connect");
    assert_eq!(failure["transport_error_kind"], "connection_refused");
    assert!(
        !body.to_string().contains(&port.to_string()),
        "URL leaked into the failure"
    );
    agent.wait_for_output("r_down");
}
