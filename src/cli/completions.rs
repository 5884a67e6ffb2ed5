//! `tunnel-client completions SHELL`: bash, zsh and fish scripts generated from
//! the command list and the flag tables. packaging/completions/ holds this output (`make completions`).

use super::args::{command_flags, CommandSpec, Shell, COMMANDS, SHELLS};
use super::help::TOPICS;
use super::samples::SAMPLES;
use crate::config::settings::{Complete, Setting};

pub fn script(shell: Shell) -> String {
    match shell {
        Shell::Bash => bash(),
        Shell::Zsh => zsh(),
        Shell::Fish => fish(),
    }
}

/// Words that may follow a command, before any flag (`profiles` has its own grammar).
fn arguments(command: &str) -> Vec<&'static str> {
    match command {
        "help" => TOPICS
            .iter()
            .map(|(topic, _)| *topic)
            .chain(COMMANDS.iter().map(|c| c.name))
            .collect(),
        "dev" => vec!["mcp-stub"],
        "completions" => SHELLS.iter().map(|(name, _)| *name).collect(),
        "profiles" => vec!["list", "samples"],
        _ => Vec::new(),
    }
}

fn sample_names() -> String {
    let names: Vec<&str> = SAMPLES.iter().map(|s| s.name).collect();
    names.join(" ")
}

/// Every flag row of every command, each spelling once (the first row wins;
/// a test checks that rows sharing a spelling complete their value alike).
fn every_flag() -> Vec<(&'static str, &'static Setting)> {
    let mut out: Vec<(&'static str, &'static Setting)> = Vec::new();
    for command in COMMANDS {
        for row in command_flags(command) {
            for flag in row.flags {
                if !out.iter().any(|(seen, _)| seen == flag) {
                    out.push((flag, row));
                }
            }
        }
    }
    out
}

fn flag_words(command: &CommandSpec) -> Vec<&'static str> {
    let mut words: Vec<&'static str> = command_flags(command)
        .flat_map(|row| row.flags.iter().copied())
        .collect();
    words.push("--help");
    words
}

fn bash() -> String {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let topics: Vec<&str> = TOPICS.iter().map(|(t, _)| *t).collect();
    let mut out = String::from(
        "# bash completion for tunnel-client (also printed by `tunnel-client completions bash`)\n\n\
         _tunnel_client() {\n    local cur prev\n    cur=\"${COMP_WORDS[COMP_CWORD]}\"\n    prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n",
    );
    out.push_str(&format!("    local commands=\"{}\"\n", names.join(" ")));
    out.push_str(&format!("    local samples=\"{}\"\n", sample_names()));
    out.push_str(&format!("    local topics=\"{}\"\n\n", topics.join(" ")));

    // The value after a flag.
    out.push_str("    case \"$prev\" in\n");
    let flags = every_flag();
    let with = |want: fn(&Complete) -> bool| -> Vec<&str> {
        flags
            .iter()
            .filter(|(_, row)| !row.is_switch() && want(&row.complete))
            .map(|(flag, _)| *flag)
            .collect()
    };
    let files = with(|c| *c == Complete::File);
    let dirs = with(|c| *c == Complete::Directory);
    let free = with(|c| *c == Complete::Nothing);
    let cases = [
        (files, "COMPREPLY=( $(compgen -f -- \"$cur\") ); return ;;"),
        (dirs, "COMPREPLY=( $(compgen -d -- \"$cur\") ); return ;;"),
    ];
    for (flags, action) in cases.iter().filter(|(flags, _)| !flags.is_empty()) {
        out.push_str(&format!(
            "        {})\n            {action}\n",
            flags.join("|")
        ));
    }
    for (flag, row) in &flags {
        let words = match row.complete {
            Complete::Words(words) => words.join(" "),
            Complete::Samples => "$samples".to_string(),
            _ => continue,
        };
        out.push_str(&format!(
            "        {flag})\n            COMPREPLY=( $(compgen -W \"{words}\" -- \"$cur\") ); return ;;\n"
        ));
    }
    if !free.is_empty() {
        out.push_str(&format!(
            "        {})\n            return ;;\n",
            free.join("|")
        ));
    }
    out.push_str("    esac\n\n");

    // The command: the first word that is not a flag.
    out.push_str(
        "    local cmd=\"\" i\n    for (( i=1; i < COMP_CWORD; i++ )); do\n        case \"${COMP_WORDS[i]}\" in\n            -*) ;;\n            *) cmd=\"${COMP_WORDS[i]}\"; break ;;\n        esac\n    done\n\n",
    );
    out.push_str("    case \"$cmd\" in\n        \"\")\n            COMPREPLY=( $(compgen -W \"$commands --help --version\" -- \"$cur\") ) ;;\n");
    for command in COMMANDS {
        let flags = flag_words(command).join(" ");
        let words = match command.name {
            "help" => "$topics $commands".to_string(),
            name => arguments(name).join(" "),
        };
        let all = [words.as_str(), flags.as_str()]
            .iter()
            .filter(|w| !w.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!("        {})\n", command.name));
        if command.name == "profiles" {
            out.push_str(
                "            if [[ \" ${COMP_WORDS[*]} \" == *\" samples \"* ]]; then\n                if [[ \"$prev\" == \"show\" ]]; then\n                    COMPREPLY=( $(compgen -W \"$samples\" -- \"$cur\") )\n                else\n                    COMPREPLY=( $(compgen -W \"list show\" -- \"$cur\") )\n                fi\n            else\n",
            );
            out.push_str(&format!(
                "                COMPREPLY=( $(compgen -W \"{all}\" -- \"$cur\") )\n            fi ;;\n"
            ));
        } else {
            out.push_str(&format!(
                "            COMPREPLY=( $(compgen -W \"{all}\" -- \"$cur\") ) ;;\n"
            ));
        }
    }
    out.push_str("    esac\n}\n\ncomplete -F _tunnel_client tunnel-client\n");
    out
}

