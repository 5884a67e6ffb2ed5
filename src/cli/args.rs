//! The command line: words → [`Command`], with one explicit lexopt loop per
//! command. Only parses; reads no file and no environment variable.

use crate::config::{Layer, Origin, Sourced};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// One flag as `COMMAND --help`, completions and the man page describe it.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    /// `--tunnel-id`.
    pub name: &'static str,
    /// Value placeholder (`ID`), `None` for a switch.
    pub value: Option<&'static str>,
    /// Environment variable(s), or "".
    pub env: &'static str,
    /// Profile key, or "".
    pub key: &'static str,
    /// Default, or "".
    pub default: &'static str,
    pub help: &'static str,
}

const fn flag(
    name: &'static str,
    value: Option<&'static str>,
    env: &'static str,
    key: &'static str,
    default: &'static str,
    help: &'static str,
) -> FlagSpec {
    FlagSpec {
        name,
        value,
        env,
        key,
        default,
        help,
    }
}

/// `--profile` / `--profile-file` / `--profile-dir`.
pub const SELECT_FLAGS: &[FlagSpec] = &[
    flag(
        "--profile",
        Some("NAME"),
        "",
        "",
        "",
        "read <profile dir>/NAME.json (falls back to /etc/tunnel-client/profiles)",
    ),
    flag(
        "--profile-file",
        Some("PATH"),
        "",
        "",
        "",
        "read this profile file (excludes --profile)",
    ),
    flag(
        "--profile-dir",
        Some("DIR"),
        "TUNNEL_CLIENT_PROFILE_DIR",
        "",
        "~/.tunnel-client/profiles",
        "where profiles live",
    ),
];

/// Settings of `run` and `doctor` (CLI.md's table).
pub const OVERRIDE_FLAGS: &[FlagSpec] = &[
    flag(
        "--tunnel-id",
        Some("ID"),
        "CONTROL_PLANE_TUNNEL_ID",
        "tunnel_id",
        "required",
        "the tunnel to serve (tunnel_ + 32 lowercase letters/digits)",
    ),
    flag(
        "--mcp-server-url",
        Some("URL"),
        "MCP_SERVER_URL",
        "mcp_server_url",
        "",
        "Streamable HTTP MCP server (http:// or https://)",
    ),
    flag(
        "--mcp-command",
        Some("CMD"),
        "MCP_COMMAND",
        "mcp_command",
        "",
        "stdio MCP server command, split like a shell (quotes, no expansion)",
    ),
    flag(
        "--control-plane-url",
        Some("URL"),
        "CONTROL_PLANE_URL",
        "control_plane_url",
        "https://api.openai.com",
        "control plane base URL (https, or http to loopback)",
    ),
    flag(
        "--control-plane-cert",
        Some("PEM"),
        "",
        "control_plane_mtls.cert_path",
        "off",
        "client certificate for the control plane (with --control-plane-key)",
    ),
    flag(
        "--control-plane-key",
        Some("PEM"),
        "",
        "control_plane_mtls.key_path",
        "off",
        "private key of --control-plane-cert",
    ),
    flag(
        "--ca-bundle",
        Some("PEM"),
        "",
        "ca_bundle_path",
        "",
        "extra trusted roots, added to the built-in web roots",
    ),
    flag(
        "--mcp-client-cert",
        Some("PEM"),
        "",
        "mcp_client_mtls.cert_path",
        "off",
        "client certificate for the MCP server (with --mcp-client-key)",
    ),
    flag(
        "--mcp-client-key",
        Some("PEM"),
        "",
        "mcp_client_mtls.key_path",
        "off",
        "private key of --mcp-client-cert",
    ),
    flag(
        "--mcp-ca-bundle",
        Some("PEM"),
        "",
        "mcp_client_mtls.ca_bundle_path",
        "",
        "roots trusted for the MCP server alone",
    ),
    flag(
        "--admin-address",
        Some("ADDR"),
        "",
        "admin_ui_address, admin_ui_enabled",
        "127.0.0.1:8090",
        "admin server address; off disables it",
    ),
    flag(
        "--admin-url-file",
        Some("PATH"),
        "",
        "admin_url_file",
        "",
        "write the admin base URL here (mode 0600)",
    ),
    flag(
        "--allow-remote-ui",
        None,
        "",
        "allow_remote_ui",
        "false",
        "serve /ui and /api to non-loopback peers",
    ),
    flag(
        "--max-concurrency",
        Some("N"),
        "",
        "max_concurrent_requests",
        "10",
        "commands forwarded at once",
    ),
    flag(
        "--request-timeout",
        Some("SECS"),
        "",
        "request_timeout_seconds",
        "30",
        "per-command timeout when the command carries none",
    ),
    flag(
        "--poll-timeout-ms",
        Some("N"),
        "",
        "poll_timeout_ms",
        "30000",
        "long-poll hold asked of the control plane",
    ),
    flag(
        "--shutdown-grace",
        Some("SECS"),
        "",
        "shutdown_grace_seconds",
        "25",
        "drain time after SIGTERM/SIGINT",
    ),
    flag(
        "--log-level",
        Some("LEVEL"),
        "RUST_LOG",
        "log_level",
        "info",
        "off, error, warn, info, debug or trace",
    ),
    flag(
        "--log-format",
        Some("FORMAT"),
        "",
        "log_format",
        "text",
        "text or json (one object per line)",
    ),
    flag(
        "--enable-request-timing",
        None,
        "",
        "enable_request_timing",
        "false",
        "log the timing of every request",
    ),
];

