//! The one validated configuration of `tunnel-client run` (and doctor). Flags >
//! environment > profile > defaults is applied here and nowhere else; never prints a secret.
//!
//! Data flow: the command line (`cli::args`), the process environment
//! ([`Layer::from_env`]) and a profile file (`cli::profile`) each become a
//! [`Layer`] of optional raw values that remember where they came from; then
//! [`resolve`] picks, per setting, the first layer that has it and validates
//! the result into a [`Config`]. Every error names the flag, variable or
//! profile key (and file) it is about, and says how to fix it.
//!
//! Network settings are chosen here but judged by `crate::net`: the proxy
//! variables are read by `ProxySettings::from_vars`, and certificate files,
//! proxy URLs and NO_PROXY entries are checked by `net::validate`, so startup
//! refuses exactly what the agents could not use.

use crate::net::{CertPair, Hop, NetConfig, NetError, ProxySettings};
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
/// Most `mcp_env` variables.
pub const MAX_MCP_ENV_VARS: usize = 256;
/// Most harpoon targets.
pub const MAX_HARPOON_TARGETS: usize = 64;
/// Harpoon defaults and ceilings (bytes and seconds).
pub const DEFAULT_HARPOON_MAX_REQUEST_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_HARPOON_MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_HARPOON_TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_HARPOON_BODY_BYTES: u64 = 64 * 1024 * 1024;
pub const MAX_HARPOON_TIMEOUT_SECS: u64 = 600;
/// HTTP methods a harpoon target may allow.
pub const HARPOON_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Log levels accepted by `--log-level` and `log_level`.
pub const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Variables that hold the control-plane key; never passed to a stdio child.
pub const API_KEY_VARS: &[&str] = &["CONTROL_PLANE_API_KEY", "OPENAI_API_KEY"];

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

/// One allowlisted HTTP destination of the `harpoon` channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarpoonTarget {
    /// Name callers use (`[a-z0-9_-]`, unique).
    pub label: String,
    /// `http(s)://host[:port][/prefix]` without a trailing slash; every path stays under it.
    pub base_url: String,
    /// Upper-case methods, from [`HARPOON_METHODS`].
    pub allowed_methods: Vec<String>,
    pub max_request_size_bytes: u64,
    pub max_response_size_bytes: u64,
    pub timeout: Duration,
}

/// The `harpoon` channel; present in [`Config`] only when enabled with targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarpoonConfig {
    pub targets: Vec<HarpoonTarget>,
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
    /// An env_logger filter: a level word or `target=level,…` directives.
    pub log_level: String,
    pub log_format: LogFormat,
    pub enable_request_timing: bool,
    pub stdio: StdioConfig,
    /// `None`: the harpoon channel is disabled.
    pub harpoon: Option<HarpoonConfig>,
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
            harpoon: None,
        }
    }
}

// ---------------------------------------------------------------------------
// Where a value came from
// ---------------------------------------------------------------------------

/// The source of one raw value, so that an error can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, spelled as typed (`--tunnel-id`).
    Flag(&'static str),
    /// An environment variable.
    Env(String),
    /// A key of a profile file (`control_plane_mtls.cert_path`).
    Profile { key: String, file: PathBuf },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => f.write_str(flag),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Profile { key, file } => {
                write!(f, "profile key \"{key}\" in {}", file.display())
            }
        }
    }
}

/// A raw value and its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Sourced<T> {
    pub fn new(value: T, origin: Origin) -> Self {
        Sourced { value, origin }
    }
}

/// A harpoon target as written in a profile, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHarpoonTarget {
    pub label: String,
    pub base_url: String,
    pub allowed_methods: Vec<String>,
    /// Raw numbers (JSON text), validated in [`resolve`].
    pub max_request_size_bytes: Option<String>,
    pub max_response_size_bytes: Option<String>,
    pub timeout_seconds: Option<String>,
}

/// The `harpoon` object of a profile, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHarpoon {
    pub enabled: bool,
    pub targets: Vec<RawHarpoonTarget>,
}

/// One source of settings (flags, environment or profile). Numbers stay text
/// until [`resolve`] so that they are checked in one place whatever their source.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub tunnel_id: Option<Sourced<String>>,
    pub mcp_server_url: Option<Sourced<String>>,
    pub mcp_command: Option<Sourced<String>>,
    pub control_plane_url: Option<Sourced<String>>,
    pub api_key: Option<Sourced<Secret>>,
    pub control_plane_cert: Option<Sourced<PathBuf>>,
    pub control_plane_key: Option<Sourced<PathBuf>>,
    pub ca_bundle: Option<Sourced<PathBuf>>,
    pub mcp_client_cert: Option<Sourced<PathBuf>>,
    pub mcp_client_key: Option<Sourced<PathBuf>>,
    pub mcp_ca_bundle: Option<Sourced<PathBuf>>,
    pub https_proxy: Option<Sourced<String>>,
    pub http_proxy: Option<Sourced<String>>,
    pub no_proxy: Option<Sourced<Vec<String>>>,
    /// An address, or `off`.
    pub admin_address: Option<Sourced<String>>,
    pub admin_enabled: Option<Sourced<bool>>,
    pub admin_url_file: Option<Sourced<PathBuf>>,
    pub allow_remote_ui: Option<Sourced<bool>>,
    pub max_concurrency: Option<Sourced<String>>,
    pub request_timeout: Option<Sourced<String>>,
    pub poll_timeout_ms: Option<Sourced<String>>,
    pub poll_interval_ms: Option<Sourced<String>>,
    pub shutdown_grace: Option<Sourced<String>>,
    pub log_level: Option<Sourced<String>>,
    pub log_format: Option<Sourced<String>>,
    pub enable_request_timing: Option<Sourced<bool>>,
    pub mcp_env: Option<Sourced<Vec<(String, String)>>>,
    pub stdio_mode: Option<Sourced<String>>,
    pub stdio_hang_seconds: Option<Sourced<String>>,
    pub stdio_session_idle_seconds: Option<Sourced<String>>,
    pub stdio_max_sessions: Option<Sourced<String>>,
    pub harpoon: Option<Sourced<RawHarpoon>>,
    /// Variables named by `env:` references: kept out of a stdio child.
    pub referenced_env: Vec<String>,
}

// ---------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------

/// A snapshot of the environment (tests build one from pairs).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The process environment; variables that are not UTF-8 are skipped.
    pub fn from_process() -> Env {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Env { vars }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `name`; an empty variable counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The first of `names` that is set, with its name.
    fn first(&self, names: &[&str]) -> Option<Sourced<String>> {
        names.iter().find_map(|name| {
            self.get(name)
                .map(|v| Sourced::new(v.to_string(), Origin::Env(name.to_string())))
        })
    }
}

