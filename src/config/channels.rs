//! MCP server bindings by channel: plain and qualified `--mcp-server-url` /
//! `--mcp-command` entries, the `mcp_servers` profile list, the poll allowlist,
//! and their checks. Never echoes a URL or a command (either may carry a secret).
//!
//! An entry is plain (it binds `main`) or qualified (it starts with
//! `channel=`, `url=` or `command=`): `channel=NAME,url=URL`,
//! `channel=NAME,command=CMD` or `command=CMD,channel=NAME`.

use super::error::{invalid, ConfigError};
use super::headers::{resolve_set, HeaderSet, HeaderUse};
use super::layer::{Env, Layer, Layers, Origin, Sourced};
use super::profile::Reader;
use super::settings::Custom;
use super::shell_words::split_command;
use super::url::{check_url, UrlUse};
use super::{McpTarget, API_KEY_VARS, MAX_MCP_ENV_VARS};
use crate::contract::MAIN_CHANNEL;
use serde_json::Value;

/// Most channels declared to the control plane (the server-info header's bound).
pub const MAX_DECLARED_CHANNELS: usize = crate::contract::SERVER_INFO_MAX_CHANNELS;
/// Most entries read from one layer, declared or not (a bound on the work).
pub const MAX_CONFIGURED_BINDINGS: usize = 256;
/// Longest channel name.
pub const MAX_CHANNEL_NAME: usize = 64;
/// The channel reserved for the built-in harpoon server.
pub const HARPOON_CHANNEL: &str = "harpoon";

/// True for a channel name: 1 to 64 of `a-z 0-9 _ -`. Configuration is never case-folded.
pub fn is_channel_name(name: &str) -> bool {
    (1..=MAX_CHANNEL_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// One channel's MCP server after every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpBinding {
    pub channel: String,
    pub target: McpTarget,
    /// stdio: extra variables for this child (`mcp_env` with the entry's `env` on top).
    pub env: Vec<(String, String)>,
    /// HTTP: the operator's headers for requests to this URL
    /// (`mcp_extra_headers` with the entry's `extra_headers` on top).
    pub headers: HeaderSet,
}

impl McpBinding {
    pub fn is_http(&self) -> bool {
        matches!(self.target, McpTarget::Http { .. })
    }
}

/// An entry of the `mcp_servers` profile list, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawServer {
    pub channel: Option<String>,
    pub url: Option<String>,
    pub command: Option<String>,
    pub env: Option<Vec<(String, String)>>,
    pub extra_headers: Option<Sourced<Vec<(String, String)>>>,
}

/// Keys of one `mcp_servers` entry.
pub const SERVER_KEYS: &[&str] = &["channel", "url", "command", "env", "extra_headers"];

/// `mcp_servers`: a list of objects, only in a profile.
pub const SERVERS: Custom = Custom {
    text: None,
    json: Some(read_servers),
};

fn read_servers(
    reader: &Reader<'_>,
    key: &str,
    value: &Value,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    let Value::Array(items) = value else {
        return Err(reader.wrong_type(key, "a list of objects"));
    };
    if items.len() > MAX_CONFIGURED_BINDINGS {
        return Err(reader.wrong_type(
            key,
            &format!("a list of at most {MAX_CONFIGURED_BINDINGS} objects"),
        ));
    }
    let mut servers = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let entry = format!("{key}[{i}]");
        let prefix = format!("{entry}.");
        let mut server = RawServer::default();
        for (sub, v) in reader.object(&entry, item)? {
            let full = format!("{prefix}{sub}");
            match sub.as_str() {
                "channel" => server.channel = Some(reader.string(&full, v)?.value),
                "url" => server.url = Some(text_or_empty(reader, &full, v)?),
                "command" => server.command = Some(text_or_empty(reader, &full, v)?),
                "env" => server.env = Some(reader.pairs(&full, v)?.value),
                "extra_headers" => server.extra_headers = Some(reader.pairs(&full, v)?),
                _ => return Err(reader.unknown(&prefix, sub, SERVER_KEYS)),
            }
        }
        servers.push(server);
    }
    layer.mcp_servers = Some(Sourced::new(servers, reader.origin(key)));
    Ok(())
}

/// A string, empty allowed (so that an empty `url` is reported as missing
/// with the entry named, not as a type error).
fn text_or_empty(reader: &Reader<'_>, key: &str, v: &Value) -> Result<String, ConfigError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| reader.wrong_type(key, "a string"))
}

