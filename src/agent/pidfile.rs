//! `run --pid-file`: the file naming the agent's process, claimed at startup and
//! removed at exit, and the /proc look-ups `health --pid-file` shares. Never signals a process.

use log::{debug, info, warn};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A pid file is a number and a newline; anything longer is not one.
pub const MAX_PID_FILE_BYTES: u64 = 64;
/// Mode of the pid file: any user may read which process is the agent.
pub const PID_FILE_MODE: u32 = 0o644;
/// Where the kernel shows processes; nothing here works without it mounted.
const PROC: &str = "/proc";

/// Why a pid file cannot be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file does not exist (the agent is not running, or never wrote it).
    Missing,
    /// It exists but does not hold one positive process id.
    Malformed,
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Missing => write!(f, "it does not exist"),
            ReadError::Malformed => write!(f, "it does not hold a process id"),
            ReadError::Io(e) => write!(f, "{}", crate::config::io_problem(e)),
        }
    }
}

/// The process id a pid file names.
pub fn read_pid(path: &Path) -> Result<u32, ReadError> {
    let file = fs::File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ReadError::Missing,
        _ => ReadError::Io(e),
    })?;
    let mut text = String::new();
    file.take(MAX_PID_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => ReadError::Malformed,
            _ => ReadError::Io(e),
        })?;
    if text.len() as u64 > MAX_PID_FILE_BYTES {
        return Err(ReadError::Malformed);
    }
    match text.trim().parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(ReadError::Malformed),
    }
}

/// What /proc says about a process id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessState {
    /// No such process (or only its zombie, waiting to be reaped).
    Gone,
    /// Running; `program` is its short name (`comm`) when it could be read.
    Running { program: Option<String> },
    /// /proc is not mounted here: nobody can tell.
    Unknown,
}

/// Looks `pid` up in /proc (std only: no signal is sent to it).
pub fn process_state(pid: u32) -> ProcessState {
    let proc = Path::new(PROC);
    if !proc.join("self").exists() {
        return ProcessState::Unknown;
    }
    let dir = proc.join(pid.to_string());
    let stat = match fs::read_to_string(dir.join("stat")) {
        Ok(stat) => stat,
        // Gone, or it vanished between the two reads.
        Err(_) if !dir.exists() => return ProcessState::Gone,
        Err(_) => return ProcessState::Running { program: None },
    };
    // `pid (comm) S ...`: the state follows the last ')' (comm may hold one).
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    if matches!(state, Some('Z' | 'X' | 'x')) {
        return ProcessState::Gone;
    }
    ProcessState::Running {
        program: program_name(&dir),
    }
}

fn program_name(proc_dir: &Path) -> Option<String> {
    let comm = fs::read_to_string(proc_dir.join("comm")).ok()?;
    let comm = comm.trim_end_matches('\n');
    (!comm.is_empty()).then(|| comm.to_string())
}

/// Why the pid file could not be claimed.
#[derive(Debug)]
pub enum PidFileError {
    /// Another tunnel-client (`pid`) is running with this pid file.
    Running { path: PathBuf, pid: u32 },
    /// The file could not be read or written.
    Io {
        path: PathBuf,
        doing: &'static str,
        source: io::Error,
    },
}

impl fmt::Display for PidFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PidFileError::Running { path, pid } => write!(
                f,
                "the pid file {} names pid {pid}, another tunnel-client that is still running; \
                 stop it first, or give this agent its own --pid-file",
                path.display()
            ),
            PidFileError::Io {
                path,
                doing,
                source,
            } => write!(
                f,
                "cannot {doing} the pid file {}: {}; check that its directory exists and is writable",
                path.display(),
                crate::config::io_problem(source)
            ),
        }
    }
}

impl std::error::Error for PidFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PidFileError::Io { source, .. } => Some(source),
            PidFileError::Running { .. } => None,
        }
    }
}

