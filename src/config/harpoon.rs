//! The `harpoon` section: targets as a profile, a flag or a variable writes them,
//! limits, proxy and OAuth host rules, checked by Harpoon's own validation. Never echoes a URL.
//!
//! Targets come whole from one layer. Flag and variable targets are always
//! served; a profile's only with `"enabled": true`. An error names the flag
//! (and entry), the variable or the profile key, never the URL or the proxy's
//! credentials.

use super::error::{invalid, ConfigError};
use super::layer::{Layer, Layers, Origin, Sourced};
use super::profile::Reader;
use super::resolve::number;
use super::settings::{Custom, Split};
use crate::mcp::harpoon::oauth::normalize_suffix;
use crate::mcp::harpoon::settings::{
    DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_RESPONSE_BYTES, MAX_REDIRECTS, MAX_SIZE_BYTES,
};
use crate::mcp::harpoon::{
    validate, HarpoonSettings, HostRules, RawSettings, RawTarget, SettingKey, SettingsError,
    TargetField,
};
use crate::net::{Hop, NetConfig};
use serde_json::{Map, Value};

/// Keys of one target object in a profile (`url` is an alias of `base_url`).
pub const TARGET_KEYS: &[&str] = &[
    "label",
    "base_url",
    "url",
    "description",
    "allowed_methods",
    "max_request_size_bytes",
    "max_response_size_bytes",
    "timeout_seconds",
    "unix_socket",
];

/// Keys of one `--harpoon-target` / `HARPOON_TARGETS` entry.
pub const SPEC_KEYS: &[&str] = &[
    "label",
    "url",
    "desc",
    "unix-socket",
    "methods",
    "max-request-bytes",
    "max-response-bytes",
    "timeout-seconds",
];

/// Most entries one `--harpoon-target` list or `HARPOON_TARGETS` may hold
/// before validation says "too many" (keeps a runaway variable bounded).
const MAX_RAW_TARGETS: usize = 1024;

const FIX: &str = "see `tunnel-client help harpoon`";

/// A target before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawHarpoonTarget {
    /// `label=L,url=U[,desc=...]` as a flag or a variable gave it; split in `resolve`.
    Spec(String),
    /// A profile object, its values read by type.
    Object(TargetObject),
}

/// A profile's target object; numbers stay text until `resolve`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetObject {
    pub label: Option<String>,
    /// `base_url` or `url`, with the key that held it.
    pub url: Option<(String, &'static str)>,
    pub description: Option<String>,
    pub allowed_methods: Option<Vec<String>>,
    pub max_request_size_bytes: Option<String>,
    pub max_response_size_bytes: Option<String>,
    pub timeout_seconds: Option<String>,
    pub unix_socket: Option<String>,
}

/// `harpoon.targets` / `--harpoon-target` / `HARPOON_TARGETS`.
pub const TARGETS: Custom = Custom {
    text: Some(read_spec),
    json: Some(read_targets),
};

/// A flag adds one entry per use; the variable holds `;`- or line-separated entries.
fn read_spec(layer: &mut Layer, text: Sourced<String>) {
    let entries = match text.origin {
        Origin::Env(_) => Split::SemicolonOrLines.entries(&text.value),
        _ => vec![text.value.trim().to_string()],
    };
    let entries: Vec<RawHarpoonTarget> = entries.into_iter().map(RawHarpoonTarget::Spec).collect();
    match &mut layer.harpoon_targets {
        Some(list) => list.value.extend(entries),
        None => layer.harpoon_targets = Some(Sourced::new(entries, text.origin)),
    }
}

fn read_targets(
    reader: &Reader<'_>,
    key: &str,
    value: &Value,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    let Value::Array(items) = value else {
        return Err(reader.wrong_type(key, "a list of objects"));
    };
    let mut targets = Vec::with_capacity(items.len().min(MAX_RAW_TARGETS));
    for (i, item) in items.iter().enumerate() {
        let at = format!("{key}[{i}]");
        let object = read_object(reader, &at, reader.object(&at, item)?)?;
        targets.push(RawHarpoonTarget::Object(object));
    }
    layer.harpoon_targets = Some(Sourced::new(targets, reader.origin(key)));
    Ok(())
}

