//! Why a configuration was refused: [`ConfigError`], one sentence naming the
//! flag, variable, key or file, then the fix. Never carries a secret.

use super::layer::Origin;
use crate::net::NetError;
use std::fmt;
use std::path::PathBuf;

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

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Network { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// A [`ConfigError::Invalid`] about the value from `origin`.
pub(crate) fn invalid(
    origin: &Origin,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.clone(),
        problem: problem.into(),
        fix: fix.into(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn a_network_error_keeps_its_cause() {
        let error = ConfigError::Network {
            origin: Some(Origin::Flag("--ca-bundle")),
            error: Box::new(NetError::BadProxy {
                problem: "no host".into(),
            }),
        };
        assert_eq!(error.to_string(), "--ca-bundle: proxy setting: no host");
        let source = error.source().expect("the network error");
        assert!(source.is::<NetError>());
        assert_eq!(source.to_string(), "proxy setting: no host");
        let invalid = invalid(&Origin::Flag("--tunnel-id"), "p", "f");
        assert!(invalid.source().is_none());
    }
}
