//! The operator surface through the real binary: version, help, completions,
//! samples, init, profiles list, doctor against a scripted control plane, JSON logs.

use crate::support::cli::*;
use crate::support::control_plane::{MockControlPlane, Scripted};
use crate::support::process::{stub_command, Process, CLIENT};
use crate::support::{closed_port, TempDir, API_KEY, TUNNEL_ID};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn version_names_version_and_target() {
    let dir = TempDir::new("version");
    for flag in ["--version", "-V"] {
        let out = run(&[flag], &[], dir.path());
        assert_eq!(out.status.code(), Some(0));
        let text = stdout(&out);
        assert!(
            text.starts_with(&format!("tunnel-client {}", env!("CARGO_PKG_VERSION"))),
            "{text}"
        );
        assert!(text.contains("linux") || text.contains("darwin"), "{text}");
    }
}

#[test]
fn help_topics_and_command_help() {
    let dir = TempDir::new("help");
    let main = stdout(&run(&["help"], &[], dir.path()));
    for word in [
        "run",
        "init",
        "doctor",
        "profiles",
        "completions",
        "dev mcp-stub",
        "quickstart",
        "troubleshooting",
        "security",
    ] {
        assert!(main.contains(word), "{word}");
    }
    let quick = stdout(&run(&["help", "quickstart"], &[], dir.path()));
    assert!(
        quick.contains("tunnel-relay")
            && quick.contains("dev mcp-stub")
            && quick.contains("doctor")
    );
    for topic in ["samples", "doctor", "troubleshooting", "security"] {
        let out = run(&["help", topic], &[], dir.path());
        assert_eq!(out.status.code(), Some(0), "{topic}");
        assert!(stdout(&out).len() > 300, "{topic}");
    }
    let run_help = stdout(&run(&["run", "--help"], &[], dir.path()));
    for want in [
        "--tunnel-id ID",
        "env: CONTROL_PLANE_TUNNEL_ID",
        "default: https://api.openai.com",
        "default: 30000",
        "CONTROL_PLANE_API_KEY",
        "profile: max_concurrent_requests",
    ] {
        assert!(run_help.contains(want), "{want}");
    }
    let doctor_help = stdout(&run(&["doctor", "--help"], &[], dir.path()));
    assert!(doctor_help.contains("--explain") && doctor_help.contains("--json"));
    assert!(stdout(&run(&["init", "--help"], &[], dir.path())).contains("--force"));
}

#[test]
fn completions_are_the_packaged_files() {
    let dir = TempDir::new("compl");
    for (shell, file) in [
        ("bash", "tunnel-client.bash"),
        ("zsh", "_tunnel-client"),
        ("fish", "tunnel-client.fish"),
    ] {
        let out = run(&["completions", shell], &[], dir.path());
        assert_eq!(out.status.code(), Some(0));
        let shipped = std::fs::read(format!("{ROOT}/packaging/completions/{file}")).unwrap();
        assert_eq!(out.stdout, shipped, "{shell}");
    }
    let bash = Command::new("bash")
        .arg("-n")
        .arg(format!("{ROOT}/packaging/completions/tunnel-client.bash"))
        .status()
        .unwrap();
    assert!(bash.success());
}

