//! Bounds the life of accepted keep-alive connections on our tiny_http
//! servers, so a connection queued by tiny_http's accept-pool race is served.
//!
//! tiny_http 0.12 serves each connection as one task of a thread pool. When
//! two connections arrive while one pool thread is idle, both are queued but
//! only one thread wakes; the other waits until some thread's task ends, i.e.
//! until some keep-alive connection closes. Under steady load that can be
//! never. Answering `Connection: close` once a connection has lived
//! [`MAX_CONNECTION_AGE`] ends tasks regularly, which bounds the wait.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A connection is asked to close at its first answer after this age.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(1);
/// Most connections remembered; older entries are forgotten beyond it.
const MAX_TRACKED: usize = 4096;

fn ages() -> &'static Mutex<HashMap<SocketAddr, Instant>> {
    static AGES: OnceLock<Mutex<HashMap<SocketAddr, Instant>>> = OnceLock::new();
    AGES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Records a request from `peer` and says whether its answer should carry
/// `Connection: close` (the connection has lived long enough).
pub fn should_close(peer: Option<&SocketAddr>) -> bool {
    let Some(peer) = peer else { return false };
    let Ok(mut ages) = ages().lock() else {
        return false;
    };
    let now = Instant::now();
    let first_seen = *ages.entry(*peer).or_insert(now);
    if now.duration_since(first_seen) >= MAX_CONNECTION_AGE {
        ages.remove(peer);
        return true;
    }
    if ages.len() > MAX_TRACKED {
        // Peers that went away without a late answer: forget them.
        ages.retain(|_, seen| now.duration_since(*seen) < MAX_CONNECTION_AGE * 4);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn young_connections_stay_and_old_ones_close_once() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(!should_close(Some(&peer)));
        assert!(!should_close(Some(&peer)));
        if let Ok(mut ages) = ages().lock() {
            ages.insert(peer, Instant::now() - MAX_CONNECTION_AGE);
        }
        assert!(should_close(Some(&peer)));
        // Forgotten after closing: a new connection on the same port starts fresh.
        assert!(!should_close(Some(&peer)));
        assert!(!should_close(None));
    }
}
