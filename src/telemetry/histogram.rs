//! Lock-free recording primitives: a Prometheus histogram over a fixed set of
//! buckets and a bounded window of recent durations for percentiles. Recording never locks or allocates.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// Bucket upper bounds of the agent's duration histograms, in microseconds
/// (5 ms to 30 s); `+Inf` follows. We count in microseconds: no float atomics.
pub const AGENT_BUCKETS_MICROS: [u64; 12] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000, 30_000_000,
];

/// One observation counts at most this much toward `_sum` (about 11.6 days), so
/// that the sum cannot wrap however long the process lives.
const MAX_OBSERVATION_MICROS: u64 = 1_000_000_000_000;

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .min(MAX_OBSERVATION_MICROS)
}

/// A bucket bound in seconds, as the `le` label shows it (5000 → 0.005).
pub fn bound_seconds(bound_micros: u64) -> f64 {
    bound_micros as f64 / 1e6
}

/// A histogram over ascending bucket bounds (microseconds) fixed at
/// construction. An observation lands in the first bucket whose bound it does
/// not exceed, at microsecond resolution. Each bucket counts only its own
/// observations; cumulative counts are computed when read, so a scrape racing
/// a record still sees `+Inf == _count`.
pub struct Histogram {
    bounds_micros: &'static [u64],
    /// One per bound, then `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_micros: AtomicU64,
}

/// A consistent-enough reading of a [`Histogram`] for one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// The bucket bounds in microseconds, ascending, without `+Inf`.
    pub bounds_micros: &'static [u64],
    /// Cumulative counts per bound, then `+Inf`.
    pub cumulative: Vec<u64>,
    pub sum_seconds: f64,
    /// The sum in the recorded unit (microseconds, or bytes for a size histogram).
    pub sum: u64,
    /// Equal to the `+Inf` bucket by construction.
    pub count: u64,
}

