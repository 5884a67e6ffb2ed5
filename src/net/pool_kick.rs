//! Keeps tiny_http's connection pool from starving new connections: a small
//! thread that regularly opens and closes loopback connections to the server.
//!
//! tiny_http 0.12 serves each accepted connection as one task of a thread
//! pool, for the connection's whole keep-alive life. Its `spawn` queues a task
//! whenever some thread is registered as idle, but two connections accepted
//! while one thread is idle are both queued and only one thread wakes: the
//! other waits until some task ends, i.e. until some keep-alive connection
//! closes, which under steady load can be never (seen in `make bench`: 32
//! callers stuck for the relay's whole response timeout). Every connection
//! this kicker opens is a task that ends at once; a pool thread that finishes
//! it takes the next queued task, so a starved connection waits at most about
//! one kick interval (see [`Pace`]). The kick connections send nothing, so no handler ever
//! sees them.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Pace of a busy server (relay, HTTP stub): up to 80 starved connections
/// freed per second.
pub const BUSY: Pace = Pace {
    interval: Duration::from_millis(50),
    connections: 4,
};
/// Pace of the admin server: a few clients, and an idle agent should stay quiet.
pub const QUIET: Pace = Pace {
    interval: Duration::from_millis(250),
    connections: 2,
};

/// How often, and with how many connections, a server is kicked. Each kick
/// connection frees at most one queued connection.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub interval: Duration,
    pub connections: usize,
}
/// Connect timeout of a kick (loopback: only a dead server takes this long).
const KICK_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Stops the kicker when dropped.
pub struct PoolKicker {
    stop: Arc<AtomicBool>,
}

impl PoolKicker {
    /// Starts kicking the server listening on `addr` (a wildcard address is
    /// reached through loopback).
    pub fn start(addr: SocketAddr, pace: Pace) -> std::io::Result<PoolKicker> {
        let target = loopback_for(addr);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("pool-kick".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    for _ in 0..pace.connections {
                        // Connect, then drop: the server reads EOF and its task ends.
                        let _ = TcpStream::connect_timeout(&target, KICK_CONNECT_TIMEOUT);
                    }
                    std::thread::sleep(pace.interval);
                }
            })?;
        Ok(PoolKicker { stop })
    }
}

impl Drop for PoolKicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn loopback_for(addr: SocketAddr) -> SocketAddr {
    let mut target = addr;
    if addr.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_are_kicked_through_loopback() {
        assert_eq!(
            loopback_for("0.0.0.0:80".parse().unwrap()),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(
            loopback_for("[::]:80".parse().unwrap()),
            "[::1]:80".parse().unwrap()
        );
        assert_eq!(
            loopback_for("10.1.2.3:80".parse().unwrap()),
            "10.1.2.3:80".parse().unwrap()
        );
    }
}
