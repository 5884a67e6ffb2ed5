//! Startup discovery and readiness (O12, O7's status field): `/readyz` of a real agent through
//! pending, ready, failed and healed; retries and the startup gate through the library.

use super::algorithm::discovery;
use super::command::discovery_command;
use super::*;
use crate::support::control_plane::MockControlPlane;
use crate::support::process::{self, Process};
use crate::support::{http, wait_until, TempDir, WAIT};
use serde_json::{json, Value};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tunnel::agent::oauth;
use tunnel::agent::stop::Stopper;
use tunnel::mcp::harpoon::Discovered;
use tunnel::telemetry::{OauthPhase, Telemetry};

const LONG_TIMEOUT: &str = "300s";

/// An agent with its admin server on a free port.
struct Admin {
    agent: Process,
    base: String,
    _dir: TempDir,
}

fn agent_with_admin(cp: &MockControlPlane, mcp_args: &[&str]) -> Admin {
    let dir = TempDir::new("oauth-admin");
    let url_file = dir.path().join("admin.url");
    let mut args = vec![
        "--admin-address",
        "127.0.0.1:0",
        "--admin-url-file",
        url_file.to_str().unwrap(),
    ];
    args.extend_from_slice(mcp_args);
    let agent = process::agent(&cp.url, &args);
    let base = wait_until(WAIT, "the admin URL file", || {
        let url = std::fs::read_to_string(&url_file).ok()?;
        let url = url.trim().trim_end_matches('/').to_string();
        (!url.is_empty()).then_some(url)
    });
    Admin {
        agent,
        base,
        _dir: dir,
    }
}

impl Admin {
    fn readyz(&self) -> (u16, Value) {
        let reply = http::get(&format!("{}/readyz", self.base));
        (
            reply.status,
            serde_json::from_str(&reply.body).unwrap_or(Value::Null),
        )
    }

    fn status(&self) -> Value {
        http::get(&format!("{}/api/status", self.base)).json()
    }

    /// Waits until `/readyz` lists exactly `reasons` (ready when empty).
    fn wait_reasons(&self, reasons: &[&str]) {
        wait_until(WAIT, format_args!("readiness reasons {reasons:?}"), || {
            let (status, body) = self.readyz();
            let now: Vec<String> = body["reasons"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let want_ready = reasons.is_empty();
            (now == reasons
                && (status == 200) == want_ready
                && body["status"] == if want_ready { "ready" } else { "not_ready" })
            .then_some(())
        });
    }
}

/// A latch a route can wait on (bounded), opened by the test.
#[derive(Default)]
struct Latch(Mutex<bool>, Condvar);

impl Latch {
    fn wait(&self) {
        let open = self.0.lock().unwrap();
        let _ = self
            .1
            .wait_timeout_while(open, WAIT, |open| !*open)
            .unwrap();
    }
    fn open(&self) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
}

#[test]
fn o12_readiness_is_pending_until_the_startup_discovery_ends() {
    let site = Site::http();
    // 401 like an OAuth-protected server: the startup probe counts it as ready.
    site.on("POST", "/mcp", |_| status(401));
    site.on("GET", "/mcp", |_| status(405));
    let latch = Arc::new(Latch::default());
    let held = Arc::clone(&latch);
    site.on("GET", PRMD_MCP, move |_| {
        held.wait();
        status(404)
    });
    let cp = MockControlPlane::start();
    let admin = agent_with_admin(&cp, &["--mcp-server-url", &site.url("/mcp")]);
    // Held well inside the 5 s startup budget: pending, whatever else is.
    wait_until(WAIT, "the pending reason", || {
        admin.readyz().1["reasons"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("oauth discovery pending")))
    });
    assert_eq!(admin.status()["oauth"]["phase"], "pending");
    latch.open();
    admin.wait_reasons(&[]);
    assert_eq!(
        admin.status()["oauth"],
        json!({"phase": "ready", "last_outcome": "not advertised", "found": null})
    );
}

