//! tunnel-relay as a library: the control plane the agent polls and an MCP
//! Streamable HTTP endpoint for callers. Owns no CLI; never logs secrets.
//!
//! ```no_run
//! use tunnel::relay::{Relay, RelayConfig};
//! use tunnel::secret::Secret;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RelayConfig::new(
//!     "127.0.0.1:0".parse()?,
//!     vec!["tunnel_0123456789abcdef0123456789abcdef".into()],
//!     Secret::new("agent-key"),
//! );
//! let relay = Relay::start(config)?;
//! println!("listening on http://{}", relay.local_addr());
//! relay.shutdown();
//! # Ok(())
//! # }
//! ```

mod agent_side;
mod caller_side;
pub mod cli;
mod forward;
mod http;
mod hub;
pub(crate) mod metrics;
mod oauth;
pub(crate) mod queue;
mod server;

use crate::secret::Secret;
use queue::{CommandQueue, MemoryQueue};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Default `--response-timeout`: how long a caller waits for an agent's answer.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Default `--max-queue`: commands queued per tunnel before callers get 503.
pub const DEFAULT_MAX_QUEUE: usize = 1024;

/// Largest request body (caller message or agent response) accepted.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How long a delivered command may stay unconfirmed before it is given to
/// another agent (see `hub.rs` for the lease design and its trade-offs).
pub const DEFAULT_LEASE_PERIOD: Duration = Duration::from_secs(10);

/// An agent instance counts as connected while it holds a poll open or for
/// this long after its last request. The agent re-polls at once after every
/// poll, so a tunnel silent for this long has no agent able to take work:
/// callers get 503 at once instead of waiting for their timeout.
pub const DEFAULT_LIVE_WINDOW: Duration = Duration::from_secs(5);

/// Default bound on callers waiting for answers, across all tunnels.
pub const DEFAULT_MAX_WAITING_CALLERS: usize = 1024;

/// Default bound on long-polls held open at once.
pub const DEFAULT_MAX_OPEN_POLLS: usize = 256;

/// Longest tunnel id accepted on the command line.
const MAX_TUNNEL_ID_BYTES: usize = 128;

/// Everything a relay needs to start. Build with [`RelayConfig::new`] and
/// adjust the public fields.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub listen: SocketAddr,
    pub tunnel_ids: Vec<String>,
    /// What agents must send as `Authorization: Bearer`.
    pub agent_key: Secret,
    /// What callers must send as `Authorization: Bearer`; `None` turns caller
    /// auth off, which only a loopback `listen` address allows.
    pub caller_token: Option<Secret>,
    pub response_timeout: Duration,
    pub max_queue: usize,
    pub max_body_bytes: usize,
    pub lease_period: Duration,
    pub live_window: Duration,
    pub max_waiting_callers: usize,
    pub max_open_polls: usize,
    /// The relay's address as callers see it (`--public-url`), for the
    /// OAuth metadata it serves and points to; `None`: `http://` + the
    /// bound address.
    pub public_url: Option<String>,
}

impl RelayConfig {
    pub fn new(listen: SocketAddr, tunnel_ids: Vec<String>, agent_key: Secret) -> Self {
        RelayConfig {
            listen,
            tunnel_ids,
            agent_key,
            caller_token: None,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            max_queue: DEFAULT_MAX_QUEUE,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            lease_period: DEFAULT_LEASE_PERIOD,
            live_window: DEFAULT_LIVE_WINDOW,
            max_waiting_callers: DEFAULT_MAX_WAITING_CALLERS,
            max_open_polls: DEFAULT_MAX_OPEN_POLLS,
            public_url: None,
        }
    }

    /// Checks the configuration for mistakes a person must fix.
    pub fn validate(&self) -> Result<(), RelayError> {
        if self.tunnel_ids.is_empty() {
            return Err(RelayError::NoTunnels);
        }
        for id in &self.tunnel_ids {
            let bad = id.is_empty()
                || id.len() > MAX_TUNNEL_ID_BYTES
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
            if bad {
                return Err(RelayError::InvalidTunnelId(id.clone()));
            }
        }
        if self.agent_key.is_empty() {
            return Err(RelayError::EmptyAgentKey);
        }
        if self.caller_token.is_none() && !self.listen.ip().is_loopback() {
            return Err(RelayError::CallerAuthRequired {
                listen: self.listen,
            });
        }
        let zero = [
            (self.max_queue, "max_queue"),
            (self.max_body_bytes, "max_body_bytes"),
            (self.max_waiting_callers, "max_waiting_callers"),
            (self.max_open_polls, "max_open_polls"),
        ];
        if let Some((_, name)) = zero.iter().find(|(v, _)| *v == 0) {
            return Err(RelayError::ZeroLimit(name));
        }
        if self.response_timeout.is_zero() {
            return Err(RelayError::ZeroLimit("response_timeout"));
        }
        if let Some(url) = &self.public_url {
            if !is_public_url(url) {
                return Err(RelayError::InvalidPublicUrl(url.clone()));
            }
        }
        Ok(())
    }
}

