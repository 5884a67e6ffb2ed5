//! The relay's caller side (MCP Streamable HTTP): SSE ordering, notify_ack,
//! 504, 503 offline, DELETE, 405, queue bound, body cap, caller token.

use crate::support::http::{client, reply};
use crate::support::relay::*;
use crate::support::{wait_until, TUNNEL_ID, WAIT};
use serde_json::json;
use std::time::Duration;
use tunnel::secret::Secret;

#[test]
fn progress_events_stream_before_the_result() {
    let (_relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let caller_base = base.clone();
    let caller = std::thread::spawn(move || {
        client()
            .post(format!("{caller_base}/v1/mcp/{TUNNEL_ID}"))
            .header("Accept", "application/json, text/event-stream")
            .send(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call"}).to_string())
            .unwrap()
    });
    let cmd = agent.poll_one();
    let note = |n: u64| {
        json!({"request_id": cmd["request_id"], "channel": "main", "resp_code": 200, "resp_type": "jsonrpc_notify",
               "resp_json": {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": n}}})
    };
    assert_eq!(agent.post(&cmd, &note(1)).0, 200);
    let resp = caller.join().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut events = Events::new(resp);
    // The first event arrives while the agent has not answered yet: the
    // stream is not buffered until the end.
    assert_eq!(events.next().unwrap()["params"]["progress"], 1);
    assert_eq!(agent.post(&cmd, &note(2)).0, 200);
    assert_eq!(events.next().unwrap()["params"]["progress"], 2);
    assert_eq!(agent.answer(&cmd, json!({})).0, 200);
    let last = events.next().unwrap();
    assert_eq!(last["id"], 7);
    assert_eq!(last["result"]["by"], "A");
    assert!(events.next().is_none(), "the stream ends after the result");
}

#[test]
fn a_notification_gets_202_after_the_agents_ack() {
    let (_relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        &[],
    );
    let cmd = agent.poll_one();
    assert_eq!(cmd["jsonrpc"]["method"], "notifications/initialized");
    let ack = json!({"request_id": cmd["request_id"], "channel": "main", "resp_code": 202, "resp_type": "notify_ack"});
    assert_eq!(agent.post(&cmd, &ack).0, 200);
    let answer = caller.join().unwrap();
    assert_eq!(answer.status, 202);
    assert_eq!(answer.body, "");
}

#[test]
fn no_answer_within_the_response_timeout_is_504() {
    let mut cfg = config();
    cfg.response_timeout = Duration::from_millis(300);
    let (_relay, base) = start(cfg);
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call"}),
        &[],
    );
    let cmd = agent.poll_one();
    let answer = caller.join().unwrap();
    assert_eq!(answer.status, 504);
    assert_eq!(answer.json()["id"], 3);
    assert_eq!(answer.json()["error"]["code"], -32603);
    // The late answer finds nothing to complete.
    assert_eq!(agent.answer(&cmd, json!({})).0, 404);
    wait_until(WAIT, "the timeout to be counted", || {
        metric(&base, "relay_caller_requests_total{outcome=\"timeout\"}") == 1
    });
}

#[test]
fn no_agent_means_503_at_once() {
    let (_relay, base) = start(config());
    let answer = call(
        &base,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[],
    );
    assert_eq!(answer.status, 503);
    let body = answer.json();
    assert_eq!(body["id"], 1);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("offline"));
    assert_eq!(
        body["error"]["data"]["relay_error"],
        "tunnel_client_not_seen"
    );
    assert_eq!(metric(&base, "relay_queue_depth"), 0, "nothing was queued");
}

#[test]
fn delete_becomes_session_termination() {
    let (_relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let caller_base = base.clone();
    let caller = std::thread::spawn(move || {
        reply(
            client()
                .delete(format!("{caller_base}/v1/mcp/{TUNNEL_ID}"))
                .header("Mcp-Session-Id", "sess-9")
                .call()
                .unwrap(),
        )
    });
    let cmd = agent.poll_one();
    assert_eq!(cmd["command_type"], "session_termination");
    assert_eq!(cmd["headers"]["Mcp-Session-Id"], json!(["sess-9"]));
    assert!(cmd.get("jsonrpc").is_none());
    let done = json!({"request_id": cmd["request_id"], "channel": "main", "resp_code": 204, "resp_type": "session_termination_response"});
    assert_eq!(agent.post(&cmd, &done).0, 200);
    assert_eq!(caller.join().unwrap().status, 204);

    let missing = reply(
        client()
            .delete(format!("{base}/v1/mcp/{TUNNEL_ID}"))
            .call()
            .unwrap(),
    );
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["error"]["code"], "missing_mcp_session_id");
}

#[test]
fn get_is_405_and_unknown_tunnel_404() {
    let (_relay, base) = start(config());
    let answer = reply(
        client()
            .get(format!("{base}/v1/mcp/{TUNNEL_ID}"))
            .call()
            .unwrap(),
    );
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("Allow"), Some("POST, DELETE"));
    let other = reply(
        client()
            .post(format!(
                "{base}/v1/mcp/tunnel_ffffffffffffffffffffffffffffffff"
            ))
            .send("{}")
            .unwrap(),
    );
    assert_eq!(other.status, 404);
}

#[test]
fn malformed_json_is_a_400_parse_error() {
    let (_relay, base) = start(config());
    for (body, code) in [("{not json", -32700), ("[1,2]", -32600)] {
        let answer = reply(
            client()
                .post(format!("{base}/v1/mcp/{TUNNEL_ID}"))
                .send(body)
                .unwrap(),
        );
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.json()["error"]["code"], code);
    }
}

#[test]
fn a_full_queue_is_503() {
    let mut cfg = config();
    cfg.max_queue = 1;
    let (_relay, base) = start(cfg);
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let first = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[],
    );
    wait_until(WAIT, "the first command to be queued", || {
        metric(&base, "relay_queue_depth") == 1
    });
    let second = call(
        &base,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
        &[],
    );
    assert_eq!(second.status, 503);
    assert_eq!(
        second.json()["error"]["data"]["relay_error"],
        "tunnel_queue_full"
    );
    let cmd = agent.poll_one();
    assert_eq!(agent.answer(&cmd, json!({})).0, 200);
    assert_eq!(first.join().unwrap().status, 200);
}

