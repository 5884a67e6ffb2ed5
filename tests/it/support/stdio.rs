//! Helpers for the stdio integration tests: start a `StdioBackend` on a real
//! child, build JSON-RPC messages, call with a deadline, wait on conditions.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tunnel::admin::telemetry::Telemetry;
use tunnel::config::StdioConfig;
use tunnel::contract::Headers;
use tunnel::mcp::stdio::StdioBackend;
use tunnel::mcp::{Backend, McpCall, McpReply};

/// Generous per-call deadline for calls that are expected to succeed.
pub const CALL: Duration = Duration::from_secs(20);

pub fn stub_argv() -> Vec<String> {
    vec![
        env!("CARGO_BIN_EXE_tunnel-client").to_string(),
        "dev".into(),
        "mcp-stub".into(),
    ]
}

pub fn fixture(name: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "stdio",
        name,
    ]
    .iter()
    .collect();
    path.to_string_lossy().into_owned()
}

/// A fresh scratch file path under the target dir (removed first).
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stdio");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

pub fn start(argv: Vec<String>, cfg: StdioConfig) -> (StdioBackend, Arc<Telemetry>) {
    let telemetry = Arc::new(Telemetry::new());
    let backend = StdioBackend::start(&argv, &cfg, telemetry.clone()).expect("backend starts");
    (backend, telemetry)
}

pub fn request(id: Value, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

pub fn tool(id: Value, name: &str, args: Value) -> Value {
    request(id, "tools/call", json!({"name": name, "arguments": args}))
}

pub fn initialize(id: Value) -> Value {
    request(
        id,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "stdio-test", "version": "1"}}),
    )
}

pub fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// Calls with `timeout` as the deadline; returns the reply and the notifications.
pub fn call_with(
    backend: &dyn Backend,
    message: &Value,
    headers: &Headers,
    timeout: Duration,
) -> (McpReply, Vec<Value>) {
    let mut notes = Vec::new();
    let call = McpCall {
        message,
        headers,
        deadline: Instant::now() + timeout,
    };
    let reply = backend.call(&call, &mut |n| notes.push(n));
    (reply, notes)
}

pub fn call(backend: &dyn Backend, message: &Value) -> McpReply {
    call_with(backend, message, &Headers::new(), CALL).0
}

/// The JSON of a `Response`, panicking on anything else.
pub fn json_of(reply: McpReply) -> Value {
    match reply {
        McpReply::Response {
            json,
            status,
            headers,
        } => {
            assert_eq!(status, 200, "{json}");
            assert_eq!(
                headers.get("Content-Type"),
                Some(&vec!["application/json".to_string()])
            );
            json
        }
        other => panic!("expected a response, got {other:?}"),
    }
}

/// The first text content of a tool result.
pub fn text_of(reply: McpReply) -> String {
    let json = json_of(reply);
    json["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {json}"))
        .to_string()
}

/// The stub's `stats` tool, parsed.
pub fn stats(backend: &dyn Backend, headers: &Headers) -> Value {
    let (reply, _) = call_with(
        backend,
        &tool(json!("stats"), "stats", json!({})),
        headers,
        CALL,
    );
    serde_json::from_str(&text_of(reply)).unwrap()
}

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// True when `pid` is gone or a zombie (init here may never reap orphans).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            matches!(state, Some("Z") | Some("X"))
        }
        Err(_) => true,
    }
}

pub fn headers_with_session(session: &str) -> Headers {
    let mut h = Headers::new();
    h.insert("Mcp-Session-Id".into(), vec![session.to_string()]);
    h
}

/// The misbehaving-server fixtures written in Python need `python3`; on a
/// machine without it (the README asks only for Rust, make and curl) the test
/// says so and passes without running. `.ci/run` makes sure it is there.
pub fn python3_available(test: &str) -> bool {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("{test}: skipped, python3 is not installed");
    }
    found
}
