//! Private CAs, certificate failures and per-hop mutual TLS against real
//! rustls servers on 127.0.0.1 (tests/fixtures/pki). No internet.

use crate::support::tls_server::{fetch, leaf_der, pki, ClientAuth, TestServer};
use tunnel::net::{
    build_agent, check_tls_handshake, validate, CertPair, ConnectFailure, Hop, NetConfig, NetError,
};

fn pair(cert: &str, key: &str) -> CertPair {
    CertPair {
        cert_path: pki(cert),
        key_path: pki(key),
    }
}

fn with_bundle() -> NetConfig {
    NetConfig {
        ca_bundle: Some(pki("ca-bundle.pem")),
        ..NetConfig::default()
    }
}

fn both_client_certs() -> NetConfig {
    NetConfig {
        control_plane_mtls: Some(pair("client-cp.pem", "client-cp.key")),
        mcp_mtls: Some(pair("client-mcp.pem", "client-mcp.key")),
        ..with_bundle()
    }
}

#[test]
fn the_bundle_makes_the_private_ca_trusted_on_both_hops() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let net = with_bundle();
    assert_eq!(
        fetch(Hop::ControlPlane, &server.url("https"), &net),
        Ok(200)
    );
    assert_eq!(fetch(Hop::Mcp, &server.url("https"), &net), Ok(200));
    let by_name = format!("https://localhost:{}/", server.port());
    assert_eq!(fetch(Hop::ControlPlane, &by_name, &net), Ok(200));
    assert!(check_tls_handshake(&server.url("https"), Hop::ControlPlane, &net).is_ok());
}

#[test]
fn without_the_bundle_the_server_is_untrusted_and_the_fix_is_named() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let net = NetConfig::default();
    let cp = fetch(Hop::ControlPlane, &server.url("https"), &net).unwrap_err();
    assert!(
        cp.contains("the server's certificate is not trusted: add its CA with --ca-bundle"),
        "{cp}"
    );
    let mcp = fetch(Hop::Mcp, &server.url("https"), &net).unwrap_err();
    assert!(mcp.contains("--mcp-ca-bundle"), "{mcp}");

    let doctor = check_tls_handshake(&server.url("https"), Hop::ControlPlane, &net).unwrap_err();
    assert!(matches!(
        doctor,
        NetError::Connect {
            failure: ConnectFailure::UntrustedCertificate { .. },
            ..
        }
    ));
    assert!(
        doctor.to_string().starts_with(&server.url("https")),
        "{doctor}"
    );
}

#[test]
fn the_mcp_bundle_sets_trust_for_the_mcp_hop_alone() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let url = server.url("https");

    let mcp_only = NetConfig {
        mcp_ca_bundle: Some(pki("root-ca.pem")),
        ..NetConfig::default()
    };
    assert_eq!(fetch(Hop::Mcp, &url, &mcp_only), Ok(200));
    let cp = fetch(Hop::ControlPlane, &url, &mcp_only).unwrap_err();
    assert!(cp.contains("not trusted"), "{cp}");

    // The MCP bundle replaces the MCP hop's roots: --ca-bundle no longer applies there.
    let replaced = NetConfig {
        mcp_ca_bundle: Some(pki("other-ca.pem")),
        ..with_bundle()
    };
    assert_eq!(fetch(Hop::ControlPlane, &url, &replaced), Ok(200));
    let mcp = fetch(Hop::Mcp, &url, &replaced).unwrap_err();
    assert!(mcp.contains("not trusted"), "{mcp}");
}

#[test]
fn an_expired_certificate_is_called_expired() {
    let server = TestServer::https("server-expired.pem", "server-expired.key", ClientAuth::Off);
    let err = fetch(Hop::ControlPlane, &server.url("https"), &with_bundle()).unwrap_err();
    assert!(
        err.contains("the server's certificate has expired"),
        "{err}"
    );
}

#[test]
fn a_certificate_for_another_name_is_a_name_mismatch() {
    let server = TestServer::https(
        "server-wrong-name.pem",
        "server-wrong-name.key",
        ClientAuth::Off,
    );
    let err = fetch(Hop::Mcp, &server.url("https"), &with_bundle()).unwrap_err();
    assert!(
        err.contains("not valid for the name 127.0.0.1 (name mismatch)"),
        "{err}"
    );
}

#[test]
fn each_client_certificate_goes_to_its_own_hop_only() {
    let control_plane = TestServer::https("server.pem", "server.key", ClientAuth::Required);
    let mcp = TestServer::https("server.pem", "server.key", ClientAuth::Optional);
    let net = both_client_certs();

    assert_eq!(
        fetch(Hop::ControlPlane, &control_plane.url("https"), &net),
        Ok(200)
    );
    let seen = control_plane.wait_for(1);
    assert_eq!(seen[0].client_cert, Some(leaf_der("client-cp.pem")));

    assert_eq!(fetch(Hop::Mcp, &mcp.url("https"), &net), Ok(200));
    let seen = mcp.wait_for(1);
    assert_eq!(seen[0].client_cert, Some(leaf_der("client-mcp.pem")));

    // An agent shows its certificate to its own origin only: the MCP agent
    // pointed at another origin presents nothing ...
    let mcp_agent = build_agent(Hop::Mcp, &mcp.url("https"), &net).unwrap();
    let other = mcp_agent.get(&control_plane.url("https")).call();
    assert!(other.is_err(), "the control plane requires a certificate");
    let seen = control_plane.wait_for(2);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].client_cert, None);

    // ... and the control-plane agent shows nothing to the MCP server.
    let cp_agent = build_agent(Hop::ControlPlane, &control_plane.url("https"), &net).unwrap();
    let response = cp_agent.get(&mcp.url("https")).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = mcp.wait_for(2);
    assert_eq!(seen[1].client_cert, None);
}

