//! The admin server over real sockets: health and readiness JSON with every
//! reason and its recovery, access rules, status JSON, URL file, `off`, 404/405.

use crate::support::admin::*;
use crate::support::{wait_until, TempDir, TUNNEL_ID, WAIT};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tunnel::admin::{AdminError, AdminServer};
use tunnel::config::AdminConfig;
use tunnel::contract::TunnelMetadata;
use tunnel::telemetry::{CommandOutcome, PollOutcome, Telemetry, WatchdogLimits};

fn poll(h: &Harness, outcome: PollOutcome) {
    h.telemetry.poll_heartbeat();
    h.telemetry
        .poll_finished(outcome, Duration::from_millis(20));
}

fn assert_ready(h: &Harness) {
    let (status, body) = h.get_json("/readyz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"status": "ready", "polling": true, "mcp_server_reachable": true})
    );
}

/// The 503 body, after checking its fixed fields.
fn not_ready(h: &Harness) -> serde_json::Value {
    let (status, body) = h.get_json("/readyz");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert!(body["polling"].is_boolean() && body["mcp_server_reachable"].is_boolean());
    let reason = body["reason"].as_str().expect("reason text");
    assert!(!reason.is_empty());
    body
}

#[test]
fn healthz_reports_identity_and_connection_without_failing_on_outages() {
    let h = start();
    let (status, body) = h.get_json("/healthz");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"status": "healthy", "tunnel_id": TUNNEL_ID, "connected": false,
                           "version": env!("CARGO_PKG_VERSION")})
    );
    poll(&h, PollOutcome::Empty);
    assert_eq!(h.get_json("/healthz").1["connected"], true);
    // The control plane going away is not a reason to restart the process.
    poll(&h, PollOutcome::NetworkError);
    let (status, body) = h.get_json("/healthz");
    assert_eq!(
        (status, &body["connected"]),
        (200, &serde_json::json!(false))
    );
}

#[test]
fn readiness_waits_for_the_first_good_poll() {
    let h = start();
    let body = not_ready(&h);
    assert_eq!(body["polling"], false);
    assert_eq!(body["mcp_server_reachable"], true);
    assert_eq!(
        body["reason"],
        "waiting for the first poll of the control plane"
    );

    poll(&h, PollOutcome::NetworkError);
    let body = not_ready(&h);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .starts_with("no successful poll yet: the control plane could not be reached"),
        "{body}"
    );
    poll(&h, PollOutcome::HttpError(502));
    assert_eq!(
        not_ready(&h)["reason"],
        "no successful poll yet: the control plane answered HTTP 502"
    );

    poll(&h, PollOutcome::Empty);
    assert_ready(&h);
    // A single failed poll after that does not flap readiness (60 s rule).
    poll(&h, PollOutcome::HttpError(503));
    assert_ready(&h);
}

#[test]
fn readiness_reports_a_refused_key_and_recovers() {
    let h = start();
    poll(&h, PollOutcome::Empty);
    poll(&h, PollOutcome::AuthRefused(401));
    let body = not_ready(&h);
    assert_eq!(body["polling"], false);
    assert_eq!(
        body["reason"],
        "the control plane refused the API key (HTTP 401): check the key and the tunnel id"
    );
    poll(&h, PollOutcome::Commands(1));
    assert_ready(&h);
}

#[test]
fn readiness_follows_the_mcp_binding() {
    let h = start();
    poll(&h, PollOutcome::Empty);
    assert_ready(&h);
    h.backend.up.store(false, Ordering::SeqCst);
    *h.backend.detail.lock().unwrap() = "child exited with status 1; restarting in 2s".into();
    let body = not_ready(&h);
    assert_eq!(
        (&body["polling"], &body["mcp_server_reachable"]),
        (&true.into(), &false.into())
    );
    assert_eq!(
        body["reason"],
        "the MCP server of channel main (stdio) is down: child exited with status 1; restarting in 2s"
    );
    h.backend.up.store(true, Ordering::SeqCst);
    assert_ready(&h);
}

