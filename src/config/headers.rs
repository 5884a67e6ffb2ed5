//! The operator's extra header sets (control plane, MCP, discovery): names,
//! refused names, `env:`/`file:` values resolved at startup. Never echoes a value.
//!
//! A set is checked once here into a [`HeaderSet`]; the agent only ever
//! iterates it. Values are [`Secret`]s: `Debug` shows the names and `***`.

use super::error::{invalid, ConfigError};
use super::layer::{Env, Origin, Sourced};
use super::profile::{read_bounded, MAX_REFERENCED_FILE_BYTES};
use crate::secret::Secret;
use std::fmt;
use std::path::{Path, PathBuf};

/// Most headers in one set.
pub const MAX_EXTRA_HEADERS: usize = 64;
/// Longest header name accepted.
const MAX_HEADER_NAME_BYTES: usize = 256;

/// Which set a header belongs to: each refuses its own names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderUse {
    /// `--control-plane-extra-headers`: control-plane requests only.
    ControlPlane,
    /// `--mcp-extra-headers` and a server's `extra_headers`: requests to that MCP URL.
    Mcp,
    /// `--mcp-discovery-extra-headers`: `main`'s probe and OAuth discovery.
    Discovery,
}

/// Names no set may carry: they belong to the HTTP connection itself.
const REFUSED_EVERYWHERE: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
];
/// Names the control-plane set may not carry: the contract's own headers.
const REFUSED_CONTROL_PLANE: &[&str] = &[
    "authorization",
    "accept",
    "user-agent",
    "openai-organization",
    "x-client-request-id",
];
/// Names the MCP and discovery sets may not carry: the MCP session's own headers.
const REFUSED_MCP: &[&str] = &[
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

impl HeaderUse {
    /// Why `name` (lowercased) is refused in this set, if it is.
    fn refuses(self, lower: &str) -> bool {
        if REFUSED_EVERYWHERE.contains(&lower) || lower.starts_with("proxy-") {
            return true;
        }
        match self {
            HeaderUse::ControlPlane => {
                REFUSED_CONTROL_PLANE.contains(&lower) || lower.starts_with("x-tunnel-")
            }
            HeaderUse::Mcp | HeaderUse::Discovery => REFUSED_MCP.contains(&lower),
        }
    }
}

/// A checked set of extra headers, in the order the operator gave them.
/// Names are unique without regard to case.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderSet {
    entries: Vec<(String, Secret)>,
}

impl fmt::Debug for HeaderSet {
    // Names only: the values are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(name, value)| (name, value)))
            .finish()
    }
}

impl HeaderSet {
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `(name, value)` pairs, for the one place that sends them.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(name, value)| (name.as_str(), value.expose()))
    }

    /// The names, as the operator spelled them.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
    }

    /// True when the set has `name` (any case).
    pub fn contains(&self, name: &str) -> bool {
        self.names().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// This set with `over` laid on top: a name in both takes `over`'s value.
    pub fn overlaid(&self, over: &HeaderSet) -> HeaderSet {
        let mut entries: Vec<(String, Secret)> = self
            .entries
            .iter()
            .filter(|(name, _)| !over.contains(name))
            .cloned()
            .collect();
        entries.extend(over.entries.iter().cloned());
        HeaderSet { entries }
    }
}

/// A header set bound to one origin (scheme, host, port): requests to any
/// path there get it, requests anywhere else get nothing. This is how `main`'s
/// MCP set plus the discovery set reach its probe and OAuth discovery, and
/// never another origin (a metadata URL elsewhere, an authorization server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopedHeaders {
    /// `None`: no HTTP `main`, so nothing is ever sent.
    origin: Option<super::url::UrlOrigin>,
    headers: HeaderSet,
}

impl ScopedHeaders {
    pub fn new(url: &str, headers: HeaderSet) -> ScopedHeaders {
        ScopedHeaders {
            origin: super::url::UrlOrigin::of(url),
            headers,
        }
    }

    /// The headers for a request to `url`: the whole set on the same origin,
    /// an empty one anywhere else (or when `url` cannot be read).
    #[cfg(test)]
    pub fn for_url(&self, url: &str) -> &HeaderSet {
        static NONE: HeaderSet = HeaderSet {
            entries: Vec::new(),
        };
        match (&self.origin, super::url::UrlOrigin::of(url)) {
            (Some(mine), Some(theirs)) if *mine == theirs => &self.headers,
            _ => &NONE,
        }
    }

    /// The set itself (for requests already known to be on the origin).
    pub fn headers(&self) -> &HeaderSet {
        &self.headers
    }
}

