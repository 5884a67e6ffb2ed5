//! The relay's `relay_*` counters, gauges and caller latency histogram, written
//! with the shared Prometheus writer. Labels are fixed enums: never ids or tokens.

use crate::telemetry::histogram::Histogram;
use crate::telemetry::prometheus::{header, histogram, sample, Type};
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
    /// The agent that took the request went away before answering (502).
    AgentGone,
    /// Malformed or oversized request, unknown tunnel, wrong method (4xx).
    Rejected,
    /// Missing or wrong caller token (401).
    Unauthorized,
    /// The relay is shutting down (503).
    ShuttingDown,
}

impl Outcome {
    const ALL: [Outcome; 9] = [
        Outcome::Answered,
        Outcome::Timeout,
        Outcome::Offline,
        Outcome::Overloaded,
        Outcome::SessionGone,
        Outcome::AgentGone,
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
            Outcome::AgentGone => "agent_gone",
            Outcome::Rejected => "rejected",
            Outcome::Unauthorized => "unauthorized",
            Outcome::ShuttingDown => "shutting_down",
        }
    }
}

/// Upper bounds (microseconds, 0.5 ms to 30 s) of the caller latency
/// histogram buckets; `+Inf` follows.
const LATENCY_BUCKETS_MICROS: [u64; 12] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000,
    30_000_000,
];

/// Point-in-time values the relay reads from its state when rendering.
pub struct Gauges {
    pub queue_depth: usize,
    pub agents_connected: usize,
    pub open_polls: usize,
    pub waiting_callers: usize,
}

pub struct Metrics {
    outcomes: [AtomicU64; Outcome::ALL.len()],
    latency: Histogram,
    polls: AtomicU64,
    commands_delivered: AtomicU64,
    redeliveries: AtomicU64,
    agent_auth_failures: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            outcomes: Default::default(),
            latency: Histogram::new(&LATENCY_BUCKETS_MICROS),
            polls: AtomicU64::new(0),
            commands_delivered: AtomicU64::new(0),
            redeliveries: AtomicU64::new(0),
            agent_auth_failures: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Records one finished caller request and how long it took.
    pub fn caller_finished(&self, outcome: Outcome, elapsed: Duration) {
        let index = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.outcomes[index].fetch_add(1, Relaxed);
        self.latency.record(elapsed);
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
        let w = &mut out;
        let gauge = |w: &mut String, name: &str, help: &str, value: usize| {
            header(w, name, Type::Gauge, help);
            sample(w, name, &[], value);
        };
        let counter = |w: &mut String, name: &str, help: &str, value: &AtomicU64| {
            header(w, name, Type::Counter, help);
            sample(w, name, &[], value.load(Relaxed));
        };
        gauge(
            w,
            "relay_queue_depth",
            "Commands queued and not yet delivered to an agent.",
            gauges.queue_depth,
        );
        gauge(
            w,
            "relay_agents_connected",
            "Agent instances with a poll open or a request in the live window.",
            gauges.agents_connected,
        );
        gauge(
            w,
            "relay_open_polls",
            "Long-polls currently held open.",
            gauges.open_polls,
        );
        gauge(
            w,
            "relay_waiting_callers",
            "Caller requests waiting for an agent's answer.",
            gauges.waiting_callers,
        );
        header(
            w,
            "relay_caller_requests_total",
            Type::Counter,
            "Caller requests by outcome.",
        );
        for (outcome, value) in Outcome::ALL.iter().zip(&self.outcomes) {
            sample(
                w,
                "relay_caller_requests_total",
                &[("outcome", outcome.label())],
                value.load(Relaxed),
            );
        }
        histogram(
            w,
            "relay_caller_request_duration_seconds",
            "Caller request latency through the relay.",
            &self.latency.snapshot(),
        );
        counter(w, "relay_polls_total", "Agent polls answered.", &self.polls);
        counter(
            w,
            "relay_commands_delivered_total",
            "Commands handed to agents (redeliveries included).",
            &self.commands_delivered,
        );
        counter(
            w,
            "relay_redeliveries_total",
            "Unconfirmed deliveries requeued because their agent went silent.",
            &self.redeliveries,
        );
        counter(
            w,
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
