//! The process logger: env_logger with our text or JSON line format, and a
//! clamp that never lets the HTTP/TLS crates log at trace (ureq_proto would hex-dump the bearer token).

use crate::config::LogFormat;
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::time::SystemTime;

/// Targets whose trace output can contain the wire bytes (and so the API key).
const CLAMPED_TARGETS: &[&str] = &["ureq", "ureq_proto", "rustls"];

/// True when `target` belongs to one of [`CLAMPED_TARGETS`].
fn is_clamped(target: &str) -> bool {
    CLAMPED_TARGETS.iter().any(|crate_name| {
        target == *crate_name
            || target
                .strip_prefix(crate_name)
                .is_some_and(|rest| rest.starts_with("::"))
    })
}

/// Drops trace records of the clamped targets whatever the filter says.
struct Clamped {
    inner: env_logger::Logger,
}

impl Log for Clamped {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        (metadata.level() <= Level::Debug || !is_clamped(metadata.target()))
            && self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Why the logger could not be installed.
#[derive(Debug)]
pub struct LoggerAlreadySet;

impl std::fmt::Display for LoggerAlreadySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a logger was already installed")
    }
}

impl std::error::Error for LoggerAlreadySet {}

/// Installs the logger: `filter` is env_logger directive syntax (`info`,
/// `warn,tunnel=debug`), already validated by the configuration.
pub fn init(filter: &str, format: LogFormat) -> Result<(), LoggerAlreadySet> {
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(filter);
    builder.target(env_logger::Target::Stderr);
    match format {
        LogFormat::Json => {
            builder.format(|buf, record| writeln!(buf, "{}", json_line(record, SystemTime::now())));
        }
        LogFormat::Text => {
            builder.format(|buf, record| {
                let mut line = format!(
                    "{} {:<5} {}: {}",
                    crate::clock::rfc3339(SystemTime::now()),
                    record.level(),
                    record.target(),
                    record.args()
                );
                for (key, value) in fields(record) {
                    line.push_str(&format!(" {key}={value}"));
                }
                writeln!(buf, "{line}")
            });
        }
    }
    let inner = builder.build();
    let max = inner.filter();
    let logger: &'static Clamped = Box::leak(Box::new(Clamped { inner }));
    log::set_logger(logger).map_err(|_| LoggerAlreadySet)?;
    log::set_max_level(max.min(LevelFilter::Trace));
    Ok(())
}

/// One JSON object: `ts`, `level`, `target`, `msg`, and `fields` when the
/// record carries key-values (`request_id`, …); serde_json escapes.
fn json_line(record: &Record<'_>, now: SystemTime) -> String {
    let mut line = serde_json::json!({
        "ts": crate::clock::rfc3339(now),
        "level": record.level().as_str(),
        "target": record.target(),
        "msg": record.args().to_string(),
    });
    let fields = fields(record);
    if !fields.is_empty() {
        line["fields"] = serde_json::Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        );
    }
    line.to_string()
}

/// The record's structured key-values, in order, values as text.
fn fields(record: &Record<'_>) -> Vec<(String, String)> {
    struct Collect(Vec<(String, String)>);
    impl<'kvs> log::kv::VisitSource<'kvs> for Collect {
        fn visit_pair(
            &mut self,
            key: log::kv::Key<'kvs>,
            value: log::kv::Value<'kvs>,
        ) -> Result<(), log::kv::Error> {
            self.0.push((key.to_string(), value.to_string()));
            Ok(())
        }
    }
    let mut collect = Collect(Vec::new());
    let _ = record.key_values().visit(&mut collect);
    collect.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn clamp_targets() {
        assert!(is_clamped("ureq_proto::client"));
        assert!(is_clamped("ureq"));
        assert!(is_clamped("rustls::client::hs"));
        assert!(!is_clamped("ureqx"));
        assert!(!is_clamped("tunnel::agent"));
    }

    #[test]
    fn json_escapes() {
        let args = format_args!("a \"quoted\"\nline");
        let record = Record::builder()
            .args(args)
            .level(Level::Warn)
            .target("tunnel::x")
            .build();
        let line = json_line(&record, UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["msg"], "a \"quoted\"\nline");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["target"], "tunnel::x");
        assert!(!line.contains('\n'));
    }
}
