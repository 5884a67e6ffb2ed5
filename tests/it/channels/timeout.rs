//! D2, D3: a command without `response_timeout` is bounded by
//! `--request-timeout` over every phase and answered `-32603` / `timeout` /
//! 504 soon after; notifications never extend it; the stdio child and the
//! MCP session survive; DELETE only for session_termination.

use super::{result_text, tool_call};
use crate::support::control_plane::MockControlPlane;
use crate::support::mcp_server::{
    chunk, mcp_answer, sse_event, start_sse, wait_for_client_close, MockServer, Next,
};
use crate::support::process::{self, stub_command};
use crate::support::WAIT;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A deadline of 2 s, then at most 10 s to post: a generous "did not hang" bound.
const BOUND: Duration = Duration::from_secs(2 + 10);

fn assert_own_timeout(body: &Value, id: &str) {
    assert_eq!(body["resp_code"], 504, "{body}");
    assert_eq!(body["resp_type"], "jsonrpc_response");
    assert_eq!(body["resp_json"]["id"], id);
    assert_eq!(body["resp_json"]["error"]["code"], -32603);
    let failure = &body["resp_json"]["error"]["data"]["tunnel_failure"];
    assert_eq!(failure["source"], "timeout");
    assert_eq!(failure["transport_error_kind"], "timeout");
}

/// `main` answers its probe (without a session: no DELETE of its own), hangs
/// on `hang`, streams progress forever on `drip`, and answers anything else.
fn hanging_server() -> MockServer {
    MockServer::start(|request, stream| {
        match request.json()["params"]["name"].as_str() {
            Some("hang") => {
                wait_for_client_close(stream);
                return Next::Close;
            }
            Some("drip") => {
                start_sse(stream);
                for i in 0..200 {
                    let note = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                        "params": {"progressToken": "t", "progress": i}});
                    sse_event(stream, &note);
                    std::thread::sleep(Duration::from_millis(100));
                    if stream.peer_addr().is_err() {
                        break;
                    }
                }
                chunk(stream, b"");
                return Next::Close;
            }
            _ => mcp_answer("main", false, request, stream),
        }
        Next::KeepAlive
    })
}

#[test]
fn d2_d3_an_http_server_that_never_answers_gets_a_504_and_no_delete() {
    let cp = MockControlPlane::start();
    let main = hanging_server();
    let mut agent = process::agent(
        &cp.url,
        &["--mcp-server-url", &main.url(), "--request-timeout", "2"],
    );
    let pushed = Instant::now();
    cp.push_commands(vec![tool_call("req_hang", "main", "hang", json!({}))]);
    let body = cp.wait_terminal("req_hang", WAIT);
    assert!(pushed.elapsed() < BOUND, "{:?}", pushed.elapsed());
    assert_own_timeout(&body, "req_hang");
    assert_eq!(cp.posts_for("req_hang").len(), 1);
    // The MCP session is left alone: a DELETE only when a caller ends it.
    main.assert_no_delete();
    let mut end = json!({"request_id": "req_end", "shard_token": "s-end",
        "command_type": "session_termination", "channel": "main",
        "headers": {"Mcp-Session-Id": ["caller-session"]}});
    end["created_at"] = json!("2026-01-01T00:00:00Z");
    cp.push_commands(vec![end]);
    assert_eq!(cp.wait_terminal("req_end", WAIT)["resp_code"], 204);
    agent.terminate(WAIT);
    let deletes: Vec<_> = main
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].values("mcp-session-id"), ["caller-session"]);
}

#[test]
fn d2_notifications_never_extend_the_deadline() {
    let cp = MockControlPlane::start();
    let main = hanging_server();
    let _agent = process::agent(
        &cp.url,
        &["--mcp-server-url", &main.url(), "--request-timeout", "2"],
    );
    let pushed = Instant::now();
    cp.push_commands(vec![tool_call("req_drip", "main", "drip", json!({}))]);
    let body = cp.wait_terminal("req_drip", WAIT);
    assert!(pushed.elapsed() < BOUND, "{:?}", pushed.elapsed());
    assert_own_timeout(&body, "req_drip");
    let notes = cp
        .posts_for("req_drip")
        .iter()
        .filter(|b| b["resp_type"] == "jsonrpc_notify")
        .count();
    assert!(notes >= 1, "the progress was forwarded while it lasted");
    main.assert_no_delete();
}

#[test]
fn d2_a_stdio_timeout_retires_the_id_and_keeps_the_child() {
    let cp = MockControlPlane::start();
    let _agent = process::agent(
        &cp.url,
        &["--mcp-command", &stub_command(), "--request-timeout", "2"],
    );
    cp.push_commands(vec![tool_call("req_before", "main", "stats", json!({}))]);
    let before: Value =
        serde_json::from_str(&result_text(&cp.wait_terminal("req_before", WAIT))).unwrap();
    let pushed = Instant::now();
    cp.push_commands(vec![tool_call(
        "req_slow",
        "main",
        "sleep",
        json!({"ms": 8000}),
    )]);
    let body = cp.wait_terminal("req_slow", WAIT);
    assert!(pushed.elapsed() < BOUND, "{:?}", pushed.elapsed());
    assert_own_timeout(&body, "req_slow");
    cp.push_commands(vec![tool_call("req_after", "main", "stats", json!({}))]);
    let after: Value =
        serde_json::from_str(&result_text(&cp.wait_terminal("req_after", WAIT))).unwrap();
    // Same child, told that the request was cancelled.
    assert_eq!(after["pid"], before["pid"]);
    let cancelled = after["cancelled"].as_array().map_or(0, Vec::len);
    assert!(cancelled >= 1, "{after}");
}