/// The proxy variables, upper case first: only to name the variable a value
/// came from. Which one wins is decided by [`ProxySettings::from_vars`].
const HTTPS_PROXY_VARS: &[&str] = &["HTTPS_PROXY", "https_proxy"];
const HTTP_PROXY_VARS: &[&str] = &["HTTP_PROXY", "http_proxy"];
const NO_PROXY_VARS: &[&str] = &["NO_PROXY", "no_proxy"];

impl Layer {
    /// The settings the environment carries (see CLI.md's table). The proxy
    /// variables are read by the network module, so `run`, doctor and the
    /// agents agree on which of `HTTPS_PROXY`/`https_proxy` counts.
    pub fn from_env(env: &Env) -> Layer {
        let proxy = ProxySettings::from_vars(|name| env.get(name).map(str::to_string));
        // The variable that holds what net chose (the first non-blank one).
        let origin = |names: &[&str]| {
            names
                .iter()
                .find(|name| env.get(name).is_some_and(|v| !v.trim().is_empty()))
                .map(|name| Origin::Env(name.to_string()))
        };
        let no_proxy = Some(proxy.no_proxy).filter(|list| !list.is_empty());
        Layer {
            tunnel_id: env.first(&["CONTROL_PLANE_TUNNEL_ID"]),
            mcp_server_url: env.first(&["MCP_SERVER_URL"]),
            mcp_command: env.first(&["MCP_COMMAND"]),
            control_plane_url: env.first(&["CONTROL_PLANE_URL"]),
            api_key: env.first(API_KEY_VARS).map(|s| Sourced {
                value: Secret::new(s.value.trim()),
                origin: s.origin,
            }),
            https_proxy: sourced(proxy.https_proxy, origin(HTTPS_PROXY_VARS)),
            http_proxy: sourced(proxy.http_proxy, origin(HTTP_PROXY_VARS)),
            no_proxy: sourced(no_proxy, origin(NO_PROXY_VARS)),
            log_level: env.first(&["RUST_LOG"]),
            ..Layer::default()
        }
    }
}

fn sourced<T>(value: Option<T>, origin: Option<Origin>) -> Option<Sourced<T>> {
    Some(Sourced::new(value?, origin?))
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a configuration was refused (exit status 2). The text is one sentence
/// naming the flag, variable, key or file, then the fix; never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A value is wrong.
    Invalid {
        origin: Origin,
        problem: String,
        fix: String,
    },
    /// A required setting is set nowhere.
    Missing {
        setting: &'static str,
        fix: &'static str,
    },
    /// Two settings that exclude each other are both set.
    Conflict {
        first: Origin,
        second: Origin,
        fix: &'static str,
    },
    /// `--profile NAME` found no file.
    ProfileNotFound {
        name: String,
        searched: Vec<PathBuf>,
    },
    /// A profile file or a `file:` reference could not be read.
    Unreadable {
        path: PathBuf,
        problem: String,
        what: String,
    },
    /// A profile file is not valid JSON.
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        problem: String,
    },
    /// A profile key that does not exist (typos must not be ignored).
    UnknownKey {
        file: PathBuf,
        key: String,
        suggestion: Option<String>,
    },
    /// A certificate or proxy setting the network module refused; its text
    /// names the file or (redacted) URL, what is wrong and the fix.
    Network {
        origin: Option<Origin>,
        /// Boxed: every other variant is small, and this error is rare.
        error: Box<NetError>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid {
                origin,
                problem,
                fix,
            } => write!(f, "{origin}: {problem}; {fix}"),
            ConfigError::Missing { setting, fix } => write!(f, "no {setting} is set; {fix}"),
            ConfigError::Conflict { first, second, fix } => {
                write!(f, "{first} and {second} cannot be used together; {fix}")
            }
            ConfigError::ProfileNotFound { name, searched } => {
                let list: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "profile \"{name}\" not found (looked for {}); create it with `tunnel-client init --profile {name} ...`, or pass --profile-dir DIR or --profile-file PATH",
                    list.join(" and ")
                )
            }
            ConfigError::Unreadable {
                path,
                problem,
                what,
            } => write!(
                f,
                "cannot read {what} {}: {problem}; check that the file exists and that this user may read it",
                path.display()
            ),
            ConfigError::Malformed {
                path,
                line,
                column,
                problem,
            } => write!(
                f,
                "profile {} is not valid JSON (line {line}, column {column}: {problem}); fix the file or recreate it with `tunnel-client init --force`",
                path.display()
            ),
            ConfigError::UnknownKey {
                file,
                key,
                suggestion,
            } => match suggestion {
                Some(s) => write!(
                    f,
                    "profile {} has an unknown key \"{key}\"; did you mean \"{s}\"? (see `tunnel-client help samples`)",
                    file.display()
                ),
                None => write!(
                    f,
                    "profile {} has an unknown key \"{key}\"; remove it (see `tunnel-client help samples` for the keys)",
                    file.display()
                ),
            },
            ConfigError::Network {
                origin: Some(origin),
                error,
            } => write!(f, "{origin}: {error}"),
            ConfigError::Network {
                origin: None,
                error,
            } => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ConfigError {}

fn invalid(origin: &Origin, problem: impl Into<String>, fix: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.clone(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

// ---------------------------------------------------------------------------
// Precedence and validation
// ---------------------------------------------------------------------------

/// The layers in precedence order: flags, environment, profile.
pub struct Layers<'a> {
    pub flags: &'a Layer,
    pub env: &'a Layer,
    pub profile: &'a Layer,
}

impl Layers<'_> {
    /// The value of the first layer that sets it: the whole precedence rule.
    pub fn pick<T: Clone>(
        &self,
        field: impl Fn(&Layer) -> &Option<Sourced<T>>,
    ) -> Option<Sourced<T>> {
        [self.flags, self.env, self.profile]
            .into_iter()
            .find_map(|layer| field(layer).clone())
    }

    /// The one exception to the order: a profile's `proxy` object is a
    /// deliberate per-tunnel choice and wins over the host's proxy variables.
    pub fn pick_profile_first<T: Clone>(
        &self,
        field: impl Fn(&Layer) -> &Option<Sourced<T>>,
    ) -> Option<Sourced<T>> {
        [self.flags, self.profile, self.env]
            .into_iter()
            .find_map(|layer| field(layer).clone())
    }
}

