//! The man pages: tunnel-client(1) has exactly the flags, variables and profile
//! keys of the settings table and the command list (and the help says the same),
//! tunnel-relay(1) has RELAY.md's flags, and groff renders both without warnings.

use crate::support::cli::*;
use crate::support::process::RELAY;
use crate::support::require_tool;
use crate::support::TempDir;
use std::collections::BTreeSet;
use std::process::Command;
use tunnel::cli::args::{command_flags, COMMANDS};
use tunnel::config::settings::SETTINGS;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `--long-flag` (and `--dotted.flag`) tokens of a text (roff `\-` already turned into `-`).
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
            // Dotted official spellings (`--harpoon.max-redirects`) are one flag;
            // a dot that ends a sentence is not part of it.
            while j < bytes.len()
                && (bytes[j].is_ascii_lowercase()
                    || bytes[j] == b'-'
                    || (bytes[j] == b'.'
                        && bytes.get(j + 1).is_some_and(|b| b.is_ascii_lowercase())))
            {
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
    for command in COMMANDS {
        pages.push(vec![command.name, "--help"]);
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
fn client_man_page_has_exactly_the_flags_of_the_tables() {
    let mut from_tables: BTreeSet<String> = ["--help", "--version"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for command in COMMANDS {
        for row in command_flags(command) {
            from_tables.extend(row.flags.iter().map(|f| f.to_string()));
        }
    }
    let from_man = long_flags(&man_text("tunnel-client.1"));
    let missing_in_man: Vec<_> = from_tables.difference(&from_man).collect();
    let not_in_tables: Vec<_> = from_man.difference(&from_tables).collect();
    assert!(
        missing_in_man.is_empty() && not_in_tables.is_empty(),
        "not in the man page: {missing_in_man:?}; in the man page but no table: {not_in_tables:?}"
    );
}

/// The names of `.TP` / `.B a, b, c` items of a man page section.
fn items(man: &str, section: &str) -> Vec<String> {
    let start = man
        .find(&format!(".SH {section}\n"))
        .unwrap_or_else(|| panic!("no {section}"));
    let rest = &man[start + 4..];
    let body = &rest[..rest.find(".SH ").unwrap_or(rest.len())];
    let mut out = Vec::new();
    let mut lines = body.lines();
    while let Some(line) = lines.next() {
        if line == ".TP" {
            if let Some(names) = lines.next().and_then(|l| l.strip_prefix(".B ")) {
                out.extend(names.split(", ").map(|n| n.trim().to_string()));
            }
        }
    }
    out
}

#[test]
fn client_man_page_names_every_profile_key_and_variable() {
    let man = man_text("tunnel-client.1");
    // Table → page: every variable, and every part of every profile key.
    let rows = COMMANDS
        .iter()
        .flat_map(|c| c.flags.iter().copied().flatten())
        .chain(SETTINGS);
    for row in rows {
        for name in row
            .env
            .iter()
            .chain(row.key.split('.').collect::<Vec<_>>().iter())
        {
            assert!(name.is_empty() || man.contains(name), "{name}");
        }
    }
    for key in tunnel::config::harpoon::TARGET_KEYS {
        assert!(man.contains(key), "{key}");
    }
    // Page → table: every key PROFILE FILES describes and every variable
    // ENVIRONMENT lists is one the table reads.
    let top_keys: BTreeSet<&str> = SETTINGS
        .iter()
        .filter_map(|row| row.key.split('.').next())
        .filter(|k| !k.is_empty())
        .collect();
    let (keys, listed) = (items(&man, "PROFILE FILES"), items(&man, "ENVIRONMENT"));
    assert!(
        keys.len() >= 25 && listed.len() >= 10,
        "{keys:?} {listed:?}"
    );
    for key in keys {
        assert!(
            top_keys.contains(key.as_str()),
            "{key} is not a profile key"
        );
    }
    let variables: BTreeSet<&str> = COMMANDS
        .iter()
        .flat_map(|c| c.flags.iter().copied().flatten())
        .chain(SETTINGS)
        .flat_map(|row| row.env.iter().copied())
        .collect();
    // NO_COLOR only changes how doctor prints, it is not a setting.
    for variable in listed {
        assert!(
            variables.contains(variable.as_str()) || variable == "NO_COLOR",
            "{variable} is not read"
        );
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
        "--public-url",
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