/// Every binding of the configuration, and the poll allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bindings {
    /// Enabled bindings in declaration order: HTTP ones, then stdio ones,
    /// each in configuration order.
    pub enabled: Vec<McpBinding>,
    /// Channels configured but left out of the poll allowlist.
    pub disabled: Vec<String>,
    /// The poll allowlist, ascending; `None` when unset.
    pub poll_channels: Option<Vec<String>>,
}

/// What the bindings need from the rest of the configuration.
pub(crate) struct Context<'a> {
    pub mcp_env: &'a [(String, String)],
    pub mcp_headers: &'a HeaderSet,
    /// Harpoon has configured targets (without, only an HTTP `main`'s OAuth
    /// discovery can give it one).
    pub harpoon_targets: bool,
    pub vars: &'a Env,
    /// Variables named by `env:` header values (kept out of stdio children).
    pub referenced_env: &'a mut Vec<String>,
}

/// One entry found in a layer, with what names it in an error.
struct Entry {
    /// Where it came from (flag, variable or profile key).
    origin: Origin,
    /// "entry 2" for lists of text; empty for a profile object (its key says it).
    position: String,
    channel: String,
    target: McpTarget,
    env: Option<Vec<(String, String)>>,
    headers: Option<Sourced<Vec<(String, String)>>>,
}

impl Entry {
    fn error(&self, problem: impl Into<String>, fix: impl Into<String>) -> ConfigError {
        entry_error(&self.origin, &self.position, problem, fix)
    }
}

