//! Harpoon's validated settings: targets (configured, later OAuth-discovered),
//! limits, proxy and TLS trust, built once from raw values. Errors name the key and never echo a URL.

use crate::mcp::harpoon::client::{Resolve, SystemResolver};
use crate::mcp::harpoon::policy::addresses::{self, AddressProblem};
use crate::mcp::harpoon::policy::{paths, Method};
use crate::mcp::harpoon::url::{self, Host, Scheme, Url, UrlError};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Most configured targets.
pub const MAX_TARGETS: usize = 64;
/// Default response cap of a target (`max_response_bytes`).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 102_400;
/// Default request body cap of a target (`max_request_size_bytes`).
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 102_400;
/// Every size setting is 1..=this.
pub const MAX_SIZE_BYTES: u64 = 10_485_760;
/// Default and ceiling of `max_redirects`.
pub const DEFAULT_MAX_REDIRECTS: u8 = 5;
pub const MAX_REDIRECTS: u8 = 5;
/// Default and ceiling of a target's `timeout_seconds` (floor 1).
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
pub const MAX_TIMEOUT_SECONDS: u64 = 120;
/// Longest target description (it is shown to the model).
pub const MAX_DESCRIPTION_BYTES: usize = 1024;
/// Longest label: `^[a-z0-9][a-z0-9_-]{0,63}$`.
pub const MAX_LABEL_BYTES: usize = 64;
/// Longest unix socket path (`sun_path` holds 108 bytes with the NUL).
pub const MAX_UNIX_SOCKET_PATH_BYTES: usize = 107;
/// Methods a target allows when the setting is absent.
pub const DEFAULT_METHODS: [Method; 3] = [Method::Get, Method::Post, Method::Put];

/// Settings as the configuration layer read them, before any check. Numbers
/// arrive parsed; ranges are checked here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSettings {
    pub allow_plaintext_http: bool,
    pub max_response_bytes: Option<u64>,
    pub max_redirects: Option<u64>,
    /// `http://[user:password@]host:port` (never logged).
    pub http_proxy: Option<String>,
    pub targets: Vec<RawTarget>,
}

/// One target as configured (`base_url` and its alias `url` arrive as `url`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawTarget {
    pub label: String,
    pub url: String,
    pub description: Option<String>,
    /// Any case; `None` means GET, POST, PUT.
    pub allowed_methods: Option<Vec<String>>,
    pub max_request_size_bytes: Option<u64>,
    pub max_response_size_bytes: Option<u64>,
    pub timeout_seconds: Option<u64>,
    pub unix_socket: Option<String>,
}

/// The setting a [`SettingsError`] is about, spelled as in a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingKey {
    MaxResponseBytes,
    MaxRedirects,
    HttpProxy,
    Targets,
    CaBundle,
    Target { index: usize, field: TargetField },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetField {
    Label,
    Url,
    Description,
    AllowedMethods,
    MaxRequestSizeBytes,
    MaxResponseSizeBytes,
    TimeoutSeconds,
    UnixSocket,
}

impl TargetField {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetField::Label => "label",
            TargetField::Url => "base_url",
            TargetField::Description => "description",
            TargetField::AllowedMethods => "allowed_methods",
            TargetField::MaxRequestSizeBytes => "max_request_size_bytes",
            TargetField::MaxResponseSizeBytes => "max_response_size_bytes",
            TargetField::TimeoutSeconds => "timeout_seconds",
            TargetField::UnixSocket => "unix_socket",
        }
    }
}

impl fmt::Display for SettingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingKey::MaxResponseBytes => f.write_str("harpoon.max_response_bytes"),
            SettingKey::MaxRedirects => f.write_str("harpoon.max_redirects"),
            SettingKey::HttpProxy => f.write_str("harpoon.http_proxy"),
            SettingKey::Targets => f.write_str("harpoon.targets"),
            SettingKey::CaBundle => f.write_str("ca_bundle_path"),
            SettingKey::Target { index, field } => {
                write!(f, "harpoon.targets[{index}].{}", field.as_str())
            }
        }
    }
}

/// A setting that cannot be used. `problem` never quotes a URL or proxy credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub key: SettingKey,
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

