//! Scripted HTTP(S) or unix-socket upstream for the Harpoon tests: records the exact bytes of
//! every request, answers as the test says, and counts connections. Test-only: no limits worth the name.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest request head read.
const MAX_HEAD: usize = 64 * 1024;
/// Socket timeouts, and the longest a test waits for the upstream.
pub const WAIT: Duration = Duration::from_secs(10);
/// What a settle probe sends first, so it is never counted as a request.
const PROBE: &[u8] = b"PROBE\r\n\r\n";

pub fn pki(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pki")
        .join(name)
}

/// One request as the upstream received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Every byte read from the connection (head and body).
    pub raw: Vec<u8>,
    /// The head as text (request line and headers, CRLF separated).
    pub head: String,
    pub body: Vec<u8>,
    /// For TLS: whether the client presented a certificate.
    pub client_cert: bool,
}

impl Received {
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    /// Header lines after the request line, as received.
    pub fn header_lines(&self) -> Vec<&str> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.is_empty())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.header_lines().into_iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// What the upstream does after reading a request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Write these bytes, then close.
    Send(Vec<u8>),
    /// Write the first part, then one byte per interval of the rest.
    Trickle(Vec<u8>, Vec<u8>, Duration),
    /// Write nothing and hold the connection until the client leaves.
    Hang,
}

pub type Handler = Arc<dyn Fn(&Received) -> Action + Send + Sync>;

