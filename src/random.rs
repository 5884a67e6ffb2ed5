//! Randomness from std and the OS alone: ids and tokens from /dev/urandom,
//! cheap 64-bit values for jitter. The only source of randomness in the crate.

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
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

/// /dev/urandom, opened once: the relay makes two tokens per call, and an
/// open and a close each time cost more than the read.
fn urandom() -> Option<&'static File> {
    static DEVICE: OnceLock<Option<File>> = OnceLock::new();
    DEVICE
        .get_or_init(|| File::open("/dev/urandom").ok())
        .as_ref()
}

/// `bytes` random bytes as lowercase hex, from /dev/urandom (the hasher
/// above only if the device cannot be read).
pub fn hex(bytes: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut raw = vec![0u8; bytes];
    let from_os = urandom().is_some_and(|mut device| device.read_exact(&mut raw).is_ok());
    if !from_os {
        for chunk in raw.chunks_mut(8) {
            let r = u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
    let mut out = String::with_capacity(bytes.saturating_mul(2));
    for b in raw {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
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
