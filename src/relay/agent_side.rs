//! The agent side: the control-plane contract (metadata, long-poll, response
//! POST) in `crate::contract`'s types. Never logs keys, shard tokens or payloads.

use super::http::{constant_time_eq, BodyError, Incoming, Reply};
use super::hub::{Hub, RequestKind, RespondError, PEER_CHECK_INTERVAL};
use crate::config::channels::is_channel_name;
use crate::contract::{
    header, Ack, ApiErrorResponse, ResponsePayload, ServerInfo, TunnelMetadata, WireCommand,
    MAX_POLL_LIMIT, SERVER_INFO_MAX_BYTES,
};
use serde_json::json;
use std::time::{Duration, Instant};

/// Longest a poll is held, whatever `timeout_ms` asks for.
pub const MAX_POLL_WAIT: Duration = Duration::from_secs(30);

/// Longest instance id kept; longer ones are cut (they are only labels).
const MAX_INSTANCE_ID_BYTES: usize = 128;

/// Instance id used for agents that send none (older or foreign clients).
const ANONYMOUS_INSTANCE: &str = "anonymous";

/// Most `channel=` parameters one poll may list (an agent declares at most 32).
const MAX_POLL_CHANNELS: usize = 64;

pub struct AgentSettings<'a> {
    pub agent_key: &'a str,
    pub max_body_bytes: usize,
}

/// Handles one request under `/v1/tunnels/{tunnel_id}` (`rest` is what
/// follows the id: "", "poll" or "response").
pub fn handle(
    hub: &Hub,
    settings: &AgentSettings<'_>,
    incoming: Incoming,
    tunnel_id: &str,
    rest: &str,
) {
    let given = incoming.bearer().unwrap_or("");
    if !constant_time_eq(given.as_bytes(), settings.agent_key.as_bytes()) {
        hub.metrics.agent_auth_failed();
        log::warn!("agent request refused: missing or wrong API key");
        let reply = api_error(
            401,
            "authentication_error",
            None,
            "missing or wrong API key in Authorization: Bearer",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer");
        send(hub, incoming, reply);
        return;
    }
    if !hub.knows_tunnel(tunnel_id) {
        let reply = api_error(
            404,
            "invalid_request_error",
            Some("tunnel_not_found"),
            "no tunnel with this id is served by this relay",
        );
        send(hub, incoming, reply);
        return;
    }
    let instance = instance_id(&incoming);
    let info = server_info(&incoming);
    let kind = match (incoming.method(), rest) {
        (tiny_http::Method::Get, "poll") => RequestKind::Poll,
        _ => RequestKind::Other,
    };
    let polled = match kind {
        RequestKind::Poll => match poll_channels(&incoming) {
            Ok(polled) => polled,
            Err(reply) => {
                send(hub, incoming, reply);
                return;
            }
        },
        RequestKind::Other => Vec::new(),
    };
    hub.agent_request(
        tunnel_id,
        &instance,
        info.as_ref(),
        kind,
        &polled,
        incoming.peer_watch().as_ref(),
        Instant::now(),
    );

    match (incoming.method(), rest) {
        (tiny_http::Method::Get, "") => {
            let metadata = TunnelMetadata {
                id: tunnel_id.to_string(),
                name: tunnel_id.to_string(),
                description: "served by tunnel-relay".to_string(),
            };
            let body = serde_json::to_value(&metadata).unwrap_or_else(|_| json!({}));
            send(hub, incoming, Reply::json(200, &body));
        }
        (tiny_http::Method::Get, "poll") => poll(hub, incoming, tunnel_id, &instance),
        (tiny_http::Method::Post, "response") => {
            response(hub, settings, incoming, tunnel_id, &instance)
        }
        (_, "" | "poll" | "response") => {
            let allow = if rest == "response" { "POST" } else { "GET" };
            let reply = api_error(405, "invalid_request_error", None, "method not allowed")
                .with_header(header::ALLOW, allow);
            send(hub, incoming, reply);
        }
        _ => send(
            hub,
            incoming,
            api_error(404, "invalid_request_error", None, "no such endpoint"),
        ),
    }
}

/// `X-Tunnel-Client-Instance-Id`, bounded and printable (it is logged);
/// agents without one share a record.
fn instance_id(incoming: &Incoming) -> String {
    let id: String = incoming
        .header(header::INSTANCE_ID)
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_graphic)
        .take(MAX_INSTANCE_ID_BYTES)
        .collect();
    if id.is_empty() {
        ANONYMOUS_INSTANCE.to_string()
    } else {
        id
    }
}