/// Text inside a zsh single-quoted `_arguments` description (`[...]`).
fn zsh_quote(text: &str) -> String {
    text.replace('\'', "'\\''")
        .replace('[', "\\[")
        .replace(']', "\\]")
}

/// One `_arguments` spec: `'*--flag[help]:VALUE:action'`.
fn zsh_spec(flag: &str, row: &Setting) -> String {
    let repeat = if row.is_repeatable() { "*" } else { "" };
    let help = zsh_quote(row.help);
    if row.is_switch() {
        return format!("'{repeat}{flag}[{help}]'");
    }
    let action = match row.complete {
        Complete::Nothing => String::new(),
        Complete::File => "_files".to_string(),
        Complete::Directory => "_files -/".to_string(),
        Complete::Words(words) => format!("({})", words.join(" ")),
        Complete::Samples => format!("({})", sample_names()),
    };
    format!("'{repeat}{flag}[{help}]:{}:{action}'", row.value)
}

fn zsh() -> String {
    let mut out = String::from(
        "#compdef tunnel-client\n# zsh completion for tunnel-client (also printed by `tunnel-client completions zsh`)\n\n_tunnel-client() {\n  local -a commands\n  commands=(\n",
    );
    for command in COMMANDS {
        out.push_str(&format!(
            "    '{}:{}'\n",
            command.name,
            zsh_quote(command.summary)
        ));
    }
    out.push_str(&format!("  )\n  local samples=({})\n\n", sample_names()));
    out.push_str(
        "  if (( CURRENT == 2 )); then\n    _describe -t commands 'tunnel-client command' commands\n    _arguments '--help[print help]' '--version[print version]'\n    return\n  fi\n  case \"$words[2]\" in\n",
    );
    for command in COMMANDS {
        out.push_str(&format!("    {})\n", command.name));
        let mut specs = vec![format!("'1:command:({})'", command.name)];
        if command.name == "profiles" {
            out.push_str(
                "      if (( CURRENT == 3 )); then\n        _values 'subcommand' list samples\n      elif [[ \"$words[3]\" == samples ]]; then\n        if (( CURRENT == 4 )); then\n          _values 'samples subcommand' list show\n        else\n          _values 'sample' $samples\n        fi\n      else\n        _arguments",
            );
            for row in command_flags(command) {
                for flag in row.flags {
                    out.push_str(&format!(" \\\n          {}", zsh_spec(flag, row)));
                }
            }
            out.push_str(" \\\n          '--help[print help]'\n      fi ;;\n");
            continue;
        }
        let words = arguments(command.name);
        if !words.is_empty() {
            specs.push(format!("'2:argument:({})'", words.join(" ")));
        }
        for row in command_flags(command) {
            for flag in row.flags {
                specs.push(zsh_spec(flag, row));
            }
        }
        specs.push("'--help[print help]'".to_string());
        out.push_str("      _arguments");
        for spec in specs {
            out.push_str(&format!(" \\\n        {spec}"));
        }
        out.push_str(" ;;\n");
    }
    out.push_str("  esac\n}\n\n_tunnel-client \"$@\"\n");
    out
}

/// Text inside a fish single-quoted string.
fn fish_quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

