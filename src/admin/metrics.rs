//! Renders `/metrics` from a telemetry reading: the counter table, histograms,
//! channel and process gauges. Reads only, plus /proc; never labels anything with a secret.

use crate::contract::CLIENT_VERSION;
use crate::mcp::BackendStatus;
use crate::telemetry::counters::{CHANNEL_FAMILIES, FAMILIES};
use crate::telemetry::harpoon::HarpoonStats;
use crate::telemetry::prometheus::{header, histogram, histogram_series, sample, Type, Unit};
use crate::telemetry::Telemetry;
use std::fmt::Write;

/// Everything `/metrics` shows besides the telemetry itself.
pub struct Extras<'a> {
    pub ready: bool,
    pub channels: &'a [(String, BackendStatus)],
}

/// The whole exposition: build info and readiness, every family of the
/// counter table in order, the duration histograms, the channels, the process.
pub fn render(telemetry: &Telemetry, extras: &Extras<'_>) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let w = &mut out;

    header(
        w,
        "tunnel_client_build_info",
        Type::Gauge,
        "Build information; always 1.",
    );
    sample(
        w,
        "tunnel_client_build_info",
        &[("version", CLIENT_VERSION)],
        1,
    );

    header(
        w,
        "tunnel_client_ready",
        Type::Gauge,
        "1 when /readyz answers 200.",
    );
    sample(w, "tunnel_client_ready", &[], u64::from(extras.ready));

    for family in FAMILIES {
        header(w, family.name, family.kind.prometheus_type(), family.help);
        for series in family.series {
            let labels = series.labels(family.label_names);
            sample(w, family.name, &labels, telemetry.reading(series.counter));
        }
    }

    // One series per configured channel: the label values come from the
    // validated configuration only.
    let names: &[String] = telemetry
        .channel_values()
        .map(|values| values.names())
        .unwrap_or_default();
    for family in CHANNEL_FAMILIES {
        header(w, family.name, family.kind.prometheus_type(), family.help);
        for name in names {
            for series in family.series {
                let mut labels = vec![("channel", name.as_str())];
                labels.extend(series.labels(family.label_names));
                sample(
                    w,
                    family.name,
                    &labels,
                    telemetry.channel_reading(name, series.counter),
                );
            }
        }
    }

    histogram(
        w,
        "tunnel_client_request_duration_seconds",
        "Command duration from poll receipt to the terminal response being accepted.",
        &telemetry.request_duration(),
    );
    histogram(
        w,
        "tunnel_client_poll_duration_seconds",
        "Duration of each poll of the control plane, long-poll wait included.",
        &telemetry.poll_duration(),
    );

    harpoon(w, telemetry.harpoon());

    header(
        w,
        "tunnel_client_mcp_up",
        Type::Gauge,
        "1 when the channel's MCP server is up.",
    );
    for (name, status) in extras.channels {
        sample(
            w,
            "tunnel_client_mcp_up",
            &[("channel", name), ("kind", status.kind)],
            u64::from(status.up),
        );
    }

    process(w, telemetry);
    out
}

/// Harpoon's families. `target` values are configured or OAuth-discovered
/// labels (or `__unknown__`); series that never moved are left out.
fn harpoon(w: &mut String, stats: &HarpoonStats) {
    header(
        w,
        "tunnel_client_harpoon_targets",
        Type::Gauge,
        "Harpoon targets now (configured and OAuth-discovered).",
    );
    sample(
        w,
        "tunnel_client_harpoon_targets",
        &[],
        stats.target_count(),
    );

    const CALLS: &str = "tunnel_client_harpoon_calls_total";
    header(
        w,
        CALLS,
        Type::Counter,
        "Harpoon tool calls by target, tool, outcome and HTTP status class.",
    );
    for s in stats.call_series() {
        let labels = [
            ("target", s.target),
            ("tool", s.tool),
            ("outcome", s.outcome),
            ("status_class", s.status_class),
        ];
        sample(w, CALLS, &labels, s.count);
    }

    const DURATION: &str = "tunnel_client_harpoon_call_duration_seconds";
    header(
        w,
        DURATION,
        Type::Histogram,
        "Duration of Harpoon tool calls, redirects and body included.",
    );
    for (target, tool, outcome, h) in stats.durations() {
        let labels = [("target", target), ("tool", tool), ("outcome", outcome)];
        histogram_series(w, DURATION, &labels, &h, Unit::Seconds);
    }

    let per_target = stats.per_target();
    const BYTES: &str = "tunnel_client_harpoon_response_bytes";
    header(
        w,
        BYTES,
        Type::Histogram,
        "Response body bytes Harpoon returned (after gzip decoding), by target.",
    );
    for (target, h, _) in &per_target {
        histogram_series(w, BYTES, &[("target", target)], h, Unit::Bytes);
    }
    const DROPPED: &str = "tunnel_client_harpoon_dropped_headers_total";
    header(
        w,
        DROPPED,
        Type::Counter,
        "Caller headers Harpoon dropped silently (hop-by-hop, cookie, proxy, identity), by target.",
    );
    for (target, _, dropped) in &per_target {
        sample(w, DROPPED, &[("target", target)], dropped);
    }
}

