//! The operator surface: commands, profiles, help, doctor. Turns words and
//! files into a validated `Config` or a one-sentence error; never prints a secret.

pub mod args;
pub(crate) mod completions;
pub(crate) mod doctor;
pub(crate) mod health;
pub(crate) mod help;
pub(crate) mod init;
pub mod logging;
pub(crate) mod profile;
pub(crate) mod samples;

use crate::config::{resolve, Config, ConfigError, Env, Layer, Layers};
use args::Selection;
use std::path::PathBuf;

/// Exit statuses (as the man page states them): 0 success, 1 runtime failure, 2 usage or configuration.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// A validated configuration and the profile file it came from, if any.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub profile: Option<PathBuf>,
}

/// The profile file a selection names, if any (`--profile-file`, or `--profile` looked up).
pub fn selected_profile(selection: &Selection, env: &Env) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = &selection.profile_file {
        return Ok(Some(path.clone()));
    }
    match &selection.profile {
        Some(name) => profile::find(name, selection.profile_dir.as_deref(), env).map(Some),
        None => Ok(None),
    }
}

/// Flags, environment and the selected profile → one validated `Config`.
pub fn load_config(selection: &Selection, flags: &Layer, env: &Env) -> Result<Loaded, ConfigError> {
    let path = selected_profile(selection, env)?;
    let profile_layer = match &path {
        Some(p) => profile::load(p, env)?,
        None => Layer::default(),
    };
    let env_layer = Layer::from_env(env);
    let config = resolve(&Layers {
        flags,
        env: &env_layer,
        profile: &profile_layer,
        vars: env,
    })?;
    Ok(Loaded {
        config,
        profile: path,
    })
}

/// `--version`: version, commit, target triple and TLS provider.
pub fn version_text() -> String {
    crate::build_info::version_line("tunnel-client")
}

/// Runs every command except `run` (which the binary owns: signals, logger,
/// agent) and returns the exit status.
pub fn execute(command: args::Command) -> u8 {
    use args::Command;
    match command {
        Command::Version => {
            println!("{}", version_text());
            EXIT_OK
        }
        Command::Help(None) => {
            print!("{}", help::MAIN);
            EXIT_OK
        }
        Command::Help(Some(topic)) => match help::topic(&topic) {
            Some(text) => {
                print!("{text}");
                EXIT_OK
            }
            None => {
                let names: Vec<&str> = help::TOPICS.iter().map(|(n, _)| *n).collect();
                eprintln!(
                    "tunnel-client: there is no help topic \"{topic}\"; topics: {}",
                    names.join(", ")
                );
                EXIT_USAGE
            }
        },
        Command::CommandHelp(name) => {
            print!("{}", help::command(name));
            EXIT_OK
        }
        Command::Completions(shell) => {
            print!("{}", completions::script(shell));
            EXIT_OK
        }
        Command::SamplesList => {
            print!("{}", samples::list_text());
            EXIT_OK
        }
        Command::SamplesShow(name) => match samples::find(&name) {
            Some(sample) => {
                print!("{}", samples::show_text(sample));
                EXIT_OK
            }
            None => {
                let names: Vec<&str> = samples::SAMPLES.iter().map(|s| s.name).collect();
                eprintln!(
                    "tunnel-client: there is no sample \"{name}\"; use one of {}",
                    names.join(", ")
                );
                EXIT_USAGE
            }
        },
        Command::ProfilesList { profile_dir } => profiles_list(profile_dir.as_deref()),
        Command::Init(init_args) => {
            let env = Env::from_process();
            match init::init(&init_args, &env) {
                Ok(written) => {
                    print!("{}", init::report(&init_args, &written, &env));
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("tunnel-client: {e}");
                    e.exit_code()
                }
            }
        }
        Command::Health(health_args) => health::run(&health_args),
        Command::Doctor(doctor_args) => doctor::run(&doctor_args, &Env::from_process()),
        Command::DevMcpStub { http } => match match http {
            Some(addr) => crate::mcp::stub::run_http(&addr),
            None => crate::mcp::stub::run(),
        } {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("tunnel-client: dev mcp-stub: {e}");
                EXIT_FAILURE
            }
        },
        Command::Run(_) => {
            eprintln!("tunnel-client: run is handled by the binary");
            EXIT_FAILURE
        }
    }
}

/// `profiles list`: the user directory (and the system directory when it exists).
fn profiles_list(explicit: Option<&std::path::Path>) -> u8 {
    let env = Env::from_process();
    let mut dirs: Vec<PathBuf> = profile::user_dir(explicit, &env).into_iter().collect();
    let system = PathBuf::from(profile::SYSTEM_PROFILE_DIR);
    if explicit.is_none() && env.get("TUNNEL_CLIENT_PROFILE_DIR").is_none() && system.is_dir() {
        dirs.push(system);
    }
    let mut any = false;
    for dir in &dirs {
        match profile::list(dir) {
            Ok(found) if !found.is_empty() => {
                any = true;
                println!("{}:", dir.display());
                for (name, _) in found {
                    println!("  {name}");
                }
            }
            Ok(_) => println!("{}: no profiles", dir.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!(
                    "{}: no profiles (the directory does not exist)",
                    dir.display()
                )
            }
            Err(e) => {
                eprintln!(
                    "tunnel-client: cannot list {}: {}; check its permissions",
                    dir.display(),
                    crate::config::io_problem(&e)
                );
                return EXIT_FAILURE;
            }
        }
    }
    if !any {
        println!("create one with: tunnel-client init --sample sample_mcp_stdio_local --profile NAME --tunnel-id ID --mcp-command CMD");
    }
    EXIT_OK
}
