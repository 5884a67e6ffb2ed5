//! The relay's shared state: waiting callers (pending commands), agent
//! instances, delivery leases and MCP session pins. No I/O happens here.
//!
//! Delivery confirmation. tiny_http cannot tell that a held long-poll's
//! connection has died, so handing a command to a poll proves nothing. Each
//! delivery is a *lease* instead: the command gets a fresh shard token and is
//! confirmed when the same instance (`X-Tunnel-Client-Instance-Id`) polls
//! again (its poll loop asks again only after reading the previous answer,
//! and re-polls at once while it has free workers), makes any other request
//! that starts after the poll answer was fully written, or posts a response
//! for that command. A lease still unconfirmed after the lease period is
//! requeued at the head for a live agent, under a new shard token, so the
//! silent instance's late answer (if it was only slow) gets 404.
//!
//! Trade-offs, accepted knowingly:
//! - An agent that is alive but saturated (its poll filled every free worker)
//!   and whose calls outlast the lease period without a single notification
//!   looks exactly like a dead one: its commands are redelivered and may run
//!   twice. The lease period (10 s default) is the knob.
//! - An agent whose poll answer was lost in the network while the process
//!   stayed up confirms the lease with its next request; that command then
//!   waits for its caller's timeout (504). Losing a whole TCP response while
//!   the peer lives on is rare; dying agents are the common case and are
//!   covered.
//! - A command pinned to an instance (process affinity) cannot move: when
//!   its lease lapses or its instance stops being live, its caller gets an
//!   error instead of a wrong server.
//!
//! Dead agents. A killed agent's held poll stays open at the relay until it
//! ends, and an answer written into a dead socket "succeeds" into the kernel
//! buffer. So the poll handler checks its connection (a non-blocking peek)
//! before it hands commands over and every [`PEER_CHECK_INTERVAL`] while it
//! waits: a poll whose agent closed the connection gives what it took back at
//! once and ends. After the answer, the connection's own thread notices when
//! the agent closes the connection instead of asking again ([`PeerWatch`]).
//! A reset (RST: the agent's socket went away with the answer unread) requeues
//! the unconfirmed commands of that answer at once; a plain close may follow
//! a read answer, so it only marks the instance. Either sign marks the
//! instance as lost; so does the close of the connection that delivered a
//! confirmed command (a POST read after the answer was written confirms it,
//! yet the agent may have sent that POST before reading, and then died
//! without polling again). It is gone when, [`LOST_GRACE`] later, it has not polled
//! again (a live agent re-polls at once), none of its connections is open,
//! and two at least (its poll's and one it posted answers on) closed within
//! [`CLOSED_TOGETHER`] of the loss: a killed process loses them all at once,
//! while an agent draining after SIGTERM stops polling but keeps the
//! connections it posts its remaining answers on. A gone instance's
//! unconfirmed commands are requeued, its confirmed ones (which may have run)
//! answered with an error, its pinned sessions end with an error. An agent
//! killed before it ever posted leaves no such proof: its confirmed commands
//! wait for the response timeout.

use super::http::PeerWatch;
use super::metrics::{Gauges, Metrics};
use super::queue::{Channels, CommandQueue, QueueFull, QueuedCommand};
use crate::contract::headers::{self, Headers};
use crate::contract::timeout::format_duration;
use crate::contract::{CommandType, ResponsePayload, ServerInfo, ShardToken, WireCommand};
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use serde_json::Value;
use std::collections::HashMap;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Notifications buffered per waiting caller before the agent is told to
/// slow down (429, which the agent retries for notifications).
pub const EVENT_BUFFER: usize = 64;

/// How long a terminal answer may wait for room in a slow caller's buffer.
pub const TERMINAL_HANDOFF: Duration = Duration::from_secs(5);

/// Agent records silent this long (and sessions pinned to them) are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(300);

/// Most MCP session pins kept; beyond it new sessions are served unpinned.
pub const MAX_SESSIONS: usize = 10_000;

/// Most agent instance records kept (authenticated peers only).
pub const MAX_AGENTS: usize = 1_024;

/// Most open connections watched per agent instance (an agent polls on one
/// and posts on at most its worker count).
const MAX_WATCHED_CONNECTIONS: usize = 64;

/// How close to the loss of its poll every connection of an instance must
/// have closed for it to count as gone (what one process exit looks like,
/// seen through the poll check and the sweep on a loaded machine).
pub const CLOSED_TOGETHER: Duration = Duration::from_secs(2);

/// A pending command whose caller vanished without cancelling is dropped
/// this long after its deadline (callers normally cancel themselves).
const PENDING_GRACE: Duration = Duration::from_secs(5);

/// How often a held poll checks that its agent's connection is still open.
pub const PEER_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// How long an instance whose connection closed may take to make another
/// request before it counts as gone. A live agent re-polls at once; one whose
/// poll failed waits at most its first backoff step (1 s by default).
pub const LOST_GRACE: Duration = Duration::from_secs(2);

/// Tunables the hub enforces.
#[derive(Debug, Clone)]
pub struct HubSettings {
    pub tunnel_ids: Vec<String>,
    pub lease_period: Duration,
    pub live_window: Duration,
    pub max_waiting_callers: usize,
    pub max_open_polls: usize,
}

/// What an agent sent back for a waiting caller.
#[derive(Debug)]
pub enum AgentEvent {
    /// A `jsonrpc_notify` message.
    Notify(Value),
    /// The terminal response, with the instance that answered.
    Terminal {
        payload: ResponsePayload,
        instance: String,
    },
    /// The command can no longer be answered: it was pinned to an instance
    /// that is gone.
    PinnedInstanceGone,
    /// The instance that confirmed the command is gone (its connection
    /// closed) without answering: the command may or may not have run.
    AgentGone,
}

/// What kind of agent request confirms leases how (see [`Hub::agent_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Poll,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    QueueFull,
    TooManyWaiting,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespondError {
    /// Unknown request, finished request, other tunnel or wrong shard token.
    NotFound,
    /// The caller's notification buffer is full: retry later.
    SlowCaller,
}

