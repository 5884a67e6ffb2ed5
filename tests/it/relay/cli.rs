//! The `tunnel-relay` binary: first stdout line, exit statuses (0 on
//! SIGTERM/SIGINT, 2 on usage/config errors, 1 on runtime failure), no secrets.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tunnel-relay");
const TUNNEL: &str = "tunnel_0123456789abcdef0123456789abcdef";
const WAIT: Duration = Duration::from_secs(10);

fn relay(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("TUNNEL_RELAY_AGENT_KEY")
        .env_remove("TUNNEL_RELAY_CALLER_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Waits for the child to exit within [`WAIT`]; kills it (by pid) otherwise.
fn exit_code(child: &mut Child) -> i32 {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().expect("exited, not killed");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tunnel-relay did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn run_and_stop(sig: &str) {
    let mut child = relay(
        &[
            "--listen",
            "127.0.0.1:0",
            "--tunnel-id",
            TUNNEL,
            "--log-level",
            "debug",
        ],
        &[("TUNNEL_RELAY_AGENT_KEY", "super-secret-agent-key")],
    )
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    let port: u16 = addr.trim().parse().unwrap();
    assert_ne!(port, 0, "the real port is printed");

    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    let http = ureq::Agent::new_with_config(config);
    let mut health = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .call()
        .unwrap();
    assert_eq!(health.body_mut().read_to_string().unwrap(), "ok\n");
    let denied = http
        .get(format!("http://127.0.0.1:{port}/v1/tunnels/{TUNNEL}"))
        .header("Authorization", "Bearer wrong-key-value")
        .call()
        .unwrap();
    assert_eq!(denied.status(), 401);

    signal(&child, sig);
    assert_eq!(exit_code(&mut child), 0);
    let logs = stderr_of(&mut child);
    assert!(!logs.contains("super-secret-agent-key"));
    assert!(!logs.contains("wrong-key-value"));
}

#[test]
fn prints_its_address_first_and_exits_0_on_sigterm() {
    run_and_stop("TERM");
}

#[test]
fn exits_0_on_sigint() {
    run_and_stop("INT");
}

/// Arguments, environment, and a word the error sentence must contain.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn usage_and_config_errors_exit_2_with_one_sentence() {
    let cases: &[Case] = &[
        (
            &["--listen", "127.0.0.1:0", "--tunnel-id", TUNNEL],
            &[],
            "TUNNEL_RELAY_AGENT_KEY",
        ),
        (
            &["--tunnel-id", TUNNEL],
            &[("TUNNEL_RELAY_AGENT_KEY", "k")],
            "--listen",
        ),
        (
            &["--listen", "127.0.0.1:0", "--frobnicate"],
            &[("TUNNEL_RELAY_AGENT_KEY", "k")],
            "--help",
        ),
        (
            &["--listen", "0.0.0.0:0", "--tunnel-id", TUNNEL],
            &[("TUNNEL_RELAY_AGENT_KEY", "k")],
            "TUNNEL_RELAY_CALLER_TOKEN",
        ),
    ];
    for (args, env, hint) in cases {
        let mut child = relay(args, env).spawn().unwrap();
        assert_eq!(exit_code(&mut child), 2, "{args:?}");
        let err = stderr_of(&mut child);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(hint), "{args:?}: {err}");
    }
}

#[test]
fn a_non_loopback_address_is_allowed_with_a_caller_token() {
    // Bind-time failure on a port in use is a runtime failure (1); reaching
    // the bind proves the token lifted the loopback rule.
    let taken = TcpListener::bind("0.0.0.0:0").unwrap();
    let addr = format!("0.0.0.0:{}", taken.local_addr().unwrap().port());
    let mut child = relay(
        &["--listen", &addr, "--tunnel-id", TUNNEL],
        &[
            ("TUNNEL_RELAY_AGENT_KEY", "k"),
            ("TUNNEL_RELAY_CALLER_TOKEN", "t"),
        ],
    )
    .spawn()
    .unwrap();
    assert_eq!(exit_code(&mut child), 1);
    let err = stderr_of(&mut child);
    assert!(err.contains("cannot listen on"), "{err}");
}

#[test]
fn help_and_version_exit_0() {
    let out = relay(&["--help"], &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--tunnel-id ID"));
    let out = relay(&["--version"], &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("tunnel-relay "));
}
