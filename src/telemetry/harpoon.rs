//! Harpoon's calls as `/metrics` and the status page see them: counts by target, tool,
//! outcome and status class, durations, response sizes, the last calls. Never a path, query, header value or body.
//!
//! Every label value is bounded: a `target` is a label registered from the
//! configuration or an OAuth discovery (at most [`MAX_TARGET_ROWS`]; a call
//! naming anything else counts as [`UNKNOWN`]), `tool`, `outcome` and
//! `status_class` are the fixed lists below. One row of cells per target is
//! allocated when the target is first registered. Counting is atomics only;
//! the last-calls list takes a short lock (a call is a network round trip,
//! never the hot path).

use super::activity::{bounded, MAX_LABEL_CHARS};
use super::histogram::{Histogram, HistogramSnapshot, AGENT_BUCKETS_MICROS};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// The `target` (or `tool`) of a call that names none of ours.
pub const UNKNOWN: &str = "__unknown__";
/// Values of the `tool` label.
pub const TOOLS: [&str; 5] = [
    "call_target",
    "get_oauth_target_audience",
    "http_callout",
    "list_targets",
    UNKNOWN,
];
/// Values of the `outcome` label.
pub const OUTCOMES: [&str; 8] = [
    "success",
    "invalid_input",
    "refused",
    "request_error",
    "timeout",
    "redirect_blocked",
    "response_read_error",
    "response_too_large",
];
/// Values of the `status_class` label.
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"];
/// Most `target` rows: 64 configured targets, OAuth-discovered ones as
/// discoveries relabel them, and [`UNKNOWN`]. A target beyond counts as [`UNKNOWN`].
pub const MAX_TARGET_ROWS: usize = 160;
/// How many calls the status page lists.
pub const RECENT_CALLS: usize = 20;
/// `tunnel_client_harpoon_response_bytes` buckets: 1 KiB to 10 MiB.
pub const RESPONSE_BYTES_BUCKETS: [u64; 5] =
    [1024, 10 * 1024, 100 * 1024, 1024 * 1024, 10 * 1024 * 1024];

const CALL_CELLS: usize = TOOLS.len() * OUTCOMES.len() * STATUS_CLASSES.len();
const DURATION_CELLS: usize = TOOLS.len() * OUTCOMES.len();

/// One call, as Harpoon reports it (names and numbers only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call<'a> {
    pub target: &'a str,
    pub tool: &'a str,
    pub method: Option<&'static str>,
    pub status: Option<u16>,
    pub outcome: &'a str,
    pub latency: Duration,
    /// Response body bytes received (0 when none was kept).
    pub bytes: u64,
    pub dropped_headers: u32,
}

/// One call as the status page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentCall {
    pub at_unix_ms: u64,
    pub target: String,
    pub tool: &'static str,
    pub method: Option<&'static str>,
    pub status: Option<u16>,
    pub outcome: &'static str,
    pub duration: Duration,
    pub bytes: u64,
}

/// A target's totals for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSummary {
    pub label: String,
    /// `config` or `oauth`; empty for [`UNKNOWN`].
    pub source: &'static str,
    /// A target now (OAuth targets come and go; their counts stay).
    pub current: bool,
    pub calls: u64,
    pub successes: u64,
    pub last_status: Option<u16>,
    pub last_call_unix_ms: Option<u64>,
}

/// The cells of one `target`.
struct Row {
    label: String,
    source: &'static str,
    current: AtomicBool,
    calls: Box<[AtomicU64]>,
    durations: Box<[Histogram]>,
    response_bytes: Histogram,
    dropped_headers: AtomicU64,
    /// 0: no answer yet.
    last_status: AtomicU32,
    /// 0: never called.
    last_call_unix_ms: AtomicU64,
}

impl Row {
    fn new(label: &str, source: &'static str) -> Row {
        Row {
            label: label.to_string(),
            source,
            current: AtomicBool::new(false),
            calls: (0..CALL_CELLS).map(|_| AtomicU64::new(0)).collect(),
            durations: (0..DURATION_CELLS)
                .map(|_| Histogram::new(&AGENT_BUCKETS_MICROS))
                .collect(),
            response_bytes: Histogram::new(&RESPONSE_BYTES_BUCKETS),
            dropped_headers: AtomicU64::new(0),
            last_status: AtomicU32::new(0),
            last_call_unix_ms: AtomicU64::new(0),
        }
    }
}

/// Index of `value` in `list`, or of the last entry (the catch-all).
fn position(list: &[&str], value: &str) -> usize {
    list.iter()
        .position(|v| *v == value)
        .unwrap_or(list.len().saturating_sub(1))
}

fn class_of(status: Option<u16>) -> usize {
    match status {
        Some(s @ 100..=599) => usize::from(s / 100 - 1),
        _ => STATUS_CLASSES.len() - 1,
    }
}

