//! The supervisor thread: one child generation at a time — start, replay, hang detection, end,
//! restart after a backoff. Never waits on a caller; ends every child's process group it started.

use super::pipes;
use super::state::{End, Phase, Replay, RestartPacing};
use super::Shared;
use crate::mcp::stdio::child::{self, Spawned, Stopped};
use crate::mcp::stdio::lineage;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a wedged-looking child has to answer the `ping` probe.
pub const PING_GRACE: Duration = Duration::from_secs(5);
/// How long the replayed `initialize` may take after a restart.
pub const REPLAY_TIMEOUT: Duration = Duration::from_secs(10);
/// Supervisor mailbox (lifecycle events are few per child).
pub(super) const CONTROL_QUEUE: usize = 64;
/// After the child exits, how long to let the reader drain what it wrote.
const EXIT_DRAIN: Duration = Duration::from_millis(500);
/// How long orphans a child left outside its group get to die after it ended.
const ORPHAN_WAIT: Duration = Duration::from_secs(2);
/// Restart path: wait after closing stdin, then after SIGTERM.
const RESTART_STDIN_WAIT: Duration = Duration::from_secs(1);
pub(super) const RESTART_TERM_WAIT: Duration = Duration::from_secs(2);

/// The supervisor's mailbox.
#[derive(Debug, PartialEq)]
pub(super) enum Control {
    Exited { generation: u64, status: String },
    StdoutClosed { generation: u64 },
    StdinBroken { generation: u64 },
    Restart { generation: u64, why: End },
    ReplayAnswered { generation: u64 },
    ProbeAnswered { generation: u64 },
    Shutdown { grace: Duration },
}

/// A child being served.
pub(super) struct Running {
    generation: u64,
    pid: u32,
    reaped: Arc<AtomicBool>,
    started: Instant,
}

/// Publishes a spawned child and starts its pipe threads.
pub(super) fn launch(shared: &Arc<Shared>, generation: u64, spawned: Spawned) -> Option<Running> {
    let pid = spawned.pid;
    let reaped = Arc::new(AtomicBool::new(false));
    if !install(shared, generation, spawned, &reaped) {
        return None;
    }
    log::info!("{}: started pid {pid}", shared.label);
    Some(Running {
        generation,
        pid,
        reaped,
        started: Instant::now(),
    })
}

/// Starts the pipe threads of a new child and makes it the live generation.
fn install(
    shared: &Arc<Shared>,
    generation: u64,
    spawned: Spawned,
    reaped: &Arc<AtomicBool>,
) -> bool {
    let pid = spawned.pid;
    let writer = match pipes::serve(shared, generation, spawned, reaped) {
        Ok(writer) => writer,
        Err(e) => {
            log::error!("{}: cannot start a thread for pid {pid}: {e}", shared.label);
            let _ = crate::sys::signal_process_group(pid, crate::sys::GroupSignal::Kill);
            let mut st = shared.lock();
            st.phase = Phase::Stopped;
            shared.changed.notify_all();
            return false;
        }
    };
    let mut st = shared.lock();
    if !st.begin(generation, pid, writer, Instant::now()) {
        // Shut down while spawning: the generation ends at once.
        let _ = shared.control.try_send(Control::Shutdown {
            grace: RESTART_TERM_WAIT,
        });
    }
    true
}

/// The supervisor thread's body: serves `first`, then each restarted child,
/// until shutdown (or, per session, until the first child ends).
pub(super) fn supervise(shared: &Arc<Shared>, control: &Receiver<Control>, first: Running) {
    let mut pacing = RestartPacing::new();
    let mut generation = first.generation;
    let mut running = Some(first);
    loop {
        let mut lived = None;
        if let Some(run) = running.take() {
            let (end, grace) = run_generation(shared, control, run.generation);
            let shutdown = end == End::Shutdown;
            retire_generation(shared, end, run.pid, &run.reaped, shutdown.then_some(grace));
            if shutdown || !shared.restart {
                break;
            }
            lived = Some(run.started.elapsed());
        }
        if shared.lock().phase == Phase::Stopped {
            break;
        }
        let delay = pacing.next_delay(lived, crate::random::u64());
        shared.lock().next_start = Some(Instant::now() + delay);
        log::warn!("{}: restarting in {} ms", shared.label, delay.as_millis());
        if wait_out(control, delay) {
            break;
        }
        {
            let mut st = shared.lock();
            st.restarts += 1;
            st.next_start = None;
        }
        shared.telemetry.mcp_restarted();
        match child::spawn(&shared.argv, &shared.cfg) {
            Ok(spawned) => {
                generation += 1;
                running = launch(shared, generation, spawned);
                if running.is_none() {
                    break;
                }
            }
            Err(e) => log::error!("{}: restart failed: {e}", shared.label),
        }
    }
    shared.lock().finish();
    shared.changed.notify_all();
}

/// Sleeps `delay` while listening for a shutdown; true if one came.
fn wait_out(control: &Receiver<Control>, delay: Duration) -> bool {
    let until = Instant::now() + delay;
    loop {
        match control.recv_deadline(until) {
            Ok(Control::Shutdown { .. }) => return true,
            Ok(_) => continue,
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => return true,
        }
    }
}

