//! The `harpoon` settings: targets as a profile writes them, and their checks
//! into a [`HarpoonConfig`]. Never echoes a target URL's credentials.

use super::error::{invalid, ConfigError};
use super::layer::{Layer, Origin, Sourced};
use super::profile::Reader;
use super::resolve::number;
use super::settings::{Custom, Split};
use super::url::{check_url, UrlUse};
use super::*;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// A harpoon target as written in a profile, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHarpoonTarget {
    pub label: String,
    pub base_url: String,
    pub allowed_methods: Vec<String>,
    /// Raw numbers (JSON text), validated after precedence.
    pub max_request_size_bytes: Option<String>,
    pub max_response_size_bytes: Option<String>,
    pub timeout_seconds: Option<String>,
}

/// Keys of one target object.
pub const TARGET_KEYS: &[&str] = &[
    "label",
    "base_url",
    "allowed_methods",
    "max_request_size_bytes",
    "max_response_size_bytes",
    "timeout_seconds",
];

/// `harpoon.targets`: a list of objects, only in a profile.
pub const TARGETS: Custom = Custom {
    text: None,
    json: Some(read_targets),
};

fn read_targets(
    reader: &Reader<'_>,
    key: &str,
    value: &Value,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    let Value::Array(items) = value else {
        return Err(reader.wrong_type(key, "a list of objects"));
    };
    let mut targets = Vec::new();
    for (i, item) in items.iter().enumerate() {
        targets.push(read_target(reader, key, i, item)?);
    }
    layer.harpoon_targets = Some(Sourced::new(targets, reader.origin(key)));
    Ok(())
}

fn read_target(
    reader: &Reader<'_>,
    key: &str,
    i: usize,
    value: &Value,
) -> Result<RawHarpoonTarget, ConfigError> {
    let prefix = format!("{key}[{i}].");
    let map = reader.object(&format!("{key}[{i}]"), value)?;
    let mut t = RawHarpoonTarget {
        label: String::new(),
        base_url: String::new(),
        allowed_methods: Vec::new(),
        max_request_size_bytes: None,
        max_response_size_bytes: None,
        timeout_seconds: None,
    };
    for (sub, sv) in map {
        let full = format!("{prefix}{sub}");
        match sub.as_str() {
            "label" => t.label = reader.string(&full, sv)?.value,
            "base_url" => t.base_url = reader.string(&full, sv)?.value,
            "allowed_methods" => {
                t.allowed_methods = reader.string_list(&full, sv, Split::Comma)?.value
            }
            "max_request_size_bytes" => {
                t.max_request_size_bytes = Some(reader.number(&full, sv)?.value)
            }
            "max_response_size_bytes" => {
                t.max_response_size_bytes = Some(reader.number(&full, sv)?.value)
            }
            "timeout_seconds" => t.timeout_seconds = Some(reader.number(&full, sv)?.value),
            _ => return Err(reader.unknown(&prefix, sub, TARGET_KEYS)),
        }
    }
    for (name, missing) in [
        ("label", t.label.is_empty()),
        ("base_url", t.base_url.is_empty()),
    ] {
        if missing {
            return Err(ConfigError::Invalid {
                origin: reader.origin(&format!("{prefix}{name}")),
                problem: "the key is required".into(),
                fix: "see `tunnel-client profiles samples show sample_harpoon`".into(),
            });
        }
    }
    Ok(t)
}

/// Enabled with targets → the validated targets; disabled → `None`.
pub(crate) fn harpoon_config(
    enabled: Option<Sourced<bool>>,
    targets: Option<Sourced<Vec<RawHarpoonTarget>>>,
) -> Result<Option<HarpoonConfig>, ConfigError> {
    let Some(enabled) = enabled.filter(|e| e.value) else {
        return Ok(None);
    };
    // Errors about the list name the key that holds it (or the switch, when there is none).
    let raw = targets.unwrap_or(Sourced::new(Vec::new(), enabled.origin));
    let file = match &raw.origin {
        Origin::Profile { file, .. } => file.clone(),
        _ => PathBuf::new(),
    };
    let at = |index: usize, key: &str| Origin::Profile {
        key: format!("harpoon.targets[{index}].{key}"),
        file: file.clone(),
    };
    if raw.value.is_empty() {
        return Err(invalid(
            &raw.origin,
            "harpoon is enabled but has no targets",
            "add at least one target or set \"enabled\": false",
        ));
    }
    if raw.value.len() > MAX_HARPOON_TARGETS {
        return Err(invalid(
            &raw.origin,
            format!("more than {MAX_HARPOON_TARGETS} targets"),
            "merge or remove targets",
        ));
    }
    let mut targets: Vec<HarpoonTarget> = Vec::new();
    for (i, t) in raw.value.into_iter().enumerate() {
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
