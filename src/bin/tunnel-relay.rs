//! tunnel-relay: parse the command line, start the relay, print where it
//! listens, stop on SIGTERM/SIGINT. Thin: all behaviour lives in `tunnel::relay`.

use std::io::Write;
use std::process::ExitCode;
use tunnel::relay::cli::{self, Action};
use tunnel::relay::Relay;

fn main() -> ExitCode {
    // Before any thread exists: request threads share a few malloc arenas.
    tunnel::sys::limit_malloc_arenas();
    // Before any thread exists, so every thread inherits the blocked mask and
    // only the waiter below takes the signals.
    if let Err(e) = tunnel::sys::block_termination_signals() {
        eprintln!("tunnel-relay: cannot set up signal handling: {e}");
        return ExitCode::from(1);
    }
    let action = cli::parse(std::env::args_os().skip(1), |name| std::env::var(name).ok());
    let (config, level) = match action {
        Ok(Action::Run(config, level)) => (config, level),
        Ok(Action::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Action::Version) => {
            println!("{}", tunnel::build_info::version_line("tunnel-relay"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tunnel-relay: {e}");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::new()
        .filter_level(level)
        .format_timestamp_millis()
        .init();

    let relay = match Relay::start(*config) {
        Ok(relay) => relay,
        Err(e) => {
            eprintln!("tunnel-relay: {e}");
            return ExitCode::from(if e.is_config() { 2 } else { 1 });
        }
    };
    let mut stdout = std::io::stdout().lock();
    let printed = writeln!(stdout, "listening on http://{}", relay.local_addr())
        .and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = printed {
        eprintln!("tunnel-relay: cannot write to stdout: {e}");
        relay.shutdown();
        return ExitCode::from(1);
    }
    log::info!("tunnel-relay serving on {}", relay.local_addr());

    let (tx, rx) = crossbeam_channel::bounded(1);
    let waiter = std::thread::Builder::new()
        .name("relay-signals".into())
        .spawn(move || {
            let _ = tx.send(tunnel::sys::wait_for_termination());
        });
    if let Err(e) = waiter {
        eprintln!("tunnel-relay: cannot start the signal thread: {e}");
        relay.shutdown();
        return ExitCode::from(1);
    }
    let status = match rx.recv() {
        Ok(Ok(signal)) => {
            log::info!("{signal:?} received; shutting down");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("tunnel-relay: waiting for signals failed: {e}");
            ExitCode::from(1)
        }
        Err(_) => {
            eprintln!("tunnel-relay: the signal thread ended unexpectedly");
            ExitCode::from(1)
        }
    };
    relay.shutdown();
    status
}
