//! systemd's notify protocol through the built binary, on a fake notify socket (a datagram
//! socket in a scratch directory): READY=1 only after a successful poll, WATCHDOG=1 on a beat,
//! STOPPING=1 at SIGTERM, and no stdio child that sees the notify variables.

use crate::support::control_plane::{MockControlPlane, Scripted};
use crate::support::process;
use crate::support::stdio::fixture;
use crate::support::{require_tool, wait_until, TempDir, WAIT};
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `WATCHDOG_USEC` of the tests: the agent pings every 200 ms (half of it).
const WATCHDOG_USEC: &str = "400000";

/// What the fake manager received: each datagram with when it arrived.
type Received = Arc<Mutex<Vec<(Instant, String)>>>;

/// A fake service manager: a bound datagram socket and a thread recording every datagram.
struct FakeManager {
    _dir: TempDir,
    path: PathBuf,
    received: Received,
}

impl FakeManager {
    fn new() -> FakeManager {
        let dir = TempDir::new("notify");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let received: Received = Arc::default();
        let sink = Arc::clone(&received);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push((Instant::now(), text));
            }
        });
        FakeManager {
            _dir: dir,
            path,
            received,
        }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("NOTIFY_SOCKET", self.path.to_str().unwrap()),
            ("WATCHDOG_USEC", WATCHDOG_USEC),
        ]
    }

    fn received(&self) -> Vec<(Instant, String)> {
        self.received.lock().unwrap().clone()
    }

    /// Arrival times of the datagrams holding the assignment `line`.
    fn times_of(&self, line: &str) -> Vec<Instant> {
        self.received()
            .into_iter()
            .filter(|(_, d)| d.lines().any(|l| l == line))
            .map(|(at, _)| at)
            .collect()
    }

    fn wait_for(&self, line: &str, count: usize) -> Vec<Instant> {
        wait_until(WAIT, format_args!("{count} x {line}"), || {
            let times = self.times_of(line);
            (times.len() >= count).then_some(times)
        })
    }
}

#[test]
fn ready_after_the_first_good_poll_watchdog_on_a_beat_stopping_at_sigterm() {
    let manager = FakeManager::new();
    let cp = MockControlPlane::start();
    // The first two polls fail: no READY=1 may arrive before the third.
    cp.script_poll(Scripted::status(503));
    cp.script_poll(Scripted::status(503));
    let dir = TempDir::new("notify-profile");
    // A quick backoff after the failures (the default base is a second).
    let profile = dir.write("fast.json", r#"{"poll_interval_ms": 50}"#);
    let mut agent = process::agent_with_watchdog_pid(
        &cp.url,
        &["--profile-file", profile.to_str().unwrap()],
        &manager.env(),
    );

    let ready = manager.wait_for("READY=1", 1);
    let polls = cp.polls();
    assert!(polls.len() >= 3, "{} polls", polls.len());
    // The first poll that succeeded was the third one: READY=1 came after it.
    assert!(
        ready[0] > polls[2].at,
        "READY=1 before the first successful poll"
    );
    // The watchdog beats while the agent waits for the control plane (the third poll
    // is held for a second, five beat periods), and goes on beating after READY=1.
    let beats = wait_until(WAIT, "a watchdog ping after READY=1", || {
        let beats = manager.times_of("WATCHDOG=1");
        beats.iter().any(|at| *at > ready[0]).then_some(beats)
    });
    assert!(
        beats.iter().any(|at| *at < ready[0]),
        "no ping before READY"
    );
    // Nothing but these three states (and a status line) is ever sent.
    for (_, datagram) in manager.received() {
        for line in datagram.lines() {
            assert!(
                ["READY=1", "WATCHDOG=1"].contains(&line) || line.starts_with("STATUS="),
                "{line:?}"
            );
        }
    }
    assert!(manager.times_of("STOPPING=1").is_empty());

    let signalled = Instant::now();
    assert!(agent.terminate(WAIT).success(), "{}", agent.output());
    let stopping = manager.times_of("STOPPING=1");
    assert_eq!(stopping.len(), 1, "{:?}", manager.received());
    assert!(stopping[0] > signalled);
    assert_eq!(manager.times_of("READY=1").len(), 1, "READY=1 is said once");
    assert!(
        !agent.output().contains("cannot notify"),
        "{}",
        agent.output()
    );
}

#[test]
fn a_watchdog_pid_naming_another_process_means_no_pings_but_ready_still_comes() {
    let manager = FakeManager::new();
    let cp = MockControlPlane::start();
    let mut env = manager.env();
    // systemd sets WATCHDOG_PID for the main process only; a child (or an
    // agent started by a script) must not ping in its stead.
    env.push(("WATCHDOG_PID", "1"));
    let mut agent = process::agent_with_env(&cp.url, &[], &env);
    let ready = manager.wait_for("READY=1", 1);
    // Two whole watchdog periods after READY: still no ping.
    wait_until(WAIT, "two watchdog periods", || {
        ready[0].elapsed() > Duration::from_millis(800)
    });
    assert!(manager.times_of("WATCHDOG=1").is_empty());
    assert!(agent.terminate(WAIT).success());
    assert_eq!(manager.times_of("STOPPING=1").len(), 1);
}

#[test]
fn a_stdio_child_does_not_see_the_notify_variables() {
    if !require_tool("python3") {
        return;
    }
    let manager = FakeManager::new();
    let cp = MockControlPlane::start();
    let command = format!("python3 {}", fixture("env_dump.py"));
    let mut agent =
        process::agent_with_watchdog_pid(&cp.url, &["--mcp-command", &command], &manager.env());
    manager.wait_for("READY=1", 1);
    cp.push_commands(vec![json!({
        "request_id": "req_env",
        "shard_token": "shard-env",
        "command_type": "jsonrpc",
        "channel": "main",
        "created_at": "2026-01-01T00:00:00Z",
        "headers": {},
        "jsonrpc": {"jsonrpc": "2.0", "id": 1, "method": "ping"},
    })]);
    let body = cp.wait_terminal("req_env", WAIT);
    let env = &body["resp_json"]["result"];
    assert!(env.get("PATH").is_some(), "{body}");
    for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
        assert!(env.get(name).is_none(), "{name} reached the child: {env}");
    }
    assert!(agent.terminate(WAIT).success());
}
