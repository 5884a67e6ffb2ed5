//! `help`, `help TOPIC` and `COMMAND --help`. Flag help is generated from the
//! settings table and the command flag tables, so it cannot drift from what the parser accepts.

use super::args::{COMMANDS, DOCTOR_FLAGS, HEALTH_FLAGS, INIT_FLAGS, PROFILES_FLAGS, SELECT_FLAGS};
use crate::config::settings::{Setting, SETTINGS};

pub const MAIN: &str = include_str!("help/main.txt");

/// Topic name → text.
pub const TOPICS: &[(&str, &str)] = &[
    ("quickstart", include_str!("help/quickstart.txt")),
    ("samples", include_str!("help/samples.txt")),
    ("doctor", include_str!("help/doctor.txt")),
    ("troubleshooting", include_str!("help/troubleshooting.txt")),
    ("security", include_str!("help/security.txt")),
    ("channels", include_str!("help/channels.txt")),
    ("harpoon", include_str!("help/harpoon.txt")),
];

/// `help TOPIC` (a command name works too).
pub fn topic(name: &str) -> Option<String> {
    if let Some((_, text)) = TOPICS.iter().find(|(t, _)| *t == name) {
        return Some(text.to_string());
    }
    COMMANDS
        .iter()
        .find(|c| c.name == name)
        .map(|c| command(c.name))
}

/// The rows that have a flag: `--flag VALUE  help` and a line of notes.
fn flag_lines(out: &mut String, rows: &[Setting]) {
    for row in rows {
        let Some(flag) = row.flag() else {
            continue;
        };
        let left = match row.is_switch() {
            true => flag.to_string(),
            false => format!("{flag} {}", row.value),
        };
        let mut notes = Vec::new();
        if row.flags.len() > 1 {
            notes.push(format!("also: {}", row.flags[1..].join(", ")));
        }
        if row.is_repeatable() {
            notes.push("repeatable".to_string());
        }
        if !row.env.is_empty() {
            notes.push(format!("env: {}", row.env.join(", ")));
        }
        if !row.key.is_empty() {
            notes.push(format!("profile: {}", row.key));
        }
        entry(out, &left, row, notes);
    }
}

/// The rows without a flag, under their variable or their profile key.
fn other_lines(out: &mut String, rows: &[Setting]) {
    for row in rows.iter().filter(|row| row.flags.is_empty()) {
        let mut notes = Vec::new();
        let left = match row.env.first() {
            Some(first) => {
                if row.env.len() > 1 {
                    notes.push(format!("env: {}", row.env.join(", ")));
                }
                if !row.key.is_empty() {
                    notes.push(format!("profile: {}", row.key));
                }
                first
            }
            None => row.key,
        };
        entry(out, left, row, notes);
    }
}

fn entry(out: &mut String, left: &str, row: &Setting, mut notes: Vec<String>) {
    out.push_str(&format!("  {left:<28} {}\n", row.help));
    if !row.default.is_empty() {
        notes.insert(0, format!("default: {}", row.default));
    }
    if !notes.is_empty() {
        out.push_str(&format!("  {:<28} [{}]\n", "", notes.join("; ")));
    }
}

const RUN_FOOTER: &str = "Precedence: flags > environment > profile > defaults; a profile's proxy
  object wins over the proxy variables. The profile format: `tunnel-client help samples`.
";

/// The settings of `run` and `doctor`: flags, then the rest.
fn settings_lines(out: &mut String, title: &str) {
    out.push_str(title);
    flag_lines(out, SETTINGS);
    out.push_str("\nWithout a flag (environment or profile only):\n");
    other_lines(out, SETTINGS);
    out.push_str(RUN_FOOTER);
}

