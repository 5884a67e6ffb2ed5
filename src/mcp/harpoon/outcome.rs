//! What every tool call leaves behind: one [`CallRecord`] for a [`CallSink`]
//! (metrics, status page) and one log line. Must never hold a path, query, header value or body.

use std::fmt;
use std::time::Duration;

/// `target` of a record whose label names no target (or was not given).
pub const UNKNOWN_TARGET: &str = "__unknown__";

/// How a call ended, as the `outcome` metric label spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    InvalidInput,
    Refused,
    RequestError,
    Timeout,
    RedirectBlocked,
    ResponseReadError,
    ResponseTooLarge,
}

impl Outcome {
    #[cfg(test)]
    pub const ALL: [Outcome; 8] = [
        Outcome::Success,
        Outcome::InvalidInput,
        Outcome::Refused,
        Outcome::RequestError,
        Outcome::Timeout,
        Outcome::RedirectBlocked,
        Outcome::ResponseReadError,
        Outcome::ResponseTooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::InvalidInput => "invalid_input",
            Outcome::Refused => "refused",
            Outcome::RequestError => "request_error",
            Outcome::Timeout => "timeout",
            Outcome::RedirectBlocked => "redirect_blocked",
            Outcome::ResponseReadError => "response_read_error",
            Outcome::ResponseTooLarge => "response_too_large",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `tools/call`, as metrics, the status page and the log may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// A configured or discovered label, else [`UNKNOWN_TARGET`]: never caller text.
    pub target: String,
    /// `call_target`, `http_callout`, `list_targets`, `get_oauth_target_audience`,
    /// or [`UNKNOWN_TARGET`] for a tool that does not exist.
    pub tool: &'static str,
    /// The HTTP method of the first request, if the tool makes one.
    pub method: Option<&'static str>,
    /// The final HTTP status, if a response arrived.
    pub status: Option<u16>,
    pub outcome: Outcome,
    pub latency: Duration,
    /// Response body bytes received (after gzip decoding).
    pub bytes: u64,
    /// Caller headers dropped silently.
    pub dropped_headers: u32,
    /// `scheme://host:port` of the target, if one was resolved.
    pub origin: Option<String>,
}

impl CallRecord {
    /// `1xx`..`5xx`, or `none` without a response.
    pub fn status_class(&self) -> &'static str {
        match self.status {
            Some(100..=199) => "1xx",
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(500..=599) => "5xx",
            _ => "none",
        }
    }

    /// The per-call log line: `target tool method status outcome latency_ms bytes origin`.
    pub fn log_line(&self) -> String {
        format!(
            "harpoon call target={} tool={} method={} status={} outcome={} latency_ms={} bytes={} origin={}",
            self.target,
            self.tool,
            self.method.unwrap_or("-"),
            self.status.map_or_else(|| "-".to_string(), |s| s.to_string()),
            self.outcome,
            self.latency.as_millis(),
            self.bytes,
            self.origin.as_deref().unwrap_or("-"),
        )
    }
}

/// Where records go (metrics, status page). Called once per call, on the
/// worker thread, after the answer is built: keep it quick and never block.
pub trait CallSink: Send + Sync {
    fn record(&self, record: &CallRecord);
}

/// A sink that keeps nothing (when nobody listens yet).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSink;

impl CallSink for NoSink {
    fn record(&self, _record: &CallRecord) {}
}

/// Logs the record (info for success, warn otherwise), then hands it to `sink`.
pub fn deliver(sink: &dyn CallSink, record: &CallRecord) {
    if record.outcome == Outcome::Success {
        log::info!("{}", record.log_line());
    } else {
        log::warn!("{}", record.log_line());
    }
    sink.record(record);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_line_has_the_fields_in_order() {
        let record = CallRecord {
            target: "billing".into(),
            tool: "http_callout",
            method: Some("GET"),
            status: Some(404),
            outcome: Outcome::Success,
            latency: Duration::from_millis(1234),
            bytes: 17,
            dropped_headers: 2,
            origin: Some("https://billing.internal:443".into()),
        };
        assert_eq!(
            record.log_line(),
            "harpoon call target=billing tool=http_callout method=GET status=404 outcome=success \
             latency_ms=1234 bytes=17 origin=https://billing.internal:443"
        );
        assert_eq!(record.status_class(), "4xx");
        let none = CallRecord {
            status: None,
            method: None,
            origin: None,
            ..record
        };
        assert_eq!(none.status_class(), "none");
        assert!(none.log_line().contains("method=- status=- "));
        assert!(none.log_line().ends_with("origin=-"));
    }

    #[test]
    fn outcome_names_are_the_metric_labels() {
        let names: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            names,
            [
                "success",
                "invalid_input",
                "refused",
                "request_error",
                "timeout",
                "redirect_blocked",
                "response_read_error",
                "response_too_large"
            ]
        );
    }
}