/// A claimed pid file; dropping it removes the file if it still names us.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Writes our pid to `path` (atomically, mode 0644). A file left by a
    /// process that is gone, by a process that is not a tunnel-client (its
    /// pid was reused), or by this very pid (a container's pid 1 restarted)
    /// is replaced; one naming another running tunnel-client is refused.
    pub fn claim(path: &Path) -> Result<PidFile, PidFileError> {
        let own = std::process::id();
        let io_error = |doing, source| PidFileError::Io {
            path: path.to_path_buf(),
            doing,
            source,
        };
        match read_pid(path) {
            Err(ReadError::Missing) => {}
            Err(ReadError::Io(e)) => return Err(io_error("read", e)),
            Err(ReadError::Malformed) => warn!(
                "the pid file {} does not hold a process id; replacing it",
                path.display()
            ),
            Ok(pid) if pid == own => {}
            Ok(pid) => match process_state(pid) {
                ProcessState::Gone => info!(
                    "the pid file {} names pid {pid}, which is not running; replacing it",
                    path.display()
                ),
                ProcessState::Unknown => warn!(
                    "the pid file {} names pid {pid}, and /proc is not mounted to tell whether \
                     it runs; replacing it",
                    path.display()
                ),
                ProcessState::Running { program } => {
                    let ours = program_name(&Path::new(PROC).join("self"));
                    match (program, ours) {
                        (Some(theirs), Some(ours)) if theirs != ours => warn!(
                            "the pid file {} names pid {pid}, a running {theirs:?} (not {ours:?}): \
                             the pid was reused; replacing it",
                            path.display()
                        ),
                        // The same program, or it cannot be told: refuse rather than share.
                        _ => {
                            return Err(PidFileError::Running {
                                path: path.to_path_buf(),
                                pid,
                            })
                        }
                    }
                }
            },
        }
        crate::atomic_file::write(path, format!("{own}\n").as_bytes(), PID_FILE_MODE)
            .map_err(|e| io_error("write", e))?;
        debug!("wrote pid {own} to {}", path.display());
        Ok(PidFile {
            path: path.to_path_buf(),
            pid: own,
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Another agent may have replaced a file it found stale: leave its file alone.
        match read_pid(&self.path) {
            Ok(pid) if pid == self.pid => {
                if let Err(e) = fs::remove_file(&self.path) {
                    warn!(
                        "cannot remove the pid file {}: {}",
                        self.path.display(),
                        crate::config::io_problem(&e)
                    );
                }
            }
            _ => debug!(
                "the pid file {} no longer names us; left alone",
                self.path.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tunnel-pidfile-{name}-{}-{}",
            std::process::id(),
            crate::random::hex(8)
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn pid_files_hold_one_positive_number() {
        let dir = scratch("read");
        let file = dir.join("pid");
        assert!(matches!(read_pid(&file), Err(ReadError::Missing)));
        for (text, pid) in [("42\n", Some(42)), (" 7 ", Some(7)), ("0\n", None)] {
            fs::write(&file, text).unwrap();
            assert_eq!(read_pid(&file).ok(), pid, "{text:?}");
        }
        for bad in ["", "x\n", "-3\n", "4294967296\n", "1\n2\n"] {
            fs::write(&file, bad).unwrap();
            assert!(
                matches!(read_pid(&file), Err(ReadError::Malformed)),
                "{bad:?}"
            );
        }
        fs::write(&file, "1".repeat(MAX_PID_FILE_BYTES as usize + 1)).unwrap();
        assert!(matches!(read_pid(&file), Err(ReadError::Malformed)));
        fs::write(&file, [0xff, 0xfe, b'\n']).unwrap();
        assert!(matches!(read_pid(&file), Err(ReadError::Malformed)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn proc_tells_running_from_gone() {
        if !Path::new("/proc/self").exists() {
            assert_eq!(process_state(1), ProcessState::Unknown);
            return;
        }
        match process_state(std::process::id()) {
            ProcessState::Running { program: Some(_) } => {}
            other => panic!("{other:?}"),
        }
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        // Reaped: the pid is free (a reuse within this test is vanishingly unlikely).
        assert_eq!(process_state(pid), ProcessState::Gone);
    }

    #[test]
    fn a_claim_replaces_a_stale_file_and_its_drop_removes_only_its_own() {
        let dir = scratch("claim");
        let file = dir.join("run").join("agent.pid");
        let e = PidFile::claim(&file).unwrap_err();
        assert!(matches!(e, PidFileError::Io { doing: "write", .. }), "{e}");
        assert!(e.to_string().contains("agent.pid"), "{e}");
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, "garbage").unwrap();
        let claimed = PidFile::claim(&file).unwrap();
        assert_eq!(read_pid(&file).unwrap(), std::process::id());
        drop(claimed);
        assert!(!file.exists());
        // A file someone else has since claimed is not ours to remove.
        let claimed = PidFile::claim(&file).unwrap();
        fs::write(&file, "1\n").unwrap();
        drop(claimed);
        assert_eq!(read_pid(&file).unwrap(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
