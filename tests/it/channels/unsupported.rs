//! A7: a command for a channel without an enabled binding is answered at once
//! with status 400 and the channel echoed, for every command type; never
//! silence, never a fallback to `main`.

use super::{command, tool_call};
use crate::support::control_plane::MockControlPlane;
use crate::support::process::{self, stub_command};
use crate::support::WAIT;
use serde_json::{json, Value};

fn typed(request_id: &str, channel: &str, command_type: &str) -> Value {
    json!({
        "request_id": request_id,
        "shard_token": format!("shard-{request_id}"),
        "command_type": command_type,
        "channel": channel,
        "created_at": "2026-01-01T00:00:00Z",
        "headers": {"Mcp-Session-Id": ["s-1"]},
    })
}

#[test]
fn a7_unsupported_channel_bodies_for_all_four_command_types() {
    let cp = MockControlPlane::start();
    let tools = format!("channel=tools,command={}", stub_command());
    let agent = process::agent(
        &cp.url,
        &["--mcp-command", &stub_command(), "--mcp-command", &tools],
    );
    cp.push_commands(vec![
        tool_call("req_rpc", " Billing ", "echo", json!({"text": "x"})),
        command(
            "req_note",
            "billing",
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ),
        typed("req_end", "billing", "session_termination"),
        typed("req_oauth", "billing", "oauth_discovery"),
        // oauth_discovery is for main only: a bound channel is unsupported too.
        typed("req_oauth_tools", "tools", "oauth_discovery"),
        // An invalid name is no channel either.
        tool_call("req_bad", "no such/channel", "echo", json!({})),
        tool_call(
            "req_ok",
            "main",
            "echo",
            json!({"text": "main still works"}),
        ),
    ]);
    let exact = |request_id: &str, expected: Value| {
        let body = cp.wait_terminal(request_id, WAIT);
        assert_eq!(body, expected, "{request_id}");
    };
    exact(
        "req_rpc",
        json!({"request_id": "req_rpc", "channel": "billing", "resp_headers": {},
            "resp_code": 400, "resp_type": "jsonrpc_response",
            "resp_json": {"jsonrpc": "2.0", "id": "req_rpc", "error": {"code": -32603,
                "message": "Bad Request: unsupported channel \"billing\"",
                "data": {"channel": "billing"}}}}),
    );
    exact(
        "req_note",
        json!({"request_id": "req_note", "channel": "billing", "resp_headers": {},
            "resp_code": 400, "resp_type": "jsonrpc_response",
            "resp_json": {"jsonrpc": "2.0", "error": {"code": -32603,
                "message": "Bad Request: unsupported channel \"billing\"",
                "data": {"channel": "billing"}}}}),
    );
    exact(
        "req_end",
        json!({"request_id": "req_end", "channel": "billing", "resp_headers": {},
            "resp_code": 400, "resp_type": "session_termination_response"}),
    );
    exact(
        "req_oauth",
        json!({"request_id": "req_oauth", "channel": "billing", "resp_headers": {},
            "resp_code": 400, "resp_type": "oauth_discovery_response",
            "resp_json": {"error": {"message": "unsupported channel \"billing\"",
                "type": "invalid_request_error", "code": "unsupported_channel"}}}),
    );
    exact(
        "req_oauth_tools",
        json!({"request_id": "req_oauth_tools", "channel": "tools", "resp_headers": {},
            "resp_code": 400, "resp_type": "oauth_discovery_response",
            "resp_json": {"error": {"message": "unsupported channel \"tools\"",
                "type": "invalid_request_error", "code": "unsupported_channel"}}}),
    );
    let bad = cp.wait_terminal("req_bad", WAIT);
    assert_eq!(bad["resp_code"], 400);
    assert_eq!(bad["channel"], "no such/channel");
    assert_eq!(
        bad["resp_json"]["error"]["data"]["channel"],
        "no such/channel"
    );
    let ok = cp.wait_terminal("req_ok", WAIT);
    assert_eq!(
        ok["resp_json"]["result"]["content"][0]["text"],
        "main still works"
    );
    // Each is answered once.
    for id in ["req_rpc", "req_note", "req_end", "req_oauth", "req_bad"] {
        assert_eq!(cp.posts_for(id).len(), 1, "{id}");
    }
    agent.wait_for_output("which this agent does not serve");
}
