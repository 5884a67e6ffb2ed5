//! Several agents on one tunnel: each command to exactly one agent, a
//! vanished agent's command redelivered, MCP sessions pinned by affinity.

use crate::support::http::read_response;
use crate::support::relay::*;
use crate::support::{wait_until, API_KEY, TUNNEL_ID, WAIT};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Opens a long-poll as instance `instance` on a raw socket, so the test can
/// make that agent vanish (close) or go silent (never send again).
fn raw_poll(base: &str, instance: &str) -> TcpStream {
    let mut socket = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        socket,
        "GET /v1/tunnels/{TUNNEL_ID}/poll?limit=5&timeout_ms=30000 HTTP/1.1\r\nHost: relay\r\n\
         Authorization: Bearer {API_KEY}\r\nX-Tunnel-Client-Instance-Id: {instance}\r\n\r\n"
    )
    .unwrap();
    socket
}

fn lease_config() -> tunnel::relay::RelayConfig {
    let mut cfg = config();
    cfg.lease_period = Duration::from_millis(300);
    cfg
}

/// A killed agent's long-poll is still held when a command arrives: the poll
/// sees its connection closed and gives the command back instead of writing
/// it into a dead socket, where it would wait for its lease to lapse.
#[test]
fn a_poll_whose_agent_vanished_hands_nothing_over() {
    // A lease period longer than any wait here: no lapsed lease can explain
    // the result.
    let mut cfg = config();
    cfg.lease_period = Duration::from_secs(600);
    let (_relay, base) = start(cfg);
    let dead = raw_poll(&base, "A");
    wait_until(WAIT, "A's poll to be held", || {
        metric(&base, "relay_open_polls") == 1
    });
    // A is killed mid-poll: its socket closes.
    dead.shutdown(Shutdown::Both).unwrap();
    drop(dead);

    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}),
        &[],
    );
    wait_until(
        WAIT,
        "A's dead poll to end with the command still queued",
        || metric(&base, "relay_open_polls") == 0 && metric(&base, "relay_queue_depth") == 1,
    );
    let b = Agent::new(&base, "B");
    let cmd = b.poll_one();
    assert_eq!(cmd["jsonrpc"]["id"], 1);
    assert_eq!(b.answer(&cmd, json!({})).0, 200);
    let answer = caller.join().unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["result"]["by"], "B");
    assert_eq!(metric(&base, "relay_commands_delivered_total"), 1);
    assert_eq!(metric(&base, "relay_redeliveries_total"), 0);
}

/// A second connection of instance `instance` (the one it posts on): one
/// answered request, then kept open.
fn raw_connection(base: &str, instance: &str) -> TcpStream {
    let mut socket = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        socket,
        "GET /v1/tunnels/{TUNNEL_ID} HTTP/1.1\r\nHost: relay\r\n\
         Authorization: Bearer {API_KEY}\r\nX-Tunnel-Client-Instance-Id: {instance}\r\n\r\n"
    )
    .unwrap();
    assert_eq!(read_response(&mut BufReader::new(&mut socket)).status, 200);
    socket
}

/// The agent read its poll answer and died before asking again: all its
/// connections close at once, which proves it gone, so the command goes to a
/// live agent after the short grace, not after the lease period.
#[test]
fn a_delivery_whose_agent_died_after_reading_it_goes_to_a_live_one() {
    let mut cfg = config();
    cfg.lease_period = Duration::from_secs(600);
    let (_relay, base) = start(cfg);
    let posts = raw_connection(&base, "A");
    let mut vanishing = raw_poll(&base, "A");
    wait_until(WAIT, "A's poll to be held", || {
        metric(&base, "relay_open_polls") == 1
    });
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call"}),
        &[],
    );
    let polled = read_response(&mut BufReader::new(&mut vanishing));
    assert_eq!(polled.status, 200);
    drop(vanishing);
    drop(posts);
    let b = Agent::new(&base, "B");
    let cmd = b.poll_one();
    assert_eq!(cmd["jsonrpc"]["id"], 4);
    assert_eq!(b.answer(&cmd, json!({})).0, 200);
    assert_eq!(caller.join().unwrap().json()["result"]["by"], "B");
    assert_eq!(metric(&base, "relay_redeliveries_total"), 1);
}

