//! The built-in MCP server `tunnel-client dev mcp-stub`: tool logic in [`handle`],
//! served over stdio ([`run`]) or Streamable HTTP ([`run_http`]). It must never touch the network beyond its listener.

use crate::mcp::stdio::lines::{read_line_bounded, Line, MAX_LINE_BYTES};
use serde_json::{json, Map, Value};
use std::io::{self, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// `serverInfo.name` of the stub.
pub const SERVER_NAME: &str = "tunnel-client-stub";
/// Protocol version answered when the client asks for one the stub does not know.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";
/// Protocol versions the stub echoes back when a client asks for them.
const KNOWN_PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// Longest `sleep` the stub performs, whatever the caller asks.
pub const MAX_SLEEP_MS: u64 = 60_000;
/// Most progress notifications one `progress` call emits.
pub const MAX_PROGRESS_STEPS: u64 = 1_000;
/// Longest pause between two progress notifications.
pub const MAX_PROGRESS_INTERVAL_MS: u64 = 10_000;
/// Cancelled request ids remembered for the `stats` tool.
const MAX_REMEMBERED_CANCELLED: usize = 64;
/// Requests handled at once over stdio; beyond it the reader handles inline,
/// which pushes back on the client through the pipe.
const MAX_CONCURRENT_REQUESTS: usize = 64;
/// How long stdio mode lets in-flight requests finish after stdin closes.
const EOF_DRAIN: Duration = Duration::from_secs(65);
/// How long an idle request thread of the stdio stub waits for more work.
const IDLE_REQUEST_THREAD_EXIT: Duration = Duration::from_secs(5);
/// Largest HTTP request body read.
const MAX_HTTP_BODY: u64 = MAX_LINE_BYTES as u64;
/// Most HTTP connections open at once (lowered to what the open-files limit
/// holds, keeping [`HTTP_RESERVED_FDS`] for the rest).
const HTTP_MAX_CONNECTIONS: usize = 512;
const HTTP_RESERVED_FDS: u64 = 64;
/// Most bytes of a request line and headers (431 beyond).
const HTTP_MAX_HEAD_BYTES: usize = 32 * 1024;
/// Time for a request head (from accept, or from its first byte on a kept-alive
/// connection), idle time between requests, time for a body after its head,
/// and the longest one write may block.
const HTTP_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const HTTP_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(30);
const HTTP_BODY_TIMEOUT: Duration = Duration::from_secs(60);
const HTTP_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Exit status of the `crash` tool.
const CRASH_STATUS: i32 = 3;

/// JSON-RPC error codes the stub uses.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// Process-wide state of one stub server, visible through the `stats` tool so
/// tests can tell what a given server process has seen.
#[derive(Default)]
pub struct StubState {
    initialize_count: AtomicU64,
    initialized_notified: AtomicBool,
    counter: AtomicU64,
    client_name: Mutex<Option<String>>,
    cancelled: Mutex<Vec<Value>>,
}

impl StubState {
    pub fn new() -> Self {
        Self::default()
    }
}

/// What the server does after handling one message.
#[derive(Debug, PartialEq)]
pub enum Handled {
    /// Send this JSON-RPC answer.
    Reply(Value),
    /// A notification or a stray response: nothing to send.
    Silent,
    /// The `crash` tool: exit the process with a failure status.
    Crash,
}

/// Handles one parsed JSON-RPC message. Notifications belonging to the request
/// (progress) are handed to `notify` before the reply is returned.
pub fn handle(state: &StubState, message: &Value, notify: &mut dyn FnMut(Value)) -> Handled {
    let Some(object) = message.as_object() else {
        return Handled::Reply(error(&Value::Null, INVALID_REQUEST, "Invalid Request"));
    };
    let Some(method) = object.get("method").and_then(Value::as_str) else {
        // A response to a server request (the stub sends none) or junk.
        return if object.contains_key("id")
            && !object.contains_key("result")
            && !object.contains_key("error")
        {
            Handled::Reply(error(&Value::Null, INVALID_REQUEST, "Invalid Request"))
        } else {
            Handled::Silent
        };
    };
    let empty = Map::new();
    let params = object
        .get("params")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let Some(id) = object.get("id") else {
        notification(state, method, params);
        return Handled::Silent;
    };
    match method {
        "initialize" => Handled::Reply(initialize(state, id, params)),
        "ping" => Handled::Reply(result(id, json!({}))),
        "tools/list" => Handled::Reply(result(id, json!({"tools": tool_list()}))),
        "tools/call" => call_tool(state, id, params, notify),
        _ => Handled::Reply(error(
            id,
            METHOD_NOT_FOUND,
            &format!("Method not found: {method}"),
        )),
    }
}

fn notification(state: &StubState, method: &str, params: &Map<String, Value>) {
    match method {
        "notifications/initialized" => state.initialized_notified.store(true, Relaxed),
        "notifications/cancelled" => {
            if let (Some(request_id), Ok(mut cancelled)) =
                (params.get("requestId"), state.cancelled.lock())
            {
                if cancelled.len() < MAX_REMEMBERED_CANCELLED {
                    cancelled.push(request_id.clone());
                }
            }
        }
        _ => {}
    }
}

fn initialize(state: &StubState, id: &Value, params: &Map<String, Value>) -> Value {
    state.initialize_count.fetch_add(1, Relaxed);
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = match asked {
        Some(v) if KNOWN_PROTOCOL_VERSIONS.contains(&v) => v,
        _ => DEFAULT_PROTOCOL_VERSION,
    };
    let client = params
        .get("clientInfo")
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Ok(mut slot) = state.client_name.lock() {
        *slot = client;
    }
    result(
        id,
        json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": SERVER_NAME, "version": crate::contract::CLIENT_VERSION},
            "instructions": "Test server built into tunnel-client: echo, add, sleep, fail, progress, crash, counter, stats.",
        }),
    )
}

