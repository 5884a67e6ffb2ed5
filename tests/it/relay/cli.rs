//! The `tunnel-relay` binary: first stdout line, exit statuses (0 on
//! SIGTERM/SIGINT, 2 on usage/config errors, 1 on runtime failure), no secrets.

use crate::support::process::relay;
use crate::support::{http, TUNNEL_ID, WAIT};
use std::net::TcpListener;

fn run_and_stop(sig: &str) {
    let mut child = relay(
        &[
            "--listen",
            "127.0.0.1:0",
            "--tunnel-id",
            TUNNEL_ID,
            "--log-level",
            "debug",
        ],
        &[("TUNNEL_RELAY_AGENT_KEY", "super-secret-agent-key")],
    );
    let first = child.first_stdout_line();
    let addr = first
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    let port: u16 = addr.trim().parse().unwrap();
    assert_ne!(port, 0, "the real port is printed");

    let health = http::get(&format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(health.body, "ok\n");
    let denied = http::client()
        .get(format!("http://127.0.0.1:{port}/v1/tunnels/{TUNNEL_ID}"))
        .header("Authorization", "Bearer wrong-key-value")
        .call()
        .unwrap();
    assert_eq!(denied.status(), 401);

    child.signal(sig);
    assert_eq!(child.wait_exit(WAIT).code(), Some(0));
    let logs = child.stderr();
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
            &["--listen", "127.0.0.1:0", "--tunnel-id", TUNNEL_ID],
            &[],
            "TUNNEL_RELAY_AGENT_KEY",
        ),
        (
            &["--tunnel-id", TUNNEL_ID],
            &[("TUNNEL_RELAY_AGENT_KEY", "k")],
            "--listen",
        ),
        (
            &["--listen", "127.0.0.1:0", "--frobnicate"],
            &[("TUNNEL_RELAY_AGENT_KEY", "k")],
            "--help",
        ),
        (
            &["--listen", "0.0.0.0:0", "--tunnel-id", TUNNEL_ID],
            &[("TUNNEL_RELAY_AGENT_KEY", "k")],
            "TUNNEL_RELAY_CALLER_TOKEN",
        ),
    ];
    for (args, env, hint) in cases {
        let mut child = relay(args, env);
        assert_eq!(child.wait_exit(WAIT).code(), Some(2), "{args:?}");
        let err = child.stderr();
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
        &["--listen", &addr, "--tunnel-id", TUNNEL_ID],
        &[
            ("TUNNEL_RELAY_AGENT_KEY", "k"),
            ("TUNNEL_RELAY_CALLER_TOKEN", "t"),
        ],
    );
    assert_eq!(child.wait_exit(WAIT).code(), Some(1));
    let err = child.stderr();
    assert!(err.contains("cannot listen on"), "{err}");
}

#[test]
fn help_and_version_exit_0() {
    let mut help = relay(&["--help"], &[]);
    assert_eq!(help.wait_exit(WAIT).code(), Some(0));
    assert!(help.stdout().contains("--tunnel-id ID"));
    let mut version = relay(&["--version"], &[]);
    assert_eq!(version.wait_exit(WAIT).code(), Some(0));
    assert!(version.stdout().starts_with("tunnel-relay "));
}
