//! The agent's side of the service manager's notify protocol: READY=1 after the first
//! successful poll, WATCHDOG=1 only while liveness holds, STOPPING=1 at drain. Never fatal.

use crate::admin::health::liveness;
use crate::sys::notify::{Notifier, NotifyError, State};
use crate::telemetry::Telemetry;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use log::{debug, info, warn};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the link looks for the first successful poll, until it is seen.
pub const READY_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// A running link to the service manager; [`ServiceLink::finish`] ends it.
pub struct ServiceLink {
    notifier: Arc<Notifier>,
    warned: Arc<AtomicBool>,
    /// Dropped to end the thread.
    done: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServiceLink {
    /// The link for a process the service manager started, if it did (a
    /// `$NOTIFY_SOCKET` that cannot be used is logged and ignored).
    pub fn from_env(telemetry: &Arc<Telemetry>) -> Option<ServiceLink> {
        match Notifier::from_env() {
            Ok(Some(notifier)) => ServiceLink::start(notifier, Arc::clone(telemetry)),
            Ok(None) => None,
            Err(e) => {
                warn!("{e}; running without service manager notifications");
                None
            }
        }
    }

    /// Starts the thread that says READY once and pings the watchdog.
    pub fn start(notifier: Notifier, telemetry: Arc<Telemetry>) -> Option<ServiceLink> {
        let notifier = Arc::new(notifier);
        let warned = Arc::new(AtomicBool::new(false));
        let (done, done_rx) = bounded::<()>(0);
        let thread = {
            let notifier = Arc::clone(&notifier);
            let warned = Arc::clone(&warned);
            std::thread::Builder::new()
                .name("sd-notify".into())
                .spawn(move || run(&notifier, &telemetry, &warned, &done_rx))
        };
        match thread {
            Ok(thread) => {
                match notifier.watchdog_interval() {
                    Some(every) => info!(
                        "service manager notifications on; watchdog ping every {} ms",
                        every.as_millis()
                    ),
                    None => info!("service manager notifications on; no watchdog"),
                }
                Some(ServiceLink {
                    notifier,
                    warned,
                    done: Some(done),
                    thread: Some(thread),
                })
            }
            Err(e) => {
                warn!("cannot start the service manager thread: {e}; running without it");
                None
            }
        }
    }

    /// `STOPPING=1`: draining has begun. The watchdog keeps being pinged
    /// while the drain runs (liveness stands down while draining).
    pub fn stopping(&self) {
        send(
            &self.notifier,
            &[
                State::Stopping,
                State::Status("draining in-flight commands"),
            ],
            &self.warned,
        );
    }

    /// Ends the thread (at the very end of the shutdown).
    pub fn finish(mut self) {
        self.done.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends `states`; the first failure is a warning, later ones are debug lines
/// (a manager that went away must not flood the log every ping).
fn send(notifier: &Notifier, states: &[State<'_>], warned: &AtomicBool) -> bool {
    match notifier.notify(states) {
        Ok(()) => true,
        Err(e) => {
            report_failure(&e, warned);
            false
        }
    }
}

fn report_failure(e: &NotifyError, warned: &AtomicBool) {
    if warned.swap(true, Ordering::Relaxed) {
        debug!("{e}");
    } else {
        warn!("{e}; the agent keeps running (further failures are logged at debug level)");
    }
}

/// The thread: READY=1 as soon as a poll has succeeded, WATCHDOG=1 every
/// interval while the poll loop and the workers report, until `done` closes.
fn run(notifier: &Notifier, telemetry: &Telemetry, warned: &AtomicBool, done: &Receiver<()>) {
    let watchdog = notifier.watchdog_interval();
    let mut ready = false;
    let mut next_ping = Instant::now();
    // Whether the last watchdog decision was "stuck", to log each change once.
    let mut stuck = false;
    loop {
        let now = Instant::now();
        if !ready && telemetry.health_snapshot().first_poll_ok {
            ready = send(
                notifier,
                &[State::Ready, State::Status("polling the control plane")],
                warned,
            );
        }
        if let Some(every) = watchdog {
            if now >= next_ping {
                let live = liveness(&telemetry.health_snapshot());
                if live.healthy {
                    if stuck {
                        info!("the agent's loops report again; watchdog pings resume");
                        stuck = false;
                    }
                    send(notifier, &[State::Watchdog], warned);
                } else if !stuck {
                    stuck = true;
                    warn!(
                        "not pinging the service manager's watchdog, so that it restarts the agent: {}",
                        live.reasons.join("; ")
                    );
                }
                next_ping = now.checked_add(every).unwrap_or(now);
            }
        }
        let until_ping = watchdog.map(|_| next_ping.saturating_duration_since(Instant::now()));
        let wait = match (ready, until_ping) {
            (false, Some(ping)) => ping.min(READY_CHECK_INTERVAL),
            (false, None) => READY_CHECK_INTERVAL,
            (true, Some(ping)) => ping,
            // Ready and no watchdog: nothing left to say until the end.
            (true, None) => {
                let _ = done.recv();
                return;
            }
        };
        match done.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{PollOutcome, WatchdogLimits};
    use std::os::unix::net::UnixDatagram;
    use std::path::PathBuf;

    struct FakeManager {
        socket: UnixDatagram,
        dir: PathBuf,
    }

    impl FakeManager {
        fn new() -> FakeManager {
            let dir = std::env::temp_dir().join(format!(
                "tunnel-service-{}-{}",
                std::process::id(),
                crate::random::hex(8)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let socket = UnixDatagram::bind(dir.join("notify")).unwrap();
            FakeManager { socket, dir }
        }

        fn notifier(&self, watchdog_usec: &str) -> Notifier {
            let path = self.dir.join("notify");
            Notifier::from_vars(
                Some(path.as_os_str()),
                Some(std::ffi::OsStr::new(watchdog_usec)),
                None,
                1,
            )
            .unwrap()
            .unwrap()
        }

        /// The next datagram within `limit`, if any.
        fn next(&self, limit: Duration) -> Option<String> {
            self.socket.set_read_timeout(Some(limit)).unwrap();
            let mut buf = [0u8; 1024];
            let n = self.socket.recv(&mut buf).ok()?;
            Some(String::from_utf8_lossy(&buf[..n]).into_owned())
        }

        /// Waits for a datagram holding `line`, returning those before it.
        fn wait_for(&self, line: &str) -> Vec<String> {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut before = Vec::new();
            while Instant::now() < deadline {
                match self.next(Duration::from_millis(200)) {
                    Some(d) if d.lines().any(|l| l == line) => return before,
                    Some(d) => before.push(d),
                    None => {}
                }
            }
            panic!("no {line} within 10 s; got {before:?}");
        }
    }

    impl Drop for FakeManager {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn ready_waits_for_a_successful_poll_and_the_watchdog_follows_liveness() {
        let manager = FakeManager::new();
        let telemetry = Arc::new(Telemetry::new());
        // A poll loop silent for more than 300 ms counts as stuck.
        telemetry.set_watchdog(WatchdogLimits {
            poll_stall: Duration::from_millis(300),
            worker_stall: Duration::from_secs(60),
        });
        telemetry.poll_heartbeat();
        // Pings every 20 ms (half of WATCHDOG_USEC).
        let link = ServiceLink::start(manager.notifier("40000"), Arc::clone(&telemetry)).unwrap();
        // Failed polls: pings, but no READY.
        telemetry.poll_finished(PollOutcome::HttpError(503), Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(manager.next(Duration::from_secs(5)).unwrap(), "WATCHDOG=1");
        }
        telemetry.poll_heartbeat();
        telemetry.poll_finished(PollOutcome::Empty, Duration::ZERO);
        let before = manager.wait_for("READY=1");
        assert!(before.iter().all(|d| d == "WATCHDOG=1"), "{before:?}");

        // The poll loop goes silent: once liveness fails, the pings stop.
        let snapshot_stuck = || !liveness(&telemetry.health_snapshot()).healthy;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !snapshot_stuck() {
            assert!(Instant::now() < deadline, "liveness never failed");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Pings sent before the link noticed may still be queued; then none
        // for 15 intervals.
        let deadline = Instant::now() + Duration::from_secs(10);
        while manager.next(Duration::from_millis(100)).is_some() {
            assert!(Instant::now() < deadline, "the pings never stopped");
        }
        assert_eq!(manager.next(Duration::from_millis(300)), None);
        // It reports again: the pings resume.
        telemetry.poll_heartbeat();
        assert_eq!(manager.next(Duration::from_secs(5)).unwrap(), "WATCHDOG=1");

        link.stopping();
        manager.wait_for("STOPPING=1");
        link.finish();
    }

    #[test]
    fn a_manager_that_went_away_never_stops_the_link() {
        let manager = FakeManager::new();
        let telemetry = Arc::new(Telemetry::new());
        let link = ServiceLink::start(manager.notifier("20000"), Arc::clone(&telemetry)).unwrap();
        assert!(manager.next(Duration::from_secs(5)).is_some());
        drop(manager);
        telemetry.poll_finished(PollOutcome::Empty, Duration::ZERO);
        // Sends now fail; stopping and finishing still return.
        link.stopping();
        assert!(link.warned.load(Ordering::Relaxed));
        link.finish();
    }
}
