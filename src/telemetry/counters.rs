//! The counter table: every counter and gauge the agent records, with its
//! Prometheus name, help, kind and labels, over one array of atomics. Never a label value from a peer.
//!
//! A new metric is one entry in [`counter_table!`] below: the recorder indexes
//! the array by [`Counter`] and `/metrics` writes [`FAMILIES`] in order, so
//! nothing else spells the name. A family with labels lists each fixed label
//! set as its own row, so its cardinality is the number of rows. Labels whose
//! values are only known at run time (a channel name, a Harpoon target) must
//! come from the validated configuration, never from a peer, so their sets stay
//! bounded too; the writer already takes label values as run-time strings.

use super::prometheus::Type;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// How a family's values move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only ever grows (until the process restarts).
    Counter,
    /// Goes up and down; read as a signed number.
    Gauge,
}

impl Kind {
    pub fn prometheus_type(self) -> Type {
        match self {
            Kind::Counter => Type::Counter,
            Kind::Gauge => Type::Gauge,
        }
    }
}

/// One metric family: a name, its help, its kind, its label names, and one
/// [`Series`] per fixed set of label values.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub label_names: &'static [&'static str],
    pub series: &'static [Series],
}

/// One row of the table: the counter and its label values, in the order of
/// the family's label names.
#[derive(Debug)]
pub struct Series {
    pub counter: Counter,
    pub label_values: &'static [&'static str],
}

impl Series {
    /// `(name, value)` pairs for the writer.
    pub fn labels(&self, names: &'static [&'static str]) -> Vec<(&'static str, &'static str)> {
        names
            .iter()
            .copied()
            .zip(self.label_values.iter().copied())
            .collect()
    }
}

/// Declares [`Counter`] (one variant per row, in table order) and
/// [`FAMILIES`] (in exposition order) from one list, so that the two cannot
/// disagree.
macro_rules! counter_table {
    ($(
        family $name:literal, $kind:ident, labels [$($label:literal),*], $help:literal {
            $($counter:ident [$($value:literal),*]),+ $(,)?
        }
    )+) => {
        /// One series the agent records. Its discriminant is its index in the
        /// array of atomics.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Counter {
            $($($counter,)+)+
        }

        impl Counter {
            /// Every counter, in table order (= discriminant order).
            pub const ALL: &'static [Counter] = &[$($(Counter::$counter,)+)+];

            /// Its family's kind.
            pub fn kind(self) -> Kind {
                match self {
                    $($(Counter::$counter => Kind::$kind,)+)+
                }
            }
        }

        /// Every family, in the order `/metrics` writes them.
        pub static FAMILIES: &[Family] = &[$(
            Family {
                name: $name,
                kind: Kind::$kind,
                help: $help,
                label_names: &[$($label),*],
                series: &[$(Series { counter: Counter::$counter, label_values: &[$($value),*] }),+],
            },
        )+];
    };
}

counter_table! {
    family "tunnel_client_connected", Gauge, labels [],
        "1 when the last poll reached the control plane." {
        Connected [],
    }
    family "tunnel_client_requests_total", Counter, labels ["status"],
        "Commands answered, by status." {
        RequestsSuccess ["success"],
        RequestsError ["error"],
    }
    family "tunnel_client_inflight_requests", Gauge, labels [],
        "Commands a worker is handling now." {
        InflightRequests [],
    }
    family "tunnel_client_queue_depth", Gauge, labels [],
        "Commands received but not yet picked up by a worker." {
        QueueDepth [],
    }
    family "tunnel_client_polls_total", Counter, labels ["result"],
        "Polls of the control plane, by result." {
        PollsCommands ["commands"],
        PollsEmpty ["empty"],
        PollsError ["error"],
    }
    family "tunnel_client_responses_total", Counter, labels ["result"],
        "Terminal response POSTs by how they ended." {
        ResponsesOk ["ok"],
        ResponsesRetried ["retried"],
        ResponsesFailed ["failed"],
        ResponsesGone ["gone"],
    }
    family "tunnel_client_commands_dropped_total", Counter, labels ["reason"],
        "Commands dropped without a response, by reason." {
        DroppedExpired ["expired"],
        DroppedUnknownType ["unknown_type"],
        DroppedShutdown ["shutdown"],
    }
    family "tunnel_client_notifications_posted_total", Counter, labels [],
        "MCP notifications delivered to the control plane." {
        NotificationsPosted [],
    }
    family "tunnel_client_control_plane_errors_total", Counter, labels ["class"],
        "Failed control-plane requests by HTTP status class (network: no answer)." {
        ControlPlaneErrors4xx ["4xx"],
        ControlPlaneErrors5xx ["5xx"],
        ControlPlaneErrorsOther ["other"],
        ControlPlaneErrorsNetwork ["network"],
    }
    family "tunnel_client_mcp_restarts_total", Counter, labels [],
        "Restarts of stdio MCP server children." {
        McpRestarts [],
    }
    family "tunnel_client_stdio_server_requests_refused_total", Counter, labels [],
        "Requests from a stdio MCP server to the client, refused because the tunnel cannot carry them." {
        StdioServerRequestsRefused [],
    }
    family "tunnel_client_admin_abandoned_connections_total", Counter, labels [],
        "Admin requests with a body, refused with their connection left open (the server stops at 64)." {
        AdminAbandonedConnections [],
    }
}

