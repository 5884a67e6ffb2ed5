//! Caller headers through tunnel-relay and the built agent to the MCP server: every end-to-end
//! header arrives (the 2026-07-28 `Mcp-Method` and `Mcp-Name` included); hop-by-hop, proxy,
//! cookie and client-identity headers and the relay's own caller token never do.

use crate::support::mcp_server::answering;
use crate::support::process;
use crate::support::relay::*;
use crate::support::{wait_until, WAIT};
use serde_json::json;

#[test]
fn end_to_end_caller_headers_reach_the_mcp_server_and_the_rest_stays_at_the_relay() {
    let server = answering("main");
    let (relay, base) = binary_with(
        "127.0.0.1:0",
        &[],
        &[("TUNNEL_RELAY_CALLER_TOKEN", "relay-caller-token-9f2")],
    );
    let _agent = process::agent(
        &base,
        &["--mcp-server-url", &format!("{}/mcp", server.url())],
    );
    wait_for_agents(&base, 1);

    let answer = call_url(
        &channel_url(&base, "main"),
        &json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "x"}}}),
        &[
            ("Authorization", "Bearer relay-caller-token-9f2"),
            ("Mcp-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "echo"),
            ("Mcp-Session-Id", "sess-h"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("X-Custom-Header", "custom-value"),
            ("Cookie", "caller-cookie=secret"),
            ("Forwarded", "for=10.9.8.7"),
            ("X-Forwarded-For", "10.9.8.7"),
            ("X-Real-IP", "10.9.8.7"),
            ("True-Client-IP", "10.9.8.7"),
            ("Proxy-Authorization", "Basic cHJveHk6cHc="),
            ("Connection", "keep-alive, X-Hop-Only"),
            ("X-Hop-Only", "hop"),
        ],
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["result"]["method"], "tools/call");
    let request = wait_until(WAIT, "the tools/call at the MCP server", || {
        server
            .mcp_requests()
            .into_iter()
            .find(|r| r.json()["id"] == 7)
    });
    for (name, value) in [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
        ("mcp-session-id", "sess-h"),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("x-custom-header", "custom-value"),
    ] {
        assert_eq!(request.values(name), [value], "{name}");
    }
    for name in [
        "cookie",
        "forwarded",
        "x-forwarded-for",
        "x-real-ip",
        "true-client-ip",
        "proxy-authorization",
        "x-hop-only",
    ] {
        assert!(
            request.values(name).is_empty(),
            "{name} reached the MCP server"
        );
    }
    // The relay's caller token is the relay's own: it never travels.
    assert!(request
        .values("authorization")
        .iter()
        .all(|v| !v.contains("relay-caller-token-9f2")));
    assert!(!relay.output().contains("relay-caller-token-9f2"));
    assert!(!relay.output().contains("caller-cookie=secret"));
}