/// The poll's `channel=` list (empty when it lists none): the channels whose
/// commands this poll takes.
fn poll_channels(incoming: &Incoming) -> Result<Vec<String>, Reply> {
    let mut channels: Vec<String> = Vec::new();
    for name in incoming.query_all("channel") {
        if !is_channel_name(name) {
            return Err(api_error(
                400,
                "invalid_request_error",
                Some("invalid_channel_format"),
                "each channel must be 1 to 64 of a-z, 0-9, '_' and '-'",
            ));
        }
        if channels.len() >= MAX_POLL_CHANNELS {
            let message = format!("a poll may list at most {MAX_POLL_CHANNELS} channels");
            return Err(api_error(400, "invalid_request_error", None, &message));
        }
        if !channels.iter().any(|c| c == name) {
            channels.push(name.to_string());
        }
    }
    Ok(channels)
}

/// `X-Tunnel-MCP-Server-Info`, when present and well-formed (unknown fields
/// ignored; a bad declaration only means "no affinity").
fn server_info(incoming: &Incoming) -> Option<ServerInfo> {
    let raw = incoming.header(header::SERVER_INFO)?;
    if raw.len() > SERVER_INFO_MAX_BYTES {
        return None;
    }
    match serde_json::from_str::<ServerInfo>(raw) {
        Ok(info) => Some(info),
        Err(_) => {
            log::debug!("ignoring a malformed X-Tunnel-MCP-Server-Info header");
            None
        }
    }
}

/// Keeps an open poll counted until the handler returns, whatever the path.
struct OpenPoll<'a> {
    hub: &'a Hub,
    tunnel_id: &'a str,
    instance: &'a str,
}

impl Drop for OpenPoll<'_> {
    fn drop(&mut self) {
        self.hub
            .poll_closed(self.tunnel_id, self.instance, Instant::now());
    }
}

fn poll(hub: &Hub, incoming: Incoming, tunnel_id: &str, instance: &str) {
    let limit = match incoming.query("limit").map(str::parse::<usize>) {
        None => MAX_POLL_LIMIT,
        Some(Ok(n)) if (1..=MAX_POLL_LIMIT).contains(&n) => n,
        Some(_) => {
            let reply = api_error(
                400,
                "invalid_request_error",
                None,
                "limit must be an integer from 1 to 25",
            );
            send(hub, incoming, reply);
            return;
        }
    };
    let wait = match incoming.query("timeout_ms").map(str::parse::<u64>) {
        None => MAX_POLL_WAIT,
        Some(Ok(ms)) if ms >= 1 => Duration::from_millis(ms).min(MAX_POLL_WAIT),
        Some(_) => {
            let reply = api_error(
                400,
                "invalid_request_error",
                None,
                "timeout_ms must be a positive integer",
            );
            send(hub, incoming, reply);
            return;
        }
    };
    if hub.is_closed() || !hub.poll_opened(tunnel_id, instance) {
        let reply = api_error(
            503,
            "server_error",
            None,
            "too many open polls or shutting down; retry",
        )
        .with_header(header::RETRY_AFTER, "1");
        send(hub, incoming, reply);
        return;
    }
    let open = OpenPoll {
        hub,
        tunnel_id,
        instance,
    };
    let channels = hub.channels_of(tunnel_id, instance);
    let deadline = Instant::now() + wait;
    let (commands, leases) = loop {
        // Wake up now and then to see whether the agent is still there.
        let wake = deadline.min(Instant::now() + PEER_CHECK_INTERVAL);
        let taken = hub.queue.take(tunnel_id, instance, &channels, limit, wake);
        if incoming.peer_closed() == Some(true) {
            // The agent is gone (killed, restarted): what it took goes back
            // to the head of the queue for a live agent, never into a dead
            // socket where it would wait for its lease to lapse.
            hub.give_back(tunnel_id, taken);
            drop(open);
            hub.connection_lost(tunnel_id, instance, Instant::now());
            log::info!("agent instance {instance} closed its poll connection; poll ended");
            send(hub, incoming, Reply::empty(204));
            return;
        }
        let now = Instant::now();
        let (commands, leases) = hub.lease(tunnel_id, instance, taken, now);
        // Everything taken may have been abandoned by its caller meanwhile.
        if !commands.is_empty() || now >= deadline || hub.is_closed() {
            break (commands, leases);
        }
    };
    drop(open);
    hub.metrics.poll_answered(commands.len());
    if commands.is_empty() {
        send(hub, incoming, Reply::empty(204));
        return;
    }
    let reply = Reply::json_of(
        200,
        &PollAnswer {
            commands: &commands,
        },
    );
    log::debug!(
        "delivering {} command(s) to agent instance {instance}",
        commands.len()
    );
    let watch = incoming.peer_watch();
    let written = incoming.respond(reply).is_ok();
    hub.delivered(&leases, written, watch.as_ref(), Instant::now());
}