/// The agent died with its poll answer unread in its socket: the reset that
/// follows proves it never read it, so the command goes on at once, even
/// without any other sign of the agent's death.
#[test]
fn a_delivery_never_read_goes_to_a_live_one_at_once() {
    let mut cfg = config();
    cfg.lease_period = Duration::from_secs(600);
    let (_relay, base) = start(cfg);
    let vanishing = raw_poll(&base, "A");
    wait_until(WAIT, "A's poll to be held", || {
        metric(&base, "relay_open_polls") == 1
    });
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call"}),
        &[],
    );
    // The answer has arrived (peek waits for it) and is never read.
    let mut byte = [0u8; 1];
    assert_eq!(vanishing.peek(&mut byte).unwrap(), 1);
    drop(vanishing);
    let b = Agent::new(&base, "B");
    let cmd = b.poll_one();
    assert_eq!(cmd["jsonrpc"]["id"], 5);
    assert_eq!(b.answer(&cmd, json!({})).0, 200);
    assert_eq!(caller.join().unwrap().json()["result"]["by"], "B");
    assert_eq!(metric(&base, "relay_redeliveries_total"), 1);
}

#[test]
fn a_silent_agents_late_answer_loses_to_the_redelivery() {
    let (_relay, base) = start(lease_config());
    let mut silent = raw_poll(&base, "A");
    wait_until(WAIT, "A's poll to be held", || {
        metric(&base, "relay_open_polls") == 1
    });
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call"}),
        &[],
    );
    let polled = read_response(&mut BufReader::new(&mut silent));
    assert_eq!(polled.status, 200);
    let first = polled.json()["commands"][0].clone();
    // A got it but never makes another request (hung, or cut off).
    let b = Agent::new(&base, "B");
    let second = b.poll_one();
    assert_eq!(second["request_id"], first["request_id"]);
    assert_ne!(second["shard_token"], first["shard_token"]);
    let a = Agent::new(&base, "A");
    assert_eq!(a.answer(&first, json!({})).0, 404, "the old lease is void");
    assert_eq!(b.answer(&second, json!({})).0, 200);
    assert_eq!(caller.join().unwrap().json()["result"]["by"], "B");
}

#[test]
fn a_confirmed_delivery_is_not_redelivered() {
    let (_relay, base) = start(lease_config());
    let a = Agent::new(&base, "A");
    assert_eq!(a.poll(1, 1).status, 204);
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call"}),
        &[],
    );
    let cmd = a.poll_one();
    // A's next poll confirms the delivery; B then never sees the command,
    // however long the call takes.
    assert_eq!(a.poll(1, 1).status, 204);
    let b = Agent::new(&base, "B");
    assert_eq!(b.poll(25, 900).status, 204);
    assert_eq!(metric(&base, "relay_redeliveries_total"), 0);
    assert_eq!(a.answer(&cmd, json!({})).0, 200);
    assert_eq!(caller.join().unwrap().status, 200);
}

