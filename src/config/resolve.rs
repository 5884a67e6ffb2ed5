//! Precedence and validation: flags > environment > profile > defaults, per
//! setting, into one [`Config`]. The only place a raw value is judged; never echoes a secret.

use super::channels;
use super::error::{invalid, ConfigError};
use super::harpoon::harpoon_config;
use super::headers::{resolve_set, HeaderUse};
use super::layer::{Layers, Sourced};
use super::net::net_config;
use super::url::{check_url, UrlUse};
use super::*;
use std::net::SocketAddr;
use std::time::Duration;

/// Applies flags > environment > profile > defaults and validates everything.
pub fn resolve(layers: &Layers<'_>) -> Result<Config, ConfigError> {
    let tunnel_id = tunnel_id(layers.pick(|l| &l.tunnel_id))?;
    let control_plane_url = control_plane_url(layers.pick(|l| &l.control_plane_url))?;
    let api_key = match layers.pick(|l| &l.api_key) {
        Some(key) if key.value.is_empty() => {
            return Err(invalid(
                &key.origin,
                "the API key is empty",
                "put the key in the variable or file it names",
            ))
        }
        Some(key) => key.value,
        None => {
            return Err(ConfigError::Missing {
                setting: "control-plane API key",
                fix: "set CONTROL_PLANE_API_KEY (or OPENAI_API_KEY), or add \"api_key\": \"env:NAME\" or \"file:/path\" to the profile",
            })
        }
    };
    let net = net_config(layers)?;
    let admin = admin_config(layers)?;

    let max_concurrency = number(
        layers.pick(|l| &l.max_concurrency),
        1,
        MAX_MAX_CONCURRENCY,
        DEFAULT_MAX_CONCURRENCY as u64,
    )? as usize;
    let request_timeout = Duration::from_secs(number(
        layers.pick(|l| &l.request_timeout),
        1,
        MAX_REQUEST_TIMEOUT_SECS,
        DEFAULT_REQUEST_TIMEOUT.as_secs(),
    )?);
    let poll_timeout = Duration::from_millis(number(
        layers.pick(|l| &l.poll_timeout_ms),
        1,
        MAX_POLL_TIMEOUT_MS,
        DEFAULT_POLL_TIMEOUT.as_millis() as u64,
    )?);
    let poll_interval = Duration::from_millis(number(
        layers.pick(|l| &l.poll_interval_ms),
        1,
        MAX_POLL_INTERVAL_MS,
        DEFAULT_POLL_INTERVAL.as_millis() as u64,
    )?);
    let shutdown_grace = Duration::from_secs(number(
        layers.pick(|l| &l.shutdown_grace),
        0,
        MAX_SHUTDOWN_GRACE_SECS,
        DEFAULT_SHUTDOWN_GRACE.as_secs(),
    )?);
    let log_level = log_level(layers.pick(|l| &l.log_level))?;
    let log_format = match layers.pick(|l| &l.log_format) {
        None => LogFormat::Text,
        Some(s) => match s.value.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(invalid(
                    &s.origin,
                    format!("\"{}\" is not a log format", s.value),
                    "use text or json",
                ))
            }
        },
    };
    let enable_request_timing = layers
        .pick(|l| &l.enable_request_timing)
        .is_some_and(|s| s.value);
    let mut stdio = stdio_config(layers)?;
    let organization_id = organization_id(layers.pick(|l| &l.organization_id))?;
    let mut referenced_env = Vec::new();
    let control_plane_headers = header_set(
        layers,
        |l| &l.control_plane_extra_headers,
        HeaderUse::ControlPlane,
        &mut referenced_env,
    )?;
    let mcp_headers = header_set(
        layers,
        |l| &l.mcp_extra_headers,
        HeaderUse::Mcp,
        &mut referenced_env,
    )?;
    let mcp_discovery_headers = header_set(
        layers,
        |l| &l.mcp_discovery_extra_headers,
        HeaderUse::Discovery,
        &mut referenced_env,
    )?;
    let (harpoon, unserved_harpoon_targets) = harpoon_config(layers, &net, &mut referenced_env)?;
    let bindings = channels::bindings(
        layers,
        channels::Context {
            mcp_env: &stdio.extra_env,
            mcp_headers: &mcp_headers,
            harpoon_targets: harpoon.has_targets(),
            vars: layers.vars,
            referenced_env: &mut referenced_env,
        },
    )?;
    // A variable an `env:` header value names is a secret: no child sees it.
    for name in referenced_env {
        if !stdio.removed_env.contains(&name) {
            stdio.removed_env.push(name);
        }
    }
    let mcp_startup_wait = startup_wait(layers.pick(|l| &l.mcp_startup_wait))?;
    // Without a configured target, only OAuth discovery (an enabled HTTP
    // `main`) can give the channel one, and only while a declaration slot is
    // left; otherwise it is not built at all.
    let http_main = bindings
        .enabled
        .iter()
        .any(|b| b.channel == crate::contract::MAIN_CHANNEL && b.is_http());
    let slot_left = bindings.enabled.len() < channels::MAX_DECLARED_CHANNELS;
    let harpoon = (harpoon.has_targets() || (http_main && slot_left)).then_some(harpoon);

    Ok(Config {
        tunnel_id,
        control_plane_url,
        api_key,
        organization_id,
        control_plane_headers,
        bindings: bindings.enabled,
        disabled_channels: bindings.disabled,
        poll_channels: bindings.poll_channels,
        mcp_discovery_headers,
        mcp_startup_wait,
        net,
        admin,
        pid_file: layers.pick(|l| &l.pid_file).map(|s| s.value),
        max_concurrency,
        request_timeout,
        poll_timeout,
        poll_interval,
        shutdown_grace,
        log_level,
        log_format,
        enable_request_timing,
        stdio,
        harpoon,
        unserved_harpoon_targets,
    })
}