#[test]
fn readiness_notices_a_server_that_is_up_but_failing_every_command() {
    let h = start();
    poll(&h, PollOutcome::Empty);
    for _ in 0..4 {
        h.command("tools/call", Some("echo"), CommandOutcome::Synthesized, 5);
    }
    assert_ready(&h);
    h.command("tools/call", Some("echo"), CommandOutcome::Synthesized, 5);
    let body = not_ready(&h);
    assert_eq!(body["mcp_server_reachable"], false);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .starts_with("the last 5 commands all failed"),
        "{body}"
    );
    h.command("tools/list", None, CommandOutcome::Success, 5);
    assert_ready(&h);
}

#[test]
fn several_reasons_are_all_listed() {
    let h = start();
    h.backend.up.store(false, Ordering::SeqCst);
    let body = not_ready(&h);
    assert_eq!(body["reasons"].as_array().unwrap().len(), 2, "{body}");
    h.telemetry.set_draining();
    let body = not_ready(&h);
    assert_eq!(body["reasons"][0], "the agent is shutting down");
}

#[test]
fn liveness_fails_only_when_the_agents_own_loops_stall_and_recovers() {
    let h = start();
    poll(&h, PollOutcome::Empty);
    h.telemetry.expect_workers(2);
    h.telemetry.set_watchdog(WatchdogLimits {
        poll_stall: Duration::from_secs(3600),
        worker_stall: Duration::ZERO,
    });
    h.telemetry.worker_heartbeat(0);
    h.telemetry.worker_heartbeat(1);
    let body = wait_until(WAIT, "the worker watchdog", || {
        let (status, body) = h.get_json("/healthz");
        (status == 503).then_some(body)
    });
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["tunnel_id"], TUNNEL_ID);
    assert!(
        body["reason"].as_str().unwrap().contains("worker 0 is"),
        "{body}"
    );

    h.telemetry.set_watchdog(WatchdogLimits::default());
    h.telemetry.worker_heartbeat(0);
    h.telemetry.worker_heartbeat(1);
    assert_eq!(h.get_json("/healthz").0, 200);

    h.telemetry.set_watchdog(WatchdogLimits {
        poll_stall: Duration::ZERO,
        worker_stall: Duration::from_secs(3600),
    });
    h.telemetry.poll_heartbeat();
    wait_until(WAIT, "the poll watchdog", || {
        h.get_json("/healthz").0 == 503
    });
    let (_, body) = h.get_json("/healthz");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .starts_with("the poll loop has not reported"),
        "{body}"
    );

    // Threads stop on purpose while draining: no restart for that.
    h.telemetry.set_draining();
    assert_eq!(h.get_json("/healthz").0, 200);
}

#[test]
fn status_json_carries_what_the_page_shows() {
    let h = start();
    h.telemetry.set_metadata(TunnelMetadata {
        id: TUNNEL_ID.into(),
        name: "Prod tunnel".into(),
        description: "billing".into(),
    });
    poll(&h, PollOutcome::Commands(3));
    h.command("initialize", None, CommandOutcome::Success, 10);
    h.command("tools/call", Some("search"), CommandOutcome::RpcError, 30);
    h.command("tools/list", None, CommandOutcome::Success, 20);
    h.telemetry.mcp_restarted();
    h.telemetry.record_error("response POST failed: HTTP 500");
    let (status, s) = h.get_json("/api/status");
    assert_eq!(status, 200);
    assert_eq!(s["tunnel"]["id"], TUNNEL_ID);
    assert_eq!(s["tunnel"]["name"], "Prod tunnel");
    assert_eq!(s["connection"]["connected"], true);
    assert!(
        s["connection"]["since_unix_ms"].as_u64().unwrap()
            >= s["started_unix_ms"].as_u64().unwrap()
    );
    assert_eq!(s["ready"]["ready"], true);
    assert_eq!(
        s["channels"],
        serde_json::json!([{"name": "main", "kind": "stdio", "up": true, "detail": "pid 4242",
            "inflight": 0, "requests": {"success": 0, "error": 0}}])
    );
    assert_eq!(s["mcp_probe"], "not probed");
    assert_eq!(s["mcp_restarts"], 1);
    assert_eq!(s["inflight"], 0);
    assert_eq!(s["totals"]["answered"], 3);
    assert_eq!(s["totals"]["error"], 1);
    let rate = s["totals"]["success_rate"].as_f64().unwrap();
    assert!((rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(s["latency"]["total"]["count"], 3);
    assert_eq!(s["latency"]["total"]["p50_ms"], 20.0);
    assert_eq!(s["latency"]["timing"], serde_json::Value::Null);
    assert_eq!(s["errors"][0]["message"], "response POST failed: HTTP 500");
    let activity = s["activity"].as_array().unwrap();
    assert_eq!(activity.len(), 3);
    assert_eq!(activity[0]["method"], "tools/list", "newest first");
    assert_eq!(activity[1]["tool"], "search");
    assert_eq!(activity[1]["outcome"], "rpc_error");
    assert_eq!(activity[1]["duration_ms"], 30.0);
    let keys: Vec<&str> = activity[1]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "at_unix_ms",
            "channel",
            "duration_ms",
            "method",
            "outcome",
            "tool"
        ]
    );

    h.telemetry.set_request_timing(true);
    h.command("tools/call", Some("search"), CommandOutcome::Success, 12);
    let (_, s) = h.get_json("/api/status");
    let timing = &s["latency"]["timing"];
    assert_eq!(timing["mcp"]["p50_ms"], 10.0);
    assert_eq!(timing["queue_wait"]["count"], 1);
    assert_eq!(timing["post"]["p99_ms"], 1.0);
}

