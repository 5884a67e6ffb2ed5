//! `tunnel-client doctor` on enterprise networks, through the real binary:
//! private CAs, certificate failures, mutual TLS on both hops, a real CONNECT
//! proxy (credentials, refusals, NO_PROXY) and bad certificate files, against
//! TLS servers and a proxy on 127.0.0.1 (tests/fixtures/pki). No internet.

use crate::support::cli::{self, stderr, stdout};
use crate::support::process::stub_command;
use crate::support::proxy::{ConnectProxy, Mode};
use crate::support::tls_server::{leaf_der, pki, ClientAuth, TestServer};
use crate::support::{closed_port, TempDir, API_KEY, TUNNEL_ID};
use serde_json::Value;
use std::process::Output;

/// The proxy password; it must never be printed.
const PASSWORD: &str = "s3cret-pw";
/// base64("alice:s3cret-pw"), what the proxy expects.
const BASIC: &str = "YWxpY2U6czNjcmV0LXB3";
/// A wrong password, refused by the proxy; never printed either.
const WRONG_PASSWORD: &str = "wrong-pw";
/// base64("alice:wrong-pw"), what doctor must have sent with the wrong password.
const WRONG_BASIC: &str = "YWxpY2U6d3JvbmctcHc=";

fn pem(name: &str) -> String {
    pki(name).display().to_string()
}

/// Runs `doctor --explain` (or `--json`) against the control plane at
/// `cp_url` with the built-in stdio MCP stub and no admin server, plus
/// `extra` flags and `env` variables. The API key is always set.
fn doctor(mode: &str, cp_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let home = TempDir::new("doctor-net");
    let stub = stub_command();
    let mut args = vec![
        "doctor",
        mode,
        "--tunnel-id",
        TUNNEL_ID,
        "--control-plane-url",
        cp_url,
        "--mcp-command",
        &stub,
        "--admin-address",
        "off",
    ];
    args.extend_from_slice(extra);
    let mut vars = vec![("CONTROL_PLANE_API_KEY", API_KEY)];
    vars.extend_from_slice(env);
    let out = cli::run(&args, &vars, home.path());
    assert_no_secrets(&out);
    out
}

/// Neither the API key nor any proxy password ever reaches stdout or stderr.
fn assert_no_secrets(out: &Output) {
    let all = format!("{}{}", stdout(out), stderr(out));
    for secret in [API_KEY, PASSWORD, WRONG_PASSWORD] {
        assert!(!all.contains(secret), "{secret} printed:\n{all}");
    }
    assert!(!all.contains("panicked"), "{all}");
}

/// The report line of check `name` and the `cause:`/`fix:` lines under it.
fn section(out: &Output, name: &str) -> String {
    let text = stdout(out);
    let mut lines = text.lines();
    let Some(first) = lines.find(|l| {
        l.split_once(' ')
            .is_some_and(|(_, rest)| rest.starts_with(name))
    }) else {
        panic!("no {name} line in:\n{text}");
    };
    let mut section = vec![first];
    section.extend(lines.take_while(|l| l.starts_with("    ")));
    section.join("\n")
}

