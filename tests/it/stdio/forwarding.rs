//! The stdio backend forwarding through real child processes: the built-in stub
//! and small misbehaving scripts. Ids, progress, notifications, timeouts, noise.

use crate::support::mcp::*;
use crate::support::stdio::*;
use crate::support::{require_tool, wait_until, WAIT};
use serde_json::{json, Value};
use std::time::Duration;
use std::time::Instant;
use tunnel::config::StdioConfig;
use tunnel::contract::{FailureSource, Headers, TransportErrorKind};
use tunnel::mcp::{Backend, McpReply};

#[test]
fn initialize_list_and_call_through_the_stub() {
    let (backend, _) = start(stub_argv(), StdioConfig::default());
    let init = json_of(call(&backend, &initialize(json!(0))));
    assert_eq!(init["id"], 0);
    assert_eq!(init["result"]["serverInfo"]["name"], "tunnel-client-stub");
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    let ack = call(&backend, &initialized());
    assert_eq!(
        ack,
        McpReply::Accepted {
            status: 202,
            headers: Headers::new()
        }
    );
    let tools = json_of(call(
        &backend,
        &request(json!("list"), "tools/list", json!({})),
    ));
    assert_eq!(tools["id"], "list");
    assert!(tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "echo"));
    assert_eq!(
        text_of(call(
            &backend,
            &tool(json!(2), "echo", json!({"text": "héllo"}))
        )),
        "héllo"
    );
    assert_eq!(
        text_of(call(
            &backend,
            &tool(json!(3), "add", json!({"a": 2, "b": 40}))
        )),
        "42"
    );
    let status = backend.status();
    assert_eq!(status.kind, "stdio");
    assert!(status.up);
    assert_eq!(
        status.detail,
        format!("pid {}, restarts 0", backend.pid().unwrap())
    );
    assert!(backend.proc_affinity());
    backend.shutdown(Duration::from_secs(5));
    assert!(!backend.status().up);
}

