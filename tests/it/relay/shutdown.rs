//! Shutting a relay down answers held polls and waiting callers at once and
//! releases the port.

use crate::support::relay::*;
use crate::support::{wait_until, WAIT};
use serde_json::json;
use std::net::TcpStream;

#[test]
fn shutdown_answers_held_polls_and_waiting_callers() {
    let (relay, base) = start(config());
    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);

    // A is online but not polling, so the caller's command stays queued.
    let caller = call_in_background(
        &base,
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        &[],
    );
    wait_until(WAIT, "the caller's command to be queued", || {
        metric(&base, "relay_queue_depth") == 1
    });
    let other = Agent::new(&base, "B");
    let poller = std::thread::spawn(move || {
        // Takes the queued command, then holds a second poll open.
        let first = other.poll(1, 20_000);
        let held = other.poll(1, 20_000);
        (first.commands.len(), held.status)
    });
    wait_until(WAIT, "the second poll to be held", || {
        metric(&base, "relay_open_polls") == 1
            && metric(&base, "relay_commands_delivered_total") == 1
    });

    let addr = relay.local_addr();
    relay.shutdown();
    let answer = caller.join().unwrap();
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.json()["error"]["data"]["relay_error"],
        "shutting_down"
    );
    let (delivered, held_status) = poller.join().unwrap();
    assert_eq!(delivered, 1);
    assert!(held_status == 204 || held_status == 503, "{held_status}");
    wait_until(WAIT, "the port to be released", || {
        TcpStream::connect(addr).is_err()
    });
}
