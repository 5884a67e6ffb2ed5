//! B1–B5: the organization id and the operator's header sets reach exactly
//! their scope (control plane; each HTTP channel's URL; main's probe with the
//! discovery set on top), command headers win, nothing follows a redirect to
//! another origin or reaches a stdio child, and no value is ever shown.

use super::{command, strs, tool_call, Admin};
use crate::support::control_plane::MockControlPlane;
use crate::support::mcp_server::{mcp_answer, respond, MockServer, Next, Recorded};
use crate::support::process::{self, Process, CLIENT};
use crate::support::stdio::fixture;
use crate::support::{require_tool, wait_until, TempDir, API_KEY, TUNNEL_ID, WAIT};
use serde_json::{json, Value};
use std::process::Command;

const CP_VALUE: &str = "cp-SECRET-aa11";
const MCP_VALUE: &str = "Bearer mcp-SECRET-bb22";
const DISCOVERY_FILE_VALUE: &str = "disc-SECRET-cc33";
const LITERAL_VALUE: &str = "lit-SECRET-dd44";
const DISCOVERY_VALUE: &str = "disc2-SECRET-ee55";
const ORGANIZATION: &str = "org-test-1";
const VALUES: [&str; 6] = [
    CP_VALUE,
    "mcp-SECRET-bb22",
    DISCOVERY_FILE_VALUE,
    LITERAL_VALUE,
    DISCOVERY_VALUE,
    ORGANIZATION,
];

fn one(request: &Recorded, name: &str) -> Option<String> {
    let values = request.values(name);
    assert!(values.len() <= 1, "{name} sent twice: {values:?}");
    values.first().map(|v| v.to_string())
}

/// The startup probe's requests: its `initialize` and what carries its session.
fn is_probe(request: &Recorded) -> bool {
    request.json()["params"]["clientInfo"]["name"] == "tunnel-client-rs"
        || !request.values("mcp-session-id").is_empty()
}

