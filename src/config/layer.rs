//! Raw settings before validation: where each value came from ([`Origin`]),
//! one [`Layer`] per source, the environment, and the precedence rule ([`Layers`]). Judges no value.

use crate::net::ProxySettings;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::channels::RawServer;
use super::harpoon::RawHarpoonTarget;
use super::settings::{Kind, ProxyPart, Setting, Split, SETTINGS};

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

/// One source of settings (flags, environment or profile), one raw field per
/// setting, filled by its row of [`SETTINGS`]. Numbers stay text until
/// [`resolve`](super::resolve()) so that they are checked in one place whatever their source.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub tunnel_id: Option<Sourced<String>>,
    /// Plain or qualified entries (`channel=NAME,url=URL`), one per use.
    pub mcp_server_url: Option<Sourced<Vec<String>>>,
    pub mcp_command: Option<Sourced<Vec<String>>>,
    /// The profile's `mcp_servers` list.
    pub mcp_servers: Option<Sourced<Vec<RawServer>>>,
    pub poll_channels: Option<Sourced<Vec<String>>>,
    pub organization_id: Option<Sourced<String>>,
    pub control_plane_extra_headers: Option<Sourced<Vec<(String, String)>>>,
    pub mcp_extra_headers: Option<Sourced<Vec<(String, String)>>>,
    pub mcp_discovery_extra_headers: Option<Sourced<Vec<(String, String)>>>,
    /// A duration (`60s`, `500ms`, `2m`) or whole seconds, kept as text.
    pub mcp_startup_wait: Option<Sourced<String>>,
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
    pub pid_file: Option<Sourced<PathBuf>>,
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
    pub harpoon_enabled: Option<Sourced<bool>>,
    /// Profile objects, or `label=L,url=U,...` entries of a flag or variable.
    pub harpoon_targets: Option<Sourced<Vec<RawHarpoonTarget>>>,
    pub harpoon_allow_plaintext_http: Option<Sourced<String>>,
    pub harpoon_max_response_bytes: Option<Sourced<String>>,
    pub harpoon_max_redirects: Option<Sourced<String>>,
    pub harpoon_http_proxy: Option<Sourced<String>>,
    pub harpoon_hosts_include_loopback: Option<Sourced<String>>,
    pub harpoon_hosts_include_private: Option<Sourced<String>>,
    pub harpoon_hosts_include_suffix: Option<Sourced<Vec<String>>>,
    /// Refused settings of the official client, read so that they can be named.
    pub harpoon_hosts_include_regex: Option<Sourced<Vec<String>>>,
    pub harpoon_capture_payloads: Option<Sourced<String>>,
    pub harpoon_additional_transport: Option<Sourced<Vec<String>>>,
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

impl Layer {
    /// The settings the environment carries: every row of the table that
    /// names a variable.
    pub fn from_env(env: &Env) -> Layer {
        Layer::from_env_rows(SETTINGS, env)
    }

    pub(crate) fn from_env_rows(rows: &[Setting], env: &Env) -> Layer {
        // The proxy variables are read by the network module, so `run`, doctor
        // and the agents agree on which of `HTTPS_PROXY`/`https_proxy` counts.
        let proxy = ProxySettings::from_vars(|name| env.get(name).map(str::to_string));
        let mut layer = Layer::default();
        for row in rows.iter().filter(|row| !row.env.is_empty()) {
            match row.kind {
                Kind::Proxy(part) => layer.set_proxy(part, row.env, &proxy, env),
                _ => {
                    if let Some(found) = env.first(row.env) {
                        layer.add_text(row, found, true);
                    }
                }
            }
        }
        layer
    }

    /// One use of a setting's flag, spelled `flag`; `value` is `None` for a switch.
    pub fn add_flag(&mut self, row: &Setting, flag: &'static str, value: Option<String>) {
        let origin = Origin::Flag(flag);
        match (value, row.kind) {
            (None, Kind::Switch(slot)) => *slot(self) = Some(Sourced::new(true, origin)),
            (None, Kind::Bool(slot)) => *slot(self) = Some(Sourced::new("true".into(), origin)),
            (Some(value), _) => self.add_text(row, Sourced::new(value, origin), false),
            // A switch with a value, or a value missing: the parser asks the row first.
            (None, _) => {}
        }
    }

    /// A flag's or a variable's text, as the row's [`Kind`] keeps it; a
    /// variable holding a list is split (a flag adds one entry per use).
    fn add_text(&mut self, row: &Setting, text: Sourced<String>, from_env: bool) {
        let entries = |split: Split, text: &str| match from_env {
            true => split.entries(text),
            false => vec![text.to_string()],
        };
        match row.kind {
            Kind::Text(slot) | Kind::Number(slot) | Kind::Bool(slot) => *slot(self) = Some(text),
            Kind::Path(slot) => {
                *slot(self) = Some(Sourced::new(PathBuf::from(text.value), text.origin))
            }
            Kind::Secret(slot) => {
                *slot(self) = Some(Sourced::new(Secret::new(text.value.trim()), text.origin))
            }
            Kind::List { slot, split } => {
                append(slot(self), entries(split, &text.value), text.origin)
            }
            Kind::Pairs { slot, split, sep } => {
                let pairs = entries(split, &text.value)
                    .into_iter()
                    .map(|entry| match entry.split_once(sep) {
                        Some((name, value)) => (name.trim().to_string(), value.trim().to_string()),
                        // Judged with the rest: a name without a value is refused there.
                        None => (entry.trim().to_string(), String::new()),
                    })
                    .collect();
                append(slot(self), pairs, text.origin)
            }
            Kind::Custom(custom) => {
                if let Some(read) = custom.text {
                    read(self, text)
                }
            }
            // No text form (the table test keeps flags and variables off these).
            Kind::Command | Kind::Comment | Kind::Switch(_) | Kind::Proxy(_) => {}
        }
    }

    /// A proxy variable as the network module read it, named after the
    /// variable that holds it (the first non-blank one).
    fn set_proxy(&mut self, part: ProxyPart, names: &[&str], proxy: &ProxySettings, env: &Env) {
        let origin = names
            .iter()
            .find(|name| env.get(name).is_some_and(|v| !v.trim().is_empty()))
            .map(|name| Origin::Env(name.to_string()));
        match part {
            ProxyPart::Https => self.https_proxy = sourced(proxy.https_proxy.clone(), origin),
            ProxyPart::Http => self.http_proxy = sourced(proxy.http_proxy.clone(), origin),
            ProxyPart::NoProxy => {
                let list = Some(proxy.no_proxy.clone()).filter(|list| !list.is_empty());
                self.no_proxy = sourced(list, origin)
            }
        }
    }
}

/// Adds entries to a list, creating it with the origin of its first entries.
fn append<T>(slot: &mut Option<Sourced<Vec<T>>>, entries: Vec<T>, origin: Origin) {
    if entries.is_empty() {
        return;
    }
    match slot {
        Some(list) => list.value.extend(entries),
        None => *slot = Some(Sourced::new(entries, origin)),
    }
}

fn sourced<T>(value: Option<T>, origin: Option<Origin>) -> Option<Sourced<T>> {
    Some(Sourced::new(value?, origin?))
}

/// The layers in precedence order: flags, environment, profile; and the
/// environment itself, for `env:` references in header values.
pub struct Layers<'a> {
    pub flags: &'a Layer,
    pub env: &'a Layer,
    pub profile: &'a Layer,
    pub vars: &'a Env,
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
