//! The environment a stdio child gets: the agent's own minus the control-plane
//! key variables, plus `mcp_env`. Alone in its binary because it sets variables.

#[path = "support/stdio.rs"]
mod support;

use serde_json::json;
use std::time::Duration;
use support::*;
use tunnel::config::StdioConfig;
use tunnel::mcp::Backend;

#[test]
fn child_environment_has_no_control_plane_key() {
    if !python3_available("child_environment_has_no_control_plane_key") {
        return;
    }
    // The variables exist in this test process; the child must not see them.
    std::env::set_var("CONTROL_PLANE_API_KEY", "sk-test-must-not-leak");
    std::env::set_var("PROFILE_REFERENCED_SECRET", "also-secret");
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
