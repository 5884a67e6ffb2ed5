//! Raw settings before validation: where each value came from ([`Origin`]),
//! one [`Layer`] per source, the environment, and the precedence rule ([`Layers`]). Judges no value.

use crate::net::ProxySettings;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::API_KEY_VARS;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
