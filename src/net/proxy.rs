//! Proxy selection: reading HTTPS_PROXY / HTTP_PROXY / NO_PROXY, merging the
//! profile over them, and choosing the proxy (or none) for one destination.
//! Must never put a proxy's `user:password` into any text: use [`redact_url`].

use super::{NetError, ProxySettings};
use std::net::IpAddr;

/// Most NO_PROXY entries accepted; a longer list is a configuration mistake.
pub const MAX_NO_PROXY_ENTRIES: usize = 1024;

/// The environment variables we read, in order of preference within each
/// pair. Upper case wins when both are set (as Go's `httpproxy` does).
/// `ALL_PROXY` is deliberately ignored: only CONNECT proxies are supported.
const HTTPS_PROXY_VARS: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
const HTTP_PROXY_VARS: [&str; 2] = ["HTTP_PROXY", "http_proxy"];
const NO_PROXY_VARS: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// A destination URL reduced to what routing and TLS need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `https` (true) or `http` (false); nothing else is accepted.
    pub https: bool,
    /// Lower case, without IPv6 brackets or a trailing dot.
    pub host: String,
    /// The explicit port, else 443 / 80.
    pub port: u16,
}

impl Destination {
    /// Parses an `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Destination, NetError> {
        let bad = |problem: &str| NetError::BadUrl {
            url: redact_url(url),
            problem: problem.to_string(),
        };
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|_| bad("not a valid URL (expected https://host[:port]/...)"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("only http:// and https:// URLs are supported")),
        };
        let host = uri
            .host()
            .map(normalize_host)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("the URL has no host"))?;
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Destination { https, host, port })
    }

    /// `host:port` (IPv6 in brackets), as a proxy's CONNECT line wants it.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `scheme://host:port`, for messages.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.authority())
    }
}

/// Lower case, no brackets, no trailing dot: the one form hosts are compared in.
fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.trim_end_matches('.').to_ascii_lowercase()
}

/// The URL with any `user:password@` replaced by `***@`. Used for every proxy
/// or destination URL that reaches a log line or an error message.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}***@{}{tail}", &authority[at + 1..]),
        None => url.to_string(),
    }
}

impl ProxySettings {
    /// Reads `HTTPS_PROXY`/`https_proxy`, `HTTP_PROXY`/`http_proxy` and
    /// `NO_PROXY`/`no_proxy` (comma-separated) through `get` (the environment
    /// the configuration was given). Empty variables count as unset.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> ProxySettings {
        let first = |names: [&str; 2]| {
            names
                .iter()
                .filter_map(|n| get(n))
                .map(|v| v.trim().to_string())
                .find(|v| !v.is_empty())
        };
        let no_proxy = first(NO_PROXY_VARS)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        ProxySettings {
            https_proxy: first(HTTPS_PROXY_VARS),
            http_proxy: first(HTTP_PROXY_VARS),
            no_proxy,
        }
    }

    /// Checks both proxy URLs and every NO_PROXY entry.
    pub fn validate(&self) -> Result<(), NetError> {
        for url in [&self.https_proxy, &self.http_proxy].into_iter().flatten() {
            parse_proxy_url(url)?;
        }
        parse_no_proxy(&self.no_proxy)?;
        Ok(())
    }

    /// The proxy `destination` goes through, or `None` for a direct
    /// connection: `https` targets use `https_proxy`, `http` targets use
    /// `http_proxy` (never the other), and a NO_PROXY match goes direct.
    /// Loopback destinations are not special: list them in NO_PROXY.
    pub fn proxy_for(&self, destination: &Destination) -> Result<Option<ureq::Proxy>, NetError> {
        let url = if destination.https {
            &self.https_proxy
        } else {
            &self.http_proxy
        };
        let Some(url) = url else {
            return Ok(None);
        };
        let proxy = parse_proxy_url(url)?;
        let rules = parse_no_proxy(&self.no_proxy)?;
        if rules.iter().any(|rule| rule.matches(destination)) {
            return Ok(None);
        }
        Ok(Some(proxy))
    }
}