fn read_object(
    reader: &Reader<'_>,
    at: &str,
    map: &Map<String, Value>,
) -> Result<TargetObject, ConfigError> {
    let mut t = TargetObject::default();
    for (name, v) in map {
        let key = format!("{at}.{name}");
        match name.as_str() {
            "label" => t.label = Some(reader.string(&key, v)?.value),
            "base_url" | "url" => {
                if t.url.is_some() {
                    return Err(invalid(
                        &reader.origin(&key),
                        "the target has both base_url and url",
                        "keep one of them (url is an alias of base_url)",
                    ));
                }
                let spelled = if name == "url" { "url" } else { "base_url" };
                t.url = Some((reader.string(&key, v)?.value, spelled));
            }
            "description" => match v {
                Value::String(text) => t.description = Some(text.clone()),
                _ => return Err(reader.wrong_type(&key, "a string")),
            },
            "allowed_methods" => {
                t.allowed_methods = Some(reader.string_list(&key, v, Split::Comma)?.value)
            }
            "max_request_size_bytes" => {
                t.max_request_size_bytes = Some(reader.number(&key, v)?.value)
            }
            "max_response_size_bytes" => {
                t.max_response_size_bytes = Some(reader.number(&key, v)?.value)
            }
            "timeout_seconds" => t.timeout_seconds = Some(reader.number(&key, v)?.value),
            "unix_socket" => t.unix_socket = Some(reader.string(&key, v)?.value),
            _ => return Err(reader.unknown(&format!("{at}."), name, TARGET_KEYS)),
        }
    }
    for (missing, name) in [(t.label.is_none(), "label"), (t.url.is_none(), "base_url")] {
        if missing {
            return Err(invalid(
                &reader.origin(&format!("{at}.{name}")),
                "the key is required",
                "see `tunnel-client profiles samples show sample_harpoon`",
            ));
        }
    }
    Ok(t)
}

/// Harpoon's validated settings and the rules for OAuth-discovered hosts.
#[derive(Debug, Clone)]
pub struct HarpoonConfig {
    /// Limits, trust, proxy and the configured targets (none: only OAuth
    /// discovery can give the channel a target).
    pub settings: HarpoonSettings,
    /// Which OAuth-discovered hosts become targets.
    pub hosts: HostRules,
}

impl HarpoonConfig {
    /// True when targets are configured (OAuth discovery may add more later).
    pub fn has_targets(&self) -> bool {
        !self.settings.targets().is_empty()
    }
}

/// Reads and validates the section. `net` gives the trust for https targets
/// (web roots plus `--ca-bundle`); variables an `env:` proxy names are
/// added to `referenced_env` (kept from stdio children). Also returns how
/// many targets a profile lists without `"enabled": true` (read, not served).
pub(crate) fn harpoon_config(
    layers: &Layers<'_>,
    net: &NetConfig,
    referenced_env: &mut Vec<String>,
) -> Result<(HarpoonConfig, usize), ConfigError> {
    refuse_unsupported(layers)?;
    let allow_plaintext_http = boolean(layers.pick(|l| &l.harpoon_allow_plaintext_http), false)?;
    let max_response_bytes = number(
        layers.pick(|l| &l.harpoon_max_response_bytes),
        1,
        MAX_SIZE_BYTES,
        DEFAULT_MAX_RESPONSE_BYTES,
    )?;
    let max_redirects = number(
        layers.pick(|l| &l.harpoon_max_redirects),
        0,
        u64::from(MAX_REDIRECTS),
        u64::from(DEFAULT_MAX_REDIRECTS),
    )?;
    let proxy = layers.pick(|l| &l.harpoon_http_proxy);
    let http_proxy = match &proxy {
        None => None,
        Some(p) => Some(proxy_url(p, layers, referenced_env)?),
    };
    let enabled = layers.pick(|l| &l.harpoon_enabled).is_some_and(|e| e.value);
    let picked = layers.pick(|l| &l.harpoon_targets);
    let (targets, origins, unserved) = match picked {
        None => (Vec::new(), Vec::new(), 0),
        Some(list) if matches!(list.origin, Origin::Profile { .. }) && !enabled => {
            (Vec::new(), Vec::new(), list.value.len())
        }
        Some(list) => {
            let (targets, origins) = raw_targets(&list)?;
            (targets, origins, 0)
        }
    };
    let raw = RawSettings {
        allow_plaintext_http,
        max_response_bytes: Some(max_response_bytes),
        max_redirects: Some(max_redirects),
        http_proxy,
        targets,
    };
    let roots =
        crate::net::root_store(Hop::ControlPlane, net).map_err(|error| ConfigError::Network {
            origin: layers.pick(|l| &l.ca_bundle).map(|b| b.origin),
            error: Box::new(error),
        })?;
    let settings = validate(&raw, roots).map_err(|e| {
        let proxy_origin = proxy.as_ref().map(|p| p.origin.clone());
        settings_error(e, &origins, proxy_origin, layers)
    })?;
    let config = HarpoonConfig {
        settings,
        hosts: host_rules(layers)?,
    };
    Ok((config, unserved))
}

