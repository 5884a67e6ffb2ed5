//! The counter tables: every counter and gauge the agent records, with its
//! Prometheus name, help, kind and labels, over arrays of atomics. Never a label value from a peer.
//!
//! A new metric is one entry in a [`counter_table!`] below: the recorder indexes
//! the array by [`Counter`] and `/metrics` writes [`FAMILIES`] in order, so
//! nothing else spells the name. A family with labels lists each fixed label
//! set as its own row, so its cardinality is the number of rows.
//!
//! Labels whose values are only known at run time come from the validated
//! configuration, never from a peer, so their sets stay bounded too. The one
//! such label is `channel`: [`CHANNEL_FAMILIES`] are written once per channel
//! the configuration enables ([`ChannelValues`] holds one row of cells per
//! channel name), with `channel` as their first label. A command for a
//! channel the configuration does not know is never counted there.

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
pub struct Family<C: 'static = Counter> {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub label_names: &'static [&'static str],
    pub series: &'static [Series<C>],
}

/// One row of the table: the counter and its label values, in the order of
/// the family's label names.
#[derive(Debug)]
pub struct Series<C: 'static = Counter> {
    pub counter: C,
    pub label_values: &'static [&'static str],
}

impl<C> Series<C> {
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
    ($(#[$doc:meta])* enum $enum:ident, static $families:ident;
    $(
        family $name:literal, $kind:ident, labels [$($label:literal),*], $help:literal {
            $($counter:ident [$($value:literal),*]),+ $(,)?
        }
    )+) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $enum {
            $($($counter,)+)+
        }

        impl $enum {
            /// Every counter, in table order (= discriminant order).
            pub const ALL: &'static [$enum] = &[$($($enum::$counter,)+)+];

            /// Its family's kind.
            pub fn kind(self) -> Kind {
                match self {
                    $($($enum::$counter => Kind::$kind,)+)+
                }
            }

            /// Its index in its array of atomics.
            pub fn index(self) -> usize {
                self as usize
            }
        }

        /// Every family, in the order `/metrics` writes them.
        pub static $families: &[Family<$enum>] = &[$(
            Family {
                name: $name,
                kind: Kind::$kind,
                help: $help,
                label_names: &[$($label),*],
                series: &[$(Series { counter: $enum::$counter, label_values: &[$($value),*] }),+],
            },
        )+];
    };
}

counter_table! {
    /// One series the agent records. Its discriminant is its index in the
    /// array of atomics.
    enum Counter, static FAMILIES;
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
    family "tunnel_client_unsupported_channel_commands_total", Counter, labels [],
        "Commands for a channel this agent does not serve, answered 400 at once." {
        UnsupportedChannel [],
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
}

counter_table! {
    /// One series recorded per channel; `/metrics` adds the `channel` label.
    /// The variants carry their family's `channel_` prefix on purpose: they
    /// read as the metric names they count.
    #[allow(clippy::enum_variant_names)]
    enum ChannelCounter, static CHANNEL_FAMILIES;
    family "tunnel_client_channel_requests_total", Counter, labels ["status"],
        "Commands answered, by channel and status." {
        ChannelRequestsSuccess ["success"],
        ChannelRequestsError ["error"],
    }
    family "tunnel_client_channel_inflight_requests", Gauge, labels [],
        "Commands a worker is handling now, by channel." {
        ChannelInflight [],
    }
}

/// The [`ChannelCounter`] cells of every configured channel: one row of
/// atomics per name, fixed at startup. Recording for a name that is not a
/// row does nothing, so a peer's channel name never becomes a label.
#[derive(Debug, Default)]
pub struct ChannelValues {
    names: Vec<String>,
    cells: Box<[AtomicU64]>,
}

impl ChannelValues {
    /// Rows for `names` (the channels the configuration enables).
    pub fn new(names: &[String]) -> ChannelValues {
        let len = names.len().saturating_mul(ChannelCounter::ALL.len());
        ChannelValues {
            names: names.to_vec(),
            cells: (0..len).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The channel names, in row order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn cell(&self, channel: &str, counter: ChannelCounter) -> Option<&AtomicU64> {
        let row = self.names.iter().position(|n| n == channel)?;
        let index = row
            .checked_mul(ChannelCounter::ALL.len())?
            .checked_add(counter.index())?;
        self.cells.get(index)
    }

    pub fn increment(&self, channel: &str, counter: ChannelCounter) {
        if let Some(cell) = self.cell(channel, counter) {
            cell.fetch_add(1, Relaxed);
        }
    }

    pub fn decrement(&self, channel: &str, counter: ChannelCounter) {
        if let Some(cell) = self.cell(channel, counter) {
            cell.fetch_sub(1, Relaxed);
        }
    }

    /// The value as its family's kind reads it (0 for an unknown channel).
    pub fn reading(&self, channel: &str, counter: ChannelCounter) -> Reading {
        let raw = self.cell(channel, counter).map_or(0, |c| c.load(Relaxed));
        match counter.kind() {
            Kind::Counter => Reading::Count(raw),
            Kind::Gauge => Reading::Level(raw as i64),
        }
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
    fn channel_families_are_valid_and_rows_only_for_configured_names() {
        for family in CHANNEL_FAMILIES {
            assert!(is_metric_name(family.name) && family.name.starts_with("tunnel_client_"));
            assert!(!family.label_names.contains(&"channel"), "{}", family.name);
            assert!(FAMILIES.iter().all(|f| f.name != family.name));
        }
        let v = ChannelValues::new(&["main".to_string(), "tools".to_string()]);
        v.increment("tools", ChannelCounter::ChannelRequestsError);
        v.increment("peer-chosen", ChannelCounter::ChannelRequestsError);
        v.decrement("main", ChannelCounter::ChannelInflight);
        assert_eq!(
            v.reading("tools", ChannelCounter::ChannelRequestsError),
            Reading::Count(1)
        );
        assert_eq!(
            v.reading("main", ChannelCounter::ChannelRequestsError),
            Reading::Count(0)
        );
        assert_eq!(
            v.reading("main", ChannelCounter::ChannelInflight),
            Reading::Level(-1)
        );
        assert_eq!(
            v.reading("peer-chosen", ChannelCounter::ChannelRequestsError),
            Reading::Count(0)
        );
        assert_eq!(v.names(), ["main", "tools"]);
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