#[test]
fn activity_keeps_the_last_hundred_commands() {
    let h = start();
    for n in 0..130 {
        h.command(&format!("method/{n}"), None, CommandOutcome::Success, 1);
    }
    let (_, s) = h.get_json("/api/status");
    let activity = s["activity"].as_array().unwrap();
    assert_eq!(activity.len(), 100);
    assert_eq!(activity[0]["method"], "method/129");
    assert_eq!(activity[99]["method"], "method/30");
}

#[test]
fn the_page_is_self_contained_and_locked_down() {
    let h = start();
    for path in ["/", "/ui"] {
        let response = h.agent.get(&h.url(path)).call().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let csp = response
            .headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        let (_, content_type, page) = h.get(path);
        assert_eq!(content_type, "text/html; charset=utf-8");
        for id in [
            "conn-state",
            "ready-state",
            "tunnel-id",
            "req-total",
            "activity",
            "errors",
        ] {
            assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no external assets"
        );
        assert!(
            !page.contains("innerHTML"),
            "caller-supplied names are set as text only"
        );
        assert!(page.contains("prefers-color-scheme: dark"));
    }
}

#[test]
fn unknown_paths_and_other_methods() {
    let h = start();
    let (status, _, body) = h.get("/nope");
    assert_eq!(status, 404);
    assert!(body.contains("/healthz"), "{body}");
    let response = h.agent.post(&h.url("/metrics")).send("x").unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers().get("allow").unwrap(), "GET, HEAD");
    let response = h.agent.delete(&h.url("/healthz")).call().unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let response = h.agent.head(&h.url("/readyz")).call().unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        h.get("/healthz?verbose=1").0,
        200,
        "query strings are ignored"
    );
}

/// One raw HTTP/1.1 exchange; returns the status line.
fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "server closed early");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().trim_end().to_string()
}