fn status(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The JSON document's entry for check `name`.
fn json_check(out: &Output, name: &str) -> Value {
    let doc: Value = serde_json::from_str(&stdout(out)).expect("doctor --json prints JSON");
    doc["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}

/// `https://127.0.0.1:PORT` (no trailing slash: a control-plane base URL).
fn base(server: &TestServer) -> String {
    format!("https://127.0.0.1:{}", server.port())
}

/// Whether the server answered `GET /v1/tunnels/{TUNNEL_ID}` (waits, bounded).
fn served_tunnel_metadata(server: &TestServer) -> bool {
    let want = format!("GET /v1/tunnels/{TUNNEL_ID} HTTP/1.1");
    server
        .wait_for(1)
        .iter()
        .any(|seen| seen.outcome.as_deref() == Ok(want.as_str()))
}

#[test]
fn the_ca_bundle_makes_the_control_plane_trusted_and_its_absence_is_explained() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let cp = base(&server);

    let out = doctor(
        "--explain",
        &cp,
        &["--ca-bundle", &pem("ca-bundle.pem")],
        &[],
    );
    assert_eq!(status(&out), 0, "{}", stdout(&out));
    let files = section(&out, "certificates");
    assert!(
        files.starts_with("✓") && files.contains("CA bundle: 2 certificates (--ca-bundle)"),
        "{files}"
    );
    let line = section(&out, "control plane");
    assert!(line.starts_with("✓"), "{line}");
    assert!(line.contains("DNS, TCP, TLS, GET 200"), "{line}");
    assert!(served_tunnel_metadata(&server));
    assert!(section(&out, "proxy").contains("none"));

    let out = doctor("--explain", &cp, &[], &[]);
    assert_eq!(status(&out), 1);
    let line = section(&out, "control plane");
    assert!(line.starts_with("✗"), "{line}");
    assert!(
        line.contains("the server's certificate is not trusted: add its CA with --ca-bundle"),
        "{line}"
    );
    assert!(
        line.contains("fix:   pass the CA certificate that issued it with --ca-bundle PEM"),
        "{line}"
    );
}

#[test]
fn wrong_name_and_expired_certificates_are_explained() {
    let wrong = TestServer::https(
        "server-wrong-name.pem",
        "server-wrong-name.key",
        ClientAuth::Off,
    );
    let bundle = ["--ca-bundle", &pem("ca-bundle.pem")];
    let out = doctor("--explain", &base(&wrong), &bundle, &[]);
    assert_eq!(status(&out), 1);
    let line = section(&out, "control plane");
    assert!(line.starts_with("✗"), "{line}");
    assert!(
        line.contains("not valid for the name 127.0.0.1 (name mismatch)"),
        "{line}"
    );
    assert!(
        line.contains("cause: the certificate was issued for other names than 127.0.0.1"),
        "{line}"
    );

    let expired = TestServer::https("server-expired.pem", "server-expired.key", ClientAuth::Off);
    let out = doctor("--json", &base(&expired), &bundle, &[]);
    assert_eq!(status(&out), 1);
    let check = json_check(&out, "control plane");
    assert_eq!(check["status"], "fail", "{check}");
    let detail = check["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("the server's certificate has expired"),
        "{check}"
    );
    assert!(
        check["fix"].as_str().unwrap_or_default().contains("renew"),
        "{check}"
    );
}

#[test]
fn a_control_plane_that_requires_mtls_names_the_flags_and_accepts_the_certificate() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Required);
    let cp = base(&server);
    let bundle = ["--ca-bundle", &pem("ca-bundle.pem")];

    let out = doctor("--explain", &cp, &bundle, &[]);
    assert_eq!(status(&out), 1);
    let line = section(&out, "control plane");
    assert!(line.starts_with("✗"), "{line}");
    assert!(line.contains("requires a client certificate"), "{line}");
    assert!(line.contains("fix:   pass the client certificate issued for this agent with --control-plane-cert PEM and --control-plane-key PEM"), "{line}");

    let mut flags = bundle.to_vec();
    let (cert, key) = (pem("client-cp.pem"), pem("client-cp.key"));
    flags.extend(["--control-plane-cert", &cert, "--control-plane-key", &key]);
    let out = doctor("--explain", &cp, &flags, &[]);
    assert_eq!(status(&out), 0, "{}", stdout(&out));
    let files = section(&out, "certificates");
    assert!(
        files.contains("control-plane client certificate: key matches"),
        "{files}"
    );
    let line = section(&out, "control plane");
    assert!(
        line.contains("TLS with client certificate, GET 200"),
        "{line}"
    );
    let presented: Vec<_> = server
        .seen()
        .into_iter()
        .filter_map(|s| s.client_cert)
        .collect();
    assert!(
        presented.contains(&leaf_der("client-cp.pem")),
        "{presented:?}"
    );
}