/// Everything recorded about Harpoon.
pub struct HarpoonStats {
    rows: Box<[OnceLock<Row>]>,
    targets: AtomicU64,
    recent: Mutex<VecDeque<RecentCall>>,
}

impl Default for HarpoonStats {
    fn default() -> Self {
        HarpoonStats {
            rows: (0..MAX_TARGET_ROWS).map(|_| OnceLock::new()).collect(),
            targets: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_CALLS)),
        }
    }
}

/// A cell of one series of the calls family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSeries<'a> {
    pub target: &'a str,
    pub tool: &'static str,
    pub outcome: &'static str,
    pub status_class: &'static str,
    pub count: u64,
}

impl HarpoonStats {
    fn rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().map_while(OnceLock::get)
    }

    fn row(&self, label: &str) -> Option<&Row> {
        self.rows().find(|r| r.label == label)
    }

    /// The row of `label`, created if a slot is left (the last one is kept for [`UNKNOWN`]).
    fn row_or_new(&self, label: &str, source: &'static str) -> Option<&Row> {
        for (index, slot) in self.rows.iter().enumerate() {
            let last = index + 1 == self.rows.len();
            if last && label != UNKNOWN && slot.get().is_none() {
                return None;
            }
            let row = slot.get_or_init(|| Row::new(label, source));
            if row.label == label {
                return Some(row);
            }
        }
        None
    }

    /// The targets now, `(label, source)`: the only `target` values besides
    /// [`UNKNOWN`]. Earlier targets keep their rows, marked not current.
    pub fn set_targets(&self, targets: &[(String, &'static str)]) {
        for row in self.rows() {
            row.current.store(false, Relaxed);
        }
        for (label, source) in targets {
            if let Some(row) = self.row_or_new(label, source) {
                row.current.store(true, Relaxed);
            }
        }
        self.targets
            .store(u64::try_from(targets.len()).unwrap_or(u64::MAX), Relaxed);
    }

    /// One finished call at `at_unix_ms`.
    pub fn record(&self, call: &Call<'_>, at_unix_ms: u64) {
        let tool = position(&TOOLS, call.tool);
        let outcome = position(&OUTCOMES, call.outcome);
        let class = class_of(call.status);
        let row = match self.row(call.target) {
            Some(row) => Some(row),
            None => self.row_or_new(UNKNOWN, ""),
        };
        let target = row.map_or(UNKNOWN, |r| r.label.as_str());
        if let Some(row) = row {
            let cell = (tool * OUTCOMES.len() + outcome) * STATUS_CLASSES.len() + class;
            if let Some(c) = row.calls.get(cell) {
                c.fetch_add(1, Relaxed);
            }
            if let Some(h) = row.durations.get(tool * OUTCOMES.len() + outcome) {
                h.record(call.latency);
            }
            if call.status.is_some() && OUTCOMES[outcome] == "success" {
                row.response_bytes.record_value(call.bytes);
            }
            row.dropped_headers
                .fetch_add(u64::from(call.dropped_headers), Relaxed);
            if let Some(status) = call.status {
                row.last_status.store(u32::from(status), Relaxed);
            }
            row.last_call_unix_ms.store(at_unix_ms, Relaxed);
        }
        let entry = RecentCall {
            at_unix_ms,
            target: bounded(target, MAX_LABEL_CHARS),
            tool: TOOLS[tool],
            method: call.method,
            status: call.status,
            outcome: OUTCOMES[outcome],
            duration: call.latency,
            bytes: call.bytes,
        };
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RECENT_CALLS {
            recent.pop_front();
        }
        recent.push_back(entry);
    }

    /// `tunnel_client_harpoon_targets`.
    pub fn target_count(&self) -> u64 {
        self.targets.load(Relaxed)
    }

    /// Every non-zero series of `tunnel_client_harpoon_calls_total`, by row.
    pub fn call_series(&self) -> Vec<CallSeries<'_>> {
        let mut out = Vec::new();
        for row in self.rows() {
            for (cell, count) in row.calls.iter().enumerate() {
                let count = count.load(Relaxed);
                if count == 0 {
                    continue;
                }
                let class = cell % STATUS_CLASSES.len();
                let outcome = (cell / STATUS_CLASSES.len()) % OUTCOMES.len();
                let tool = cell / (STATUS_CLASSES.len() * OUTCOMES.len());
                out.push(CallSeries {
                    target: &row.label,
                    tool: TOOLS[tool],
                    outcome: OUTCOMES[outcome],
                    status_class: STATUS_CLASSES[class],
                    count,
                });
            }
        }
        out
    }

    /// Every non-empty `(target, tool, outcome)` duration histogram.
    pub fn durations(&self) -> Vec<(&str, &'static str, &'static str, HistogramSnapshot)> {
        let mut out = Vec::new();
        for row in self.rows() {
            for (cell, h) in row.durations.iter().enumerate() {
                let snapshot = h.snapshot();
                if snapshot.count == 0 {
                    continue;
                }
                let tool = TOOLS[cell / OUTCOMES.len()];
                let outcome = OUTCOMES[cell % OUTCOMES.len()];
                out.push((row.label.as_str(), tool, outcome, snapshot));
            }
        }
        out
    }

    /// Per target (every registered one, and [`UNKNOWN`] once used): the
    /// response-size histogram and the dropped-header count.
    pub fn per_target(&self) -> Vec<(&str, HistogramSnapshot, u64)> {
        self.rows()
            .map(|row| {
                (
                    row.label.as_str(),
                    row.response_bytes.snapshot(),
                    row.dropped_headers.load(Relaxed),
                )
            })
            .collect()
    }

    /// The status page's per-target lines, in registration order.
    pub fn summaries(&self) -> Vec<TargetSummary> {
        self.rows()
            .map(|row| {
                let count = |only_success: bool| {
                    row.calls
                        .iter()
                        .enumerate()
                        .filter(|(cell, _)| {
                            !only_success || (cell / STATUS_CLASSES.len()) % OUTCOMES.len() == 0
                        })
                        .map(|(_, c)| c.load(Relaxed))
                        .sum::<u64>()
                };
                TargetSummary {
                    label: row.label.clone(),
                    source: row.source,
                    current: row.current.load(Relaxed),
                    calls: count(false),
                    successes: count(true),
                    last_status: match row.last_status.load(Relaxed) {
                        0 => None,
                        s => u16::try_from(s).ok(),
                    },
                    last_call_unix_ms: match row.last_call_unix_ms.load(Relaxed) {
                        0 => None,
                        ms => Some(ms),
                    },
                }
            })
            .collect()
    }

    /// The last [`RECENT_CALLS`] calls, newest first.
    pub fn recent(&self) -> Vec<RecentCall> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(target: &'a str, tool: &'a str, outcome: &'a str, status: Option<u16>) -> Call<'a> {
        Call {
            target,
            tool,
            method: Some("GET"),
            status,
            outcome,
            latency: Duration::from_millis(12),
            bytes: 2048,
            dropped_headers: 2,
        }
    }

    #[test]
    fn labels_stay_within_the_registered_sets() {
        let s = HarpoonStats::default();
        s.set_targets(&[("api".into(), "config")]);
        s.record(&call("api", "http_callout", "success", Some(204)), 1);
        s.record(&call("peer-chosen", "fetch", "made-up", Some(999)), 2);
        s.record(&call("api", "call_target", "timeout", None), 3);
        let series = s.call_series();
        assert_eq!(
            series,
            [
                CallSeries {
                    target: "api",
                    tool: "call_target",
                    outcome: "timeout",
                    status_class: "none",
                    count: 1
                },
                CallSeries {
                    target: "api",
                    tool: "http_callout",
                    outcome: "success",
                    status_class: "2xx",
                    count: 1
                },
                CallSeries {
                    target: UNKNOWN,
                    tool: UNKNOWN,
                    outcome: "response_too_large",
                    status_class: "none",
                    count: 1
                },
            ]
        );
        let per_target = s.per_target();
        assert_eq!(per_target[0].0, "api");
        assert_eq!(per_target[0].1.cumulative, [0, 1, 1, 1, 1, 1]);
        assert_eq!(per_target[0].2, 4);
        assert_eq!(s.durations().len(), 3);
        let summary = &s.summaries()[0];
        assert_eq!(
            (summary.calls, summary.successes, summary.last_status),
            (2, 1, Some(204))
        );
        assert_eq!(summary.last_call_unix_ms, Some(3));
        assert_eq!(s.recent()[0].outcome, "timeout");
        assert_eq!(s.recent()[1].target, UNKNOWN);
        assert_eq!(s.target_count(), 1);
    }

    #[test]
    fn rows_are_bounded_and_replaced_targets_keep_their_counts() {
        let s = HarpoonStats::default();
        s.set_targets(&[("oauth-token".into(), "oauth")]);
        s.record(&call("oauth-token", "call_target", "success", Some(200)), 1);
        s.set_targets(&[("oauth-token-2".into(), "oauth")]);
        let summaries = s.summaries();
        assert!(!summaries[0].current && summaries[0].calls == 1);
        assert!(summaries[1].current);
        let many: Vec<(String, &str)> = (0..500).map(|i| (format!("t{i}"), "config")).collect();
        s.set_targets(&many);
        assert_eq!(s.summaries().len(), MAX_TARGET_ROWS - 1);
        // No row left for a late target: its calls count as unknown.
        s.record(&call("t499", "call_target", "success", Some(200)), 1);
        assert_eq!(s.summaries().len(), MAX_TARGET_ROWS);
        assert!(s.call_series().iter().all(|c| c.target != "t499"));
        assert!(s.call_series().iter().any(|c| c.target == UNKNOWN));
        for _ in 0..30 {
            s.record(&call("oauth-token", "list_targets", "success", None), 1);
        }
        assert_eq!(s.recent().len(), RECENT_CALLS);
    }
}