/// Where a caller's MCP session must go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRoute {
    Anywhere,
    Pinned(String),
    /// Pinned to an instance that is no longer live.
    Gone,
}

/// A delivery the poll handler must report back after writing its answer.
#[derive(Debug, Clone)]
pub struct Lease {
    pub request_id: String,
    pub shard_token: String,
}

struct Pending {
    tunnel_id: String,
    channel: String,
    command: WireCommand,
    deadline: Instant,
    pinned_to: Option<String>,
    events: Sender<AgentEvent>,
    delivery: Delivery,
}

enum Delivery {
    Queued,
    Leased {
        instance: String,
        shard_token: String,
        handed_at: Instant,
        written_at: Option<Instant>,
        confirmed: bool,
        /// Tells whether the agent closed the connection after the answer.
        peer_watch: Option<PeerWatch>,
    },
}

struct Agent {
    open_polls: usize,
    last_request: Instant,
    /// Channels its last poll listed (`channel=`); empty when it listed none.
    polled_channels: Vec<String>,
    /// Channels its `X-Tunnel-MCP-Server-Info` declares, once it sent one.
    declared_channels: Option<Vec<String>>,
    affine_channels: Vec<String>,
    unconfirmed: usize,
    /// When a poll connection of it was found closed by the agent, with no
    /// poll from it since.
    connection_lost: Option<Instant>,
    /// The connections it made requests on that were still open then.
    connections: Vec<Watched>,
}

/// A connection of an agent instance and when it was first seen closed.
struct Watched {
    watch: PeerWatch,
    closed_at: Option<Instant>,
}

impl Agent {
    fn new(now: Instant) -> Agent {
        Agent {
            open_polls: 0,
            last_request: now,
            polled_channels: Vec::new(),
            declared_channels: None,
            affine_channels: Vec::new(),
            unconfirmed: 0,
            connection_lost: None,
            connections: Vec::new(),
        }
    }

    /// Remembers the connection of a request. Closed ones are dropped while
    /// the instance is not lost; once it is, they are its death certificate.
    fn watch(&mut self, watch: Option<&PeerWatch>) {
        if self.connection_lost.is_none() {
            self.connections.retain(|w| !w.watch.closed());
        }
        if let Some(watch) = watch {
            let known = self
                .connections
                .iter()
                .any(|w| w.watch.same_connection(watch));
            if !known && self.connections.len() < MAX_WATCHED_CONNECTIONS {
                self.connections.push(Watched {
                    watch: watch.clone(),
                    closed_at: None,
                });
            }
        }
    }

    /// Notes when each of its connections was first seen closed.
    fn observe(&mut self, now: Instant) {
        for w in &mut self.connections {
            if w.closed_at.is_none() && w.watch.closed() {
                w.closed_at = Some(now);
            }
        }
    }

    fn live(&self, now: Instant, window: Duration) -> bool {
        if self.open_polls > 0 {
            return true;
        }
        !self.gone(now) && now.saturating_duration_since(self.last_request) < window
    }

    /// Its poll connection closed, it has not polled again for
    /// [`LOST_GRACE`], none of its connections outlived that, and two at
    /// least closed with it (its poll's and one it posted on).
    fn gone(&self, now: Instant) -> bool {
        let Some(lost) = self.connection_lost else {
            return false;
        };
        if self.open_polls > 0 || now.saturating_duration_since(lost) < LOST_GRACE {
            return false;
        }
        let mut closed_with_it = 0;
        for w in &self.connections {
            match w.closed_at {
                // Still open: an agent draining, not a dead one.
                None => return false,
                // Closed long before (idle): says nothing either way.
                Some(closed) if lost.saturating_duration_since(closed) > CLOSED_TOGETHER => {}
                Some(closed) if closed.saturating_duration_since(lost) > CLOSED_TOGETHER => {
                    return false
                }
                Some(_) => closed_with_it += 1,
            }
        }
        closed_with_it >= 2
    }

    /// The channels its polls serve: the poll's list, else its declaration,
    /// else every channel (an agent that says nothing).
    fn channels(&self) -> Channels {
        if !self.polled_channels.is_empty() {
            return Channels::Only(self.polled_channels.clone());
        }
        match &self.declared_channels {
            Some(names) => Channels::Only(names.clone()),
            None => Channels::Any,
        }
    }

    fn serves(&self, channel: &str) -> bool {
        if !self.polled_channels.is_empty() {
            return self.polled_channels.iter().any(|c| c == channel);
        }
        self.declared_channels
            .as_ref()
            .is_none_or(|names| names.iter().any(|c| c == channel))
    }
}

/// An MCP session: tunnel, channel, `Mcp-Session-Id`.
type SessionKey = (String, String, String);

#[derive(Default)]
struct State {
    pending: HashMap<String, Pending>,
    agents: HashMap<(String, String), Agent>,
    sessions: HashMap<SessionKey, (String, Instant)>,
}

pub struct Hub {
    pub settings: HubSettings,
    pub queue: Arc<dyn CommandQueue>,
    pub metrics: Metrics,
    state: Mutex<State>,
    closed: AtomicBool,
}

