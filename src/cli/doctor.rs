//! `tunnel-client doctor`: every check of CLI.md, in order, one line each,
//! with causes and fixes on demand. Never prints the API key, a token or URL credentials.

use super::args::DoctorArgs;
use crate::config::{
    check_cert_pair, is_loopback_host, read_certificates, resolve, scheme_host_port, Config, Env,
    Layer, Layers, McpTarget, Origin, Sourced,
};
use crate::contract::{header, Headers, CLIENT_NAME, CLIENT_VERSION};
use crate::mcp::{Backend, McpCall, McpReply};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// TCP connect timeout of each network check.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Read/write timeout of the TLS handshake check.
const TLS_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout of the authenticated control-plane request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest tunnel-metadata body read.
const MAX_METADATA_BYTES: u64 = 64 * 1024;
/// Time the MCP server gets for `initialize` and for `tools/list` each.
const MCP_CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Time the MCP backend gets to stop after the check.
const MCP_SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// MCP protocol version doctor offers in `initialize`.
const MCP_PROTOCOL_VERSION: &str = "2025-06-18";

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Pass,
    Fail,
    Warn,
}

impl Mark {
    fn symbol(self) -> &'static str {
        match self {
            Mark::Pass => "✓",
            Mark::Fail => "✗",
            Mark::Warn => "!",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Mark::Pass => "pass",
            Mark::Fail => "fail",
            Mark::Warn => "warn",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Mark::Pass => "\x1b[32m",
            Mark::Fail => "\x1b[31m",
            Mark::Warn => "\x1b[33m",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub mark: Mark,
    pub detail: String,
    /// What the failure or warning means (shown with `--explain`).
    pub cause: String,
    /// The exact fix.
    pub fix: String,
}

fn pass(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        mark: Mark::Pass,
        detail: detail.into(),
        cause: String::new(),
        fix: String::new(),
    }
}

fn fail(
    name: &'static str,
    detail: impl Into<String>,
    cause: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        name,
        mark: Mark::Fail,
        detail: detail.into(),
        cause: cause.into(),
        fix: fix.into(),
    }
}

fn warn(
    name: &'static str,
    detail: impl Into<String>,
    cause: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        mark: Mark::Warn,
        ..fail(name, detail, cause, fix)
    }
}

const CONFIG: &str = "configuration";
const TUNNEL_ID: &str = "tunnel id";
const API_KEY: &str = "API key";
const FILES: &str = "certificates";
const PROXY: &str = "proxy";
const CONTROL_PLANE: &str = "control plane";
const MCP_REACHABLE: &str = "MCP server reachable";
const MCP_ANSWERS: &str = "MCP server answers";
const ADMIN: &str = "admin address";

/// Runs every check and prints the report; returns the exit status.
pub fn run(args: &DoctorArgs, env: &Env) -> u8 {
    let checks = checks(args, env);
    if args.json {
        println!("{}", json_report(&checks));
    } else {
        let colour = std::io::stdout().is_terminal() && env.get("NO_COLOR").is_none();
        print!("{}", text_report(&checks, args.explain, colour));
    }
    if checks.iter().any(|c| c.mark == Mark::Fail) {
        super::EXIT_FAILURE
    } else {
        super::EXIT_OK
    }
}

