//! Profile files: finding `<dir>/<name>.json`, reading it into a config
//! [`Layer`], listing a directory. Never accepts a literal API key, never ignores a typo.

use crate::config::{
    closest, io_problem, ConfigError, Env, Layer, Origin, RawHarpoon, RawHarpoonTarget, Sourced,
};
use crate::secret::Secret;
use serde_json::{Map, Value};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Profiles for system services, used by `--profile NAME` when the user directory has none.
pub const SYSTEM_PROFILE_DIR: &str = "/etc/tunnel-client/profiles";
/// Largest profile file read; real ones are under 4 KiB.
pub const MAX_PROFILE_BYTES: u64 = 1024 * 1024;
/// Largest file a `file:` reference may name (a key, a path).
pub const MAX_REFERENCED_FILE_BYTES: u64 = 64 * 1024;
/// Most profiles `profiles list` shows.
pub const MAX_LISTED_PROFILES: usize = 1000;

/// Top-level keys of a profile.
pub const KEYS: &[&str] = &[
    "description",
    "tunnel_id",
    "mcp_server_url",
    "mcp_command",
    "control_plane_url",
    "api_key",
    "ca_bundle_path",
    "control_plane_mtls",
    "mcp_client_mtls",
    "proxy",
    "admin_ui_address",
    "admin_ui_enabled",
    "admin_url_file",
    "allow_remote_ui",
    "max_concurrent_requests",
    "request_timeout_seconds",
    "poll_timeout_ms",
    "poll_interval_ms",
    "shutdown_grace_seconds",
    "log_level",
    "log_format",
    "enable_request_timing",
    "mcp_env",
    "stdio_mode",
    "stdio_hang_seconds",
    "stdio_session_idle_seconds",
    "stdio_max_sessions",
    "harpoon",
];
pub const CONTROL_PLANE_MTLS_KEYS: &[&str] = &["cert_path", "key_path"];
pub const MCP_CLIENT_MTLS_KEYS: &[&str] = &["cert_path", "key_path", "ca_bundle_path"];
pub const PROXY_KEYS: &[&str] = &["https_proxy", "http_proxy", "no_proxy"];
pub const HARPOON_KEYS: &[&str] = &["enabled", "targets"];
pub const HARPOON_TARGET_KEYS: &[&str] = &[
    "label",
    "base_url",
    "allowed_methods",
    "max_request_size_bytes",
    "max_response_size_bytes",
    "timeout_seconds",
];

/// The user's profile directory: flag, then `TUNNEL_CLIENT_PROFILE_DIR`, then `~/.tunnel-client/profiles`.
pub fn user_dir(explicit: Option<&Path>, env: &Env) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_path_buf());
    }
    if let Some(dir) = env.get("TUNNEL_CLIENT_PROFILE_DIR") {
        return Some(PathBuf::from(dir));
    }
    env.get("HOME")
        .map(|home| Path::new(home).join(".tunnel-client").join("profiles"))
}

/// True for names that are safe as a file name (no `/`, no leading dot).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// The file `--profile NAME` means: the user directory first, then the
/// system directory (only when no directory was named explicitly).
pub fn find(name: &str, explicit_dir: Option<&Path>, env: &Env) -> Result<PathBuf, ConfigError> {
    if !is_valid_name(name) {
        return Err(ConfigError::Invalid {
            origin: Origin::Flag("--profile"),
            problem: format!("\"{name}\" is not a profile name"),
            fix: "use letters, digits, _, - and . (the file is <dir>/NAME.json; use --profile-file for a path)".into(),
        });
    }
    let file = format!("{name}.json");
    let mut searched = Vec::new();
    if let Some(dir) = user_dir(explicit_dir, env) {
        let path = dir.join(&file);
        if path.exists() {
            return Ok(path);
        }
        searched.push(path);
    }
    let explicit = explicit_dir.is_some() || env.get("TUNNEL_CLIENT_PROFILE_DIR").is_some();
    if !explicit {
        let path = Path::new(SYSTEM_PROFILE_DIR).join(&file);
        if path.exists() {
            return Ok(path);
        }
        searched.push(path);
    }
    Err(ConfigError::ProfileNotFound {
        name: name.to_string(),
        searched,
    })
}

