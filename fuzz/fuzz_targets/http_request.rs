//! Request parsing on both servers: any bytes a peer sends on a connection to
//! the relay or the admin server end in an answer or a closed connection,
//! never a panic (any thread's panic aborts here), and both keep serving.
//! Drives the real servers over 127.0.0.1, so it exercises tiny_http's head
//! parsing as well as the relay's and admin's own (query, bearer, lengths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tunnel::admin::server::AdminServer;
use tunnel::config::AdminConfig;
use tunnel::relay::{Relay, RelayConfig};
use tunnel::secret::Secret;
use tunnel::telemetry::Telemetry;

const TUNNEL_ID: &str = "tunnel_0123456789abcdef0123456789abcdef";
/// Longest wait for an answer; a server still reading after it is fine.
const READ_WAIT: Duration = Duration::from_millis(300);
/// How often the servers are asked whether they still serve.
const HEALTH_EVERY: u64 = 256;

struct Servers {
    relay: SocketAddr,
    admin: SocketAddr,
    _relay: Relay,
    _admin: AdminServer,
}

fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("panic: {info}");
            std::process::abort();
        }));
        let mut config = RelayConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            vec![TUNNEL_ID.to_string()],
            Secret::new("fuzz-agent-key"),
        );
        config.max_body_bytes = 64 * 1024;
        let relay = Relay::start(config).unwrap();
        let admin_config = AdminConfig {
            address: Some("127.0.0.1:0".into()),
            ..AdminConfig::default()
        };
        let admin = AdminServer::start(&admin_config, TUNNEL_ID, Arc::new(Telemetry::new()), Vec::new())
            .unwrap()
            .unwrap();
        Servers {
            relay: relay.local_addr(),
            admin: admin.local_addr(),
            _relay: relay,
            _admin: admin,
        }
    })
}

/// Sends `bytes` on a fresh connection and reads what comes back for a while.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return Vec::new();
    };
    let _ = stream.set_read_timeout(Some(READ_WAIT));
    let _ = stream.set_write_timeout(Some(READ_WAIT));
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.take(64 * 1024).read_to_end(&mut answer);
    answer
}

fn healthy(addr: SocketAddr) -> bool {
    exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .starts_with(b"HTTP/1.1 ")
}

fuzz_target!(|data: &[u8]| {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let servers = servers();
    // The first byte picks a server and a prefix that gets past the request
    // line, so most inputs reach header and body handling.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let addr = if pick & 1 == 0 { servers.relay } else { servers.admin };
    let prefix: &[u8] = match (pick >> 1) % 4 {
        0 => b"",
        1 => b"POST /v1/mcp/tunnel_0123456789abcdef0123456789abcdef HTTP/1.1\r\n",
        2 => b"GET /v1/tunnels/tunnel_0123456789abcdef0123456789abcdef/poll?limit=1&timeout_ms=1 HTTP/1.1\r\nAuthorization: Bearer fuzz-agent-key\r\n",
        _ => b"POST /v1/tunnels/tunnel_0123456789abcdef0123456789abcdef/response HTTP/1.1\r\nAuthorization: Bearer fuzz-agent-key\r\n",
    };
    let mut request = prefix.to_vec();
    request.extend_from_slice(rest);
    let answer = exchange(addr, &request);
    if !answer.is_empty() {
        assert!(answer.starts_with(b"HTTP/1."), "not an HTTP answer");
    }
    if RUNS.fetch_add(1, Ordering::Relaxed) % HEALTH_EVERY == 0 {
        assert!(healthy(servers.relay), "the relay stopped serving");
        assert!(healthy(servers.admin), "the admin server stopped serving");
    }
});
