//! The caller side: an MCP Streamable HTTP endpoint (`/v1/mcp/{id}` for
//! channel `main`, `/v1/mcp/{id}/{channel}`) that queues each message for an
//! agent serving its channel and answers with the agent's reply.
//! Never logs payloads, header values or tokens; never waits past a deadline.

use super::forward;
use super::http::{BodyError, EventStream, Incoming, Reply};
use super::hub::{self, AgentEvent, Hub, SessionRoute, SubmitError};
use super::metrics::Outcome;
use super::oauth;
use crate::config::channels::is_channel_name;
use crate::contract::batch::{self, MAX_PAYLOAD_DEPTH};
use crate::contract::failure::{internal_error, INTERNAL_ERROR};
use crate::contract::{header, CommandType, RespType, ResponsePayload};
use crossbeam_channel::RecvTimeoutError;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// JSON-RPC "parse error".
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC "invalid request".
const INVALID_REQUEST: i64 = -32600;

/// What the caller side needs to know besides the hub.
pub struct CallerSettings<'a> {
    pub caller_token: Option<&'a str>,
    pub response_timeout: Duration,
    pub max_body_bytes: usize,
    /// The relay's address as callers see it (`--public-url`), no trailing `/`.
    pub public_url: &'a str,
}

/// True when caller auth is off or the request carries the caller token.
pub fn authorized(settings: &CallerSettings<'_>, incoming: &Incoming) -> bool {
    match settings.caller_token {
        None => true,
        Some(expected) => {
            let given = incoming.bearer().unwrap_or("");
            super::http::constant_time_eq(given.as_bytes(), expected.as_bytes())
        }
    }
}

/// One caller request's place: its tunnel and channel, and the relay's
/// public address (for OAuth discovery links in answers).
struct Target<'a> {
    tunnel_id: &'a str,
    channel: &'a str,
    public_url: &'a str,
}

