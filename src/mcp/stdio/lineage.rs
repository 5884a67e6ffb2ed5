//! The processes a stdio server leaves outside its process group (a grandchild
//! that called `setsid()`): seen while their server lives, ended with it.
//! Never signals or reaps a process that is not our own unreaped child.
//!
//! How it fits together (Linux; without `/proc` every step is a no-op):
//! - The agent makes itself a child subreaper (`sys::become_child_subreaper`),
//!   so a descendant whose parent dies is re-parented to the agent, not init.
//! - Stdio servers are spawned through [`spawn`], which records their pid
//!   under the same lock the scans take: a server is never mistaken for an
//!   orphan, however quickly a scan follows its start.
//! - While servers run, their supervisors call [`observe`]; about once a
//!   second one scan of `/proc` remembers every process below each server
//!   (through parent links) as its descendant, and reaps orphans that exited.
//! - When a server ends (restart or shutdown), [`end_orphans_of`] kills every
//!   re-parented orphan remembered under it — plus any re-parented orphan no
//!   one claims (a server that crashed before a scan saw its grandchild),
//!   unless it still shares the process group of a live server — and their
//!   own descendants as they in turn are re-parented to us.
//! - At agent exit, [`end_all_orphans`] ends every re-parented orphan left.
//!
//! Why this is safe: nothing happens unless this process made itself the
//! subreaper through [`become_subreaper`]; kills and reaps only ever address
//! processes whose parent is this process, that are not servers it spawned
//! and that are not in its own process group (children started the ordinary
//! way stay there; a server's tree never is). Such a pid (and the group it
//! leads) cannot be reused until we reap it, so a signal can never hit an
//! unrelated process. The one imprecision is attribution: a process
//! that left another live server's tree less than a scan interval before a
//! restart, in a session of its own, may be ended with the restarting one.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a running server's descendants are looked at.
pub const OBSERVE_INTERVAL: Duration = Duration::from_secs(1);

/// Pause between kill rounds while orphans are ending.
const ROUND_PAUSE: Duration = Duration::from_millis(10);

/// What the agent knows about its process tree.
struct Lineage {
    /// Servers we spawned and have not reaped: never orphans.
    direct: BTreeSet<u32>,
    /// Descendants seen under each server, by the server's pid.
    seen: BTreeMap<u32, BTreeSet<u32>>,
    /// When `/proc` was last scanned for [`observe`].
    last_scan: Option<Instant>,
}

static LINEAGE: Mutex<Lineage> = Mutex::new(Lineage {
    direct: BTreeSet::new(),
    seen: BTreeMap::new(),
    last_scan: None,
});

/// Set once this process is a child subreaper: before that, no orphan is
/// ever re-parented to us, and nothing here may touch any process.
static SUBREAPER: AtomicBool = AtomicBool::new(false);

fn lineage() -> MutexGuard<'static, Lineage> {
    LINEAGE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes this process the child subreaper of its stdio servers' trees and
/// turns the orphan handling here on. Only the agent's `run` calls it: a
/// process that starts children some other way (a test harness, `doctor`)
/// must never have them taken for orphans.
pub fn become_subreaper() -> io::Result<()> {
    crate::sys::become_child_subreaper()?;
    SUBREAPER.store(true, Ordering::Release);
    Ok(())
}

fn subreaper() -> bool {
    SUBREAPER.load(Ordering::Acquire)
}

/// Our children that are orphans we may end or reap: re-parented to us, not
/// a server we spawned, and not in our own process group (a child started
/// the ordinary way shares it; a stdio server's tree never does).
fn orphans(table: &[Proc], direct: &BTreeSet<u32>) -> Vec<Proc> {
    let me = std::process::id();
    let Some(own_group) = table.iter().find(|p| p.pid == me).map(|p| p.pgid) else {
        return Vec::new();
    };
    table
        .iter()
        .filter(|p| p.ppid == me && p.pgid != own_group && !direct.contains(&p.pid))
        .copied()
        .collect()
}

/// One line of `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proc {
    pid: u32,
    ppid: u32,
    pgid: u32,
    zombie: bool,
}

/// Every process now, from `/proc` (empty where there is none).
fn processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            parse_stat(pid, &stat)
        })
        .collect()
}

/// "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses.
fn parse_stat(pid: u32, stat: &str) -> Option<Proc> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        pgid,
        zombie: matches!(state, "Z" | "X"),
    })
}

