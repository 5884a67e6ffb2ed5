//! One supervised stdio child, as its callers see it: start, forward a message, status, stop.
//! Never lets a caller wait past its deadline, never buffers the child's output without bound.
//!
//! The parts, in the order a message moves: this file (callers' side), `state`
//! (the state machine every thread drives under one lock), `pipes` (the child's
//! stdin/stdout/stderr/exit threads), `route` (a message from the child to its
//! owner), `lifecycle` (the supervisor thread: replay, hang detection, restarts).

mod lifecycle;
mod pipes;
mod route;
mod state;
#[cfg(test)]
mod tests;

use super::child::{self, StdioError};
use super::{closed, json_headers};
use crate::config::StdioConfig;
use crate::contract::{FailureSource, TransportErrorKind, TunnelFailure};
use crate::mcp::idmap::with_id;
use crate::mcp::{McpCall, McpReply};
use crate::telemetry::Telemetry;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use lifecycle::{Control, CONTROL_QUEUE, RESTART_TERM_WAIT};
use pipes::{encode, WriteJob};
use serde_json::Value;
use state::{Event, Outgoing, Phase, State, Waiter, EVENT_QUEUE};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A caller waiting for a down child gives up this much before its deadline,
/// so the dispatcher still has time to post the failure.
const DOWN_WAIT_MARGIN: Duration = Duration::from_secs(1);

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
            state: Mutex::new(State::new(Instant::now())),
            changed: Condvar::new(),
            control: control_tx,
        });
        let (done_tx, done_rx) = bounded::<()>(1);
        let first_pid = first.pid;
        let Some(first) = lifecycle::launch(&shared, 1, first) else {
            return Err(StdioError::Unserved {
                program: argv.first().cloned().unwrap_or_default(),
                reason: "no thread to serve its pipes",
                source: None,
            });
        };
        let thread_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("stdio-supervisor".into())
            .spawn(move || {
                lifecycle::supervise(&thread_shared, &control_rx, first);
                drop(done_tx);
            });
        if let Err(e) = spawned {
            let _ = crate::sys::signal_process_group(first_pid, crate::sys::GroupSignal::Kill);
            return Err(StdioError::Unserved {
                program: argv.first().cloned().unwrap_or_default(),
                reason: "no thread to supervise it",
                source: Some(e),
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
            _ => self.notification(call),
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
            match st.register(id.clone(), waiter, Instant::now()) {
                Ok(registered) => registered,
                Err(e) => {
                    log::warn!("{}: {e}", self.shared.label);
                    return McpReply::Failed(TunnelFailure::transport(
                        FailureSource::ClientInternal,
                        TransportErrorKind::Unknown,
                    ));
                }
            }
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

    fn notification(&self, call: &McpCall<'_>) -> McpReply {
        let (outgoing, writer) = {
            let mut st = match self.wait_ready(call.deadline) {
                Ok(st) => st,
                Err(reply) => return reply,
            };
            match st.outgoing_notification(call.message) {
                Outgoing::Forward(outgoing) => (outgoing, st.writer.clone()),
                Outgoing::Unmatched(matches) => {
                    log::debug!(
                        "{}: cancellation matches {matches} requests in flight; not forwarded",
                        self.shared.label
                    );
                    return accepted();
                }
            }
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
        self.shared
            .lock()
            .forget(child_id, generation, Instant::now());
    }

    /// The caller's deadline passed: tell the child, retire the id, keep the
    /// pipe — except for `initialize`, where the child is restarted.
    fn expire(&self, child_id: u64, generation: u64, is_initialize: bool) {
        let why = self
            .shared
            .lock()
            .expire(child_id, generation, is_initialize, Instant::now());
        if let Some(why) = why {
            let _ = self
                .shared
                .control
                .try_send(Control::Restart { generation, why });
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
        if self.shared.lock().stop() {
            self.shared.changed.notify_all();
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
