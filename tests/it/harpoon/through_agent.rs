//! Harpoon through the built `tunnel-client run`: commands on channel `harpoon` from the
//! scripted control plane, answers read from the POSTed responses, upstreams that record every byte.
//!
//! The hostile cases are [`super::cases`] (shared with the in-process suite);
//! after them the agent's log, `/metrics` and `/api/status` are searched for
//! the paths, queries, header values and bodies the cases sent.

use super::cases::{self, Suite, MAX_REDIRECTS, SECRET, WITHIN};
use crate::channels::{command, strs, Admin};
use crate::support::control_plane::MockControlPlane;
use crate::support::harpoon_upstream::{ok, pki, Upstream};
use crate::support::process::{self, Process};
use crate::support::{wait_until, WAIT};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Instant;
use tunnel::mcp::harpoon::RawTarget;

/// A running agent and the control plane that feeds it.
pub struct Agent {
    pub cp: MockControlPlane,
    pub process: Process,
    pub admin: Admin,
    next: usize,
}

impl Agent {
    /// `tunnel-client run` (stub on `main`) with `args` and its admin server on.
    pub fn start(tag: &str, args: &[String], env: &[(&str, &str)]) -> Agent {
        let cp = MockControlPlane::start();
        let mut admin = Admin::new(tag);
        let mut all = args.to_vec();
        all.extend(admin.flags());
        let process = process::agent_with_env(&cp.url, &strs(&all), env);
        admin.base();
        Agent {
            cp,
            process,
            admin,
            next: 0,
        }
    }

    /// Sends `message` on `channel` and returns the terminal POST body.
    pub fn send(&mut self, channel: &str, message: Value) -> Value {
        self.next += 1;
        let id = format!("req_{}", self.next);
        let mut message = message;
        if message.get("id").is_some() {
            message["id"] = json!(id);
        }
        self.cp.push_commands(vec![command(&id, channel, message)]);
        self.cp.wait_terminal(&id, WAIT)
    }

    /// Sends a command of `command_type` (no JSON-RPC message) on `channel`;
    /// returns the terminal POST body.
    pub fn send_typed(&mut self, channel: &str, command_type: &str) -> Value {
        self.next += 1;
        let id = format!("req_{}", self.next);
        let mut typed = command(&id, channel, Value::Null);
        typed["command_type"] = json!(command_type);
        if let Some(fields) = typed.as_object_mut() {
            fields.remove("jsonrpc");
        }
        self.cp.push_commands(vec![typed]);
        self.cp.wait_terminal(&id, WAIT)
    }

    /// A `tools/call` on `harpoon`; the POST must be a 200 JSON-RPC answer without headers.
    pub fn tool(&mut self, tool: &str, args: Value) -> Value {
        let body = self.send(
            "harpoon",
            json!({"jsonrpc": "2.0", "id": 0, "method": "tools/call",
                   "params": {"name": tool, "arguments": args}}),
        );
        assert_eq!(body["resp_code"], 200, "{body}");
        assert_eq!(body["resp_type"], "jsonrpc_response", "{body}");
        assert_eq!(body["channel"], "harpoon", "{body}");
        assert_eq!(body["resp_headers"], json!({}), "{body}");
        body["resp_json"].clone()
    }
}

/// A target as `--harpoon-target` writes it.
pub fn spec(t: &RawTarget) -> String {
    let mut out = format!("label={},url={}", t.label, t.url);
    if let Some(methods) = &t.allowed_methods {
        out.push_str(&format!(",methods={}", methods.join("+")));
    }
    for (key, value) in [
        ("max-request-bytes", t.max_request_size_bytes),
        ("max-response-bytes", t.max_response_size_bytes),
        ("timeout-seconds", t.timeout_seconds),
    ] {
        if let Some(v) = value {
            out.push_str(&format!(",{key}={v}"));
        }
    }
    if let Some(path) = &t.unix_socket {
        out.push_str(&format!(",unix-socket={path}"));
    }
    out
}

fn suite_agent(suite: &Suite) -> Agent {
    let mut args = vec![
        "--harpoon-allow-plaintext-http".to_string(),
        "--harpoon.max-redirects".into(),
        MAX_REDIRECTS.to_string(),
        "--ca-bundle".into(),
        pki("root-ca.pem").display().to_string(),
    ];
    for t in &suite.targets {
        args.push("--harpoon-target".into());
        args.push(spec(t));
    }
    Agent::start("harpoon-hostile", &args, &[])
}

