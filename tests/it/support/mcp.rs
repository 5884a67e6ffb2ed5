//! Calling an MCP backend in-process as a worker does (a deadline, notifications collected),
//! reading its replies, and the JSON-RPC messages the tests send. Test code only.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tunnel::contract::Headers;
use tunnel::mcp::{Backend, McpCall, McpReply};

/// Deadline of a call that must finish on its own; never reached when it passes.
pub const CALL: Duration = Duration::from_secs(20);

/// Calls with command `headers` and `deadline`; returns the reply and the
/// notifications handed on before it.
pub fn call_with(
    backend: &dyn Backend,
    message: &Value,
    headers: &Headers,
    deadline: Instant,
) -> (McpReply, Vec<Value>) {
    let mut notes = Vec::new();
    let call = McpCall {
        message,
        headers,
        deadline,
    };
    let reply = backend.call(&call, &mut |n| notes.push(n));
    (reply, notes)
}

/// Calls without command headers, deadline [`CALL`].
pub fn call(backend: &dyn Backend, message: &Value) -> McpReply {
    call_with(backend, message, &Headers::new(), Instant::now() + CALL).0
}

/// The JSON of a 200 `application/json` response, panicking on anything else.
pub fn json_of(reply: McpReply) -> Value {
    match reply {
        McpReply::Response {
            json,
            status,
            headers,
        } => {
            assert_eq!(status, 200, "{json}");
            assert_eq!(
                headers.get("Content-Type"),
                Some(&vec!["application/json".to_string()])
            );
            json
        }
        other => panic!("expected a response, got {other:?}"),
    }
}

/// The first text content of a tool result.
pub fn text_of(reply: McpReply) -> String {
    let json = json_of(reply);
    json["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {json}"))
        .to_string()
}

pub fn request(id: Value, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

pub fn tool(id: Value, name: &str, args: Value) -> Value {
    request(id, "tools/call", json!({"name": name, "arguments": args}))
}

pub fn initialize(id: Value) -> Value {
    request(
        id,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "stdio-test", "version": "1"}}),
    )
}

pub fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// Command headers carrying `Mcp-Session-Id: session`.
pub fn headers_with_session(session: &str) -> Headers {
    let mut h = Headers::new();
    h.insert("Mcp-Session-Id".into(), vec![session.to_string()]);
    h
}
