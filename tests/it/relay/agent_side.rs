//! The relay's agent side against the contract: auth and tunnel rules,
//! long-poll, limit, 204, shard tokens, 404 for finished requests, bounds.

use crate::support::http::{client, reply, Reply};
use crate::support::relay::*;
use crate::support::{wait_until, API_KEY, TUNNEL_ID, WAIT};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn get(url: &str, key: Option<&str>) -> Reply {
    let mut req = client().get(url);
    if let Some(key) = key {
        req = req.header("Authorization", format!("Bearer {key}"));
    }
    reply(req.call().unwrap())
}

#[test]
fn wrong_key_is_401_and_unknown_tunnel_is_404() {
    let (_relay, base) = start(config());
    let meta = format!("{base}/v1/tunnels/{TUNNEL_ID}");
    for key in [None, Some("wrong"), Some("")] {
        let a = get(&meta, key);
        assert_eq!(a.status, 401, "{key:?}");
        assert!(a.json()["error"]["message"].is_string());
        assert!(!a.body.contains(API_KEY));
    }
    let poll = get(&format!("{meta}/poll?timeout_ms=1"), Some("wrong"));
    assert_eq!(poll.status, 401);

    let other = format!("{base}/v1/tunnels/tunnel_ffffffffffffffffffffffffffffffff");
    assert_eq!(
        get(&other, Some("wrong")).status,
        401,
        "auth comes before lookup"
    );
    let a = get(&format!("{other}/poll?timeout_ms=1"), Some(API_KEY));
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["type"], "invalid_request_error");

    let a = get(&meta, Some(API_KEY));
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["id"], TUNNEL_ID);
    assert!(a.json()["name"].is_string());
    assert_eq!(metric(&base, "relay_agent_auth_failures_total"), 5);
}

#[test]
fn poll_times_out_with_204_and_validates_parameters() {
    let (_relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(25, 50).status, 204);
    for query in [
        "limit=0",
        "limit=26",
        "limit=x",
        "timeout_ms=0",
        "timeout_ms=-5",
    ] {
        let a = get(
            &format!("{base}/v1/tunnels/{TUNNEL_ID}/poll?{query}"),
            Some(API_KEY),
        );
        assert_eq!(a.status, 400, "{query}");
    }
}

#[test]
fn long_poll_returns_when_a_caller_posts() {
    let (_relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    let poller = std::thread::spawn(move || agent.poll(25, 20_000));
    wait_until(WAIT, "the poll to be held", || {
        metric(&base, "relay_open_polls") == 1
    });

    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": "x1", "method": "tools/list"}),
        &[
            ("Mcp-Session-Id", "sess-1"),
            ("Mcp-Protocol-Version", "2025-06-18"),
            ("Last-Event-ID", "ev-9"),
            ("Mcp-Method", "tools/list"),
            ("X-Trace-Id", "t-1"),
            ("Cookie", "caller-cookie=1"),
            ("X-Forwarded-For", "10.1.2.3"),
        ],
    );
    let polled = poller.join().unwrap();
    assert_eq!(polled.status, 200);
    assert_eq!(polled.commands.len(), 1);
    let cmd = &polled.commands[0];
    assert_eq!(cmd["command_type"], "jsonrpc");
    assert_eq!(cmd["channel"], "main");
    assert_eq!(
        cmd["jsonrpc"],
        json!({"jsonrpc": "2.0", "id": "x1", "method": "tools/list"})
    );
    assert_eq!(cmd["headers"]["Mcp-Session-Id"], json!(["sess-1"]));
    assert_eq!(
        cmd["headers"]["Mcp-Protocol-Version"],
        json!(["2025-06-18"])
    );
    assert_eq!(cmd["headers"]["Last-Event-ID"], json!(["ev-9"]));
    // Every end-to-end header travels; cookies and client identity stay.
    assert_eq!(cmd["headers"]["Mcp-Method"], json!(["tools/list"]));
    assert_eq!(cmd["headers"]["X-Trace-Id"], json!(["t-1"]));
    for name in ["Cookie", "X-Forwarded-For", "Host", "Content-Length"] {
        assert!(cmd["headers"].get(name).is_none(), "{name} forwarded");
    }
    let timeout = tunnel::contract::timeout::parse_response_timeout(cmd.get("response_timeout"));
    let timeout = timeout.expect("response_timeout in the contract grammar");
    assert!(timeout <= Duration::from_secs(30) && timeout > Duration::from_secs(20));
    assert!(cmd["shard_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(cmd["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    let agent = Agent::new(&base, "A");
    let (status, ack) = agent.answer(
        cmd,
        json!({"Mcp-Session-Id": ["sess-1"], "Set-Cookie": ["x=1"]}),
    );
    assert_eq!((status, ack), (200, json!({"status": "ok"})));
    let answer = caller.join().unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["id"], "x1");
    assert_eq!(answer.json()["result"]["by"], "A");
    assert_eq!(answer.header("Mcp-Session-Id"), Some("sess-1"));
    assert_eq!(
        answer.header("Set-Cookie"),
        None,
        "only allowlisted headers"
    );
}

#[test]
fn limit_is_respected_and_the_rest_stays_queued() {
    let (_relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let callers: Vec<_> = (0..3)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || {
                call(
                    &base,
                    &json!({"jsonrpc": "2.0", "id": i, "method": "ping"}),
                    &[],
                )
            })
        })
        .collect();
    wait_until(WAIT, "three queued commands", || {
        metric(&base, "relay_queue_depth") == 3
    });
    let first = agent.poll(2, 1000);
    assert_eq!(first.commands.len(), 2);
    let second = agent.poll(25, 1000);
    assert_eq!(second.commands.len(), 1);
    for cmd in first.commands.iter().chain(&second.commands) {
        assert_eq!(agent.answer(cmd, json!({})).0, 200);
    }
    for caller in callers {
        assert_eq!(caller.join().unwrap().status, 200);
    }
}

