//! The supervisor's state machine: the live child generation and its phase, who waits for
//! which child-side id, the remembered `initialize`, restart pacing. No threads, locks or processes.

use super::pipes::{encode, WriteJob};
use crate::backoff::{Backoff, Jitter};
use crate::contract::TransportErrorKind;
use crate::mcp::idmap::{with_id, IdMap, IdMapError};
use crossbeam_channel::Sender;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// First restart delay; doubles per consecutive failure.
pub const RESTART_INITIAL: Duration = Duration::from_millis(100);
/// Longest restart delay.
pub const RESTART_MAX: Duration = Duration::from_secs(30);
/// A child that stayed up this long resets the restart delay.
pub const HEALTHY_RESET: Duration = Duration::from_secs(60);
/// Messages queued for one waiting caller. Progress beyond it is dropped (with
/// a log line) rather than stall the reader; the terminal answer always fits.
pub(super) const EVENT_QUEUE: usize = 64;

/// What a waiting caller receives.
pub(super) enum Event {
    /// A notification for this call (progress), token already restored.
    Notify(Value),
    /// The terminal answer, id already restored.
    Answer(Value),
    /// The child went away before answering.
    Closed(TransportErrorKind),
}

/// Who owns a child-side id.
pub(super) enum Waiter {
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
pub(super) enum Phase {
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
pub(super) enum End {
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
    pub(super) fn describe(self) -> &'static str {
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
    pub(super) fn failure_kind(self) -> TransportErrorKind {
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

/// How a new child is brought to `Ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    /// No `initialize` succeeded yet: the child is ready at once.
    NotNeeded,
    /// The remembered `initialize` was queued for the child; callers wait for its answer.
    Sent,
    /// No id was left to send it under.
    Failed,
}

/// What to write for a client notification.
#[derive(Debug, PartialEq)]
pub(super) enum Outgoing {
    Forward(Value),
    /// A cancellation that names no single request in flight (how many it names).
    Unmatched(usize),
}

pub(super) struct State {
    pub(super) phase: Phase,
    pub(super) generation: u64,
    pub(super) pid: Option<u32>,
    pub(super) writer: Option<Sender<WriteJob>>,
    pub(super) ids: IdMap<Waiter>,
    /// The first successful `initialize` request, replayed after restarts.
    pub(super) init: Option<Value>,
    /// Whether `notifications/initialized` followed it.
    pub(super) init_notified: bool,
    /// Last time the child wrote anything on stdout.
    pub(super) last_output: Instant,
    /// When the current run of pending calls began.
    pub(super) waiting_since: Option<Instant>,
    pub(super) restart_requested: bool,
    pub(super) restarts: u64,
    pub(super) next_start: Option<Instant>,
}

impl State {
    pub(super) fn new(now: Instant) -> State {
        State {
            phase: Phase::Starting,
            generation: 0,
            pid: None,
            writer: None,
            ids: IdMap::new(),
            init: None,
            init_notified: false,
            last_output: now,
            waiting_since: None,
            restart_requested: false,
            restarts: 0,
            next_start: None,
        }
    }

    fn has_calls(&self) -> bool {
        self.ids
            .payloads()
            .any(|w| matches!(w, Waiter::Call { .. }))
    }

    pub(super) fn calls_changed(&mut self, now: Instant) {
        match (self.has_calls(), self.waiting_since) {
            (true, None) => self.waiting_since = Some(now),
            (false, Some(_)) => self.waiting_since = None,
            _ => {}
        }
    }

    /// Fails everything in flight: the child is gone.
    pub(super) fn fail_all(&mut self, kind: TransportErrorKind) {
        for (_, waiter) in self.ids.drain() {
            if let Waiter::Call { tx, .. } = waiter {
                let _ = tx.try_send(Event::Closed(kind));
            }
        }
        self.waiting_since = None;
    }

    /// Queues a message for the live child without waiting (answers, cancellations,
    /// probes): with no child, or a full queue, it is not sent.
    pub(super) fn send(&self, message: &Value) {
        if let (Some(writer), Some(line)) = (&self.writer, encode(message)) {
            let _ = writer.try_send(WriteJob { line, ack: None });
        }
    }

    // -------------------------------------------------------- generations

    /// A new child's pipes are served: it becomes the live generation. False
    /// when a shutdown came while it was spawning: the generation ends at once
    /// (its stdin queue is dropped, so its stdin closes).
    pub(super) fn begin(
        &mut self,
        generation: u64,
        pid: u32,
        writer: Sender<WriteJob>,
        now: Instant,
    ) -> bool {
        self.generation = generation;
        self.pid = Some(pid);
        if self.phase == Phase::Stopped {
            return false;
        }
        self.writer = Some(writer);
        self.phase = Phase::Starting;
        self.restart_requested = false;
        self.last_output = now;
        true
    }

    /// Replays the remembered `initialize` to a new child under a fresh id.
    pub(super) fn start_replay(&mut self) -> Replay {
        let Some(init) = self.init.clone() else {
            self.phase = Phase::Ready;
            return Replay::NotNeeded;
        };
        let original = init.get("id").cloned().unwrap_or(Value::Null);
        match self.ids.register(original, Waiter::Replay) {
            Ok(child_id) => {
                self.send(&with_id(&init, child_id));
                Replay::Sent
            }
            Err(_) => Replay::Failed,
        }
    }

