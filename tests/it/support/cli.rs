//! Shared helpers of the cli_* integration tests: run the real binary with a
//! controlled environment, temp dirs, PEM fixtures. Test code only.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_tunnel-client");
pub const ID: &str = "tunnel_0123456789abcdef0123456789abcdef";
/// A key that must never appear in any output.
pub const SECRET: &str = "sk-test-SECRET-never-printed-4242";

/// A self-signed P-256 certificate and its key (CN=a), valid until 2126.
pub const CERT_A: &str = "-----BEGIN CERTIFICATE-----
MIIBbzCCARWgAwIBAgIUbQUwvUrugr6XbnRT+XQWFC3hmxgwCgYIKoZIzj0EAwIw
DDEKMAgGA1UEAwwBYTAgFw0yNjEyMDEwMzQzMDZaGA8yMTI2MTEwNzAzNDMwNlow
DDEKMAgGA1UEAwwBYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGJDV5ttnQeP
1gFgmxRso+dXn7+WSOnp4Ce4KO9a4cxzZYobKOGvm4XEKFdVTVlg4hnC5bGq3hbs
BE2yhVJUk9qjUzBRMB0GA1UdDgQWBBRf4d7MZT+YFV7AJNvQ1ZSuzato5TAfBgNV
HSMEGDAWgBRf4d7MZT+YFV7AJNvQ1ZSuzato5TAPBgNVHRMBAf8EBTADAQH/MAoG
CCqGSM49BAMCA0gAMEUCIEcymGMNixk2oVMeR01Dym6z/276dmnkpx00FXuXZBX/
AiEAh8lRErQixNCIAppTMWRZe6Rn+S7bi/W6gBM8Z5cYHz0=
-----END CERTIFICATE-----";
pub const KEY_A: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1tCsLBDjflPf/kk2
GSfBr9053AyMeEi95SkxH2t53rqhRANCAARiQ1ebbZ0Hj9YBYJsUbKPnV5+/lkjp
6eAnuCjvWuHMc2WKGyjhr5uFxChXVU1ZYOIZwuWxqt4W7ARNsoVSVJPa
-----END PRIVATE KEY-----";
/// Another key (CN=b): does not match CERT_A.
pub const KEY_B: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgdF+9+c6Tui5FgyyV
ZZfH69mMrMD8hoQ4XRfx46dq9tShRANCAAQf0ZdAS/jM8YN9VNPv0g+IzKF6uE/Z
P0QPu60cjid3EI6kSpb80PqGuuUfImoXYFCVcYr5VQutrJXfi+qhau8l
-----END PRIVATE KEY-----";

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tc-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary with only the given variables (plus PATH and HOME), stdin closed.
pub fn run(args: &[&str], env: &[(&str, &str)], home: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
