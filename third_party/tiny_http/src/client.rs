use ascii::AsciiString;

use std::convert::TryFrom;
use std::io::Error as IoError;
use std::io::Result as IoResult;
use std::io::{self, BufRead, BufReader, BufWriter, ErrorKind, Read};

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::mpsc::{channel, Receiver};
use std::time::Instant;

use crate::common::{HTTPVersion, Method};
use crate::util::RefinedTcpStream;
use crate::util::{SequentialReader, SequentialReaderBuilder, SequentialWriterBuilder};
use crate::{Limits, PeerWatch, Request};

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
pub struct ClientConnection {
    // address of the client
    remote_addr: IoResult<Option<SocketAddr>>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<RefinedTcpStream>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1
    sink: SequentialWriterBuilder<BufWriter<RefinedTcpStream>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<RefinedTcpStream>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    // true if the connection goes through SSL
    secure: bool,

    limits: Limits,

    // when the connection was accepted; `None` once its first request is read
    accepted: Option<Instant>,

    // where the previous request hands back its unread body
    previous_body: Option<Receiver<Option<Box<dyn Read + Send + 'static>>>>,

    // set once the client closes the connection between requests
    peer_watch: PeerWatch,

    // true once the connection ended because the client stayed idle past
    // `Limits::keep_alive_timeout` (our own close: not the client's doing)
    idle_timed_out: bool,
}

/// A request body as read off the socket: fails past `left` bytes.
struct WireCap<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for WireCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        if self.left == 0 {
            let err = IoError::new(ErrorKind::InvalidData, "request body over the size limit");
            return Err(err);
        }
        let len = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..len])?;
        self.left -= read as u64;
        Ok(read)
    }
}

/// Error that can happen when reading a request.
#[derive(Debug)]
enum ReadError {
    WrongRequestLine,
    WrongHeader(HTTPVersion),
    /// the request line and headers are longer than `Limits::max_head_bytes`
    HeadTooLarge,
    /// the client sent an unrecognized `Expect` header
    ExpectationFailed(HTTPVersion),
    ReadIoError(IoError),
}

