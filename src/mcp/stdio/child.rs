//! Starting a stdio MCP server in its own process group with a cleaned
//! environment, and ending that whole group. Never runs a shell; never leaves an orphan on purpose.

use crate::config::StdioConfig;
use crate::sys::{self, GroupSignal};
use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Why a stdio MCP server could not be started. Names only the program
/// (`argv[0]`), never its arguments, which may carry tokens.
#[derive(Debug)]
pub enum StdioError {
    /// The command line is empty.
    EmptyCommand,
    /// `argv[0]` was not found (as a path, or on `PATH`).
    NotFound { program: String },
    /// `argv[0]` exists but is not an executable file.
    NotExecutable { program: String },
    /// The operating system refused to start it for another reason.
    Spawn { program: String, source: io::Error },
    /// It started, but the agent could not serve it (so it was ended again).
    Unserved {
        program: String,
        reason: &'static str,
        source: Option<io::Error>,
    },
}

impl fmt::Display for StdioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StdioError::EmptyCommand => {
                write!(f, "the stdio MCP command is empty: give the program to run, e.g. `--mcp-command \"npx my-server\"`")
            }
            StdioError::NotFound { program } => write!(
                f,
                "stdio MCP command `{program}` was not found: check the spelling, give a full path, or add its folder to PATH"
            ),
            StdioError::NotExecutable { program } => write!(
                f,
                "stdio MCP command `{program}` is not an executable file: check its permissions (chmod +x) or point at the program itself"
            ),
            StdioError::Spawn { program, source } => {
                write!(f, "stdio MCP command `{program}` could not be started: {source}")
            }
            StdioError::Unserved {
                program,
                reason,
                source,
            } => {
                write!(f, "stdio MCP command `{program}` could not be started: {reason}")?;
                match source {
                    Some(source) => write!(f, ": {source}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for StdioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StdioError::Spawn { source, .. } => Some(source),
            StdioError::Unserved {
                source: Some(source),
                ..
            } => Some(source),
            _ => None,
        }
    }
}

/// A freshly started child with its three pipes.
pub struct Spawned {
    pub child: Child,
    pub pid: u32,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

/// Starts `argv` without a shell, in a new process group led by the child,
/// with the agent's environment minus `cfg.removed_env` plus `cfg.extra_env`.
pub fn spawn(argv: &[String], cfg: &StdioConfig) -> Result<Spawned, StdioError> {
    let Some(program) = argv.first().filter(|p| !p.is_empty()) else {
        return Err(StdioError::EmptyCommand);
    };
    let mut command = Command::new(program);
    command
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for name in &cfg.removed_env {
        command.env_remove(name);
    }
    for (name, value) in &cfg.extra_env {
        command.env(name, value);
    }
    let mut child = super::lineage::spawn(&mut command).map_err(|e| spawn_error(program, e))?;
    let pid = child.id();
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        // Cannot happen with three `Stdio::piped()`; end the child rather than leak it.
        let _ = sys::signal_process_group(pid, GroupSignal::Kill);
        let _ = child.wait();
        super::lineage::reaped(pid);
        return Err(StdioError::Unserved {
            program: program.clone(),
            reason: "its pipes could not be set up",
            source: None,
        });
    };
    Ok(Spawned {
        child,
        pid,
        stdin,
        stdout,
        stderr,
    })
}

fn spawn_error(program: &str, error: io::Error) -> StdioError {
    let program = program.to_string();
    match error.kind() {
        io::ErrorKind::NotFound => StdioError::NotFound { program },
        io::ErrorKind::PermissionDenied => StdioError::NotExecutable { program },
        _ => StdioError::Spawn {
            program,
            source: error,
        },
    }
}

/// Checks, without starting it, that `argv[0]` names an executable file
/// (directly, or through the `PATH` the child would get).
pub fn check_program(argv: &[String], cfg: &StdioConfig) -> Result<PathBuf, StdioError> {
    let Some(program) = argv.first().filter(|p| !p.is_empty()) else {
        return Err(StdioError::EmptyCommand);
    };
    if program.contains('/') {
        return check_file(program, Path::new(program));
    }
    let path = cfg
        .extra_env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| std::ffi::OsString::from(v))
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    let mut found_unusable = None;
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        match check_file(program, &candidate) {
            Ok(p) => return Ok(p),
            Err(e @ StdioError::NotExecutable { .. }) => found_unusable = Some(e),
            Err(_) => {}
        }
    }
    Err(found_unusable.unwrap_or(StdioError::NotFound {
        program: program.clone(),
    }))
}

fn check_file(program: &str, path: &Path) -> Result<PathBuf, StdioError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
            Ok(path.to_path_buf())
        }
        Ok(_) => Err(StdioError::NotExecutable {
            program: program.to_string(),
        }),
        Err(_) => Err(StdioError::NotFound {
            program: program.to_string(),
        }),
    }
}

/// How often the stop sequence looks at the group while waiting.
const STOP_POLL: Duration = Duration::from_millis(10);
/// How long to wait after SIGKILL for the leader to be reaped and the group gone.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// How a process group ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Gone after stdin closed (or was already gone).
    Exited,
    /// Needed SIGTERM.
    Terminated,
    /// Needed SIGKILL.
    Killed,
}

