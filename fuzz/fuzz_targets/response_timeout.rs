//! `response_timeout`: the grammar never panics, what it accepts round-trips,
//! and no accepted value makes the deadline arithmetic overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use tunnel::contract::timeout::{command_deadline, format_duration, parse_duration, parse_response_timeout};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_duration(text);
    if let Some(d) = parsed {
        let unit_at = text.bytes().position(|b| !b.is_ascii_digit()).unwrap();
        assert!(unit_at > 0);
        assert!(["ns", "us", "ms", "s", "m", "h"].contains(&&text[unit_at..]));
        let ms = Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        if d.as_millis() <= u128::from(u64::MAX) {
            assert_eq!(parse_duration(&format_duration(d)), Some(ms));
        }
    }
    let now = Instant::now();
    let deadline = command_deadline(now, parsed, Duration::from_secs(60));
    assert!(deadline.at >= now);
    let _ = deadline.at.saturating_duration_since(Instant::now());
    let value = serde_json::Value::String(text.to_string());
    assert_eq!(parse_response_timeout(Some(&value)), parsed);
});
