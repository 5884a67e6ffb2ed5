//! Outbound proxy against a real CONNECT proxy and real origins on 127.0.0.1:
//! which destinations use it, NO_PROXY bypasses (names, CIDR, ports, *),
//! Basic credentials (seen by the proxy, never printed), refusals in words.

use crate::support::closed_port;
use crate::support::proxy::{ConnectProxy, Mode};
use crate::support::tls_server::{fetch, leaf_der, pki, ClientAuth, TestServer};
use tunnel::net::{
    build_agent, check_proxy_connect, CertPair, ConnectFailure, Hop, NetConfig, NetError,
    ProxySettings,
};

/// The password used with every credentialed proxy below; it must never
/// appear in an error message or a log line.
const PASSWORD: &str = "s3cret-pw";
/// base64("alice:s3cret-pw")
const BASIC: &str = "YWxpY2U6czNjcmV0LXB3";

fn via(proxy: &str, no_proxy: &[&str]) -> NetConfig {
    NetConfig {
        ca_bundle: Some(pki("ca-bundle.pem")),
        proxy: ProxySettings {
            https_proxy: Some(proxy.to_string()),
            http_proxy: None,
            no_proxy: no_proxy.iter().map(|s| s.to_string()).collect(),
        },
        ..NetConfig::default()
    }
}

#[test]
fn https_goes_through_the_proxy_with_connect() {
    let origin = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let proxy = ConnectProxy::start(Mode::Open);
    let net = via(&proxy.url(None), &[]);
    assert_eq!(
        fetch(Hop::ControlPlane, &origin.url("https"), &net),
        Ok(200)
    );
    assert_eq!(fetch(Hop::Mcp, &origin.url("https"), &net), Ok(200));
    let seen = proxy.wait_for(2);
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(
            s.request_line,
            format!("CONNECT 127.0.0.1:{} HTTP/1.1", origin.port())
        );
        assert_eq!(s.authorization, None);
    }
    // The origin got an origin-form request through the tunnel.
    assert_eq!(
        origin.wait_for(2)[0].outcome,
        Ok("GET / HTTP/1.1".to_string())
    );
    assert_eq!(check_proxy_connect(&origin.url("https"), &net), Ok(()));
    assert_eq!(proxy.wait_for(3).len(), 3);
}

#[test]
fn no_proxy_entries_bypass_the_proxy_and_others_do_not() {
    let origin = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let port = origin.port();
    let ip_url = origin.url("https");
    let name_url = format!("https://localhost:{port}/");
    let other_port = format!("127.0.0.1:{}", closed_port());
    let this_port = format!("127.0.0.1:{port}");
    let cases: Vec<(Vec<&str>, &str, bool)> = vec![
        // (NO_PROXY, target, expect the proxy to be used)
        (vec!["127.0.0.0/8"], &ip_url, false),
        (vec!["10.0.0.0/8", "127.0.0.1/32"], &ip_url, false),
        (vec!["::1/128", "127.0.0.1"], &ip_url, false),
        (vec![&this_port], &ip_url, false),
        (vec!["*"], &ip_url, false),
        (vec!["localhost"], &name_url, false),
        (vec![".localhost"], &name_url, false),
        (vec![&other_port], &ip_url, true),
        (vec!["10.0.0.0/8"], &ip_url, true),
        (vec!["128.0.0.0/1"], &ip_url, true),
        (vec!["localhost"], &ip_url, true),
        (vec!["example.com"], &name_url, true),
        (vec![], &ip_url, true),
    ];
    for (no_proxy, target, proxied) in cases {
        let proxy = ConnectProxy::start(Mode::Open);
        let net = via(&proxy.url(None), &no_proxy);
        assert_eq!(
            fetch(Hop::Mcp, target, &net),
            Ok(200),
            "{no_proxy:?} {target}"
        );
        let seen = if proxied {
            proxy.wait_for(1)
        } else {
            proxy.seen()
        };
        assert_eq!(
            seen.len(),
            usize::from(proxied),
            "{no_proxy:?} {target}: {seen:?}"
        );
    }
}

#[test]
fn plain_http_targets_use_http_proxy_and_never_https_proxy() {
    let origin = TestServer::http();
    let https_proxy = ConnectProxy::start(Mode::Open);
    let http_proxy = ConnectProxy::start(Mode::Open);
    let mut net = via(&https_proxy.url(None), &[]);
    net.proxy.http_proxy = Some(http_proxy.url(None));
    assert_eq!(fetch(Hop::Mcp, &origin.url("http"), &net), Ok(200));
    assert_eq!(http_proxy.wait_for(1).len(), 1);
    assert_eq!(https_proxy.seen().len(), 0);

    // Only HTTPS_PROXY set: a plain-http MCP server is reached directly.
    net.proxy.http_proxy = None;
    assert_eq!(fetch(Hop::Mcp, &origin.url("http"), &net), Ok(200));
    assert_eq!(origin.wait_for(2).len(), 2);
    assert_eq!(https_proxy.seen().len(), 0);
}

