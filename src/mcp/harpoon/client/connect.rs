//! Opening one connection for one hop: resolve once, vet every address, connect
//! only to a vetted address (or the unix socket, or the proxy), then TLS. Never connects to an address it did not vet.

use crate::mcp::harpoon::policy::addresses::{self, AddressProblem};
use crate::mcp::harpoon::settings::HttpProxy;
use crate::mcp::harpoon::url::{Host, Scheme, Url};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Most blocking lookups (DNS, unix connect) in flight at once, process-wide.
/// A resolver that hangs costs one thread each; beyond this, calls fail fast.
pub const MAX_PENDING_BLOCKING_CALLS: usize = 16;
/// How often a wait on a blocking call looks for a cancellation.
const CANCEL_POLL: Duration = Duration::from_millis(25);
/// Most addresses one name may resolve to (all are vetted, the rest ignored).
const MAX_ADDRESSES: usize = 16;

static PENDING_BLOCKING_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Name resolution. Every address returned is vetted before use, so a
/// resolver cannot widen what Harpoon reaches.
pub trait Resolve: Send + Sync {
    /// All addresses of `host` (a DNS name, never a literal). May block: the
    /// caller bounds the wait by its deadline.
    fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (`getaddrinfo`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>> {
        Ok((host, port).to_socket_addrs()?.map(|a| a.ip()).collect())
    }
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialError {
    /// The host is, or resolved to, an address Harpoon never connects to
    /// (unspecified, link-local, cloud metadata, multicast, broadcast, or
    /// loopback for a host not named as loopback); nothing was connected.
    AddressNotAllowed,
    Timeout,
    Cancelled,
    /// DNS, connect, proxy or TLS failure.
    Failed,
}

/// Lets `notifications/cancelled` (another thread) abort a call in flight:
/// the flag stops further steps, and the socket is shut down under a blocked read.
#[derive(Debug, Default)]
pub struct CancelToken {
    cancelled: AtomicBool,
    socket: Mutex<Option<Socket>>,
}

impl CancelToken {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Ok(mut slot) = self.socket.lock() {
            if let Some(socket) = slot.take() {
                socket.shutdown();
            }
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Registers the socket of the current hop (a clone of its descriptor).
    fn attach(&self, socket: Socket) {
        if let Ok(mut slot) = self.socket.lock() {
            // The flag is set before the lock is taken in `cancel`, so either
            // `cancel` finds this socket or this sees the flag.
            if self.is_cancelled() {
                socket.shutdown();
            } else {
                *slot = Some(socket);
            }
        }
    }
}

/// A TCP or unix stream socket.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    fn try_clone(&self) -> io::Result<Socket> {
        Ok(match self {
            Socket::Tcp(s) => Socket::Tcp(s.try_clone()?),
            Socket::Unix(s) => Socket::Unix(s.try_clone()?),
        })
    }

    fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(s) => s.shutdown(Shutdown::Both),
            Socket::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }

    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))
            }
            Socket::Unix(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))
            }
        }
    }
}

/// A socket whose every read and write ends by the call's deadline.
#[derive(Debug)]
pub(crate) struct DeadlineSocket {
    socket: Socket,
    deadline: Instant,
}

impl DeadlineSocket {
    fn arm(&self) -> io::Result<()> {
        match crate::mcp::remaining(self.deadline) {
            Some(left) => self.socket.set_timeouts(left),
            None => Err(io::ErrorKind::TimedOut.into()),
        }
    }
}

/// Socket timeouts surface as `WouldBlock` on Unix; callers see `TimedOut`.
fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::ErrorKind::TimedOut.into()
    } else {
        e
    }
}

impl Read for DeadlineSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        match &mut self.socket {
            Socket::Tcp(s) => s.read(buf),
            Socket::Unix(s) => s.read(buf),
        }
        .map_err(timed_out)
    }
}

impl Write for DeadlineSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        match &mut self.socket {
            Socket::Tcp(s) => s.write(buf),
            Socket::Unix(s) => s.write(buf),
        }
        .map_err(timed_out)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An open connection, plain or TLS.