#[test]
fn the_mcp_check_uses_the_mcp_hops_trust_and_client_certificate() {
    let cp = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let mcp = TestServer::https("server.pem", "server.key", ClientAuth::Required);
    let mcp_url = format!("{}mcp", mcp.url("https"));
    // doctor() passes --mcp-command; this check needs --mcp-server-url instead.
    let home = TempDir::new("doctor-net-mcp");
    let run_with = |extra: &[&str], env: &[(&str, &str)]| {
        let cp_url = base(&cp);
        let mut args = vec![
            "doctor",
            "--explain",
            "--tunnel-id",
            TUNNEL_ID,
            "--control-plane-url",
            &cp_url,
            "--mcp-server-url",
            &mcp_url,
            "--admin-address",
            "off",
            "--ca-bundle",
        ];
        let bundle = pem("ca-bundle.pem");
        args.push(&bundle);
        args.extend_from_slice(extra);
        let mut vars = vec![("CONTROL_PLANE_API_KEY", API_KEY)];
        vars.extend_from_slice(env);
        let out = cli::run(&args, &vars, home.path());
        assert_no_secrets(&out);
        out
    };
    let run = |extra: &[&str]| run_with(extra, &[]);
    // Trusted for the MCP hop alone by --mcp-ca-bundle, but no client certificate.
    let root = pem("root-ca.pem");
    let out = run(&["--mcp-ca-bundle", &root]);
    let line = section(&out, "MCP server reachable");
    assert!(line.starts_with("✗"), "{line}");
    assert!(
        line.contains("--mcp-client-cert PEM and --mcp-client-key PEM"),
        "{line}"
    );
    assert!(section(&out, "control plane").starts_with("✓"));

    let (cert, key) = (pem("client-mcp.pem"), pem("client-mcp.key"));
    let out = run(&[
        "--mcp-ca-bundle",
        &root,
        "--mcp-client-cert",
        &cert,
        "--mcp-client-key",
        &key,
    ]);
    let line = section(&out, "MCP server reachable");
    assert!(line.starts_with("✓"), "{line}");
    assert!(
        line.contains("DNS, TCP, TLS with client certificate"),
        "{line}"
    );
    let presented: Vec<_> = mcp
        .seen()
        .into_iter()
        .filter_map(|s| s.client_cert)
        .collect();
    assert!(
        presented.contains(&leaf_der("client-mcp.pem")),
        "{presented:?}"
    );
    // The control plane never saw the MCP hop's certificate.
    assert!(cp.seen().iter().all(|s| s.client_cert.is_none()));

    // Behind a proxy, both destinations get a real CONNECT, and the MCP
    // server is still reached with its own certificate through the tunnel.
    let proxy = ConnectProxy::start(Mode::Basic {
        expected: BASIC.to_string(),
    });
    let proxy_url = proxy.url(Some(&format!("alice:{PASSWORD}")));
    let flags = [
        "--mcp-ca-bundle",
        &root,
        "--mcp-client-cert",
        &cert,
        "--mcp-client-key",
        &key,
    ];
    let out = run_with(&flags, &[("HTTPS_PROXY", &proxy_url)]);
    let line = section(&out, "proxy");
    let mcp_target = format!("127.0.0.1:{}", mcp.port());
    assert!(line.starts_with("✓"), "{line}");
    assert!(
        line.contains(&format!(
            "CONNECT to MCP server {mcp_target} through {} works",
            proxy.addr
        )),
        "{line}"
    );
    let line = section(&out, "MCP server reachable");
    assert!(
        line.contains(&format!(
            "CONNECT via proxy {}, TLS with client certificate",
            proxy.addr
        )),
        "{line}"
    );
    let to_mcp = proxy
        .wait_for(4)
        .iter()
        .filter(|s| s.target() == mcp_target)
        .count();
    assert!(
        to_mcp >= 2,
        "the proxy check and the reachability check: {to_mcp}"
    );

    // An MCP bundle that does not hold the server's CA: the MCP hop's own flag is named.
    let other = pem("other-ca.pem");
    let out = run(&[
        "--mcp-ca-bundle",
        &other,
        "--mcp-client-cert",
        &cert,
        "--mcp-client-key",
        &key,
    ]);
    let line = section(&out, "MCP server reachable");
    assert!(
        line.contains("not trusted") && line.contains("--mcp-ca-bundle"),
        "{line}"
    );
}