fn entry_error(
    origin: &Origin,
    position: &str,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> ConfigError {
    let problem = problem.into();
    let problem = if position.is_empty() {
        problem
    } else {
        format!("{position}: {problem}")
    };
    invalid(origin, problem, fix)
}

/// The bindings from the highest layer that defines any (flags > environment
/// > profile), checked, with the allowlist applied.
pub(crate) fn bindings(layers: &Layers<'_>, mut cx: Context<'_>) -> Result<Bindings, ConfigError> {
    let Some(layer) = [layers.flags, layers.env, layers.profile]
        .into_iter()
        .find(|l| l.mcp_server_url.is_some() || l.mcp_command.is_some() || l.mcp_servers.is_some())
    else {
        return Err(ConfigError::Missing {
            setting: "MCP server",
            fix: "pass --mcp-server-url URL or --mcp-command CMD (try --mcp-command 'tunnel-client dev mcp-stub' for a first test)",
        });
    };
    if let (Some(servers), Some(other)) = (
        &layer.mcp_servers,
        layer.mcp_server_url.as_ref().or(layer.mcp_command.as_ref()),
    ) {
        return Err(ConfigError::Conflict {
            first: servers.origin.clone(),
            second: other.origin.clone(),
            fix: "list every server in mcp_servers, or use mcp_server_url / mcp_command alone",
        });
    }
    let mut entries = Vec::new();
    if let Some(urls) = &layer.mcp_server_url {
        for (i, text) in text_entries(urls)?.iter().enumerate() {
            entries.push(url_entry(&urls.origin, i, text)?);
        }
    }
    if let Some(commands) = &layer.mcp_command {
        for (i, text) in text_entries(commands)?.iter().enumerate() {
            entries.push(command_entry(&commands.origin, i, text)?);
        }
    }
    if let Some(servers) = &layer.mcp_servers {
        for (i, server) in servers.value.iter().enumerate() {
            entries.push(server_entry(&servers.origin, i, server)?);
        }
    }
    let Some(first) = entries.first() else {
        // Only an empty `mcp_servers` list gets here.
        let origin = layer.mcp_servers.as_ref().map(|s| s.origin.clone());
        return Err(match origin {
            Some(origin) => invalid(&origin, "the list is empty", "list at least one server"),
            None => ConfigError::Missing {
                setting: "MCP server",
                fix: "pass --mcp-server-url URL or --mcp-command CMD",
            },
        });
    };
    if entries.len() > MAX_CONFIGURED_BINDINGS {
        return Err(first.error(
            format!("more than {MAX_CONFIGURED_BINDINGS} MCP servers"),
            "configure fewer servers",
        ));
    }

    let mut all: Vec<McpBinding> = Vec::with_capacity(entries.len());
    for entry in &entries {
        if !is_channel_name(&entry.channel) {
            return Err(entry.error(
                format!("\"{}\" is not a channel name", shown(&entry.channel)),
                "a channel name is 1 to 64 of a-z, 0-9, _ and - (lowercase)",
            ));
        }
        if entry.channel == HARPOON_CHANNEL {
            return Err(entry.error(
                "the channel name harpoon is reserved for the built-in harpoon server",
                "choose another name",
            ));
        }
        if all.iter().any(|b| b.channel == entry.channel) {
            return Err(entry.error(
                format!("the channel {} is bound twice", entry.channel),
                "give each channel one MCP server",
            ));
        }
        all.push(binding(entry, &mut cx)?);
    }

    let poll_channels = allowlist(layers, &all, cx.harpoon_targets)?;
    let (enabled, disabled): (Vec<McpBinding>, Vec<McpBinding>) = all.into_iter().partition(|b| {
        poll_channels
            .as_ref()
            .is_none_or(|list| list.contains(&b.channel))
    });
    let disabled = disabled.into_iter().map(|b| b.channel).collect();
    if poll_channels.is_none() && !enabled.iter().any(|b| b.channel == "main") {
        return Err(first.error(
            "no MCP server is bound to the channel main",
            "bind one (a plain entry, or channel=main), or list the channels to poll with --poll-channel",
        ));
    }
    // Harpoon without configured targets is counted by whoever builds it
    // (only while a declaration slot is left).
    let harpoon_declared = cx.harpoon_targets
        && poll_channels
            .as_ref()
            .is_none_or(|list| list.iter().any(|c| c == HARPOON_CHANNEL));
    if enabled.len() + usize::from(harpoon_declared) > MAX_DECLARED_CHANNELS {
        return Err(first.error(
            format!("more than {MAX_DECLARED_CHANNELS} channels would be declared"),
            "serve at most 32 channels from one tunnel-client (--poll-channel can leave some out)",
        ));
    }
    // Declaration order: HTTP bindings, then stdio ones, each as configured.
    let (mut http, stdio): (Vec<McpBinding>, Vec<McpBinding>) =
        enabled.into_iter().partition(McpBinding::is_http);
    http.extend(stdio);
    Ok(Bindings {
        enabled: http,
        disabled,
        poll_channels,
    })
}

/// A channel name as an error may show it: the peer never sees this, but
/// an operator's typo should not flood a terminal either.
fn shown(name: &str) -> String {
    name.chars().take(MAX_CHANNEL_NAME + 1).collect()
}

/// A profile's `mcp_server_url` / `mcp_command` holds one entry.
fn text_entries(list: &Sourced<Vec<String>>) -> Result<&[String], ConfigError> {
    if matches!(list.origin, Origin::Profile { .. }) && list.value.len() > 1 {
        return Err(invalid(
            &list.origin,
            "it holds one entry",
            "list several servers in \"mcp_servers\" instead",
        ));
    }
    Ok(&list.value)
}

fn position(i: usize) -> String {
    format!("entry {}", i + 1)
}

/// The key of a `key=value` part, spaces trimmed (`None` without `=`).
fn key_of(part: &str) -> Option<&str> {
    part.split_once('=').map(|(key, _)| key.trim())
}

/// True when the entry is qualified (`channel=`, `url=` or `command=` first).
fn is_qualified(text: &str) -> bool {
    let first = text.split(',').next().unwrap_or(text);
    matches!(key_of(first), Some("channel" | "url" | "command"))
}

/// Where the part `,KEY=` begins, searching from the left or the right; the
/// value starts after the returned `=` index.
fn find_part(text: &str, key: &str, last: bool) -> Option<(usize, usize)> {
    let commas: Vec<usize> = text.match_indices(',').map(|(i, _)| i).collect();
    let found = |&comma: &usize| {
        let rest = &text[comma + 1..];
        let eq = rest.find('=')?;
        (rest[..eq].trim() == key).then_some((comma, comma + 1 + eq))
    };
    if last {
        commas.iter().rev().find_map(found)
    } else {
        commas.iter().find_map(found)
    }
}

/// `--mcp-server-url` entry: plain URL, or `key=value` pairs split at commas.
fn url_entry(origin: &Origin, i: usize, text: &str) -> Result<Entry, ConfigError> {
    let pos = position(i);
    let mut channel = None;
    let mut url = None;
    if is_qualified(text) {
        for part in text.split(',') {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            match key.trim() {
                "channel" => channel = Some(value.trim().to_string()),
                "url" => url = Some(value.trim().to_string()),
                other => return Err(entry_error(
                    origin,
                    &pos,
                    format!("unknown key \"{}\"", shown(other)),
                    "an entry is URL or channel=NAME,url=URL (write a comma inside the URL as %2C)",
                )),
            }
        }
    } else {
        url = Some(text.trim().to_string());
    }
    let url = url.filter(|u| !u.is_empty()).ok_or_else(|| {
        entry_error(
            origin,
            &pos,
            "the url is missing or empty",
            "write channel=NAME,url=URL",
        )
    })?;
    check_url(origin, &url, UrlUse::McpServer).map_err(|e| with_position(e, &pos))?;
    Ok(Entry {
        origin: origin.clone(),
        position: pos,
        channel: channel.unwrap_or_else(|| "main".to_string()),
        target: McpTarget::Http { url },
        env: None,
        headers: None,
    })
}

/// `--mcp-command` entry: a plain command, `channel=NAME,command=CMD` (CMD is
/// the rest of the entry) or `command=CMD,channel=NAME` (split at the last
/// `,channel=`).
fn command_entry(origin: &Origin, i: usize, text: &str) -> Result<Entry, ConfigError> {
    let pos = position(i);
    let text = text.trim();
    let unknown = |key: &str| {
        entry_error(
            origin,
            &pos,
            format!("unknown key \"{}\"", shown(key)),
            "an entry is CMD, channel=NAME,command=CMD or command=CMD,channel=NAME",
        )
    };
    let first = text.split(',').next().unwrap_or(text);
    let (channel, command) = match key_of(first) {
        _ if !is_qualified(text) => (None, text),
        Some("command") => {
            // `command=CMD,channel=NAME`: CMD ends at the last `,channel=`.
            let after = text.find('=').map_or(text.len(), |eq| eq + 1);
            match find_part(text, "channel", true).filter(|(comma, _)| *comma >= after) {
                Some((comma, eq)) => (Some(text[eq + 1..].trim().to_string()), &text[after..comma]),
                None => (None, &text[after..]),
            }
        }
        Some("channel") => {
            // `channel=NAME[,…],command=CMD`: CMD is the rest of the entry.
            let (keys, command) = match find_part(text, "command", false) {
                Some((comma, eq)) => (&text[..comma], &text[eq + 1..]),
                None => (text, ""),
            };
            let mut channel = None;
            for part in keys.split(',') {
                let (key, value) = part.split_once('=').unwrap_or((part, ""));
                match key.trim() {
                    "channel" => channel = Some(value.trim().to_string()),
                    other => return Err(unknown(other)),
                }
            }
            (channel, command)
        }
        _ => {
            return Err(entry_error(
                origin,
                &pos,
                "url= belongs to --mcp-server-url",
                "give an HTTP server with --mcp-server-url channel=NAME,url=URL",
            ))
        }
    };
    let target = stdio_target(origin, &pos, command)?;
    Ok(Entry {
        origin: origin.clone(),
        position: pos,
        channel: channel.unwrap_or_else(|| "main".to_string()),
        target,
        env: None,
        headers: None,
    })
}

fn stdio_target(origin: &Origin, pos: &str, command: &str) -> Result<McpTarget, ConfigError> {
    if command.trim().is_empty() {
        return Err(entry_error(
            origin,
            pos,
            "the command is missing or empty",
            "write channel=NAME,command=CMD",
        ));
    }
    let argv = split_command(command.trim()).map_err(|problem| {
        entry_error(
            origin,
            pos,
            problem,
            "quote arguments with '...' or \"...\" and close every quote",
        )
    })?;
    if argv.is_empty() {
        return Err(entry_error(
            origin,
            pos,
            "the command is missing or empty",
            "write channel=NAME,command=CMD",
        ));
    }
    Ok(McpTarget::Stdio { argv })
}

/// One object of `mcp_servers`.
fn server_entry(origin: &Origin, i: usize, server: &RawServer) -> Result<Entry, ConfigError> {
    let Origin::Profile { key, file } = origin else {
        return Err(invalid(
            origin,
            "mcp_servers is read only from a profile",
            "",
        ));
    };
    let origin = Origin::Profile {
        key: format!("{key}[{i}]"),
        file: file.clone(),
    };
    let target = match (&server.url, &server.command) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                &origin,
                "it has both url and command",
                "give exactly one of url and command",
            ))
        }
        (None, None) => {
            return Err(invalid(
                &origin,
                "it has neither url nor command",
                "give exactly one of url and command",
            ))
        }
        (Some(url), None) => {
            let url = url.trim();
            if url.is_empty() {
                return Err(invalid(
                    &origin,
                    "the url is empty",
                    "give the server's URL",
                ));
            }
            check_url(&origin, url, UrlUse::McpServer)?;
            McpTarget::Http {
                url: url.to_string(),
            }
        }
        (None, Some(command)) => stdio_target(&origin, "", command)?,
    };
    let http = matches!(target, McpTarget::Http { .. });
    if http && server.env.is_some() {
        return Err(invalid(
            &origin,
            "env is for stdio servers (a command)",
            "remove env, or use extra_headers for an HTTP server",
        ));
    }
    if !http && server.extra_headers.is_some() {
        return Err(invalid(
            &origin,
            "extra_headers is for HTTP servers (a url)",
            "remove extra_headers, or use env for a stdio server",
        ));
    }
    Ok(Entry {
        origin,
        position: String::new(),
        channel: server.channel.clone().unwrap_or_else(|| "main".to_string()),
        target,
        env: server.env.clone(),
        headers: server.extra_headers.clone(),
    })
}