/// Applies flags > environment > profile > defaults and validates everything.
pub fn resolve(layers: &Layers<'_>) -> Result<Config, ConfigError> {
    let tunnel_id = tunnel_id(layers.pick(|l| &l.tunnel_id))?;
    let mcp = mcp_target(layers)?;
    let control_plane_url = control_plane_url(layers.pick(|l| &l.control_plane_url))?;
    let api_key = match layers.pick(|l| &l.api_key) {
        Some(key) if key.value.is_empty() => {
            return Err(invalid(
                &key.origin,
                "the API key is empty",
                "put the key in the variable or file it names",
            ))
        }
        Some(key) => key.value,
        None => {
            return Err(ConfigError::Missing {
                setting: "control-plane API key",
                fix: "set CONTROL_PLANE_API_KEY (or OPENAI_API_KEY), or add \"api_key\": \"env:NAME\" or \"file:/path\" to the profile",
            })
        }
    };
    let net = net_config(layers)?;
    let admin = admin_config(layers)?;

    let max_concurrency = number(
        layers.pick(|l| &l.max_concurrency),
        1,
        MAX_MAX_CONCURRENCY,
        DEFAULT_MAX_CONCURRENCY as u64,
    )? as usize;
    let request_timeout = Duration::from_secs(number(
        layers.pick(|l| &l.request_timeout),
        1,
        MAX_REQUEST_TIMEOUT_SECS,
        DEFAULT_REQUEST_TIMEOUT.as_secs(),
    )?);
    let poll_timeout = Duration::from_millis(number(
        layers.pick(|l| &l.poll_timeout_ms),
        1,
        MAX_POLL_TIMEOUT_MS,
        DEFAULT_POLL_TIMEOUT.as_millis() as u64,
    )?);
    let poll_interval = Duration::from_millis(number(
        layers.pick(|l| &l.poll_interval_ms),
        1,
        MAX_POLL_INTERVAL_MS,
        DEFAULT_POLL_INTERVAL.as_millis() as u64,
    )?);
    let shutdown_grace = Duration::from_secs(number(
        layers.pick(|l| &l.shutdown_grace),
        0,
        MAX_SHUTDOWN_GRACE_SECS,
        DEFAULT_SHUTDOWN_GRACE.as_secs(),
    )?);
    let log_level = log_level(layers.pick(|l| &l.log_level))?;
    let log_format = match layers.pick(|l| &l.log_format) {
        None => LogFormat::Text,
        Some(s) => match s.value.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(invalid(
                    &s.origin,
                    format!("\"{}\" is not a log format", s.value),
                    "use text or json",
                ))
            }
        },
    };
    let enable_request_timing = layers
        .pick(|l| &l.enable_request_timing)
        .is_some_and(|s| s.value);
    let stdio = stdio_config(layers)?;
    let harpoon = match layers.pick(|l| &l.harpoon) {
        None => None,
        Some(raw) => harpoon_config(raw)?,
    };

    Ok(Config {
        tunnel_id,
        control_plane_url,
        api_key,
        mcp,
        net,
        admin,
        max_concurrency,
        request_timeout,
        poll_timeout,
        poll_interval,
        shutdown_grace,
        log_level,
        log_format,
        enable_request_timing,
        stdio,
        harpoon,
    })
}

fn tunnel_id(value: Option<Sourced<String>>) -> Result<String, ConfigError> {
    let Some(id) = value else {
        return Err(ConfigError::Missing {
            setting: "tunnel id",
            fix: "pass --tunnel-id ID, set CONTROL_PLANE_TUNNEL_ID, or use a profile with \"tunnel_id\"",
        });
    };
    if crate::contract::is_valid_tunnel_id(&id.value) {
        return Ok(id.value);
    }
    // The value is not echoed: a pasted API key must not end up in a terminal log.
    Err(invalid(
        &id.origin,
        format!(
            "the value ({} characters) is not a tunnel id",
            id.value.chars().count()
        ),
        "a tunnel id is `tunnel_` followed by 32 lowercase letters or digits; copy it from the tunnel's settings",
    ))
}

/// Exactly one of URL / command, taken from the highest layer that sets either.
fn mcp_target(layers: &Layers<'_>) -> Result<McpTarget, ConfigError> {
    for layer in [layers.flags, layers.env, layers.profile] {
        match (&layer.mcp_server_url, &layer.mcp_command) {
            (Some(url), Some(cmd)) => {
                return Err(ConfigError::Conflict {
                    first: url.origin.clone(),
                    second: cmd.origin.clone(),
                    fix: "give either an MCP server URL or an MCP command, not both",
                })
            }
            (Some(url), None) => {
                check_url(&url.origin, &url.value, UrlUse::McpServer)?;
                return Ok(McpTarget::Http {
                    url: url.value.clone(),
                });
            }
            (None, Some(cmd)) => {
                let argv = split_command(&cmd.value).map_err(|problem| {
                    invalid(
                        &cmd.origin,
                        problem,
                        "quote arguments with '...' or \"...\" and close every quote",
                    )
                })?;
                return Ok(McpTarget::Stdio { argv });
            }
            (None, None) => {}
        }
    }
    Err(ConfigError::Missing {
        setting: "MCP server",
        fix: "pass --mcp-server-url URL or --mcp-command CMD (try --mcp-command 'tunnel-client dev mcp-stub' for a first test)",
    })
}

fn control_plane_url(value: Option<Sourced<String>>) -> Result<String, ConfigError> {
    let Some(url) = value else {
        return Ok(DEFAULT_CONTROL_PLANE_URL.to_string());
    };
    check_url(&url.origin, &url.value, UrlUse::ControlPlane)?;
    let (scheme, rest) = url.value.split_once("://").unwrap_or(("https", &url.value));
    Ok(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        rest.trim_end_matches('/')
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlUse {
    ControlPlane,
    McpServer,
    Harpoon,
}

/// The parts of an absolute URL the checks need.
#[derive(Debug, PartialEq, Eq)]
struct UrlParts<'a> {
    scheme: String,
    has_userinfo: bool,
    host: &'a str,
    port: Option<u16>,
    /// Path, query and fragment.
    rest: &'a str,
}

fn url_parts(url: &str) -> Result<UrlParts<'_>, &'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains spaces or control characters");
    }
    let (scheme, after) = url
        .split_once("://")
        .ok_or("it is not an absolute URL (scheme://host)")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (has_userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (true, &authority[at + 1..]),
        None => (false, authority),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let close = inner.find(']').ok_or("its IPv6 address has no closing ]")?;
        let host = &inner[..close];
        match &inner[close + 1..] {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or("its port is malformed")?),
            ),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host");
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| "its port is not a number 0-65535")?,
        ),
    };
    Ok(UrlParts {
        scheme: scheme.to_ascii_lowercase(),
        has_userinfo,
        host,
        port,
        rest,
    })
}

