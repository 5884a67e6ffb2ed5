//! High availability through the built binaries: several tunnel-client processes on one tunnel
//! under steady load while one is killed, the relay restarted on its port, a pinned stdio session
//! losing its agent, and an agent restart (the first call goes to the new process at once).
//! Each test prints its figures (`cargo test relay::ha -- --nocapture`).

use crate::support::http::client;
use crate::support::process::{self, Process};
use crate::support::relay::*;
use crate::support::{wait_until, TUNNEL_ID, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Caller threads of the steady load.
const CALLERS: usize = 8;

/// A pause after a failed call, so a caller does not spin while the relay is down.
const FAILED_CALL_PAUSE: Duration = Duration::from_millis(10);

/// One caller request of the load and how it ended.
struct Call {
    started: Instant,
    took: Duration,
    /// The HTTP status, or `None` when no answer arrived (connection refused or cut).
    status: Option<u16>,
    /// A 200 whose result echoes what was sent.
    ok: bool,
}

/// `CALLERS` threads calling the stub's `echo` through the relay until `stop`.
fn steady_load(base: &str, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<Vec<Call>>> {
    (0..CALLERS)
        .map(|caller| {
            let url = format!("{base}/v1/mcp/{TUNNEL_ID}");
            let stop = Arc::clone(stop);
            std::thread::spawn(move || {
                let http = client();
                let mut calls = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let text = format!("caller {caller} call {n}");
                    let message = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                        "params": {"name": "echo", "arguments": {"text": text}}});
                    let started = Instant::now();
                    let result = http
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(message.to_string());
                    let (status, ok) = match result {
                        Ok(mut resp) => {
                            let status = resp.status().as_u16();
                            let body = resp.body_mut().read_to_string().unwrap_or_default();
                            let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                            let echoed = answer["result"]["content"][0]["text"] == text;
                            (Some(status), status == 200 && echoed && answer["id"] == n)
                        }
                        Err(_) => (None, false),
                    };
                    calls.push(Call {
                        started,
                        took: started.elapsed(),
                        status,
                        ok,
                    });
                    if !ok {
                        std::thread::sleep(FAILED_CALL_PAUSE);
                    }
                }
                calls
            })
        })
        .collect()
}

fn join(callers: Vec<JoinHandle<Vec<Call>>>) -> Vec<Call> {
    callers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect()
}

fn agents(base: &str, n: usize) -> Vec<Process> {
    let agents = (0..n).map(|_| process::agent(base, &[])).collect();
    wait_for_agents(base, n as u64);
    agents
}

/// Failed calls by status (`None`: no answer), for the message of a failed assertion.
fn failures(calls: &[&Call]) -> String {
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for call in calls.iter().filter(|c| !c.ok) {
        let key = call
            .status
            .map_or_else(|| "no answer".to_string(), |s| s.to_string());
        *by_status.entry(key).or_default() += 1;
    }
    format!("{by_status:?}")
}

// RELAY.md "Several agents": three agents on one tunnel, eight callers for
// 10 s, one agent SIGKILLed mid-load. Every caller gets an answer, at least
// 99.5 % succeed, none waits 15 s.
#[test]
fn ha_three_agents_under_load_survive_a_sigkill_of_one() {
    let (_relay, base) = binary(&[]);
    let agents = agents(&base, 3);
    let stop = Arc::new(AtomicBool::new(false));
    let load_started = Instant::now();
    let callers = steady_load(&base, &stop);
    wait_until(WAIT, "4 s of load", || {
        load_started.elapsed() >= Duration::from_secs(4)
    });
    let killed_at = Instant::now();
    agents[1].signal("KILL");
    wait_until(WAIT, "6 more seconds of load", || {
        killed_at.elapsed() >= Duration::from_secs(6)
    });
    stop.store(true, Ordering::SeqCst);
    let calls = join(callers);

    let all: Vec<&Call> = calls.iter().collect();
    let answered = calls.iter().filter(|c| c.status.is_some()).count();
    let ok = calls.iter().filter(|c| c.ok).count();
    let max_wait = calls.iter().map(|c| c.took).max().unwrap_or_default();
    let percent = 100.0 * ok as f64 / calls.len() as f64;
    let after_kill = calls.iter().filter(|c| c.started >= killed_at).count();
    eprintln!(
        "HA (3 agents, {CALLERS} callers, 10 s, SIGKILL at 4 s): {} calls, {ok} succeeded \
         ({percent:.3} %), {after_kill} started after the kill, max wait {max_wait:?}, \
         failures {}",
        calls.len(),
        failures(&all)
    );
    assert!(calls.len() >= 100, "the load ran: {} calls", calls.len());
    assert_eq!(answered, calls.len(), "every caller gets an answer");
    assert!(
        percent >= 99.5,
        "{percent:.3} % succeeded: {}",
        failures(&all)
    );
    assert!(
        max_wait < Duration::from_secs(15),
        "a caller waited {max_wait:?}"
    );
    assert!(after_kill > 0);
}

