//! The startup probe of an HTTP `main` and the optional wait before polling:
//! readiness says where the probe stands, the gate holds polling (and OAuth
//! startup discovery) until the wait is over. Never holds or replays a command.
//!
//! Without `--mcp-startup-wait` the gate is open at once and the probe runs
//! beside the first polls. With it, the probe is retried while the server
//! refuses connections (50 ms doubling to 1 s) until it settles or the wait
//! runs out. A failed probe (or a spent wait) is re-probed every 10 s until
//! one passes; any 2xx answer on `main` also clears a failed probe.

use super::stop::Stopper;
use super::StartupError;
use crate::mcp::probe::PROBE_BUDGET;
use crate::mcp::{Backend, ProbeClass, ProbeOutcome};
use crate::telemetry::{McpProbe, Telemetry};
use log::{info, warn};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Pause between probes while the last one failed.
pub const REPROBE_INTERVAL: Duration = Duration::from_secs(10);
/// First retry of a refused probe during the startup wait (doubling).
pub const WAIT_RETRY_FIRST: Duration = Duration::from_millis(50);
/// Longest pause between refused probes during the startup wait.
pub const WAIT_RETRY_MAX: Duration = Duration::from_secs(1);

/// Opens when the startup wait is over (at once when there is none): the
/// poll loop waits for it, and so does OAuth startup discovery.
#[derive(Clone, Default)]
pub struct StartupGate {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl StartupGate {
    /// A gate that is already open.
    pub fn open_now() -> StartupGate {
        let gate = StartupGate::default();
        gate.open();
        gate
    }

    fn open(&self) {
        let (lock, changed) = &*self.inner;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        changed.notify_all();
    }

    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        *self.inner.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until the gate opens (true) or `stopper` fires (false).
    pub fn wait(&self, stopper: &Stopper) -> bool {
        loop {
            match self.wait_up_to(stopper, Duration::from_secs(3600)) {
                Some(open) => return open,
                None => continue,
            }
        }
    }

