//! O15 and O4's downgrade rule against real TLS servers: operator headers and the MCP client
//! certificate reach `main`'s origin only; no cookies; an http hint under https is never contacted.

use super::algorithm::selected;
use super::*;
use crate::support::harpoon_upstream::pki;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tunnel::agent::oauth::Discovery;
use tunnel::net::{CertPair, NetConfig};
use tunnel::secret::Secret;
use tunnel::telemetry::Telemetry;

const OPERATOR_TOKEN: &str = "OPERATOR-SECRET-3b9e";
const DISCOVERY_KEY: &str = "DISCOVERY-SECRET-7c21";

/// Trusts the test CA and presents the MCP client certificate (to `main` only).
fn net() -> NetConfig {
    NetConfig {
        ca_bundle: Some(pki("root-ca.pem")),
        mcp_mtls: Some(CertPair {
            cert_path: pki("client-mcp.pem"),
            key_path: pki("client-mcp.key"),
        }),
        ..NetConfig::default()
    }
}

fn operator_headers() -> Vec<(String, Secret)> {
    vec![
        (
            "Authorization".into(),
            Secret::new(format!("Bearer {OPERATOR_TOKEN}")),
        ),
        ("X-Discovery-Key".into(), Secret::new(DISCOVERY_KEY)),
    ]
}

fn carries_secrets(r: &crate::support::harpoon_upstream::Received) -> bool {
    let head = &r.head;
    head.contains(OPERATOR_TOKEN)
        || head.contains(DISCOVERY_KEY)
        || r.header("Authorization").is_some()
}

#[test]
fn o15_operator_headers_and_the_client_certificate_stay_on_mains_origin() {
    let main = Site::https();
    let other = Site::https();
    // The hint and the authorization server live on another origin.
    let hint = other.url("/prmd");
    main.on("POST", "/mcp", move |_| {
        raw(
            401,
            &[
                (
                    "WWW-Authenticate",
                    &format!("Bearer resource_metadata=\"{hint}\""),
                ),
                ("Set-Cookie", "session=from-main; Path=/"),
            ],
            b"",
        )
    });
    let issuer = other.origin();
    other.on("GET", "/prmd", move |_| {
        json_ok(
            &prmd("https://r/mcp", &[&issuer]),
            &[("Set-Cookie", "track=1")],
        )
    });
    let issuer = other.origin();
    other.on(
        "GET",
        "/.well-known/oauth-authorization-server",
        move |_| {
            json_ok(
                &json!({"issuer": issuer, "token_endpoint": format!("{issuer}/token")}),
                &[],
            )
        },
    );
    let discovery = Discovery::new(
        &main.url("/mcp"),
        &net(),
        operator_headers(),
        Arc::new(Telemetry::new()),
    )
    .unwrap();
    let s = selected(discovery.discover(Instant::now() + Duration::from_secs(30)));
    assert_eq!(s.source.request_target(), "/prmd");
    let report = discovery.follow_up(&s);
    assert_eq!(report.found.authorization_server_metadata, "found");
    assert_eq!(
        report.discovered.token_endpoint,
        Some(format!("{}/token", other.origin()))
    );

    let to_main = main.requests();
    assert_eq!(to_main.len(), 1, "{:?}", main.seen());
    for r in &to_main {
        assert!(r.client_cert, "main's origin gets the client certificate");
        assert_eq!(
            r.header("Authorization"),
            Some(format!("Bearer {OPERATOR_TOKEN}"))
        );
        assert_eq!(r.header("X-Discovery-Key").as_deref(), Some(DISCOVERY_KEY));
    }
    let to_other = other.requests();
    assert_eq!(
        other.seen(),
        ["GET /prmd", "GET /.well-known/oauth-authorization-server"]
    );
    for r in &to_other {
        assert!(!r.client_cert, "another origin got the client certificate");
        assert!(
            !carries_secrets(r),
            "another origin got an operator header: {}",
            r.head
        );
        assert!(r.header("Cookie").is_none(), "a cookie was sent");
    }
}

#[test]
fn o15_an_authorization_server_on_mains_origin_gets_no_operator_credential() {
    let main = Site::https();
    main.on("POST", "/mcp", |_| status(400));
    main.on("GET", "/mcp", |_| status(405));
    let issuer = format!("{}/realm", main.origin());
    let i = issuer.clone();
    main.on("GET", PRMD_MCP, move |_| {
        json_ok(&prmd("https://r/mcp", &[&i]), &[("Set-Cookie", "s=1")])
    });
    let i = issuer.clone();
    main.on(
        "GET",
        "/.well-known/oauth-authorization-server/realm",
        move |_| json_ok(&json!({"issuer": i, "jwks_uri": "https://keys/jwks"}), &[]),
    );
    let discovery = Discovery::new(
        &main.url("/mcp"),
        &net(),
        operator_headers(),
        Arc::new(Telemetry::new()),
    )
    .unwrap();
    let s = selected(discovery.discover(Instant::now() + Duration::from_secs(30)));
    let report = discovery.follow_up(&s);
    assert_eq!(
        report.discovered.jwks_uri.as_deref(),
        Some("https://keys/jwks")
    );
    assert_eq!(
        main.seen(),
        [
            "POST /mcp",
            "GET /mcp",
            &format!("GET {PRMD_MCP}"),
            "GET /realm/.well-known/oauth-authorization-server",
            "GET /.well-known/oauth-authorization-server/realm",
        ]
    );
    for r in main.requests() {
        let auth_server = r.request_line().contains("oauth-authorization-server");
        assert_eq!(carries_secrets(&r), !auth_server, "{}", r.head);
        assert_eq!(r.client_cert, !auth_server, "{}", r.head);
        assert!(r.header("Cookie").is_none(), "a cookie was sent");
    }
}

#[test]
fn o4_an_http_hint_under_an_https_server_is_never_contacted() {
    let main = Site::https();
    let plain = Site::http();
    let hint = plain.url("/prmd");
    plain.on("GET", "/prmd", |_| {
        json_ok(&prmd("https://r/plain", &[]), &[])
    });
    main.on("POST", "/mcp", move |_| {
        unauthorized(&format!("Bearer resource_metadata=\"{hint}\""))
    });
    main.on("GET", PRMD_MCP, |_| {
        json_ok(&prmd("https://r/mcp", &[]), &[])
    });
    let discovery = Discovery::new(
        &main.url("/mcp"),
        &net(),
        Vec::new(),
        Arc::new(Telemetry::new()),
    )
    .unwrap();
    let s = selected(discovery.discover(Instant::now() + Duration::from_secs(30)));
    assert_eq!(s.metadata["resource"], "https://r/mcp");
    assert_eq!(
        plain.upstream.connections(),
        0,
        "the http hint was contacted"
    );
}