#[test]
fn each_command_goes_to_exactly_one_agent() {
    let (_relay, base) = start(config());
    const CALLS: usize = 20;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let agents: Vec<_> = ["A", "B"]
        .into_iter()
        .map(|name| {
            let (base, seen, answered) = (base.clone(), Arc::clone(&seen), Arc::clone(&answered));
            std::thread::spawn(move || {
                let agent = Agent::new(&base, name);
                while answered.load(Ordering::SeqCst) < CALLS {
                    for cmd in agent.poll(3, 100).commands {
                        seen.lock()
                            .unwrap()
                            .push(cmd["request_id"].as_str().unwrap().to_string());
                        assert_eq!(agent.answer(&cmd, json!({})).0, 200);
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    wait_until(WAIT, "both agents to be connected", || {
        metric(&base, "relay_agents_connected") == 2
    });
    let callers: Vec<_> = (0..CALLS)
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
    for (i, caller) in callers.into_iter().enumerate() {
        let answer = caller.join().unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["id"], i);
    }
    for agent in agents {
        agent.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (CALLS, CALLS));
}

/// Runs `initialize` through agent `a` and returns the session id the
/// caller was given.
fn initialize_through(base: &str, a: &Agent, resp_headers: Value) -> String {
    let caller_base = base.to_string();
    let caller = std::thread::spawn(move || {
        call(
            &caller_base,
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}),
            &[],
        )
    });
    let cmd = a.poll_one();
    assert_eq!(cmd["jsonrpc"]["method"], "initialize");
    assert_eq!(a.answer(&cmd, resp_headers).0, 200);
    let answer = caller.join().unwrap();
    assert_eq!(answer.status, 200);
    answer
        .header("Mcp-Session-Id")
        .expect("a session id")
        .to_string()
}

#[test]
fn an_affine_session_sticks_to_the_instance_that_initialized_it() {
    let (_relay, base) = start(config());
    let a = Agent::new(&base, "A").affine();
    let b = Agent::new(&base, "B").affine();
    assert_eq!(a.poll(1, 1).status, 204);
    // A stdio-style server returns no session id: the relay mints one.
    let session = initialize_through(&base, &a, json!({}));
    assert!(session.starts_with("relay-session-"));
    assert_eq!(b.poll(1, 1).status, 204);

    let (caller_base, sid) = (base.clone(), session.clone());
    let caller = std::thread::spawn(move || {
        call(
            &caller_base,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            &[("Mcp-Session-Id", &sid)],
        )
    });
    wait_until(WAIT, "the session's command to be queued", || {
        metric(&base, "relay_queue_depth") == 1
    });
    assert_eq!(b.poll(25, 200).status, 204, "B must not get A's session");
    let cmd = a.poll_one();
    assert_eq!(cmd["headers"]["Mcp-Session-Id"], json!([session]));
    assert_eq!(a.answer(&cmd, json!({})).0, 200);
    assert_eq!(caller.join().unwrap().json()["result"]["by"], "A");

    // A server-issued session id is pinned as well.
    let issued = initialize_through(&base, &a, json!({"Mcp-Session-Id": ["srv-42"]}));
    assert_eq!(issued, "srv-42");
}

#[test]
fn callers_of_a_session_whose_instance_is_gone_get_a_clear_error() {
    let mut cfg = config();
    cfg.live_window = Duration::from_secs(1);
    cfg.lease_period = Duration::from_secs(1);
    let (_relay, base) = start(cfg);
    let a = Agent::new(&base, "A").affine();
    assert_eq!(a.poll(1, 1).status, 204);
    let session = initialize_through(&base, &a, json!({}));

    // B keeps the tunnel online; A stops polling (its process is gone).
    let stop = Arc::new(AtomicBool::new(false));
    let b_got = Arc::new(AtomicUsize::new(0));
    let b_thread = {
        let (base, stop, b_got) = (base.clone(), Arc::clone(&stop), Arc::clone(&b_got));
        std::thread::spawn(move || {
            let b = Agent::new(&base, "B").affine();
            while !stop.load(Ordering::SeqCst) {
                b_got.fetch_add(b.poll(25, 2000).commands.len(), Ordering::SeqCst);
            }
        })
    };
    wait_until(WAIT, "only B to be connected", || {
        metric(&base, "relay_agents_connected") == 1
    });
    let answer = call(
        &base,
        &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}),
        &[("Mcp-Session-Id", &session)],
    );
    stop.store(true, Ordering::SeqCst);
    b_thread.join().unwrap();
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["id"], 5);
    assert_eq!(
        answer.json()["error"]["data"]["relay_error"],
        "session_agent_gone"
    );
    assert!(answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("initialize"));
    assert_eq!(
        b_got.load(Ordering::SeqCst),
        0,
        "never routed to another process"
    );
}
