//! The stdio backend against real MCP reference servers installed under target/ref-mcp by `.ci/run`.
//! Never touches the network; where one is not installed its test says "skipped" (fails in CI).

use crate::support::mcp::*;
use crate::support::stdio::*;
use crate::support::tools::runs;
use crate::support::{require, wait_until};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tunnel::config::StdioConfig;
use tunnel::contract::Headers;
use tunnel::mcp::{Backend, McpCall};
use tunnel::sys::{signal_process_group, GroupSignal};

fn ref_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("ref-mcp")
}

/// `python -m mcp_server_time` from the first interpreter that can import it.
fn time_server() -> Option<Vec<String>> {
    let mut pythons = Vec::new();
    if let Ok(p) = std::env::var("STDIO_REF_PYTHON") {
        pythons.push(p);
    }
    pythons.push(
        ref_dir()
            .join("py/bin/python")
            .to_string_lossy()
            .into_owned(),
    );
    pythons.push("python3".to_string());
    pythons.into_iter().find_map(|python| {
        let ok = Command::new(&python)
            .args(["-c", "import mcp_server_time"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| {
            vec![
                python,
                "-m".into(),
                "mcp_server_time".into(),
                "--local-timezone".into(),
                "UTC".into(),
            ]
        })
    })
}

/// `@modelcontextprotocol/server-everything` installed under target/ref-mcp/node.
fn everything_server() -> Option<Vec<String>> {
    let bin = std::env::var("STDIO_REF_EVERYTHING")
        .map(PathBuf::from)
        .unwrap_or_else(|_| ref_dir().join("node/node_modules/.bin/mcp-server-everything"));
    (runs("node") && bin.exists()).then(|| vec![bin.to_string_lossy().into_owned()])
}

#[test]
fn python_time_server_is_re_initialized_after_a_crash() {
    let Some(argv) = time_server() else {
        require(
            "python package mcp-server-time (.ci/run installs it)",
            false,
        );
        return;
    };
    let (backend, telemetry) = start(argv, StdioConfig::default());
    let init = json_of(call(&backend, &initialize(json!(1))));
    assert_eq!(init["result"]["serverInfo"]["name"], "mcp-time");
    call(&backend, &initialized());
    let time_call = |id| tool(json!(id), "get_current_time", json!({"timezone": "UTC"}));
    let before = json_of(call(&backend, &time_call(2)));
    assert!(
        before["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("UTC"),
        "{before}"
    );
    // This server refuses requests before initialize: after a crash, the call
    // only works if the agent replayed initialize and initialized.
    let pid = backend.pid().unwrap();
    signal_process_group(pid, GroupSignal::Kill).unwrap();
    wait_until(
        Duration::from_secs(20),
        "a new child after the kill",
        || backend.pid().is_some_and(|p| p != pid),
    );
    let after = json_of(call(&backend, &time_call(3)));
    assert!(after.get("error").is_none(), "{after}");
    assert!(
        after["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("UTC"),
        "{after}"
    );
    assert_eq!(telemetry.mcp_restarts(), 1);
    let new_pid = backend.pid().unwrap();
    backend.shutdown(Duration::from_secs(5));
    assert!(process_gone(new_pid));
}

#[test]
fn everything_server_progress_and_restart() {
    let Some(argv) = everything_server() else {
        require(
            "@modelcontextprotocol/server-everything (node; .ci/run puts it in target/ref-mcp)",
            false,
        );
        return;
    };
    let (backend, _) = start(argv, StdioConfig::default());
    let init = json_of(call(&backend, &initialize(json!("i"))));
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );
    call(&backend, &initialized());
    let long = request(
        json!(1),
        "tools/call",
        json!({"name": "trigger-long-running-operation", "arguments": {"duration": 1, "steps": 3},
               "_meta": {"progressToken": "tok"}}),
    );
    let mut notes = Vec::new();
    let reply = backend.call(
        &McpCall {
            message: &long,
            headers: &Headers::new(),
            deadline: Instant::now() + CALL,
        },
        &mut |n| notes.push(n),
    );
    let done = json_of(reply);
    assert_eq!(done["id"], 1);
    assert!(done.get("error").is_none(), "{done}");
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(notes.iter().all(|n| n["params"]["progressToken"] == "tok"));
    let pid = backend.pid().unwrap();
    signal_process_group(pid, GroupSignal::Kill).unwrap();
    wait_until(
        Duration::from_secs(20),
        "a new child after the kill",
        || backend.pid().is_some_and(|p| p != pid),
    );
    let echo = json_of(call(
        &backend,
        &tool(json!(2), "echo", json!({"message": "again"})),
    ));
    assert!(
        echo["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("again"),
        "{echo}"
    );
    backend.shutdown(Duration::from_secs(5));
}
