//! The proxy × trust × mutual-TLS matrix, on both hops, against a real rustls
//! origin and a real CONNECT proxy on 127.0.0.1. Every cell asserts its
//! outcome; `cargo test --test it net::matrix -- --nocapture` prints the table.

use crate::support::proxy::{ConnectProxy, Mode};
use crate::support::tls_server::{fetch, leaf_der, pki, ClientAuth, TestServer};
use tunnel::net::{CertPair, Hop, NetConfig, ProxySettings};

/// base64("alice:s3cret-pw")
const BASIC: &str = "YWxpY2U6czNjcmV0LXB3";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Direct,
    Proxy,
    ProxyWithAuth,
    BypassedByNoProxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    WebRootsOnly,
    CaBundle,
    McpCaBundle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mtls {
    Off,
    RequiredAndConfigured,
    /// The server requires one; only the *other* hop has a certificate.
    RequiredButMissing,
}

fn cert_pair(hop: Hop) -> CertPair {
    let (cert, key) = match hop {
        Hop::ControlPlane => ("client-cp.pem", "client-cp.key"),
        Hop::Mcp => ("client-mcp.pem", "client-mcp.key"),
    };
    CertPair {
        cert_path: pki(cert),
        key_path: pki(key),
    }
}

fn run_cell(hop: Hop, route: Route, trust: Trust, mtls: Mtls) -> String {
    let auth = match mtls {
        Mtls::Off => ClientAuth::Off,
        _ => ClientAuth::Required,
    };
    let origin = TestServer::https("server.pem", "server.key", auth);
    let proxy = ConnectProxy::start(match route {
        Route::ProxyWithAuth => Mode::Basic {
            expected: BASIC.to_string(),
        },
        _ => Mode::Open,
    });

    let mut net = NetConfig::default();
    match trust {
        Trust::WebRootsOnly => {}
        Trust::CaBundle => net.ca_bundle = Some(pki("ca-bundle.pem")),
        Trust::McpCaBundle => net.mcp_ca_bundle = Some(pki("root-ca.pem")),
    }
    let other = match hop {
        Hop::ControlPlane => Hop::Mcp,
        Hop::Mcp => Hop::ControlPlane,
    };
    let (own_pair, other_pair) = match mtls {
        Mtls::Off => (None, None),
        Mtls::RequiredAndConfigured => (Some(cert_pair(hop)), Some(cert_pair(other))),
        Mtls::RequiredButMissing => (None, Some(cert_pair(other))),
    };
    match hop {
        Hop::ControlPlane => {
            net.control_plane_mtls = own_pair;
            net.mcp_mtls = other_pair;
        }
        Hop::Mcp => {
            net.mcp_mtls = own_pair;
            net.control_plane_mtls = other_pair;
        }
    }
    net.proxy = match route {
        Route::Direct => ProxySettings::default(),
        Route::Proxy => ProxySettings {
            https_proxy: Some(proxy.url(None)),
            ..ProxySettings::default()
        },
        Route::ProxyWithAuth => ProxySettings {
            https_proxy: Some(proxy.url(Some("alice:s3cret-pw"))),
            ..ProxySettings::default()
        },
        Route::BypassedByNoProxy => ProxySettings {
            https_proxy: Some(proxy.url(None)),
            no_proxy: vec!["127.0.0.0/8".to_string()],
            ..ProxySettings::default()
        },
    };

    let result = fetch(hop, &origin.url("https"), &net);

    // Route: the proxy saw exactly the tunnels it should have.
    let proxied = matches!(route, Route::Proxy | Route::ProxyWithAuth);
    let tunnels = if proxied {
        proxy.wait_for(1)
    } else {
        proxy.seen()
    };
    assert_eq!(
        tunnels.len(),
        usize::from(proxied),
        "{hop:?} {route:?} {trust:?} {mtls:?}"
    );
    if route == Route::ProxyWithAuth {
        assert_eq!(tunnels[0].authorization, Some(format!("Basic {BASIC}")));
    }

    let trusted = match trust {
        Trust::WebRootsOnly => false,
        Trust::CaBundle => true,
        Trust::McpCaBundle => hop == Hop::Mcp,
    };
    let cell = format!("{hop:?} {route:?} {trust:?} {mtls:?}: {result:?}");
    if !trusted {
        let err = result.expect_err(&cell);
        assert!(
            err.contains("not trusted: add its CA with --ca-bundle"),
            "{cell}"
        );
        return "fails: untrusted, says add --ca-bundle".to_string();
    }
    match mtls {
        Mtls::Off => {
            assert_eq!(result, Ok(200), "{cell}");
            "200".to_string()
        }
        Mtls::RequiredAndConfigured => {
            assert_eq!(result, Ok(200), "{cell}");
            let own_leaf = leaf_der(match hop {
                Hop::ControlPlane => "client-cp.pem",
                Hop::Mcp => "client-mcp.pem",
            });
            assert_eq!(origin.wait_for(1)[0].client_cert, Some(own_leaf), "{cell}");
            "200, server saw this hop's cert".to_string()
        }
        Mtls::RequiredButMissing => {
            let err = result.expect_err(&cell);
            assert!(
                err.contains("the server requires a client certificate"),
                "{cell}"
            );
            assert_eq!(origin.wait_for(1)[0].client_cert, None, "{cell}");
            "fails: requires a client certificate (other hop's not offered)".to_string()
        }
    }
}

#[test]
fn proxy_by_trust_by_mutual_tls_on_both_hops() {
    let mut rows = Vec::new();
    for hop in [Hop::ControlPlane, Hop::Mcp] {
        for route in [
            Route::Direct,
            Route::Proxy,
            Route::ProxyWithAuth,
            Route::BypassedByNoProxy,
        ] {
            for trust in [Trust::WebRootsOnly, Trust::CaBundle, Trust::McpCaBundle] {
                for mtls in [
                    Mtls::Off,
                    Mtls::RequiredAndConfigured,
                    Mtls::RequiredButMissing,
                ] {
                    let outcome = run_cell(hop, route, trust, mtls);
                    rows.push(format!(
                        "| {hop:?} | {route:?} | {trust:?} | {mtls:?} | {outcome} |"
                    ));
                }
            }
        }
    }
    assert_eq!(rows.len(), 72);
    println!("| hop | route | trust | mTLS | outcome |\n|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
