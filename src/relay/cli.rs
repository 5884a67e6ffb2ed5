//! The `tunnel-relay` command line and environment, turned into a
//! [`RelayConfig`]. Pure parsing: no I/O, never echoes secret values.

use super::{RelayConfig, RelayError, DEFAULT_MAX_QUEUE, DEFAULT_RESPONSE_TIMEOUT};
use crate::secret::Secret;
use std::error::Error;
use std::ffi::OsString;
use std::fmt;
use std::net::{AddrParseError, SocketAddr};
use std::num::ParseIntError;
use std::time::Duration;

/// Environment variable holding the key agents must present.
pub const ENV_AGENT_KEY: &str = "TUNNEL_RELAY_AGENT_KEY";
/// Environment variable holding the token callers must present.
pub const ENV_CALLER_TOKEN: &str = "TUNNEL_RELAY_CALLER_TOKEN";

/// Largest `--response-timeout` accepted (one hour).
const MAX_RESPONSE_TIMEOUT_SECS: u64 = 3600;

/// Largest `--max-queue` accepted per tunnel.
const MAX_MAX_QUEUE: usize = 1_000_000;

pub const USAGE: &str = "\
tunnel-relay: a self-hosted control plane for tunnel-client, with an MCP
Streamable HTTP endpoint for callers.

Usage:
  tunnel-relay --listen ADDR --tunnel-id ID [--tunnel-id ID ...]
               [--response-timeout SECS] [--max-queue N] [--public-url URL]
               [--log-level LEVEL]

Options:
  --listen ADDR             IP:PORT to listen on (port 0 picks a free port)
  --tunnel-id ID            a tunnel to serve (repeatable)
  --response-timeout SECS   how long a caller waits for an answer (default 30)
  --max-queue N             commands queued per tunnel before 503 (default 1024)
  --public-url URL          the relay's address as callers reach it, for OAuth
                            discovery links (default http:// + the listen address)
  --log-level LEVEL         off, error, warn, info, debug or trace (default info)
  -h, --help                print this help
  -V, --version             print the version

Environment:
  TUNNEL_RELAY_AGENT_KEY     key tunnel-client sends as its bearer (required)
  TUNNEL_RELAY_CALLER_TOKEN  bearer MCP callers must send; when unset, caller
                             auth is off and only a loopback ADDR is allowed

Endpoints:
  /v1/tunnels/{id}[/poll|/response]  agent side (tunnel-client's contract)
  /v1/mcp/{id}[/CHANNEL]             caller side (MCP Streamable HTTP); no
                                     CHANNEL is channel main
  /.well-known/oauth-protected-resource/v1/mcp/{id}
                                     the MCP server's OAuth metadata, fetched
                                     by the agent
  /healthz, /metrics                 health and Prometheus metrics
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Action {
    Run(Box<RelayConfig>, log::LevelFilter),
    Help,
    Version,
}

/// A usage or configuration mistake: one sentence saying what and how to fix.
#[derive(Debug)]
pub enum UsageError {
    /// The command line cannot be read (an unknown flag, a stray value).
    Parse(lexopt::Error),
    /// A flag came without its value.
    MissingValue {
        flag: &'static str,
        source: lexopt::Error,
    },
    /// A flag's value is not UTF-8.
    NotUtf8 {
        flag: &'static str,
    },
    /// `--listen` is not an IP:PORT address.
    BadListen {
        text: String,
        source: AddrParseError,
    },
    /// `--response-timeout` is not whole seconds in range (`source` when not a number at all).
    BadResponseTimeout {
        text: String,
        source: Option<ParseIntError>,
    },
    /// `--max-queue` is not a number in range (`source` when not a number at all).
    BadMaxQueue {
        text: String,
        source: Option<ParseIntError>,
    },
    /// `--log-level` names no level.
    BadLogLevel {
        text: String,
        source: log::ParseLevelError,
    },
    MissingListen,
    MissingTunnelId,
    MissingAgentKey,
    /// The settings parse but do not form a usable relay.
    Config(RelayError),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Parse(e) => write!(f, "{e}; see --help"),
            UsageError::MissingValue { flag, .. } => write!(f, "{flag} needs a value; see --help"),
            UsageError::NotUtf8 { flag } => write!(f, "the value of {flag} is not valid UTF-8"),
            UsageError::BadListen { text, .. } => write!(
                f,
                "--listen {text:?} is not an IP:PORT address; use e.g. 127.0.0.1:8080 or [::1]:0"
            ),
            UsageError::BadResponseTimeout { text, .. } => write!(
                f,
                "--response-timeout {text:?} is not a whole number of seconds from 1 to {MAX_RESPONSE_TIMEOUT_SECS}"
            ),
            UsageError::BadMaxQueue { text, .. } => write!(
                f,
                "--max-queue {text:?} is not a number from 1 to {MAX_MAX_QUEUE}"
            ),
            UsageError::BadLogLevel { text, .. } => write!(
                f,
                "--log-level {text:?} is unknown; use off, error, warn, info, debug or trace"
            ),
            UsageError::MissingListen => {
                write!(f, "--listen is required; e.g. --listen 127.0.0.1:0")
            }
            UsageError::MissingTunnelId => write!(
                f,
                "at least one --tunnel-id is required; pass the id tunnel-client is configured with"
            ),
            UsageError::MissingAgentKey => write!(
                f,
                "{ENV_AGENT_KEY} is not set; export it with the API key tunnel-client will send"
            ),
            UsageError::Config(e) => write!(f, "{e}"),
        }
    }
}