/// Serves one child until it ends; returns why (and the shutdown grace).
fn run_generation(
    shared: &Arc<Shared>,
    control: &Receiver<Control>,
    generation: u64,
) -> (End, Duration) {
    let mut replay_until = None;
    {
        let mut st = shared.lock();
        if st.phase == Phase::Stopped {
            return wait_for_shutdown(control);
        }
        match st.start_replay() {
            Replay::Sent => {
                replay_until = Some(Instant::now() + REPLAY_TIMEOUT);
                log::info!("{}: replaying initialize to the new child", shared.label);
            }
            Replay::Failed => return (End::ReplayFailed, RESTART_TERM_WAIT),
            Replay::NotNeeded => shared.changed.notify_all(),
        }
    }
    let mut probe_sent: Option<Instant> = None;
    let mut observed_at: Option<Instant> = None;
    let tick = (shared.cfg.hang_after / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
    loop {
        let wait = match replay_until {
            Some(until) => until.saturating_duration_since(Instant::now()).min(tick),
            None => tick,
        };
        match control.recv_timeout(wait) {
            Ok(Control::Exited {
                generation: g,
                status,
            }) if g == generation => {
                log::warn!("{}: child exited ({status})", shared.label);
                drain_stdout(control, generation);
                return (End::Exited, RESTART_TERM_WAIT);
            }
            Ok(Control::StdoutClosed { generation: g }) if g == generation => {
                return (End::StdoutClosed, RESTART_TERM_WAIT)
            }
            Ok(Control::StdinBroken { generation: g }) if g == generation => {
                return (End::StdinBroken, RESTART_TERM_WAIT)
            }
            Ok(Control::Restart { generation: g, why }) if g == generation => {
                return (why, RESTART_TERM_WAIT)
            }
            Ok(Control::ReplayAnswered { generation: g }) if g == generation => {
                replay_until = None;
                shared.lock().replay_answered();
                shared.changed.notify_all();
            }
            Ok(Control::ProbeAnswered { generation: g }) if g == generation => probe_sent = None,
            Ok(Control::Shutdown { grace }) => return (End::Shutdown, grace),
            Ok(_) => {} // a message about an earlier child
            Err(RecvTimeoutError::Disconnected) => return (End::Shutdown, RESTART_TERM_WAIT),
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        if observed_at.is_none_or(|at| now.duration_since(at) >= lineage::OBSERVE_INTERVAL) {
            observed_at = Some(now);
            lineage::observe();
        }
        if replay_until.is_some_and(|until| now >= until) {
            return (End::ReplayFailed, RESTART_TERM_WAIT);
        }
        if let Some(sent) = probe_sent {
            if now.duration_since(sent) >= PING_GRACE {
                return (End::Wedged, RESTART_TERM_WAIT);
            }
        } else if shared.lock().looks_wedged(now, shared.cfg.hang_after) {
            probe_sent = send_probe(shared).then_some(now);
        }
    }
}

/// A shutdown that raced with a spawn: wait for its message.
fn wait_for_shutdown(control: &Receiver<Control>) -> (End, Duration) {
    let until = Instant::now() + RESTART_TERM_WAIT;
    while let Ok(message) = control.recv_deadline(until) {
        if let Control::Shutdown { grace } = message {
            return (End::Shutdown, grace);
        }
    }
    (End::Shutdown, RESTART_TERM_WAIT)
}

/// The child exited: give the reader a moment to deliver what it wrote last.
fn drain_stdout(control: &Receiver<Control>, generation: u64) {
    let until = Instant::now() + EXIT_DRAIN;
    while let Ok(message) = control.recv_deadline(until) {
        if matches!(message, Control::StdoutClosed { generation: g } if g == generation) {
            return;
        }
    }
}

fn send_probe(shared: &Shared) -> bool {
    let mut st = shared.lock();
    if !st.send_probe() {
        return false;
    }
    log::warn!(
        "{}: no output for {} s while requests wait; sending ping",
        shared.label,
        shared.cfg.hang_after.as_secs()
    );
    true
}

/// Ends a child's life: fail its callers, close stdin, end its group.
fn retire_generation(
    shared: &Arc<Shared>,
    end: End,
    pid: u32,
    reaped: &AtomicBool,
    grace: Option<Duration>,
) {
    shared.lock().end(end, shared.restart);
    shared.changed.notify_all();
    match end {
        End::Shutdown => log::info!("{}: stopping pid {pid}", shared.label),
        End::Wedged => log::error!(
            "{}: pid {pid} is wedged (nothing answered, ping unanswered for {} s); killing it",
            shared.label,
            PING_GRACE.as_secs()
        ),
        other => log::warn!("{}: pid {pid} ended: {}", shared.label, other.describe()),
    }
    let (stdin_wait, term_wait) = match grace {
        Some(grace) => (grace / 2, grace / 2),
        None => (RESTART_STDIN_WAIT, RESTART_TERM_WAIT),
    };
    // A wedged child will not read its stdin; do not wait for it to notice.
    let stdin_wait = if end == End::Wedged {
        Duration::ZERO
    } else {
        stdin_wait
    };
    // What runs below it now, including what left its group, is ended with it.
    lineage::observe_now();
    match child::stop_group(pid, reaped, stdin_wait, term_wait) {
        Stopped::Exited => {}
        Stopped::Terminated => log::info!("{}: pid {pid} group ended by SIGTERM", shared.label),
        Stopped::Killed => log::warn!("{}: pid {pid} group ended by SIGKILL", shared.label),
    }
    let orphans = lineage::end_orphans_of(pid, ORPHAN_WAIT);
    if orphans > 0 {
        log::warn!(
            "{}: ended {orphans} process(es) pid {pid} left outside its process group",
            shared.label
        );
    }
}
