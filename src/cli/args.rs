//! The command line: words → [`Command`], with one explicit lexopt loop per
//! command. Only parses; reads no file and no environment variable.

use super::health::{AdminTarget, AdminUrl, HealthArgs, MAX_TIMEOUT_SECS};
use crate::config::settings::{find_flag, Complete, Kind, Setting, SETTINGS};
use crate::config::Layer;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// The flags a command reads itself (not settings): same rows as the
/// settings table, so help and completions render them alike.
const fn own(
    flags: &'static [&'static str],
    value: &'static str,
    help: &'static str,
    complete: Complete,
) -> Setting {
    Setting {
        flags,
        value,
        help,
        complete,
        ..Setting::EMPTY
    }
}

/// `--profile` / `--profile-file` / `--profile-dir`.
pub const SELECT_FLAGS: &[Setting] = &[
    own(
        &["--profile"],
        "NAME",
        "read <profile dir>/NAME.json (falls back to /etc/tunnel-client/profiles)",
        Complete::Nothing,
    ),
    own(
        &["--profile-file"],
        "PATH",
        "read this profile file (excludes --profile)",
        Complete::File,
    ),
    Setting {
        env: &["TUNNEL_CLIENT_PROFILE_DIR"],
        default: "~/.tunnel-client/profiles",
        ..own(
            &["--profile-dir"],
            "DIR",
            "where profiles live",
            Complete::Directory,
        )
    },
];

/// Flags of `doctor` beyond the run settings.
pub const DOCTOR_FLAGS: &[Setting] = &[
    own(
        &["--explain"],
        "",
        "under each failure, say what it means and the fix",
        Complete::Nothing,
    ),
    own(
        &["--json"],
        "",
        "print the report as one JSON document",
        Complete::Nothing,
    ),
];

/// Flags of `init`.
pub const INIT_FLAGS: &[Setting] = &[
    own(
        &["--sample"],
        "NAME",
        "sample to start from (see `profiles samples list`)",
        Complete::Samples,
    ),
    own(
        &["--profile"],
        "NAME",
        "name of the profile to write",
        Complete::Nothing,
    ),
    Setting {
        key: "tunnel_id",
        ..own(&["--tunnel-id"], "ID", "the tunnel id", Complete::Nothing)
    },
    Setting {
        key: "mcp_command",
        ..own(
            &["--mcp-command"],
            "CMD",
            "stdio MCP server command",
            Complete::Nothing,
        )
    },
    Setting {
        key: "mcp_server_url",
        ..own(
            &["--mcp-server-url"],
            "URL",
            "Streamable HTTP MCP server URL",
            Complete::Nothing,
        )
    },
    Setting {
        env: &["TUNNEL_CLIENT_PROFILE_DIR"],
        default: "~/.tunnel-client/profiles",
        ..own(
            &["--profile-dir"],
            "DIR",
            "where to write it",
            Complete::Directory,
        )
    },
    own(
        &["--force"],
        "",
        "overwrite an existing profile",
        Complete::Nothing,
    ),
];

/// `profiles list`.
pub const PROFILES_FLAGS: &[Setting] = &[Setting {
    env: &["TUNNEL_CLIENT_PROFILE_DIR"],
    default: "~/.tunnel-client/profiles",
    ..own(
        &["--profile-dir"],
        "DIR",
        "directory to list",
        Complete::Directory,
    )
}];

/// `dev mcp-stub`.
pub const DEV_FLAGS: &[Setting] = &[own(
    &["--http"],
    "ADDR",
    "serve the stub as a Streamable HTTP MCP server on ADDR (port 0 allowed)",
    Complete::Nothing,
)];

/// Flags of `health`.
pub const HEALTH_FLAGS: &[Setting] = &[
    Setting {
        default: "http://127.0.0.1:8090",
        ..own(
            &["--url"],
            "URL",
            "the agent's admin server (plain http; one of --url, --url-file, --port)",
            Complete::Nothing,
        )
    },
    own(
        &["--url-file"],
        "PATH",
        "read the admin URL from the file `run --admin-url-file` writes",
        Complete::File,
    ),
    own(
        &["--port"],
        "N",
        "the admin server at 127.0.0.1:N",
        Complete::Nothing,
    ),
    own(
        &["--pid-file"],
        "PATH",
        "also require the process named in this file (`run --pid-file`) to be running",
        Complete::File,
    ),
    own(
        &["--require-ready"],
        "",
        "fail unless /readyz says ready too (default: /healthz alone decides)",
        Complete::Nothing,
    ),
    own(
        &["--json"],
        "",
        "print the result as one JSON object",
        Complete::Nothing,
    ),
    Setting {
        default: "3",
        ..own(
            &["--timeout"],
            "SECS",
            "give up after this many seconds",
            Complete::Nothing,
        )
    },
];

