//! The table of settings of `run` and `doctor`: each row spells one setting's
//! flag(s), variable(s), profile key, help, default and how its raw value is read.
//!
//! Everything else is generated from these rows: flag parsing (`cli::args`),
//! the environment layer ([`Layer::from_env`](super::Layer::from_env)), profile
//! reading and its unknown-key check ([`profile`](super::profile)), `--help`,
//! shell completions, and the man-page test. A new setting is one row here,
//! one raw field in [`Layer`], and its check in [`resolve`](super::resolve()).

use super::error::ConfigError;
use super::layer::{Layer, Sourced};
use super::profile::Reader;
use super::{API_KEY_VARS, LOG_LEVELS};
use crate::secret::Secret;
use serde_json::Value;
use std::path::PathBuf;

/// Where a setting's raw value is kept in a [`Layer`].
pub type Slot<T> = fn(&mut Layer) -> &mut Option<Sourced<T>>;

/// One setting, in every spelling.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Flag spellings: the first is the one help shows, the others are
    /// aliases (dotted official spellings). Empty: no flag.
    pub flags: &'static [&'static str],
    /// The flag's value in help (`ID`, `URL`); empty for a switch.
    pub value: &'static str,
    /// Environment variables; the first one set counts. Empty: none.
    pub env: &'static [&'static str],
    /// Profile key; a dot nests it in an object (`proxy.no_proxy`). Empty: none.
    pub key: &'static str,
    /// The default as help shows it; empty when there is nothing to say.
    pub default: &'static str,
    /// One line for `--help` and completions.
    pub help: &'static str,
    /// What a shell offers as the value.
    pub complete: Complete,
    /// How a flag, variable or profile value is read, and where it is kept.
    pub kind: Kind,
}

/// How a raw value is read from each source and where it lands.
///
/// Text from a flag or a variable is never judged here: numbers, durations,
/// URLs and list entries stay text until `resolve`, so a value is checked in
/// one place whatever its source, and an error names where it came from.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Read by the command's own parser (profile selection, doctor's report
    /// flags, `init`); not part of a layer.
    Command,
    /// A profile key for people, never read (`description`): any string.
    Comment,
    /// Text as given (an id, a URL, a word). Profile: a non-empty string.
    Text(Slot<String>),
    /// A whole number or a duration, kept as text. Profile: a JSON number.
    Number(Slot<String>),
    /// A file. Profile: also `env:NAME` (the variable holds the path) or
    /// `file:PATH`; relative paths are relative to the profile's directory.
    Path(Slot<PathBuf>),
    /// On when the flag is given. Profile: true or false.
    Switch(Slot<bool>),
    /// On or off from any source, kept as text until `resolve`: the flag is
    /// a switch (`--flag`, or `--flag=false` to turn a default-on setting
    /// off), a variable says `true` or `false` (also 1/0, yes/no, on/off),
    /// a profile true or false.
    Bool(Slot<String>),
    /// A secret: a variable (trimmed), or a profile's `env:NAME` or
    /// `file:PATH`. Never a flag; a literal value in a profile is refused.
    Secret(Slot<Secret>),
    /// A list: every use of the flag adds one entry, a variable is split at
    /// `split`. Profile: an array of strings, or one string split the same way.
    /// A higher layer replaces the whole list.
    List {
        slot: Slot<Vec<String>>,
        split: Split,
    },
    /// Name/value pairs: every use of the flag adds one `NAME<sep>VALUE`, a
    /// variable is split at `split` into such entries. Profile: an object of
    /// strings. A higher layer replaces the whole set.
    Pairs {
        slot: Slot<Vec<(String, String)>>,
        split: Split,
        sep: char,
    },
    /// A proxy setting. The variables are read by the network module
    /// (`ProxySettings::from_vars`), so that startup, doctor and the agents
    /// agree on which of `HTTPS_PROXY`/`https_proxy` counts. Profile: a
    /// string (`no_proxy`: a list, as [`Kind::List`] with commas).
    Proxy(ProxyPart),
    /// Anything else: its own readers.
    Custom(&'static Custom),
}

/// Where list entries in one string are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `a,b` (NO_PROXY, channel allowlists).
    Comma,
    /// One entry per line.
    Lines,
    /// `a;b`, or one entry per line (the official Harpoon variables).
    SemicolonOrLines,
    /// `a,b;c` (header sets).
    CommaOrSemicolon,
}