/// All checks, in CLI.md's order.
pub fn checks(args: &DoctorArgs, env: &Env) -> Vec<Check> {
    let mut out = Vec::new();
    let selection = &args.run.selection;
    let profile_path = match super::selected_profile(selection, env) {
        Ok(p) => p,
        Err(e) => {
            out.push(fail(
                CONFIG,
                e.to_string(),
                "the profile named by --profile was not found",
                "run `tunnel-client profiles list`, or create it with `tunnel-client init`",
            ));
            skip_rest(&mut out, 1);
            return out;
        }
    };
    let profile_layer = match &profile_path {
        Some(p) => match super::profile::load(p, env) {
            Ok(layer) => layer,
            Err(e) => {
                out.push(fail(
                    CONFIG,
                    e.to_string(),
                    "the profile file cannot be used as it is",
                    "edit the file as the message says, or recreate it with `tunnel-client init --force`",
                ));
                skip_rest(&mut out, 1);
                return out;
            }
        },
        None => Layer::default(),
    };
    let env_layer = Layer::from_env(env);
    let layers = Layers {
        flags: &args.run.flags,
        env: &env_layer,
        profile: &profile_layer,
    };
    let source = match &profile_path {
        Some(p) => format!("profile {}", p.display()),
        None => "flags and environment (no profile)".to_string(),
    };
    let config = match resolve(&layers) {
        Ok(config) => {
            out.push(pass(CONFIG, format!("valid ({source})")));
            Some(config)
        }
        Err(e) => {
            out.push(fail(
                CONFIG,
                e.to_string(),
                format!("the settings from {source} do not form a usable configuration"),
                "correct the flag, variable or profile key the message names",
            ));
            None
        }
    };
    out.push(check_tunnel_id(&layers));
    out.push(check_api_key(&layers));
    out.push(check_files(&layers));
    let Some(config) = config else {
        out.push(check_proxy_layers(&layers));
        skip_rest(&mut out, 5);
        return out;
    };
    out.push(check_proxy(&config));
    out.push(check_control_plane(&config));
    out.push(check_mcp_reachable(&config, env));
    out.push(check_mcp_answers(&config));
    out.push(check_admin(&config));
    out
}

/// Marks the checks after `done` as not run.
fn skip_rest(out: &mut Vec<Check>, done: usize) {
    let all = [
        CONFIG,
        TUNNEL_ID,
        API_KEY,
        FILES,
        PROXY,
        CONTROL_PLANE,
        MCP_REACHABLE,
        MCP_ANSWERS,
        ADMIN,
    ];
    for name in all.iter().skip(done.max(out.len())) {
        out.push(warn(
            name,
            "not checked (the configuration is not usable)",
            "this check needs a valid configuration",
            "fix the configuration first, then run doctor again",
        ));
    }
}

fn check_tunnel_id(layers: &Layers<'_>) -> Check {
    match layers.pick(|l| &l.tunnel_id) {
        None => fail(
            TUNNEL_ID,
            "not set",
            "the agent needs the id of the tunnel it serves",
            "pass --tunnel-id ID, set CONTROL_PLANE_TUNNEL_ID, or add \"tunnel_id\" to the profile",
        ),
        Some(id) if crate::contract::is_valid_tunnel_id(&id.value) => {
            pass(TUNNEL_ID, format!("{} (from {})", id.value, id.origin))
        }
        Some(id) => fail(
            TUNNEL_ID,
            format!("the value from {} is not a tunnel id", id.origin),
            "a tunnel id is `tunnel_` followed by 32 lowercase letters or digits",
            "copy the id again from the tunnel's settings",
        ),
    }
}

fn check_api_key(layers: &Layers<'_>) -> Check {
    match layers.pick(|l| &l.api_key) {
        Some(key) if !key.value.is_empty() => {
            pass(API_KEY, format!("present (from {}; not shown)", key.origin))
        }
        Some(key) => fail(
            API_KEY,
            format!("{} is empty", key.origin),
            "an empty key cannot authenticate",
            "put the key in the variable or file",
        ),
        None => fail(
            API_KEY,
            "not set",
            "every control-plane request carries the key as a bearer token",
            "export CONTROL_PLANE_API_KEY=... (or set \"api_key\": \"env:NAME\" / \"file:/path\" in the profile)",
        ),
    }
}

