//! The one log capture of the test binary (a process has one logger): every record as
//! `target level message`, with the binaries' clamp (no trace from ureq, ureq_proto, rustls). Test-only.

use std::sync::{Mutex, Once};

struct Capture(Mutex<Vec<String>>);

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));
static INSTALL: Once = Once::new();

/// Targets the binaries never let log at trace (their trace dumps wire bytes).
const CLAMPED: [&str; 3] = ["ureq", "ureq_proto", "rustls"];

fn clamped(target: &str) -> bool {
    CLAMPED.iter().any(|c| {
        target == *c
            || target
                .strip_prefix(c)
                .is_some_and(|rest| rest.starts_with("::"))
    })
}

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Debug || !clamped(metadata.target())
    }
    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if let Ok(mut lines) = self.0.lock() {
            lines.push(format!(
                "{} {} {}",
                record.target(),
                record.level(),
                record.args()
            ));
        }
    }
    fn flush(&self) {}
}

/// Installs the capture (once per test binary); every level is kept.
pub fn capture() {
    INSTALL.call_once(|| {
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Every line captured so far.
pub fn lines() -> Vec<String> {
    CAPTURE.0.lock().unwrap().clone()
}
