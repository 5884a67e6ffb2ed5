//! Per-session children: `initialize` starts one, its `Mcp-Session-Id` routes
//! later commands to it; idle ones are ended, the count is capped. Never routes a command to another session's child.

use super::json_headers;
use super::supervisor::Supervisor;
use crate::config::StdioConfig;
use crate::contract::{header, headers, FailureSource, Headers, TransportErrorKind, TunnelFailure};
use crate::mcp::{McpCall, McpReply};
use crate::telemetry::Telemetry;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Grace given to a session's child when its session ends (termination, idle).
const SESSION_STOP_GRACE: Duration = Duration::from_secs(2);
/// Longest pause between two idle sweeps.
const SWEEP_MAX: Duration = Duration::from_secs(1);
/// Bytes of randomness in a session id (printed as hex).
const SESSION_ID_BYTES: usize = 16;

/// JSON-RPC codes of the session layer's own answers (as HTTP MCP servers use them).
const BAD_REQUEST: i64 = -32000;
const SESSION_NOT_FOUND: i64 = -32001;

struct Session {
    child: Supervisor,
    last_used: Mutex<Instant>,
    active: AtomicUsize,
}

impl Session {
    fn touch(&self) {
        if let Ok(mut t) = self.last_used.lock() {
            *t = Instant::now();
        }
    }