/// A proxy URL as ureq will use it: `http://` or `https://` (CONNECT) only.
/// ureq turns `user:pass@` into `Proxy-Authorization: Basic` on CONNECT.
fn parse_proxy_url(url: &str) -> Result<ureq::Proxy, NetError> {
    let shown = redact_url(url);
    let proxy = ureq::Proxy::new(url).map_err(|_| NetError::BadProxy {
        problem: format!(
            "{shown} is not a usable proxy URL: expected http://[user:password@]host:port \
             (percent-encode special characters in the user name and password)"
        ),
    })?;
    match proxy.protocol() {
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https => {}
        _ => {
            return Err(NetError::BadProxy {
                problem: format!(
                    "{shown}: only HTTP proxies (CONNECT, http:// or https://) are supported"
                ),
            })
        }
    }
    if proxy.host().is_empty() {
        return Err(NetError::BadProxy {
            problem: format!("{shown} has no host"),
        });
    }
    Ok(proxy)
}

/// One NO_PROXY entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NoProxyRule {
    pattern: Pattern,
    /// `host:port` entries only bypass that port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// `*`: every destination goes direct.
    All,
    /// `example.com`, `.example.com`, `*.example.com`: the domain and every
    /// name under it.
    Domain(String),
    /// An IP address, compared with IP-literal destinations.
    Ip(IpAddr),
    /// `10.0.0.0/8`, `fd00::/8`: IP-literal destinations inside the range.
    /// Host names are never resolved for this (as curl and Go do).
    Cidr { network: IpAddr, prefix: u8 },
}

impl NoProxyRule {
    fn matches(&self, destination: &Destination) -> bool {
        if self.port.is_some_and(|p| p != destination.port) {
            return false;
        }
        let host = destination.host.as_str();
        match &self.pattern {
            Pattern::All => true,
            Pattern::Domain(domain) => {
                host == domain
                    || (host.len() > domain.len()
                        && host.ends_with(domain.as_str())
                        && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
            }
            Pattern::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            Pattern::Cidr { network, prefix } => host
                .parse::<IpAddr>()
                .is_ok_and(|h| cidr_contains(*network, *prefix, h)),
        }
    }
}

fn cidr_contains(network: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (network, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

fn parse_no_proxy(entries: &[String]) -> Result<Vec<NoProxyRule>, NetError> {
    if entries.len() > MAX_NO_PROXY_ENTRIES {
        return Err(NetError::BadProxy {
            problem: format!(
                "NO_PROXY has {} entries; at most {MAX_NO_PROXY_ENTRIES} are accepted",
                entries.len()
            ),
        });
    }
    let mut rules = Vec::with_capacity(entries.len());
    for entry in entries {
        // A profile list entry may itself hold a comma-separated list.
        for part in entry.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let rule = parse_no_proxy_entry(part).ok_or_else(|| NetError::BadProxy {
                problem: format!(
                    "NO_PROXY entry {part:?} is not a host name, .domain, IP address, \
                     CIDR range (10.0.0.0/8), host:port or *"
                ),
            })?;
            rules.push(rule);
        }
    }
    Ok(rules)
}

fn parse_no_proxy_entry(entry: &str) -> Option<NoProxyRule> {
    let entry = entry.to_ascii_lowercase();
    if entry == "*" {
        return Some(NoProxyRule {
            pattern: Pattern::All,
            port: None,
        });
    }
    if let Some((addr, bits)) = entry.split_once('/') {
        let network = unbracket(addr).parse::<IpAddr>().ok()?;
        let prefix = bits.parse::<u8>().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return None;
        }
        return Some(NoProxyRule {
            pattern: Pattern::Cidr { network, prefix },
            port: None,
        });
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(NoProxyRule {
            pattern: Pattern::Ip(ip),
            port: None,
        });
    }
    // `[v6]` or `[v6]:port`
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let ip = inside.parse::<IpAddr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse::<u16>().ok()?),
        };
        return Some(NoProxyRule {
            pattern: Pattern::Ip(ip),
            port,
        });
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse::<u16>().ok()?)),
        None => (entry.as_str(), None),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(NoProxyRule {
            pattern: Pattern::Ip(ip),
            port,
        });
    }
    let domain = host
        .strip_prefix("*.")
        .or_else(|| host.strip_prefix('.'))
        .unwrap_or(host)
        .trim_end_matches('.');
    let valid = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    valid.then(|| NoProxyRule {
        pattern: Pattern::Domain(domain.to_string()),
        port,
    })
}

