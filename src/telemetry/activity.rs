//! The recent-activity list (last 100 commands) and the last-errors list of the
//! status page. Holds names and outcomes only: never arguments, results or headers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError, TryLockError};
use std::time::Duration;

/// How many finished commands the activity list keeps.
pub const ACTIVITY_CAPACITY: usize = 100;

/// Longest channel, method or tool name kept, in characters; longer names are
/// cut with `…`. Names come from the remote caller, so they are bounded here.
pub const MAX_LABEL_CHARS: usize = 96;

/// How many error messages the status page keeps.
pub const ERROR_CAPACITY: usize = 20;

/// Longest error message kept, in characters.
pub const MAX_ERROR_CHARS: usize = 300;

/// One finished command as the status page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityEntry {
    /// Wall-clock end time, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    pub channel: String,
    pub method: String,
    pub tool: Option<String>,
    /// "success", "rpc_error", "failed", "dropped: expired", "post_failed".
    pub outcome: &'static str,
    pub duration: Duration,
}

/// A ring slot: the entry with its sequence number, so a lap can be told apart.
type Slot = Mutex<Option<(u64, ActivityEntry)>>;

/// A fixed ring of [`ACTIVITY_CAPACITY`] slots. Writers claim a slot with an
/// atomic counter and `try_lock` it: a worker never waits for the status page
/// (if a page render holds that very slot, the entry is skipped and counted).
pub struct ActivityRing {
    slots: Box<[Slot]>,
    next: AtomicU64,
    skipped: AtomicU64,
}

impl Default for ActivityRing {
    fn default() -> Self {
        Self::new()
    }
}

impl ActivityRing {
    pub fn new() -> Self {
        ActivityRing {
            slots: (0..ACTIVITY_CAPACITY).map(|_| Mutex::new(None)).collect(),
            next: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    pub fn record(&self, entry: ActivityEntry) {
        let seq = self.next.fetch_add(1, Relaxed);
        let slot = &self.slots[(seq % ACTIVITY_CAPACITY as u64) as usize];
        let mut guard = match slot.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.skipped.fetch_add(1, Relaxed);
                return;
            }
        };
        // A slower writer of an older lap must not overwrite a newer entry.
        if guard.as_ref().is_none_or(|(old, _)| *old < seq) {
            *guard = Some((seq, entry));
        }
    }

    /// Newest first.
    pub fn recent(&self) -> Vec<ActivityEntry> {
        let mut entries: Vec<(u64, ActivityEntry)> = self
            .slots
            .iter()
            .filter_map(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .collect();
        entries.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        entries.into_iter().map(|(_, entry)| entry).collect()
    }

    /// Entries not recorded because the page was reading their slot.
    #[cfg(test)]
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Relaxed)
    }
}

/// One error as the status page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorEntry {
    pub at_unix_ms: u64,
    pub message: String,
}

/// The last [`ERROR_CAPACITY`] errors. Errors are rare and off the hot path,
/// so a plain mutex is fine here.
#[derive(Default)]
pub struct ErrorLog {
    entries: Mutex<VecDeque<ErrorEntry>>,
}

impl ErrorLog {
    pub fn record(&self, at_unix_ms: u64, message: &str) {
        let message = bounded(&redact_urls(message), MAX_ERROR_CHARS);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() == ERROR_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(ErrorEntry {
            at_unix_ms,
            message,
        });
    }

    /// Newest first.
    pub fn recent(&self) -> Vec<ErrorEntry> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.iter().rev().cloned().collect()
    }
}

/// A caller-supplied name made safe to keep: control characters replaced,
/// at most `max_chars` characters.
pub fn bounded(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    for (count, c) in text.chars().enumerate() {
        if count == max_chars {
            out.pop();
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// Defence in depth for free text shown on the page: strips URL credentials
/// (`user:pass@`) and query strings, which is where secrets hide in URLs.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***@");
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        match path.find(['?', '#']) {
            Some(q) => {
                out.push_str(&path[..q]);
                out.push_str("?***");
            }
            None => out.push_str(path),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> ActivityEntry {
        ActivityEntry {
            at_unix_ms: n,
            channel: "main".into(),
            method: format!("m{n}"),
            tool: None,
            outcome: "success",
            duration: Duration::from_millis(n),
        }
    }

    #[test]
    fn ring_keeps_the_newest_hundred_newest_first() {
        let ring = ActivityRing::new();
        for n in 0..250 {
            ring.record(entry(n));
        }
        let recent = ring.recent();
        assert_eq!(recent.len(), ACTIVITY_CAPACITY);
        assert_eq!(recent[0].method, "m249");
        assert_eq!(recent[99].method, "m150");
        assert_eq!(ring.skipped(), 0);
    }

    #[test]
    fn a_busy_slot_skips_instead_of_waiting() {
        let ring = ActivityRing::new();
        let _held = ring.slots[0].lock().unwrap();
        ring.record(entry(0));
        assert_eq!(ring.skipped(), 1);
    }

    #[test]
    fn error_log_is_bounded_and_redacted() {
        let log = ErrorLog::default();
        for n in 0..30 {
            log.record(
                n,
                &format!("error {n} at https://user:pw@host:1/p?key=sk-1"),
            );
        }
        let recent = log.recent();
        assert_eq!(recent.len(), ERROR_CAPACITY);
        assert_eq!(recent[0].message, "error 29 at https://***@host:1/p?***");
        log.record(99, &"x".repeat(1000));
        assert_eq!(log.recent()[0].message.chars().count(), MAX_ERROR_CHARS);
    }

    #[test]
    fn redaction_leaves_plain_text_and_origins_alone() {
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(
            redact_urls("connect http://10.0.0.1:8080 refused"),
            "connect http://10.0.0.1:8080 refused"
        );
        assert_eq!(
            redact_urls("a http://u@h/x#frag b"),
            "a http://***@h/x?*** b"
        );
    }

    #[test]
    fn labels_are_bounded_and_printable() {
        assert_eq!(bounded("tools/call", 96), "tools/call");
        assert_eq!(bounded("a\nb", 96), "a b");
        assert_eq!(bounded("abcdef", 4), "abc…");
    }
}
