//! The agent's control-plane hop over real TLS (test PKI): trust through
//! --ca-bundle, and a failure that names its cause and fix in the log.

use crate::support::process;
use crate::support::tls_server::{pki, ClientAuth, TestServer};
use crate::support::{wait_until, WAIT};

#[test]
fn an_untrusted_control_plane_is_explained_in_the_log() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let url = server.url("https");
    let agent = process::agent(url.trim_end_matches('/'), &["--log-level", "tunnel=debug"]);
    agent.wait_for_output("add its CA with --ca-bundle");
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
    let _agent = process::agent(url.trim_end_matches('/'), &["--ca-bundle", &bundle]);
    wait_until(WAIT, "a poll at the control plane", || {
        server
            .seen()
            .iter()
            .any(|s| matches!(&s.outcome, Ok(line) if line.contains("/poll?")))
    });
}
