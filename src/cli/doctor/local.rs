//! The checks that need no network: tunnel id, API key, certificate files, and
//! whether the admin address can be bound. Never prints the key or a file's contents.

use super::report::{fail, pass, Check};
use super::{ADMIN, API_KEY, FILES, TUNNEL_ID};
use crate::config::{Config, Layers, Sourced};
use crate::net::{self, CertPair, Hop, NetConfig, NetError};
use std::net::TcpListener;
use std::path::PathBuf;

pub(super) fn check_tunnel_id(layers: &Layers<'_>) -> Check {
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

pub(super) fn check_api_key(layers: &Layers<'_>) -> Check {
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
pub(super) fn check_files(layers: &Layers<'_>) -> Check {
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

pub(super) fn check_admin(config: &Config) -> Check {
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