fn tunnel_id(value: Option<Sourced<String>>) -> Result<String, ConfigError> {
    let Some(id) = value else {
        return Err(ConfigError::Missing {
            setting: "tunnel id",
            fix: "pass --tunnel-id ID, set CONTROL_PLANE_TUNNEL_ID, or use a profile with \"tunnel_id\"",
        });
    };
    if crate::contract::is_valid_tunnel_id(&id.value) {
        return Ok(id.value);
    }
    // The value is not echoed: a pasted API key must not end up in a terminal log.
    Err(invalid(
        &id.origin,
        format!(
            "the value ({} characters) is not a tunnel id",
            id.value.chars().count()
        ),
        "a tunnel id is `tunnel_` followed by 32 lowercase letters or digits; copy it from the tunnel's settings",
    ))
}

/// Trimmed; empty means unset. Never echoed (a header value).
fn organization_id(value: Option<Sourced<String>>) -> Result<Option<String>, ConfigError> {
    let Some(id) = value else { return Ok(None) };
    let trimmed = id.value.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(
            &id.origin,
            "the organization id contains a control character",
            "give the id as one line of text (org-...)",
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

/// One extra header set after precedence, values resolved.
fn header_set(
    layers: &Layers<'_>,
    field: impl Fn(&Layer) -> &Option<Sourced<Vec<(String, String)>>>,
    usage: HeaderUse,
    referenced_env: &mut Vec<String>,
) -> Result<HeaderSet, ConfigError> {
    let Some(raw) = layers.pick(field) else {
        return Ok(HeaderSet::default());
    };
    let resolved = resolve_set(&raw, usage, layers.vars)?;
    for name in resolved.referenced_env {
        if !referenced_env.contains(&name) {
            referenced_env.push(name);
        }
    }
    Ok(resolved.set)
}

/// `--mcp-startup-wait`: `60s`, `500ms`, `2m` (the `response_timeout` units)
/// or whole seconds; a profile gives whole seconds.
fn startup_wait(value: Option<Sourced<String>>) -> Result<Duration, ConfigError> {
    let Some(v) = value else {
        return Ok(Duration::ZERO);
    };
    let text = v.value.trim();
    let parsed = match text.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs)),
        Err(_) => crate::contract::timeout::parse_duration(text),
    };
    match parsed {
        Some(d) if d <= Duration::from_secs(MAX_MCP_STARTUP_WAIT_SECS) => Ok(d),
        Some(_) => Err(invalid(
            &v.origin,
            format!("\"{text}\" is longer than {MAX_MCP_STARTUP_WAIT_SECS} seconds"),
            "use a shorter wait",
        )),
        None => Err(invalid(
            &v.origin,
            format!("\"{text}\" is not a duration"),
            "use whole seconds or a number with a unit: 500ms, 60s, 2m",
        )),
    }
}