impl Error for UsageError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            UsageError::Parse(source) | UsageError::MissingValue { source, .. } => Some(source),
            UsageError::BadListen { source, .. } => Some(source),
            UsageError::BadResponseTimeout {
                source: Some(source),
                ..
            }
            | UsageError::BadMaxQueue {
                source: Some(source),
                ..
            } => Some(source),
            UsageError::BadLogLevel { source, .. } => Some(source),
            UsageError::Config(source) => Some(source),
            UsageError::BadResponseTimeout { source: None, .. }
            | UsageError::BadMaxQueue { source: None, .. }
            | UsageError::NotUtf8 { .. }
            | UsageError::MissingListen
            | UsageError::MissingTunnelId
            | UsageError::MissingAgentKey => None,
        }
    }
}

/// Parses arguments (without the program name) and reads the environment
/// through `env`, so tests need not touch the real environment.
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Action, UsageError> {
    use lexopt::prelude::*;

    let mut listen: Option<SocketAddr> = None;
    let mut tunnel_ids = Vec::new();
    let mut response_timeout = DEFAULT_RESPONSE_TIMEOUT;
    let mut max_queue = DEFAULT_MAX_QUEUE;
    let mut public_url = None;
    let mut log_level = log::LevelFilter::Info;

    let mut parser = lexopt::Parser::from_args(args);
    loop {
        let arg = parser.next().map_err(UsageError::Parse)?;
        let Some(arg) = arg else { break };
        match arg {
            Long("listen") => {
                let text = string_value(&mut parser, "--listen")?;
                let addr = text
                    .parse::<SocketAddr>()
                    .map_err(|source| UsageError::BadListen { text, source })?;
                listen = Some(addr);
            }
            Long("tunnel-id") => tunnel_ids.push(string_value(&mut parser, "--tunnel-id")?),
            Long("response-timeout") => {
                let text = string_value(&mut parser, "--response-timeout")?;
                let secs = match text.parse::<u64>() {
                    Ok(secs) if (1..=MAX_RESPONSE_TIMEOUT_SECS).contains(&secs) => secs,
                    Ok(_) => return Err(UsageError::BadResponseTimeout { text, source: None }),
                    Err(e) => {
                        let source = Some(e);
                        return Err(UsageError::BadResponseTimeout { text, source });
                    }
                };
                response_timeout = Duration::from_secs(secs);
            }
            Long("max-queue") => {
                let text = string_value(&mut parser, "--max-queue")?;
                max_queue = match text.parse::<usize>() {
                    Ok(n) if (1..=MAX_MAX_QUEUE).contains(&n) => n,
                    Ok(_) => return Err(UsageError::BadMaxQueue { text, source: None }),
                    Err(e) => {
                        let source = Some(e);
                        return Err(UsageError::BadMaxQueue { text, source });
                    }
                };
            }
            Long("public-url") => public_url = Some(string_value(&mut parser, "--public-url")?),
            Long("log-level") => {
                let text = string_value(&mut parser, "--log-level")?;
                log_level = text
                    .parse::<log::LevelFilter>()
                    .map_err(|source| UsageError::BadLogLevel { text, source })?;
            }
            Short('h') | Long("help") => return Ok(Action::Help),
            Short('V') | Long("version") => return Ok(Action::Version),
            other => return Err(UsageError::Parse(other.unexpected())),
        }
    }

    let listen = listen.ok_or(UsageError::MissingListen)?;
    if tunnel_ids.is_empty() {
        return Err(UsageError::MissingTunnelId);
    }
    let agent_key = env(ENV_AGENT_KEY)
        .filter(|k| !k.is_empty())
        .ok_or(UsageError::MissingAgentKey)?;
    let caller_token = env(ENV_CALLER_TOKEN)
        .filter(|t| !t.is_empty())
        .map(Secret::new);

    let mut config = RelayConfig::new(listen, tunnel_ids, Secret::new(agent_key));
    config.caller_token = caller_token;
    config.response_timeout = response_timeout;
    config.max_queue = max_queue;
    config.public_url = public_url;
    config.validate().map_err(UsageError::Config)?;
    Ok(Action::Run(Box::new(config), log_level))
}