impl Histogram {
    /// `bounds_micros` must ascend; a bound out of order only makes the bucket
    /// after it unreachable, never panics.
    pub fn new(bounds_micros: &'static [u64]) -> Self {
        Histogram {
            bounds_micros,
            counts: (0..=bounds_micros.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn record(&self, d: Duration) {
        self.record_value(micros(d));
    }

    /// Records a value in the bounds' own unit (bytes, for a size
    /// histogram); capped like a duration so that the sum cannot wrap.
    pub fn record_value(&self, value: u64) {
        let value = value.min(MAX_OBSERVATION_MICROS);
        let index = self
            .bounds_micros
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds_micros.len());
        if let Some(count) = self.counts.get(index) {
            count.fetch_add(1, Relaxed);
        }
        self.sum_micros.fetch_add(value, Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0u64;
        let cumulative: Vec<u64> = self
            .counts
            .iter()
            .map(|c| {
                running = running.saturating_add(c.load(Relaxed));
                running
            })
            .collect();
        let sum = self.sum_micros.load(Relaxed);
        HistogramSnapshot {
            bounds_micros: self.bounds_micros,
            cumulative,
            sum_seconds: sum as f64 / 1e6,
            sum,
            count: running,
        }
    }
}

/// How many recent observations a [`RecentWindow`] keeps. At 2048 slots of 8
/// bytes the window costs 16 KiB; under heavy load it covers the last 2048
/// commands rather than the whole time window.
pub const RECENT_CAPACITY: usize = 2048;

/// How far back "recent" percentiles look.
pub const RECENT_WINDOW: Duration = Duration::from_secs(300);

/// Percentiles over the recent window, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// A ring of recent durations, each packed with the second it was recorded in
/// into one `AtomicU64`: high 32 bits = seconds since start + 1 (0 = empty
/// slot), low 32 bits = microseconds, saturating at about 71 minutes.
pub struct RecentWindow {
    slots: Box<[AtomicU64]>,
    next: AtomicUsize,
}

impl Default for RecentWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl RecentWindow {
    pub fn new() -> Self {
        RecentWindow {
            slots: (0..RECENT_CAPACITY).map(|_| AtomicU64::new(0)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// `at_secs`: whole seconds since the process started.
    pub fn record(&self, at_secs: u64, d: Duration) {
        let stamp = at_secs.saturating_add(1).min(u64::from(u32::MAX));
        let us = micros(d).min(u64::from(u32::MAX));
        let index = self.next.fetch_add(1, Relaxed) % self.slots.len();
        self.slots[index].store((stamp << 32) | us, Relaxed);
    }

    /// Nearest-rank percentiles of what was recorded within [`RECENT_WINDOW`]
    /// of `now_secs`, or `None` when nothing was.
    pub fn percentiles(&self, now_secs: u64) -> Option<Percentiles> {
        let oldest = now_secs.saturating_sub(RECENT_WINDOW.as_secs());
        let mut values: Vec<u64> = self
            .slots
            .iter()
            .map(|slot| slot.load(Relaxed))
            .filter(|&packed| packed != 0 && (packed >> 32) > oldest)
            .map(|packed| packed & u64::from(u32::MAX))
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank = |p: f64| {
            let n = values.len();
            let index = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            values[index] as f64 / 1000.0
        };
        Some(Percentiles {
            count: values.len(),
            p50_ms: rank(0.50),
            p95_ms: rank(0.95),
            p99_ms: rank(0.99),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_upper_bounds_and_cumulative() {
        let h = Histogram::new(&AGENT_BUCKETS_MICROS);
        h.record(Duration::from_millis(5)); // exactly on 0.005
        h.record(Duration::from_millis(6));
        h.record(Duration::from_secs(31)); // only +Inf
        let s = h.snapshot();
        assert_eq!(s.cumulative.len(), 13);
        assert_eq!(s.cumulative[0], 1);
        assert_eq!(s.cumulative[1], 2);
        assert_eq!(s.cumulative[11], 2);
        assert_eq!(s.cumulative[12], 3);
        assert_eq!(s.count, 3);
        assert!((s.sum_seconds - 31.011).abs() < 1e-9);
    }

    #[test]
    fn count_is_the_inf_bucket_and_sum_is_exact_in_microseconds() {
        static BOUNDS: [u64; 3] = [500, 1_000, 2_500];
        let h = Histogram::new(&BOUNDS);
        let empty = h.snapshot();
        assert_eq!(empty.cumulative, [0, 0, 0, 0]);
        assert_eq!((empty.count, empty.sum_seconds), (0, 0.0));
        for us in [1, 500, 501, 999, 1_000, 2_500, 2_501, 60_000_000] {
            h.record(Duration::from_micros(us));
        }
        // Resolution is one microsecond: 500.9 µs counts as 500 µs.
        h.record(Duration::from_nanos(500_900));
        let s = h.snapshot();
        assert_eq!(s.bounds_micros, &BOUNDS);
        assert_eq!(s.cumulative, [3, 6, 7, 9]);
        assert_eq!(s.count, 9);
        assert_eq!(s.count, *s.cumulative.last().unwrap());
        let sum_micros: u64 = 1 + 500 + 501 + 999 + 1_000 + 2_500 + 2_501 + 60_000_000 + 500;
        assert_eq!(s.sum_seconds, sum_micros as f64 / 1e6);
    }

    #[test]
    fn bounds_render_as_plain_seconds() {
        let shown: Vec<String> = [500, 2_500, 5_000, 1_000_000, 2_500_000, 30_000_000]
            .iter()
            .map(|&us| bound_seconds(us).to_string())
            .collect();
        assert_eq!(shown, ["0.0005", "0.0025", "0.005", "1", "2.5", "30"]);
    }

    #[test]
    fn values_in_their_own_unit() {
        static BYTES: [u64; 2] = [1024, 10 * 1024];
        let h = Histogram::new(&BYTES);
        for v in [0, 1024, 1025, 20_000] {
            h.record_value(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, [2, 3, 4]);
        assert_eq!(s.sum, 22_049);
    }

    #[test]
    fn bounds_out_of_order_never_panic() {
        static BOUNDS: [u64; 2] = [1_000, 10];
        let h = Histogram::new(&BOUNDS);
        h.record(Duration::from_micros(5));
        h.record(Duration::from_secs(1));
        assert_eq!(h.snapshot().cumulative, [1, 1, 2]);
    }

    #[test]
    fn huge_observations_do_not_wrap_the_sum() {
        let h = Histogram::new(&AGENT_BUCKETS_MICROS);
        h.record(Duration::MAX);
        h.record(Duration::MAX);
        assert_eq!(h.snapshot().sum_seconds, 2_000_000.0);
    }

    #[test]
    fn percentiles_use_nearest_rank_within_the_window() {
        let w = RecentWindow::new();
        assert_eq!(w.percentiles(0), None);
        for ms in 1..=100 {
            w.record(1000, Duration::from_millis(ms));
        }
        w.record(1, Duration::from_secs(60)); // too old at now = 1000
        let p = w.percentiles(1000).unwrap();
        assert_eq!(p.count, 100);
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p95_ms, 95.0);
        assert_eq!(p.p99_ms, 99.0);
    }

    #[test]
    fn the_window_keeps_only_the_newest_observations() {
        let w = RecentWindow::new();
        for _ in 0..RECENT_CAPACITY {
            w.record(0, Duration::from_secs(1));
        }
        for _ in 0..RECENT_CAPACITY {
            w.record(0, Duration::from_millis(1));
        }
        let p = w.percentiles(0).unwrap();
        assert_eq!(p.count, RECENT_CAPACITY);
        assert_eq!(p.p99_ms, 1.0);
    }
}
