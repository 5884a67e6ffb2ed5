//! The environment a stdio child gets: the agent's own minus the control-plane
//! key variables, plus `mcp_env`. Runs in a process of its own, which has those variables.

use crate::support::isolate::in_own_process;
use crate::support::mcp::{call, json_of, request};
use crate::support::require_tool;
use crate::support::stdio::{fixture, start};
use serde_json::json;
use std::time::Duration;
use tunnel::config::StdioConfig;
use tunnel::mcp::Backend;

#[test]
fn child_environment_has_no_control_plane_key() {
    if !require_tool("python3") {
        return;
    }
    // The variables exist in the agent's process; its child must not see them.
    // Set here, they would reach every other test of this binary.
    let secrets = [
        ("CONTROL_PLANE_API_KEY", "sk-test-must-not-leak"),
        ("PROFILE_REFERENCED_SECRET", "also-secret"),
    ];
    if !in_own_process(
        "stdio::env::child_environment_has_no_control_plane_key",
        &secrets,
    ) {
        return;
    }
    assert_eq!(
        std::env::var("CONTROL_PLANE_API_KEY").as_deref(),
        Ok("sk-test-must-not-leak")
    );
    let cfg = StdioConfig {
        removed_env: vec![
            "CONTROL_PLANE_API_KEY".into(),
            "OPENAI_API_KEY".into(),
            "PROFILE_REFERENCED_SECRET".into(),
        ],
        extra_env: vec![("MCP_EXTRA".into(), "from-profile".into())],
        ..StdioConfig::default()
    };
    let (backend, _) = start(vec![fixture("env_dump.py")], cfg);
    let env = json_of(call(&backend, &request(json!(1), "ping", json!({}))))["result"].clone();
    assert!(env.get("CONTROL_PLANE_API_KEY").is_none());
    assert!(env.get("PROFILE_REFERENCED_SECRET").is_none());
    assert_eq!(env["MCP_EXTRA"], "from-profile");
    assert!(
        env.get("PATH").is_some(),
        "the rest of the environment is inherited"
    );
    assert!(!env.to_string().contains("sk-test-must-not-leak"));
    backend.shutdown(Duration::from_secs(5));
}
