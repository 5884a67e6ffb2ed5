//! `tunnel-client init`: writes a profile from a sample (0600 file in a 0700
//! directory) and prints the next commands. Never overwrites without `--force`, never writes a key.

use super::args::InitArgs;
use super::{profile, samples};
use crate::config::{check_url_for_mcp, io_problem, split_command, Env};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why `init` wrote nothing (exit 2 for usage, 1 for I/O).
#[derive(Debug)]
pub enum InitError {
    /// A flag is missing or wrong.
    Usage(String),
    /// The profile exists and `--force` was not given.
    Exists(PathBuf),
    /// The directory or file could not be written.
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Usage(m) => write!(f, "{m}"),
            InitError::Exists(p) => write!(
                f,
                "{} already exists; pass --force to overwrite it, or choose another --profile name",
                p.display()
            ),
            InitError::Write { path, error } => write!(
                f,
                "cannot write {}: {}; choose a writable --profile-dir",
                path.display(),
                io_problem(error)
            ),
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InitError::Write { error, .. } => Some(error),
            InitError::Usage(_) | InitError::Exists(_) => None,
        }
    }
}

impl InitError {
    pub fn exit_code(&self) -> u8 {
        match self {
            InitError::Usage(_) | InitError::Exists(_) => super::EXIT_USAGE,
            InitError::Write { .. } => super::EXIT_FAILURE,
        }
    }
}

/// What `init` wrote, for the report it prints.
#[derive(Debug)]
pub struct Written {
    pub path: PathBuf,
    /// A problem found when reading the profile back (e.g. a missing
    /// variable): the file is written, the operator fixes the environment.
    pub note: Option<String>,
}

const HELP: &str = "see `tunnel-client init --help`";

fn required<'a>(value: &'a Option<String>, flag: &str) -> Result<&'a str, InitError> {
    value
        .as_deref()
        .ok_or_else(|| InitError::Usage(format!("init needs {flag}; {HELP}")))
}

/// Validates the inputs, writes the profile, reads it back.
pub fn init(args: &InitArgs, env: &Env) -> Result<Written, InitError> {
    let sample_name = required(&args.sample, "--sample NAME")?;
    let sample = samples::find(sample_name).ok_or_else(|| {
        let names: Vec<&str> = samples::SAMPLES.iter().map(|s| s.name).collect();
        InitError::Usage(format!(
            "--sample: there is no sample \"{sample_name}\"; use one of {}",
            names.join(", ")
        ))
    })?;
    let name = required(&args.profile, "--profile NAME")?;
    if !profile::is_valid_name(name) {
        return Err(InitError::Usage(format!(
            "--profile: \"{name}\" is not a usable profile name; use letters, digits, _, - and ."
        )));
    }
    let tunnel_id = required(&args.tunnel_id, "--tunnel-id ID")?;
    if !crate::contract::is_valid_tunnel_id(tunnel_id) {
        return Err(InitError::Usage(
            "--tunnel-id: the value is not a tunnel id; a tunnel id is `tunnel_` followed by 32 lowercase letters or digits".into(),
        ));
    }
    let target = match (&args.mcp_command, &args.mcp_server_url) {
        (Some(cmd), None) => {
            split_command(cmd).map_err(|p| InitError::Usage(format!("--mcp-command: {p}")))?;
            ("mcp_command", cmd.as_str())
        }
        (None, Some(url)) => {
            check_url_for_mcp("--mcp-server-url", url)
                .map_err(|e| InitError::Usage(e.to_string()))?;
            ("mcp_server_url", url.as_str())
        }
        (Some(_), Some(_)) => {
            return Err(InitError::Usage(
                "--mcp-command and --mcp-server-url cannot be used together; give one".into(),
            ))
        }
        (None, None) => {
            return Err(InitError::Usage(format!(
                "init needs --mcp-command CMD or --mcp-server-url URL; {HELP}"
            )))
        }
    };
    let dir = profile::user_dir(args.profile_dir.as_deref(), env).ok_or_else(|| {
        InitError::Usage("no profile directory: HOME is not set; pass --profile-dir DIR".into())
    })?;
    let path = dir.join(format!("{name}.json"));
    let text = samples::fill(sample, tunnel_id, target);
    write_private(&dir, &path, &text, args.force)?;
    let note = super::load_config(
        &super::args::Selection {
            profile_file: Some(path.clone()),
            ..Default::default()
        },
        &crate::config::Layer::default(),
        env,
    )
    .err()
    .map(|e| e.to_string());
    Ok(Written { path, note })
}

/// Creates `dir` (0700) if needed and writes `path` with mode 0600.
fn write_private(dir: &Path, path: &Path, text: &str, force: bool) -> Result<(), InitError> {
    let failed = |path: &Path, error: std::io::Error| InitError::Write {
        path: path.to_path_buf(),
        error,
    };
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| failed(dir, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            InitError::Exists(path.to_path_buf())
        } else {
            failed(path, e)
        }
    })?;
    // An overwritten file keeps its old mode; the profile must be private either way.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| failed(path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| failed(path, e))?;
    Ok(())
}

/// What `init` prints after writing.
pub fn report(args: &InitArgs, written: &Written, env: &Env) -> String {
    let name = args.profile.as_deref().unwrap_or("NAME");
    let dir_flag = match &args.profile_dir {
        Some(dir) => format!(" --profile-dir {}", dir.display()),
        None => String::new(),
    };
    let mut out = format!("wrote {} (mode 0600)\n", written.path.display());
    if let Some(note) = &written.note {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push_str("\nnext:\n");
    if env.get("CONTROL_PLANE_API_KEY").is_none() && env.get("OPENAI_API_KEY").is_none() {
        out.push_str("  export CONTROL_PLANE_API_KEY=...        # the key of your tunnel (never put it in the profile)\n");
    }
    out.push_str(&format!(
        "  tunnel-client doctor --profile {name}{dir_flag}\n"
    ));
    out.push_str(&format!("  tunnel-client run --profile {name}{dir_flag}\n"));
    out
}