fn check_url(origin: &Origin, url: &str, usage: UrlUse) -> Result<(), ConfigError> {
    // Values are not echoed: a URL may carry credentials.
    let parts = url_parts(url).map_err(|problem| {
        invalid(
            origin,
            format!("the URL is not usable ({problem})"),
            match usage {
                UrlUse::ControlPlane => "use a URL like https://api.openai.com",
                UrlUse::McpServer => "use a URL like http://10.0.0.5:8000/mcp",
                UrlUse::Harpoon => "use a URL like https://api.internal.example.com",
            },
        )
    })?;
    let scheme_ok = match usage {
        UrlUse::ControlPlane => {
            parts.scheme == "https"
                || (parts.scheme == "http" && crate::net::is_loopback_host(parts.host))
        }
        UrlUse::McpServer | UrlUse::Harpoon => parts.scheme == "http" || parts.scheme == "https",
    };
    if !scheme_ok {
        return Err(match usage {
            UrlUse::ControlPlane if parts.scheme == "http" => invalid(
                origin,
                "plain http is allowed only to a loopback control plane (localhost, 127.0.0.0/8, ::1)",
                "use https:// (the API key would travel in clear text)",
            ),
            _ => invalid(
                origin,
                format!("the URL scheme \"{}\" is not supported", parts.scheme),
                "use http:// or https://",
            ),
        });
    }
    if parts.has_userinfo {
        return Err(invalid(
            origin,
            "the URL carries user:password@ credentials",
            "remove them from the URL (credentials in URLs end up in logs and process lists)",
        ));
    }
    if usage == UrlUse::ControlPlane && (parts.rest.contains('?') || parts.rest.contains('#')) {
        return Err(invalid(
            origin,
            "the URL has a query or fragment",
            "give only the scheme, host, port and optional path prefix",
        ));
    }
    if usage == UrlUse::Harpoon && (parts.rest.contains('?') || parts.rest.contains('#')) {
        return Err(invalid(
            origin,
            "a base URL cannot have a query or fragment",
            "give only the scheme, host, port and optional path prefix",
        ));
    }
    Ok(())
}

/// Checks an MCP server URL given by `flag` (for `init`, which has no layers).
pub fn check_url_for_mcp(flag: &'static str, url: &str) -> Result<(), ConfigError> {
    check_url(&Origin::Flag(flag), url, UrlUse::McpServer)
}

/// Splits a command line like a POSIX shell without running one: whitespace
/// separates words, '…' is literal, "…" honours \" \\ \$ \`, a backslash
/// outside quotes escapes the next character; `;` `|` `$` `*` stay literal.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("the command has an unclosed ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("the command has an unclosed \" quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("the command has an unclosed \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err("the command ends with a lone backslash".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

/// A whole number in `min..=max`, or the default when unset.
fn number(
    value: Option<Sourced<String>>,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, ConfigError> {
    let Some(v) = value else {
        return Ok(default);
    };
    let text = v.value.trim();
    let fix = if min == 0 {
        format!("use a whole number from 0 to {max}")
    } else {
        format!("use a whole number from {min} to {max}")
    };
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(invalid(&v.origin, format!("{n} is out of range"), fix)),
        Err(_) if text.starts_with('-') => {
            Err(invalid(&v.origin, format!("{text} is negative"), fix))
        }
        Err(_) => Err(invalid(
            &v.origin,
            format!("\"{text}\" is not a whole number"),
            fix,
        )),
    }
}

/// A level word, or env_logger directives (`warn,tunnel=debug`) as RUST_LOG takes.
fn log_level(value: Option<Sourced<String>>) -> Result<String, ConfigError> {
    let Some(v) = value else {
        return Ok("info".to_string());
    };
    let text = v.value.trim().to_ascii_lowercase();
    let is_target = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '-')
    };
    let ok = !text.is_empty()
        && text
            .split(',')
            .all(|directive| match directive.split_once('=') {
                Some((target, level)) => is_target(target) && LOG_LEVELS.contains(&level),
                None => LOG_LEVELS.contains(&directive),
            });
    if ok {
        Ok(text)
    } else {
        Err(invalid(
            &v.origin,
            format!("\"{}\" is not a log level", v.value),
            "use off, error, warn, info, debug or trace (or target=level directives)",
        ))
    }
}

// ---------------------------------------------------------------------------
// Network settings: chosen here, checked by `crate::net`
// ---------------------------------------------------------------------------

/// Certificate files and proxy settings after precedence, checked by
/// [`crate::net::validate`], the same code the agents are built with: a bad
/// bundle, a mismatched pair or a bad NO_PROXY entry fails here, at startup.
fn net_config(layers: &Layers<'_>) -> Result<NetConfig, ConfigError> {
    let proxy = proxy_settings(layers)?;
    let ca_bundle = layers.pick(|l| &l.ca_bundle);
    let mcp_ca_bundle = layers.pick(|l| &l.mcp_ca_bundle);
    let control_plane_cert = layers.pick(|l| &l.control_plane_cert);
    let control_plane_key = layers.pick(|l| &l.control_plane_key);
    let mcp_client_cert = layers.pick(|l| &l.mcp_client_cert);
    let mcp_client_key = layers.pick(|l| &l.mcp_client_key);
    let net = NetConfig {
        ca_bundle: ca_bundle.as_ref().map(|s| s.value.clone()),
        control_plane_mtls: cert_pair(Hop::ControlPlane, &control_plane_cert, &control_plane_key)?,
        mcp_mtls: cert_pair(Hop::Mcp, &mcp_client_cert, &mcp_client_key)?,
        mcp_ca_bundle: mcp_ca_bundle.as_ref().map(|s| s.value.clone()),
        proxy,
    };
    let files = [
        &ca_bundle,
        &control_plane_cert,
        &control_plane_key,
        &mcp_ca_bundle,
        &mcp_client_cert,
        &mcp_client_key,
    ];
    crate::net::validate(&net).map_err(|error| network_error(error, &files))?;
    Ok(net)
}

/// Proxy settings after precedence: the profile's `proxy` object wins over
/// the environment ([`Layers::pick_profile_first`]). Each URL and the NO_PROXY
/// list is checked by the network module on its own, so that an error names
/// the variable or profile key it came from.
pub fn proxy_settings(layers: &Layers<'_>) -> Result<ProxySettings, ConfigError> {
    let checked = |origin: Origin, one: ProxySettings| match one.validate() {
        Ok(()) => Ok(one),
        Err(error) => Err(ConfigError::Network {
            origin: Some(origin),
            error: Box::new(error),
        }),
    };
    let mut settings = ProxySettings::default();
    if let Some(p) = layers.pick_profile_first(|l| &l.https_proxy) {
        let one = ProxySettings {
            https_proxy: Some(with_scheme(&p.value)),
            ..ProxySettings::default()
        };
        settings.https_proxy = checked(p.origin, one)?.https_proxy;
    }
    if let Some(p) = layers.pick_profile_first(|l| &l.http_proxy) {
        let one = ProxySettings {
            http_proxy: Some(with_scheme(&p.value)),
            ..ProxySettings::default()
        };
        settings.http_proxy = checked(p.origin, one)?.http_proxy;
    }
    if let Some(list) = layers.pick_profile_first(|l| &l.no_proxy) {
        let one = ProxySettings {
            no_proxy: list.value,
            ..ProxySettings::default()
        };
        settings.no_proxy = checked(list.origin, one)?.no_proxy;
    }
    Ok(settings)
}