fn check_files(layers: &Layers<'_>) -> Check {
    let mut seen = Vec::new();
    let bundles = [
        layers.pick(|l| &l.ca_bundle),
        layers.pick(|l| &l.mcp_ca_bundle),
    ];
    for bundle in bundles.into_iter().flatten() {
        match read_certificates(&bundle) {
            Ok(certs) => seen.push(format!("{} ({} certificates)", bundle.origin, certs.len())),
            Err(e) => {
                return fail(
                    FILES,
                    e.to_string(),
                    "a CA bundle must be a readable PEM file of certificates",
                    "point the setting at the right PEM file and make it readable for this user",
                )
            }
        }
    }
    let pairs = [
        (
            layers.pick(|l| &l.control_plane_cert),
            layers.pick(|l| &l.control_plane_key),
            "control-plane client certificate",
        ),
        (
            layers.pick(|l| &l.mcp_client_cert),
            layers.pick(|l| &l.mcp_client_key),
            "MCP client certificate",
        ),
    ];
    for (cert, key, what) in pairs {
        match (cert, key) {
            (None, None) => {}
            (Some(one), None) | (None, Some(one)) => {
                return fail(
                    FILES,
                    format!("{} is set without its pair", one.origin),
                    format!("a {what} needs both the certificate and the key"),
                    "set both files, or neither",
                )
            }
            (Some(cert), Some(key)) => match check_cert_pair(&cert, &key) {
                Ok(()) => seen.push(format!("{what} (key matches)")),
                Err(e) => {
                    return fail(
                        FILES,
                        e.to_string(),
                        format!("the {what} cannot be presented"),
                        "use the certificate and the unencrypted PEM key generated together",
                    )
                }
            },
        }
    }
    if seen.is_empty() {
        pass(FILES, "none configured (built-in web roots)")
    } else {
        pass(FILES, seen.join(", "))
    }
}

/// `host:port` of a proxy URL, without credentials.
fn proxy_endpoint(url: &str) -> Option<(String, u16)> {
    scheme_host_port(url).map(|(_, host, port)| (host, port))
}

/// True when `host` matches a NO_PROXY entry (exact, `.suffix`, domain suffix or `*`).
fn no_proxy_matches(host: &str, no_proxy: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy.iter().any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        let bare = entry.trim_start_matches('.');
        entry == "*" || host == bare || (!bare.is_empty() && host.ends_with(&format!(".{bare}")))
    })
}

/// The proxy URL used for `url`, if any.
fn proxy_for(config: &Config, url: &str) -> Option<String> {
    let (scheme, host, _) = scheme_host_port(url)?;
    let proxy = &config.net.proxy;
    if no_proxy_matches(&host, &proxy.no_proxy) || is_loopback_host(&host) {
        return None;
    }
    match scheme.as_str() {
        "https" => proxy.https_proxy.clone(),
        _ => proxy
            .http_proxy
            .clone()
            .or_else(|| proxy.https_proxy.clone()),
    }
}

/// Without a valid configuration: only the proxy URLs' form can be checked.
fn check_proxy_layers(layers: &Layers<'_>) -> Check {
    match layers.pick(|l| &l.https_proxy) {
        None => pass(PROXY, "none"),
        Some(p) => {
            let url = if p.value.contains("://") {
                p.value.clone()
            } else {
                format!("http://{}", p.value)
            };
            match proxy_endpoint(&url) {
                Some((host, port)) => pass(PROXY, format!("{host}:{port} (from {})", p.origin)),
                None => fail(
                    PROXY,
                    format!("{} is not a usable proxy URL", p.origin),
                    "the proxy must be http://host:port",
                    "correct HTTPS_PROXY or proxy.https_proxy",
                ),
            }
        }
    }
}

fn check_proxy(config: &Config) -> Check {
    let Some(url) = proxy_for(config, &config.control_plane_url) else {
        let note = match &config.net.proxy.https_proxy {
            Some(_) => "the control plane is excluded by NO_PROXY",
            None => "none",
        };
        return pass(PROXY, note);
    };
    let Some((host, port)) = proxy_endpoint(&url) else {
        return fail(
            PROXY,
            "the proxy URL is not usable",
            "the proxy must be http://host:port",
            "correct HTTPS_PROXY or proxy.https_proxy",
        );
    };
    match tcp_connect(&host, port) {
        Ok(_) => pass(PROXY, format!("{host}:{port} accepts connections")),
        Err(step) => fail(
            PROXY,
            format!("{host}:{port}: {step}"),
            "the control plane is reached through this proxy, and the proxy cannot be reached",
            "check HTTPS_PROXY / proxy.https_proxy, or add the control plane host to NO_PROXY if it is reachable directly",
        ),
    }
}