#[test]
fn a_working_connect_proxy_is_reported_and_used_with_its_credentials() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let proxy = ConnectProxy::start(Mode::Basic {
        expected: BASIC.to_string(),
    });
    let proxy_url = proxy.url(Some(&format!("alice:{PASSWORD}")));
    let out = doctor(
        "--explain",
        &base(&server),
        &["--ca-bundle", &pem("ca-bundle.pem")],
        &[("HTTPS_PROXY", &proxy_url)],
    );
    assert_eq!(status(&out), 0, "{}", stdout(&out));
    let target = format!("127.0.0.1:{}", server.port());
    let line = section(&out, "proxy");
    assert!(
        line.starts_with("✓")
            && line.contains(&format!(
                "CONNECT to control plane {target} through {} works",
                proxy.addr
            )),
        "{line}"
    );
    let line = section(&out, "control plane");
    assert!(
        line.contains(&format!("CONNECT via proxy {}, TLS, GET 200", proxy.addr)),
        "{line}"
    );
    assert!(served_tunnel_metadata(&server));
    // The proxy check and the control-plane request each made a CONNECT with the credentials.
    let seen = proxy.wait_for(2);
    assert!(seen.len() >= 2, "{seen:?}");
    for s in &seen {
        assert_eq!(s.target(), target);
        assert_eq!(
            s.authorization.as_deref(),
            Some(format!("Basic {BASIC}").as_str())
        );
        assert_eq!(s.status, 200);
    }
}

#[test]
fn proxy_refusals_and_an_unreachable_proxy_say_it_was_the_proxy() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let bundle = ["--ca-bundle", &pem("ca-bundle.pem")];

    // 407: wrong credentials.
    let proxy = ConnectProxy::start(Mode::Basic {
        expected: BASIC.to_string(),
    });
    let proxy_url = proxy.url(Some(&format!("alice:{WRONG_PASSWORD}")));
    let out = doctor(
        "--explain",
        &base(&server),
        &bundle,
        &[("https_proxy", &proxy_url)],
    );
    assert_eq!(status(&out), 1);
    let line = section(&out, "proxy");
    assert!(line.starts_with("✗"), "{line}");
    assert!(
        line.contains(&format!(
            "the proxy {} refused the connection (407 Proxy Authentication Required)",
            proxy.addr
        )),
        "{line}"
    );
    assert!(
        line.contains("cause: the proxy requires credentials"),
        "{line}"
    );
    assert!(line.contains("http://user:password@host:port"), "{line}");
    // The control plane is reached through the same proxy: same words there.
    assert!(section(&out, "control plane").contains("407 Proxy Authentication Required"));
    let seen = proxy.wait_for(1);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Basic {WRONG_BASIC}").as_str())
    );

    // The same through --json.
    let out = doctor(
        "--json",
        &base(&server),
        &bundle,
        &[("https_proxy", &proxy_url)],
    );
    let check = json_check(&out, "proxy");
    assert_eq!(check["status"], "fail");
    assert!(
        check["cause"]
            .as_str()
            .unwrap_or_default()
            .contains("credentials"),
        "{check}"
    );

    // 403 and 502: the proxy's policy, the proxy's upstream.
    for (status_code, words, cause) in [
        (403, "(403 Forbidden)", "forbids"),
        (502, "(502 Bad Gateway)", "could not reach the destination"),
    ] {
        let proxy = ConnectProxy::start(Mode::Refuse(status_code));
        let out = doctor(
            "--explain",
            &base(&server),
            &bundle,
            &[("HTTPS_PROXY", &proxy.url(None))],
        );
        let line = section(&out, "proxy");
        assert!(
            line.contains("refused the connection") && line.contains(words),
            "{line}"
        );
        assert!(line.contains(cause), "{line}");
    }

    // Nothing listens where the proxy should be.
    let port = closed_port();
    let out = doctor(
        "--explain",
        &base(&server),
        &bundle,
        &[(
            "HTTPS_PROXY",
            &format!("http://alice:{PASSWORD}@127.0.0.1:{port}"),
        )],
    );
    let line = section(&out, "proxy");
    assert!(line.starts_with("✗"), "{line}");
    assert!(
        line.contains(&format!("could not reach the proxy 127.0.0.1:{port}")),
        "{line}"
    );
}