/// Every hostile case through the binary: the answer, what the upstream saw,
/// and afterwards nothing the attacker sent in any log line, metric or status field.
#[test]
fn h1_to_h15_hostile_inputs_through_the_binary() {
    let suite = cases::suite();
    assert!(suite.cases.len() >= 40, "{}", suite.cases.len());
    let mut agent = suite_agent(&suite);
    for case in &suite.cases {
        let started = Instant::now();
        let answer = agent.tool(case.tool, case.args.clone());
        assert!(
            started.elapsed() < WITHIN,
            "{}: {:?}",
            case.name,
            started.elapsed()
        );
        cases::check(case, &answer);
        (case.saw)();
        // The case list with results, for `-- --nocapture` (the closing note's table).
        eprintln!(
            "ok  {:<14} {}  ->  {}",
            case.tool,
            case.name,
            cases::summary(&answer)
        );
    }

    // One log line per call, and none with a path, query, header value or body.
    let calls = wait_until(WAIT, "a log line per call", || {
        let output = agent.process.output();
        let n = output.matches("harpoon call target=").count();
        (n >= suite.cases.len()).then_some(output)
    });
    let leaked: Vec<&str> = calls.lines().filter(|l| l.contains(SECRET)).collect();
    assert!(
        leaked.is_empty(),
        "the agent logged what the caller sent: {leaked:?}"
    );
    assert!(!calls.contains("/api/"), "a target path was logged");

    let shown = agent.admin.scrape();
    assert!(
        !shown.contains(SECRET),
        "the admin server shows what the caller sent"
    );
    // Bounded cardinality: every `target` value is a configured label or __unknown__.
    let labels: BTreeSet<String> = suite.targets.iter().map(|t| t.label.clone()).collect();
    let metrics = agent.admin.get("/metrics").body;
    for value in metrics
        .split("target=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
    {
        assert!(
            labels.contains(value) || value == "__unknown__",
            "target label {value}"
        );
    }
    for series in [
        format!("tunnel_client_harpoon_targets {}", suite.targets.len()),
        "tunnel_client_harpoon_calls_total{target=\"c01\",tool=\"http_callout\",outcome=\"invalid_input\",status_class=\"none\"} 22".into(),
        "tunnel_client_harpoon_calls_total{target=\"__unknown__\",tool=\"http_callout\",outcome=\"invalid_input\",status_class=\"none\"} 1".into(),
        "tunnel_client_harpoon_calls_total{target=\"__unknown__\",tool=\"__unknown__\",outcome=\"invalid_input\",status_class=\"none\"} 1".into(),
        "tunnel_client_harpoon_call_duration_seconds_count{target=\"c01\",tool=\"http_callout\",outcome=\"invalid_input\"} 22".into(),
        "tunnel_client_harpoon_response_bytes_bucket{target=\"c02\",le=\"1024\"} 1".into(),
        "tunnel_client_harpoon_dropped_headers_total{target=\"c05\"}".into(),
    ] {
        assert!(metrics.contains(&series), "{series}\n{metrics}");
    }
    let status = agent.admin.get("/api/status").json();
    let harpoon = &status["harpoon"];
    assert_eq!(harpoon["channel"], "serving");
    let rows = harpoon["targets"].as_array().unwrap();
    let current = rows.iter().filter(|t| t["current"] == true).count();
    assert_eq!(current, suite.targets.len());
    // Calls naming no target are counted under __unknown__, never under the name given.
    assert_eq!(rows.last().unwrap()["label"], "__unknown__");
    assert_eq!(rows.last().unwrap()["calls"], 3);
    assert_eq!(harpoon["recent"].as_array().map(Vec::len), Some(20));
    assert_eq!(harpoon["targets"][1]["last_status"], 200);
}

/// The channel itself: initialize, ping, tools/list, a notification (nothing
/// sent), session_termination (405, the channel keeps serving), and the
/// declaration with harpoon last.
#[test]
fn the_harpoon_channel_through_the_binary() {
    let up = Upstream::http(ok("pong"));
    let target = format!("label=api,url=http://127.0.0.1:{}/", up.port());
    let mut agent = Agent::start(
        "harpoon-channel",
        &["--harpoon-allow-plaintext-http".into()],
        &[("HARPOON_TARGETS", &target)],
    );
    let init = agent.send(
        "harpoon",
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
               "params": {"protocolVersion": "2025-03-26", "capabilities": {}}}),
    );
    assert_eq!(init["resp_code"], 200);
    let result = &init["resp_json"]["result"];
    assert_eq!(result["protocolVersion"], "2025-03-26");
    assert_eq!(result["serverInfo"]["name"], "harpoon");
    let list = agent.send(
        "harpoon",
        json!({"jsonrpc": "2.0", "id": 0, "method": "tools/list"}),
    );
    let names: Vec<&str> = list["resp_json"]["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "call_target",
            "get_oauth_target_audience",
            "http_callout",
            "list_targets"
        ]
    );
    let ping = agent.send(
        "harpoon",
        json!({"jsonrpc": "2.0", "id": 0, "method": "ping"}),
    );
    assert_eq!(ping["resp_json"]["result"], json!({}));
    // A tools/call without an id is acknowledged and never performed.
    let note = agent.send(
        "HARPOON",
        json!({"jsonrpc": "2.0", "method": "tools/call",
               "params": {"name": "call_target", "arguments": {"label": "api", "method": "GET"}}}),
    );
    assert_eq!(
        (note["resp_type"].as_str(), note["resp_code"].as_u64()),
        (Some("notify_ack"), Some(200))
    );
    assert_eq!(up.connections(), 0);
    // session_termination: 405, and the channel keeps serving.
    let ended = agent.send_typed("harpoon", "session_termination");
    assert_eq!(
        ended,
        json!({"request_id": format!("req_{}", agent.next), "channel": "harpoon", "resp_headers": {},
               "resp_code": 405, "resp_type": "session_termination_response"})
    );
    let out = agent.tool("call_target", json!({"label": "api", "method": "GET"}));
    assert_eq!(
        out["result"]["structuredContent"]["body_base64"],
        "cG9uZw=="
    );
    let listed = agent.tool("list_targets", json!({}));
    assert_eq!(
        listed["result"]["structuredContent"]["targets"][0],
        json!({"label": "api", "category": "config", "source": "config",
               "allowed_methods": ["GET", "POST", "PUT"], "max_request_bytes": 102400,
               "max_response_bytes": 102400, "timeout_ms": 30000})
    );
    // A6: harpoon last, with proc_affinity, on every control-plane request.
    for request in agent.cp.requests() {
        assert_eq!(
            request.header("X-Tunnel-MCP-Server-Info"),
            Some(
                r#"{"version":1,"channels":[{"name":"main","proc_affinity":true},{"name":"harpoon","proc_affinity":true}]}"#
            ),
            "{}",
            request.url
        );
    }
}

