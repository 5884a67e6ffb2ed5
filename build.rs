//! Build script: records the commit, the target triple and the TLS stack for
//! `--version`. Std only; reads no clock and never fails the build.
//!
//! The commit comes from, in order: `$TUNNEL_CLIENT_GIT_COMMIT` (packagers),
//! `.cargo_vcs_info.json` (written into source tarballs by `make dist-src`),
//! then git, but only when this directory is the top of its own checkout (a
//! tarball unpacked inside some other repository must not take its commit).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Commits are shown abbreviated to this many hex digits.
const COMMIT_DIGITS: usize = 12;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn abbreviate(commit: &str) -> Option<String> {
    let commit = commit.trim();
    let valid = commit.len() >= COMMIT_DIGITS && commit.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| commit[..COMMIT_DIGITS].to_ascii_lowercase())
}

/// `"sha1": "…"` from the file cargo itself writes into packaged sources.
fn commit_from_vcs_info(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let after = text.split("\"sha1\"").nth(1)?;
    let value = after.split('"').nth(1)?;
    abbreviate(value)
}

fn commit_from_git(root: &Path) -> Option<String> {
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    // Rebuild when HEAD moves (worktrees keep HEAD outside ./.git). Only
    // files that exist: cargo treats a missing one as always changed.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(root, &["symbolic-ref", "-q", "HEAD"]));
    for path in watched {
        if let Some(p) = git(root, &["rev-parse", "--git-path", &path]) {
            let p = root.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    abbreviate(&git(root, &["rev-parse", "HEAD"])?)
}

/// The locked version of `name` in Cargo.lock, so `--version` names exactly
/// the TLS code that was compiled in.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let version = lines.next()?.trim().strip_prefix("version = ")?;
            return Some(version.trim_matches('"').to_string());
        }
    }
    None
}

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed=build.rs");

    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=TUNNEL_CLIENT_TARGET={target}");

    println!("cargo:rerun-if-env-changed=TUNNEL_CLIENT_GIT_COMMIT");
    let vcs_info = root.join(".cargo_vcs_info.json");
    let commit = match std::env::var("TUNNEL_CLIENT_GIT_COMMIT") {
        Ok(given) => abbreviate(&given),
        Err(_) if vcs_info.is_file() => {
            println!("cargo:rerun-if-changed={}", vcs_info.display());
            commit_from_vcs_info(&vcs_info)
        }
        Err(_) => commit_from_git(&root),
    };
    println!(
        "cargo:rustc-env=TUNNEL_CLIENT_GIT_COMMIT={}",
        commit.unwrap_or_default()
    );

    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let tls = match (
        locked_version(&lock, "rustls"),
        locked_version(&lock, "ring"),
    ) {
        (Some(rustls), Some(ring)) => format!("rustls {rustls} with ring {ring}"),
        _ => "rustls with ring".to_string(),
    };
    println!("cargo:rustc-env=TUNNEL_CLIENT_TLS={tls}");
}