#[test]
fn samples_list_and_show() {
    let dir = TempDir::new("samples");
    let list = stdout(&run(&["profiles", "samples", "list"], &[], dir.path()));
    for name in [
        "sample_mcp_stdio_local",
        "sample_mcp_http",
        "sample_mcp_enterprise_proxy",
        "sample_harpoon",
    ] {
        assert!(list.contains(name));
        let show = stdout(&run(
            &["profiles", "samples", "show", name],
            &[],
            dir.path(),
        ));
        assert!(
            show.contains("required inputs") && show.contains("--tunnel-id"),
            "{name}"
        );
        let json: String = show
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["api_key"], "env:CONTROL_PLANE_API_KEY");
    }
    let out = run(&["profiles", "samples", "show", "nope"], &[], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn init_writes_a_private_profile_and_never_overwrites() {
    let home = TempDir::new("init");
    let args = [
        "init",
        "--sample",
        "sample_mcp_stdio_local",
        "--profile",
        "first",
        "--tunnel-id",
        TUNNEL_ID,
        "--mcp-command",
        "tunnel-client dev mcp-stub",
    ];
    let out = run(&args, &[("CONTROL_PLANE_API_KEY", API_KEY)], home.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("tunnel-client doctor --profile first"),
        "{text}"
    );
    assert!(text.contains("tunnel-client run --profile first"), "{text}");
    assert!(!text.contains(API_KEY));
    let dir = home.path().join(".tunnel-client/profiles");
    let file = dir.join("first.json");
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(!written.contains(API_KEY));
    let v: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(v["tunnel_id"], TUNNEL_ID);
    assert_eq!(v["mcp_command"], "tunnel-client dev mcp-stub");

    let again = run(&args, &[], home.path());
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut forced: Vec<&str> = args.to_vec();
    forced[7] = "--mcp-server-url";
    forced[8] = "http://10.1.2.3:8000/mcp";
    forced.push("--force");
    let out = run(&forced, &[], home.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("export CONTROL_PLANE_API_KEY"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["mcp_server_url"], "http://10.1.2.3:8000/mcp");
    assert!(v.get("mcp_command").is_none());

    let list = stdout(&run(&["profiles", "list"], &[], home.path()));
    assert!(list.contains("first"), "{list}");
    let custom = TempDir::new("init-dir");
    let dir_arg = custom.path().join("p").display().to_string();
    let out = run(
        &["profiles", "list", "--profile-dir", &dir_arg],
        &[],
        home.path(),
    );
    assert!(stdout(&out).contains("no profiles"));
}

fn doctor_json(
    url: &str,
    extra: &[&str],
    home: &std::path::Path,
) -> (serde_json::Value, std::process::Output) {
    let stub = stub_command();
    let mut args = vec![
        "doctor",
        "--json",
        "--tunnel-id",
        TUNNEL_ID,
        "--mcp-command",
        &stub,
        "--admin-address",
        "off",
        "--control-plane-url",
        url,
    ];
    args.extend_from_slice(extra);
    let out = run(&args, &[("CONTROL_PLANE_API_KEY", API_KEY)], home);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    (v, out)
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

#[test]
fn doctor_explains_control_plane_answers() {
    let home = TempDir::new("doctor");
    let cases = [
        (
            200,
            r#"{"id":"x","name":"Production MCP"}"#,
            "pass",
            "Production MCP",
        ),
        (401, "{}", "fail", "401"),
        (403, "{}", "fail", "403"),
        (404, "{}", "fail", "unknown"),
    ];
    for (status, body, mark, detail) in cases {
        let control_plane = MockControlPlane::start();
        control_plane.script_metadata(Scripted::status(status).with_body(body));
        let (report, out) = doctor_json(&control_plane.url, &[], home.path());
        let cp = check(&report, "control plane");
        assert_eq!(cp["status"], mark, "{status}: {cp}");
        assert!(
            cp["detail"].as_str().unwrap().contains(detail),
            "{status}: {cp}"
        );
        if mark == "fail" {
            assert!(!cp["fix"].as_str().unwrap().is_empty());
            assert_eq!(out.status.code(), Some(1));
        }
        let requests = control_plane.requests();
        let [get] = requests.as_slice() else {
            panic!("one request expected: {requests:?}");
        };
        let line = format!("{} {} {}", get.method, get.url, get.version);
        assert_eq!(line, format!("GET /v1/tunnels/{TUNNEL_ID} HTTP/1.1"));
        assert_eq!(
            get.header("Authorization"),
            Some(format!("Bearer {API_KEY}").as_str())
        );
        assert_eq!(get.header("X-Tunnel-Client-Name"), Some("tunnel-client-rs"));
        assert!(get.header("X-Tunnel-Client-Version").is_some());
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains(API_KEY), "secret printed");
        let names: Vec<&str> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "configuration",
                "tunnel id",
                "API key",
                "certificates",
                "proxy",
                "control plane",
                "MCP server reachable",
                "MCP server answers",
                "OAuth discovery",
                "admin address"
            ]
        );
        assert_eq!(check(&report, "API key")["status"], "pass");
    }
}

