//! Every number a peer sends is range-checked where it is parsed: poll
//! `limit`/`timeout_ms`, `resp_code`, `Content-Length` and relay flags at the
//! relay; `Retry-After` at the agent. At and past the integer limits, never a
//! panic or an overflow, and the process keeps serving.

use crate::support::control_plane::{MockControlPlane, Scripted};
use crate::support::http::get;
use crate::support::process;
use crate::support::relay::*;
use crate::support::{API_KEY, TUNNEL_ID, WAIT};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;

fn authorized_get(url: &str) -> u16 {
    crate::support::http::client()
        .get(url)
        .header("Authorization", format!("Bearer {API_KEY}"))
        .call()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn poll_limit_and_timeout_ms_at_the_integer_limits() {
    let (_relay, base) = start(config());
    let poll = format!("{base}/v1/tunnels/{TUNNEL_ID}/poll");
    for query in [
        "limit=18446744073709551615",
        "limit=18446744073709551616",
        "limit=340282366920938463463374607431768211456",
        "limit=-1",
        "limit=1e3",
        "limit=%32",
        "timeout_ms=18446744073709551616",
        "timeout_ms=1.5",
        "timeout_ms=",
    ] {
        assert_eq!(authorized_get(&format!("{poll}?{query}")), 400, "{query}");
    }
    // The largest integer is a request, capped by the relay's own bound: held, not overflowed.
    let agent = Agent::new(&base, "A");
    let held = std::thread::spawn({
        let poll = poll.clone();
        move || authorized_get(&format!("{poll}?limit=1&timeout_ms=18446744073709551615"))
    });
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[],
    );
    assert_eq!(held.join().unwrap(), 200);
    drop(agent);
    caller.join().unwrap();
    assert_eq!(get(&format!("{base}/healthz")).status, 200);
}

#[test]
fn resp_code_outside_u16_is_refused_and_outside_http_is_a_bad_gateway() {
    let (_relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    for bad in [
        json!(65536),
        json!(-1),
        json!(200.5),
        json!(1e300),
        json!("200"),
    ] {
        let caller = call_in_background(
            &base,
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
            &[],
        );
        let cmd = agent.poll_one();
        let body = json!({"request_id": cmd["request_id"], "resp_code": bad,
            "resp_json": {"jsonrpc": "2.0", "id": 1, "result": {}}});
        let (status, _) = agent.post(&cmd, &body);
        assert_eq!(status, 400, "{bad}");
        // The command is still open: a valid code out of the HTTP range is a 502.
        let body = json!({"request_id": cmd["request_id"], "resp_code": 65535,
            "resp_json": {"jsonrpc": "2.0", "id": 1, "result": {}}});
        assert_eq!(agent.post(&cmd, &body).0, 200);
        assert_eq!(caller.join().unwrap().status, 502);
    }
}

#[test]
fn content_length_at_the_integer_limits_never_costs_the_relay() {
    let (_relay, base) = start(config());
    let addr = base.trim_start_matches("http://").to_string();
    for length in [
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999",
        "-1",
        "1e3",
        " 5",
    ] {
        let mut raw = TcpStream::connect(&addr).unwrap();
        raw.set_read_timeout(Some(WAIT)).unwrap();
        let _ = write!(
            raw,
            "POST /v1/mcp/{TUNNEL_ID} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\n\r\n{{}}"
        );
        let mut head = [0u8; 9];
        // Any answer or a closed connection will do; the relay must stay up.
        let _ = raw.read(&mut head);
        assert_eq!(get(&format!("{base}/healthz")).status, 200, "{length}");
    }
}

#[test]
fn relay_flags_at_the_integer_limits_are_usage_errors() {
    for (flag, value) in [
        ("--response-timeout", "18446744073709551616"),
        ("--response-timeout", "18446744073709551615"),
        ("--response-timeout", "0"),
        ("--response-timeout", "-1"),
        ("--max-queue", "18446744073709551616"),
        ("--max-queue", "18446744073709551615"),
        ("--listen", "127.0.0.1:65536"),
    ] {
        let mut relay = process::relay(
            &[
                "--listen",
                "127.0.0.1:0",
                "--tunnel-id",
                TUNNEL_ID,
                flag,
                value,
            ],
            &[("TUNNEL_RELAY_AGENT_KEY", API_KEY)],
        );
        let status = relay.wait_exit(WAIT);
        assert_eq!(status.code(), Some(2), "{flag} {value}: {}", relay.output());
        assert!(relay.output().contains(flag), "{}", relay.output());
    }
}

/// PROTOCOL retries: Retry-After is honoured as a minimum, capped; a date
/// whose arithmetic would overflow is unreadable, never a crash.
#[test]
fn retry_after_dates_past_the_integer_limits_are_ignored() {
    let cp = MockControlPlane::start();
    let mut agent = process::agent(&cp.url, &[]);
    for date in [
        "Sun, 06 Nov 18446744073709551615 08:49:37 GMT",
        "Sun, 06 Nov 10000 08:49:37 GMT",
        "Sun, 18446744073709551615 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 18446744073709551615:49:37 GMT",
    ] {
        cp.script_poll(Scripted::status(503).with_header("Retry-After", date));
    }
    cp.push_commands(vec![json!({"request_id": "after", "shard_token": "s",
        "jsonrpc": {"jsonrpc": "2.0", "id": 1, "method": "ping"}})]);
    assert_eq!(cp.wait_terminal("after", WAIT)["resp_code"], 200);
    assert!(agent.try_status().is_none(), "{}", agent.output());
    assert!(agent.terminate(WAIT).success());
}