pub enum Conn {
    Plain(DeadlineSocket),
    Tls(Box<StreamOwned<ClientConnection, DeadlineSocket>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            // Most servers close without close_notify; framing (Content-Length,
            // chunked) still detects a cut body, so that EOF is an EOF.
            Conn::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// Everything one hop's connection depends on.
pub struct Dial<'a> {
    pub url: &'a Url,
    /// The target's unix socket: connect there, no DNS, no proxy.
    pub unix_socket: Option<&'a Path>,
    pub proxy: Option<&'a HttpProxy>,
    pub tls: &'a Arc<ClientConfig>,
    pub resolver: &'a Arc<dyn Resolve>,
    pub deadline: Instant,
    pub cancel: &'a CancelToken,
}

/// Opens the connection for `dial.url`:
/// - unix socket: connect to the path;
/// - proxy: vet the host if it is a literal, then CONNECT through the proxy;
/// - otherwise: the host's addresses (a literal, `localhost` → loopback, or one
///   lookup), every one vetted, then a connection to one of exactly those.
///
/// Then TLS for `https`, verified against the configured roots, without a client certificate.
pub fn open(dial: &Dial<'_>) -> Result<Conn, DialError> {
    let url = dial.url;
    let socket = if let Some(path) = dial.unix_socket {
        connect_unix(path, dial)?
    } else if let Some(proxy) = dial.proxy {
        if let Some(ip) = url.host.ip() {
            vet_all(&url.host, &[ip])?;
        }
        let stream = connect_host(&proxy.host, proxy.port, dial, false)?;
        tunnel(stream, url, proxy, dial)?
    } else {
        connect_host(&url.host, url.port, dial, true)?
    };
    if let Ok(clone) = socket.try_clone() {
        dial.cancel.attach(clone);
    }
    if dial.cancel.is_cancelled() {
        return Err(DialError::Cancelled);
    }
    let sock = DeadlineSocket {
        socket,
        deadline: dial.deadline,
    };
    match url.scheme {
        Scheme::Http => Ok(Conn::Plain(sock)),
        Scheme::Https => handshake(sock, url, dial),
    }
}

fn vet_all(host: &Host, ips: &[IpAddr]) -> Result<(), DialError> {
    let loopback_ok = addresses::is_loopback_host(host);
    for ip in ips {
        match addresses::vet(*ip, loopback_ok) {
            Ok(()) => {}
            Err(AddressProblem::Forbidden | AddressProblem::Loopback) => {
                return Err(DialError::AddressNotAllowed)
            }
        }
    }
    Ok(())
}

/// Resolves `host` once, vets every address when `vet` is set (the proxy
/// itself is the operator's choice and is not vetted), and connects to the
/// first address that answers — only ever one of those just vetted.
fn connect_host(host: &Host, port: u16, dial: &Dial<'_>, vet: bool) -> Result<Socket, DialError> {
    let ips: Vec<IpAddr> = match host {
        Host::Ip(ip) => vec![*ip],
        // localhost means this machine: never asked of DNS.
        Host::Name(name) if name == "localhost" => vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
        Host::Name(name) => {
            let resolver = dial.resolver.clone();
            let name = name.clone();
            let mut ips = blocking(dial, move || resolver.lookup(&name, port))?
                .map_err(|_| DialError::Failed)?;
            ips.truncate(MAX_ADDRESSES);
            ips
        }
    };
    if ips.is_empty() {
        return Err(DialError::Failed);
    }
    if vet {
        vet_all(host, &ips)?;
    }
    let mut last = DialError::Failed;
    for ip in ips {
        if dial.cancel.is_cancelled() {
            return Err(DialError::Cancelled);
        }
        let Some(left) = crate::mcp::remaining(dial.deadline) else {
            return Err(DialError::Timeout);
        };
        match TcpStream::connect_timeout(&SocketAddr::new(ip, port), left) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(Socket::Tcp(stream));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                last = DialError::Timeout
            }
            Err(_) => last = DialError::Failed,
        }
    }
    Err(last)
}

fn connect_unix(path: &Path, dial: &Dial<'_>) -> Result<Socket, DialError> {
    let path: PathBuf = path.to_path_buf();
    let stream =
        blocking(dial, move || UnixStream::connect(path))?.map_err(|_| DialError::Failed)?;
    Ok(Socket::Unix(stream))
}

/// Runs a call that cannot be interrupted (DNS, unix connect) on a helper
/// thread and waits for it until the deadline or a cancellation. At most
/// [`MAX_PENDING_BLOCKING_CALLS`] run at once, so hung lookups cannot pile up threads.
fn blocking<T: Send + 'static>(
    dial: &Dial<'_>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DialError> {
    let taken = PENDING_BLOCKING_CALLS.fetch_add(1, Ordering::SeqCst);
    if taken >= MAX_PENDING_BLOCKING_CALLS {
        PENDING_BLOCKING_CALLS.fetch_sub(1, Ordering::SeqCst);
        log::warn!(
            "harpoon: {MAX_PENDING_BLOCKING_CALLS} name lookups already pending; call refused"
        );
        return Err(DialError::Failed);
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("harpoon-lookup".into())
        .spawn(move || {
            let _ = tx.send(work());
            PENDING_BLOCKING_CALLS.fetch_sub(1, Ordering::SeqCst);
        });
    if spawned.is_err() {
        PENDING_BLOCKING_CALLS.fetch_sub(1, Ordering::SeqCst);
        return Err(DialError::Failed);
    }
    loop {
        if dial.cancel.is_cancelled() {
            return Err(DialError::Cancelled);
        }
        let Some(left) = crate::mcp::remaining(dial.deadline) else {
            return Err(DialError::Timeout);
        };
        match rx.recv_timeout(left.min(CANCEL_POLL)) {
            Ok(value) => return Ok(value),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(DialError::Failed),
        }
    }
}

