//! Response and notification POSTs with the contract's retry rules: terminal
//! responses retry transient failures within the deadline; notifications barely.

use super::control::{ControlError, ControlPlane};
use crate::backoff::Backoff;
use crate::contract::{Command, Headers, RespType, ResponsePayload, ShardToken};
use crate::telemetry::{PostResult, Telemetry};
use log::debug;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// First retry delay of a response POST (doubling, full jitter).
const POST_RETRY_BASE: Duration = Duration::from_millis(100);
/// Longest pause between response POST attempts.
const POST_RETRY_CAP: Duration = Duration::from_secs(5);
/// Longest `Retry-After` honoured for a POST.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);
/// Per-attempt ceiling of a POST, so one stuck attempt cannot eat the deadline.
const POST_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// How the terminal POST ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered {
        retried: bool,
    },
    /// 404: already fulfilled or gone. Terminal; the MCP call is never replayed.
    Gone,
    Failed,
}

/// Posts everything one worker produces for its commands.
pub struct Responder {
    control: Arc<ControlPlane>,
    telemetry: Arc<Telemetry>,
}

/// Per-command notification state: after one notification fails, the later
/// ones are skipped but the terminal response is still delivered.
#[derive(Debug, Default)]
pub struct NotifyState {
    failed: bool,
}

impl Responder {
    pub fn new(control: Arc<ControlPlane>, telemetry: Arc<Telemetry>) -> Self {
        Responder { control, telemetry }
    }

    /// Posts the one terminal response of `command`, retrying network errors,
    /// 408, 429, 502, 503 and 504 with the exact same body until `deadline`.
    pub fn terminal(
        &self,
        command: &Command,
        resp_type: RespType,
        resp_json: Option<Value>,
        resp_code: u16,
        resp_headers: Headers,
        deadline: Instant,
    ) -> Delivery {
        let payload = ResponsePayload {
            request_id: command.request_id.clone(),
            channel: Some(command.channel.clone()),
            resp_json,
            resp_headers,
            resp_code,
            resp_type,
        };
        let Ok(body) = serde_json::to_vec(&payload) else {
            report!(
                self.telemetry, request_id = command.request_id;
                "response for {} could not be encoded; dropped",
                command.request_id
            );
            return self.record(Delivery::Failed);
        };
        let mut backoff = Backoff::new(POST_RETRY_BASE, POST_RETRY_CAP);
        let mut attempts = 0u32;
        loop {
            let Some(left) = crate::mcp::remaining(deadline) else {
                report!(
                    self.telemetry, request_id = command.request_id;
                    "response for {} not delivered before its deadline",
                    command.request_id
                );
                return self.record(Delivery::Failed);
            };
            attempts += 1;
            let retry_after =
                match self.post(&body, &command.shard_token, left.min(POST_ATTEMPT_TIMEOUT)) {
                    Ok(()) => {
                        return self.record(Delivery::Delivered {
                            retried: attempts > 1,
                        })
                    }
                    Err(ControlError::Status { status: 404, .. }) => {
                        debug!(
                            "response for {} answered 404: already fulfilled or gone",
                            command.request_id
                        );
                        return self.record(Delivery::Gone);
                    }
                    Err(ControlError::Status {
                        status: 408 | 429 | 502 | 503 | 504,
                        retry_after,
                        ..
                    }) => retry_after,
                    Err(ControlError::Network { .. }) => None,
                    Err(e) => {
                        report!(
                            self.telemetry, request_id = command.request_id;
                            "response for {} refused: {e}",
                            command.request_id
                        );
                        return self.record(Delivery::Failed);
                    }
                };
            let delay = backoff
                .next_delay()
                .max(retry_after.unwrap_or_default().min(RETRY_AFTER_CAP));
            if past_with(delay, deadline) {
                report!(
                    self.telemetry, request_id = command.request_id;
                    "response for {} not delivered before its deadline ({attempts} attempts)",
                    command.request_id
                );
                return self.record(Delivery::Failed);
            }
            std::thread::sleep(delay);
        }
    }

    /// Posts one `jsonrpc_notify`. Retries only 429 and failures that surely
    /// happened before the request was written; after a failure the command's
    /// later notifications are skipped.
    pub fn notify(
        &self,
        command: &Command,
        message: Value,
        state: &mut NotifyState,
        deadline: Instant,
    ) {
        if state.failed {
            return;
        }
        let payload = ResponsePayload {
            request_id: command.request_id.clone(),
            channel: Some(command.channel.clone()),
            resp_json: Some(message),
            resp_headers: Headers::new(),
            resp_code: 200,
            resp_type: RespType::JsonrpcNotify,
        };
        let Ok(body) = serde_json::to_vec(&payload) else {
            state.failed = true;
            return;
        };
        let mut backoff = Backoff::new(POST_RETRY_BASE, POST_RETRY_CAP);
        loop {
            let Some(left) = crate::mcp::remaining(deadline) else {
                state.failed = true;
                return;
            };
            let retry_after = match self.post(
                &body,
                &command.shard_token,
                left.min(POST_ATTEMPT_TIMEOUT),
            ) {
                Ok(()) => {
                    self.telemetry.notification_posted();
                    return;
                }
                Err(ControlError::Status {
                    status: 429,
                    retry_after,
                    ..
                }) => retry_after,
                Err(ControlError::Network {
                    before_write: true, ..
                }) => None,
                Err(e) => {
                    report!(self.telemetry, request_id = command.request_id;
                        "notification for {} not delivered ({e}); skipping its later notifications",
                        command.request_id
                    );
                    state.failed = true;
                    return;
                }
            };
            let delay = backoff
                .next_delay()
                .max(retry_after.unwrap_or_default().min(RETRY_AFTER_CAP));
            if past_with(delay, deadline) {
                state.failed = true;
                return;
            }
            std::thread::sleep(delay);
        }
    }

    /// One POST attempt; failures are counted for the dashboard by status class.
    fn post(
        &self,
        body: &[u8],
        shard_token: &ShardToken,
        timeout: Duration,
    ) -> Result<(), ControlError> {
        let result = self.control.post_response(body, shard_token, timeout);
        match &result {
            Err(ControlError::Status { status, .. }) => {
                self.telemetry.control_plane_error(Some(*status))
            }
            Err(ControlError::Network { .. }) => self.telemetry.control_plane_error(None),
            Err(ControlError::BadBody(_)) => self.telemetry.control_plane_error(Some(200)),
            Ok(()) => {}
        }
        result
    }

    fn record(&self, delivery: Delivery) -> Delivery {
        self.telemetry.response_posted(match delivery {
            Delivery::Delivered { retried: false } => PostResult::Ok,
            Delivery::Delivered { retried: true } => PostResult::Retried,
            Delivery::Gone => PostResult::Gone,
            Delivery::Failed => PostResult::Failed,
        });
        delivery
    }
}

/// True when waiting `delay` from now would end at or past `deadline`
/// (also when the sum cannot be represented).
fn past_with(delay: Duration, deadline: Instant) -> bool {
    Instant::now()
        .checked_add(delay)
        .is_none_or(|end| end >= deadline)
}
