//! The SSE parser: never a panic, never more than its limits, and the same
//! events whatever the chunking of the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunnel::mcp::sse::{SseEvent, SseLimits, SseParser};

const LIMITS: SseLimits = SseLimits {
    max_line_bytes: 256,
    max_event_bytes: 1024,
};

/// Every event of `data` fed in pieces of `chunk` bytes, and whether it failed.
fn events(data: &[u8], chunk: usize) -> (Vec<SseEvent>, bool) {
    let mut parser = SseParser::new(LIMITS);
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        let mut rest = piece;
        while !rest.is_empty() {
            match parser.feed(rest) {
                Ok((used, event)) => {
                    assert!(used <= rest.len() && (used > 0 || event.is_some()));
                    if let Some(event) = event {
                        assert!(event.data.len() <= LIMITS.max_event_bytes);
                        out.push(event);
                    }
                    rest = &rest[used..];
                }
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let whole = events(data, data.len());
    let pieces = events(data, usize::from(first % 17) + 1);
    assert_eq!(whole, pieces);
});
