//! `tunnel-client health` against real agents and scripted admin servers: healthy, not
//! ready, unreachable, wedged, silent; one line or one JSON object; exit 0, 1 or 2; no file written.

use super::{admin_url, health};
use crate::support::cli::{stderr, stdout};
use crate::support::control_plane::{MockControlPlane, Scripted};
use crate::support::{closed_port, http, process, wait_until, TempDir, TUNNEL_ID, WAIT};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::time::{Duration, Instant};

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// The one line a failed check prints, and nothing on stdout.
fn failure_line(out: &Output) -> String {
    assert_eq!(code(out), Some(1), "{}{}", stdout(out), stderr(out));
    assert_eq!(stdout(out), "");
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

fn json_of(out: &Output) -> Value {
    let text = stdout(out);
    assert_eq!(text.lines().count(), 1, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn wait_ready(base: &str) {
    wait_until(WAIT, "/readyz to say ready", || {
        http::get(&format!("{base}/readyz")).status == 200
    });
}

#[test]
fn a_healthy_ready_agent_passes_by_url_file_port_url_and_pid_file() {
    let dir = TempDir::new("health-ok");
    let scratch = TempDir::new("health-cwd");
    let url_file = dir.path().join("admin.url");
    let pid_file = dir.path().join("agent.pid");
    let (url_file_arg, pid_file_arg) = (url_file.to_str().unwrap(), pid_file.to_str().unwrap());
    let cp = MockControlPlane::start();
    let mut agent = process::agent(
        &cp.url,
        &[
            "--admin-address",
            "127.0.0.1:0",
            "--admin-url-file",
            url_file_arg,
            "--pid-file",
            pid_file_arg,
        ],
    );
    let base = admin_url(&url_file);
    wait_ready(&base);
    let port = base.rsplit(':').next().unwrap().to_string();

    for args in [
        vec!["--url-file", url_file_arg],
        vec!["--port", port.as_str()],
        vec!["--url", base.as_str()],
        vec![
            "--url",
            base.as_str(),
            "--require-ready",
            "--pid-file",
            pid_file_arg,
        ],
    ] {
        let out = health(&args, scratch.path());
        assert_eq!(code(&out), Some(0), "{args:?}: {}", stderr(&out));
        let line = stdout(&out);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.starts_with("healthy, ready ("), "{line}");
        assert!(line.contains(TUNNEL_ID) && line.contains(&base), "{line}");
        assert_eq!(stderr(&out), "");
    }

    let out = health(
        &[
            "--url-file",
            url_file_arg,
            "--pid-file",
            pid_file_arg,
            "--require-ready",
            "--json",
        ],
        scratch.path(),
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["ok"], true);
    assert_eq!(report["healthy"], true);
    assert_eq!(report["ready"], true);
    assert_eq!(report["reason"], Value::Null);
    assert_eq!(report["url"], format!("{base}/"));
    assert_eq!(report["healthz_status"], 200);
    assert_eq!(report["readyz_status"], 200);
    assert_eq!(report["tunnel_id"], TUNNEL_ID);
    assert_eq!(report["connected"], true);
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["pid"], agent.pid());
    // A health check leaves nothing behind where it runs.
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);

    assert!(agent.terminate(WAIT).success());
    // The agent removed its pid file; its address no longer answers.
    let line = failure_line(&health(&["--pid-file", pid_file_arg], scratch.path()));
    assert!(
        line.contains("unhealthy: the pid file") && line.contains("does not exist"),
        "{line}"
    );
    let line = failure_line(&health(&["--url-file", url_file_arg], scratch.path()));
    assert!(line.contains("connection refused"), "{line}");
}