/// Operators often write `proxy:3128`; the stored URL always has its scheme
/// so that every message shows what will be used.
fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// Both files of a client certificate, or neither (the files themselves are
/// read by [`crate::net::validate`]).
fn cert_pair(
    hop: Hop,
    cert: &Option<Sourced<PathBuf>>,
    key: &Option<Sourced<PathBuf>>,
) -> Result<Option<CertPair>, ConfigError> {
    let flags = match hop {
        Hop::ControlPlane => "--control-plane-cert and --control-plane-key",
        Hop::Mcp => "--mcp-client-cert and --mcp-client-key",
    };
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(one), None) | (None, Some(one)) => Err(invalid(
            &one.origin,
            "a client certificate needs both the certificate and its key",
            format!("give both {flags}, or neither"),
        )),
        (Some(cert), Some(key)) => Ok(Some(CertPair {
            cert_path: cert.value.clone(),
            key_path: key.value.clone(),
        })),
    }
}

/// Names the setting a [`NetError`] is about: the flag, variable or key of
/// the file (of the key, for a mismatched pair). A file that cannot even be
/// opened gets the same "cannot read" sentence as every other file.
fn network_error(error: NetError, files: &[&Option<Sourced<PathBuf>>]) -> ConfigError {
    let named = |path: &Path| {
        files
            .iter()
            .copied()
            .flatten()
            .find(|file| file.value == path)
    };
    let file = match &error {
        NetError::BadPemFile { path, .. } => named(path),
        NetError::CertKeyMismatch { key, .. } => named(key),
        _ => None,
    };
    let Some(file) = file else {
        return ConfigError::Network {
            origin: None,
            error: Box::new(error),
        };
    };
    if let Err(e) = std::fs::File::open(&file.value) {
        return ConfigError::Unreadable {
            path: file.value.clone(),
            problem: io_problem(&e),
            what: format!("the file named by {}", file.origin),
        };
    }
    ConfigError::Network {
        origin: Some(file.origin.clone()),
        error: Box::new(error),
    }
}

/// An I/O error as a short phrase (without Rust's "(os error N)" noise).
pub fn io_problem(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

fn admin_config(layers: &Layers<'_>) -> Result<AdminConfig, ConfigError> {
    let address = layers.pick(|l| &l.admin_address);
    let enabled = layers.pick(|l| &l.admin_enabled);
    let address = match (address, enabled) {
        (Some(a), _) if a.value == "off" => None,
        (_, Some(e)) if !e.value => None,
        (Some(a), _) => {
            check_socket_address(&a)?;
            Some(a.value)
        }
        (None, _) => Some(DEFAULT_ADMIN_ADDRESS.to_string()),
    };
    Ok(AdminConfig {
        address,
        url_file: layers.pick(|l| &l.admin_url_file).map(|s| s.value),
        allow_remote_ui: layers.pick(|l| &l.allow_remote_ui).is_some_and(|s| s.value),
    })
}

fn check_socket_address(a: &Sourced<String>) -> Result<(), ConfigError> {
    if a.value.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    if let Some((host, port)) = a.value.rsplit_once(':') {
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if host_ok && port.parse::<u16>().is_ok() {
            return Ok(());
        }
    }
    Err(invalid(
        &a.origin,
        format!("\"{}\" is not an address", a.value),
        "use HOST:PORT such as 127.0.0.1:8090 (port 0 picks a free port), or off",
    ))
}

fn stdio_config(layers: &Layers<'_>) -> Result<StdioConfig, ConfigError> {
    let mut stdio = StdioConfig::default();
    if let Some(env) = layers.pick(|l| &l.mcp_env) {
        if env.value.len() > MAX_MCP_ENV_VARS {
            return Err(invalid(
                &env.origin,
                format!("more than {MAX_MCP_ENV_VARS} variables"),
                "pass fewer variables",
            ));
        }
        for (name, _) in &env.value {
            let ok = !name.is_empty()
                && !name.contains('=')
                && !name.contains('\0')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(invalid(
                    &env.origin,
                    format!("\"{name}\" is not a variable name"),
                    "use names like MY_SETTING",
                ));
            }
            if API_KEY_VARS.contains(&name.as_str()) {
                return Err(invalid(
                    &env.origin,
                    format!("{name} would hand the control-plane key to the MCP server"),
                    "remove it; the MCP server must not receive the control-plane key",
                ));
            }
        }
        stdio.extra_env = env.value;
    }
    for layer in [layers.flags, layers.env, layers.profile] {
        for name in &layer.referenced_env {
            if !stdio.removed_env.contains(name) {
                stdio.removed_env.push(name.clone());
            }
        }
    }
    if let Some(mode) = layers.pick(|l| &l.stdio_mode) {
        stdio.mode = match mode.value.as_str() {
            "shared" => StdioMode::Shared,
            "per_session" => StdioMode::PerSession,
            other => {
                return Err(invalid(
                    &mode.origin,
                    format!("\"{other}\" is not a stdio mode"),
                    "use \"shared\" or \"per_session\"",
                ))
            }
        };
    }
    stdio.hang_after = Duration::from_secs(number(
        layers.pick(|l| &l.stdio_hang_seconds),
        1,
        MAX_STDIO_HANG_SECS,
        DEFAULT_STDIO_HANG.as_secs(),
    )?);
    stdio.session_idle = Duration::from_secs(number(
        layers.pick(|l| &l.stdio_session_idle_seconds),
        1,
        MAX_STDIO_SESSION_IDLE_SECS,
        DEFAULT_STDIO_SESSION_IDLE.as_secs(),
    )?);
    stdio.max_sessions = number(
        layers.pick(|l| &l.stdio_max_sessions),
        1,
        MAX_STDIO_MAX_SESSIONS,
        DEFAULT_STDIO_MAX_SESSIONS as u64,
    )? as usize;
    Ok(stdio)
}