/// Ends the group `pgid` whose leader's stdin the caller has already closed:
/// wait up to `stdin_wait`, SIGTERM the group, wait up to `term_wait`, SIGKILL
/// it. `leader_reaped` is set by whoever waits on the leader.
pub fn stop_group(
    pgid: u32,
    leader_reaped: &AtomicBool,
    stdin_wait: Duration,
    term_wait: Duration,
) -> Stopped {
    let gone = || leader_reaped.load(Ordering::Acquire) && !group_has_live_members(pgid);
    if wait_for(stdin_wait, gone) {
        return Stopped::Exited;
    }
    let _ = sys::signal_process_group(pgid, GroupSignal::Terminate);
    if wait_for(term_wait, gone) {
        return Stopped::Terminated;
    }
    let _ = sys::signal_process_group(pgid, GroupSignal::Kill);
    // Every member got SIGKILL, but each dies only when next scheduled: wait
    // (bounded) for the whole group, not just the leader, so that a restart
    // never overlaps the old server's last members.
    wait_for(KILL_WAIT, gone);
    Stopped::Killed
}

fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        std::thread::sleep(STOP_POLL.min(until - now));
    }
}

/// True while some process of group `pgid` is alive and not a zombie. Orphaned
/// grandchildren become zombies of init, which may never reap them here; a
/// zombie holds no resources and counts as gone.
pub fn group_has_live_members(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return sys::process_group_alive(pgid);
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some((state, group)) = proc_state_and_group(&entry.path().join("stat")) {
            if group == pgid && state != 'Z' && state != 'X' {
                return true;
            }
        }
    }
    false
}

/// State letter and process group of one `/proc/PID/stat`.
pub fn proc_state_and_group(stat_path: &Path) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let group = fields.next()?.parse().ok()?;
    Some((state, group))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::Arc;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn errors_name_the_program_and_what_to_do() {
        let cfg = StdioConfig::default();
        let err = spawn(
            &argv(&["/nonexistent/mcp-server", "--token", "s3cret"]),
            &cfg,
        )
        .err()
        .unwrap();
        assert!(
            matches!(&err, StdioError::NotFound { program } if program == "/nonexistent/mcp-server"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("PATH") && !text.contains("s3cret"), "{text}");
        assert!(matches!(
            spawn(&[], &cfg).err(),
            Some(StdioError::EmptyCommand)
        ));
        let plain = std::env::temp_dir().join(format!("stdio-not-exec-{}", std::process::id()));
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let not_exec = spawn(&[plain.to_string_lossy().into_owned()], &cfg)
            .err()
            .unwrap();
        std::fs::remove_file(&plain).unwrap();
        assert!(
            matches!(not_exec, StdioError::NotExecutable { .. }),
            "{not_exec:?}"
        );
        assert!(matches!(
            check_program(&argv(&["/etc"]), &cfg),
            Err(StdioError::NotExecutable { .. })
        ));
        assert!(check_program(&argv(&["sh"]), &cfg).is_ok());
        assert!(matches!(
            check_program(&argv(&["no-such-program-xyz"]), &cfg),
            Err(StdioError::NotFound { .. })
        ));
    }

    #[test]
    fn environment_is_cleaned_and_extended() {
        let cfg = StdioConfig {
            removed_env: vec!["PATH_IS_KEPT_BUT_THIS_GOES".into(), "HOME".into()],
            extra_env: vec![("MCP_EXTRA".into(), "yes".into())],
            ..StdioConfig::default()
        };
        let mut s = spawn(
            &argv(&["sh", "-c", "echo \"h=${HOME-unset} x=$MCP_EXTRA\""]),
            &cfg,
        )
        .unwrap();
        let mut out = String::new();
        s.stdout.read_to_string(&mut out).unwrap();
        s.child.wait().unwrap();
        assert_eq!(out.trim(), "h=unset x=yes");
    }

    #[test]
    fn stop_group_ends_a_child_that_ignores_stdin_and_sigterm() {
        let cfg = StdioConfig::default();
        let s = spawn(
            &argv(&["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"]),
            &cfg,
        )
        .unwrap();
        let Spawned {
            mut child,
            pid,
            stdin,
            ..
        } = s;
        assert_eq!(
            proc_state_and_group(Path::new(&format!("/proc/{pid}/stat"))).map(|x| x.1),
            Some(pid)
        );
        let reaped = Arc::new(AtomicBool::new(false));
        let flag = reaped.clone();
        let waiter = std::thread::spawn(move || {
            child.wait().unwrap();
            flag.store(true, Ordering::Release);
        });
        drop(stdin);
        let how = stop_group(
            pid,
            &reaped,
            Duration::from_millis(50),
            Duration::from_millis(100),
        );
        assert_eq!(how, Stopped::Killed);
        waiter.join().unwrap();
        // stop_group waits up to KILL_WAIT for the group; on a loaded machine
        // the shell's `sleep` may take longer to be scheduled and die.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while group_has_live_members(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "a member of the killed group is still alive after 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
