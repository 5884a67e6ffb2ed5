//! Runs one test again in a process of its own: for the rare test that must change process-wide
//! state (environment variables), which in this one-binary suite would reach every other test.

use std::process::Command;

/// Marks the child process and names the one test it runs.
const OWN_PROCESS: &str = "TUNNEL_TEST_OWN_PROCESS";

/// In the test process: runs the test called `name` (its full path, such as
/// `stdio::env::some_test`) alone in a child of this test binary with `env`
/// added to its environment, asserts that it passed, and returns `false`.
/// In that child: returns `true`, and the test does its work there.
pub fn in_own_process(name: &str, env: &[(&str, &str)]) -> bool {
    if std::env::var(OWN_PROCESS).as_deref() == Ok(name) {
        return true;
    }
    let binary = std::env::current_exe().expect("the test binary knows its path");
    let out = Command::new(binary)
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(OWN_PROCESS, name)
        .envs(env.iter().copied())
        .output()
        .expect("the test binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("test result: ok. 1 passed"),
        "{name} in its own process:\n{text}"
    );
    false
}