/// The official client's settings this one refuses rather than half-supports.
fn refuse_unsupported(layers: &Layers<'_>) -> Result<(), ConfigError> {
    if let Some(regex) = layers.pick(|l| &l.harpoon_hosts_include_regex) {
        return Err(invalid(
            &regex.origin,
            "host regular expressions are not supported",
            "list DNS suffixes with --harpoon-hosts-include-suffix (HARPOON_HOSTS_INCLUDE_SUFFIX, \
             harpoon.hosts_include_suffix) instead",
        ));
    }
    if let Some(capture) = layers.pick(|l| &l.harpoon_capture_payloads) {
        let origin = capture.origin.clone();
        if boolean(Some(capture), false)? {
            return Err(invalid(
                &origin,
                "harpoon never keeps request or response payloads",
                "remove it; the status page shows each call without paths, headers or bodies",
            ));
        }
    }
    if let Some(transport) = layers.pick(|l| &l.harpoon_additional_transport) {
        return Err(invalid(
            &transport.origin,
            "harpoon is served on the harpoon channel only",
            "remove it",
        ));
    }
    Ok(())
}

/// `true`/`false` (also 1/0, yes/no, on/off, any case), or `default` when unset.
pub(crate) fn boolean(value: Option<Sourced<String>>, default: bool) -> Result<bool, ConfigError> {
    let Some(v) = value else { return Ok(default) };
    match v.value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            &v.origin,
            "the value is neither true nor false",
            "use true or false",
        )),
    }
}

/// The proxy URL, or the variable an `env:VAR` value names (which then is
/// kept from stdio children: it may carry credentials). Never echoed.
fn proxy_url(
    p: &Sourced<String>,
    layers: &Layers<'_>,
    referenced_env: &mut Vec<String>,
) -> Result<String, ConfigError> {
    let Some(name) = p.value.trim().strip_prefix("env:") else {
        return Ok(p.value.trim().to_string());
    };
    let name = name.trim();
    let value = layers.vars.get(name).ok_or_else(|| {
        invalid(
            &p.origin,
            format!("it refers to the environment variable {name}, which is not set or empty"),
            format!("export {name} before starting tunnel-client, or give the proxy URL"),
        )
    })?;
    if !referenced_env.iter().any(|n| n == name) {
        referenced_env.push(name.to_string());
    }
    Ok(value.trim().to_string())
}

fn host_rules(layers: &Layers<'_>) -> Result<HostRules, ConfigError> {
    let defaults = HostRules::default();
    let include_suffixes = match layers.pick(|l| &l.harpoon_hosts_include_suffix) {
        None => Vec::new(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.value.len());
            for suffix in &list.value {
                let Some(normalized) = normalize_suffix(suffix) else {
                    return Err(invalid(
                        &list.origin,
                        format!("\"{}\" is not a DNS suffix", shown(suffix)),
                        "give a host name suffix such as corp.example or .corp.example",
                    ));
                };
                if !out.contains(&normalized) {
                    out.push(normalized);
                }
            }
            out
        }
    };
    Ok(HostRules {
        include_loopback: boolean(
            layers.pick(|l| &l.harpoon_hosts_include_loopback),
            defaults.include_loopback,
        )?,
        include_private: boolean(
            layers.pick(|l| &l.harpoon_hosts_include_private),
            defaults.include_private,
        )?,
        include_suffixes,
    })
}

