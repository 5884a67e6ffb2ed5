//! A5: one channel's failing stdio child never delays another channel: every
//! channel has its own workers, so commands waiting for a crash-looping child
//! hold only that channel's.

use super::{result_text, tool_call};
use crate::support::control_plane::MockControlPlane;
use crate::support::process::{self, stub_command};
use crate::support::stdio::fixture;
use crate::support::{wait_until, TempDir, WAIT};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn a5_a_crash_looping_stdio_channel_never_delays_another() {
    let dir = TempDir::new("channels-crashloop");
    let starts = dir.path().join("starts.log");
    let cp = MockControlPlane::start();
    let crashy = format!("channel=crashy,command={}", fixture("exit_at_once.sh"));
    let agent = process::agent_with_env(
        &cp.url,
        &[
            "--mcp-command",
            &stub_command(),
            "--mcp-command",
            &crashy,
            // Two workers per channel, and a long bound: a command for the
            // crashing child waits for a restart nearly that long.
            "--max-concurrency",
            "2",
            "--request-timeout",
            "60",
        ],
        &[("STDIO_START_LOG", starts.to_str().unwrap())],
    );
    wait_until(WAIT, "the crashing child to restart", || {
        std::fs::read_to_string(&starts).is_ok_and(|s| s.lines().count() >= 2)
    });
    // Far more commands for the crashing channel than it has workers.
    let stuck: Vec<_> = (0..8)
        .map(|i| tool_call(&format!("req_crashy_{i}"), "crashy", "echo", json!({})))
        .collect();
    cp.push_commands(stuck);
    wait_until(WAIT, "the crashy commands to be taken", || {
        cp.polls().len() >= 2
    });
    let pushed = Instant::now();
    let fine: Vec<_> = (0..4)
        .map(|i| {
            tool_call(
                &format!("req_main_{i}"),
                "main",
                "echo",
                json!({"text": format!("main {i}")}),
            )
        })
        .collect();
    cp.push_commands(fine);
    for i in 0..4 {
        // Generous bound for "it did not hang": the crashy commands hold
        // their workers for up to a minute.
        let body = cp.wait_terminal(&format!("req_main_{i}"), Duration::from_secs(20));
        assert_eq!(result_text(&body), format!("main {i}"));
    }
    assert!(pushed.elapsed() < Duration::from_secs(20));
    // The crashing channel is still waiting for its child: nothing was
    // answered for it in the meantime, and it kept restarting.
    assert!(cp.posts_for("req_crashy_7").is_empty());
    assert!(agent.output().contains("crashy"), "{}", agent.output());
}
