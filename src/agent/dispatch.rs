//! The worker lanes: one per channel, each a bounded queue and its own workers
//! serving one command at a time from deadline to POST, plus one small lane that
//! answers commands for channels this agent does not serve. A channel whose MCP
//! server hangs or crash-loops holds only its own lane's workers.

use super::oauth::{self, MainBinding};
use super::respond::{Delivery, NotifyState, Responder};
use super::stop::Stopper;
use crate::contract::failure::{
    internal_error, unsupported_channel, unsupported_channel_discovery,
};
use crate::contract::timeout::command_deadline;
use crate::contract::{
    Command, CommandKind, CommandType, FailureSource, Headers, RespType, TransportErrorKind,
    TunnelFailure, MAIN_CHANNEL,
};
use crate::mcp::{Backend, McpCall, McpReply};
use crate::telemetry::{CommandOutcome, CommandRecord, DropReason, Telemetry};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use log::info;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often an idle worker reports that it is alive (liveness watchdog).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// Time allowed to post the 504 of a command that ran into the agent's own
/// `--request-timeout` (its deadline has already passed by then).
pub const TIMEOUT_POST_BUDGET: Duration = Duration::from_secs(10);
/// Commands that may wait in one lane beyond its workers. A channel whose
/// server is stuck collects its commands here while the other lanes keep
/// serving; only past this backlog does the poll thread wait for that lane.
pub const LANE_BACKLOG: usize = 256;
/// Workers of the lane that answers "unsupported channel" (cheap answers).
const UNSUPPORTED_WORKERS: usize = 2;

/// A polled command and the instant its poll response arrived.
pub struct Job {
    pub command: Command,
    pub received_at: Instant,
}

/// What workers need to know that is not in the command.
#[derive(Clone)]
pub struct DispatchSettings {
    /// Deadline of commands that carry no `response_timeout`.
    pub request_timeout: Duration,
    /// `main` as `oauth_discovery` commands see it.
    pub oauth: MainBinding,
}

/// The channels this agent serves, by name, in declaration order.
pub type Channels = Vec<(String, Arc<dyn Backend>)>;

/// One lane: a channel's backend (or none: the unsupported lane), its
/// worker count and how many of its commands are queued or in progress.
struct Lane {
    channel: Option<String>,
    backend: Option<Arc<dyn Backend>>,
    workers: usize,
    outstanding: AtomicUsize,
}

struct Shared {
    lanes: Vec<Lane>,
    responder: Responder,
    telemetry: Arc<Telemetry>,
    settings: DispatchSettings,
    /// Set when the shutdown grace has run out: queued commands are dropped.
    drop_queued: AtomicBool,
}