    fn idle_for(&self, now: Instant) -> Duration {
        self.last_used
            .lock()
            .map(|t| now.saturating_duration_since(*t))
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Table {
    live: HashMap<String, Arc<Session>>,
    /// Sessions whose `initialize` is in progress (they count toward the cap).
    starting: usize,
    stopped: bool,
}

struct Inner {
    argv: Vec<String>,
    cfg: StdioConfig,
    telemetry: Arc<Telemetry>,
    table: Mutex<Table>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Sessions {
    inner: Arc<Inner>,
    /// Dropping it stops the idle sweeper.
    _stop_sweeper: Sender<()>,
}

impl Sessions {
    pub fn new(argv: &[String], cfg: &StdioConfig, telemetry: Arc<Telemetry>) -> Sessions {
        let inner = Arc::new(Inner {
            argv: argv.to_vec(),
            cfg: cfg.clone(),
            telemetry,
            table: Mutex::new(Table::default()),
        });
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let sweeper = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("stdio-sessions".into())
            .spawn(move || sweep(&sweeper, &stop_rx));
        if let Err(e) = spawned {
            log::error!(
                "stdio sessions: no idle sweeper ({e}); idle sessions end only at shutdown"
            );
        }
        Sessions {
            inner,
            _stop_sweeper: stop_tx,
        }
    }

    pub fn live(&self) -> usize {
        self.inner.lock().live.len()
    }

    pub fn is_stopped(&self) -> bool {
        self.inner.lock().stopped
    }

    pub fn detail(&self) -> String {
        let table = self.inner.lock();
        format!(
            "per-session, {} live of at most {}",
            table.live.len(),
            self.inner.cfg.max_sessions
        )
    }

    pub fn call(&self, call: &McpCall<'_>, on_notify: &mut dyn FnMut(Value)) -> McpReply {
        let method = call.message.get("method").and_then(Value::as_str);
        let id = call.message.get("id").filter(|id| !id.is_null());
        if method == Some("initialize") && id.is_some() {
            return self.initialize(call, on_notify);
        }
        let Some(session_id) = headers::first(call.headers, header::MCP_SESSION_ID) else {
            return layer_error(
                400,
                BAD_REQUEST,
                "Bad Request: Mcp-Session-Id header is required",
            );
        };
        let Some(session) = self.find(session_id) else {
            return layer_error(404, SESSION_NOT_FOUND, "Session not found");
        };
        session.active.fetch_add(1, Ordering::AcqRel);
        session.touch();
        let reply = session.child.call(call, on_notify);
        session.touch();
        session.active.fetch_sub(1, Ordering::AcqRel);
        with_session_header(reply, session_id)
    }

    /// A live session, or `None` (forgetting it if its child has ended).
    fn find(&self, session_id: &str) -> Option<Arc<Session>> {
        let mut table = self.inner.lock();
        let session = table.live.get(session_id)?.clone();
        if session.child.is_stopped() {
            table.live.remove(session_id);
            log::info!(
                "stdio session {}: its child ended; session closed",
                short(session_id)
            );
            return None;
        }
        Some(session)
    }

    fn initialize(&self, call: &McpCall<'_>, on_notify: &mut dyn FnMut(Value)) -> McpReply {
        let cap = self.inner.cfg.max_sessions;
        {
            let mut table = self.inner.lock();
            if table.stopped {
                return McpReply::Failed(TunnelFailure::transport(
                    FailureSource::TransportClosed,
                    TransportErrorKind::ConnectionClosed,
                ));
            }
            if table.live.len() + table.starting >= cap {
                drop(table);
                log::warn!(
                    "stdio sessions: refused a new session, {cap} are live (stdio_max_sessions)"
                );
                let mut reply = layer_error(
                    503,
                    BAD_REQUEST,
                    &format!("too many MCP sessions: this stdio server allows {cap} at once (stdio_max_sessions); end a session and retry"),
                );
                if let McpReply::Response { json, .. } = &mut reply {
                    json["id"] = call.message.get("id").cloned().unwrap_or(Value::Null);
                    json["error"]["data"] = json!({"max_sessions": cap});
                }
                return reply;
            }
            table.starting += 1;
        }
        let session_id = crate::random::hex(SESSION_ID_BYTES);
        let reply = self.start_session(&session_id, call, on_notify);
        self.inner.lock().starting -= 1;
        reply
    }

    fn start_session(
        &self,
        session_id: &str,
        call: &McpCall<'_>,
        on_notify: &mut dyn FnMut(Value),
    ) -> McpReply {
        let label = format!("stdio session {}", short(session_id));
        let child = match Supervisor::start(
            &self.inner.argv,
            &self.inner.cfg,
            self.inner.telemetry.clone(),
            false,
            label,
        ) {
            Ok(child) => child,
            Err(e) => {
                log::error!("stdio sessions: cannot start a child: {e}");
                return McpReply::Failed(TunnelFailure::transport(
                    FailureSource::Connect,
                    TransportErrorKind::Dial,
                ));
            }
        };
        let reply = child.call(call, on_notify);
        let ok = matches!(&reply, McpReply::Response { json, .. } if json.get("result").is_some());
        if !ok {
            child.request_stop(SESSION_STOP_GRACE);
            return reply;
        }
        let session = Arc::new(Session {
            child,
            last_used: Mutex::new(Instant::now()),
            active: AtomicUsize::new(0),
        });
        let mut table = self.inner.lock();
        if table.stopped {
            session.child.request_stop(SESSION_STOP_GRACE);
            return McpReply::Failed(TunnelFailure::transport(
                FailureSource::TransportClosed,
                TransportErrorKind::ConnectionClosed,
            ));
        }
        table.live.insert(session_id.to_string(), session);
        log::info!(
            "stdio session {}: started ({} live)",
            short(session_id),
            table.live.len()
        );
        drop(table);
        with_session_header(reply, session_id)
    }

    pub fn terminate(&self, headers: &Headers, _deadline: Instant) -> McpReply {
        let Some(session_id) = headers::first(headers, header::MCP_SESSION_ID) else {
            return McpReply::Accepted {
                status: 400,
                headers: Headers::new(),
            };
        };
        let removed = self.inner.lock().live.remove(session_id);
        match removed {
            Some(session) => {
                // The child stops in the background; the caller need not wait for it.
                session.child.request_stop(SESSION_STOP_GRACE);
                log::info!(
                    "stdio session {}: terminated by the client",
                    short(session_id)
                );
                McpReply::Accepted {
                    status: 204,
                    headers: Headers::new(),
                }
            }
            None => McpReply::Accepted {
                status: 404,
                headers: Headers::new(),
            },
        }
    }

    pub fn shutdown(&self, grace: Duration) {
        let sessions: Vec<Arc<Session>> = {
            let mut table = self.inner.lock();
            table.stopped = true;
            table.live.drain().map(|(_, s)| s).collect()
        };
        for session in &sessions {
            session.child.request_stop(grace);
        }
        let until = Instant::now() + grace + Duration::from_secs(1);
        for session in &sessions {
            session
                .child
                .wait_stopped(until.saturating_duration_since(Instant::now()));
        }
    }
}

/// Ends sessions idle for `session_idle` (and forgets those whose child died)
/// until the `Sessions` is dropped.
fn sweep(inner: &Inner, stop: &Receiver<()>) {
    let every = (inner.cfg.session_idle / 4).clamp(Duration::from_millis(10), SWEEP_MAX);
    loop {
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let now = Instant::now();
        let mut ended = Vec::new();
        {
            let mut table = inner.lock();
            table.live.retain(|id, session| {
                let dead = session.child.is_stopped();
                let idle = session.active.load(Ordering::Acquire) == 0
                    && session.idle_for(now) >= inner.cfg.session_idle;
                if dead || idle {
                    ended.push((id.clone(), session.clone(), dead));
                }
                !(dead || idle)
            });
        }
        for (id, session, dead) in ended {
            if dead {
                log::info!(
                    "stdio session {}: its child ended; session closed",
                    short(&id)
                );
            } else {
                log::info!(
                    "stdio session {}: idle for {} s; ended",
                    short(&id),
                    inner.cfg.session_idle.as_secs()
                );
                session.child.request_stop(SESSION_STOP_GRACE);
            }
        }
    }
}

/// First characters of a session id, enough to follow it in the log.
fn short(session_id: &str) -> &str {
    session_id.get(..8).unwrap_or(session_id)
}

fn with_session_header(reply: McpReply, session_id: &str) -> McpReply {
    match reply {
        McpReply::Response {
            json,
            status,
            mut headers,
        } => {
            headers.insert(
                header::MCP_SESSION_ID.to_string(),
                vec![session_id.to_string()],
            );
            McpReply::Response {
                json,
                status,
                headers,
            }
        }
        other => other,
    }
}

/// An answer of the session layer itself, shaped like an HTTP MCP server's.
fn layer_error(status: u16, code: i64, message: &str) -> McpReply {
    McpReply::Response {
        json: json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}),
        status,
        headers: json_headers(),
    }
}
