//! What each connection failure means for doctor's reader, and the flag or
//! setting that fixes it for the hop in question. Words only: performs no check.

use super::report::{fail, Check};
use crate::net::{ConnectFailure, Hop};

/// A failed connection as a report line: the network module's sentence as the
/// detail, and under `--explain` what it means here and the exact fix.
pub(super) fn connect_failure(
    name: &'static str,
    target: &str,
    failure: &ConnectFailure,
    hop: Hop,
) -> Check {
    let (cause, fix) = explain(failure, hop);
    let detail = if target.is_empty() {
        failure.to_string()
    } else {
        format!("{target}: {failure}")
    };
    fail(name, detail, cause, fix)
}

/// The `--explain` text of each connection failure: cause, then the flag or
/// setting that fixes it for this hop.
fn explain(failure: &ConnectFailure, hop: Hop) -> (String, String) {
    let (trust, client_cert) = match hop {
        Hop::ControlPlane => (
            "--ca-bundle PEM (profile key ca_bundle_path)",
            "--control-plane-cert PEM and --control-plane-key PEM (profile key control_plane_mtls)",
        ),
        Hop::Mcp => (
            "--ca-bundle PEM, or --mcp-ca-bundle PEM to trust it for the MCP server alone \
             (mcp_client_mtls.ca_bundle_path)",
            "--mcp-client-cert PEM and --mcp-client-key PEM (profile key mcp_client_mtls)",
        ),
    };
    let proxy_setting =
        "HTTPS_PROXY (HTTP_PROXY for http:// MCP servers) or the profile's proxy object";
    let s = |text: &str| text.to_string();
    match failure {
        ConnectFailure::UntrustedCertificate { .. } => (
            s("the server's certificate chain does not lead to a root this agent trusts \
               (the built-in web roots plus any --ca-bundle); private CAs and TLS-inspecting \
               proxies cause this"),
            format!("pass the CA certificate that issued it with {trust}"),
        ),
        ConnectFailure::NameMismatch { host } => (
            format!("the certificate was issued for other names than {host}"),
            format!(
                "use a host name the certificate lists in the URL, or reissue the certificate \
                 with {host} in its subject alternative names"
            ),
        ),
        ConnectFailure::CertificateExpired => (
            s("the server presents a certificate whose validity has ended"),
            s("renew the server's certificate (or correct this machine's clock if it is wrong)"),
        ),
        ConnectFailure::CertificateNotYetValid => (
            s("the server's certificate is not valid yet"),
            s("check this machine's clock (and the server's certificate dates)"),
        ),
        ConnectFailure::CertificateRejected { .. } => (
            s("the server's certificate cannot be used for TLS"),
            s("inspect it with `openssl s_client -connect HOST:PORT -showcerts` and reissue it"),
        ),
        ConnectFailure::ClientCertificateRequired { .. } => (
            s("the server requires mutual TLS and this agent presented no client certificate"),
            format!("pass the client certificate issued for this agent with {client_cert}"),
        ),
        ConnectFailure::ClientCertificateRejected { .. } => (
            s("the server does not accept the client certificate this agent presented \
               (unknown issuer, expired or revoked)"),
            format!("use a certificate issued by a CA the server trusts: {client_cert}"),
        ),
        ConnectFailure::Handshake { .. } => (
            s("the TLS handshake did not complete"),
            s("check that the port speaks TLS (https://) and that nothing in between interferes"),
        ),
        ConnectFailure::ProxyRefused { status: 407, .. } => (
            s("the proxy requires credentials and refused the ones sent (or none were sent)"),
            format!(
                "put the proxy credentials in the proxy URL, http://user:password@host:port \
                 (percent-encode special characters), in {proxy_setting}"
            ),
        ),
        ConnectFailure::ProxyRefused { status: 403, .. } => (
            s("the proxy's policy forbids tunnels to this destination"),
            s("ask the proxy's administrators to allow the host and port, or add the host to \
               NO_PROXY if it is reachable directly"),
        ),
        ConnectFailure::ProxyRefused {
            status: 502..=504, ..
        } => (
            s("the proxy could not reach the destination itself"),
            s("check the URL's host and port, and that the proxy can resolve and reach them"),
        ),
        ConnectFailure::ProxyRefused { .. } => (
            s("the proxy refused to open a tunnel (CONNECT) to the destination"),
            format!("check {proxy_setting} with your network team"),
        ),
        ConnectFailure::ProxyUnreachable { .. } => (
            s("the destination is reached through a proxy, and the proxy itself cannot be reached"),
            format!(
                "check the host and port in {proxy_setting}; if the destination is reachable \
                 directly, add it to NO_PROXY"
            ),
        ),
        ConnectFailure::ProxyNoResponse { .. } => (
            s("the proxy did not answer the CONNECT request"),
            s("check that the proxy URL names an HTTP proxy that supports CONNECT (not SOCKS)"),
        ),
        ConnectFailure::ProxyTls { .. } => (
            s("TLS with the https:// proxy itself failed"),
            s("pass the proxy's CA with --ca-bundle, or use an http:// proxy URL"),
        ),
        ConnectFailure::HostNotFound { .. } => (
            s("the host name does not resolve from this machine"),
            s("check the URL and the DNS resolver; if only a proxy can resolve it, set HTTPS_PROXY"),
        ),
        ConnectFailure::ConnectionRefused { .. } => (
            s("nothing listens on that address, or a firewall rejects the connection"),
            s("check that the server runs and the URL's port; if outbound traffic must go \
               through a proxy, set HTTPS_PROXY"),
        ),
        ConnectFailure::TimedOut { .. } => (
            s("no answer in time: a firewall drops the traffic, or a proxy is required"),
            s("open outbound access to the port, or set HTTPS_PROXY (proxy.https_proxy)"),
        ),
        ConnectFailure::Other { .. } => (
            s("the connection failed"),
            s("check the network path to the server"),
        ),
    }
}
