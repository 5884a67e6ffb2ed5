//! Synthesized JSON-RPC errors (`-32603` with `error.data.tunnel_failure`), used
//! only when no JSON-RPC answer can be had from the MCP server. No URLs, bodies
//! or error text ever go inside: only the bounded enums below.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// JSON-RPC "internal error": the code of every synthesized failure.
pub const INTERNAL_ERROR: i64 = -32603;

/// Where the failure happened (`tunnel_failure.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureSource {
    TargetHttp,
    Dns,
    Tls,
    Connect,
    TransportClosed,
    Timeout,
    Protocol,
    ClientInternal,
}

/// Diagnostic detail (`tunnel_failure.transport_error_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportErrorKind {
    ClosedPipe,
    ConnectionAborted,
    ConnectionClosed,
    ConnectionRefused,
    ConnectionReset,
    Dial,
    Dns,
    Eof,
    HostUnreachable,
    HttpStatus,
    InvalidMcpError,
    InvalidProtocolResponse,
    MalformedJson,
    NetworkUnreachable,
    NonProtocolResponse,
    ResponseBodyMissing,
    ResponseBodyTooLarge,
    ResponseBodyUnreadable,
    Timeout,
    Tls,
    UnexpectedEof,
    Unknown,
}

/// `error.data.tunnel_failure`, version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelFailure {
    pub version: u32,
    pub source: FailureSource,
    pub upstream_response_received: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_error_kind: Option<TransportErrorKind>,
}

impl TunnelFailure {
    /// A failure before any HTTP response arrived (or on a stdio pipe).
    pub fn transport(source: FailureSource, kind: TransportErrorKind) -> Self {
        TunnelFailure {
            version: 1,
            source,
            upstream_response_received: false,
            upstream_status: None,
            transport_error_kind: Some(kind),
        }
    }

    /// The target answered with an HTTP error status and no usable JSON-RPC error.
    /// Statuses outside 400..=599 are not `target_http` by the contract: they
    /// become a protocol failure with a received response.
    pub fn target_http(status: u16) -> Self {
        if (400..=599).contains(&status) {
            TunnelFailure {
                version: 1,
                source: FailureSource::TargetHttp,
                upstream_response_received: true,
                upstream_status: Some(status),
                transport_error_kind: Some(TransportErrorKind::HttpStatus),
            }
        } else {
            Self::protocol_after_response(TransportErrorKind::NonProtocolResponse)
        }
    }

    /// The target answered, but not with anything the agent can pass on.
    pub fn protocol_after_response(kind: TransportErrorKind) -> Self {
        TunnelFailure {
            version: 1,
            source: FailureSource::Protocol,
            upstream_response_received: true,
            upstream_status: None,
            transport_error_kind: Some(kind),
        }
    }

    /// `resp_code` for the synthesized response: the target's own status for
    /// `target_http`, 504 for the agent's own request timeout on a command that
    /// carried no `response_timeout`, 502 otherwise.
    pub fn resp_code(&self, own_timeout_without_deadline: bool) -> u16 {
        match (self.source, self.upstream_status) {
            (FailureSource::TargetHttp, Some(status)) => status,
            (FailureSource::Timeout, _) if own_timeout_without_deadline => 504,
            _ => 502,
        }
    }

    /// Short human text for the JSON-RPC `message`; never includes details of the peer.
    pub fn message(&self) -> &'static str {
        match self.source {
            FailureSource::TargetHttp => "MCP server answered with an HTTP error",
            FailureSource::Dns => "MCP server name could not be resolved",
            FailureSource::Tls => "TLS handshake with the MCP server failed",
            FailureSource::Connect => "could not connect to the MCP server",
            FailureSource::TransportClosed => "connection to the MCP server closed",
            FailureSource::Timeout => "MCP server did not answer in time",
            FailureSource::Protocol => "MCP server sent a response the tunnel cannot use",
            FailureSource::ClientInternal => "tunnel client internal error",
        }
    }

    /// The complete synthesized JSON-RPC error response for request `id`.
    pub fn to_jsonrpc(&self, id: &Value) -> Value {
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": INTERNAL_ERROR,
                "message": self.message(),
                "data": {"tunnel_failure": self},
            }
        })
    }
}