/// `CONNECT host:port` through the proxy; any 2xx opens the tunnel. The
/// answer is read one byte at a time so no tunnelled byte is swallowed.
fn tunnel(
    socket: Socket,
    url: &Url,
    proxy: &HttpProxy,
    dial: &Dial<'_>,
) -> Result<Socket, DialError> {
    let authority = format!("{}:{}", url.host, url.port);
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = &proxy.authorization {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    let clone = socket.try_clone().map_err(|_| DialError::Failed)?;
    dial.cancel.attach(clone);
    let mut sock = DeadlineSocket {
        socket,
        deadline: dial.deadline,
    };
    let io_error = |e: io::Error| match e.kind() {
        io::ErrorKind::TimedOut => DialError::Timeout,
        _ if dial.cancel.is_cancelled() => DialError::Cancelled,
        _ => DialError::Failed,
    };
    sock.write_all(request.as_bytes()).map_err(io_error)?;
    let head = {
        let mut reader = BufReader::with_capacity(1, &mut sock);
        super::wire::read_head(&mut reader).map_err(|e| match e {
            super::wire::WireError::Io(e) => io_error(e),
            _ => DialError::Failed,
        })?
    };
    if !(200..300).contains(&head.status) {
        log::debug!(
            "harpoon: the proxy refused CONNECT with status {}",
            head.status
        );
        return Err(DialError::Failed);
    }
    Ok(sock.socket)
}

fn handshake(sock: DeadlineSocket, url: &Url, dial: &Dial<'_>) -> Result<Conn, DialError> {
    let name = match &url.host {
        Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
        Host::Name(name) => ServerName::try_from(name.clone()).map_err(|_| DialError::Failed)?,
    };
    let conn = ClientConnection::new(dial.tls.clone(), name).map_err(|_| DialError::Failed)?;
    let mut stream = StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            return Err(match e.kind() {
                io::ErrorKind::TimedOut => DialError::Timeout,
                _ if dial.cancel.is_cancelled() => DialError::Cancelled,
                _ => {
                    log::debug!("harpoon: TLS with {} failed: {e}", url.origin());
                    DialError::Failed
                }
            });
        }
    }
    Ok(Conn::Tls(Box::new(stream)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    struct FixedResolver(Vec<IpAddr>);

    impl Resolve for FixedResolver {
        fn lookup(&self, _host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
            Ok(self.0.clone())
        }
    }

    fn tls() -> Arc<ClientConfig> {
        Arc::new(
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
    }

    fn dial_with(url: &str, ips: Vec<IpAddr>) -> Result<Conn, DialError> {
        let url = Url::parse(url).unwrap();
        let resolver: Arc<dyn Resolve> = Arc::new(FixedResolver(ips));
        let cancel = CancelToken::default();
        let tls = tls();
        open(&Dial {
            url: &url,
            unix_socket: None,
            proxy: None,
            tls: &tls,
            resolver: &resolver,
            deadline: Instant::now() + Duration::from_secs(5),
            cancel: &cancel,
        })
    }

    #[test]
    fn h11_a_name_resolving_to_loopback_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://internal.example:{port}/");
        assert_eq!(
            dial_with(&url, vec!["127.0.0.1".parse().unwrap()]).err(),
            Some(DialError::AddressNotAllowed)
        );
        // One bad address among good ones refuses the whole name (rebinding).
        assert_eq!(
            dial_with(
                &url,
                vec![
                    "10.0.0.1".parse().unwrap(),
                    "169.254.169.254".parse().unwrap()
                ]
            )
            .err(),
            Some(DialError::AddressNotAllowed)
        );
        // The literal and localhost forms may use loopback.
        assert!(dial_with(&format!("http://127.0.0.1:{port}/"), vec![]).is_ok());
        assert!(dial_with(&format!("http://localhost:{port}/"), vec![]).is_ok());
        listener.set_nonblocking(true).unwrap();
    }

    #[test]
    fn an_empty_answer_fails() {
        assert_eq!(
            dial_with("http://nothing.example/", vec![]).err(),
            Some(DialError::Failed)
        );
    }

    struct HangingResolver;

    impl Resolve for HangingResolver {
        fn lookup(&self, _host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
            std::thread::sleep(Duration::from_millis(800));
            Ok(vec!["10.0.0.1".parse().unwrap()])
        }
    }

    #[test]
    fn h9_a_slow_lookup_ends_at_the_deadline_or_on_cancel() {
        let url = Url::parse("http://slow.example/").unwrap();
        let resolver: Arc<dyn Resolve> = Arc::new(HangingResolver);
        let tls = tls();
        let cancel = CancelToken::default();
        let started = Instant::now();
        let result = open(&Dial {
            url: &url,
            unix_socket: None,
            proxy: None,
            tls: &tls,
            resolver: &resolver,
            deadline: Instant::now() + Duration::from_millis(100),
            cancel: &cancel,
        });
        assert_eq!(result.err(), Some(DialError::Timeout));
        assert!(started.elapsed() < Duration::from_millis(700));
        cancel.cancel();
        let result = open(&Dial {
            url: &url,
            unix_socket: None,
            proxy: None,
            tls: &tls,
            resolver: &resolver,
            deadline: Instant::now() + Duration::from_secs(5),
            cancel: &cancel,
        });
        assert_eq!(result.err(), Some(DialError::Cancelled));
    }
}
