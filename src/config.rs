//! The one validated configuration of `tunnel-client run` (and doctor). Flags >
//! environment > profile > defaults is applied here and nowhere else.

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

/// Where the `main` channel's MCP server is.
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
    /// variables and every variable an `env:` reference names.
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
            removed_env: vec![
                "CONTROL_PLANE_API_KEY".to_string(),
                "OPENAI_API_KEY".to_string(),
            ],
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
    pub mcp: McpTarget,
    pub net: NetConfig,
    pub admin: AdminConfig,
    pub max_concurrency: usize,
    pub request_timeout: Duration,
    pub poll_timeout: Duration,
    pub poll_interval: Duration,
    pub shutdown_grace: Duration,
    pub log_level: String,
    pub log_format: LogFormat,
    pub enable_request_timing: bool,
    pub stdio: StdioConfig,
}

impl Config {
    /// A configuration with every default, for tests and `doctor`.
    pub fn with_defaults(tunnel_id: &str, api_key: Secret, mcp: McpTarget) -> Config {
        Config {
            tunnel_id: tunnel_id.to_string(),
            control_plane_url: DEFAULT_CONTROL_PLANE_URL.to_string(),
            api_key,
            mcp,
            net: NetConfig::default(),
            admin: AdminConfig::default(),
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            poll_timeout: DEFAULT_POLL_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            log_level: "info".to_string(),
            log_format: LogFormat::Text,
            enable_request_timing: false,
            stdio: StdioConfig::default(),
        }
    }
}