/// The pool. The poll thread owns it; workers hold only the receiving sides.
pub struct Pool {
    /// One sender per lane, in lane order; the last lane is the unsupported one.
    jobs: Vec<Sender<Job>>,
    open: bool,
    freed: Receiver<()>,
    done: Receiver<()>,
    workers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Pool {
    /// Starts `size` workers for each channel (and a few for channels this
    /// agent does not serve).
    pub fn start(
        size: usize,
        channels: Channels,
        responder: Responder,
        telemetry: Arc<Telemetry>,
        settings: DispatchSettings,
    ) -> std::io::Result<Pool> {
        let size = size.max(1);
        let mut lanes: Vec<Lane> = channels
            .into_iter()
            .map(|(name, backend)| Lane {
                channel: Some(name),
                backend: Some(backend),
                workers: size,
                outstanding: AtomicUsize::new(0),
            })
            .collect();
        lanes.push(Lane {
            channel: None,
            backend: None,
            workers: size.min(UNSUPPORTED_WORKERS),
            outstanding: AtomicUsize::new(0),
        });
        let total: usize = lanes.iter().map(|l| l.workers).sum();
        telemetry.expect_workers(total);
        let (freed_tx, freed_rx) = bounded::<()>(total);
        let (done_tx, done_rx) = bounded::<()>(total);
        let mut senders = Vec::with_capacity(lanes.len());
        let mut receivers = Vec::with_capacity(lanes.len());
        for lane in &lanes {
            let (tx, rx) = bounded::<Job>(lane.workers + LANE_BACKLOG);
            senders.push(tx);
            receivers.push(rx);
        }
        let shared = Arc::new(Shared {
            lanes,
            responder,
            telemetry,
            settings,
            drop_queued: AtomicBool::new(false),
        });
        let mut workers = Vec::with_capacity(total);
        for (lane, jobs) in receivers.into_iter().enumerate() {
            for _ in 0..shared.lanes[lane].workers {
                let index = workers.len();
                let jobs = jobs.clone();
                let freed = freed_tx.clone();
                let done = done_tx.clone();
                let shared = Arc::clone(&shared);
                let handle = std::thread::Builder::new()
                    .name(format!("worker-{index}"))
                    .spawn(move || {
                        worker_loop(index, lane, &jobs, &freed, &shared);
                        let _ = done.send(());
                    })?;
                workers.push(handle);
            }
        }
        Ok(Pool {
            jobs: senders,
            open: true,
            freed: freed_rx,
            done: done_rx,
            workers,
            shared,
        })
    }

    /// What the next poll may ask for: the free workers of the lane with the
    /// most. A saturated lane does not stop the others from getting work; its
    /// own commands wait in its backlog.
    pub fn free_capacity(&self) -> usize {
        let lanes = &self.shared.lanes;
        let served = lanes.iter().filter(|l| l.backend.is_some());
        let free = |l: &Lane| {
            l.workers
                .saturating_sub(l.outstanding.load(Ordering::Acquire))
        };
        match served.map(free).max() {
            Some(most) => most,
            // Nothing served (an allowlist of channels not wired here):
            // keep polling so that every command is still answered.
            None => lanes.last().map_or(0, free),
        }
    }

    /// Waits until a worker frees up, the stopper fires or `timeout` passes.
    pub fn wait_for_capacity(&self, stopper: &Stopper, timeout: Duration) {
        crossbeam_channel::select! {
            recv(self.freed) -> _ => {},
            recv(stopper.signal()) -> _ => {},
            default(timeout) => {},
        }
    }

    /// Hands a command to its channel's lane; blocks while that lane's
    /// backlog is full.
    pub fn submit(&self, job: Job) {
        if !self.open {
            return;
        }
        let lanes = &self.shared.lanes;
        let unsupported = lanes.len() - 1;
        let index = lanes
            .iter()
            .position(|l| l.channel.as_deref() == Some(job.command.channel.as_str()))
            .unwrap_or(unsupported);
        let (Some(lane), Some(jobs)) = (lanes.get(index), self.jobs.get(index)) else {
            return;
        };
        lane.outstanding.fetch_add(1, Ordering::AcqRel);
        if let Err(returned) = jobs.send(job) {
            // Only possible if every worker of the lane died; a shutdown drop.
            lane.outstanding.fetch_sub(1, Ordering::AcqRel);
            report!(
                self.shared.telemetry, request_id = returned.0.command.request_id;
                "command {} dropped: no worker is running",
                returned.0.command.request_id
            );
            self.shared.telemetry.command_dropped(DropReason::Shutdown);
        }
        self.shared.telemetry.set_queue_depth(self.queued());
    }

    fn queued(&self) -> usize {
        self.jobs.iter().map(Sender::len).sum()
    }

    /// Stops accepting work and lets the workers finish what they hold until
    /// `grace_deadline`; then queued commands are dropped. Returns how many
    /// commands were still unfinished when it gave up waiting.
    pub fn drain(mut self, grace_deadline: Instant) -> usize {
        self.open = false;
        self.jobs.clear();
        let mut finished = 0;
        while finished < self.workers.len() {
            let left = grace_deadline.saturating_duration_since(Instant::now());
            match self.done.recv_timeout(left) {
                Ok(()) => finished += 1,
                Err(_) => break,
            }
        }
        if finished == self.workers.len() {
            for handle in self.workers.drain(..) {
                let _ = handle.join();
            }
            return 0;
        }
        self.shared.drop_queued.store(true, Ordering::Release);
        self.shared
            .lanes
            .iter()
            .map(|l| l.outstanding.load(Ordering::Acquire))
            .sum()
    }
}

fn worker_loop(
    index: usize,
    lane: usize,
    jobs: &Receiver<Job>,
    freed: &Sender<()>,
    shared: &Shared,
) {
    let Some(state) = shared.lanes.get(lane) else {
        return;
    };
    loop {
        shared.telemetry.worker_heartbeat(index);
        match jobs.recv_timeout(HEARTBEAT_INTERVAL) {
            Ok(job) => {
                shared.telemetry.set_queue_depth(jobs.len());
                serve(index, job, state, shared);
                state.outstanding.fetch_sub(1, Ordering::AcqRel);
                let _ = freed.try_send(());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The terminal answer a command will get, before it is posted.
struct Answer {
    resp_type: RespType,
    json: Option<Value>,
    status: u16,
    headers: Headers,
    outcome: CommandOutcome,
    /// Deadline for the POST itself.
    post_deadline: Instant,
    /// Work to start once the answer is posted (or given up).
    after_post: Option<Box<dyn FnOnce() + Send>>,
}

impl Answer {
    fn new(
        resp_type: RespType,
        json: Option<Value>,
        status: u16,
        outcome: CommandOutcome,
        post_deadline: Instant,
    ) -> Answer {
        Answer {
            resp_type,
            json,
            status,
            headers: Headers::new(),
            outcome,
            post_deadline,
            after_post: None,
        }
    }
}

/// One command's whole-life bound.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Instant,
    /// True when it is the agent's own `--request-timeout` (the command
    /// carried no usable `response_timeout`): expiry is answered with a 504.
    own: bool,
}

impl Deadline {
    /// Poll receipt + `response_timeout`, or + `--request-timeout` when the
    /// command has none or its deadline cannot be represented.
    fn of(job: &Job, request_timeout: Duration) -> Deadline {
        let deadline = command_deadline(
            job.received_at,
            job.command.response_timeout,
            request_timeout,
        );
        Deadline {
            at: deadline.at,
            own: !deadline.from_command,
        }
    }

    /// Where the POST of an answer the agent gives itself must end: the
    /// deadline, or a short grace past it for the agent's own timeout.
    fn post_deadline(self, now: Instant) -> Instant {
        if self.own {
            self.at.max(post_budget_from(now))
        } else {
            self.at
        }
    }
}

fn serve(worker: usize, job: Job, lane: &Lane, shared: &Shared) {
    let picked_at = Instant::now();
    let command = &job.command;
    let queue_wait = picked_at.saturating_duration_since(job.received_at);
    let deadline = Deadline::of(&job, shared.settings.request_timeout);
    let method = match &command.kind {
        CommandKind::SessionTermination => CommandType::SessionTermination.to_string(),
        CommandKind::OauthDiscovery => CommandType::OauthDiscovery.to_string(),
        _ => command.method().unwrap_or("").to_string(),
    };
    let mut record = CommandRecord {
        channel: command.channel.clone(),
        method,
        tool: tool_name(command),
        outcome: CommandOutcome::Dropped(DropReason::Expired),
        total: Duration::ZERO,
        queue_wait,
        mcp_time: Duration::ZERO,
        post_time: Duration::ZERO,
    };
    shared.telemetry.command_started();
    shared.telemetry.channel_started(&command.channel);
    shared.telemetry.worker_busy(worker, deadline.at);

    // A backend with nothing to serve (Harpoon before its first target) is
    // not declared: its commands get the unsupported-channel answer.
    let backend = lane.backend.as_ref().filter(|b| b.serves());
    let for_other_channel =
        matches!(command.kind, CommandKind::OauthDiscovery) && command.channel != MAIN_CHANNEL;
    let answer = if let CommandKind::Unknown(kind) = &command.kind {
        report!(
            shared.telemetry, request_id = command.request_id;
            "command {} has unknown type {kind:?}; skipped",
            command.request_id
        );
        record.outcome = CommandOutcome::Dropped(DropReason::UnknownType);
        None
    } else if shared.drop_queued.load(Ordering::Acquire) {
        info!(
            "command {} dropped: shutdown grace ran out before it started",
            command.request_id
        );
        record.outcome = CommandOutcome::Dropped(DropReason::Shutdown);
        None
    } else if picked_at >= deadline.at && !deadline.own {
        info!(
            "command {} expired before it started; dropped without an MCP call",
            command.request_id
        );
        None
    } else if backend.is_none() || for_other_channel {
        Some(unsupported(command, deadline, picked_at, shared))
    } else if picked_at >= deadline.at {
        Some(own_timeout(command, "before it started", shared))
    } else if let Some(backend) = backend {
        let mcp_started = Instant::now();
        let answer = forward(command, backend.as_ref(), deadline, shared);
        record.mcp_time = mcp_started.elapsed();
        answer
    } else {
        None
    };

    if let Some(answer) = answer {
        let post_started = Instant::now();
        let delivery = shared.responder.terminal(
            command,
            answer.resp_type,
            answer.json,
            answer.status,
            answer.headers,
            answer.post_deadline,
        );
        record.post_time = post_started.elapsed();
        record.outcome = match delivery {
            Delivery::Delivered { .. } | Delivery::Gone => answer.outcome,
            Delivery::Failed => CommandOutcome::PostFailed,
        };
        if let Some(after_post) = answer.after_post {
            after_post();
        }
    }
    record.total = job.received_at.elapsed();
    shared.telemetry.channel_finished(&command.channel);
    shared.telemetry.command_finished(record);
}

/// The answer to a command for a channel this agent does not serve (or an
/// `oauth_discovery` for any channel but `main`): at once, status 400, the
/// channel echoed, no headers, never a fallback to `main`.
fn unsupported(command: &Command, deadline: Deadline, now: Instant, shared: &Shared) -> Answer {
    report!(
        shared.telemetry, request_id = command.request_id;
        "command {} ({}) is for channel {}, which this agent does not serve; answering 400",
        command.request_id,
        command_type_of(command),
        shown(&command.channel)
    );
    shared.telemetry.unsupported_channel();
    let channel = command.channel.as_str();
    let (resp_type, json) = match &command.kind {
        CommandKind::SessionTermination => (RespType::SessionTerminationResponse, None),
        CommandKind::OauthDiscovery => (
            RespType::OauthDiscoveryResponse,
            Some(unsupported_channel_discovery(channel)),
        ),
        CommandKind::JsonRpc(message) => (
            RespType::JsonrpcResponse,
            Some(unsupported_channel(message.get("id"), channel)),
        ),
        CommandKind::Malformed { .. } | CommandKind::Unknown(_) => (
            RespType::JsonrpcResponse,
            Some(unsupported_channel(None, channel)),
        ),
    };
    Answer::new(
        resp_type,
        json,
        400,
        CommandOutcome::Answered,
        deadline.post_deadline(now),
    )
}

/// The agent's own `--request-timeout` ran out: `-32603` with a `timeout`
/// failure and status 504, posted within [`TIMEOUT_POST_BUDGET`].
fn own_timeout(command: &Command, when: &str, shared: &Shared) -> Answer {
    report!(
        shared.telemetry, request_id = command.request_id;
        "command {} hit the request timeout {when}; answering 504",
        command.request_id
    );
    let failure = TunnelFailure::transport(FailureSource::Timeout, TransportErrorKind::Timeout);
    let resp_type = match command.kind {
        CommandKind::SessionTermination => RespType::SessionTerminationResponse,
        _ => RespType::JsonrpcResponse,
    };
    let json = match command.kind {
        CommandKind::SessionTermination => None,
        _ => Some(failure.to_jsonrpc(&command.jsonrpc_id())),
    };
    Answer::new(
        resp_type,
        json,
        failure.resp_code(true),
        CommandOutcome::Synthesized,
        post_budget_from(Instant::now()),
    )
}

/// `now` + [`TIMEOUT_POST_BUDGET`], checked: a clock that cannot go that
/// far gives `now`, and the answer is then not posted rather than a panic.
fn post_budget_from(now: Instant) -> Instant {
    now.checked_add(TIMEOUT_POST_BUDGET).unwrap_or(now)
}

/// A peer's channel name as a log line shows it: quoted, at most 64 characters.
fn shown(channel: &str) -> String {
    let cut: String = channel.chars().take(64).collect();
    if cut.len() < channel.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

fn command_type_of(command: &Command) -> &'static str {
    match command.kind {
        CommandKind::SessionTermination => "session_termination",
        CommandKind::OauthDiscovery => "oauth_discovery",
        CommandKind::JsonRpc(_) | CommandKind::Malformed { .. } => "jsonrpc",
        CommandKind::Unknown(_) => "unknown",
    }
}

/// Runs the MCP side of a command and decides its terminal answer; `None`
/// means "post nothing" (its `response_timeout` passed during the MCP work).
fn forward(
    command: &Command,
    backend: &dyn Backend,
    deadline: Deadline,
    shared: &Shared,
) -> Option<Answer> {
    let answer = |resp_type, json, status, headers, outcome| Answer {
        resp_type,
        json,
        status,
        headers,
        outcome,
        post_deadline: deadline.at,
        after_post: None,
    };
    let reply = match &command.kind {
        CommandKind::Unknown(_) => return None,
        CommandKind::Malformed { reason, id } => {
            report!(
                shared.telemetry, request_id = command.request_id;
                "command {} is malformed ({reason}); answering with an error",
                command.request_id
            );
            let json = internal_error(id, &format!("tunnel command is malformed: {reason}"), None);
            return Some(answer(
                RespType::JsonrpcResponse,
                Some(json),
                400,
                Headers::new(),
                CommandOutcome::Synthesized,
            ));
        }
        // Not an MCP call: discovery has its own channel rules and answers.
        CommandKind::OauthDiscovery => {
            let reply = oauth::answer(command, &shared.settings.oauth, deadline.at)?;
            let mut posted = answer(
                RespType::OauthDiscoveryResponse,
                Some(reply.json),
                reply.status,
                reply.headers,
                reply.outcome,
            );
            posted.after_post = reply.after_post;
            return Some(posted);
        }
        CommandKind::JsonRpc(message) => {
            let mut notify_state = NotifyState::default();
            let call = McpCall {
                message,
                headers: &command.headers,
                deadline: deadline.at,
            };
            // Notifications are posted within the same deadline: they never extend it.
            let reply = backend.call(&call, &mut |note| {
                shared
                    .responder
                    .notify(command, note, &mut notify_state, deadline.at)
            });
            match reply {
                McpReply::Response {
                    json,
                    status,
                    headers,
                } => {
                    let outcome = if json.get("error").is_some() {
                        CommandOutcome::RpcError
                    } else {
                        CommandOutcome::Success
                    };
                    return Some(answer(
                        RespType::JsonrpcResponse,
                        Some(json),
                        status,
                        headers,
                        outcome,
                    ));
                }
                McpReply::Accepted { status, headers } => {
                    return Some(answer(
                        RespType::NotifyAck,
                        None,
                        status,
                        headers,
                        CommandOutcome::Success,
                    ));
                }
                other => other,
            }
        }
        CommandKind::SessionTermination => {
            match backend.terminate_session(&command.headers, deadline.at) {
                McpReply::Accepted { status, headers }
                | McpReply::Response {
                    status, headers, ..
                } => {
                    return Some(answer(
                        RespType::SessionTerminationResponse,
                        None,
                        status,
                        headers,
                        CommandOutcome::Success,
                    ));
                }
                McpReply::Failed(failure)
                | McpReply::HttpStatus {
                    failure,
                    headers: _,
                } => {
                    report!(
                        shared.telemetry, request_id = command.request_id;
                        "session termination {} failed: {}",
                        command.request_id,
                        failure.message()
                    );
                    let status = failure.resp_code(false);
                    return Some(answer(
                        RespType::SessionTerminationResponse,
                        None,
                        status,
                        Headers::new(),
                        CommandOutcome::Synthesized,
                    ));
                }
                McpReply::Expired => McpReply::Expired,
            }
        }
    };

    let (failure, headers) = match reply {
        McpReply::Failed(failure) => (failure, Headers::new()),
        McpReply::HttpStatus { failure, headers } => (failure, headers),
        McpReply::Expired if !deadline.own => {
            info!(
                "command {} passed its response_timeout during the MCP call; nothing posted",
                command.request_id
            );
            return None;
        }
        McpReply::Expired => return Some(own_timeout(command, "during the MCP call", shared)),
        McpReply::Response { .. } | McpReply::Accepted { .. } => return None,
    };
    report!(
        shared.telemetry, request_id = command.request_id;
        "command {} failed: {}",
        command.request_id,
        failure.message()
    );
    Some(answer(
        RespType::JsonrpcResponse,
        Some(failure.to_jsonrpc(&command.jsonrpc_id())),
        failure.resp_code(false),
        headers,
        CommandOutcome::Synthesized,
    ))
}
/// `params.name` of a `tools/call`: shown in the activity list (never arguments).
fn tool_name(command: &Command) -> Option<String> {
    let CommandKind::JsonRpc(message) = &command.kind else {
        return None;
    };
    if message.get("method").and_then(Value::as_str) != Some("tools/call") {
        return None;
    }
    let name = message.get("params")?.get("name")?.as_str()?;
    Some(name.chars().take(128).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ShardToken;

    fn job(response_timeout: Option<Duration>) -> Job {
        Job {
            command: Command {
                request_id: "r".into(),
                shard_token: ShardToken("s".into()),
                channel: "main".into(),
                response_timeout,
                headers: Headers::new(),
                kind: CommandKind::SessionTermination,
            },
            received_at: Instant::now(),
        }
    }

    #[test]
    fn d2_deadlines_never_overflow_and_fall_back_to_the_request_timeout() {
        let thirty = Duration::from_secs(30);
        let j = job(None);
        let d = Deadline::of(&j, thirty);
        assert!(d.own);
        assert_eq!(d.at, j.received_at + thirty);
        let j = job(Some(Duration::from_secs(5)));
        let d = Deadline::of(&j, thirty);
        assert!(!d.own);
        assert_eq!(d.at, j.received_at + Duration::from_secs(5));
        // A deadline the clock cannot represent counts as absent.
        let j = job(Some(Duration::MAX));
        let d = Deadline::of(&j, thirty);
        assert!(d.own);
        assert_eq!(d.at, j.received_at + thirty);
        let now = Instant::now();
        assert!(d.post_deadline(now) >= now + TIMEOUT_POST_BUDGET);
        let given = Deadline {
            at: now,
            own: false,
        };
        assert_eq!(given.post_deadline(now), now);
    }
}