/// Flags of `doctor` beyond the run settings.
pub const DOCTOR_FLAGS: &[FlagSpec] = &[
    flag(
        "--explain",
        None,
        "",
        "",
        "",
        "under each failure, say what it means and the fix",
    ),
    flag(
        "--json",
        None,
        "",
        "",
        "",
        "print the report as one JSON document",
    ),
];

/// Flags of `init` beyond the ones it shares with `run`.
pub const INIT_FLAGS: &[FlagSpec] = &[
    flag(
        "--sample",
        Some("NAME"),
        "",
        "",
        "",
        "sample to start from (see `profiles samples list`)",
    ),
    flag(
        "--profile",
        Some("NAME"),
        "",
        "",
        "",
        "name of the profile to write",
    ),
    flag(
        "--tunnel-id",
        Some("ID"),
        "",
        "tunnel_id",
        "",
        "the tunnel id",
    ),
    flag(
        "--mcp-command",
        Some("CMD"),
        "",
        "mcp_command",
        "",
        "stdio MCP server command",
    ),
    flag(
        "--mcp-server-url",
        Some("URL"),
        "",
        "mcp_server_url",
        "",
        "Streamable HTTP MCP server URL",
    ),
    flag(
        "--profile-dir",
        Some("DIR"),
        "TUNNEL_CLIENT_PROFILE_DIR",
        "",
        "~/.tunnel-client/profiles",
        "where to write it",
    ),
    flag("--force", None, "", "", "", "overwrite an existing profile"),
];

/// `profiles list`.
pub const PROFILES_FLAGS: &[FlagSpec] = &[flag(
    "--profile-dir",
    Some("DIR"),
    "TUNNEL_CLIENT_PROFILE_DIR",
    "",
    "~/.tunnel-client/profiles",
    "directory to list",
)];

/// Shells `completions` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Which profile to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub profile: Option<String>,
    pub profile_file: Option<PathBuf>,
    pub profile_dir: Option<PathBuf>,
}

/// `run` and `doctor` arguments.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    pub selection: Selection,
    pub flags: Layer,
}