/// Reads a file of at most `limit` bytes.
fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, ConfigError> {
    let unreadable = |e: std::io::Error| ConfigError::Unreadable {
        path: path.to_path_buf(),
        problem: io_problem(&e),
        what: what.to_string(),
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(ConfigError::Unreadable {
            path: path.to_path_buf(),
            problem: format!("it is larger than {limit} bytes"),
            what: what.to_string(),
        });
    }
    Ok(bytes)
}

/// Reads and checks a profile file into a [`Layer`].
pub fn load(path: &Path, env: &Env) -> Result<Layer, ConfigError> {
    let bytes = read_bounded(path, MAX_PROFILE_BYTES, "the profile")?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        let text = e.to_string();
        let problem = match text.find(" at line ") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        ConfigError::Malformed {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            problem,
        }
    })?;
    let Value::Object(map) = value else {
        return Err(ConfigError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            problem: "the top level must be a JSON object".into(),
        });
    };
    Reader { file: path, env }.layer(&map)
}

/// One profile being read; knows its file for error messages and `file:` paths.
struct Reader<'a> {
    file: &'a Path,
    env: &'a Env,
}

impl Reader<'_> {
    fn origin(&self, key: &str) -> Origin {
        Origin::Profile {
            key: key.to_string(),
            file: self.file.to_path_buf(),
        }
    }

    fn wrong_type(&self, key: &str, expected: &str) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin(key),
            problem: format!("the value must be {expected}"),
            fix: "see `tunnel-client profiles samples show sample_mcp_http` for the format".into(),
        }
    }

    fn unknown(&self, prefix: &str, key: &str, known: &[&str]) -> ConfigError {
        ConfigError::UnknownKey {
            file: self.file.to_path_buf(),
            key: format!("{prefix}{key}"),
            suggestion: closest(key, known).map(|s| format!("{prefix}{s}")),
        }
    }

    fn string(&self, key: &str, v: &Value) -> Result<Sourced<String>, ConfigError> {
        match v {
            Value::String(s) if !s.is_empty() => Ok(Sourced::new(s.clone(), self.origin(key))),
            _ => Err(self.wrong_type(key, "a non-empty string")),
        }
    }

    fn boolean(&self, key: &str, v: &Value) -> Result<Sourced<bool>, ConfigError> {
        match v {
            Value::Bool(b) => Ok(Sourced::new(*b, self.origin(key))),
            _ => Err(self.wrong_type(key, "true or false")),
        }
    }

    /// A JSON number kept as text; range checks happen in `config::resolve`.
    fn number(&self, key: &str, v: &Value) -> Result<Sourced<String>, ConfigError> {
        match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                Ok(Sourced::new(n.to_string(), self.origin(key)))
            }
            _ => Err(self.wrong_type(key, "a whole number (without quotes)")),
        }
    }

    fn object<'v>(&self, key: &str, v: &'v Value) -> Result<&'v Map<String, Value>, ConfigError> {
        v.as_object()
            .ok_or_else(|| self.wrong_type(key, "a JSON object"))
    }

    /// The target of an `env:NAME` reference; remembers NAME for the stdio child.
    fn env_reference(
        &self,
        key: &str,
        name: &str,
        layer: &mut Layer,
    ) -> Result<String, ConfigError> {
        let value = self.env.get(name).ok_or_else(|| ConfigError::Invalid {
            origin: self.origin(key),
            problem: format!(
                "it refers to the environment variable {name}, which is not set or empty"
            ),
            fix: format!("export {name} before starting tunnel-client, or change the reference"),
        })?;
        if !layer.referenced_env.iter().any(|n| n == name) {
            layer.referenced_env.push(name.to_string());
        }
        Ok(value.to_string())
    }

    /// `file:` paths are relative to the profile's directory.
    fn relative(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        match self.file.parent() {
            Some(dir) => dir.join(p),
            None => p.to_path_buf(),
        }
    }

    /// `api_key`: only `env:NAME` or `file:PATH` (contents trimmed).
    fn api_key(&self, v: &Value, layer: &mut Layer) -> Result<Sourced<Secret>, ConfigError> {
        let key = "api_key";
        let Value::String(text) = v else {
            return Err(self.wrong_type(key, "\"env:NAME\" or \"file:/path\""));
        };
        let secret = if let Some(name) = text.strip_prefix("env:") {
            self.env_reference(key, name.trim(), layer)?
        } else if let Some(path) = text.strip_prefix("file:") {
            let path = self.relative(path.trim());
            let bytes = read_bounded(&path, MAX_REFERENCED_FILE_BYTES, "the api_key file")?;
            let contents = String::from_utf8(bytes).map_err(|_| ConfigError::Invalid {
                origin: self.origin(key),
                problem: format!("{} is not text", path.display()),
                fix: "put only the key in the file".into(),
            })?;
            let trimmed = contents.trim();
            if trimmed.is_empty() {
                return Err(ConfigError::Invalid {
                    origin: self.origin(key),
                    problem: format!("the key file {} is empty", path.display()),
                    fix: "write the key into the file (chmod 600)".into(),
                });
            }
            trimmed.to_string()
        } else {
            // The value itself is never echoed: it may be the key.
            return Err(ConfigError::Invalid {
                origin: self.origin(key),
                problem: "a literal API key is not allowed in a profile".into(),
                fix: "use \"env:CONTROL_PLANE_API_KEY\" (and export the variable) or \"file:/path/to/key\" (a 0600 file)".into(),
            });
        };
        Ok(Sourced::new(Secret::new(secret), self.origin(key)))
    }

    /// Path keys: a plain path, `env:NAME` (the variable holds the path) or `file:PATH`.
    fn path(
        &self,
        key: &str,
        v: &Value,
        layer: &mut Layer,
    ) -> Result<Sourced<PathBuf>, ConfigError> {
        let text = self.string(key, v)?.value;
        let path = if let Some(name) = text.strip_prefix("env:") {
            PathBuf::from(self.env_reference(key, name.trim(), layer)?)
        } else if let Some(path) = text.strip_prefix("file:") {
            self.relative(path)
        } else {
            self.relative(&text)
        };
        Ok(Sourced::new(path, self.origin(key)))
    }

    fn layer(&self, map: &Map<String, Value>) -> Result<Layer, ConfigError> {
        let mut l = Layer::default();
        for (key, v) in map {
            let k = key.as_str();
            match k {
                "description" => {
                    if !v.is_string() {
                        return Err(self.wrong_type(k, "a string"));
                    }
                }
                "tunnel_id" => l.tunnel_id = Some(self.string(k, v)?),
                "mcp_server_url" => l.mcp_server_url = Some(self.string(k, v)?),
                "mcp_command" => l.mcp_command = Some(self.string(k, v)?),
                "control_plane_url" => l.control_plane_url = Some(self.string(k, v)?),
                "api_key" => l.api_key = Some(self.api_key(v, &mut l)?),
                "ca_bundle_path" => l.ca_bundle = Some(self.path(k, v, &mut l)?),
                "admin_ui_address" => l.admin_address = Some(self.string(k, v)?),
                "admin_ui_enabled" => l.admin_enabled = Some(self.boolean(k, v)?),
                "admin_url_file" => l.admin_url_file = Some(self.path(k, v, &mut l)?),
                "allow_remote_ui" => l.allow_remote_ui = Some(self.boolean(k, v)?),
                "max_concurrent_requests" => l.max_concurrency = Some(self.number(k, v)?),
                "request_timeout_seconds" => l.request_timeout = Some(self.number(k, v)?),
                "poll_timeout_ms" => l.poll_timeout_ms = Some(self.number(k, v)?),
                "poll_interval_ms" => l.poll_interval_ms = Some(self.number(k, v)?),
                "shutdown_grace_seconds" => l.shutdown_grace = Some(self.number(k, v)?),
                "log_level" => l.log_level = Some(self.string(k, v)?),
                "log_format" => l.log_format = Some(self.string(k, v)?),
                "enable_request_timing" => l.enable_request_timing = Some(self.boolean(k, v)?),
                "stdio_mode" => l.stdio_mode = Some(self.string(k, v)?),
                "stdio_hang_seconds" => l.stdio_hang_seconds = Some(self.number(k, v)?),
                "stdio_session_idle_seconds" => {
                    l.stdio_session_idle_seconds = Some(self.number(k, v)?)
                }
                "stdio_max_sessions" => l.stdio_max_sessions = Some(self.number(k, v)?),
                "mcp_env" => {
                    let mut vars = Vec::new();
                    for (name, value) in self.object(k, v)? {
                        let Value::String(value) = value else {
                            return Err(self.wrong_type(&format!("mcp_env.{name}"), "a string"));
                        };
                        vars.push((name.clone(), value.clone()));
                    }
                    l.mcp_env = Some(Sourced::new(vars, self.origin(k)));
                }
                "control_plane_mtls" => {
                    for (sub, sv) in self.object(k, v)? {
                        let full = format!("control_plane_mtls.{sub}");
                        match sub.as_str() {
                            "cert_path" => {
                                l.control_plane_cert = Some(self.path(&full, sv, &mut l)?)
                            }
                            "key_path" => l.control_plane_key = Some(self.path(&full, sv, &mut l)?),
                            _ => {
                                return Err(self.unknown(
                                    "control_plane_mtls.",
                                    sub,
                                    CONTROL_PLANE_MTLS_KEYS,
                                ))
                            }
                        }
                    }
                }
                "mcp_client_mtls" => {
                    for (sub, sv) in self.object(k, v)? {
                        let full = format!("mcp_client_mtls.{sub}");
                        match sub.as_str() {
                            "cert_path" => l.mcp_client_cert = Some(self.path(&full, sv, &mut l)?),
                            "key_path" => l.mcp_client_key = Some(self.path(&full, sv, &mut l)?),
                            "ca_bundle_path" => {
                                l.mcp_ca_bundle = Some(self.path(&full, sv, &mut l)?)
                            }
                            _ => {
                                return Err(self.unknown(
                                    "mcp_client_mtls.",
                                    sub,
                                    MCP_CLIENT_MTLS_KEYS,
                                ))
                            }
                        }
                    }
                }
                "proxy" => {
                    for (sub, sv) in self.object(k, v)? {
                        let full = format!("proxy.{sub}");
                        match sub.as_str() {
                            "https_proxy" => l.https_proxy = Some(self.string(&full, sv)?),
                            "http_proxy" => l.http_proxy = Some(self.string(&full, sv)?),
                            "no_proxy" => l.no_proxy = Some(self.string_list(&full, sv)?),
                            _ => return Err(self.unknown("proxy.", sub, PROXY_KEYS)),
                        }
                    }
                }
                "harpoon" => l.harpoon = Some(self.harpoon(v)?),
                _ => return Err(self.unknown("", k, KEYS)),
            }
        }
        Ok(l)
    }

    /// A list of strings; a comma-separated string is accepted too (like NO_PROXY).
    fn string_list(&self, key: &str, v: &Value) -> Result<Sourced<Vec<String>>, ConfigError> {
        let items = match v {
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => out.push(s.trim().to_string()),
                        _ => return Err(self.wrong_type(key, "a list of strings")),
                    }
                }
                out
            }
            _ => return Err(self.wrong_type(key, "a list of strings")),
        };
        Ok(Sourced::new(items, self.origin(key)))
    }

    fn harpoon(&self, v: &Value) -> Result<Sourced<RawHarpoon>, ConfigError> {
        let mut raw = RawHarpoon {
            enabled: false,
            targets: Vec::new(),
        };
        for (sub, sv) in self.object("harpoon", v)? {
            match sub.as_str() {
                "enabled" => raw.enabled = self.boolean("harpoon.enabled", sv)?.value,
                "targets" => {
                    let Value::Array(items) = sv else {
                        return Err(self.wrong_type("harpoon.targets", "a list of objects"));
                    };
                    for (i, item) in items.iter().enumerate() {
                        raw.targets.push(self.harpoon_target(i, item)?);
                    }
                }
                _ => return Err(self.unknown("harpoon.", sub, HARPOON_KEYS)),
            }
        }
        Ok(Sourced::new(raw, self.origin("harpoon")))
    }

    fn harpoon_target(&self, i: usize, v: &Value) -> Result<RawHarpoonTarget, ConfigError> {
        let prefix = format!("harpoon.targets[{i}].");
        let map = self.object(&format!("harpoon.targets[{i}]"), v)?;
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
                "label" => t.label = self.string(&full, sv)?.value,
                "base_url" => t.base_url = self.string(&full, sv)?.value,
                "allowed_methods" => t.allowed_methods = self.string_list(&full, sv)?.value,
                "max_request_size_bytes" => {
                    t.max_request_size_bytes = Some(self.number(&full, sv)?.value)
                }
                "max_response_size_bytes" => {
                    t.max_response_size_bytes = Some(self.number(&full, sv)?.value)
                }
                "timeout_seconds" => t.timeout_seconds = Some(self.number(&full, sv)?.value),
                _ => return Err(self.unknown(&prefix, sub, HARPOON_TARGET_KEYS)),
            }
        }
        for (name, missing) in [
            ("label", t.label.is_empty()),
            ("base_url", t.base_url.is_empty()),
        ] {
            if missing {
                return Err(ConfigError::Invalid {
                    origin: self.origin(&format!("{prefix}{name}")),
                    problem: "the key is required".into(),
                    fix: "see `tunnel-client profiles samples show sample_harpoon`".into(),
                });
            }
        }
        Ok(t)
    }
}

