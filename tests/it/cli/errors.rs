//! Every usage or configuration mistake ends with exit status 2 and one
//! sentence on stderr naming the flag, variable, key or file — through the real binary.

use crate::support::cli::*;
use crate::support::{TempDir, API_KEY, TUNNEL_ID};

/// (name, args, extra env, profile text written to p.json, expected status, expected substrings)
type Case = (
    &'static str,
    Vec<String>,
    Vec<(&'static str, String)>,
    Option<String>,
    i32,
    Vec<&'static str>,
);

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn bad_inputs_exit_2_with_a_sentence_naming_the_culprit() {
    let dir = TempDir::new("errors");
    let cert = dir.write("a.crt", CERT_A).display().to_string();
    let key_a = dir.write("a.key", KEY_A).display().to_string();
    let key_b = dir.write("b.key", KEY_B).display().to_string();
    let not_pem = dir.write("notpem.txt", "hello\n").display().to_string();
    let empty_key = dir.write("empty.key", "  \n").display().to_string();
    let profile = dir.path().join("p.json").display().to_string();
    let key = || vec![("CONTROL_PLANE_API_KEY", API_KEY.to_string())];
    let stub = ["--mcp-command", "tunnel-client dev mcp-stub"];
    let run_with = |extra: &[&str]| {
        let mut v = s(&["run", "--tunnel-id", TUNNEL_ID]);
        v.extend(s(&stub));
        v.extend(s(extra));
        v
    };
    let with_profile = || s(&["run", "--profile-file", &profile]);
    let prof = |body: &str| {
        Some(format!(
            "{{\"tunnel_id\": \"{TUNNEL_ID}\", \"mcp_command\": \"x\", {body}}}"
        ))
    };

    let cases: Vec<Case> = vec![
        ("bad tunnel id", s(&["run", "--tunnel-id", "tunnel_XYZ", "--mcp-command", "x"]), key(), None, 2, vec!["--tunnel-id", "not a tunnel id"]),
        ("bad tunnel id from env", s(&["run", "--mcp-command", "x"]), vec![("CONTROL_PLANE_API_KEY", API_KEY.into()), ("CONTROL_PLANE_TUNNEL_ID", "abc".into())], None, 2, vec!["CONTROL_PLANE_TUNNEL_ID"]),
        ("no tunnel id", s(&["run", "--mcp-command", "x"]), key(), None, 2, vec!["tunnel id", "--tunnel-id"]),
        ("neither MCP target", s(&["run", "--tunnel-id", TUNNEL_ID]), key(), None, 2, vec!["--mcp-server-url", "--mcp-command"]),
        ("main bound twice (A4)", run_with(&["--mcp-server-url", "http://10.0.0.1/mcp"]), key(), None, 2, vec!["--mcp-command: entry 1", "the channel main is bound twice"]),
        ("unclosed quote", s(&["run", "--tunnel-id", TUNNEL_ID, "--mcp-command", "python 'my server"]), key(), None, 2, vec!["--mcp-command", "quote"]),
        ("bad MCP URL scheme", s(&["run", "--tunnel-id", TUNNEL_ID, "--mcp-server-url", "ftp://x/mcp"]), key(), None, 2, vec!["--mcp-server-url", "ftp"]),
        ("plain http control plane", run_with(&["--control-plane-url", "http://cp.example.com"]), key(), None, 2, vec!["--control-plane-url", "plain http", "https://"]),
        ("bad control plane scheme", run_with(&["--control-plane-url", "ws://127.0.0.1:1"]), key(), None, 2, vec!["--control-plane-url", "ws"]),
        ("control plane URL credentials", run_with(&["--control-plane-url", &format!("https://u:{API_KEY}@cp.example.com")]), key(), None, 2, vec!["--control-plane-url", "credentials"]),
        ("control plane not a URL", run_with(&["--control-plane-url", "cp.example.com"]), key(), None, 2, vec!["--control-plane-url", "scheme://host"]),
        ("missing API key", run_with(&[]), vec![], None, 2, vec!["API key", "CONTROL_PLANE_API_KEY"]),
        ("negative concurrency", run_with(&["--max-concurrency", "-3"]), key(), None, 2, vec!["--max-concurrency", "negative"]),
        ("zero request timeout", run_with(&["--request-timeout", "0"]), key(), None, 2, vec!["--request-timeout", "out of range"]),
        ("non-number poll timeout", run_with(&["--poll-timeout-ms", "soon"]), key(), None, 2, vec!["--poll-timeout-ms", "whole number"]),
        ("negative shutdown grace", run_with(&["--shutdown-grace", "-1"]), key(), None, 2, vec!["--shutdown-grace", "negative"]),
        ("bad log format", run_with(&["--log-format", "xml"]), key(), None, 2, vec!["--log-format", "text or json"]),
        ("bad log level", run_with(&["--log-level", "loud"]), key(), None, 2, vec!["--log-level", "trace"]),
        ("bad admin address", run_with(&["--admin-address", "everywhere"]), key(), None, 2, vec!["--admin-address", "HOST:PORT"]),
        ("unreadable cert", run_with(&["--control-plane-cert", "/nonexistent/c.pem", "--control-plane-key", &key_a]), key(), None, 2, vec!["--control-plane-cert", "/nonexistent/c.pem", "no such file"]),
        ("cert without key", run_with(&["--mcp-client-cert", &cert]), key(), None, 2, vec!["--mcp-client-cert", "--mcp-client-key"]),
        ("cert/key mismatch", run_with(&["--control-plane-cert", &cert, "--control-plane-key", &key_b]), key(), None, 2, vec!["--control-plane-key", "does not match"]),
        ("CA bundle not PEM", run_with(&["--ca-bundle", &not_pem]), key(), None, 2, vec!["--ca-bundle", "notpem.txt"]),
        ("key file is a cert", run_with(&["--control-plane-cert", &cert, "--control-plane-key", &cert]), key(), None, 2, vec!["--control-plane-key", "private key"]),
        ("unknown flag", run_with(&["--tunel-id", TUNNEL_ID]), key(), None, 2, vec!["--tunel-id", "--tunnel-id"]),
        ("flag without value", s(&["run", "--tunnel-id"]), key(), None, 2, vec!["--tunnel-id needs a value"]),
        ("profile and profile-file", s(&["run", "--profile", "a", "--profile-file", "b.json"]), key(), None, 2, vec!["--profile", "--profile-file"]),
        ("missing profile", s(&["run", "--profile", "nope", "--profile-dir", "/nonexistent-dir"]), key(), None, 2, vec!["profile \"nope\" not found", "/nonexistent-dir/nope.json", "init"]),
        ("missing profile file", s(&["run", "--profile-file", "/nonexistent/p.json"]), key(), None, 2, vec!["/nonexistent/p.json", "no such file"]),
        ("malformed JSON", with_profile(), key(), Some("{\"tunnel_id\": \"x\",,}".into()), 2, vec!["p.json", "not valid JSON", "line 1"]),
        ("top level not an object", with_profile(), key(), Some("[1, 2]".into()), 2, vec!["p.json", "object"]),
        ("unknown key", with_profile(), key(), Some(format!("{{\"tunel_id\": \"{TUNNEL_ID}\"}}")), 2, vec!["unknown key \"tunel_id\"", "did you mean \"tunnel_id\""]),
        ("unknown nested key", with_profile(), key(), prof("\"proxy\": {\"https_proxyy\": \"http://p:1\"}"), 2, vec!["proxy.https_proxyy", "proxy.https_proxy\""]),
        ("literal api_key", with_profile(), vec![], prof(&format!("\"api_key\": \"{API_KEY}\"")), 2, vec!["api_key", "literal API key", "env:CONTROL_PLANE_API_KEY", "file:"]),
        ("api_key env: unset", with_profile(), vec![], prof("\"api_key\": \"env:MY_TUNNEL_KEY\""), 2, vec!["api_key", "MY_TUNNEL_KEY"]),
        ("api_key file: empty", with_profile(), vec![], prof(&format!("\"api_key\": \"file:{empty_key}\"")), 2, vec!["api_key", "empty"]),
        ("number as string", with_profile(), key(), prof("\"max_concurrent_requests\": \"10\""), 2, vec!["max_concurrent_requests", "whole number"]),
        ("negative number in profile", with_profile(), key(), prof("\"poll_interval_ms\": -5"), 2, vec!["poll_interval_ms", "negative"]),
        ("bad stdio_mode", with_profile(), key(), prof("\"stdio_mode\": \"pooled\""), 2, vec!["stdio_mode", "per_session"]),
        ("bad harpoon method", with_profile(), key(), prof("\"harpoon\": {\"enabled\": true, \"targets\": [{\"label\": \"a\", \"base_url\": \"https://a.internal\", \"allowed_methods\": [\"FETCH\"]}]}"), 2, vec!["harpoon.targets[0].allowed_methods", "unknown method"]),
        ("harpoon target URL never echoed", run_with(&["--harpoon-target", &format!("label=a,url=https://u:{API_KEY}@h.internal/")]), key(), None, 2, vec!["--harpoon-target: entry 1, url", "credentials"]),
        ("harpoon plaintext target", run_with(&["--harpoon.target", "label=a,url=http://10.0.0.1/"]), key(), None, 2, vec!["--harpoon.target: entry 1, url", "allow_plaintext_http"]),
        ("harpoon metadata target", run_with(&["--harpoon-allow-plaintext-http", "--harpoon-target", "label=a,url=http://169.254.169.254/"]), key(), None, 2, vec!["--harpoon-target: entry 1, url", "never reachable"]),
        ("harpoon bad entry in the variable", run_with(&[]), vec![("CONTROL_PLANE_API_KEY", API_KEY.into()), ("HARPOON_TARGETS", "label=a,url=https://a.internal;label=A,url=https://b.internal".into())], None, 2, vec!["environment variable HARPOON_TARGETS: entry 2, label"]),
        ("harpoon unknown entry key", run_with(&["--harpoon-target", "label=a,url=https://a.internal,colour=red"]), key(), None, 2, vec!["--harpoon-target: entry 1", "unknown key \"colour\""]),
        ("harpoon regex refused", run_with(&["--harpoon-hosts-include-regex", "^svc-.*"]), key(), None, 2, vec!["--harpoon-hosts-include-regex", "not supported", "--harpoon-hosts-include-suffix"]),
        ("harpoon capture refused", run_with(&["--harpoon.capture-payloads"]), key(), None, 2, vec!["--harpoon.capture-payloads", "never keeps"]),
        ("harpoon transport refused", run_with(&[]), vec![("CONTROL_PLANE_API_KEY", API_KEY.into()), ("HARPOON_ADDITIONAL_TRANSPORTS", "http-streamable".into())], None, 2, vec!["HARPOON_ADDITIONAL_TRANSPORTS", "harpoon channel only"]),
        ("harpoon bad switch value", run_with(&["--harpoon-hosts-include-loopback=maybe"]), key(), None, 2, vec!["--harpoon-hosts-include-loopback", "neither true nor false"]),
        ("harpoon redirects out of range", with_profile(), key(), prof("\"harpoon\": {\"max_redirects\": 9}"), 2, vec!["harpoon.max_redirects", "out of range"]),
        ("harpoon duplicate labels", with_profile(), key(), prof("\"harpoon\": {\"enabled\": true, \"targets\": [{\"label\": \"a\", \"url\": \"https://a.internal\"}, {\"label\": \"a\", \"base_url\": \"https://b.internal\"}]}"), 2, vec!["harpoon.targets[1].label", "used by another target"]),
        ("mcp_env with the key", with_profile(), key(), prof("\"mcp_env\": {\"CONTROL_PLANE_API_KEY\": \"x\"}"), 2, vec!["mcp_env", "CONTROL_PLANE_API_KEY"]),
        ("unknown command", s(&["runn"]), key(), None, 2, vec!["unknown command \"runn\"", "run"]),
        ("init unknown sample", s(&["init", "--sample", "nope", "--profile", "x", "--tunnel-id", TUNNEL_ID, "--mcp-command", "x"]), key(), None, 2, vec!["--sample", "sample_mcp_http"]),
        ("init without target", s(&["init", "--sample", "sample_mcp_http", "--profile", "x", "--tunnel-id", TUNNEL_ID]), key(), None, 2, vec!["--mcp-command", "--mcp-server-url"]),
        ("init bad tunnel id", s(&["init", "--sample", "sample_mcp_http", "--profile", "x", "--tunnel-id", "t", "--mcp-server-url", "http://h/mcp"]), key(), None, 2, vec!["--tunnel-id"]),
        ("unknown help topic", s(&["help", "nonsense"]), key(), None, 2, vec!["nonsense", "quickstart"]),
        ("unknown shell", s(&["completions", "tcsh"]), key(), None, 2, vec!["tcsh", "bash"]),
    ];
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for (name, args, env, profile_text, status, expected) in &cases {
        if let Some(text) = profile_text {
            std::fs::write(&profile, text).unwrap();
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = run(&args, &env, dir.path());
        let err = stderr(&out);
        let all = format!("{}{err}", stdout(&out));
        let mut problems = Vec::new();
        if out.status.code() != Some(*status) {
            problems.push(format!("status {:?}", out.status.code()));
        }
        for want in expected {
            if !err.contains(want) {
                problems.push(format!("missing {want:?}"));
            }
        }
        if err.lines().count() != 1 || !err.starts_with("tunnel-client: ") {
            problems.push("not exactly one line starting with tunnel-client:".into());
        }
        if all.contains("panicked") || all.contains("RUST_BACKTRACE") || all.contains(" { ") {
            problems.push("panic or debug dump".into());
        }
        if all.contains(API_KEY) {
            problems.push("SECRET LEAKED".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {} -- stderr: {err}", problems.join(", ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