#[derive(Debug, Clone, Default)]
pub struct DoctorArgs {
    pub run: RunArgs,
    pub explain: bool,
    pub json: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitArgs {
    pub sample: Option<String>,
    pub profile: Option<String>,
    pub tunnel_id: Option<String>,
    pub mcp_command: Option<String>,
    pub mcp_server_url: Option<String>,
    pub profile_dir: Option<PathBuf>,
    pub force: bool,
}

/// A parsed command line.
#[derive(Debug, Clone)]
pub enum Command {
    Run(RunArgs),
    Doctor(DoctorArgs),
    Init(InitArgs),
    ProfilesList {
        profile_dir: Option<PathBuf>,
    },
    SamplesList,
    SamplesShow(String),
    /// `help [TOPIC]`.
    Help(Option<String>),
    /// `COMMAND --help` (the command's name, e.g. "run", "profiles").
    CommandHelp(&'static str),
    /// `dev mcp-stub`, on stdio or (with `--http ADDR`) as a Streamable HTTP server.
    DevMcpStub {
        http: Option<String>,
    },
    Completions(Shell),
    Version,
}

/// A command line that cannot be used (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// One sentence: what is wrong, naming the flag or word.
    pub problem: String,
    /// Where to look (`tunnel-client run --help`).
    pub help: String,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; see `{}`", self.problem, self.help)
    }
}

impl std::error::Error for UsageError {}

fn usage(problem: impl Into<String>, help: &str) -> UsageError {
    UsageError {
        problem: problem.into(),
        help: help.to_string(),
    }
}

/// Names every command's flags for suggestions.
fn all_flag_names() -> impl Iterator<Item = &'static str> {
    SELECT_FLAGS
        .iter()
        .chain(OVERRIDE_FLAGS)
        .chain(DOCTOR_FLAGS)
        .chain(INIT_FLAGS)
        .map(|f| f.name)
        .chain(["--help", "--version"])
}

/// Turns a lexopt error into a sentence, with a suggestion for a mistyped flag.
fn lexopt_error(e: lexopt::Error, help: &str) -> UsageError {
    match e {
        lexopt::Error::UnexpectedOption(opt) => {
            let known: Vec<&str> = all_flag_names().collect();
            match crate::config::closest(&opt, &known) {
                Some(s) => usage(format!("unknown flag {opt} (did you mean {s}?)"), help),
                None => usage(format!("unknown flag {opt}"), help),
            }
        }
        lexopt::Error::UnexpectedArgument(arg) => usage(
            format!("unexpected argument \"{}\"", arg.to_string_lossy()),
            help,
        ),
        lexopt::Error::MissingValue { option } => usage(
            format!(
                "{} needs a value",
                option.unwrap_or_else(|| "an option".into())
            ),
            help,
        ),
        lexopt::Error::UnexpectedValue { option, .. } => {
            usage(format!("{option} takes no value"), help)
        }
        lexopt::Error::NonUnicodeValue(_) => usage("an argument is not valid UTF-8", help),
        other => usage(other.to_string(), help),
    }
}

fn text(value: OsString, flag: &str, help: &str) -> Result<String, UsageError> {
    value
        .into_string()
        .map_err(|_| usage(format!("the value of {flag} is not valid UTF-8"), help))
}

/// Parses `tunnel-client ARGS…` (without the program name).
pub fn parse<I>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    const HELP: &str = "tunnel-client --help";
    let mut parser = lexopt::Parser::from_args(args);
    let first = parser.next().map_err(|e| lexopt_error(e, HELP))?;
    let word = match first {
        None => return Err(usage("no command given", HELP)),
        Some(Long("version")) | Some(Short('V')) => return Ok(Command::Version),
        Some(Long("help")) | Some(Short('h')) => return Ok(Command::Help(None)),
        Some(Value(word)) => text(word, "the command", HELP)?,
        Some(other) => return Err(lexopt_error(other.unexpected(), HELP)),
    };
    match word.as_str() {
        "run" => {
            parse_run(&mut parser).map(|r| r.map_or(Command::CommandHelp("run"), Command::Run))
        }
        "doctor" => parse_doctor(&mut parser),
        "init" => parse_init(&mut parser),
        "profiles" => parse_profiles(&mut parser),
        "help" => parse_help(&mut parser),
        "dev" => parse_dev(&mut parser),
        "completions" => parse_completions(&mut parser),
        "version" => Ok(Command::Version),
        other => {
            let commands = [
                "run",
                "init",
                "doctor",
                "profiles",
                "help",
                "dev",
                "completions",
            ];
            match crate::config::closest(other, &commands) {
                Some(s) => Err(usage(
                    format!("unknown command \"{other}\" (did you mean {s}?)"),
                    HELP,
                )),
                None => Err(usage(format!("unknown command \"{other}\""), HELP)),
            }
        }
    }
}