#[test]
fn credentials_in_the_proxy_url_become_basic_auth() {
    let origin = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let proxy = ConnectProxy::start(Mode::Basic {
        expected: BASIC.to_string(),
    });
    let net = via(&proxy.url(Some(&format!("alice:{PASSWORD}"))), &[]);
    assert_eq!(
        fetch(Hop::ControlPlane, &origin.url("https"), &net),
        Ok(200)
    );
    let seen = proxy.wait_for(1);
    assert_eq!(seen[0].authorization, Some(format!("Basic {BASIC}")));
    assert_eq!(seen[0].status, 200);
    assert_eq!(check_proxy_connect(&origin.url("https"), &net), Ok(()));
    assert_eq!(
        proxy.wait_for(2)[1].authorization,
        Some(format!("Basic {BASIC}"))
    );

    // Percent-encoded credentials are decoded once: "al@ce" / "p:ss".
    let proxy = ConnectProxy::start(Mode::Basic {
        expected: "YWxAY2U6cDpzcw==".to_string(),
    });
    let net = via(&proxy.url(Some("al%40ce:p%3Ass")), &[]);
    assert_eq!(fetch(Hop::Mcp, &origin.url("https"), &net), Ok(200));
}

#[test]
fn a_407_says_the_proxy_refused_and_never_shows_the_password() {
    let origin = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let proxy = ConnectProxy::start(Mode::Basic {
        expected: "bm9ib2R5Om5vdGhpbmc=".to_string(),
    });
    let label = proxy.addr.to_string();
    for userinfo in [Some(format!("alice:{PASSWORD}")), None] {
        let net = via(&proxy.url(userinfo.as_deref()), &[]);
        let err = fetch(Hop::ControlPlane, &origin.url("https"), &net).unwrap_err();
        assert!(
            err.contains(&format!(
                "the proxy {label} refused the connection (407 Proxy Authentication Required)"
            )),
            "{err}"
        );
        assert!(!err.contains(PASSWORD) && !err.contains(BASIC), "{err}");

        let doctor = check_proxy_connect(&origin.url("https"), &net).unwrap_err();
        assert!(matches!(
            doctor,
            NetError::Connect {
                failure: ConnectFailure::ProxyRefused { status: 407, .. },
                ..
            }
        ));
        let text = format!("{doctor} {doctor:?} {net:?}");
        assert!(!text.contains(PASSWORD) && !text.contains(BASIC), "{text}");
    }
    assert_eq!(origin.seen().len(), 0, "nothing reached the origin");
}

#[test]
fn refusals_and_unreachable_proxies_are_blamed_on_the_proxy() {
    let origin = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    for (status, words) in [(403, "403 Forbidden"), (502, "502 Bad Gateway")] {
        let proxy = ConnectProxy::start(Mode::Refuse(status));
        let net = via(&proxy.url(None), &[]);
        let err = fetch(Hop::Mcp, &origin.url("https"), &net).unwrap_err();
        let expected = format!("the proxy {} refused the connection ({words})", proxy.addr);
        assert!(err.contains(&expected), "{err}");
        let doctor = check_proxy_connect(&origin.url("https"), &net)
            .unwrap_err()
            .to_string();
        assert!(doctor.contains(&expected), "{doctor}");
    }

    // A real 502: the proxy cannot reach the destination.
    let proxy = ConnectProxy::start(Mode::Open);
    let net = via(&proxy.url(None), &[]);
    let dead = format!("https://127.0.0.1:{}/", closed_port());
    let err = fetch(Hop::Mcp, &dead, &net).unwrap_err();
    assert!(
        err.contains("refused the connection (502 Bad Gateway)"),
        "{err}"
    );
    assert!(err.contains("could not reach the destination"), "{err}");

    // No proxy listening at all.
    let gone = format!("127.0.0.1:{}", closed_port());
    let net = via(&format!("http://alice:{PASSWORD}@{gone}"), &[]);
    let err = fetch(Hop::ControlPlane, &origin.url("https"), &net).unwrap_err();
    assert!(
        err.contains(&format!("could not reach the proxy {gone}")),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    let doctor = check_proxy_connect(&origin.url("https"), &net)
        .unwrap_err()
        .to_string();
    assert!(
        doctor.contains(&format!("could not reach the proxy {gone}")),
        "{doctor}"
    );
}

#[test]
fn mutual_tls_works_through_the_tunnel() {
    let origin = TestServer::https("server.pem", "server.key", ClientAuth::Required);
    let proxy = ConnectProxy::start(Mode::Basic {
        expected: BASIC.to_string(),
    });
    let mut net = via(&proxy.url(Some(&format!("alice:{PASSWORD}"))), &[]);
    net.control_plane_mtls = Some(CertPair {
        cert_path: pki("client-cp.pem"),
        key_path: pki("client-cp.key"),
    });
    assert_eq!(
        fetch(Hop::ControlPlane, &origin.url("https"), &net),
        Ok(200)
    );
    assert_eq!(
        origin.wait_for(1)[0].client_cert,
        Some(leaf_der("client-cp.pem"))
    );
    assert_eq!(proxy.wait_for(1)[0].status, 200);
}

#[test]
fn a_bypassed_destination_needs_no_proxy_check() {
    let proxy = ConnectProxy::start(Mode::Refuse(403));
    let net = via(&proxy.url(None), &["127.0.0.0/8"]);
    assert_eq!(check_proxy_connect("https://127.0.0.1:9/", &net), Ok(()));
    assert_eq!(proxy.seen().len(), 0);
}

#[test]
fn bad_proxy_settings_fail_agent_building_without_the_password() {
    for bad in [
        format!("socks5://alice:{PASSWORD}@127.0.0.1:1080"),
        format!("http://alice:{PASSWORD}@"),
    ] {
        let net = via(&bad, &[]);
        let err = build_agent(Hop::ControlPlane, "https://example.com/", &net)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("proxy setting:"), "{err}");
        assert!(!err.contains(PASSWORD), "{err}");
    }
    let net = via("http://127.0.0.1:3128", &["10.0.0.0/40"]);
    let err = build_agent(Hop::Mcp, "https://example.com/", &net)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"10.0.0.0/40\""), "{err}");
}

