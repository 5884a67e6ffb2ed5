//! Incremental `text/event-stream` parser (the SSE framing of Streamable HTTP):
//! bytes in, events out as soon as their blank line arrives. Never interprets JSON, never grows past its limits.

use std::fmt;
use std::io::{self, Read};

/// Bytes asked of the underlying reader at a time. Reads return what has
/// arrived, so a small event is handed on without waiting for this many bytes.
const READ_CHUNK_BYTES: usize = 8 * 1024;

/// UTF-8 byte order mark, skipped once at the start of a stream (WHATWG rule).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How much one stream may make the parser hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseLimits {
    /// Longest line (field name, colon and value), without its line ending.
    pub max_line_bytes: usize,
    /// Largest `data` of one event (all its `data:` lines joined).
    pub max_event_bytes: usize,
}

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; empty means the default type, `message`.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream so far (the spec's "last event ID").
    pub id: Option<String>,
}

impl SseEvent {
    /// True for events of the default type, the only ones MCP sends messages in.
    pub fn is_message(&self) -> bool {
        self.event.is_empty() || self.event == "message"
    }
}

/// Why a stream could not be parsed further.
#[derive(Debug)]
pub enum SseError {
    /// A line was longer than `max_line_bytes`.
    LineTooLong { limit: usize },
    /// An event's data grew beyond `max_event_bytes`.
    EventTooLarge { limit: usize },
    /// The underlying reader failed.
    Io(io::Error),
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::LineTooLong { limit } => {
                write!(f, "an event-stream line is longer than {limit} bytes")
            }
            SseError::EventTooLarge { limit } => {
                write!(f, "an event-stream event is larger than {limit} bytes")
            }
            SseError::Io(e) => write!(f, "reading the event stream failed: {e}"),
        }
    }
}

impl std::error::Error for SseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SseError::Io(e) => Some(e),
            SseError::LineTooLong { .. } | SseError::EventTooLarge { .. } => None,
        }
    }
}

/// The push half: feed it bytes in any chunking, it yields complete events.
/// Line endings may be CRLF, LF or CR, and a CRLF may be split across chunks.
#[derive(Debug)]
pub struct SseParser {
    limits: SseLimits,
    /// The line being assembled, as raw bytes: UTF-8 is decoded per line, so a
    /// character split across chunks is decoded whole.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a leading LF of the next one belongs to it.
    after_cr: bool,
    /// No line has ended yet (the BOM may only appear before the first one).
    at_start: bool,
    event: Pending,
}

/// The event being built.
#[derive(Debug, Default)]
struct Pending {
    /// `data:` values joined with `\n`, without the spec's trailing `\n`.
    data: String,
    /// At least one `data:` line arrived (`data` alone cannot tell: it may be empty).
    has_data: bool,
    event: String,
    last_id: Option<String>,
}

impl SseParser {
    pub fn new(limits: SseLimits) -> Self {
        SseParser {
            limits,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            event: Pending::default(),
        }
    }

    /// Consumes bytes of `input` up to the end of the first event completed in
    /// it. Returns how many bytes were consumed and that event, if any; call
    /// again with the rest.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<SseEvent>), SseError> {
        let mut at = 0;
        while at < input.len() {
            if self.after_cr {
                self.after_cr = false;
                if input[at] == b'\n' {
                    at += 1;
                    continue;
                }
            }
            let rest = &input[at..];
            let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
                self.push_line_bytes(rest)?;
                return Ok((input.len(), None));
            };
            self.push_line_bytes(&rest[..end])?;
            self.after_cr = rest[end] == b'\r';
            at += end + 1;
            if let Some(event) = self.end_line()? {
                return Ok((at, Some(event)));
            }
        }
        Ok((input.len(), None))
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        let limit = self.limits.max_line_bytes;
        if self.line.len().saturating_add(bytes.len()) > limit {
            return Err(SseError::LineTooLong { limit });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self) -> Result<Option<SseEvent>, SseError> {
        if self.at_start {
            self.at_start = false;
            if self.line.starts_with(BOM) {
                self.line.drain(..BOM.len());
            }
        }
        let max_event = self.limits.max_event_bytes;
        // A message usually travels on one `data:` line: move that line into
        // the event instead of copying it (the line buffer starts over).
        if !self.event.has_data {
            if let Some(prefix) = data_prefix_len(&self.line) {
                if self.line.len() - prefix > max_event {
                    return Err(SseError::EventTooLarge { limit: max_event });
                }
                match String::from_utf8(std::mem::take(&mut self.line)) {
                    Ok(mut value) => {
                        value.drain(..prefix);
                        self.event.data = value;
                        self.event.has_data = true;
                        return Ok(None);
                    }
                    Err(e) => self.line = e.into_bytes(),
                }
            }
        }
        // The stream is UTF-8 by definition; invalid sequences become U+FFFD
        // (as the SSE standard says) instead of ending the stream.
        let line = String::from_utf8_lossy(&self.line);
        let result = self.event.process_line(&line, max_event);
        self.line.clear();
        result
    }
}