#[test]
fn b1_b5_operator_headers_reach_only_their_scope() {
    if !require_tool("python3") {
        return;
    }
    let dir = TempDir::new("channels-headers");
    let discovery_file = dir.path().join("discovery-value");
    std::fs::write(&discovery_file, format!("{DISCOVERY_FILE_VALUE}\n")).unwrap();
    let cp = MockControlPlane::start();
    let main = crate::support::mcp_server::answering("main");
    let elsewhere = crate::support::mcp_server::answering("elsewhere");
    let redirect_to = elsewhere.url();
    let docs = MockServer::start(move |request, stream| {
        if request.json()["params"]["name"] == "moved" {
            respond(stream, 307, &[("Location", redirect_to.as_str())], b"");
        } else {
            mcp_answer("docs", true, request, stream);
        }
        Next::KeepAlive
    });
    let mut admin = Admin::new("channels-headers-admin");
    let mut args = vec![
        "--mcp-server-url".to_string(),
        main.url(),
        "--mcp-server-url".into(),
        format!("channel=docs,url={}", docs.url()),
        "--mcp-command".into(),
        format!("channel=tools,command={}", fixture("env_dump.py")),
        "--control-plane-organization-id".into(),
        format!("  {ORGANIZATION} "),
        "--control-plane-extra-headers".into(),
        "X-CP-Team: env:CP_SECRET_VAR".into(),
        "--mcp-extra-headers".into(),
        "Authorization: env:MCP_SECRET_VAR".into(),
        "--mcp-extra-headers".into(),
        format!("X-Mcp-Common: {LITERAL_VALUE}"),
        "--mcp-discovery-extra-headers".into(),
        format!("X-Mcp-Common: file:{}", discovery_file.display()),
        "--mcp-discovery-extra-headers".into(),
        format!("X-Discovery-Only: {DISCOVERY_VALUE}"),
    ];
    args.extend(admin.flags());
    let mut agent = process::agent_with_env(
        &cp.url,
        &strs(&args),
        &[("CP_SECRET_VAR", CP_VALUE), ("MCP_SECRET_VAR", MCP_VALUE)],
    );

    let mut with_headers = tool_call("req_main_cmd", "main", "whoami", json!({}));
    with_headers["headers"] = json!({"x-mcp-common": ["from-command"],
        "Authorization": ["Bearer caller-token"]});
    cp.push_commands(vec![
        tool_call("req_main_plain", "main", "whoami", json!({})),
        with_headers,
        tool_call("req_docs", "docs", "whoami", json!({})),
        tool_call("req_moved", "docs", "moved", json!({})),
        command(
            "req_env",
            "tools",
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        ),
    ]);
    for id in ["req_main_plain", "req_main_cmd", "req_docs", "req_env"] {
        assert_eq!(cp.wait_terminal(id, WAIT)["resp_code"], 200, "{id}");
    }
    // B5: a redirect is never followed, so the other origin gets nothing.
    let moved = cp.wait_terminal("req_moved", WAIT);
    assert_eq!(moved["resp_json"]["error"]["code"], -32603);
    wait_until(WAIT, "readiness (the probe settled)", || {
        admin.readyz()["status"] == "ready"
    });

    // B1, B2: the organization and the control-plane set on every
    // control-plane request, nowhere else.
    let cp_requests = cp.requests();
    assert!(cp_requests.len() >= 6);
    for r in &cp_requests {
        assert_eq!(
            r.header("OpenAI-Organization"),
            Some(ORGANIZATION),
            "{}",
            r.url
        );
        assert_eq!(r.header("X-CP-Team"), Some(CP_VALUE), "{}", r.url);
        assert!(r.header("X-Mcp-Common").is_none() && r.header("X-Discovery-Only").is_none());
    }
    let main_requests = main.requests();
    let docs_requests = docs.requests();
    for r in main_requests.iter().chain(&docs_requests) {
        assert_eq!(one(r, "openai-organization"), None);
        assert_eq!(one(r, "x-cp-team"), None);
    }

    // B5: main's probe gets the MCP set with the discovery set on top.
    let probe: Vec<&Recorded> = main_requests.iter().filter(|r| is_probe(r)).collect();
    assert_eq!(probe.len(), 3, "initialize, initialized, DELETE: {probe:?}");
    for r in &probe {
        assert_eq!(
            one(r, "x-mcp-common").as_deref(),
            Some(DISCOVERY_FILE_VALUE)
        );
        assert_eq!(one(r, "x-discovery-only").as_deref(), Some(DISCOVERY_VALUE));
        assert_eq!(one(r, "authorization").as_deref(), Some(MCP_VALUE));
    }
    // Commands to main get the MCP set alone; command headers apply last and win.
    let by_id = |requests: &[Recorded], id: &str| -> Recorded {
        requests
            .iter()
            .find(|r| r.json()["id"] == id)
            .unwrap_or_else(|| panic!("{id} not received"))
            .clone()
    };
    let plain = by_id(&main_requests, "req_main_plain");
    assert_eq!(one(&plain, "x-mcp-common").as_deref(), Some(LITERAL_VALUE));
    assert_eq!(one(&plain, "authorization").as_deref(), Some(MCP_VALUE));
    assert_eq!(one(&plain, "x-discovery-only"), None);
    let overridden = by_id(&main_requests, "req_main_cmd");
    assert_eq!(overridden.values("x-mcp-common"), ["from-command"]);
    assert_eq!(overridden.values("authorization"), ["Bearer caller-token"]);
    // Another HTTP channel gets the MCP set, never the discovery set.
    for r in &docs_requests {
        assert_eq!(one(r, "x-mcp-common").as_deref(), Some(LITERAL_VALUE));
        assert_eq!(one(r, "x-discovery-only"), None);
    }
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
    // D3: an error answer never leads to a DELETE.
    docs.assert_no_delete();
    assert_eq!(elsewhere.connections(), 0);

    // B3: variables named by env: values are not in the stdio child's environment.
    let env = &cp.wait_terminal("req_env", WAIT)["resp_json"]["result"];
    for name in ["CP_SECRET_VAR", "MCP_SECRET_VAR", "CONTROL_PLANE_API_KEY"] {
        assert!(env.get(name).is_none(), "{name} reached the stdio child");
    }
    assert!(
        !env.to_string().contains("SECRET"),
        "a value reached the child"
    );

    // B3: no value in any log line, page or metric.
    let shown = admin.scrape();
    agent.terminate(WAIT);
    let output = agent.output();
    for value in VALUES.iter().chain([&API_KEY]) {
        assert!(!output.contains(value), "{value} logged:\n{output}");
        assert!(!shown.contains(value), "{value} shown by the admin server");
    }
}

