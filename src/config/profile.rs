//! A profile file (JSON) read into a [`Layer`], key by key as the settings
//! table spells them. Never accepts a literal secret, never ignores an unknown key.

use super::error::{io_problem, ConfigError};
use super::layer::{Env, Layer, Origin, Sourced};
use super::settings::{Kind, ProxyPart, Setting, Split, SETTINGS};
use super::suggest::closest;
use crate::secret::Secret;
use serde_json::{Map, Value};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest profile file read; real ones are under 4 KiB.
pub const MAX_PROFILE_BYTES: u64 = 1024 * 1024;
/// Largest file a `file:` reference may name (a key, a path).
pub const MAX_REFERENCED_FILE_BYTES: u64 = 64 * 1024;

/// Reads a file of at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, ConfigError> {
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
    parse(&bytes, path, env)
}

/// Checks the bytes of a profile (`path` names it in errors and anchors
/// `file:` references) into a [`Layer`].
pub fn parse(bytes: &[u8], path: &Path, env: &Env) -> Result<Layer, ConfigError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
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
    read(SETTINGS, path, &map, env)
}

/// The keys of a profile's top-level object, as `rows` spell them.
pub(crate) fn read(
    rows: &[Setting],
    file: &Path,
    map: &Map<String, Value>,
    env: &Env,
) -> Result<Layer, ConfigError> {
    let reader = Reader { file, env };
    let mut layer = Layer::default();
    reader.section(rows, "", map, &mut layer)?;
    Ok(layer)
}

