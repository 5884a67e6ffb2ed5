//! `help`, `help TOPIC` and `COMMAND --help`. Flag help is generated from the
//! flag tables of `args.rs`, so it cannot drift from what the parser accepts.

use super::args::{
    FlagSpec, DOCTOR_FLAGS, INIT_FLAGS, OVERRIDE_FLAGS, PROFILES_FLAGS, SELECT_FLAGS,
};

pub const MAIN: &str = include_str!("help/main.txt");

/// Topic name → text.
pub const TOPICS: &[(&str, &str)] = &[
    ("quickstart", include_str!("help/quickstart.txt")),
    ("samples", include_str!("help/samples.txt")),
    ("doctor", include_str!("help/doctor.txt")),
    ("troubleshooting", include_str!("help/troubleshooting.txt")),
    ("security", include_str!("help/security.txt")),
];

/// Commands that have a `--help` of their own.
pub const COMMANDS: &[&str] = &[
    "run",
    "init",
    "doctor",
    "profiles",
    "help",
    "dev",
    "completions",
];

/// `help TOPIC` (a command name works too).
pub fn topic(name: &str) -> Option<String> {
    if let Some((_, text)) = TOPICS.iter().find(|(t, _)| *t == name) {
        return Some(text.to_string());
    }
    COMMANDS.iter().find(|c| **c == name).map(|c| command(c))
}

fn flag_lines(out: &mut String, flags: &[FlagSpec]) {
    for f in flags {
        let left = match f.value {
            Some(v) => format!("{} {v}", f.name),
            None => f.name.to_string(),
        };
        out.push_str(&format!("  {left:<28} {}\n", f.help));
        let mut notes = Vec::new();
        if !f.default.is_empty() {
            notes.push(format!("default: {}", f.default));
        }
        if !f.env.is_empty() {
            notes.push(format!("env: {}", f.env));
        }
        if !f.key.is_empty() {
            notes.push(format!("profile: {}", f.key));
        }
        if !notes.is_empty() {
            out.push_str(&format!("  {:<28} [{}]\n", "", notes.join("; ")));
        }
    }
}

const RUN_ENV: &str = "Environment:
  CONTROL_PLANE_API_KEY        the control-plane key (fallback OPENAI_API_KEY); required
  CONTROL_PLANE_TUNNEL_ID, MCP_SERVER_URL, MCP_COMMAND, CONTROL_PLANE_URL
                               as the flags above
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY (and lowercase)
                               proxy for outbound connections
  RUST_LOG                     log filter (as --log-level)
  TUNNEL_CLIENT_PROFILE_DIR    profile directory
Precedence: flags > environment > profile > defaults.
Profile-only keys: poll_interval_ms (1000), mcp_env, stdio_mode (shared),
  stdio_hang_seconds (60), stdio_session_idle_seconds (600),
  stdio_max_sessions (16), harpoon; see `tunnel-client help samples`.
";

/// `COMMAND --help`.
pub fn command(name: &str) -> String {
    let mut out = String::new();
    match name {
        "run" => {
            out.push_str("Run the agent until SIGTERM/SIGINT (then drain in-flight commands).\n\n");
            out.push_str("Usage: tunnel-client run [--profile NAME | --profile-file PATH] [FLAGS]\n\nProfile selection:\n");
            flag_lines(&mut out, SELECT_FLAGS);
            out.push_str("\nSettings:\n");
            flag_lines(&mut out, OVERRIDE_FLAGS);
            out.push('\n');
            out.push_str(RUN_ENV);
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
            out.push_str("\nSettings (as for run):\n");
            flag_lines(&mut out, OVERRIDE_FLAGS);
            out.push('\n');
            out.push_str(RUN_ENV);
            out.push_str("\nExit status: 0 when nothing failed, 1 when a check failed, 2 usage error.\nSee `tunnel-client help doctor` for the checks.\n");
        }
        "init" => {
            out.push_str("Write a profile from a sample (mode 0600, directory 0700) and print the next commands.\n\n");
            out.push_str("Usage: tunnel-client init --sample NAME --profile NAME --tunnel-id ID\n         (--mcp-command CMD | --mcp-server-url URL) [--profile-dir DIR] [--force]\n\nFlags:\n");
            flag_lines(&mut out, INIT_FLAGS);
            out.push_str("\nSamples: sample_mcp_stdio_local, sample_mcp_http, sample_mcp_enterprise_proxy, sample_harpoon.\nThe API key is never written: the profile refers to it with \"env:CONTROL_PLANE_API_KEY\".\n");
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
            assert!(command(c).contains("Usage: tunnel-client"), "{c}");
        }
        for (t, text) in TOPICS {
            assert!(topic(t).is_some() && text.len() > 200, "{t}");
        }
        let run = command("run");
        for f in SELECT_FLAGS.iter().chain(OVERRIDE_FLAGS) {
            assert!(run.contains(f.name), "{}", f.name);
        }
        assert!(run.contains("CONTROL_PLANE_API_KEY"));
        assert!(run.contains("default: 127.0.0.1:8090"));
    }
}
