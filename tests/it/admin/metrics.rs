//! `/metrics` over a real socket, checked by a small Prometheus text-format
//! 0.0.4 parser: every line, HELP/TYPE pairs, names of ADMIN.md, monotonic
//! counters, cumulative histograms; plus the "nothing secret leaves" scrape.

use crate::support::admin::*;
use crate::support::TUNNEL_ID;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tunnel::contract::TunnelMetadata;
use tunnel::telemetry::{CommandOutcome, DropReason, PollOutcome, PostResult};

/// One sample: family-relative name, sorted labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    fn series(&self) -> BTreeMap<String, f64> {
        self.samples
            .iter()
            .map(|s| (format!("{}{:?}", s.name, s.labels), s.value))
            .collect()
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .unwrap_or_else(|| panic!("no sample {name}{want:?}"))
            .value
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("label in {text:?}"));
        assert!(is_name(key), "label name {key:?}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in {text:?}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {text:?}"),
            }
        };
        assert!(
            labels.insert(key.to_string(), value).is_none(),
            "duplicate label {key}"
        );
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    labels
}

/// Parses and validates the whole exposition; panics on the first bad line.
fn parse(text: &str) -> Exposition {
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut out = Exposition::default();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut pending_help: Option<String> = None;
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has text");
            assert!(is_name(name) && !help.trim().is_empty(), "{line}");
            assert!(pending_help.is_none(), "HELP without TYPE before {line}");
            assert!(helped.insert(name.to_string()), "second HELP for {name}");
            pending_help = Some(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a kind");
            assert_eq!(
                pending_help.take().as_deref(),
                Some(name),
                "TYPE right after its HELP: {line}"
            );
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                out.types
                    .insert(name.to_string(), kind.to_string())
                    .is_none(),
                "second TYPE {name}"
            );
            current = Some(name.to_string());
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.trim().is_empty(),
            "unexpected line {line:?}"
        );
        assert!(pending_help.is_none(), "HELP without TYPE before {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value of {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (
                name,
                parse_labels(rest.strip_suffix('}').expect("closing brace")),
            ),
            None => (series, BTreeMap::new()),
        };
        assert!(is_name(name), "metric name {name:?}");
        let family = current.as_deref().expect("sample after a TYPE");
        let kind = &out.types[family];
        let belongs = if kind == "histogram" {
            [
                format!("{family}_bucket"),
                format!("{family}_sum"),
                format!("{family}_count"),
            ]
            .contains(&name.to_string())
        } else {
            name == family
        };
        assert!(belongs, "{name} is not part of family {family} ({kind})");
        if kind == "counter" {
            assert!(
                family.ends_with("_total"),
                "counter {family} ends in _total"
            );
            assert!(value >= 0.0 && value.fract() == 0.0, "{line}");
        }
        out.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    assert!(pending_help.is_none(), "trailing HELP");
    assert_eq!(
        out.series().len(),
        out.samples.len(),
        "no series appears twice"
    );
    out
}

const BUCKETS: [&str; 13] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "+Inf",
];

fn check_histogram(e: &Exposition, family: &str) {
    let buckets: Vec<&Sample> = e
        .samples
        .iter()
        .filter(|s| s.name == format!("{family}_bucket"))
        .collect();
    let bounds: Vec<&str> = buckets.iter().map(|s| s.labels["le"].as_str()).collect();
    assert_eq!(bounds, BUCKETS, "{family} buckets");
    for pair in buckets.windows(2) {
        assert!(
            pair[0].value <= pair[1].value,
            "{family} buckets are cumulative"
        );
    }
    let count = e.value(&format!("{family}_count"), &[]);
    assert_eq!(
        buckets.last().unwrap().value,
        count,
        "{family}: +Inf == _count"
    );
    assert!(e.value(&format!("{family}_sum"), &[]) >= 0.0);
}