fn tool_list() -> Value {
    let tool = |name: &str, description: &str, properties: Value, required: &[&str]| {
        json!({
            "name": name,
            "description": description,
            "inputSchema": {"type": "object", "properties": properties, "required": required},
        })
    };
    json!([
        tool("echo", "Returns its text argument.", json!({"text": {"type": "string"}}), &["text"]),
        tool("add", "Adds two numbers.", json!({"a": {"type": "number"}, "b": {"type": "number"}}), &["a", "b"]),
        tool(
            "sleep",
            "Waits `ms` milliseconds (at most 60000), then answers.",
            json!({"ms": {"type": "integer", "minimum": 0}}),
            &["ms"],
        ),
        tool(
            "fail",
            "Answers with a JSON-RPC error (`code`, `message`).",
            json!({"code": {"type": "integer"}, "message": {"type": "string"}}),
            &[],
        ),
        tool(
            "progress",
            "Sends `steps` progress notifications (at most 1000), `interval_ms` apart, then a result.",
            json!({"steps": {"type": "integer", "minimum": 0}, "interval_ms": {"type": "integer", "minimum": 0}}),
            &[],
        ),
        tool("crash", "Exits the server process with a failure status.", json!({}), &[]),
        tool("counter", "Counts its own calls in this server process.", json!({}), &[]),
        tool(
            "stats",
            "What this server process has seen: pid, initialize count, initialized notification, cancellations.",
            json!({}),
            &[],
        ),
    ])
}