impl Split {
    /// The entries of `text`, trimmed; empty ones are dropped.
    pub fn entries(self, text: &str) -> Vec<String> {
        let at = |c: char| match self {
            Split::Comma => c == ',',
            Split::Lines => c == '\n',
            Split::SemicolonOrLines => c == ';' || c == '\n',
            Split::CommaOrSemicolon => c == ',' || c == ';',
        };
        text.split(at)
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Which proxy setting a [`Kind::Proxy`] row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyPart {
    Https,
    Http,
    NoProxy,
}

/// Readers of a setting no plain [`Kind`] describes.
#[derive(Debug)]
pub struct Custom {
    /// A flag's or a variable's value; `None`: the setting has no text form.
    pub text: Option<fn(&mut Layer, Sourced<String>)>,
    /// A profile value at `key`; `None`: the setting has no profile key.
    pub json: Option<JsonReader>,
}

/// Reads the profile value at `key` into the layer.
pub type JsonReader = fn(&Reader<'_>, &str, &Value, &mut Layer) -> Result<(), ConfigError>;

/// What a shell completes as a flag's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complete {
    /// Nothing to offer (an id, a URL, a number).
    Nothing,
    File,
    Directory,
    Words(&'static [&'static str]),
    /// The names of the sample profiles.
    Samples,
}

impl Setting {
    /// A row with nothing set, to build others from (`..Setting::EMPTY`).
    pub const EMPTY: Setting = Setting {
        flags: &[],
        value: "",
        env: &[],
        key: "",
        default: "",
        help: "",
        complete: Complete::Nothing,
        kind: Kind::Command,
    };

    /// The flag help shows, if any.
    pub fn flag(&self) -> Option<&'static str> {
        self.flags.first().copied()
    }

    /// True when the flag is a switch (takes no value).
    pub fn is_switch(&self) -> bool {
        self.value.is_empty()
    }

    /// True when the flag may be given more than once.
    pub fn is_repeatable(&self) -> bool {
        matches!(self.kind, Kind::List { .. } | Kind::Pairs { .. })
    }
}

/// The row whose flag (or alias) is `--name`, with the spelling that matched.
pub fn find_flag<'a>(rows: &'a [Setting], name: &str) -> Option<(&'a Setting, &'static str)> {
    rows.iter().find_map(|row| {
        row.flags
            .iter()
            .find(|flag| flag.strip_prefix("--") == Some(name))
            .map(|flag| (row, *flag))
    })
}

