//! `tunnel-client doctor`: every check of CLI.md, in order, one line each,
//! with causes and fixes on demand. Never prints the API key, a token or URL credentials.
//!
//! Every network fact comes from `crate::net`, the code the agents run on:
//! certificate files (`load_ca_bundle`, `root_store`, `check_cert_pair`),
//! proxy routing and a real CONNECT (`proxy_for`, `check_proxy_connect`),
//! TLS with each hop's trust and client certificate (`build_agent`,
//! `check_tls_handshake`), and the words for every failure (`ConnectFailure`).
//! This file only adds what a failure means here and the exact fix.

use super::args::DoctorArgs;
use crate::config::{proxy_settings, resolve, Config, Env, Layer, Layers, McpTarget, Sourced};
use crate::contract::{header, Headers, CLIENT_NAME, CLIENT_VERSION};
use crate::mcp::{Backend, McpCall, McpReply};
use crate::net::{self, CertPair, ConnectFailure, Destination, Hop, NetConfig, NetError};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        out.push(check_proxy_settings(&layers));
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

/// Every certificate file, read and checked by the network module (the code
/// the agents are built with): both CA bundles parse, both client pairs match.
/// Works from the layers, so it points at the file even when the
/// configuration as a whole is refused because of it.
fn check_files(layers: &Layers<'_>) -> Check {
    let mut seen = Vec::new();
    if let Some(bundle) = layers.pick(|l| &l.ca_bundle) {
        match net::load_ca_bundle(&bundle.value) {
            Ok(n) => seen.push(format!("CA bundle: {n} certificates ({})", bundle.origin)),
            Err(e) => return files_failure(&bundle, e),
        }
    }
    if let Some(bundle) = layers.pick(|l| &l.mcp_ca_bundle) {
        let alone = NetConfig {
            mcp_ca_bundle: Some(bundle.value.clone()),
            ..NetConfig::default()
        };
        match net::root_store(Hop::Mcp, &alone) {
            Ok(roots) => seen.push(format!(
                "MCP CA bundle: {} certificates ({})",
                roots.len(),
                bundle.origin
            )),
            Err(e) => return files_failure(&bundle, e),
        }
    }
    let pairs = [
        (
            Hop::ControlPlane,
            layers.pick(|l| &l.control_plane_cert),
            layers.pick(|l| &l.control_plane_key),
            "control-plane client certificate",
        ),
        (
            Hop::Mcp,
            layers.pick(|l| &l.mcp_client_cert),
            layers.pick(|l| &l.mcp_client_key),
            "MCP client certificate",
        ),
    ];
    for (hop, cert, key, what) in pairs {
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
            (Some(cert), Some(key)) => {
                let pair = CertPair {
                    cert_path: cert.value.clone(),
                    key_path: key.value.clone(),
                };
                match net::check_cert_pair(hop, &pair) {
                    Ok(()) => seen.push(format!("{what}: key matches")),
                    Err(e) => {
                        let culprit = match &e {
                            NetError::BadPemFile { path, .. } if *path == cert.value => &cert,
                            _ => &key,
                        };
                        return files_failure(culprit, e);
                    }
                }
            }
        }
    }
    if seen.is_empty() {
        pass(FILES, "none configured (built-in web roots)")
    } else {
        pass(FILES, seen.join(", "))
    }
}

/// The certificates line for a file the network module refused; its text
/// already names the file and what is wrong with it.
fn files_failure(file: &Sourced<PathBuf>, error: NetError) -> Check {
    let (cause, fix) = match &error {
        NetError::CertKeyMismatch { .. } => (
            "the private key does not belong to the certificate, so the TLS handshake \
             could not prove the certificate is ours"
                .to_string(),
            "use the key the certificate was issued for; compare \
             `openssl x509 -noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY`"
                .to_string(),
        ),
        _ => (
            "every certificate file is read at startup; `run` refuses to start (exit 2) \
             while one is missing, unreadable or holds no usable PEM data"
                .to_string(),
            format!(
                "point {} at the right PEM file and make it readable for this user",
                file.origin
            ),
        ),
    };
    fail(FILES, error.to_string(), cause, fix)
}

