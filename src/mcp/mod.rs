//! The MCP side of the agent: one [`Backend`] per channel, each forwarding
//! JSON-RPC to a private MCP server (stdio child, Streamable HTTP, in-process).

use crate::contract::{Headers, TunnelFailure};
pub use crate::telemetry::ProbeClass;
use serde_json::Value;
use std::time::{Duration, Instant};

/// One JSON-RPC message to forward, with the command's headers and deadline.
pub struct McpCall<'a> {
    /// The JSON-RPC object exactly as the control plane sent it.
    pub message: &'a Value,
    /// The command's headers (multi-valued, sender's spelling).
    pub headers: &'a Headers,
    /// The command's whole-life deadline; the backend must return by then.
    pub deadline: Instant,
}

/// How a forwarded message ended.
#[derive(Debug, Clone, PartialEq)]
pub enum McpReply {
    /// The terminal JSON-RPC answer (a result, or the server's own error
    /// passed through exactly) with the real HTTP status (stdio: 200) and the
    /// allowlisted response headers.
    Response {
        json: Value,
        status: u16,
        headers: Headers,
    },
    /// A notification (no id) was accepted: HTTP 202/204, stdio 202. Also the
    /// answer to a successful session termination (HTTP: DELETE's status).
    Accepted { status: u16, headers: Headers },
    /// No JSON-RPC answer could be had: the dispatcher synthesizes `-32603`.
    Failed(TunnelFailure),
    /// An HTTP error status without a usable JSON-RPC error (`target_http`):
    /// synthesized like [`McpReply::Failed`], but the server's allowlisted
    /// headers go with it, so a 401's `WWW-Authenticate` challenge reaches the
    /// caller and its OAuth client can start.
    HttpStatus {
        failure: TunnelFailure,
        headers: Headers,
    },
    /// The deadline passed while the MCP server was working: nothing is posted
    /// (or, without a `response_timeout`, a timeout error; the dispatcher decides).
    Expired,
}

/// How a startup probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// A 2xx or 401 answer, or no answer within the budget: the server is there.
    Passed,
    Failed(ProbeClass),
}

/// What the readiness probe and the status page need to know of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    /// "stdio", "http" or "builtin".
    pub kind: &'static str,
    /// Up (child running / last request reached the server).
    pub up: bool,
    /// Human detail without secrets: "pid 1234", "http://host:port", "restarting in 2s".
    pub detail: String,
}

/// A channel's MCP server. Implementations are shared by all workers.
pub trait Backend: Send + Sync {
    /// Forwards one JSON-RPC message. Progress and other notifications that
    /// belong to this call are handed to `on_notify` the moment they arrive,
    /// in order, before the reply is returned.
    fn call(&self, call: &McpCall<'_>, on_notify: &mut dyn FnMut(Value)) -> McpReply;

    /// Ends the MCP session named by the `Mcp-Session-Id` header of `headers`.
    /// Returns `Accepted` with the real status (HTTP: DELETE's status).
    fn terminate_session(&self, headers: &Headers, deadline: Instant) -> McpReply;

    /// The startup probe (an HTTP `main` only: `initialize`,
    /// `notifications/initialized`, DELETE of the probe's own session),
    /// within `budget`. `None`: this backend is not probed.
    fn startup_probe(&self, _budget: Duration) -> Option<ProbeOutcome> {
        None
    }

    /// True when [`Backend::startup_probe`] probes (readiness then waits for it).
    fn has_startup_probe(&self) -> bool {
        false
    }

    /// `proc_affinity` in the server-info header: true for stdio and in-process.
    fn proc_affinity(&self) -> bool;

    /// False while the backend has nothing to serve (Harpoon without a
    /// target): its channel is then not declared, and its commands are
    /// answered "unsupported channel".
    fn serves(&self) -> bool {
        true
    }

    /// Current state for readiness and the status page.
    fn status(&self) -> BackendStatus;

    /// Stops the backend at shutdown (stdio: close stdin, SIGTERM, SIGKILL the
    /// process group), waiting at most `grace`.
    fn shutdown(&self, grace: Duration);
}

/// Time left until `deadline`, or `None` when it has passed.
pub fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

pub mod harpoon;
pub mod http;
pub mod idmap;
pub(crate) mod probe;
pub mod sse;
pub mod stdio;
pub mod stub;