/// A URL check's error, with the entry's position in front of the problem.
fn with_position(e: ConfigError, pos: &str) -> ConfigError {
    match e {
        ConfigError::Invalid {
            origin,
            problem,
            fix,
        } => ConfigError::Invalid {
            origin,
            problem: format!("{pos}: {problem}"),
            fix,
        },
        other => other,
    }
}

fn binding(entry: &Entry, cx: &mut Context<'_>) -> Result<McpBinding, ConfigError> {
    let mut env = cx.mcp_env.to_vec();
    if let Some(own) = &entry.env {
        check_env_vars(&entry.origin, own)?;
        env.retain(|(name, _)| !own.iter().any(|(n, _)| n == name));
        env.extend(own.iter().cloned());
    }
    let headers = match (&entry.target, &entry.headers) {
        (McpTarget::Http { .. }, Some(own)) => {
            let own = resolve_set(own, HeaderUse::Mcp, cx.vars)?;
            for name in own.referenced_env {
                if !cx.referenced_env.contains(&name) {
                    cx.referenced_env.push(name);
                }
            }
            cx.mcp_headers.overlaid(&own.set)
        }
        (McpTarget::Http { .. }, None) => cx.mcp_headers.clone(),
        (McpTarget::Stdio { .. }, _) => HeaderSet::default(),
    };
    let env = match entry.target {
        McpTarget::Stdio { .. } => env,
        McpTarget::Http { .. } => Vec::new(),
    };
    Ok(McpBinding {
        channel: entry.channel.clone(),
        target: entry.target.clone(),
        env,
        headers,
    })
}

