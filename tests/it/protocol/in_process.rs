//! The agent library in-process (`agent::serve`) against the scripted control
//! plane, with a scripted in-process MCP backend: dispatch and respond rules
//! that do not depend on a particular MCP transport.

use crate::support::control_plane::MockControlPlane;
use crate::support::{API_KEY, TUNNEL_ID, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tunnel::agent::stop::Stopper;
use tunnel::config::{Config, McpTarget};
use tunnel::contract::{FailureSource, Headers, TransportErrorKind, TunnelFailure};
use tunnel::mcp::{Backend, BackendStatus, McpCall, McpReply};
use tunnel::secret::Secret;
use tunnel::telemetry::Telemetry;

/// Answers by method: `echo` echoes params, `notify3` sends three
/// notifications first, `hang` waits for the deadline, `boom` fails.
struct Scripted {
    calls: AtomicUsize,
    terminations: AtomicUsize,
}

impl Backend for Scripted {
    fn call(&self, call: &McpCall<'_>, on_notify: &mut dyn FnMut(Value)) -> McpReply {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let id = call.message.get("id").cloned();
        let method = call.message["method"].as_str().unwrap_or_default();
        let mut headers = Headers::new();
        headers.insert("Content-Type".into(), vec!["application/json".into()]);
        match (method, id) {
            (_, None) => McpReply::Accepted {
                status: 202,
                headers,
            },
            ("hang", _) => {
                while Instant::now() < call.deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                McpReply::Expired
            }
            ("boom", _) => McpReply::Failed(TunnelFailure::transport(
                FailureSource::Connect,
                TransportErrorKind::ConnectionRefused,
            )),
            ("notify3", Some(id)) => {
                for i in 0..3 {
                    on_notify(
                        json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": i}}),
                    );
                }
                McpReply::Response {
                    json: json!({"jsonrpc": "2.0", "id": id, "result": {}}),
                    status: 200,
                    headers,
                }
            }
            (_, Some(id)) => McpReply::Response {
                json: json!({"jsonrpc": "2.0", "id": id, "result": {"echo": call.message["params"]}}),
                status: 200,
                headers,
            },
        }
    }

    fn terminate_session(&self, _headers: &Headers, _deadline: Instant) -> McpReply {
        self.terminations.fetch_add(1, Ordering::SeqCst);
        McpReply::Accepted {
            status: 204,
            headers: Headers::new(),
        }
    }

    fn proc_affinity(&self) -> bool {
        false
    }

    fn status(&self) -> BackendStatus {
        BackendStatus {
            kind: "builtin",
            up: true,
            detail: String::new(),
        }
    }

    fn shutdown(&self, _grace: Duration) {}
}

struct Running {
    stopper: Stopper,
    thread: Option<std::thread::JoinHandle<()>>,
    backend: Arc<Scripted>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn start(cp: &MockControlPlane, tweak: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config::with_defaults(
        TUNNEL_ID,
        Secret::new(API_KEY),
        McpTarget::Http {
            url: "http://unused.invalid".into(),
        },
    );
    config.control_plane_url = cp.url.clone();
    config.poll_timeout = Duration::from_millis(500);
    config.admin.address = None;
    tweak(&mut config);
    let backend = Arc::new(Scripted {
        calls: AtomicUsize::new(0),
        terminations: AtomicUsize::new(0),
    });
    let stopper = Stopper::new();
    let thread = {
        let backend: Arc<dyn Backend> = backend.clone();
        let stopper = stopper.clone();
        std::thread::spawn(move || {
            tunnel::agent::serve(
                &config,
                vec![("main".into(), backend)].into(),
                Arc::new(Telemetry::new()),
                &stopper,
            )
            .unwrap();
        })
    };
    Running {
        stopper,
        thread: Some(thread),
        backend,
    }
}

fn cmd(request_id: &str, message: Value) -> Value {
    json!({"request_id": request_id, "shard_token": "st", "command_type": "jsonrpc",
           "created_at": "2026-01-01T00:00:00Z", "jsonrpc": message})
}

#[test]
fn responses_notifications_acks_and_terminations() {
    let cp = MockControlPlane::start();
    let running = start(&cp, |_| {});
    cp.push_commands(vec![
        cmd(
            "r_echo",
            json!({"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"x": 1}}),
        ),
        cmd(
            "r_notes",
            json!({"jsonrpc": "2.0", "id": 2, "method": "notify3"}),
        ),
        cmd(
            "r_ack",
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ),
        json!({"request_id": "r_end", "shard_token": "st", "command_type": "session_termination",
               "created_at": "", "headers": {"Mcp-Session-Id": ["s1"]}}),
    ]);
    let echo = cp.wait_terminal("r_echo", WAIT);
    assert_eq!(echo["resp_json"]["result"]["echo"], json!({"x": 1}));
    assert_eq!(
        echo["resp_headers"],
        json!({"Content-Type": ["application/json"]})
    );

    cp.wait_terminal("r_notes", WAIT);
    let notes = cp.posts_for("r_notes");
    assert_eq!(notes.len(), 4);
    for (i, n) in notes[..3].iter().enumerate() {
        assert_eq!(n["resp_type"], "jsonrpc_notify");
        assert_eq!(n["resp_json"]["params"]["progress"], i);
    }
    assert_eq!(notes[3]["resp_type"], "jsonrpc_response");

    let ack = cp.wait_terminal("r_ack", WAIT);
    assert_eq!(ack["resp_type"], "notify_ack");
    assert_eq!(ack["resp_code"], 202);
    assert!(ack.get("resp_json").is_none());

    let end = cp.wait_terminal("r_end", WAIT);
    assert_eq!(end["resp_type"], "session_termination_response");
    assert_eq!(end["resp_code"], 204);
    assert!(end.get("resp_json").is_none());
    assert_eq!(running.backend.terminations.load(Ordering::SeqCst), 1);
}

#[test]
fn failures_are_synthesized_and_deadlines_respected() {
    let cp = MockControlPlane::start();
    let running = start(&cp, |c| c.request_timeout = Duration::from_millis(300));
    let mut expired = cmd(
        "r_expired",
        json!({"jsonrpc": "2.0", "id": 1, "method": "echo"}),
    );
    expired["response_timeout"] = json!("0s");
    let mut hang_rt = cmd(
        "r_hang_rt",
        json!({"jsonrpc": "2.0", "id": 2, "method": "hang"}),
    );
    hang_rt["response_timeout"] = json!("200ms");
    cp.push_commands(vec![
        expired,
        hang_rt,
        cmd(
            "r_hang_own",
            json!({"jsonrpc": "2.0", "id": 3, "method": "hang"}),
        ),
        cmd(
            "r_boom",
            json!({"jsonrpc": "2.0", "id": "b", "method": "boom"}),
        ),
    ]);
    let boom = cp.wait_terminal("r_boom", WAIT);
    assert_eq!(boom["resp_code"], 502);
    assert_eq!(boom["resp_json"]["id"], "b");
    assert_eq!(
        boom["resp_json"]["error"]["data"]["tunnel_failure"],
        json!({"version": 1, "source": "connect", "upstream_response_received": false, "transport_error_kind": "connection_refused"})
    );
    let own = cp.wait_terminal("r_hang_own", WAIT);
    assert_eq!(own["resp_code"], 504);
    assert_eq!(
        own["resp_json"]["error"]["data"]["tunnel_failure"]["source"],
        "timeout"
    );
    // r_hang_rt ran out at 200 ms, before r_hang_own's 300 ms: nothing posted.
    assert!(cp.posts_for("r_hang_rt").is_empty());
    assert!(cp.posts_for("r_expired").is_empty());
    // The expired command never reached the backend: hang, hang, boom.
    assert_eq!(running.backend.calls.load(Ordering::SeqCst), 3);
}