/// The destinations a proxy may apply to: the control plane and an HTTP MCP
/// server (a stdio MCP server never uses one).
fn destinations(config: &Config) -> Vec<(&'static str, Hop, &str)> {
    let mut out = vec![(
        "control plane",
        Hop::ControlPlane,
        config.control_plane_url.as_str(),
    )];
    if let McpTarget::Http { url } = &config.mcp {
        out.push(("MCP server", Hop::Mcp, url.as_str()));
    }
    out
}

/// Without a valid configuration only the proxy settings' form can be checked.
fn check_proxy_settings(layers: &Layers<'_>) -> Check {
    match proxy_settings(layers) {
        Err(e) => fail(
            PROXY,
            e.to_string(),
            "the proxy URL or a NO_PROXY entry cannot be used",
            "correct the variable or profile key the message names \
             (a proxy URL looks like http://[user:password@]host:port)",
        ),
        Ok(s) if s.https_proxy.is_none() && s.http_proxy.is_none() => pass(PROXY, "none"),
        Ok(s) => {
            let names: Vec<String> = [&s.https_proxy, &s.http_proxy]
                .into_iter()
                .flatten()
                .map(|url| net::redact_url(url))
                .collect();
            warn(
                PROXY,
                format!(
                    "{}: CONNECT not tried (the configuration is not usable)",
                    names.join(", ")
                ),
                "the CONNECT check needs a valid configuration",
                "fix the configuration first, then run doctor again",
            )
        }
    }
}

/// For each destination: which proxy it goes through (the agents' own rule,
/// NO_PROXY included), and a real CONNECT through that proxy.
fn check_proxy(config: &Config) -> Check {
    let proxy = &config.net.proxy;
    if proxy.https_proxy.is_none() && proxy.http_proxy.is_none() {
        return pass(PROXY, "none");
    }
    let mut notes = Vec::new();
    for (what, hop, url) in destinations(config) {
        let route = Destination::parse(url).and_then(|d| Ok((proxy.proxy_for(&d)?, d)));
        let (route, destination) = match route {
            Ok(r) => r,
            Err(e) => {
                return fail(
                    PROXY,
                    e.to_string(),
                    format!("the {what}'s URL cannot be routed"),
                    "correct the URL the message names",
                )
            }
        };
        let authority = destination.authority();
        let Some(via) = route else {
            let configured = if destination.https {
                proxy.https_proxy.is_some()
            } else {
                proxy.http_proxy.is_some()
            };
            notes.push(match (configured, destination.https) {
                (true, _) => format!("{what} {authority} goes direct (NO_PROXY)"),
                (false, true) => format!("{what} {authority} goes direct (no HTTPS_PROXY)"),
                (false, false) => format!("{what} {authority} goes direct (no HTTP_PROXY)"),
            });
            continue;
        };
        match net::check_proxy_connect(url, &config.net) {
            Ok(()) => notes.push(format!(
                "CONNECT to {what} {authority} through {}:{} works",
                via.host(),
                via.port()
            )),
            Err(NetError::Connect { failure, .. }) => {
                return connect_failure(PROXY, &format!("{what} {authority}"), &failure, hop)
            }
            Err(e) => {
                return fail(
                    PROXY,
                    e.to_string(),
                    "the proxy settings cannot be used",
                    "correct the proxy setting the message names",
                )
            }
        }
    }
    pass(PROXY, notes.join("; "))
}

/// How `url` is reached, for the ✓ line: the proxy (never its credentials)
/// or DNS and TCP, then TLS (with the hop's client certificate when set).
fn path_words(url: &str, hop: Hop, net_config: &NetConfig) -> String {
    let Ok(destination) = Destination::parse(url) else {
        return String::new();
    };
    let mut steps = match net_config.proxy.proxy_for(&destination) {
        Ok(Some(p)) => vec![format!("CONNECT via proxy {}:{}", p.host(), p.port())],
        _ => vec!["DNS".to_string(), "TCP".to_string()],
    };
    let client_cert = match hop {
        Hop::ControlPlane => net_config.control_plane_mtls.is_some(),
        Hop::Mcp => net_config.mcp_mtls.is_some(),
    };
    match (destination.https, client_cert) {
        (true, true) => steps.push("TLS with client certificate".to_string()),
        (true, false) => steps.push("TLS".to_string()),
        (false, _) => {}
    }
    steps.join(", ")
}

