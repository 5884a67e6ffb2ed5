//! C1–C3: the startup probe of an HTTP `main` (initialize, initialized, DELETE
//! of its own session), readiness while it is pending, failed or passed, and
//! the startup wait that holds polling while the server refuses connections.

use super::{reasons, strs, tool_call, Admin};
use crate::support::control_plane::MockControlPlane;
use crate::support::mcp_server::{
    answering, mcp_answer, respond, wait_for_client_close, MockServer, Next,
};
use crate::support::process;
use crate::support::{closed_port, wait_until, WAIT};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn is_probe_initialize(request: &crate::support::mcp_server::Recorded) -> bool {
    request.json()["params"]["clientInfo"]["name"] == "tunnel-client-rs"
}

#[test]
fn c1_the_probe_initializes_notifies_and_deletes_its_own_session() {
    let cp = MockControlPlane::start();
    let main = answering("main");
    let mut admin = Admin::new("channels-probe");
    let mut args = vec!["--mcp-server-url".to_string(), main.url()];
    args.extend(admin.flags());
    let mut agent = process::agent(&cp.url, &strs(&args));
    wait_until(WAIT, "readiness", || admin.readyz()["status"] == "ready");
    let probe = main.mcp_requests();
    assert_eq!(probe.len(), 3, "{probe:?}");
    let initialize = probe[0].json();
    assert_eq!(probe[0].method, "POST");
    assert_eq!(initialize["method"], "initialize");
    assert_eq!(initialize["params"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        initialize["params"]["clientInfo"]["name"],
        "tunnel-client-rs"
    );
    assert_eq!(
        probe[0].values("accept"),
        ["application/json, text/event-stream"]
    );
    assert_eq!(probe[1].method, "POST");
    assert_eq!(probe[1].json()["method"], "notifications/initialized");
    assert_eq!(probe[1].values("mcp-session-id"), ["session-main"]);
    assert_eq!(probe[2].method, "DELETE");
    assert_eq!(probe[2].values("mcp-session-id"), ["session-main"]);

    // D3: after that, DELETE only for session_termination; never at shutdown.
    cp.push_commands(vec![tool_call("req_after", "main", "whoami", json!({}))]);
    cp.wait_terminal("req_after", WAIT);
    agent.terminate(WAIT);
    let deletes = main
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 1);
}

#[test]
fn c2_pending_until_settled_and_a_timeout_counts_as_ready() {
    let cp = MockControlPlane::start();
    // The probe's initialize is never answered: its 2 s budget runs out.
    let main = MockServer::start(|request, stream| {
        if is_probe_initialize(request) {
            wait_for_client_close(stream);
            return Next::Close;
        }
        mcp_answer("main", true, request, stream);
        Next::KeepAlive
    });
    let mut admin = Admin::new("channels-pending");
    let mut args = vec!["--mcp-server-url".to_string(), main.url()];
    args.extend(admin.flags());
    let _agent = process::agent(&cp.url, &strs(&args));
    wait_until(WAIT, "the pending probe in /readyz", || {
        let readyz = admin.readyz();
        reasons(&readyz).contains(&"mcp startup probe pending".to_string())
            && readyz["mcp_server_reachable"] == false
    });
    wait_until(WAIT, "readiness after the probe timed out", || {
        admin.readyz()["status"] == "ready"
    });
    assert_eq!(main.mcp_requests().len(), 1, "no initialized, no DELETE");
}

#[test]
fn c2_a_failed_probe_is_the_reason_until_a_2xx_on_main() {
    let cp = MockControlPlane::start();
    let main = MockServer::start(|request, stream| {
        if is_probe_initialize(request) {
            respond(stream, 503, &[], b"");
        } else {
            mcp_answer("main", true, request, stream);
        }
        Next::KeepAlive
    });
    let mut admin = Admin::new("channels-failed");
    let mut args = vec!["--mcp-server-url".to_string(), main.url()];
    args.extend(admin.flags());
    let _agent = process::agent(&cp.url, &strs(&args));
    wait_until(WAIT, "the failed probe in /readyz", || {
        reasons(&admin.readyz()).contains(&"mcp probe failed: http_status".to_string())
    });
    assert_eq!(admin.readyz()["status"], "not_ready");
    cp.push_commands(vec![tool_call("req_ok", "main", "whoami", json!({}))]);
    assert_eq!(cp.wait_terminal("req_ok", WAIT)["resp_code"], 200);
    wait_until(WAIT, "readiness after a 2xx on main", || {
        admin.readyz()["status"] == "ready"
    });
}

#[test]
fn c2_a_failed_probe_is_probed_again_until_it_passes() {
    let cp = MockControlPlane::start();
    let probes = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&probes);
    let main = MockServer::start(move |request, stream| {
        if is_probe_initialize(request) && seen.fetch_add(1, Ordering::SeqCst) == 0 {
            respond(stream, 500, &[], b"");
        } else {
            mcp_answer("main", true, request, stream);
        }
        Next::KeepAlive
    });
    let mut admin = Admin::new("channels-reprobe");
    let mut args = vec!["--mcp-server-url".to_string(), main.url()];
    args.extend(admin.flags());
    let _agent = process::agent(&cp.url, &strs(&args));
    wait_until(WAIT, "the failed probe", || {
        reasons(&admin.readyz()).contains(&"mcp probe failed: http_status".to_string())
    });
    // Re-probed every 10 s: the second probe passes without any command.
    wait_until(
        Duration::from_secs(25),
        "readiness after a re-probe",
        || admin.readyz()["status"] == "ready",
    );
    assert_eq!(probes.load(Ordering::SeqCst), 2);
}

#[test]
fn c3_the_startup_wait_holds_polling_until_the_server_listens() {
    let cp = MockControlPlane::start();
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let agent = process::agent(
        &cp.url,
        &["--mcp-server-url", &url, "--mcp-startup-wait", "30s"],
    );
    wait_until(WAIT, "three refused probes", || {
        agent
            .output()
            .matches("refused the connection; probing again")
            .count()
            >= 3
    });
    assert!(cp.polls().is_empty(), "polled during the startup wait");
    let main = MockServer::start_on(&format!("127.0.0.1:{port}"), |request, stream| {
        mcp_answer("main", true, request, stream);
        Next::KeepAlive
    });
    wait_until(WAIT, "the first poll", || !cp.polls().is_empty());
    let probe_at = main
        .requests()
        .iter()
        .find(|r| is_probe_initialize(r))
        .map(|r| r.at)
        .expect("the probe reached the server");
    assert!(
        cp.polls()[0].at >= probe_at,
        "polled before the probe settled"
    );
}

#[test]
fn c3_a_spent_startup_wait_starts_polling_with_its_reason() {
    let cp = MockControlPlane::start();
    let url = format!("http://127.0.0.1:{}/mcp", closed_port());
    let mut admin = Admin::new("channels-wait-spent");
    let mut args = vec!["--mcp-server-url".to_string(), url];
    args.extend(admin.flags());
    let _agent = process::agent_with_env(
        &cp.url,
        &strs(&args),
        &[("MCP_STARTUP_WAIT_TIMEOUT", "500ms")],
    );
    wait_until(WAIT, "polling after the wait", || !cp.polls().is_empty());
    wait_until(WAIT, "the spent wait as the reason", || {
        reasons(&admin.readyz())
            .contains(&"mcp startup wait failed: connection refused".to_string())
    });
}