impl ClientConnection {
    /// Creates a new `ClientConnection` that takes ownership of the `TcpStream`.
    pub fn new(
        write_socket: RefinedTcpStream,
        mut read_socket: RefinedTcpStream,
        limits: Limits,
    ) -> ClientConnection {
        let remote_addr = read_socket.peer_addr();
        let secure = read_socket.secure();

        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, read_socket));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            sink: SequentialWriterBuilder::new(BufWriter::with_capacity(1024, write_socket)),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            secure,
            limits,
            accepted: Some(Instant::now()),
            previous_body: None,
            peer_watch: PeerWatch::default(),
            idle_timed_out: false,
        }
    }

    /// true if the connection is HTTPS
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Reads the next line from self.next_header_source.
    ///
    /// Reads until `CRLF` is reached. The next read will start
    ///  at the first byte of the new line. Reads at most `budget` bytes
    ///  (and deducts what it reads).
    fn read_next_line(&mut self, budget: &mut usize) -> Result<AsciiString, ReadError> {
        let mut buf = Vec::new();
        let mut prev_byte_was_cr = false;

        loop {
            if *budget == 0 {
                return Err(ReadError::HeadTooLarge);
            }
            *budget -= 1;

            let byte = self.next_header_source.by_ref().bytes().next();

            let byte = match byte {
                Some(b) => b.map_err(ReadError::ReadIoError)?,
                None => {
                    let err = IoError::new(ErrorKind::ConnectionAborted, "Unexpected EOF");
                    return Err(ReadError::ReadIoError(err));
                }
            };

            if byte == b'\n' && prev_byte_was_cr {
                buf.pop(); // removing the '\r'
                return AsciiString::from_ascii(buf).map_err(|_| {
                    let err = IoError::new(ErrorKind::InvalidInput, "Header is not in ASCII");
                    ReadError::ReadIoError(err)
                });
            }

            prev_byte_was_cr = byte == b'\r';

            buf.push(byte);
        }
    }

    /// Waits for the previous request to be answered (without pipelining)
    /// and its body drained, then for the first byte of the next one, and
    /// starts the clock on its head: the connection's first request must be
    /// complete within `Limits::head_timeout` of accept; a later one must
    /// start within `keep_alive_timeout` of that wait, and its head be
    /// complete within `head_timeout` of its first byte.
    fn wait_for_request(&mut self) -> Result<(), ReadError> {
        let limits = self.limits;
        let closed = || ReadError::ReadIoError(ErrorKind::ConnectionAborted.into());

        // Without pipelining, the next head is read once the previous
        // response is complete. Either way, the rest of the previous body
        // must be read first.
        if !limits.pipelining {
            self.sink.wait_for_previous();
        }
        if let Some(previous_body) = self.previous_body.take() {
            let drained = match previous_body.recv() {
                Ok(Some(mut body)) => io::copy(&mut body, &mut io::sink()).is_ok(),
                _ => false,
            };
            if !drained {
                return Err(closed());
            }
        }

        let reader = self.next_header_source.wait_turn().ok_or_else(closed)?;
        let (idle_deadline, head_deadline) = match self.accepted.take() {
            Some(accepted) => {
                let deadline = limits.head_timeout.map(|t| accepted + t);
                (deadline, deadline)
            }
            None => (limits.keep_alive_timeout.map(|t| Instant::now() + t), None),
        };
        reader
            .get_mut()
            .set_read_deadline(idle_deadline)
            .map_err(ReadError::ReadIoError)?;
        match reader.fill_buf() {
            Ok([]) => {
                self.peer_watch.mark_closed();
                return Err(closed());
            }
            Ok(_) => {}
            // an idle connection is closed without a response
            Err(e) => {
                match e.kind() {
                    ErrorKind::TimedOut => self.idle_timed_out = true,
                    ErrorKind::ConnectionReset => self.peer_watch.mark_reset(),
                    _ => self.peer_watch.mark_closed(),
                }
                return Err(closed());
            }
        }
        let head_deadline =
            head_deadline.or_else(|| limits.head_timeout.map(|t| Instant::now() + t));
        reader
            .get_mut()
            .set_read_deadline(head_deadline)
            .map_err(ReadError::ReadIoError)
    }

    /// Reads a request from the stream.
    /// Blocks until the header has been read.
    fn read(&mut self) -> Result<Request, ReadError> {
        self.wait_for_request()?;
        let mut budget = self.limits.max_head_bytes;

        let (method, path, version, headers) = {
            // reading the request line
            let (method, path, version) = {
                let line = self.read_next_line(&mut budget)?;

                parse_request_line(
                    line.as_str().trim(), // TODO: remove this conversion
                )?
            };

            // getting all headers
            let headers = {
                let mut headers = Vec::new();
                loop {
                    let line = self.read_next_line(&mut budget)?;

                    if line.is_empty() {
                        break;
                    };
                    headers.push(match FromStr::from_str(line.as_str().trim()) {
                        // TODO: remove this conversion
                        Ok(h) => h,
                        _ => return Err(ReadError::WrongHeader(version)),
                    });
                }

                headers
            };

            (method, path, version, headers)
        };

        // building the writer for the request; without pipelining nothing
        // else touches the socket until it is answered, so the request may
        // look at it (`Request::peer_closed`)
        let writer = self.sink.next().unwrap();
        let peer_socket = (!self.limits.pipelining).then(|| writer.shared());

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        // the head is complete: the body has its own deadline
        if let Some(reader) = data_source.wait_turn() {
            let deadline = self.limits.body_timeout.map(|t| Instant::now() + t);
            reader
                .get_mut()
                .set_read_deadline(deadline)
                .map_err(ReadError::ReadIoError)?;
        }
        let data_source = WireCap {
            inner: data_source,
            left: self.limits.max_body_bytes,
        };

        // building the next reader
        let request = crate::request::new_request(
            self.secure,
            method,
            path,
            version.clone(),
            headers,
            // getpeername fails once the peer is gone: no address then
            self.remote_addr.as_ref().ok().and_then(|addr| *addr),
            data_source,
            writer,
        )
        .map(|request| request.with_peer(peer_socket, self.peer_watch.clone()))
        .map_err(|e| {
            use crate::request;
            match e {
                request::RequestCreationError::CreationIoError(e) => ReadError::ReadIoError(e),
                request::RequestCreationError::InvalidContentLength => {
                    ReadError::WrongHeader(version)
                }
                request::RequestCreationError::ExpectationFailed => {
                    ReadError::ExpectationFailed(version)
                }
            }
        })?;

        // a declared body longer than the limit can be neither read nor
        // drained: this request is the connection's last
        if request
            .body_length()
            .map_or(false, |len| len as u64 > self.limits.max_body_bytes)
        {
            self.no_more_requests = true;
        }
        // a body on the socket must be read (by the handler, or drained)
        // before the next request
        if !request.body_on_socket() {
            return Ok(request);
        }
        let (body_return, previous_body) = channel();
        self.previous_body = Some(previous_body);

        // return the request
        Ok(request.with_body_return(body_return))
    }
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        // However the connection ended (the client's close or reset, a failed
        // write, an undrainable body, a last request), the client is not
        // there any more: a watch still open would say otherwise for ever.
        // Only our own idle timeout is no sign from the client.
        if !self.idle_timed_out {
            self.peer_watch.mark_closed();
        }
        // Dropping `next_header_source` waits for the last request's body
        // reader to be dropped: it must not be waiting in this channel.
        self.previous_body.take();
    }
}

