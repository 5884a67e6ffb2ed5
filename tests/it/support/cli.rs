//! Shared helpers of the cli tests: run `tunnel-client` to its end with a controlled
//! environment, read what it printed, PEM texts. Test code only.

use super::process::CLIENT;
use std::path::Path;
use std::process::{Command, Output};

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

/// Runs the binary with only the given variables (plus PATH and HOME), stdin closed.
pub fn run(args: &[&str], env: &[(&str, &str)], home: &Path) -> Output {
    let mut cmd = Command::new(CLIENT);
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