fn harpoon_config(raw: Sourced<RawHarpoon>) -> Result<Option<HarpoonConfig>, ConfigError> {
    if !raw.value.enabled {
        return Ok(None);
    }
    let file = match &raw.origin {
        Origin::Profile { file, .. } => file.clone(),
        _ => PathBuf::new(),
    };
    let at = |index: usize, key: &str| Origin::Profile {
        key: format!("harpoon.targets[{index}].{key}"),
        file: file.clone(),
    };
    if raw.value.targets.is_empty() {
        return Err(invalid(
            &raw.origin,
            "harpoon is enabled but has no targets",
            "add at least one target or set \"enabled\": false",
        ));
    }
    if raw.value.targets.len() > MAX_HARPOON_TARGETS {
        return Err(invalid(
            &raw.origin,
            format!("more than {MAX_HARPOON_TARGETS} targets"),
            "merge or remove targets",
        ));
    }
    let mut targets: Vec<HarpoonTarget> = Vec::new();
    for (i, t) in raw.value.targets.into_iter().enumerate() {
        let label_ok = !t.label.is_empty()
            && t.label.len() <= 64
            && t.label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !label_ok {
            return Err(invalid(
                &at(i, "label"),
                format!("\"{}\" is not a usable label", t.label),
                "use 1-64 lowercase letters, digits, _ or -",
            ));
        }
        if targets.iter().any(|other| other.label == t.label) {
            return Err(invalid(
                &at(i, "label"),
                format!("the label \"{}\" is used twice", t.label),
                "give every target its own label",
            ));
        }
        check_url(&at(i, "base_url"), &t.base_url, UrlUse::Harpoon)?;
        if t.allowed_methods.is_empty() {
            return Err(invalid(
                &at(i, "allowed_methods"),
                "no method is allowed",
                "list at least one method, e.g. [\"GET\"]",
            ));
        }
        let mut methods = Vec::new();
        for m in &t.allowed_methods {
            let upper = m.to_ascii_uppercase();
            if !HARPOON_METHODS.contains(&upper.as_str()) {
                return Err(invalid(
                    &at(i, "allowed_methods"),
                    format!("\"{m}\" is not an HTTP method"),
                    format!("use some of {}", HARPOON_METHODS.join(", ")),
                ));
            }
            if !methods.contains(&upper) {
                methods.push(upper);
            }
        }
        let sized = |key: &str, v: &Option<String>, default: u64| {
            number(
                v.clone().map(|value| Sourced::new(value, at(i, key))),
                1,
                MAX_HARPOON_BODY_BYTES,
                default,
            )
        };
        let max_request_size_bytes = sized(
            "max_request_size_bytes",
            &t.max_request_size_bytes,
            DEFAULT_HARPOON_MAX_REQUEST_BYTES,
        )?;
        let max_response_size_bytes = sized(
            "max_response_size_bytes",
            &t.max_response_size_bytes,
            DEFAULT_HARPOON_MAX_RESPONSE_BYTES,
        )?;
        let timeout = Duration::from_secs(number(
            t.timeout_seconds
                .map(|value| Sourced::new(value, at(i, "timeout_seconds"))),
            1,
            MAX_HARPOON_TIMEOUT_SECS,
            DEFAULT_HARPOON_TIMEOUT.as_secs(),
        )?);
        targets.push(HarpoonTarget {
            label: t.label,
            base_url: t.base_url.trim_end_matches('/').to_string(),
            allowed_methods: methods,
            max_request_size_bytes,
            max_response_size_bytes,
            timeout,
        });
    }
    Ok(Some(HarpoonConfig { targets }))
}

