//! The bounded worker pool: commands from the poll thread wait in a bounded
//! channel, each worker serves one command at a time from deadline to POST.

use super::respond::{Delivery, NotifyState, Responder};
use super::stop::Stopper;
use crate::contract::failure::internal_error;
use crate::contract::timeout::{command_deadline, CommandDeadline};
use crate::contract::{
    Command, CommandKind, CommandType, FailureSource, Headers, RespType, TransportErrorKind,
    TunnelFailure,
};
use crate::mcp::{Backend, McpCall, McpReply};
use crate::telemetry::{CommandOutcome, CommandRecord, DropReason, Telemetry};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use log::info;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often an idle worker reports that it is alive (liveness watchdog).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// Time allowed to post the 504 of a command that ran into the agent's own
/// `--request-timeout` (its deadline has already passed by then).
const TIMEOUT_POST_BUDGET: Duration = Duration::from_secs(10);

/// A polled command and the instant its poll response arrived.
pub struct Job {
    pub command: Command,
    pub received_at: Instant,
}

/// What workers need to know that is not in the command.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    /// Deadline of commands that carry no `response_timeout`.
    pub request_timeout: Duration,
}

/// The channels this agent serves, by name.
pub type Channels = Vec<(String, Arc<dyn Backend>)>;

struct Shared {
    channels: Channels,
    responder: Responder,
    telemetry: Arc<Telemetry>,
    settings: DispatchSettings,
    /// Commands submitted and not yet finished (queued or in progress).
    outstanding: AtomicUsize,
    /// Set when the shutdown grace has run out: queued commands are dropped.
    drop_queued: AtomicBool,
}

/// The pool. The poll thread owns it; workers hold only the receiving side.
pub struct Pool {
    size: usize,
    jobs: Option<Sender<Job>>,
    freed: Receiver<()>,
    done: Receiver<()>,
    workers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Pool {
    pub fn start(
        size: usize,
        channels: Channels,
        responder: Responder,
        telemetry: Arc<Telemetry>,
        settings: DispatchSettings,
    ) -> std::io::Result<Pool> {
        let size = size.max(1);
        // Room for a full over-limit batch beyond the workers; the poll thread
        // blocks on a full queue rather than dropping anything.
        let (jobs_tx, jobs_rx) = bounded::<Job>(size + crate::contract::MAX_POLL_LIMIT);
        let (freed_tx, freed_rx) = bounded::<()>(size);
        let (done_tx, done_rx) = bounded::<()>(size);
        let shared = Arc::new(Shared {
            channels,
            responder,
            telemetry,
            settings,
            outstanding: AtomicUsize::new(0),
            drop_queued: AtomicBool::new(false),
        });
        let mut workers = Vec::with_capacity(size);
        for index in 0..size {
            let jobs = jobs_rx.clone();
            let freed = freed_tx.clone();
            let done = done_tx.clone();
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || {
                    worker_loop(index, &jobs, &freed, &shared);
                    let _ = done.send(());
                })?;
            workers.push(handle);
        }
        Ok(Pool {
            size,
            jobs: Some(jobs_tx),
            freed: freed_rx,
            done: done_rx,
            workers,
            shared,
        })
    }

    /// Workers not yet spoken for: what the next poll may ask for.
    pub fn free_capacity(&self) -> usize {
        self.size
            .saturating_sub(self.shared.outstanding.load(Ordering::Acquire))
    }

    /// Waits until a worker frees up, the stopper fires or `timeout` passes.
    pub fn wait_for_capacity(&self, stopper: &Stopper, timeout: Duration) {
        crossbeam_channel::select! {
            recv(self.freed) -> _ => {},
            recv(stopper.signal()) -> _ => {},
            default(timeout) => {},
        }
    }