fn process(w: &mut String, telemetry: &Telemetry) {
    let start_secs = telemetry.started_unix_ms() as f64 / 1000.0;
    header(
        w,
        "process_start_time_seconds",
        Type::Gauge,
        "Start time of the process since the Unix epoch in seconds.",
    );
    let _ = writeln!(w, "process_start_time_seconds {start_secs}");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(kib) = status_field(&status, "VmRSS:") {
        header(
            w,
            "process_resident_memory_bytes",
            Type::Gauge,
            "Resident memory size in bytes.",
        );
        let _ = writeln!(
            w,
            "process_resident_memory_bytes {}",
            kib.saturating_mul(1024)
        );
    }
    if let Some(threads) = status_field(&status, "Threads:") {
        header(w, "process_threads", Type::Gauge, "Threads of the process.");
        let _ = writeln!(w, "process_threads {threads}");
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        header(w, "process_open_fds", Type::Gauge, "Open file descriptors.");
        let _ = writeln!(w, "process_open_fds {}", entries.count());
    }
}

/// The number after `name` in /proc/self/status ("VmRSS:   1234 kB" → 1234).
fn status_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{DropReason, PostResult};
    use std::collections::HashSet;

    fn exposition(t: &Telemetry) -> String {
        let channels = [(
            "main".to_string(),
            BackendStatus {
                kind: "stdio",
                up: true,
                detail: String::new(),
            },
        )];
        render(
            t,
            &Extras {
                ready: true,
                channels: &channels,
            },
        )
    }

    /// The metric name of a sample line.
    fn sample_name(line: &str) -> &str {
        line.split(['{', ' ']).next().unwrap_or("")
    }

    #[test]
    fn every_family_has_one_help_and_type_right_before_its_samples() {
        let text = exposition(&Telemetry::new());
        let mut seen = HashSet::new();
        let mut current = "";
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                current = rest.split(' ').next().unwrap_or("");
                assert!(seen.insert(current), "HELP twice for {current}");
                let kind = lines.next().unwrap_or("");
                assert!(
                    kind.starts_with(&format!("# TYPE {current} ")),
                    "{current}: {kind}"
                );
            } else {
                let name = sample_name(line);
                let suffix = name.strip_prefix(current);
                assert!(
                    matches!(suffix, Some("" | "_bucket" | "_sum" | "_count")),
                    "{line} outside its family {current}"
                );
            }
        }
        for family in FAMILIES {
            assert!(seen.contains(family.name), "{} is missing", family.name);
        }
    }

    #[test]
    fn every_row_of_the_table_is_written_with_its_labels_and_value() {
        let t = Telemetry::new();
        t.command_dropped(DropReason::Shutdown);
        t.command_dropped(DropReason::Shutdown);
        t.response_posted(PostResult::Gone);
        t.command_started();
        let text = exposition(&t);
        assert!(text.contains("\ntunnel_client_commands_dropped_total{reason=\"shutdown\"} 2\n"));
        assert!(text.contains("\ntunnel_client_commands_dropped_total{reason=\"expired\"} 0\n"));
        assert!(text.contains("\ntunnel_client_responses_total{result=\"gone\"} 1\n"));
        assert!(text.contains("\ntunnel_client_inflight_requests 1\n"));
        for family in FAMILIES {
            for series in family.series {
                let mut line = String::new();
                let labels = series.labels(family.label_names);
                sample(&mut line, family.name, &labels, t.reading(series.counter));
                assert!(text.contains(&line), "{line}");
            }
        }
    }

    #[test]
    fn status_fields_parse() {
        let status = "Name:\tx\nVmRSS:\t   2048 kB\nThreads:\t7\n";
        assert_eq!(status_field(status, "VmRSS:"), Some(2048));
        assert_eq!(status_field(status, "Threads:"), Some(7));
        assert_eq!(status_field(status, "VmSwap:"), None);
    }

    #[test]
    fn empty_histogram_renders_every_bucket() {
        let t = Telemetry::new();
        let text = render(
            &t,
            &Extras {
                ready: false,
                channels: &[],
            },
        );
        assert!(text.contains("tunnel_client_request_duration_seconds_bucket{le=\"0.005\"} 0\n"));
        assert!(text.contains("tunnel_client_request_duration_seconds_bucket{le=\"30\"} 0\n"));
        assert!(text.contains("tunnel_client_request_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(text.contains("tunnel_client_request_duration_seconds_count 0\n"));
        assert!(text.contains("process_resident_memory_bytes "));
    }
}
