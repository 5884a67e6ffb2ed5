//! A hostile caller through the real `tunnel-relay` and `tunnel-client`: a
//! payload nested so deep that the poll body carrying it would not decode.

use crate::support::http::{client, reply, Reply};
use crate::support::process::{self, Process};
use crate::support::{wait_until, API_KEY, TUNNEL_ID, WAIT};
use serde_json::{json, Value};
use tunnel::contract::batch::{depth, MAX_PAYLOAD_DEPTH};

fn post(base: &str, body: &str) -> Reply {
    reply(
        client()
            .post(format!("{base}/v1/mcp/{TUNNEL_ID}"))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap(),
    )
}

/// A tools/call whose whole text is nested exactly `levels` deep.
fn nested_call(id: u64, levels: usize) -> String {
    // The message object and its params object are two of the levels.
    let inner = levels - 2;
    let params = format!("{}1{}", "[".repeat(inner), "]".repeat(inner));
    let text = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{params}}}}}"#
    );
    assert_eq!(depth(text.as_bytes()), Some(levels));
    text
}

fn tunnel() -> (Process, Process, String) {
    let relay = process::relay(
        &["--listen", "127.0.0.1:0", "--tunnel-id", TUNNEL_ID],
        &[("TUNNEL_RELAY_AGENT_KEY", API_KEY)],
    );
    let base = relay.listening_url();
    let agent = process::agent(&base, &[]);
    wait_until(WAIT, "the agent to serve the tunnel", || {
        post(
            &base,
            &json!({"jsonrpc": "2.0", "id": 0, "method": "ping"}).to_string(),
        )
        .status
            == 200
    });
    (relay, agent, base)
}

/// The relay never makes a caller's payload deeper than a decoder accepts:
/// through it, one caller could make the agent refuse a poll body holding
/// other callers' requests. Too deep for the envelope is refused (400) before
/// it is queued; the deepest allowed payload is carried and answered.
#[test]
fn a_payload_too_deep_for_the_poll_envelope_is_refused_and_others_are_served() {
    let (_relay, mut agent, base) = tunnel();
    let callers: Vec<_> = (1..=8)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || {
                let message = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": format!("caller {i}")}}});
                post(&base, &message.to_string())
            })
        })
        .collect();
    for levels in [MAX_PAYLOAD_DEPTH + 1, 127, 128, 5_000] {
        let answer = post(&base, &nested_call(99, levels));
        assert_eq!(answer.status, 400, "{levels}: {}", answer.body);
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(
            body["error"]["data"]["relay_error"], "payload_too_deep",
            "{body}"
        );
    }
    for (i, caller) in callers.into_iter().enumerate() {
        let answer = caller.join().unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["id"], i + 1);
        assert_eq!(
            body["result"]["content"][0]["text"],
            format!("caller {}", i + 1)
        );
    }
    // The deepest payload the envelope can carry reaches the MCP server.
    let answer = post(&base, &nested_call(100, MAX_PAYLOAD_DEPTH));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["id"], 100, "{body}");
    assert!(agent.try_status().is_none(), "{}", agent.output());
}
