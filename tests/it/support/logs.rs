//! The one log capture of this test binary: every line, ureq's included, as
//! `target level message`, for "never logged" checks. Installed once, whoever asks first.

use std::sync::{Mutex, Once};

struct Capture(Mutex<Vec<String>>);

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));
static INSTALL: Once = Once::new();

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
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

/// Installs the capture at the debug level, the most the binaries allow
/// ureq (its trace level is clamped there too).
pub fn capture_logs() {
    INSTALL.call_once(|| {
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(log::LevelFilter::Debug);
    });
}

/// Every line captured so far.
pub fn logged() -> Vec<String> {
    CAPTURE.0.lock().map(|l| l.clone()).unwrap_or_default()
}