/// Handles one request on `/v1/mcp/{tunnel_id}/{channel}` and reports its
/// outcome.
pub fn handle(
    hub: &Hub,
    settings: &CallerSettings<'_>,
    incoming: Incoming,
    tunnel_id: &str,
    channel: &str,
) -> Outcome {
    if !authorized(settings, &incoming) {
        let reply = rpc_error(
            401,
            &Value::Null,
            INVALID_REQUEST,
            "missing or wrong caller token",
            "unauthorized",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer");
        send(hub, incoming, reply);
        return Outcome::Unauthorized;
    }
    if !hub.knows_tunnel(tunnel_id) {
        let reply = rpc_error(
            404,
            &Value::Null,
            INVALID_REQUEST,
            "no tunnel with this id is served here",
            "tunnel_not_found",
        );
        send(hub, incoming, reply);
        return Outcome::Rejected;
    }
    if !is_channel_name(channel) {
        // The name is not echoed: it is whatever the caller put in the path.
        let reply = rpc_error(
            400,
            &Value::Null,
            INVALID_REQUEST,
            "the channel in the path must be 1 to 64 of a-z, 0-9, '_' and '-'",
            "invalid_channel_format",
        );
        send(hub, incoming, reply);
        return Outcome::Rejected;
    }
    let target = Target {
        tunnel_id,
        channel,
        public_url: settings.public_url,
    };
    match incoming.method() {
        tiny_http::Method::Post => post(hub, settings, incoming, &target),
        tiny_http::Method::Delete => delete(hub, settings, incoming, &target),
        _ => {
            // No server-initiated stream travels over the tunnel.
            let reply = Reply::text(405, "text/plain", "use POST (or DELETE to end a session)\n")
                .with_header(header::ALLOW, "POST, DELETE");
            send(hub, incoming, reply);
            Outcome::Rejected
        }
    }
}

fn post(
    hub: &Hub,
    settings: &CallerSettings<'_>,
    mut incoming: Incoming,
    target: &Target<'_>,
) -> Outcome {
    let tunnel_id = target.tunnel_id;
    let body = match incoming.read_body(settings.max_body_bytes) {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let message = format!(
                "the message is larger than {} bytes",
                settings.max_body_bytes
            );
            send(
                hub,
                incoming,
                rpc_error(
                    413,
                    &Value::Null,
                    INVALID_REQUEST,
                    &message,
                    "request_body_too_large",
                ),
            );
            return Outcome::Rejected;
        }
        Err(BodyError::Io) => {
            send(
                hub,
                incoming,
                rpc_error(
                    400,
                    &Value::Null,
                    PARSE_ERROR,
                    "the request body could not be read",
                    "body_unreadable",
                ),
            );
            return Outcome::Rejected;
        }
    };
    // Whatever the relay embeds into a poll body must stay decodable by the
    // agent: a payload is refused, not embedded, when its nesting plus the
    // poll envelope would pass what a JSON decoder accepts.
    if batch::depth(&body).is_some_and(|depth| depth > MAX_PAYLOAD_DEPTH) {
        let message =
            format!("the message is nested deeper than {MAX_PAYLOAD_DEPTH} levels, which the tunnel cannot carry");
        send(
            hub,
            incoming,
            rpc_error(
                400,
                &Value::Null,
                INVALID_REQUEST,
                &message,
                "payload_too_deep",
            ),
        );
        return Outcome::Rejected;
    }
    let message: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(_) => {
            send(
                hub,
                incoming,
                rpc_error(
                    400,
                    &Value::Null,
                    PARSE_ERROR,
                    "the body is not valid JSON",
                    "invalid_json_payload",
                ),
            );
            return Outcome::Rejected;
        }
    };
    if !message.is_object() {
        let reply = rpc_error(
            400,
            &Value::Null,
            INVALID_REQUEST,
            "send one JSON-RPC message object (batches are not supported)",
            "invalid_json_payload",
        );
        send(hub, incoming, reply);
        return Outcome::Rejected;
    }
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let is_request = message.get("method").is_some() && message.get("id").is_some();
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string);
    let caller_session = incoming.header(header::MCP_SESSION_ID).map(str::to_string);

    let now = Instant::now();
    let pinned_to = match route(hub, target, caller_session.as_deref(), now) {
        Ok(pinned_to) => pinned_to,
        Err((reply, outcome)) => {
            send(hub, incoming, with_id(reply, &id));
            return outcome;
        }
    };
    let headers = forward::command_headers(incoming.headers(), settings.caller_token.is_none());
    let command = hub::new_command(CommandType::JsonRpc, target.channel, headers, Some(message));
    let request_id = command.request_id.clone();
    let deadline = now + settings.response_timeout;
    let events = match hub.submit(tunnel_id, target.channel, command, pinned_to, deadline) {
        Ok(rx) => rx,
        Err(e) => {
            let (reply, outcome) = submit_refusal(e);
            send(hub, incoming, with_id(reply, &id));
            return outcome;
        }
    };
    log::debug!("request {request_id}: queued for tunnel {tunnel_id}");

    let wants_stream = is_request && incoming.accepts_event_stream();
    let mut waiting = Waiting {
        incoming: Some(incoming),
        stream: None,
    };
    loop {
        let event = match events.recv_deadline(deadline) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => {
                hub.cancel(&request_id);
                log::info!(
                    "request {request_id}: no answer from the agent within the response timeout"
                );
                let reply = rpc_error(
                    504,
                    &id,
                    INTERNAL_ERROR,
                    "the tunnel agent did not answer within the response timeout",
                    "timeout",
                );
                waiting.fail(hub, reply);
                return Outcome::Timeout;
            }
            Err(RecvTimeoutError::Disconnected) => {
                let reply = rpc_error(
                    503,
                    &id,
                    INTERNAL_ERROR,
                    "the relay is shutting down",
                    "shutting_down",
                );
                waiting.fail(hub, reply);
                return Outcome::ShuttingDown;
            }
        };
        match event {
            AgentEvent::Notify(note) => {
                if !wants_stream {
                    continue;
                }
                // Coalesce notifications already buffered into one write, but
                // stop at a terminal answer so it still ends the stream.
                let mut batch = vec![note.to_string()];
                let mut terminal = None;
                for next in hub::drain_ready(&events) {
                    match next {
                        AgentEvent::Notify(more) if terminal.is_none() => {
                            batch.push(more.to_string())
                        }
                        AgentEvent::Notify(_) => {}
                        other => terminal = Some(other),
                    }
                }
                if waiting.stream_events(&batch).is_err() {
                    log::debug!("request {request_id}: caller closed its event stream");
                    hub.cancel(&request_id);
                    return Outcome::Answered;
                }
                if let Some(event) = terminal {
                    return finish(
                        hub,
                        &mut waiting,
                        event,
                        target,
                        &id,
                        method.as_deref(),
                        caller_session.as_deref(),
                    );
                }
            }
            other => {
                return finish(
                    hub,
                    &mut waiting,
                    other,
                    target,
                    &id,
                    method.as_deref(),
                    caller_session.as_deref(),
                );
            }
        }
    }
}