/// DNS then TCP; the error says which step failed.
fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return Err(format!("DNS lookup of {host} failed")),
    };
    if addrs.is_empty() {
        return Err(format!("DNS lookup of {host} returned no address"));
    }
    let mut last = String::new();
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                last = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => {
                        format!("connection to {addr} refused")
                    }
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        format!("connection to {addr} timed out")
                    }
                    _ => format!(
                        "connection to {addr} failed ({})",
                        crate::config::io_problem(&e)
                    ),
                }
            }
        }
    }
    Err(last)
}

/// Why a TLS handshake failed, with the fix that goes with it.
struct TlsFailure {
    what: String,
    fix: &'static str,
}

/// A TLS handshake the way the agent would make it (roots, extra bundle, client cert).
fn tls_handshake(
    stream: TcpStream,
    host: &str,
    extra_roots: &[PathBuf],
    replace_roots: bool,
    client: Option<&crate::net::CertPair>,
) -> Result<(), TlsFailure> {
    let setup = |what: String| TlsFailure {
        what,
        fix: "check the certificate settings with the earlier lines",
    };
    let mut roots = rustls::RootCertStore::empty();
    if !replace_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for path in extra_roots {
        let file = Sourced::new(path.clone(), Origin::Flag("--ca-bundle"));
        let certs = read_certificates(&file).map_err(|e| setup(e.to_string()))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| setup(format!("{}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?
        .with_root_certificates(roots);
    let tls = match client {
        None => builder.with_no_client_auth(),
        Some(pair) => {
            let cert = Sourced::new(pair.cert_path.clone(), Origin::Flag("--control-plane-cert"));
            let key = Sourced::new(pair.key_path.clone(), Origin::Flag("--control-plane-key"));
            let chain = read_certificates(&cert).map_err(|e| setup(e.to_string()))?;
            let private =
                crate::config::read_private_key(&key).map_err(|e| setup(e.to_string()))?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| setup(e.to_string()))?
        }
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| setup(format!("{host} is not a valid TLS server name")))?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(tls), name).map_err(|e| setup(e.to_string()))?;
    let mut stream = stream;
    let _ = stream.set_read_timeout(Some(TLS_TIMEOUT));
    let _ = stream.set_write_timeout(Some(TLS_TIMEOUT));
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut stream) {
            return Err(classify_tls(&e));
        }
    }
    Ok(())
}

fn classify_tls(e: &std::io::Error) -> TlsFailure {
    use rustls::CertificateError as C;
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(C::UnknownIssuer)) => TlsFailure {
            what: "TLS failed: the server certificate has an unknown issuer".into(),
            fix: "if a TLS-inspecting proxy or a company CA signs it, pass that CA with --ca-bundle PEM (ca_bundle_path)",
        },
        Some(rustls::Error::InvalidCertificate(C::Expired)) => TlsFailure {
            what: "TLS failed: the server certificate has expired".into(),
            fix: "renew the server certificate, or check this machine's clock",
        },
        Some(rustls::Error::InvalidCertificate(C::NotValidForName))
        | Some(rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. })) => TlsFailure {
            what: "TLS failed: the certificate is for another host name".into(),
            fix: "use the host name the certificate was issued for",
        },
        Some(other) => TlsFailure {
            what: format!("TLS failed: {other}"),
            fix: "check the server's certificate and, behind a TLS-inspecting proxy, pass its CA with --ca-bundle",
        },
        None if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => TlsFailure {
            what: "TLS handshake timed out".into(),
            fix: "check that the port speaks TLS (https) and that no firewall drops the traffic",
        },
        None => TlsFailure {
            what: format!("TLS handshake failed ({})", crate::config::io_problem(e)),
            fix: "check that the port speaks TLS (https) and that no firewall or proxy interferes",
        },
    }
}