fn unbracket(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(url: &str) -> Destination {
        Destination::parse(url).unwrap()
    }

    fn settings(no_proxy: &[&str]) -> ProxySettings {
        ProxySettings {
            https_proxy: Some("http://user:pw@proxy.corp:3128".to_string()),
            http_proxy: Some("http://plain-proxy.corp:8080".to_string()),
            no_proxy: no_proxy.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Which proxy host `url` goes through under `no_proxy`, or "direct".
    fn route(no_proxy: &[&str], url: &str) -> String {
        match settings(no_proxy).proxy_for(&dest(url)).unwrap() {
            Some(p) => p.host().to_string(),
            None => "direct".to_string(),
        }
    }

    #[test]
    fn destinations_parse() {
        assert_eq!(
            dest("https://API.Example.com./v1"),
            Destination {
                https: true,
                host: "api.example.com".into(),
                port: 443
            }
        );
        assert_eq!(dest("http://[::1]:8080/mcp").host, "::1");
        assert_eq!(dest("http://[::1]:8080/mcp").authority(), "[::1]:8080");
        assert_eq!(dest("http://10.1.2.3/mcp").port, 80);
        assert!(Destination::parse("ftp://x").is_err());
        assert!(Destination::parse("https://").is_err());
        assert!(Destination::parse("not a url").is_err());
    }

    #[test]
    fn scheme_picks_the_proxy() {
        assert_eq!(route(&[], "https://api.example.com"), "proxy.corp");
        assert_eq!(route(&[], "http://mcp.internal:8000"), "plain-proxy.corp");
        let only_https = ProxySettings {
            http_proxy: None,
            ..settings(&[])
        };
        assert!(only_https
            .proxy_for(&dest("http://mcp.internal"))
            .unwrap()
            .is_none());
        assert!(ProxySettings::default()
            .proxy_for(&dest("https://api.example.com"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn no_proxy_host_names_and_suffixes() {
        let list = ["localhost", ".internal.example.com", "corp.example"];
        assert_eq!(route(&list, "https://localhost:8443"), "direct");
        assert_eq!(route(&list, "https://mcp.internal.example.com"), "direct");
        assert_eq!(route(&list, "https://internal.example.com"), "direct");
        assert_eq!(route(&list, "https://a.b.corp.example"), "direct");
        assert_eq!(route(&list, "https://CORP.example."), "direct");
        assert_eq!(route(&list, "https://notcorp.example"), "proxy.corp");
        assert_eq!(route(&list, "https://example.com"), "proxy.corp");
        assert_eq!(
            route(&["*.wild.example"], "https://x.wild.example"),
            "direct"
        );
        assert_eq!(route(&["*"], "https://anything.example"), "direct");
        assert_eq!(
            route(&[" a.example , b.example "], "https://b.example"),
            "direct"
        );
    }

    #[test]
    fn no_proxy_ips_and_cidr() {
        let list = [
            "10.0.0.0/8",
            "192.168.1.7",
            "fd00::/8",
            "[2001:db8::1]",
            "::1",
        ];
        assert_eq!(route(&list, "https://10.200.3.4"), "direct");
        assert_eq!(route(&list, "https://11.0.0.1"), "proxy.corp");
        assert_eq!(route(&list, "https://192.168.1.7:9000"), "direct");
        assert_eq!(route(&list, "https://192.168.1.8"), "proxy.corp");
        assert_eq!(route(&list, "https://[fd12:3456::1]"), "direct");
        assert_eq!(route(&list, "https://[fe80::1]"), "proxy.corp");
        assert_eq!(route(&list, "https://[2001:db8::1]:8443"), "direct");
        assert_eq!(route(&list, "https://[::1]"), "direct");
        // Names are never resolved for IP rules.
        assert_eq!(route(&list, "https://ten.example"), "proxy.corp");
        assert_eq!(route(&["0.0.0.0/0"], "https://203.0.113.9"), "direct");
        assert_eq!(route(&["127.0.0.1/32"], "https://127.0.0.2"), "proxy.corp");
    }

    #[test]
    fn no_proxy_ports() {
        let list = ["mcp.internal:8443", "10.0.0.5:443", "[::1]:9000"];
        assert_eq!(route(&list, "https://mcp.internal:8443"), "direct");
        assert_eq!(route(&list, "https://mcp.internal"), "proxy.corp");
        assert_eq!(route(&list, "https://10.0.0.5"), "direct");
        assert_eq!(route(&list, "https://10.0.0.5:444"), "proxy.corp");
        assert_eq!(route(&list, "https://[::1]:9000"), "direct");
        assert_eq!(route(&list, "https://[::1]:9001"), "proxy.corp");
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "host:notaport",
            "a b",
            "[::1",
            "x/y",
        ] {
            let err = settings(&[bad]).validate().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        let too_many: Vec<String> = (0..=MAX_NO_PROXY_ENTRIES)
            .map(|i| format!("h{i}"))
            .collect();
        let s = ProxySettings {
            no_proxy: too_many,
            ..ProxySettings::default()
        };
        assert!(s.validate().is_err());
    }

    #[test]
    fn proxy_urls_are_checked_and_redacted() {
        for bad in [
            "socks5://user:pw@socks.corp:1080",
            "http://user:pw@",
            "ht tp://user:pw@x",
        ] {
            let s = ProxySettings {
                https_proxy: Some(bad.to_string()),
                ..ProxySettings::default()
            };
            let err = s.validate().unwrap_err().to_string();
            assert!(!err.contains("pw"), "{err}");
        }
        let p = parse_proxy_url("http://al%40ice:p%3Ass@proxy.corp:3128").unwrap();
        assert_eq!(p.username(), Some("al@ice"));
        assert_eq!(p.password(), Some("p:ss"));
        assert_eq!(p.port(), 3128);
        assert!(parse_proxy_url("https://proxy.corp").is_ok());
        assert!(parse_proxy_url("proxy.corp:3128").is_ok());
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_url("http://u:p@h:1/x@y"), "http://***@h:1/x@y");
        assert_eq!(redact_url("http://h:1/path"), "http://h:1/path");
        assert_eq!(redact_url("u:p@h:1"), "***@h:1");
        assert_eq!(redact_url("http://a@b:c@h"), "http://***@h");
        assert_eq!(redact_url("https://h?q=a@b"), "https://h?q=a@b");
    }

    #[test]
    fn environment_reading() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = ProxySettings::from_vars(vars(&[
            ("https_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://upper-http:2"),
            ("no_proxy", "localhost, .corp ,,10.0.0.0/8"),
        ]));
        assert_eq!(s.https_proxy.as_deref(), Some("http://lower:1"));
        assert_eq!(s.http_proxy.as_deref(), Some("http://upper-http:2"));
        assert_eq!(s.no_proxy, vec!["localhost", ".corp", "10.0.0.0/8"]);

        let s = ProxySettings::from_vars(vars(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:1"),
            ("NO_PROXY", ""),
            ("no_proxy", "x.example"),
        ]));
        assert_eq!(s.https_proxy.as_deref(), Some("http://upper:1"));
        assert_eq!(s.no_proxy, vec!["x.example"]);
        assert_eq!(ProxySettings::from_vars(|_| None), ProxySettings::default());
    }
}