#[test]
fn doctor_text_is_plain_and_explains_failures() {
    let home = TempDir::new("doctor-text");
    let port = closed_port();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let args = [
        "doctor",
        "--explain",
        "--tunnel-id",
        TUNNEL_ID,
        "--mcp-command",
        "/nonexistent/server --stdio",
        "--control-plane-url",
        &url,
        "--admin-address",
        &busy_addr,
    ];
    let out = run(&args, &[("CONTROL_PLANE_API_KEY", API_KEY)], home.path());
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(!text.contains('\x1b'), "colour codes when not a terminal");
    assert!(text.contains("✓ configuration"), "{text}");
    assert!(
        text.contains("✗ control plane") && text.contains("refused"),
        "{text}"
    );
    assert!(
        text.contains("✗ MCP server reachable")
            && text.contains("/nonexistent/server does not exist"),
        "{text}"
    );
    assert!(
        text.contains("✗ admin address") && text.contains("in use"),
        "{text}"
    );
    assert!(
        text.contains("    cause: ") && text.contains("    fix:   "),
        "{text}"
    );
    assert!(text.contains("failed"), "{text}");
    assert!(!text.contains(API_KEY) && !stderr(&out).contains(API_KEY));
    drop(busy);

    // Without a key and with a broken tunnel id, the named checks fail and the rest are skipped.
    let out = run(
        &["doctor", "--tunnel-id", "nope", "--mcp-command", "x"],
        &[],
        home.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("✗ configuration")
            && text.contains("✗ tunnel id")
            && text.contains("✗ API key"),
        "{text}"
    );
    assert!(text.contains("! control plane"), "{text}");
}

#[test]
fn doctor_usage_errors_exit_2() {
    let home = TempDir::new("doctor-usage");
    let out = run(&["doctor", "--bogus"], &[], home.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--bogus"));
}

#[test]
fn json_log_lines_and_no_secret() {
    let home = TempDir::new("jsonlog");
    let profile = home.write(
        "p.json",
        &format!(r#"{{"tunnel_id": "{TUNNEL_ID}", "mcp_command": "tunnel-client dev mcp-stub", "api_key": "env:MY_KEY", "admin_ui_enabled": false}}"#),
    );
    let port = closed_port();
    let mut run = Command::new(CLIENT);
    run.args([
        "run",
        "--profile-file",
        profile.to_str().unwrap(),
        "--log-format",
        "json",
        "--log-level",
        "trace",
    ])
    .args(["--control-plane-url", &format!("http://127.0.0.1:{port}")])
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .env("MY_KEY", API_KEY);
    let agent = Process::spawn(run);
    // The agent keeps running after the "using profile" line; what it logged until then is checked.
    agent.wait_for_output("using profile");
    let stderr = agent.stderr();
    let seen: Vec<&str> = stderr.lines().collect();
    let line = seen
        .iter()
        .find(|l| l.contains("using profile"))
        .unwrap_or_else(|| panic!("no 'using profile' line on stderr in {seen:?}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    for key in ["ts", "level", "target", "msg"] {
        assert!(v.get(key).is_some(), "{key} in {line}");
    }
    assert_eq!(v["level"], "INFO");
    assert!(v["ts"].as_str().unwrap().ends_with('Z'));
    for l in seen {
        assert!(!l.contains(API_KEY), "secret in log: {l}");
        if l.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let target = v["target"].as_str().unwrap_or("");
            assert!(
                !(v["level"] == "TRACE"
                    && (target.starts_with("ureq") || target.starts_with("rustls"))),
                "unclamped trace line: {l}"
            );
        }
    }
}
