//! Bounded reading of newline-delimited messages and rate-limited logging of
//! what a child says: no line is ever buffered past its bound, no child can flood the log.

use std::io::{self, BufRead, Read};
use std::time::{Duration, Instant};

/// Largest JSON-RPC message line accepted from or sent to a stdio peer.
/// Longer lines are dropped (and logged), never buffered whole.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// How one bounded read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// `buf` holds one line without its `\n` (the last line may lack one).
    Complete,
    /// The line was longer than the bound; it has been consumed and discarded.
    TooLong,
    /// End of stream.
    Eof,
}

/// Size of the pieces an over-long line is skipped in.
const SKIP_CHUNK: u64 = 64 * 1024;

/// Reads one line into `buf` (cleared first), holding at most `max + 1` bytes.
pub fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Line> {
    buf.clear();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let n = reader.by_ref().take(limit).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Line::Eof);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(Line::Complete);
    }
    if buf.len() <= max {
        // Last line of the stream, without a newline.
        return Ok(Line::Complete);
    }
    buf.clear();
    skip_rest_of_line(reader, buf)?;
    Ok(Line::TooLong)
}

/// Consumes input up to and including the next `\n`, in bounded pieces.
fn skip_rest_of_line<R: BufRead>(reader: &mut R, scratch: &mut Vec<u8>) -> io::Result<()> {
    loop {
        scratch.clear();
        let n = reader
            .by_ref()
            .take(SKIP_CHUNK)
            .read_until(b'\n', scratch)?;
        if n == 0 || scratch.last() == Some(&b'\n') {
            scratch.clear();
            return Ok(());
        }
    }
}

/// Lets `burst` events through per `window`, counts the rest, and reports the
/// count with the next event let through.
#[derive(Debug)]
pub struct RateLimit {
    burst: u32,
    window: Duration,
    window_start: Instant,
    used: u32,
    suppressed: u64,
}

impl RateLimit {
    pub fn new(burst: u32, window: Duration) -> Self {
        RateLimit {
            burst,
            window,
            window_start: Instant::now(),
            used: 0,
            suppressed: 0,
        }
    }

    /// `Some(n)` when this event may be logged, `n` being how many were
    /// suppressed since the last one logged; `None` when it must be dropped.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if now.duration_since(self.window_start) >= self.window {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < self.burst {
            self.used += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// At most this many bytes of a non-JSON line are shown in the log.
pub const LOG_PREVIEW_BYTES: usize = 200;

/// A printable, bounded preview of a line for the log.
pub fn preview(line: &[u8]) -> String {
    let cut = &line[..line.len().min(LOG_PREVIEW_BYTES)];
    let mut text: String = String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if line.len() > LOG_PREVIEW_BYTES {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn lines(input: &[u8], max: usize) -> Vec<(Line, Vec<u8>)> {
        // A tiny buffer proves the bound holds across refills.
        let mut reader = BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let line = read_line_bounded(&mut reader, &mut buf, max).unwrap();
            assert!(buf.len() <= max + 1);
            out.push((line, buf.clone()));
            if line == Line::Eof {
                return out;
            }
        }
    }

    #[test]
    fn splits_and_strips() {
        let got = lines(b"ab\r\n\ncd", 10);
        assert_eq!(
            got,
            vec![
                (Line::Complete, b"ab".to_vec()),
                (Line::Complete, b"".to_vec()),
                (Line::Complete, b"cd".to_vec()),
                (Line::Eof, vec![]),
            ]
        );
    }

    #[test]
    fn long_line_dropped_and_next_line_intact() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\nok\n");
        let got = lines(&input, 10);
        assert_eq!(got[0].0, Line::TooLong);
        assert_eq!(got[1], (Line::Complete, b"ok".to_vec()));
        assert_eq!(got[2].0, Line::Eof);
    }

    #[test]
    fn exact_bound_is_accepted() {
        let got = lines(b"0123456789\n", 10);
        assert_eq!(got[0], (Line::Complete, b"0123456789".to_vec()));
        let got = lines(b"0123456789", 10);
        assert_eq!(got[0], (Line::Complete, b"0123456789".to_vec()));
        let got = lines(b"01234567890", 10);
        assert_eq!(got[0].0, Line::TooLong);
    }

    #[test]
    fn rate_limit_counts_suppressed() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(2, Duration::from_secs(10));
        assert_eq!(rl.allow(t0), Some(0));
        assert_eq!(rl.allow(t0), Some(0));
        assert_eq!(rl.allow(t0), None);
        assert_eq!(rl.allow(t0), None);
        assert_eq!(rl.allow(t0 + Duration::from_secs(11)), Some(2));
    }

    #[test]
    fn preview_is_bounded_and_printable() {
        let p = preview(b"a\x1bb");
        assert_eq!(p, "a?b");
        let long = vec![b'z'; 1000];
        assert!(preview(&long).chars().count() <= LOG_PREVIEW_BYTES + 1);
    }
}
