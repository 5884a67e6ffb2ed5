//! `run --pid-file`: written at startup (pid and newline, mode 0644), removed at exit, a
//! stale file replaced, a file naming another running tunnel-client refused with exit 2.

use crate::support::control_plane::MockControlPlane;
use crate::support::process::{self, Process};
use crate::support::{wait_until, TempDir, WAIT};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn agent_with_pid_file(cp: &MockControlPlane, pid_file: &Path) -> Process {
    process::agent(&cp.url, &["--pid-file", pid_file.to_str().unwrap()])
}

/// Waits until the file names `pid`.
fn wait_names(pid_file: &Path, pid: u32) {
    wait_until(
        WAIT,
        format_args!("{} to name {pid}", pid_file.display()),
        || std::fs::read_to_string(pid_file).ok() == Some(format!("{pid}\n")),
    );
}

#[test]
fn the_pid_file_names_the_agent_while_it_runs_and_goes_with_it() {
    let dir = TempDir::new("pidfile");
    let pid_file = dir.path().join("agent.pid");
    let cp = MockControlPlane::start();
    let mut agent = agent_with_pid_file(&cp, &pid_file);
    wait_names(&pid_file, agent.pid());
    let mode = std::fs::metadata(&pid_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    // Written atomically: only the file itself is in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    assert!(agent.terminate(WAIT).success(), "{}", agent.output());
    assert!(!pid_file.exists());
}

#[test]
fn a_stale_pid_file_is_replaced() {
    let dir = TempDir::new("pidfile-stale");
    let pid_file = dir.path().join("agent.pid");
    let cp = MockControlPlane::start();

    // A process that has exited and been reaped.
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    // A running process that is not a tunnel-client (the pid was reused).
    let mut other = Command::new("sleep").arg("30").spawn().unwrap();
    for (stale, why) in [
        (format!("{gone_pid}\n"), "which is not running"),
        (format!("{}\n", other.id()), "the pid was reused"),
        ("not a pid\n".to_string(), "does not hold a process id"),
    ] {
        std::fs::write(&pid_file, &stale).unwrap();
        let mut agent = agent_with_pid_file(&cp, &pid_file);
        wait_names(&pid_file, agent.pid());
        agent.wait_for_output(why);
        assert!(agent.terminate(WAIT).success(), "{}", agent.output());
        assert!(!pid_file.exists());
    }
    other.kill().unwrap();
    other.wait().unwrap();
}

#[test]
fn a_pid_file_of_another_running_agent_is_refused_with_exit_2() {
    let dir = TempDir::new("pidfile-taken");
    let pid_file = dir.path().join("agent.pid");
    let cp = MockControlPlane::start();
    let mut first = agent_with_pid_file(&cp, &pid_file);
    wait_names(&pid_file, first.pid());

    let mut second = agent_with_pid_file(&cp, &pid_file);
    let status = second.wait_exit(WAIT);
    assert_eq!(status.code(), Some(2), "{}", second.output());
    let err = second.stderr();
    assert!(
        err.contains(&format!(
            "tunnel-client: could not start: the pid file {} names pid {}, another tunnel-client that is still running",
            pid_file.display(),
            first.pid()
        )),
        "{err}"
    );
    // It started nothing and left the first agent's file alone.
    assert!(
        !second.output().contains("serving tunnel"),
        "{}",
        second.output()
    );
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        format!("{}\n", first.pid())
    );
    assert!(first.terminate(WAIT).success());
    assert!(!pid_file.exists());
}
