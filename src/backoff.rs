//! Retry pacing for the agent and the MCP backends: exponential backoff with
//! jitter, and `Retry-After` (delta-seconds or HTTP date). Pure arithmetic: no I/O, no sleeping.

use std::time::{Duration, SystemTime};

/// Doublings after which the ceiling stops growing (the cap is reached long
/// before for every base in use; this only keeps the shift in range).
const MAX_DOUBLINGS: u32 = 20;

/// How a delay is drawn below its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Uniform in `[0, ceiling]`: spreads many agents retrying at once.
    Full,
    /// Uniform in `[ceiling / 2, ceiling]`: still spread, but delays grow
    /// from one failure to the next (a crashing child is restarted ever more slowly).
    Equal,
}

/// Exponential backoff: the n-th ceiling is `min(cap, base * 2^n)`, the
/// delay a random point below it as [`Jitter`] says.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: Jitter,
    attempt: u32,
}

impl Backoff {
    /// Full jitter, for retries against a shared server.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff::with_jitter(base, cap, Jitter::Full)
    }

    pub fn with_jitter(base: Duration, cap: Duration, jitter: Jitter) -> Self {
        Backoff {
            base,
            cap,
            jitter,
            attempt: 0,
        }
    }

    /// The ceiling of the next delay (before jitter), for logs and tests.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32
            .checked_shl(self.attempt.min(MAX_DOUBLINGS))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next delay; each call doubles the ceiling up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_from(crate::random::u64())
    }

    /// [`Backoff::next_delay`] with the random draw given, so tests can pin it.
    pub fn next_delay_from(&mut self, random: u64) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        match self.jitter {
            Jitter::Full => below(ceiling, random),
            Jitter::Equal => {
                let half = ceiling / 2;
                half + below(ceiling - half, random)
            }
        }
    }

    /// After a success: start again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A point in `[0, max]` chosen by `random`.
fn below(max: Duration, random: u64) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    match nanos.checked_add(1) {
        Some(span) => Duration::from_nanos(random % span),
        None => Duration::from_nanos(random),
    }
}

/// Parses `Retry-After`: delta-seconds, or an HTTP date (IMF-fixdate) taken
/// relative to `now`. `None` when absent or unreadable.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = crate::clock::parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn ceilings_double_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(1000), Duration::from_secs(30));
        let mut ceilings = Vec::new();
        for _ in 0..7 {
            ceilings.push(b.ceiling().as_millis());
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(30));
        }
        assert_eq!(ceilings, vec![1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(1000));
    }

    #[test]
    fn full_jitter_stays_in_range_and_varies() {
        let max = Duration::from_millis(100);
        let samples: Vec<Duration> = (0..200)
            .map(|_| Backoff::new(max, max).next_delay())
            .collect();
        assert!(samples.iter().all(|d| *d <= max));
        let distinct: std::collections::HashSet<_> = samples.iter().collect();
        assert!(distinct.len() > 100, "jitter is not random: {distinct:?}");
        let zero = Duration::ZERO;
        assert_eq!(Backoff::new(zero, zero).next_delay(), zero);
        assert_eq!(Backoff::new(max, max).next_delay_from(0), zero);
        let top = u64::try_from(max.as_nanos()).unwrap();
        assert_eq!(Backoff::new(max, max).next_delay_from(top), max);
    }

    /// Restart pacing: half fixed, half random, never shrinking, bounded, reset by a healthy run.
    #[test]
    fn equal_jitter_grows_is_bounded_and_resets() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(30));
        let equal = || Backoff::with_jitter(initial, max, Jitter::Equal);
        let mut b = equal();
        let mut last = Duration::ZERO;
        for i in 0..40 {
            for random in [0, u64::MAX / 3, u64::MAX] {
                let mut probe = equal();
                for _ in 0..i {
                    probe.next_delay_from(0);
                }
                let d = probe.next_delay_from(random);
                assert!(d <= max && d >= probe_floor(i, initial, max), "{d:?}");
            }
            let d = b.next_delay_from(0); // the lowest each step can be
            assert!(d >= last, "delays never shrink: {d:?} < {last:?}");
            last = d;
        }
        assert_eq!(equal().next_delay_from(0), initial / 2);
        assert!(equal().next_delay_from(u64::MAX) <= initial);
        assert_eq!(last, max / 2);
        b.reset();
        assert_eq!(b.next_delay_from(0), initial / 2);
    }

    fn probe_floor(doublings: u32, initial: Duration, max: Duration) -> Duration {
        let factor = 1u32
            .checked_shl(doublings.min(MAX_DOUBLINGS))
            .unwrap_or(u32::MAX);
        initial.saturating_mul(factor).min(max) / 2
    }

    #[test]
    fn equal_jitter_spreads_delays() {
        let at_fourth = |random| {
            let mut b = Backoff::with_jitter(
                Duration::from_millis(100),
                Duration::from_secs(30),
                Jitter::Equal,
            );
            for _ in 0..3 {
                b.next_delay_from(0);
            }
            b.next_delay_from(random)
        };
        let (a, b) = (at_fourth(1), at_fourth(399_000_000));
        assert_ne!(a, b);
        assert!(a >= Duration::from_millis(400) && b <= Duration::from_millis(800));
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        // Numbers at and past the integer limits are never an overflow.
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(Duration::from_secs(253_402_300_799 - 784_111_777))
        );
        for bad in [
            "18446744073709551616",
            "99999999999999999999999999",
            "Sun, 06 Nov 18446744073709551615 08:49:37 GMT",
            "Sun, 06 Nov 10000 08:49:37 GMT",
            "Sun, 18446744073709551615 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 18446744073709551615:49:37 GMT",
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
