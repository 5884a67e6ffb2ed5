//! Test HTTP CONNECT proxy on 127.0.0.1: optional Basic auth, refusal modes,
//! and a record of every CONNECT it saw (target and Proxy-Authorization).
//! Test-only: it must never be used outside tests/.

use super::tls_server::pki;
use super::{wait_until, WAIT};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Longest CONNECT head the proxy reads.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Tunnel every CONNECT.
    Open,
    /// Tunnel only with `Proxy-Authorization: Basic <expected>`; else 407.
    Basic { expected: String },
    /// Answer every CONNECT with this status (403, 502, ...).
    Refuse(u16),
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The request line, e.g. `CONNECT 127.0.0.1:4443 HTTP/1.1`.
    pub request_line: String,
    /// The Proxy-Authorization header value, if any.
    pub authorization: Option<String>,
    /// The status the proxy answered.
    pub status: u16,
    /// For a TLS proxy: whether the client offered a certificate to the proxy.
    pub client_cert_offered: bool,
}

impl Seen {
    /// The CONNECT target (`host:port`).
    pub fn target(&self) -> &str {
        self.request_line.split(' ').nth(1).unwrap_or_default()
    }
}

pub struct ConnectProxy {
    pub addr: SocketAddr,
    /// `https` for a TLS proxy, else `http`.
    scheme: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

/// A TLS proxy's configuration: the test server certificate (127.0.0.1), and
/// a request for an optional client certificate, so we can see if one comes.
fn proxy_tls() -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki("server.key")).unwrap();
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki("root-ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .unwrap();
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

impl ConnectProxy {
    /// A plain-TCP proxy (`http://`).
    pub fn start(mode: Mode) -> ConnectProxy {
        Self::start_inner(mode, None)
    }

    /// A proxy reached over TLS (`https://127.0.0.1:PORT`), certificate from
    /// the test PKI; it asks for (and records) an optional client certificate.
    pub fn start_tls(mode: Mode) -> ConnectProxy {
        Self::start_inner(mode, Some(proxy_tls()))
    }

    fn start_inner(mode: Mode, tls: Option<Arc<ServerConfig>>) -> ConnectProxy {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (mode, seen, tls) = (mode.clone(), seen2.clone(), tls.clone());
                thread::spawn(move || match tls {
                    None => handle_plain(stream, &mode, &seen),
                    Some(config) => handle_tls(stream, config, &mode, &seen),
                });
            }
        });
        ConnectProxy {
            addr,
            scheme,
            seen,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT` (or https), optionally with `user:pass@`.
    pub fn url(&self, userinfo: Option<&str>) -> String {
        match userinfo {
            Some(u) => format!("{}://{u}@{}", self.scheme, self.addr),
            None => format!("{}://{}", self.scheme, self.addr),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `n` requests were recorded; returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Seen> {
        wait_until(WAIT, format_args!("{n} requests at the proxy"), || {
            let seen = self.seen();
            (seen.len() >= n).then_some(seen)
        })
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads the CONNECT head, records it, answers, and returns the upstream
/// connection when the answer was 200.
fn negotiate<S: Read + Write>(
    client: &mut S,
    mode: &Mode,
    seen: &Mutex<Vec<Seen>>,
    client_cert_offered: bool,
) -> Option<TcpStream> {
    let head = read_head(client)?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, value)| value.trim().to_string());
    let is_connect = request_line.starts_with("CONNECT ");
    let target = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();

    let mut upstream = None;
    let status = match mode {
        _ if !is_connect => 405,
        Mode::Refuse(status) => *status,
        Mode::Basic { expected }
            if authorization.as_deref() != Some(&format!("Basic {expected}")) =>
        {
            407
        }
        _ => match TcpStream::connect(&target) {
            Ok(s) => {
                upstream = Some(s);
                200
            }
            Err(_) => 502,
        },
    };
    seen.lock().unwrap().push(Seen {
        request_line,
        authorization,
        status,
        client_cert_offered,
    });

    let reason = match status {
        200 => "Connection established",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        502 => "Bad Gateway",
        _ => "Refused",
    };
    let extra = if status == 407 {
        "Proxy-Authenticate: Basic realm=\"test\"\r\n"
    } else {
        ""
    };
    let length = if status == 200 {
        ""
    } else {
        "Content-Length: 0\r\n"
    };
    let answer = format!("HTTP/1.1 {status} {reason}\r\n{extra}{length}\r\n");
    client.write_all(answer.as_bytes()).ok()?;
    client.flush().ok()?;
    upstream
}

fn handle_plain(mut client: TcpStream, mode: &Mode, seen: &Mutex<Vec<Seen>>) {
    let _ = client.set_read_timeout(Some(WAIT));
    let _ = client.set_write_timeout(Some(WAIT));
    let Some(upstream) = negotiate(&mut client, mode, seen, false) else {
        return;
    };
    // Tunnel both ways until either side closes.
    let _ = client.set_read_timeout(None);
    let (Ok(mut client_r), Ok(mut upstream_w)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let forward = thread::spawn(move || {
        let _ = std::io::copy(&mut client_r, &mut upstream_w);
        let _ = upstream_w.shutdown(Shutdown::Write);
    });
    let mut upstream_r = upstream;
    let _ = std::io::copy(&mut upstream_r, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = forward.join();
}

/// Poll interval of the single-threaded TLS tunnel pump (a TLS stream cannot
/// be split across two threads).
const PUMP_POLL: Duration = Duration::from_millis(5);

fn handle_tls(client: TcpStream, config: Arc<ServerConfig>, mode: &Mode, seen: &Mutex<Vec<Seen>>) {
    let _ = client.set_read_timeout(Some(WAIT));
    let _ = client.set_write_timeout(Some(WAIT));
    let Ok(conn) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, client);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            return;
        }
    }
    let offered = tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
    let Some(mut upstream) = negotiate(&mut tls, mode, seen, offered) else {
        return;
    };
    let _ = tls.sock.set_read_timeout(Some(PUMP_POLL));
    let _ = upstream.set_read_timeout(Some(PUMP_POLL));
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if upstream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        match upstream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn read_head<S: Read>(stream: &mut S) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    String::from_utf8(head).ok()
}