/// Operator text an error may quote (a suffix, a key): bounded.
fn shown(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Where a target came from, to name it in an error.
enum TargetOrigin {
    /// A profile object: its keys are named `harpoon.targets[i].KEY`.
    Object {
        origin: Origin,
        url_key: &'static str,
    },
    /// Entry `n` (1-based) of a flag or variable list.
    Entry { origin: Origin, n: usize },
}

impl TargetOrigin {
    fn error(&self, field: TargetField, problem: &str) -> ConfigError {
        match self {
            TargetOrigin::Object { origin, url_key } => {
                let key = match field {
                    TargetField::Url => url_key,
                    other => other.as_str(),
                };
                let origin = match origin {
                    Origin::Profile { key: list, file } => Origin::Profile {
                        key: format!("{list}.{key}"),
                        file: file.clone(),
                    },
                    other => other.clone(),
                };
                invalid(&origin, problem, FIX)
            }
            TargetOrigin::Entry { origin, n } => invalid(
                origin,
                format!("entry {n}, {}: {problem}", spec_key(field)),
                FIX,
            ),
        }
    }
}

/// The key of a `--harpoon-target` entry that holds `field`.
fn spec_key(field: TargetField) -> &'static str {
    match field {
        TargetField::Label => "label",
        TargetField::Url => "url",
        TargetField::Description => "desc",
        TargetField::AllowedMethods => "methods",
        TargetField::MaxRequestSizeBytes => "max-request-bytes",
        TargetField::MaxResponseSizeBytes => "max-response-bytes",
        TargetField::TimeoutSeconds => "timeout-seconds",
        TargetField::UnixSocket => "unix-socket",
    }
}

/// The targets of one layer as Harpoon's raw settings, with where each came from.
fn raw_targets(
    list: &Sourced<Vec<RawHarpoonTarget>>,
) -> Result<(Vec<RawTarget>, Vec<TargetOrigin>), ConfigError> {
    if list.value.len() > MAX_RAW_TARGETS {
        return Err(invalid(
            &list.origin,
            format!("more than {MAX_RAW_TARGETS} targets"),
            "configure at most 64 targets",
        ));
    }
    let mut targets = Vec::with_capacity(list.value.len());
    let mut origins = Vec::with_capacity(list.value.len());
    for (i, raw) in list.value.iter().enumerate() {
        let (target, origin) = match raw {
            RawHarpoonTarget::Object(object) => {
                let origin = TargetOrigin::Object {
                    origin: match &list.origin {
                        Origin::Profile { key, file } => Origin::Profile {
                            key: format!("{key}[{i}]"),
                            file: file.clone(),
                        },
                        other => other.clone(),
                    },
                    url_key: object.url.as_ref().map_or("base_url", |(_, k)| *k),
                };
                (from_object(object, &origin)?, origin)
            }
            RawHarpoonTarget::Spec(text) => {
                let origin = TargetOrigin::Entry {
                    origin: list.origin.clone(),
                    n: i + 1,
                };
                (from_spec(text, &origin)?, origin)
            }
        };
        targets.push(target);
        origins.push(origin);
    }
    Ok((targets, origins))
}

/// A whole number of a target (its range is Harpoon's to check).
fn whole(
    text: Option<&String>,
    field: TargetField,
    at: &TargetOrigin,
) -> Result<Option<u64>, ConfigError> {
    let Some(text) = text else { return Ok(None) };
    match text.trim().parse::<u64>() {
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(at.error(field, "the value is not a whole number")),
    }
}

fn from_object(t: &TargetObject, at: &TargetOrigin) -> Result<RawTarget, ConfigError> {
    Ok(RawTarget {
        label: t.label.clone().unwrap_or_default(),
        url: t.url.as_ref().map(|(u, _)| u.clone()).unwrap_or_default(),
        description: t.description.clone(),
        allowed_methods: t.allowed_methods.clone(),
        max_request_size_bytes: whole(
            t.max_request_size_bytes.as_ref(),
            TargetField::MaxRequestSizeBytes,
            at,
        )?,
        max_response_size_bytes: whole(
            t.max_response_size_bytes.as_ref(),
            TargetField::MaxResponseSizeBytes,
            at,
        )?,
        timeout_seconds: whole(t.timeout_seconds.as_ref(), TargetField::TimeoutSeconds, at)?,
        unix_socket: t.unix_socket.clone(),
    })
}