#[test]
fn bodies_over_the_cap_are_413() {
    let mut cfg = config();
    cfg.max_body_bytes = 1500;
    let (_relay, base) = start(cfg);
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let big =
        json!({"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"pad": "y".repeat(2000)}});
    let answer = call(&base, &big, &[]);
    assert_eq!(answer.status, 413);
    assert_eq!(
        answer.json()["error"]["data"]["relay_error"],
        "request_body_too_large"
    );
    assert_eq!(metric(&base, "relay_queue_depth"), 0);
}

#[test]
fn caller_token_is_required_when_set_and_not_forwarded() {
    let mut cfg = config();
    cfg.caller_token = Some(Secret::new("caller-secret"));
    let (_relay, base) = start(cfg);
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    for auth in [None, Some("Bearer wrong"), Some("Basic caller-secret")] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        let answer = call(&base, &msg, &headers);
        assert_eq!(answer.status, 401, "{auth:?}");
        assert!(!answer.body.contains("caller-secret"));
    }
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[("Authorization", "Bearer caller-secret")],
    );
    let cmd = agent.poll_one();
    assert!(
        cmd["headers"].get("Authorization").is_none(),
        "the relay's own token stays here"
    );
    assert_eq!(agent.answer(&cmd, json!({})).0, 200);
    assert_eq!(caller.join().unwrap().status, 200);
}

#[test]
fn without_caller_auth_the_authorization_header_is_passed_through() {
    let (_relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[("Authorization", "Bearer for-the-mcp-server")],
    );
    let cmd = agent.poll_one();
    assert_eq!(
        cmd["headers"]["Authorization"],
        json!(["Bearer for-the-mcp-server"])
    );
    assert_eq!(agent.answer(&cmd, json!({})).0, 200);
    assert_eq!(caller.join().unwrap().status, 200);
}

#[test]
fn health_and_metrics() {
    let (_relay, base) = start(config());
    let health = reply(client().get(format!("{base}/healthz")).call().unwrap());
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let _ = call(
        &base,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[],
    );
    // Counted right after the answer is written: wait for it.
    wait_until(WAIT, "the offline answer to be counted", || {
        metric(&base, "relay_caller_requests_total{outcome=\"offline\"}") == 1
    });
    assert_eq!(
        metric(&base, "relay_caller_request_duration_seconds_count"),
        1
    );
    assert_eq!(metric(&base, "relay_agents_connected"), 0);
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    assert_eq!(metric(&base, "relay_agents_connected"), 1);
}
