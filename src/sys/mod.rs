//! The only `unsafe` in the crate: POSIX signals, process groups and page
//! advice, which std cannot reach. Everything else in the crate is safe Rust.
#![allow(unsafe_code)] // the one exception to the crate's `unsafe_code = "deny"`

pub(crate) mod notify;
pub(crate) mod pages;

use std::io;

/// glibc malloc arenas a daemon may use. glibc gives each thread that
/// allocates its own arena, up to eight per core, and each keeps the pages it
/// once touched: with 32 workers that was several MB of peak RSS for no
/// speed the daemons measure (their threads mostly wait on sockets).
pub const MALLOC_ARENAS: i32 = 2;

/// Caps glibc's malloc arenas at [`MALLOC_ARENAS`], unless the environment
/// already sets `MALLOC_ARENA_MAX` (the operator's choice wins). Call first
/// thing in `main`, before any thread exists. False when nothing was capped.
pub fn limit_malloc_arenas() -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter; called before any
        // other thread exists, nothing allocates concurrently.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// The termination signals the agent and relay drain on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    Interrupt,
    Terminate,
}

/// Blocks SIGINT and SIGTERM in the calling thread and every thread spawned
/// after it, so that [`wait_for_termination`] can take them synchronously.
/// Call first thing in `main`, before any thread exists.
pub fn block_termination_signals() -> io::Result<()> {
    let set = termination_set()?;
    // SAFETY: `set` is a fully initialised sigset_t owned by this frame;
    // pthread_sigmask only reads it, and a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Waits (in a dedicated thread) until SIGINT or SIGTERM arrives. The signals
/// must have been blocked with [`block_termination_signals`] first.
pub fn wait_for_termination() -> io::Result<Termination> {
    let set = termination_set()?;
    loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: both pointers refer to live, initialised locals; sigwait
        // writes one c_int and does not retain either pointer.
        let rc = unsafe { libc::sigwait(&set, &mut signal) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        match signal {
            libc::SIGINT => return Ok(Termination::Interrupt),
            libc::SIGTERM => return Ok(Termination::Terminate),
            _ => continue,
        }
    }
}

fn termination_set() -> io::Result<libc::sigset_t> {
    // SAFETY: sigemptyset fully initialises the zeroed set before sigaddset
    // reads it; all three only touch the local value.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        if libc::sigemptyset(&mut set) != 0
            || libc::sigaddset(&mut set, libc::SIGINT) != 0
            || libc::sigaddset(&mut set, libc::SIGTERM) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(set)
    }
}

/// Signals to end a child's process group with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSignal {
    Terminate,
    Kill,
}

/// Sends a signal to every process of the group `pgid` (a child started with
/// `CommandExt::process_group(0)` leads a group whose id is its pid).
/// A group that no longer exists is not an error.
pub fn signal_process_group(pgid: u32, signal: GroupSignal) -> io::Result<()> {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pid out of range",
        ));
    };
    if pgid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal group <= 1",
        ));
    }
    let sig = match signal {
        GroupSignal::Terminate => libc::SIGTERM,
        GroupSignal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill has no memory effects; a negative pid addresses the group,
    // and pgid > 1 rules out "every process" (-1) and our own group (0).
    let rc = unsafe { libc::kill(-pgid, sig) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

/// True while any process of group `pgid` is still alive.
pub fn process_group_alive(pgid: u32) -> bool {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return false;
    };
    if pgid <= 1 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission check.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// Makes this process the "child subreaper" of everything it starts: a
/// descendant whose parent dies (a stdio server's grandchild that called
/// `setsid()` and outlived it) is re-parented to us instead of to init, so
/// the agent can still end it. Linux only; elsewhere an `Unsupported` error.
pub fn become_child_subreaper() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument and
        // touches no memory of ours; the unused arguments are zero as the
        // man page asks.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no child subreaper on this system",
        ))
    }
}

/// Sends SIGKILL to process `pid` and, when it leads a process group, to that
/// group. Meant for our own unreaped children only: their pid (and so their
/// group id) cannot be reused before we reap them.
pub fn kill_process_and_group(pid: u32) -> io::Result<()> {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pid out of range",
        ));
    };
    if pid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal pid <= 1",
        ));
    }
    // SAFETY: getpgid and kill have no memory effects; pid > 1 rules out the
    // "every process" and "our own group" meanings of -1 and 0.
    unsafe {
        if libc::getpgid(pid) == pid {
            libc::kill(-pid, libc::SIGKILL);
        }
        if libc::kill(pid, libc::SIGKILL) == 0 {
            return Ok(());
        }
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

/// Reaps our child `pid` if it has exited (never blocks, never touches any
/// other child). True when it was reaped or is not our child any more.
pub fn reap_if_exited(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid writes one c_int into a live local; a positive pid
    // addresses exactly that child, so no other child's status is taken.
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    rc == pid || rc == -1
}
