//! Everything the agent records while it works, for metrics, health and the
//! status page. Recording on the hot path is atomics only; never blocks I/O.

use crate::contract::TunnelMetadata;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How one poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// 200 with this many commands (may be zero: treated as empty).
    Commands(usize),
    /// 204, or 200 with no commands.
    Empty,
    /// 401/403: the key is refused.
    AuthRefused(u16),
    /// Any other HTTP status (429, 5xx, unexpected 4xx).
    HttpError(u16),
    /// DNS, connect, TLS, timeout, unreadable body.
    NetworkError,
}

/// How one command ended, for counters and the activity list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The terminal response carried a JSON-RPC result, an ack or a termination.
    Success,
    /// The terminal response carried the MCP server's own JSON-RPC error.
    RpcError,
    /// The agent synthesized a failure (transport, timeout, unsupported channel…).
    Synthesized,
    /// Dropped on purpose (expired deadline, shutdown): nothing posted.
    Dropped(DropReason),
    /// The terminal response could not be delivered.
    PostFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    Expired,
    UnknownType,
    Shutdown,
}

impl DropReason {
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Expired => "expired",
            DropReason::UnknownType => "unknown_type",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// How one response POST ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostResult {
    /// Accepted at the first try.
    Ok,
    /// Accepted after one or more retries.
    Retried,
    /// Given up (final 4xx, retries exhausted, deadline passed).
    Failed,
    /// 404: already fulfilled or gone.
    Gone,
}

/// One finished command, as the activity list shows it. Never carries
/// arguments, results, headers or tokens.
#[derive(Debug, Clone)]
pub struct CommandRecord {
    pub channel: String,
    /// JSON-RPC method (or "session_termination").
    pub method: String,
    /// Tool name for `tools/call`.
    pub tool: Option<String>,
    pub outcome: CommandOutcome,
    /// Poll receipt → terminal response accepted (or drop).
    pub total: Duration,
    /// Poll receipt → a worker picked it up.
    pub queue_wait: Duration,
    /// Time spent in the MCP backend.
    pub mcp_time: Duration,
    /// Time spent posting the terminal response (with retries).
    pub post_time: Duration,
}

/// The agent's shared state for the admin server. One per process.
pub struct Telemetry {
    started: Instant,
    connected: AtomicBool,
    auth_refused: AtomicBool,
    inflight: AtomicI64,
    queue_depth: AtomicI64,
    requests_success: AtomicU64,
    requests_error: AtomicU64,
    polls_commands: AtomicU64,
    polls_empty: AtomicU64,
    polls_error: AtomicU64,
    responses_ok: AtomicU64,
    responses_retried: AtomicU64,
    responses_failed: AtomicU64,
    responses_gone: AtomicU64,
    dropped_expired: AtomicU64,
    dropped_unknown: AtomicU64,
    dropped_shutdown: AtomicU64,
    notifications_posted: AtomicU64,
    mcp_restarts: AtomicU64,
    server_requests_refused: AtomicU64,
    metadata: Mutex<Option<TunnelMetadata>>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        Telemetry {
            started: Instant::now(),
            connected: AtomicBool::new(false),
            auth_refused: AtomicBool::new(false),
            inflight: AtomicI64::new(0),
            queue_depth: AtomicI64::new(0),
            requests_success: AtomicU64::new(0),
            requests_error: AtomicU64::new(0),
            polls_commands: AtomicU64::new(0),
            polls_empty: AtomicU64::new(0),
            polls_error: AtomicU64::new(0),
            responses_ok: AtomicU64::new(0),
            responses_retried: AtomicU64::new(0),
            responses_failed: AtomicU64::new(0),
            responses_gone: AtomicU64::new(0),
            dropped_expired: AtomicU64::new(0),
            dropped_unknown: AtomicU64::new(0),
            dropped_shutdown: AtomicU64::new(0),
            notifications_posted: AtomicU64::new(0),
            mcp_restarts: AtomicU64::new(0),
            server_requests_refused: AtomicU64::new(0),
            metadata: Mutex::new(None),
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The poll loop reports every poll.
    pub fn poll_finished(&self, outcome: PollOutcome, _latency: Duration) {
        match outcome {
            PollOutcome::Commands(n) if n > 0 => {
                self.polls_commands.fetch_add(1, Relaxed);
            }
            PollOutcome::Commands(_) | PollOutcome::Empty => {
                self.polls_empty.fetch_add(1, Relaxed);
            }
            PollOutcome::AuthRefused(_) | PollOutcome::HttpError(_) | PollOutcome::NetworkError => {
                self.polls_error.fetch_add(1, Relaxed);
            }
        }
        let reached = !matches!(outcome, PollOutcome::NetworkError);
        self.connected.store(reached, Relaxed);
        let refused = matches!(outcome, PollOutcome::AuthRefused(_));
        if reached {
            self.auth_refused.store(refused, Relaxed);
        }
    }

    /// The poll loop is alive (watchdog); called at least once per poll.
    pub fn poll_heartbeat(&self) {}

    /// Worker `index` is alive (watchdog); called when idle and per command.
    pub fn worker_heartbeat(&self, _index: usize) {}

    /// Commands handed to the pool but not yet picked up by a worker.
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth.store(depth as i64, Relaxed);
    }

    /// A worker picked up a command.
    pub fn command_started(&self) {
        self.inflight.fetch_add(1, Relaxed);
    }

    /// A command ended (terminal response delivered, failed or dropped).
    pub fn command_finished(&self, record: CommandRecord) {
        self.inflight.fetch_sub(1, Relaxed);
        match record.outcome {
            CommandOutcome::Success => {
                self.requests_success.fetch_add(1, Relaxed);
            }
            CommandOutcome::RpcError | CommandOutcome::Synthesized | CommandOutcome::PostFailed => {
                self.requests_error.fetch_add(1, Relaxed);
            }
            CommandOutcome::Dropped(reason) => self.command_dropped(reason),
        }
    }

    /// A command dropped before a worker took it (unknown type, shutdown).
    pub fn command_dropped(&self, reason: DropReason) {
        let counter = match reason {
            DropReason::Expired => &self.dropped_expired,
            DropReason::UnknownType => &self.dropped_unknown,
            DropReason::Shutdown => &self.dropped_shutdown,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// A terminal response POST ended.
    pub fn response_posted(&self, result: PostResult) {
        let counter = match result {
            PostResult::Ok => &self.responses_ok,
            PostResult::Retried => &self.responses_retried,
            PostResult::Failed => &self.responses_failed,
            PostResult::Gone => &self.responses_gone,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// A `jsonrpc_notify` POST was accepted.
    pub fn notification_posted(&self) {
        self.notifications_posted.fetch_add(1, Relaxed);
    }

    /// A stdio child was (re)started after the first start.
    pub fn mcp_restarted(&self) {
        self.mcp_restarts.fetch_add(1, Relaxed);
    }

    /// A stdio child sent a request that the tunnel cannot carry back.
    pub fn server_request_refused(&self) {
        self.server_requests_refused.fetch_add(1, Relaxed);
    }

    /// Metadata from `GET /v1/tunnels/{id}`, for the status page.
    pub fn set_metadata(&self, metadata: TunnelMetadata) {
        if let Ok(mut slot) = self.metadata.lock() {
            *slot = Some(metadata);
        }
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Relaxed)
    }

    pub fn auth_refused(&self) -> bool {
        self.auth_refused.load(Relaxed)
    }

    pub fn inflight(&self) -> i64 {
        self.inflight.load(Relaxed)
    }

    pub fn mcp_restarts(&self) -> u64 {
        self.mcp_restarts.load(Relaxed)
    }
}
