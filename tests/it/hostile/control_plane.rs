//! A hostile control plane against the real `tunnel-client`: a response_timeout
//! whose deadline overflows the clock, and batches with one undecodable command.

use crate::support::control_plane::MockControlPlane;
use crate::support::process::{self, Process};
use crate::support::{wait_until, WAIT};
use serde_json::{json, Value};
use std::time::Duration;

fn ping(request_id: &str, response_timeout: Option<&str>) -> Value {
    let mut command = json!({
        "request_id": request_id,
        "shard_token": format!("shard-{request_id}"),
        "command_type": "jsonrpc",
        "jsonrpc": {"jsonrpc": "2.0", "id": request_id, "method": "ping"},
    });
    if let Some(timeout) = response_timeout {
        command["response_timeout"] = json!(timeout);
    }
    command
}

fn assert_running(agent: &mut Process) {
    assert!(
        agent.try_status().is_none(),
        "the agent died: {}",
        agent.output()
    );
}

/// PROTOCOL response_timeout: a value whose deadline the clock cannot
/// represent counts as absent. It used to abort the agent (Instant + Duration
/// overflow under panic = "abort"); a relay redelivering it made a crash loop.
#[test]
fn an_overflowing_response_timeout_counts_as_absent_and_never_kills_the_agent() {
    let cp = MockControlPlane::start();
    let mut agent = process::agent(&cp.url, &["--request-timeout", "30"]);
    for round in 0..3 {
        // The same command redelivered, as a relay would after a crash.
        for (i, timeout) in [
            "18446744073709551615s",
            "18446744073709551615h",
            "5124095576030431h",
            "18446744073709551615ms",
        ]
        .into_iter()
        .enumerate()
        {
            let id = format!("big_{round}_{i}");
            cp.push_commands(vec![
                ping(&id, Some(timeout)),
                ping(&format!("ok_{round}_{i}"), None),
            ]);
            let body = cp.wait_terminal(&id, WAIT);
            assert_eq!(body["resp_code"], 200, "{body}");
            assert_eq!(body["resp_json"]["id"], json!(id));
            assert!(body["resp_json"].get("result").is_some(), "{body}");
            cp.wait_terminal(&format!("ok_{round}_{i}"), WAIT);
            assert_running(&mut agent);
        }
    }
    assert!(agent.terminate(WAIT).success());
}

/// One command with invalid UTF-8 or nesting past the decoder's limit used to
/// make the agent refuse the whole poll body: every good command in the same
/// batch was lost without an answer. Now each command is decoded alone.
#[test]
fn one_undecodable_command_never_costs_the_others_their_answers() {
    let cp = MockControlPlane::start();
    let mut agent = process::agent(&cp.url, &[]);
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let good = |id: &str| ping(id, Some("30s")).to_string();
    let mut body = format!(
        r#"{{"commands":[{},
        {{"request_id":"deep","shard_token":"shard-deep","jsonrpc":{{"jsonrpc":"2.0","id":"deep-rpc","method":"tools/call","params":{deep}}}}},
        {},
        {{"request_id":"nested-type","shard_token":"shard-x","command_type":"session_termination","headers":{deep}}},
        {{"request_id":"utf8","shard_token":"shard-utf8","jsonrpc":{{"jsonrpc":"2.0","id":9,"method":"ping","params":{{"s":""#,
        good("good_1"),
        good("good_2"),
    )
    .into_bytes();
    body.extend_from_slice(
        b"\xff\xfe\"}}},{\"request_id\":\"bad\xc3\x28\",\"shard_token\":\"s\"},",
    );
    body.extend_from_slice(good("good_3").as_bytes());
    body.extend_from_slice(b"]}");
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    cp.push_raw_batch(body);

    for id in ["good_1", "good_2", "good_3"] {
        let answer = cp.wait_terminal(id, WAIT);
        assert_eq!(answer["resp_code"], 200, "{answer}");
        assert_eq!(answer["resp_json"]["id"], id);
    }
    // The undecodable jsonrpc commands are answered at once with their own ids.
    let deep = cp.wait_terminal("deep", WAIT);
    assert_eq!(deep["resp_code"], 400);
    assert_eq!(deep["resp_json"]["id"], "deep-rpc");
    assert_eq!(deep["resp_json"]["error"]["code"], -32603);
    let utf8 = cp.wait_terminal("utf8", WAIT);
    assert_eq!(utf8["resp_json"]["id"], 9);
    assert_eq!(utf8["resp_json"]["error"]["code"], -32603);
    // The others are logged drops that name their request id when it can be read.
    wait_until(WAIT, "the drop to be logged", || {
        agent
            .output()
            .contains("command nested-type is undecodable")
    });
    assert!(
        agent.output().contains("command without a request_id"),
        "{}",
        agent.output()
    );
    assert!(cp.posts_for("nested-type").is_empty());
    // And the agent keeps polling.
    cp.push_commands(vec![ping("after", None)]);
    cp.wait_terminal("after", WAIT);
    assert_running(&mut agent);
    assert!(agent.terminate(WAIT).success());
}

/// A body that is not a command list at all costs nothing but that poll.
#[test]
fn a_body_that_is_not_a_command_list_is_survived() {
    let cp = MockControlPlane::start();
    let mut agent = process::agent(&cp.url, &[]);
    cp.push_raw_batch(b"{\"commands\": [".to_vec());
    cp.push_raw_batch(b"\xff\xff".to_vec());
    cp.push_raw_batch(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes());
    cp.push_commands(vec![ping("after", None)]);
    cp.wait_terminal("after", Duration::from_secs(60));
    assert_running(&mut agent);
    assert!(agent.terminate(WAIT).success());
}
