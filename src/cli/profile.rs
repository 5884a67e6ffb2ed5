//! Profile files on disk: the user and system directories, finding
//! `<dir>/<name>.json`, listing a directory. Reading one is `config::profile`'s job.

pub use crate::config::profile::load;
use crate::config::{ConfigError, Env, Origin};
use std::path::{Path, PathBuf};

/// Profiles for system services, used by `--profile NAME` when the user directory has none.
pub const SYSTEM_PROFILE_DIR: &str = "/etc/tunnel-client/profiles";
/// Most profiles `profiles list` shows.
pub const MAX_LISTED_PROFILES: usize = 1000;

/// The user's profile directory: flag, then `TUNNEL_CLIENT_PROFILE_DIR`, then `~/.tunnel-client/profiles`.
pub fn user_dir(explicit: Option<&Path>, env: &Env) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_path_buf());
    }
    if let Some(dir) = env.get("TUNNEL_CLIENT_PROFILE_DIR") {
        return Some(PathBuf::from(dir));
    }
    env.get("HOME")
        .map(|home| Path::new(home).join(".tunnel-client").join("profiles"))
}

/// True for names that are safe as a file name (no `/`, no leading dot).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// The file `--profile NAME` means: the user directory first, then the
/// system directory (only when no directory was named explicitly).
pub fn find(name: &str, explicit_dir: Option<&Path>, env: &Env) -> Result<PathBuf, ConfigError> {
    if !is_valid_name(name) {
        return Err(ConfigError::Invalid {
            origin: Origin::Flag("--profile"),
            problem: format!("\"{name}\" is not a profile name"),
            fix: "use letters, digits, _, - and . (the file is <dir>/NAME.json; use --profile-file for a path)".into(),
        });
    }
    let file = format!("{name}.json");
    let mut searched = Vec::new();
    if let Some(dir) = user_dir(explicit_dir, env) {
        let path = dir.join(&file);
        if path.exists() {
            return Ok(path);
        }
        searched.push(path);
    }
    let explicit = explicit_dir.is_some() || env.get("TUNNEL_CLIENT_PROFILE_DIR").is_some();
    if !explicit {
        let path = Path::new(SYSTEM_PROFILE_DIR).join(&file);
        if path.exists() {
            return Ok(path);
        }
        searched.push(path);
    }
    Err(ConfigError::ProfileNotFound {
        name: name.to_string(),
        searched,
    })
}

/// The profiles of a directory: (name, path), sorted by name.
pub fn list(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_json = path.extension().is_some_and(|e| e == "json");
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string);
        if let (true, Some(name)) = (is_json, name) {
            found.push((name, path));
            if found.len() >= MAX_LISTED_PROFILES {
                break;
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tc-profile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn directory_order_and_lookup() {
        let env = Env::from_pairs([
            ("HOME", "/home/u"),
            ("TUNNEL_CLIENT_PROFILE_DIR", "/env/dir"),
        ]);
        assert_eq!(
            user_dir(Some(Path::new("/flag")), &env),
            Some(PathBuf::from("/flag"))
        );
        assert_eq!(user_dir(None, &env), Some(PathBuf::from("/env/dir")));
        let home_only = Env::from_pairs([("HOME", "/home/u")]);
        assert_eq!(
            user_dir(None, &home_only),
            Some(PathBuf::from("/home/u/.tunnel-client/profiles"))
        );
        let dir = temp("find");
        std::fs::write(dir.join("a.json"), "{}").unwrap();
        assert_eq!(find("a", Some(&dir), &env).unwrap(), dir.join("a.json"));
        match find("b", Some(&dir), &env) {
            Err(ConfigError::ProfileNotFound { searched, .. }) => {
                // An explicit directory never falls back to /etc.
                assert_eq!(searched, vec![dir.join("b.json")]);
            }
            other => panic!("{other:?}"),
        }
        assert!(find("../x", Some(&dir), &env).is_err());
        assert_eq!(
            list(&dir).unwrap(),
            vec![("a".to_string(), dir.join("a.json"))]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
