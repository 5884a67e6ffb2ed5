//! One supervised stdio child: pipes, pending ids, progress routing, restart with backoff, initialize replay, cancellation, hang detection.
//! Never lets a caller wait past its deadline, never buffers the child's output without bound, never blocks the reader on a caller.

use super::child::{self, Spawned, StdioError, Stopped};
use super::lines::{preview, read_line_bounded, Line, RateLimit, MAX_LINE_BYTES};
use super::{closed, json_headers};
use crate::admin::telemetry::Telemetry;
use crate::backoff::{Backoff, Jitter};
use crate::config::StdioConfig;
use crate::contract::{FailureSource, TransportErrorKind, TunnelFailure};
use crate::mcp::idmap::{restore_id, with_id, IdMap, Lookup};
use crate::mcp::{McpCall, McpReply};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use serde_json::{json, Value};
use std::io::{BufReader, Write};
use std::process::{ChildStderr, ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// First restart delay; doubles per consecutive failure.
pub const RESTART_INITIAL: Duration = Duration::from_millis(100);
/// Longest restart delay.
pub const RESTART_MAX: Duration = Duration::from_secs(30);
/// A child that stayed up this long resets the restart delay.
pub const HEALTHY_RESET: Duration = Duration::from_secs(60);
/// How long a wedged-looking child has to answer the `ping` probe.
pub const PING_GRACE: Duration = Duration::from_secs(5);
/// How long the replayed `initialize` may take after a restart.
pub const REPLAY_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines queued for the child's stdin; a full queue pushes back on callers
/// within their deadlines.
const WRITE_QUEUE: usize = 256;
/// Messages queued for one waiting caller. Progress beyond it is dropped (with
/// a log line) rather than stall the reader; the terminal answer always fits.
const EVENT_QUEUE: usize = 64;
/// Supervisor mailbox (lifecycle events are few per child).
const CONTROL_QUEUE: usize = 64;
/// After the child exits, how long to let the reader drain what it wrote.
const EXIT_DRAIN: Duration = Duration::from_millis(500);
/// Restart path: wait after closing stdin, then after SIGTERM.
const RESTART_STDIN_WAIT: Duration = Duration::from_secs(1);
const RESTART_TERM_WAIT: Duration = Duration::from_secs(2);
/// A caller waiting for a down child gives up this much before its deadline,
/// so the dispatcher still has time to post the failure.
const DOWN_WAIT_MARGIN: Duration = Duration::from_secs(1);
/// Longest stderr line kept (longer ones are cut), and how much of it is logged.
const STDERR_LINE_BYTES: usize = 64 * 1024;
const STDERR_LOG_BYTES: usize = 2048;
/// Log budget per child for stderr lines and for stdout lines that are not JSON.
const STDERR_LOG_BURST: u32 = 50;
const NOISE_LOG_BURST: u32 = 10;
const LOG_WINDOW: Duration = Duration::from_secs(10);

/// What a waiting caller receives.
enum Event {
    /// A notification for this call (progress), token already restored.
    Notify(Value),
    /// The terminal answer, id already restored.
    Answer(Value),
    /// The child went away before answering.
    Closed(TransportErrorKind),
}

/// Who owns a child-side id.
enum Waiter {
    Call {
        tx: Sender<Event>,
        /// The caller's progress token, restored on progress notifications.
        token: Option<Value>,
        /// Set for `initialize`: the request, remembered if it succeeds.
        initialize: Option<Value>,
    },
    /// The `initialize` replayed after a restart: its answer is swallowed.
    Replay,
    /// The hang-detection `ping`.
    Probe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Spawned, replaying `initialize`; callers wait.
    Starting,
    Ready,
    /// Between children (backoff); callers wait.
    Down,
    /// Shut down, or (per-session) the child ended for good.
    Stopped,
}

/// Why a child's life ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Exited,
    StdoutClosed,
    StdinBroken,
    Wedged,
    InitializeTimeout,
    TooManyRetired,
    ReplayFailed,
    Shutdown,
}