impl std::error::Error for SettingsError {}

/// Where a target came from (also its category in `list_targets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSource {
    Config,
    Oauth,
}

impl TargetSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSource::Config => "config",
            TargetSource::Oauth => "oauth",
        }
    }
}

/// One allowlisted destination. Built only by [`validate`] or the OAuth
/// discovery mapping, so every field has passed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub(crate) label: String,
    pub(crate) url: Url,
    pub(crate) description: Option<String>,
    pub(crate) source: TargetSource,
    pub(crate) allowed_methods: Vec<Method>,
    pub(crate) max_request_bytes: u64,
    pub(crate) max_response_bytes: u64,
    pub(crate) timeout: Duration,
    pub(crate) unix_socket: Option<PathBuf>,
    /// For an OAuth token endpoint: the PRMD `resource` it issues tokens for.
    pub(crate) audience: Option<String>,
}

impl Target {
    pub fn label(&self) -> &str {
        &self.label
    }
    pub fn url(&self) -> &Url {
        &self.url
    }
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    pub fn source(&self) -> TargetSource {
        self.source
    }
    pub fn allowed_methods(&self) -> &[Method] {
        &self.allowed_methods
    }
    pub fn max_request_bytes(&self) -> u64 {
        self.max_request_bytes
    }
    pub fn max_response_bytes(&self) -> u64 {
        self.max_response_bytes
    }
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    pub fn unix_socket(&self) -> Option<&PathBuf> {
        self.unix_socket.as_ref()
    }
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }
}

/// The targets of one moment; calls take a snapshot and keep it to the end.
#[derive(Debug, Clone, Default)]
pub struct TargetSet {
    targets: Vec<Arc<Target>>,
}

impl TargetSet {
    pub fn get(&self, label: &str) -> Option<&Arc<Target>> {
        self.targets.iter().find(|t| t.label == label)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Target>> {
        self.targets.iter()
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The first target whose URL is exactly `url`: a redirect may go there,
    /// and in answers it becomes `harpoon://<label>`.
    pub fn at_location(&self, url: &Url) -> Option<&Arc<Target>> {
        self.targets.iter().find(|t| t.url.same_location(url))
    }

    /// The largest target cap (`max_response_bytes`'s schema maximum), or `fallback` without targets.
    pub fn largest_response_cap(&self, fallback: u64) -> u64 {
        self.targets
            .iter()
            .map(|t| t.max_response_bytes)
            .max()
            .unwrap_or(fallback)
    }
}

/// The live target set: configured targets never change; the `oauth` ones are
/// replaced as a whole after each discovery. Cheap to clone and share.
#[derive(Debug, Clone)]
pub struct TargetStore {
    configured: Arc<Vec<Arc<Target>>>,
    current: Arc<RwLock<Arc<TargetSet>>>,
}

impl TargetStore {
    pub fn new(configured: Vec<Target>) -> TargetStore {
        let configured: Vec<Arc<Target>> = configured.into_iter().map(Arc::new).collect();
        let set = TargetSet {
            targets: configured.clone(),
        };
        TargetStore {
            configured: Arc::new(configured),
            current: Arc::new(RwLock::new(Arc::new(set))),
        }
    }

    /// The targets now. A call in flight keeps the snapshot it started with.
    pub fn snapshot(&self) -> Arc<TargetSet> {
        match self.current.read() {
            Ok(set) => set.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces every `oauth` target by `discovered`, after the configured
    /// ones. Anything that is not an `oauth` target, or whose label is taken,
    /// is left out. Returns how many discovered targets were kept.
    pub fn replace_oauth(&self, discovered: Vec<Target>) -> usize {
        let mut targets = (*self.configured).clone();
        let mut kept = 0;
        for target in discovered {
            if target.source == TargetSource::Oauth
                && !targets.iter().any(|t| t.label == target.label)
            {
                targets.push(Arc::new(target));
                kept += 1;
            }
        }
        let set = Arc::new(TargetSet { targets });
        match self.current.write() {
            Ok(mut current) => *current = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        kept
    }

    /// Labels of the configured targets (OAuth labels must avoid them).
    pub fn configured_labels(&self) -> Vec<String> {
        self.configured.iter().map(|t| t.label.clone()).collect()
    }
}

/// An HTTP proxy reached with CONNECT for every TCP target. `Debug` hides the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpProxy {
    pub(crate) host: Host,
    pub(crate) port: u16,
    /// `Basic …` for `Proxy-Authorization`, from the URL's userinfo.
    pub(crate) authorization: Option<String>,
}

impl fmt::Debug for HttpProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Everything Harpoon needs, validated. Construct with [`validate`].
#[derive(Clone)]
pub struct HarpoonSettings {
    pub(crate) targets: Vec<Target>,
    pub(crate) allow_plaintext_http: bool,
    pub(crate) max_response_bytes: u64,
    pub(crate) max_redirects: u8,
    pub(crate) http_proxy: Option<HttpProxy>,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) resolver: Arc<dyn Resolve>,
}

impl fmt::Debug for HarpoonSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HarpoonSettings")
            .field("targets", &self.targets.len())
            .field("allow_plaintext_http", &self.allow_plaintext_http)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_redirects", &self.max_redirects)
            .field("http_proxy", &self.http_proxy)
            .finish()
    }
}

impl HarpoonSettings {
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }
    pub fn allow_plaintext_http(&self) -> bool {
        self.allow_plaintext_http
    }
    /// The default target cap.
    pub fn max_response_bytes(&self) -> u64 {
        self.max_response_bytes
    }
    pub fn max_redirects(&self) -> u8 {
        self.max_redirects
    }

