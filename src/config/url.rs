//! URL checks for the control plane and MCP servers (Harpoon checks its own): scheme,
//! host, port, credentials, query. Never echoes a URL (it may carry credentials).

use super::error::{invalid, ConfigError};
use super::layer::Origin;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlUse {
    ControlPlane,
    McpServer,
}

/// The parts of an absolute URL the checks need.
#[derive(Debug, PartialEq, Eq)]
struct UrlParts<'a> {
    scheme: String,
    has_userinfo: bool,
    host: &'a str,
    port: Option<u16>,
    /// Path, query and fragment.
    rest: &'a str,
}

fn url_parts(url: &str) -> Result<UrlParts<'_>, &'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains spaces or control characters");
    }
    let (scheme, after) = url
        .split_once("://")
        .ok_or("it is not an absolute URL (scheme://host)")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (has_userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (true, &authority[at + 1..]),
        None => (false, authority),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let close = inner.find(']').ok_or("its IPv6 address has no closing ]")?;
        let host = &inner[..close];
        match &inner[close + 1..] {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or("its port is malformed")?),
            ),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host");
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| "its port is not a number 0-65535")?,
        ),
    };
    Ok(UrlParts {
        scheme: scheme.to_ascii_lowercase(),
        has_userinfo,
        host,
        port,
        rest,
    })
}

/// Scheme, host and port of a URL (default ports filled in, scheme and host
/// lowercased): what "the same origin" compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlOrigin {
    scheme: String,
    host: String,
    port: u16,
}

impl UrlOrigin {
    /// The origin of an absolute `http(s)://` URL; `None` for anything else.
    pub fn of(url: &str) -> Option<UrlOrigin> {
        let parts = url_parts(url.trim()).ok()?;
        let default_port = match parts.scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        Some(UrlOrigin {
            host: parts.host.to_ascii_lowercase(),
            port: parts.port.unwrap_or(default_port),
            scheme: parts.scheme,
        })
    }
}

pub(crate) fn check_url(origin: &Origin, url: &str, usage: UrlUse) -> Result<(), ConfigError> {
    // Values are not echoed: a URL may carry credentials.
    let parts = url_parts(url).map_err(|problem| {
        invalid(
            origin,
            format!("the URL is not usable ({problem})"),
            match usage {
                UrlUse::ControlPlane => "use a URL like https://api.openai.com",
                UrlUse::McpServer => "use a URL like http://10.0.0.5:8000/mcp",
            },
        )
    })?;
    let scheme_ok = match usage {
        UrlUse::ControlPlane => {
            parts.scheme == "https"
                || (parts.scheme == "http" && crate::net::is_loopback_host(parts.host))
        }
        UrlUse::McpServer => parts.scheme == "http" || parts.scheme == "https",
    };
    if !scheme_ok {
        return Err(match usage {
            UrlUse::ControlPlane if parts.scheme == "http" => invalid(
                origin,
                "plain http is allowed only to a loopback control plane (localhost, 127.0.0.0/8, ::1)",
                "use https:// (the API key would travel in clear text)",
            ),
            _ => invalid(
                origin,
                format!("the URL scheme \"{}\" is not supported", parts.scheme),
                "use http:// or https://",
            ),
        });
    }
    if parts.has_userinfo {
        return Err(invalid(
            origin,
            "the URL carries user:password@ credentials",
            "remove them from the URL (credentials in URLs end up in logs and process lists)",
        ));
    }
    if usage == UrlUse::ControlPlane && (parts.rest.contains('?') || parts.rest.contains('#')) {
        return Err(invalid(
            origin,
            "the URL has a query or fragment",
            "give only the scheme, host, port and optional path prefix",
        ));
    }
    Ok(())
}

/// Checks an MCP server URL given by `flag` (for `init`, which has no layers).
pub fn check_url_for_mcp(flag: &'static str, url: &str) -> Result<(), ConfigError> {
    check_url(&Origin::Flag(flag), url, UrlUse::McpServer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn urls() {
        let o = flag("--control-plane-url");
        let cp = |u: &str| check_url(&o, u, UrlUse::ControlPlane);
        assert!(cp("https://api.openai.com").is_ok());
        assert!(cp("http://127.0.0.1:8080").is_ok());
        assert!(cp("http://127.9.9.9").is_ok());
        assert!(cp("http://localhost:1/x").is_ok());
        assert!(cp("http://[::1]:9000").is_ok());
        // The loopback rule is net's: names under .localhost never leave the machine.
        assert!(cp("http://relay.localhost:8080").is_ok());
        assert!(cp("http://10.0.0.1").is_err());
        assert!(cp("http://localhost.evil.com").is_err());
        assert!(cp("ftp://x").is_err());
        assert!(cp("https://user:pw@x").is_err());
        assert!(cp("https://x?a=b").is_err());
        assert!(cp("api.openai.com").is_err());
        assert!(cp("https://:443").is_err());
        assert!(cp("https://x:99999").is_err());
        let e = cp("https://user:sk-secret@x").unwrap_err().to_string();
        assert!(!e.contains("sk-secret"), "{e}");
        assert!(check_url(&o, "http://10.0.0.5:8000/mcp", UrlUse::McpServer).is_ok());
    }
}
