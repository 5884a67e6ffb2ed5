//! Randomness from std and the OS alone: ids and tokens from /dev/urandom,
//! cheap 64-bit values for jitter. The only source of randomness in the crate.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// 64 random bits for jitter: a freshly keyed SipHash (std seeds the keys
/// from the OS) over a counter and the clock, so two calls never repeat.
pub fn u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// `bytes` random bytes as lowercase hex, from /dev/urandom (the hasher
/// above only if the device cannot be read).
pub fn hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut raw));
    if from_os.is_err() {
        for chunk in raw.chunks_mut(8) {
            let r = u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// An unguessable opaque token: `prefix` and 128 random bits in hex.
pub fn token(prefix: &str) -> String {
    format!("{prefix}{}", hex(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_distinct() {
        let a = hex(16);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, hex(16));
        assert_ne!(u64(), u64());
        let t = token("x_");
        assert!(t.starts_with("x_") && t.len() == 34);
    }
}