/// Without a target the channel is not declared and its commands get the
/// unsupported-channel answer (A7); the startup warning of old is gone.
#[test]
fn without_targets_harpoon_is_an_unsupported_channel() {
    let profile_dir = crate::support::TempDir::new("harpoon-off");
    let profile = profile_dir.write(
        "p.json",
        r#"{"harpoon": {"targets": [{"label": "api", "url": "https://api.internal"}]}}"#,
    );
    let mut agent = Agent::start(
        "harpoon-off",
        &["--profile-file".into(), profile.display().to_string()],
        &[],
    );
    let body = agent.send(
        "harpoon",
        json!({"jsonrpc": "2.0", "id": 0, "method": "tools/list"}),
    );
    assert_eq!(body["resp_code"], 400);
    assert_eq!(
        body["resp_json"]["error"]["message"],
        "Bad Request: unsupported channel \"harpoon\""
    );
    for request in agent.cp.requests() {
        assert_eq!(
            request.header("X-Tunnel-MCP-Server-Info"),
            Some(r#"{"version":1,"channels":[{"name":"main","proc_affinity":true}]}"#)
        );
    }
    let output = agent.process.output();
    assert!(
        output.contains("\"enabled\" is not true; they are not served"),
        "{output}"
    );
    assert!(
        !output.contains("does not serve the harpoon channel"),
        "{output}"
    );
    assert_eq!(
        agent.admin.get("/api/status").json()["harpoon"]["channel"],
        "off"
    );
}

/// Startup refusals through the binary: exit 2, the key named, the URL never shown.
#[test]
fn bad_targets_stop_the_binary_without_showing_the_url() {
    for (args, named) in [
        (
            vec![
                "--harpoon-target",
                "label=a,url=https://169.254.169.254/s3cret",
            ],
            "--harpoon-target: entry 1, url",
        ),
        (
            vec![
                "--harpoon.target",
                "label=a,url=https://u:s3cret@h.internal/",
            ],
            "--harpoon.target: entry 1, url",
        ),
        (
            vec![
                "--harpoon-target",
                "label=a,url=https://h.internal/?k=s3cret",
            ],
            "--harpoon-target: entry 1, url",
        ),
        (
            vec!["--harpoon-target", "label=a,url=http://s3cret.internal/"],
            "allow_plaintext_http",
        ),
        (
            vec![
                "--harpoon-http-proxy",
                "http://u:s3cret@proxy.internal:3128/path",
            ],
            "--harpoon-http-proxy",
        ),
    ] {
        let cp = MockControlPlane::start();
        let mut agent = process::agent(&cp.url, &args);
        let status = agent.wait_exit(WAIT);
        assert_eq!(status.code(), Some(2), "{args:?}");
        let err = agent.stderr();
        assert!(err.contains(named), "{args:?}: {err}");
        assert!(!err.contains(SECRET), "{err}");
        assert!(cp.requests().is_empty());
    }
}
