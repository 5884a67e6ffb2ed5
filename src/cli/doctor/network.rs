//! The checks that go out on the network: the proxy (routing and a real CONNECT)
//! and the control plane (TLS and the authenticated metadata request). Never shows credentials.

use super::explain::connect_failure;
use super::report::{fail, pass, warn, Check};
use super::{CONTROL_PLANE, PROXY};
use crate::config::{proxy_settings, Config, Layers, McpTarget};
use crate::contract::{header, CLIENT_NAME, CLIENT_VERSION};
use crate::net::{self, Destination, Hop, NetConfig, NetError};
use serde_json::Value;

/// Largest tunnel-metadata body read.
const MAX_METADATA_BYTES: u64 = 64 * 1024;

/// The destinations a proxy may apply to: the control plane and an HTTP MCP
/// server (a stdio MCP server never uses one).
fn destinations(config: &Config) -> Vec<(&'static str, Hop, &str)> {
    let mut out = vec![(
        "control plane",
        Hop::ControlPlane,
        config.control_plane_url.as_str(),
    )];
    for binding in &config.bindings {
        if let McpTarget::Http { url } = &binding.target {
            out.push(("MCP server", Hop::Mcp, url.as_str()));
        }
    }
    out
}

/// Without a valid configuration only the proxy settings' form can be checked.
pub(super) fn check_proxy_settings(layers: &Layers<'_>) -> Check {
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
pub(super) fn check_proxy(config: &Config) -> Check {
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
pub(super) fn path_words(url: &str, hop: Hop, net_config: &NetConfig) -> String {
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
pub(super) fn check_control_plane(config: &Config) -> Check {
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