impl End {
    fn describe(self) -> &'static str {
        match self {
            End::Exited => "the process exited",
            End::StdoutClosed => "it closed its stdout",
            End::StdinBroken => "its stdin broke",
            End::Wedged => "it stopped answering (no reply to ping)",
            End::InitializeTimeout => "an initialize request timed out",
            End::TooManyRetired => "too many timed-out requests are still unanswered",
            End::ReplayFailed => "the replayed initialize was not answered",
            End::Shutdown => "the agent is shutting down",
        }
    }

    /// What callers whose request was in flight are told.
    fn failure_kind(self) -> TransportErrorKind {
        match self {
            End::Exited | End::StdoutClosed => TransportErrorKind::UnexpectedEof,
            End::StdinBroken => TransportErrorKind::ClosedPipe,
            End::Wedged | End::InitializeTimeout | End::TooManyRetired | End::ReplayFailed => {
                TransportErrorKind::ConnectionAborted
            }
            End::Shutdown => TransportErrorKind::ConnectionClosed,
        }
    }
}

/// The supervisor's mailbox.
enum Control {
    Exited { generation: u64, status: String },
    StdoutClosed { generation: u64 },
    StdinBroken { generation: u64 },
    Restart { generation: u64, why: End },
    ReplayAnswered { generation: u64 },
    ProbeAnswered { generation: u64 },
    Shutdown { grace: Duration },
}

/// One line for the child's stdin; `ack` learns whether it was written.
struct WriteJob {
    line: Vec<u8>,
    ack: Option<Sender<bool>>,
}

struct State {
    phase: Phase,
    generation: u64,
    pid: Option<u32>,
    writer: Option<Sender<WriteJob>>,
    ids: IdMap<Waiter>,
    /// The first successful `initialize` request, replayed after restarts.
    init: Option<Value>,
    /// Whether `notifications/initialized` followed it.
    init_notified: bool,
    /// Last time the child wrote anything on stdout.
    last_output: Instant,
    /// When the current run of pending calls began.
    waiting_since: Option<Instant>,
    restart_requested: bool,
    restarts: u64,
    next_start: Option<Instant>,
}

impl State {
    fn has_calls(&self) -> bool {
        self.ids
            .payloads()
            .any(|w| matches!(w, Waiter::Call { .. }))
    }

    fn calls_changed(&mut self, now: Instant) {
        match (self.has_calls(), self.waiting_since) {
            (true, None) => self.waiting_since = Some(now),
            (false, Some(_)) => self.waiting_since = None,
            _ => {}
        }
    }

    /// Fails everything in flight: the child is gone.
    fn fail_all(&mut self, kind: TransportErrorKind) {
        for (_, waiter) in self.ids.drain() {
            if let Waiter::Call { tx, .. } = waiter {
                let _ = tx.try_send(Event::Closed(kind));
            }
        }
        self.waiting_since = None;
    }
}