#[test]
fn b3_b4_bad_header_settings_exit_2_without_echoing_a_value() {
    let cp = MockControlPlane::start();
    for (args, env, needle) in [
        (
            vec![
                "--control-plane-extra-headers",
                "Authorization: Bearer sk-SECRET-x1",
            ],
            vec![],
            "--control-plane-extra-headers: the header Authorization cannot be set here",
        ),
        (
            vec!["--mcp-extra-headers", "Mcp-Session-Id: s-SECRET-x2"],
            vec![],
            "--mcp-extra-headers: the header Mcp-Session-Id cannot be set here",
        ),
        (
            vec![
                "--mcp-extra-headers",
                "X-A: 1",
                "--mcp-extra-headers",
                "x-a: v-SECRET-x3",
            ],
            vec![],
            "given twice",
        ),
        (
            vec!["--mcp-discovery-extra-headers", "X-A: env:UNSET_VAR_X4"],
            vec![],
            "not set",
        ),
        (
            vec![],
            vec![(
                "MCP_EXTRA_HEADERS",
                "X-A: ok; X-Tunnel: fine, Bad Name: v-SECRET-x5",
            )],
            "environment variable MCP_EXTRA_HEADERS: a header name is not an HTTP token",
        ),
        (
            vec![
                "--control-plane-extra-headers",
                "X-Tunnel-Extra: v-SECRET-x6",
            ],
            vec![],
            "the header X-Tunnel-Extra cannot be set here",
        ),
    ] {
        let mut agent = process::agent_with_env(&cp.url, &args, &env);
        let status = agent.wait_exit(WAIT);
        assert_eq!(status.code(), Some(2), "{args:?}: {}", agent.output());
        let out = agent.output();
        assert!(out.contains(needle), "{args:?}: {out}");
        assert!(!out.contains("SECRET"), "{args:?} echoed a value: {out}");
    }
}

#[test]
fn a2_b2_profile_servers_with_their_own_env_and_headers() {
    if !require_tool("python3") {
        return;
    }
    let dir = TempDir::new("channels-profile");
    let cp = MockControlPlane::start();
    let main = crate::support::mcp_server::answering("main");
    let profile = json!({
        "tunnel_id": TUNNEL_ID,
        "api_key": "env:CONTROL_PLANE_API_KEY",
        "control_plane_url": cp.url,
        "poll_timeout_ms": 1000,
        "admin_ui_enabled": false,
        "mcp_env": {"TOOL_VAR": "global", "OTHER": "o"},
        "mcp_extra_headers": {"X-Entry": "global", "X-Global": "g"},
        "mcp_servers": [
            {"url": main.url(), "extra_headers": {"x-entry": "entry"}},
            {"channel": "tools", "command": fixture("env_dump.py"), "env": {"TOOL_VAR": "v"}},
        ],
    });
    let path = dir.path().join("p.json");
    std::fs::write(&path, profile.to_string()).unwrap();
    let mut cmd = Command::new(CLIENT);
    cmd.args(["run", "--profile-file", path.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .env_remove("OPENAI_API_KEY")
        .env("CONTROL_PLANE_API_KEY", API_KEY);
    let _agent = Process::spawn(cmd);
    cp.push_commands(vec![
        tool_call("req_main", "main", "whoami", json!({})),
        command(
            "req_env",
            "tools",
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        ),
    ]);
    cp.wait_terminal("req_main", WAIT);
    let request = main
        .requests()
        .into_iter()
        .find(|r| r.json()["id"] == "req_main")
        .unwrap();
    // The entry's extra_headers lie over mcp_extra_headers.
    assert_eq!(request.values("x-entry"), ["entry"]);
    assert_eq!(request.values("x-global"), ["g"]);
    // The entry's env lies over mcp_env.
    let env: Value = cp.wait_terminal("req_env", WAIT)["resp_json"]["result"].clone();
    assert_eq!(env["TOOL_VAR"], "v");
    assert_eq!(env["OTHER"], "o");
}