impl Hub {
    pub fn new(settings: HubSettings, queue: Arc<dyn CommandQueue>) -> Self {
        Hub {
            settings,
            queue,
            metrics: Metrics::default(),
            state: Mutex::new(State::default()),
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Handlers never panic while holding the lock on peer input; if one
        // did, the maps are still consistent (each edit is one map call).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a pinned instance may stay silent before its sessions are
    /// declared gone: longer than the live window, because a stdio agent busy
    /// with long calls on every worker does not poll, and breaking its
    /// sessions would force callers to start over.
    fn pinned_window(&self) -> Duration {
        self.settings.live_window.max(self.settings.lease_period)
    }

    pub fn knows_tunnel(&self, tunnel_id: &str) -> bool {
        self.settings.tunnel_ids.iter().any(|t| t == tunnel_id)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Records an authenticated agent request that started at `now`, and
    /// confirms that instance's leases. A poll confirms every lease of the
    /// instance: its poll loop asks again only after reading the previous
    /// answer (which may still be finishing its write on another thread). Any
    /// other request confirms leases whose answer was fully written before it.
    /// `polled` is the poll's `channel=` list (empty when it lists none);
    /// `watch` tells later whether the request's connection closed.
    #[allow(clippy::too_many_arguments)]
    pub fn agent_request(
        &self,
        tunnel_id: &str,
        instance: &str,
        info: Option<&ServerInfo>,
        kind: RequestKind,
        polled: &[String],
        watch: Option<&PeerWatch>,
        now: Instant,
    ) {
        let mut state = self.lock();
        let key = (tunnel_id.to_string(), instance.to_string());
        if !state.agents.contains_key(&key) && state.agents.len() >= MAX_AGENTS {
            forget_silent_agents(&mut state, now, Duration::ZERO);
        }
        let agent = state.agents.entry(key).or_insert_with(|| {
            log::info!("agent instance {instance} of tunnel {tunnel_id} connected");
            Agent::new(now)
        });
        agent.last_request = now;
        agent.watch(watch);
        if kind == RequestKind::Poll {
            // Only a poll proves a lost instance alive: any other request
            // may have been sent just before it died.
            agent.connection_lost = None;
            polled.clone_into(&mut agent.polled_channels);
        }
        if let Some(info) = info {
            agent.affine_channels = info
                .channels
                .iter()
                .filter(|c| c.proc_affinity)
                .map(|c| c.name.clone())
                .collect();
            agent.declared_channels = Some(info.channels.iter().map(|c| c.name.clone()).collect());
        }
        if agent.unconfirmed == 0 {
            return;
        }
        let mut confirmed = 0;
        for pending in state.pending.values_mut() {
            if let Delivery::Leased {
                instance: holder,
                written_at,
                handed_at,
                confirmed: c @ false,
                ..
            } = &mut pending.delivery
            {
                let proven = match kind {
                    RequestKind::Poll => *handed_at <= now,
                    RequestKind::Other => written_at.is_some_and(|w| w <= now),
                };
                if holder == instance && proven {
                    *c = true;
                    confirmed += 1;
                }
            }
        }
        if let Some(agent) = state
            .agents
            .get_mut(&(tunnel_id.to_string(), instance.to_string()))
        {
            agent.unconfirmed = agent.unconfirmed.saturating_sub(confirmed);
        }
    }

    /// Counts a long-poll as open; false when the open-poll bound is reached.
    pub fn poll_opened(&self, tunnel_id: &str, instance: &str) -> bool {
        let mut state = self.lock();
        let open: usize = state.agents.values().map(|a| a.open_polls).sum();
        if open >= self.settings.max_open_polls {
            return false;
        }
        match state
            .agents
            .get_mut(&(tunnel_id.to_string(), instance.to_string()))
        {
            Some(agent) => {
                agent.open_polls += 1;
                true
            }
            None => false,
        }
    }

    pub fn poll_closed(&self, tunnel_id: &str, instance: &str, now: Instant) {
        let mut state = self.lock();
        if let Some(agent) = state
            .agents
            .get_mut(&(tunnel_id.to_string(), instance.to_string()))
        {
            agent.open_polls = agent.open_polls.saturating_sub(1);
            // The poll was open until now: count it as a sign of life, so the
            // tunnel stays online while the agent turns around to poll again.
            agent.last_request = agent.last_request.max(now);
        }
    }

    /// A poll of `instance` found its connection closed by the agent: the
    /// instance is gone unless it makes another request soon.
    pub fn connection_lost(&self, tunnel_id: &str, instance: &str, now: Instant) {
        let mut state = self.lock();
        if let Some(agent) = state
            .agents
            .get_mut(&(tunnel_id.to_string(), instance.to_string()))
        {
            agent.connection_lost.get_or_insert(now);
            agent.observe(now);
        }
    }

    /// The channels a poll of `instance` may take commands of.
    pub fn channels_of(&self, tunnel_id: &str, instance: &str) -> Channels {
        self.lock()
            .agents
            .get(&(tunnel_id.to_string(), instance.to_string()))
            .map_or(Channels::Any, Agent::channels)
    }

    /// Puts commands a poll took but cannot deliver back at the head of the
    /// queue, in their order (they were never leased).
    pub fn give_back(&self, tunnel_id: &str, taken: Vec<QueuedCommand>) {
        for item in taken.into_iter().rev() {
            self.queue.push_front(tunnel_id, item);
        }
    }

    /// True when some agent of the tunnel that serves `channel` has a poll
    /// open or made a request within the live window.
    pub fn is_online(&self, tunnel_id: &str, channel: &str, now: Instant) -> bool {
        let window = self.settings.live_window;
        self.lock()
            .agents
            .iter()
            .any(|((t, _), a)| t == tunnel_id && a.live(now, window) && a.serves(channel))
    }

    /// Whether `instance` declared process affinity for `channel`.
    pub fn instance_affine(&self, tunnel_id: &str, instance: &str, channel: &str) -> bool {
        self.lock()
            .agents
            .get(&(tunnel_id.to_string(), instance.to_string()))
            .is_some_and(|a| a.affine_channels.iter().any(|c| c == channel))
    }

    /// Registers a waiting caller and queues its command. The command's
    /// `request_id` must be fresh; its shard token is set at delivery.
    pub fn submit(
        &self,
        tunnel_id: &str,
        channel: &str,
        command: WireCommand,
        pinned_to: Option<String>,
        deadline: Instant,
    ) -> Result<Receiver<AgentEvent>, SubmitError> {
        if self.is_closed() {
            return Err(SubmitError::Closed);
        }
        let (tx, rx) = crossbeam_channel::bounded(EVENT_BUFFER);
        let request_id = command.request_id.clone();
        let mut state = self.lock();
        if state.pending.len() >= self.settings.max_waiting_callers {
            return Err(SubmitError::TooManyWaiting);
        }
        state.pending.insert(
            request_id.clone(),
            Pending {
                tunnel_id: tunnel_id.to_string(),
                channel: channel.to_string(),
                command,
                deadline,
                pinned_to: pinned_to.clone(),
                events: tx,
                delivery: Delivery::Queued,
            },
        );
        let item = QueuedCommand {
            request_id: request_id.clone(),
            channel: channel.to_string(),
            pinned_to,
        };
        if let Err(QueueFull) = self.queue.push(tunnel_id, item) {
            state.pending.remove(&request_id);
            return Err(SubmitError::QueueFull);
        }
        Ok(rx)
    }

    /// The caller stopped waiting (answered, timed out, went away).
    pub fn cancel(&self, request_id: &str) {
        let removed = self.lock().pending.remove(request_id);
        if let Some(pending) = removed {
            match pending.delivery {
                Delivery::Queued => {
                    self.queue.remove(&pending.tunnel_id, request_id);
                }
                Delivery::Leased {
                    instance,
                    confirmed: false,
                    ..
                } => self.uncount_unconfirmed(&pending.tunnel_id, &instance),
                Delivery::Leased { .. } => {}
            }
        }
    }

    fn uncount_unconfirmed(&self, tunnel_id: &str, instance: &str) {
        if let Some(agent) = self
            .lock()
            .agents
            .get_mut(&(tunnel_id.to_string(), instance.to_string()))
        {
            agent.unconfirmed = agent.unconfirmed.saturating_sub(1);
        }
    }

    /// Turns commands taken from the queue into wire commands for one poll
    /// answer, each under a fresh shard token and a lease for `instance`.
    /// Commands whose caller is gone or whose deadline passed are skipped.
    pub fn lease(
        &self,
        tunnel_id: &str,
        instance: &str,
        taken: Vec<QueuedCommand>,
        now: Instant,
    ) -> (Vec<WireCommand>, Vec<Lease>) {
        let mut state = self.lock();
        let mut commands = Vec::new();
        let mut leases = Vec::new();
        for item in taken {
            let Some(pending) = state.pending.get_mut(&item.request_id) else {
                continue;
            };
            if pending.deadline <= now || pending.tunnel_id != tunnel_id {
                continue;
            }
            let shard_token = crate::random::token("shard_");
            let mut command = pending.command.clone();
            command.shard_token = ShardToken(shard_token.clone());
            command.response_timeout = Some(Value::String(format_duration(
                pending.deadline.saturating_duration_since(now),
            )));
            pending.delivery = Delivery::Leased {
                instance: instance.to_string(),
                shard_token: shard_token.clone(),
                handed_at: now,
                written_at: None,
                confirmed: false,
                peer_watch: None,
            };
            commands.push(command);
            leases.push(Lease {
                request_id: item.request_id,
                shard_token,
            });
        }
        if let Some(agent) = state
            .agents
            .get_mut(&(tunnel_id.to_string(), instance.to_string()))
        {
            agent.unconfirmed += leases.len();
        }
        (commands, leases)
    }

    /// Reports how writing a poll answer went. A failed write requeues at
    /// once; a successful one starts the confirmation clock, and `watch`
    /// tells later whether the agent closed that connection instead of
    /// asking again.
    pub fn delivered(
        &self,
        leases: &[Lease],
        written: bool,
        watch: Option<&PeerWatch>,
        now: Instant,
    ) {
        let mut state = self.lock();
        for lease in leases {
            let Some(pending) = state.pending.get_mut(&lease.request_id) else {
                continue;
            };
            let Delivery::Leased {
                shard_token,
                written_at,
                confirmed,
                peer_watch,
                ..
            } = &mut pending.delivery
            else {
                continue;
            };
            if *shard_token != lease.shard_token {
                continue;
            }
            // A confirmed lease reached its agent whatever the write reported.
            if written || *confirmed {
                *written_at = Some(now);
                *peer_watch = watch.cloned();
            } else {
                self.requeue(&mut state, &lease.request_id);
            }
        }
    }

    /// Puts a leased command back in the queue (or fails it when pinned).
    fn requeue(&self, state: &mut State, request_id: &str) {
        let Some(pending) = state.pending.get_mut(request_id) else {
            return;
        };
        let holder = match &pending.delivery {
            Delivery::Leased { instance, .. } => instance.clone(),
            Delivery::Queued => return,
        };
        let tunnel_id = pending.tunnel_id.clone();
        if let Some(agent) = state.agents.get_mut(&(tunnel_id.clone(), holder.clone())) {
            agent.unconfirmed = agent.unconfirmed.saturating_sub(1);
        }
        let Some(pending) = state.pending.get_mut(request_id) else {
            return;
        };
        if pending.pinned_to.is_some() {
            let _ = pending.events.try_send(AgentEvent::PinnedInstanceGone);
            state.pending.remove(request_id);
            log::warn!(
                "request {request_id}: agent instance {holder} went silent holding a command \
                 of a pinned MCP session; the caller gets an error"
            );
            return;
        }
        pending.delivery = Delivery::Queued;
        self.queue.push_front(
            &tunnel_id,
            QueuedCommand {
                request_id: request_id.to_string(),
                channel: pending.channel.clone(),
                pinned_to: None,
            },
        );
        self.metrics.redelivered();
        log::info!(
            "request {request_id}: agent instance {holder} did not confirm delivery; \
             requeued for another agent"
        );
    }

    /// Accepts one response POST. Terminal answers end the pending command.
    pub fn respond(
        &self,
        tunnel_id: &str,
        shard_token: &str,
        payload: ResponsePayload,
        instance: &str,
    ) -> Result<(), RespondError> {
        let mut state = self.lock();
        let Some(pending) = state.pending.get_mut(&payload.request_id) else {
            return Err(RespondError::NotFound);
        };
        if pending.tunnel_id != tunnel_id {
            return Err(RespondError::NotFound);
        }
        let Delivery::Leased {
            shard_token: expected,
            confirmed,
            instance: holder,
            ..
        } = &mut pending.delivery
        else {
            return Err(RespondError::NotFound);
        };
        if !super::http::constant_time_eq(expected.as_bytes(), shard_token.as_bytes()) {
            return Err(RespondError::NotFound);
        }
        let newly_confirmed = !*confirmed;
        *confirmed = true;
        let holder = holder.clone();
        if newly_confirmed {
            if let Some(agent) = state.agents.get_mut(&(tunnel_id.to_string(), holder)) {
                agent.unconfirmed = agent.unconfirmed.saturating_sub(1);
            }
        }
        let request_id = payload.request_id.clone();
        if !payload.resp_type.is_terminal() {
            let Some(pending) = state.pending.get(&request_id) else {
                return Err(RespondError::NotFound);
            };
            let message = payload.resp_json.unwrap_or(Value::Null);
            return match pending.events.try_send(AgentEvent::Notify(message)) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(_)) => Err(RespondError::SlowCaller),
                Err(TrySendError::Disconnected(_)) => Err(RespondError::NotFound),
            };
        }
        let Some(pending) = state.pending.remove(&request_id) else {
            return Err(RespondError::NotFound);
        };
        drop(state);
        let event = AgentEvent::Terminal {
            payload,
            instance: instance.to_string(),
        };
        if pending
            .events
            .send_timeout(event, TERMINAL_HANDOFF)
            .is_err()
        {
            log::warn!("request {request_id}: the caller stopped reading; answer dropped");
        }
        Ok(())
    }

    /// Where commands of MCP session `session_id` on `channel` must go.
    pub fn session_route(
        &self,
        tunnel_id: &str,
        channel: &str,
        session_id: &str,
        now: Instant,
    ) -> SessionRoute {
        let state = self.lock();
        let Some((instance, _)) = state
            .sessions
            .get(&session_key(tunnel_id, channel, session_id))
        else {
            return SessionRoute::Anywhere;
        };
        let live = state
            .agents
            .get(&(tunnel_id.to_string(), instance.clone()))
            .is_some_and(|a| a.live(now, self.pinned_window()));
        if live {
            SessionRoute::Pinned(instance.clone())
        } else {
            SessionRoute::Gone
        }
    }

    pub fn pin_session(
        &self,
        tunnel_id: &str,
        channel: &str,
        session_id: &str,
        instance: &str,
        now: Instant,
    ) {
        let mut state = self.lock();
        let key = session_key(tunnel_id, channel, session_id);
        if !state.sessions.contains_key(&key) && state.sessions.len() >= MAX_SESSIONS {
            log::warn!("{MAX_SESSIONS} MCP sessions pinned already; this one stays unpinned");
            return;
        }
        state.sessions.insert(key, (instance.to_string(), now));
    }

    pub fn unpin_session(&self, tunnel_id: &str, channel: &str, session_id: &str) {
        self.lock()
            .sessions
            .remove(&session_key(tunnel_id, channel, session_id));
    }

    /// Expires unconfirmed leases, hands the work of gone instances on,
    /// fails pinned commands whose instance is gone and forgets long-silent
    /// agents and their sessions.
    pub fn sweep(&self, now: Instant) {
        let mut state = self.lock();
        for agent in state.agents.values_mut() {
            agent.observe(now);
        }
        let window = self.pinned_window();
        let mut lapsed = Vec::new();
        let mut orphaned = Vec::new();
        let mut abandoned = Vec::new();
        let mut closed_by_agent = Vec::new();
        for (id, pending) in &state.pending {
            match &pending.delivery {
                Delivery::Leased {
                    instance,
                    confirmed,
                    ..
                } if state
                    .agents
                    .get(&(pending.tunnel_id.clone(), instance.clone()))
                    .is_some_and(|a| a.gone(now)) =>
                {
                    // Unconfirmed: never read, give it to another agent.
                    // Confirmed: it may have run; its caller must know.
                    if *confirmed && pending.pinned_to.is_none() {
                        abandoned.push(id.clone());
                    } else {
                        lapsed.push(id.clone());
                    }
                }
                Delivery::Leased {
                    confirmed: false,
                    handed_at,
                    written_at,
                    peer_watch,
                    instance,
                    ..
                } => {
                    let since = written_at.unwrap_or(*handed_at);
                    let reset = peer_watch.as_ref().is_some_and(PeerWatch::reset);
                    if reset || now.saturating_duration_since(since) >= self.settings.lease_period {
                        // A reset connection went away with the answer unread.
                        lapsed.push(id.clone());
                    }
                    if peer_watch.as_ref().is_some_and(PeerWatch::closed) {
                        closed_by_agent.push((pending.tunnel_id.clone(), instance.clone()));
                    }
                }
                Delivery::Queued => {
                    let stale = now > pending.deadline + PENDING_GRACE;
                    let pinned_dead = pending.pinned_to.as_ref().is_some_and(|instance| {
                        !state
                            .agents
                            .get(&(pending.tunnel_id.clone(), instance.clone()))
                            .is_some_and(|a| a.live(now, window))
                    });
                    if stale || pinned_dead {
                        orphaned.push(id.clone());
                    }
                }
                Delivery::Leased {
                    peer_watch,
                    instance,
                    ..
                } => {
                    // Confirmed by a request the agent may have sent before it
                    // read the answer: the delivering connection's close is
                    // still a sign worth checking (`gone` decides).
                    if peer_watch.as_ref().is_some_and(PeerWatch::closed) {
                        closed_by_agent.push((pending.tunnel_id.clone(), instance.clone()));
                    }
                    if now > pending.deadline + PENDING_GRACE {
                        orphaned.push(id.clone());
                    }
                }
            }
        }
        for key in closed_by_agent {
            if let Some(agent) = state.agents.get_mut(&key) {
                agent.connection_lost.get_or_insert(now);
            }
        }
        for id in lapsed {
            self.requeue(&mut state, &id);
        }
        for id in abandoned {
            if let Some(pending) = state.pending.remove(&id) {
                if let Delivery::Leased { instance, .. } = &pending.delivery {
                    log::warn!(
                        "request {id}: agent instance {instance} went away before answering; \
                         the caller gets an error"
                    );
                }
                let _ = pending.events.try_send(AgentEvent::AgentGone);
            }
        }
        for id in orphaned {
            if let Some(pending) = state.pending.remove(&id) {
                if matches!(pending.delivery, Delivery::Queued) {
                    self.queue.remove(&pending.tunnel_id, &id);
                }
                let _ = pending.events.try_send(AgentEvent::PinnedInstanceGone);
            }
        }
        forget_silent_agents(&mut state, now, FORGET_AFTER);
    }

    pub fn gauges(&self, now: Instant) -> Gauges {
        let state = self.lock();
        let window = self.settings.live_window;
        Gauges {
            queue_depth: self.queue.depth(),
            agents_connected: state
                .agents
                .values()
                .filter(|a| a.live(now, window))
                .count(),
            open_polls: state.agents.values().map(|a| a.open_polls).sum(),
            waiting_callers: state.pending.len(),
        }
    }

    /// Shutdown: wakes every poll and every waiting caller (their channels
    /// disconnect) and refuses new work.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.queue.close();
        self.lock().pending.clear();
    }
}