fn call_tool(
    state: &StubState,
    id: &Value,
    params: &Map<String, Value>,
    notify: &mut dyn FnMut(Value),
) -> Handled {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    let empty = Map::new();
    let args = params
        .get("arguments")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let reply = match name {
        "echo" => match args.get("text").and_then(Value::as_str) {
            Some(text) => text_result(id, text),
            None => error(id, INVALID_PARAMS, "echo needs a string argument `text`"),
        },
        "add" => match (args.get("a"), args.get("b")) {
            (Some(a), Some(b)) => match add(a, b) {
                Some(sum) => text_result(id, &sum.to_string()),
                None => error(id, INVALID_PARAMS, "add needs two numbers `a` and `b`"),
            },
            _ => error(id, INVALID_PARAMS, "add needs two numbers `a` and `b`"),
        },
        "sleep" => match args.get("ms").and_then(Value::as_u64) {
            Some(ms) => {
                let ms = ms.min(MAX_SLEEP_MS);
                std::thread::sleep(Duration::from_millis(ms));
                text_result(id, &format!("slept {ms} ms"))
            }
            None => error(
                id,
                INVALID_PARAMS,
                "sleep needs a non-negative integer `ms`",
            ),
        },
        "fail" => {
            let code = args.get("code").and_then(Value::as_i64).unwrap_or(-32000);
            let message = args
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the fail tool failed on purpose");
            error(id, code, message)
        }
        "progress" => progress(id, params, args, notify),
        "crash" => return Handled::Crash,
        "counter" => {
            let n = state.counter.fetch_add(1, Relaxed) + 1;
            text_result(id, &n.to_string())
        }
        "stats" => text_result(id, &stats(state).to_string()),
        _ => error(id, INVALID_PARAMS, &format!("Unknown tool: {name}")),
    };
    Handled::Reply(reply)
}

fn add(a: &Value, b: &Value) -> Option<Value> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        if let Some(sum) = a.checked_add(b) {
            return Some(Value::from(sum));
        }
    }
    let sum = a.as_f64()? + b.as_f64()?;
    serde_json::Number::from_f64(sum).map(Value::Number)
}

fn progress(
    id: &Value,
    params: &Map<String, Value>,
    args: &Map<String, Value>,
    notify: &mut dyn FnMut(Value),
) -> Value {
    let steps = args
        .get("steps")
        .and_then(Value::as_u64)
        .unwrap_or(3)
        .min(MAX_PROGRESS_STEPS);
    let interval = args
        .get("interval_ms")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(MAX_PROGRESS_INTERVAL_MS);
    let token = params.get("_meta").and_then(|m| m.get("progressToken"));
    for step in 1..=steps {
        if step > 1 && interval > 0 {
            std::thread::sleep(Duration::from_millis(interval));
        }
        if let Some(token) = token {
            notify(json!({
                "jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": {
                    "progressToken": token,
                    "progress": step,
                    "total": steps,
                    "message": format!("step {step} of {steps}"),
                },
            }));
        }
    }
    text_result(id, &format!("completed {steps} steps"))
}

fn stats(state: &StubState) -> Value {
    let client = state.client_name.lock().map(|c| c.clone()).unwrap_or(None);
    let cancelled = state
        .cancelled
        .lock()
        .map(|c| c.clone())
        .unwrap_or_default();
    json!({
        "pid": std::process::id(),
        "initialize_count": state.initialize_count.load(Relaxed),
        "initialized_notified": state.initialized_notified.load(Relaxed),
        "client_name": client,
        "counter": state.counter.load(Relaxed),
        "cancelled": cancelled,
    })
}

fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn text_result(id: &Value, text: &str) -> Value {
    result(
        id,
        json!({"content": [{"type": "text", "text": text}], "isError": false}),
    )
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Parses one line (or HTTP body) into a message, or the `-32700` answer.
fn parse(bytes: &[u8]) -> Result<Value, Value> {
    serde_json::from_slice(bytes).map_err(|_| error(&Value::Null, PARSE_ERROR, "Parse error"))
}

// ---------------------------------------------------------------- stdio

/// Serialised writes of whole lines to stdout, shared by request threads.
struct LineWriter(Mutex<io::Stdout>);

impl LineWriter {
    fn send(&self, message: &Value) {
        let Ok(mut line) = serde_json::to_vec(message) else {
            return;
        };
        line.push(b'\n');
        if let Ok(mut out) = self.0.lock() {
            // A closed stdout means the client left; reading stdin notices too.
            let _ = out.write_all(&line).and_then(|_| out.flush());
        }
    }
}

/// Requests being handled in their own thread, so EOF can wait for them.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

impl InFlight {
    fn try_enter(&self) -> bool {
        match self.count.lock() {
            Ok(mut n) if *n < MAX_CONCURRENT_REQUESTS => {
                *n += 1;
                true
            }
            _ => false,
        }
    }

    fn leave(&self) {
        if let Ok(mut n) = self.count.lock() {
            *n = n.saturating_sub(1);
            self.idle.notify_all();
        }
    }

    fn wait_idle(&self, limit: Duration) {
        let until = Instant::now() + limit;
        let Ok(mut n) = self.count.lock() else { return };
        while *n > 0 {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return;
            };
            match self.idle.wait_timeout(n, left) {
                Ok((guard, _)) => n = guard,
                Err(_) => return,
            }
        }
    }
}

/// Serves MCP over this process's stdin/stdout (newline-delimited JSON) until
/// stdin closes, then lets in-flight requests finish. Each request runs in its
/// own thread, so a `sleep` never holds up other calls; threads are reused
/// (starting one per request cost more than answering it).
pub fn run() -> io::Result<()> {
    let state = Arc::new(StubState::new());
    let out = Arc::new(LineWriter(Mutex::new(io::stdout())));
    let inflight = Arc::new(InFlight::default());
    let mut input = BufReader::new(io::stdin().lock());
    let mut buf = Vec::new();
    // Zero capacity: a send succeeds only while a request thread waits for work.
    let (handoff_tx, handoff_rx) = crossbeam_channel::bounded::<Value>(0);
    loop {
        match read_line_bounded(&mut input, &mut buf, MAX_LINE_BYTES)? {
            Line::Eof => break,
            Line::TooLong => {
                out.send(&error(&Value::Null, INVALID_REQUEST, "message too large"));
                continue;
            }
            Line::Complete => {}
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let message = match parse(&buf) {
            Ok(m) => m,
            Err(answer) => {
                out.send(&answer);
                continue;
            }
        };
        if inflight.try_enter() {
            // An idle request thread takes it if one is waiting; else a new one.
            let message = match handoff_tx.try_send(message) {
                Ok(()) => continue,
                Err(refused) => refused.into_inner(),
            };
            let (state, out, done) = (state.clone(), out.clone(), inflight.clone());
            let more = handoff_rx.clone();
            let spawned = std::thread::Builder::new()
                .name("stub-request".into())
                .spawn(move || {
                    let mut next = Some(message);
                    while let Some(message) = next.take() {
                        serve_one(&state, &out, &message);
                        done.leave();
                        next = more.recv_timeout(IDLE_REQUEST_THREAD_EXIT).ok();
                    }
                });
            if let Err(e) = spawned {
                eprintln!("mcp-stub: no thread for a request ({e}); it was dropped");
                inflight.leave();
            }
        } else {
            serve_one(&state, &out, &message);
        }
    }
    // Waiting request threads see the hand-off close and exit.
    drop(handoff_tx);
    inflight.wait_idle(EOF_DRAIN);
    Ok(())
}

fn serve_one(state: &StubState, out: &LineWriter, message: &Value) {
    match handle(state, message, &mut |n| out.send(&n)) {
        Handled::Reply(answer) => out.send(&answer),
        Handled::Silent => {}
        Handled::Crash => {
            if let Ok(mut o) = out.0.lock() {
                let _ = o.flush();
            }
            std::process::exit(CRASH_STATUS);
        }
    }
}

// ---------------------------------------------------------------- HTTP

/// Serves the same tools over Streamable HTTP on `addr` (e.g. `127.0.0.1:0`),
/// every path (a GET under `/.well-known/` answers 404: no OAuth metadata).
/// Prints `listening on http://IP:PORT` as the first stdout line, then
/// serves until the process is stopped.
pub fn run_http(addr: &str) -> io::Result<()> {
    let stub = bind_http(addr)?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on http://{}", stub.local_addr())?;
        out.flush()?;
    }
    stub.serve()
}

