//! Strict parsing of the absolute http(s) URLs Harpoon meets (configured base URLs,
//! redirect locations, discovered OAuth URLs) and RFC 3986 reference resolution. Pure: never resolves or connects.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest host name accepted (DNS limit).
const MAX_HOST_BYTES: usize = 253;
/// Longest label of a host name (DNS limit).
const MAX_LABEL_BYTES: usize = 63;
/// Longest URL parsed at all; longer ones are refused before any work.
pub const MAX_URL_BYTES: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A host: a lower-case DNS name or an IP literal. Names never look like numbers
/// (`0x7f.1`, `2130706433`): those are refused, so no resolver can read them as addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// The IP literal, if this host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ip(ip) => Some(*ip),
            Host::Name(_) => None,
        }
    }
}

impl fmt::Display for Host {
    /// As written in a URL authority: IPv6 in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
        }
    }
}

/// An absolute `http`/`https` URL without userinfo or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub host: Host,
    /// The explicit port, else the scheme's default.
    pub port: u16,
    /// As written (may be empty); ASCII only.
    pub path: String,
    /// After `?`, without it.
    pub query: Option<String>,
}

/// A parsed URL with the parts [`Url`] leaves out, for callers that must refuse
/// or use them (configuration refuses userinfo; a proxy URL carries credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    pub url: Url,
    pub userinfo: Option<String>,
    pub fragment: Option<String>,
}

/// Why a URL was refused. Never carries the URL: it may hold credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    TooLong,
    /// Spaces, control characters, backslashes or non-ASCII.
    Character,
    /// Not `scheme://authority...`.
    NotAbsolute,
    /// A scheme other than http and https.
    Scheme,
    /// No host, or one that is neither a DNS name nor an IP literal.
    Host,
    /// Not a number 1-65535.
    Port,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::TooLong => "the URL is too long",
            UrlError::Character => {
                "the URL contains spaces, control characters, backslashes or non-ASCII characters"
            }
            UrlError::NotAbsolute => "the URL is not absolute (scheme://host/...)",
            UrlError::Scheme => "only http:// and https:// URLs are supported",
            UrlError::Host => {
                "the URL's host is not a DNS name (letters, digits, - and _) or an IP address"
            }
            UrlError::Port => "the URL's port is not a number 1-65535",
        })
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// Parses an absolute http(s) URL, refusing userinfo and keeping no fragment.
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let parts = parse_parts(text)?;
        if parts.userinfo.is_some() {
            return Err(UrlError::Host);
        }
        Ok(parts.url)
    }

    /// `scheme://host:port`, the port always written: what logs and metrics may show.
    pub fn origin(&self) -> String {
        format!("{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }

    /// The `Host` header value: the port only when it is not the default.
    pub fn host_header(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Same scheme, host and port.
    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// The path a request for exactly this URL uses: as written, `/` when empty.
    pub fn request_path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }

    /// Path and query as sent on the request line.
    pub fn request_target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.request_path()),
            None => self.request_path().to_string(),
        }
    }

    /// Equality of two URLs as locations: scheme and host compare without case
    /// (both are stored lower case), ports after defaults, an empty path is `/`,
    /// path and query byte for byte.
    pub fn same_location(&self, other: &Url) -> bool {
        self.same_origin(other)
            && self.request_path() == other.request_path()
            && self.query == other.query
    }
}

/// Parses `scheme://[userinfo@]host[:port][/path][?query][#fragment]`.
pub fn parse_parts(text: &str) -> Result<Parts, UrlError> {
    if text.len() > MAX_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    if !text.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return Err(UrlError::Character);
    }
    let (scheme, rest) = text.split_once("://").ok_or(UrlError::NotAbsolute)?;
    if !is_scheme(scheme) {
        return Err(UrlError::NotAbsolute);
    }
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(UrlError::Scheme),
    };
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f.to_string())),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q.to_string())),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, authority),
    };
    let (host, port) = split_host_port(host_port)?;
    let port = match port {
        None => scheme.default_port(),
        Some(p) => parse_port(p)?,
    };
    Ok(Parts {
        url: Url {
            scheme,
            host,
            port,
            path: path.to_string(),
            query,
        },
        userinfo,
        fragment,
    })
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn split_host_port(text: &str) -> Result<(Host, Option<&str>), UrlError> {
    if let Some(inner) = text.strip_prefix('[') {
        let (literal, after) = inner.split_once(']').ok_or(UrlError::Host)?;
        // No zone identifiers (`%25eth0`): an address must mean one thing.
        let v6: Ipv6Addr = literal.parse().map_err(|_| UrlError::Host)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::Host)?),
        };
        return Ok((Host::Ip(IpAddr::V6(v6)), port));
    }
    let (host, port) = match text.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (text, None),
    };
    Ok((parse_host(host)?, port))
}

fn parse_port(text: &str) -> Result<u16, UrlError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::Port);
    }
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(UrlError::Port),
    }
}

