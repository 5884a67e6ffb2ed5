//! The one validated configuration of `tunnel-client run` (and doctor): its
//! types, defaults and limits. A [`Config`] exists only when every check passed.
//!
//! Data flow, one file each: [`settings`] is the table of every setting
//! (flag, variable, profile key, help, default, how its raw value is read).
//! From it the command line (`cli::args`), the environment
//! ([`Layer::from_env`]) and a profile file ([`profile`]) each become a
//! [`Layer`] of raw values that remember where they came from ([`layer`]);
//! [`resolve()`] applies flags > environment > profile > defaults and
//! validates the result into a [`Config`], with URL checks in [`url`],
//! certificate and proxy settings judged by `crate::net` in [`net`], harpoon
//! targets in [`harpoon`], commands split by [`shell_words`]. Every error
//! ([`error`]) names the flag, variable or profile key (and file) it is
//! about, and says how to fix it.

pub(crate) mod channels;
pub(crate) mod error;
pub mod harpoon;
pub(crate) mod headers;
pub(crate) mod layer;
pub(crate) mod net;
pub mod profile;
pub mod resolve;
pub mod settings;
pub(crate) mod shell_words;
pub(crate) mod suggest;
pub(crate) mod url;

pub use channels::{McpBinding, HARPOON_CHANNEL};
pub use error::{io_problem, ConfigError};
pub use harpoon::HarpoonConfig;
pub use headers::{HeaderSet, ScopedHeaders};
pub use layer::{Env, Layer, Layers, Origin, Sourced};
pub use net::proxy_settings;
pub use resolve::resolve;
pub use shell_words::split_command;
pub use suggest::closest;
pub use url::check_url_for_mcp;

use crate::contract::MAIN_CHANNEL;
use crate::net::NetConfig;
use crate::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_CONTROL_PLANE_URL: &str = "https://api.openai.com";
pub const DEFAULT_ADMIN_ADDRESS: &str = "127.0.0.1:8090";
pub const DEFAULT_MAX_CONCURRENCY: usize = 10;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_POLL_TIMEOUT: Duration = Duration::from_millis(30_000);
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(1_000);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);
pub const DEFAULT_STDIO_HANG: Duration = Duration::from_secs(60);
pub const DEFAULT_STDIO_SESSION_IDLE: Duration = Duration::from_secs(600);
pub const DEFAULT_STDIO_MAX_SESSIONS: usize = 16;

/// Most forwarding threads one agent may run; far above any sane pool and
/// low enough that a typo (`--max-concurrency 100000`) cannot exhaust threads.
pub const MAX_MAX_CONCURRENCY: u64 = 1024;
/// Longest per-command timeout accepted (one day).
pub const MAX_REQUEST_TIMEOUT_SECS: u64 = 86_400;
/// Longest long-poll hold the agent asks for (the service may cap it lower).
pub const MAX_POLL_TIMEOUT_MS: u64 = 300_000;
/// Largest backoff base; the backoff itself is capped at 30 s by the poller.
pub const MAX_POLL_INTERVAL_MS: u64 = 60_000;
/// Longest drain at shutdown (an hour; orchestrators kill long before that).
pub const MAX_SHUTDOWN_GRACE_SECS: u64 = 3_600;
/// Longest silence before a stdio child counts as hung.
pub const MAX_STDIO_HANG_SECS: u64 = 86_400;
/// Longest idle time of a per-session stdio child.
pub const MAX_STDIO_SESSION_IDLE_SECS: u64 = 86_400;
/// Most per-session stdio children.
pub const MAX_STDIO_MAX_SESSIONS: u64 = 1024;
/// Longest `--mcp-startup-wait` (an hour; orchestrators give up long before).
pub const MAX_MCP_STARTUP_WAIT_SECS: u64 = 3_600;
/// Most `mcp_env` variables.
pub const MAX_MCP_ENV_VARS: usize = 256;
/// Log levels accepted by `--log-level` and `log_level`.
pub const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Variables that hold the control-plane key; never passed to a stdio child.
pub const API_KEY_VARS: &[&str] = &["CONTROL_PLANE_API_KEY", "OPENAI_API_KEY"];

/// Where a channel's MCP server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpTarget {
    /// A Streamable HTTP endpoint (`http://` or `https://`).
    Http { url: String },
    /// A stdio program: argv already split like a shell (no shell runs it).
    Stdio { argv: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioMode {
    /// One long-lived child shared by every session (default).
    Shared,
    /// One child per MCP session.
    PerSession,
}

/// Settings for stdio children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioConfig {
    /// Extra variables (`mcp_env`).
    pub extra_env: Vec<(String, String)>,
    /// Variables removed from the inherited environment: the control-plane key
    /// variables, the service manager's notify variables (a child must not
    /// answer for the agent), and every variable an `env:` reference names.
    pub removed_env: Vec<String>,
    pub mode: StdioMode,
    pub hang_after: Duration,
    pub session_idle: Duration,
    pub max_sessions: usize,
}

