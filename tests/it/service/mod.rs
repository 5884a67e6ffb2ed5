//! The agent as a service through the real binary: `tunnel-client health`, `run --pid-file`,
//! and the systemd notify protocol (READY, WATCHDOG, STOPPING) on a fake notify socket.

mod health;
mod notify;
mod pidfile;

use crate::support::process::CLIENT;
use crate::support::{wait_until, WAIT};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `tunnel-client health ARGS` with only PATH in its environment, run in `cwd`.
pub fn health(args: &[&str], cwd: &Path) -> Output {
    Command::new(CLIENT)
        .arg("health")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("tunnel-client health runs")
}

/// The admin base URL an agent wrote to `file` (`http://127.0.0.1:PORT`, no slash).
pub fn admin_url(file: &Path) -> String {
    wait_until(WAIT, "the admin URL file", || {
        let url = std::fs::read_to_string(file).ok()?;
        let url = url.trim().trim_end_matches('/');
        (!url.is_empty()).then(|| url.to_string())
    })
}
