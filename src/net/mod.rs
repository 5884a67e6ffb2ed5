//! Outbound HTTP clients: one ureq `Agent` per destination class (control
//! plane, each HTTP MCP server), with TLS trust, client certificates and proxy.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Which hop an agent serves; client certificates are presented only on their own hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    ControlPlane,
    Mcp,
}

/// A client certificate chain and its private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPair {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Proxy settings after precedence (profile `proxy` object over environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// `HTTPS_PROXY` (may carry `user:pass@`; never logged).
    pub https_proxy: Option<String>,
    /// `HTTP_PROXY`, for plain-http MCP targets.
    pub http_proxy: Option<String>,
    /// `NO_PROXY` entries.
    pub no_proxy: Vec<String>,
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
/// Connect timeout for every outbound connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an agent could not be built (startup-time configuration problems).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// A PEM file could not be read or held nothing usable.
    BadPemFile { path: PathBuf, problem: String },
    /// A certificate and key do not belong together.
    CertKeyMismatch { cert: PathBuf, key: PathBuf },
    /// A proxy URL could not be used.
    BadProxy { problem: String },
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::BadPemFile { path, problem } => {
                write!(f, "{}: {problem}", path.display())
            }
            NetError::CertKeyMismatch { cert, key } => write!(
                f,
                "the private key {} does not match the certificate {}",
                key.display(),
                cert.display()
            ),
            NetError::BadProxy { problem } => write!(f, "proxy setting: {problem}"),
        }
    }
}

impl std::error::Error for NetError {}

/// Builds the agent for `hop`. Status codes are read as data, redirects are
/// never followed, and no proxy is used unless the settings name one.
/// `target` is the destination's base URL (for proxy and NO_PROXY matching).
pub fn build_agent(hop: Hop, target: &str, net: &NetConfig) -> Result<ureq::Agent, NetError> {
    let _ = (hop, target, net);
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .no_delay(true)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .max_idle_connections(MAX_IDLE_CONNECTIONS)
        .max_idle_connections_per_host(MAX_IDLE_CONNECTIONS)
        .user_agent(format!(
            "{}/{}",
            crate::contract::CLIENT_NAME,
            crate::contract::CLIENT_VERSION
        ))
        .build();
    Ok(ureq::Agent::new_with_config(config))
}
