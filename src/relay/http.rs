//! HTTP plumbing over tiny_http: bounded body reads, one-write responses, SSE
//! streams, bearer checks. Must never log or echo bodies or header values.
//!
//! What tiny_http (0.12 with our patch, third_party/tiny_http) does underneath and why this
//! module looks the way it does:
//!
//! - Each connection's writer is a `BufWriter::with_capacity(1024, socket)`.
//!   `Request::respond` prints the status line and headers into it, then
//!   `io::copy`s the body through a `&mut dyn Write` (no `BufWriter`
//!   specialisation, 8 KiB chunks). A response bigger than ~1 KiB therefore
//!   leaves as two or more `write(2)`s: headers, then body. With Nagle on, the
//!   second small segment waits for the peer's delayed ACK (~40 ms). So every
//!   response here is rendered into one buffer and written with a single
//!   `write_all` + `flush` through `Request::into_writer` (a buffer ≥ 1 KiB
//!   goes straight to the socket in one call; a smaller one in one flush).
//! - tiny_http never sets `TCP_NODELAY` on accepted sockets and does not
//!   expose them. On Linux an accepted socket inherits `TCP_NODELAY` from the
//!   listening socket, so [`nodelay_listener`] sets it there (safe std only;
//!   a unit test below checks the inheritance). SSE events, which are several
//!   writes by nature, rely on this.
//! - Request line and headers are read by tiny_http's per-connection thread
//!   before the relay sees anything, within the bounds server.rs gives it
//!   (head bytes, head deadline); the relay refines them (414 for a long
//!   target). Bodies are read lazily, by the relay with `take`, under
//!   tiny_http's body deadline and byte cap.
//! - Whether a client closed its connection: `Request::peer_closed` (our
//!   patch 8) peeks at the socket without blocking while the request waits
//!   for its answer; `PeerWatch` says afterwards whether the client closed
//!   the connection instead of sending another request.
//! - Whatever body a handler leaves unread is drained by tiny_http's
//!   connection thread after the answer (bounded by the same cap and
//!   deadline), or the connection is closed. An answer that leaves a body
//!   unread therefore says `Connection: close`.

use crate::contract::header;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};

pub use tiny_http::PeerWatch;

/// Longest request target accepted (path + query).
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// Most bytes of a request line and headers together (tiny_http answers 431
/// beyond).
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// Binds `addr` with `TCP_NODELAY` set on the listening socket, which Linux
/// copies to every accepted socket.
pub fn nodelay_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    crate::net::nodelay_listener(TcpListener::bind(addr)?)
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Longer than the cap (declared or actual).
    TooLarge,
    /// The peer stopped or broke the connection.
    Io,
}

/// One request as the handlers see it: bounded accessors over tiny_http's.
pub struct Incoming {
    request: tiny_http::Request,
    declared_len: Option<u64>,
    body_read_to_end: bool,
}

impl Incoming {
    pub fn new(request: tiny_http::Request) -> Self {
        let chunked = request
            .headers()
            .iter()
            .any(|h| h.field.equiv(header::TRANSFER_ENCODING));
        let declared_len = if chunked {
            None
        } else {
            request
                .headers()
                .iter()
                .find(|h| h.field.equiv(header::CONTENT_LENGTH))
                .and_then(|h| h.value.as_str().trim().parse::<u64>().ok())
        };
        let body_read_to_end = !chunked && declared_len.unwrap_or(0) == 0;
        Incoming {
            request,
            declared_len,
            body_read_to_end,
        }
    }

    pub fn method(&self) -> &tiny_http::Method {
        self.request.method()
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        let url = self.request.url();
        url.split_once('?').map_or(url, |(path, _)| path)
    }