/// The settings of `run` and `doctor`, in the order help lists them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        flags: &["--tunnel-id"],
        value: "ID",
        env: &["CONTROL_PLANE_TUNNEL_ID"],
        key: "tunnel_id",
        default: "required",
        help: "the tunnel to serve (tunnel_ + 32 lowercase letters/digits)",
        kind: Kind::Text(|l| &mut l.tunnel_id),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--mcp-server-url"],
        value: "URL",
        env: &["MCP_SERVER_URL"],
        key: "mcp_server_url",
        help: "Streamable HTTP MCP server (http:// or https://) for main, or channel=NAME,url=URL; variable: one per line",
        kind: Kind::List {
            slot: |l| &mut l.mcp_server_url,
            split: Split::Lines,
        },
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--mcp-command"],
        value: "CMD",
        env: &["MCP_COMMAND"],
        key: "mcp_command",
        help: "stdio MCP server command (split like a shell) for main, or channel=NAME,command=CMD; variable: one per line",
        kind: Kind::List {
            slot: |l| &mut l.mcp_command,
            split: Split::Lines,
        },
        ..Setting::EMPTY
    },
    Setting {
        key: "mcp_servers",
        help: "several MCP servers: a list of {channel, url or command, env, extra_headers}",
        kind: Kind::Custom(&super::channels::SERVERS),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--poll-channel"],
        value: "NAME",
        env: &["CONTROL_PLANE_POLL_CHANNELS"],
        key: "poll_channels",
        help: "poll only these channels (variable: comma-separated); other bindings are disabled",
        kind: Kind::List {
            slot: |l| &mut l.poll_channels,
            split: Split::Comma,
        },
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--control-plane-url"],
        value: "URL",
        env: &["CONTROL_PLANE_URL"],
        key: "control_plane_url",
        default: "https://api.openai.com",
        help: "control plane base URL (https, or http to loopback)",
        kind: Kind::Text(|l| &mut l.control_plane_url),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--control-plane-organization-id"],
        value: "ID",
        env: &["CONTROL_PLANE_ORGANIZATION_ID"],
        key: "organization_id",
        help: "sent as OpenAI-Organization on every control-plane request",
        kind: Kind::Text(|l| &mut l.organization_id),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--control-plane-extra-headers"],
        value: "\"NAME: VALUE\"",
        env: &["CONTROL_PLANE_EXTRA_HEADERS"],
        key: "control_plane_extra_headers",
        help: "extra header on control-plane requests; VALUE may be env:VAR or file:PATH",
        kind: Kind::Pairs {
            slot: |l| &mut l.control_plane_extra_headers,
            split: Split::CommaOrSemicolon,
            sep: ':',
        },
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--mcp-extra-headers"],
        value: "\"NAME: VALUE\"",
        env: &["MCP_EXTRA_HEADERS"],
        key: "mcp_extra_headers",
        help: "extra header on requests to HTTP MCP servers; VALUE may be env:VAR or file:PATH",
        kind: Kind::Pairs {
            slot: |l| &mut l.mcp_extra_headers,
            split: Split::CommaOrSemicolon,
            sep: ':',
        },
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--mcp-discovery-extra-headers"],
        value: "\"NAME: VALUE\"",
        env: &["MCP_DISCOVERY_EXTRA_HEADERS"],
        key: "mcp_discovery_extra_headers",
        help: "extra header on main's startup probe and OAuth discovery (over the MCP set)",
        kind: Kind::Pairs {
            slot: |l| &mut l.mcp_discovery_extra_headers,
            split: Split::CommaOrSemicolon,
            sep: ':',
        },
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--mcp-startup-wait"],
        value: "DURATION",
        env: &["MCP_STARTUP_WAIT_TIMEOUT"],
        key: "mcp_startup_wait_seconds",
        default: "0",
        help: "before polling, wait this long (60s, 500ms, 2m or seconds) for an HTTP main that refuses connections; 0 = off",
        kind: Kind::Number(|l| &mut l.mcp_startup_wait),
        ..Setting::EMPTY
    },
    Setting {
        env: API_KEY_VARS,
        key: "api_key",
        default: "required",
        help: "the control-plane key; a profile names it: \"env:NAME\" or \"file:PATH\"",
        kind: Kind::Secret(|l| &mut l.api_key),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--control-plane-cert"],
        value: "PEM",
        key: "control_plane_mtls.cert_path",
        default: "off",
        help: "client certificate for the control plane (with --control-plane-key)",
        complete: Complete::File,
        kind: Kind::Path(|l| &mut l.control_plane_cert),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--control-plane-key"],
        value: "PEM",
        key: "control_plane_mtls.key_path",
        default: "off",
        help: "private key of --control-plane-cert",
        complete: Complete::File,
        kind: Kind::Path(|l| &mut l.control_plane_key),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--ca-bundle"],
        value: "PEM",
        key: "ca_bundle_path",
        help: "extra trusted roots, added to the built-in web roots",
        complete: Complete::File,
        kind: Kind::Path(|l| &mut l.ca_bundle),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--mcp-client-cert"],
        value: "PEM",
        key: "mcp_client_mtls.cert_path",
        default: "off",
        help: "client certificate for the MCP server (with --mcp-client-key)",
        complete: Complete::File,
        kind: Kind::Path(|l| &mut l.mcp_client_cert),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--mcp-client-key"],
        value: "PEM",
        key: "mcp_client_mtls.key_path",
        default: "off",
        help: "private key of --mcp-client-cert",
        complete: Complete::File,
        kind: Kind::Path(|l| &mut l.mcp_client_key),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--mcp-ca-bundle"],
        value: "PEM",
        key: "mcp_client_mtls.ca_bundle_path",
        help: "roots trusted for the MCP server alone",
        complete: Complete::File,
        kind: Kind::Path(|l| &mut l.mcp_ca_bundle),
        ..Setting::EMPTY
    },
    Setting {
        env: &["HTTPS_PROXY", "https_proxy"],
        key: "proxy.https_proxy",
        help: "proxy for https:// connections",
        kind: Kind::Proxy(ProxyPart::Https),
        ..Setting::EMPTY
    },
    Setting {
        env: &["HTTP_PROXY", "http_proxy"],
        key: "proxy.http_proxy",
        help: "proxy for http:// connections",
        kind: Kind::Proxy(ProxyPart::Http),
        ..Setting::EMPTY
    },
    Setting {
        env: &["NO_PROXY", "no_proxy"],
        key: "proxy.no_proxy",
        help: "hosts and .domains reached without the proxy (comma-separated)",
        kind: Kind::Proxy(ProxyPart::NoProxy),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--admin-address"],
        value: "ADDR",
        key: "admin_ui_address",
        default: "127.0.0.1:8090",
        help: "admin server address; off disables it",
        complete: Complete::Words(&["off", "127.0.0.1:8090"]),
        kind: Kind::Custom(&ADMIN_ADDRESS),
        ..Setting::EMPTY
    },
    Setting {
        key: "admin_ui_enabled",
        default: "true",
        help: "false turns the admin server off, as --admin-address off",
        kind: Kind::Switch(|l| &mut l.admin_enabled),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--admin-url-file"],
        value: "PATH",
        key: "admin_url_file",
        help: "write the admin base URL here (mode 0600)",
        complete: Complete::File,
        kind: Kind::Path(|l| &mut l.admin_url_file),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--pid-file"],
        value: "PATH",
        key: "pid_file",
        help: "write the agent's pid here (mode 0644), removed at exit; refused while another tunnel-client named there runs",
        complete: Complete::File,
        kind: Kind::Path(|l| &mut l.pid_file),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--allow-remote-ui"],
        key: "allow_remote_ui",
        default: "false",
        help: "serve /ui and /api to non-loopback peers",
        kind: Kind::Switch(|l| &mut l.allow_remote_ui),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--max-concurrency"],
        value: "N",
        key: "max_concurrent_requests",
        default: "10",
        help: "commands forwarded at once",
        kind: Kind::Number(|l| &mut l.max_concurrency),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--request-timeout"],
        value: "SECS",
        key: "request_timeout_seconds",
        default: "30",
        help: "per-command timeout when the command carries none",
        kind: Kind::Number(|l| &mut l.request_timeout),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--poll-timeout-ms"],
        value: "N",
        key: "poll_timeout_ms",
        default: "30000",
        help: "long-poll hold asked of the control plane",
        kind: Kind::Number(|l| &mut l.poll_timeout_ms),
        ..Setting::EMPTY
    },
    Setting {
        key: "poll_interval_ms",
        default: "1000",
        help: "base of the backoff after a failed poll (an empty long-poll re-polls at once)",
        kind: Kind::Number(|l| &mut l.poll_interval_ms),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--shutdown-grace"],
        value: "SECS",
        key: "shutdown_grace_seconds",
        default: "25",
        help: "drain time after SIGTERM/SIGINT",
        kind: Kind::Number(|l| &mut l.shutdown_grace),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--log-level"],
        value: "LEVEL",
        env: &["RUST_LOG"],
        key: "log_level",
        default: "info",
        help: "off, error, warn, info, debug or trace",
        complete: Complete::Words(LOG_LEVELS),
        kind: Kind::Text(|l| &mut l.log_level),
    },
    Setting {
        flags: &["--log-format"],
        value: "FORMAT",
        key: "log_format",
        default: "text",
        help: "text or json (one object per line)",
        complete: Complete::Words(&["text", "json"]),
        kind: Kind::Text(|l| &mut l.log_format),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--enable-request-timing"],
        key: "enable_request_timing",
        default: "false",
        help: "log the timing of every request",
        kind: Kind::Switch(|l| &mut l.enable_request_timing),
        ..Setting::EMPTY
    },
    Setting {
        key: "mcp_env",
        help: "extra variables for a stdio child (an object of strings)",
        kind: Kind::Pairs {
            slot: |l| &mut l.mcp_env,
            split: Split::Lines,
            sep: '=',
        },
        ..Setting::EMPTY
    },
    Setting {
        key: "stdio_mode",
        default: "shared",
        help: "shared (one child for every session) or per_session (one child per MCP session)",
        kind: Kind::Text(|l| &mut l.stdio_mode),
        ..Setting::EMPTY
    },
    Setting {
        key: "stdio_hang_seconds",
        default: "60",
        help: "silence after which a busy stdio child counts as hung",
        kind: Kind::Number(|l| &mut l.stdio_hang_seconds),
        ..Setting::EMPTY
    },
    Setting {
        key: "stdio_session_idle_seconds",
        default: "600",
        help: "idle time after which a per-session stdio child stops",
        kind: Kind::Number(|l| &mut l.stdio_session_idle_seconds),
        ..Setting::EMPTY
    },
    Setting {
        key: "stdio_max_sessions",
        default: "16",
        help: "most per-session stdio children",
        kind: Kind::Number(|l| &mut l.stdio_max_sessions),
        ..Setting::EMPTY
    },
    Setting {
        key: "harpoon.enabled",
        default: "false",
        help: "serve the profile's harpoon targets (targets from a flag or variable are always served)",
        kind: Kind::Switch(|l| &mut l.harpoon_enabled),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--harpoon-target", "--harpoon.target"],
        value: "label=L,url=U[,...]",
        env: &["HARPOON_TARGETS"],
        key: "harpoon.targets",
        help: "an allowlisted harpoon target (desc=, unix-socket=, methods=GET+POST, max-request-bytes=, max-response-bytes=, timeout-seconds=); variable: ;-separated; profile: a list of objects",
        kind: Kind::Custom(&super::harpoon::TARGETS),
        ..Setting::EMPTY
    },
    Setting {
        flags: &[
            "--harpoon-allow-plaintext-http",
            "--harpoon.allow-plaintext-http",
        ],
        env: &["HARPOON_ALLOW_PLAINTEXT_HTTP"],
        key: "harpoon.allow_plaintext_http",
        default: "false",
        help: "allow http:// harpoon targets and redirects",
        kind: Kind::Bool(|l| &mut l.harpoon_allow_plaintext_http),
        ..Setting::EMPTY
    },
    Setting {
        flags: &[
            "--harpoon-max-response-bytes",
            "--harpoon.max-response-bytes",
        ],
        value: "N",
        env: &["HARPOON_MAX_RESPONSE_BYTES"],
        key: "harpoon.max_response_bytes",
        default: "102400",
        help: "response cap of a harpoon target that sets none (1 to 10485760)",
        kind: Kind::Number(|l| &mut l.harpoon_max_response_bytes),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--harpoon-max-redirects", "--harpoon.max-redirects"],
        value: "N",
        env: &["HARPOON_MAX_REDIRECTS"],
        key: "harpoon.max_redirects",
        default: "5",
        help: "most redirects a harpoon call follows (0 to 5)",
        kind: Kind::Number(|l| &mut l.harpoon_max_redirects),
        ..Setting::EMPTY
    },
    Setting {
        flags: &["--harpoon-http-proxy", "--harpoon.http-proxy"],
        value: "URL",
        env: &["HARPOON_HTTP_PROXY"],
        key: "harpoon.http_proxy",
        help: "CONNECT proxy for harpoon calls: http://[user:password@]host:port, or env:VAR",
        kind: Kind::Text(|l| &mut l.harpoon_http_proxy),
        ..Setting::EMPTY
    },
    Setting {
        flags: &[
            "--harpoon-hosts-include-loopback",
            "--harpoon.hosts-include-loopback",
        ],
        env: &["HARPOON_HOSTS_INCLUDE_LOOPBACK"],
        key: "harpoon.hosts_include_loopback",
        default: "true",
        help: "OAuth-discovered localhost and loopback URLs become harpoon targets (=false: not)",
        kind: Kind::Bool(|l| &mut l.harpoon_hosts_include_loopback),
        ..Setting::EMPTY
    },
    Setting {
        flags: &[
            "--harpoon-hosts-include-private",
            "--harpoon.hosts-include-private",
        ],
        env: &["HARPOON_HOSTS_INCLUDE_PRIVATE"],
        key: "harpoon.hosts_include_private",
        default: "true",
        help: "OAuth-discovered RFC 1918 and ULA addresses become harpoon targets (=false: not)",
        kind: Kind::Bool(|l| &mut l.harpoon_hosts_include_private),
        ..Setting::EMPTY
    },
    Setting {
        flags: &[
            "--harpoon-hosts-include-suffix",
            "--harpoon.hosts-include-suffix",
        ],
        value: "SUFFIX",
        env: &["HARPOON_HOSTS_INCLUDE_SUFFIX"],
        key: "harpoon.hosts_include_suffix",
        help: "OAuth-discovered hosts under this DNS suffix become harpoon targets; variable: ;-separated",
        kind: Kind::List {
            slot: |l| &mut l.harpoon_hosts_include_suffix,
            split: Split::SemicolonOrLines,
        },
        ..Setting::EMPTY
    },
    Setting {
        flags: &[
            "--harpoon-hosts-include-regex",
            "--harpoon.hosts-include-regex",
        ],
        value: "REGEX",
        env: &["HARPOON_HOSTS_INCLUDE_REGEX"],
        key: "harpoon.hosts_include_regex",
        help: "refused: list host suffixes instead (a regex is not half-supported)",
        kind: Kind::List {
            slot: |l| &mut l.harpoon_hosts_include_regex,
            split: Split::SemicolonOrLines,
        },
        ..Setting::EMPTY
    },
    Setting {
        flags: &[
            "--harpoon-capture-payloads",
            "--harpoon.capture-payloads",
        ],
        env: &["HARPOON_CAPTURE_PAYLOADS"],
        key: "harpoon.capture_payloads",
        default: "false",
        help: "refused when on: harpoon never keeps request or response payloads",
        kind: Kind::Bool(|l| &mut l.harpoon_capture_payloads),
        ..Setting::EMPTY
    },
    Setting {
        flags: &[
            "--harpoon-additional-transport",
            "--harpoon.additional-transport",
        ],
        value: "TRANSPORT",
        env: &["HARPOON_ADDITIONAL_TRANSPORTS"],
        key: "harpoon.additional_transport",
        help: "refused: harpoon is served on the harpoon channel only",
        kind: Kind::List {
            slot: |l| &mut l.harpoon_additional_transport,
            split: Split::SemicolonOrLines,
        },
        ..Setting::EMPTY
    },
    Setting {
        key: "description",
        help: "free text, ignored",
        kind: Kind::Comment,
        ..Setting::EMPTY
    },
];