fn traffic(h: &Harness, round: u64) {
    h.telemetry
        .poll_finished(PollOutcome::Commands(2), Duration::from_millis(40 * round));
    h.telemetry
        .poll_finished(PollOutcome::Empty, Duration::from_secs(30));
    h.telemetry
        .poll_finished(PollOutcome::HttpError(503), Duration::from_millis(3));
    h.command(
        "tools/call",
        Some("echo"),
        CommandOutcome::Success,
        7 * round,
    );
    h.command("tools/call", Some("slow"), CommandOutcome::Success, 2600);
    h.command("tools/list", None, CommandOutcome::RpcError, 45_000);
    h.command(
        "ping",
        None,
        CommandOutcome::Dropped(DropReason::Expired),
        1,
    );
    h.telemetry.command_dropped(DropReason::UnknownType);
    h.telemetry.response_posted(PostResult::Ok);
    h.telemetry.response_posted(PostResult::Retried);
    h.telemetry.response_posted(PostResult::Gone);
    h.telemetry.notification_posted();
    h.telemetry.mcp_restarted();
    h.telemetry.server_request_refused();
    h.telemetry.control_plane_error(Some(429));
    h.telemetry.set_queue_depth(3);
}

#[test]
fn every_metric_of_admin_md_with_type_labels_and_valid_text() {
    let h = start();
    traffic(&h, 1);
    let response = h.agent.get(&h.url("/metrics")).call().unwrap();
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let first = parse(&h.get("/metrics").2);

    let required = [
        ("tunnel_client_build_info", "gauge"),
        ("tunnel_client_connected", "gauge"),
        ("tunnel_client_requests_total", "counter"),
        ("tunnel_client_request_duration_seconds", "histogram"),
        ("tunnel_client_inflight_requests", "gauge"),
        ("tunnel_client_polls_total", "counter"),
        ("tunnel_client_responses_total", "counter"),
        ("tunnel_client_commands_dropped_total", "counter"),
        ("tunnel_client_mcp_restarts_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        // Operator extras.
        ("tunnel_client_poll_duration_seconds", "histogram"),
        ("tunnel_client_queue_depth", "gauge"),
        ("tunnel_client_notifications_posted_total", "counter"),
        ("tunnel_client_control_plane_errors_total", "counter"),
        (
            "tunnel_client_stdio_server_requests_refused_total",
            "counter",
        ),
        ("tunnel_client_ready", "gauge"),
        ("tunnel_client_mcp_up", "gauge"),
    ];
    for (name, kind) in required {
        assert_eq!(
            first.types.get(name).map(String::as_str),
            Some(kind),
            "{name}"
        );
    }
    assert_eq!(
        first.value(
            "tunnel_client_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(first.value("tunnel_client_connected", &[]), 1.0);
    assert_eq!(
        first.value("tunnel_client_requests_total", &[("status", "success")]),
        2.0
    );
    assert_eq!(
        first.value("tunnel_client_requests_total", &[("status", "error")]),
        1.0
    );
    for result in ["commands", "empty", "error"] {
        assert_eq!(
            first.value("tunnel_client_polls_total", &[("result", result)]),
            1.0
        );
    }
    for (result, n) in [
        ("ok", 1.0),
        ("retried", 1.0),
        ("failed", 0.0),
        ("gone", 1.0),
    ] {
        assert_eq!(
            first.value("tunnel_client_responses_total", &[("result", result)]),
            n
        );
    }
    for (reason, n) in [("expired", 1.0), ("unknown_type", 1.0), ("shutdown", 0.0)] {
        assert_eq!(
            first.value(
                "tunnel_client_commands_dropped_total",
                &[("reason", reason)]
            ),
            n
        );
    }
    assert_eq!(
        first.value(
            "tunnel_client_control_plane_errors_total",
            &[("class", "5xx")]
        ),
        1.0
    );
    assert_eq!(
        first.value(
            "tunnel_client_control_plane_errors_total",
            &[("class", "4xx")]
        ),
        1.0
    );
    assert_eq!(first.value("tunnel_client_queue_depth", &[]), 3.0);
    assert_eq!(first.value("tunnel_client_inflight_requests", &[]), 0.0);
    assert_eq!(
        first.value(
            "tunnel_client_mcp_up",
            &[("channel", "main"), ("kind", "stdio")]
        ),
        1.0
    );
    assert!(first.value("process_resident_memory_bytes", &[]) > 1024.0 * 1024.0);

    check_histogram(&first, "tunnel_client_request_duration_seconds");
    check_histogram(&first, "tunnel_client_poll_duration_seconds");
    // Dropped commands are not answered requests: 3 observations.
    assert_eq!(
        first.value("tunnel_client_request_duration_seconds_count", &[]),
        3.0
    );
    let le = |bound: &str| {
        first.value(
            "tunnel_client_request_duration_seconds_bucket",
            &[("le", bound)],
        )
    };
    assert_eq!(
        (
            le("0.005"),
            le("0.01"),
            le("2.5"),
            le("5"),
            le("30"),
            le("+Inf")
        ),
        (0.0, 1.0, 1.0, 2.0, 2.0, 3.0)
    );
    let sum = first.value("tunnel_client_request_duration_seconds_sum", &[]);
    assert!((sum - 47.607).abs() < 1e-6, "{sum}");

    // Counters only grow across scrapes, with traffic in between.
    traffic(&h, 2);
    let second = parse(&h.get("/metrics").2);
    let before = first.series();
    let after = second.series();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "same series"
    );
    for sample in &first.samples {
        let family = first
            .types
            .keys()
            .find(|f| sample.name.starts_with(f.as_str()))
            .unwrap();
        let kind = first.types[family].as_str();
        let grows = kind == "counter" || kind == "histogram";
        if grows {
            let key = format!("{}{:?}", sample.name, sample.labels);
            assert!(
                after[&key] >= sample.value,
                "{key} went from {} to {}",
                sample.value,
                after[&key]
            );
        }
    }
    assert_eq!(
        second.value("tunnel_client_requests_total", &[("status", "success")]),
        4.0
    );
    check_histogram(&second, "tunnel_client_request_duration_seconds");
}

#[test]
fn readiness_and_connection_gauges_follow_the_state() {
    let h = start();
    let e = parse(&h.get("/metrics").2);
    assert_eq!(e.value("tunnel_client_connected", &[]), 0.0);
    assert_eq!(e.value("tunnel_client_ready", &[]), 0.0);
    h.telemetry
        .poll_finished(PollOutcome::Empty, Duration::from_millis(5));
    let e = parse(&h.get("/metrics").2);
    assert_eq!(e.value("tunnel_client_ready", &[]), 1.0);
}

/// Issue 5 part 6 at the admin server's level: secrets that could reach the
/// telemetry by mistake (in a backend's detail or an error message, the only
/// free-text inputs) never appear on any endpoint. The end-to-end check with
/// a real agent and relay belongs to the agent's tests.
#[test]
fn nothing_secret_leaves_any_endpoint() {
    const SECRETS: [&str; 4] = [
        "sk-live-APIKEY0123456789",
        "shard-TOKEN-abcdef",
        "Bearer-TOKEN-xyz",
        "url-PASSWORD-42",
    ];
    let backend = FakeBackend::new(
        "http",
        "http://mcp:url-PASSWORD-42@10.0.0.5:8080/mcp?token=shard-TOKEN-abcdef",
    );
    let h = start_for(&loopback_config(), backend, Vec::new());
    h.telemetry.set_metadata(TunnelMetadata {
        id: TUNNEL_ID.into(),
        name: "n".into(),
        description: String::new(),
    });
    h.telemetry.set_request_timing(true);
    h.telemetry.record_error(
        "POST https://user:url-PASSWORD-42@cp.example/v1/x?key=sk-live-APIKEY0123456789 failed",
    );
    h.telemetry
        .record_error("proxy http://u:Bearer-TOKEN-xyz@proxy:3128 refused");
    let paths = ["/healthz", "/readyz", "/metrics", "/", "/ui", "/api/status"];
    let scrape = |h: &Harness| -> String {
        paths
            .iter()
            .map(|p| h.get(p).2)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let during = {
        traffic(&h, 1);
        scrape(&h)
    };
    h.backend
        .up
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let after = scrape(&h);
    for text in [&during, &after] {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }
    // What is shown instead.
    assert!(
        after.contains("http://***@10.0.0.5:8080/mcp?***"),
        "{after}"
    );
    assert!(after.contains("POST https://***@cp.example/v1/x?*** failed"));
}

#[test]
#[should_panic(expected = "HELP without TYPE")]
fn the_parser_rejects_a_help_without_its_type() {
    parse("# HELP a_total x\na_total 1\n");
}

#[test]
#[should_panic(expected = "is not part of family")]
fn the_parser_rejects_a_sample_outside_its_family() {
    parse("# HELP a_total x\n# TYPE a_total counter\nb_total 1\n");
}
