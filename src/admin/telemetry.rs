//! Everything the agent records while it works, for metrics, health and the
//! status page. Recording on the hot path is atomics only; it never blocks or does I/O.

use crate::admin::activity::{
    bounded, ActivityEntry, ActivityRing, ErrorEntry, ErrorLog, MAX_LABEL_CHARS,
};
use crate::admin::health::{HealthSnapshot, PollFailure};
use crate::admin::histogram::{Histogram, HistogramSnapshot, Percentiles, RecentWindow};
use crate::contract::TunnelMetadata;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

impl CommandOutcome {
    /// The word the status page shows.
    pub fn label(self) -> &'static str {
        match self {
            CommandOutcome::Success => "success",
            CommandOutcome::RpcError => "rpc_error",
            CommandOutcome::Synthesized => "failed",
            CommandOutcome::Dropped(DropReason::Expired) => "dropped: expired",
            CommandOutcome::Dropped(DropReason::UnknownType) => "dropped: unknown type",
            CommandOutcome::Dropped(DropReason::Shutdown) => "dropped: shutdown",
            CommandOutcome::PostFailed => "post_failed",
        }
    }
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

/// Slack the poll loop allows a long-poll beyond its `timeout_ms` (issue 2).
pub const POLL_DEADLINE_SLACK: Duration = Duration::from_secs(5);
/// Longest pause between two polls: backoff cap 30 s, `Retry-After` capped at
/// 60 s, 401/403 retried once a minute (issue 2).
pub const MAX_POLL_PAUSE: Duration = Duration::from_secs(60);
/// Extra time granted before the watchdog calls a loop stuck, for a starved CPU.
pub const STALL_MARGIN: Duration = Duration::from_secs(60);
/// Most workers the watchdog tracks; heartbeats of higher indices are ignored.
pub const MAX_WATCHED_WORKERS: usize = 4096;

/// When the watchdog calls the agent's own loops stuck (liveness 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchdogLimits {
    /// Longest silence of the poll loop.
    pub poll_stall: Duration,
    /// Longest silence of a worker after [`Telemetry::worker_heartbeat`]
    /// (extended per command by [`Telemetry::worker_busy`]).
    pub worker_stall: Duration,
}

impl WatchdogLimits {
    /// Limits for an agent long-polling with `poll_timeout` whose commands end
    /// by `request_timeout` unless a command carries a longer deadline.
    pub fn for_agent(poll_timeout: Duration, request_timeout: Duration) -> WatchdogLimits {
        WatchdogLimits {
            poll_stall: poll_timeout + POLL_DEADLINE_SLACK + MAX_POLL_PAUSE + STALL_MARGIN,
            worker_stall: request_timeout + STALL_MARGIN,
        }
    }
}

impl Default for WatchdogLimits {
    fn default() -> Self {
        WatchdogLimits::for_agent(
            crate::config::DEFAULT_POLL_TIMEOUT,
            crate::config::DEFAULT_REQUEST_TIMEOUT,
        )
    }
}

/// Marks "never" in the millisecond atomics below.
const NEVER: u64 = u64::MAX;
/// `last_failure` encoding: 0 = none, 1..=999 = HTTP status, this = network.
const NETWORK_FAILURE: u32 = 1000;

/// The queue-wait / MCP / POST split of `--enable-request-timing`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimingSplit {
    pub queue_wait: Option<Percentiles>,
    pub mcp: Option<Percentiles>,
    pub post: Option<Percentiles>,
}

/// Every counter and gauge of `/metrics`, read at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Counters {
    pub connected: bool,
    pub inflight: i64,
    pub queue_depth: i64,
    pub requests_success: u64,
    pub requests_error: u64,
    pub polls_commands: u64,
    pub polls_empty: u64,
    pub polls_error: u64,
    pub responses_ok: u64,
    pub responses_retried: u64,
    pub responses_failed: u64,
    pub responses_gone: u64,
    pub dropped_expired: u64,
    pub dropped_unknown: u64,
    pub dropped_shutdown: u64,
    pub notifications_posted: u64,
    pub mcp_restarts: u64,
    pub server_requests_refused: u64,
    pub control_plane_errors_4xx: u64,
    pub control_plane_errors_5xx: u64,
    pub control_plane_errors_other: u64,
    pub control_plane_errors_network: u64,
    pub request_duration: HistogramSnapshot,
    pub poll_duration: HistogramSnapshot,
}