/// The bounds the HTTP stub puts on its clients (see `crate::httpd`).
fn http_limits() -> crate::httpd::Limits {
    crate::httpd::Limits {
        max_connections: crate::httpd::connection_cap(HTTP_MAX_CONNECTIONS, HTTP_RESERVED_FDS),
        max_head_bytes: HTTP_MAX_HEAD_BYTES,
        head_timeout: Some(HTTP_HEAD_TIMEOUT),
        keep_alive_timeout: Some(HTTP_KEEP_ALIVE_TIMEOUT),
        // Room for chunk framing and for draining a body refused as too long.
        max_body_bytes: MAX_HTTP_BODY.saturating_mul(2),
        body_timeout: Some(HTTP_BODY_TIMEOUT),
        write_timeout: Some(HTTP_WRITE_TIMEOUT),
        pipelining: false,
    }
}

/// A bound, not yet serving, HTTP stub (lets tests learn the port first).
pub struct HttpStub {
    listener: std::net::TcpListener,
    addr: std::net::SocketAddr,
}

/// Binds the HTTP stub to `addr` (port 0 picks a free port).
pub fn bind_http(addr: &str) -> io::Result<HttpStub> {
    let listener = crate::net::nodelay_listener(std::net::TcpListener::bind(addr)?)?;
    let bound = listener.local_addr()?;
    Ok(HttpStub {
        listener,
        addr: bound,
    })
}

impl HttpStub {
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Serves until the process ends. Each request is handled on its
    /// connection's own thread (no hand-off to a worker and back; a `sleep`
    /// holds only its own connection), so the connection cap bounds threads.
    pub fn serve(self) -> io::Result<()> {
        let state = Arc::new(StubState::new());
        let handler = Arc::new(move |request: tiny_http::Request| serve_http(&state, request));
        let _server = crate::httpd::serve_with(self.listener, http_limits(), handler)?;
        loop {
            std::thread::park();
        }
    }
}

fn header_value<'a>(request: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn serve_http(state: &StubState, mut request: tiny_http::Request) {
    match request.method() {
        // It has no OAuth metadata: say so where discovery looks.
        tiny_http::Method::Get if request.url().starts_with("/.well-known/") => {
            let _ = request.respond(tiny_http::Response::empty(404));
            return;
        }
        tiny_http::Method::Post => {}
        tiny_http::Method::Delete => {
            let _ = request.respond(tiny_http::Response::empty(204));
            return;
        }
        _ => {
            let _ = request.respond(with_header(
                tiny_http::Response::empty(405),
                "Allow",
                "POST, DELETE",
            ));
            return;
        }
    }
    let mut body = Vec::new();
    if request
        .as_reader()
        .take(MAX_HTTP_BODY + 1)
        .read_to_end(&mut body)
        .is_err()
    {
        let _ = request.respond(tiny_http::Response::empty(400));
        return;
    }
    if body.len() as u64 > MAX_HTTP_BODY {
        let answer = error(&Value::Null, INVALID_REQUEST, "message too large");
        let _ = request.respond(json_response(413, &answer, None));
        return;
    }
    let message = match parse(&body) {
        Ok(m) => m,
        Err(answer) => {
            let _ = request.respond(json_response(400, &answer, None));
            return;
        }
    };
    let method = message.get("method").and_then(Value::as_str).unwrap_or("");
    let is_request = message.get("id").is_some() && !method.is_empty();
    let session = (method == "initialize").then(new_session_id);
    let wants_stream =
        header_value(&request, "Accept").is_some_and(|a| a.contains("text/event-stream"));
    let is_progress = method == "tools/call" && message["params"]["name"] == "progress";
    if is_request && is_progress && wants_stream {
        stream_progress(state, request, &message);
        return;
    }
    match handle(state, &message, &mut |_| {}) {
        Handled::Reply(answer) => {
            let status = if is_request || answer.get("error").is_none() {
                200
            } else {
                400
            };
            let _ = request.respond(json_response(status, &answer, session.as_deref()));
        }
        Handled::Silent => {
            let _ = request.respond(tiny_http::Response::empty(202));
        }
        Handled::Crash => std::process::exit(CRASH_STATUS),
    }
}

