//! A real `tunnel-client run` child process for tests: started with flags,
//! stderr captured line by line, stopped with SIGTERM, killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const CLIENT: &str = env!("CARGO_BIN_EXE_tunnel-client");

pub struct AgentProcess {
    child: Child,
    log: Arc<(Mutex<String>, Condvar)>,
}

/// `--mcp-command` value that runs the built-in stub.
pub fn stub_command() -> String {
    format!("{CLIENT} dev mcp-stub")
}

impl AgentProcess {
    /// Starts `tunnel-client run` against `control_plane_url` with the stub
    /// as MCP server unless `args` names another target. Short poll timeout,
    /// admin server off unless `args` sets it.
    pub fn start(control_plane_url: &str, args: &[&str]) -> Self {
        Self::start_with_env(control_plane_url, args, &[])
    }

    pub fn start_with_env(control_plane_url: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(CLIENT);
        cmd.arg("run")
            .args(["--tunnel-id", super::TUNNEL_ID])
            .args(["--control-plane-url", control_plane_url])
            .args(["--poll-timeout-ms", "1000"])
            .args(["--log-level", "debug"]);
        if !args
            .iter()
            .any(|a| *a == "--mcp-server-url" || *a == "--mcp-command")
        {
            cmd.args(["--mcp-command", &stub_command()]);
        }
        if !args.contains(&"--admin-address") {
            cmd.args(["--admin-address", "off"]);
        }
        cmd.args(args)
            .env_remove("RUST_LOG")
            .env_remove("OPENAI_API_KEY")
            .env("CONTROL_PLANE_API_KEY", super::API_KEY)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start tunnel-client");
        let log: Arc<(Mutex<String>, Condvar)> = Arc::default();
        for stream in [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let (text, cv) = &*log;
                    let mut text = text.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                    cv.notify_all();
                }
            });
        }
        AgentProcess { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far (stderr and stdout).
    pub fn output(&self) -> String {
        self.log.0.lock().unwrap().clone()
    }

    /// Waits until the output contains `needle`.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (text, cv) = &*self.log;
        let mut text = text.lock().unwrap();
        loop {
            if text.contains(needle) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            text = cv.wait_timeout(text, left).unwrap().0;
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(timeout)
            .expect("agent did not exit after SIGTERM")
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
