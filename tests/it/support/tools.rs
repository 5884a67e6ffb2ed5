//! Tests that need a tool beyond Rust, make and curl (python3, node, groff, chromium, the reference
//! MCP servers): skipped with a message where it is missing, a failure when TUNNEL_REQUIRE_ALL=1 (CI).

use std::process::{Command, Stdio};

/// Set to `1` (as `.ci/run` does), a missing tool fails its tests instead of skipping them.
const REQUIRE_ALL: &str = "TUNNEL_REQUIRE_ALL";

/// Whether `program` (on PATH) runs; see [`require`] for what happens when it does not.
pub fn require_tool(program: &str) -> bool {
    require(program, runs(program))
}

/// `true` when `installed`. Otherwise the calling test prints
/// "skipped: WHAT not installed" and gets `false` (it returns at once), or it
/// panics when TUNNEL_REQUIRE_ALL=1, where every test must really run.
pub fn require(what: &str, installed: bool) -> bool {
    if installed {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    assert!(
        std::env::var(REQUIRE_ALL).as_deref() != Ok("1"),
        "{test}: {what} is not installed, and {REQUIRE_ALL}=1 requires every test to run"
    );
    eprintln!("skipped: {what} not installed ({test})");
    false
}

/// Whether `program --version` runs and exits 0.
pub fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
