//! How polls, commands and response POSTs ended: the words the agent reports
//! to the recorder. Pure data; a record never carries arguments, results, headers or tokens.

use super::counters::Counter;
use std::time::Duration;

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
    /// Answered at once by the agent itself, the MCP server untouched: a
    /// channel this agent does not serve, or `oauth_discovery`'s own answer
    /// that is not metadata. Never counts against the MCP server's readiness.
    Answered,
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
            CommandOutcome::Answered => "answered_by_agent",
            CommandOutcome::Dropped(DropReason::Expired) => "dropped: expired",
            CommandOutcome::Dropped(DropReason::UnknownType) => "dropped: unknown type",
            CommandOutcome::Dropped(DropReason::Shutdown) => "dropped: shutdown",
            CommandOutcome::PostFailed => "post_failed",
        }
    }
}

/// Why a command ended without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    Expired,
    UnknownType,
    Shutdown,
}

impl DropReason {
    /// The row of `tunnel_client_commands_dropped_total` it counts in.
    pub fn counter(self) -> Counter {
        match self {
            DropReason::Expired => Counter::DroppedExpired,
            DropReason::UnknownType => Counter::DroppedUnknownType,
            DropReason::Shutdown => Counter::DroppedShutdown,
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

impl PostResult {
    /// The row of `tunnel_client_responses_total` it counts in.
    pub fn counter(self) -> Counter {
        match self {
            PostResult::Ok => Counter::ResponsesOk,
            PostResult::Retried => Counter::ResponsesRetried,
            PostResult::Failed => Counter::ResponsesFailed,
            PostResult::Gone => Counter::ResponsesGone,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::counters::{Family, FAMILIES};

    fn family_of(counter: Counter) -> &'static Family {
        FAMILIES
            .iter()
            .find(|f| f.series.iter().any(|s| s.counter == counter))
            .expect("every counter has a row")
    }

    fn label_of(counter: Counter) -> &'static str {
        family_of(counter)
            .series
            .iter()
            .find(|s| s.counter == counter)
            .map_or("", |s| s.label_values[0])
    }

    #[test]
    fn drop_reasons_count_in_their_own_row() {
        let rows = [
            (DropReason::Expired, "expired"),
            (DropReason::UnknownType, "unknown_type"),
            (DropReason::Shutdown, "shutdown"),
        ];
        for (reason, label) in rows {
            let counter = reason.counter();
            assert_eq!(
                family_of(counter).name,
                "tunnel_client_commands_dropped_total"
            );
            assert_eq!(label_of(counter), label);
        }
    }

    #[test]
    fn post_results_count_in_their_own_row() {
        let rows = [
            (PostResult::Ok, "ok"),
            (PostResult::Retried, "retried"),
            (PostResult::Failed, "failed"),
            (PostResult::Gone, "gone"),
        ];
        for (result, label) in rows {
            let counter = result.counter();
            assert_eq!(family_of(counter).name, "tunnel_client_responses_total");
            assert_eq!(label_of(counter), label);
        }
    }
}