/// `roots` and everything below them, through parent links in `table`.
fn below(table: &[Proc], roots: &BTreeSet<u32>) -> BTreeSet<u32> {
    let mut found = roots.clone();
    loop {
        let before = found.len();
        for p in table {
            if found.contains(&p.ppid) {
                found.insert(p.pid);
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// Starts a stdio server and records it as ours in one step.
pub fn spawn(command: &mut Command) -> io::Result<Child> {
    let mut lineage = lineage();
    let child = command.spawn()?;
    lineage.direct.insert(child.id());
    Ok(child)
}

/// The server `pid` has been reaped by its waiter.
pub fn reaped(pid: u32) {
    lineage().direct.remove(&pid);
}

/// Remembers what now runs below every server, and reaps orphans that exited
/// on their own (so they do not linger as zombies). One scan of `/proc` serves
/// all servers, at most once per [`OBSERVE_INTERVAL`] however many servers
/// ask (stdio sessions may run hundreds of them).
pub fn observe() {
    scan(false);
}

/// [`observe`] now, whenever the last scan was: a server is about to end.
pub fn observe_now() {
    scan(true);
}

fn scan(force: bool) {
    if !subreaper() {
        return;
    }
    {
        let mut lineage = lineage();
        let now = Instant::now();
        let recent = lineage
            .last_scan
            .is_some_and(|at| now.saturating_duration_since(at) < OBSERVE_INTERVAL);
        if recent && !force {
            return;
        }
        lineage.last_scan = Some(now);
    }
    let table = processes();
    let mut lineage = lineage();
    let live: BTreeSet<u32> = table.iter().map(|p| p.pid).collect();
    let servers: Vec<u32> = lineage.direct.iter().copied().collect();
    for server in servers {
        let below_server = below(&table, &BTreeSet::from([server]));
        let seen = lineage.seen.entry(server).or_default();
        seen.retain(|pid| live.contains(pid));
        seen.extend(below_server.into_iter().filter(|pid| *pid != server));
    }
    for p in orphans(&table, &lineage.direct) {
        if p.zombie {
            crate::sys::reap_if_exited(p.pid);
        }
    }
}

/// Ends every re-parented orphan that came from server `server` (which has
/// ended), waiting up to `limit` for them to go. Returns how many it killed.
pub fn end_orphans_of(server: u32, limit: Duration) -> usize {
    end_orphans(Some(server), limit)
}

/// Ends every re-parented orphan, whichever server it came from (agent exit).
pub fn end_all_orphans(limit: Duration) -> usize {
    end_orphans(None, limit)
}

fn end_orphans(server: Option<u32>, limit: Duration) -> usize {
    if !subreaper() {
        return 0;
    }
    let until = Instant::now().checked_add(limit);
    let mut killed = BTreeSet::new();
    loop {
        let table = processes();
        let targets: Vec<Proc> = {
            let mut lineage = lineage();
            let orphans = orphans(&table, &lineage.direct);
            let owned = match server {
                None => orphans.iter().map(|p| p.pid).collect(),
                Some(server) => {
                    let claimed: BTreeSet<u32> = lineage
                        .seen
                        .iter()
                        .filter(|(owner, _)| **owner != server)
                        .flat_map(|(_, pids)| pids.iter().copied())
                        .collect();
                    let live_groups: BTreeSet<u32> = lineage.direct.clone();
                    let seen = lineage.seen.entry(server).or_default();
                    for p in &orphans {
                        let unclaimed = !claimed.contains(&p.pid) && !live_groups.contains(&p.pgid);
                        if unclaimed {
                            seen.insert(p.pid);
                        }
                    }
                    let grown = below(&table, seen);
                    seen.extend(grown.iter().copied());
                    grown
                }
            };
            orphans
                .into_iter()
                .filter(|p| owned.contains(&p.pid))
                .collect()
        };
        for p in &targets {
            if !p.zombie {
                if let Err(e) = crate::sys::kill_process_and_group(p.pid) {
                    log::debug!("cannot end orphan pid {}: {e}", p.pid);
                }
                killed.insert(p.pid);
            }
            crate::sys::reap_if_exited(p.pid);
        }
        let done = targets.is_empty();
        let late = until.is_none_or(|until| Instant::now() >= until);
        if done || late {
            if !done {
                log::warn!("{} orphaned process(es) still ending", targets.len());
            }
            break;
        }
        std::thread::sleep(ROUND_PAUSE);
    }
    let mut lineage = lineage();
    match server {
        Some(server) => {
            lineage.seen.remove(&server);
        }
        None => lineage.seen.clear(),
    }
    killed.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let p = parse_stat(42, "42 (a) b (c)) S 7 42 42 0 -1").unwrap();
        assert_eq!(
            p,
            Proc {
                pid: 42,
                ppid: 7,
                pgid: 42,
                zombie: false
            }
        );
        assert!(parse_stat(9, "9 (z) Z 1 9").unwrap().zombie);
        assert_eq!(parse_stat(9, "9 (z) S x 9"), None);
        assert_eq!(parse_stat(9, "garbage"), None);
    }

    #[test]
    fn descendants_follow_parent_links() {
        let p = |pid, ppid| Proc {
            pid,
            ppid,
            pgid: pid,
            zombie: false,
        };
        let table = [p(10, 1), p(11, 10), p(12, 11), p(13, 1), p(14, 13)];
        assert_eq!(
            below(&table, &BTreeSet::from([10])),
            BTreeSet::from([10, 11, 12])
        );
        assert_eq!(below(&table, &BTreeSet::new()), BTreeSet::new());
    }
}
