//! A scripted control plane for the agent's contract tests: records every
//! request and answers polls and POSTs from a script, with fault injection.

use super::wait_until;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request the agent made.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// `HTTP/1.1`, as on the request line.
    pub version: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn is_poll(&self) -> bool {
        self.method == "GET" && self.url.contains("/poll?")
    }

    pub fn is_post(&self) -> bool {
        self.method == "POST" && self.url.ends_with("/response")
    }

    /// A query parameter of the URL.
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.url.split_once('?')?.1;
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// A scripted answer: status, extra headers, body.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Bytes, not text: a hostile control plane may send invalid UTF-8.
    pub body: Vec<u8>,
}

impl Scripted {
    pub fn status(status: u16) -> Self {
        Scripted {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_body(mut self, body: &str) -> Self {
        self.body = body.as_bytes().to_vec();
        self
    }

    pub fn with_bytes(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    poll_script: VecDeque<Scripted>,
    post_script: VecDeque<Scripted>,
    metadata_script: VecDeque<Scripted>,
    batches: VecDeque<Vec<u8>>,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

pub struct MockControlPlane {
    pub url: String,
    shared: Shared,
    server: Arc<tiny_http::Server>,
}

/// Longest a mock long-poll holds when the agent asks for more.
const MAX_HOLD: Duration = Duration::from_secs(2);

impl MockControlPlane {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::new(tiny_http::Server::from_listener(listener, None).unwrap());
        let shared: Shared = Arc::default();
        {
            let server = Arc::clone(&server);
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || handle(request, &shared));
                }
            });
        }
        MockControlPlane {
            url: format!("http://{addr}"),
            shared,
            server,
        }
    }

    /// Offers a batch (`{"commands": [...]}` is built from `commands`) to the next poll.
    pub fn push_commands(&self, commands: Vec<Value>) {
        let (lock, cv) = &*self.shared;
        lock.lock()
            .unwrap()
            .batches
            .push_back(json!({ "commands": commands }).to_string().into_bytes());
        cv.notify_all();
    }

    /// Offers a poll body exactly as given (it may be anything but JSON) to the next poll.
    pub fn push_raw_batch(&self, body: Vec<u8>) {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap().batches.push_back(body);
        cv.notify_all();
    }

    /// The next poll gets this answer instead of work.
    pub fn script_poll(&self, answer: Scripted) {
        self.shared.0.lock().unwrap().poll_script.push_back(answer);
    }

    /// The next response POST gets this answer instead of `200 {"status":"ok"}`.
    pub fn script_post(&self, answer: Scripted) {
        self.shared.0.lock().unwrap().post_script.push_back(answer);
    }

    /// The next tunnel metadata GET gets this answer instead of the tunnel's name.
    pub fn script_metadata(&self, answer: Scripted) {
        let mut state = self.shared.0.lock().unwrap();
        state.metadata_script.push_back(answer);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.0.lock().unwrap().requests.clone()
    }

    pub fn polls(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_poll)
            .collect()
    }

    pub fn posts(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_post)
            .collect()
    }

    /// POST bodies for one request id, in arrival order.
    pub fn posts_for(&self, request_id: &str) -> Vec<Value> {
        self.posts()
            .iter()
            .map(Recorded::json)
            .filter(|b| b["request_id"] == request_id)
            .collect()
    }

    /// The terminal POST body for `request_id`, waiting up to `limit`.
    pub fn wait_terminal(&self, request_id: &str, limit: Duration) -> Value {
        wait_until(
            limit,
            format_args!("the terminal response to {request_id}"),
            || {
                self.requests()
                    .iter()
                    .find(|r| is_terminal_for(r, request_id))
                    .map(Recorded::json)
            },
        )
    }
}

impl Drop for MockControlPlane {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn is_terminal_for(r: &Recorded, request_id: &str) -> bool {
    let body = r.json();
    r.is_post() && body["request_id"] == request_id && body["resp_type"] != "jsonrpc_notify"
}

fn handle(mut request: tiny_http::Request, shared: &Shared) {
    let mut body = Vec::new();
    let _ = request.as_reader().take(64 << 20).read_to_end(&mut body);
    let recorded = Recorded {
        method: request.method().as_str().to_string(),
        version: format!("HTTP/{}", request.http_version()),
        url: request.url().to_string(),
        headers: request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        body,
        at: Instant::now(),
    };
    let (lock, cv) = &**shared;
    let answer = {
        let mut state = lock.lock().unwrap();
        state.requests.push(recorded.clone());
        if recorded.is_poll() {
            match state.poll_script.pop_front() {
                Some(a) => a,
                None => {
                    let hold = recorded
                        .query("timeout_ms")
                        .and_then(|t| t.parse().ok())
                        .map(Duration::from_millis)
                        .unwrap_or(MAX_HOLD)
                        .min(MAX_HOLD);
                    let deadline = Instant::now() + hold;
                    loop {
                        if let Some(batch) = state.batches.pop_front() {
                            break Scripted::status(200).with_bytes(&batch);
                        }
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break Scripted::status(204);
                        }
                        state = cv.wait_timeout(state, left).unwrap().0;
                    }
                }
            }
        } else if recorded.is_post() {
            state
                .post_script
                .pop_front()
                .unwrap_or_else(|| Scripted::status(200).with_body(r#"{"status":"ok"}"#))
        } else if recorded.method == "GET" {
            state.metadata_script.pop_front().unwrap_or_else(|| {
                Scripted::status(200).with_body(r#"{"id":"tunnel_0123456789abcdef0123456789abcdef","name":"Mock tunnel","description":"scripted"}"#)
            })
        } else {
            Scripted::status(405)
        }
    };
    let mut response = tiny_http::Response::from_data(answer.body).with_status_code(answer.status);
    for (k, v) in answer.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            response.add_header(h);
        }
    }
    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]) {
        response.add_header(h);
    }
    let _ = request.respond(response);
}