/// The profiles of a directory: (name, path), sorted by name.
pub fn list(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_json = path.extension().is_some_and(|e| e == "json");
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string);
        if let (true, Some(name)) = (is_json, name) {
            found.push((name, path));
            if found.len() >= MAX_LISTED_PROFILES {
                break;
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tc-profile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn directory_order_and_lookup() {
        let env = Env::from_pairs([
            ("HOME", "/home/u"),
            ("TUNNEL_CLIENT_PROFILE_DIR", "/env/dir"),
        ]);
        assert_eq!(
            user_dir(Some(Path::new("/flag")), &env),
            Some(PathBuf::from("/flag"))
        );
        assert_eq!(user_dir(None, &env), Some(PathBuf::from("/env/dir")));
        let home_only = Env::from_pairs([("HOME", "/home/u")]);
        assert_eq!(
            user_dir(None, &home_only),
            Some(PathBuf::from("/home/u/.tunnel-client/profiles"))
        );
        let dir = temp("find");
        std::fs::write(dir.join("a.json"), "{}").unwrap();
        assert_eq!(find("a", Some(&dir), &env).unwrap(), dir.join("a.json"));
        match find("b", Some(&dir), &env) {
            Err(ConfigError::ProfileNotFound { searched, .. }) => {
                // An explicit directory never falls back to /etc.
                assert_eq!(searched, vec![dir.join("b.json")]);
            }
            other => panic!("{other:?}"),
        }
        assert!(find("../x", Some(&dir), &env).is_err());
        assert_eq!(
            list(&dir).unwrap(),
            vec![("a".to_string(), dir.join("a.json"))]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn references_resolve_and_are_remembered() {
        let dir = temp("refs");
        std::fs::write(dir.join("key"), "  sk-from-file\n").unwrap();
        std::fs::write(
            dir.join("p.json"),
            r#"{"api_key": "file:key", "ca_bundle_path": "env:CA_PATH",
                "control_plane_mtls": {"cert_path": "certs/c.pem", "key_path": "file:/abs/k.pem"},
                "proxy": {"no_proxy": "a, .b"}, "mcp_env": {"X": "1"}}"#,
        )
        .unwrap();
        let env = Env::from_pairs([("CA_PATH", "/etc/ca.pem")]);
        let layer = load(&dir.join("p.json"), &env).unwrap();
        assert_eq!(layer.api_key.unwrap().value.expose(), "sk-from-file");
        assert_eq!(layer.ca_bundle.unwrap().value, PathBuf::from("/etc/ca.pem"));
        assert_eq!(
            layer.control_plane_cert.unwrap().value,
            dir.join("certs/c.pem")
        );
        assert_eq!(
            layer.control_plane_key.unwrap().value,
            PathBuf::from("/abs/k.pem")
        );
        assert_eq!(layer.no_proxy.unwrap().value, vec!["a", ".b"]);
        assert_eq!(layer.mcp_env.unwrap().value, vec![("X".into(), "1".into())]);
        assert_eq!(layer.referenced_env, vec!["CA_PATH".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