fn string_value(parser: &mut lexopt::Parser, flag: &'static str) -> Result<String, UsageError> {
    let value = parser
        .value()
        .map_err(|source| UsageError::MissingValue { flag, source })?;
    value
        .into_string()
        .map_err(|_| UsageError::NotUtf8 { flag })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn env_with(
        key: Option<&'static str>,
        token: Option<&'static str>,
    ) -> impl Fn(&str) -> Option<String> {
        move |name| match name {
            ENV_AGENT_KEY => key.map(str::to_string),
            ENV_CALLER_TOKEN => token.map(str::to_string),
            _ => None,
        }
    }

    #[test]
    fn full_command_line() {
        let action = parse(
            args(&[
                "--listen",
                "127.0.0.1:0",
                "--tunnel-id",
                "a",
                "--tunnel-id=b",
                "--response-timeout",
                "5",
                "--max-queue",
                "7",
                "--public-url",
                "https://relay.example.com/",
                "--log-level",
                "debug",
            ]),
            env_with(Some("k"), None),
        )
        .unwrap();
        let Action::Run(config, level) = action else {
            panic!("not run")
        };
        assert_eq!(config.tunnel_ids, vec!["a", "b"]);
        assert_eq!(config.response_timeout, Duration::from_secs(5));
        assert_eq!(config.max_queue, 7);
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://relay.example.com/")
        );
        assert_eq!(level, log::LevelFilter::Debug);
        assert!(config.caller_token.is_none());
    }

    #[test]
    fn mistakes_are_one_sentence_with_a_fix() {
        let env = || env_with(Some("k"), None);
        let cases: &[(&[&str], &str)] = &[
            (&["--tunnel-id", "a"], "--listen is required"),
            (&["--listen", "127.0.0.1:0"], "--tunnel-id is required"),
            (
                &["--listen", "localhost", "--tunnel-id", "a"],
                "not an IP:PORT",
            ),
            (
                &[
                    "--listen",
                    "127.0.0.1:0",
                    "--tunnel-id",
                    "a",
                    "--max-queue",
                    "0",
                ],
                "--max-queue",
            ),
            (
                &[
                    "--listen",
                    "127.0.0.1:0",
                    "--tunnel-id",
                    "a",
                    "--response-timeout",
                    "1.5",
                ],
                "--response-timeout",
            ),
            (
                &["--listen", "127.0.0.1:0", "--tunnel-id", "a", "--bogus"],
                "see --help",
            ),
            (
                &["--listen", "127.0.0.1:0", "--tunnel-id", "a/b"],
                "not usable in a URL",
            ),
            (
                &[
                    "--listen",
                    "127.0.0.1:0",
                    "--tunnel-id",
                    "a",
                    "--public-url",
                    "ftp://relay",
                ],
                "--public-url",
            ),
        ];
        for (argv, want) in cases {
            let err = parse(args(argv), env()).unwrap_err();
            assert!(err.to_string().contains(want), "{argv:?}: {err}");
        }
        let err = parse(
            args(&["--listen", "127.0.0.1:0", "--tunnel-id", "a"]),
            env_with(None, None),
        )
        .unwrap_err();
        assert!(err.to_string().contains(ENV_AGENT_KEY));
        assert!(matches!(err, UsageError::MissingAgentKey));
    }

    #[test]
    fn usage_errors_keep_their_cause() {
        let parse_with = |extra: &[&str]| {
            let mut argv = vec!["--listen", "127.0.0.1:0", "--tunnel-id", "a"];
            argv.extend_from_slice(extra);
            parse(args(&argv), env_with(Some("k"), None)).unwrap_err()
        };
        let err = parse(
            args(&["--listen", "localhost", "--tunnel-id", "a"]),
            env_with(Some("k"), None),
        )
        .unwrap_err();
        assert!(err
            .source()
            .is_some_and(|c| c.downcast_ref::<AddrParseError>().is_some()));
        let err = parse_with(&["--log-level", "loud"]);
        assert!(err
            .source()
            .is_some_and(|c| c.downcast_ref::<log::ParseLevelError>().is_some()));
        let err = parse_with(&["--max-queue", "many"]);
        assert!(err
            .source()
            .is_some_and(|c| c.downcast_ref::<ParseIntError>().is_some()));
        let out_of_range = parse_with(&["--max-queue", "0"]);
        assert!(out_of_range.source().is_none(), "{out_of_range:?}");
        let err = parse_with(&["--bogus"]);
        assert!(err
            .source()
            .is_some_and(|c| c.downcast_ref::<lexopt::Error>().is_some()));
        let err = parse_with(&["--max-queue"]);
        assert_eq!(err.to_string(), "--max-queue needs a value; see --help");
        assert!(err.source().is_some());
    }

    #[test]
    fn public_urls_are_plain_and_never_echoed() {
        let parse_url = |url: &str| {
            parse(
                args(&[
                    "--listen",
                    "127.0.0.1:0",
                    "--tunnel-id",
                    "a",
                    "--public-url",
                    url,
                ]),
                env_with(Some("k"), None),
            )
        };
        for good in [
            "http://127.0.0.1:9000",
            "https://relay.example.com/prefix",
            "https://[::1]:8443/",
        ] {
            assert!(matches!(parse_url(good), Ok(Action::Run(..))), "{good}");
        }
        for bad in [
            "relay.example.com",
            "https://",
            "https:///path",
            "https://user:hunter2@relay.example.com",
            "https://relay/?a=1",
            "https://relay/#x",
            "https://relay/a b",
            "https://relay/\"x",
        ] {
            let err = parse_url(bad).unwrap_err();
            assert!(err.to_string().contains("--public-url"), "{bad}: {err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn caller_auth_off_needs_loopback() {
        let argv = args(&["--listen", "0.0.0.0:0", "--tunnel-id", "a"]);
        let err = parse(argv.clone(), env_with(Some("k"), None)).unwrap_err();
        assert!(
            err.to_string().contains("TUNNEL_RELAY_CALLER_TOKEN"),
            "{err}"
        );
        let cause = err.source().and_then(|c| c.downcast_ref::<RelayError>());
        assert!(
            matches!(cause, Some(RelayError::CallerAuthRequired { .. })),
            "{err:?}"
        );
        assert!(matches!(
            parse(argv, env_with(Some("k"), Some("t"))),
            Ok(Action::Run(..))
        ));
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(
            parse(args(&["--help"]), env_with(None, None)),
            Ok(Action::Help)
        ));
        assert!(matches!(
            parse(args(&["-V"]), env_with(None, None)),
            Ok(Action::Version)
        ));
    }
}