/// Longest `--public-url` accepted.
const MAX_PUBLIC_URL_BYTES: usize = 1024;

/// True for an absolute `http`/`https` URL without credentials, query or
/// fragment, in plain printable ASCII that can stand inside a quoted
/// `WWW-Authenticate` parameter: it is shown to every caller.
fn is_public_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    url.len() <= MAX_PUBLIC_URL_BYTES
        && !authority.is_empty()
        && !authority.contains('@')
        && url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"\\?#<>`{}|^".contains(&b))
}

/// Why a relay could not start.
#[derive(Debug)]
pub enum RelayError {
    NoTunnels,
    InvalidTunnelId(String),
    /// `--public-url` is unusable (its text, never shown: it may hold credentials).
    InvalidPublicUrl(String),
    EmptyAgentKey,
    CallerAuthRequired {
        listen: SocketAddr,
    },
    ZeroLimit(&'static str),
    Bind {
        addr: SocketAddr,
        source: io::Error,
    },
    /// tiny_http could not take over the listening socket.
    Server(Box<dyn std::error::Error + Send + Sync>),
    Thread(io::Error),
}

impl RelayError {
    /// True for mistakes in the configuration (exit status 2), false for
    /// failures of the environment (exit status 1).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            RelayError::NoTunnels
                | RelayError::InvalidTunnelId(_)
                | RelayError::InvalidPublicUrl(_)
                | RelayError::EmptyAgentKey
                | RelayError::CallerAuthRequired { .. }
                | RelayError::ZeroLimit(_)
        )
    }
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::NoTunnels => write!(f, "no tunnel to serve; pass --tunnel-id ID at least once"),
            RelayError::InvalidTunnelId(id) => write!(
                f,
                "tunnel id {id:?} is not usable in a URL path; use letters, digits, '_', '-' or '.' (at most {MAX_TUNNEL_ID_BYTES} bytes)"
            ),
            // The value is not echoed: it may hold credentials.
            RelayError::InvalidPublicUrl(_) => write!(
                f,
                "--public-url is not a plain http(s) URL; use e.g. https://relay.example.com (no credentials, query, fragment, quotes or spaces)"
            ),
            RelayError::EmptyAgentKey => write!(
                f,
                "the agent key is empty; set TUNNEL_RELAY_AGENT_KEY to the key tunnel-client will send"
            ),
            RelayError::CallerAuthRequired { listen } => write!(
                f,
                "caller auth is off but {listen} is not a loopback address; set TUNNEL_RELAY_CALLER_TOKEN or listen on 127.0.0.1"
            ),
            RelayError::ZeroLimit(name) => write!(f, "{name} must be greater than zero"),
            RelayError::Bind { addr, source } => write!(
                f,
                "cannot listen on {addr}: {source}; pick a free port (or port 0 for any)"
            ),
            RelayError::Server(e) => write!(f, "the HTTP server could not start: {e}"),
            RelayError::Thread(e) => write!(f, "could not start a relay thread: {e}"),
        }
    }
}

impl std::error::Error for RelayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RelayError::Bind { source, .. } | RelayError::Thread(source) => Some(source),
            RelayError::Server(source) => Some(source.as_ref()),
            RelayError::NoTunnels
            | RelayError::InvalidTunnelId(_)
            | RelayError::InvalidPublicUrl(_)
            | RelayError::EmptyAgentKey
            | RelayError::CallerAuthRequired { .. }
            | RelayError::ZeroLimit(_) => None,
        }
    }
}

/// A running relay. [`Relay::shutdown`] (or dropping it) stops it.
pub struct Relay {
    running: server::Running,
}

impl Relay {
    /// Validates `config`, binds, and starts serving with the in-memory queue.
    pub fn start(config: RelayConfig) -> Result<Relay, RelayError> {
        let queue = Arc::new(MemoryQueue::new(config.max_queue));
        Relay::start_with_queue(config, queue)
    }

    /// Like [`Relay::start`] with another queue backend.
    pub fn start_with_queue(
        config: RelayConfig,
        queue: Arc<dyn CommandQueue>,
    ) -> Result<Relay, RelayError> {
        config.validate()?;
        let settings = hub::HubSettings {
            tunnel_ids: config.tunnel_ids.clone(),
            lease_period: config.lease_period,
            live_window: config.live_window,
            max_waiting_callers: config.max_waiting_callers,
            max_open_polls: config.max_open_polls,
        };
        let hub = hub::Hub::new(settings, queue);
        let running = server::start(config, hub)?;
        Ok(Relay { running })
    }

    /// The bound address (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.running.local_addr()
    }

    /// Stops serving: held polls and waiting callers are answered, threads joined.
    pub fn shutdown(mut self) {
        self.running.shutdown();
    }
}
