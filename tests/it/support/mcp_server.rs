//! A scripted mock MCP HTTP server on 127.0.0.1 (port 0) for fault injection:
//! records every request and lets each test write raw bytes back. Test-only; never used by the product.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest request head the mock accepts.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest request body the mock accepts.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a handler waits for the client before giving up (keeps a broken
/// test from hanging forever; never reached by a passing test).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// In wire order, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When its head had been read.
    pub at: Instant,
}

impl Recorded {
    /// A request of the agent's OAuth discovery rather than an MCP message:
    /// a well-known document, or the bodiless POST/GET probe of the MCP URL.
    pub fn is_oauth_discovery(&self) -> bool {
        self.path.starts_with("/.well-known/")
            || (matches!(self.method.as_str(), "GET" | "POST") && self.body.is_empty())
    }

    /// The body as JSON (`null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Every value of `name`, in wire order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What the connection does after the handler returns.
pub enum Next {
    /// Read the next request on the same connection.
    KeepAlive,
    /// Close the connection.
    Close,
}

type Handler = dyn Fn(&Recorded, &mut TcpStream) -> Next + Send + Sync;

pub struct MockServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl MockServer {
    /// Starts a server whose every request goes to `handler`.
    pub fn start(
        handler: impl Fn(&Recorded, &mut TcpStream) -> Next + Send + Sync + 'static,
    ) -> Self {
        Self::start_on("127.0.0.1:0", handler)
    }

    /// [`MockServer::start`] on a given address (a port reserved earlier).
    pub fn start_on(
        address: &str,
        handler: impl Fn(&Recorded, &mut TcpStream) -> Next + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind(address).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (requests, connections, stop) =
                (requests.clone(), connections.clone(), stop.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let (requests, handler) = (requests.clone(), handler.clone());
                    thread::spawn(move || serve(stream, &requests, &*handler));
                }
            });
        }
        MockServer {
            addr,
            requests,
            connections,
            stop,
        }
    }

    /// The MCP endpoint URL (`/mcp`).
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// What it received, without the agent's OAuth discovery requests.
    pub fn mcp_requests(&self) -> Vec<Recorded> {
        let mut requests = self.requests();
        requests.retain(|r| !r.is_oauth_discovery());
        requests
    }

    /// The only request received so far.
    pub fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        requests.into_iter().next().unwrap()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn assert_no_delete(&self) {
        let deletes = self
            .requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .count();
        assert_eq!(deletes, 0, "a DELETE was sent outside session termination");
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Recorded>>, handler: &Handler) {
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        requests.lock().unwrap().push(request.clone());
        match handler(&request, &mut writer) {
            Next::KeepAlive => continue,
            Next::Close => break,
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader
            .by_ref()
            .take(MAX_HEAD_BYTES as u64)
            .read_until(b'\n', &mut head)
            .ok()?;
        if n == 0 {
            return None;
        }
        assert!(head.len() < MAX_HEAD_BYTES, "request head too large");
        if &head[before..] == b"\r\n" {
            break;
        }
    }
    let head = String::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse::<usize>().unwrap())
        .unwrap_or(0);
    assert!(length <= MAX_BODY_BYTES, "request body too large");
    let at = Instant::now();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        path,
        headers,
        body,
        at,
    })
}

/// Writes a complete response with a `Content-Length`. Write errors are
/// ignored: some tests hang up on purpose.
pub fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    let _ = stream.write_all(&bytes);
}

/// A 200 JSON answer.
pub fn respond_json(stream: &mut TcpStream, body: &serde_json::Value) {
    let body = serde_json::to_vec(body).unwrap();
    respond(stream, 200, &[("Content-Type", "application/json")], &body);
}

/// Starts a chunked response; send the body with [`chunk`] and end it with [`end_chunks`].
pub fn start_chunked(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)]) {
    let mut out = format!("HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes());
}

pub fn start_sse(stream: &mut TcpStream) {
    start_chunked(stream, 200, &[("Content-Type", "text/event-stream")]);
}

pub fn chunk(stream: &mut TcpStream, bytes: &[u8]) {
    let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    let _ = stream.write_all(&out);
    let _ = stream.flush();
}

/// One SSE `message` event carrying `json`, as its own chunk.
pub fn sse_event(stream: &mut TcpStream, json: &serde_json::Value) {
    chunk(
        stream,
        format!("event: message\ndata: {json}\n\n").as_bytes(),
    );
}

pub fn end_chunks(stream: &mut TcpStream) {
    let _ = stream.write_all(b"0\r\n\r\n");
}

/// Blocks until the client closes the connection (or [`PATIENCE`] runs out):
/// how a handler proves the client stopped reading without sleeping.
pub fn wait_for_client_close(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// The answers of [`answering`]: a small, well-behaved MCP server.
/// `initialize` gets a session id (unless `sessions` is off), a notification
/// 202, any other request a result naming `label` and the method, DELETE 204.
pub fn mcp_answer(label: &str, sessions: bool, request: &Recorded, stream: &mut TcpStream) {
    if request.is_oauth_discovery() {
        // Like most MCP servers: no OAuth metadata, so discovery settles as
        // "not advertised" and the agent is ready.
        return respond(stream, 404, &[], b"");
    }
    match request.method.as_str() {
        "DELETE" => respond(stream, 204, &[], b""),
        "POST" => {
            let message = request.json();
            let Some(id) = message.get("id") else {
                respond(stream, 202, &[], b"");
                return;
            };
            let method = message["method"].as_str().unwrap_or("");
            let body = serde_json::json!({"jsonrpc": "2.0", "id": id,
                "result": {"server": label, "method": method}});
            let body = serde_json::to_vec(&body).unwrap();
            let session = format!("session-{label}");
            let mut headers = vec![("Content-Type", "application/json")];
            if sessions && method == "initialize" {
                headers.push(("Mcp-Session-Id", session.as_str()));
            }
            respond(stream, 200, &headers, &body);
        }
        _ => respond(stream, 405, &[], b""),
    }
}

/// A mock MCP server answering as [`mcp_answer`] says, recording everything.
pub fn answering(label: &'static str) -> MockServer {
    MockServer::start(move |request, stream| {
        mcp_answer(label, true, request, stream);
        Next::KeepAlive
    })
}
