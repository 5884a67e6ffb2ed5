//! The poll loop: ask for as much work as there are free workers, hand every
//! returned command to the pool, and back off on failures as the contract says.

use super::control::{ControlError, ControlPlane};
use super::dispatch::{Job, Pool, HEARTBEAT_INTERVAL};
use super::stop::Stopper;
use crate::backoff::Backoff;
use crate::contract::{Command, CommandKind, UndecodableCommand, MAX_POLL_LIMIT};
use crate::telemetry::{DropReason, PollOutcome, Telemetry};
use log::{error, info, warn};
use std::time::{Duration, Instant};

/// Longest pause between failed polls.
pub const POLL_BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Longest `Retry-After` honoured for a poll.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);
/// A refused key (401/403) needs an operator: retry no faster than this.
pub const AUTH_RETRY_INTERVAL: Duration = Duration::from_secs(60);
/// The first poll holds at most this long, so that readiness (which waits for
/// a successful poll) turns true within a second of startup, not 30.
pub const FIRST_POLL_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    pub timeout: Duration,
    /// Base of the backoff after a failed poll.
    pub interval: Duration,
}

/// Runs until the stopper fires.
pub fn poll_loop(
    control: &ControlPlane,
    pool: &Pool,
    telemetry: &Telemetry,
    settings: PollSettings,
    stopper: &Stopper,
) {
    let mut backoff = Backoff::new(settings.interval, POLL_BACKOFF_CAP);
    let mut failing_since: Option<Instant> = None;
    let mut hold = settings.timeout.min(FIRST_POLL_TIMEOUT);
    let mut started_up = false;
    while !stopper.is_stopped() {
        telemetry.poll_heartbeat();
        let free = pool.free_capacity();
        if free == 0 {
            pool.wait_for_capacity(stopper, HEARTBEAT_INTERVAL);
            continue;
        }
        let started = Instant::now();
        let result = control.poll(free.min(MAX_POLL_LIMIT), hold);
        if stopper.is_stopped() {
            // An aborted long-poll, or a batch that arrived as we stopped:
            // commands are only taken while running (the service re-offers
            // what no agent answered).
            if let Ok(Some(batch)) = result {
                for span in batch.commands.commands() {
                    if let Ok(command) = Command::decode_bytes(span) {
                        info!(
                            "command {} arrived during shutdown; dropped",
                            command.request_id
                        );
                        telemetry.command_dropped(DropReason::Shutdown);
                    }
                }
            }
            break;
        }
        let latency = started.elapsed();
        let delay = match result {
            Ok(batch) => {
                if let Some(since) = failing_since.take() {
                    info!(
                        "control plane reachable again after {:.0} s",
                        since.elapsed().as_secs_f64()
                    );
                }
                backoff.reset();
                hold = settings.timeout;
                if !started_up {
                    started_up = true;
                    release_startup_pages();
                }
                match batch {
                    None => telemetry.poll_finished(PollOutcome::Empty, latency),
                    Some(batch) => {
                        telemetry
                            .poll_finished(PollOutcome::Commands(batch.commands.len()), latency);
                        let mut drops = DropLog::default();
                        for span in batch.commands.commands() {
                            accept(span, batch.received_at, pool, telemetry, &mut drops);
                        }
                        drops.summarize(telemetry);
                    }
                }
                continue;
            }
            Err(ControlError::Status {
                status: status @ (401 | 403),
                ..
            }) => {
                telemetry.poll_finished(PollOutcome::AuthRefused(status), latency);
                error!(
                    "the control plane refused the API key (HTTP {status}); operator action needed: check CONTROL_PLANE_API_KEY and the tunnel id; retrying in {} s",
                    AUTH_RETRY_INTERVAL.as_secs()
                );
                failing_since.get_or_insert(started);
                AUTH_RETRY_INTERVAL.max(backoff.next_delay())
            }
            Err(e) => {
                let outcome = match &e {
                    ControlError::Status { status, .. } => PollOutcome::HttpError(*status),
                    ControlError::BadBody(_) => PollOutcome::HttpError(200),
                    ControlError::Network { .. } => PollOutcome::NetworkError,
                };
                telemetry.poll_finished(outcome, latency);
                let floor = match &e {
                    ControlError::Status {
                        retry_after: Some(r),
                        ..
                    } => (*r).min(RETRY_AFTER_CAP),
                    _ => Duration::ZERO,
                };
                let delay = backoff.next_delay().max(floor);
                if failing_since.is_none() {
                    report!(telemetry, "poll failed: {e}; retrying with backoff");
                } else {
                    log::debug!(
                        "poll failed again: {e}; next try in {} ms",
                        delay.as_millis()
                    );
                }
                failing_since.get_or_insert(started);
                delay
            }
        };
        telemetry.poll_heartbeat();
        stopper.sleep(delay);
    }
}

/// Startup is over once a poll has succeeded: the code only it ran (argument
/// and profile parsing, TLS set-up, spawning) need not stay resident.
fn release_startup_pages() {
    match crate::sys::pages::release_code_pages() {
        Ok(bytes) => log::debug!(
            "released the resident pages of {} KiB of code mappings",
            bytes / 1024
        ),
        Err(e) => log::debug!("could not release startup code pages: {e}"),
    }
}

/// Most undecodable commands of one poll logged one by one; the rest are
/// counted in one line (a hostile batch must not flood the log).
const MAX_DROPS_LOGGED_PER_POLL: usize = 16;

/// Undecodable commands of one poll, for a bounded log.
#[derive(Default)]
struct DropLog {
    dropped: usize,
}

impl DropLog {
    fn drop_command(&mut self, telemetry: &Telemetry, error: &UndecodableCommand) {
        self.dropped += 1;
        if self.dropped <= MAX_DROPS_LOGGED_PER_POLL {
            match &error.request_id {
                Some(id) => report!(telemetry, request_id = id; "{error}; dropped"),
                None => report!(telemetry, "{error}; dropped"),
            }
        }
    }

    fn summarize(&self, telemetry: &Telemetry) {
        if let Some(more) = self
            .dropped
            .checked_sub(MAX_DROPS_LOGGED_PER_POLL)
            .filter(|n| *n > 0)
        {
            report!(
                telemetry,
                "{more} more undecodable commands in the same poll dropped"
            );
        }
    }
}

/// Decodes one command span and queues it; unknown types and undecodable
/// entries are logged drops (nothing can or may be posted for them).
fn accept(
    span: &[u8],
    received_at: Instant,
    pool: &Pool,
    telemetry: &Telemetry,
    drops: &mut DropLog,
) {
    match Command::decode_bytes(span) {
        Ok(command) => {
            if let CommandKind::Unknown(kind) = &command.kind {
                warn!(
                    "command {} has unknown type {kind:?}; skipped",
                    command.request_id
                );
                telemetry.command_dropped(DropReason::UnknownType);
                return;
            }
            pool.submit(Job {
                command,
                received_at,
            });
        }
        Err(e) => drops.drop_command(telemetry, &e),
    }
}