// RELAY.md "Several agents": the relay restarts on its port mid-load; the
// agents poll it again within 5 s, and every call after that succeeds.
#[test]
fn ha_a_relay_restarted_on_its_port_gets_its_agents_back_within_5_s() {
    let (relay, base) = binary(&[]);
    let listen = base.trim_start_matches("http://").to_string();
    let _agents = agents(&base, 3);
    let stop = Arc::new(AtomicBool::new(false));
    let load_started = Instant::now();
    let callers = steady_load(&base, &stop);
    wait_until(WAIT, "3 s of load", || {
        load_started.elapsed() >= Duration::from_secs(3)
    });

    let mut relay = relay;
    let down_at = Instant::now();
    assert_eq!(relay.terminate(WAIT).code(), Some(0));
    let (_relay, again) = binary_on(&listen, &[]);
    assert_eq!(again, base);
    let up_at = Instant::now();
    wait_until(WAIT, "the three agents back", || {
        metric(&base, "relay_agents_connected") == 3
    });
    let resumed = up_at.elapsed();
    let resumed_at = Instant::now();
    wait_until(WAIT, "3 s of load after the restart", || {
        resumed_at.elapsed() >= Duration::from_secs(3)
    });
    stop.store(true, Ordering::SeqCst);
    let calls = join(callers);

    // Calls still open when the relay stopped get 503 (shutting down) or
    // lose their connection: they count as "during".
    let before: Vec<&Call> = calls
        .iter()
        .filter(|c| c.started + c.took < down_at)
        .collect();
    let during: Vec<&Call> = calls
        .iter()
        .filter(|c| c.started + c.took >= down_at && c.started < resumed_at)
        .collect();
    let after: Vec<&Call> = calls.iter().filter(|c| c.started >= resumed_at).collect();
    let ok_after = after.iter().filter(|c| c.ok).count();
    let max_after = after.iter().map(|c| c.took).max().unwrap_or_default();
    eprintln!(
        "relay restart (3 agents, {CALLERS} callers): down for {:?}, agents back {resumed:?} \
         after the new relay listened; before: {} calls, {} ok; during: {} calls, failures {}; \
         after: {} calls, {ok_after} ok, max wait {max_after:?}",
        up_at - down_at,
        before.len(),
        before.iter().filter(|c| c.ok).count(),
        during.len(),
        failures(&during),
        after.len(),
    );
    assert!(
        resumed <= Duration::from_secs(5),
        "agents back after {resumed:?}"
    );
    assert!(before.iter().all(|c| c.ok), "before: {}", failures(&before));
    assert!(after.len() >= 10, "the load ran after the restart");
    assert_eq!(ok_after, after.len(), "after: {}", failures(&after));
}

/// The parent process of `pid`, from /proc.
fn parent_of(pid: u64) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn initialize(base: &str) -> String {
    let answer = call_url(
        &channel_url(base, "main"),
        &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "ha-test", "version": "1"}}}),
        &[],
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.header("Mcp-Session-Id").unwrap().to_string()
}

