//! The `oauth_discovery` command through the built agent and the scripted control plane: the
//! exact POSTed payloads (O8–O11, A7), stdio `main` (O2), deadlines (O3), logs (O16).

use super::*;
use crate::support::control_plane::MockControlPlane;
use crate::support::{process, WAIT};
use serde_json::{json, Value};

/// A `response_timeout` far beyond every wait below: an answer that arrives
/// within [`WAIT`] came at once, not when the caller gave up (O11).
const LONG_TIMEOUT: &str = "300s";

pub fn discovery_command(request_id: &str, channel: Option<&str>, timeout: &str) -> Value {
    let mut c = json!({"request_id": request_id, "shard_token": "st-oauth",
        "command_type": "oauth_discovery", "created_at": "2026-01-01T00:00:00Z",
        "response_timeout": timeout,
        "headers": {"Authorization": ["Bearer CALLER-TOKEN-ignored"]}});
    if let Some(channel) = channel {
        c["channel"] = json!(channel);
    }
    c
}

/// The MCP endpoint answers probes without a hint.
fn open_mcp(site: &Site) {
    site.on("POST", "/mcp", |_| status(400));
    site.on("GET", "/mcp", |_| status(405));
}

fn not_advertised() -> Value {
    json!({"error": {"message": "the MCP server does not advertise OAuth protected resource metadata",
        "type": "invalid_request_error", "code": "oauth_metadata_not_found"}})
}

fn failed(class: &str) -> Value {
    json!({"error": {"message": format!("OAuth discovery failed: {class}"),
        "type": "server_error", "code": "oauth_discovery_failed"}})
}

#[test]
fn o8_o11_selected_metadata_is_posted_as_received_with_only_the_caching_headers() {
    let site = Site::http();
    let hint = site.url("/docs/prmd");
    site.on("POST", "/mcp", move |_| {
        unauthorized(&format!(
            r#"Bearer realm="mcp", resource_metadata="{hint}""#
        ))
    });
    let document = prmd("https://mcp.example/mcp", &["https://as.example/tenant"]);
    let served = document.clone();
    site.on("GET", "/docs/prmd", move |_| {
        json_ok(
            &served,
            &[
                ("Cache-Control", "max-age=300"),
                ("ETag", "\"prmd-v7\""),
                ("Last-Modified", "Wed, 01 Jan 2026 00:00:00 GMT"),
                ("Set-Cookie", "sid=abc"),
                ("WWW-Authenticate", "Bearer"),
                ("X-Upstream", "private"),
            ],
        )
    });
    let cp = MockControlPlane::start();
    let _agent = process::agent(&cp.url, &["--mcp-server-url", &site.url("/mcp")]);
    cp.push_commands(vec![discovery_command("r_sel", None, LONG_TIMEOUT)]);
    let posted = cp.wait_terminal("r_sel", WAIT);
    assert_eq!(
        posted,
        json!({
            "request_id": "r_sel",
            "channel": "main",
            "resp_json": document,
            "resp_headers": {
                "Content-Type": ["application/json"],
                "Cache-Control": ["max-age=300"],
                "ETag": ["\"prmd-v7\""],
                "Last-Modified": ["Wed, 01 Jan 2026 00:00:00 GMT"],
            },
            "resp_code": 200,
            "resp_type": "oauth_discovery_response",
        })
    );
    let post = cp
        .posts()
        .into_iter()
        .find(|p| p.json()["request_id"] == "r_sel")
        .unwrap();
    assert_eq!(post.header("X-Tunnel-Shard-Token"), Some("st-oauth"));
    // O1: the command's headers are not a credential for discovery.
    assert!(site
        .requests()
        .iter()
        .all(|r| !r.head.contains("CALLER-TOKEN")));
}