#[test]
fn declared_bodies_are_refused_without_reading_them() {
    let h = start();
    let addr = h.server.local_addr();
    // tiny_http once allocated and read the declared length: with this one
    // the whole process would abort.
    let status = raw(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    // A declared body that never comes must not block the server either.
    let _silent = {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
            .unwrap();
        s
    };
    let status = raw(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    // Any body, however small, is refused the same way; other methods are
    // not allowed at all.
    let status = raw(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    let status = raw(
        addr,
        "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
}

#[test]
fn port_zero_and_an_atomic_private_url_file() {
    let dir = TempDir::new("admin-url");
    let path = dir.path().join("admin.url");
    std::fs::write(&path, "stale").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = AdminConfig {
        url_file: Some(path.clone()),
        ..loopback_config()
    };
    let h = start_with(&cfg);
    assert_ne!(h.server.local_addr().port(), 0);
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written,
        format!("http://127.0.0.1:{}/\n", h.server.local_addr().port())
    );
    assert_eq!(written.trim_end(), h.server.url());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        [std::ffi::OsString::from("admin.url")],
        "no temporary file left"
    );
    assert_eq!(
        get(&h.agent, &format!("{}healthz", written.trim_end())).0,
        200
    );
}

#[test]
fn an_unwritable_url_file_is_an_actionable_error() {
    let cfg = AdminConfig {
        url_file: Some("/nonexistent-dir/admin.url".into()),
        ..loopback_config()
    };
    let error = AdminServer::start(
        &cfg,
        TUNNEL_ID,
        std::sync::Arc::new(Telemetry::new()),
        vec![],
    )
    .err()
    .expect("fails");
    let text = error.to_string();
    assert!(
        text.starts_with("cannot write the admin URL file /nonexistent-dir/admin.url:"),
        "{text}"
    );
}

#[test]
fn off_starts_nothing() {
    let cfg = AdminConfig {
        address: None,
        ..loopback_config()
    };
    let started = AdminServer::start(
        &cfg,
        TUNNEL_ID,
        std::sync::Arc::new(Telemetry::new()),
        vec![],
    );
    assert!(matches!(started, Ok(None)));
}

#[test]
fn an_address_in_use_says_what_to_do() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let cfg = AdminConfig {
        address: Some(address.clone()),
        ..loopback_config()
    };
    let error = AdminServer::start(
        &cfg,
        TUNNEL_ID,
        std::sync::Arc::new(Telemetry::new()),
        vec![],
    )
    .err()
    .expect("fails");
    assert!(matches!(error, AdminError::InUse { .. }), "{error:?}");
    assert!(error.to_string().starts_with(&format!(
        "admin address {address} is in use: pass --admin-address"
    )));
    let cfg = AdminConfig {
        address: Some("not an address".into()),
        ..loopback_config()
    };
    let error = AdminServer::start(
        &cfg,
        TUNNEL_ID,
        std::sync::Arc::new(Telemetry::new()),
        vec![],
    )
    .err()
    .expect("fails");
    assert!(matches!(error, AdminError::BadAddress { .. }), "{error:?}");
}

#[test]
fn shutdown_stops_answering_and_frees_the_port() {
    let mut h = start();
    let addr = h.server.local_addr();
    assert_eq!(h.get("/healthz").0, 200);
    h.server.shutdown();
    h.server.shutdown(); // idempotent
                         // The port is free again: nothing listens on it any more.
    wait_until(WAIT, "the port to be released", || {
        TcpListener::bind(addr).is_ok()
    });
}

/// A non-loopback address of this machine: the source address the kernel
/// would use toward a documentation address (no packet is sent).
fn non_loopback_local_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn the_page_is_loopback_only_unless_allowed() {
    let Some(ip) = non_loopback_local_ip() else {
        eprintln!("no non-loopback address here: covered by the unit tests of the peer check");
        return;
    };
    for allow_remote_ui in [false, true] {
        let cfg = AdminConfig {
            address: Some("0.0.0.0:0".into()),
            url_file: None,
            allow_remote_ui,
        };
        let h = start_with(&cfg);
        let remote = format!(
            "http://{}/",
            SocketAddr::new(ip, h.server.local_addr().port())
        );
        for path in ["healthz", "readyz", "metrics"] {
            let (status, _, _) = get(&h.agent, &format!("{remote}{path}"));
            assert!(status == 200 || status == 503, "{path}: {status}");
        }
        for path in ["", "ui", "api/status"] {
            let (status, _, body) = get(&h.agent, &format!("{remote}{path}"));
            let expected = if allow_remote_ui { 200 } else { 403 };
            assert_eq!(
                status, expected,
                "/{path} allow_remote_ui={allow_remote_ui}: {body}"
            );
            // Loopback always works.
            assert_eq!(h.get(path).0, 200, "/{path} over loopback");
        }
    }
}

#[test]
fn a_foreign_host_header_is_refused_for_the_page() {
    let h = start();
    let addr = h.server.local_addr();
    let status = raw(
        addr,
        "GET /api/status HTTP/1.1\r\nHost: attacker.example:8090\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
    let status = raw(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: attacker.example:8090\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
}