#[test]
fn shard_token_mismatch_and_finished_requests_are_rejected() {
    let (_relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[],
    );
    let cmd = agent.poll_one();
    let body = json!({"request_id": cmd["request_id"], "resp_json": {"jsonrpc": "2.0", "id": 1, "result": {}}, "resp_code": 200});

    let (status, err) = agent.post_with_token("not-the-token", &body);
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "pending_request_not_found");

    let (status, _) = agent.post(&cmd, &body);
    assert_eq!(status, 200);
    assert_eq!(caller.join().unwrap().status, 200);

    let (status, err) = agent.post(&cmd, &body);
    assert_eq!(status, 404, "a finished request");
    assert_eq!(err["error"]["code"], "pending_request_not_found");

    let unknown = json!({"request_id": "req_never", "resp_code": 200, "future": true});
    assert_eq!(agent.post_with_token("x", &unknown).0, 404);
    let (status, err) = agent.post_with_token("x", &json!({"no": "request id"}));
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "invalid_json_payload");
}

#[test]
fn oversized_bodies_are_refused_and_the_relay_survives_absurd_lengths() {
    let mut cfg = config();
    cfg.max_body_bytes = 2048;
    let (_relay, base) = start(cfg);
    let agent = Agent::new(&base, "A");
    let big = json!({"request_id": "r", "resp_code": 200, "pad": "x".repeat(4096)});
    let (status, err) = agent.post_with_token("t", &big);
    assert_eq!(status, 413);
    assert_eq!(err["error"]["code"], "request_body_too_large");

    // A declared length that tiny_http once allocated on drop: refused, and
    // the connection closed rather than drained or left open.
    let addr = base.trim_start_matches("http://");
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        raw,
        "POST /v1/tunnels/{TUNNEL_ID}/response HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\
         X-Tunnel-Shard-Token: t\r\nContent-Length: 999999999999999999\r\n\r\n{{"
    )
    .unwrap();
    let mut answer = Vec::new();
    raw.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 413"), "{answer:?}");
    assert!(String::from_utf8_lossy(&answer).contains("Connection: close\r\n"));
    assert_eq!(get(&format!("{base}/healthz"), None).status, 200);
}

#[test]
fn notifications_to_a_json_only_caller_are_dropped_and_the_answer_arrives() {
    let (_relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    // A caller that cannot take a stream: notifications are dropped, never
    // buffered without bound, and the terminal answer still arrives.
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}),
        &[],
    );
    let cmd = agent.poll_one();
    let note = json!({"request_id": cmd["request_id"], "resp_json": {"jsonrpc": "2.0", "method": "notifications/progress"}, "resp_code": 200, "resp_type": "jsonrpc_notify"});
    let mut statuses = Vec::new();
    for _ in 0..200 {
        statuses.push(agent.post(&cmd, &note).0);
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(agent.answer(&cmd, json!({})).0, 200);
    let answer = caller.join().unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["id"], 1);
    assert_eq!(answer.header("Content-Type"), Some("application/json"));
}