#[test]
fn credentials_never_reach_the_logs() {
    // The binaries' own clamp applies: ureq at debug at most.
    crate::support::logs::capture();
    let origin = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let good = ConnectProxy::start(Mode::Basic {
        expected: BASIC.to_string(),
    });
    let net = via(&good.url(Some(&format!("alice:{PASSWORD}"))), &[]);
    assert_eq!(
        fetch(Hop::ControlPlane, &origin.url("https"), &net),
        Ok(200)
    );
    let refusing = ConnectProxy::start(Mode::Refuse(407));
    let net = via(&refusing.url(Some(&format!("alice:{PASSWORD}"))), &[]);
    assert!(fetch(Hop::ControlPlane, &origin.url("https"), &net).is_err());

    let lines = crate::support::logs::lines();
    assert!(
        lines.iter().any(|l| l.contains("goes through proxy")),
        "the capture works: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("ureq")),
        "ureq's own lines are captured too: {lines:?}"
    );
    for line in lines.iter() {
        assert!(!line.contains(PASSWORD) && !line.contains(BASIC), "{line}");
    }
}

#[test]
fn an_https_proxy_gets_tls_with_our_trust_but_never_a_client_certificate() {
    let origin = TestServer::https("server.pem", "server.key", ClientAuth::Required);
    let proxy = ConnectProxy::start_tls(Mode::Basic {
        expected: BASIC.to_string(),
    });
    for hop in [Hop::ControlPlane, Hop::Mcp] {
        let mut net = via(&proxy.url(Some(&format!("alice:{PASSWORD}"))), &[]);
        let pair = Some(CertPair {
            cert_path: pki("client-cp.pem"),
            key_path: pki("client-cp.key"),
        });
        match hop {
            Hop::ControlPlane => net.control_plane_mtls = pair,
            Hop::Mcp => {
                net.mcp_mtls = pair;
                // The MCP bundle is the MCP server's trust; the proxy keeps --ca-bundle.
                net.mcp_ca_bundle = Some(pki("root-ca.pem"));
            }
        }
        assert_eq!(fetch(hop, &origin.url("https"), &net), Ok(200), "{hop:?}");
        assert_eq!(check_proxy_connect(&origin.url("https"), &net), Ok(()));
    }
    let seen = proxy.wait_for(4);
    assert_eq!(seen.len(), 4);
    for s in &seen {
        assert_eq!(s.status, 200);
        assert!(
            !s.client_cert_offered,
            "client certificate offered to the proxy"
        );
    }
    // Two requests plus two doctor tunnels that closed before any TLS.
    let served: Vec<_> = origin
        .wait_for(4)
        .into_iter()
        .filter(|s| s.outcome.is_ok())
        .collect();
    assert_eq!(served.len(), 2);
    assert!(served
        .iter()
        .all(|s| s.client_cert == Some(leaf_der("client-cp.pem"))));
}

#[test]
fn an_untrusted_https_proxy_is_blamed_on_the_proxy() {
    let origin = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let proxy = ConnectProxy::start_tls(Mode::Open);
    let mut net = via(&proxy.url(None), &[]);
    net.ca_bundle = None;
    net.mcp_ca_bundle = Some(pki("root-ca.pem"));
    let expected = format!(
        "TLS with the proxy {} failed: the server's certificate is not trusted: add its CA with --ca-bundle",
        proxy.addr
    );
    let err = fetch(Hop::Mcp, &origin.url("https"), &net).unwrap_err();
    assert!(err.contains(&expected), "{err}");
    let doctor = check_proxy_connect(&origin.url("https"), &net)
        .unwrap_err()
        .to_string();
    assert!(doctor.contains(&expected), "{doctor}");
    assert_eq!(proxy.seen().len(), 0);
}