/// Length of `data:` or `data: ` at the start of a line, if it is a data line.
fn data_prefix_len(line: &[u8]) -> Option<usize> {
    if line.starts_with(b"data: ") {
        Some(6)
    } else if line.starts_with(b"data:") {
        Some(5)
    } else {
        None
    }
}

impl Pending {
    /// Applies one complete line (WHATWG "process the field"); a blank line
    /// dispatches the event.
    fn process_line(&mut self, line: &str, max_event: usize) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            if !self.has_data {
                self.event.clear();
                return Ok(None);
            }
            self.has_data = false;
            return Ok(Some(SseEvent {
                event: std::mem::take(&mut self.event),
                data: std::mem::take(&mut self.data),
                id: self.last_id.clone(),
            }));
        }
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                let separator = usize::from(self.has_data);
                if self
                    .data
                    .len()
                    .saturating_add(separator)
                    .saturating_add(value.len())
                    > max_event
                {
                    return Err(SseError::EventTooLarge { limit: max_event });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            // `retry` only matters to a client that reconnects; this one never does.
            _ => {}
        }
        Ok(None)
    }
}

/// The pull half: events from any `Read`, read as bytes arrive.
pub struct SseReader<R> {
    inner: R,
    parser: SseParser,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> SseReader<R> {
    pub fn new(inner: R, limits: SseLimits) -> Self {
        SseReader {
            inner,
            parser: SseParser::new(limits),
            buf: vec![0; READ_CHUNK_BYTES],
            start: 0,
            end: 0,
        }
    }

    /// The next complete event, or `None` at the end of the stream. An event
    /// cut off by the end of the stream is discarded, as the standard says.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        loop {
            if self.start < self.end {
                let (used, event) = self.parser.feed(&self.buf[self.start..self.end])?;
                self.start += used;
                if event.is_some() {
                    return Ok(event);
                }
                continue;
            }
            let read = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(SseError::Io(e)),
                }
            };
            if read == 0 {
                return Ok(None);
            }
            self.start = 0;
            self.end = read;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SseLimits = SseLimits {
        max_line_bytes: 1024,
        max_event_bytes: 4096,
    };

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.to_string(),
            data: data.to_string(),
            id: id.map(str::to_string),
        }
    }

    /// Hands out the input in the given chunk sizes, then the rest at once.
    struct Chunked<'a> {
        input: &'a [u8],
        sizes: Vec<usize>,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let want = if self.sizes.is_empty() {
                self.input.len()
            } else {
                self.sizes.remove(0)
            };
            let n = want.min(buf.len()).min(self.input.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input = &self.input[n..];
            Ok(n)
        }
    }

    fn parse_chunked(input: &[u8], sizes: Vec<usize>) -> Result<Vec<SseEvent>, SseError> {
        let mut reader = SseReader::new(Chunked { input, sizes }, LIMITS);
        let mut out = Vec::new();
        while let Some(event) = reader.next_event()? {
            out.push(event);
        }
        Ok(out)
    }

    fn parse(input: &[u8]) -> Vec<SseEvent> {
        parse_chunked(input, vec![]).unwrap()
    }

    const STREAM: &[u8] = b": keep-alive comment\r\n\
        event: message\r\n\
        id: 7\r\n\
        data: {\"a\":\r\n\
        data:1}\r\n\
        \r\n\
        data: second\n\
        \n\
        retry: 100\r\
        data: third\r\
        \r";

    fn stream_events() -> Vec<SseEvent> {
        vec![
            ev("message", "{\"a\":\n1}", Some("7")),
            ev("", "second", Some("7")),
            ev("", "third", Some("7")),
        ]
    }

    /// `retry:` and `id:` values past every integer limit are never numbers
    /// here: retry is ignored, an id is an opaque string bounded by the line.
    #[test]
    fn retry_and_ids_past_the_integer_limits_are_inert() {
        let stream = b"retry: 18446744073709551616\n\
            retry: -1\n\
            retry: 99999999999999999999999999999999999999\n\
            id: 18446744073709551616\n\
            data: x\n\n\
            id: -9223372036854775809\n\
            data: y\n\n";
        assert_eq!(
            parse(stream),
            vec![
                ev("", "x", Some("18446744073709551616")),
                ev("", "y", Some("-9223372036854775809"))
            ]
        );
        let long_id = format!("id: {}\n", "9".repeat(LIMITS.max_line_bytes));
        assert!(matches!(
            parse_chunked(long_id.as_bytes(), vec![]),
            Err(SseError::LineTooLong { .. })
        ));
    }

    #[test]
    fn fields_comments_and_all_line_endings() {
        assert_eq!(parse(STREAM), stream_events());
    }

    #[test]
    fn every_chunk_boundary_gives_the_same_events() {
        for split in 1..STREAM.len() {
            let got = parse_chunked(STREAM, vec![split]).unwrap();
            assert_eq!(got, stream_events(), "split at {split}");
        }
        let one_byte_at_a_time = parse_chunked(STREAM, vec![1; STREAM.len()]).unwrap();
        assert_eq!(one_byte_at_a_time, stream_events());
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_ending() {
        // "data: x\r" | "\n\r" | "\n": two line endings, hence one event, not two blank lines.
        let input = b"data: x\r\n\r\ndata: y\r\n\r\n";
        let got = parse_chunked(input, vec![8, 2, 1, 9]).unwrap();
        assert_eq!(got, vec![ev("", "x", None), ev("", "y", None)]);
        // With the LF as the first byte of a later read.
        let mut parser = SseParser::new(LIMITS);
        assert_eq!(parser.feed(b"data: z\r").unwrap(), (8, None));
        assert_eq!(parser.feed(b"\n").unwrap(), (1, None));
        let (used, event) = parser.feed(b"\r\nrest").unwrap();
        assert_eq!((used, event), (1, Some(ev("", "z", None))));
    }

    #[test]
    fn utf8_split_across_chunks_and_invalid_bytes() {
        let input = "data: h\u{e9}llo \u{1F600}\n\n".as_bytes();
        for split in 1..input.len() {
            let got = parse_chunked(input, vec![split]).unwrap();
            assert_eq!(got, vec![ev("", "h\u{e9}llo \u{1F600}", None)]);
        }
        let got = parse(b"data: a\xFFb\n\n");
        assert_eq!(got, vec![ev("", "a\u{FFFD}b", None)]);
    }

    #[test]
    fn bom_only_at_the_start() {
        let got = parse(b"\xEF\xBB\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\n");
        assert_eq!(got, vec![ev("", "x", None)]);
    }

    #[test]
    fn empty_data_and_incomplete_events() {
        // An event with only an id (a "priming" event) dispatches nothing but
        // sets the id; `data:` with no value dispatches empty data.
        let got = parse(b"id: 1\n\ndata:\n\ndata: cut off");
        assert_eq!(got, vec![ev("", "", Some("1"))]);
        // A field without a colon is a field with an empty value.
        assert_eq!(parse(b"data\ndata\n\n"), vec![ev("", "\n", None)]);
        // An id containing NUL is ignored.
        assert_eq!(parse(b"id: a\0b\ndata: x\n\n"), vec![ev("", "x", None)]);
    }

    #[test]
    fn event_type_resets_after_each_event() {
        let got = parse(b"event: ping\ndata: 1\n\ndata: 2\n\n");
        assert!(!got[0].is_message());
        assert!(got[1].is_message());
    }

    #[test]
    fn long_lines_and_large_events_are_refused() {
        let long = format!("data: {}\n\n", "x".repeat(2000));
        let err = parse_chunked(long.as_bytes(), vec![7; 400]).unwrap_err();
        assert!(matches!(err, SseError::LineTooLong { limit: 1024 }));

        let line = format!("data: {}\n", "y".repeat(1000));
        let big = line.repeat(5) + "\n";
        let err = parse_chunked(big.as_bytes(), vec![]).unwrap_err();
        assert!(matches!(err, SseError::EventTooLarge { limit: 4096 }));
        // A single data line beyond the event limit (the move-not-copy path).
        let mut parser = SseParser::new(SseLimits {
            max_line_bytes: 8192,
            max_event_bytes: 100,
        });
        let one_line = format!("data: {}\n\n", "z".repeat(101));
        let err = parser.feed(one_line.as_bytes()).unwrap_err();
        assert!(matches!(err, SseError::EventTooLarge { limit: 100 }));
        let fits = format!("data: {}\n\n", "z".repeat(100));
        let mut parser = SseParser::new(SseLimits {
            max_line_bytes: 8192,
            max_event_bytes: 100,
        });
        let (_, event) = parser.feed(fits.as_bytes()).unwrap();
        assert_eq!(event.unwrap().data.len(), 100);
        // A long comment that fits the line limit is fine and costs nothing.
        let comment = format!(":{}\ndata: ok\n\n", "c".repeat(1000));
        assert_eq!(parse(comment.as_bytes()), vec![ev("", "ok", None)]);
    }

    #[test]
    fn reader_errors_surface() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::ConnectionReset.into())
            }
        }
        let mut reader = SseReader::new(Broken, LIMITS);
        let err = reader.next_event().unwrap_err();
        assert!(matches!(err, SseError::Io(e) if e.kind() == io::ErrorKind::ConnectionReset));
    }
}