/// Everything the supervisor thread, the pipe threads and callers share.
struct Shared {
    argv: Vec<String>,
    cfg: StdioConfig,
    telemetry: Arc<Telemetry>,
    /// Shared mode restarts; a per-session child ends its session instead.
    restart: bool,
    /// For log lines: "stdio MCP server" or "stdio session 1a2b…".
    label: String,
    state: Mutex<State>,
    changed: Condvar,
    control: Sender<Control>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the table half-updated
        // in a way that matters more than stopping would; keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Handle to one supervised child. Dropping it asks the supervisor to stop.
pub struct Supervisor {
    shared: Arc<Shared>,
    done: Receiver<()>,
}

impl Supervisor {
    /// Starts the child now (so a command that cannot run is reported at once)
    /// and the thread that keeps it running.
    pub fn start(
        argv: &[String],
        cfg: &StdioConfig,
        telemetry: Arc<Telemetry>,
        restart: bool,
        label: String,
    ) -> Result<Supervisor, StdioError> {
        let first = child::spawn(argv, cfg)?;
        let (control_tx, control_rx) = bounded(CONTROL_QUEUE);
        let shared = Arc::new(Shared {
            argv: argv.to_vec(),
            cfg: cfg.clone(),
            telemetry,
            restart,
            label,
            state: Mutex::new(State {
                phase: Phase::Starting,
                generation: 0,
                pid: None,
                writer: None,
                ids: IdMap::new(),
                init: None,
                init_notified: false,
                last_output: Instant::now(),
                waiting_since: None,
                restart_requested: false,
                restarts: 0,
                next_start: None,
            }),
            changed: Condvar::new(),
            control: control_tx,
        });
        let (done_tx, done_rx) = bounded::<()>(1);
        let first_pid = first.pid;
        let Some(first) = launch(&shared, 1, first) else {
            return Err(StdioError::Spawn {
                program: argv.first().cloned().unwrap_or_default(),
                reason: "no thread to serve its pipes".to_string(),
            });
        };
        let thread_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("stdio-supervisor".into())
            .spawn(move || {
                supervise(&thread_shared, &control_rx, first);
                drop(done_tx);
            });
        if let Err(e) = spawned {
            let _ = crate::sys::signal_process_group(first_pid, crate::sys::GroupSignal::Kill);
            return Err(StdioError::Spawn {
                program: argv.first().cloned().unwrap_or_default(),
                reason: format!("no thread to supervise it: {e}"),
            });
        }
        Ok(Supervisor {
            shared,
            done: done_rx,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        let st = self.shared.lock();
        (st.phase == Phase::Ready || st.phase == Phase::Starting)
            .then_some(st.pid)
            .flatten()
    }

    pub fn is_up(&self) -> bool {
        self.shared.lock().phase == Phase::Ready
    }

    pub fn is_stopped(&self) -> bool {
        self.shared.lock().phase == Phase::Stopped
    }

    pub fn restarts(&self) -> u64 {
        self.shared.lock().restarts
    }

    /// "pid N, restarts M" and friends, for the status page.
    pub fn detail(&self) -> String {
        let st = self.shared.lock();
        let pid = st.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        match st.phase {
            Phase::Ready => format!("pid {pid}, restarts {}", st.restarts),
            Phase::Starting => format!("pid {pid} starting, restarts {}", st.restarts),
            Phase::Down => match st
                .next_start
                .and_then(|t| t.checked_duration_since(Instant::now()))
            {
                Some(left) => format!(
                    "down, restarting in {} ms, restarts {}",
                    left.as_millis(),
                    st.restarts
                ),
                None => format!("down, restarting, restarts {}", st.restarts),
            },
            Phase::Stopped => format!("stopped, restarts {}", st.restarts),
        }
    }

    /// Forwards one message: a request waits for its answer, a notification
    /// for its write. See the module documentation of `stdio` for the rules.
    pub fn call(&self, call: &McpCall<'_>, on_notify: &mut dyn FnMut(Value)) -> McpReply {
        let message = call.message;
        let method = message.get("method").and_then(Value::as_str);
        let id = message.get("id").filter(|id| !id.is_null());
        match (method, id) {
            (Some(method), Some(id)) => self.request(call, method, id, on_notify),
            _ => self.notification(call, method),
        }
    }

    /// Waits until the child is ready, within the caller's deadline.
    fn wait_ready(&self, deadline: Instant) -> Result<MutexGuard<'_, State>, McpReply> {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        let until = deadline - DOWN_WAIT_MARGIN.min(left / 4);
        let mut st = self.shared.lock();
        loop {
            match st.phase {
                Phase::Ready => return Ok(st),
                Phase::Stopped => return Err(closed(TransportErrorKind::ConnectionClosed)),
                Phase::Starting | Phase::Down => {}
            }
            let Some(wait) = until
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                return Err(closed(TransportErrorKind::ConnectionClosed));
            };
            st = match self.shared.changed.wait_timeout(st, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    fn request(
        &self,
        call: &McpCall<'_>,
        method: &str,
        id: &Value,
        on_notify: &mut dyn FnMut(Value),
    ) -> McpReply {
        let (tx, rx) = bounded(EVENT_QUEUE);
        let token = call
            .message
            .get("params")
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get("progressToken"))
            .cloned();
        let is_initialize = method == "initialize";
        let waiter = Waiter::Call {
            tx,
            token: token.clone(),
            initialize: is_initialize.then(|| call.message.clone()),
        };
        let (child_id, generation, writer) = {
            let mut st = match self.wait_ready(call.deadline) {
                Ok(st) => st,
                Err(reply) => return reply,
            };
            let child_id = match st.ids.register(id.clone(), waiter) {
                Ok(child_id) => child_id,
                Err(e) => {
                    log::warn!("{}: {e}", self.shared.label);
                    return McpReply::Failed(TunnelFailure::transport(
                        FailureSource::ClientInternal,
                        TransportErrorKind::Unknown,
                    ));
                }
            };
            st.calls_changed(Instant::now());
            (child_id, st.generation, st.writer.clone())
        };
        let mut outgoing = with_id(call.message, child_id);
        if token.is_some() {
            outgoing["params"]["_meta"]["progressToken"] = Value::from(child_id);
        }
        let line = match encode(&outgoing) {
            Some(line) => line,
            None => {
                self.forget(child_id, generation);
                return McpReply::Failed(TunnelFailure::transport(
                    FailureSource::ClientInternal,
                    TransportErrorKind::ResponseBodyTooLarge,
                ));
            }
        };
        let Some(writer) = writer else {
            self.forget(child_id, generation);
            return closed(TransportErrorKind::ClosedPipe);
        };
        match writer.send_deadline(WriteJob { line, ack: None }, call.deadline) {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => {
                self.forget(child_id, generation);
                return McpReply::Expired;
            }
            Err(SendTimeoutError::Disconnected(_)) => {
                self.forget(child_id, generation);
                return closed(TransportErrorKind::ClosedPipe);
            }
        }
        loop {
            match rx.recv_deadline(call.deadline) {
                Ok(Event::Notify(note)) => on_notify(note),
                Ok(Event::Answer(answer)) => {
                    return McpReply::Response {
                        json: answer,
                        status: 200,
                        headers: json_headers(),
                    }
                }
                Ok(Event::Closed(kind)) => return closed(kind),
                Err(RecvTimeoutError::Timeout) => {
                    self.expire(child_id, generation, is_initialize);
                    return McpReply::Expired;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return closed(TransportErrorKind::ConnectionClosed)
                }
            }
        }
    }

    fn notification(&self, call: &McpCall<'_>, method: Option<&str>) -> McpReply {
        let mut outgoing = call.message.clone();
        let writer = {
            let mut st = match self.wait_ready(call.deadline) {
                Ok(st) => st,
                Err(reply) => return reply,
            };
            match method {
                Some("notifications/initialized") if st.init.is_some() => st.init_notified = true,
                Some("notifications/cancelled") => {
                    // The caller names its own id; the child knows ours.
                    let asked = call.message.get("params").and_then(|p| p.get("requestId"));
                    let ours = asked.map(|a| st.ids.find_original(a)).unwrap_or_default();
                    match ours.as_slice() {
                        [only] => outgoing["params"]["requestId"] = Value::from(*only),
                        _ => {
                            log::debug!(
                                "{}: cancellation matches {} requests in flight; not forwarded",
                                self.shared.label,
                                ours.len()
                            );
                            return accepted();
                        }
                    }
                }
                _ => {}
            }
            st.writer.clone()
        };
        let Some(line) = encode(&outgoing) else {
            return McpReply::Failed(TunnelFailure::transport(
                FailureSource::ClientInternal,
                TransportErrorKind::ResponseBodyTooLarge,
            ));
        };
        let Some(writer) = writer else {
            return closed(TransportErrorKind::ClosedPipe);
        };
        let (ack_tx, ack_rx) = bounded(1);
        match writer.send_deadline(
            WriteJob {
                line,
                ack: Some(ack_tx),
            },
            call.deadline,
        ) {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => return McpReply::Expired,
            Err(SendTimeoutError::Disconnected(_)) => {
                return closed(TransportErrorKind::ClosedPipe)
            }
        }
        match ack_rx.recv_deadline(call.deadline) {
            Ok(true) => accepted(),
            Ok(false) | Err(RecvTimeoutError::Disconnected) => {
                closed(TransportErrorKind::ClosedPipe)
            }
            Err(RecvTimeoutError::Timeout) => McpReply::Expired,
        }
    }

    fn forget(&self, child_id: u64, generation: u64) {
        let mut st = self.shared.lock();
        if st.generation == generation {
            st.ids.forget(child_id);
            st.calls_changed(Instant::now());
        }
    }

    /// The caller's deadline passed: tell the child, retire the id, keep the
    /// pipe — except for `initialize`, where the child is restarted.
    fn expire(&self, child_id: u64, generation: u64, is_initialize: bool) {
        let mut st = self.shared.lock();
        if st.generation != generation {
            return;
        }
        let why = if is_initialize {
            st.ids.forget(child_id);
            Some(End::InitializeTimeout)
        } else if !st.ids.retire(child_id) {
            Some(End::TooManyRetired)
        } else {
            let cancel = json!({
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": child_id, "reason": "the tunnel command's deadline passed"},
            });
            if let (Some(writer), Some(line)) = (&st.writer, encode(&cancel)) {
                let _ = writer.try_send(WriteJob { line, ack: None });
            }
            None
        };
        st.calls_changed(Instant::now());
        if let Some(why) = why {
            if !st.restart_requested {
                st.restart_requested = true;
                let _ = self
                    .shared
                    .control
                    .try_send(Control::Restart { generation, why });
            }
        }
    }

    /// Asks the supervisor to stop the child (close stdin, SIGTERM, SIGKILL,
    /// within `grace`) and waits for it, at most `grace` plus a little.
    pub fn shutdown(&self, grace: Duration) {
        self.request_stop(grace);
        let _ = self.done.recv_timeout(grace + Duration::from_secs(1));
    }

    /// Like [`Supervisor::shutdown`] without waiting.
    pub fn request_stop(&self, grace: Duration) {
        {
            let mut st = self.shared.lock();
            if st.phase != Phase::Stopped {
                st.phase = Phase::Stopped;
                st.fail_all(End::Shutdown.failure_kind());
                self.shared.changed.notify_all();
            }
        }
        let _ = self.shared.control.try_send(Control::Shutdown { grace });
    }

    /// Waits until the supervisor thread has finished, at most `limit`.
    pub fn wait_stopped(&self, limit: Duration) -> bool {
        !matches!(
            self.done.recv_timeout(limit),
            Err(RecvTimeoutError::Timeout)
        )
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.request_stop(RESTART_TERM_WAIT);
    }
}

fn accepted() -> McpReply {
    McpReply::Accepted {
        status: 202,
        headers: Default::default(),
    }
}

/// One JSON line, or `None` when it would exceed [`MAX_LINE_BYTES`].
fn encode(message: &Value) -> Option<Vec<u8>> {
    let mut line = serde_json::to_vec(message).ok()?;
    if line.len() > MAX_LINE_BYTES {
        return None;
    }
    line.push(b'\n');
    Some(line)
}

// ------------------------------------------------------------ supervisor thread

/// A child being served.
struct Running {
    generation: u64,
    pid: u32,
    reaped: Arc<AtomicBool>,
    started: Instant,
}

/// Publishes a spawned child and starts its pipe threads.
fn launch(shared: &Arc<Shared>, generation: u64, spawned: Spawned) -> Option<Running> {
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

fn supervise(shared: &Arc<Shared>, control: &Receiver<Control>, first: Running) {
    let mut backoff = Backoff::with_jitter(RESTART_INITIAL, RESTART_MAX, Jitter::Equal);
    let mut generation = first.generation;
    let mut running = Some(first);
    loop {
        if let Some(run) = running.take() {
            let (end, grace) = run_generation(shared, control, run.generation);
            let shutdown = end == End::Shutdown;
            retire_generation(shared, end, run.pid, &run.reaped, shutdown.then_some(grace));
            if shutdown || !shared.restart {
                break;
            }
            if run.started.elapsed() >= HEALTHY_RESET {
                backoff.reset();
            }
        }
        if shared.lock().phase == Phase::Stopped {
            break;
        }
        let delay = backoff.next_delay();
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
    let mut st = shared.lock();
    st.phase = Phase::Stopped;
    st.pid = None;
    st.writer = None;
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

/// A named thread body serving one pipe (or the exit) of a child.
type PipeThread = (&'static str, Box<dyn FnOnce() + Send>);

/// Starts the pipe threads of a new child and publishes it.
fn install(
    shared: &Arc<Shared>,
    generation: u64,
    spawned: Spawned,
    reaped: &Arc<AtomicBool>,
) -> bool {
    let Spawned {
        mut child,
        pid,
        stdin,
        stdout,
        stderr,
    } = spawned;
    let (write_tx, write_rx) = bounded(WRITE_QUEUE);
    let threads: [PipeThread; 4] = [
        ("stdio-writer", {
            let control = shared.control.clone();
            Box::new(move || write_stdin(stdin, &write_rx, &control, generation))
        }),
        ("stdio-reader", {
            let shared = shared.clone();
            Box::new(move || read_stdout(&shared, stdout, generation))
        }),
        ("stdio-stderr", {
            let label = shared.label.clone();
            Box::new(move || read_stderr(&label, pid, stderr))
        }),
        ("stdio-waiter", {
            let control = shared.control.clone();
            let reaped = reaped.clone();
            Box::new(move || {
                let status = match child.wait() {
                    Ok(status) => status.to_string(),
                    Err(e) => format!("unknown ({e})"),
                };
                reaped.store(true, Ordering::Release);
                let _ = control.send(Control::Exited { generation, status });
            })
        }),
    ];
    for (name, body) in threads {
        if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(body) {
            log::error!("{}: cannot start a thread for pid {pid}: {e}", shared.label);
            let _ = crate::sys::signal_process_group(pid, crate::sys::GroupSignal::Kill);
            let mut st = shared.lock();
            st.phase = Phase::Stopped;
            shared.changed.notify_all();
            return false;
        }
    }
    let mut st = shared.lock();
    if st.phase == Phase::Stopped {
        // Shut down while spawning: the generation ends at once.
        st.generation = generation;
        st.pid = Some(pid);
        let _ = shared.control.try_send(Control::Shutdown {
            grace: RESTART_TERM_WAIT,
        });
        return true;
    }
    st.generation = generation;
    st.pid = Some(pid);
    st.writer = Some(write_tx);
    st.phase = Phase::Starting;
    st.restart_requested = false;
    st.last_output = Instant::now();
    true
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
        match st.init.clone() {
            Some(init) => match st.ids.register(
                init.get("id").cloned().unwrap_or(Value::Null),
                Waiter::Replay,
            ) {
                Ok(child_id) => {
                    let line = encode(&with_id(&init, child_id));
                    if let (Some(writer), Some(line)) = (&st.writer, line) {
                        let _ = writer.try_send(WriteJob { line, ack: None });
                    }
                    replay_until = Some(Instant::now() + REPLAY_TIMEOUT);
                    log::info!("{}: replaying initialize to the new child", shared.label);
                }
                Err(_) => return (End::ReplayFailed, RESTART_TERM_WAIT),
            },
            None => {
                st.phase = Phase::Ready;
                shared.changed.notify_all();
            }
        }
    }
    let mut probe_sent: Option<Instant> = None;
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
                let mut st = shared.lock();
                if st.init_notified {
                    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
                    if let (Some(writer), Some(line)) = (&st.writer, encode(&note)) {
                        let _ = writer.try_send(WriteJob { line, ack: None });
                    }
                }
                if st.phase == Phase::Starting {
                    st.phase = Phase::Ready;
                }
                shared.changed.notify_all();
            }
            Ok(Control::ProbeAnswered { generation: g }) if g == generation => probe_sent = None,
            Ok(Control::Shutdown { grace }) => return (End::Shutdown, grace),
            Ok(_) => {} // a message about an earlier child
            Err(RecvTimeoutError::Disconnected) => return (End::Shutdown, RESTART_TERM_WAIT),
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        if replay_until.is_some_and(|until| now >= until) {
            return (End::ReplayFailed, RESTART_TERM_WAIT);
        }
        if let Some(sent) = probe_sent {
            if now.duration_since(sent) >= PING_GRACE {
                return (End::Wedged, RESTART_TERM_WAIT);
            }
        } else if looks_wedged(shared, now) {
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

fn looks_wedged(shared: &Shared, now: Instant) -> bool {
    let st = shared.lock();
    let Some(since) = st.waiting_since else {
        return false;
    };
    st.phase == Phase::Ready
        && now.duration_since(since.max(st.last_output)) >= shared.cfg.hang_after
}

fn send_probe(shared: &Shared) -> bool {
    let mut st = shared.lock();
    let Ok(child_id) = st.ids.register(Value::Null, Waiter::Probe) else {
        return false;
    };
    log::warn!(
        "{}: no output for {} s while requests wait; sending ping",
        shared.label,
        shared.cfg.hang_after.as_secs()
    );
    let ping = json!({"jsonrpc": "2.0", "id": child_id, "method": "ping"});
    if let (Some(writer), Some(line)) = (&st.writer, encode(&ping)) {
        let _ = writer.try_send(WriteJob { line, ack: None });
    }
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
    {
        let mut st = shared.lock();
        if st.phase != Phase::Stopped {
            st.phase = if shared.restart {
                Phase::Down
            } else {
                Phase::Stopped
            };
        }
        st.fail_all(end.failure_kind());
        st.writer = None; // the writer thread drains, then drops stdin
        shared.changed.notify_all();
    }
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
    match child::stop_group(pid, reaped, stdin_wait, term_wait) {
        Stopped::Exited => {}
        Stopped::Terminated => log::info!("{}: pid {pid} group ended by SIGTERM", shared.label),
        Stopped::Killed => log::warn!("{}: pid {pid} group ended by SIGKILL", shared.label),
    }
}

// ------------------------------------------------------------ pipe threads

fn write_stdin(
    mut stdin: ChildStdin,
    jobs: &Receiver<WriteJob>,
    control: &Sender<Control>,
    generation: u64,
) {
    for job in jobs.iter() {
        let ok = stdin
            .write_all(&job.line)
            .and_then(|_| stdin.flush())
            .is_ok();
        if let Some(ack) = job.ack {
            let _ = ack.try_send(ok);
        }
        if !ok {
            let _ = control.send(Control::StdinBroken { generation });
            return;
        }
    }
}

fn read_stdout(shared: &Arc<Shared>, stdout: ChildStdout, generation: u64) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    let mut noise = RateLimit::new(NOISE_LOG_BURST, LOG_WINDOW);
    loop {
        match read_line_bounded(&mut reader, &mut buf, MAX_LINE_BYTES) {
            Ok(Line::Complete) => {}
            Ok(Line::TooLong) => {
                if let Some(skipped) = noise.allow(Instant::now()) {
                    log::warn!(
                        "{}: dropped a stdout line longer than {MAX_LINE_BYTES} bytes ({skipped} similar lines not logged)",
                        shared.label
                    );
                }
                continue;
            }
            Ok(Line::Eof) | Err(_) => {
                let _ = shared.control.send(Control::StdoutClosed { generation });
                return;
            }
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&buf) {
            Ok(message) if message.is_object() => route(shared, generation, message),
            _ => {
                if let Some(skipped) = noise.allow(Instant::now()) {
                    log::warn!(
                        "{}: skipped a stdout line that is not a JSON-RPC message ({skipped} similar lines not logged): {}",
                        shared.label,
                        preview(&buf)
                    );
                }
            }
        }
    }
}

/// Delivers one message from the child to whoever it belongs to.
fn route(shared: &Arc<Shared>, generation: u64, message: Value) {
    let mut st = shared.lock();
    if st.generation != generation {
        return;
    }
    let now = Instant::now();
    st.last_output = now;
    let has_method = message.get("method").is_some_and(Value::is_string);
    let id = message.get("id").filter(|id| !id.is_null()).cloned();
    match (has_method, id) {
        (true, Some(id)) => answer_server_request(shared, &st, &message, id),
        (true, None) => route_notification(shared, &st, message),
        (false, Some(id)) => route_answer(shared, &mut st, generation, message, &id),
        (false, None) => log::debug!(
            "{}: skipped a message with neither method nor id",
            shared.label
        ),
    }
    st.calls_changed(now);
}

fn route_answer(shared: &Shared, st: &mut State, generation: u64, mut message: Value, id: &Value) {
    match st.ids.take(id) {
        Lookup::Pending {
            original,
            payload: Waiter::Call { tx, initialize, .. },
        } => {
            if let Some(request) = initialize {
                if st.init.is_none() && message.get("result").is_some() {
                    st.init = Some(request);
                }
            }
            restore_id(&mut message, original);
            let _ = tx.try_send(Event::Answer(message));
        }
        Lookup::Pending {
            payload: Waiter::Replay,
            ..
        } => {
            if message.get("result").is_none() {
                log::warn!(
                    "{}: the new child refused the replayed initialize",
                    shared.label
                );
            }
            let _ = shared
                .control
                .try_send(Control::ReplayAnswered { generation });
        }
        Lookup::Pending {
            payload: Waiter::Probe,
            ..
        } => {
            log::info!("{}: child answered the ping; not wedged", shared.label);
            let _ = shared
                .control
                .try_send(Control::ProbeAnswered { generation });
        }
        Lookup::Retired => log::debug!("{}: discarded a late answer", shared.label),
        Lookup::Unknown => log::debug!(
            "{}: discarded an answer to no pending request",
            shared.label
        ),
    }
}

fn route_notification(shared: &Shared, st: &State, mut message: Value) {
    let token = message
        .get("params")
        .and_then(|p| p.get("progressToken"))
        .cloned();
    let Some(token) = token else {
        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
        log::debug!(
            "{}: notification {method} has no owner in the tunnel; skipped",
            shared.label
        );
        return;
    };
    match st.ids.get(&token) {
        Some((
            _,
            Waiter::Call {
                tx,
                token: Some(original),
                ..
            },
        )) => {
            message["params"]["progressToken"] = original.clone();
            // Keep one slot for the terminal answer.
            if tx.len() + 1 < EVENT_QUEUE {
                let _ = tx.try_send(Event::Notify(message));
            } else {
                log::warn!(
                    "{}: a caller is slow to take progress; dropped one",
                    shared.label
                );
            }
        }
        _ => log::debug!("{}: progress for no pending request; skipped", shared.label),
    }
}

/// The tunnel cannot carry a request from the server to the caller: answer it
/// here so the child never hangs waiting.
fn answer_server_request(shared: &Shared, st: &State, message: &Value, id: Value) {
    let method = message.get("method").and_then(Value::as_str).unwrap_or("");
    let answer = if method == "ping" {
        json!({"jsonrpc": "2.0", "id": id, "result": {}})
    } else {
        shared.telemetry.server_request_refused();
        log::info!(
            "{}: refused server-initiated request {method}",
            shared.label
        );
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": -32601,
                "message": format!("{method} is not available: the tunnel does not carry server-initiated requests back to the client"),
            },
        })
    };
    if let (Some(writer), Some(line)) = (&st.writer, encode(&answer)) {
        let _ = writer.try_send(WriteJob { line, ack: None });
    }
}

fn read_stderr(label: &str, pid: u32, stderr: ChildStderr) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    let mut limit = RateLimit::new(STDERR_LOG_BURST, LOG_WINDOW);
    loop {
        match read_line_bounded(&mut reader, &mut buf, STDERR_LINE_BYTES) {
            Ok(Line::Eof) | Err(_) => return,
            Ok(Line::TooLong) => buf.clear(),
            Ok(Line::Complete) => {}
        }
        if !log::log_enabled!(log::Level::Debug) {
            continue;
        }
        if let Some(skipped) = limit.allow(Instant::now()) {
            let cut = &buf[..buf.len().min(STDERR_LOG_BYTES)];
            let text = String::from_utf8_lossy(cut);
            if skipped > 0 {
                log::debug!("{label}: pid {pid} stderr: ({skipped} lines not logged)");
            }
            log::debug!("{label}: pid {pid} stderr: {}", text.trim_end());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_bounds_lines() {
        assert_eq!(encode(&json!({"a": 1})).unwrap(), b"{\"a\":1}\n".to_vec());
        let huge = json!({"x": "y".repeat(MAX_LINE_BYTES)});
        assert!(encode(&huge).is_none());
    }
}
