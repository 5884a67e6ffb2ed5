//! tunnel-client: parse the command line, run the command, map the result to
//! an exit status. (minimal dispatcher; the CLI work owns and replaces it)

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["dev", "mcp-stub", ..] => match tunnel::mcp::stub::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tunnel-client: mcp-stub: {e}");
                ExitCode::from(1)
            }
        },
        _ => {
            eprintln!("tunnel-client: not built yet");
            ExitCode::from(2)
        }
    }
}