fn control_plane_url(value: Option<Sourced<String>>) -> Result<String, ConfigError> {
    let Some(url) = value else {
        return Ok(DEFAULT_CONTROL_PLANE_URL.to_string());
    };
    check_url(&url.origin, &url.value, UrlUse::ControlPlane)?;
    let (scheme, rest) = url.value.split_once("://").unwrap_or(("https", &url.value));
    Ok(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        rest.trim_end_matches('/')
    ))
}

/// A whole number in `min..=max`, or the default when unset.
pub(crate) fn number(
    value: Option<Sourced<String>>,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, ConfigError> {
    let Some(v) = value else {
        return Ok(default);
    };
    let text = v.value.trim();
    let fix = if min == 0 {
        format!("use a whole number from 0 to {max}")
    } else {
        format!("use a whole number from {min} to {max}")
    };
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(invalid(&v.origin, format!("{n} is out of range"), fix)),
        Err(_) if text.starts_with('-') => {
            Err(invalid(&v.origin, format!("{text} is negative"), fix))
        }
        Err(_) => Err(invalid(
            &v.origin,
            format!("\"{text}\" is not a whole number"),
            fix,
        )),
    }
}

/// A level word, or env_logger directives (`warn,tunnel=debug`) as RUST_LOG takes.
fn log_level(value: Option<Sourced<String>>) -> Result<String, ConfigError> {
    let Some(v) = value else {
        return Ok("info".to_string());
    };
    let text = v.value.trim().to_ascii_lowercase();
    let is_target = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '-')
    };
    let ok = !text.is_empty()
        && text
            .split(',')
            .all(|directive| match directive.split_once('=') {
                Some((target, level)) => is_target(target) && LOG_LEVELS.contains(&level),
                None => LOG_LEVELS.contains(&directive),
            });
    if ok {
        Ok(text)
    } else {
        Err(invalid(
            &v.origin,
            format!("\"{}\" is not a log level", v.value),
            "use off, error, warn, info, debug or trace (or target=level directives)",
        ))
    }
}

fn admin_config(layers: &Layers<'_>) -> Result<AdminConfig, ConfigError> {
    let address = layers.pick(|l| &l.admin_address);
    let enabled = layers.pick(|l| &l.admin_enabled);
    let address = match (address, enabled) {
        (Some(a), _) if a.value == "off" => None,
        (_, Some(e)) if !e.value => None,
        (Some(a), _) => {
            check_socket_address(&a)?;
            Some(a.value)
        }
        (None, _) => Some(DEFAULT_ADMIN_ADDRESS.to_string()),
    };
    Ok(AdminConfig {
        address,
        url_file: layers.pick(|l| &l.admin_url_file).map(|s| s.value),
        allow_remote_ui: layers.pick(|l| &l.allow_remote_ui).is_some_and(|s| s.value),
    })
}

fn check_socket_address(a: &Sourced<String>) -> Result<(), ConfigError> {
    if a.value.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    if let Some((host, port)) = a.value.rsplit_once(':') {
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if host_ok && port.parse::<u16>().is_ok() {
            return Ok(());
        }
    }
    Err(invalid(
        &a.origin,
        format!("\"{}\" is not an address", a.value),
        "use HOST:PORT such as 127.0.0.1:8090 (port 0 picks a free port), or off",
    ))
}