/// Writes a chunked `text/event-stream` answer by hand, flushing each event,
/// because tiny_http's own chunked encoder buffers 8 KiB before sending.
fn stream_progress(state: &StubState, request: tiny_http::Request, message: &Value) {
    let mut writer = request.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut ok = writer
        .write_all(head.as_bytes())
        .and_then(|_| writer.flush())
        .is_ok();
    let send = |event: &Value, writer: &mut Box<dyn Write + Send>| -> bool {
        let data = format!("event: message\ndata: {event}\n\n");
        let chunk = format!("{:x}\r\n{data}\r\n", data.len());
        writer
            .write_all(chunk.as_bytes())
            .and_then(|_| writer.flush())
            .is_ok()
    };
    let outcome = handle(state, message, &mut |n| {
        if ok {
            ok = send(&n, &mut writer);
        }
    });
    match outcome {
        Handled::Reply(answer) => {
            if ok && send(&answer, &mut writer) {
                let _ = writer.write_all(b"0\r\n\r\n").and_then(|_| writer.flush());
            }
        }
        Handled::Silent => {
            let _ = writer.write_all(b"0\r\n\r\n").and_then(|_| writer.flush());
        }
        Handled::Crash => std::process::exit(CRASH_STATUS),
    }
}

/// Adds a header whose name and value are ASCII constants or generated hex.
fn with_header<R: Read>(
    response: tiny_http::Response<R>,
    name: &str,
    value: &str,
) -> tiny_http::Response<R> {
    match tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(h) => response.with_header(h),
        Err(()) => response,
    }
}

fn json_response(
    status: u16,
    answer: &Value,
    session: Option<&str>,
) -> tiny_http::Response<io::Cursor<Vec<u8>>> {
    let body = serde_json::to_vec(answer).unwrap_or_default();
    let response = tiny_http::Response::from_data(body).with_status_code(status);
    let response = with_header(response, "Content-Type", "application/json");
    match session {
        Some(session) => with_header(response, "Mcp-Session-Id", session),
        None => response,
    }
}

/// A fresh session id for the HTTP stub: 128 bits from the OS, as hex.
fn new_session_id() -> String {
    crate::random::hex(16)
}