#[test]
fn the_server_s_own_error_passes_through_exactly() {
    let (backend, _) = start(stub_argv(), StdioConfig::default());
    let failed = json_of(call(
        &backend,
        &tool(
            json!("f-1"),
            "fail",
            json!({"code": -32042, "message": "no such thing"}),
        ),
    ));
    assert_eq!(
        failed,
        json!({"jsonrpc": "2.0", "id": "f-1", "error": {"code": -32042, "message": "no such thing"}})
    );
    let unknown = json_of(call(
        &backend,
        &request(json!(5), "no/such/method", json!({})),
    ));
    assert_eq!(unknown["error"]["code"], -32601);
    assert_eq!(unknown["id"], 5);
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn colliding_ids_each_get_their_own_answer_with_the_original_type() {
    let (backend, _) = start(stub_argv(), StdioConfig::default());
    std::thread::scope(|s| {
        // Same id 1 from two callers at once; the slow one is still pending
        // while the fast one is answered.
        let slow = s.spawn(|| call(&backend, &tool(json!(1), "sleep", json!({"ms": 300}))));
        let fast = s.spawn(|| call(&backend, &tool(json!(1), "echo", json!({"text": "fast"}))));
        let float = s.spawn(|| {
            call(
                &backend,
                &tool(json!(1.0), "echo", json!({"text": "float"})),
            )
        });
        let string = s.spawn(|| {
            call(
                &backend,
                &tool(json!("1"), "echo", json!({"text": "string"})),
            )
        });
        let slow = json_of(slow.join().unwrap());
        let fast = json_of(fast.join().unwrap());
        let float = json_of(float.join().unwrap());
        let string = json_of(string.join().unwrap());
        assert_eq!(slow["result"]["content"][0]["text"], "slept 300 ms");
        assert_eq!(fast["result"]["content"][0]["text"], "fast");
        assert_eq!(float["result"]["content"][0]["text"], "float");
        assert_eq!(string["result"]["content"][0]["text"], "string");
        assert_eq!(slow["id"].to_string(), "1");
        assert_eq!(fast["id"].to_string(), "1");
        assert_eq!(float["id"].to_string(), "1.0");
        assert_eq!(string["id"].to_string(), "\"1\"");
    });
    backend.shutdown(Duration::from_secs(5));
}

fn progress_call(id: Value, token: Value, steps: u64) -> Value {
    request(
        id,
        "tools/call",
        json!({"name": "progress", "arguments": {"steps": steps, "interval_ms": 20}, "_meta": {"progressToken": token}}),
    )
}

#[test]
fn progress_goes_to_the_call_that_owns_the_token() {
    let (backend, _) = start(stub_argv(), StdioConfig::default());
    std::thread::scope(|s| {
        // Both callers picked the same token and the same id.
        let a = s.spawn(|| {
            call_with(
                &backend,
                &progress_call(json!(7), json!("tok"), 3),
                &Headers::new(),
                Instant::now() + CALL,
            )
        });
        let b = s.spawn(|| {
            call_with(
                &backend,
                &progress_call(json!(7), json!("tok"), 5),
                &Headers::new(),
                Instant::now() + CALL,
            )
        });
        let c = s.spawn(|| {
            call_with(
                &backend,
                &progress_call(json!(8), json!(99), 2),
                &Headers::new(),
                Instant::now() + CALL,
            )
        });
        for (handle, steps, token) in [
            (a, 3u64, json!("tok")),
            (b, 5, json!("tok")),
            (c, 2, json!(99)),
        ] {
            let (reply, notes) = handle.join().unwrap();
            assert_eq!(text_of(reply), format!("completed {steps} steps"));
            assert_eq!(notes.len() as u64, steps, "{notes:?}");
            for (i, note) in notes.iter().enumerate() {
                assert_eq!(note["method"], "notifications/progress");
                assert_eq!(note["params"]["progressToken"], token);
                assert_eq!(note["params"]["total"], steps);
                assert_eq!(note["params"]["progress"], i as u64 + 1, "in order");
            }
        }
    });
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn timeout_cancels_with_the_child_side_id_keeps_the_pipe_and_drops_the_late_answer() {
    let (backend, telemetry) = start(stub_argv(), StdioConfig::default());
    let pid = backend.pid().unwrap();
    let (reply, _) = call_with(
        &backend,
        &tool(json!("late"), "sleep", json!({"ms": 400})),
        &Headers::new(),
        Instant::now() + Duration::from_millis(100),
    );
    assert_eq!(reply, McpReply::Expired);
    // The late answer arrives while this call waits; it must not be taken for it.
    let next = json_of(call(
        &backend,
        &tool(json!("late"), "sleep", json!({"ms": 800})),
    ));
    assert_eq!(next["id"], "late");
    assert_eq!(next["result"]["content"][0]["text"], "slept 800 ms");
    // The stub handles the cancellation on a thread of its own.
    let stats = wait_until(WAIT, "the cancellation at the stub", || {
        let stats = stats(&backend, &Headers::new());
        (stats["cancelled"].as_array().is_some_and(|c| !c.is_empty())).then_some(stats)
    });
    let cancelled = stats["cancelled"].as_array().unwrap();
    assert_eq!(cancelled.len(), 1, "{stats}");
    assert!(
        cancelled[0].is_u64(),
        "the child was told its own id, not the caller's: {stats}"
    );
    assert_eq!(backend.pid(), Some(pid), "same child, pipe kept");
    assert_eq!(backend.restarts(), 0);
    assert_eq!(telemetry.mcp_restarts(), 0);
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn caller_cancellation_is_rewritten_to_the_child_side_id() {
    let (backend, _) = start(stub_argv(), StdioConfig::default());
    std::thread::scope(|s| {
        let slow = s.spawn(|| call(&backend, &tool(json!("c-1"), "sleep", json!({"ms": 500}))));
        wait_until(
            Duration::from_secs(10),
            "the cancellation to reach the stub",
            || {
                // Cancel once the call is in flight (the stub records what it gets).
                let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "c-1"}});
                call(&backend, &cancel);
                !stats(&backend, &Headers::new())["cancelled"]
                    .as_array()
                    .unwrap()
                    .is_empty()
            },
        );
        let _ = slow.join().unwrap();
    });
    let cancelled = stats(&backend, &Headers::new())["cancelled"].clone();
    assert!(cancelled[0].is_u64(), "{cancelled}");
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn non_object_messages_are_refused_without_reaching_the_child() {
    let (backend, _) = start(stub_argv(), StdioConfig::default());
    match call(
        &backend,
        &json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]),
    ) {
        McpReply::Response { json, status, .. } => {
            assert_eq!(status, 400);
            assert_eq!(json["error"]["code"], -32600);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        json_of(call(&backend, &request(json!(1), "ping", json!({}))))["result"],
        json!({})
    );
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn garbage_and_oversized_lines_are_skipped() {
    if !require_tool("python3") {
        return;
    }
    let (backend, _) = start(vec![fixture("garbage.py")], StdioConfig::default());
    for id in [json!(1), json!(2)] {
        let answer = json_of(call(
            &backend,
            &request(id.clone(), "tools/list", json!({})),
        ));
        assert_eq!(answer["id"], id);
        assert_eq!(
            answer["result"],
            json!({"ok": true, "method": "tools/list"})
        );
    }
    assert_eq!(backend.restarts(), 0);
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn server_initiated_requests_are_answered_here() {
    if !require_tool("python3") {
        return;
    }
    let (backend, _) = start(vec![fixture("sampling.py")], StdioConfig::default());
    json_of(call(&backend, &initialize(json!(1))));
    let text = text_of(call(&backend, &tool(json!(2), "ask", json!({}))));
    let answers: Value = serde_json::from_str(&text).unwrap();
    let sample = &answers["s-sample"];
    assert_eq!(sample["id"], "s-sample");
    assert!(sample["result"].is_null());
    assert_eq!(sample["error"]["code"], -32601);
    let message = sample["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("does not carry server-initiated requests"),
        "{message}"
    );
    assert_eq!(
        answers["s-ping"],
        json!({"jsonrpc": "2.0", "id": "s-ping", "result": {}})
    );
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn notification_from_caller_is_acknowledged_once_written() {
    let (backend, _) = start(stub_argv(), StdioConfig::default());
    let reply = call(
        &backend,
        &json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}),
    );
    assert_eq!(
        reply,
        McpReply::Accepted {
            status: 202,
            headers: Headers::new()
        }
    );
    backend.shutdown(Duration::from_secs(5));
    // After shutdown nothing can be written.
    match call(
        &backend,
        &json!({"jsonrpc": "2.0", "method": "notifications/x"}),
    ) {
        McpReply::Failed(f) => {
            assert_eq!(f.source, FailureSource::TransportClosed);
            assert_eq!(
                f.transport_error_kind,
                Some(TransportErrorKind::ConnectionClosed)
            );
        }
        other => panic!("{other:?}"),
    }
}
