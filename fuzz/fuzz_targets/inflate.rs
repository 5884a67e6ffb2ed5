//! Harpoon's inflate and gunzip: never a panic, never more output than the
//! limit, and a stored gzip member round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunnel::mcp::harpoon::inflate::{gunzip, gzip_stored, inflate};

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok((out, used)) = inflate(data, LIMIT) {
        assert!(out.len() <= LIMIT && used <= data.len());
    }
    if let Ok(out) = gunzip(data, LIMIT) {
        assert!(out.len() <= LIMIT);
    }
    assert_eq!(gunzip(&gzip_stored(data), LIMIT).unwrap(), data);
});
