//! Starting a `StdioBackend` on a real child for the stdio tests: the built-in stub or a fixture
//! server, the stub's own statistics, and whether a child process is gone. Test code only.

use super::mcp::{call_with, text_of, tool, CALL};
use super::process::CLIENT;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tunnel::config::StdioConfig;
use tunnel::contract::Headers;
use tunnel::mcp::stdio::StdioBackend;
use tunnel::mcp::Backend;
use tunnel::telemetry::Telemetry;

/// The argv of the built-in stub.
pub fn stub_argv() -> Vec<String> {
    vec![CLIENT.to_string(), "dev".into(), "mcp-stub".into()]
}

/// The path of the fixture server `name` (tests/fixtures/stdio).
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

pub fn start(argv: Vec<String>, cfg: StdioConfig) -> (StdioBackend, Arc<Telemetry>) {
    let telemetry = Arc::new(Telemetry::new());
    let backend = StdioBackend::start(&argv, &cfg, telemetry.clone()).expect("backend starts");
    (backend, telemetry)
}

/// The stub's `stats` tool, parsed.
pub fn stats(backend: &dyn Backend, headers: &Headers) -> Value {
    let (reply, _) = call_with(
        backend,
        &tool(json!("stats"), "stats", json!({})),
        headers,
        Instant::now() + CALL,
    );
    serde_json::from_str(&text_of(reply)).unwrap()
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
