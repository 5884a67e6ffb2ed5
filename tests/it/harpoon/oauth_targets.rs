//! OAuth-discovered Harpoon targets through the built binary: an MCP server on 127.0.0.1
//! advertising its metadata and a loopback authorization server; what becomes a target, and what never does.

use super::through_agent::Agent;
use crate::oauth::{json_ok, prmd, status, Site, PRMD_MCP};
use crate::support::{wait_until, WAIT};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// `main` on an MCP site whose metadata names a loopback authorization
/// server; the site answers the metadata only once `advertise` is called.
struct Setup {
    mcp: Site,
    auth: Site,
}

impl Setup {
    fn new() -> Setup {
        let mcp = Site::http();
        mcp.on("POST", "/mcp", |_| status(401));
        mcp.on("GET", "/mcp", |_| status(405));
        let auth = Site::http();
        let origin = auth.origin();
        let port = auth.upstream.port();
        let metadata = json!({
            "issuer": origin,
            "token_endpoint": format!("{origin}/token"),
            "jwks_uri": format!("{origin}/jwks"),
            "registration_endpoint": "https://auth.example.com/register",
            "revocation_endpoint": format!("http://localhost:{port}/revoke"),
        });
        auth.on(
            "GET",
            "/.well-known/oauth-authorization-server",
            move |_| json_ok(&metadata, &[]),
        );
        auth.on("POST", "/token", |r| {
            let echoed = String::from_utf8_lossy(&r.body).into_owned();
            json_ok(&json!({"access_token": "t0k3n", "echo": echoed}), &[])
        });
        Setup { mcp, auth }
    }

    fn advertise(&self) {
        let body = prmd(&self.mcp.url("/mcp"), &[&self.auth.origin()]);
        self.mcp.on("GET", PRMD_MCP, move |_| json_ok(&body, &[]));
    }

    fn agent(&self, tag: &str, extra: &[&str]) -> Agent {
        let mut args = vec![
            "--mcp-server-url".to_string(),
            self.mcp.url("/mcp"),
            "--harpoon-allow-plaintext-http".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        Agent::start(tag, &args, &[])
    }
}

fn discovery(agent: &mut Agent) -> Value {
    agent.send_typed("main", "oauth_discovery")
}

fn declaration(agent: &Agent) -> Option<String> {
    let polls = agent.cp.polls();
    let last = polls.last()?;
    last.header("X-Tunnel-MCP-Server-Info").map(str::to_string)
}

const WITHOUT: &str = r#"{"version":1,"channels":[{"name":"main"}]}"#;
const WITH: &str =
    r#"{"version":1,"channels":[{"name":"main"},{"name":"harpoon","proc_affinity":true}]}"#;

/// HARPOON.md "OAuth-discovered targets" and A6 at run time: before a discovery
/// the channel is undeclared and unsupported; after it, the private endpoints
/// are `oauth` targets, the channel is declared on the next requests, a token
/// target's audience is the PRMD resource, and a call reaches the loopback
/// authorization server. The public registration endpoint is never a target.
#[test]
fn oauth_discovered_private_endpoints_become_targets() {
    let setup = Setup::new();
    let mut agent = setup.agent("harpoon-oauth", &[]);
    // Startup discovery finds nothing (the metadata is not advertised yet).
    wait_until(WAIT, "a poll without harpoon declared", || {
        declaration(&agent).is_some_and(|d| d == WITHOUT)
    });
    let before = agent.send(
        "harpoon",
        json!({"jsonrpc": "2.0", "id": 0, "method": "tools/list"}),
    );
    assert_eq!(before["resp_code"], 400, "{before}");

    setup.advertise();
    let answer = discovery(&mut agent);
    assert_eq!(answer["resp_code"], 200, "{answer}");
    wait_until(WAIT, "harpoon declared after the discovery", || {
        declaration(&agent).is_some_and(|d| d == WITH)
    });

    let listed = agent.tool("list_targets", json!({"sources": ["oauth"]}));
    let targets = listed["result"]["structuredContent"]["targets"].clone();
    let labels: BTreeSet<&str> = targets
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["label"].as_str())
        .collect();
    assert_eq!(
        labels,
        BTreeSet::from([
            "oauth-issuer",
            "oauth-jwks",
            "oauth-prmd-resource",
            "oauth-prmd-source",
            "oauth-revocation",
            "oauth-token",
        ])
    );
    for t in targets.as_array().unwrap() {
        assert_eq!(
            (t["source"].as_str(), t["category"].as_str()),
            (Some("oauth"), Some("oauth"))
        );
    }
    let shown = listed.to_string();
    assert!(
        !shown.contains("127.0.0.1") && !shown.contains("localhost"),
        "{shown}"
    );