    /// Replaces the system resolver (tests, or a resolver with its own cache).
    /// Every address it returns is still vetted.
    pub fn with_resolver(mut self, resolver: Arc<dyn Resolve>) -> HarpoonSettings {
        self.resolver = resolver;
        self
    }
}

/// Checks `raw` and builds the settings. `roots` is the trust for https
/// targets: the web roots plus the operator's CA bundle
/// (`crate::net::root_store(Hop::ControlPlane, &net)`). No client certificate is ever offered.
pub fn validate(
    raw: &RawSettings,
    roots: rustls::RootCertStore,
) -> Result<HarpoonSettings, SettingsError> {
    let max_response_bytes = ranged(
        raw.max_response_bytes,
        1,
        MAX_SIZE_BYTES,
        DEFAULT_MAX_RESPONSE_BYTES,
    )
    .map_err(|problem| SettingsError {
        key: SettingKey::MaxResponseBytes,
        problem,
    })?;
    let max_redirects = ranged(
        raw.max_redirects,
        0,
        u64::from(MAX_REDIRECTS),
        u64::from(DEFAULT_MAX_REDIRECTS),
    )
    .map_err(|problem| SettingsError {
        key: SettingKey::MaxRedirects,
        problem,
    })?;
    let max_redirects = u8::try_from(max_redirects).unwrap_or(MAX_REDIRECTS);
    let http_proxy = match &raw.http_proxy {
        None => None,
        Some(text) => Some(parse_proxy(text).map_err(|problem| SettingsError {
            key: SettingKey::HttpProxy,
            problem: problem.to_string(),
        })?),
    };
    if raw.targets.len() > MAX_TARGETS {
        return Err(SettingsError {
            key: SettingKey::Targets,
            problem: format!(
                "{} targets; at most {MAX_TARGETS} are allowed",
                raw.targets.len()
            ),
        });
    }
    let mut targets: Vec<Target> = Vec::with_capacity(raw.targets.len());
    for (index, t) in raw.targets.iter().enumerate() {
        let target = configured_target(t, raw.allow_plaintext_http, max_response_bytes).map_err(
            |(field, problem)| SettingsError {
                key: SettingKey::Target { index, field },
                problem,
            },
        )?;
        if targets.iter().any(|other| other.label == target.label) {
            return Err(SettingsError {
                key: SettingKey::Target {
                    index,
                    field: TargetField::Label,
                },
                problem: format!("the label \"{}\" is used by another target", target.label),
            });
        }
        targets.push(target);
    }
    let tls = tls_config(roots).map_err(|problem| SettingsError {
        key: SettingKey::CaBundle,
        problem,
    })?;
    Ok(HarpoonSettings {
        targets,
        allow_plaintext_http: raw.allow_plaintext_http,
        max_response_bytes,
        max_redirects,
        http_proxy,
        tls,
        resolver: Arc::new(SystemResolver),
    })
}