fn check_control_plane(config: &Config) -> Check {
    let base = &config.control_plane_url;
    let Some((scheme, host, port)) = scheme_host_port(base) else {
        return fail(
            CONTROL_PLANE,
            "the URL is not usable",
            "",
            "correct --control-plane-url",
        );
    };
    let proxied = proxy_for(config, base).is_some();
    let mut steps = Vec::new();
    if !proxied {
        let stream = match tcp_connect(&host, port) {
            Ok(s) => s,
            Err(step) if step.starts_with("DNS") => {
                return fail(
                    CONTROL_PLANE,
                    step,
                    "the control plane's host name does not resolve from this machine",
                    "check --control-plane-url and the DNS resolver; if only a proxy can resolve it, set HTTPS_PROXY",
                )
            }
            Err(step) => {
                return fail(
                    CONTROL_PLANE,
                    step,
                    "the control plane cannot be reached directly (firewall, wrong port, or a proxy is required)",
                    "open outbound access to the port, or set HTTPS_PROXY (proxy.https_proxy) to your proxy",
                )
            }
        };
        steps.push("DNS, TCP");
        if scheme == "https" {
            let extra: Vec<PathBuf> = config.net.ca_bundle.iter().cloned().collect();
            if let Err(f) = tls_handshake(
                stream,
                &host,
                &extra,
                false,
                config.net.control_plane_mtls.as_ref(),
            ) {
                return fail(
                    CONTROL_PLANE,
                    f.what,
                    "the TLS connection to the control plane was refused",
                    f.fix,
                );
            }
            steps.push("TLS");
        }
    }
    let agent = match crate::net::build_agent(crate::net::Hop::ControlPlane, base, &config.net) {
        Ok(a) => a,
        Err(e) => {
            return fail(
                CONTROL_PLANE,
                e.to_string(),
                "the HTTPS client cannot be set up with these settings",
                "fix the certificate or proxy setting the message names",
            )
        }
    };
    let url = format!("{base}/v1/tunnels/{}", config.tunnel_id);
    let response = agent
        .get(&url)
        .config()
        .timeout_global(Some(HTTP_TIMEOUT))
        .build()
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", config.api_key.expose()),
        )
        .header(header::CLIENT_NAME, CLIENT_NAME)
        .header(header::CLIENT_VERSION, CLIENT_VERSION)
        .call();
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            let (what, fix) = classify_ureq(&e, proxied);
            return fail(
                CONTROL_PLANE,
                what,
                "the authenticated request did not get an answer",
                fix,
            );
        }
    };
    let status = response.status().as_u16();
    steps.push("HTTP");
    match status {
        200 => {
            let body = response
                .body_mut()
                .with_config()
                .limit(MAX_METADATA_BYTES)
                .read_to_string()
                .unwrap_or_default();
            let name = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string));
            let what = match name {
                Some(n) => format!("tunnel \"{n}\""),
                None => "tunnel found".to_string(),
            };
            let via = if proxied { " via proxy" } else { "" };
            pass(CONTROL_PLANE, format!("{what} at {host} ({}{via})", steps.join(", ")))
        }
        401 => fail(
            CONTROL_PLANE,
            "HTTP 401: the API key was refused",
            "the key is wrong, revoked, or belongs to another environment",
            "create a new key and export it as CONTROL_PLANE_API_KEY",
        ),
        403 => fail(
            CONTROL_PLANE,
            "HTTP 403: the key may not serve this tunnel",
            "the key is valid but lacks access to this tunnel (another project or organisation)",
            "use a key from the tunnel's project, or ask its owner for access",
        ),
        404 => fail(
            CONTROL_PLANE,
            format!("HTTP 404: tunnel {} is unknown", config.tunnel_id),
            "no tunnel with this id exists for this control plane (typo, deleted, or another environment)",
            "check the tunnel id and --control-plane-url",
        ),
        407 => fail(
            CONTROL_PLANE,
            "HTTP 407: the proxy wants authentication",
            "the proxy refused the request",
            "put the proxy credentials in HTTPS_PROXY as http://user:password@host:port",
        ),
        s => fail(
            CONTROL_PLANE,
            format!("HTTP {s} from GET /v1/tunnels/{{id}}"),
            "the control plane answered with an unexpected status",
            "try again later; if it persists, check --control-plane-url",
        ),
    }
}

