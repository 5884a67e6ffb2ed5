//! Renders `/metrics` in the Prometheus text format 0.0.4 from a telemetry
//! reading. Pure formatting plus /proc reads; never labels anything with a secret.

use crate::admin::histogram::{HistogramSnapshot, BUCKETS_SECONDS};
use crate::admin::telemetry::{Counters, Telemetry};
use crate::contract::CLIENT_VERSION;
use crate::mcp::BackendStatus;
use std::fmt::Write;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything `/metrics` shows besides the telemetry itself.
pub struct Extras<'a> {
    pub ready: bool,
    pub channels: &'a [(String, BackendStatus)],
}

/// The whole exposition.
pub fn render(telemetry: &Telemetry, extras: &Extras<'_>) -> String {
    let c = telemetry.counters();
    let mut out = String::with_capacity(8 * 1024);
    let w = &mut out;

    header(
        w,
        "tunnel_client_build_info",
        "gauge",
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
        "tunnel_client_connected",
        "gauge",
        "1 when the last poll reached the control plane.",
    );
    sample(w, "tunnel_client_connected", &[], u64::from(c.connected));

    header(
        w,
        "tunnel_client_ready",
        "gauge",
        "1 when /readyz answers 200.",
    );
    sample(w, "tunnel_client_ready", &[], u64::from(extras.ready));

    requests(w, &c);

    histogram(
        w,
        "tunnel_client_request_duration_seconds",
        "Command duration from poll receipt to the terminal response being accepted.",
        &c.request_duration,
    );

    header(
        w,
        "tunnel_client_inflight_requests",
        "gauge",
        "Commands a worker is handling now.",
    );
    gauge_i64(w, "tunnel_client_inflight_requests", c.inflight);

    header(
        w,
        "tunnel_client_queue_depth",
        "gauge",
        "Commands received but not yet picked up by a worker.",
    );
    gauge_i64(w, "tunnel_client_queue_depth", c.queue_depth);

    polls(w, &c);

    histogram(
        w,
        "tunnel_client_poll_duration_seconds",
        "Duration of each poll of the control plane, long-poll wait included.",
        &c.poll_duration,
    );

    header(
        w,
        "tunnel_client_responses_total",
        "counter",
        "Terminal response POSTs by how they ended.",
    );
    for (result, n) in [
        ("ok", c.responses_ok),
        ("retried", c.responses_retried),
        ("failed", c.responses_failed),
        ("gone", c.responses_gone),
    ] {
        sample(w, "tunnel_client_responses_total", &[("result", result)], n);
    }

    header(
        w,
        "tunnel_client_commands_dropped_total",
        "counter",
        "Commands dropped without a response, by reason.",
    );
    for (reason, n) in [
        ("expired", c.dropped_expired),
        ("unknown_type", c.dropped_unknown),
        ("shutdown", c.dropped_shutdown),
    ] {
        sample(
            w,
            "tunnel_client_commands_dropped_total",
            &[("reason", reason)],
            n,
        );
    }

    header(
        w,
        "tunnel_client_notifications_posted_total",
        "counter",
        "MCP notifications delivered to the control plane.",
    );
    sample(
        w,
        "tunnel_client_notifications_posted_total",
        &[],
        c.notifications_posted,
    );

    header(
        w,
        "tunnel_client_control_plane_errors_total",
        "counter",
        "Failed control-plane requests by HTTP status class (network: no answer).",
    );
    for (class, n) in [
        ("4xx", c.control_plane_errors_4xx),
        ("5xx", c.control_plane_errors_5xx),
        ("other", c.control_plane_errors_other),
        ("network", c.control_plane_errors_network),
    ] {
        sample(
            w,
            "tunnel_client_control_plane_errors_total",
            &[("class", class)],
            n,
        );
    }

    header(
        w,
        "tunnel_client_mcp_restarts_total",
        "counter",
        "Restarts of stdio MCP server children.",
    );
    sample(w, "tunnel_client_mcp_restarts_total", &[], c.mcp_restarts);

    header(w, "tunnel_client_stdio_server_requests_refused_total", "counter", "Requests from a stdio MCP server to the client, refused because the tunnel cannot carry them.");
    sample(
        w,
        "tunnel_client_stdio_server_requests_refused_total",
        &[],
        c.server_requests_refused,
    );

    header(
        w,
        "tunnel_client_mcp_up",
        "gauge",
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

fn requests(w: &mut String, c: &Counters) {
    header(
        w,
        "tunnel_client_requests_total",
        "counter",
        "Commands answered, by status.",
    );
    sample(
        w,
        "tunnel_client_requests_total",
        &[("status", "success")],
        c.requests_success,
    );
    sample(
        w,
        "tunnel_client_requests_total",
        &[("status", "error")],
        c.requests_error,
    );
}

fn polls(w: &mut String, c: &Counters) {
    header(
        w,
        "tunnel_client_polls_total",
        "counter",
        "Polls of the control plane, by result.",
    );
    for (result, n) in [
        ("commands", c.polls_commands),
        ("empty", c.polls_empty),
        ("error", c.polls_error),
    ] {
        sample(w, "tunnel_client_polls_total", &[("result", result)], n);
    }
}

fn process(w: &mut String, telemetry: &Telemetry) {
    let start_secs = telemetry.started_unix_ms() as f64 / 1000.0;
    header(
        w,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch in seconds.",
    );
    let _ = writeln!(w, "process_start_time_seconds {start_secs}");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(kib) = status_field(&status, "VmRSS:") {
        header(
            w,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        let _ = writeln!(
            w,
            "process_resident_memory_bytes {}",
            kib.saturating_mul(1024)
        );
    }
    if let Some(threads) = status_field(&status, "Threads:") {
        header(w, "process_threads", "gauge", "Threads of the process.");
        let _ = writeln!(w, "process_threads {threads}");
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        header(w, "process_open_fds", "gauge", "Open file descriptors.");
        let _ = writeln!(w, "process_open_fds {}", entries.count());
    }
}

/// The number after `name` in /proc/self/status ("VmRSS:   1234 kB" → 1234).
fn status_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

fn header(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}");
    let _ = writeln!(w, "# TYPE {name} {kind}");
}

fn labels(w: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    w.push('{');
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            w.push(',');
        }
        let _ = write!(w, "{key}=\"");
        for ch in value.chars() {
            match ch {
                '\\' => w.push_str("\\\\"),
                '"' => w.push_str("\\\""),
                '\n' => w.push_str("\\n"),
                _ => w.push(ch),
            }
        }
        w.push('"');
    }
    w.push('}');
}

fn sample(w: &mut String, name: &str, label_pairs: &[(&str, &str)], value: u64) {
    w.push_str(name);
    labels(w, label_pairs);
    let _ = writeln!(w, " {value}");
}

fn gauge_i64(w: &mut String, name: &str, value: i64) {
    let _ = writeln!(w, "{name} {value}");
}

fn histogram(w: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    header(w, name, "histogram", help);
    let bucket = format!("{name}_bucket");
    for (bound, count) in BUCKETS_SECONDS.iter().zip(&h.cumulative) {
        sample(w, &bucket, &[("le", &bound.to_string())], *count);
    }
    sample(w, &bucket, &[("le", "+Inf")], h.count);
    let _ = writeln!(w, "{name}_sum {}", h.sum_seconds);
    let _ = writeln!(w, "{name}_count {}", h.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut w = String::new();
        sample(&mut w, "m", &[("channel", "a\"b\\c\nd")], 1);
        assert_eq!(w, "m{channel=\"a\\\"b\\\\c\\nd\"} 1\n");
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
