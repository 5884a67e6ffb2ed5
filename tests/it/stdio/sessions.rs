//! Per-session stdio children through real processes: own child and `Mcp-Session-Id` per
//! `initialize`; isolation, cap, termination, idle expiry, and the 404 that makes callers re-initialize.

use crate::support::mcp::*;
use crate::support::stdio::*;
use crate::support::{wait_until, WAIT};
use serde_json::{json, Value};
use std::time::Duration;
use std::time::Instant;
use tunnel::config::{StdioConfig, StdioMode};
use tunnel::contract::Headers;
use tunnel::mcp::stdio::StdioBackend;
use tunnel::mcp::{Backend, McpReply};

fn per_session(max_sessions: usize, idle: Duration) -> StdioConfig {
    StdioConfig {
        mode: StdioMode::PerSession,
        max_sessions,
        session_idle: idle,
        ..StdioConfig::default()
    }
}

/// Opens a session; returns its id.
fn open(backend: &StdioBackend) -> String {
    match call(backend, &initialize(json!(1))) {
        McpReply::Response {
            json,
            status,
            headers,
        } => {
            assert_eq!(status, 200, "{json}");
            assert_eq!(json["result"]["serverInfo"]["name"], "tunnel-client-stub");
            let id = headers.get("Mcp-Session-Id").expect("a session id")[0].clone();
            assert_eq!(id.len(), 32);
            id
        }
        other => panic!("{other:?}"),
    }
}

fn in_session(backend: &StdioBackend, session: &str, message: &Value) -> McpReply {
    call_with(
        backend,
        message,
        &headers_with_session(session),
        Instant::now() + CALL,
    )
    .0
}

fn counter(backend: &StdioBackend, session: &str) -> String {
    match in_session(backend, session, &tool(json!("n"), "counter", json!({}))) {
        McpReply::Response { json, headers, .. } => {
            assert_eq!(
                headers.get("Mcp-Session-Id"),
                Some(&vec![session.to_string()])
            );
            json["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        }
        other => panic!("{other:?}"),
    }
}

fn assert_status(reply: McpReply, want: u16, code: i64) -> Value {
    match reply {
        McpReply::Response { json, status, .. } => {
            assert_eq!(status, want, "{json}");
            assert_eq!(json["error"]["code"], code, "{json}");
            json
        }
        other => panic!("expected {want}, got {other:?}"),
    }
}

#[test]
fn sessions_get_their_own_child_and_state() {
    let (backend, _) = start(stub_argv(), per_session(4, Duration::from_secs(600)));
    assert!(backend.status().up);
    let a = open(&backend);
    let b = open(&backend);
    assert_ne!(a, b);
    assert_eq!(
        in_session(&backend, &a, &initialized()),
        McpReply::Accepted {
            status: 202,
            headers: Headers::new()
        }
    );
    assert_eq!(counter(&backend, &a), "1");
    assert_eq!(counter(&backend, &a), "2");
    assert_eq!(counter(&backend, &b), "1", "session b has its own child");
    // The stub handles every message on a thread of its own: the notification
    // may land after later requests.
    wait_until(WAIT, "session a's initialized notification", || {
        stats(&backend, &headers_with_session(&a))["initialized_notified"] == true
    });
    let stats_a = stats(&backend, &headers_with_session(&a));
    let stats_b = stats(&backend, &headers_with_session(&b));
    assert_ne!(stats_a["pid"], stats_b["pid"]);
    assert_eq!(stats_b["initialized_notified"], false);
    assert_eq!(backend.live_sessions(), 2);
    assert!(
        backend.status().detail.contains("2 live"),
        "{}",
        backend.status().detail
    );
    backend.shutdown(Duration::from_secs(5));
    for pid in [
        stats_a["pid"].as_u64().unwrap(),
        stats_b["pid"].as_u64().unwrap(),
    ] {
        assert!(process_gone(pid as u32), "child {pid} ended at shutdown");
    }
}

#[test]
fn session_cap_gives_a_clear_error_and_frees_on_termination() {
    let (backend, _) = start(stub_argv(), per_session(2, Duration::from_secs(600)));
    let a = open(&backend);
    let _b = open(&backend);
    let refused = assert_status(call(&backend, &initialize(json!("third"))), 503, -32000);
    assert_eq!(refused["id"], "third");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("stdio_max_sessions"));
    assert_eq!(refused["error"]["data"]["max_sessions"], 2);
    let a_pid = stats(&backend, &headers_with_session(&a))["pid"]
        .as_u64()
        .unwrap() as u32;
    let ended = backend.terminate_session(&headers_with_session(&a), Instant::now() + CALL);
    assert_eq!(
        ended,
        McpReply::Accepted {
            status: 204,
            headers: Headers::new()
        }
    );
    wait_until(
        Duration::from_secs(10),
        "the terminated session's child to end",
        || process_gone(a_pid),
    );
    assert_status(
        in_session(&backend, &a, &tool(json!(1), "counter", json!({}))),
        404,
        -32001,
    );
    let again = backend.terminate_session(&headers_with_session(&a), Instant::now() + CALL);
    assert_eq!(
        again,
        McpReply::Accepted {
            status: 404,
            headers: Headers::new()
        }
    );
    let _c = open(&backend);
    assert_eq!(backend.live_sessions(), 2);
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn unknown_missing_and_expired_sessions() {
    let (backend, _) = start(stub_argv(), per_session(4, Duration::from_secs(2)));
    assert_status(
        in_session(
            &backend,
            &"0".repeat(32),
            &tool(json!(1), "counter", json!({})),
        ),
        404,
        -32001,
    );
    assert_status(
        call(&backend, &tool(json!(1), "counter", json!({}))),
        400,
        -32000,
    );
    let s = open(&backend);
    let pid = stats(&backend, &headers_with_session(&s))["pid"]
        .as_u64()
        .unwrap() as u32;
    // Left idle, the session ends and its child with it.
    wait_until(Duration::from_secs(10), "the idle session to end", || {
        backend.live_sessions() == 0
    });
    wait_until(
        Duration::from_secs(10),
        "the idle session's child to end",
        || process_gone(pid),
    );
    assert_status(
        in_session(&backend, &s, &tool(json!(1), "counter", json!({}))),
        404,
        -32001,
    );
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn a_session_whose_child_dies_is_gone() {
    let (backend, _) = start(stub_argv(), per_session(4, Duration::from_secs(600)));
    let s = open(&backend);
    let crash = in_session(&backend, &s, &tool(json!(1), "crash", json!({})));
    assert!(matches!(crash, McpReply::Failed(_)), "{crash:?}");
    wait_until(Duration::from_secs(10), "the session to be gone", || {
        matches!(
            in_session(&backend, &s, &tool(json!(2), "counter", json!({}))),
            McpReply::Response { status: 404, .. }
        )
    });
    let fresh = open(&backend);
    assert_eq!(counter(&backend, &fresh), "1");
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn shared_mode_has_no_session_to_end() {
    let (backend, _) = start(stub_argv(), StdioConfig::default());
    let reply = backend.terminate_session(&headers_with_session("whatever"), Instant::now() + CALL);
    assert_eq!(
        reply,
        McpReply::Accepted {
            status: 204,
            headers: Headers::new()
        }
    );
    backend.shutdown(Duration::from_secs(5));
}
