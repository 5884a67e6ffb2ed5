//! OAuth discovery through the tunnel: the protected-resource metadata route
//! (`/.well-known/oauth-protected-resource/v1/mcp/{id}`) and the rewrite of
//! `resource_metadata` in caller answers. Never logs metadata or header values.

use super::caller_side::{authorized, CallerSettings};
use super::http::{Incoming, Reply};
use super::hub::{self, AgentEvent, Hub, SubmitError};
use super::metrics::Outcome;
use crate::contract::{header, CommandType, ResponsePayload, MAIN_CHANNEL};
use crossbeam_channel::RecvTimeoutError;
use serde_json::{json, Value};
use std::time::Instant;

/// Where the relay serves a tunnel's protected-resource metadata, before the
/// tunnel id.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/oauth-protected-resource/v1/mcp/";

/// The auth-param of a `WWW-Authenticate` challenge that points at the
/// metadata.
const RESOURCE_METADATA: &[u8] = b"resource_metadata";

/// The caller-facing URL of a tunnel's MCP endpoint.
pub fn resource_url(public: &str, tunnel_id: &str) -> String {
    format!("{public}/v1/mcp/{tunnel_id}")
}

/// The caller-facing URL of a tunnel's protected-resource metadata.
pub fn metadata_url(public: &str, tunnel_id: &str) -> String {
    format!("{public}{WELL_KNOWN_PREFIX}{tunnel_id}")
}