fn fish() -> String {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let mut out = String::from(
        "# fish completion for tunnel-client (also printed by `tunnel-client completions fish`)\n\n",
    );
    out.push_str(&format!("set -l commands {}\n", names.join(" ")));
    out.push_str(&format!("set -l samples {}\n\n", sample_names()));
    out.push_str("complete -c tunnel-client -f\n");
    for command in COMMANDS {
        out.push_str(&format!(
            "complete -c tunnel-client -n \"not __fish_seen_subcommand_from $commands\" -a {} -d '{}'\n",
            command.name,
            fish_quote(command.summary)
        ));
    }
    out.push_str("complete -c tunnel-client -s h -l help -d 'print help'\n");
    out.push_str("complete -c tunnel-client -n \"not __fish_seen_subcommand_from $commands\" -s V -l version -d 'print version'\n");

    // One line per flag row, for every command that has that row.
    let mut rows: Vec<(&'static str, &'static Setting, Vec<&'static str>)> = Vec::new();
    for command in COMMANDS {
        for row in command_flags(command) {
            for flag in row.flags {
                let same = |(f, r, _): &&mut (&str, &Setting, Vec<&str>)| {
                    f == flag && std::ptr::eq(*r, row)
                };
                match rows.iter_mut().find(|entry| same(entry)) {
                    Some((_, _, commands)) => commands.push(command.name),
                    None => rows.push((flag, row, vec![command.name])),
                }
            }
        }
    }
    out.push_str("\n# flags\n");
    for (flag, row, commands) in rows {
        let value = match (row.is_switch(), row.complete) {
            (true, _) => String::new(),
            (false, Complete::Nothing) => " -x".to_string(),
            (false, Complete::File) => " -r -F".to_string(),
            (false, Complete::Directory) => " -r -a '(__fish_complete_directories)'".to_string(),
            (false, Complete::Words(words)) => format!(" -x -a '{}'", words.join(" ")),
            (false, Complete::Samples) => " -x -a \"$samples\"".to_string(),
        };
        out.push_str(&format!(
            "complete -c tunnel-client -n \"__fish_seen_subcommand_from {}\" -l {}{value} -d '{}'\n",
            commands.join(" "),
            flag.trim_start_matches("--"),
            fish_quote(row.help)
        ));
    }

    out.push_str("\n# arguments\n");
    out.push_str("complete -c tunnel-client -n \"__fish_seen_subcommand_from profiles; and not __fish_seen_subcommand_from list samples\" -a 'list samples'\n");
    out.push_str("complete -c tunnel-client -n \"__fish_seen_subcommand_from samples; and not __fish_seen_subcommand_from show\" -a 'list show'\n");
    out.push_str(
        "complete -c tunnel-client -n \"__fish_seen_subcommand_from show\" -a \"$samples\"\n",
    );
    for command in COMMANDS.iter().filter(|c| c.name != "profiles") {
        let words = arguments(command.name);
        if !words.is_empty() {
            out.push_str(&format!(
                "complete -c tunnel-client -n \"__fish_seen_subcommand_from {}\" -a '{}'\n",
                command.name,
                words.join(" ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGED: &[(Shell, &str, &str)] = &[
        (
            Shell::Bash,
            "tunnel-client.bash",
            include_str!("../../packaging/completions/tunnel-client.bash"),
        ),
        (
            Shell::Zsh,
            "_tunnel-client",
            include_str!("../../packaging/completions/_tunnel-client"),
        ),
        (
            Shell::Fish,
            "tunnel-client.fish",
            include_str!("../../packaging/completions/tunnel-client.fish"),
        ),
    ];

    #[test]
    fn packaged_files_are_the_generated_scripts() {
        for (shell, file, packaged) in PACKAGED {
            assert!(
                script(*shell) == *packaged,
                "packaging/completions/{file} is stale: run `make completions`"
            );
        }
    }

    #[test]
    fn every_flag_completes_in_every_shell() {
        let (bash, zsh, fish) = (bash(), zsh(), fish());
        for command in COMMANDS {
            for flag in command_flags(command).flat_map(|row| row.flags) {
                assert!(bash.contains(flag), "bash: {flag}");
                assert!(zsh.contains(&format!("{flag}[")), "zsh: {flag}");
                let long = format!("-l {}", flag.trim_start_matches("--"));
                assert!(fish.contains(&long), "fish: {flag}");
            }
        }
        for s in SAMPLES {
            assert!(bash.contains(s.name) && zsh.contains(s.name) && fish.contains(s.name));
        }
    }

    #[test]
    fn a_flag_shared_by_commands_completes_its_value_alike() {
        for (flag, first) in every_flag() {
            for command in COMMANDS {
                for row in command_flags(command).filter(|row| row.flags.contains(&flag)) {
                    assert_eq!(row.is_switch(), first.is_switch(), "{flag}");
                    assert_eq!(row.complete, first.complete, "{flag}");
                }
            }
        }
    }

    #[test]
    fn help_text_is_quoted_for_each_shell() {
        assert_eq!(zsh_quote("it's [x]"), "it'\\''s \\[x\\]");
        assert_eq!(fish_quote("it's \\"), "it\\'s \\\\");
    }
}