    /// The replayed `initialize` was answered: repeat `notifications/initialized`
    /// if the client had sent it, then serve callers.
    pub(super) fn replay_answered(&mut self) {
        if self.init_notified {
            self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        }
        if self.phase == Phase::Starting {
            self.phase = Phase::Ready;
        }
    }

    /// The live child's life ended: fail its callers, let its stdin close.
    /// `restart` says whether another child follows (`Down`) or not (`Stopped`).
    pub(super) fn end(&mut self, end: End, restart: bool) {
        if self.phase != Phase::Stopped {
            self.phase = if restart { Phase::Down } else { Phase::Stopped };
        }
        self.fail_all(end.failure_kind());
        self.writer = None; // the writer thread drains, then drops stdin
    }

    /// A stop was asked for: fail callers now. False if already stopped.
    pub(super) fn stop(&mut self) -> bool {
        if self.phase == Phase::Stopped {
            return false;
        }
        self.phase = Phase::Stopped;
        self.fail_all(End::Shutdown.failure_kind());
        true
    }

    /// The supervisor is gone: no child, no stdin, for good.
    pub(super) fn finish(&mut self) {
        self.phase = Phase::Stopped;
        self.pid = None;
        self.writer = None;
    }

    // -------------------------------------------------------- callers

    /// Registers a caller's request; returns the child-side id and the
    /// generation and stdin queue it goes to.
    pub(super) fn register(
        &mut self,
        original: Value,
        waiter: Waiter,
        now: Instant,
    ) -> Result<(u64, u64, Option<Sender<WriteJob>>), IdMapError> {
        let child_id = self.ids.register(original, waiter)?;
        self.calls_changed(now);
        Ok((child_id, self.generation, self.writer.clone()))
    }

    /// A request that never reached the child (it could not be written).
    pub(super) fn forget(&mut self, child_id: u64, generation: u64, now: Instant) {
        if self.generation == generation {
            self.ids.forget(child_id);
            self.calls_changed(now);
        }
    }

    /// The caller's deadline passed: tell the child, retire the id, keep the
    /// pipe — except for `initialize`, or when too many ids are retired, where
    /// the child must be restarted. Returns the reason when a restart is to be
    /// asked for (once per generation).
    pub(super) fn expire(
        &mut self,
        child_id: u64,
        generation: u64,
        is_initialize: bool,
        now: Instant,
    ) -> Option<End> {
        if self.generation != generation {
            return None;
        }
        let why = if is_initialize {
            self.ids.forget(child_id);
            Some(End::InitializeTimeout)
        } else if !self.ids.retire(child_id) {
            Some(End::TooManyRetired)
        } else {
            self.send(&json!({
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": child_id, "reason": "the tunnel command's deadline passed"},
            }));
            None
        };
        self.calls_changed(now);
        let why = why?;
        if self.restart_requested {
            return None;
        }
        self.restart_requested = true;
        Some(why)
    }

    /// A client notification as the child must see it: `initialized` is
    /// remembered for replays; a cancellation names our id for the caller's.
    pub(super) fn outgoing_notification(&mut self, message: &Value) -> Outgoing {
        let mut outgoing = message.clone();
        match message.get("method").and_then(Value::as_str) {
            Some("notifications/initialized") if self.init.is_some() => self.init_notified = true,
            Some("notifications/cancelled") => {
                let asked = message.get("params").and_then(|p| p.get("requestId"));
                let ours = asked.map(|a| self.ids.find_original(a)).unwrap_or_default();
                match ours.as_slice() {
                    [only] => outgoing["params"]["requestId"] = Value::from(*only),
                    _ => return Outgoing::Unmatched(ours.len()),
                }
            }
            _ => {}
        }
        Outgoing::Forward(outgoing)
    }

    // -------------------------------------------------------- hang detection

    /// Requests wait and the ready child has said nothing for `hang_after`.
    pub(super) fn looks_wedged(&self, now: Instant, hang_after: Duration) -> bool {
        let Some(since) = self.waiting_since else {
            return false;
        };
        self.phase == Phase::Ready && now.duration_since(since.max(self.last_output)) >= hang_after
    }

    /// Sends the hang probe (`ping`); false when no id was left for it.
    pub(super) fn send_probe(&mut self) -> bool {
        let Ok(child_id) = self.ids.register(Value::Null, Waiter::Probe) else {
            return false;
        };
        self.send(&json!({"jsonrpc": "2.0", "id": child_id, "method": "ping"}));
        true
    }
}

/// When the next child starts: equal-jitter backoff from [`RESTART_INITIAL`]
/// to [`RESTART_MAX`], reset by a child that stayed up [`HEALTHY_RESET`].
pub(super) struct RestartPacing {
    backoff: Backoff,
}

impl RestartPacing {
    pub(super) fn new() -> RestartPacing {
        RestartPacing {
            backoff: Backoff::with_jitter(RESTART_INITIAL, RESTART_MAX, Jitter::Equal),
        }
    }

    /// The pause before the next start. `lived` is how long the child that
    /// just ended ran, `None` when the last restart could not spawn one.
    pub(super) fn next_delay(&mut self, lived: Option<Duration>, random: u64) -> Duration {
        if lived.is_some_and(|lived| lived >= HEALTHY_RESET) {
            self.backoff.reset();
        }
        self.backoff.next_delay_from(random)
    }
}
