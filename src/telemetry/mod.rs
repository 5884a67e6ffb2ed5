//! The recorder: everything the agent records while it works, for metrics, health and
//! the status page. Recording is atomics only and never blocks or does I/O; imports nothing above contract/.

pub(crate) mod activity;
pub(crate) mod counters;
pub mod harpoon;
pub(crate) mod health;
pub(crate) mod histogram;
pub(crate) mod oauth;
pub(crate) mod outcome;
pub(crate) mod prometheus;
pub(crate) mod startup;

pub use counters::Counter;
pub use health::{HealthSnapshot, PollFailure, WatchdogLimits};
pub use oauth::{OauthFound, OauthPhase, OauthStatus};
pub use outcome::{CommandOutcome, CommandRecord, DropReason, PollOutcome, PostResult};
pub use startup::{McpProbe, ProbeClass};

use crate::contract::TunnelMetadata;
use activity::{bounded, ActivityEntry, ActivityRing, ErrorEntry, ErrorLog, MAX_LABEL_CHARS};
use counters::{ChannelCounter, ChannelValues, CounterValues, Reading};
use health::MAX_WATCHED_WORKERS;
use histogram::{Histogram, HistogramSnapshot, Percentiles, RecentWindow, AGENT_BUCKETS_MICROS};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// What the agent recorded, written by the poll loop, the workers and the MCP
/// backends, read by the admin server. One per process.
pub struct Telemetry {
    started: Instant,
    started_wall: SystemTime,
    /// Every counter and gauge of `/metrics`.
    counters: CounterValues,
    /// The per-channel counters, once the channels are known.
    channels: OnceLock<ChannelValues>,
    /// The startup probe of an HTTP `main`.
    mcp_probe: startup::ProbeCell,
    /// When the `Connected` gauge last changed (ms since start); 0 at start.
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
    request_duration: Histogram,
    poll_duration: Histogram,
    recent_total: RecentWindow,
    recent_queue_wait: RecentWindow,
    recent_mcp: RecentWindow,
    recent_post: RecentWindow,
    activity: ActivityRing,
    errors: ErrorLog,
    metadata: Mutex<Option<TunnelMetadata>>,
    oauth: Mutex<OauthStatus>,
    harpoon: harpoon::HarpoonStats,
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
            counters: CounterValues::new(),
            channels: OnceLock::new(),
            mcp_probe: startup::ProbeCell::default(),
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
            request_duration: Histogram::new(&AGENT_BUCKETS_MICROS),
            poll_duration: Histogram::new(&AGENT_BUCKETS_MICROS),
            recent_total: RecentWindow::new(),
            recent_queue_wait: RecentWindow::new(),
            recent_mcp: RecentWindow::new(),
            recent_post: RecentWindow::new(),
            activity: ActivityRing::new(),
            errors: ErrorLog::default(),
            metadata: Mutex::new(None),
            oauth: Mutex::new(OauthStatus::default()),
            harpoon: harpoon::HarpoonStats::default(),
        }
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

    /// Declares the channels the configuration enables: the only values the
    /// `channel` label takes. Only the first call counts.
    pub fn set_channels(&self, names: &[String]) {
        let _ = self.channels.get_or_init(|| ChannelValues::new(names));
    }

    /// The per-channel counters (empty before [`Telemetry::set_channels`]).
    pub fn channel_values(&self) -> Option<&ChannelValues> {
        self.channels.get()
    }

    /// The startup probe of an HTTP `main` moved on.
    pub fn set_mcp_probe(&self, state: McpProbe) {
        self.mcp_probe.set(state);
    }

    pub fn mcp_probe(&self) -> McpProbe {
        self.mcp_probe.get()
    }

    /// `main` answered a command with a 2xx: a failed probe is cleared.
    pub fn mcp_answered_2xx(&self) {
        self.mcp_probe.answered_2xx();
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
                self.counters.increment(Counter::PollsCommands);
                None
            }
            PollOutcome::Commands(_) | PollOutcome::Empty => {
                self.counters.increment(Counter::PollsEmpty);
                None
            }
            PollOutcome::AuthRefused(status) | PollOutcome::HttpError(status) => {
                self.counters.increment(Counter::PollsError);
                Some(Some(status))
            }
            PollOutcome::NetworkError => {
                self.counters.increment(Counter::PollsError);
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
        let was = self.counters.swap(Counter::Connected, i64::from(reached));
        if was != i64::from(reached) {
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
            None => Counter::ControlPlaneErrorsNetwork,
            Some(400..=499) => Counter::ControlPlaneErrors4xx,
            Some(500..=599) => Counter::ControlPlaneErrors5xx,
            Some(_) => Counter::ControlPlaneErrorsOther,
        };
        self.counters.increment(counter);
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
        self.counters.set(
            Counter::QueueDepth,
            i64::try_from(depth).unwrap_or(i64::MAX),
        );
    }

    /// A worker picked up a command.
    pub fn command_started(&self) {
        self.counters.increment(Counter::InflightRequests);
    }

    /// A worker picked up a command for `channel` (a configured name; any
    /// other is not counted per channel).
    pub fn channel_started(&self, channel: &str) {
        if let Some(values) = self.channels.get() {
            values.increment(channel, ChannelCounter::ChannelInflight);
        }
    }

    /// The command [`Telemetry::channel_started`] counted has ended.
    pub fn channel_finished(&self, channel: &str) {
        if let Some(values) = self.channels.get() {
            values.decrement(channel, ChannelCounter::ChannelInflight);
        }
    }

    /// A command for a channel this agent does not serve was answered 400.
    pub fn unsupported_channel(&self) {
        self.counters.increment(Counter::UnsupportedChannel);
    }

    /// A command ended (terminal response delivered, failed or dropped).
    pub fn command_finished(&self, record: CommandRecord) {
        self.counters.decrement(Counter::InflightRequests);
        match record.outcome {
            CommandOutcome::Success | CommandOutcome::RpcError => {
                self.synthesized_streak.store(0, Relaxed);
            }
            CommandOutcome::Synthesized => {
                self.synthesized_streak.fetch_add(1, Relaxed);
            }
            CommandOutcome::Dropped(_) | CommandOutcome::PostFailed | CommandOutcome::Answered => {}
        }
        let per_channel = match record.outcome {
            CommandOutcome::Success => {
                self.counters.increment(Counter::RequestsSuccess);
                Some(ChannelCounter::ChannelRequestsSuccess)
            }
            CommandOutcome::RpcError
            | CommandOutcome::Synthesized
            | CommandOutcome::PostFailed
            | CommandOutcome::Answered => {
                self.counters.increment(Counter::RequestsError);
                Some(ChannelCounter::ChannelRequestsError)
            }
            CommandOutcome::Dropped(reason) => {
                self.command_dropped(reason);
                None
            }
        };
        if let (Some(counter), Some(values)) = (per_channel, self.channels.get()) {
            values.increment(&record.channel, counter);
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
        self.counters.increment(reason.counter());
    }

    /// A terminal response POST ended.
    pub fn response_posted(&self, result: PostResult) {
        self.counters.increment(result.counter());
    }

    /// A `jsonrpc_notify` POST was accepted.
    pub fn notification_posted(&self) {
        self.counters.increment(Counter::NotificationsPosted);
    }

    /// A stdio child was (re)started after the first start.
    pub fn mcp_restarted(&self) {
        self.counters.increment(Counter::McpRestarts);
    }

    /// A stdio child sent a request that the tunnel cannot carry back.
    pub fn server_request_refused(&self) {
        self.counters.increment(Counter::StdioServerRequestsRefused);
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

    /// `main`'s startup OAuth discovery has begun (not ready until it ends).
    pub fn oauth_pending(&self) {
        self.with_oauth(|o| o.phase = OauthPhase::Pending);
    }

    /// A startup or retry discovery ended: `Ok(outcome)` (selected or not
    /// advertised) makes the agent ready, `Err(class)` not ready.
    pub fn oauth_discovered(&self, result: Result<&'static str, &'static str>) {
        self.with_oauth(|o| match result {
            Ok(outcome) => {
                o.phase = OauthPhase::Settled;
                o.last_outcome = Some(outcome.to_string());
            }
            Err(class) => {
                o.phase = OauthPhase::Failed(class);
                o.last_outcome = Some(format!("failed: {class}"));
            }
        });
    }

    /// An `oauth_discovery` command ended. A success clears a pending or
    /// failed discovery; a failure never makes the agent not ready.
    pub fn oauth_command_finished(&self, result: Result<&'static str, &'static str>) {
        self.with_oauth(|o| match result {
            Ok(outcome) => {
                if o.phase != OauthPhase::Off {
                    o.phase = OauthPhase::Settled;
                }
                o.last_outcome = Some(outcome.to_string());
            }
            Err(class) => o.last_outcome = Some(format!("failed: {class}")),
        });
    }

    /// What the last selection found (origins and fixed words only).
    pub fn set_oauth_found(&self, found: OauthFound) {
        self.with_oauth(|o| o.found = Some(found));
    }

    fn with_oauth(&self, change: impl FnOnce(&mut OauthStatus)) {
        change(&mut self.oauth.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The targets Harpoon has now, `(label, source)`: the `target` label's values.
    pub fn set_harpoon_targets(&self, targets: &[(String, &'static str)]) {
        self.harpoon.set_targets(targets);
    }

    /// One Harpoon tool call ended.
    pub fn harpoon_call(&self, call: &harpoon::Call<'_>) {
        self.harpoon.record(call, self.unix_ms_at(self.now_ms()));
    }

    // ---- reading (admin server side) -------------------------------------------

    /// Harpoon's calls, for `/metrics` and the status page.
    pub fn harpoon(&self) -> &harpoon::HarpoonStats {
        &self.harpoon
    }

    pub fn oauth_status(&self) -> OauthStatus {
        self.oauth
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn connected(&self) -> bool {
        self.counters.level(Counter::Connected) != 0
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
        self.counters.level(Counter::InflightRequests)
    }

    pub fn queue_depth(&self) -> i64 {
        self.counters.level(Counter::QueueDepth)
    }

    pub fn mcp_restarts(&self) -> u64 {
        self.counters.count(Counter::McpRestarts)
    }

    /// A counter's count now.
    pub fn count(&self, counter: Counter) -> u64 {
        self.counters.count(counter)
    }

    /// A row of the counter table as its family's kind reads it, for `/metrics`.
    pub fn reading(&self, counter: Counter) -> Reading {
        self.counters.reading(counter)
    }

    /// A per-channel row for `/metrics` (0 for a channel not configured).
    pub fn channel_reading(&self, channel: &str, counter: ChannelCounter) -> Reading {
        match self.channels.get() {
            Some(values) => values.reading(channel, counter),
            None => match counter.kind() {
                counters::Kind::Counter => Reading::Count(0),
                counters::Kind::Gauge => Reading::Level(0),
            },
        }
    }

    /// `tunnel_client_request_duration_seconds` now.
    pub fn request_duration(&self) -> HistogramSnapshot {
        self.request_duration.snapshot()
    }

    /// `tunnel_client_poll_duration_seconds` now.
    pub fn poll_duration(&self) -> HistogramSnapshot {
        self.poll_duration.snapshot()
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
            mcp_probe: self.mcp_probe.get(),
            now_ms: self.now_ms(),
            oauth: self.oauth_status().phase,
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
        assert_eq!(
            (t.count(Counter::PollsEmpty), t.count(Counter::PollsError)),
            (1, 2)
        );
        assert_eq!(
            (
                t.count(Counter::ControlPlaneErrorsNetwork),
                t.count(Counter::ControlPlaneErrors5xx)
            ),
            (1, 1)
        );
        assert_eq!(t.poll_duration().count, 3);
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
        assert_eq!(t.count(Counter::RequestsError), 6);
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