/// A poll answer with work: `{"commands":[...]}`.
#[derive(serde::Serialize)]
struct PollAnswer<'a> {
    commands: &'a [WireCommand],
}

fn response(
    hub: &Hub,
    settings: &AgentSettings<'_>,
    mut incoming: Incoming,
    tunnel_id: &str,
    instance: &str,
) {
    let Some(shard_token) = incoming.header(header::SHARD_TOKEN).map(str::to_string) else {
        let reply = api_error(
            400,
            "invalid_request_error",
            None,
            "the X-Tunnel-Shard-Token header is required",
        );
        send(hub, incoming, reply);
        return;
    };
    let body = match incoming.read_body(settings.max_body_bytes) {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let message = format!(
                "the response body is larger than {} bytes",
                settings.max_body_bytes
            );
            send(
                hub,
                incoming,
                api_error(
                    413,
                    "invalid_request_error",
                    Some("request_body_too_large"),
                    &message,
                ),
            );
            return;
        }
        Err(BodyError::Io) => {
            send(
                hub,
                incoming,
                api_error(
                    400,
                    "invalid_request_error",
                    None,
                    "the request body could not be read",
                ),
            );
            return;
        }
    };
    let payload: ResponsePayload = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(_) => {
            let reply = api_error(
                400,
                "invalid_request_error",
                Some("invalid_json_payload"),
                "the body is not a response payload",
            );
            send(hub, incoming, reply);
            return;
        }
    };
    let request_id = payload.request_id.clone();
    match hub.respond(tunnel_id, &shard_token, payload, instance) {
        Ok(()) => {
            let body =
                serde_json::to_value(Ack::default()).unwrap_or_else(|_| json!({"status": "ok"}));
            send(hub, incoming, Reply::json(200, &body));
        }
        Err(RespondError::NotFound) => {
            log::debug!("response for request {request_id} matches no pending request");
            let reply = api_error(
                404,
                "invalid_request_error",
                Some("pending_request_not_found"),
                "the pending request was already processed, expired, or never existed",
            );
            send(hub, incoming, reply);
        }
        Err(RespondError::SlowCaller) => {
            let reply = api_error(
                429,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
                "the caller is not keeping up with notifications; retry",
            )
            .with_header(header::RETRY_AFTER, "1");
            send(hub, incoming, reply);
        }
    }
}

fn api_error(status: u16, kind: &str, code: Option<&str>, message: &str) -> Reply {
    let body = serde_json::to_value(ApiErrorResponse::new(kind, code, message))
        .unwrap_or_else(|_| json!({}));
    Reply::json(status, &body)
}

fn send(_hub: &Hub, incoming: Incoming, reply: Reply) {
    if incoming.respond(reply).is_err() {
        log::debug!("agent closed the connection before the answer");
    }
}