#[test]
fn o9_o10_a7_error_answers_are_exact_and_immediate() {
    let site = Site::http();
    open_mcp(&site);
    let cp = MockControlPlane::start();
    let _agent = process::agent(&cp.url, &["--mcp-server-url", &site.url("/mcp")]);

    // O9: no hint and every candidate 404.
    cp.push_commands(vec![discovery_command("r_none", None, LONG_TIMEOUT)]);
    assert_eq!(
        cp.wait_terminal("r_none", WAIT),
        json!({"request_id": "r_none", "channel": "main", "resp_json": not_advertised(),
               "resp_headers": {}, "resp_code": 404, "resp_type": "oauth_discovery_response"})
    );

    // O10: a failure names only its class.
    site.on("GET", PRMD_MCP, |_| {
        raw(
            200,
            &[("Content-Type", "application/json")],
            b"{\"resource\": \"SECRET-BODY-TEXT",
        )
    });
    cp.push_commands(vec![discovery_command("r_bad", None, LONG_TIMEOUT)]);
    assert_eq!(
        cp.wait_terminal("r_bad", WAIT),
        json!({"request_id": "r_bad", "channel": "main", "resp_json": failed("invalid_metadata"),
               "resp_headers": {}, "resp_code": 502, "resp_type": "oauth_discovery_response"})
    );
    site.on("GET", PRMD_MCP, |_| status(403));
    cp.push_commands(vec![discovery_command("r_403", Some("main"), LONG_TIMEOUT)]);
    assert_eq!(
        cp.wait_terminal("r_403", WAIT)["resp_json"],
        failed("http_status")
    );

    // A7: any channel but main is unsupported for oauth_discovery.
    cp.push_commands(vec![discovery_command(
        "r_tools",
        Some("tools"),
        LONG_TIMEOUT,
    )]);
    assert_eq!(
        cp.wait_terminal("r_tools", WAIT),
        json!({"request_id": "r_tools", "channel": "tools",
               "resp_json": {"error": {"message": "unsupported channel \"tools\"",
                   "type": "invalid_request_error", "code": "unsupported_channel"}},
               "resp_headers": {}, "resp_code": 400, "resp_type": "oauth_discovery_response"})
    );
    // Exactly one terminal POST per command.
    for id in ["r_none", "r_bad", "r_403", "r_tools"] {
        assert_eq!(cp.posts_for(id).len(), 1, "{id}");
    }
}

#[test]
fn o2_o9_a_stdio_main_never_advertises_metadata() {
    let cp = MockControlPlane::start();
    let _agent = process::agent(&cp.url, &[]);
    cp.push_commands(vec![discovery_command("r_stdio", None, LONG_TIMEOUT)]);
    assert_eq!(
        cp.wait_terminal("r_stdio", WAIT),
        json!({"request_id": "r_stdio", "channel": "main", "resp_json": not_advertised(),
               "resp_headers": {}, "resp_code": 404, "resp_type": "oauth_discovery_response"})
    );
}

#[test]
fn o3_a_deadline_that_passes_posts_nothing() {
    let site = Site::http();
    open_mcp(&site);
    site.on("GET", PRMD_MCP, |_| Action::Hang);
    let cp = MockControlPlane::start();
    let agent = process::agent(&cp.url, &["--mcp-server-url", &site.url("/mcp")]);
    cp.push_commands(vec![
        discovery_command("r_mid", None, "2s"),
        discovery_command("r_zero", None, "0s"),
    ]);
    agent.wait_for_output("oauth discovery r_mid passed its deadline; nothing posted");
    agent.wait_for_output("command r_zero expired before it started");
    // A later command is answered, so anything for the two would have come first.
    site.on("GET", PRMD_MCP, |_| status(404));
    cp.push_commands(vec![discovery_command("r_after", None, LONG_TIMEOUT)]);
    assert_eq!(cp.wait_terminal("r_after", WAIT)["resp_code"], 404);
    assert!(cp.posts_for("r_mid").is_empty());
    assert!(cp.posts_for("r_zero").is_empty());
}

#[test]
fn o16_logs_show_scheme_and_host_only() {
    let site = Site::http();
    let hint = site.url("/PATH-SECRET-19af/prmd?token=QUERY-SECRET-55");
    site.on("POST", "/mcp", move |_| {
        unauthorized(&format!("Bearer resource_metadata=\"{hint}\""))
    });
    // The authorization server refuses connections: its lookup only warns.
    let issuer = format!(
        "https://127.0.0.1:{}/AS-PATH-SECRET",
        crate::support::closed_port()
    );
    site.on(
        "GET",
        "/PATH-SECRET-19af/prmd?token=QUERY-SECRET-55",
        move |_| {
            json_ok(
                &prmd("https://BODY-SECRET-0e4d.example/mcp", &[&issuer]),
                &[],
            )
        },
    );
    let cp = MockControlPlane::start();
    let agent = process::agent(&cp.url, &["--mcp-server-url", &site.url("/mcp")]);
    cp.push_commands(vec![discovery_command("r_log", None, LONG_TIMEOUT)]);
    assert_eq!(cp.wait_terminal("r_log", WAIT)["resp_code"], 200);
    agent.wait_for_output("oauth discovery r_log: metadata from http://127.0.0.1");
    agent.wait_for_output("no authorization server metadata at https://127.0.0.1");
    let output = agent.output();
    for secret in [
        "PATH-SECRET",
        "QUERY-SECRET",
        "BODY-SECRET",
        "AS-PATH-SECRET",
        ".well-known",
    ] {
        assert!(!output.contains(secret), "{secret} logged:\n{output}");
    }
}
