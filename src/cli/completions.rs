//! `tunnel-client completions SHELL`: the very files shipped under
//! packaging/completions/, compiled in so the two can never drift.

use super::args::Shell;

pub const BASH: &str = include_str!("../../packaging/completions/tunnel-client.bash");
pub const ZSH: &str = include_str!("../../packaging/completions/_tunnel-client");
pub const FISH: &str = include_str!("../../packaging/completions/tunnel-client.fish");

pub fn script(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => BASH,
        Shell::Zsh => ZSH,
        Shell::Fish => FISH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{DOCTOR_FLAGS, INIT_FLAGS, OVERRIDE_FLAGS, SELECT_FLAGS};

    #[test]
    fn every_flag_completes_in_every_shell() {
        for f in SELECT_FLAGS
            .iter()
            .chain(OVERRIDE_FLAGS)
            .chain(DOCTOR_FLAGS)
            .chain(INIT_FLAGS)
        {
            assert!(BASH.contains(f.name), "bash: {}", f.name);
            assert!(ZSH.contains(f.name), "zsh: {}", f.name);
            let fish = format!("-l {}", f.name.trim_start_matches("--"));
            assert!(FISH.contains(&fish), "fish: {}", f.name);
        }
        for s in crate::cli::samples::SAMPLES {
            assert!(BASH.contains(s.name) && ZSH.contains(s.name) && FISH.contains(s.name));
        }
    }
}