fn classify_ureq(e: &ureq::Error, proxied: bool) -> (String, &'static str) {
    match e {
        ureq::Error::HostNotFound => (
            "DNS lookup failed".into(),
            "check --control-plane-url, the DNS resolver and the proxy",
        ),
        ureq::Error::ConnectProxyFailed(_) => (
            "the proxy refused the CONNECT request".into(),
            "check HTTPS_PROXY (host, port, credentials) with your network team",
        ),
        ureq::Error::Timeout(_) => (
            "the request timed out".into(),
            "check the firewall and the proxy; the control plane did not answer in time",
        ),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => (
            "TLS failed".into(),
            "behind a TLS-inspecting proxy, pass its CA with --ca-bundle",
        ),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
            if proxied {
                "connection to the proxy refused".into()
            } else {
                "connection refused".into()
            },
            "check the address and port, and HTTPS_PROXY if a proxy is required",
        ),
        other => (
            format!("request failed ({other})"),
            "check the network path to the control plane",
        ),
    }
}

/// The program a stdio command would start, found like execvp does.
fn find_program(program: &str, env: &Env) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        if !path.exists() {
            return Err(format!("{program} does not exist"));
        }
        if !executable(&path) {
            return Err(format!("{program} is not an executable file"));
        }
        return Ok(path);
    }
    let search = env.get("PATH").unwrap_or("/usr/local/bin:/usr/bin:/bin");
    for dir in search.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(format!("{program} was not found on PATH"))
}

fn check_mcp_reachable(config: &Config, env: &Env) -> Check {
    match &config.mcp {
        McpTarget::Stdio { argv } => {
            let Some(program) = argv.first() else {
                return fail(
                    MCP_REACHABLE,
                    "the command is empty",
                    "",
                    "set --mcp-command",
                );
            };
            match find_program(program, env) {
                Ok(path) => pass(MCP_REACHABLE, format!("stdio: {} is executable", path.display())),
                Err(what) => fail(
                    MCP_REACHABLE,
                    what,
                    "the command is started without a shell, so aliases, functions and $VARS do not apply",
                    "use an absolute path, or install the program on the PATH of the user that runs tunnel-client",
                ),
            }
        }
        McpTarget::Http { url } => {
            let Some((scheme, host, port)) = scheme_host_port(url) else {
                return fail(
                    MCP_REACHABLE,
                    "the URL is not usable",
                    "",
                    "correct --mcp-server-url",
                );
            };
            if proxy_for(config, url).is_some() {
                return pass(
                    MCP_REACHABLE,
                    format!(
                        "{host}:{port} is reached through the proxy (checked by the next line)"
                    ),
                );
            }
            let stream = match tcp_connect(&host, port) {
                Ok(s) => s,
                Err(step) => {
                    return fail(
                        MCP_REACHABLE,
                        step,
                        "the MCP server cannot be reached from this machine",
                        "check that the MCP server runs and listens on that address, and that no firewall blocks it",
                    )
                }
            };
            if scheme == "https" {
                let (extra, replace): (Vec<PathBuf>, bool) = match &config.net.mcp_ca_bundle {
                    Some(ca) => (vec![ca.clone()], true),
                    None => (config.net.ca_bundle.iter().cloned().collect(), false),
                };
                if let Err(f) =
                    tls_handshake(stream, &host, &extra, replace, config.net.mcp_mtls.as_ref())
                {
                    return fail(
                        MCP_REACHABLE,
                        f.what,
                        "the TLS connection to the MCP server failed",
                        f.fix,
                    );
                }
                return pass(MCP_REACHABLE, format!("{host}:{port} (TCP, TLS)"));
            }
            pass(MCP_REACHABLE, format!("{host}:{port} (TCP)"))
        }
    }
}

/// One call with a bounded deadline.
fn call(backend: &dyn Backend, message: &Value, headers: &Headers) -> McpReply {
    let call = McpCall {
        message,
        headers,
        deadline: Instant::now() + MCP_CALL_TIMEOUT,
    };
    backend.call(&call, &mut |_| {})
}

