//! Harpoon's path policy: never a panic, and a path it accepts, joined under a
//! base path, stays under that base.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunnel::mcp::harpoon::policy::paths::{check, is_under, join};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (base, path) = text.split_once('\n').unwrap_or(("/api", text));
    if check(path).is_err() {
        return;
    }
    let joined = join(base, path);
    let joined_path = joined.split_once('?').map_or(joined.as_str(), |(p, _)| p);
    if base.starts_with('/') && !base.contains(['?', '#']) {
        assert!(is_under(base, joined_path), "{base:?} + {path:?} = {joined:?}");
    }
});