/// DNS, TCP (or the proxy's CONNECT), TLS with the configured trust and client
/// certificate, then the authenticated `GET /v1/tunnels/{id}`: one request
/// through the same agent `run` uses, its failure put into words by the
/// network module.
fn check_control_plane(config: &Config) -> Check {
    let base = &config.control_plane_url;
    let agent = match net::build_agent(Hop::ControlPlane, base, &config.net) {
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
        .timeout_global(Some(net::DOCTOR_TIMEOUT))
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
            let failure = net::describe_error(&e, Hop::ControlPlane, base, &config.net);
            return connect_failure(
                CONTROL_PLANE,
                &net::redact_url(base),
                &failure,
                Hop::ControlPlane,
            );
        }
    };
    let status = response.status().as_u16();
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
            let path = path_words(base, Hop::ControlPlane, &config.net);
            pass(
                CONTROL_PLANE,
                format!("{what} at {} ({path}, GET 200)", net::redact_url(base)),
            )
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
            "HTTP 407: a proxy on the way wants credentials",
            "an intercepting proxy answered the request itself and refused it without credentials",
            "put the proxy in HTTPS_PROXY (proxy.https_proxy) with its credentials: \
             http://user:password@host:port",
        ),
        s => fail(
            CONTROL_PLANE,
            format!("HTTP {s} from GET /v1/tunnels/{{id}}"),
            "the control plane answered with an unexpected status",
            "try again later; if it persists, check --control-plane-url",
        ),
    }
}

/// A failed connection as a report line: the network module's sentence as the
/// detail, and under `--explain` what it means here and the exact fix.
fn connect_failure(name: &'static str, target: &str, failure: &ConnectFailure, hop: Hop) -> Check {
    let (cause, fix) = explain(failure, hop);
    let detail = if target.is_empty() {
        failure.to_string()
    } else {
        format!("{target}: {failure}")
    };
    fail(name, detail, cause, fix)
}