/// A DNS name of letters, digits, `-` and `_` in non-empty labels, or a
/// dotted-quad IPv4 literal. A last label starting with a digit must make the
/// whole host a canonical IPv4 address: resolvers read `0x7f.1`, `017.0.0.1` or
/// `2130706433` as addresses, so such names are refused rather than guessed at.
pub fn parse_host(text: &str) -> Result<Host, UrlError> {
    if text.is_empty() || text.len() > MAX_HOST_BYTES {
        return Err(UrlError::Host);
    }
    let lower = text.to_ascii_lowercase();
    let mut last = "";
    for label in lower.split('.') {
        let ok = !label.is_empty()
            && label.len() <= MAX_LABEL_BYTES
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(UrlError::Host);
        }
        last = label;
    }
    if last.starts_with(|c: char| c.is_ascii_digit()) {
        let v4: Ipv4Addr = lower.parse().map_err(|_| UrlError::Host)?;
        return Ok(Host::Ip(IpAddr::V4(v4)));
    }
    Ok(Host::Name(lower))
}

/// Resolves a `Location`-style reference against `base` (RFC 3986 section 5.2):
/// absolute and scheme-relative references are parsed whole (userinfo refused),
/// others keep `base`'s origin; dot segments are removed; the fragment is dropped.
pub fn resolve(base: &Url, reference: &str) -> Result<Url, UrlError> {
    if reference.len() > MAX_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    if !reference
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'\\')
    {
        return Err(UrlError::Character);
    }
    let reference = reference.split('#').next().unwrap_or_default();
    if reference.starts_with("//") {
        return Url::parse(&format!("{}:{reference}", base.scheme.as_str()));
    }
    let before_path = reference.find(['/', '?']).unwrap_or(reference.len());
    if let Some((scheme, _)) = reference[..before_path].split_once(':') {
        if is_scheme(scheme) {
            return Url::parse(reference);
        }
    }
    let (ref_path, ref_query) = match reference.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (reference, None),
    };
    let (path, query) = if ref_path.is_empty() {
        let query = ref_query.or_else(|| base.query.clone());
        (base.path.clone(), query)
    } else if ref_path.starts_with('/') {
        (remove_dot_segments(ref_path), ref_query)
    } else {
        let directory = match base.path.rfind('/') {
            Some(i) => &base.path[..=i],
            None => "/",
        };
        (
            remove_dot_segments(&format!("{directory}{ref_path}")),
            ref_query,
        )
    };
    Ok(Url {
        scheme: base.scheme,
        host: base.host.clone(),
        port: base.port,
        path,
        query,
    })
}