#[test]
fn o12_a_failed_startup_is_not_ready_until_a_command_succeeds_and_commands_never_unready() {
    let site = Site::http();
    // 401 like an OAuth-protected server: the startup probe counts it as ready.
    site.on("POST", "/mcp", |_| status(401));
    site.on("GET", "/mcp", |_| status(405));
    site.on("GET", PRMD_MCP, |_| raw(200, &[], b"not json"));
    let cp = MockControlPlane::start();
    let admin = agent_with_admin(&cp, &["--mcp-server-url", &site.url("/mcp")]);
    admin.wait_reasons(&["oauth discovery failed: invalid_metadata"]);
    let (_, body) = admin.readyz();
    assert_eq!(body["polling"], true);
    assert_eq!(body["mcp_server_reachable"], true);

    // A failing command changes nothing; a succeeding one heals.
    cp.push_commands(vec![discovery_command("r_fail", None, LONG_TIMEOUT)]);
    assert_eq!(cp.wait_terminal("r_fail", WAIT)["resp_code"], 502);
    admin.wait_reasons(&["oauth discovery failed: invalid_metadata"]);
    let issuer = site.origin();
    site.on("GET", PRMD_MCP, move |_| {
        json_ok(&prmd("https://r/mcp", &[&issuer]), &[])
    });
    let issuer = site.origin();
    site.on(
        "GET",
        "/.well-known/oauth-authorization-server",
        move |_| {
            json_ok(
                &json!({"issuer": issuer, "token_endpoint": "https://t/token"}),
                &[],
            )
        },
    );
    cp.push_commands(vec![discovery_command("r_heal", None, LONG_TIMEOUT)]);
    assert_eq!(cp.wait_terminal("r_heal", WAIT)["resp_code"], 200);
    admin.wait_reasons(&[]);
    // O7: the lookup after the POST shows up on the status page, by origin only.
    let origin = site
        .origin()
        .replace(&format!(":{}", site.upstream.port()), "");
    wait_until(
        WAIT,
        "the authorization-server metadata on /api/status",
        || admin.status()["oauth"]["found"]["authorization_server_metadata"] == "found",
    );
    assert_eq!(
        admin.status()["oauth"],
        json!({"phase": "ready", "last_outcome": "selected", "found": {
            "metadata_origin": origin, "authorization_server": origin,
            "authorization_server_metadata": "found", "warnings": []}})
    );

    // Broken again: commands fail, the agent stays ready.
    site.on("GET", PRMD_MCP, |_| status(403));
    cp.push_commands(vec![discovery_command("r_again", None, LONG_TIMEOUT)]);
    assert_eq!(cp.wait_terminal("r_again", WAIT)["resp_code"], 502);
    admin.wait_reasons(&[]);
    assert_eq!(
        admin.status()["oauth"]["last_outcome"],
        "failed: http_status"
    );
    drop(admin.agent);
}

#[test]
fn o12_a_stdio_main_never_runs_discovery() {
    let cp = MockControlPlane::start();
    let admin = agent_with_admin(&cp, &[]);
    admin.wait_reasons(&[]);
    assert_eq!(admin.status()["oauth"]["phase"], "off");
}

#[test]
fn o12_startup_waits_for_the_gate_then_retries_until_it_heals() {
    let site = Site::http();
    // 401 like an OAuth-protected server: the startup probe counts it as ready.
    site.on("POST", "/mcp", |_| status(401));
    site.on("GET", "/mcp", |_| status(405));
    site.on("GET", PRMD_MCP, |_| status(403));
    let telemetry = Arc::new(Telemetry::new());
    let (found_tx, found_rx) = mpsc::channel::<Discovered>();
    let found_tx = Mutex::new(found_tx);
    let d = tunnel::agent::oauth::Discovery::new(
        &site.url("/mcp"),
        &tunnel::net::NetConfig::default(),
        Vec::new(),
        Arc::clone(&telemetry),
    )
    .unwrap()
    .with_hook(Arc::new(move |found: &Discovered| {
        let _ = found_tx.lock().unwrap().send(found.clone());
    }));
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (open_tx, open_rx) = mpsc::channel::<()>();
    let stopper = Stopper::new();
    let gate: oauth::StartupGate = Box::new(move |_| {
        let _ = entered_tx.send(());
        open_rx.recv().is_ok()
    });
    oauth::spawn(
        Arc::new(d),
        gate,
        Duration::from_millis(200),
        stopper.clone(),
    )
    .unwrap();

    // C3's wait: while the gate holds, discovery is pending and sends nothing.
    entered_rx.recv_timeout(WAIT).unwrap();
    assert_eq!(telemetry.oauth_status().phase, OauthPhase::Pending);
    assert!(
        site.seen().is_empty(),
        "discovery ran before the gate opened"
    );
    open_tx.send(()).unwrap();
    wait_until(WAIT, "the startup failure", || {
        telemetry.oauth_status().phase == OauthPhase::Failed("http_status")
    });
    // Retried (every 200 ms here) until the server is fixed.
    let tries = |site: &Site| site.seen().iter().filter(|s| s.ends_with(PRMD_MCP)).count();
    wait_until(WAIT, "a retry", || tries(&site) >= 2);
    let origin = site.origin();
    site.on("GET", PRMD_MCP, move |_| {
        json_ok(&prmd("https://r/mcp", &[&format!("{origin}/tenant")]), &[])
    });
    wait_until(WAIT, "healing", || {
        telemetry.oauth_status().phase == OauthPhase::Settled
    });
    let found = found_rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        found,
        Discovered {
            prmd_resource: Some("https://r/mcp".into()),
            prmd_source: Some(site.url(PRMD_MCP)),
            issuer: Some(format!("{}/tenant", site.origin())),
            ..Discovered::default()
        }
    );
    // No authorization-server metadata: a warning, never a readiness change.
    let status = telemetry.oauth_status();
    assert_eq!(status.phase, OauthPhase::Settled);
    let found = status.found.unwrap();
    assert_eq!(found.authorization_server_metadata, "unavailable");
    assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
    stopper.stop();
}