/// `COMMAND --help`.
pub fn command(name: &str) -> String {
    let mut out = String::new();
    match name {
        "run" => {
            out.push_str("Run the agent until SIGTERM/SIGINT (then drain in-flight commands).\n\n");
            out.push_str("Usage: tunnel-client run [--profile NAME | --profile-file PATH] [FLAGS]\n\nProfile selection:\n");
            flag_lines(&mut out, SELECT_FLAGS);
            settings_lines(&mut out, "\nSettings:\n");
            out.push_str("\nExit status: 0 after a clean shutdown, 1 runtime failure, 2 usage or configuration error.\n");
        }
        "doctor" => {
            out.push_str(
                "Check a configuration end to end: one line per check, then a summary.\n\n",
            );
            out.push_str("Usage: tunnel-client doctor [--profile NAME | --profile-file PATH] [FLAGS] [--explain] [--json]\n\nReport:\n");
            flag_lines(&mut out, DOCTOR_FLAGS);
            out.push_str("\nProfile selection:\n");
            flag_lines(&mut out, SELECT_FLAGS);
            settings_lines(&mut out, "\nSettings (as for run):\n");
            out.push_str("\nExit status: 0 when nothing failed, 1 when a check failed, 2 usage error.\nSee `tunnel-client help doctor` for the checks.\n");
        }
        "init" => {
            out.push_str("Write a profile from a sample (mode 0600, directory 0700) and print the next commands.\n\n");
            out.push_str("Usage: tunnel-client init --sample NAME --profile NAME --tunnel-id ID\n         (--mcp-command CMD | --mcp-server-url URL) [--profile-dir DIR] [--force]\n\nFlags:\n");
            flag_lines(&mut out, INIT_FLAGS);
            out.push_str("\nSamples: sample_mcp_stdio_local, sample_mcp_http, sample_mcp_enterprise_proxy, sample_harpoon.\nThe API key is never written: the profile refers to it with \"env:CONTROL_PLANE_API_KEY\".\n");
        }
        "health" => {
            out.push_str("Probe a running agent for a container or supervisor health check: the process\nnamed by --pid-file (if given) must run, the admin server's /healthz must say healthy\nand, with --require-ready, /readyz must say ready. Plain HTTP to the admin server:\nno curl, shell, DNS (for an IP address) or proxy is used, and no file is written.\n\n");
            out.push_str("Usage: tunnel-client health [--url URL | --url-file PATH | --port N] [--pid-file PATH]\n                           [--require-ready] [--json] [--timeout SECS]\n\nFlags:\n");
            flag_lines(&mut out, HEALTH_FLAGS);
            out.push_str("\nOutput: one line on stdout when healthy; otherwise one line on stderr,\n\"tunnel-client health: unhealthy: REASON\" or \"... not ready: REASON\".\nWith --json, one JSON object on stdout either way: ok, healthy, ready, reason, url,\nhealthz_status, readyz_status, tunnel_id, connected, version, pid.\n\nExit status: 0 healthy (and ready with --require-ready), 1 not, 2 usage error.\nExample (Dockerfile): HEALTHCHECK CMD [\"/usr/bin/tunnel-client\", \"health\", \"--port\", \"8090\"]\n");
        }
        "profiles" => {
            out.push_str("List profiles and the sample profiles.\n\n");
            out.push_str("Usage: tunnel-client profiles list [--profile-dir DIR]\n       tunnel-client profiles samples list\n       tunnel-client profiles samples show NAME\n\nFlags:\n");
            flag_lines(&mut out, PROFILES_FLAGS);
        }
        "help" => {
            out.push_str("Usage: tunnel-client help [TOPIC | COMMAND]\n\nTopics: ");
            let names: Vec<&str> = TOPICS.iter().map(|(n, _)| *n).collect();
            out.push_str(&names.join(", "));
            out.push('\n');
        }
        "dev" => {
            out.push_str("Developer tools.\n\nUsage: tunnel-client dev mcp-stub [--http ADDR]\n\n");
            out.push_str("  mcp-stub   a stdio MCP server (initialize, ping, tools/list, tools/call) with the\n             tools echo, add, sleep, fail, progress and crash; for first runs and tests:\n             tunnel-client run --tunnel-id ID --mcp-command 'tunnel-client dev mcp-stub'\n\n  --http ADDR  serve the same tools as a Streamable HTTP MCP server on ADDR\n               (port 0 allowed; the first stdout line says where), for tests\n               and benchmarks of --mcp-server-url\n");
        }
        "completions" => {
            out.push_str(
                "Print shell completions.\n\nUsage: tunnel-client completions bash|zsh|fish\n\n",
            );
            out.push_str("  bash: tunnel-client completions bash > /etc/bash_completion.d/tunnel-client\n  zsh:  tunnel-client completions zsh > \"${fpath[1]}/_tunnel-client\"\n  fish: tunnel-client completions fish > ~/.config/fish/completions/tunnel-client.fish\n");
        }
        _ => return MAIN.to_string(),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_topic_has_text() {
        for c in COMMANDS {
            assert!(
                command(c.name).contains("Usage: tunnel-client"),
                "{}",
                c.name
            );
            assert!(MAIN.contains(&format!("\n  {} ", c.name)), "{}", c.name);
        }
        for (t, text) in TOPICS {
            assert!(topic(t).is_some() && text.len() > 200, "{t}");
        }
        let run = command("run");
        for row in SELECT_FLAGS.iter().chain(SETTINGS) {
            let names = row.flags.iter().chain(row.env).chain([&row.key]);
            for name in names.filter(|n| !n.is_empty()) {
                assert!(run.contains(name), "{name}");
            }
        }
        assert!(run.contains("CONTROL_PLANE_API_KEY"));
        // `help harpoon`: targets, limits, what Harpoon refuses, how to watch it.
        let harpoon = topic("harpoon").unwrap();
        for needle in [
            "--harpoon-target label=",
            "HARPOON_TARGETS",
            "\"enabled\": true",
            "10485760",
            "What Harpoon refuses",
            "169.254.0.0/16",
            "tunnel_client_harpoon_calls_total",
        ] {
            assert!(harpoon.contains(needle), "{needle}");
        }
        assert!(run.contains("default: 127.0.0.1:8090"));
    }
}