fn check_mcp_answers(config: &Config) -> Check {
    let telemetry = Arc::new(crate::admin::Telemetry::new());
    let backend = match crate::agent::build_backend(config, telemetry) {
        Ok(b) => b,
        Err(e) => {
            return fail(
                MCP_ANSWERS,
                e.to_string(),
                "the MCP server could not be started or set up",
                "run the MCP command by hand to see its error, or check --mcp-server-url",
            )
        }
    };
    let result = handshake(backend.as_ref());
    backend.shutdown(MCP_SHUTDOWN_GRACE);
    match result {
        Ok(detail) => pass(MCP_ANSWERS, detail),
        Err((what, fix)) => fail(
            MCP_ANSWERS,
            what,
            "the MCP server did not complete initialize and tools/list",
            fix,
        ),
    }
}

/// initialize → notifications/initialized → tools/list (→ session end).
fn handshake(backend: &dyn Backend) -> Result<String, (String, &'static str)> {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": MCP_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "tunnel-client-doctor", "version": CLIENT_VERSION}
        }
    });
    let (init, reply_headers) =
        expect_result(call(backend, &initialize, &Headers::new()), "initialize")?;
    let server = init
        .pointer("/serverInfo/name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed server")
        .to_string();
    let mut headers = Headers::new();
    if let Some(session) = crate::contract::headers::first(&reply_headers, header::MCP_SESSION_ID) {
        headers.insert(
            header::MCP_SESSION_ID.to_string(),
            vec![session.to_string()],
        );
    }
    if let Some(version) = init.get("protocolVersion").and_then(Value::as_str) {
        headers.insert(
            header::MCP_PROTOCOL_VERSION.to_string(),
            vec![version.to_string()],
        );
    }
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let _ = call(backend, &initialized, &headers);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let (tools, _) = expect_result(call(backend, &list, &headers), "tools/list")?;
    if headers.contains_key(header::MCP_SESSION_ID) {
        let _ = backend.terminate_session(&headers, Instant::now() + MCP_CALL_TIMEOUT);
    }
    let count = tools
        .get("tools")
        .and_then(Value::as_array)
        .map(Vec::len)
        .ok_or((
            "tools/list returned no tools array".to_string(),
            "check that the server implements the MCP tools capability",
        ))?;
    let more = if tools.get("nextCursor").is_some_and(|c| !c.is_null()) {
        "+"
    } else {
        ""
    };
    Ok(format!("{server}: initialize ok, {count}{more} tools"))
}

fn expect_result(
    reply: McpReply,
    method: &str,
) -> Result<(Value, Headers), (String, &'static str)> {
    match reply {
        McpReply::Response {
            json,
            status,
            headers,
        } => {
            if let Some(err) = json.get("error") {
                let message = err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                return Err((
                    format!("{method} returned a JSON-RPC error (HTTP {status}): {message}"),
                    "check the MCP server's logs; it must accept a standard MCP handshake",
                ));
            }
            match json.get("result") {
                Some(result) => Ok((result.clone(), headers)),
                None => Err((
                    format!("{method} answered without a result (HTTP {status})"),
                    "check that the URL or command is an MCP server",
                )),
            }
        }
        McpReply::Accepted { status, .. } => Err((
            format!("{method} was accepted (HTTP {status}) but not answered"),
            "check that the URL is the MCP endpoint (often ending in /mcp)",
        )),
        McpReply::Failed(failure) => Err((
            format!("{method} failed: {}", failure_text(&failure)),
            "run the MCP command by hand (or curl the URL) to see why it does not answer",
        )),
        McpReply::Expired => Err((
            format!(
                "{method} got no answer within {} s",
                MCP_CALL_TIMEOUT.as_secs()
            ),
            "a stdio server must print JSON-RPC on stdout, one message per line; logs go to stderr",
        )),
    }
}

fn failure_text(failure: &crate::contract::TunnelFailure) -> String {
    serde_json::to_value(failure)
        .ok()
        .map(|v| {
            let source = v.get("source").and_then(Value::as_str).unwrap_or("unknown");
            match v.get("transport_error_kind").and_then(Value::as_str) {
                Some(kind) => format!("{source} ({kind})"),
                None => source.to_string(),
            }
        })
        .unwrap_or_else(|| "transport failure".into())
}