/// RFC 3986 section 5.2.4, on literal `.` and `..` segments only (encoded dots
/// are left for the path rules to refuse).
pub fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input
            .strip_prefix("../")
            .or_else(|| input.strip_prefix("./"))
        {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") || input == "/.." {
            input = if input == "/.." { "/" } else { &input[3..] };
            match output.rfind('/') {
                Some(i) => output.truncate(i),
                None => output.clear(),
            }
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..]
                .find('/')
                .map(|i| i + start)
                .unwrap_or(input.len());
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn parses_the_usual_shapes() {
        let u = url("HTTPS://API.Example.COM:8443/v1/x/?a=b");
        assert_eq!(u.scheme, Scheme::Https);
        assert_eq!(u.host, Host::Name("api.example.com".into()));
        assert_eq!(u.port, 8443);
        assert_eq!(u.path, "/v1/x/");
        assert_eq!(u.query.as_deref(), Some("a=b"));
        assert_eq!(u.origin(), "https://api.example.com:8443");
        assert_eq!(u.host_header(), "api.example.com:8443");

        let v6 = url("http://[::1]:9000");
        assert_eq!(v6.host, Host::Ip("::1".parse().unwrap()));
        assert_eq!(v6.request_path(), "/");
        assert_eq!(v6.host_header(), "[::1]:9000");
        assert_eq!(url("https://10.1.2.3/").host_header(), "10.1.2.3");
    }

    #[test]
    fn refuses_hosts_a_resolver_would_read_as_numbers() {
        for text in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://127.0.0.01/",
            "http://1.2.3.4.5/",
            "http://a.0x10/",
            "http://169.254.169.254.nip.io.1/",
        ] {
            assert_eq!(Url::parse(text), Err(UrlError::Host), "{text}");
        }
        // A digit inside a name is fine; a numeric last label is not.
        assert!(Url::parse("http://1password.example/").is_ok());
        assert!(Url::parse("http://s3.eu-1.example/").is_ok());
    }

    #[test]
    fn refuses_what_could_mean_two_things() {
        for (text, err) in [
            ("http://exa mple.com/", UrlError::Character),
            ("http://example.com/\u{e9}", UrlError::Character),
            ("http://example.com\\@evil/", UrlError::Character),
            ("http://ex%61mple.com/", UrlError::Host),
            ("http://[fe80::1%25eth0]/", UrlError::Host),
            ("http://example.com./", UrlError::Host),
            ("http://.example.com/", UrlError::Host),
            ("http://a..b/", UrlError::Host),
            ("http:///path", UrlError::Host),
            ("http://:80/", UrlError::Host),
            ("http://h:0/", UrlError::Port),
            ("http://h:/", UrlError::Port),
            ("http://h:65536/", UrlError::Port),
            ("http://h:+80/", UrlError::Port),
            ("http://h:80:81/", UrlError::Port),
            ("http://[::1]x/", UrlError::Host),
            ("ftp://h/", UrlError::Scheme),
            ("javascript://h/", UrlError::Scheme),
            ("h/x", UrlError::NotAbsolute),
            ("http:/h/x", UrlError::NotAbsolute),
            ("1http://h/", UrlError::NotAbsolute),
        ] {
            assert_eq!(Url::parse(text), Err(err), "{text}");
        }
        assert_eq!(
            Url::parse(&format!("http://h/{}", "a".repeat(MAX_URL_BYTES))),
            Err(UrlError::TooLong)
        );
    }

    #[test]
    fn userinfo_is_seen_and_refused_by_parse() {
        let parts = parse_parts("http://u:p@proxy:3128/#frag").unwrap();
        assert_eq!(parts.userinfo.as_deref(), Some("u:p"));
        assert_eq!(parts.fragment.as_deref(), Some("frag"));
        assert_eq!(parts.url.host, Host::Name("proxy".into()));
        // The last @ ends the userinfo: `a@b@c` is host c, and refused anyway.
        assert_eq!(Url::parse("http://a@b@c/"), Err(UrlError::Host));
        assert_eq!(Url::parse("http://169.254.169.254@h/"), Err(UrlError::Host));
    }

    #[test]
    fn location_equality_ignores_case_and_default_ports() {
        let a = url("HTTPS://Auth.Example:443/token");
        assert!(a.same_location(&url("https://auth.example/token")));
        assert!(!a.same_location(&url("https://auth.example/token/")));
        assert!(!a.same_location(&url("https://auth.example/Token")));
        assert!(!a.same_location(&url("http://auth.example/token")));
        assert!(!a.same_location(&url("https://auth.example:8443/token")));
        assert!(!a.same_location(&url("https://auth.example/token?x")));
        assert!(url("https://h").same_location(&url("https://h/")));
    }

    #[test]
    fn resolves_references_like_rfc_3986() {
        let base = url("https://h:8443/api/v1/items?q=1");
        let cases = [
            ("/other", "https://h:8443/other"),
            ("next", "https://h:8443/api/v1/next"),
            ("../up", "https://h:8443/api/up"),
            ("../../../../x", "https://h:8443/x"),
            ("./a/./b/../c", "https://h:8443/api/v1/a/c"),
            ("?page=2", "https://h:8443/api/v1/items?page=2"),
            ("", "https://h:8443/api/v1/items?q=1"),
            ("#frag", "https://h:8443/api/v1/items?q=1"),
            ("//other.example/p", "https://other.example/p"),
            ("HTTP://Other:81/p?x#y", "http://other:81/p?x"),
            ("/a/b/..", "https://h:8443/a/"),
            ("/a/.", "https://h:8443/a/"),
            ("/%2e%2e/x", "https://h:8443/%2e%2e/x"),
        ];
        for (reference, expected) in cases {
            let got = resolve(&base, reference).unwrap();
            assert!(got.same_location(&url(expected)), "{reference} → {got:?}");
        }
        for (reference, err) in [
            ("//user@evil/", UrlError::Host),
            ("file:///etc/passwd", UrlError::Scheme),
            ("gopher://h/", UrlError::Scheme),
            ("http:evil", UrlError::NotAbsolute),
            ("/a b", UrlError::Character),
            ("\\\\evil/x", UrlError::Character),
            ("/x\u{0}", UrlError::Character),
        ] {
            assert_eq!(resolve(&base, reference), Err(err), "{reference}");
        }
    }

    #[test]
    fn dot_segment_removal_matches_the_rfc_examples() {
        assert_eq!(remove_dot_segments("/a/b/c/./../../g"), "/a/g");
        assert_eq!(remove_dot_segments("mid/content=5/../6"), "mid/6");
        assert_eq!(remove_dot_segments("/../../x"), "/x");
        assert_eq!(remove_dot_segments("/a/.."), "/");
        assert_eq!(remove_dot_segments("/..."), "/...");
        assert_eq!(remove_dot_segments(""), "");
    }

    /// Parsing and resolving never panic, whatever the bytes.
    #[test]
    fn arbitrary_text_never_panics() {
        let alphabet: Vec<char> = "htps:/[]@%.?#\\0123456789abcdef:x\u{e9} \r\n"
            .chars()
            .collect();
        let base = url("https://h/a/b");
        let mut seed = 0x9e37_79b9u32;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = (seed >> 24) as usize % 40;
            let text: String = (0..len)
                .map(|i| {
                    let r = seed.rotate_left(i as u32 * 5) as usize;
                    alphabet[r % alphabet.len()]
                })
                .collect();
            let _ = parse_parts(&text);
            let _ = parse_parts(&format!("http://{text}"));
            let _ = resolve(&base, &text);
        }
    }
}