/// A full response with `Content-Length`.
pub fn respond(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub fn ok(body: &str) -> Handler {
    let body = body.as_bytes().to_vec();
    Arc::new(move |_| Action::Send(respond(200, &[("Content-Type", "text/plain")], &body)))
}

pub fn redirect(status: u16, location: &str) -> Handler {
    let location = location.to_string();
    Arc::new(move |_| Action::Send(respond(status, &[("Location", &location)], b"moved")))
}

/// gzip of `1 + 258 × copies` zero bytes in a few bytes per 258: one fixed-Huffman
/// block of a literal 0 and `copies` back-references of length 258 at distance 1.
pub fn gzip_bomb(copies: usize) -> Vec<u8> {
    let mut bits: Vec<bool> = Vec::new();
    let lsb =
        |bits: &mut Vec<bool>, v: u32, n: u32| (0..n).for_each(|i| bits.push((v >> i) & 1 == 1));
    let msb = |bits: &mut Vec<bool>, v: u32, n: u32| {
        (0..n).rev().for_each(|i| bits.push((v >> i) & 1 == 1))
    };
    lsb(&mut bits, 1, 1); // final block
    lsb(&mut bits, 1, 2); // fixed Huffman
    msb(&mut bits, 0x30, 8); // literal 0
    for _ in 0..copies {
        msb(&mut bits, 0b1100_0101, 8); // length 258
        msb(&mut bits, 0, 5); // distance 1
    }
    msb(&mut bits, 0, 7); // end of block
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut packed = vec![0u8; bits.len().div_ceil(8)];
    for (i, bit) in bits.iter().enumerate() {
        if *bit {
            packed[i / 8] |= 1 << (i % 8);
        }
    }
    out.extend_from_slice(&packed);
    let total = 1 + 258 * copies;
    out.extend_from_slice(&tunnel::mcp::harpoon::inflate::crc32(&vec![0u8; total]).to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    accepted: AtomicUsize,
    probes: AtomicUsize,
    stop: AtomicBool,
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

pub struct Upstream {
    pub addr: Option<SocketAddr>,
    pub socket_path: Option<PathBuf>,
    state: Arc<State>,
}

fn server_tls() -> Arc<ServerConfig> {
    server_tls_with("server.pem", "server.key")
}

/// A TLS configuration that asks for (but does not need) a client certificate,
/// so a test can see that none is offered.
pub fn server_tls_with(cert: &str, key: &str) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki(cert))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki(key)).unwrap();
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki("root-ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .unwrap();
    Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

impl Upstream {
    pub fn http(handler: Handler) -> Upstream {
        Self::tcp(handler, None)
    }

    pub fn https(handler: Handler) -> Upstream {
        Self::tcp(handler, Some(server_tls()))
    }

    pub fn https_with(handler: Handler, tls: Arc<ServerConfig>) -> Upstream {
        Self::tcp(handler, Some(tls))
    }

    fn tcp(handler: Handler, tls: Option<Arc<ServerConfig>>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        spawn(Listener::Tcp(listener), handler, tls, state.clone());
        Upstream {
            addr: Some(addr),
            socket_path: None,
            state,
        }
    }

    pub fn unix(path: &Path, handler: Handler) -> Upstream {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        let state = Arc::new(State::default());
        spawn(Listener::Unix(listener), handler, None, state.clone());
        Upstream {
            addr: None,
            socket_path: Some(path.to_path_buf()),
            state,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.map(|a| a.port()).unwrap_or_default()
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Connections accepted so far, not counting probes. Accurate once the
    /// caller knows no connection attempt is still on its way: it opens a
    /// probe and waits until it is served, and the listener serves in order.
    pub fn connections(&self) -> usize {
        let before = self.state.probes.load(Ordering::SeqCst);
        let probe = match (&self.addr, &self.socket_path) {
            (Some(addr), _) => TcpStream::connect(addr)
                .map(|mut s| s.write_all(PROBE).map(|_| Box::new(s) as Box<dyn Write>)),
            (None, Some(path)) => UnixStream::connect(path)
                .map(|mut s| s.write_all(PROBE).map(|_| Box::new(s) as Box<dyn Write>)),
            _ => unreachable!(),
        };
        let _keep = probe.unwrap().unwrap();
        let deadline = Instant::now() + WAIT;
        while self.state.probes.load(Ordering::SeqCst) == before {
            assert!(
                Instant::now() < deadline,
                "the upstream never served the probe"
            );
            thread::sleep(Duration::from_millis(2));
        }
        self.state.accepted.load(Ordering::SeqCst) - self.state.probes.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `n` requests were recorded.
    pub fn wait_requests(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(addr) = self.addr {
            let _ = TcpStream::connect(addr);
        }
        if let Some(path) = &self.socket_path {
            let _ = UnixStream::connect(path);
            let _ = std::fs::remove_file(path);
        }
    }
}

trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

fn spawn(listener: Listener, handler: Handler, tls: Option<Arc<ServerConfig>>, state: Arc<State>) {
    thread::spawn(move || loop {
        let stream: Box<dyn Conn> = match &listener {
            Listener::Tcp(l) => match l.accept() {
                Ok((s, _)) => {
                    s.set_read_timeout(Some(WAIT)).unwrap();
                    s.set_write_timeout(Some(WAIT)).unwrap();
                    Box::new(s)
                }
                Err(_) => continue,
            },
            Listener::Unix(l) => match l.accept() {
                Ok((s, _)) => {
                    s.set_read_timeout(Some(WAIT)).unwrap();
                    Box::new(s)
                }
                Err(_) => continue,
            },
        };
        if state.stop.load(Ordering::SeqCst) {
            return;
        }
        state.accepted.fetch_add(1, Ordering::SeqCst);
        let (handler, tls, state) = (handler.clone(), tls.clone(), state.clone());
        thread::spawn(move || serve(stream, handler, tls, state));
    });
}

fn serve(
    mut stream: Box<dyn Conn>,
    handler: Handler,
    tls: Option<Arc<ServerConfig>>,
    state: Arc<State>,
) {
    // A probe is plain text even on a TLS port: peek at the first bytes.
    let mut first = [0u8; 5];
    if stream.read_exact(&mut first).is_err() {
        return;
    }
    if first == PROBE[..5] {
        state.probes.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let prefixed = Prefixed {
        prefix: first.to_vec(),
        inner: stream,
    };
    match tls {
        None => exchange(prefixed, false, &handler, &state),
        Some(config) => {
            let Ok(conn) = ServerConnection::new(config) else {
                return;
            };
            let mut tls = StreamOwned::new(conn, prefixed);
            while tls.conn.is_handshaking() {
                if tls.conn.complete_io(&mut tls.sock).is_err() {
                    return;
                }
            }
            let cert = tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
            exchange(tls, cert, &handler, &state);
        }
    }
}

/// Replays bytes already read before the rest of the stream.
struct Prefixed {
    prefix: Vec<u8>,
    inner: Box<dyn Conn>,
}

impl Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.prefix.is_empty() {
            let n = buf.len().min(self.prefix.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn exchange<S: Read + Write>(mut stream: S, client_cert: bool, handler: &Handler, state: &State) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        if raw.len() > MAX_HEAD {
            return;
        }
        match stream.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&raw[..raw.len() - 4]).into_owned();
    let length: usize = head
        .split("\r\n")
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if stream.read_exact(&mut body).is_err() {
        return;
    }
    raw.extend_from_slice(&body);
    let received = Received {
        raw,
        head,
        body,
        client_cert,
    };
    let action = handler(&received);
    state.received.lock().unwrap().push(received);
    match action {
        Action::Send(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
        }
        Action::Trickle(first, rest, every) => {
            let _ = stream.write_all(&first);
            let _ = stream.flush();
            for b in rest {
                thread::sleep(every);
                if stream.write_all(&[b]).and_then(|_| stream.flush()).is_err() {
                    return;
                }
            }
        }
        Action::Hang => {
            let mut sink = [0u8; 256];
            let deadline = Instant::now() + WAIT;
            while Instant::now() < deadline {
                match stream.read(&mut sink) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return,
                }
            }
        }
    }
}