/// Drops agent records silent for longer than `after` (and their sessions).
fn forget_silent_agents(state: &mut State, now: Instant, after: Duration) {
    state.agents.retain(|_, a| {
        a.open_polls > 0
            || a.unconfirmed > 0
            || now.saturating_duration_since(a.last_request) <= after
    });
    let agents = &state.agents;
    state
        .sessions
        .retain(|(tunnel, _, _), (instance, pinned_at)| {
            agents.contains_key(&(tunnel.clone(), instance.clone()))
                || now.saturating_duration_since(*pinned_at) <= after
        });
}

/// Drains every event already buffered, for coalescing SSE writes.
pub fn drain_ready(rx: &Receiver<AgentEvent>) -> Vec<AgentEvent> {
    let mut events = Vec::new();
    while events.len() < EVENT_BUFFER {
        match rx.try_recv() {
            Ok(event) => events.push(event),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    events
}

fn session_key(tunnel_id: &str, channel: &str, session_id: &str) -> SessionKey {
    (
        tunnel_id.to_string(),
        channel.to_string(),
        session_id.to_string(),
    )
}

/// A fresh command for `payload` on `channel` (shard token and timeout set
/// at delivery).
pub fn new_command(
    command_type: CommandType,
    channel: &str,
    headers: Headers,
    jsonrpc: Option<Value>,
) -> WireCommand {
    WireCommand {
        request_id: crate::random::token("req_"),
        shard_token: ShardToken(String::new()),
        command_type,
        channel: Some(channel.to_string()),
        created_at: crate::clock::rfc3339(SystemTime::now()),
        response_timeout: None,
        headers,
        jsonrpc,
    }
}

/// Allowlisted response headers of an agent answer, as name/value pairs.
pub fn allowlisted(resp_headers: &Headers) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for canonical in headers::RESPONSE_ALLOWLIST {
        for value in headers::get(resp_headers, canonical) {
            out.push((canonical.to_string(), value.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::RespType;
    use crate::relay::queue::MemoryQueue;

    fn hub(lease: Duration) -> Hub {
        Hub::new(
            HubSettings {
                tunnel_ids: vec!["t".into()],
                lease_period: lease,
                live_window: Duration::from_secs(10),
                max_waiting_callers: 8,
                max_open_polls: 8,
            },
            Arc::new(MemoryQueue::new(8)),
        )
    }

    fn terminal(request_id: &str) -> ResponsePayload {
        ResponsePayload {
            request_id: request_id.into(),
            channel: Some("main".into()),
            resp_json: Some(serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {}})),
            resp_headers: Headers::new(),
            resp_code: 200,
            resp_type: RespType::JsonrpcResponse,
        }
    }

    fn deliver(hub: &Hub, instance: &str, now: Instant) -> (Vec<WireCommand>, Vec<Lease>) {
        hub.agent_request("t", instance, None, RequestKind::Poll, &[], None, now);
        let taken = hub.queue.take("t", instance, &Channels::Any, 25, now);
        hub.lease("t", instance, taken, now)
    }

    #[test]
    fn lapsed_lease_is_requeued_under_a_new_token() {
        let hub = hub(Duration::from_secs(1));
        let t0 = Instant::now();
        let command = new_command(
            CommandType::JsonRpc,
            "main",
            Headers::new(),
            Some(serde_json::json!({})),
        );
        let id = command.request_id.clone();
        let rx = hub
            .submit("t", "main", command, None, t0 + Duration::from_secs(30))
            .unwrap();
        let (cmds, leases) = deliver(&hub, "A", t0);
        assert_eq!(cmds.len(), 1);
        hub.delivered(&leases, true, None, t0);
        hub.sweep(t0 + Duration::from_millis(500));
        assert_eq!(hub.queue.depth(), 0, "still within the lease period");
        hub.sweep(t0 + Duration::from_secs(2));
        assert_eq!(hub.queue.depth(), 1, "requeued");
        let (cmds2, _) = deliver(&hub, "B", t0 + Duration::from_secs(2));
        let old = cmds[0].shard_token.expose();
        let new = cmds2[0].shard_token.expose();
        assert_ne!(old, new);
        assert_eq!(
            hub.respond("t", old, terminal(&id), "A"),
            Err(RespondError::NotFound)
        );
        hub.respond("t", new, terminal(&id), "B").unwrap();
        assert!(matches!(rx.try_recv(), Ok(AgentEvent::Terminal { .. })));
        assert_eq!(
            hub.respond("t", new, terminal(&id), "B"),
            Err(RespondError::NotFound)
        );
    }

    #[test]
    fn a_later_request_confirms_the_lease() {
        let hub = hub(Duration::from_secs(1));
        let t0 = Instant::now();
        let command = new_command(
            CommandType::JsonRpc,
            "main",
            Headers::new(),
            Some(serde_json::json!({})),
        );
        hub.submit("t", "main", command, None, t0 + Duration::from_secs(30))
            .unwrap();
        let (_, leases) = deliver(&hub, "A", t0);
        hub.delivered(&leases, true, None, t0);
        hub.agent_request(
            "t",
            "A",
            None,
            RequestKind::Other,
            &[],
            None,
            t0 + Duration::from_millis(1),
        );
        hub.sweep(t0 + Duration::from_secs(5));
        assert_eq!(hub.queue.depth(), 0);
    }

    #[test]
    fn failed_write_requeues_at_once_and_pinned_commands_fail() {
        let hub = hub(Duration::from_secs(1));
        let t0 = Instant::now();
        let free = new_command(
            CommandType::JsonRpc,
            "main",
            Headers::new(),
            Some(serde_json::json!({})),
        );
        hub.submit("t", "main", free, None, t0 + Duration::from_secs(30))
            .unwrap();
        let (_, leases) = deliver(&hub, "A", t0);
        hub.delivered(&leases, false, None, t0);
        assert_eq!(hub.queue.depth(), 1);

        let pinned = new_command(
            CommandType::JsonRpc,
            "main",
            Headers::new(),
            Some(serde_json::json!({})),
        );
        let rx = hub
            .submit(
                "t",
                "main",
                pinned,
                Some("A".into()),
                t0 + Duration::from_secs(30),
            )
            .unwrap();
        let (cmds, leases) = deliver(&hub, "A", t0);
        assert_eq!(cmds.len(), 2);
        hub.delivered(&leases, true, None, t0);
        hub.sweep(t0 + Duration::from_secs(2));
        assert!(matches!(rx.try_recv(), Ok(AgentEvent::PinnedInstanceGone)));
    }

    #[test]
    fn sessions_route_to_live_instances_only() {
        let hub = hub(Duration::from_secs(1));
        let t0 = Instant::now();
        hub.agent_request("t", "A", None, RequestKind::Other, &[], None, t0);
        hub.pin_session("t", "main", "s", "A", t0);
        assert_eq!(
            hub.session_route("t", "main", "s", t0),
            SessionRoute::Pinned("A".into())
        );
        assert_eq!(
            hub.session_route("t", "main", "other", t0),
            SessionRoute::Anywhere
        );
        assert_eq!(
            hub.session_route("t", "main", "s", t0 + Duration::from_secs(11)),
            SessionRoute::Gone
        );
        assert!(hub.is_online("t", "main", t0 + Duration::from_secs(9)));
        assert!(!hub.is_online("t", "main", t0 + Duration::from_secs(11)));
    }

    /// Agent A's poll takes what is queued: leased and written, on `watch`'s connection.
    fn deliver_to_a(hub: &Hub, watch: Option<&PeerWatch>, at: Instant) {
        let taken = hub.queue.take("t", "A", &Channels::Any, 25, at);
        let (_, leases) = hub.lease("t", "A", taken, at);
        hub.delivered(&leases, true, watch, at);
    }

    fn submit_one(hub: &Hub, pinned: Option<&str>, t0: Instant) -> Receiver<AgentEvent> {
        let command = new_command(
            CommandType::JsonRpc,
            "main",
            Headers::new(),
            Some(serde_json::json!({})),
        );
        hub.submit(
            "t",
            "main",
            command,
            pinned.map(str::to_string),
            t0 + Duration::from_secs(30),
        )
        .unwrap()
    }

    /// Real connections to a loopback server, each closed by its client when
    /// the test says so, with the server's watch on each.
    struct Connections {
        watches: Vec<PeerWatch>,
        clients: Vec<Option<std::net::TcpStream>>,
        _server: tiny_http::Server,
    }

    impl Connections {
        fn open(n: usize) -> Connections {
            use std::io::Write;
            let addr = "127.0.0.1:0".parse().unwrap();
            let listener = crate::relay::http::nodelay_listener(addr).unwrap();
            let addr = listener.local_addr().unwrap();
            let limits = crate::httpd::Limits {
                pipelining: false,
                ..crate::httpd::Limits::default()
            };
            let server = crate::httpd::serve(listener, limits).unwrap();
            let mut clients = Vec::new();
            let mut watches = Vec::new();
            for _ in 0..n {
                let mut client = std::net::TcpStream::connect(addr).unwrap();
                client
                    .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let request = server.recv().unwrap();
                watches.push(request.peer_watch().unwrap());
                request.respond(tiny_http::Response::empty(204)).unwrap();
                clients.push(Some(client));
            }
            Connections {
                watches,
                clients,
                _server: server,
            }
        }

        /// Closes connection `i` and waits until the server has seen it.
        fn close(&mut self, i: usize) {
            self.clients[i].take();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !self.watches[i].closed() {
                assert!(Instant::now() < deadline, "close not seen");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    #[test]
    fn a_gone_instance_hands_on_unconfirmed_work_and_fails_confirmed_work() {
        let hub = hub(Duration::from_secs(10));
        let t0 = Instant::now();
        // A polls on one connection and posts on another.
        let mut c = Connections::open(2);
        let (poll, post) = (Some(&c.watches[0]), Some(&c.watches[1]));
        hub.agent_request("t", "A", None, RequestKind::Other, &[], post, t0);
        let confirmed = submit_one(&hub, None, t0);
        hub.agent_request("t", "A", None, RequestKind::Poll, &[], poll, t0);
        deliver_to_a(&hub, None, t0);
        // A's next poll confirms the first command and takes the second.
        let unconfirmed = submit_one(&hub, None, t0);
        let t1 = t0 + Duration::from_millis(1);
        hub.agent_request("t", "A", None, RequestKind::Poll, &[], poll, t1);
        deliver_to_a(&hub, None, t1);

        // A is killed: every connection closes at once.
        c.close(0);
        c.close(1);
        let lost = t0 + Duration::from_millis(2);
        hub.connection_lost("t", "A", lost);
        hub.sweep(lost + LOST_GRACE / 2);
        assert_eq!(hub.queue.depth(), 0, "within the grace nothing moves");
        assert!(hub.is_online("t", "main", lost + LOST_GRACE / 2));

        hub.sweep(lost + LOST_GRACE);
        assert!(matches!(confirmed.try_recv(), Ok(AgentEvent::AgentGone)));
        assert!(unconfirmed.try_recv().is_err(), "still waiting");
        assert_eq!(hub.queue.depth(), 1, "requeued for another agent");
        assert!(!hub.is_online("t", "main", lost + LOST_GRACE));
    }

    #[test]
    fn a_delivery_confirmed_by_a_post_sent_before_it_was_read_still_ends_when_the_agent_dies() {
        let hub = hub(Duration::from_secs(10));
        let t0 = Instant::now();
        // A polls on connection 0 and posts on connection 1.
        let mut c = Connections::open(2);
        let (poll, post) = (Some(&c.watches[0]), Some(&c.watches[1]));
        hub.agent_request("t", "A", None, RequestKind::Other, &[], post, t0);
        let rx = submit_one(&hub, None, t0);
        hub.agent_request("t", "A", None, RequestKind::Poll, &[], poll, t0);
        deliver_to_a(&hub, poll, t0);
        // A POST of an earlier answer is read after the delivery was written,
        // which confirms it, though A may have sent it before reading; then A
        // is killed without polling again (no held poll to notice it).
        let t1 = t0 + Duration::from_millis(1);
        hub.agent_request("t", "A", None, RequestKind::Other, &[], post, t1);
        c.close(0);
        c.close(1);
        // The sweeps notice the delivering connection's close, and once the
        // grace passed without a poll the instance is gone.
        let seen = t1 + Duration::from_millis(1);
        hub.sweep(seen);
        assert!(rx.try_recv().is_err(), "within the grace nothing moves");
        hub.sweep(seen + LOST_GRACE);
        assert!(matches!(rx.try_recv(), Ok(AgentEvent::AgentGone)));
    }

    #[test]
    fn a_poll_within_the_grace_proves_the_instance_alive() {
        let hub = hub(Duration::from_secs(10));
        let t0 = Instant::now();
        let mut c = Connections::open(2);
        hub.agent_request(
            "t",
            "A",
            None,
            RequestKind::Other,
            &[],
            Some(&c.watches[1]),
            t0,
        );
        let rx = submit_one(&hub, None, t0);
        hub.agent_request(
            "t",
            "A",
            None,
            RequestKind::Poll,
            &[],
            Some(&c.watches[0]),
            t0,
        );
        deliver_to_a(&hub, None, t0);
        c.close(0);
        c.close(1);
        hub.connection_lost("t", "A", t0);
        let back = t0 + LOST_GRACE / 2;
        hub.agent_request("t", "A", None, RequestKind::Poll, &[], None, back);
        hub.sweep(t0 + LOST_GRACE * 2);
        assert!(rx.try_recv().is_err());
        assert_eq!(hub.queue.depth(), 0);
    }

    #[test]
    fn a_connection_closed_long_before_the_loss_is_no_proof() {
        let hub = hub(Duration::from_secs(10));
        let t0 = Instant::now();
        let mut c = Connections::open(3);
        // A posted on 1 and 2, polls on 0; 2 closed long ago (idle).
        for i in [1, 2, 0] {
            let kind = if i == 0 {
                RequestKind::Poll
            } else {
                RequestKind::Other
            };
            hub.agent_request("t", "A", None, kind, &[], Some(&c.watches[i]), t0);
        }
        c.close(2);
        hub.sweep(t0);
        let later = t0 + Duration::from_secs(20);
        // Killed holding its poll: 0 and 1 close together.
        c.close(0);
        c.close(1);
        hub.connection_lost("t", "A", later);
        assert!(!gone(&hub, "A", later + LOST_GRACE / 2), "within the grace");
        hub.sweep(later + LOST_GRACE);
        assert!(gone(&hub, "A", later + LOST_GRACE));

        // B only ever polled: its poll closing alone proves nothing.
        let mut d = Connections::open(1);
        let watch = Some(&d.watches[0]);
        hub.agent_request("t", "B", None, RequestKind::Poll, &[], watch, later);
        d.close(0);
        hub.connection_lost("t", "B", later);
        hub.sweep(later + LOST_GRACE);
        assert!(!gone(&hub, "B", later + LOST_GRACE));
    }

    fn gone(hub: &Hub, instance: &str, now: Instant) -> bool {
        let state = hub.lock();
        let key = ("t".to_string(), instance.to_string());
        state.agents.get(&key).is_some_and(|a| a.gone(now))
    }

    #[test]
    fn an_agent_with_an_open_connection_is_draining_not_gone() {
        let hub = hub(Duration::from_secs(10));
        let t0 = Instant::now();
        let rx = submit_one(&hub, None, t0);
        let open = PeerWatch::default();
        hub.agent_request("t", "A", None, RequestKind::Poll, &[], Some(&open), t0);
        deliver_to_a(&hub, None, t0);
        // Its poll connection closed (SIGTERM stops polling), but it still
        // posts on its other connection: not gone, whatever the time.
        hub.agent_request("t", "A", None, RequestKind::Poll, &[], None, t0);
        hub.connection_lost("t", "A", t0);
        hub.agent_request("t", "A", None, RequestKind::Other, &[], Some(&open), t0);
        hub.sweep(t0 + LOST_GRACE * 3);
        assert!(rx.try_recv().is_err(), "still waiting for the answer");
    }

    #[test]
    fn channels_route_by_poll_list_then_declaration() {
        let hub = hub(Duration::from_secs(10));
        let t0 = Instant::now();
        let info: ServerInfo = serde_json::from_str(
            r#"{"version":1,"channels":[{"name":"main"},{"name":"tools","proc_affinity":true}]}"#,
        )
        .unwrap();
        hub.agent_request("t", "A", Some(&info), RequestKind::Poll, &[], None, t0);
        assert_eq!(
            hub.channels_of("t", "A"),
            Channels::Only(vec!["main".into(), "tools".into()])
        );
        assert!(hub.is_online("t", "tools", t0));
        assert!(!hub.is_online("t", "other", t0));
        let polled = ["tools".to_string()];
        hub.agent_request("t", "A", Some(&info), RequestKind::Poll, &polled, None, t0);
        assert_eq!(
            hub.channels_of("t", "A"),
            Channels::Only(vec!["tools".into()])
        );
        assert!(!hub.is_online("t", "main", t0));
        hub.agent_request("t", "B", None, RequestKind::Poll, &[], None, t0);
        assert_eq!(hub.channels_of("t", "B"), Channels::Any);
        assert!(hub.is_online("t", "other", t0));
    }

    #[test]
    fn dates_and_tokens() {
        assert_eq!(crate::clock::civil_from_days(19_723), (2024, 1, 1));
        let a = crate::random::token("x_");
        assert!(a.starts_with("x_") && a.len() == 34);
        assert_ne!(a, crate::random::token("x_"));
    }
}