impl Default for StdioConfig {
    fn default() -> Self {
        StdioConfig {
            extra_env: Vec::new(),
            removed_env: API_KEY_VARS
                .iter()
                .chain(crate::sys::notify::NOTIFY_ENV.iter())
                .map(|name| name.to_string())
                .collect(),
            mode: StdioMode::Shared,
            hang_after: DEFAULT_STDIO_HANG,
            session_idle: DEFAULT_STDIO_SESSION_IDLE,
            max_sessions: DEFAULT_STDIO_MAX_SESSIONS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The admin server; `address: None` means `--admin-address off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    pub address: Option<String>,
    pub url_file: Option<PathBuf>,
    pub allow_remote_ui: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            address: Some(DEFAULT_ADMIN_ADDRESS.to_string()),
            url_file: None,
            allow_remote_ui: false,
        }
    }
}

/// The validated configuration. Constructing one means every check passed.
#[derive(Debug, Clone)]
pub struct Config {
    pub tunnel_id: String,
    /// Host root plus optional path prefix, without a trailing slash.
    pub control_plane_url: String,
    pub api_key: Secret,
    /// `OpenAI-Organization` on every control-plane request (trimmed, never empty).
    pub organization_id: Option<String>,
    /// Extra headers on every control-plane request, and nowhere else.
    pub control_plane_headers: HeaderSet,
    /// The enabled MCP servers, one per channel, in the order the
    /// control plane is told: HTTP ones, then stdio ones, each as configured.
    pub bindings: Vec<McpBinding>,
    /// Channels configured but left out of the poll allowlist: not started,
    /// not declared, answered "unsupported channel".
    pub disabled_channels: Vec<String>,
    /// `--poll-channel`, ascending; `None`: poll without a channel filter.
    pub poll_channels: Option<Vec<String>>,
    /// `--mcp-discovery-extra-headers` alone; what is sent is [`Config::discovery_headers`].
    pub mcp_discovery_headers: HeaderSet,
    /// `--mcp-startup-wait`: how long polling waits for an HTTP `main` that
    /// refuses connections; zero: no wait.
    pub mcp_startup_wait: Duration,
    pub net: NetConfig,
    pub admin: AdminConfig,
    /// `--pid-file`: where `run` writes its pid (removed at exit).
    pub pid_file: Option<PathBuf>,
    pub max_concurrency: usize,
    pub request_timeout: Duration,
    pub poll_timeout: Duration,
    pub poll_interval: Duration,
    pub shutdown_grace: Duration,
    /// An env_logger filter: a level word or `target=level,…` directives.
    pub log_level: String,
    pub log_format: LogFormat,
    pub enable_request_timing: bool,
    pub stdio: StdioConfig,
    /// The harpoon channel, when it can have a target: configured ones, or
    /// an enabled HTTP `main` whose OAuth discovery may register some.
    /// `None`: commands for it are answered "unsupported channel".
    pub harpoon: Option<HarpoonConfig>,
    /// Targets a profile lists without `"harpoon": {"enabled": true}`: read, not served.
    pub unserved_harpoon_targets: usize,
}

impl Config {
    /// A configuration with every default, for tests and `doctor`.
    pub fn with_defaults(tunnel_id: &str, api_key: Secret, mcp: McpTarget) -> Config {
        Config {
            tunnel_id: tunnel_id.to_string(),
            control_plane_url: DEFAULT_CONTROL_PLANE_URL.to_string(),
            api_key,
            organization_id: None,
            control_plane_headers: HeaderSet::default(),
            bindings: vec![McpBinding {
                channel: MAIN_CHANNEL.to_string(),
                target: mcp,
                env: Vec::new(),
                headers: HeaderSet::default(),
            }],
            disabled_channels: Vec::new(),
            poll_channels: None,
            mcp_discovery_headers: HeaderSet::default(),
            mcp_startup_wait: Duration::ZERO,
            net: NetConfig::default(),
            admin: AdminConfig::default(),
            pid_file: None,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            poll_timeout: DEFAULT_POLL_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            log_level: "info".to_string(),
            log_format: LogFormat::Text,
            enable_request_timing: false,
            stdio: StdioConfig::default(),
            harpoon: None,
            unserved_harpoon_targets: 0,
        }
    }

    /// The binding of `main`, when it is enabled.
    pub fn main(&self) -> Option<&McpBinding> {
        self.bindings.iter().find(|b| b.channel == MAIN_CHANNEL)
    }

    /// What `main`'s startup probe and OAuth discovery send: `main`'s MCP
    /// headers with the discovery set on top, for any path of `main`'s origin
    /// and nowhere else. Empty when `main` is not an enabled HTTP server.
    /// Command headers, where a request has them, are applied after these and win.
    pub fn discovery_headers(&self) -> ScopedHeaders {
        match self.main() {
            Some(McpBinding {
                target: McpTarget::Http { url },
                headers,
                ..
            }) => ScopedHeaders::new(url, headers.overlaid(&self.mcp_discovery_headers)),
            _ => ScopedHeaders::default(),
        }
    }

    /// True when the harpoon channel is built and not left out of the poll
    /// allowlist: served in-process, and declared last while it has a target.
    pub fn serves_harpoon(&self) -> bool {
        self.harpoon.is_some()
            && self
                .poll_channels
                .as_ref()
                .is_none_or(|list| list.iter().any(|c| c == HARPOON_CHANNEL))
    }
}

#[cfg(test)]
mod testing;
