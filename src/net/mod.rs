//! Outbound HTTP clients: one ureq `Agent` per destination class (control
//! plane, each HTTP MCP server), with TLS trust, client certificates and proxy.
//! Never prints proxy credentials or key material: every text here is redacted.
//!
//! Data flow: the config code puts the profile `proxy` object over the
//! environment (`config::net::proxy_settings`) into a [`NetConfig`]; startup calls
//! [`validate`]; each destination gets [`build_agent`]; a failed request is put
//! into words with [`describe_error`]; doctor uses [`check_proxy_connect`] and
//! [`check_tls_handshake`].

mod coalesce;
mod connector;
mod diagnose;
mod proxy;
mod resolver;
mod tls;

pub use diagnose::{
    check_proxy_connect, check_tls_handshake, describe_error, ConnectFailure, DOCTOR_TIMEOUT,
};
pub use proxy::{redact_url, Destination};
pub use tls::{check_cert_pair, load_ca_bundle, root_store};

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which hop an agent serves; client certificates are presented only on their own hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    ControlPlane,
    Mcp,
}

impl Hop {
    /// The flags that configure this hop's client certificate, for messages.
    fn client_cert_flags(self) -> &'static str {
        match self {
            Hop::ControlPlane => "--control-plane-cert and --control-plane-key",
            Hop::Mcp => "--mcp-client-cert and --mcp-client-key",
        }
    }

    /// The flags that configure this hop's trust, for messages.
    fn trust_flags(self) -> &'static str {
        match self {
            Hop::ControlPlane => "--ca-bundle",
            Hop::Mcp => "--ca-bundle (or --mcp-ca-bundle for the MCP server alone)",
        }
    }
}

/// A client certificate chain and its private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPair {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Proxy settings after precedence (profile `proxy` object over environment).
///
/// `Debug` redacts the credentials of both proxy URLs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// `HTTPS_PROXY` (may carry `user:pass@`; never logged).
    pub https_proxy: Option<String>,
    /// `HTTP_PROXY`, for plain-http MCP targets.
    pub http_proxy: Option<String>,
    /// `NO_PROXY` entries.
    pub no_proxy: Vec<String>,
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxySettings")
            .field("https_proxy", &self.https_proxy.as_deref().map(redact_url))
            .field("http_proxy", &self.http_proxy.as_deref().map(redact_url))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// Everything that shapes outbound connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetConfig {
    /// Extra roots added to the built-in web roots, for both hops.
    pub ca_bundle: Option<PathBuf>,
    pub control_plane_mtls: Option<CertPair>,
    pub mcp_mtls: Option<CertPair>,
    /// Trust for the MCP hop alone (replaces the roots there).
    pub mcp_ca_bundle: Option<PathBuf>,
    pub proxy: ProxySettings,
}

/// Largest idle connection pool per agent; enough for the worker pool.
const MAX_IDLE_CONNECTIONS: usize = 32;

/// Read and write buffers of one connection. ureq's default of 128 KiB each
/// was most of the agent's peak RSS with 32 workers (two pools, a buffer
/// pair per connection, zeroed on allocation). A response head must fit in
/// the read buffer: 64 KiB is ureq's own cap on it; a request head (headers
/// the control plane and operator add) must fit in the write buffer; bodies
/// stream through both in pieces.
const CONNECTION_BUFFER_BYTES: usize = 64 * 1024;
/// Connect timeout for every outbound connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an agent could not be built (startup-time configuration problems), or,
/// from the doctor checks, why a connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// A PEM file could not be read or held nothing usable. `problem` names the
    /// file's role (flag and profile key) and the fix.
    BadPemFile { path: PathBuf, problem: String },
    /// A certificate and key do not belong together.
    CertKeyMismatch { cert: PathBuf, key: PathBuf },
    /// A proxy URL or NO_PROXY entry could not be used (credentials redacted).
    BadProxy { problem: String },
    /// A destination URL could not be used (credentials redacted).
    BadUrl { url: String, problem: String },
    /// The TLS library refused a configuration (not expected with ring).
    TlsSetup { problem: String },
    /// A connection attempt failed (doctor checks); `target` is redacted.
    Connect {
        target: String,
        failure: ConnectFailure,
    },
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::BadPemFile { path, problem } => {
                write!(f, "{}: {problem}", path.display())
            }
            NetError::CertKeyMismatch { cert, key } => write!(
                f,
                "the private key {} does not match the certificate {}: use the key the \
                 certificate was issued for (compare `openssl x509 -noout -pubkey -in CERT` \
                 with `openssl pkey -pubout -in KEY`)",
                key.display(),
                cert.display()
            ),
            NetError::BadProxy { problem } => write!(f, "proxy setting: {problem}"),
            NetError::BadUrl { url, problem } => write!(f, "{url}: {problem}"),
            NetError::TlsSetup { problem } => write!(f, "TLS setup failed: {problem}"),
            NetError::Connect { target, failure } => write!(f, "{target}: {failure}"),
        }
    }
}