fn ranged(value: Option<u64>, min: u64, max: u64, default: u64) -> Result<u64, String> {
    match value {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(format!("{v} is out of range {min}..{max}")),
    }
}

/// `^[a-z0-9][a-z0-9_-]{0,63}$`.
pub fn is_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_LABEL_BYTES
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// Why a target URL cannot be used (configured or discovered). Never quotes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetUrlProblem {
    Url(UrlError),
    Userinfo,
    Query,
    Fragment,
    Path(paths::PathProblem),
    Plaintext,
    Address,
}

impl fmt::Display for TargetUrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetUrlProblem::Url(e) => write!(f, "{e}"),
            TargetUrlProblem::Userinfo => f.write_str(
                "the URL carries user:password@ credentials; send them in an Authorization header instead",
            ),
            TargetUrlProblem::Query => f.write_str("a target URL cannot have a query"),
            TargetUrlProblem::Fragment => f.write_str("a target URL cannot have a fragment"),
            TargetUrlProblem::Path(p) => write!(f, "the URL path is not usable ({p})"),
            TargetUrlProblem::Plaintext => f.write_str(
                "plain http:// needs harpoon.allow_plaintext_http (use https://)",
            ),
            TargetUrlProblem::Address => f.write_str(
                "the URL's address is never reachable through harpoon (metadata, link-local, \
                 unspecified, multicast, broadcast or an IPv4-embedding IPv6 form)",
            ),
        }
    }
}

/// The URL rules shared by configured and discovered targets: http(s), no
/// userinfo, query, fragment or unsafe path, plaintext only when allowed, and
/// no literal address that the connect-time address rule would refuse.
pub fn check_target_url(text: &str, allow_plaintext_http: bool) -> Result<Url, TargetUrlProblem> {
    let parts = url::parse_parts(text).map_err(TargetUrlProblem::Url)?;
    if parts.userinfo.is_some() {
        return Err(TargetUrlProblem::Userinfo);
    }
    if parts.url.query.is_some() {
        return Err(TargetUrlProblem::Query);
    }
    if parts.fragment.is_some() {
        return Err(TargetUrlProblem::Fragment);
    }
    let url = parts.url;
    if !url.path.is_empty() {
        paths::check(&url.path).map_err(TargetUrlProblem::Path)?;
    }
    if url.scheme == Scheme::Http && !allow_plaintext_http {
        return Err(TargetUrlProblem::Plaintext);
    }
    if let Some(ip) = url.host.ip() {
        match addresses::vet(ip, addresses::is_loopback_host(&url.host)) {
            Ok(()) => {}
            Err(AddressProblem::Forbidden | AddressProblem::Loopback) => {
                return Err(TargetUrlProblem::Address)
            }
        }
    }
    Ok(url)
}