    let audience = agent.tool("get_oauth_target_audience", json!({"label": "oauth-token"}));
    assert_eq!(
        audience["result"]["structuredContent"],
        json!({"audience": setup.mcp.url("/mcp")})
    );
    let refused = agent.tool("get_oauth_target_audience", json!({"label": "oauth-jwks"}));
    assert_eq!(
        refused["result"]["content"][0]["text"],
        "label oauth-jwks: target is not an OAuth token endpoint"
    );

    let token = agent.tool(
        "call_target",
        json!({"label": "oauth-token", "method": "POST",
               "headers": {"Content-Type": "application/x-www-form-urlencoded"},
               "body": "grant_type=client_credentials"}),
    );
    let out = &token["result"]["structuredContent"];
    assert_eq!(out["status_code"], 200, "{token}");
    let reached: Vec<_> = setup
        .auth
        .requests()
        .into_iter()
        .filter(|r| r.request_line() == "POST /token HTTP/1.1")
        .collect();
    assert_eq!(reached.len(), 1);
    assert_eq!(reached[0].body, b"grant_type=client_credentials");

    // The public host is not a target, and the metrics know only these labels.
    let public = agent.tool(
        "call_target",
        json!({"label": "oauth-registration", "method": "POST"}),
    );
    assert_eq!(
        public["result"]["content"][0]["text"],
        "label oauth-registration: unknown target"
    );
    let metrics = agent.admin.get("/metrics").body;
    assert!(
        metrics.contains("tunnel_client_harpoon_targets 6\n"),
        "{metrics}"
    );
    assert!(metrics.contains(
        "tunnel_client_harpoon_calls_total{target=\"oauth-token\",tool=\"call_target\",outcome=\"success\",status_class=\"2xx\"} 1"
    ));
    assert!(!metrics.contains("auth.example.com"));
}

/// `--harpoon-hosts-include-loopback=false`: loopback endpoints are not
/// private any more, so the same discovery registers nothing and the channel
/// stays undeclared.
#[test]
fn host_rules_decide_what_is_private() {
    let setup = Setup::new();
    setup.advertise();
    let mut agent = setup.agent(
        "harpoon-oauth-rules",
        &["--harpoon-hosts-include-loopback=false"],
    );
    let answer = discovery(&mut agent);
    assert_eq!(answer["resp_code"], 200, "{answer}");
    wait_until(WAIT, "the discovery's targets replaced", || {
        agent
            .process
            .output()
            .contains("harpoon: 0 OAuth-discovered targets; 0 in all")
    });
    assert!(agent
        .cp
        .polls()
        .iter()
        .all(|p| { p.header("X-Tunnel-MCP-Server-Info") == Some(WITHOUT) }));
    let body = agent.send(
        "harpoon",
        json!({"jsonrpc": "2.0", "id": 0, "method": "tools/list"}),
    );
    assert_eq!(body["resp_code"], 400);
    assert_eq!(
        agent.admin.get("/api/status").json()["harpoon"]["channel"],
        "no targets"
    );
}
