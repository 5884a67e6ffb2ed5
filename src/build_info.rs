//! What a binary says about its own build (`--version`): version, commit,
//! target and TLS stack, all fixed at compile time by build.rs. Never a clock.

/// The crate version (also sent in `X-Tunnel-Client-Version`).
pub const VERSION: &str = crate::contract::CLIENT_VERSION;

/// The commit the binary was built from, abbreviated; `None` for a tree
/// without git or `.cargo_vcs_info.json`.
pub fn commit() -> Option<&'static str> {
    option_env!("TUNNEL_CLIENT_GIT_COMMIT").filter(|c| !c.is_empty())
}

/// The target triple the binary was compiled for.
pub const TARGET: &str = match option_env!("TUNNEL_CLIENT_TARGET") {
    Some(target) => target,
    None => "unknown target",
};

/// The TLS library and its crypto provider, with the versions in Cargo.lock.
pub const TLS: &str = match option_env!("TUNNEL_CLIENT_TLS") {
    Some(tls) => tls,
    None => "rustls with ring",
};

/// One line for `PROGRAM --version`, e.g. `tunnel-client 0.1.0 (commit
/// 0123456789ab, x86_64-unknown-linux-gnu, rustls 0.23.35 with ring 0.17.14)`.
pub fn version_line(program: &str) -> String {
    match commit() {
        Some(c) => format!("{program} {VERSION} (commit {c}, {TARGET}, {TLS})"),
        None => format!("{program} {VERSION} ({TARGET}, {TLS})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_line_names_version_target_and_tls_provider() {
        let line = version_line("tunnel-client");
        assert!(
            line.starts_with(&format!("tunnel-client {VERSION} (")),
            "{line}"
        );
        assert!(line.contains(TARGET), "{line}");
        assert!(line.contains("rustls") && line.contains("ring"), "{line}");
        assert!(!line.contains('\n'), "{line}");
        if let Some(c) = commit() {
            assert!(line.contains(&format!("commit {c}")), "{line}");
            assert!(
                c.len() == 12 && c.bytes().all(|b| b.is_ascii_hexdigit()),
                "{c}"
            );
        }
    }
}
