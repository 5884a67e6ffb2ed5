//! OAuth discovery through tunnel-relay (OAUTH.md O17–O18): the protected-resource metadata
//! route answered by the built agent from inside its network, and `resource_metadata` in caller
//! answers pointed at the relay. Real relay, agent and scripted MCP origins.

use crate::oauth::{json_ok, prmd, raw, status, unauthorized, Site, PRMD_MCP};
use crate::support::http::{client, reply, Reply};
use crate::support::process::{self, Process};
use crate::support::relay::*;
use crate::support::{wait_until, TUNNEL_ID, WAIT};
use serde_json::{json, Value};
use std::time::Duration;
use tunnel::secret::Secret;

fn metadata_path(tunnel_id: &str) -> String {
    format!("/.well-known/oauth-protected-resource/v1/mcp/{tunnel_id}")
}

fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client().get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    reply(req.call().unwrap())
}

/// An MCP origin whose endpoint `/mcp` answers probes without a hint.
fn open_site() -> Site {
    let site = Site::http();
    site.on("POST", "/mcp", |_| status(400));
    site.on("GET", "/mcp", |_| status(405));
    site
}

/// A relay and an agent in front of `site`'s `/mcp` (GET answers 405), and
/// the answer to one `tools/list` with JSON-RPC id `id` through them.
fn tools_list_through_relay(site: &Site, id: u64) -> (Process, Process, String, Reply) {
    site.on("GET", "/mcp", |_| status(405));
    let (relay, base) = binary(&[]);
    let agent = process::agent(&base, &["--mcp-server-url", &site.url("/mcp")]);
    wait_for_agents(&base, 1);
    let answer = call_url(
        &channel_url(&base, "main"),
        &json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}),
        &[],
    );
    (relay, agent, base, answer)
}

