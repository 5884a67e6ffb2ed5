//! `tunnel-client doctor` runs the same discovery (O13): selected or not advertised passes and
//! shows scheme and host of what was found; a failure names its class. Never a path or a body.

use super::*;
use crate::support::cli::{run, stdout};
use crate::support::control_plane::MockControlPlane;
use crate::support::{TempDir, API_KEY, TUNNEL_ID};
use serde_json::{json, Value};

fn doctor(mcp_url: &str, json_output: bool) -> (Option<i32>, String) {
    let home = TempDir::new("oauth-doctor");
    let cp = MockControlPlane::start();
    let mut args = vec![
        "doctor",
        "--tunnel-id",
        TUNNEL_ID,
        "--mcp-server-url",
        mcp_url,
        "--admin-address",
        "off",
        "--control-plane-url",
        &cp.url,
    ];
    if json_output {
        args.push("--json");
    } else {
        args.push("--explain");
    }
    let out = run(
        &args,
        &[("CONTROL_PLANE_API_KEY", API_KEY), ("NO_COLOR", "1")],
        home.path(),
    );
    (out.status.code(), stdout(&out))
}

fn oauth_check(mcp_url: &str) -> Value {
    let (_, text) = doctor(mcp_url, true);
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "OAuth discovery")
        .cloned()
        .unwrap_or_else(|| panic!("no OAuth check: {report}"))
}

/// An OAuth-protected MCP server: every MCP request gets 401 with a hint.
fn protected(site: &Site) {
    let challenge = format!(
        "Bearer error=\"invalid_token\", resource_metadata=\"{}\"",
        site.url("/PATH-SECRET/prmd")
    );
    let c = challenge.clone();
    site.on("POST", "/mcp", move |_| unauthorized(&c));
    site.on("GET", "/mcp", move |_| unauthorized(&challenge));
}

#[test]
fn o13_doctor_passes_on_selected_metadata_and_shows_origins_only() {
    let site = Site::http();
    protected(&site);
    let issuer = format!("{}/AS-PATH-SECRET", site.origin());
    let i = issuer.clone();
    site.on("GET", "/PATH-SECRET/prmd", move |_| {
        json_ok(
            &json!({"resource": "https://BODY-SECRET/mcp", "authorization_servers": [i]}),
            &[],
        )
    });
    site.on(
        "GET",
        "/.well-known/oauth-authorization-server/AS-PATH-SECRET",
        move |_| {
            json_ok(
                &json!({"issuer": issuer, "token_endpoint": "https://BODY-SECRET/token"}),
                &[],
            )
        },
    );
    let check = oauth_check(&site.url("/mcp"));
    assert_eq!(check["status"], "pass", "{check}");
    assert_eq!(
        check["detail"],
        "metadata from http://127.0.0.1; authorization server http://127.0.0.1 (metadata found)"
    );
    let (code, text) = doctor(&site.url("/mcp"), false);
    // The protected server refuses initialize without a token: the MCP check says why
    // (a warning: callers authorize through the tunnel), and nothing fails.
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("✓ OAuth discovery"), "{text}");
    assert!(
        text.contains(
            "! MCP server answers     initialize answered HTTP 401 with a Bearer challenge"
        ),
        "{text}"
    );
    for secret in ["PATH-SECRET", "BODY-SECRET", ".well-known"] {
        assert!(!text.contains(secret), "{secret} shown:\n{text}");
    }
}

#[test]
fn o13_doctor_passes_when_nothing_is_advertised_and_fails_with_the_class() {
    let site = Site::http();
    site.on("POST", "/mcp", |_| status(400));
    site.on("GET", "/mcp", |_| status(405));
    let check = oauth_check(&site.url("/mcp"));
    assert_eq!(check["status"], "pass", "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .starts_with("not advertised"),
        "{check}"
    );

    site.on("GET", PRMD_MCP, |_| raw(200, &[], b"[\"BODY-SECRET\"]"));
    let check = oauth_check(&site.url("/mcp"));
    assert_eq!(check["status"], "fail", "{check}");
    assert_eq!(check["detail"], "OAuth discovery failed: invalid_metadata");
    assert!(
        check["cause"].as_str().unwrap().contains("\"resource\""),
        "{check}"
    );
    assert!(!check["fix"].as_str().unwrap().is_empty());
    assert!(!check.to_string().contains("BODY-SECRET"));
}

// A 401 without any challenge is a warning too, worded as missing credentials.
#[test]
fn doctor_warns_on_a_401_without_a_challenge() {
    let site = Site::http();
    site.on("POST", "/mcp", |_| status(401));
    site.on("GET", "/mcp", |_| status(405));
    let (code, text) = doctor(&site.url("/mcp"), false);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("! MCP server answers     initialize answered HTTP 401 without a challenge"),
        "{text}"
    );
    assert!(text.contains("--mcp-extra-headers"), "{text}");
}