fn configured_target(
    raw: &RawTarget,
    allow_plaintext_http: bool,
    default_cap: u64,
) -> Result<Target, (TargetField, String)> {
    if !is_label(&raw.label) {
        return Err((
            TargetField::Label,
            "a label is 1-64 characters: lowercase letters, digits, _ and -, starting with a letter or digit"
                .to_string(),
        ));
    }
    let url = check_target_url(&raw.url, allow_plaintext_http)
        .map_err(|p| (TargetField::Url, p.to_string()))?;
    let description = match &raw.description {
        None => None,
        Some(d) if d.len() > MAX_DESCRIPTION_BYTES => {
            return Err((
                TargetField::Description,
                format!("longer than {MAX_DESCRIPTION_BYTES} bytes"),
            ))
        }
        Some(d) if d.chars().any(char::is_control) => {
            return Err((
                TargetField::Description,
                "contains control characters".to_string(),
            ))
        }
        Some(d) if d.is_empty() => None,
        Some(d) => Some(d.clone()),
    };
    let allowed_methods = match &raw.allowed_methods {
        None => DEFAULT_METHODS.to_vec(),
        Some(list) => {
            let mut methods = Vec::new();
            for name in list {
                let method = Method::parse(&name.trim().to_ascii_uppercase()).ok_or_else(|| {
                    (
                        TargetField::AllowedMethods,
                        "unknown method; use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"
                            .to_string(),
                    )
                })?;
                if !methods.contains(&method) {
                    methods.push(method);
                }
            }
            if methods.is_empty() {
                return Err((TargetField::AllowedMethods, "no method listed".to_string()));
            }
            methods
        }
    };
    let max_request_bytes = ranged(
        raw.max_request_size_bytes,
        1,
        MAX_SIZE_BYTES,
        DEFAULT_MAX_REQUEST_BYTES,
    )
    .map_err(|p| (TargetField::MaxRequestSizeBytes, p))?;
    let max_response_bytes = ranged(raw.max_response_size_bytes, 1, MAX_SIZE_BYTES, default_cap)
        .map_err(|p| (TargetField::MaxResponseSizeBytes, p))?;
    let timeout = ranged(
        raw.timeout_seconds,
        1,
        MAX_TIMEOUT_SECONDS,
        DEFAULT_TIMEOUT_SECONDS,
    )
    .map_err(|p| (TargetField::TimeoutSeconds, p))?;
    let unix_socket = match &raw.unix_socket {
        None => None,
        Some(path) if path.is_empty() => None,
        Some(path) if path.len() > MAX_UNIX_SOCKET_PATH_BYTES || path.contains('\0') => {
            return Err((
                TargetField::UnixSocket,
                format!("a socket path is at most {MAX_UNIX_SOCKET_PATH_BYTES} bytes, without NUL"),
            ))
        }
        Some(path) => Some(PathBuf::from(path)),
    };
    Ok(Target {
        label: raw.label.clone(),
        url,
        description,
        source: TargetSource::Config,
        allowed_methods,
        max_request_bytes,
        max_response_bytes,
        timeout: Duration::from_secs(timeout),
        unix_socket,
        audience: None,
    })
}