/// The agent's shared state for the admin server. One per process.
pub struct Telemetry {
    started: Instant,
    started_wall: SystemTime,
    connected: AtomicBool,
    /// When `connected` last changed (ms since start); 0 at start.
    connected_changed_ms: AtomicU64,
    auth_refused: AtomicBool,
    auth_status: AtomicU32,
    first_poll_ok: AtomicBool,
    failing_since_ms: AtomicU64,
    last_failure: AtomicU32,
    last_poll_ms: AtomicU64,
    synthesized_streak: AtomicU32,
    draining: AtomicBool,
    request_timing: AtomicBool,
    poll_heartbeat_ms: AtomicU64,
    poll_stall_ms: AtomicU64,
    worker_stall_ms: AtomicU64,
    /// Per worker: ms since start by which it must report again.
    worker_due_ms: OnceLock<Box<[AtomicU64]>>,
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
    cp_errors_4xx: AtomicU64,
    cp_errors_5xx: AtomicU64,
    cp_errors_other: AtomicU64,
    cp_errors_network: AtomicU64,
    request_duration: Histogram,
    poll_duration: Histogram,
    recent_total: RecentWindow,
    recent_queue_wait: RecentWindow,
    recent_mcp: RecentWindow,
    recent_post: RecentWindow,
    activity: ActivityRing,
    errors: ErrorLog,
    metadata: Mutex<Option<TunnelMetadata>>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        let limits = WatchdogLimits::default();
        Telemetry {
            started: Instant::now(),
            started_wall: SystemTime::now(),
            connected: AtomicBool::new(false),
            connected_changed_ms: AtomicU64::new(0),
            auth_refused: AtomicBool::new(false),
            auth_status: AtomicU32::new(0),
            first_poll_ok: AtomicBool::new(false),
            failing_since_ms: AtomicU64::new(NEVER),
            last_failure: AtomicU32::new(0),
            last_poll_ms: AtomicU64::new(NEVER),
            synthesized_streak: AtomicU32::new(0),
            draining: AtomicBool::new(false),
            request_timing: AtomicBool::new(false),
            poll_heartbeat_ms: AtomicU64::new(0),
            poll_stall_ms: AtomicU64::new(millis(limits.poll_stall)),
            worker_stall_ms: AtomicU64::new(millis(limits.worker_stall)),
            worker_due_ms: OnceLock::new(),
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
            cp_errors_4xx: AtomicU64::new(0),
            cp_errors_5xx: AtomicU64::new(0),
            cp_errors_other: AtomicU64::new(0),
            cp_errors_network: AtomicU64::new(0),
            request_duration: Histogram::new(),
            poll_duration: Histogram::new(),
            recent_total: RecentWindow::new(),
            recent_queue_wait: RecentWindow::new(),
            recent_mcp: RecentWindow::new(),
            recent_post: RecentWindow::new(),
            activity: ActivityRing::new(),
            errors: ErrorLog::default(),
            metadata: Mutex::new(None),
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    fn now_ms(&self) -> u64 {
        millis(self.started.elapsed())
    }

    /// Wall-clock time (ms since the Unix epoch) of a `now_ms`-style offset.
    pub fn unix_ms_at(&self, offset_ms: u64) -> u64 {
        let start = self
            .started_wall
            .duration_since(UNIX_EPOCH)
            .map(millis)
            .unwrap_or(0);
        start.saturating_add(offset_ms)
    }

    /// Process start, ms since the Unix epoch.
    pub fn started_unix_ms(&self) -> u64 {
        self.unix_ms_at(0)
    }

    // ---- configuration (once, at startup) -------------------------------

    /// With `--enable-request-timing`: keep the queue-wait / MCP / POST split
    /// for `/api/status` and log it per command.
    pub fn set_request_timing(&self, enabled: bool) {
        self.request_timing.store(enabled, Relaxed);
    }

    pub fn request_timing(&self) -> bool {
        self.request_timing.load(Relaxed)
    }

    /// Sets the watchdog limits (default: [`WatchdogLimits::default`]).
    pub fn set_watchdog(&self, limits: WatchdogLimits) {
        self.poll_stall_ms.store(millis(limits.poll_stall), Relaxed);
        self.worker_stall_ms
            .store(millis(limits.worker_stall), Relaxed);
    }

    /// Declares the worker pool size before the workers start; only the first
    /// call counts, and at most [`MAX_WATCHED_WORKERS`] are watched. Until it
    /// is called no worker is watched.
    pub fn expect_workers(&self, count: usize) {
        let due = self
            .now_ms()
            .saturating_add(self.worker_stall_ms.load(Relaxed));
        let _ = self.worker_due_ms.get_or_init(|| {
            (0..count.min(MAX_WATCHED_WORKERS))
                .map(|_| AtomicU64::new(due))
                .collect()
        });
    }

    /// Shutdown has begun: readiness turns false and the watchdog stands down.
    pub fn set_draining(&self) {
        self.draining.store(true, Relaxed);
    }

    // ---- the poll loop -------------------------------------------------------

    /// The poll loop reports every poll.
    pub fn poll_finished(&self, outcome: PollOutcome, latency: Duration) {
        let now = self.now_ms();
        self.last_poll_ms.store(now, Relaxed);
        self.poll_duration.record(latency);
        let failure = match outcome {
            PollOutcome::Commands(n) if n > 0 => {
                self.polls_commands.fetch_add(1, Relaxed);
                None
            }
            PollOutcome::Commands(_) | PollOutcome::Empty => {
                self.polls_empty.fetch_add(1, Relaxed);
                None
            }
            PollOutcome::AuthRefused(status) | PollOutcome::HttpError(status) => {
                self.polls_error.fetch_add(1, Relaxed);
                Some(Some(status))
            }
            PollOutcome::NetworkError => {
                self.polls_error.fetch_add(1, Relaxed);
                Some(None)
            }
        };
        match failure {
            None => {
                self.first_poll_ok.store(true, Relaxed);
                self.failing_since_ms.store(NEVER, Relaxed);
                self.last_failure.store(0, Relaxed);
            }
            Some(status) => {
                self.control_plane_error(status);
                let _ = self
                    .failing_since_ms
                    .compare_exchange(NEVER, now, Relaxed, Relaxed);
                let code = status.map_or(NETWORK_FAILURE, |s| u32::from(s).min(999));
                self.last_failure.store(code, Relaxed);
            }
        }
        let reached = !matches!(outcome, PollOutcome::NetworkError);
        if self.connected.swap(reached, Relaxed) != reached {
            self.connected_changed_ms.store(now, Relaxed);
        }
        if reached {
            let refused = matches!(outcome, PollOutcome::AuthRefused(_));
            self.auth_refused.store(refused, Relaxed);
            if let PollOutcome::AuthRefused(status) = outcome {
                self.auth_status.store(u32::from(status), Relaxed);
            }
        }
    }

    /// A control-plane request failed: `Some(status)` for an HTTP answer,
    /// `None` for a network failure. Polls are counted by `poll_finished`
    /// already; call this for response and notification POSTs.
    pub fn control_plane_error(&self, status: Option<u16>) {
        let counter = match status {
            None => &self.cp_errors_network,
            Some(400..=499) => &self.cp_errors_4xx,
            Some(500..=599) => &self.cp_errors_5xx,
            Some(_) => &self.cp_errors_other,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// The poll loop is alive (watchdog); called at least once per poll and
    /// before every backoff pause.
    pub fn poll_heartbeat(&self) {
        self.poll_heartbeat_ms.store(self.now_ms(), Relaxed);
    }

    // ---- workers ---------------------------------------------------------------

    /// Worker `index` is alive (watchdog); called when idle (at least every
    /// 5 s) and per command.
    pub fn worker_heartbeat(&self, index: usize) {
        let due = self
            .now_ms()
            .saturating_add(self.worker_stall_ms.load(Relaxed));
        self.set_worker_due(index, due);
    }

    /// Worker `index` took a command that may legitimately keep it silent until
    /// `deadline` (a long `response_timeout`); the watchdog waits that long
    /// plus the worker limit.
    pub fn worker_busy(&self, index: usize, deadline: Instant) {
        let until = millis(deadline.saturating_duration_since(self.started));
        let due = until
            .max(self.now_ms())
            .saturating_add(self.worker_stall_ms.load(Relaxed));
        self.set_worker_due(index, due);
    }

    fn set_worker_due(&self, index: usize, due: u64) {
        if let Some(slot) = self.worker_due_ms.get().and_then(|w| w.get(index)) {
            slot.store(due, Relaxed);
        }
    }

    /// Commands handed to the pool but not yet picked up by a worker.
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .store(i64::try_from(depth).unwrap_or(i64::MAX), Relaxed);
    }

    /// A worker picked up a command.
    pub fn command_started(&self) {
        self.inflight.fetch_add(1, Relaxed);
    }

    /// A command ended (terminal response delivered, failed or dropped).
    pub fn command_finished(&self, record: CommandRecord) {
        self.inflight.fetch_sub(1, Relaxed);
        match record.outcome {
            CommandOutcome::Success | CommandOutcome::RpcError => {
                self.synthesized_streak.store(0, Relaxed);
            }
            CommandOutcome::Synthesized => {
                self.synthesized_streak.fetch_add(1, Relaxed);
            }
            CommandOutcome::Dropped(_) | CommandOutcome::PostFailed => {}
        }
        match record.outcome {
            CommandOutcome::Success => {
                self.requests_success.fetch_add(1, Relaxed);
            }
            CommandOutcome::RpcError | CommandOutcome::Synthesized | CommandOutcome::PostFailed => {
                self.requests_error.fetch_add(1, Relaxed);
            }
            CommandOutcome::Dropped(reason) => self.command_dropped(reason),
        }
        let now = self.now_ms();
        let now_secs = now / 1000;
        if !matches!(record.outcome, CommandOutcome::Dropped(_)) {
            self.request_duration.record(record.total);
            self.recent_total.record(now_secs, record.total);
        }
        if self.request_timing() {
            self.recent_queue_wait.record(now_secs, record.queue_wait);
            self.recent_mcp.record(now_secs, record.mcp_time);
            self.recent_post.record(now_secs, record.post_time);
            log::info!(
                "request timing: channel={} method={} outcome={} total_ms={} queue_wait_ms={} mcp_ms={} post_ms={}",
                record.channel,
                record.method,
                record.outcome.label(),
                record.total.as_millis(),
                record.queue_wait.as_millis(),
                record.mcp_time.as_millis(),
                record.post_time.as_millis()
            );
        }
        self.activity.record(ActivityEntry {
            at_unix_ms: self.unix_ms_at(now),
            channel: bounded(&record.channel, MAX_LABEL_CHARS),
            method: bounded(&record.method, MAX_LABEL_CHARS),
            tool: record.tool.as_deref().map(|t| bounded(t, MAX_LABEL_CHARS)),
            outcome: record.outcome.label(),
            duration: record.total,
        });
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

    /// An error worth showing on the status page. The message must already be
    /// free of secrets; URL credentials and query strings are stripped anyway.
    pub fn record_error(&self, message: &str) {
        let at = self.unix_ms_at(self.now_ms());
        self.errors.record(at, message);
    }

    /// Metadata from `GET /v1/tunnels/{id}`, for the status page.
    pub fn set_metadata(&self, metadata: TunnelMetadata) {
        if let Ok(mut slot) = self.metadata.lock() {
            *slot = Some(metadata);
        }
    }

    // ---- reading (admin server side) -------------------------------------------

    pub fn connected(&self) -> bool {
        self.connected.load(Relaxed)
    }

    /// Since when (ms since the Unix epoch) `connected` has its current value.
    pub fn connected_since_unix_ms(&self) -> u64 {
        self.unix_ms_at(self.connected_changed_ms.load(Relaxed))
    }

    /// When the last poll ended (ms since the Unix epoch), if any did.
    pub fn last_poll_unix_ms(&self) -> Option<u64> {
        match self.last_poll_ms.load(Relaxed) {
            NEVER => None,
            ms => Some(self.unix_ms_at(ms)),
        }
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

    pub fn metadata(&self) -> Option<TunnelMetadata> {
        self.metadata
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What the readiness and liveness rules look at, now.
    pub fn health_snapshot(&self) -> HealthSnapshot {
        let auth_refused = self
            .auth_refused()
            .then(|| u16::try_from(self.auth_status.load(Relaxed)).unwrap_or(401));
        let last_failure = match self.last_failure.load(Relaxed) {
            0 => None,
            NETWORK_FAILURE => Some(PollFailure::Network),
            status => Some(PollFailure::Http(u16::try_from(status).unwrap_or(0))),
        };
        HealthSnapshot {
            now_ms: self.now_ms(),
            draining: self.draining.load(Relaxed),
            first_poll_ok: self.first_poll_ok.load(Relaxed),
            auth_refused,
            failing_since_ms: match self.failing_since_ms.load(Relaxed) {
                NEVER => None,
                ms => Some(ms),
            },
            last_failure,
            synthesized_streak: self.synthesized_streak.load(Relaxed),
            poll_heartbeat_ms: self.poll_heartbeat_ms.load(Relaxed),
            poll_stall_limit_ms: self.poll_stall_ms.load(Relaxed),
            worker_due_ms: self
                .worker_due_ms
                .get()
                .map(|w| w.iter().map(|d| d.load(Relaxed)).collect())
                .unwrap_or_default(),
        }
    }

    /// Every counter for `/metrics`.
    pub fn counters(&self) -> Counters {
        Counters {
            connected: self.connected(),
            inflight: self.inflight(),
            queue_depth: self.queue_depth.load(Relaxed),
            requests_success: self.requests_success.load(Relaxed),
            requests_error: self.requests_error.load(Relaxed),
            polls_commands: self.polls_commands.load(Relaxed),
            polls_empty: self.polls_empty.load(Relaxed),
            polls_error: self.polls_error.load(Relaxed),
            responses_ok: self.responses_ok.load(Relaxed),
            responses_retried: self.responses_retried.load(Relaxed),
            responses_failed: self.responses_failed.load(Relaxed),
            responses_gone: self.responses_gone.load(Relaxed),
            dropped_expired: self.dropped_expired.load(Relaxed),
            dropped_unknown: self.dropped_unknown.load(Relaxed),
            dropped_shutdown: self.dropped_shutdown.load(Relaxed),
            notifications_posted: self.notifications_posted.load(Relaxed),
            mcp_restarts: self.mcp_restarts(),
            server_requests_refused: self.server_requests_refused.load(Relaxed),
            control_plane_errors_4xx: self.cp_errors_4xx.load(Relaxed),
            control_plane_errors_5xx: self.cp_errors_5xx.load(Relaxed),
            control_plane_errors_other: self.cp_errors_other.load(Relaxed),
            control_plane_errors_network: self.cp_errors_network.load(Relaxed),
            request_duration: self.request_duration.snapshot(),
            poll_duration: self.poll_duration.snapshot(),
        }
    }

    /// Command latency percentiles over the recent window.
    pub fn latency(&self) -> Option<Percentiles> {
        self.recent_total.percentiles(self.now_ms() / 1000)
    }

    /// The timing split, when `--enable-request-timing` is on.
    pub fn timing_split(&self) -> Option<TimingSplit> {
        if !self.request_timing() {
            return None;
        }
        let now_secs = self.now_ms() / 1000;
        Some(TimingSplit {
            queue_wait: self.recent_queue_wait.percentiles(now_secs),
            mcp: self.recent_mcp.percentiles(now_secs),
            post: self.recent_post.percentiles(now_secs),
        })
    }

    /// The last 100 commands, newest first.
    pub fn recent_activity(&self) -> Vec<ActivityEntry> {
        self.activity.recent()
    }

    /// The last errors, newest first.
    pub fn recent_errors(&self) -> Vec<ErrorEntry> {
        self.errors.recent()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: CommandOutcome) -> CommandRecord {
        CommandRecord {
            channel: "main".into(),
            method: "tools/call".into(),
            tool: Some("echo".into()),
            outcome,
            total: Duration::from_millis(12),
            queue_wait: Duration::from_millis(1),
            mcp_time: Duration::from_millis(10),
            post_time: Duration::from_millis(1),
        }
    }

    #[test]
    fn poll_outcomes_drive_connection_and_failure_state() {
        let t = Telemetry::new();
        assert!(!t.health_snapshot().first_poll_ok);
        t.poll_finished(PollOutcome::NetworkError, Duration::from_millis(3));
        let s = t.health_snapshot();
        assert!(!t.connected());
        assert_eq!(s.last_failure, Some(PollFailure::Network));
        let since = s.failing_since_ms.unwrap();
        t.poll_finished(PollOutcome::HttpError(503), Duration::from_millis(3));
        let s = t.health_snapshot();
        assert!(
            t.connected(),
            "an HTTP answer means the control plane was reached"
        );
        assert_eq!(
            s.failing_since_ms,
            Some(since),
            "the outage started at the first failure"
        );
        assert_eq!(s.last_failure, Some(PollFailure::Http(503)));
        t.poll_finished(PollOutcome::Empty, Duration::from_millis(3));
        let s = t.health_snapshot();
        assert!(s.first_poll_ok);
        assert_eq!(s.failing_since_ms, None);
        let c = t.counters();
        assert_eq!((c.polls_empty, c.polls_error), (1, 2));
        assert_eq!(
            (c.control_plane_errors_network, c.control_plane_errors_5xx),
            (1, 1)
        );
        assert_eq!(c.poll_duration.count, 3);
    }

    #[test]
    fn auth_refusal_is_remembered_until_a_good_poll() {
        let t = Telemetry::new();
        t.poll_finished(PollOutcome::AuthRefused(403), Duration::ZERO);
        assert_eq!(t.health_snapshot().auth_refused, Some(403));
        t.poll_finished(PollOutcome::NetworkError, Duration::ZERO);
        assert_eq!(t.health_snapshot().auth_refused, Some(403));
        t.poll_finished(PollOutcome::Commands(2), Duration::ZERO);
        assert_eq!(t.health_snapshot().auth_refused, None);
    }

    #[test]
    fn synthesized_streak_resets_on_an_answer() {
        let t = Telemetry::new();
        for _ in 0..5 {
            t.command_started();
            t.command_finished(record(CommandOutcome::Synthesized));
        }
        assert_eq!(t.health_snapshot().synthesized_streak, 5);
        t.command_started();
        t.command_finished(record(CommandOutcome::RpcError));
        assert_eq!(t.health_snapshot().synthesized_streak, 0);
        assert_eq!(t.counters().requests_error, 6);
        assert_eq!(t.inflight(), 0);
        assert_eq!(t.recent_activity()[0].outcome, "rpc_error");
        assert_eq!(t.recent_activity()[1].tool.as_deref(), Some("echo"));
    }

    #[test]
    fn workers_are_watched_only_once_declared() {
        let t = Telemetry::new();
        t.worker_heartbeat(0);
        assert!(t.health_snapshot().worker_due_ms.is_empty());
        t.expect_workers(2);
        t.worker_busy(1, Instant::now() + Duration::from_secs(3600));
        let due = t.health_snapshot().worker_due_ms;
        assert_eq!(due.len(), 2);
        assert!(due[1] >= 3_600_000 + due[0] - 1000, "{due:?}");
        t.worker_heartbeat(7); // out of range: ignored, no panic
    }

    #[test]
    fn timing_split_only_when_enabled() {
        let t = Telemetry::new();
        t.command_started();
        t.command_finished(record(CommandOutcome::Success));
        assert!(t.timing_split().is_none());
        t.set_request_timing(true);
        t.command_started();
        t.command_finished(record(CommandOutcome::Success));
        let split = t.timing_split().unwrap();
        assert_eq!(split.mcp.unwrap().p50_ms, 10.0);
        assert_eq!(t.latency().unwrap().count, 2);
    }
}
