//! The status page in a real headless Chromium (tests/ui/check_status_page.sh)
//! against an admin server with realistic telemetry. Skipped where no chromium is installed.

use crate::support::admin::*;
use crate::support::tools::runs;
use crate::support::{require, TUNNEL_ID};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tunnel::contract::TunnelMetadata;
use tunnel::mcp::Backend;
use tunnel::telemetry::harpoon::Call;
use tunnel::telemetry::{CommandOutcome, DropReason, OauthFound, PollOutcome};

/// The browsers tests/ui/check_status_page.sh looks for.
fn chromium_installed() -> bool {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|b| runs(b))
}

/// A server whose page has something in every section.
fn populated() -> Harness {
    let backend = FakeBackend::new("stdio", "pid 4242 · npx @acme/mcp-server");
    let search = FakeBackend::new("http", "http://10.20.0.7:8080");
    let harpoon = FakeBackend::new("builtin", "2 targets");
    let h = start_for(
        &loopback_config(),
        backend,
        vec![
            ("search".into(), search as Arc<dyn Backend>),
            ("harpoon".into(), harpoon as Arc<dyn Backend>),
        ],
    );
    h.telemetry.set_harpoon_targets(&[
        ("billing".to_string(), "config"),
        ("oauth-token".to_string(), "oauth"),
    ]);
    for (n, (target, tool, status, outcome)) in [
        ("billing", "http_callout", Some(200), "success"),
        ("billing", "http_callout", None, "invalid_input"),
        ("oauth-token", "call_target", Some(201), "success"),
        ("billing", "call_target", Some(302), "redirect_blocked"),
    ]
    .into_iter()
    .enumerate()
    {
        h.telemetry.harpoon_call(&Call {
            target,
            tool,
            method: Some("GET"),
            status,
            outcome,
            latency: Duration::from_millis(40 + 30 * n as u64),
            bytes: 512,
            dropped_headers: 1,
        });
    }
    h.telemetry.set_request_timing(true);
    h.telemetry.set_metadata(TunnelMetadata {
        id: TUNNEL_ID.into(),
        name: "Acme production".into(),
        description: "internal tools".into(),
    });
    h.telemetry
        .poll_finished(PollOutcome::Commands(4), Duration::from_millis(30));
    let tools = [
        "search_tickets",
        "get_invoice",
        "list_customers",
        "create_note",
    ];
    for n in 0..57u64 {
        let (method, tool) = match n % 5 {
            0 => ("initialize", None),
            1 => ("tools/list", None),
            _ => ("tools/call", Some(tools[(n % 4) as usize])),
        };
        let outcome = match n % 19 {
            7 => CommandOutcome::RpcError,
            13 => CommandOutcome::Synthesized,
            17 => CommandOutcome::Dropped(DropReason::Expired),
            _ => CommandOutcome::Success,
        };
        h.command(method, tool, outcome, 8 + (n * 37) % 400);
    }
    h.telemetry.mcp_restarted();
    h.telemetry.oauth_discovered(Ok("selected"));
    h.telemetry.set_oauth_found(OauthFound {
        metadata_origin: "https://mcp.acme.internal:443".into(),
        authorization_server: Some("https://login.acme.internal:443".into()),
        authorization_server_metadata: "found",
        warnings: Vec::new(),
    });
    h.telemetry
        .record_error("MCP server on channel main: connection reset while reading the response");
    h.telemetry
        .record_error("response POST for command 8f2c… failed after 3 tries: HTTP 503");
    h.telemetry.command_started();
    h
}

fn run_script(url: &str, out: &Path) -> (bool, String) {
    run_script_with(url, out, &[])
}

fn run_script_with(url: &str, out: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/check_status_page.sh");
    let result = Command::new(script)
        .envs(env.iter().copied())
        .arg(url)
        .arg(out)
        .arg(TUNNEL_ID)
        .output()
        .expect("the script runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    (result.status.success(), text)
}

#[test]
fn the_script_fails_on_a_disconnected_idle_agent() {
    if !require("chromium", chromium_installed()) {
        return;
    }
    let h = start();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui/admin_ui_idle");
    let (ok, text) = run_script(&h.server.url(), &out);
    assert!(!ok, "{text}");
    assert!(
        text.contains("FAIL connected state shown (conn-state data-state=disconnected)"),
        "{text}"
    );
    assert!(
        text.contains("FAIL non-zero request count (req-total data-count=0)"),
        "{text}"
    );
    assert!(text.contains("ok   tunnel id shown"), "{text}");
}

#[test]
fn the_status_page_renders_in_headless_chromium() {
    let h = populated();
    // The page's data is correct whether or not a browser is here.
    let (_, status) = h.get_json("/api/status");
    assert_eq!(status["totals"]["answered"], 54);
    assert_eq!(status["connection"]["connected"], true);
    let harpoon = &status["harpoon"];
    assert_eq!(harpoon["channel"], "serving");
    assert_eq!(harpoon["target_count"], 2);
    assert_eq!(harpoon["targets"][0]["calls"], 3);
    assert_eq!(harpoon["targets"][0]["last_status"], 302);
    assert_eq!(harpoon["recent"][0]["outcome"], "redirect_blocked");
    if !require("chromium", chromium_installed()) {
        return;
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui/admin_ui_test");
    let (ok, stdout) = run_script_with(&h.server.url(), &out, &[("EXPECT_HARPOON_CALLS", "4")]);
    assert!(ok, "check failed:\n{stdout}");
    assert!(stdout.contains("ok   connected state shown"), "{stdout}");
    assert!(
        stdout.contains("ok   non-zero request count (req-total data-count=54)"),
        "{stdout}"
    );
    let dom = std::fs::read_to_string(out.join("status.dom.html")).unwrap();
    assert!(dom.contains("Acme production"));
    assert!(dom.contains("search_tickets"));
    // The Harpoon card: per-target calls and last status, the last calls.
    assert!(
        stdout.contains("ok   Harpoon calls listed (harpoon-calls data-count=4"),
        "{stdout}"
    );
    assert!(dom.contains("oauth-token") && dom.contains("redirect_blocked"));
    // main's OAuth discovery: its outcome and the authorization server's origin.
    assert!(
        dom.contains(r#"<div id="oauth-row" data-state="ready">"#),
        "the OAuth row is not shown as ready"
    );
    assert!(dom.contains(r#"<span id="oauth">selected</span>"#));
    assert!(dom.contains("authorization server https://login.acme.internal:443"));
}