/// `label=L,url=U[,desc=D,unix-socket=P,methods=GET+POST,max-request-bytes=N,
/// max-response-bytes=N,timeout-seconds=N]`; pieces trimmed, each key once.
/// A comma cannot appear in a value (a URL writes it `%2C`).
fn from_spec(text: &str, at: &TargetOrigin) -> Result<RawTarget, ConfigError> {
    let whole_entry = |problem: String, fix: &str| match at {
        TargetOrigin::Entry { origin, n } => invalid(origin, format!("entry {n}: {problem}"), fix),
        TargetOrigin::Object { origin, .. } => invalid(origin, problem, fix),
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut raw = RawTarget::default();
    let (mut request, mut response, mut timeout) = (None, None, None);
    for piece in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = piece.split_once('=') else {
            return Err(whole_entry(
                "a part is not key=value".into(),
                "write label=L,url=U[,desc=D,...]; a comma inside a value is not allowed (in a URL write %2C)",
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        let Some(known) = SPEC_KEYS.iter().find(|k| **k == key) else {
            return Err(whole_entry(
                format!("unknown key \"{}\"", shown(key)),
                &format!("use {}", SPEC_KEYS.join(", ")),
            ));
        };
        if seen.contains(known) {
            return Err(whole_entry(
                format!("the key {known} is given twice"),
                "give each key once",
            ));
        }
        seen.push(known);
        match *known {
            "label" => raw.label = value.to_string(),
            "url" => raw.url = value.to_string(),
            "desc" => raw.description = Some(value.to_string()),
            "unix-socket" => raw.unix_socket = Some(value.to_string()),
            "methods" => {
                raw.allowed_methods = Some(
                    value
                        .split(['+', ' '])
                        .filter(|m| !m.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            }
            "max-request-bytes" => request = Some(value.to_string()),
            "max-response-bytes" => response = Some(value.to_string()),
            _ => timeout = Some(value.to_string()),
        }
    }
    for (missing, key) in [(raw.label.is_empty(), "label"), (raw.url.is_empty(), "url")] {
        if missing {
            return Err(whole_entry(
                format!("{key}= is missing"),
                "write label=L,url=U[,desc=D,...]",
            ));
        }
    }
    raw.max_request_size_bytes = whole(request.as_ref(), TargetField::MaxRequestSizeBytes, at)?;
    raw.max_response_size_bytes = whole(response.as_ref(), TargetField::MaxResponseSizeBytes, at)?;
    raw.timeout_seconds = whole(timeout.as_ref(), TargetField::TimeoutSeconds, at)?;
    Ok(raw)
}

/// Harpoon's validation error, named by where the value came from.
fn settings_error(
    e: SettingsError,
    targets: &[TargetOrigin],
    proxy: Option<Origin>,
    layers: &Layers<'_>,
) -> ConfigError {
    let fallback = |key: &str| Origin::Profile {
        key: key.to_string(),
        file: Default::default(),
    };
    match e.key {
        SettingKey::Target { index, field } => match targets.get(index) {
            Some(at) => at.error(field, &e.problem),
            None => invalid(&fallback(&e.key.to_string()), e.problem, FIX),
        },
        SettingKey::HttpProxy => invalid(
            &proxy.unwrap_or_else(|| fallback("harpoon.http_proxy")),
            e.problem,
            FIX,
        ),
        SettingKey::Targets => {
            let origin = layers
                .pick(|l| &l.harpoon_targets)
                .map_or_else(|| fallback("harpoon.targets"), |t| t.origin);
            invalid(&origin, e.problem, "configure at most 64 targets")
        }
        SettingKey::CaBundle => {
            let origin = layers
                .pick(|l| &l.ca_bundle)
                .map_or_else(|| fallback("ca_bundle_path"), |b| b.origin);
            invalid(&origin, e.problem, "check the CA bundle")
        }
        SettingKey::MaxResponseBytes => {
            let origin = layers
                .pick(|l| &l.harpoon_max_response_bytes)
                .map_or_else(|| fallback("harpoon.max_response_bytes"), |v| v.origin);
            invalid(&origin, e.problem, FIX)
        }
        SettingKey::MaxRedirects => {
            let origin = layers
                .pick(|l| &l.harpoon_max_redirects)
                .map_or_else(|| fallback("harpoon.max_redirects"), |v| v.origin);
            invalid(&origin, e.problem, FIX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;
    use crate::config::{Config, Env};
    use std::time::Duration;

    fn spec(entries: &[&str]) -> Layer {
        let mut flags = Layer::default();
        for entry in entries {
            read_spec(
                &mut flags,
                Sourced::new(entry.to_string(), flag("--harpoon-target")),
            );
        }
        flags
    }

    fn with_flags(flags: Layer) -> Result<Config, String> {
        resolve3(&flags, &Env::default(), &base_profile()).map_err(|e| e.to_string())
    }

    fn object(label: &str, url: &str) -> RawHarpoonTarget {
        RawHarpoonTarget::Object(TargetObject {
            label: Some(label.into()),
            url: Some((url.into(), "base_url")),
            ..TargetObject::default()
        })
    }

    fn profile_targets(enabled: Option<bool>, targets: Vec<RawHarpoonTarget>) -> Layer {
        let mut profile = base_profile();
        profile.harpoon_enabled = enabled.map(|e| Sourced::new(e, prof("harpoon.enabled")));
        profile.harpoon_targets = Some(Sourced::new(targets, prof("harpoon.targets")));
        profile
    }

    #[test]
    fn a_flag_target_is_parsed_and_enables_the_channel() {
        let c = with_flags(spec(&[
            " label=api , url=https://api.internal/v1/, desc=The API, methods=GET+POST, \
             max-request-bytes=10, max-response-bytes=20, timeout-seconds=7, unix-socket=/run/api.sock",
            "label=second,url=https://second.internal",
        ]))
        .unwrap();
        let h = c.harpoon.as_ref().expect("served");
        assert!(c.serves_harpoon());
        let t = &h.settings.targets()[0];
        assert_eq!(t.label(), "api");
        assert_eq!(t.url().path, "/v1/");
        assert_eq!(t.description(), Some("The API"));
        let methods: Vec<&str> = t.allowed_methods().iter().map(|m| m.as_str()).collect();
        assert_eq!(methods, ["GET", "POST"]);
        assert_eq!((t.max_request_bytes(), t.max_response_bytes()), (10, 20));
        assert_eq!(t.timeout(), Duration::from_secs(7));
        assert_eq!(
            t.unix_socket().map(|p| p.display().to_string()).as_deref(),
            Some("/run/api.sock")
        );
        assert_eq!(h.settings.targets()[1].max_response_bytes(), 102_400);
    }

    #[test]
    fn the_variable_holds_semicolon_or_line_separated_entries() {
        let env = Env::from_pairs([(
            "HARPOON_TARGETS",
            "label=a,url=https://a.internal;label=b,url=https://b.internal\nlabel=c,url=https://c.internal;",
        )]);
        let c = resolve3(&Layer::default(), &env, &base_profile()).unwrap();
        let labels: Vec<&str> = c
            .harpoon
            .as_ref()
            .unwrap()
            .settings
            .targets()
            .iter()
            .map(|t| t.label())
            .collect();
        assert_eq!(labels, ["a", "b", "c"]);
        // Flags win over the variable as a whole.
        let c = resolve3(
            &spec(&["label=f,url=https://f.internal"]),
            &env,
            &base_profile(),
        )
        .unwrap();
        assert_eq!(c.harpoon.unwrap().settings.targets().len(), 1);
    }

    #[test]
    fn profile_targets_are_served_only_when_enabled() {
        let targets = vec![object("a", "https://a.internal")];
        for (enabled, served) in [(None, false), (Some(false), false), (Some(true), true)] {
            let c = resolve3(
                &Layer::default(),
                &Env::default(),
                &profile_targets(enabled, targets.clone()),
            )
            .unwrap();
            // A stdio main: without a served target, harpoon is not built.
            assert_eq!(c.harpoon.is_some(), served, "{enabled:?}");
            assert_eq!(c.serves_harpoon(), served);
        }
        // Flag targets replace the profile's and are served without the switch.
        let c = resolve3(
            &spec(&["label=f,url=https://f.internal"]),
            &Env::default(),
            &profile_targets(Some(false), targets),
        )
        .unwrap();
        assert_eq!(c.harpoon.unwrap().settings.targets()[0].label(), "f");
    }

    #[test]
    fn an_http_main_builds_harpoon_for_oauth_discovered_targets() {
        let mut flags = Layer {
            mcp_server_url: list(&["https://mcp.internal/mcp"], flag("--mcp-server-url")),
            ..Layer::default()
        };
        let c = with_flags(flags.clone()).unwrap();
        let h = c.harpoon.as_ref().expect("built for OAuth targets");
        assert!(!h.has_targets() && c.serves_harpoon());
        assert_eq!(h.hosts, HostRules::default());
        // A8: harpoon may be polled with main; main left out means no discovery.
        flags.poll_channels = list(&["harpoon", "main"], flag("--poll-channel"));
        assert!(with_flags(flags.clone()).unwrap().serves_harpoon());
        flags.poll_channels = list(&["main"], flag("--poll-channel"));
        assert!(!with_flags(flags.clone()).unwrap().serves_harpoon());
        flags.poll_channels = list(&["harpoon"], flag("--poll-channel"));
        let e = with_flags(flags).unwrap_err();
        assert!(e.contains("the channel harpoon has no MCP server"), "{e}");
    }

    #[test]
    fn entries_are_refused_naming_the_entry_and_never_the_url() {
        for (entries, needle) in [
            (
                &["url=https://s3cret.internal"][..],
                "entry 1: label= is missing",
            ),
            (&["label=a"], "entry 1: url= is missing"),
            (
                &["label=a,url=https://s3cret.internal,color=red"],
                "entry 1: unknown key \"color\"",
            ),
            (
                &["label=a,url=https://s3cret.internal,label=b"],
                "the key label is given twice",
            ),
            (
                &["label=a,url=https://s3cret.internal,a,b"],
                "entry 1: a part is not key=value",
            ),
            (
                &[
                    "label=a,url=https://ok.internal",
                    "label=A,url=https://s3cret.internal",
                ],
                "entry 2, label:",
            ),
            (
                &[
                    "label=a,url=https://ok.internal",
                    "label=a,url=https://s3cret.internal",
                ],
                "entry 2, label:",
            ),
            (&["label=a,url=ftp://s3cret.internal"], "entry 1, url:"),
            (
                &["label=a,url=https://u:s3cret@h.internal"],
                "entry 1, url:",
            ),
            (
                &["label=a,url=https://h.internal/s3cret?q=s3cret"],
                "entry 1, url:",
            ),
            (
                &["label=a,url=http://s3cret.internal"],
                "allow_plaintext_http",
            ),
            (
                &["label=a,url=https://169.254.169.254/s3cret"],
                "entry 1, url:",
            ),
            (
                &["label=a,url=https://s3cret.internal,methods=GET+FETCH"],
                "entry 1, methods:",
            ),
            (
                &["label=a,url=https://s3cret.internal,timeout-seconds=121"],
                "entry 1, timeout-seconds:",
            ),
            (
                &["label=a,url=https://s3cret.internal,timeout-seconds=-1"],
                "not a whole number",
            ),
            (
                &["label=a,url=https://s3cret.internal,max-request-bytes=0"],
                "entry 1, max-request-bytes:",
            ),
            (
                &["label=a,url=https://s3cret.internal,max-response-bytes=10485761"],
                "entry 1, max-response-bytes:",
            ),
        ] {
            let e = with_flags(spec(entries)).unwrap_err();
            assert!(e.starts_with("--harpoon-target: "), "{e}");
            assert!(e.contains(needle), "{entries:?}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        let many: Vec<String> = (0..65)
            .map(|i| format!("label=t{i},url=https://h.internal"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = with_flags(spec(&many)).unwrap_err();
        assert!(e.contains("65 targets; at most 64"), "{e}");
    }

    #[test]
    fn profile_errors_name_the_key() {
        let bad = |t: TargetObject| {
            resolve3(
                &Layer::default(),
                &Env::default(),
                &profile_targets(
                    Some(true),
                    vec![
                        object("ok", "https://ok.internal"),
                        RawHarpoonTarget::Object(t),
                    ],
                ),
            )
            .unwrap_err()
            .to_string()
        };
        let t = |label: &str, url: &str, key: &'static str| TargetObject {
            label: Some(label.into()),
            url: Some((url.into(), key)),
            ..TargetObject::default()
        };
        let e = bad(t("b", "https://s3cret.internal/?x=1", "url"));
        assert!(
            e.starts_with("profile key \"harpoon.targets[1].url\" in /p.json: "),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
        let e = bad(t("ok", "https://b.internal", "base_url"));
        assert!(
            e.starts_with("profile key \"harpoon.targets[1].label\""),
            "{e}"
        );
        let e = bad(TargetObject {
            timeout_seconds: Some("0".into()),
            ..t("b", "https://b.internal", "base_url")
        });
        assert!(
            e.starts_with("profile key \"harpoon.targets[1].timeout_seconds\""),
            "{e}"
        );
    }

    #[test]
    fn limits_proxy_and_plaintext_from_each_source() {
        let env = Env::from_pairs([
            ("HARPOON_ALLOW_PLAINTEXT_HTTP", "TRUE"),
            ("HARPOON_MAX_RESPONSE_BYTES", "5000"),
            ("HARPOON_MAX_REDIRECTS", "2"),
            ("HARPOON_HTTP_PROXY", "env:CORP_PROXY"),
            ("CORP_PROXY", "http://user:s3cret@proxy.internal:3128"),
        ]);
        let c = resolve3(
            &spec(&["label=a,url=http://10.0.0.1:8080/"]),
            &env,
            &base_profile(),
        )
        .unwrap();
        let h = c.harpoon.as_ref().unwrap();
        assert!(h.settings.allow_plaintext_http());
        assert_eq!(h.settings.max_response_bytes(), 5000);
        assert_eq!(h.settings.targets()[0].max_response_bytes(), 5000);
        assert_eq!(h.settings.max_redirects(), 2);
        assert!(!format!("{c:?}").contains("s3cret"));
        // The variable an env: proxy names is kept from stdio children.
        assert!(c.stdio.removed_env.iter().any(|n| n == "CORP_PROXY"));
        for (name, value, needle) in [
            ("HARPOON_MAX_RESPONSE_BYTES", "0", "out of range"),
            ("HARPOON_MAX_RESPONSE_BYTES", "10485761", "out of range"),
            ("HARPOON_MAX_REDIRECTS", "6", "out of range"),
            (
                "HARPOON_ALLOW_PLAINTEXT_HTTP",
                "maybe",
                "neither true nor false",
            ),
            (
                "HARPOON_HTTP_PROXY",
                "env:UNSET_PROXY_VAR",
                "UNSET_PROXY_VAR, which is not set",
            ),
            ("HARPOON_HTTP_PROXY", "socks5://u:s3cret@p:1", "proxy"),
        ] {
            let e = resolve3(
                &Layer::default(),
                &Env::from_pairs([(name, value)]),
                &base_profile(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.starts_with(&format!("environment variable {name}: ")),
                "{e}"
            );
            assert!(e.contains(needle) && !e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn the_official_refused_settings_exit_with_their_name() {
        for (name, value, refused) in [
            ("HARPOON_HOSTS_INCLUDE_REGEX", "^svc-.*", true),
            ("HARPOON_CAPTURE_PAYLOADS", "true", true),
            ("HARPOON_CAPTURE_PAYLOADS", "false", false),
            ("HARPOON_ADDITIONAL_TRANSPORTS", "http-streamable", true),
        ] {
            let result = resolve3(
                &Layer::default(),
                &Env::from_pairs([(name, value)]),
                &base_profile(),
            );
            match result {
                Err(e) if refused => assert!(
                    e.to_string()
                        .starts_with(&format!("environment variable {name}: ")),
                    "{e}"
                ),
                Ok(_) if !refused => {}
                other => panic!("{name}={value}: {:?}", other.map(|_| ())),
            }
        }
    }

    #[test]
    fn host_rules_for_oauth_discovered_targets() {
        let env = Env::from_pairs([
            ("HARPOON_HOSTS_INCLUDE_LOOPBACK", "false"),
            ("HARPOON_HOSTS_INCLUDE_PRIVATE", "0"),
            (
                "HARPOON_HOSTS_INCLUDE_SUFFIX",
                ".Corp.Example; svc.internal\ncorp.example",
            ),
        ]);
        let flags = Layer {
            mcp_server_url: list(&["https://mcp.internal/mcp"], flag("--mcp-server-url")),
            ..Layer::default()
        };
        let c = resolve3(&flags, &env, &base_profile()).unwrap();
        assert_eq!(
            c.harpoon.unwrap().hosts,
            HostRules {
                include_loopback: false,
                include_private: false,
                include_suffixes: vec!["corp.example".into(), "svc.internal".into()],
            }
        );
        let e = resolve3(
            &flags,
            &Env::from_pairs([("HARPOON_HOSTS_INCLUDE_SUFFIX", "a b")]),
            &base_profile(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is not a DNS suffix"), "{e}");
    }

    #[test]
    fn booleans() {
        let b = |v: &str| boolean(Some(Sourced::new(v.into(), flag("--x"))), false);
        for on in ["true", "1", "Yes", "ON"] {
            assert!(b(on).unwrap(), "{on}");
        }
        for off in ["false", "0", "no", "Off"] {
            assert!(!b(off).unwrap(), "{off}");
        }
        assert!(b("2").unwrap_err().to_string().starts_with("--x: "));
        assert!(boolean(None, true).unwrap());
    }
}