    /// Hands a command to the workers; blocks while the queue is full.
    pub fn submit(&self, job: Job) {
        let Some(jobs) = &self.jobs else { return };
        self.shared.outstanding.fetch_add(1, Ordering::AcqRel);
        if let Err(returned) = jobs.send(job) {
            // Only possible if every worker died; count it as a shutdown drop.
            self.shared.outstanding.fetch_sub(1, Ordering::AcqRel);
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
        self.jobs.as_ref().map_or(0, Sender::len)
    }

    /// Stops accepting work and lets the workers finish what they hold until
    /// `grace_deadline`; then queued commands are dropped. Returns how many
    /// commands were still unfinished when it gave up waiting.
    pub fn drain(mut self, grace_deadline: Instant) -> usize {
        self.jobs = None;
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
        self.shared.outstanding.load(Ordering::Acquire)
    }
}

fn worker_loop(index: usize, jobs: &Receiver<Job>, freed: &Sender<()>, shared: &Shared) {
    loop {
        shared.telemetry.worker_heartbeat(index);
        match jobs.recv_timeout(HEARTBEAT_INTERVAL) {
            Ok(job) => {
                shared.telemetry.set_queue_depth(jobs.len());
                serve(index, job, shared);
                shared.outstanding.fetch_sub(1, Ordering::AcqRel);
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
}

fn serve(worker: usize, job: Job, shared: &Shared) {
    let picked_at = Instant::now();
    let command = &job.command;
    let queue_wait = picked_at.saturating_duration_since(job.received_at);
    let CommandDeadline {
        at: deadline,
        from_command: has_response_timeout,
    } = command_deadline(
        job.received_at,
        command.response_timeout,
        shared.settings.request_timeout,
    );
    let method = match &command.kind {
        CommandKind::SessionTermination => CommandType::SessionTermination.to_string(),
        _ => command.method().unwrap_or("").to_string(),
    };
    let tool = tool_name(command);
    let mut record = CommandRecord {
        channel: command.channel.clone(),
        method,
        tool,
        outcome: CommandOutcome::Dropped(DropReason::Expired),
        total: Duration::ZERO,
        queue_wait,
        mcp_time: Duration::ZERO,
        post_time: Duration::ZERO,
    };
    shared.telemetry.command_started();
    shared.telemetry.worker_busy(worker, deadline);

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
    } else if picked_at >= deadline {
        info!(
            "command {} expired before it started; dropped without an MCP call",
            command.request_id
        );
        None
    } else {
        let mcp_started = Instant::now();
        let answer = forward(command, deadline, has_response_timeout, shared);
        record.mcp_time = mcp_started.elapsed();
        answer
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
    }
    record.total = job.received_at.elapsed();
    shared.telemetry.command_finished(record);
}

/// Runs the MCP side of a command and decides its terminal answer; `None`
/// means "post nothing" (its `response_timeout` passed during the MCP work).
fn forward(
    command: &Command,
    deadline: Instant,
    has_response_timeout: bool,
    shared: &Shared,
) -> Option<Answer> {
    let id = command.jsonrpc_id();
    let answer = |resp_type, json, status, headers, outcome| Answer {
        resp_type,
        json,
        status,
        headers,
        outcome,
        post_deadline: deadline,
    };
    let backend = shared
        .channels
        .iter()
        .find(|(name, _)| *name == command.channel)
        .map(|(_, b)| b);

    let reply = match (&command.kind, backend) {
        (CommandKind::Unknown(_), _) => return None,
        (CommandKind::Malformed { reason, id }, _) => {
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
        (_, None) => {
            report!(
                shared.telemetry, request_id = command.request_id;
                "command {} is for channel {:?}, which has no MCP server here",
                command.request_id,
                command.channel
            );
            let json = internal_error(
                &id,
                &format!("unsupported channel: {}", command.channel),
                Some(json!({"channel": command.channel})),
            );
            return Some(answer(
                RespType::JsonrpcResponse,
                Some(json),
                400,
                Headers::new(),
                CommandOutcome::Synthesized,
            ));
        }
        (CommandKind::JsonRpc(message), Some(backend)) => {
            let mut notify_state = NotifyState::default();
            let call = McpCall {
                message,
                headers: &command.headers,
                deadline,
            };
            let reply = backend.call(&call, &mut |note| {
                shared
                    .responder
                    .notify(command, note, &mut notify_state, deadline)
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
        (CommandKind::SessionTermination, Some(backend)) => {
            match backend.terminate_session(&command.headers, deadline) {
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
                McpReply::Failed(failure) => {
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

    match reply {
        McpReply::Failed(failure) => {
            report!(
                shared.telemetry, request_id = command.request_id;
                "command {} failed: {}",
                command.request_id,
                failure.message()
            );
            Some(answer(
                RespType::JsonrpcResponse,
                Some(failure.to_jsonrpc(&id)),
                failure.resp_code(false),
                Headers::new(),
                CommandOutcome::Synthesized,
            ))
        }
        McpReply::Expired if has_response_timeout => {
            info!(
                "command {} passed its response_timeout during the MCP call; nothing posted",
                command.request_id
            );
            None
        }
        McpReply::Expired => {
            report!(
                shared.telemetry, request_id = command.request_id;
                "command {} hit the request timeout; answering 504",
                command.request_id
            );
            let failure =
                TunnelFailure::transport(FailureSource::Timeout, TransportErrorKind::Timeout);
            let mut late = answer(
                RespType::JsonrpcResponse,
                Some(failure.to_jsonrpc(&id)),
                failure.resp_code(true),
                Headers::new(),
                CommandOutcome::Synthesized,
            );
            let now = Instant::now();
            late.post_deadline = now.checked_add(TIMEOUT_POST_BUDGET).unwrap_or(now);
            Some(late)
        }
        McpReply::Response { .. } | McpReply::Accepted { .. } => None,
    }
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