/// The closest of `known` to `key` (edit distance ≤ 3, or a shared prefix).
pub fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 3.max(key.len() / 3) || k.starts_with(key) || key.starts_with(*k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `Path` helper for callers that hold a path value without an origin.
pub fn flag_path(flag: &'static str, path: &Path) -> Sourced<PathBuf> {
    Sourced::new(path.to_path_buf(), Origin::Flag(flag))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "tunnel_0123456789abcdef0123456789abcdef";
    const ID2: &str = "tunnel_ffffffffffffffffffffffffffffffff";
    const ID3: &str = "tunnel_33333333333333333333333333333333";

    fn s(value: &str, origin: Origin) -> Option<Sourced<String>> {
        Some(Sourced::new(value.to_string(), origin))
    }
    fn flag(name: &'static str) -> Origin {
        Origin::Flag(name)
    }
    fn prof(key: &str) -> Origin {
        Origin::Profile {
            key: key.into(),
            file: "/p.json".into(),
        }
    }

    /// A minimal complete configuration in the profile layer.
    fn base_profile() -> Layer {
        Layer {
            tunnel_id: s(ID3, prof("tunnel_id")),
            mcp_command: s("tunnel-client dev mcp-stub", prof("mcp_command")),
            api_key: Some(Sourced::new(Secret::new("sk-profile"), prof("api_key"))),
            ..Layer::default()
        }
    }

    fn resolve3(flags: &Layer, env: &Env, profile: &Layer) -> Result<Config, ConfigError> {
        let env_layer = Layer::from_env(env);
        resolve(&Layers {
            flags,
            env: &env_layer,
            profile,
        })
    }

    #[test]
    fn precedence_table() {
        // (setting, flag value, env (name, value), profile value, expected)
        type Case = (
            &'static str,
            Option<&'static str>,
            Option<(&'static str, &'static str)>,
            Option<&'static str>,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                "tunnel_id",
                Some(ID),
                Some(("CONTROL_PLANE_TUNNEL_ID", ID2)),
                Some(ID3),
                ID,
            ),
            (
                "tunnel_id",
                None,
                Some(("CONTROL_PLANE_TUNNEL_ID", ID2)),
                Some(ID3),
                ID2,
            ),
            ("tunnel_id", None, None, Some(ID3), ID3),
            (
                "control_plane_url",
                Some("https://f.example/"),
                Some(("CONTROL_PLANE_URL", "https://e.example")),
                Some("https://p.example"),
                "https://f.example",
            ),
            (
                "control_plane_url",
                None,
                Some(("CONTROL_PLANE_URL", "https://e.example")),
                Some("https://p.example"),
                "https://e.example",
            ),
            (
                "control_plane_url",
                None,
                None,
                Some("https://p.example/prefix/"),
                "https://p.example/prefix",
            ),
            (
                "control_plane_url",
                None,
                None,
                None,
                DEFAULT_CONTROL_PLANE_URL,
            ),
            (
                "log_level",
                Some("debug"),
                Some(("RUST_LOG", "warn")),
                Some("error"),
                "debug",
            ),
            (
                "log_level",
                None,
                Some(("RUST_LOG", "warn,tunnel=trace")),
                Some("error"),
                "warn,tunnel=trace",
            ),
            ("log_level", None, None, Some("error"), "error"),
            ("log_level", None, None, None, "info"),
            ("max_concurrency", Some("3"), None, Some("7"), "3"),
            ("max_concurrency", None, None, Some("7"), "7"),
            ("max_concurrency", None, None, None, "10"),
            (
                "https_proxy",
                None,
                Some(("HTTPS_PROXY", "http://e:1")),
                Some("http://p:2"),
                "http://p:2",
            ),
            (
                "https_proxy",
                None,
                Some(("https_proxy", "e:3")),
                None,
                "http://e:3",
            ),
            ("https_proxy", None, None, Some("http://p:2"), "http://p:2"),
            (
                "mcp",
                Some("https://f.example/mcp"),
                Some(("MCP_COMMAND", "env-cmd")),
                Some("profile-cmd"),
                "https://f.example/mcp",
            ),
            (
                "mcp",
                None,
                Some(("MCP_COMMAND", "env-cmd")),
                Some("profile-cmd"),
                "env-cmd",
            ),
            ("mcp", None, None, Some("profile-cmd"), "profile-cmd"),
            (
                "api_key",
                None,
                Some(("CONTROL_PLANE_API_KEY", "sk-env")),
                Some("sk-profile"),
                "sk-env",
            ),
            (
                "api_key",
                None,
                Some(("OPENAI_API_KEY", "sk-openai")),
                Some("sk-profile"),
                "sk-openai",
            ),
            ("api_key", None, None, Some("sk-profile"), "sk-profile"),
        ];
        for (i, (setting, f, e, p, expected)) in cases.iter().enumerate() {
            let mut flags = Layer::default();
            let mut profile = base_profile();
            let env = Env::from_pairs(e.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            match *setting {
                "tunnel_id" => {
                    flags.tunnel_id = f.and_then(|v| s(v, flag("--tunnel-id")));
                    profile.tunnel_id = p.and_then(|v| s(v, prof("tunnel_id")));
                }
                "control_plane_url" => {
                    flags.control_plane_url = f.and_then(|v| s(v, flag("--control-plane-url")));
                    profile.control_plane_url = p.and_then(|v| s(v, prof("control_plane_url")));
                }
                "log_level" => {
                    flags.log_level = f.and_then(|v| s(v, flag("--log-level")));
                    profile.log_level = p.and_then(|v| s(v, prof("log_level")));
                }
                "max_concurrency" => {
                    flags.max_concurrency = f.and_then(|v| s(v, flag("--max-concurrency")));
                    profile.max_concurrency = p.and_then(|v| s(v, prof("max_concurrent_requests")));
                }
                "https_proxy" => {
                    profile.https_proxy = p.and_then(|v| s(v, prof("proxy.https_proxy")));
                }
                "mcp" => {
                    flags.mcp_server_url = f.and_then(|v| s(v, flag("--mcp-server-url")));
                    profile.mcp_command = p.and_then(|v| s(v, prof("mcp_command")));
                }
                "api_key" => {
                    profile.api_key = p.map(|v| Sourced::new(Secret::new(v), prof("api_key")));
                }
                _ => unreachable!(),
            }
            let c =
                resolve3(&flags, &env, &profile).unwrap_or_else(|err| panic!("case {i}: {err}"));
            let got = match *setting {
                "tunnel_id" => c.tunnel_id.clone(),
                "control_plane_url" => c.control_plane_url.clone(),
                "log_level" => c.log_level.clone(),
                "max_concurrency" => c.max_concurrency.to_string(),
                "https_proxy" => c.net.proxy.https_proxy.clone().unwrap_or_default(),
                "mcp" => match &c.mcp {
                    McpTarget::Http { url } => url.clone(),
                    McpTarget::Stdio { argv } => argv.join(" "),
                },
                "api_key" => c.api_key.expose().to_string(),
                _ => unreachable!(),
            };
            assert_eq!(&got, expected, "case {i} ({setting})");
        }
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = resolve3(&Layer::default(), &Env::default(), &base_profile()).unwrap();
        assert_eq!(c.max_concurrency, 10);
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.poll_timeout, Duration::from_millis(30_000));
        assert_eq!(c.poll_interval, Duration::from_millis(1_000));
        assert_eq!(c.shutdown_grace, Duration::from_secs(25));
        assert_eq!(c.admin.address.as_deref(), Some("127.0.0.1:8090"));
        assert!(!c.admin.allow_remote_ui);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.stdio, StdioConfig::default());
        assert!(c.harpoon.is_none());
        assert_eq!(
            c.mcp,
            McpTarget::Stdio {
                argv: vec!["tunnel-client".into(), "dev".into(), "mcp-stub".into()]
            }
        );
    }

    #[test]
    fn admin_flag_beats_profile_switch() {
        let mut profile = base_profile();
        profile.admin_enabled = Some(Sourced::new(false, prof("admin_ui_enabled")));
        let c = resolve3(&Layer::default(), &Env::default(), &profile).unwrap();
        assert_eq!(c.admin.address, None);
        let flags = Layer {
            admin_address: s("127.0.0.1:0", flag("--admin-address")),
            admin_enabled: Some(Sourced::new(true, flag("--admin-address"))),
            ..Layer::default()
        };
        let c = resolve3(&flags, &Env::default(), &profile).unwrap();
        assert_eq!(c.admin.address.as_deref(), Some("127.0.0.1:0"));
    }

    #[test]
    fn both_targets_in_one_layer_conflict() {
        let flags = Layer {
            mcp_server_url: s("http://x", flag("--mcp-server-url")),
            mcp_command: s("y", flag("--mcp-command")),
            ..Layer::default()
        };
        let e = resolve3(&flags, &Env::default(), &base_profile()).unwrap_err();
        assert!(matches!(e, ConfigError::Conflict { .. }), "{e}");
    }

    #[test]
    fn env_references_are_removed_from_the_child() {
        let mut profile = base_profile();
        profile.referenced_env = vec!["MY_KEY".into()];
        let c = resolve3(&Layer::default(), &Env::default(), &profile).unwrap();
        assert!(c.stdio.removed_env.contains(&"MY_KEY".to_string()));
        assert!(c
            .stdio
            .removed_env
            .contains(&"CONTROL_PLANE_API_KEY".to_string()));
    }

    #[test]
    fn command_splitting() {
        let ok: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            (
                "python -m 'my server' --x=\"1 2\"",
                &["python", "-m", "my server", "--x=1 2"],
            ),
            ("echo a;b | c $HOME", &["echo", "a;b", "|", "c", "$HOME"]),
            (r"a\ b c\\d", &["a b", r"c\d"]),
            (r#""a \"q\" \$x \n""#, &[r#"a "q" $x \n"#]),
            ("''", &[""]),
            ("'it''s'", &["its"]),
        ];
        for (line, want) in ok {
            assert_eq!(split_command(line).unwrap(), *want, "{line}");
        }
        for bad in ["", "   ", "'open", "\"open", "trailing\\"] {
            assert!(split_command(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls() {
        let o = flag("--control-plane-url");
        let cp = |u: &str| check_url(&o, u, UrlUse::ControlPlane);
        assert!(cp("https://api.openai.com").is_ok());
        assert!(cp("http://127.0.0.1:8080").is_ok());
        assert!(cp("http://127.9.9.9").is_ok());
        assert!(cp("http://localhost:1/x").is_ok());
        assert!(cp("http://[::1]:9000").is_ok());
        // The loopback rule is net's: names under .localhost never leave the machine.
        assert!(cp("http://relay.localhost:8080").is_ok());
        assert!(cp("http://10.0.0.1").is_err());
        assert!(cp("http://localhost.evil.com").is_err());
        assert!(cp("ftp://x").is_err());
        assert!(cp("https://user:pw@x").is_err());
        assert!(cp("https://x?a=b").is_err());
        assert!(cp("api.openai.com").is_err());
        assert!(cp("https://:443").is_err());
        assert!(cp("https://x:99999").is_err());
        let e = cp("https://user:sk-secret@x").unwrap_err().to_string();
        assert!(!e.contains("sk-secret"), "{e}");
        assert!(check_url(&o, "http://10.0.0.5:8000/mcp", UrlUse::McpServer).is_ok());
    }

    #[test]
    fn proxy_variables_are_read_like_the_network_module_reads_them() {
        let env = Env::from_pairs([
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:1"),
            ("HTTP_PROXY", "   "),
            ("http_proxy", "http://plain:2"),
            ("no_proxy", "localhost, .corp ,10.0.0.0/8"),
        ]);
        let layer = Layer::from_env(&env);
        let https = layer.https_proxy.unwrap();
        assert_eq!(https.value, "http://upper:1");
        assert_eq!(https.origin, Origin::Env("HTTPS_PROXY".into()));
        // A blank upper-case variable counts as unset, as in net.
        let http = layer.http_proxy.unwrap();
        assert_eq!(http.value, "http://plain:2");
        assert_eq!(http.origin, Origin::Env("http_proxy".into()));
        let no_proxy = layer.no_proxy.unwrap();
        assert_eq!(no_proxy.value, vec!["localhost", ".corp", "10.0.0.0/8"]);
        assert_eq!(no_proxy.origin, Origin::Env("no_proxy".into()));
        assert!(Layer::from_env(&Env::from_pairs([("NO_PROXY", " , ")]))
            .no_proxy
            .is_none());
    }

    #[test]
    fn proxy_problems_fail_startup_naming_the_setting() {
        for (env, named) in [
            (
                ("NO_PROXY", "localhost,10.0.0.0/33"),
                "environment variable NO_PROXY",
            ),
            (
                ("https_proxy", "socks5://u:pw@h:1"),
                "environment variable https_proxy",
            ),
            (
                ("HTTP_PROXY", "http://u:pw@"),
                "environment variable HTTP_PROXY",
            ),
        ] {
            let e = resolve3(&Layer::default(), &Env::from_pairs([env]), &base_profile())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(named), "{e}");
            assert!(!e.contains("pw"), "{e}");
        }
        let mut profile = base_profile();
        profile.no_proxy = Some(Sourced::new(vec!["a b".into()], prof("proxy.no_proxy")));
        let e = resolve3(&Layer::default(), &Env::default(), &profile)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("profile key \"proxy.no_proxy\"") && e.contains("\"a b\""),
            "{e}"
        );
    }

    fn pki(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pki")
            .join(name)
    }

    #[test]
    fn certificate_files_are_checked_by_net_and_blamed_on_their_setting() {
        let path = |name: &str, origin| Some(Sourced::new(pki(name), origin));
        let mut profile = base_profile();
        profile.ca_bundle = path("garbage.pem", prof("ca_bundle_path"));
        let e = resolve3(&Layer::default(), &Env::default(), &profile)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("profile key \"ca_bundle_path\" in /p.json: "),
            "{e}"
        );
        assert!(
            e.contains("garbage.pem") && e.contains("no PEM data"),
            "{e}"
        );

        let flags = Layer {
            mcp_client_cert: path("client-mcp.pem", flag("--mcp-client-cert")),
            mcp_client_key: path("client-cp.key", flag("--mcp-client-key")),
            ..Layer::default()
        };
        let e = resolve3(&flags, &Env::default(), &base_profile())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--mcp-client-key: ") && e.contains("does not match"),
            "{e}"
        );

        let flags = Layer {
            mcp_ca_bundle: path("missing.pem", flag("--mcp-ca-bundle")),
            ..Layer::default()
        };
        let e = resolve3(&flags, &Env::default(), &base_profile()).unwrap_err();
        assert!(matches!(e, ConfigError::Unreadable { .. }), "{e}");
        assert!(e.to_string().contains("--mcp-ca-bundle"), "{e}");

        let flags = Layer {
            ca_bundle: path("ca-bundle.pem", flag("--ca-bundle")),
            control_plane_cert: path("client-cp.pem", flag("--control-plane-cert")),
            control_plane_key: path("client-cp.key", flag("--control-plane-key")),
            mcp_client_cert: path("client-mcp.pem", flag("--mcp-client-cert")),
            mcp_client_key: path("client-mcp.key", flag("--mcp-client-key")),
            mcp_ca_bundle: path("root-ca.pem", flag("--mcp-ca-bundle")),
            ..Layer::default()
        };
        let c = resolve3(&flags, &Env::default(), &base_profile()).unwrap();
        assert_eq!(c.net.ca_bundle, Some(pki("ca-bundle.pem")));
        assert_eq!(c.net.mcp_mtls.unwrap().key_path, pki("client-mcp.key"));
    }

    #[test]
    fn numbers() {
        let o = || flag("--max-concurrency");
        let n = |v: &str| number(s(v, o()), 1, 5, 2);
        assert_eq!(n("3").unwrap(), 3);
        assert_eq!(number(None, 1, 5, 2).unwrap(), 2);
        for bad in ["0", "6", "-1", "1.5", "x", ""] {
            let e = n(bad).unwrap_err().to_string();
            assert!(e.starts_with("--max-concurrency:"), "{e}");
        }
    }

    #[test]
    fn suggestions() {
        let known = ["tunnel_id", "mcp_server_url", "api_key", "poll_interval_ms"];
        assert_eq!(closest("tunel_id", &known), Some("tunnel_id"));
        assert_eq!(closest("apikey", &known), Some("api_key"));
        assert_eq!(closest("poll_interval", &known), Some("poll_interval_ms"));
        assert_eq!(closest("zzzzzzzzzzzzzzzzzzzz", &known), None);
    }
}