/// What resolving a set's values found out besides the set.
#[derive(Debug, Default)]
pub struct Resolved {
    pub set: HeaderSet,
    /// Variables named by `env:` values: kept out of every stdio child.
    pub referenced_env: Vec<String>,
}

/// Checks a raw set (`(name, raw value)` pairs from one layer) into a
/// [`HeaderSet`]: names are tokens and not refused for `usage`, values are
/// resolved (`env:VAR`, `file:PATH`, else literal) and free of control
/// characters, and a name given twice must have one value.
pub fn resolve_set(
    raw: &Sourced<Vec<(String, String)>>,
    usage: HeaderUse,
    env: &Env,
) -> Result<Resolved, ConfigError> {
    let origin = &raw.origin;
    if raw.value.len() > MAX_EXTRA_HEADERS {
        return Err(invalid(
            origin,
            format!("more than {MAX_EXTRA_HEADERS} headers"),
            "pass fewer headers",
        ));
    }
    let mut out = Resolved::default();
    for (name, raw_value) in &raw.value {
        check_name(origin, name, usage)?;
        let value = resolve_value(origin, name, raw_value, env, &mut out.referenced_env)?;
        match out
            .set
            .entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, same)) if same.expose() == value.expose() => {}
            Some((first, _)) => {
                return Err(invalid(
                    origin,
                    format!("the header {first} is given twice ({name}) with different values"),
                    "give each header once",
                ))
            }
            None => out.set.entries.push((name.clone(), value)),
        }
    }
    Ok(out)
}

fn check_name(origin: &Origin, name: &str, usage: HeaderUse) -> Result<(), ConfigError> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() {
        return Err(invalid(
            origin,
            "a header has no name",
            "write each header as \"Name: Value\"",
        ));
    }
    if name.len() > MAX_HEADER_NAME_BYTES || !name.bytes().all(is_tchar) {
        // Not echoed: a value pasted in the wrong place must not reach a log.
        return Err(invalid(
            origin,
            "a header name is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~ only)",
            "write each header as \"Name: Value\"",
        ));
    }
    let lower = name.to_ascii_lowercase();
    if usage.refuses(&lower) {
        let why = match usage {
            HeaderUse::ControlPlane => "the agent sets it itself on control-plane requests",
            HeaderUse::Mcp | HeaderUse::Discovery => {
                "it belongs to the HTTP connection or to the MCP session"
            }
        };
        return Err(invalid(
            origin,
            format!("the header {name} cannot be set here: {why}"),
            "remove it from the set",
        ));
    }
    Ok(())
}

/// `env:VAR` (set, trimmed), `file:PATH` (one trailing newline cut) or the
/// literal value; never empty, never a control character.
fn resolve_value(
    origin: &Origin,
    name: &str,
    raw: &str,
    env: &Env,
    referenced: &mut Vec<String>,
) -> Result<Secret, ConfigError> {
    let value = if let Some(var) = raw.strip_prefix("env:") {
        let var = var.trim();
        let Some(value) = env.get(var) else {
            return Err(invalid(
                origin,
                format!("the value of header {name} refers to the environment variable {var}, which is not set or empty"),
                format!("export {var} before starting tunnel-client, or change the reference"),
            ));
        };
        if !referenced.iter().any(|n| n == var) {
            referenced.push(var.to_string());
        }
        value.trim().to_string()
    } else if let Some(path) = raw.strip_prefix("file:") {
        let path = relative_to(origin, path.trim());
        let what = format!("the file of header {name}");
        let bytes = read_bounded(&path, MAX_REFERENCED_FILE_BYTES, &what)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            invalid(
                origin,
                format!("the file of header {name} ({}) is not text", path.display()),
                "put only the value in the file",
            )
        })?;
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        text.to_string()
    } else {
        raw.to_string()
    };
    if value.is_empty() {
        return Err(invalid(
            origin,
            format!("the value of header {name} is empty"),
            "give a value, or remove the header",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(
            origin,
            format!(
                "the value of header {name} contains a control character (a line break or tab?)"
            ),
            "a header value is one line of text; a file may end with one newline",
        ));
    }
    Ok(Secret::new(value))
}