/// Handles one SELECT or OVERRIDE flag; false when `arg` is not one of them.
fn run_flag(
    name: &str,
    parser: &mut lexopt::Parser,
    run: &mut RunArgs,
    help: &str,
) -> Result<bool, UsageError> {
    // The flag's static spelling, for Origin and messages.
    let Some(spec) = SELECT_FLAGS
        .iter()
        .chain(OVERRIDE_FLAGS)
        .find(|f| f.name.strip_prefix("--") == Some(name))
    else {
        return Ok(false);
    };
    let flag = spec.name;
    let origin = Origin::Flag(flag);
    if spec.value.is_none() {
        let on = Some(Sourced::new(true, origin));
        let layer = &mut run.flags;
        match flag {
            "--allow-remote-ui" => layer.allow_remote_ui = on,
            "--enable-request-timing" => layer.enable_request_timing = on,
            _ => return Ok(false),
        }
        return Ok(true);
    }
    let value = parser.value().map_err(|e| lexopt_error(e, help))?;
    let value = text(value, flag, help)?;
    if value.is_empty() {
        return Err(usage(format!("{flag} needs a non-empty value"), help));
    }
    let s = Some(Sourced::new(value.clone(), origin.clone()));
    let p = Some(Sourced::new(PathBuf::from(&value), origin.clone()));
    let layer = &mut run.flags;
    match flag {
        "--profile" => run.selection.profile = Some(value),
        "--profile-file" => run.selection.profile_file = Some(PathBuf::from(value)),
        "--profile-dir" => run.selection.profile_dir = Some(PathBuf::from(value)),
        "--tunnel-id" => layer.tunnel_id = s,
        "--mcp-server-url" => layer.mcp_server_url = s,
        "--mcp-command" => layer.mcp_command = s,
        "--control-plane-url" => layer.control_plane_url = s,
        "--control-plane-cert" => layer.control_plane_cert = p,
        "--control-plane-key" => layer.control_plane_key = p,
        "--ca-bundle" => layer.ca_bundle = p,
        "--mcp-client-cert" => layer.mcp_client_cert = p,
        "--mcp-client-key" => layer.mcp_client_key = p,
        "--mcp-ca-bundle" => layer.mcp_ca_bundle = p,
        "--admin-address" => {
            // The flag decides both: an address enables the server, `off` disables it.
            layer.admin_enabled = Some(Sourced::new(value != "off", origin));
            layer.admin_address = s;
        }
        "--admin-url-file" => layer.admin_url_file = p,
        "--max-concurrency" => layer.max_concurrency = s,
        "--request-timeout" => layer.request_timeout = s,
        "--poll-timeout-ms" => layer.poll_timeout_ms = s,
        "--shutdown-grace" => layer.shutdown_grace = s,
        "--log-level" => layer.log_level = s,
        "--log-format" => layer.log_format = s,
        _ => return Ok(false),
    }
    Ok(true)
}

/// `run` flags; `Ok(None)` for `run --help`.
fn parse_run(parser: &mut lexopt::Parser) -> Result<Option<RunArgs>, UsageError> {
    const HELP: &str = "tunnel-client run --help";
    let mut run = RunArgs::default();
    loop {
        let arg = match parser.next().map_err(|e| lexopt_error(e, HELP))? {
            None => break,
            Some(Long("help")) | Some(Short('h')) => return Ok(None),
            Some(Long(name)) => name.to_string(),
            Some(other) => return Err(lexopt_error(other.unexpected(), HELP)),
        };
        if !run_flag(&arg, parser, &mut run, HELP)? {
            return Err(lexopt_error(
                lexopt::Error::UnexpectedOption(format!("--{arg}")),
                HELP,
            ));
        }
    }
    check_selection(&run.selection, HELP)?;
    Ok(Some(run))
}