// O17: the metadata comes from the agent's network with `resource` naming the
// relay's endpoint (`--public-url`), every other member as served, no caching.
#[test]
fn o17_metadata_through_the_relay_names_the_relay_as_the_resource() {
    let site = open_site();
    let document = prmd(&site.url("/mcp"), &["https://as.example/tenant"]);
    let served = document.clone();
    site.on("GET", PRMD_MCP, move |_| {
        json_ok(&served, &[("Cache-Control", "max-age=300")])
    });
    let public = "https://relay.example.com/base";
    let (_relay, base) = binary(&["--public-url", &format!("{public}/")]);
    let _agent = process::agent(&base, &["--mcp-server-url", &site.url("/mcp")]);
    wait_for_agents(&base, 1);

    let answer = get(&format!("{base}{}", metadata_path(TUNNEL_ID)), &[]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut want = document;
    want["resource"] = json!(format!("{public}/v1/mcp/{TUNNEL_ID}"));
    assert_eq!(answer.json(), want);
    assert_eq!(answer.header("Content-Type"), Some("application/json"));
    assert_eq!(answer.header("Cache-Control"), Some("no-store"));
}

// O17: not advertised is the agent's 404 as it answered it; a channel suffix
// or an unknown tunnel is 404 from the relay itself.
#[test]
fn o17_not_advertised_channel_suffix_and_unknown_tunnel_are_404() {
    let site = open_site();
    let (_relay, base) = binary(&[]);
    let _agent = process::agent(&base, &["--mcp-server-url", &site.url("/mcp")]);
    wait_for_agents(&base, 1);

    let answer = get(&format!("{base}{}", metadata_path(TUNNEL_ID)), &[]);
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_eq!(answer.json()["error"]["code"], "oauth_metadata_not_found");
    assert_eq!(answer.header("Cache-Control"), Some("no-store"));
    assert!(answer.json().get("resource").is_none());

    let seen = site.seen().len();
    for path in [
        format!("{}/main", metadata_path(TUNNEL_ID)),
        format!("{}/tools", metadata_path(TUNNEL_ID)),
        metadata_path("tunnel_ffffffffffffffffffffffffffffffff"),
    ] {
        let answer = get(&format!("{base}{path}"), &[]);
        assert_eq!(answer.status, 404, "{path}");
    }
    assert_eq!(site.seen().len(), seen, "no discovery for those");
}

// O17: offline → 503 at once; no answer within the response timeout → 504;
// caller auth as on /v1/mcp.
#[test]
fn o17_offline_is_503_no_answer_is_504_and_the_caller_token_is_required() {
    let mut cfg = config();
    cfg.response_timeout = Duration::from_millis(500);
    cfg.caller_token = Some(Secret::new("caller-token-o17"));
    let (_relay, base) = start(cfg);
    let url = format!("{base}{}", metadata_path(TUNNEL_ID));
    let auth = [("Authorization", "Bearer caller-token-o17")];

    assert_eq!(get(&url, &[]).status, 401);
    let offline = get(&url, &auth);
    assert_eq!(offline.status, 503);
    assert_eq!(offline.json()["error"]["code"], "tunnel_client_not_seen");

    let agent = Agent::new(&base, "A");
    assert_eq!(agent.poll(1, 1).status, 204);
    let waiting = {
        let url = url.clone();
        std::thread::spawn(move || get(&url, &[("Authorization", "Bearer caller-token-o17")]))
    };
    let cmd = agent.poll_one();
    assert_eq!(cmd["command_type"], "oauth_discovery");
    assert_eq!(cmd["channel"], "main");
    assert!(cmd.get("jsonrpc").is_none());
    let timeout = tunnel::contract::timeout::parse_response_timeout(cmd.get("response_timeout"));
    assert!(timeout.is_some_and(|t| t <= Duration::from_millis(500)));
    // The agent never answers.
    let answer = waiting.join().unwrap();
    assert_eq!(answer.status, 504);
    assert_eq!(answer.json()["error"]["code"], "timeout");
    assert_eq!(answer.header("Cache-Control"), Some("no-store"));
}

// O18: a 401 whose challenge points at metadata inside the agent's network
// reaches the caller pointing at the relay's metadata route instead.
#[test]
fn o18_resource_metadata_in_a_caller_answer_points_at_the_relay() {
    let site = Site::http();
    let inside = site.url(PRMD_MCP);
    site.on("POST", "/mcp", move |r| {
        let challenge =
            format!(r#"Bearer realm="mcp", resource_metadata="{inside}", scope="mcp:read""#);
        // A JSON-RPC error for the request (the agent passes the server's own
        // answer and its WWW-Authenticate through); the probe gets a bare 401.
        let message: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        match message.get("id") {
            Some(id) => {
                let body = json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32001, "message": "authentication required"}});
                raw(
                    401,
                    &[
                        ("Content-Type", "application/json"),
                        ("WWW-Authenticate", challenge.as_str()),
                    ],
                    body.to_string().as_bytes(),
                )
            }
            None => unauthorized(&challenge),
        }
    });
    let (_relay, _agent, base, answer) = tools_list_through_relay(&site, 1);
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.json()["error"]["code"], -32001);
    // No --public-url: http:// + the listen address.
    let want = format!(
        r#"Bearer realm="mcp", resource_metadata="{base}{}", scope="mcp:read""#,
        metadata_path(TUNNEL_ID)
    );
    assert_eq!(answer.header("WWW-Authenticate"), Some(want.as_str()));
    assert!(!answer
        .headers
        .iter()
        .any(|(_, v)| v.contains(&site.origin())));
    wait_until(WAIT, "the MCP request at the origin", || {
        site.seen().iter().any(|r| r == "POST /mcp")
    });
}

// O18 with the answer most OAuth-protected MCP servers give: a bare 401 and its
// challenge, no JSON-RPC body. The agent synthesizes the `target_http` error and
// keeps the allowlisted `WWW-Authenticate`, which the relay then points at itself.
#[test]
fn o18_a_bare_401_keeps_its_challenge_through_agent_and_relay() {
    let site = Site::http();
    let inside = site.url(PRMD_MCP);
    let challenge = format!(r#"Bearer resource_metadata="{inside}""#);
    site.on("POST", "/mcp", move |_| unauthorized(&challenge));
    let (_relay, _agent, base, answer) = tools_list_through_relay(&site, 7);
    assert_eq!(answer.status, 401, "{}", answer.body);
    let error = &answer.json()["error"];
    assert_eq!(error["code"], -32603);
    assert_eq!(answer.json()["id"], 7);
    let failure = &error["data"]["tunnel_failure"];
    assert_eq!(failure["source"], "target_http");
    assert_eq!(failure["upstream_status"], 401);
    let want = format!(
        r#"Bearer resource_metadata="{base}{}""#,
        metadata_path(TUNNEL_ID)
    );
    assert_eq!(answer.header("WWW-Authenticate"), Some(want.as_str()));
    assert!(!answer.body.contains(&site.origin()), "{}", answer.body);
}
