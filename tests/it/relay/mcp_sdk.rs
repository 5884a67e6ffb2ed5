//! A stateless MCP server of the 2026-07-28 era, built with the Python MCP SDK (PyPI
//! `mcp==2.3.0`, which `.ci/run` installs into target/ref-mcp/sdk), answering `server/discover`
//! and `tools/call` through tunnel-relay and the built agent: `Mcp-Method`, `Mcp-Name` and
//! `MCP-Protocol-Version` reach it unchanged (the SDK answers -32020 when they do not match).

use crate::support::process::Process;
use crate::support::relay::*;
use crate::support::{process, require};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The SDK version the fixture is written for.
const SDK_VERSION: &str = "2.3.0";
/// The protocol revision of per-request headers and `server/discover`.
const PROTOCOL: &str = "2026-07-28";
/// JSON-RPC error of the SDK when a routing header disagrees with the body.
const HEADER_MISMATCH: i64 = -32020;

/// The interpreter of the venv `.ci/run` builds (or `MCP_SDK_PYTHON`), if it
/// has exactly the SDK version the fixture is written for.
fn sdk_python() -> Option<String> {
    let python = std::env::var("MCP_SDK_PYTHON").unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/ref-mcp/sdk/bin/python")
            .to_string_lossy()
            .into_owned()
    });
    let check = format!(
        "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '{SDK_VERSION}')"
    );
    Command::new(&python)
        .args(["-c", &check])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        .then_some(python)
}

fn fixture_server(python: &str) -> (Process, String) {
    let mut cmd = Command::new(python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mcp_sdk/stateless_server.py"
    ));
    let server = Process::spawn(cmd);
    let url = format!("{}/mcp", server.listening_url());
    (server, url)
}

/// The request envelope every 2026-07-28 request carries in `params._meta`.
fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": PROTOCOL,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "relay-test", "version": "1"},
    })
}

#[test]
fn a_2026_07_28_sdk_server_answers_discover_and_tools_call_through_relay_and_agent() {
    let python = sdk_python();
    if !require(
        "the Python MCP SDK mcp==2.3.0 (.ci/run installs it into target/ref-mcp/sdk)",
        python.is_some(),
    ) {
        return;
    }
    let (_server, mcp_url) = fixture_server(&python.unwrap_or_default());
    let (_relay, base) = binary(&[]);
    let _agent = process::agent(&base, &["--mcp-server-url", &mcp_url]);
    wait_for_agents(&base, 1);
    let endpoint = channel_url(&base, "main");

    let discover = call_url(
        &endpoint,
        &json!({"jsonrpc": "2.0", "id": "d1", "method": "server/discover",
                "params": {"_meta": meta()}}),
        &[
            ("MCP-Protocol-Version", PROTOCOL),
            ("Mcp-Method", "server/discover"),
        ],
    );
    assert_eq!(discover.status, 200, "{}", discover.body);
    let result = &discover.json()["result"];
    assert_eq!(discover.json()["id"], "d1");
    assert!(result["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!(PROTOCOL)));
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "relay-fixture"
    );
    assert!(result["capabilities"]["tools"].is_object());

    let call = |name_header: &str| {
        call_url(
            &endpoint,
            &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": "hello through the tunnel"},
                               "_meta": meta()}}),
            &[
                ("MCP-Protocol-Version", PROTOCOL),
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", name_header),
            ],
        )
    };
    let answer = call("echo");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json()["result"]["content"][0]["text"],
        "hello through the tunnel"
    );
    assert_eq!(answer.json()["result"]["isError"], false);

    // The server compares the headers it got with the body: what the caller
    // sent is what arrived.
    let mismatch = call("not-echo");
    assert_eq!(mismatch.status, 400, "{}", mismatch.body);
    assert_eq!(mismatch.json()["error"]["code"], HEADER_MISMATCH);
    assert_eq!(mismatch.json()["id"], 2);
    // Without the header (what a relay that drops it delivers), the same.
    let dropped = call_url(
        &endpoint,
        &json!({"jsonrpc": "2.0", "id": 3, "method": "server/discover",
                "params": {"_meta": meta()}}),
        &[("MCP-Protocol-Version", PROTOCOL)],
    );
    assert_eq!(
        dropped.json()["error"]["code"],
        HEADER_MISMATCH,
        "{}",
        dropped.body
    );
}
