//! The health state the recorder keeps for readiness and liveness: the snapshot
//! the rules read and the watchdog limits. The rules themselves live in the admin server.

use super::startup::McpProbe;
use std::time::Duration;

/// How a failed poll failed, for the reason text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollFailure {
    Http(u16),
    Network,
}

/// What the rules look at, read from the telemetry at one instant.
/// Times are milliseconds since the process started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    pub now_ms: u64,
    /// Shutdown has begun: not ready, and the watchdog stands down.
    pub draining: bool,
    /// A poll has reached the control plane and been answered 200/204.
    pub first_poll_ok: bool,
    /// The last answered poll was 401/403 (that status).
    pub auth_refused: Option<u16>,
    /// Since when polls have been failing without interruption.
    pub failing_since_ms: Option<u64>,
    pub last_failure: Option<PollFailure>,
    /// Forwarded commands in a row that ended in synthesized failures.
    pub synthesized_streak: u32,
    pub poll_heartbeat_ms: u64,
    pub poll_stall_limit_ms: u64,
    /// Per worker: the time by which it must have reported again.
    pub worker_due_ms: Vec<u64>,
    /// Where `main`'s OAuth discovery stands.
    pub oauth: super::OauthPhase,
    /// The startup probe of an HTTP `main`.
    pub mcp_probe: McpProbe,
}

/// Slack the poll loop allows a long-poll beyond its `timeout_ms` (the poll
/// request's own grace, `agent::control::POLL_GRACE`).
pub const POLL_DEADLINE_SLACK: Duration = Duration::from_secs(5);
/// Longest pause between two polls: backoff cap 30 s, `Retry-After` capped at
/// 60 s, 401/403 retried once a minute (the caps in `agent::poll`).
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
    /// Longest silence of a worker after [`worker_heartbeat`](super::Telemetry::worker_heartbeat)
    /// (extended per command by [`worker_busy`](super::Telemetry::worker_busy)).
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

/// The poll timeout the default limits assume until the agent sets its own:
/// the configuration's default (a test in the agent holds them equal).
pub const ASSUMED_POLL_TIMEOUT: Duration = Duration::from_secs(30);
/// The request timeout the default limits assume, likewise.
pub const ASSUMED_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for WatchdogLimits {
    fn default() -> Self {
        WatchdogLimits::for_agent(ASSUMED_POLL_TIMEOUT, ASSUMED_REQUEST_TIMEOUT)
    }
}