/// Serves `GET /.well-known/oauth-protected-resource/v1/mcp/{tunnel_id}`:
/// an `oauth_discovery` command on `main`, answered with the metadata the
/// agent fetched inside its network, `resource` pointing at the relay.
pub fn handle(
    hub: &Hub,
    settings: &CallerSettings<'_>,
    incoming: Incoming,
    tunnel_id: &str,
) -> Outcome {
    if !authorized(settings, &incoming) {
        let reply = error(
            401,
            "authentication_error",
            "unauthorized",
            "missing or wrong caller token",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer");
        send(incoming, reply);
        return Outcome::Unauthorized;
    }
    if !hub.knows_tunnel(tunnel_id) {
        let reply = error(
            404,
            "invalid_request_error",
            "tunnel_not_found",
            "no tunnel with this id is served here",
        );
        send(incoming, reply);
        return Outcome::Rejected;
    }
    if !matches!(
        incoming.method(),
        tiny_http::Method::Get | tiny_http::Method::Head
    ) {
        let reply = error(
            405,
            "invalid_request_error",
            "method_not_allowed",
            "use GET",
        )
        .with_header(header::ALLOW, "GET");
        send(incoming, reply);
        return Outcome::Rejected;
    }
    let now = Instant::now();
    if hub.is_closed() {
        send(incoming, shutting_down());
        return Outcome::ShuttingDown;
    }
    if !hub.is_online(tunnel_id, MAIN_CHANNEL, now) {
        let message = format!(
            "the tunnel is offline: no tunnel-client serving channel \"{MAIN_CHANNEL}\" has polled it recently"
        );
        let reply = error(503, "server_error", "tunnel_client_not_seen", &message)
            .with_header(header::RETRY_AFTER, "1");
        send(incoming, reply);
        return Outcome::Offline;
    }
    let command = hub::new_command(
        CommandType::OauthDiscovery,
        MAIN_CHANNEL,
        Default::default(),
        None,
    );
    let request_id = command.request_id.clone();
    let deadline = now + settings.response_timeout;
    let events = match hub.submit(tunnel_id, MAIN_CHANNEL, command, None, deadline) {
        Ok(rx) => rx,
        Err(SubmitError::Closed) => {
            send(incoming, shutting_down());
            return Outcome::ShuttingDown;
        }
        Err(SubmitError::QueueFull | SubmitError::TooManyWaiting) => {
            let reply = error(
                503,
                "server_error",
                "relay_busy",
                "the relay is busy; retry later",
            )
            .with_header(header::RETRY_AFTER, "1");
            send(incoming, reply);
            return Outcome::Overloaded;
        }
    };
    loop {
        match events.recv_deadline(deadline) {
            Ok(AgentEvent::Notify(_)) => continue,
            Ok(AgentEvent::Terminal { payload, .. }) => {
                send(
                    incoming,
                    metadata_reply(&payload, settings.public_url, tunnel_id),
                );
                return Outcome::Answered;
            }
            Ok(AgentEvent::PinnedInstanceGone | AgentEvent::AgentGone) => {
                let reply = error(
                    502,
                    "server_error",
                    "tunnel_client_gone",
                    "the tunnel-client went away before answering; retry",
                );
                send(incoming, reply);
                return Outcome::AgentGone;
            }
            Err(RecvTimeoutError::Timeout) => {
                hub.cancel(&request_id);
                let reply = error(
                    504,
                    "server_error",
                    "timeout",
                    "the tunnel agent did not answer within the response timeout",
                );
                send(incoming, reply);
                return Outcome::Timeout;
            }
            Err(RecvTimeoutError::Disconnected) => {
                send(incoming, shutting_down());
                return Outcome::ShuttingDown;
            }
        }
    }
}

/// The caller's answer for the agent's `oauth_discovery_response`.
fn metadata_reply(payload: &ResponsePayload, public: &str, tunnel_id: &str) -> Reply {
    let status = match payload.resp_code {
        200..=599 => payload.resp_code,
        _ => 502,
    };
    let mut body = match &payload.resp_json {
        Some(body @ Value::Object(_)) => body.clone(),
        _ => {
            return error(
                502,
                "server_error",
                "invalid_agent_response",
                "the tunnel-client's answer carried no metadata object",
            )
        }
    };
    if status == 200 {
        // The metadata names the MCP server inside the agent's network; the
        // caller's resource is the relay's endpoint for this tunnel.
        body["resource"] = Value::String(resource_url(public, tunnel_id));
    }
    no_store(Reply::json(status, &body))
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> Reply {
    let body = json!({"error": {"message": message, "type": kind, "code": code}});
    no_store(Reply::json(status, &body))
}

fn shutting_down() -> Reply {
    error(
        503,
        "server_error",
        "shutting_down",
        "the relay is shutting down",
    )
}

fn no_store(reply: Reply) -> Reply {
    reply.with_header("Cache-Control", "no-store")
}

fn send(incoming: Incoming, reply: Reply) {
    if incoming.respond(reply).is_err() {
        log::debug!("caller closed the connection before the metadata answer");
    }
}

/// Points every `resource_metadata` auth-param in the `WWW-Authenticate`
/// headers of a caller answer at the relay's metadata route for the tunnel,
/// so a standard MCP client discovers through the relay, never at an address
/// inside the agent's network.
pub fn rewrite_challenges(headers: &mut [(String, String)], public: &str, tunnel_id: &str) {
    for (name, value) in headers.iter_mut() {
        if name.eq_ignore_ascii_case(header::WWW_AUTHENTICATE) {
            let url = metadata_url(public, tunnel_id);
            if let Some(rewritten) = rewrite_resource_metadata(value, &url) {
                *value = rewritten;
            }
        }
    }
}

/// `value` with the value of each `resource_metadata` parameter (quoted or
/// a token, name in any case) replaced by `"url"`; `None` when it has none.
/// Quoted strings of other parameters are skipped, escapes included.
pub fn rewrite_resource_metadata(value: &str, url: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let len = bytes.len();
    let is_space = |b: u8| b == b' ' || b == b'\t';
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    let mut in_quotes = false;
    while i < len {
        let b = bytes[i];
        if in_quotes {
            match b {
                b'\\' => i += 2,
                b'"' => {
                    in_quotes = false;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        if b == b'"' {
            in_quotes = true;
            i += 1;
            continue;
        }
        let at_start = i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b',');
        let name_end = i + RESOURCE_METADATA.len();
        if at_start && name_end <= len && bytes[i..name_end].eq_ignore_ascii_case(RESOURCE_METADATA)
        {
            let mut j = name_end;
            while j < len && is_space(bytes[j]) {
                j += 1;
            }
            if j < len && bytes[j] == b'=' {
                j += 1;
                while j < len && is_space(bytes[j]) {
                    j += 1;
                }
                let end = if j < len && bytes[j] == b'"' {
                    let mut k = j + 1;
                    loop {
                        if k >= len {
                            break len;
                        }
                        match bytes[k] {
                            b'\\' => k += 2,
                            b'"' => break k + 1,
                            _ => k += 1,
                        }
                    }
                } else {
                    let mut k = j;
                    while k < len && !matches!(bytes[k], b' ' | b'\t' | b',') {
                        k += 1;
                    }
                    k
                };
                let end = end.min(len);
                out.push_str(value.get(copied..j)?);
                out.push('"');
                out.push_str(url);
                out.push('"');
                copied = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(value.get(copied..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://relay:1/.well-known/oauth-protected-resource/v1/mcp/t";

    #[test]
    fn resource_metadata_is_rewritten_quoted_or_bare_in_any_case() {
        let cases = [
            (
                r#"Bearer resource_metadata="https://in.corp/.well-known/oauth-protected-resource/mcp""#,
                format!(r#"Bearer resource_metadata="{URL}""#),
            ),
            (
                r#"Bearer realm="mcp", Resource_Metadata = https://in.corp/x, scope="a b""#,
                format!(r#"Bearer realm="mcp", Resource_Metadata = "{URL}", scope="a b""#),
            ),
            (
                r#"Bearer error="invalid_token", resource_metadata="https://in\"corp""#,
                format!(r#"Bearer error="invalid_token", resource_metadata="{URL}""#),
            ),
        ];
        for (given, want) in cases {
            assert_eq!(
                rewrite_resource_metadata(given, URL).as_deref(),
                Some(want.as_str())
            );
        }
    }

    #[test]
    fn other_parameters_and_quoted_text_are_left_alone() {
        for value in [
            "Bearer",
            r#"Bearer realm="resource_metadata=https://x""#,
            r#"Bearer my_resource_metadata="https://x""#,
            r#"Bearer resource_metadata_url="https://x""#,
            "Basic realm=\"r\"",
        ] {
            assert_eq!(rewrite_resource_metadata(value, URL), None, "{value}");
        }
        // Unterminated quotes and odd bytes never panic.
        assert!(rewrite_resource_metadata("Bearer resource_metadata=\"abc\\", URL).is_some());
        assert_eq!(rewrite_resource_metadata("é\"\\é", URL), None);
    }

    #[test]
    fn only_www_authenticate_headers_change() {
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            (
                "WWW-Authenticate".to_string(),
                "Bearer resource_metadata=\"https://in/x\"".to_string(),
            ),
        ];
        rewrite_challenges(&mut headers, "http://relay:1", "t");
        assert_eq!(headers[0].1, "application/json");
        assert_eq!(headers[1].1, format!("Bearer resource_metadata=\"{URL}\""));
    }
}