/// `http://[user:password@]host:port[/]`: CONNECT proxies only.
fn parse_proxy(text: &str) -> Result<HttpProxy, &'static str> {
    let usage = "not a usable proxy URL: expected http://[user:password@]host:port";
    let parts = url::parse_parts(text).map_err(|_| usage)?;
    let url = parts.url;
    if url.scheme != Scheme::Http {
        return Err("only http:// proxies (CONNECT) are supported");
    }
    if !(url.path.is_empty() || url.path == "/") || url.query.is_some() || parts.fragment.is_some()
    {
        return Err("a proxy URL has no path, query or fragment");
    }
    let authorization = match parts.userinfo {
        None => None,
        Some(userinfo) => {
            let decoded = percent_decode(&userinfo)
                .ok_or("the proxy credentials are not valid percent-encoded text")?;
            Some(format!(
                "Basic {}",
                crate::base64::encode(decoded.as_bytes())
            ))
        }
    };
    Ok(HttpProxy {
        host: url.host,
        port: url.port,
        authorization,
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn tls_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_roots() -> rustls::RootCertStore {
        rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }
    }

    fn target(label: &str, url: &str) -> RawTarget {
        RawTarget {
            label: label.into(),
            url: url.into(),
            ..RawTarget::default()
        }
    }

    fn one(t: RawTarget) -> RawSettings {
        RawSettings {
            targets: vec![t],
            ..RawSettings::default()
        }
    }

    fn error(raw: &RawSettings) -> SettingsError {
        validate(raw, web_roots()).unwrap_err()
    }

    #[test]
    fn defaults_follow_the_spec() {
        let s = validate(&one(target("api", "https://api.internal/v1/")), web_roots()).unwrap();
        assert_eq!(s.max_response_bytes(), 102_400);
        assert_eq!(s.max_redirects(), 5);
        assert!(!s.allow_plaintext_http());
        let t = &s.targets()[0];
        assert_eq!(t.allowed_methods(), &DEFAULT_METHODS);
        assert_eq!(t.max_request_bytes(), 102_400);
        assert_eq!(t.max_response_bytes(), 102_400);
        assert_eq!(t.timeout(), Duration::from_secs(30));
        assert_eq!(t.url().path, "/v1/");
        assert_eq!(t.source(), TargetSource::Config);
        // The default target cap follows the global setting.
        let mut raw = one(target("api", "https://api.internal"));
        raw.max_response_bytes = Some(5000);
        let s = validate(&raw, web_roots()).unwrap();
        assert_eq!(s.targets()[0].max_response_bytes(), 5000);
        // No target at all is valid: the channel stays disabled.
        assert!(validate(&RawSettings::default(), web_roots()).is_ok());
    }

    #[test]
    fn ranges_are_enforced_with_the_key_named() {
        let cases: Vec<(RawSettings, &str)> = vec![
            (
                RawSettings {
                    max_response_bytes: Some(0),
                    ..RawSettings::default()
                },
                "harpoon.max_response_bytes",
            ),
            (
                RawSettings {
                    max_response_bytes: Some(MAX_SIZE_BYTES + 1),
                    ..RawSettings::default()
                },
                "harpoon.max_response_bytes",
            ),
            (
                RawSettings {
                    max_redirects: Some(6),
                    ..RawSettings::default()
                },
                "harpoon.max_redirects",
            ),
            (
                one(RawTarget {
                    timeout_seconds: Some(0),
                    ..target("a", "https://h")
                }),
                "harpoon.targets[0].timeout_seconds",
            ),
            (
                one(RawTarget {
                    timeout_seconds: Some(121),
                    ..target("a", "https://h")
                }),
                "harpoon.targets[0].timeout_seconds",
            ),
            (
                one(RawTarget {
                    max_request_size_bytes: Some(0),
                    ..target("a", "https://h")
                }),
                "harpoon.targets[0].max_request_size_bytes",
            ),
            (
                one(RawTarget {
                    max_response_size_bytes: Some(MAX_SIZE_BYTES + 1),
                    ..target("a", "https://h")
                }),
                "harpoon.targets[0].max_response_size_bytes",
            ),
            (
                one(RawTarget {
                    allowed_methods: Some(vec!["GET".into(), "TRACE".into()]),
                    ..target("a", "https://h")
                }),
                "harpoon.targets[0].allowed_methods",
            ),
            (
                one(RawTarget {
                    allowed_methods: Some(vec![]),
                    ..target("a", "https://h")
                }),
                "harpoon.targets[0].allowed_methods",
            ),
            (
                one(RawTarget {
                    unix_socket: Some("/tmp/".to_string() + &"s".repeat(120)),
                    ..target("a", "https://h")
                }),
                "harpoon.targets[0].unix_socket",
            ),
            (
                one(RawTarget {
                    description: Some("line\nbreak".into()),
                    ..target("a", "https://h")
                }),
                "harpoon.targets[0].description",
            ),
        ];
        for (raw, key) in cases {
            assert_eq!(error(&raw).key.to_string(), key);
        }
        let ok = one(RawTarget {
            allowed_methods: Some(vec!["get".into(), " Delete ".into(), "GET".into()]),
            max_request_size_bytes: Some(MAX_SIZE_BYTES),
            timeout_seconds: Some(120),
            ..target("a", "https://h")
        });
        let s = validate(&ok, web_roots()).unwrap();
        assert_eq!(
            s.targets()[0].allowed_methods(),
            &[Method::Get, Method::Delete]
        );
    }

    #[test]
    fn labels_are_checked_and_unique() {
        for bad in ["", "Api", "-api", "_a", "a.b", "a b", &"a".repeat(65)] {
            assert_eq!(
                error(&one(target(bad, "https://h"))).key.to_string(),
                "harpoon.targets[0].label",
                "{bad:?}"
            );
        }
        assert!(is_label(&"a".repeat(64)));
        assert!(is_label("0-a_b"));
        let raw = RawSettings {
            targets: vec![target("a", "https://h1"), target("a", "https://h2")],
            ..RawSettings::default()
        };
        assert_eq!(error(&raw).key.to_string(), "harpoon.targets[1].label");
    }

    #[test]
    fn too_many_targets() {
        let raw = RawSettings {
            targets: (0..=MAX_TARGETS)
                .map(|i| target(&format!("t{i}"), "https://h"))
                .collect(),
            ..RawSettings::default()
        };
        assert_eq!(error(&raw).key, SettingKey::Targets);
        let fits = RawSettings {
            targets: (0..MAX_TARGETS)
                .map(|i| target(&format!("t{i}"), "https://h"))
                .collect(),
            ..RawSettings::default()
        };
        assert!(validate(&fits, web_roots()).is_ok());
    }

    /// URL rules and the H11 literal refusal at startup; the URL is never echoed.
    #[test]
    fn target_urls_are_refused_without_being_echoed() {
        for url in [
            "ftp://secret-host/x",
            "https://user:s3cret@secret-host/x",
            "https://secret-host/x?token=s3cret",
            "https://secret-host/x#s3cret",
            "https://secret-host/a/../s3cret",
            "https://secret-host/./s3cret",
            "https://secret-host/%2e%2e/s3cret",
            "http://secret-host/s3cret",
            "https://169.254.169.254/s3cret",
            "https://[fd00:ec2::254]/s3cret",
            "https://100.100.100.200/s3cret",
            "https://0.0.0.0/s3cret",
            "https://[::ffff:169.254.169.254]/s3cret",
            "https://[::]/s3cret",
            "https://224.0.0.1/s3cret",
            "https://0x7f.1/s3cret",
            "https://secret host/s3cret",
            "secret-host/s3cret",
        ] {
            let err = error(&one(target("a", url)));
            assert_eq!(err.key.to_string(), "harpoon.targets[0].base_url", "{url}");
            let text = err.to_string();
            assert!(
                !text.contains("secret") && !text.contains("s3cret"),
                "{url}: {text}"
            );
        }
        let mut plaintext = one(target("a", "http://127.0.0.1:8080/api"));
        plaintext.allow_plaintext_http = true;
        assert!(validate(&plaintext, web_roots()).is_ok());
        for ok in [
            "https://localhost:1",
            "https://[::1]/",
            "https://10.0.0.1/x/",
            "https://[fd00::1]",
        ] {
            assert!(validate(&one(target("a", ok)), web_roots()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn proxy_urls_are_checked_and_credentials_hidden() {
        let mut raw = RawSettings {
            http_proxy: Some("http://alice:p%40ss@proxy.corp:3128".into()),
            ..RawSettings::default()
        };
        let s = validate(&raw, web_roots()).unwrap();
        let proxy = s.http_proxy.clone().unwrap();
        assert_eq!(proxy.port, 3128);
        assert_eq!(
            proxy.authorization.as_deref(),
            Some("Basic YWxpY2U6cEBzcw==")
        );
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("YWxp") && !shown.contains("alice"),
            "{shown}"
        );
        for bad in [
            "https://proxy:1",
            "socks5://proxy:1",
            "http://proxy:1/path",
            "http://user:secret@",
            "http://us%zzer:secret@proxy:1",
        ] {
            raw.http_proxy = Some(bad.into());
            let err = error(&raw);
            assert_eq!(err.key, SettingKey::HttpProxy, "{bad}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn oauth_replacement_keeps_configured_targets() {
        let s = validate(&one(target("api", "https://api.internal")), web_roots()).unwrap();
        let store = TargetStore::new(s.targets().to_vec());
        let mut discovered = s.targets()[0].clone();
        discovered.source = TargetSource::Oauth;
        discovered.label = "oauth-token".into();
        let mut clash = discovered.clone();
        clash.label = "api".into();
        let mut not_oauth = discovered.clone();
        not_oauth.label = "sneaky".into();
        not_oauth.source = TargetSource::Config;
        let before = store.snapshot();
        assert_eq!(store.replace_oauth(vec![discovered, clash, not_oauth]), 1);
        let after = store.snapshot();
        let labels: Vec<&str> = after.iter().map(|t| t.label()).collect();
        assert_eq!(labels, ["api", "oauth-token"]);
        assert_eq!(before.len(), 1, "a snapshot never changes under a call");
        assert_eq!(store.replace_oauth(vec![]), 0);
        assert_eq!(store.snapshot().len(), 1);
    }
}
