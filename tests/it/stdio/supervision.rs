//! Supervision of the shared stdio child through real processes: crash + replayed initialize, crash
//! loops, wedged children, initialize timeouts, the retired-id bound, and process-group hygiene.

use crate::support::mcp::*;
use crate::support::process::CLIENT;
use crate::support::stdio::*;
use crate::support::{require_tool, wait_until, TempDir, WAIT};
use serde_json::json;
use std::time::Duration;
use std::time::Instant;
use tunnel::config::StdioConfig;
use tunnel::contract::{FailureSource, Headers, TransportErrorKind};
use tunnel::mcp::idmap::MAX_RETIRED;
use tunnel::mcp::{Backend, McpReply};

fn failure_kind(reply: McpReply) -> TransportErrorKind {
    match reply {
        McpReply::Failed(f) => {
            assert_eq!(f.source, FailureSource::TransportClosed);
            assert!(!f.upstream_response_received);
            assert_eq!(f.upstream_status, None);
            f.transport_error_kind.unwrap()
        }
        other => panic!("expected transport_closed, got {other:?}"),
    }
}

fn start_log(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn crash_mid_call_fails_in_flight_restarts_and_replays_initialize() {
    let (backend, telemetry) = start(stub_argv(), StdioConfig::default());
    let first = json_of(call(&backend, &initialize(json!("init"))));
    assert_eq!(first["id"], "init");
    call(&backend, &initialized());
    let old_pid = backend.pid().unwrap();
    std::thread::scope(|s| {
        // A long call that reports (first progress step) once it runs on the child.
        let (started_tx, started_rx) = crossbeam_channel::bounded(8);
        let backend = &backend;
        let in_flight = s.spawn(move || {
            let message = request(
                json!(1),
                "tools/call",
                json!({"name": "progress", "arguments": {"steps": 2, "interval_ms": 10_000}, "_meta": {"progressToken": "p"}}),
            );
            let call = tunnel::mcp::McpCall {
                message: &message,
                headers: &Headers::new(),
                deadline: Instant::now() + CALL,
            };
            backend.call(&call, &mut |_| {
                let _ = started_tx.send(());
            })
        });
        started_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the call is in flight");
        let crash = call(backend, &tool(json!(2), "crash", json!({})));
        assert_eq!(failure_kind(crash), TransportErrorKind::UnexpectedEof);
        assert_eq!(
            failure_kind(in_flight.join().unwrap()),
            TransportErrorKind::UnexpectedEof
        );
    });
    // A command sent while the child is down waits for the new one.
    let echo = text_of(call(
        &backend,
        &tool(json!(3), "echo", json!({"text": "after"})),
    ));
    assert_eq!(echo, "after");
    let new_pid = backend.pid().unwrap();
    assert_ne!(new_pid, old_pid);
    assert_eq!(backend.restarts(), 1);
    assert_eq!(telemetry.mcp_restarts(), 1);
    // The new child saw the first session's initialize and initialized, and
    // their answers did not reach anyone. The stub handles every message on a
    // thread of its own, so the notification may land after later requests.
    wait_until(WAIT, "the replayed initialized notification", || {
        stats(&backend, &Headers::new())["initialized_notified"] == true
    });
    let seen = stats(&backend, &Headers::new());
    assert_eq!(seen["pid"], new_pid);
    assert_eq!(seen["initialize_count"], 1);
    assert_eq!(seen["client_name"], "stdio-test");
    // A later session's own initialize still reaches the server.
    let second = json_of(call(&backend, &initialize(json!("second"))));
    assert_eq!(second["id"], "second");
    assert_eq!(second["result"]["serverInfo"]["name"], "tunnel-client-stub");
    assert_eq!(stats(&backend, &Headers::new())["initialize_count"], 2);
    assert!(
        backend.status().detail.ends_with("restarts 1"),
        "{}",
        backend.status().detail
    );
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn crash_loop_retries_with_growing_delays_and_reports_not_ready() {
    let dir = TempDir::new("crash-loop");
    let log = dir.path().join("starts");
    let cfg = StdioConfig {
        extra_env: vec![("STDIO_START_LOG".into(), log.to_string_lossy().into_owned())],
        ..StdioConfig::default()
    };
    let (backend, telemetry) = start(vec![fixture("exit_at_once.sh")], cfg);
    wait_until(
        Duration::from_secs(30),
        "six starts: the child keeps being restarted",
        || start_log(&log).len() >= 6,
    );
    wait_until(
        Duration::from_secs(5),
        "the child to be reported down",
        || !backend.status().up,
    );
    assert!(telemetry.mcp_restarts() >= 5);
    let starts: Vec<u128> = start_log(&log).iter().map(|l| l.parse().unwrap()).collect();
    let gaps: Vec<u128> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000)
        .collect();
    // Restart k waits at least 50 ms * 2^k (100 ms doubling, half of it jitter).
    for (k, gap) in gaps.iter().take(5).enumerate() {
        let floor = 50u128 << k;
        assert!(
            *gap >= floor,
            "gap {k} = {gap} ms, expected at least {floor} ms: {gaps:?}"
        );
    }
    // A command while it is down waits within its deadline, then fails:
    // closed, or cut off by EOF when a restart falls inside its 300 ms and
    // the fresh child exits at once.
    let sent = Instant::now();
    let (reply, _) = call_with(
        &backend,
        &tool(json!(1), "echo", json!({"text": "x"})),
        &Headers::new(),
        sent + Duration::from_millis(300),
    );
    let kind = failure_kind(reply);
    assert!(
        matches!(
            kind,
            TransportErrorKind::ConnectionClosed | TransportErrorKind::UnexpectedEof
        ),
        "{kind:?}"
    );
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "bounded by its deadline"
    );
    backend.shutdown(Duration::from_secs(5));
    assert!(
        backend.status().detail.starts_with("stopped"),
        "{}",
        backend.status().detail
    );
}