/// The caller's request while its answer is pending: not yet answered, or
/// already streaming SSE.
struct Waiting {
    incoming: Option<Incoming>,
    stream: Option<EventStream>,
}

impl Waiting {
    fn stream_events(&mut self, batch: &[String]) -> std::io::Result<()> {
        if self.stream.is_none() {
            let Some(incoming) = self.incoming.take() else {
                return Err(std::io::Error::other("answered already"));
            };
            self.stream = Some(incoming.start_event_stream(&[])?);
        }
        match self.stream.as_mut() {
            Some(stream) => stream.send(batch),
            None => Err(std::io::Error::other("no stream")),
        }
    }

    /// Ends the exchange with `reply`, or with its body as the last event.
    fn fail(&mut self, hub: &Hub, reply: Reply) {
        self.answer(hub, reply, None);
    }

    fn answer(&mut self, hub: &Hub, reply: Reply, last_event: Option<String>) {
        if let Some(stream) = self.stream.take() {
            let text =
                last_event.unwrap_or_else(|| String::from_utf8_lossy(&reply.body).into_owned());
            let messages: Vec<String> = if text.is_empty() {
                Vec::new()
            } else {
                vec![text]
            };
            if stream.finish(&messages).is_err() {
                log::debug!("caller closed its event stream before the end");
            }
        } else if let Some(incoming) = self.incoming.take() {
            send(hub, incoming, reply);
        }
    }
}

/// Delivers the terminal event (or the loss of the agent).
fn finish(
    hub: &Hub,
    waiting: &mut Waiting,
    event: AgentEvent,
    target: &Target<'_>,
    id: &Value,
    method: Option<&str>,
    caller_session: Option<&str>,
) -> Outcome {
    let (payload, instance) = match event {
        AgentEvent::Terminal { payload, instance } => (payload, instance),
        AgentEvent::PinnedInstanceGone | AgentEvent::Notify(_) => {
            waiting.fail(hub, session_gone(id));
            return Outcome::SessionGone;
        }
        AgentEvent::AgentGone => {
            waiting.fail(hub, agent_gone(id));
            return Outcome::AgentGone;
        }
    };
    let mut headers = hub::allowlisted(&payload.resp_headers);
    oauth::rewrite_challenges(&mut headers, target.public_url, target.tunnel_id);
    pin_if_affine(
        hub,
        target,
        &instance,
        method,
        caller_session,
        &payload,
        &mut headers,
    );
    let reply = terminal_reply(&payload, headers);
    let last_event = payload.resp_json.as_ref().map(Value::to_string);
    waiting.answer(hub, reply, last_event);
    Outcome::Answered
}

/// Pins the MCP session to the instance that answered, when that instance
/// declared process affinity for the channel: an `initialize` pins the
/// session id it returned (minting one when a stdio server has none), any
/// other answer pins the caller's own unpinned session id.
fn pin_if_affine(
    hub: &Hub,
    target: &Target<'_>,
    instance: &str,
    method: Option<&str>,
    caller_session: Option<&str>,
    payload: &ResponsePayload,
    headers: &mut Vec<(String, String)>,
) {
    let (tunnel_id, channel) = (target.tunnel_id, target.channel);
    if !(200..300).contains(&payload.resp_code)
        || !hub.instance_affine(tunnel_id, instance, channel)
    {
        return;
    }
    let now = Instant::now();
    let returned = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(header::MCP_SESSION_ID))
        .map(|(_, value)| value.clone());
    let session = match (method, returned, caller_session) {
        (_, Some(returned), _) => returned,
        (Some("initialize"), None, None) => {
            let minted = crate::random::token("relay-session-");
            headers.push((header::MCP_SESSION_ID.to_string(), minted.clone()));
            minted
        }
        (_, None, Some(caller)) => caller.to_string(),
        (_, None, None) => return,
    };
    if hub.session_route(tunnel_id, channel, &session, now) == SessionRoute::Anywhere {
        hub.pin_session(tunnel_id, channel, &session, instance, now);
        log::debug!("MCP session pinned to agent instance {instance}");
    }
}