/// `--admin-address` decides both raw values: an address enables the admin
/// server (over a profile's `"admin_ui_enabled": false`), `off` disables it.
const ADMIN_ADDRESS: Custom = Custom {
    text: Some(|layer, address| {
        layer.admin_enabled = Some(Sourced::new(address.value != "off", address.origin.clone()));
        layer.admin_address = Some(address);
    }),
    json: Some(|reader, key, value, layer| {
        layer.admin_address = Some(reader.string(key, value)?);
        Ok(())
    }),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::layer::{Env, Layers, Origin};
    use crate::config::profile;
    use crate::config::testing::{base_profile, resolve3};
    use serde_json::{json, Map};
    use std::collections::BTreeSet;
    use std::path::Path;

    const FILE: &str = "/etc/tunnel-client/profiles/p.json";

    /// True when `layer` holds a raw value from `origin` (every raw value
    /// carries its origin, so its Debug text names it).
    fn holds(layer: &Layer, origin: &Origin) -> bool {
        format!("{layer:?}").contains(&format!("{origin:?}"))
    }

    /// `{"a": {"b": value}}` for the key `a.b`.
    fn nested(key: &str, value: Value) -> Map<String, Value> {
        let mut parts = key.rsplit('.');
        let mut map = Map::new();
        map.insert(parts.next().unwrap_or(key).to_string(), value);
        for part in parts {
            let mut outer = Map::new();
            outer.insert(part.to_string(), Value::Object(map));
            map = outer;
        }
        map
    }

    fn read_profile(rows: &[Setting], map: &Map<String, Value>) -> Result<Layer, ConfigError> {
        let env = Env::from_pairs([("SAMPLE_KEY", "sk-sample")]);
        profile::read(rows, Path::new(FILE), map, &env)
    }

    /// A value of the right type for the row's profile key.
    fn sample_json(row: &Setting) -> Value {
        match row.kind {
            Kind::Text(_) | Kind::Comment => json!("x"),
            Kind::Number(_) => json!(1),
            Kind::Path(_) => json!("/x.pem"),
            Kind::Switch(_) | Kind::Bool(_) => json!(true),
            Kind::Secret(_) => json!("env:SAMPLE_KEY"),
            Kind::List { .. } | Kind::Proxy(ProxyPart::NoProxy) => json!(["a"]),
            Kind::Pairs { .. } => json!({"A": "b"}),
            Kind::Proxy(_) => json!("proxy:3128"),
            Kind::Custom(_) if row.key == "harpoon.targets" => {
                json!([{"label": "a", "base_url": "https://a.internal"}])
            }
            Kind::Custom(_) if row.key == "mcp_servers" => {
                json!([{"channel": "tools", "command": "t"}])
            }
            Kind::Custom(_) => json!("127.0.0.1:1"),
            Kind::Command => panic!("{}: not a setting", row.key),
        }
    }

    #[test]
    fn every_flag_spelling_lands_in_the_flag_layer() {
        for row in SETTINGS {
            for flag in row.flags {
                let mut layer = Layer::default();
                let value = (!row.is_switch()).then(|| "x".to_string());
                layer.add_flag(row, flag, value);
                assert!(holds(&layer, &Origin::Flag(flag)), "{flag}: {layer:?}");
            }
        }
    }

    #[test]
    fn every_variable_is_read_into_the_env_layer() {
        for row in SETTINGS {
            for name in row.env {
                let env = Env::from_pairs([(*name, "proxy:3128")]);
                let layer = Layer::from_env(&env);
                assert!(holds(&layer, &Origin::Env(name.to_string())), "{name}");
            }
        }
    }

    #[test]
    fn every_profile_key_is_read_and_remembers_it() {
        for row in SETTINGS.iter().filter(|row| !row.key.is_empty()) {
            let layer = read_profile(SETTINGS, &nested(row.key, sample_json(row)))
                .unwrap_or_else(|e| panic!("{}: {e}", row.key));
            let origin = Origin::Profile {
                key: row.key.to_string(),
                file: FILE.into(),
            };
            match row.kind {
                Kind::Comment => assert_eq!(
                    format!("{layer:?}"),
                    format!("{:?}", Layer::default()),
                    "{}",
                    row.key
                ),
                _ => assert!(holds(&layer, &origin), "{}: {layer:?}", row.key),
            }
        }
    }

    /// What help shows as a default is what an unset setting resolves to.
    #[test]
    fn documented_defaults_are_the_defaults() {
        let defaults = resolve3(&base_profile(), &Env::default(), &Layer::default()).unwrap();
        let mut checked = 0;
        for row in SETTINGS {
            if ["", "required", "off"].contains(&row.default) || row.key.is_empty() {
                continue;
            }
            let value = match row.kind {
                Kind::Number(_) => json!(row.default.parse::<u64>().unwrap()),
                Kind::Switch(_) | Kind::Bool(_) => json!(row.default.parse::<bool>().unwrap()),
                _ => json!(row.default),
            };
            let profile = read_profile(SETTINGS, &nested(row.key, value)).unwrap();
            let explicit = resolve3(&base_profile(), &Env::default(), &profile)
                .unwrap_or_else(|e| panic!("{}: {e}", row.key));
            assert_eq!(
                format!("{explicit:?}"),
                format!("{defaults:?}"),
                "{}",
                row.key
            );
            checked += 1;
        }
        assert!(checked >= 15, "{checked}");
    }

    #[test]
    fn unknown_profile_keys_are_named_with_the_closest_known_one() {
        for (key, value, named, suggested) in [
            ("tunel_id", json!("x"), "tunel_id", Some("tunnel_id")),
            (
                "proxy",
                json!({"no_prxy": "a"}),
                "proxy.no_prxy",
                Some("proxy.no_proxy"),
            ),
            (
                "harpoon",
                json!({"enable": true}),
                "harpoon.enable",
                Some("harpoon.enabled"),
            ),
            (
                "zzzzzzzzzzzzzzzzzzzzzzzz",
                json!(1),
                "zzzzzzzzzzzzzzzzzzzzzzzz",
                None,
            ),
        ] {
            let mut map = Map::new();
            map.insert(key.to_string(), value);
            match read_profile(SETTINGS, &map) {
                Err(ConfigError::UnknownKey {
                    key, suggestion, ..
                }) => {
                    assert_eq!(key, named);
                    assert_eq!(suggestion.as_deref(), suggested);
                }
                other => panic!("{key}: {other:?}"),
            }
        }
        let e = read_profile(SETTINGS, &nested("proxy", json!("http://p:1")))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("profile key \"proxy\" in {FILE}: ")),
            "{e}"
        );
        assert!(e.contains("a JSON object"), "{e}");
    }

    #[test]
    fn a_literal_secret_in_a_profile_is_refused_and_not_echoed() {
        let e = read_profile(SETTINGS, &nested("api_key", json!("sk-literal-1234")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("literal API key") && e.contains("env:CONTROL_PLANE_API_KEY"));
        assert!(!e.contains("sk-literal-1234"), "{e}");
    }

    /// Shapes of settings still to come, each one row: repeatable flags,
    /// list variables (comma, line, `,`/`;`), profile lists and objects,
    /// dotted aliases, durations with units. They borrow existing raw fields.
    const COMING: &[Setting] = &[
        Setting {
            flags: &["--poll-channel"],
            value: "NAME",
            env: &["CONTROL_PLANE_POLL_CHANNELS"],
            key: "poll_channels",
            help: "poll only these channels",
            kind: Kind::List {
                slot: |l| &mut l.no_proxy,
                split: Split::Comma,
            },
            ..Setting::EMPTY
        },
        Setting {
            flags: &["--control-plane-extra-headers"],
            value: "\"NAME: VALUE\"",
            env: &["CONTROL_PLANE_EXTRA_HEADERS"],
            key: "control_plane_extra_headers",
            help: "extra headers on control-plane requests",
            kind: Kind::Pairs {
                slot: |l| &mut l.mcp_env,
                split: Split::CommaOrSemicolon,
                sep: ':',
            },
            ..Setting::EMPTY
        },
        Setting {
            flags: &["--harpoon-max-redirects", "--harpoon.max-redirects"],
            value: "N",
            env: &["HARPOON_MAX_REDIRECTS"],
            key: "harpoon.max_redirects",
            help: "most redirects a callout follows",
            kind: Kind::Number(|l| &mut l.max_concurrency),
            ..Setting::EMPTY
        },
        Setting {
            flags: &["--mcp-startup-wait"],
            value: "DURATION",
            env: &["MCP_STARTUP_WAIT_TIMEOUT"],
            key: "mcp_startup_wait_seconds",
            help: "wait for the MCP server before polling",
            kind: Kind::Number(|l| &mut l.request_timeout),
            ..Setting::EMPTY
        },
    ];

    fn list(layer: &Layer) -> Vec<&str> {
        let list = layer.no_proxy.as_ref().map(|s| s.value.as_slice());
        list.unwrap_or_default()
            .iter()
            .map(String::as_str)
            .collect()
    }

    fn pairs(layer: &Layer) -> Vec<(&str, &str)> {
        let pairs = layer.mcp_env.as_ref().map(|s| s.value.as_slice());
        let pairs = pairs.unwrap_or_default().iter();
        pairs.map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }

    #[test]
    fn coming_shapes_fit_one_row_each() {
        let (channels, headers, redirects, wait) = (&COMING[0], &COMING[1], &COMING[2], &COMING[3]);
        assert!(channels.is_repeatable() && headers.is_repeatable());

        // Repeatable flags add entries; a variable is split; a profile list is read.
        let mut flags = Layer::default();
        flags.add_flag(channels, "--poll-channel", Some("main".into()));
        flags.add_flag(channels, "--poll-channel", Some("tools".into()));
        assert_eq!(list(&flags), ["main", "tools"]);
        assert_eq!(
            flags.no_proxy.as_ref().unwrap().origin,
            Origin::Flag("--poll-channel")
        );
        let env = Env::from_pairs([("CONTROL_PLANE_POLL_CHANNELS", "main, tools,")]);
        assert_eq!(list(&Layer::from_env_rows(COMING, &env)), ["main", "tools"]);
        let profile = read_profile(COMING, &nested("poll_channels", json!(["b", " c "]))).unwrap();
        assert_eq!(list(&profile), ["b", "c"]);
        // A higher layer replaces the whole list.
        let none = Layer::default();
        let layers = Layers {
            flags: &flags,
            env: &none,
            profile: &profile,
            vars: &Env::default(),
        };
        assert_eq!(
            layers.pick(|l| &l.no_proxy).unwrap().value,
            ["main", "tools"]
        );

        // Header sets: "Name: Value" flags, `,`/`;` variables, profile objects.
        let mut flags = Layer::default();
        flags.add_flag(
            headers,
            "--control-plane-extra-headers",
            Some("X-A: 1".into()),
        );
        flags.add_flag(
            headers,
            "--control-plane-extra-headers",
            Some("X-B:env:B".into()),
        );
        assert_eq!(pairs(&flags), [("X-A", "1"), ("X-B", "env:B")]);
        let env = Env::from_pairs([("CONTROL_PLANE_EXTRA_HEADERS", "X-A: 1; X-B: 2,X-C")]);
        let layer = Layer::from_env_rows(COMING, &env);
        assert_eq!(pairs(&layer), [("X-A", "1"), ("X-B", "2"), ("X-C", "")]);
        let object = nested("control_plane_extra_headers", json!({"X-A": "1"}));
        assert_eq!(
            pairs(&read_profile(COMING, &object).unwrap()),
            [("X-A", "1")]
        );

        // A dotted alias is remembered as typed; its profile key nests.
        let mut flags = Layer::default();
        flags.add_flag(redirects, "--harpoon.max-redirects", Some("3".into()));
        let raw = flags.max_concurrency.unwrap();
        assert_eq!(
            (raw.value.as_str(), raw.origin),
            ("3", Origin::Flag("--harpoon.max-redirects"))
        );
        let profile = read_profile(COMING, &nested("harpoon.max_redirects", json!(2))).unwrap();
        assert_eq!(profile.max_concurrency.unwrap().value, "2");

        // A duration stays text until it is judged with its unit.
        let env = Env::from_pairs([("MCP_STARTUP_WAIT_TIMEOUT", "500ms")]);
        let layer = Layer::from_env_rows(std::slice::from_ref(wait), &env);
        assert_eq!(layer.request_timeout.unwrap().value, "500ms");

        // One entry per line (qualified MCP servers keep their commas).
        let per_line = Setting {
            env: &["MCP_SERVER_URL"],
            kind: Kind::List {
                slot: |l| &mut l.no_proxy,
                split: Split::Lines,
            },
            ..Setting::EMPTY
        };
        let env = Env::from_pairs([(
            "MCP_SERVER_URL",
            "channel=main,url=https://a/mcp\n\nchannel=t,url=https://b\n",
        )]);
        let layer = Layer::from_env_rows(&[per_line], &env);
        assert_eq!(
            list(&layer),
            ["channel=main,url=https://a/mcp", "channel=t,url=https://b"]
        );
    }

    #[test]
    fn every_spelling_is_used_once() {
        let mut seen = BTreeSet::new();
        for row in SETTINGS {
            for name in row.flags.iter().chain(row.env).chain([&row.key]) {
                if !name.is_empty() {
                    assert!(seen.insert(*name), "{name} is spelled twice");
                }
            }
            for flag in row.flags {
                assert!(flag.starts_with("--") && flag.len() > 3, "{flag}");
            }
        }
    }

    #[test]
    fn every_row_can_be_read_from_each_of_its_sources() {
        for row in SETTINGS {
            let name = row.flag().unwrap_or(row.key);
            assert!(!row.help.is_empty(), "{name}: no help");
            assert!(
                !row.flags.is_empty() || !row.env.is_empty() || !row.key.is_empty(),
                "{name}: no source"
            );
            match row.kind {
                Kind::Command => panic!("{name}: a setting of run must land in a layer"),
                Kind::Comment => assert!(row.flags.is_empty() && row.env.is_empty(), "{name}"),
                // A switch has no text form; secrets never come from a flag.
                Kind::Switch(_) => assert!(row.is_switch() && row.env.is_empty(), "{name}"),
                Kind::Bool(_) => assert!(row.is_switch(), "{name}"),
                Kind::Secret(_) | Kind::Proxy(_) => assert!(row.flags.is_empty(), "{name}"),
                Kind::Custom(custom) => {
                    let text = !row.flags.is_empty() || !row.env.is_empty();
                    assert_eq!(custom.text.is_some(), text, "{name}");
                    assert_eq!(custom.json.is_some(), !row.key.is_empty(), "{name}");
                }
                _ => {}
            }
            if !matches!(row.kind, Kind::Switch(_) | Kind::Bool(_)) && !row.flags.is_empty() {
                assert!(
                    !row.is_switch(),
                    "{name}: a flag with a value needs a placeholder"
                );
            }
        }
    }

    #[test]
    fn list_entries_are_trimmed_and_never_empty() {
        assert_eq!(Split::Comma.entries(" a, b ,,c "), ["a", "b", "c"]);
        assert_eq!(Split::Lines.entries("x,y\n\n z \n"), ["x,y", "z"]);
        assert_eq!(
            Split::SemicolonOrLines.entries("a=1,b=2; c=3\nd=4"),
            ["a=1,b=2", "c=3", "d=4"]
        );
        assert_eq!(
            Split::CommaOrSemicolon.entries("A: 1, B: 2;C: 3"),
            ["A: 1", "B: 2", "C: 3"]
        );
        assert!(Split::Comma.entries(" , ").is_empty());
    }

    #[test]
    fn flags_are_found_by_any_spelling() {
        const ROWS: &[Setting] = &[Setting {
            flags: &["--harpoon-max-redirects", "--harpoon.max-redirects"],
            value: "N",
            ..Setting::EMPTY
        }];
        let (_, spelled) = find_flag(ROWS, "harpoon.max-redirects").unwrap();
        assert_eq!(spelled, "--harpoon.max-redirects");
        assert!(find_flag(ROWS, "harpoon-max-redirects").is_some());
        assert!(find_flag(ROWS, "harpoon").is_none());
        assert_eq!(
            find_flag(SETTINGS, "tunnel-id").map(|(_, f)| f),
            Some("--tunnel-id")
        );
    }
}
