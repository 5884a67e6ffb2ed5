//! Several MCP servers on one tunnel: each command goes to its channel's
//! server only, the declaration lists every channel in order, the admin server
//! shows every channel, and the poll allowlist narrows what is polled.

use super::{command, result_text, strs, tool_call, Admin};
use crate::support::control_plane::MockControlPlane;
use crate::support::mcp_server::answering;
use crate::support::process::{self, stub_command};
use crate::support::{wait_until, TUNNEL_ID, WAIT};
use serde_json::json;

#[test]
fn a2_a6_a7_three_channels_route_declare_and_report() {
    let cp = MockControlPlane::start();
    let main = answering("main");
    let docs = answering("docs");
    let mut admin = Admin::new("channels-three");
    let mut args = vec![
        "--mcp-server-url".to_string(),
        main.url(),
        "--mcp-command".into(),
        format!("channel=tools,command={}", stub_command()),
        "--mcp-server-url".into(),
        format!(" channel = docs , url = {} ", docs.url()),
    ];
    args.extend(admin.flags());
    let _agent = process::agent(&cp.url, &strs(&args));

    cp.push_commands(vec![
        tool_call("req_main", "main", "whoami", json!({})),
        tool_call("req_docs", " Docs ", "whoami", json!({})),
        tool_call("req_tools", "TOOLS", "echo", json!({"text": "from tools"})),
        command(
            "req_default",
            "",
            json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}),
        ),
    ]);
    let main_body = cp.wait_terminal("req_main", WAIT);
    assert_eq!(main_body["resp_json"]["result"]["server"], "main");
    assert_eq!(main_body["channel"], "main");
    // A7: the channel is trimmed and lowercased, and echoed that way.
    let docs_body = cp.wait_terminal("req_docs", WAIT);
    assert_eq!(docs_body["resp_json"]["result"]["server"], "docs");
    assert_eq!(docs_body["channel"], "docs");
    let tools_body = cp.wait_terminal("req_tools", WAIT);
    assert_eq!(result_text(&tools_body), "from tools");
    assert_eq!(tools_body["channel"], "tools");
    // An empty channel is main.
    let default_body = cp.wait_terminal("req_default", WAIT);
    assert_eq!(default_body["resp_json"]["result"]["server"], "main");

    // Each server saw only its own channel's commands (besides main's probe).
    let ids = |server: &crate::support::mcp_server::MockServer| -> Vec<String> {
        server
            .requests()
            .iter()
            .filter_map(|r| r.json().get("id").map(|id| id.to_string()))
            .collect()
    };
    assert!(ids(&docs).contains(&"\"req_docs\"".to_string()));
    assert!(!ids(&docs)
        .iter()
        .any(|id| id.contains("req_main") || id == "4"));
    assert!(ids(&main).contains(&"\"req_main\"".to_string()));
    assert!(!ids(&main).iter().any(|id| id.contains("req_docs")));

    // A6: HTTP bindings first, then stdio, each in configuration order; no
    // channel filter without an allowlist.
    for request in cp.requests() {
        assert_eq!(
            request.header("X-Tunnel-MCP-Server-Info"),
            Some(
                r#"{"version":1,"channels":[{"name":"main"},{"name":"docs"},{"name":"tools","proc_affinity":true}]}"#
            ),
            "{}",
            request.url
        );
    }
    assert!(cp.polls().iter().all(|p| p.query("channel").is_none()));

    // Readiness, metrics and the status page show every channel.
    wait_until(WAIT, "readiness", || admin.readyz()["status"] == "ready");
    let metrics = admin.get("/metrics").body;
    for line in [
        "tunnel_client_mcp_up{channel=\"main\",kind=\"http\"} 1",
        "tunnel_client_mcp_up{channel=\"docs\",kind=\"http\"} 1",
        "tunnel_client_mcp_up{channel=\"tools\",kind=\"stdio\"} 1",
        "tunnel_client_channel_requests_total{channel=\"main\",status=\"success\"} 2",
        "tunnel_client_channel_requests_total{channel=\"docs\",status=\"success\"} 1",
        "tunnel_client_channel_requests_total{channel=\"tools\",status=\"success\"} 1",
        "tunnel_client_channel_inflight_requests{channel=\"tools\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }
    let status = admin.get("/api/status").json();
    let names: Vec<&str> = status["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["main", "docs", "tools"]);
    assert_eq!(status["channels"][1]["requests"]["success"], 1);
}

#[test]
fn a8_the_allowlist_filters_polls_and_disables_other_bindings() {
    let cp = MockControlPlane::start();
    let stub = stub_command();
    let extra = format!("channel=extra,command={stub}");
    let tools = format!("command={stub},channel=tools");
    let args = [
        "--mcp-command",
        &stub,
        "--mcp-command",
        &extra,
        "--mcp-command",
        &tools,
        "--poll-channel",
        "tools",
        "--poll-channel",
        "main",
        "--max-concurrency",
        "25",
        "--poll-timeout-ms",
        "30000",
    ];
    let _agent = process::agent(&cp.url, &args);
    // The first poll holds at most 1 s; the next ones ask for the full hold.
    let expected = format!(
        "/v1/tunnels/{TUNNEL_ID}/poll?channel=main&channel=tools&limit=25&timeout_ms=30000"
    );
    wait_until(WAIT, "a full long-poll", || {
        cp.polls().iter().any(|p| p.url == expected)
    });
    let polls = cp.polls();
    assert_eq!(
        polls[0].url,
        format!("/v1/tunnels/{TUNNEL_ID}/poll?channel=main&channel=tools&limit=25&timeout_ms=1000")
    );
    // The disabled binding is not declared...
    assert_eq!(
        polls[0].header("X-Tunnel-MCP-Server-Info"),
        Some(
            r#"{"version":1,"channels":[{"name":"main","proc_affinity":true},{"name":"tools","proc_affinity":true}]}"#
        )
    );
    // ...and a command for it is answered as unsupported, never sent to main.
    cp.push_commands(vec![
        tool_call("req_extra", "extra", "echo", json!({"text": "x"})),
        tool_call("req_listed", "tools", "echo", json!({"text": "listed"})),
    ]);
    let body = cp.wait_terminal("req_extra", WAIT);
    assert_eq!(body["resp_code"], 400);
    assert_eq!(
        body["resp_json"]["error"]["message"],
        "Bad Request: unsupported channel \"extra\""
    );
    assert_eq!(result_text(&cp.wait_terminal("req_listed", WAIT)), "listed");
}

#[test]
fn a8_the_allowlist_from_the_environment() {
    let cp = MockControlPlane::start();
    let tools = format!("channel=tools,command={}", stub_command());
    let lines = format!("{}\n{tools}\n", stub_command());
    let _agent = process::agent_without_mcp_flags(
        &cp.url,
        &["--max-concurrency", "3"],
        &[
            ("MCP_COMMAND", lines.as_str()),
            ("CONTROL_PLANE_POLL_CHANNELS", "tools, main"),
        ],
    );
    wait_until(WAIT, "a poll", || !cp.polls().is_empty());
    assert_eq!(
        cp.polls()[0].url,
        format!("/v1/tunnels/{TUNNEL_ID}/poll?channel=main&channel=tools&limit=3&timeout_ms=1000")
    );
}

#[test]
fn a4_bad_bindings_exit_2_naming_the_entry() {
    let cp = MockControlPlane::start();
    for (args, needle) in [
        (
            vec![
                "--mcp-command",
                "x",
                "--mcp-server-url",
                "channel=main,url=http://h/mcp",
            ],
            "--mcp-command: entry 1: the channel main is bound twice",
        ),
        (
            vec![
                "--mcp-command",
                "x",
                "--mcp-command",
                "channel=harpoon,command=y",
            ],
            "--mcp-command: entry 2: the channel name harpoon is reserved",
        ),
        (
            vec!["--mcp-command", "channel=tools,command=y"],
            "no MCP server is bound to the channel main",
        ),
        (
            vec!["--mcp-command", "x", "--poll-channel", "nope"],
            "--poll-channel: the channel nope has no MCP server here",
        ),
    ] {
        let mut agent = process::agent(&cp.url, &args);
        let status = agent.wait_exit(WAIT);
        assert_eq!(status.code(), Some(2), "{args:?}: {}", agent.output());
        assert!(
            agent.stderr().contains(needle),
            "{args:?}: {}",
            agent.stderr()
        );
    }
    // Nothing was polled by any of them.
    assert!(cp.polls().is_empty());
}