/// The caller's answer for an agent's terminal response.
fn terminal_reply(payload: &ResponsePayload, headers: Vec<(String, String)>) -> Reply {
    // A status the agent cannot mean (1xx, out of range) is a bad gateway.
    let status = match payload.resp_code {
        200..=599 => payload.resp_code,
        _ => 502,
    };
    let has_type = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(header::CONTENT_TYPE));
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    match (&payload.resp_json, payload.resp_type) {
        (Some(json), RespType::JsonrpcResponse | RespType::JsonrpcNotify) => {
            reply.body = json.to_string().into_bytes();
            // The relay always answers JSON, whatever the MCP hop used.
            reply
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case(header::CONTENT_TYPE));
            reply
                .headers
                .push((header::CONTENT_TYPE.into(), "application/json".into()));
        }
        _ if has_type => reply
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(header::CONTENT_TYPE)),
        _ => {}
    }
    reply
}

fn delete(
    hub: &Hub,
    settings: &CallerSettings<'_>,
    incoming: Incoming,
    target: &Target<'_>,
) -> Outcome {
    let (tunnel_id, channel) = (target.tunnel_id, target.channel);
    let Some(session) = incoming.header(header::MCP_SESSION_ID).map(str::to_string) else {
        let body = json!({"error": {"message": "DELETE needs the Mcp-Session-Id header of the session to end", "type": "invalid_request_error", "code": "missing_mcp_session_id"}});
        send(hub, incoming, Reply::json(400, &body));
        return Outcome::Rejected;
    };
    let now = Instant::now();
    let pinned_to = match route(hub, target, Some(&session), now) {
        Ok(pinned_to) => pinned_to,
        Err((reply, outcome)) => {
            send(hub, incoming, reply);
            return outcome;
        }
    };
    let headers = forward::command_headers(incoming.headers(), settings.caller_token.is_none());
    let command = hub::new_command(CommandType::SessionTermination, channel, headers, None);
    let request_id = command.request_id.clone();
    let deadline = now + settings.response_timeout;
    let events = match hub.submit(tunnel_id, channel, command, pinned_to, deadline) {
        Ok(rx) => rx,
        Err(e) => {
            let (reply, outcome) = submit_refusal(e);
            send(hub, incoming, reply);
            return outcome;
        }
    };
    loop {
        match events.recv_deadline(deadline) {
            Ok(AgentEvent::Notify(_)) => continue,
            Ok(AgentEvent::Terminal { payload, .. }) => {
                if (200..300).contains(&payload.resp_code) {
                    hub.unpin_session(tunnel_id, channel, &session);
                }
                let mut headers = hub::allowlisted(&payload.resp_headers);
                oauth::rewrite_challenges(&mut headers, target.public_url, target.tunnel_id);
                send(hub, incoming, terminal_reply(&payload, headers));
                return Outcome::Answered;
            }
            Ok(AgentEvent::PinnedInstanceGone) => {
                hub.unpin_session(tunnel_id, channel, &session);
                send(hub, incoming, session_gone(&Value::Null));
                return Outcome::SessionGone;
            }
            Ok(AgentEvent::AgentGone) => {
                send(hub, incoming, agent_gone(&Value::Null));
                return Outcome::AgentGone;
            }
            Err(RecvTimeoutError::Timeout) => {
                hub.cancel(&request_id);
                let reply = rpc_error(
                    504,
                    &Value::Null,
                    INTERNAL_ERROR,
                    "the tunnel agent did not answer within the response timeout",
                    "timeout",
                );
                send(hub, incoming, reply);
                return Outcome::Timeout;
            }
            Err(RecvTimeoutError::Disconnected) => {
                send(
                    hub,
                    incoming,
                    rpc_error(
                        503,
                        &Value::Null,
                        INTERNAL_ERROR,
                        "the relay is shutting down",
                        "shutting_down",
                    ),
                );
                return Outcome::ShuttingDown;
            }
        }
    }
}

