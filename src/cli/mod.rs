//! The operator surface: commands, profiles, help, doctor. Turns words and
//! files into a validated `Config` or a one-sentence error; never prints a secret.

pub mod args;
pub mod logging;
pub mod profile;

use crate::config::{resolve, Config, ConfigError, Env, Layer, Layers};
use args::Selection;
use std::path::PathBuf;

/// Exit statuses (CLI.md): 0 success, 1 runtime failure, 2 usage or configuration.
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
    })?;
    Ok(Loaded {
        config,
        profile: path,
    })
}

/// `--version`: version, git commit when built from a checkout, target triple.
pub fn version_text() -> String {
    let commit = option_env!("TUNNEL_CLIENT_GIT_COMMIT").filter(|c| !c.is_empty());
    let target = option_env!("TUNNEL_CLIENT_TARGET").unwrap_or("unknown target");
    match commit {
        Some(c) => format!(
            "tunnel-client {} (commit {c}, {target})",
            crate::contract::CLIENT_VERSION
        ),
        None => format!(
            "tunnel-client {} ({target})",
            crate::contract::CLIENT_VERSION
        ),
    }
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
        Command::DevMcpStub => match crate::mcp::stub::run() {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("tunnel-client: dev mcp-stub: {e}");
                EXIT_FAILURE
            }
        },
        _ => {
            eprintln!("tunnel-client: this command is not built yet");
            EXIT_USAGE
        }
    }
}