/// One command: its name, a line about it, and its flags in help order.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    /// For completions (`tunnel-client help` has its own prose).
    pub summary: &'static str,
    /// Flag tables; rows without a flag (variables, profile keys) are skipped.
    pub flags: &'static [&'static [Setting]],
}

/// Every command, in the order `help` lists them. The parser, `help`,
/// completions and the man-page test all read this list.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "run",
        summary: "run the agent",
        flags: &[SELECT_FLAGS, SETTINGS],
    },
    CommandSpec {
        name: "init",
        summary: "write a profile from a sample",
        flags: &[INIT_FLAGS],
    },
    CommandSpec {
        name: "doctor",
        summary: "check a configuration end to end",
        flags: &[DOCTOR_FLAGS, SELECT_FLAGS, SETTINGS],
    },
    CommandSpec {
        name: "health",
        summary: "probe a running agent (for health checks)",
        flags: &[HEALTH_FLAGS],
    },
    CommandSpec {
        name: "profiles",
        summary: "list profiles and samples",
        flags: &[PROFILES_FLAGS],
    },
    CommandSpec {
        name: "help",
        summary: "help and topics",
        flags: &[],
    },
    CommandSpec {
        name: "dev",
        summary: "developer tools (mcp-stub)",
        flags: &[DEV_FLAGS],
    },
    CommandSpec {
        name: "completions",
        summary: "print shell completions",
        flags: &[],
    },
];

/// The flags of a command, in help order (rows without a flag left out).
pub fn command_flags(command: &CommandSpec) -> impl Iterator<Item = &'static Setting> {
    command
        .flags
        .iter()
        .flat_map(|table| table.iter())
        .filter(|row| !row.flags.is_empty())
}

/// Shells `completions` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// `completions SHELL`: each shell's name.
pub const SHELLS: &[(&str, Shell)] = &[
    ("bash", Shell::Bash),
    ("zsh", Shell::Zsh),
    ("fish", Shell::Fish),
];

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
    /// `health`: probe a running agent.
    Health(HealthArgs),
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

/// The flags a mistyped flag is compared with: those of run, doctor and
/// init (dev's own flag is for developers and never suggested).
fn all_flag_names() -> Vec<&'static str> {
    let rows = [
        SELECT_FLAGS,
        SETTINGS,
        DOCTOR_FLAGS,
        INIT_FLAGS,
        HEALTH_FLAGS,
    ];
    let mut names: Vec<&'static str> = Vec::new();
    for name in rows.iter().flat_map(|t| t.iter()).flat_map(|row| row.flags) {
        if !names.contains(name) {
            names.push(name);
        }
    }
    names.extend(["--help", "--version"]);
    names
}