/// The names one level below `prefix` (`""` for the top level), in table
/// order: what an unknown key is compared with.
fn names_under(rows: &[Setting], prefix: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for row in rows {
        let Some(rest) = row.key.strip_prefix(prefix) else {
            continue;
        };
        let name = rest.split('.').next().unwrap_or(rest);
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// One profile being read; knows its file for error messages and `file:` paths.
pub struct Reader<'a> {
    file: &'a Path,
    env: &'a Env,
}

impl Reader<'_> {
    /// The keys of one object at `prefix` (`""`, `proxy.`): a setting, a
    /// nested object of settings, or an error naming the key.
    fn section(
        &self,
        rows: &[Setting],
        prefix: &str,
        map: &Map<String, Value>,
        layer: &mut Layer,
    ) -> Result<(), ConfigError> {
        for (name, value) in map {
            let key = format!("{prefix}{name}");
            if let Some(row) = rows.iter().find(|row| row.key == key) {
                self.setting(row, &key, value, layer)?;
                continue;
            }
            let inner = format!("{key}.");
            if rows.iter().any(|row| row.key.starts_with(&inner)) {
                self.section(rows, &inner, self.object(&key, value)?, layer)?;
                continue;
            }
            return Err(self.unknown(prefix, name, &names_under(rows, prefix)));
        }
        Ok(())
    }

    /// One setting's value, read as its [`Kind`] says.
    fn setting(
        &self,
        row: &Setting,
        key: &str,
        v: &Value,
        layer: &mut Layer,
    ) -> Result<(), ConfigError> {
        match row.kind {
            Kind::Command => return Err(self.unknown("", key, &[])),
            Kind::Comment => {
                if !v.is_string() {
                    return Err(self.wrong_type(key, "a string"));
                }
            }
            Kind::Text(slot) => *slot(layer) = Some(self.string(key, v)?),
            Kind::Number(slot) => *slot(layer) = Some(self.number(key, v)?),
            Kind::Path(slot) => *slot(layer) = Some(self.path(key, v, layer)?),
            Kind::Switch(slot) => *slot(layer) = Some(self.boolean(key, v)?),
            Kind::Bool(slot) => {
                let on = self.boolean(key, v)?;
                *slot(layer) = Some(Sourced::new(on.value.to_string(), on.origin))
            }
            Kind::Secret(slot) => *slot(layer) = Some(self.secret(row, key, v, layer)?),
            Kind::List { slot, split } => *slot(layer) = Some(self.string_list(key, v, split)?),
            Kind::Pairs { slot, .. } => *slot(layer) = Some(self.pairs(key, v)?),
            Kind::Proxy(ProxyPart::Https) => layer.https_proxy = Some(self.string(key, v)?),
            Kind::Proxy(ProxyPart::Http) => layer.http_proxy = Some(self.string(key, v)?),
            Kind::Proxy(ProxyPart::NoProxy) => {
                layer.no_proxy = Some(self.string_list(key, v, Split::Comma)?)
            }
            Kind::Custom(custom) => match custom.json {
                Some(read) => read(self, key, v, layer)?,
                None => return Err(self.unknown("", key, &[])),
            },
        }
        Ok(())
    }

    pub fn origin(&self, key: &str) -> Origin {
        Origin::Profile {
            key: key.to_string(),
            file: self.file.to_path_buf(),
        }
    }

    pub fn wrong_type(&self, key: &str, expected: &str) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin(key),
            problem: format!("the value must be {expected}"),
            fix: "see `tunnel-client profiles samples show sample_mcp_http` for the format".into(),
        }
    }

    /// An unknown `key` under `prefix`, with the closest of `known`.
    pub fn unknown(&self, prefix: &str, key: &str, known: &[&str]) -> ConfigError {
        ConfigError::UnknownKey {
            file: self.file.to_path_buf(),
            key: format!("{prefix}{key}"),
            suggestion: closest(key, known).map(|s| format!("{prefix}{s}")),
        }
    }

    pub fn string(&self, key: &str, v: &Value) -> Result<Sourced<String>, ConfigError> {
        match v {
            Value::String(s) if !s.is_empty() => Ok(Sourced::new(s.clone(), self.origin(key))),
            _ => Err(self.wrong_type(key, "a non-empty string")),
        }
    }

    pub fn boolean(&self, key: &str, v: &Value) -> Result<Sourced<bool>, ConfigError> {
        match v {
            Value::Bool(b) => Ok(Sourced::new(*b, self.origin(key))),
            _ => Err(self.wrong_type(key, "true or false")),
        }
    }

    /// A JSON number kept as text; range checks happen in `config::resolve`.
    pub fn number(&self, key: &str, v: &Value) -> Result<Sourced<String>, ConfigError> {
        match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                Ok(Sourced::new(n.to_string(), self.origin(key)))
            }
            _ => Err(self.wrong_type(key, "a whole number (without quotes)")),
        }
    }

    pub fn object<'v>(
        &self,
        key: &str,
        v: &'v Value,
    ) -> Result<&'v Map<String, Value>, ConfigError> {
        v.as_object()
            .ok_or_else(|| self.wrong_type(key, "a JSON object"))
    }

    /// A list of strings; one string is accepted too, split like the
    /// setting's variable (`"a, .b"` for NO_PROXY).
    pub fn string_list(
        &self,
        key: &str,
        v: &Value,
        split: Split,
    ) -> Result<Sourced<Vec<String>>, ConfigError> {
        let items = match v {
            Value::String(s) => split.entries(s),
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

    /// An object of strings (`mcp_env`), in the file's order.
    pub fn pairs(
        &self,
        key: &str,
        v: &Value,
    ) -> Result<Sourced<Vec<(String, String)>>, ConfigError> {
        let mut pairs = Vec::new();
        for (name, value) in self.object(key, v)? {
            let Value::String(value) = value else {
                return Err(self.wrong_type(&format!("{key}.{name}"), "a string"));
            };
            pairs.push((name.clone(), value.clone()));
        }
        Ok(Sourced::new(pairs, self.origin(key)))
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

    /// A secret (`api_key`): only `env:NAME` or `file:PATH` (contents trimmed).
    fn secret(
        &self,
        row: &Setting,
        key: &str,
        v: &Value,
        layer: &mut Layer,
    ) -> Result<Sourced<Secret>, ConfigError> {
        let Value::String(text) = v else {
            return Err(self.wrong_type(key, "\"env:NAME\" or \"file:/path\""));
        };
        let secret = if let Some(name) = text.strip_prefix("env:") {
            self.env_reference(key, name.trim(), layer)?
        } else if let Some(path) = text.strip_prefix("file:") {
            let path = self.relative(path.trim());
            let what = format!("the {key} file");
            let bytes = read_bounded(&path, MAX_REFERENCED_FILE_BYTES, &what)?;
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
            let var = row.env.first().copied().unwrap_or("NAME");
            return Err(ConfigError::Invalid {
                origin: self.origin(key),
                problem: "a literal API key is not allowed in a profile".into(),
                fix: format!("use \"env:{var}\" (and export the variable) or \"file:/path/to/key\" (a 0600 file)"),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tc-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Every number a profile can hold is range-checked where it is read:
    /// past the integer limits, fractional, negative or a string, each is a
    /// clear error naming its key, never a panic or a wrapped value.
    #[test]
    fn profile_numbers_past_the_integer_limits_are_errors_naming_the_key() {
        use crate::config::settings::{Kind, SETTINGS};
        let env = Env::from_pairs([("TOKEN", "sk-x")]);
        let path = Path::new("/nonexistent/p.json");
        let numbers: Vec<&str> = SETTINGS
            .iter()
            .filter(|row| matches!(row.kind, Kind::Number(_)) && !row.key.is_empty())
            .map(|row| row.key)
            .collect();
        assert!(numbers.len() >= 5, "{numbers:?}");
        for key in numbers {
            for value in [
                "18446744073709551616",
                "18446744073709551615",
                "-9223372036854775809",
                "-1",
                "1.5",
                "1e400",
                "\"12\"",
                "[1]",
            ] {
                let (outer, inner) = match key.split_once('.') {
                    Some((outer, inner)) => (outer, Some(inner)),
                    None => (key, None),
                };
                let field = match inner {
                    Some(inner) => format!(r#""{outer}": {{"{inner}": {value}}}"#),
                    None => format!(r#""{key}": {value}"#),
                };
                let text = format!(
                    r#"{{"tunnel_id": "{ID3}", "api_key": "env:TOKEN", "mcp_command": "x", {field}}}"#,
                    ID3 = crate::config::testing::ID3
                );
                let layer = parse(text.as_bytes(), path, &env);
                let error = match layer {
                    Err(e) => e,
                    Ok(layer) => {
                        let empty = Layer::default();
                        crate::config::resolve(&crate::config::Layers {
                            flags: &empty,
                            env: &empty,
                            profile: &layer,
                            vars: &env,
                        })
                        .expect_err(&format!("{key} = {value} was accepted"))
                    }
                };
                let text = error.to_string();
                let names_it = text.contains(key) || text.contains(outer) || value == "1e400";
                assert!(names_it, "{key} = {value}: {text}");
            }
        }
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