/// Variables for a stdio child (`mcp_env`, an entry's `env`): valid names,
/// not too many, never the control-plane key.
pub(crate) fn check_env_vars(
    origin: &Origin,
    vars: &[(String, String)],
) -> Result<(), ConfigError> {
    if vars.len() > MAX_MCP_ENV_VARS {
        return Err(invalid(
            origin,
            format!("more than {MAX_MCP_ENV_VARS} variables"),
            "pass fewer variables",
        ));
    }
    for (name, _) in vars {
        let ok = !name.is_empty()
            && !name.contains('=')
            && !name.contains('\0')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            return Err(invalid(
                origin,
                format!("\"{name}\" is not a variable name"),
                "use names like MY_SETTING",
            ));
        }
        if API_KEY_VARS.contains(&name.as_str()) {
            return Err(invalid(
                origin,
                format!("{name} would hand the control-plane key to the MCP server"),
                "remove it; the MCP server must not receive the control-plane key",
            ));
        }
    }
    Ok(())
}

/// The poll allowlist: non-empty, valid, unique, each with a handler; ascending.
/// Harpoon has one when it has targets, or when an HTTP `main` is polled too
/// (its OAuth discovery may register targets).
fn allowlist(
    layers: &Layers<'_>,
    bindings: &[McpBinding],
    harpoon_targets: bool,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(list) = layers.pick(|l| &l.poll_channels) else {
        return Ok(None);
    };
    let fix = "list channels that have an MCP server (or harpoon, when it has targets)";
    let http_main_polled = list.value.iter().any(|c| c == MAIN_CHANNEL)
        && bindings
            .iter()
            .any(|b| b.channel == MAIN_CHANNEL && b.is_http());
    let harpoon_enabled = harpoon_targets || http_main_polled;
    if list.value.is_empty() {
        return Err(invalid(
            &list.origin,
            "the list of channels to poll is empty",
            fix,
        ));
    }
    let mut names: Vec<String> = Vec::with_capacity(list.value.len());
    for name in &list.value {
        if !is_channel_name(name) {
            return Err(invalid(
                &list.origin,
                format!("\"{}\" is not a channel name", shown(name)),
                "a channel name is 1 to 64 of a-z, 0-9, _ and - (lowercase)",
            ));
        }
        if names.contains(name) {
            return Err(invalid(
                &list.origin,
                format!("the channel {name} is listed twice"),
                "list each channel once",
            ));
        }
        let handled = if name == HARPOON_CHANNEL {
            harpoon_enabled
        } else {
            bindings.iter().any(|b| &b.channel == name)
        };
        if !handled {
            return Err(invalid(
                &list.origin,
                format!("the channel {name} has no MCP server here"),
                fix,
            ));
        }
        names.push(name.clone());
    }
    names.sort();
    Ok(Some(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(name: &'static str) -> Origin {
        Origin::Flag(name)
    }

    #[test]
    fn a1_channel_names() {
        for good in ["main", "tools", "a", "a_b-9", &"x".repeat(64)] {
            assert!(is_channel_name(good), "{good}");
        }
        for bad in ["", "Tools", "a b", "a.b", "é", &"x".repeat(65)] {
            assert!(!is_channel_name(bad), "{bad}");
        }
    }

    #[test]
    fn a2_url_entries() {
        let o = flag("--mcp-server-url");
        let e = url_entry(&o, 0, "https://m.example/mcp").unwrap();
        assert_eq!(e.channel, "main");
        let e = url_entry(&o, 0, " channel = tools , url = http://t:1/a%2Cb ").unwrap();
        assert_eq!(e.channel, "tools");
        assert_eq!(
            e.target,
            McpTarget::Http {
                url: "http://t:1/a%2Cb".into()
            }
        );
        let e = url_entry(&o, 0, "url=http://t/mcp").unwrap();
        assert_eq!(e.channel, "main");
        for (bad, needle) in [
            (
                "channel=t,url=http://x,timeout=3",
                "unknown key \"timeout\"",
            ),
            ("channel=t", "url is missing"),
            ("channel=t,url=", "url is missing"),
            ("channel=t,url=ftp://x", "scheme"),
        ] {
            let e = url_entry(&o, 1, bad).err().unwrap().to_string();
            assert!(e.starts_with("--mcp-server-url: entry 2: "), "{e}");
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn a2_command_entries() {
        let o = flag("--mcp-command");
        let argv = |e: &Entry| match &e.target {
            McpTarget::Stdio { argv } => argv.clone(),
            other => panic!("{other:?}"),
        };
        let e = command_entry(&o, 0, "srv --stdio").unwrap();
        assert_eq!(
            (e.channel.as_str(), argv(&e)),
            ("main", vec!["srv".into(), "--stdio".into()])
        );
        let e = command_entry(&o, 0, "channel=tools,command=t --x a,b").unwrap();
        assert_eq!(e.channel, "tools");
        assert_eq!(argv(&e), ["t", "--x", "a,b"]);
        let e = command_entry(&o, 0, "command=t --y=channel=1,channel=x,channel=tools").unwrap();
        assert_eq!(e.channel, "tools");
        assert_eq!(argv(&e), ["t", "--y=channel=1,channel=x"]);
        let e = command_entry(&o, 0, "command=t").unwrap();
        assert_eq!(e.channel, "main");
        let e = command_entry(&o, 0, " channel = tools , command = t  x ").unwrap();
        assert_eq!(
            (e.channel.as_str(), argv(&e)),
            ("tools", vec!["t".into(), "x".into()])
        );
        let e = command_entry(&o, 0, "command = t y , channel = tools").unwrap();
        assert_eq!(
            (e.channel.as_str(), argv(&e)),
            ("tools", vec!["t".into(), "y".into()])
        );
        for (bad, needle) in [
            ("channel=t,env=1,command=x", "unknown key \"env\""),
            ("channel=t", "command is missing"),
            ("channel=t,command=", "command is missing"),
            ("url=http://x", "--mcp-server-url"),
            ("channel=t,command='open", "quote"),
        ] {
            let e = command_entry(&o, 0, bad).err().unwrap().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