impl Counter {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One value read from the table, typed by its family's [`Kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Count(u64),
    Level(i64),
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reading::Count(n) => write!(f, "{n}"),
            Reading::Level(n) => write!(f, "{n}"),
        }
    }
}

/// The values of every [`Counter`], one atomic each. Gauges keep their signed
/// value in two's complement, so a decrement below zero reads as negative
/// instead of wrapping to a huge count. Recording is one relaxed atomic op.
pub struct CounterValues {
    cells: [AtomicU64; Counter::ALL.len()],
}

impl Default for CounterValues {
    fn default() -> Self {
        Self::new()
    }
}

impl CounterValues {
    pub fn new() -> Self {
        CounterValues {
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn cell(&self, counter: Counter) -> &AtomicU64 {
        // In bounds by construction: the array has one cell per variant.
        &self.cells[counter.index()]
    }

    /// Adds one.
    pub fn increment(&self, counter: Counter) {
        self.cell(counter).fetch_add(1, Relaxed);
    }

    /// Subtracts one (gauges only).
    pub fn decrement(&self, counter: Counter) {
        self.cell(counter).fetch_sub(1, Relaxed);
    }

    /// Sets a gauge.
    pub fn set(&self, counter: Counter, value: i64) {
        self.cell(counter).store(value as u64, Relaxed);
    }

    /// Sets a gauge and returns its previous value.
    pub fn swap(&self, counter: Counter, value: i64) -> i64 {
        self.cell(counter).swap(value as u64, Relaxed) as i64
    }

    /// A counter's count.
    pub fn count(&self, counter: Counter) -> u64 {
        self.cell(counter).load(Relaxed)
    }

    /// A gauge's level.
    pub fn level(&self, counter: Counter) -> i64 {
        self.cell(counter).load(Relaxed) as i64
    }

    /// The value as its family's kind reads it.
    pub fn reading(&self, counter: Counter) -> Reading {
        match counter.kind() {
            Kind::Counter => Reading::Count(self.count(counter)),
            Kind::Gauge => Reading::Level(self.level(counter)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::prometheus::{is_label_name, is_metric_name};
    use std::collections::HashSet;

    #[test]
    fn every_counter_is_exactly_one_row_at_its_own_index() {
        let rows: Vec<Counter> = FAMILIES
            .iter()
            .flat_map(|f| f.series.iter().map(|s| s.counter))
            .collect();
        assert_eq!(rows, Counter::ALL, "table order is discriminant order");
        for (index, counter) in Counter::ALL.iter().enumerate() {
            assert_eq!(counter.index(), index, "{counter:?}");
        }
    }

    #[test]
    fn family_names_are_unique_valid_and_documented() {
        let mut names = HashSet::new();
        for family in FAMILIES {
            assert!(names.insert(family.name), "duplicate {}", family.name);
            assert!(is_metric_name(family.name), "{}", family.name);
            assert!(family.name.starts_with("tunnel_client_"), "{}", family.name);
            assert_eq!(
                family.name.ends_with("_total"),
                family.kind == Kind::Counter,
                "counters and only counters end in _total: {}",
                family.name
            );
            assert!(
                !family.help.trim().is_empty(),
                "{} has no help",
                family.name
            );
            assert!(!family.help.contains('\n'), "{}", family.name);
            assert!(!family.series.is_empty(), "{}", family.name);
        }
    }

    #[test]
    fn every_series_has_a_unique_complete_label_set() {
        let mut series_ids = HashSet::new();
        for family in FAMILIES {
            let keys: HashSet<_> = family.label_names.iter().collect();
            assert_eq!(keys.len(), family.label_names.len(), "{}", family.name);
            for key in family.label_names {
                assert!(is_label_name(key), "{}: {key}", family.name);
            }
            for series in family.series {
                assert_eq!(
                    series.label_values.len(),
                    family.label_names.len(),
                    "{:?}",
                    series.counter
                );
                assert!(
                    series.label_values.iter().all(|v| !v.is_empty()),
                    "{:?}",
                    series.counter
                );
                assert!(
                    series_ids.insert((family.name, series.label_values)),
                    "{} has {:?} twice",
                    family.name,
                    series.label_values
                );
            }
        }
        assert_eq!(series_ids.len(), Counter::ALL.len());
    }

    #[test]
    fn every_counter_knows_its_familys_kind() {
        for family in FAMILIES {
            for series in family.series {
                assert_eq!(series.counter.kind(), family.kind, "{:?}", series.counter);
            }
        }
    }

    #[test]
    fn gauges_read_signed_and_counters_unsigned() {
        let v = CounterValues::new();
        v.decrement(Counter::InflightRequests);
        assert_eq!(v.level(Counter::InflightRequests), -1);
        assert_eq!(v.reading(Counter::InflightRequests).to_string(), "-1");
        v.increment(Counter::InflightRequests);
        v.set(Counter::QueueDepth, 7);
        assert_eq!(v.swap(Counter::QueueDepth, 2), 7);
        assert_eq!(v.level(Counter::QueueDepth), 2);
        v.increment(Counter::PollsEmpty);
        v.increment(Counter::PollsEmpty);
        assert_eq!(v.reading(Counter::PollsEmpty), Reading::Count(2));
        assert_eq!(v.count(Counter::InflightRequests), 0);
        assert_eq!(v.count(Counter::PollsError), 0, "cells are independent");
    }
}