fn check_selection(selection: &Selection, help: &str) -> Result<(), UsageError> {
    if selection.profile.is_some() && selection.profile_file.is_some() {
        return Err(usage(
            "--profile and --profile-file cannot be used together; pick one",
            help,
        ));
    }
    Ok(())
}

fn parse_doctor(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    const HELP: &str = "tunnel-client doctor --help";
    let mut doctor = DoctorArgs::default();
    loop {
        let arg = match parser.next().map_err(|e| lexopt_error(e, HELP))? {
            None => break,
            Some(Long("help")) | Some(Short('h')) => return Ok(Command::CommandHelp("doctor")),
            Some(Long("explain")) => {
                doctor.explain = true;
                continue;
            }
            Some(Long("json")) => {
                doctor.json = true;
                continue;
            }
            Some(Long(name)) => name.to_string(),
            Some(other) => return Err(lexopt_error(other.unexpected(), HELP)),
        };
        if !run_flag(&arg, parser, &mut doctor.run, HELP)? {
            return Err(lexopt_error(
                lexopt::Error::UnexpectedOption(format!("--{arg}")),
                HELP,
            ));
        }
    }
    check_selection(&doctor.run.selection, HELP)?;
    Ok(Command::Doctor(doctor))
}

fn parse_init(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    const HELP: &str = "tunnel-client init --help";
    let mut init = InitArgs::default();
    while let Some(arg) = parser.next().map_err(|e| lexopt_error(e, HELP))? {
        let slot = match arg {
            Long("force") => {
                init.force = true;
                continue;
            }
            Long("help") | Short('h') => return Ok(Command::CommandHelp("init")),
            Long("sample") => &mut init.sample,
            Long("profile") => &mut init.profile,
            Long("tunnel-id") => &mut init.tunnel_id,
            Long("mcp-command") => &mut init.mcp_command,
            Long("mcp-server-url") => &mut init.mcp_server_url,
            Long("profile-dir") => {
                let v = parser.value().map_err(|e| lexopt_error(e, HELP))?;
                init.profile_dir = Some(PathBuf::from(v));
                continue;
            }
            other => return Err(lexopt_error(other.unexpected(), HELP)),
        };
        let v = parser.value().map_err(|e| lexopt_error(e, HELP))?;
        *slot = Some(text(v, "an init flag", HELP)?);
    }
    Ok(Command::Init(init))
}

fn parse_profiles(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    const HELP: &str = "tunnel-client profiles --help";
    let mut words: Vec<String> = Vec::new();
    let mut profile_dir = None;
    while let Some(arg) = parser.next().map_err(|e| lexopt_error(e, HELP))? {
        match arg {
            Long("profile-dir") => {
                let v = parser.value().map_err(|e| lexopt_error(e, HELP))?;
                profile_dir = Some(PathBuf::from(v));
            }
            Long("help") | Short('h') => return Ok(Command::CommandHelp("profiles")),
            Value(v) => words.push(text(v, "profiles", HELP)?),
            other => return Err(lexopt_error(other.unexpected(), HELP)),
        }
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["list"] => Ok(Command::ProfilesList { profile_dir }),
        ["samples"] | ["samples", "list"] => Ok(Command::SamplesList),
        ["samples", "show", name] => Ok(Command::SamplesShow(name.to_string())),
        ["samples", "show"] => Err(usage("`profiles samples show` needs a sample NAME", HELP)),
        [] => Err(usage(
            "`profiles` needs a subcommand: list, samples list or samples show NAME",
            HELP,
        )),
        _ => Err(usage(
            format!("unknown `profiles` subcommand \"{}\"", words.join(" ")),
            HELP,
        )),
    }
}

fn parse_help(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    const HELP: &str = "tunnel-client help";
    let mut topic = None;
    while let Some(arg) = parser.next().map_err(|e| lexopt_error(e, HELP))? {
        match arg {
            Value(v) if topic.is_none() => topic = Some(text(v, "help", HELP)?),
            Long("help") | Short('h') => return Ok(Command::Help(None)),
            other => return Err(lexopt_error(other.unexpected(), HELP)),
        }
    }
    Ok(Command::Help(topic))
}

