//! The relay's `relay_*` counters, gauges and caller latency histogram, and
//! their Prometheus text rendering. Labels are fixed enums: never ids or tokens.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// How a caller request ended, as the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The agent's terminal answer reached the caller (whatever its status).
    Answered,
    /// No terminal answer within the response timeout (504).
    Timeout,
    /// No agent polled recently (503).
    Offline,
    /// The tunnel's queue or the waiting-caller bound was full (503).
    Overloaded,
    /// The MCP session's pinned agent instance is gone (404).
    SessionGone,
    /// Malformed or oversized request, unknown tunnel, wrong method (4xx).
    Rejected,
    /// Missing or wrong caller token (401).
    Unauthorized,
    /// The relay is shutting down (503).
    ShuttingDown,
}

impl Outcome {
    const ALL: [Outcome; 8] = [
        Outcome::Answered,
        Outcome::Timeout,
        Outcome::Offline,
        Outcome::Overloaded,
        Outcome::SessionGone,
        Outcome::Rejected,
        Outcome::Unauthorized,
        Outcome::ShuttingDown,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Timeout => "timeout",
            Outcome::Offline => "offline",
            Outcome::Overloaded => "overloaded",
            Outcome::SessionGone => "session_gone",
            Outcome::Rejected => "rejected",
            Outcome::Unauthorized => "unauthorized",
            Outcome::ShuttingDown => "shutting_down",
        }
    }
}

/// Upper bounds (seconds) of the caller latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
];

/// Point-in-time values the relay reads from its state when rendering.
pub struct Gauges {
    pub queue_depth: usize,
    pub agents_connected: usize,
    pub open_polls: usize,
    pub waiting_callers: usize,
}

#[derive(Default)]
pub struct Metrics {
    outcomes: [AtomicU64; Outcome::ALL.len()],
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    polls: AtomicU64,
    commands_delivered: AtomicU64,
    redeliveries: AtomicU64,
    agent_auth_failures: AtomicU64,
}

impl Metrics {
    /// Records one finished caller request and how long it took.
    pub fn caller_finished(&self, outcome: Outcome, elapsed: Duration) {
        let index = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.outcomes[index].fetch_add(1, Relaxed);
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Relaxed);
    }

    pub fn poll_answered(&self, commands: usize) {
        self.polls.fetch_add(1, Relaxed);
        self.commands_delivered.fetch_add(commands as u64, Relaxed);
    }

    pub fn redelivered(&self) {
        self.redeliveries.fetch_add(1, Relaxed);
    }

    pub fn agent_auth_failed(&self) {
        self.agent_auth_failures.fetch_add(1, Relaxed);
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, value: usize| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
            );
        };
        let counter = |out: &mut String, name: &str, help: &str, value: &AtomicU64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Relaxed)
            );
        };
        gauge(
            &mut out,
            "relay_queue_depth",
            "Commands queued and not yet delivered to an agent.",
            gauges.queue_depth,
        );
        gauge(
            &mut out,
            "relay_agents_connected",
            "Agent instances with a poll open or a request in the live window.",
            gauges.agents_connected,
        );
        gauge(
            &mut out,
            "relay_open_polls",
            "Long-polls currently held open.",
            gauges.open_polls,
        );
        gauge(
            &mut out,
            "relay_waiting_callers",
            "Caller requests waiting for an agent's answer.",
            gauges.waiting_callers,
        );
        out.push_str(
            "# HELP relay_caller_requests_total Caller requests by outcome.\n\
             # TYPE relay_caller_requests_total counter\n",
        );
        for (outcome, value) in Outcome::ALL.iter().zip(&self.outcomes) {
            let _ = writeln!(
                out,
                "relay_caller_requests_total{{outcome=\"{}\"}} {}",
                outcome.label(),
                value.load(Relaxed)
            );
        }
        out.push_str(
            "# HELP relay_caller_request_duration_seconds Caller request latency through the relay.\n\
             # TYPE relay_caller_request_duration_seconds histogram\n",
        );
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "relay_caller_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Relaxed)
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            out,
            "relay_caller_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "relay_caller_request_duration_seconds_sum {}",
            self.latency_sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "relay_caller_request_duration_seconds_count {count}");
        counter(
            &mut out,
            "relay_polls_total",
            "Agent polls answered.",
            &self.polls,
        );
        counter(
            &mut out,
            "relay_commands_delivered_total",
            "Commands handed to agents (redeliveries included).",
            &self.commands_delivered,
        );
        counter(
            &mut out,
            "relay_redeliveries_total",
            "Unconfirmed deliveries requeued because their agent went silent.",
            &self.redeliveries,
        );
        counter(
            &mut out,
            "relay_agent_auth_failures_total",
            "Agent requests refused for a wrong or missing key.",
            &self.agent_auth_failures,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_outcomes_and_histogram() {
        let m = Metrics::default();
        m.caller_finished(Outcome::Answered, Duration::from_millis(3));
        m.caller_finished(Outcome::Timeout, Duration::from_secs(40));
        let text = m.render(&Gauges {
            queue_depth: 2,
            agents_connected: 1,
            open_polls: 1,
            waiting_callers: 0,
        });
        assert!(text.contains("relay_queue_depth 2\n"));
        assert!(text.contains("relay_caller_requests_total{outcome=\"answered\"} 1\n"));
        assert!(text.contains("relay_caller_requests_total{outcome=\"timeout\"} 1\n"));
        assert!(text.contains("relay_caller_request_duration_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("relay_caller_request_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("relay_caller_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("relay_caller_request_duration_seconds_count 2\n"));
    }
}
