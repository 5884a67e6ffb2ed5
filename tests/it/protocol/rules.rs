//! PROTOCOL.md, rule by rule, through the real `tunnel-client` binary against
//! a scripted control plane on 127.0.0.1 and the built-in stdio stub.

use crate::support::control_plane::{MockControlPlane, Scripted};
use crate::support::process;
use crate::support::{wait_until, API_KEY, TUNNEL_ID, WAIT};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn command(request_id: &str, message: Value) -> Value {
    json!({
        "request_id": request_id,
        "shard_token": format!("shard-{request_id}-SECRET"),
        "command_type": "jsonrpc",
        "channel": "main",
        "created_at": "2026-01-01T00:00:00Z",
        "headers": {},
        "jsonrpc": message,
    })
}

fn call(request_id: &str, id: Value, tool: &str, args: Value) -> Value {
    command(
        request_id,
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}}),
    )
}

fn echo(request_id: &str, text: &str) -> Value {
    call(request_id, json!(request_id), "echo", json!({"text": text}))
}

fn result_text(body: &Value) -> String {
    body["resp_json"]["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_request_carries_the_contract_headers() {
    let cp = MockControlPlane::start();
    let agent = process::agent(&cp.url, &[]);
    cp.push_commands(vec![echo("req_h", "hello")]);
    let body = cp.wait_terminal("req_h", WAIT);
    assert_eq!(result_text(&body), "hello");

    let requests = cp.requests();
    let instance = requests[0]
        .header("X-Tunnel-Client-Instance-Id")
        .unwrap()
        .to_string();
    assert_eq!(instance.len(), 32);
    for r in &requests {
        assert_eq!(
            r.header("Authorization"),
            Some(format!("Bearer {API_KEY}").as_str())
        );
        assert_eq!(r.header("X-Tunnel-Client-Name"), Some("tunnel-client-rs"));
        assert_eq!(
            r.header("X-Tunnel-Client-Version"),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            r.header("X-Tunnel-Client-Instance-Id"),
            Some(instance.as_str())
        );
        assert_eq!(
            r.header("X-Tunnel-MCP-Server-Info"),
            Some(r#"{"version":1,"channels":[{"name":"main","proc_affinity":true}]}"#)
        );
        assert!(
            r.url.starts_with(&format!("/v1/tunnels/{TUNNEL_ID}")),
            "{}",
            r.url
        );
    }
    let post = cp.posts().into_iter().next().unwrap();
    assert_eq!(
        post.header("X-Tunnel-Shard-Token"),
        Some("shard-req_h-SECRET")
    );
    assert_eq!(post.header("Content-Type"), Some("application/json"));
    assert!(
        !String::from_utf8_lossy(&post.body).contains("SECRET"),
        "shard token in body"
    );
    assert_eq!(body["channel"], "main");
    assert_eq!(body["resp_type"], "jsonrpc_response");
    assert_eq!(body["resp_code"], 200);
    assert_eq!(body["resp_json"]["id"], "req_h");
    drop(agent);
}

#[test]
fn poll_limit_follows_free_workers_and_over_limit_batches_are_all_served() {
    let cp = MockControlPlane::start();
    let _agent = process::agent(&cp.url, &["--max-concurrency", "2"]);
    wait_until(WAIT, "the first poll", || !cp.polls().is_empty());
    let first = cp.polls().remove(0);
    assert_eq!(first.query("limit").as_deref(), Some("2"));
    assert_eq!(first.query("timeout_ms").as_deref(), Some("1000"));

    // Five commands although the agent asked for two: every one is answered.
    let ids: Vec<String> = (0..5).map(|i| format!("req_over_{i}")).collect();
    cp.push_commands(ids.iter().map(|id| echo(id, id)).collect());
    for id in &ids {
        let body = cp.wait_terminal(id, WAIT);
        assert_eq!(result_text(&body), *id);
    }
    // While two sleeps occupy both workers, the agent does not poll for more.
    cp.push_commands(vec![
        call("req_busy_1", json!(1), "sleep", json!({"ms": 1500})),
        call("req_busy_2", json!(2), "sleep", json!({"ms": 1500})),
    ]);
    wait_until(WAIT, "a poll", || !cp.polls().is_empty());
    let polls_before = cp.polls().len();
    cp.wait_terminal("req_busy_1", WAIT);
    cp.wait_terminal("req_busy_2", WAIT);
    let busy_polls: Vec<_> = cp.polls().into_iter().skip(polls_before).collect();
    assert!(busy_polls
        .iter()
        .all(|p| p.query("limit").as_deref() != Some("0")));
}

#[test]
fn empty_answers_mean_poll_again_at_once() {
    let cp = MockControlPlane::start();
    cp.script_poll(Scripted::status(204));
    cp.script_poll(Scripted::status(200).with_body(r#"{"commands":[]}"#));
    cp.script_poll(Scripted::status(200).with_body(r#"{"commands":[],"next":"ignored"}"#));
    let agent = process::agent(&cp.url, &["--log-level", "info"]);
    cp.push_commands(vec![echo("req_after_empty", "still here")]);
    let body = cp.wait_terminal("req_after_empty", WAIT);
    assert_eq!(result_text(&body), "still here");
    assert!(cp.polls().len() >= 4);
    assert!(
        !agent.output().contains("poll failed"),
        "{}",
        agent.output()
    );
}

#[test]
fn retry_after_is_a_floor_for_the_next_poll() {
    let cp = MockControlPlane::start();
    cp.script_poll(Scripted::status(429).with_header("Retry-After", "2"));
    let _agent = process::agent(&cp.url, &[]);
    wait_until(WAIT, "a second poll", || cp.polls().len() >= 2);
    let polls = cp.polls();
    let gap = polls[1].at.duration_since(polls[0].at);
    assert!(
        gap >= Duration::from_millis(1900),
        "re-polled after {gap:?} despite Retry-After: 2"
    );
}

#[test]
fn refused_key_is_loud_and_slow() {
    let cp = MockControlPlane::start();
    cp.script_poll(Scripted::status(401).with_body(r#"{"error":{"message":"bad key","type":"invalid_request_error","code":"tunnel_use_forbidden"}}"#));
    let agent = process::agent(&cp.url, &[]);
    agent.wait_for_output("refused the API key");
    // No second poll within the next three seconds (the floor is a minute):
    // an absence can only be watched for over a window.
    std::thread::sleep(Duration::from_secs(3));
    assert!(cp.polls().len() < 2, "polled again after a refused key");
    assert!(!agent.output().contains(API_KEY));
}

#[test]
fn transient_post_failures_are_retried_with_the_same_body() {
    let cp = MockControlPlane::start();
    cp.script_post(Scripted::status(503));
    cp.script_post(Scripted::status(429).with_header("Retry-After", "0"));
    let _agent = process::agent(&cp.url, &[]);
    cp.push_commands(vec![echo("req_retry", "again")]);
    wait_until(WAIT, "three POSTs", || cp.posts().len() >= 3);
    let posts = cp.posts();
    assert_eq!(posts.len(), 3);
    assert!(
        posts.windows(2).all(|w| w[0].body == w[1].body),
        "retries changed the body"
    );
    assert!(posts
        .iter()
        .all(|p| p.header("X-Tunnel-Shard-Token") == Some("shard-req_retry-SECRET")));
}

#[test]
fn final_post_answers_are_not_retried_and_404_is_terminal() {
    let cp = MockControlPlane::start();
    cp.script_post(Scripted::status(404).with_body(r#"{"error":{"message":"gone","type":"invalid_request_error","code":"pending_request_not_found"}}"#));
    cp.script_post(Scripted::status(400));
    let _agent = process::agent(&cp.url, &["--max-concurrency", "1"]);
    cp.push_commands(vec![
        echo("req_gone", "a"),
        echo("req_bad", "b"),
        echo("req_ok", "c"),
    ]);
    cp.wait_terminal("req_ok", WAIT);
    assert_eq!(
        cp.posts_for("req_gone").len(),
        1,
        "404 must not be retried or replayed"
    );
    assert_eq!(cp.posts_for("req_bad").len(), 1, "400 is final");
}

#[test]
fn deadlines_drop_expired_commands_and_bound_the_mcp_call() {
    let cp = MockControlPlane::start();
    let agent = process::agent(
        &cp.url,
        &["--max-concurrency", "1", "--request-timeout", "1"],
    );
    let mut zero = echo("req_zero", "never");
    zero["response_timeout"] = json!("0s");
    let mut slow = call("req_slow", json!(5), "sleep", json!({"ms": 3000}));
    slow["response_timeout"] = json!("300ms");
    let mut odd = echo("req_odd_timeout", "absent means default");
    odd["response_timeout"] = json!("1m30s");
    let mut number = echo("req_number_timeout", "a number is absent too");
    number["response_timeout"] = json!(30);
    let own_timeout = call("req_own_timeout", json!("t"), "sleep", json!({"ms": 3000}));
    cp.push_commands(vec![zero, slow, odd, number, own_timeout]);
    // Queued commands share the 1 s request timeout, so the witness that the
    // worker moved on comes in a later batch.
    cp.wait_terminal("req_own_timeout", Duration::from_secs(30));
    cp.push_commands(vec![echo("req_last", "done")]);

    cp.wait_terminal("req_last", Duration::from_secs(30));
    assert!(
        cp.posts_for("req_zero").is_empty(),
        "0s must be dropped without a response"
    );
    assert!(
        cp.posts_for("req_slow").is_empty(),
        "expired during MCP work: nothing posted"
    );
    assert_eq!(
        result_text(&cp.posts_for("req_odd_timeout")[0]),
        "absent means default"
    );
    assert_eq!(
        result_text(&cp.posts_for("req_number_timeout")[0]),
        "a number is absent too"
    );
    let late = &cp.posts_for("req_own_timeout")[0];
    assert_eq!(late["resp_code"], 504);
    assert_eq!(late["resp_json"]["id"], "t");
    assert_eq!(late["resp_json"]["error"]["code"], -32603);
    assert_eq!(
        late["resp_json"]["error"]["data"]["tunnel_failure"]["source"],
        "timeout"
    );
    agent.wait_for_output("req_zero");
}

#[test]
fn unknown_types_are_skipped_and_unknown_channels_answered_400() {
    let cp = MockControlPlane::start();
    let agent = process::agent(&cp.url, &["--max-concurrency", "1"]);
    let mut future = echo("req_future", "x");
    future["command_type"] = json!("teleport");
    let mut elsewhere = call("req_chan", json!(9), "echo", json!({"text": "x"}));
    elsewhere["channel"] = json!("billing");
    cp.push_commands(vec![
        future,
        json!({"no_request_id": true}),
        elsewhere,
        echo("req_next", "ok"),
    ]);
    cp.wait_terminal("req_next", WAIT);
    assert!(cp.posts_for("req_future").is_empty());
    // The unknown type is logged with its id.
    agent.wait_for_output("req_future");
    // Another lane answers the unknown channel: it may post after req_next.
    let body = cp.wait_terminal("req_chan", WAIT);
    assert_eq!(body["resp_code"], 400);
    assert_eq!(body["channel"], "billing");
    assert_eq!(body["resp_type"], "jsonrpc_response");
    assert_eq!(body["resp_json"]["id"], 9);
    assert_eq!(body["resp_json"]["error"]["code"], -32603);
    assert!(body["resp_json"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("billing"));
}

#[test]
fn malformed_poll_bodies_are_survived() {
    let cp = MockControlPlane::start();
    cp.script_poll(Scripted::status(200).with_body("{not json"));
    cp.script_poll(Scripted::status(200).with_body(r#"{"commands": "nope"}"#));
    let _agent = process::agent(&cp.url, &["--log-level", "info"]);
    let mut broken = echo("req_broken_payload", "x");
    broken["jsonrpc"] = json!("not an object");
    cp.push_commands(vec![broken, echo("req_fine", "fine")]);
    assert_eq!(
        result_text(&cp.wait_terminal("req_fine", Duration::from_secs(30))),
        "fine"
    );
    let body = &cp.posts_for("req_broken_payload")[0];
    assert_eq!(body["resp_json"]["error"]["code"], -32603);
    assert_eq!(body["resp_code"], 400);
}

#[test]
fn shared_child_keeps_colliding_ids_apart_and_routes_progress() {
    let cp = MockControlPlane::start();
    let _agent = process::agent(&cp.url, &[]);
    cp.push_commands(vec![
        call("req_a", json!(1), "sleep", json!({"ms": 300})),
        call("req_b", json!(1), "echo", json!({"text": "b"})),
        command("req_p", json!({"jsonrpc": "2.0", "id": "p", "method": "tools/call",
            "params": {"name": "progress", "arguments": {"steps": 3}, "_meta": {"progressToken": "tok-1"}}})),
    ]);
    let a = cp.wait_terminal("req_a", WAIT);
    let b = cp.wait_terminal("req_b", WAIT);
    assert_eq!(a["resp_json"]["id"], 1);
    assert_eq!(b["resp_json"]["id"], 1);
    assert_eq!(result_text(&b), "b");
    assert!(a["resp_json"]["result"].is_object());

    cp.wait_terminal("req_p", WAIT);
    let posts = cp.posts_for("req_p");
    let kinds: Vec<&str> = posts
        .iter()
        .map(|p| p["resp_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "jsonrpc_notify",
            "jsonrpc_notify",
            "jsonrpc_notify",
            "jsonrpc_response"
        ]
    );
    for note in &posts[..3] {
        assert_eq!(note["resp_json"]["method"], "notifications/progress");
        assert_eq!(note["resp_json"]["params"]["progressToken"], "tok-1");
    }
}

#[test]
fn a_crashed_child_fails_its_calls_and_comes_back() {
    let cp = MockControlPlane::start();
    let _agent = process::agent(&cp.url, &["--max-concurrency", "1"]);
    cp.push_commands(vec![call("req_crash", json!(3), "crash", json!({}))]);
    let body = cp.wait_terminal("req_crash", WAIT);
    assert_eq!(body["resp_code"], 502);
    assert_eq!(body["resp_json"]["id"], 3);
    assert_eq!(
        body["resp_json"]["error"]["data"]["tunnel_failure"]["source"],
        "transport_closed"
    );
    cp.push_commands(vec![echo("req_after_crash", "back")]);
    assert_eq!(
        result_text(&cp.wait_terminal("req_after_crash", WAIT)),
        "back"
    );
}

#[test]
fn sigterm_drains_in_flight_commands_then_exits_zero() {
    let cp = MockControlPlane::start();
    let mut agent = process::agent(&cp.url, &[]);
    let pushed = Instant::now();
    cp.push_commands(vec![call(
        "req_drain",
        json!(1),
        "sleep",
        json!({"ms": 1000}),
    )]);
    // Two polls begun after the push: the batch has been taken and queued.
    wait_until(WAIT, "two polls after the push", || {
        cp.polls().iter().filter(|r| r.at > pushed).count() >= 2
    });
    let started = Instant::now();
    let status = agent.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", agent.output());
    let body = &cp.posts_for("req_drain");
    assert_eq!(body.len(), 1, "in-flight command not finished before exit");
    assert!(body[0]["resp_json"]["result"].is_object());
    assert!(started.elapsed() < Duration::from_secs(25));
}

#[test]
fn secrets_never_reach_the_output() {
    let cp = MockControlPlane::start();
    let mut agent = process::agent(&cp.url, &["--log-level", "trace"]);
    cp.push_commands(vec![
        echo("req_s", "x"),
        call("req_s2", json!(2), "crash", json!({})),
    ]);
    cp.wait_terminal("req_s", WAIT);
    cp.wait_terminal("req_s2", WAIT);
    agent.terminate(Duration::from_secs(30));
    let out = agent.output();
    assert!(!out.contains(API_KEY), "API key leaked");
    assert!(!out.contains("SECRET"), "shard token leaked");
}

#[test]
fn json_logs_carry_the_request_id_as_a_field() {
    let cp = MockControlPlane::start();
    let agent = process::agent(&cp.url, &["--log-format", "json", "--log-level", "info"]);
    let mut elsewhere = echo("req_json_field", "x");
    elsewhere["channel"] = json!("nowhere");
    cp.push_commands(vec![elsewhere]);
    cp.wait_terminal("req_json_field", WAIT);
    agent.wait_for_output("req_json_field");
    let lines: Vec<Value> = agent
        .output()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let line = lines
        .iter()
        .find(|l| {
            l["msg"]
                .as_str()
                .is_some_and(|m| m.contains("req_json_field"))
        })
        .unwrap();
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["fields"]["request_id"], "req_json_field");
    assert!(line["ts"].is_string() && line["target"].is_string());
}