fn parse_dev(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    const HELP: &str = "tunnel-client dev --help";
    let mut sub = None;
    let mut http = None;
    while let Some(arg) = parser.next().map_err(|e| lexopt_error(e, HELP))? {
        match arg {
            Value(v) if sub.is_none() => sub = Some(text(v, "dev", HELP)?),
            Long("http") => {
                let v = parser.value().map_err(|e| lexopt_error(e, HELP))?;
                http = Some(text(v, "--http", HELP)?);
            }
            Long("help") | Short('h') => return Ok(Command::CommandHelp("dev")),
            other => return Err(lexopt_error(other.unexpected(), HELP)),
        }
    }
    match sub.as_deref() {
        Some("mcp-stub") => Ok(Command::DevMcpStub { http }),
        Some(other) => Err(usage(
            format!("unknown `dev` subcommand \"{other}\" (try mcp-stub)"),
            HELP,
        )),
        None => Err(usage("`dev` needs a subcommand: mcp-stub", HELP)),
    }
}

fn parse_completions(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    const HELP: &str = "tunnel-client completions --help";
    let mut shell = None;
    while let Some(arg) = parser.next().map_err(|e| lexopt_error(e, HELP))? {
        match arg {
            Value(v) if shell.is_none() => shell = Some(text(v, "completions", HELP)?),
            Long("help") | Short('h') => return Ok(Command::CommandHelp("completions")),
            other => return Err(lexopt_error(other.unexpected(), HELP)),
        }
    }
    match shell.as_deref() {
        Some("bash") => Ok(Command::Completions(Shell::Bash)),
        Some("zsh") => Ok(Command::Completions(Shell::Zsh)),
        Some("fish") => Ok(Command::Completions(Shell::Fish)),
        Some(other) => Err(usage(
            format!("unknown shell \"{other}\" (use bash, zsh or fish)"),
            HELP,
        )),
        None => Err(usage(
            "`completions` needs a shell: bash, zsh or fish",
            HELP,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> RunArgs {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        match parse(all).unwrap() {
            Command::Run(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_listed_flag_is_accepted() {
        for spec in SELECT_FLAGS.iter().chain(OVERRIDE_FLAGS) {
            if spec.name == "--profile-file" {
                continue;
            }
            let mut args = vec![spec.name];
            if spec.value.is_some() {
                args.push("x");
            }
            let _ = run(&args);
        }
        for spec in DOCTOR_FLAGS {
            assert!(matches!(
                parse(["doctor", spec.name]).unwrap(),
                Command::Doctor(_)
            ));
        }
    }

    #[test]
    fn values_land_in_the_flag_layer() {
        let r = run(&[
            "--tunnel-id",
            "t",
            "--admin-address",
            "off",
            "--mcp-command=a 'b c'",
        ]);
        assert_eq!(
            r.flags.tunnel_id.unwrap().origin,
            Origin::Flag("--tunnel-id")
        );
        assert_eq!(r.flags.admin_address.unwrap().value, "off");
        assert!(!r.flags.admin_enabled.unwrap().value);
        assert_eq!(r.flags.mcp_command.unwrap().value, "a 'b c'");
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse(["run", "--tunel-id", "x"]).unwrap_err();
        assert!(e.to_string().contains("--tunel-id"), "{e}");
        assert!(e.to_string().contains("--tunnel-id"), "{e}");
        let e = parse(["run", "--profile", "a", "--profile-file", "b"]).unwrap_err();
        assert!(e.to_string().contains("--profile-file"), "{e}");
        let e = parse(["run", "--tunnel-id"]).unwrap_err();
        assert!(e.to_string().contains("--tunnel-id needs a value"), "{e}");
        assert!(parse(["frobnicate"]).is_err());
        assert!(matches!(parse(["-V"]).unwrap(), Command::Version));
        assert!(matches!(
            parse(["run", "--help"]).unwrap(),
            Command::CommandHelp("run")
        ));
    }
}
