//! The Prometheus text format 0.0.4 writer shared by the agent's `/metrics` and the
//! relay's: headers, samples with escaped label values, histograms. Formatting only: no I/O, no state.

use super::histogram::{bound_seconds, HistogramSnapshot};
use std::fmt::{Display, Write};

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `# TYPE` of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
    Histogram,
}

impl Type {
    pub fn as_str(self) -> &'static str {
        match self {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
            Type::Histogram => "histogram",
        }
    }
}

/// `# HELP` and `# TYPE` of a family: written once, before its first sample.
pub fn header(out: &mut String, name: &str, kind: Type, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
}

/// One sample line. Label values are escaped, so a run-time value (a channel
/// name) cannot break the line; label names are the caller's constants.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"");
            escape_label_value(out, value);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn escape_label_value(out: &mut String, value: &str) {
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(ch),
        }
    }
}

/// A whole histogram family: header, one `_bucket` per bound and `+Inf`,
/// `_sum` and `_count`.
pub fn histogram(out: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    header(out, name, Type::Histogram, help);
    let bucket = format!("{name}_bucket");
    for (bound, count) in h.bounds_micros.iter().zip(&h.cumulative) {
        let le = bound_seconds(*bound).to_string();
        sample(out, &bucket, &[("le", &le)], count);
    }
    sample(out, &bucket, &[("le", "+Inf")], h.count);
    let _ = writeln!(out, "{name}_sum {}", h.sum_seconds);
    let _ = writeln!(out, "{name}_count {}", h.count);
}

/// What a histogram's bounds and sum count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Recorded in microseconds, shown in seconds.
    Seconds,
    /// Recorded and shown as whole bytes.
    Bytes,
}

/// The samples of one labelled histogram series (its family's header is the
/// caller's): `_bucket` per bound and `+Inf` with `labels` first, `_sum`, `_count`.
pub fn histogram_series(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    h: &HistogramSnapshot,
    unit: Unit,
) {
    let bucket = format!("{name}_bucket");
    let les = h.bounds_micros.iter().map(|bound| match unit {
        Unit::Seconds => bound_seconds(*bound).to_string(),
        Unit::Bytes => bound.to_string(),
    });
    let counts = h.cumulative.iter().copied();
    for (le, count) in les.chain(["+Inf".to_string()]).zip(counts) {
        let mut all: Vec<(&str, &str)> = labels.to_vec();
        all.push(("le", &le));
        sample(out, &bucket, &all, count);
    }
    match unit {
        Unit::Seconds => sample(out, &format!("{name}_sum"), labels, h.sum_seconds),
        Unit::Bytes => sample(out, &format!("{name}_sum"), labels, h.sum),
    }
    sample(out, &format!("{name}_count"), labels, h.count);
}

/// A valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
#[cfg(test)]
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A valid label name that is ours to use: `[a-zA-Z_][a-zA-Z0-9_]*`, not
/// reserved (`__…`) and not `le`, which histograms own.
#[cfg(test)]
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
        && name != "le"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::histogram::Histogram;
    use std::time::Duration;

    #[test]
    fn label_values_are_escaped() {
        let mut w = String::new();
        sample(&mut w, "m", &[("channel", "a\"b\\c\nd")], 1);
        assert_eq!(w, "m{channel=\"a\\\"b\\\\c\\nd\"} 1\n");
    }

    #[test]
    fn samples_with_several_labels_and_none() {
        let mut w = String::new();
        sample(&mut w, "m", &[], -3i64);
        sample(&mut w, "m", &[("a", "1"), ("b", "2")], 4u64);
        assert_eq!(w, "m -3\nm{a=\"1\",b=\"2\"} 4\n");
    }

    #[test]
    fn a_header_is_help_then_type() {
        let mut w = String::new();
        header(&mut w, "m_total", Type::Counter, "Things.");
        assert_eq!(w, "# HELP m_total Things.\n# TYPE m_total counter\n");
    }

    #[test]
    fn histograms_render_cumulative_buckets_sum_and_count() {
        static BOUNDS: [u64; 3] = [500, 5_000, 1_000_000];
        let h = Histogram::new(&BOUNDS);
        h.record(Duration::from_micros(500));
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(2));
        let mut w = String::new();
        histogram(&mut w, "d_seconds", "Durations.", &h.snapshot());
        assert_eq!(
            w,
            "# HELP d_seconds Durations.\n\
             # TYPE d_seconds histogram\n\
             d_seconds_bucket{le=\"0.0005\"} 1\n\
             d_seconds_bucket{le=\"0.005\"} 2\n\
             d_seconds_bucket{le=\"1\"} 2\n\
             d_seconds_bucket{le=\"+Inf\"} 3\n\
             d_seconds_sum 2.0035\n\
             d_seconds_count 3\n"
        );
    }

    #[test]
    fn names_are_checked_against_the_format() {
        assert!(is_metric_name("tunnel_client_polls_total"));
        assert!(is_metric_name("a:b"));
        assert!(!is_metric_name(""));
        assert!(!is_metric_name("1abc"));
        assert!(!is_metric_name("a-b"));
        assert!(is_label_name("status_class"));
        assert!(!is_label_name("le"));
        assert!(!is_label_name("__name__"));
        assert!(!is_label_name("a:b"));
        assert!(!is_label_name(""));
    }
}