    /// The value of query parameter `name` (no percent-decoding: the relay's
    /// parameters are plain integers).
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.request.url().split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// Every value of query parameter `name`, in order.
    pub fn query_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let query = self
            .request
            .url()
            .split_once('?')
            .map_or("", |(_, query)| query);
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .filter(move |(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// Every request header as a name/value pair, in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.request
            .headers()
            .iter()
            .map(|h| (h.field.as_str().as_str(), h.value.as_str()))
    }

    /// Whether the client has closed its connection while this request
    /// waits for an answer (`None`: cannot be told).
    pub fn peer_closed(&self) -> Option<bool> {
        self.request.peer_closed()
    }

    /// Tells, after the answer, whether the client closed the connection
    /// instead of sending another request.
    pub fn peer_watch(&self) -> Option<PeerWatch> {
        self.request.peer_watch()
    }

    /// The first value of header `name`, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// True when the request target is longer than the relay accepts.
    pub fn target_too_long(&self) -> bool {
        self.request.url().len() > MAX_URL_BYTES
    }

    /// The bearer token of `Authorization`, if that is its scheme.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header(header::AUTHORIZATION)?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }

    /// True when `Accept` lists `text/event-stream` (or any type).
    pub fn accepts_event_stream(&self) -> bool {
        self.request
            .headers()
            .iter()
            .filter(|h| h.field.equiv(header::ACCEPT))
            .flat_map(|h| h.value.as_str().split(','))
            .map(|part| part.split(';').next().unwrap_or("").trim())
            .any(|t| t.eq_ignore_ascii_case("text/event-stream"))
    }

    /// True when this answer ends the connection: the client asked, or the
    /// body is not read, so tiny_http may have to close it.
    fn closes(&self) -> bool {
        let version = self.request.http_version();
        let connection = self.header(header::CONNECTION).map(str::to_ascii_lowercase);
        let asked = match connection {
            Some(value) if value.contains("close") => true,
            Some(value) if value.contains("keep-alive") => false,
            _ => *version == tiny_http::HTTPVersion(1, 0),
        };
        asked || !self.body_read_to_end
    }

    /// Reads the whole body, refusing anything longer than `cap` bytes
    /// (a declared length is refused before a single byte is read).
    pub fn read_body(&mut self, cap: usize) -> Result<Vec<u8>, BodyError> {
        let cap = u64::try_from(cap).unwrap_or(u64::MAX);
        if self.declared_len.is_some_and(|n| n > cap) {
            return Err(BodyError::TooLarge);
        }
        let mut body = Vec::new();
        self.request
            .as_reader()
            .take(cap.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|_| BodyError::Io)?;
        if body.len() as u64 > cap {
            return Err(BodyError::TooLarge);
        }
        self.body_read_to_end = true;
        Ok(body)
    }

    /// Sends a complete response in one write.
    pub fn respond(self, reply: Reply) -> io::Result<()> {
        let head_only = *self.request.method() == tiny_http::Method::Head;
        let bytes = reply.render(self.closes(), head_only);
        let mut writer = self.request.into_writer();
        writer.write_all(&bytes)?;
        writer.flush()
    }

    /// Starts an SSE answer: status 200, `text/event-stream`, chunked
    /// (HTTP/1.1) or delimited by closing the connection (HTTP/1.0).
    pub fn start_event_stream(self, headers: &[(String, String)]) -> io::Result<EventStream> {
        let chunked = *self.request.http_version() != tiny_http::HTTPVersion(1, 0);
        let close = !chunked || self.closes();
        let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n");
        head.push_str("Cache-Control: no-cache\r\n");
        if chunked {
            head.push_str("Transfer-Encoding: chunked\r\n");
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        for (name, value) in headers {
            push_header(&mut head, name, value);
        }
        head.push_str("\r\n");
        let mut writer = self.request.into_writer();
        writer.write_all(head.as_bytes())?;
        writer.flush()?;
        Ok(EventStream { writer, chunked })
    }
}

/// A complete non-streaming response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![(header::CONTENT_TYPE.into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// A JSON body serialized straight from `body` (no `Value` tree in between).
    pub fn json_of<T: serde::Serialize + ?Sized>(status: u16, body: &T) -> Reply {
        match serde_json::to_vec(body) {
            Ok(bytes) => Reply {
                status,
                headers: vec![(header::CONTENT_TYPE.into(), "application/json".into())],
                body: bytes,
            },
            Err(_) => Reply::empty(500),
        }
    }

    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![(header::CONTENT_TYPE.into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn render(&self, close: bool, head_only: bool) -> Vec<u8> {
        let reason = tiny_http::StatusCode(self.status).default_reason_phrase();
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        let no_body = matches!(self.status, 100..=199 | 204 | 304);
        if !no_body {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        for (name, value) in &self.headers {
            push_header(&mut head, name, value);
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if !no_body && !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// Appends `name: value` unless either could break the message framing (a
/// header value relayed from an agent must not inject lines).
fn push_header(head: &mut String, name: &str, value: &str) {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let value_ok = value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
    let framing = ["content-length", "transfer-encoding", "connection"];
    if name_ok && value_ok && !framing.contains(&name.to_ascii_lowercase().as_str()) {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value.trim());
        head.push_str("\r\n");
    }
}

/// An open SSE answer. Each `send` is one socket write.
pub struct EventStream {
    writer: Box<dyn Write + Send>,
    chunked: bool,
}

impl EventStream {
    /// Writes SSE `message` events carrying the given JSON texts.
    pub fn send(&mut self, messages: &[String]) -> io::Result<()> {
        let bytes = self.frame(messages, false);
        self.writer.write_all(&bytes)?;
        self.writer.flush()
    }

    /// Writes the last events and ends the stream in the same write.
    pub fn finish(mut self, messages: &[String]) -> io::Result<()> {
        let bytes = self.frame(messages, true);
        self.writer.write_all(&bytes)?;
        self.writer.flush()
    }

    fn frame(&self, messages: &[String], last: bool) -> Vec<u8> {
        let mut events = String::new();
        for message in messages {
            events.push_str("event: message\ndata: ");
            events.push_str(message);
            events.push_str("\n\n");
        }
        if !self.chunked {
            return events.into_bytes();
        }
        let mut bytes = Vec::with_capacity(events.len() + 16);
        if !events.is_empty() {
            bytes.extend_from_slice(format!("{:x}\r\n", events.len()).as_bytes());
            bytes.extend_from_slice(events.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        if last {
            bytes.extend_from_slice(b"0\r\n\r\n");
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_nodelay() {
        let listener = nodelay_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }

    /// Our tiny_http patch 8: a held request sees its client go away, and
    /// after the answer the watch sees the client close instead of asking again.
    #[test]
    fn a_held_request_sees_its_client_close_the_connection() {
        let listener = nodelay_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = crate::httpd::Limits {
            pipelining: false,
            ..crate::httpd::Limits::default()
        };
        let server = crate::httpd::serve(listener, limits).unwrap();
        let ask = || {
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            client
                .write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let request = Incoming::new(server.recv().unwrap());
            (client, request)
        };

        let (client, request) = ask();
        assert_eq!(request.peer_closed(), Some(false));
        drop(client);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while request.peer_closed() != Some(true) {
            assert!(std::time::Instant::now() < deadline, "close not seen");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }

        // Read, then closed: a plain close.
        let (mut client, request) = ask();
        let watch = request.peer_watch().unwrap();
        request.respond(Reply::empty(204)).unwrap();
        assert!(!watch.closed());
        let mut answer = [0u8; 64];
        let read = client.read(&mut answer).unwrap();
        assert!(answer[..read].starts_with(b"HTTP/1.1 204"));
        drop(client);
        while !watch.closed() {
            assert!(std::time::Instant::now() < deadline, "close not seen");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!watch.reset());

        // Closed with the answer unread: the client's kernel resets.
        let (client, request) = ask();
        let watch = request.peer_watch().unwrap();
        request.respond(Reply::empty(204)).unwrap();
        // The answer is in the client's buffer (peek waits for it), unread.
        assert!(client.peek(&mut answer).unwrap() > 0);
        drop(client);
        while !watch.reset() {
            assert!(std::time::Instant::now() < deadline, "reset not seen");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn constant_time_eq_compares_fully() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn reply_renders_one_message() {
        let reply = Reply::json(200, &serde_json::json!({"a": 1}))
            .with_header(header::MCP_SESSION_ID, "s1")
            .with_header("X-Evil", "a\r\nSet-Cookie: x")
            .with_header("Content-Length", "999");
        let text = String::from_utf8(reply.render(false, false)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Type: application/json\r\n\
             Mcp-Session-Id: s1\r\n\r\n{\"a\":1}"
        );
        let text = String::from_utf8(Reply::empty(204).render(true, false)).unwrap();
        assert_eq!(text, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    }

    #[test]
    fn sse_frames_are_chunked() {
        let stream = EventStream {
            writer: Box::new(io::sink()),
            chunked: true,
        };
        let bytes = stream.frame(&["{}".to_string()], true);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "19\r\nevent: message\ndata: {}\n\n\r\n0\r\n\r\n"
        );
    }
}