/// `file:` paths in a profile are relative to its directory; elsewhere to
/// the working directory.
fn relative_to(origin: &Origin, path: &str) -> PathBuf {
    let p = Path::new(path);
    match origin {
        Origin::Profile { file, .. } if p.is_relative() => match file.parent() {
            Some(dir) => dir.join(p),
            None => p.to_path_buf(),
        },
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> Sourced<Vec<(String, String)>> {
        Sourced::new(
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            Origin::Flag("--mcp-extra-headers"),
        )
    }

    fn set(pairs: &[(&str, &str)], usage: HeaderUse, env: &Env) -> Result<Resolved, String> {
        resolve_set(&raw(pairs), usage, env).map_err(|e| e.to_string())
    }

    #[test]
    fn b3_values_literal_env_and_file() {
        let dir = std::env::temp_dir().join(format!("tc-headers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "file-secret\n").unwrap();
        let env = Env::from_pairs([("TOKEN_VAR", "  env-secret  ")]);
        let file_ref = format!("file:{}", file.display());
        let got = set(
            &[
                ("X-Lit", "literal"),
                ("X-Env", "env:TOKEN_VAR"),
                ("X-File", &file_ref),
            ],
            HeaderUse::Mcp,
            &env,
        )
        .unwrap();
        let pairs: Vec<_> = got.set.iter().collect();
        assert_eq!(
            pairs,
            [
                ("X-Lit", "literal"),
                ("X-Env", "env-secret"),
                ("X-File", "file-secret")
            ]
        );
        assert_eq!(got.referenced_env, ["TOKEN_VAR"]);
        assert!(!format!("{:?}", got.set).contains("secret"));

        std::fs::write(&file, "two\n\n").unwrap();
        let e = set(&[("X-File", &file_ref)], HeaderUse::Mcp, &env).unwrap_err();
        assert!(e.contains("control character"), "{e}");
        for bad in ["", "a\rb", "env:UNSET_VAR"] {
            let e = set(&[("X-A", bad)], HeaderUse::Mcp, &env).unwrap_err();
            assert!(e.starts_with("--mcp-extra-headers:"), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn b4_refused_names_per_set() {
        let env = Env::default();
        for name in [
            "Host",
            "content-length",
            "Proxy-Authorization",
            "TE",
            "Upgrade",
        ] {
            for usage in [
                HeaderUse::ControlPlane,
                HeaderUse::Mcp,
                HeaderUse::Discovery,
            ] {
                assert!(set(&[(name, "v")], usage, &env).is_err(), "{name}");
            }
        }
        for name in [
            "Authorization",
            "Accept",
            "User-Agent",
            "OpenAI-Organization",
            "X-Client-Request-Id",
            "X-Tunnel-Anything",
        ] {
            assert!(set(&[(name, "v")], HeaderUse::ControlPlane, &env).is_err());
        }
        for name in [
            "Accept",
            "Mcp-Session-Id",
            "MCP-Protocol-Version",
            "Last-Event-ID",
        ] {
            assert!(set(&[(name, "v")], HeaderUse::Mcp, &env).is_err());
            assert!(set(&[(name, "v")], HeaderUse::Discovery, &env).is_err());
        }
        assert!(set(&[("Authorization", "Bearer x")], HeaderUse::Mcp, &env).is_ok());
        assert!(set(&[("X-Tunnel-Team", "a")], HeaderUse::Mcp, &env).is_ok());
        for bad in ["Bad Name", "a:b", "ü", ""] {
            assert!(set(&[(bad, "v")], HeaderUse::Mcp, &env).is_err(), "{bad}");
        }
    }

    #[test]
    fn b4_case_variants_must_agree() {
        let env = Env::default();
        let e = set(&[("X-A", "1"), ("x-a", "2")], HeaderUse::Mcp, &env).unwrap_err();
        assert!(
            e.contains("X-A") && !e.contains('1') && !e.contains('2'),
            "{e}"
        );
        let same = set(&[("X-A", "1"), ("x-a", "1")], HeaderUse::Mcp, &env).unwrap();
        assert_eq!(same.set.len(), 1);
    }

    #[test]
    fn overlay_and_scope() {
        let env = Env::default();
        let base = set(&[("X-A", "1"), ("X-B", "2")], HeaderUse::Mcp, &env)
            .unwrap()
            .set;
        let over = set(&[("x-b", "3")], HeaderUse::Discovery, &env)
            .unwrap()
            .set;
        let both = base.overlaid(&over);
        assert_eq!(
            both.iter().collect::<Vec<_>>(),
            [("X-A", "1"), ("x-b", "3")]
        );
        let scoped = ScopedHeaders::new("https://MCP.example:443/a/mcp", both);
        assert_eq!(scoped.for_url("https://mcp.example/.well-known/x").len(), 2);
        assert!(scoped.for_url("http://mcp.example/a/mcp").is_empty());
        assert!(scoped.for_url("https://mcp.example:8443/a").is_empty());
        assert!(scoped.for_url("https://auth.example/").is_empty());
        assert!(scoped.for_url("not a url").is_empty());
        assert!(ScopedHeaders::default()
            .for_url("https://mcp.example/")
            .is_empty());
    }
}