/// A JSON-RPC `-32603` error that is the agent's own answer (not a transport
/// failure), e.g. "unsupported channel". `data` must hold no secrets.
pub fn internal_error(id: &Value, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": INTERNAL_ERROR, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// The JSON-RPC answer to a message for a channel this agent does not serve:
/// `-32603`, the channel named in the message and in `data`. `id` is the
/// message's own (`None` for a notification: the answer then has no `id`).
pub fn unsupported_channel(id: Option<&Value>, channel: &str) -> Value {
    let mut answer = json!({
        "jsonrpc": "2.0",
        "error": {
            "code": INTERNAL_ERROR,
            "message": format!("Bad Request: unsupported channel {}", quoted(channel)),
            "data": {"channel": channel},
        }
    });
    if let Some(id) = id {
        answer["id"] = id.clone();
    }
    answer
}

/// The `oauth_discovery_response` body for a channel this agent does not
/// serve (or any channel but `main`), in the API's error shape.
pub fn unsupported_channel_discovery(channel: &str) -> Value {
    json!({"error": {
        "message": format!("unsupported channel {}", quoted(channel)),
        "type": "invalid_request_error",
        "code": "unsupported_channel",
    }})
}

/// `"NAME"` with JSON string escaping, as the message shows the name.
fn quoted(name: &str) -> String {
    Value::from(name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_http_shape_and_code() {
        let f = TunnelFailure::target_http(503);
        let v = f.to_jsonrpc(&json!(7));
        assert_eq!(v["id"], 7);
        assert_eq!(v["error"]["code"], -32603);
        let tf = &v["error"]["data"]["tunnel_failure"];
        assert_eq!(tf["source"], "target_http");
        assert_eq!(tf["upstream_status"], 503);
        assert_eq!(tf["upstream_response_received"], true);
        assert_eq!(tf["version"], 1);
        assert_eq!(f.resp_code(false), 503);
    }

    #[test]
    fn transport_closed_omits_status() {
        let f = TunnelFailure::transport(FailureSource::TransportClosed, TransportErrorKind::Eof);
        let v = serde_json::to_value(&f).unwrap();
        assert!(v.get("upstream_status").is_none());
        assert_eq!(v["upstream_response_received"], false);
        assert_eq!(v["transport_error_kind"], "eof");
        assert_eq!(f.resp_code(false), 502);
    }

    #[test]
    fn own_timeout_is_504_only_without_deadline() {
        let f = TunnelFailure::transport(FailureSource::Timeout, TransportErrorKind::Timeout);
        assert_eq!(f.resp_code(true), 504);
        assert_eq!(f.resp_code(false), 502);
    }

    #[test]
    fn a7_unsupported_channel_bodies_are_exact() {
        assert_eq!(
            unsupported_channel(Some(&json!(7)), "tools").to_string(),
            r#"{"error":{"code":-32603,"data":{"channel":"tools"},"message":"Bad Request: unsupported channel \"tools\""},"id":7,"jsonrpc":"2.0"}"#
        );
        assert!(unsupported_channel(None, "x").get("id").is_none());
        assert_eq!(
            unsupported_channel_discovery("tools"),
            json!({"error":{"message":"unsupported channel \"tools\"","type":"invalid_request_error","code":"unsupported_channel"}})
        );
    }

    #[test]
    fn non_error_status_is_not_target_http() {
        let f = TunnelFailure::target_http(302);
        assert_eq!(f.source, FailureSource::Protocol);
        assert_eq!(f.upstream_status, None);
    }
}
