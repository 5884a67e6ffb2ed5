//! tunnel-client: parse the command line, run the command, map the result to
//! an exit status (0 ok, 1 runtime failure, 2 usage/config). No logic of its own.

use std::process::ExitCode;
use tunnel::cli::args::{self, Command, RunArgs};
use tunnel::cli::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use tunnel::config::Env;

fn main() -> ExitCode {
    // ureq panics without a process-wide provider; Err means one is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = match args::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("tunnel-client: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match command {
        Command::Run(run_args) => ExitCode::from(run(run_args)),
        other => ExitCode::from(tunnel::cli::execute(other)),
    }
}

fn run(run_args: RunArgs) -> u8 {
    // Before any thread exists: a daemon's threads share a few malloc arenas.
    tunnel::sys::limit_malloc_arenas();
    // Before any thread exists, so every thread inherits the mask and the
    // agent's signal thread alone receives SIGTERM/SIGINT.
    if let Err(e) = tunnel::sys::block_termination_signals() {
        eprintln!("tunnel-client: cannot set up signal handling: {e}");
        return EXIT_FAILURE;
    }
    let env = Env::from_process();
    let loaded = match tunnel::cli::load_config(&run_args.selection, &run_args.flags, &env) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("tunnel-client: {e}");
            return EXIT_USAGE;
        }
    };
    let config = loaded.config;
    if let Err(e) = tunnel::cli::logging::init(&config.log_level, config.log_format) {
        eprintln!("tunnel-client: {e}");
        return EXIT_FAILURE;
    }
    if let Some(profile) = &loaded.profile {
        log::info!("using profile {}", profile.display());
    }
    match tunnel::agent::run(config) {
        Ok(()) => EXIT_OK,
        Err(e) if e.is_configuration_conflict() => {
            eprintln!("tunnel-client: {e}");
            EXIT_USAGE
        }
        Err(e) => {
            eprintln!("tunnel-client: {e}");
            EXIT_FAILURE
        }
    }
}
