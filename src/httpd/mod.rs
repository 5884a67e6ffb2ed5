//! What our tiny_http servers (relay, admin, HTTP stub) share: the bounds they
//! put on clients and starting a server with them. Never answers a request.
//!
//! The bounds are enforced inside tiny_http (our patched copy under
//! `third_party/tiny_http`, see its PATCHES.md): a connection cap (beyond it a
//! new connection is closed at once), deadlines for request heads, idle
//! keep-alive connections and bodies, a cap on head bytes (431) and on body
//! bytes read off the socket, a write timeout, and (no pipelining) one
//! request at a time per connection. Each server picks its own values, next
//! to its code.

use std::io;
use std::net::TcpListener;

pub use tiny_http::Limits;

/// File descriptors one connection costs: tiny_http keeps a read and a write
/// handle on each socket.
pub const FDS_PER_CONNECTION: u64 = 2;

/// Where Linux tells a process its limits.
const LIMITS_FILE: &str = "/proc/self/limits";

/// The smallest connection cap a server gets, however low the descriptor limit.
const MIN_CONNECTIONS: usize = 4;

/// Starts a tiny_http server on `listener` with `limits`.
pub fn serve(listener: TcpListener, limits: Limits) -> io::Result<tiny_http::Server> {
    tiny_http::Server::from_listener_with_limits(listener, None, limits).map_err(io::Error::other)
}

/// Starts a tiny_http server on `listener` with `limits` that hands every
/// request to `handler` on its connection's thread (`recv()` gets nothing).
pub fn serve_with(
    listener: TcpListener,
    limits: Limits,
    handler: std::sync::Arc<dyn Fn(tiny_http::Request) + Send + Sync>,
) -> io::Result<tiny_http::Server> {
    tiny_http::Server::from_listener_with_handler(listener, None, limits, handler)
        .map_err(io::Error::other)
}

/// `wanted` connections, or fewer when the process's open-files limit could
/// not hold them after `reserved_fds` for everything else: a cap above what
/// the limit allows would never be reached, and accept would fail (EMFILE)
/// for the rest of the process too.
pub fn connection_cap(wanted: usize, reserved_fds: u64) -> usize {
    let Some(limit) = open_files_limit() else {
        return wanted;
    };
    let fit = limit.saturating_sub(reserved_fds) / FDS_PER_CONNECTION;
    let fit = usize::try_from(fit).unwrap_or(usize::MAX);
    wanted.min(fit.max(MIN_CONNECTIONS))
}

/// The soft limit on open files (`ulimit -n`), if the system says.
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string(LIMITS_FILE).ok()?;
    parse_open_files_limit(&text)
}

fn parse_open_files_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_open_files_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             63422                63422                processes \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files_limit(text), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), None);
        assert_eq!(parse_open_files_limit(""), None);
    }

    #[test]
    fn the_cap_fits_the_descriptor_limit() {
        let limit = open_files_limit().expect("Linux reports its limits");
        let fit = (limit.saturating_sub(64) / 2).max(4) as usize;
        assert_eq!(connection_cap(usize::MAX, 64), fit);
        assert_eq!(connection_cap(3, 64), 3.min(fit));
        assert_eq!(connection_cap(usize::MAX, u64::MAX), 4);
    }
}