#[test]
fn o7_the_hook_gets_every_discovered_endpoint_and_an_issuer_mismatch_is_a_warning() {
    let site = Site::http();
    // 401 like an OAuth-protected server: the startup probe counts it as ready.
    site.on("POST", "/mcp", |_| status(401));
    site.on("GET", "/mcp", |_| status(405));
    let issuer = format!("{}/realms/x", site.origin());
    let i = issuer.clone();
    site.on("GET", PRMD_MCP, move |_| {
        json_ok(&prmd("https://r/mcp", &[&i, "https://second/"]), &[])
    });
    let endpoints = |issuer: &str| {
        json!({"issuer": issuer, "token_endpoint": "https://10.0.0.5/token", "jwks_uri": "https://10.0.0.5/jwks",
            "introspection_endpoint": "https://10.0.0.5/introspect", "registration_endpoint": "https://10.0.0.5/register",
            "revocation_endpoint": "https://10.0.0.5/revoke", "authorization_endpoint": "https://10.0.0.5/authorize"})
    };
    // The first document names another issuer; the OpenID one matches.
    let wrong = endpoints("https://someone-else/");
    site.on(
        "GET",
        "/realms/x/.well-known/oauth-authorization-server",
        move |_| json_ok(&wrong, &[]),
    );
    let right = endpoints(&issuer);
    site.on(
        "GET",
        "/.well-known/openid-configuration/realms/x",
        move |_| json_ok(&right, &[]),
    );
    let d = discovery(&site.url("/mcp"));
    let s = super::algorithm::selected(d.discover(std::time::Instant::now() + WAIT));
    let report = d.follow_up(&s);
    assert_eq!(
        report.discovered,
        Discovered {
            prmd_resource: Some("https://r/mcp".into()),
            prmd_source: Some(site.url(PRMD_MCP)),
            issuer: Some(issuer.clone()),
            token_endpoint: Some("https://10.0.0.5/token".into()),
            jwks_uri: Some("https://10.0.0.5/jwks".into()),
            introspection_endpoint: Some("https://10.0.0.5/introspect".into()),
            registration_endpoint: Some("https://10.0.0.5/register".into()),
            revocation_endpoint: Some("https://10.0.0.5/revoke".into()),
        }
    );
    assert_eq!(report.found.authorization_server_metadata, "found");
    assert_eq!(
        site.seen()[3..],
        [
            "GET /realms/x/.well-known/oauth-authorization-server",
            "GET /.well-known/oauth-authorization-server/realms/x",
            "GET /realms/x/.well-known/openid-configuration",
            "GET /.well-known/openid-configuration/realms/x",
        ]
    );
    // Only the mismatching one: accepted, with a warning.
    site.on("GET", "/.well-known/openid-configuration/realms/x", |_| {
        status(404)
    });
    let report = d.follow_up(&s);
    assert_eq!(
        report.found.authorization_server_metadata,
        "issuer mismatch"
    );
    assert_eq!(
        report.discovered.token_endpoint.as_deref(),
        Some("https://10.0.0.5/token")
    );
    assert!(
        report.found.warnings[0].starts_with("issuer mismatch"),
        "{:?}",
        report.found.warnings
    );
}