#[test]
fn no_proxy_bypass_is_reported_and_the_proxy_is_not_used() {
    let server = TestServer::https("server.pem", "server.key", ClientAuth::Off);
    let proxy = ConnectProxy::start(Mode::Open);
    let out = doctor(
        "--explain",
        &base(&server),
        &["--ca-bundle", &pem("ca-bundle.pem")],
        &[
            ("HTTPS_PROXY", &proxy.url(None)),
            ("NO_PROXY", "localhost,127.0.0.0/8"),
        ],
    );
    assert_eq!(status(&out), 0, "{}", stdout(&out));
    let line = section(&out, "proxy");
    assert!(
        line.contains(&format!(
            "control plane 127.0.0.1:{} goes direct (NO_PROXY)",
            server.port()
        )),
        "{line}"
    );
    assert!(section(&out, "control plane").contains("DNS, TCP, TLS, GET 200"));
    assert!(served_tunnel_metadata(&server));
    // doctor has exited: any connection to the proxy would have been recorded.
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());

    // A bad NO_PROXY entry is a configuration error naming the variable.
    let out = doctor(
        "--explain",
        &base(&server),
        &[],
        &[
            ("HTTPS_PROXY", &proxy.url(None)),
            ("no_proxy", "10.0.0.0/99"),
        ],
    );
    assert_eq!(status(&out), 1);
    let line = section(&out, "proxy");
    assert!(line.starts_with("✗"), "{line}");
    assert!(
        line.contains("environment variable no_proxy") && line.contains("10.0.0.0/99"),
        "{line}"
    );
}

#[test]
fn bad_certificate_files_stop_run_with_exit_2_and_fail_the_doctor_certificates_line() {
    let home = TempDir::new("doctor-net-run");
    let garbage = pem("garbage.pem");
    // `run` refuses to start: exit 2, one sentence naming the flag and the file.
    let out = cli::run(
        &[
            "run",
            "--tunnel-id",
            TUNNEL_ID,
            "--mcp-command",
            "x",
            "--ca-bundle",
            &garbage,
        ],
        &[("CONTROL_PLANE_API_KEY", API_KEY)],
        home.path(),
    );
    assert_eq!(status(&out), 2);
    let err = stderr(&out);
    assert!(
        err.starts_with("tunnel-client: --ca-bundle: ") && err.contains("garbage.pem"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_no_secrets(&out);

    // doctor reports instead of exiting 2: ✗ configuration and ✗ certificates, exit 1.
    let unused = "https://127.0.0.1:9";
    let out = doctor("--explain", unused, &["--ca-bundle", &garbage], &[]);
    assert_eq!(status(&out), 1);
    assert!(section(&out, "configuration").starts_with("✗"));
    let line = section(&out, "certificates");
    assert!(line.starts_with("✗"), "{line}");
    assert!(
        line.contains("garbage.pem") && line.contains("no PEM data found"),
        "{line}"
    );
    assert!(
        line.contains("fix:   point --ca-bundle at the right PEM file"),
        "{line}"
    );
    assert!(
        section(&out, "control plane").starts_with("!"),
        "not checked"
    );

    // A mismatched pair on the MCP hop.
    let (cert, key) = (pem("client-mcp.pem"), pem("client-cp.key"));
    let out = doctor(
        "--explain",
        unused,
        &["--mcp-client-cert", &cert, "--mcp-client-key", &key],
        &[],
    );
    let line = section(&out, "certificates");
    assert!(
        line.starts_with("✗") && line.contains("does not match"),
        "{line}"
    );
    assert!(line.contains("openssl pkey -pubout"), "{line}");
}