#[test]
fn a_required_certificate_that_is_missing_is_named_with_its_flags() {
    let control_plane = TestServer::https("server.pem", "server.key", ClientAuth::Required);
    // Only the MCP hop has a certificate: it must not be offered here.
    let net = NetConfig {
        mcp_mtls: Some(pair("client-mcp.pem", "client-mcp.key")),
        ..with_bundle()
    };
    let err = fetch(Hop::ControlPlane, &control_plane.url("https"), &net).unwrap_err();
    assert!(
        err.contains("the server requires a client certificate: set --control-plane-cert and --control-plane-key"),
        "{err}"
    );
    let seen = control_plane.wait_for(1);
    assert_eq!(seen[0].client_cert, None);
    assert!(seen[0].outcome.is_err());

    let mcp = TestServer::https("server.pem", "server.key", ClientAuth::Required);
    let err = fetch(Hop::Mcp, &mcp.url("https"), &with_bundle()).unwrap_err();
    assert!(
        err.contains("--mcp-client-cert and --mcp-client-key"),
        "{err}"
    );
}

#[test]
fn a_certificate_the_server_does_not_trust_is_rejected_in_words() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Required);
    let net = NetConfig {
        mcp_mtls: Some(pair("client-other.pem", "client-other.key")),
        ..with_bundle()
    };
    let err = fetch(Hop::Mcp, &server.url("https"), &net).unwrap_err();
    assert!(
        err.contains("the server rejected our client certificate"),
        "{err}"
    );
    assert!(err.contains("--mcp-client-cert"), "{err}");
    let seen = server.wait_for(1);
    assert_eq!(
        seen[0].client_cert, None,
        "a rejected chain is not recorded as accepted"
    );
}

#[test]
fn every_key_format_works_in_a_real_handshake() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Required);
    for (cert, key) in [
        ("client-cp.pem", "client-cp.key"),      // PKCS#8
        ("client-cp.pem", "client-cp-sec1.key"), // SEC1
        ("client-mcp.pem", "client-mcp.key"),    // PKCS#1
    ] {
        let net = NetConfig {
            control_plane_mtls: Some(pair(cert, key)),
            ..with_bundle()
        };
        assert_eq!(
            fetch(Hop::ControlPlane, &server.url("https"), &net),
            Ok(200),
            "{cert} + {key}"
        );
    }
}

#[test]
fn bad_files_fail_agent_building_and_name_the_file() {
    let target = "https://127.0.0.1:9/";
    for (file, words) in [
        ("missing.pem", "cannot read"),
        ("garbage.pem", "no PEM data"),
        ("no-certs.pem", "no certificates"),
        ("truncated.pem", "not valid PEM"),
    ] {
        let net = NetConfig {
            ca_bundle: Some(pki(file)),
            ..NetConfig::default()
        };
        for hop in [Hop::ControlPlane, Hop::Mcp] {
            let err = build_agent(hop, target, &net).unwrap_err().to_string();
            assert!(err.contains(file) && err.contains(words), "{err}");
            assert!(err.contains("--ca-bundle"), "{err}");
        }
        assert!(validate(&net).is_err());

        let mcp_net = NetConfig {
            mcp_ca_bundle: Some(pki(file)),
            ..NetConfig::default()
        };
        let err = build_agent(Hop::Mcp, target, &mcp_net)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(file) && err.contains("--mcp-ca-bundle"),
            "{err}"
        );
        // The control plane does not read the MCP bundle.
        assert!(build_agent(Hop::ControlPlane, target, &mcp_net).is_ok());
    }
}

#[test]
fn a_mismatched_key_fails_agent_building_not_the_first_connection() {
    let net = NetConfig {
        control_plane_mtls: Some(pair("client-cp.pem", "client-mcp.key")),
        ..NetConfig::default()
    };
    let err = build_agent(Hop::ControlPlane, "https://127.0.0.1:9/", &net).unwrap_err();
    assert_eq!(
        err,
        NetError::CertKeyMismatch {
            cert: pki("client-cp.pem"),
            key: pki("client-mcp.key"),
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("client-cp.pem") && text.contains("client-mcp.key"),
        "{text}"
    );
    assert!(validate(&net).is_err());
    // The other hop is unaffected.
    assert!(build_agent(Hop::Mcp, "https://127.0.0.1:9/", &net).is_ok());
}
