//! The one way a test waits: poll a condition until it holds or a limit passes, then fail
//! naming what never happened. Never a bare sleep in the hope that something has happened.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// Upper bound of an ordinary wait: long enough for a loaded CI machine, short
/// enough that a hang fails instead of blocking the suite.
pub const WAIT: Duration = Duration::from_secs(15);
/// How often a condition is checked again.
const POLL_EVERY: Duration = Duration::from_millis(5);

/// What a condition returns: `true`, or `Some(value)`, once it holds.
pub trait Outcome {
    type Value;
    fn ready(self) -> Option<Self::Value>;
}

impl Outcome for bool {
    type Value = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Checks `condition` every few milliseconds until it holds and returns its
/// value (`()` for a `bool`); panics naming `what` once `limit` has passed.
pub fn wait_until<O: Outcome>(
    limit: Duration,
    what: impl Display,
    mut condition: impl FnMut() -> O,
) -> O::Value {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = condition().ready() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(POLL_EVERY);
    }
}