    /// Like [`StartupGate::wait`] for at most `limit`: `None` when it is
    /// still closed then (the poll thread reports that it is alive meanwhile).
    pub fn wait_up_to(&self, stopper: &Stopper, limit: Duration) -> Option<bool> {
        const CHECK_STOP_EVERY: Duration = Duration::from_millis(100);
        let until = Instant::now().checked_add(limit);
        let (lock, changed) = &*self.inner;
        let mut open = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while !*open {
            if stopper.is_stopped() {
                return Some(false);
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return None;
            }
            open = changed
                .wait_timeout(open, CHECK_STOP_EVERY)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Some(true)
    }
}

/// Starts the probe of `main` (when its backend has one) and returns the
/// gate that opens once the startup `wait` is over.
pub fn begin(
    main: Option<Arc<dyn Backend>>,
    wait: Duration,
    telemetry: Arc<Telemetry>,
    stopper: Stopper,
) -> Result<StartupGate, StartupError> {
    let Some(main) = main.filter(|b| b.has_startup_probe()) else {
        return Ok(StartupGate::open_now());
    };
    telemetry.set_mcp_probe(McpProbe::Pending);
    let gate = if wait.is_zero() {
        StartupGate::open_now()
    } else {
        info!(
            "waiting up to {} ms for the MCP server of channel main before polling",
            wait.as_millis()
        );
        StartupGate::default()
    };
    let thread_gate = gate.clone();
    std::thread::Builder::new()
        .name("mcp-probe".into())
        .spawn(move || {
            let state = settle(main.as_ref(), wait, &stopper);
            report(state);
            telemetry.set_mcp_probe(state);
            thread_gate.open();
            reprobe(main.as_ref(), state, &telemetry, &stopper);
        })
        .map_err(StartupError::thread("the MCP probe thread"))?;
    Ok(gate)
}

/// One probe; with a wait, refused probes are retried until the wait is spent.
fn settle(main: &dyn Backend, wait: Duration, stopper: &Stopper) -> McpProbe {
    let started = Instant::now();
    let mut delay = WAIT_RETRY_FIRST;
    loop {
        match probe(main) {
            ProbeOutcome::Passed => return McpProbe::Passed,
            ProbeOutcome::Failed(ProbeClass::ConnectionRefused) if !wait.is_zero() => {
                let pause = delay;
                delay = delay.saturating_mul(2).min(WAIT_RETRY_MAX);
                let delay = pause;
                let spent = started.elapsed().saturating_add(delay) >= wait;
                if spent || stopper.sleep(delay) {
                    return McpProbe::WaitFailed;
                }
                log::debug!(
                    "the MCP server of channel main refused the connection; probing again in {} ms",
                    delay.as_millis()
                );
            }
            ProbeOutcome::Failed(class) => return McpProbe::Failed(class),
        }
    }
}

fn probe(main: &dyn Backend) -> ProbeOutcome {
    main.startup_probe(PROBE_BUDGET)
        .unwrap_or(ProbeOutcome::Passed)
}

/// Every [`REPROBE_INTERVAL`] while the probe is failed, until one passes.
fn reprobe(main: &dyn Backend, mut state: McpProbe, telemetry: &Telemetry, stopper: &Stopper) {
    loop {
        if !matches!(state, McpProbe::Failed(_) | McpProbe::WaitFailed) {
            return;
        }
        if stopper.sleep(REPROBE_INTERVAL) {
            return;
        }
        // A 2xx answer on `main` may have cleared it meanwhile.
        if telemetry.mcp_probe() == McpProbe::Passed {
            info!("the MCP server of channel main answered; its probe is cleared");
            return;
        }
        let next = match probe(main) {
            ProbeOutcome::Passed => McpProbe::Passed,
            // A spent wait stays the reason while the server still refuses.
            ProbeOutcome::Failed(ProbeClass::ConnectionRefused)
                if state == McpProbe::WaitFailed =>
            {
                McpProbe::WaitFailed
            }
            ProbeOutcome::Failed(class) => McpProbe::Failed(class),
        };
        if next != state || next == McpProbe::Passed {
            report(next);
        }
        state = next;
        telemetry.set_mcp_probe(state);
    }
}

fn report(state: McpProbe) {
    match state {
        McpProbe::Passed => info!("the MCP server of channel main passed its startup probe"),
        McpProbe::NotProbed | McpProbe::Pending => {}
        failed => warn!(
            "the MCP server of channel main is not ready ({failed}); probing again every {} s",
            REPROBE_INTERVAL.as_secs()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Headers;
    use crate::mcp::{BackendStatus, McpCall, McpReply};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Refuses `refusals` times, then answers `then`.
    struct Scripted {
        refusals: usize,
        then: ProbeOutcome,
        probes: AtomicUsize,
    }

    impl Backend for Scripted {
        fn call(&self, _: &McpCall<'_>, _: &mut dyn FnMut(serde_json::Value)) -> McpReply {
            McpReply::Expired
        }
        fn terminate_session(&self, _: &Headers, _: Instant) -> McpReply {
            McpReply::Expired
        }
        fn startup_probe(&self, _budget: Duration) -> Option<ProbeOutcome> {
            let n = self.probes.fetch_add(1, Ordering::SeqCst);
            Some(if n < self.refusals {
                ProbeOutcome::Failed(ProbeClass::ConnectionRefused)
            } else {
                self.then
            })
        }
        fn has_startup_probe(&self) -> bool {
            true
        }
        fn proc_affinity(&self) -> bool {
            false
        }
        fn status(&self) -> BackendStatus {
            BackendStatus {
                kind: "http",
                up: true,
                detail: String::new(),
            }
        }
        fn shutdown(&self, _: Duration) {}
    }

    fn scripted(refusals: usize, then: ProbeOutcome) -> Scripted {
        Scripted {
            refusals,
            then,
            probes: AtomicUsize::new(0),
        }
    }

    #[test]
    fn c3_only_refusals_are_retried_within_the_wait() {
        let stopper = Stopper::new();
        let wait = Duration::from_secs(5);
        let s = scripted(3, ProbeOutcome::Passed);
        assert_eq!(settle(&s, wait, &stopper), McpProbe::Passed);
        assert_eq!(s.probes.load(Ordering::SeqCst), 4);
        let s = scripted(1, ProbeOutcome::Failed(ProbeClass::HttpStatus));
        assert_eq!(
            settle(&s, wait, &stopper),
            McpProbe::Failed(ProbeClass::HttpStatus)
        );
        assert_eq!(s.probes.load(Ordering::SeqCst), 2);
        // Without a wait, one probe settles it.
        let s = scripted(1, ProbeOutcome::Passed);
        assert_eq!(
            settle(&s, Duration::ZERO, &stopper),
            McpProbe::Failed(ProbeClass::ConnectionRefused)
        );
        assert_eq!(s.probes.load(Ordering::SeqCst), 1);
        // A wait spent on refusals.
        let s = scripted(usize::MAX, ProbeOutcome::Passed);
        let started = Instant::now();
        assert_eq!(
            settle(&s, Duration::from_millis(300), &stopper),
            McpProbe::WaitFailed
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(s.probes.load(Ordering::SeqCst) >= 3);
    }

    #[test]
    fn c3_the_gate_opens_and_a_stop_releases_its_waiters() {
        let stopper = Stopper::new();
        assert!(StartupGate::open_now().wait(&stopper));
        let gate = StartupGate::default();
        assert!(!gate.is_open());
        let waiter = {
            let (gate, stopper) = (gate.clone(), stopper.clone());
            std::thread::spawn(move || gate.wait(&stopper))
        };
        gate.open();
        assert!(waiter.join().unwrap());
        let closed = StartupGate::default();
        assert_eq!(closed.wait_up_to(&stopper, Duration::from_millis(50)), None);
        stopper.stop();
        assert!(!closed.wait(&stopper));
        assert_eq!(
            closed.wait_up_to(&stopper, Duration::from_secs(5)),
            Some(false)
        );
    }
}