/// Checks that an agent can take the message now and where it must go.
fn route(
    hub: &Hub,
    target: &Target<'_>,
    session: Option<&str>,
    now: Instant,
) -> Result<Option<String>, (Reply, Outcome)> {
    let (tunnel_id, channel) = (target.tunnel_id, target.channel);
    if hub.is_closed() {
        let reply = rpc_error(
            503,
            &Value::Null,
            INTERNAL_ERROR,
            "the relay is shutting down",
            "shutting_down",
        );
        return Err((reply, Outcome::ShuttingDown));
    }
    if !hub.is_online(tunnel_id, channel, now) {
        let message = format!(
            "the tunnel is offline for channel \"{channel}\": no tunnel-client serving it has polled recently; start tunnel-client for this tunnel and channel"
        );
        let reply = rpc_error(
            503,
            &Value::Null,
            INTERNAL_ERROR,
            &message,
            "tunnel_client_not_seen",
        )
        .with_header(header::RETRY_AFTER, "1");
        return Err((reply, Outcome::Offline));
    }
    match session.map(|s| hub.session_route(tunnel_id, channel, s, now)) {
        None | Some(SessionRoute::Anywhere) => Ok(None),
        Some(SessionRoute::Pinned(instance)) => Ok(Some(instance)),
        Some(SessionRoute::Gone) => Err((session_gone(&Value::Null), Outcome::SessionGone)),
    }
}

fn submit_refusal(error: SubmitError) -> (Reply, Outcome) {
    let (message, code, outcome) = match error {
        SubmitError::QueueFull => (
            "the tunnel's queue is full; retry later",
            "tunnel_queue_full",
            Outcome::Overloaded,
        ),
        SubmitError::TooManyWaiting => (
            "too many callers are waiting on this relay; retry later",
            "relay_busy",
            Outcome::Overloaded,
        ),
        SubmitError::Closed => (
            "the relay is shutting down",
            "shutting_down",
            Outcome::ShuttingDown,
        ),
    };
    let reply = rpc_error(503, &Value::Null, INTERNAL_ERROR, message, code)
        .with_header(header::RETRY_AFTER, "1");
    (reply, outcome)
}

fn session_gone(id: &Value) -> Reply {
    // 404 tells an MCP client that its session is over and to initialize again.
    rpc_error(
        404,
        id,
        INTERNAL_ERROR,
        "the tunnel-client process that owned this MCP session is gone; start a new session with initialize",
        "session_agent_gone",
    )
}

fn agent_gone(id: &Value) -> Reply {
    // The agent confirmed the message and then vanished: it may have run.
    rpc_error(
        502,
        id,
        INTERNAL_ERROR,
        "the tunnel-client handling this request went away before answering; it may or may not have run",
        "tunnel_client_gone",
    )
}

/// A JSON-RPC error answer; `relay_error` names the cause for programs.
fn rpc_error(status: u16, id: &Value, code: i64, message: &str, relay_error: &str) -> Reply {
    let body = if code == INTERNAL_ERROR {
        internal_error(id, message, Some(json!({"relay_error": relay_error})))
    } else {
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": {"relay_error": relay_error}}})
    };
    Reply::json(status, &body)
}

/// Puts the request's id into an error built before the id was known.
fn with_id(mut reply: Reply, id: &Value) -> Reply {
    if let Ok(mut body) = serde_json::from_slice::<Value>(&reply.body) {
        if body.get("jsonrpc").is_some() {
            body["id"] = id.clone();
            reply.body = body.to_string().into_bytes();
        }
    }
    reply
}

fn send(_hub: &Hub, incoming: Incoming, reply: Reply) {
    if incoming.respond(reply).is_err() {
        log::debug!("caller closed the connection before the answer");
    }
}