impl std::error::Error for NetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NetError::Connect { failure, .. } => Some(failure),
            _ => None,
        }
    }
}

/// Builds the agent for `hop`. Status codes are read as data, redirects are
/// never followed, and no proxy is used unless the settings name one.
/// `target` is the destination's base URL (for proxy and NO_PROXY matching).
///
/// TLS is done by our own connector (web roots plus `--ca-bundle`, or the MCP
/// bundle alone on the MCP hop), and the hop's client certificate is offered
/// only to `target`'s origin (never to a proxy or any other host). Every file
/// is read and checked here, so a bad bundle or a mismatched key fails now with
/// a [`NetError`] naming the file, not at the first connection.
pub fn build_agent(hop: Hop, target: &str, net: &NetConfig) -> Result<ureq::Agent, NetError> {
    use ureq::unversioned::transport::{ConnectProxyConnector, Connector, TcpConnector};

    let destination = Destination::parse(target)?;
    let proxy = net.proxy.proxy_for(&destination)?;
    let tls = tls::HopTls::build(hop, net)?;
    if let Some(p) = &proxy {
        log::debug!(
            "{} goes through proxy {}:{}",
            destination.origin(),
            p.host(),
            p.port()
        );
    }

    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(proxy.clone())
        .no_delay(true)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .max_idle_connections(MAX_IDLE_CONNECTIONS)
        .input_buffer_size(CONNECTION_BUFFER_BYTES)
        .output_buffer_size(CONNECTION_BUFFER_BYTES)
        .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
        .user_agent(format!(
            "{}/{}",
            crate::contract::CLIENT_NAME,
            crate::contract::CLIENT_VERSION
        ))
        .build();

    // The order matters: CONNECT (which itself re-runs this chain to reach the
    // proxy), else a plain socket, then TLS over whichever one came out, and
    // last one write per request over all of it.
    let connector = ()
        .chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(connector::TlsConnector::new(
            destination,
            proxy.as_ref(),
            tls,
        ))
        .chain(coalesce::CoalesceConnector::new(proxy.is_some()));
    Ok(ureq::Agent::with_parts(
        config,
        connector,
        resolver::CachingResolver::default(),
    ))
}

/// Turns on `TCP_NODELAY` for every connection a listener will accept: Linux
/// copies the option from the listening socket, and tiny_http (which accepts
/// for us) never sets it, so without this a response written in two pieces
/// can wait ~40 ms for a delayed ACK. std has no `TcpListener::set_nodelay`;
/// the option lives on the socket, so the descriptor is viewed as a stream.
pub fn nodelay_listener(listener: std::net::TcpListener) -> std::io::Result<std::net::TcpListener> {
    use std::os::fd::OwnedFd;
    let socket = std::net::TcpStream::from(OwnedFd::from(listener));
    socket.set_nodelay(true)?;
    Ok(std::net::TcpListener::from(OwnedFd::from(socket)))
}

/// Checks everything [`build_agent`] would check, for both hops, without a
/// destination: bundles parse, cert/key pairs match, proxy URLs and NO_PROXY
/// entries are usable. For startup and doctor.
pub fn validate(net: &NetConfig) -> Result<(), NetError> {
    net.proxy.validate()?;
    tls::HopTls::build(Hop::ControlPlane, net)?;
    tls::HopTls::build(Hop::Mcp, net)?;
    Ok(())
}

/// True for `localhost` (and its subdomains), `127.0.0.0/8` and `::1`, with or
/// without brackets or a trailing dot: hosts that never leave this machine, so
/// plain `http://` is acceptable for a control plane there.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        };
    }
    let lower = bare.to_ascii_lowercase();
    lower == "localhost" || lower.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "relay.localhost",
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "example.com",
            "localhost.example.com",
            "10.0.0.1",
            "::2",
            "[fe80::1]",
            "",
            "128.0.0.1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn proxy_settings_debug_hides_credentials() {
        let settings = ProxySettings {
            https_proxy: Some("http://alice:s3cret@proxy.corp:8080".to_string()),
            http_proxy: Some("http://bob:hunter2@proxy.corp:3128/".to_string()),
            no_proxy: vec!["localhost".to_string()],
        };
        let net = NetConfig {
            proxy: settings,
            ..NetConfig::default()
        };
        let text = format!("{net:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("alice"),
            "{text}"
        );
        assert!(!text.contains("hunter2") && !text.contains("bob"), "{text}");
        assert!(text.contains("proxy.corp:8080"), "{text}");
    }

    #[test]
    fn default_agent_builds_without_any_setting() {
        let agent = build_agent(
            Hop::ControlPlane,
            "https://api.example.com",
            &NetConfig::default(),
        );
        assert!(agent.is_ok());
        assert!(validate(&NetConfig::default()).is_ok());
    }

    #[test]
    fn bad_target_url_is_named() {
        let err = build_agent(Hop::Mcp, "ftp://user:pw@host/x", &NetConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("ftp://***@host/x"), "{err}");
        assert!(!err.contains("pw"), "{err}");
    }
}