/// Turns a lexopt error into a sentence, with a suggestion for a mistyped flag.
fn lexopt_error(e: lexopt::Error, help: &str) -> UsageError {
    match e {
        lexopt::Error::UnexpectedOption(opt) => {
            match crate::config::closest(&opt, &all_flag_names()) {
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
        "health" => parse_health(&mut parser),
        "profiles" => parse_profiles(&mut parser),
        "help" => parse_help(&mut parser),
        "dev" => parse_dev(&mut parser),
        "completions" => parse_completions(&mut parser),
        "version" => Ok(Command::Version),
        other => {
            let commands: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
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

/// Handles one profile-selection flag or setting; false when `name` is neither.
fn run_flag(
    name: &str,
    parser: &mut lexopt::Parser,
    run: &mut RunArgs,
    help: &str,
) -> Result<bool, UsageError> {
    // The flag's static spelling, for Origin and messages.
    let Some((row, flag)) = find_flag(SELECT_FLAGS, name).or_else(|| find_flag(SETTINGS, name))
    else {
        return Ok(false);
    };
    if row.is_switch() {
        // `--flag=false` turns a default-on setting off; a plain switch takes no value.
        let value = match row.kind {
            Kind::Bool(_) => match parser.optional_value() {
                Some(value) => Some(text(value, flag, help)?),
                None => None,
            },
            _ => None,
        };
        run.flags.add_flag(row, flag, value);
        return Ok(true);
    }
    let value = parser.value().map_err(|e| lexopt_error(e, help))?;
    let value = text(value, flag, help)?;
    if value.is_empty() {
        return Err(usage(format!("{flag} needs a non-empty value"), help));
    }
    match flag {
        "--profile" => run.selection.profile = Some(value),
        "--profile-file" => run.selection.profile_file = Some(PathBuf::from(value)),
        "--profile-dir" => run.selection.profile_dir = Some(PathBuf::from(value)),
        _ => run.flags.add_flag(row, flag, Some(value)),
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

fn parse_health(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    const HELP: &str = "tunnel-client health --help";
    let mut health = HealthArgs::default();
    // The flags naming the admin server, in the order given: one at most.
    let mut targets: Vec<&str> = Vec::new();
    let value = |parser: &mut lexopt::Parser, flag: &str| -> Result<String, UsageError> {
        let v = parser.value().map_err(|e| lexopt_error(e, HELP))?;
        let v = text(v, flag, HELP)?;
        match v.trim().is_empty() {
            true => Err(usage(format!("{flag} needs a non-empty value"), HELP)),
            false => Ok(v),
        }
    };
    while let Some(arg) = parser.next().map_err(|e| lexopt_error(e, HELP))? {
        match arg {
            Long("help") | Short('h') => return Ok(Command::CommandHelp("health")),
            Long("url") => {
                let url = value(parser, "--url")?;
                let url =
                    AdminUrl::parse(&url).map_err(|why| usage(format!("--url: {why}"), HELP))?;
                health.target = AdminTarget::Url(url);
                targets.push("--url");
            }
            Long("url-file") => {
                health.target = AdminTarget::UrlFile(PathBuf::from(value(parser, "--url-file")?));
                targets.push("--url-file");
            }
            Long("port") => {
                let port = value(parser, "--port")?;
                let port = match port.trim().parse::<u16>() {
                    Ok(port) if port > 0 => port,
                    _ => {
                        return Err(usage(
                            format!("--port: \"{port}\" is not a port number 1-65535"),
                            HELP,
                        ))
                    }
                };
                health.target = AdminTarget::Url(AdminUrl::loopback(port));
                targets.push("--port");
            }
            Long("pid-file") => health.pid_file = Some(PathBuf::from(value(parser, "--pid-file")?)),
            Long("require-ready") => health.require_ready = true,
            Long("json") => health.json = true,
            Long("timeout") => {
                let secs = value(parser, "--timeout")?;
                health.timeout = match secs.trim().parse::<u64>() {
                    Ok(secs) if (1..=MAX_TIMEOUT_SECS).contains(&secs) => {
                        std::time::Duration::from_secs(secs)
                    }
                    _ => {
                        return Err(usage(
                            format!(
                                "--timeout: \"{secs}\" is not a whole number of seconds 1-{MAX_TIMEOUT_SECS}"
                            ),
                            HELP,
                        ))
                    }
                };
            }
            other => return Err(lexopt_error(other.unexpected(), HELP)),
        }
    }
    if targets.len() > 1 {
        return Err(usage(
            format!(
                "{} name the admin server twice; give one of --url, --url-file and --port",
                targets.join(" and ")
            ),
            HELP,
        ));
    }
    Ok(Command::Health(health))
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
        Some(name) => match SHELLS.iter().find(|(n, _)| *n == name) {
            Some((_, shell)) => Ok(Command::Completions(*shell)),
            None => Err(usage(
                format!("unknown shell \"{name}\" (use bash, zsh or fish)"),
                HELP,
            )),
        },
        None => Err(usage(
            "`completions` needs a shell: bash, zsh or fish",
            HELP,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;

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
        for row in SELECT_FLAGS.iter().chain(SETTINGS) {
            for flag in row.flags {
                if *flag == "--profile-file" {
                    continue;
                }
                let mut args = vec![*flag];
                if !row.is_switch() {
                    args.push("x");
                }
                let r = run(&args);
                if !matches!(row.kind, crate::config::settings::Kind::Command) {
                    let layer = format!("{:?}", r.flags);
                    assert!(
                        layer.contains(&format!("{:?}", Origin::Flag(flag))),
                        "{flag}"
                    );
                }
            }
        }
        for row in DOCTOR_FLAGS {
            assert!(matches!(
                parse(["doctor", row.flags[0]]).unwrap(),
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
        assert_eq!(r.flags.mcp_command.unwrap().value, ["a 'b c'"]);
    }

    #[test]
    fn every_listed_command_is_parsed() {
        for command in COMMANDS {
            match parse([command.name, "--help"]) {
                Ok(Command::CommandHelp(name)) => assert_eq!(name, command.name),
                Ok(Command::Help(None)) => assert_eq!(command.name, "help"),
                other => panic!("{}: {other:?}", command.name),
            }
        }
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
