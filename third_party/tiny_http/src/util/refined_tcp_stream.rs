use std::io::Result as IoResult;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connection::Connection;
#[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
use crate::ssl::SslStream;

pub(crate) enum Stream {
    Http(Connection),
    #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
    Https(SslStream),
}

impl Stream {
    /// A second handle on the same connection. Fails (rather than panicking)
    /// when the process is out of file descriptors.
    fn try_clone(&self) -> IoResult<Self> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.try_clone().map(Stream::Http),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => Ok(Stream::Https(ssl_stream.clone())),
        }
    }
}

impl From<Connection> for Stream {
    fn from(tcp_stream: Connection) -> Self {
        Stream::Http(tcp_stream)
    }
}

impl Stream {
    fn secure(&self) -> bool {
        match self {
            Stream::Http(_) => false,
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(_) => true,
        }
    }

    fn peer_addr(&mut self) -> IoResult<Option<SocketAddr>> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.peer_addr(),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.peer_addr(),
        }
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> IoResult<()> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.set_read_timeout(timeout),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.set_read_timeout(timeout),
        }
    }

    fn shutdown(&mut self, how: Shutdown) -> IoResult<()> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.shutdown(how),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.shutdown(how),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.read(buf),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.write(buf),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.write(buf),
        }
    }

    fn flush(&mut self) -> IoResult<()> {
        match self {
            Stream::Http(tcp_stream) => tcp_stream.flush(),
            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
            Stream::Https(ssl_stream) => ssl_stream.flush(),
        }
    }
}

/// One open connection, counted in the server's total until both halves of
/// the connection (and so its sockets) are dropped.
pub(crate) struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    pub(crate) fn new(open: &Arc<AtomicUsize>) -> Arc<OpenConnection> {
        open.fetch_add(1, Ordering::AcqRel);
        Arc::new(OpenConnection(Arc::clone(open)))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct RefinedTcpStream {
    stream: Stream,
    close_read: bool,
    close_write: bool,
    _open: Arc<OpenConnection>,
    // reads after this instant fail with `TimedOut`
    read_deadline: Option<Instant>,
}

impl RefinedTcpStream {
    pub(crate) fn new<S>(
        stream: S,
        open: Arc<OpenConnection>,
    ) -> IoResult<(RefinedTcpStream, RefinedTcpStream)>
    where
        S: Into<Stream>,
    {
        let stream: Stream = stream.into();

        let (read, write) = (stream.try_clone()?, stream);

        let read = RefinedTcpStream {
            stream: read,
            close_read: true,
            close_write: false,
            _open: Arc::clone(&open),
            read_deadline: None,
        };

        let write = RefinedTcpStream {
            stream: write,
            close_read: false,
            close_write: true,
            _open: open,
            read_deadline: None,
        };

        Ok((read, write))
    }

    /// Returns true if this struct wraps around a secure connection.
    #[inline]
    pub(crate) fn secure(&self) -> bool {
        self.stream.secure()
    }

    pub(crate) fn peer_addr(&mut self) -> IoResult<Option<SocketAddr>> {
        self.stream.peer_addr()
    }

    /// Whether the peer has closed (FIN) or reset the connection, seen
    /// without blocking and without consuming a byte; `None` when that cannot
    /// be told (TLS, Unix sockets, or the check itself failed).
    ///
    /// The socket is non-blocking for the duration of one `peek`: this file
    /// status is shared with the other half, so nothing else may read or
    /// write the connection meanwhile.
    pub(crate) fn peer_closed(&self) -> Option<bool> {
        let tcp = match &self.stream {
            Stream::Http(Connection::Tcp(tcp)) => tcp,
            _ => return None,
        };
        tcp.set_nonblocking(true).ok()?;
        let mut byte = [0u8; 1];
        let peeked = tcp.peek(&mut byte);
        if tcp.set_nonblocking(false).is_err() {
            // a socket stuck in non-blocking mode would fail the next read
            // or write half-way: end the connection instead
            tcp.shutdown(Shutdown::Both).ok();
            return Some(true);
        }
        match peeked {
            Ok(0) => Some(true),
            Ok(_) => Some(false),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Some(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => None,
            Err(_) => Some(true),
        }
    }

    /// Makes every later read fail with `TimedOut` once `deadline` has
    /// passed, however slowly the peer trickles bytes; `None` lifts it.
    pub(crate) fn set_read_deadline(&mut self, deadline: Option<Instant>) -> IoResult<()> {
        if deadline.is_none() && self.read_deadline.is_some() {
            self.stream.set_read_timeout(None)?;
        }
        self.read_deadline = deadline;
        Ok(())
    }
}

impl Drop for RefinedTcpStream {
    fn drop(&mut self) {
        if self.close_read {
            self.stream.shutdown(Shutdown::Read).ok();
        }

        if self.close_write {
            self.stream.shutdown(Shutdown::Write).ok();
        }
    }
}

impl Read for RefinedTcpStream {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        loop {
            if let Some(deadline) = self.read_deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ErrorKind::TimedOut.into());
                }
                self.stream.set_read_timeout(Some(left))?;
            }
            match self.stream.read(buf) {
                // a read with a timeout is not restarted after a signal
                // (on Linux even SIGSTOP/SIGCONT): read again
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // what a socket read timeout looks like on Unix
                Err(e) if e.kind() == ErrorKind::WouldBlock && self.read_deadline.is_some() => {
                    return Err(ErrorKind::TimedOut.into())
                }
                result => return result,
            }
        }
    }
}

impl Write for RefinedTcpStream {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        let result = self.stream.write(buf);
        self.close_on_error(result)
    }

    fn flush(&mut self) -> IoResult<()> {
        let result = self.stream.flush();
        self.close_on_error(result)
    }
}

impl RefinedTcpStream {
    /// A response cut short by a failed (or timed out) write leaves the
    /// client unable to find where the next one starts: close the connection.
    fn close_on_error<T>(&mut self, result: IoResult<T>) -> IoResult<T> {
        if let Err(e) = &result {
            if e.kind() != ErrorKind::Interrupted {
                self.stream.shutdown(Shutdown::Both).ok();
            }
        }
        result
    }
}
