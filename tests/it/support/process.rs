//! The built binaries as real child processes: `tunnel-client run` against a control plane,
//! `tunnel-relay`, the HTTP stub. Output captured line by line, SIGTERM, killed on drop.

use super::{wait_until, API_KEY, TUNNEL_ID, WAIT};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const CLIENT: &str = env!("CARGO_BIN_EXE_tunnel-client");
pub const RELAY: &str = env!("CARGO_BIN_EXE_tunnel-relay");

/// `--mcp-command` value that runs the built-in stub.
pub fn stub_command() -> String {
    format!("{CLIENT} dev mcp-stub")
}

/// `tunnel-client run` against `control_plane_url` with the stub as MCP
/// server unless `args` names another target. Short poll timeout, debug log,
/// admin server off unless `args` sets it; the key is [`API_KEY`].
pub fn agent(control_plane_url: &str, args: &[&str]) -> Process {
    agent_with_env(control_plane_url, args, &[])
}

/// [`agent`] with extra environment variables.
pub fn agent_with_env(control_plane_url: &str, args: &[&str], env: &[(&str, &str)]) -> Process {
    launch_agent(control_plane_url, args, env, !names_mcp_server(args))
}

/// [`agent_with_env`] that adds no MCP server flag: the servers come from
/// `env` (`MCP_SERVER_URL`, `MCP_COMMAND`) or `args` alone.
pub fn agent_without_mcp_flags(
    control_plane_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Process {
    launch_agent(control_plane_url, args, env, false)
}

/// [`agent_with_env`] started the way systemd starts a service: through
/// `sh -c '... exec tunnel-client run ...'` with `WATCHDOG_PID` set to the
/// shell's pid, which `exec` hands on to the agent.
pub fn agent_with_watchdog_pid(
    control_plane_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Process {
    let agent = agent_command(control_plane_url, args, env, !names_mcp_server(args));
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" "$@""#)
        .arg(agent.get_program())
        .args(agent.get_args());
    for (name, value) in agent.get_envs() {
        match value {
            Some(value) => cmd.env(name, value),
            None => cmd.env_remove(name),
        };
    }
    Process::spawn(cmd)
}

fn names_mcp_server(args: &[&str]) -> bool {
    args.iter()
        .any(|a| *a == "--mcp-server-url" || *a == "--mcp-command")
}

fn launch_agent(
    control_plane_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    with_stub: bool,
) -> Process {
    Process::spawn(agent_command(control_plane_url, args, env, with_stub))
}

fn agent_command(
    control_plane_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    with_stub: bool,
) -> Command {
    let mut cmd = Command::new(CLIENT);
    cmd.arg("run")
        .args(["--tunnel-id", TUNNEL_ID])
        .args(["--control-plane-url", control_plane_url])
        .args(["--poll-timeout-ms", "1000"])
        .args(["--log-level", "debug"]);
    if with_stub {
        cmd.args(["--mcp-command", &stub_command()]);
    }
    if !args.contains(&"--admin-address") {
        cmd.args(["--admin-address", "off"]);
    }
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("OPENAI_API_KEY")
        .env_remove("MCP_SERVER_URL")
        .env_remove("MCP_COMMAND")
        .env("CONTROL_PLANE_API_KEY", API_KEY)
        .envs(env.iter().copied());
    cmd
}

/// `tunnel-relay` with `args`; its key and token variables come only from `env`.
pub fn relay(args: &[&str], env: &[(&str, &str)]) -> Process {
    let mut cmd = Command::new(RELAY);
    cmd.args(args)
        .env_remove("TUNNEL_RELAY_AGENT_KEY")
        .env_remove("TUNNEL_RELAY_CALLER_TOKEN")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied());
    Process::spawn(cmd)
}

/// `tunnel-client dev mcp-stub --http 127.0.0.1:0` and its MCP endpoint URL.
pub fn http_stub() -> (Process, String) {
    let mut cmd = Command::new(CLIENT);
    cmd.args(["dev", "mcp-stub", "--http", "127.0.0.1:0"]);
    let stub = Process::spawn(cmd);
    let url = stub.listening_url();
    (stub, format!("{url}/mcp"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

#[derive(Default)]
struct Captured {
    /// Every line in arrival order, with the stream it came from.
    lines: Vec<(Stream, String)>,
    /// Streams that reached their end.
    closed: usize,
}

/// A running child: stdin closed, stdout and stderr captured. Killed on
/// drop; a failing test shows what the child printed.
pub struct Process {
    child: Child,
    captured: Arc<Mutex<Captured>>,
}

impl Process {
    pub fn spawn(mut cmd: Command) -> Process {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
        let captured: Arc<Mutex<Captured>> = Arc::default();
        let pipes: [Option<(Stream, Box<dyn Read + Send>)>; 2] = [
            child
                .stdout
                .take()
                .map(|s| (Stream::Stdout, Box::new(s) as _)),
            child
                .stderr
                .take()
                .map(|s| (Stream::Stderr, Box::new(s) as _)),
        ];
        for (stream, pipe) in pipes.into_iter().flatten() {
            let captured = Arc::clone(&captured);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    captured.lock().unwrap().lines.push((stream, line));
                }
                captured.lock().unwrap().closed += 1;
            });
        }
        Process { child, captured }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything printed so far, stdout and stderr, in arrival order.
    pub fn output(&self) -> String {
        self.text(|_| true)
    }

    pub fn stderr(&self) -> String {
        self.text(|s| s == Stream::Stderr)
    }

    pub fn stdout(&self) -> String {
        self.text(|s| s == Stream::Stdout)
    }

    fn text(&self, wanted: impl Fn(Stream) -> bool) -> String {
        let captured = self.captured.lock().unwrap();
        let mut text = String::new();
        for (stream, line) in &captured.lines {
            if wanted(*stream) {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    /// Waits until the output contains `needle`.
    pub fn wait_for_output(&self, needle: &str) {
        wait_until(WAIT, format_args!("{needle:?} in the output"), || {
            self.output().contains(needle)
        });
    }

    /// The first line on stdout, once there is one.
    pub fn first_stdout_line(&self) -> String {
        wait_until(WAIT, "a first line on stdout", || {
            let captured = self.captured.lock().unwrap();
            captured
                .lines
                .iter()
                .find(|(stream, _)| *stream == Stream::Stdout)
                .map(|(_, line)| line.clone())
        })
    }

    /// The URL of a first stdout line `listening on URL`.
    pub fn listening_url(&self) -> String {
        let line = self.first_stdout_line();
        line.strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .to_string()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// The exit status if the process has ended, without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits for the process to exit by itself, then for the end of its output.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = &mut self.child;
        let status = wait_until(limit, "the process to exit", || {
            child.try_wait().expect("try_wait")
        });
        wait_until(WAIT, "the end of the process's output", || {
            self.captured.lock().unwrap().closed == 2
        });
        status
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(limit)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- output of pid {} ---\n{}", self.pid(), self.output());
        }
    }
}
