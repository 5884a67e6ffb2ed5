//! The man pages: every flag the binary's help lists is in tunnel-client(1) and
//! vice versa, tunnel-relay(1) has RELAY.md's flags, and groff renders both without warnings.

use crate::support::cli::*;
use crate::support::process::RELAY;
use crate::support::require_tool;
use crate::support::TempDir;
use std::collections::BTreeSet;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `--long-flag` tokens of a text (roff `\-` already turned into `-`).
fn long_flags(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 2 < bytes.len() {
        let starts = bytes[i] == b'-'
            && bytes[i + 1] == b'-'
            && bytes[i + 2].is_ascii_lowercase()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'-'));
        if starts {
            let mut j = i + 2;
            while j < bytes.len() && (bytes[j].is_ascii_lowercase() || bytes[j] == b'-') {
                j += 1;
            }
            out.insert(text[i..j].trim_end_matches('-').to_string());
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn man_text(name: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/man/{name}"))
        .unwrap()
        .replace("\\-", "-")
}

/// The page without its EXAMPLES section (examples may show the other binary's flags).
fn without_examples(text: &str) -> String {
    let Some(start) = text.find(".SH EXAMPLES") else {
        return text.to_string();
    };
    let rest = &text[start + 4..];
    let end = rest
        .find(".SH ")
        .map(|e| start + 4 + e)
        .unwrap_or(text.len());
    format!("{}{}", &text[..start], &text[end..])
}

#[test]
fn client_man_page_and_help_list_the_same_flags() {
    let dir = TempDir::new("man");
    let mut help = String::new();
    let mut pages: Vec<Vec<&str>> = vec![vec!["--help"]];
    for command in [
        "run",
        "init",
        "doctor",
        "profiles",
        "help",
        "dev",
        "completions",
    ] {
        pages.push(vec![command, "--help"]);
    }
    for args in pages {
        let out = run(&args, &[], dir.path());
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        help.push_str(&stdout(&out));
    }
    let from_help = long_flags(&help);
    let from_man = long_flags(&man_text("tunnel-client.1"));
    assert!(from_help.len() >= 25, "{from_help:?}");
    let missing_in_man: Vec<_> = from_help.difference(&from_man).collect();
    let missing_in_help: Vec<_> = from_man.difference(&from_help).collect();
    assert!(
        missing_in_man.is_empty() && missing_in_help.is_empty(),
        "only in help: {missing_in_man:?}; only in the man page: {missing_in_help:?}"
    );
}

#[test]
fn client_man_page_names_every_profile_key_and_variable() {
    let man = man_text("tunnel-client.1");
    let keys = [
        "tunnel_id",
        "mcp_server_url",
        "mcp_command",
        "control_plane_url",
        "api_key",
        "ca_bundle_path",
        "control_plane_mtls",
        "mcp_client_mtls",
        "cert_path",
        "key_path",
        "proxy",
        "https_proxy",
        "no_proxy",
        "admin_ui_address",
        "admin_ui_enabled",
        "admin_url_file",
        "allow_remote_ui",
        "max_concurrent_requests",
        "request_timeout_seconds",
        "poll_timeout_ms",
        "poll_interval_ms",
        "shutdown_grace_seconds",
        "log_level",
        "log_format",
        "enable_request_timing",
        "mcp_env",
        "stdio_mode",
        "stdio_hang_seconds",
        "stdio_session_idle_seconds",
        "stdio_max_sessions",
        "harpoon",
        "allowed_methods",
        "max_request_size_bytes",
        "max_response_size_bytes",
        "timeout_seconds",
        "CONTROL_PLANE_API_KEY",
        "OPENAI_API_KEY",
        "CONTROL_PLANE_TUNNEL_ID",
        "MCP_SERVER_URL",
        "MCP_COMMAND",
        "CONTROL_PLANE_URL",
        "HTTPS_PROXY",
        "NO_PROXY",
        "RUST_LOG",
        "TUNNEL_CLIENT_PROFILE_DIR",
    ];
    for key in keys {
        assert!(man.contains(key), "{key}");
    }
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "COMMANDS",
        "OPTIONS",
        "PROFILE FILES",
        "ENVIRONMENT",
        "FILES",
        "EXIT STATUS",
        "SIGNALS",
        "EXAMPLES",
        "SECURITY",
        "SEE ALSO",
    ] {
        assert!(man.contains(&format!(".SH {section}\n")), "{section}");
    }
}

#[test]
fn relay_man_page_has_the_relay_flags_and_variables() {
    let man = man_text("tunnel-relay.1");
    let flags = long_flags(&without_examples(&man));
    let want: BTreeSet<String> = [
        "--listen",
        "--tunnel-id",
        "--response-timeout",
        "--max-queue",
        "--log-level",
        "--help",
        "--version",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(flags, want);
    assert!(man.contains("TUNNEL_RELAY_AGENT_KEY"));
    assert!(man.contains("TUNNEL_RELAY_CALLER_TOKEN"));
}

#[test]
fn relay_man_page_and_help_list_the_same_flags() {
    let out = Command::new(RELAY).arg("--help").output().unwrap();
    let help = long_flags(&String::from_utf8_lossy(&out.stdout));
    let man = long_flags(&without_examples(&man_text("tunnel-relay.1")));
    assert_eq!(help, man);
}

#[test]
fn groff_renders_both_pages_without_warnings() {
    // The README asks only for Rust, make and curl; `.ci/run` installs groff.
    if !require_tool("groff") {
        return;
    }
    for page in ["tunnel-client.1", "tunnel-relay.1"] {
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(format!("{ROOT}/man/{page}"))
            .output()
            .expect("groff is needed to check the man pages");
        assert!(out.status.success(), "{page}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{page}");
    }
}