fn stdio_config(layers: &Layers<'_>) -> Result<StdioConfig, ConfigError> {
    let mut stdio = StdioConfig::default();
    if let Some(env) = layers.pick(|l| &l.mcp_env) {
        channels::check_env_vars(&env.origin, &env.value)?;
        stdio.extra_env = env.value;
    }
    for layer in [layers.flags, layers.env, layers.profile] {
        for name in &layer.referenced_env {
            if !stdio.removed_env.contains(name) {
                stdio.removed_env.push(name.clone());
            }
        }
    }
    if let Some(mode) = layers.pick(|l| &l.stdio_mode) {
        stdio.mode = match mode.value.as_str() {
            "shared" => StdioMode::Shared,
            "per_session" => StdioMode::PerSession,
            other => {
                return Err(invalid(
                    &mode.origin,
                    format!("\"{other}\" is not a stdio mode"),
                    "use \"shared\" or \"per_session\"",
                ))
            }
        };
    }
    stdio.hang_after = Duration::from_secs(number(
        layers.pick(|l| &l.stdio_hang_seconds),
        1,
        MAX_STDIO_HANG_SECS,
        DEFAULT_STDIO_HANG.as_secs(),
    )?);
    stdio.session_idle = Duration::from_secs(number(
        layers.pick(|l| &l.stdio_session_idle_seconds),
        1,
        MAX_STDIO_SESSION_IDLE_SECS,
        DEFAULT_STDIO_SESSION_IDLE.as_secs(),
    )?);
    stdio.max_sessions = number(
        layers.pick(|l| &l.stdio_max_sessions),
        1,
        MAX_STDIO_MAX_SESSIONS,
        DEFAULT_STDIO_MAX_SESSIONS as u64,
    )? as usize;
    Ok(stdio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::channels::RawServer;
    use crate::config::testing::*;

    #[test]
    fn precedence_table() {
        // (setting, flag value, env (name, value), profile value, expected)
        type Case = (
            &'static str,
            Option<&'static str>,
            Option<(&'static str, &'static str)>,
            Option<&'static str>,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                "tunnel_id",
                Some(ID),
                Some(("CONTROL_PLANE_TUNNEL_ID", ID2)),
                Some(ID3),
                ID,
            ),
            (
                "tunnel_id",
                None,
                Some(("CONTROL_PLANE_TUNNEL_ID", ID2)),
                Some(ID3),
                ID2,
            ),
            ("tunnel_id", None, None, Some(ID3), ID3),
            (
                "control_plane_url",
                Some("https://f.example/"),
                Some(("CONTROL_PLANE_URL", "https://e.example")),
                Some("https://p.example"),
                "https://f.example",
            ),
            (
                "control_plane_url",
                None,
                Some(("CONTROL_PLANE_URL", "https://e.example")),
                Some("https://p.example"),
                "https://e.example",
            ),
            (
                "control_plane_url",
                None,
                None,
                Some("https://p.example/prefix/"),
                "https://p.example/prefix",
            ),
            (
                "control_plane_url",
                None,
                None,
                None,
                DEFAULT_CONTROL_PLANE_URL,
            ),
            (
                "log_level",
                Some("debug"),
                Some(("RUST_LOG", "warn")),
                Some("error"),
                "debug",
            ),
            (
                "log_level",
                None,
                Some(("RUST_LOG", "warn,tunnel=trace")),
                Some("error"),
                "warn,tunnel=trace",
            ),
            ("log_level", None, None, Some("error"), "error"),
            ("log_level", None, None, None, "info"),
            ("max_concurrency", Some("3"), None, Some("7"), "3"),
            ("max_concurrency", None, None, Some("7"), "7"),
            ("max_concurrency", None, None, None, "10"),
            (
                "https_proxy",
                None,
                Some(("HTTPS_PROXY", "http://e:1")),
                Some("http://p:2"),
                "http://p:2",
            ),
            (
                "https_proxy",
                None,
                Some(("https_proxy", "e:3")),
                None,
                "http://e:3",
            ),
            ("https_proxy", None, None, Some("http://p:2"), "http://p:2"),
            (
                "mcp",
                Some("https://f.example/mcp"),
                Some(("MCP_COMMAND", "env-cmd")),
                Some("profile-cmd"),
                "https://f.example/mcp",
            ),
            (
                "mcp",
                None,
                Some(("MCP_COMMAND", "env-cmd")),
                Some("profile-cmd"),
                "env-cmd",
            ),
            ("mcp", None, None, Some("profile-cmd"), "profile-cmd"),
            (
                "api_key",
                None,
                Some(("CONTROL_PLANE_API_KEY", "sk-env")),
                Some("sk-profile"),
                "sk-env",
            ),
            (
                "api_key",
                None,
                Some(("OPENAI_API_KEY", "sk-openai")),
                Some("sk-profile"),
                "sk-openai",
            ),
            ("api_key", None, None, Some("sk-profile"), "sk-profile"),
        ];
        for (i, (setting, f, e, p, expected)) in cases.iter().enumerate() {
            let mut flags = Layer::default();
            let mut profile = base_profile();
            let env = Env::from_pairs(e.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            match *setting {
                "tunnel_id" => {
                    flags.tunnel_id = f.and_then(|v| s(v, flag("--tunnel-id")));
                    profile.tunnel_id = p.and_then(|v| s(v, prof("tunnel_id")));
                }
                "control_plane_url" => {
                    flags.control_plane_url = f.and_then(|v| s(v, flag("--control-plane-url")));
                    profile.control_plane_url = p.and_then(|v| s(v, prof("control_plane_url")));
                }
                "log_level" => {
                    flags.log_level = f.and_then(|v| s(v, flag("--log-level")));
                    profile.log_level = p.and_then(|v| s(v, prof("log_level")));
                }
                "max_concurrency" => {
                    flags.max_concurrency = f.and_then(|v| s(v, flag("--max-concurrency")));
                    profile.max_concurrency = p.and_then(|v| s(v, prof("max_concurrent_requests")));
                }
                "https_proxy" => {
                    profile.https_proxy = p.and_then(|v| s(v, prof("proxy.https_proxy")));
                }
                "mcp" => {
                    flags.mcp_server_url = f.and_then(|v| list(&[v], flag("--mcp-server-url")));
                    profile.mcp_command = p.and_then(|v| list(&[v], prof("mcp_command")));
                }
                "api_key" => {
                    profile.api_key = p.map(|v| Sourced::new(Secret::new(v), prof("api_key")));
                }
                _ => unreachable!(),
            }
            let c =
                resolve3(&flags, &env, &profile).unwrap_or_else(|err| panic!("case {i}: {err}"));
            let got = match *setting {
                "tunnel_id" => c.tunnel_id.clone(),
                "control_plane_url" => c.control_plane_url.clone(),
                "log_level" => c.log_level.clone(),
                "max_concurrency" => c.max_concurrency.to_string(),
                "https_proxy" => c.net.proxy.https_proxy.clone().unwrap_or_default(),
                "mcp" => match &c.bindings[0].target {
                    McpTarget::Http { url } => url.clone(),
                    McpTarget::Stdio { argv } => argv.join(" "),
                },
                "api_key" => c.api_key.expose().to_string(),
                _ => unreachable!(),
            };
            assert_eq!(&got, expected, "case {i} ({setting})");
        }
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = resolve3(&Layer::default(), &Env::default(), &base_profile()).unwrap();
        assert_eq!(c.max_concurrency, 10);
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.poll_timeout, Duration::from_millis(30_000));
        assert_eq!(c.poll_interval, Duration::from_millis(1_000));
        assert_eq!(c.shutdown_grace, Duration::from_secs(25));
        assert_eq!(c.admin.address.as_deref(), Some("127.0.0.1:8090"));
        assert!(!c.admin.allow_remote_ui);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.stdio, StdioConfig::default());
        assert!(c.harpoon.is_none());
        assert_eq!(c.bindings.len(), 1);
        assert_eq!(c.bindings[0].channel, "main");
        assert_eq!(
            c.bindings[0].target,
            McpTarget::Stdio {
                argv: vec!["tunnel-client".into(), "dev".into(), "mcp-stub".into()]
            }
        );
        assert_eq!(c.poll_channels, None);
        assert_eq!(c.organization_id, None);
        assert!(c.control_plane_headers.is_empty());
        assert_eq!(c.mcp_startup_wait, Duration::ZERO);
    }

    #[test]
    fn admin_flag_beats_profile_switch() {
        let mut profile = base_profile();
        profile.admin_enabled = Some(Sourced::new(false, prof("admin_ui_enabled")));
        let c = resolve3(&Layer::default(), &Env::default(), &profile).unwrap();
        assert_eq!(c.admin.address, None);
        let flags = Layer {
            admin_address: s("127.0.0.1:0", flag("--admin-address")),
            admin_enabled: Some(Sourced::new(true, flag("--admin-address"))),
            ..Layer::default()
        };
        let c = resolve3(&flags, &Env::default(), &profile).unwrap();
        assert_eq!(c.admin.address.as_deref(), Some("127.0.0.1:0"));
    }

    fn flags_only(flags: Layer) -> Result<Config, String> {
        resolve3(&flags, &Env::default(), &base_profile()).map_err(|e| e.to_string())
    }

    fn channels(c: &Config) -> Vec<&str> {
        c.bindings.iter().map(|b| b.channel.as_str()).collect()
    }

    #[test]
    fn a2_a6_several_servers_in_declaration_order() {
        let c = flags_only(Layer {
            mcp_command: list(
                &["channel=tools,command=t --stdio", "m-cmd"],
                flag("--mcp-command"),
            ),
            mcp_server_url: list(
                &[
                    "channel=b,url=http://b:1/mcp",
                    "channel=a,url=http://a:1/mcp",
                ],
                flag("--mcp-server-url"),
            ),
            ..Layer::default()
        })
        .unwrap();
        // HTTP first, then stdio, each in configuration order.
        assert_eq!(channels(&c), ["b", "a", "tools", "main"]);
        assert!(c.bindings[0].is_http() && !c.bindings[2].is_http());
    }

    #[test]
    fn a3_the_whole_set_comes_from_the_highest_layer() {
        // The flags bind only tools: the environment's main does not count.
        let flags = Layer {
            mcp_command: list(&["channel=tools,command=t"], flag("--mcp-command")),
            ..Layer::default()
        };
        let env = Env::from_pairs([("MCP_SERVER_URL", "http://m/mcp")]);
        let e = resolve3(&flags, &env, &base_profile())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no MCP server is bound to the channel main"),
            "{e}"
        );
        // One entry per line in the variable.
        let env = Env::from_pairs([(
            "MCP_SERVER_URL",
            "http://m/mcp\nchannel=tools,url=http://t/mcp\n",
        )]);
        let c = resolve3(&Layer::default(), &env, &base_profile()).unwrap();
        assert_eq!(channels(&c), ["main", "tools"]);
    }

    #[test]
    fn a4_bad_bindings_are_refused_naming_the_entry() {
        let cases: &[(&[&str], &[&str], &str)] = &[
            (
                &["http://a", "http://b"],
                &[],
                "entry 2: the channel main is bound twice",
            ),
            (&["http://a"], &["cmd"], "the channel main is bound twice"),
            (
                &["channel=Tools,url=http://t"],
                &[],
                "\"Tools\" is not a channel name",
            ),
            (&["channel=harpoon,url=http://t"], &[], "reserved"),
            (&["channel=t,url=http://t,x=1"], &[], "unknown key \"x\""),
            (&["channel=t"], &[], "url is missing"),
            (
                &["channel=t,url=ftp://x/y"],
                &[],
                "scheme \"ftp\" is not supported",
            ),
            (&[], &["channel=t,command="], "command is missing"),
        ];
        for (urls, commands, needle) in cases {
            let mut flags = Layer::default();
            if !urls.is_empty() {
                flags.mcp_server_url = list(urls, flag("--mcp-server-url"));
            }
            if !commands.is_empty() {
                flags.mcp_command = list(commands, flag("--mcp-command"));
            }
            let e = flags_only(flags).unwrap_err();
            assert!(e.contains(needle), "{urls:?} {commands:?}: {e}");
        }
        let many: Vec<String> = (0..33)
            .map(|i| format!("channel=c{i},url=http://h/{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let mut flags = Layer {
            mcp_server_url: list(&many, flag("--mcp-server-url")),
            mcp_command: list(&["m"], flag("--mcp-command")),
            ..Layer::default()
        };
        let e = flags_only(flags.clone()).unwrap_err();
        assert!(e.contains("more than 32 channels"), "{e}");
        // Left out by the allowlist, they are not declared.
        flags.poll_channels = list(&["main", "c1"], flag("--poll-channel"));
        let c = flags_only(flags).unwrap();
        assert_eq!(channels(&c), ["c1", "main"]);
        assert_eq!(c.disabled_channels.len(), 32);
    }

    #[test]
    fn a2_mcp_servers_in_a_profile() {
        let mut profile = base_profile();
        profile.mcp_command = None;
        profile.mcp_env = Some(Sourced::new(
            vec![("SHARED".into(), "1".into()), ("K".into(), "global".into())],
            prof("mcp_env"),
        ));
        profile.mcp_servers = Some(Sourced::new(
            vec![
                RawServer {
                    url: Some("https://m/mcp".into()),
                    ..RawServer::default()
                },
                RawServer {
                    channel: Some("tools".into()),
                    command: Some("t --stdio".into()),
                    env: Some(vec![("K".into(), "v".into())]),
                    ..RawServer::default()
                },
            ],
            prof("mcp_servers"),
        ));
        let c = resolve3(&Layer::default(), &Env::default(), &profile).unwrap();
        assert_eq!(channels(&c), ["main", "tools"]);
        assert_eq!(
            c.bindings[1].env,
            [
                ("SHARED".to_string(), "1".to_string()),
                ("K".into(), "v".into())
            ]
        );
        // An empty list is refused by name.
        let mut empty = profile.clone();
        if let Some(servers) = empty.mcp_servers.as_mut() {
            servers.value.clear();
        }
        let e = resolve3(&Layer::default(), &Env::default(), &empty)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("profile key \"mcp_servers\"") && e.contains("empty"),
            "{e}"
        );
        // Beside mcp_command, or with both url and command: refused.
        let mut both = profile.clone();
        both.mcp_command = list(&["x"], prof("mcp_command"));
        let e = resolve3(&Layer::default(), &Env::default(), &both).unwrap_err();
        assert!(matches!(e, ConfigError::Conflict { .. }), "{e}");
        let mut bad = profile;
        if let Some(servers) = bad.mcp_servers.as_mut() {
            servers.value[1].url = Some("http://x".into());
        }
        let e = resolve3(&Layer::default(), &Env::default(), &bad)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("profile key \"mcp_servers[1]\""), "{e}");
    }

    #[test]
    fn a8_the_allowlist_is_checked_and_sorted() {
        let base = || Layer {
            mcp_server_url: list(
                &["channel=tools,url=http://t/mcp"],
                flag("--mcp-server-url"),
            ),
            mcp_command: list(&["m"], flag("--mcp-command")),
            ..Layer::default()
        };
        let with = |names: &[&str]| {
            flags_only(Layer {
                poll_channels: list(names, flag("--poll-channel")),
                ..base()
            })
        };
        let c = with(&["tools", "main"]).unwrap();
        assert_eq!(
            c.poll_channels.as_deref(),
            Some(&["main".to_string(), "tools".to_string()][..])
        );
        // Without main in the list, no main is needed and the main binding is disabled.
        let c = with(&["tools"]).unwrap();
        assert_eq!(channels(&c), ["tools"]);
        assert_eq!(c.disabled_channels, ["main"]);
        for (names, needle) in [
            (&[][..], "empty"),
            (&["main", "main"][..], "listed twice"),
            (&["Main"][..], "not a channel name"),
            (&["billing"][..], "has no MCP server"),
            (&["harpoon"][..], "has no MCP server"),
        ] {
            let e = with(names).unwrap_err();
            assert!(
                e.starts_with("--poll-channel:") && e.contains(needle),
                "{e}"
            );
        }
        let env = Env::from_pairs([("CONTROL_PLANE_POLL_CHANNELS", "tools, main")]);
        let c = resolve3(&base(), &env, &base_profile()).unwrap();
        assert_eq!(c.poll_channels.unwrap(), ["main", "tools"]);
    }

    #[test]
    fn b1_b2_b3_organization_and_header_sets() {
        let env = Env::from_pairs([("CP_TOKEN", " t0k "), ("MCP_TOKEN", "m1")]);
        let flags = Layer {
            organization_id: s("  org-123 ", flag("--control-plane-organization-id")),
            control_plane_extra_headers: Some(Sourced::new(
                vec![("X-Team".into(), "env:CP_TOKEN".into())],
                flag("--control-plane-extra-headers"),
            )),
            mcp_extra_headers: Some(Sourced::new(
                vec![
                    ("Authorization".into(), "env:MCP_TOKEN".into()),
                    ("X-Shared".into(), "mcp".into()),
                ],
                flag("--mcp-extra-headers"),
            )),
            mcp_discovery_extra_headers: Some(Sourced::new(
                vec![("x-shared".into(), "discovery".into())],
                flag("--mcp-discovery-extra-headers"),
            )),
            mcp_server_url: list(&["https://m.example/a/mcp"], flag("--mcp-server-url")),
            ..Layer::default()
        };
        let c = resolve3(&flags, &env, &base_profile()).unwrap();
        assert_eq!(c.organization_id.as_deref(), Some("org-123"));
        assert_eq!(
            c.control_plane_headers.iter().collect::<Vec<_>>(),
            [("X-Team", "t0k")]
        );
        assert_eq!(
            c.bindings[0].headers.iter().collect::<Vec<_>>(),
            [("Authorization", "m1"), ("X-Shared", "mcp")]
        );
        let discovery = c.discovery_headers();
        assert_eq!(
            discovery
                .for_url("https://m.example/.well-known/oauth-protected-resource")
                .iter()
                .collect::<Vec<_>>(),
            [("Authorization", "m1"), ("x-shared", "discovery")]
        );
        assert!(discovery.for_url("https://auth.example/").is_empty());
        // Variables named by env: values never reach a stdio child.
        for name in ["CP_TOKEN", "MCP_TOKEN"] {
            assert!(c.stdio.removed_env.iter().any(|n| n == name), "{name}");
        }
        let blank = Layer {
            organization_id: s("   ", flag("--control-plane-organization-id")),
            ..Layer::default()
        };
        assert_eq!(flags_only(blank).unwrap().organization_id, None);
        let refused = Layer {
            control_plane_extra_headers: Some(Sourced::new(
                vec![("Authorization".into(), "sk-should-not-echo".into())],
                flag("--control-plane-extra-headers"),
            )),
            ..Layer::default()
        };
        let e = flags_only(refused).unwrap_err();
        assert!(
            e.contains("Authorization") && !e.contains("sk-should-not-echo"),
            "{e}"
        );
    }

    #[test]
    fn c3_startup_wait_grammar() {
        let wait = |v: &str| {
            flags_only(Layer {
                mcp_startup_wait: s(v, flag("--mcp-startup-wait")),
                ..Layer::default()
            })
            .map(|c| c.mcp_startup_wait)
        };
        assert_eq!(wait("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(wait("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(wait("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(wait("45").unwrap(), Duration::from_secs(45));
        assert_eq!(wait("0").unwrap(), Duration::ZERO);
        for bad in ["1.5s", "-1", "1m30s", "2d", "x", "3601s"] {
            let e = wait(bad).unwrap_err();
            assert!(e.starts_with("--mcp-startup-wait:"), "{bad}: {e}");
        }
    }

    #[test]
    fn env_references_are_removed_from_the_child() {
        let mut profile = base_profile();
        profile.referenced_env = vec!["MY_KEY".into()];
        let c = resolve3(&Layer::default(), &Env::default(), &profile).unwrap();
        assert!(c.stdio.removed_env.contains(&"MY_KEY".to_string()));
        assert!(c
            .stdio
            .removed_env
            .contains(&"CONTROL_PLANE_API_KEY".to_string()));
    }

    #[test]
    fn numbers() {
        let o = || flag("--max-concurrency");
        let n = |v: &str| number(s(v, o()), 1, 5, 2);
        assert_eq!(n("3").unwrap(), 3);
        assert_eq!(number(None, 1, 5, 2).unwrap(), 2);
        for bad in ["0", "6", "-1", "1.5", "x", ""] {
            let e = n(bad).unwrap_err().to_string();
            assert!(e.starts_with("--max-concurrency:"), "{e}");
        }
    }
}