fn check_admin(config: &Config) -> Check {
    let Some(address) = &config.admin.address else {
        return pass(ADMIN, "off");
    };
    match TcpListener::bind(address.as_str()) {
        Ok(listener) => {
            let bound = listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| address.clone());
            let loopback = listener.local_addr().map(|a| a.ip().is_loopback()).unwrap_or(true);
            if !loopback && !config.admin.allow_remote_ui {
                return pass(ADMIN, format!("{bound} can be bound (/ui answers loopback peers only)"));
            }
            pass(ADMIN, format!("{address} can be bound"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => fail(
            ADMIN,
            format!("{address} is in use"),
            "another process (often a second tunnel-client) listens there",
            "pass --admin-address 127.0.0.1:0 (with --admin-url-file PATH to find it) or --admin-address off",
        ),
        Err(e) => fail(
            ADMIN,
            format!("{address} cannot be bound ({})", crate::config::io_problem(&e)),
            "the admin server could not listen there",
            "use an address of this machine, a port above 1024, or --admin-address off",
        ),
    }
}

/// The plain-text report (marks, details, optional explanations, summary).
pub fn text_report(checks: &[Check], explain: bool, colour: bool) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = if colour {
            format!("{}{}\x1b[0m", c.mark.colour(), c.mark.symbol())
        } else {
            c.mark.symbol().to_string()
        };
        out.push_str(&format!("{mark} {:<22} {}\n", c.name, c.detail));
        if explain && c.mark != Mark::Pass {
            if !c.cause.is_empty() {
                out.push_str(&format!("    cause: {}\n", c.cause));
            }
            if !c.fix.is_empty() {
                out.push_str(&format!("    fix:   {}\n", c.fix));
            }
        }
    }
    let (passed, failed, warned) = counts(checks);
    out.push_str(&format!(
        "\n{passed} passed, {failed} failed, {warned} warnings\n"
    ));
    if failed > 0 && !explain {
        out.push_str("run again with --explain for the cause and the fix of each failure\n");
    }
    out
}

fn counts(checks: &[Check]) -> (usize, usize, usize) {
    let n = |m: Mark| checks.iter().filter(|c| c.mark == m).count();
    (n(Mark::Pass), n(Mark::Fail), n(Mark::Warn))
}

/// The same report as one JSON document.
pub fn json_report(checks: &[Check]) -> String {
    let (passed, failed, warned) = counts(checks);
    let items: Vec<Value> = checks
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "status": c.mark.word(),
                "detail": c.detail,
                "cause": c.cause,
                "fix": c.fix,
            })
        })
        .collect();
    json!({
        "ok": failed == 0,
        "checks": items,
        "summary": {"passed": passed, "failed": failed, "warnings": warned},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_rules() {
        let list = vec![".internal.example.com".to_string(), "localhost".to_string()];
        assert!(no_proxy_matches("a.internal.example.com", &list));
        assert!(no_proxy_matches("internal.example.com", &list));
        assert!(no_proxy_matches("LOCALHOST", &list));
        assert!(!no_proxy_matches("api.openai.com", &list));
        assert!(no_proxy_matches("x", &["*".to_string()]));
    }

    #[test]
    fn report_shapes() {
        let checks = vec![
            pass(CONFIG, "valid"),
            fail(API_KEY, "not set", "why", "export it"),
            warn(ADMIN, "skipped", "c", "f"),
        ];
        let text = text_report(&checks, true, false);
        assert!(text.contains("✓ configuration"));
        assert!(text.contains("✗ API key"));
        assert!(text.contains("    fix:   export it"));
        assert!(text.contains("1 passed, 1 failed, 1 warnings"));
        assert!(!text.contains('\x1b'));
        let v: Value = serde_json::from_str(&json_report(&checks)).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["checks"][1]["status"], "fail");
    }

    #[test]
    fn finds_programs_like_execvp() {
        let env = Env::from_pairs([("PATH", "/nonexistent:/bin:/usr/bin")]);
        assert!(find_program("sh", &env).is_ok());
        assert!(find_program("no-such-program-xyz", &env).is_err());
        assert!(find_program("/etc/passwd", &env).is_err());
    }
}
