//! The stdio MCP backend: a supervised child shared by every caller (default) or
//! one child per MCP session. It must never let a child's failure stop the agent or hang a caller past its deadline.
//!
//! Rules:
//! - Newline-delimited JSON-RPC both ways. Each request gets a unique child-side
//!   id (and progress token); the caller's own id and token come back unchanged.
//! - A request answers `Response{200, Content-Type: application/json}`; a
//!   notification answers `Accepted{202}` once written to the child's stdin.
//! - Deadline passed: `notifications/cancelled` to the child, id retired, late
//!   answer dropped, pipe kept (`initialize`: the child is restarted) → `Expired`.
//! - Child gone: callers in flight get `transport_closed`; the child restarts with
//!   backoff; the first successful `initialize` (and `notifications/initialized`)
//!   is replayed to the new child before any queued command.
//! - Requests from the child: `ping` answered `{}`, anything else refused with a
//!   JSON-RPC error and counted.
//!
//! Per-session mode (`stdio_mode: per_session`): `initialize` starts a child and
//! its answer carries a fresh `Mcp-Session-Id`; later commands name that id.
//! Answers of the session layer itself, shaped like an HTTP MCP server's:
//! - no `Mcp-Session-Id` on a non-initialize command → `Response{400}`, `-32000`;
//! - unknown, ended or expired session → `Response{404}`, `-32001 Session not found`
//!   (the caller re-initializes);
//! - `stdio_max_sessions` live children → `Response{503}`, `-32000` naming the cap.
//!   A session's child that dies is not restarted: its session ends (404 afterwards).

pub(crate) mod child;
pub(crate) mod lineage;
pub mod lines;
mod session;
mod supervisor;

pub use child::StdioError;

use crate::config::{StdioConfig, StdioMode};
use crate::contract::{header, FailureSource, Headers, TransportErrorKind, TunnelFailure};
use crate::mcp::{Backend, BackendStatus, McpCall, McpReply};
use crate::telemetry::Telemetry;
use serde_json::Value;
use session::Sessions;

use std::sync::Arc;
use std::time::{Duration, Instant};
use supervisor::Supervisor;

/// The stdio backend of one channel.
pub struct StdioBackend {
    inner: Inner,
}

enum Inner {
    Shared(Supervisor),
    PerSession(Sessions),
}

impl StdioBackend {
    /// Starts the backend. Shared mode starts the child now; per-session mode
    /// checks that the program exists and is executable. Either way a command
    /// that cannot run is an error here, never a silent retry loop.
    pub fn start(
        argv: &[String],
        cfg: &StdioConfig,
        telemetry: Arc<Telemetry>,
    ) -> Result<StdioBackend, StdioError> {
        StdioBackend::start_named(argv, cfg, telemetry, "stdio MCP server".to_string())
    }

    /// [`StdioBackend::start`] whose log lines call the child `label`
    /// ("stdio MCP server of channel tools").
    pub fn start_named(
        argv: &[String],
        cfg: &StdioConfig,
        telemetry: Arc<Telemetry>,
        label: String,
    ) -> Result<StdioBackend, StdioError> {
        let inner = match cfg.mode {
            StdioMode::Shared => {
                Inner::Shared(Supervisor::start(argv, cfg, telemetry, true, label)?)
            }
            StdioMode::PerSession => {
                child::check_program(argv, cfg)?;
                Inner::PerSession(Sessions::new(argv, cfg, telemetry))
            }
        };
        Ok(StdioBackend { inner })
    }

    /// Pid of the shared child while it runs (`None` in per-session mode).
    pub fn pid(&self) -> Option<u32> {
        match &self.inner {
            Inner::Shared(sup) => sup.pid(),
            Inner::PerSession(_) => None,
        }
    }

    /// Restarts of the shared child so far (0 in per-session mode).
    pub fn restarts(&self) -> u64 {
        match &self.inner {
            Inner::Shared(sup) => sup.restarts(),
            Inner::PerSession(_) => 0,
        }
    }

    /// Live per-session children (0 in shared mode).
    pub fn live_sessions(&self) -> usize {
        match &self.inner {
            Inner::Shared(_) => 0,
            Inner::PerSession(sessions) => sessions.live(),
        }
    }
}

impl Backend for StdioBackend {
    fn call(&self, call: &McpCall<'_>, on_notify: &mut dyn FnMut(Value)) -> McpReply {
        if !call.message.is_object() {
            return invalid_request();
        }
        match &self.inner {
            Inner::Shared(sup) => sup.call(call, on_notify),
            Inner::PerSession(sessions) => sessions.call(call, on_notify),
        }
    }

    fn terminate_session(&self, headers: &Headers, deadline: Instant) -> McpReply {
        match &self.inner {
            // One child serves every session: there is nothing to end.
            Inner::Shared(_) => McpReply::Accepted {
                status: 204,
                headers: Headers::new(),
            },
            Inner::PerSession(sessions) => sessions.terminate(headers, deadline),
        }
    }

    fn proc_affinity(&self) -> bool {
        true
    }

    fn status(&self) -> BackendStatus {
        match &self.inner {
            Inner::Shared(sup) => BackendStatus {
                kind: "stdio",
                up: sup.is_up(),
                detail: sup.detail(),
            },
            Inner::PerSession(sessions) => BackendStatus {
                kind: "stdio",
                up: !sessions.is_stopped(),
                detail: sessions.detail(),
            },
        }
    }

    fn shutdown(&self, grace: Duration) {
        match &self.inner {
            Inner::Shared(sup) => sup.shutdown(grace),
            Inner::PerSession(sessions) => sessions.shutdown(grace),
        }
    }
}

/// A batch or a bare value is not a message the tunnel forwards to a stdio child.
fn invalid_request() -> McpReply {
    McpReply::Response {
        json: serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {"code": -32600, "message": "Invalid Request: expected one JSON-RPC object"},
        }),
        status: 400,
        headers: json_headers(),
    }
}

/// `transport_closed` with `kind`: no answer can come from this child.
fn closed(kind: TransportErrorKind) -> McpReply {
    McpReply::Failed(TunnelFailure::transport(
        FailureSource::TransportClosed,
        kind,
    ))
}

fn json_headers() -> Headers {
    let mut headers = Headers::new();
    headers.insert(
        header::CONTENT_TYPE.to_string(),
        vec!["application/json".to_string()],
    );
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_reports_a_missing_program() {
        let telemetry = Arc::new(Telemetry::new());
        let argv = vec!["/no/such/mcp-server".to_string()];
        for mode in [StdioMode::Shared, StdioMode::PerSession] {
            let cfg = StdioConfig {
                mode,
                ..StdioConfig::default()
            };
            let err = StdioBackend::start(&argv, &cfg, telemetry.clone())
                .err()
                .unwrap();
            assert!(matches!(err, StdioError::NotFound { .. }), "{err:?}");
        }
    }
}
