//! The agent's control-plane hop over real TLS (test PKI): trust through
//! --ca-bundle, and a failure that names its cause and fix in the log.

mod support;
#[path = "support/net_tls_server.rs"]
mod tls_server;

use std::time::Duration;
use support::agent::AgentProcess;
use tls_server::{pki, ClientAuth, TestServer};

fn wait_seen_poll(server: &TestServer) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        let polled = server
            .seen()
            .iter()
            .any(|s| matches!(&s.outcome, Ok(line) if line.contains("/poll?")));
        if polled {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn an_untrusted_control_plane_is_explained_in_the_log() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let url = server.url("https");
    let agent = AgentProcess::start(url.trim_end_matches('/'), &["--log-level", "tunnel=debug"]);
    assert!(
        agent.wait_for_output("add its CA with --ca-bundle", Duration::from_secs(15)),
        "{}",
        agent.output()
    );
    assert!(!server
        .seen()
        .iter()
        .any(|s| s.outcome.as_ref().is_ok_and(|l| l.contains("/poll?"))));
}

#[test]
fn a_private_ca_bundle_is_trusted_in_addition_to_the_web_roots() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let url = server.url("https");
    let bundle = pki("root-ca.pem").display().to_string();
    let agent = AgentProcess::start(url.trim_end_matches('/'), &["--ca-bundle", &bundle]);
    assert!(wait_seen_poll(&server), "{}", agent.output());
}