impl Iterator for ClientConnection {
    type Item = Request;

    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    fn next(&mut self) -> Option<Request> {
        use crate::{Response, StatusCode};

        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        if self.no_more_requests {
            return None;
        }

        loop {
            let rq = match self.read() {
                Err(ReadError::WrongRequestLine) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(400));
                    response
                        .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                        .ok();
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::WrongHeader(ver)) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(400));
                    response.raw_print(writer, ver, &[], false, None).ok();
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::HeadTooLarge) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(431));
                    response
                        .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                        .ok();
                    return None; // the rest of the head is not read: close
                }

                Err(ReadError::ReadIoError(ref err)) if err.kind() == ErrorKind::TimedOut => {
                    // request timeout
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(408));
                    response
                        .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                        .ok();
                    return None; // closing the connection
                }

                Err(ReadError::ExpectationFailed(ver)) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(417));
                    response.raw_print(writer, ver, &[], true, None).ok();
                    return None; // TODO: should be recoverable, but needs handling in case of body
                }

                Err(ReadError::ReadIoError(_)) => return None,

                Ok(rq) => rq,
            };

            // checking HTTP version
            if *rq.http_version() > (1, 1) {
                let writer = self.sink.next().unwrap();
                let response = Response::from_string(
                    "This server only supports HTTP versions 1.0 and 1.1".to_owned(),
                )
                .with_status_code(StatusCode(505));
                response
                    .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                    .ok();
                continue;
            }

            // updating the status of the connection
            let connection_header = rq
                .headers()
                .iter()
                .find(|h| h.field.equiv("Connection"))
                .map(|h| h.value.as_str());

            let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

            match lowercase {
                Some(ref val) if val.contains("close") => self.no_more_requests = true,
                Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
                Some(ref val)
                    if !val.contains("keep-alive") && *rq.http_version() == HTTPVersion(1, 0) =>
                {
                    self.no_more_requests = true
                }
                None if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
                _ => (),
            };

            // returning the request
            return Some(rq);
        }
    }
}

/// Parses a "HTTP/1.1" string.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    let (major, minor) = match version {
        "HTTP/0.9" => (0, 9),
        "HTTP/1.0" => (1, 0),
        "HTTP/1.1" => (1, 1),
        "HTTP/2.0" => (2, 0),
        "HTTP/3.0" => (3, 0),
        _ => return Err(ReadError::WrongRequestLine),
    };

    Ok(HTTPVersion(major, minor))
}

/// Parses the request line of the request.
/// eg. GET / HTTP/1.1
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let mut parts = line.split(' ');

    let method = parts.next().and_then(|w| w.parse().ok());
    let path = parts.next().map(ToOwned::to_owned);
    let version = parts.next().and_then(|w| parse_http_version(w).ok());

    method
        .and_then(|method| Some((method, path?, version?)))
        .ok_or(ReadError::WrongRequestLine)
}

#[cfg(test)]
mod test {
    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
    }
}