/// The `--explain` text of each connection failure: cause, then the flag or
/// setting that fixes it for this hop.
fn explain(failure: &ConnectFailure, hop: Hop) -> (String, String) {
    let (trust, client_cert) = match hop {
        Hop::ControlPlane => (
            "--ca-bundle PEM (profile key ca_bundle_path)",
            "--control-plane-cert PEM and --control-plane-key PEM (profile key control_plane_mtls)",
        ),
        Hop::Mcp => (
            "--ca-bundle PEM, or --mcp-ca-bundle PEM to trust it for the MCP server alone \
             (mcp_client_mtls.ca_bundle_path)",
            "--mcp-client-cert PEM and --mcp-client-key PEM (profile key mcp_client_mtls)",
        ),
    };
    let proxy_setting =
        "HTTPS_PROXY (HTTP_PROXY for http:// MCP servers) or the profile's proxy object";
    let s = |text: &str| text.to_string();
    match failure {
        ConnectFailure::UntrustedCertificate { .. } => (
            s("the server's certificate chain does not lead to a root this agent trusts \
               (the built-in web roots plus any --ca-bundle); private CAs and TLS-inspecting \
               proxies cause this"),
            format!("pass the CA certificate that issued it with {trust}"),
        ),
        ConnectFailure::NameMismatch { host } => (
            format!("the certificate was issued for other names than {host}"),
            format!(
                "use a host name the certificate lists in the URL, or reissue the certificate \
                 with {host} in its subject alternative names"
            ),
        ),
        ConnectFailure::CertificateExpired => (
            s("the server presents a certificate whose validity has ended"),
            s("renew the server's certificate (or correct this machine's clock if it is wrong)"),
        ),
        ConnectFailure::CertificateNotYetValid => (
            s("the server's certificate is not valid yet"),
            s("check this machine's clock (and the server's certificate dates)"),
        ),
        ConnectFailure::CertificateRejected { .. } => (
            s("the server's certificate cannot be used for TLS"),
            s("inspect it with `openssl s_client -connect HOST:PORT -showcerts` and reissue it"),
        ),
        ConnectFailure::ClientCertificateRequired { .. } => (
            s("the server requires mutual TLS and this agent presented no client certificate"),
            format!("pass the client certificate issued for this agent with {client_cert}"),
        ),
        ConnectFailure::ClientCertificateRejected { .. } => (
            s("the server does not accept the client certificate this agent presented \
               (unknown issuer, expired or revoked)"),
            format!("use a certificate issued by a CA the server trusts: {client_cert}"),
        ),
        ConnectFailure::Handshake { .. } => (
            s("the TLS handshake did not complete"),
            s("check that the port speaks TLS (https://) and that nothing in between interferes"),
        ),
        ConnectFailure::ProxyRefused { status: 407, .. } => (
            s("the proxy requires credentials and refused the ones sent (or none were sent)"),
            format!(
                "put the proxy credentials in the proxy URL, http://user:password@host:port \
                 (percent-encode special characters), in {proxy_setting}"
            ),
        ),
        ConnectFailure::ProxyRefused { status: 403, .. } => (
            s("the proxy's policy forbids tunnels to this destination"),
            s("ask the proxy's administrators to allow the host and port, or add the host to \
               NO_PROXY if it is reachable directly"),
        ),
        ConnectFailure::ProxyRefused {
            status: 502..=504, ..
        } => (
            s("the proxy could not reach the destination itself"),
            s("check the URL's host and port, and that the proxy can resolve and reach them"),
        ),
        ConnectFailure::ProxyRefused { .. } => (
            s("the proxy refused to open a tunnel (CONNECT) to the destination"),
            format!("check {proxy_setting} with your network team"),
        ),
        ConnectFailure::ProxyUnreachable { .. } => (
            s("the destination is reached through a proxy, and the proxy itself cannot be reached"),
            format!(
                "check the host and port in {proxy_setting}; if the destination is reachable \
                 directly, add it to NO_PROXY"
            ),
        ),
        ConnectFailure::ProxyNoResponse { .. } => (
            s("the proxy did not answer the CONNECT request"),
            s("check that the proxy URL names an HTTP proxy that supports CONNECT (not SOCKS)"),
        ),
        ConnectFailure::ProxyTls { .. } => (
            s("TLS with the https:// proxy itself failed"),
            s("pass the proxy's CA with --ca-bundle, or use an http:// proxy URL"),
        ),
        ConnectFailure::HostNotFound { .. } => (
            s("the host name does not resolve from this machine"),
            s("check the URL and the DNS resolver; if only a proxy can resolve it, set HTTPS_PROXY"),
        ),
        ConnectFailure::ConnectionRefused { .. } => (
            s("nothing listens on that address, or a firewall rejects the connection"),
            s("check that the server runs and the URL's port; if outbound traffic must go \
               through a proxy, set HTTPS_PROXY"),
        ),
        ConnectFailure::TimedOut { .. } => (
            s("no answer in time: a firewall drops the traffic, or a proxy is required"),
            s("open outbound access to the port, or set HTTPS_PROXY (proxy.https_proxy)"),
        ),
        ConnectFailure::Other { .. } => (
            s("the connection failed"),
            s("check the network path to the server"),
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
        McpTarget::Http { url } => match net::check_tls_handshake(url, Hop::Mcp, &config.net) {
            Ok(()) => pass(
                MCP_REACHABLE,
                format!(
                    "{} ({})",
                    net::redact_url(url),
                    path_words(url, Hop::Mcp, &config.net)
                ),
            ),
            Err(NetError::Connect { failure, .. }) => {
                connect_failure(MCP_REACHABLE, &net::redact_url(url), &failure, Hop::Mcp)
            }
            Err(e) => fail(
                MCP_REACHABLE,
                e.to_string(),
                "the HTTP client for the MCP server cannot be set up with these settings",
                "fix the certificate or proxy setting the message names",
            ),
        },
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
    let telemetry = Arc::new(crate::telemetry::Telemetry::new());
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