/// Lets tests feed `run`'s parser without a process.
#[cfg(test)]
fn parse_lines(input: &[u8]) -> Vec<Result<Value, Value>> {
    let mut reader = io::BufReader::new(input);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Ok(Line::Complete) = read_line_bounded(&mut reader, &mut buf, MAX_LINE_BYTES) {
        out.push(parse(&buf));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(state: &StubState, message: Value) -> (Handled, Vec<Value>) {
        let mut notes = Vec::new();
        let handled = handle(state, &message, &mut |n| notes.push(n));
        (handled, notes)
    }

    fn reply(state: &StubState, message: Value) -> Value {
        match call(state, message).0 {
            Handled::Reply(v) => v,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn tool(name: &str, args: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": name, "arguments": args}})
    }

    #[test]
    fn initialize_echoes_known_version_only() {
        let s = StubState::new();
        let known = reply(
            &s,
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}),
        );
        assert_eq!(known["result"]["protocolVersion"], "2025-03-26");
        assert_eq!(known["result"]["serverInfo"]["name"], SERVER_NAME);
        assert!(known["result"]["capabilities"]["tools"].is_object());
        let unknown = reply(
            &s,
            json!({"jsonrpc":"2.0","id":"x","method":"initialize","params":{"protocolVersion":"1999-01-01"}}),
        );
        assert_eq!(
            unknown["result"]["protocolVersion"],
            DEFAULT_PROTOCOL_VERSION
        );
        assert_eq!(unknown["id"], "x");
    }

    #[test]
    fn tools_answer() {
        let s = StubState::new();
        assert_eq!(
            reply(&s, tool("echo", json!({"text": "hi"})))["result"]["content"][0]["text"],
            "hi"
        );
        assert_eq!(
            reply(&s, tool("add", json!({"a": 2, "b": 3})))["result"]["content"][0]["text"],
            "5"
        );
        assert_eq!(
            reply(&s, tool("add", json!({"a": 0.5, "b": 1})))["result"]["content"][0]["text"],
            "1.5"
        );
        assert_eq!(
            reply(&s, tool("add", json!({"a": "x", "b": 1})))["error"]["code"],
            INVALID_PARAMS
        );
        assert_eq!(
            reply(&s, tool("sleep", json!({"ms": 1})))["result"]["content"][0]["text"],
            "slept 1 ms"
        );
        let failed = reply(&s, tool("fail", json!({"code": -32042, "message": "nope"})));
        assert_eq!(failed["error"], json!({"code": -32042, "message": "nope"}));
        assert_eq!(
            reply(&s, tool("nosuch", json!({})))["error"]["code"],
            INVALID_PARAMS
        );
        assert_eq!(call(&s, tool("crash", json!({}))).0, Handled::Crash);
        let tools = reply(&s, json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}));
        assert!(tools["result"]["tools"].as_array().unwrap().len() >= 6);
    }

    #[test]
    fn progress_carries_the_request_token() {
        let s = StubState::new();
        let message = json!({"jsonrpc":"2.0","id":4,"method":"tools/call",
            "params":{"name":"progress","arguments":{"steps":3},"_meta":{"progressToken":"tok"}}});
        let (handled, notes) = call(&s, message);
        assert_eq!(notes.len(), 3);
        for (i, n) in notes.iter().enumerate() {
            assert_eq!(n["method"], "notifications/progress");
            assert_eq!(n["params"]["progressToken"], "tok");
            assert_eq!(n["params"]["progress"], i as u64 + 1);
        }
        assert!(matches!(handled, Handled::Reply(v) if v["id"] == 4));
        let (_, none) = call(&s, tool("progress", json!({"steps": 2})));
        assert!(none.is_empty(), "no token, no notifications");
    }

    #[test]
    fn protocol_errors() {
        let s = StubState::new();
        assert_eq!(
            reply(&s, json!({"jsonrpc":"2.0","id":1,"method":"nope"}))["error"]["code"],
            METHOD_NOT_FOUND
        );
        assert_eq!(reply(&s, json!([1, 2]))["error"]["code"], INVALID_REQUEST);
        assert_eq!(
            call(
                &s,
                json!({"jsonrpc":"2.0","method":"notifications/whatever"})
            )
            .0,
            Handled::Silent
        );
        let parsed = parse_lines(b"{\"a\":1}\nnot json\n");
        assert!(parsed[0].is_ok());
        let bad = parsed[1].clone().unwrap_err();
        assert_eq!(bad["error"]["code"], PARSE_ERROR);
        assert_eq!(bad["id"], Value::Null);
    }

    #[test]
    fn stats_record_session_events() {
        let s = StubState::new();
        reply(
            &s,
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"name":"t"}}}),
        );
        call(
            &s,
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        );
        call(
            &s,
            json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":77}}),
        );
        reply(&s, tool("counter", json!({})));
        let text = reply(&s, tool("stats", json!({})))["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string();
        let stats: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(stats["initialize_count"], 1);
        assert_eq!(stats["initialized_notified"], true);
        assert_eq!(stats["client_name"], "t");
        assert_eq!(stats["counter"], 1);
        assert_eq!(stats["cancelled"], json!([77]));
    }
}