#[test]
fn a_live_agent_that_is_not_ready_passes_only_without_require_ready() {
    let dir = TempDir::new("health-not-ready");
    let url_file = dir.path().join("admin.url");
    let cp = MockControlPlane::start();
    // A refused key: the agent is alive but not ready (and retries only once a minute).
    cp.script_poll(Scripted::status(401));
    let _agent = process::agent(
        &cp.url,
        &[
            "--admin-address",
            "127.0.0.1:0",
            "--admin-url-file",
            url_file.to_str().unwrap(),
        ],
    );
    let base = admin_url(&url_file);
    wait_until(WAIT, "/readyz to report the refused key", || {
        http::get(&format!("{base}/readyz"))
            .body
            .contains("refused the API key")
    });

    let out = health(&["--url", &base], dir.path());
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(
        line.starts_with("healthy, not ready: the control plane refused the API key (HTTP 401)"),
        "{line}"
    );

    let out = health(&["--url", &base, "--require-ready"], dir.path());
    let line = failure_line(&out);
    assert!(
        line.starts_with(
            "tunnel-client health: not ready: the control plane refused the API key (HTTP 401)"
        ),
        "{line}"
    );

    let out = health(&["--url", &base, "--require-ready", "--json"], dir.path());
    assert_eq!(code(&out), Some(1));
    assert_eq!(stderr(&out), "");
    let report = json_of(&out);
    assert_eq!(report["ok"], false);
    assert_eq!(report["healthy"], true);
    assert_eq!(report["ready"], false);
    assert_eq!(report["readyz_status"], 503);
    assert!(
        report["reason"].as_str().unwrap().contains("HTTP 401"),
        "{report}"
    );
}

/// A server that answers every connection with `answer` (or, when `None`,
/// reads the request and never answers) until the test ends.
fn scripted_admin(answer: Option<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            match &answer {
                Some(answer) => {
                    let _ = stream.write_all(answer.as_bytes());
                }
                None => held.push(stream),
            }
        }
    });
    url
}

#[test]
fn an_unreachable_wedged_silent_or_foreign_server_is_unhealthy_in_one_line() {
    let dir = TempDir::new("health-bad");
    let port = closed_port().to_string();
    let line = failure_line(&health(&["--port", &port], dir.path()));
    assert_eq!(
        line,
        format!("tunnel-client health: unhealthy: cannot reach the admin server at http://127.0.0.1:{port}/: connection refused (is the agent running with its admin server there?)\n")
    );
    let report = json_of(&health(&["--port", &port, "--json"], dir.path()));
    assert_eq!(report["ok"], false);
    assert_eq!(report["healthy"], false);
    assert_eq!(report["healthz_status"], Value::Null);
    assert!(report["reason"]
        .as_str()
        .unwrap()
        .contains("connection refused"));

    // What the admin server says when the poll loop is stuck: its reason, one line.
    let body = r#"{"status":"unhealthy","reason":"the poll loop has not reported for 200 s\nINJECTED: line"}"#;
    let wedged = scripted_admin(Some(format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )));
    let line = failure_line(&health(&["--url", &wedged], dir.path()));
    assert_eq!(
        line,
        "tunnel-client health: unhealthy: the poll loop has not reported for 200 s INJECTED: line\n"
    );

    let foreign = scripted_admin(Some(
        "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found".to_string(),
    ));
    let line = failure_line(&health(
        &["--url", &format!("{foreign}/prefix/")],
        dir.path(),
    ));
    assert!(
        line.contains(&format!("{foreign}/prefix/healthz answered HTTP 404")),
        "{line}"
    );
    assert!(line.contains("is this the agent's admin server?"), "{line}");

    let silent = scripted_admin(None);
    let started = Instant::now();
    let line = failure_line(&health(&["--url", &silent, "--timeout", "1"], dir.path()));
    assert!(line.contains("no answer within 1 s (--timeout)"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it did not hang"
    );
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    let dir = TempDir::new("health-usage");
    for (args, named) in [
        (&["--port", "0"][..], "--port"),
        (&["--port", "http"], "--port"),
        (&["--url", "https://127.0.0.1:8090"], "plain http"),
        (&["--url", "http://user:pw@127.0.0.1:1"], "credentials"),
        (&["--timeout", "0"], "--timeout"),
        (&["--timeout", "301"], "--timeout"),
        (
            &["--url", "http://127.0.0.1:1", "--port", "2"],
            "--url and --port",
        ),
        (&["--url-file"], "--url-file needs a value"),
        (&["--require-redy"], "did you mean --require-ready?"),
        (&["extra"], "unexpected argument"),
    ] {
        let out = health(args, dir.path());
        assert_eq!(code(&out), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains(named) && err.contains("tunnel-client health --help"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("pw"), "{err}");
        assert_eq!(stdout(&out), "");
    }
}
