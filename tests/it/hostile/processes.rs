//! A stdio MCP server whose grandchild leaves the process group and the session
//! (`setsid`) must not leave that grandchild running: not after the server is
//! restarted, not after the agent stops.

use crate::support::control_plane::MockControlPlane;
use crate::support::process::{self, CLIENT};
use crate::support::stdio::{fixture, process_gone};
use crate::support::{require_tool, wait_until, TempDir, WAIT};
use serde_json::json;
use std::time::Duration;

/// Process group and session of `pid`, from /proc.
fn group_and_session(pid: u32) -> Option<(u32, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit(')').next()?.split_whitespace().skip(2);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

fn command(request_id: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    json!({
        "request_id": request_id, "shard_token": "s", "command_type": "jsonrpc",
        "jsonrpc": {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params},
    })
}

#[test]
fn a_grandchild_that_calls_setsid_ends_with_its_server_on_restart_and_on_exit() {
    if !require_tool("setsid") {
        return;
    }
    let dir = TempDir::new("setsid");
    let pid_file = dir.path().join("grandchild.pid");
    let read_pid =
        || -> Option<u32> { std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok() };
    let cp = MockControlPlane::start();
    let mut agent = process::agent_with_env(
        &cp.url,
        &["--mcp-command", &fixture("setsid_grandchild.sh")],
        &[
            ("STDIO_GRANDCHILD_PID", pid_file.to_str().unwrap()),
            ("STDIO_STUB", CLIENT),
        ],
    );
    cp.push_commands(vec![command("ping_1", "ping", json!({}))]);
    assert_eq!(cp.wait_terminal("ping_1", WAIT)["resp_code"], 200);
    let first = wait_until(WAIT, "the first grandchild", read_pid);
    // It really left: its own group and session, so ending the server's
    // process group cannot reach it.
    let (group, session) = group_and_session(first).unwrap();
    assert_eq!((group, session), (first, first));
    assert_ne!(group_and_session(agent.pid()).unwrap().1, session);

    // The server crashes; the restart must not leave its grandchild behind.
    std::fs::remove_file(&pid_file).unwrap();
    cp.push_commands(vec![command(
        "crash",
        "tools/call",
        json!({"name": "crash", "arguments": {}}),
    )]);
    wait_until(WAIT, "the first grandchild to end", || process_gone(first));
    let second = wait_until(
        Duration::from_secs(30),
        "the restarted server's grandchild",
        read_pid,
    );
    assert_ne!(second, first);
    cp.push_commands(vec![command("ping_2", "ping", json!({}))]);
    assert_eq!(cp.wait_terminal("ping_2", WAIT)["resp_code"], 200);
    assert!(!process_gone(second));

    assert!(agent.terminate(WAIT).success());
    wait_until(
        Duration::from_secs(5),
        "the second grandchild to end",
        || process_gone(second),
    );
}