// RELAY.md "Several agents", R3: a stdio session is pinned to the agent that
// answered its initialize; when that agent is killed, the session's callers
// get a clear error, never another process's server.
#[test]
fn ha_a_pinned_stdio_session_whose_agent_is_killed_gets_a_clear_error() {
    let (_relay, base) = binary(&[]);
    let agents = agents(&base, 2);
    let session = initialize(&base);
    let header = [("Mcp-Session-Id", session.as_str())];
    let pinned_pid = stub_pid(&base, "main", &header);
    for _ in 0..5 {
        assert_eq!(stub_pid(&base, "main", &header), pinned_pid, "pinned");
    }
    let owner = parent_of(pinned_pid);
    let (dead, survivor): (Vec<&Process>, Vec<&Process>) =
        agents.iter().partition(|a| a.pid() == owner);
    assert_eq!((dead.len(), survivor.len()), (1, 1), "owner {owner}");
    dead[0].signal("KILL");
    let killed_at = Instant::now();

    let message = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "stats", "arguments": {}}});
    let answer = call_url(&channel_url(&base, "main"), &message, &header);
    eprintln!(
        "pinned session after its agent's SIGKILL: HTTP {} after {:?}",
        answer.status,
        killed_at.elapsed()
    );
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_eq!(answer.json()["id"], 9);
    assert_eq!(
        answer.json()["error"]["data"]["relay_error"],
        "session_agent_gone"
    );
    // Later calls of the session get the same answer, at once.
    let again = call_url(&channel_url(&base, "main"), &message, &header);
    assert_eq!(again.status, 404);

    // A new session works, on the survivor's server.
    let fresh = initialize(&base);
    let pid = stub_pid(&base, "main", &[("Mcp-Session-Id", fresh.as_str())]);
    assert_ne!(pid, pinned_pid);
    assert_eq!(parent_of(pid), survivor[0].pid());
}

// RELAY.md "Several agents": an agent restarts while a caller's request is
// waiting; the request is served by the new process as soon as it polls,
// never handed to the old process's dead poll (which would leave it there
// until its lease lapsed, 10 s).
#[test]
fn ha_after_an_agent_restart_the_waiting_call_is_served_by_the_new_agent() {
    let (relay, base) = binary(&[]);
    let mut old = process::agent(&base, &[]);
    wait_for_agents(&base, 1);
    let old_pid = stub_pid(&base, "main", &[]);

    // The old process is gone (its sockets closed) before the call arrives:
    // its long-poll is still held at the relay.
    old.signal("KILL");
    old.wait_exit(WAIT);
    let url = channel_url(&base, "main");
    let caller = std::thread::spawn(move || {
        let message = json!({"jsonrpc": "2.0", "id": "stats", "method": "tools/call",
            "params": {"name": "stats", "arguments": {}}});
        let answer = call_url(&url, &message, &[]);
        (answer, Instant::now())
    });
    let new = process::agent(&base, &[]);
    let first_poll = wait_until(WAIT, "the new agent's first poll", || {
        (relay
            .output()
            .lines()
            .filter(|l| l.contains("agent instance") && l.contains("connected"))
            .count()
            == 2)
            .then(Instant::now)
    });
    let (answer, served_at) = caller.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let text = answer.json()["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let stats: Value = serde_json::from_str(&text).unwrap();
    let pid = stats["pid"].as_u64().unwrap();
    assert_ne!(pid, old_pid);
    assert_eq!(parent_of(pid), new.pid(), "served by the new agent");
    assert_eq!(
        metric(&base, "relay_redeliveries_total"),
        0,
        "never handed to the dead poll"
    );
    eprintln!(
        "agent restart: first call served {} ms after the new agent's first poll",
        served_at.saturating_duration_since(first_poll).as_millis()
    );
}

// RELAY.md "Several agents": SIGTERM stops an agent's polling (its held poll
// connection closes, as a killed one's does) while it finishes the calls it
// took: the relay waits for those answers instead of declaring it gone.
#[test]
fn ha_an_agent_draining_after_sigterm_still_answers_the_call_it_took() {
    let (_relay, base) = binary(&[]);
    let mut agent = process::agent(&base, &[]);
    wait_for_agents(&base, 1);
    for _ in 0..3 {
        assert!(stub_pid(&base, "main", &[]) > 0);
    }
    let url = channel_url(&base, "main");
    let caller = std::thread::spawn(move || {
        let message = json!({"jsonrpc": "2.0", "id": "long", "method": "tools/call",
            "params": {"name": "sleep", "arguments": {"ms": 4000}}});
        call_url(&url, &message, &[])
    });
    wait_until(WAIT, "the long call to reach the agent", || {
        metric(&base, "relay_commands_delivered_total") == 4
    });
    // Its next poll is held once it has taken the call: stop it then.
    wait_until(WAIT, "the agent's next poll", || {
        metric(&base, "relay_open_polls") == 1
    });
    agent.signal("TERM");
    let answer = caller.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["id"], "long");
    assert_eq!(agent.wait_exit(WAIT).code(), Some(0));
}