#[test]
fn initialize_timeout_restarts_the_child() {
    if !require_tool("python3") {
        return;
    }
    let dir = TempDir::new("slow-init");
    let log = dir.path().join("starts");
    let cfg = StdioConfig {
        extra_env: vec![("STDIO_START_LOG".into(), log.to_string_lossy().into_owned())],
        ..StdioConfig::default()
    };
    let (backend, _) = start(vec![fixture("slow_init.py")], cfg);
    wait_until(Duration::from_secs(10), "the first start", || {
        start_log(&log).len() == 1
    });
    let first_pid = start_log(&log)[0].clone();
    let (reply, _) = call_with(
        &backend,
        &initialize(json!(1)),
        &Headers::new(),
        Instant::now() + Duration::from_millis(300),
    );
    assert_eq!(reply, McpReply::Expired);
    wait_until(
        Duration::from_secs(15),
        "the restart after the initialize timeout, up",
        || start_log(&log).len() == 2 && backend.status().up,
    );
    assert_eq!(backend.restarts(), 1);
    let answer = json_of(call(&backend, &request(json!(2), "ping", json!({}))));
    assert_ne!(
        answer["result"]["pid"].to_string(),
        first_pid,
        "answered by the new child"
    );
    assert_eq!(answer["result"]["pid"].to_string(), start_log(&log)[1]);
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn wedged_child_is_detected_killed_and_restarted() {
    let cfg = StdioConfig {
        hang_after: Duration::from_secs(1),
        ..StdioConfig::default()
    };
    let (backend, telemetry) = start(vec![fixture("silent.sh")], cfg);
    let old_pid = backend.pid().unwrap();
    // The deadline is far; hang detection (1 s + 5 s ping grace) ends it first.
    let (reply, _) = call_with(
        &backend,
        &tool(json!(1), "echo", json!({"text": "x"})),
        &Headers::new(),
        Instant::now() + Duration::from_secs(60),
    );
    assert_eq!(failure_kind(reply), TransportErrorKind::ConnectionAborted);
    wait_until(Duration::from_secs(10), "a new child", || {
        backend.pid().is_some_and(|p| p != old_pid)
    });
    assert!(process_gone(old_pid));
    assert_eq!(telemetry.mcp_restarts(), 1);
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn too_many_unanswered_timeouts_restart_the_child() {
    let cfg = StdioConfig {
        hang_after: Duration::from_secs(3600),
        ..StdioConfig::default()
    };
    let (backend, _) = start(vec![fixture("silent.sh")], cfg);
    let old_pid = backend.pid().unwrap();
    let threads = 16;
    let per_thread = MAX_RETIRED / threads + 2;
    std::thread::scope(|s| {
        for t in 0..threads {
            let backend = &backend;
            s.spawn(move || {
                for i in 0..per_thread {
                    let message = request(json!(format!("{t}-{i}")), "ping", json!({}));
                    let (reply, _) = call_with(
                        backend,
                        &message,
                        &Headers::new(),
                        Instant::now() + Duration::from_millis(30),
                    );
                    // Timeouts, or a fast failure while the child is being replaced.
                    assert!(
                        matches!(reply, McpReply::Expired | McpReply::Failed(_)),
                        "{reply:?}"
                    );
                }
            });
        }
    });
    wait_until(Duration::from_secs(10), "a restart", || {
        backend.restarts() >= 1
    });
    wait_until(Duration::from_secs(10), "a new child", || {
        backend.pid().is_some_and(|p| p != old_pid)
    });
    backend.shutdown(Duration::from_secs(5));
}

#[test]
fn grandchildren_are_ended_on_restart_and_on_shutdown() {
    let dir = TempDir::new("grandchild");
    let pid_file = dir.path().join("pid");
    let cfg = StdioConfig {
        extra_env: vec![
            (
                "STDIO_GRANDCHILD_PID".into(),
                pid_file.to_string_lossy().into_owned(),
            ),
            ("STDIO_STUB".into(), CLIENT.into()),
        ],
        ..StdioConfig::default()
    };
    let read_pid =
        || -> Option<u32> { std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok() };
    let (backend, _) = start(vec![fixture("grandchild.sh")], cfg);
    json_of(call(&backend, &request(json!(1), "ping", json!({}))));
    let first_grandchild = read_pid().unwrap();
    assert!(!process_gone(first_grandchild));
    // The stub crashes; its grandchild still holds stdout open.
    let crash = call(&backend, &tool(json!(2), "crash", json!({})));
    assert!(matches!(crash, McpReply::Failed(_)), "{crash:?}");
    wait_until(
        Duration::from_secs(15),
        "the first grandchild to end",
        || process_gone(first_grandchild),
    );
    wait_until(Duration::from_secs(15), "a new grandchild", || {
        read_pid().is_some_and(|p| p != first_grandchild)
    });
    json_of(call(&backend, &request(json!(3), "ping", json!({}))));
    let second_grandchild = read_pid().unwrap();
    let child = backend.pid().unwrap();
    backend.shutdown(Duration::from_secs(4));
    assert!(process_gone(second_grandchild), "no orphan after shutdown");
    assert!(process_gone(child));
}
