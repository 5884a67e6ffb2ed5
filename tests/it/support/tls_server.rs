//! Test HTTPS (or plain HTTP) origin on 127.0.0.1 built on rustls' `ServerConfig`:
//! optional/required client certificates, and a record of every handshake.
//! Test-only: it must never be used outside tests/ (no limits worth the name).

use super::{wait_until, WAIT};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Longest request head the server reads.
const MAX_HEAD: usize = 16 * 1024;

pub fn pki(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pki")
        .join(name)
}

/// The leaf (first) certificate of a PEM chain, as DER.
pub fn leaf_der(name: &str) -> Vec<u8> {
    CertificateDer::pem_file_iter(pki(name))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Whether the server asks for a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Never asks.
    Off,
    /// Asks, accepts a connection without one (records what came).
    Optional,
    /// Asks and refuses a connection without a certificate from the test root.
    Required,
}

/// What one connection showed the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// DER of the client's leaf certificate, if it presented one.
    pub client_cert: Option<Vec<u8>>,
    /// `Ok(request line)` or the server-side handshake/read error.
    pub outcome: Result<String, String>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    /// HTTPS with `cert` (chain) and `key` from tests/fixtures/pki.
    pub fn https(cert: &str, key: &str, auth: ClientAuth) -> TestServer {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki(cert))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(pki(key)).unwrap();
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match auth {
            ClientAuth::Off => builder.with_no_client_auth(),
            ClientAuth::Optional | ClientAuth::Required => {
                let mut roots = RootCertStore::empty();
                for c in CertificateDer::pem_file_iter(pki("root-ca.pem")).unwrap() {
                    roots.add(c.unwrap()).unwrap();
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
                let verifier = if auth == ClientAuth::Optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(verifier.build().unwrap())
            }
        };
        let config = Arc::new(builder.with_single_cert(chain, key).unwrap());
        Self::start(Some(config))
    }

    /// Plain HTTP.
    pub fn http() -> TestServer {
        Self::start(None)
    }

    fn start(tls: Option<Arc<ServerConfig>>) -> TestServer {
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
                let (tls, seen) = (tls.clone(), seen2.clone());
                thread::spawn(move || {
                    let record = serve(stream, tls);
                    seen.lock().unwrap().push(record);
                });
            }
        });
        TestServer { addr, seen, stop }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://127.0.0.1:PORT/` (or http).
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}/", self.addr.port())
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `n` connections were recorded; returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Seen> {
        wait_until(
            WAIT,
            format_args!("{n} connections at the test server"),
            || {
                let seen = self.seen();
                (seen.len() >= n).then_some(seen)
            },
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, tls: Option<Arc<ServerConfig>>) -> Seen {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    let Some(config) = tls else {
        let mut stream = stream;
        return Seen {
            client_cert: None,
            outcome: answer(&mut stream),
        };
    };
    let conn = match ServerConnection::new(config) {
        Ok(c) => c,
        Err(e) => {
            return Seen {
                client_cert: None,
                outcome: Err(e.to_string()),
            }
        }
    };
    let mut tls = StreamOwned::new(conn, stream);
    // Drive the handshake first so the client certificate is known even
    // when the request never comes.
    let mut handshake = Ok(());
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            handshake = Err(e.to_string());
            break;
        }
    }
    let client_cert = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec());
    let outcome = match handshake {
        Ok(()) => answer(&mut tls),
        Err(e) => Err(e),
    };
    Seen {
        client_cert,
        outcome,
    }
}

/// Reads one request head and answers 200 with a short body.
fn answer<S: Read + Write>(stream: &mut S) -> Result<String, String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err("request head too long".to_string());
        }
        match stream.read(&mut byte) {
            Ok(0) => return Err("closed before a request".to_string()),
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(e.to_string()),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or_default().to_string();
    let body = "hello from the test origin";
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(response.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| e.to_string())?;
    Ok(line)
}

/// Does one GET with `tunnel::net`'s agent for `hop`; `Ok(status)` or the
/// failure in the words operators will read (`describe_error`).
pub fn fetch(
    hop: tunnel::net::Hop,
    url: &str,
    net: &tunnel::net::NetConfig,
) -> Result<u16, String> {
    let agent = tunnel::net::build_agent(hop, url, net).map_err(|e| e.to_string())?;
    let result = agent
        .get(url)
        .config()
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .call();
    match result {
        Ok(response) => Ok(response.status().as_u16()),
        Err(e) => Err(tunnel::net::describe_error(&e, hop, url, net).to_string()),
    }
}
