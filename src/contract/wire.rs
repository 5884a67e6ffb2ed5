//! Wire types of the control-plane API (openapi.json): poll batches, commands,
//! response payloads, acks, error bodies, metadata and the server-info header.

use super::batch;
use super::headers::Headers;
use super::timeout::parse_response_timeout;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// The channel every deployment has.
pub const MAIN_CHANNEL: &str = "main";

/// An opaque shard token: echoed in a header, never logged or shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShardToken(pub String);

impl ShardToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ShardToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShardToken(***)")
    }
}

/// A command exactly as it travels in a poll response. The relay builds these;
/// the agent decodes them with [`Command::decode`] so that one malformed
/// command never spoils the rest of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireCommand {
    pub request_id: String,
    pub shard_token: ShardToken,
    #[serde(default)]
    pub command_type: CommandType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_timeout: Option<Value>,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonrpc: Option<Value>,
}

/// `command_type` of a command. Travels as its snake_case name; a name this
/// build does not know is kept as it came, so a newer peer's types pass through.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum CommandType {
    /// A JSON-RPC message for the MCP server (the default when absent).
    #[default]
    JsonRpc,
    /// End the MCP session named by the `Mcp-Session-Id` header.
    SessionTermination,
    /// Fetch the MCP server's OAuth metadata for the caller.
    OauthDiscovery,
    /// A type this build does not know.
    Unknown(String),
}

impl CommandType {
    pub fn parse(name: &str) -> CommandType {
        match name {
            "jsonrpc" => CommandType::JsonRpc,
            "session_termination" => CommandType::SessionTermination,
            "oauth_discovery" => CommandType::OauthDiscovery,
            other => CommandType::Unknown(other.to_string()),
        }
    }

    /// The name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            CommandType::JsonRpc => "jsonrpc",
            CommandType::SessionTermination => "session_termination",
            CommandType::OauthDiscovery => "oauth_discovery",
            CommandType::Unknown(name) => name,
        }
    }
}

impl From<String> for CommandType {
    fn from(name: String) -> CommandType {
        match CommandType::parse(&name) {
            CommandType::Unknown(_) => CommandType::Unknown(name),
            known => known,
        }
    }
}

impl From<CommandType> for String {
    fn from(command_type: CommandType) -> String {
        match command_type {
            CommandType::Unknown(name) => name,
            known => known.as_str().to_string(),
        }
    }
}

impl fmt::Display for CommandType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of a poll `200`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PollBatch {
    #[serde(default)]
    pub commands: Vec<Value>,
}

/// What a command asks for, after decoding.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandKind {
    /// Forward this JSON-RPC object (a request or a notification) unchanged.
    JsonRpc(Value),
    /// End the MCP session named by the `Mcp-Session-Id` header.
    SessionTermination,
    /// Fetch `main`'s OAuth protected-resource metadata (no payload; the
    /// command's headers are ignored).
    OauthDiscovery,
    /// A type this agent does not know: logged and skipped, nothing posted.
    Unknown(String),
    /// A `jsonrpc` command whose payload is missing, not an object or not
    /// decodable: answered with a synthesized error (carrying the payload's
    /// `id` when one could be read) so the caller is not left waiting.
    Malformed { reason: &'static str, id: Value },
}

/// One decoded command: everything a worker needs to serve it and respond.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub request_id: String,
    pub shard_token: ShardToken,
    pub channel: String,
    /// `None` when absent or outside the grammar.
    pub response_timeout: Option<Duration>,
    pub headers: Headers,
    pub kind: CommandKind,
}

/// Why a command could not be decoded at all (no request id or shard token to
/// answer with): the agent logs it and drops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndecodableCommand {
    /// The request id, when one could be read (for the log line).
    pub request_id: Option<String>,
    pub reason: &'static str,
}

impl fmt::Display for UndecodableCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.request_id {
            Some(id) => write!(f, "command {id} is undecodable: {}", self.reason),
            None => write!(f, "command without a request_id: {}", self.reason),
        }
    }
}

impl Command {
    /// Decodes one element of `commands`, tolerating unknown fields and
    /// types. Only a missing `request_id` or `shard_token` is fatal for it.
    pub fn decode(mut value: Value) -> Result<Command, UndecodableCommand> {
        // Moved out, not cloned: payloads can be megabytes.
        let payload = value.as_object_mut().and_then(|o| o.remove("jsonrpc"));
        let request_id = value
            .get("request_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(request_id) = request_id else {
            return Err(UndecodableCommand {
                request_id: None,
                reason: "missing or non-string request_id",
            });
        };
        let Some(shard_token) = value.get("shard_token").and_then(Value::as_str) else {
            return Err(UndecodableCommand {
                request_id: Some(request_id),
                reason: "missing or non-string shard_token",
            });
        };
        let channel = decode_channel(value.get("channel"));
        let command_type = match value.get("command_type") {
            None | Some(Value::Null) => CommandType::JsonRpc,
            Some(Value::String(t)) => CommandType::parse(t),
            Some(_) => CommandType::Unknown("<non-string>".to_string()),
        };
        let kind = match command_type {
            CommandType::JsonRpc => match payload {
                Some(obj @ Value::Object(_)) => CommandKind::JsonRpc(obj),
                None | Some(Value::Null) => CommandKind::Malformed {
                    reason: "jsonrpc payload is missing",
                    id: Value::Null,
                },
                Some(_) => CommandKind::Malformed {
                    reason: "jsonrpc payload is not a JSON object",
                    id: Value::Null,
                },
            },
            CommandType::SessionTermination => CommandKind::SessionTermination,
            CommandType::OauthDiscovery => CommandKind::OauthDiscovery,
            CommandType::Unknown(name) => CommandKind::Unknown(name),
        };
        Ok(Command {
            request_id,
            shard_token: ShardToken(shard_token.to_string()),
            channel,
            response_timeout: parse_response_timeout(value.get("response_timeout")),
            headers: decode_headers(value.get("headers")),
            kind,
        })
    }

    /// Decodes one command from its bytes (one span of a poll body). A span
    /// serde_json refuses (invalid UTF-8, nesting past its limit, bad syntax)
    /// is salvaged: its top-level strings are read member by member, and a
    /// `jsonrpc` command with a request id and shard token becomes
    /// [`CommandKind::Malformed`] (answered), anything else undecodable.
    pub fn decode_bytes(span: &[u8]) -> Result<Command, UndecodableCommand> {
        match serde_json::from_slice::<Value>(span) {
            Ok(value) => Command::decode(value),
            Err(error) => Command::salvage(span, &error),
        }
    }

    /// The answerable remains of a command that does not decode.
    fn salvage(span: &[u8], error: &serde_json::Error) -> Result<Command, UndecodableCommand> {
        let reason = if error.to_string().contains("recursion limit") {
            "the command is nested deeper than 127 levels"
        } else {
            "the command is not valid JSON (e.g. invalid UTF-8)"
        };
        let string = |key: &str| -> Option<String> {
            serde_json::from_slice::<String>(batch::member(span, key)?).ok()
        };
        let Some(request_id) = string("request_id") else {
            return Err(UndecodableCommand {
                request_id: None,
                reason,
            });
        };
        let undecodable = |request_id: String| UndecodableCommand {
            request_id: Some(request_id),
            reason,
        };
        let Some(shard_token) = string("shard_token") else {
            return Err(undecodable(request_id));
        };
        // Only a jsonrpc command can be answered without its payload; every
        // other type needs what may be in the part that did not decode.
        let command_type = batch::member(span, "command_type");
        if command_type
            .is_some_and(|t| t != b"null" && string("command_type").as_deref() != Some("jsonrpc"))
        {
            return Err(undecodable(request_id));
        }
        let channel = string("channel")
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| MAIN_CHANNEL.to_string());
        let id = batch::member(span, "jsonrpc")
            .and_then(|payload| batch::member(payload, "id"))
            .and_then(|id| serde_json::from_slice::<Value>(id).ok())
            .filter(|id| id.is_string() || id.is_number())
            .unwrap_or(Value::Null);
        let response_timeout = batch::member(span, "response_timeout")
            .and_then(|t| serde_json::from_slice::<Value>(t).ok());
        Ok(Command {
            request_id,
            shard_token: ShardToken(shard_token),
            channel,
            response_timeout: parse_response_timeout(response_timeout.as_ref()),
            headers: Headers::new(),
            kind: CommandKind::Malformed { reason, id },
        })
    }

    /// The JSON-RPC `id` of the payload (`null` when absent or not a request).
    pub fn jsonrpc_id(&self) -> Value {
        match &self.kind {
            CommandKind::JsonRpc(v) => v.get("id").cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// The JSON-RPC `method`, for logs and the activity list.
    pub fn method(&self) -> Option<&str> {
        match &self.kind {
            CommandKind::JsonRpc(v) => v.get("method").and_then(Value::as_str),
            _ => None,
        }
    }
}

/// A command's channel: trimmed and lowercased (ASCII only, so that no
/// other letter folds into a valid name); absent, null or empty is `main`.
/// Anything else that is not a string keeps its JSON text, which is no
/// configured channel, so it is answered "unsupported", never sent to `main`.
fn decode_channel(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => return MAIN_CHANNEL.to_string(),
        Some(Value::String(c)) => c.trim().to_ascii_lowercase(),
        Some(other) => other.to_string(),
    };
    if text.is_empty() {
        MAIN_CHANNEL.to_string()
    } else {
        text
    }
}

/// Reads `{"Name": ["v1", "v2"]}` leniently: a bare string counts as one
/// value, anything else in a value position is skipped.
fn decode_headers(value: Option<&Value>) -> Headers {
    let mut headers = Headers::new();
    let Some(Value::Object(map)) = value else {
        return headers;
    };
    for (name, values) in map {
        let list: Vec<String> = match values {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        };
        if !list.is_empty() {
            headers.insert(name.clone(), list);
        }
    }
    headers
}

/// `resp_type` of a response POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RespType {
    #[default]
    JsonrpcResponse,
    JsonrpcNotify,
    NotifyAck,
    SessionTerminationResponse,
    OauthDiscoveryResponse,
}

impl RespType {
    /// Every type but `jsonrpc_notify` ends its command.
    pub fn is_terminal(self) -> bool {
        self != RespType::JsonrpcNotify
    }
}

/// The body of `POST /v1/tunnels/{id}/response`. The shard token travels in
/// the `X-Tunnel-Shard-Token` header, never here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponsePayload {
    pub request_id: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resp_json: Option<Value>,
    #[serde(default)]
    pub resp_headers: Headers,
    pub resp_code: u16,
    #[serde(default)]
    pub resp_type: RespType,
}

/// `200 {"status":"ok"}` from the response endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    #[serde(default = "ok_status")]
    pub status: String,
}

fn ok_status() -> String {
    "ok".to_string()
}

impl Default for Ack {
    fn default() -> Self {
        Ack {
            status: ok_status(),
        }
    }
}

/// `{"error": {...}}` from any endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorResponse {
    pub error: ApiErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

impl ApiErrorResponse {
    pub fn new(kind: &str, code: Option<&str>, message: &str) -> Self {
        ApiErrorResponse {
            error: ApiErrorBody {
                message: message.to_string(),
                kind: kind.to_string(),
                param: None,
                code: code.map(str::to_string),
            },
        }
    }
}

/// `GET /v1/tunnels/{id}`: the three fields the agent relies on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelMetadata {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// One channel of `X-Tunnel-MCP-Server-Info`. `proc_affinity` is either
/// `true` or omitted, never `false`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelDecl {
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proc_affinity: bool,
}

/// The `X-Tunnel-MCP-Server-Info` declaration (version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: u32,
    pub channels: Vec<ChannelDecl>,
}

/// Contract bounds of the declaration.
pub const SERVER_INFO_MAX_CHANNELS: usize = 32;
pub const SERVER_INFO_MAX_BYTES: usize = 4096;

impl ServerInfo {
    /// Compact JSON for the header, or `None` if it would break the bounds.
    pub fn header_value(&self) -> Option<String> {
        if self.channels.len() > SERVER_INFO_MAX_CHANNELS {
            return None;
        }
        let text = serde_json::to_string(self).ok()?;
        (text.len() <= SERVER_INFO_MAX_BYTES).then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_openapi_example_batch() {
        let body = json!({"commands": [
            {"request_id": "req_123", "shard_token": "opaque-shard-token", "command_type": "jsonrpc",
             "channel": "main", "created_at": "2026-01-01T00:00:00Z", "response_timeout": "30s",
             "headers": {"Mcp-Session-Id": ["session_123"]},
             "jsonrpc": {"jsonrpc": "2.0", "id": "rpc_123", "method": "tools/list", "params": {}}},
            {"request_id": "req_124", "shard_token": "opaque-shard-token", "command_type": "session_termination",
             "channel": "main", "created_at": "2026-01-01T00:00:01Z", "response_timeout": "30s",
             "headers": {"Mcp-Session-Id": ["session_123"]}, "future_field": {"x": 1}}
        ], "future_top_level": true});
        let batch: PollBatch = serde_json::from_value(body).unwrap();
        let cmds: Vec<Command> = batch
            .commands
            .into_iter()
            .map(|c| Command::decode(c).unwrap())
            .collect();
        assert_eq!(cmds[0].request_id, "req_123");
        assert_eq!(cmds[0].response_timeout, Some(Duration::from_secs(30)));
        assert_eq!(cmds[0].jsonrpc_id(), json!("rpc_123"));
        assert_eq!(cmds[0].method(), Some("tools/list"));
        assert_eq!(cmds[1].kind, CommandKind::SessionTermination);
        assert_eq!(cmds[1].headers["Mcp-Session-Id"], vec!["session_123"]);
    }

    #[test]
    fn unknown_type_default_channel_and_malformed() {
        let c = Command::decode(
            json!({"request_id": "r", "shard_token": "s", "command_type": "teleport"}),
        )
        .unwrap();
        assert_eq!(c.kind, CommandKind::Unknown("teleport".into()));
        assert_eq!(c.channel, "main");
        let c = Command::decode(json!({"request_id": "r", "shard_token": "s", "jsonrpc": [1]}))
            .unwrap();
        assert!(matches!(c.kind, CommandKind::Malformed { .. }));
        let c = Command::decode(
            json!({"request_id": "r", "shard_token": "s", "channel": null, "jsonrpc": {"id": 1}}),
        )
        .unwrap();
        assert_eq!(c.channel, "main");
        assert!(Command::decode(json!({"shard_token": "s"})).is_err());
        let e = Command::decode(json!({"request_id": "r"})).unwrap_err();
        assert_eq!(e.request_id.as_deref(), Some("r"));
    }

    /// One command with invalid UTF-8 or nesting past the decoder's limit
    /// never spoils the batch: each span decodes alone, and a jsonrpc command
    /// whose ids can still be read is answered (Malformed, with its id).
    #[test]
    fn undecodable_commands_are_salvaged_or_dropped_alone() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let mut body = format!(
            r#"{{"commands":[
            {{"request_id":"deep","shard_token":"s1","channel":"c","response_timeout":"5s","jsonrpc":{{"jsonrpc":"2.0","id":41,"params":{deep}}}}},
            {{"request_id":"good","shard_token":"s2","jsonrpc":{{"jsonrpc":"2.0","id":1,"method":"ping"}}}},
            {{"request_id":"term","shard_token":"s3","command_type":"session_termination","x":{deep}}},
            {{"request_id":"utf8","shard_token":"s4","jsonrpc":{{"id":"a","p":""#
        )
        .into_bytes();
        body.extend_from_slice(b"\xff\xfe\"}}");
        body.extend_from_slice(b",{\"request_id\":\"\xff\",\"shard_token\":\"s5\"}]}");
        assert!(serde_json::from_slice::<Value>(&body).is_err());
        let batch = crate::contract::PollBody::parse(body).unwrap();
        let decoded: Vec<_> = batch.commands().map(Command::decode_bytes).collect();
        assert_eq!(decoded.len(), 5);
        let deep = decoded[0].as_ref().unwrap();
        assert_eq!(deep.request_id, "deep");
        assert_eq!(deep.shard_token.expose(), "s1");
        assert_eq!(deep.channel, "c");
        assert_eq!(deep.response_timeout, Some(Duration::from_secs(5)));
        assert!(
            matches!(&deep.kind, CommandKind::Malformed { reason, id } if id == &json!(41) && reason.contains("127")),
            "{:?}",
            deep.kind
        );
        assert_eq!(decoded[1].as_ref().unwrap().method(), Some("ping"));
        let term = decoded[2].as_ref().unwrap_err();
        assert_eq!(term.request_id.as_deref(), Some("term"));
        let utf8 = decoded[3].as_ref().unwrap();
        assert!(
            matches!(&utf8.kind, CommandKind::Malformed { reason, id } if id == &json!("a") && reason.contains("UTF-8")),
            "{:?}",
            utf8.kind
        );
        assert_eq!(decoded[4].as_ref().unwrap_err().request_id, None);
    }

    #[test]
    fn a7_channels_are_trimmed_and_lowercased_and_default_to_main() {
        let channel = |c: Value| {
            Command::decode(json!({"request_id": "r", "shard_token": "s", "channel": c}))
                .unwrap()
                .channel
        };
        assert_eq!(channel(json!(" Tools ")), "tools");
        assert_eq!(channel(json!("")), "main");
        assert_eq!(channel(json!("  ")), "main");
        assert_eq!(channel(json!(null)), "main");
        // The Kelvin sign would fold to "k" under Unicode lowercasing.
        assert_eq!(channel(json!("\u{212A}")), "\u{212A}");
        assert_eq!(channel(json!(7)), "7");
        assert_eq!(channel(json!({"a": 1})), "{\"a\":1}");
    }

    #[test]
    fn command_types_round_trip_and_keep_unknown_names() {
        for (name, ty) in [
            ("jsonrpc", CommandType::JsonRpc),
            ("session_termination", CommandType::SessionTermination),
            ("oauth_discovery", CommandType::OauthDiscovery),
            ("teleport", CommandType::Unknown("teleport".into())),
        ] {
            assert_eq!(
                serde_json::from_value::<CommandType>(json!(name)).unwrap(),
                ty
            );
            assert_eq!(serde_json::to_value(&ty).unwrap(), json!(name));
        }
        let wire: WireCommand =
            serde_json::from_value(json!({"request_id": "r", "shard_token": "s"})).unwrap();
        assert_eq!(wire.command_type, CommandType::JsonRpc);
        // O1: no payload; its headers are kept but never used.
        let c = Command::decode(
            json!({"request_id": "r", "shard_token": "s", "command_type": "oauth_discovery"}),
        )
        .unwrap();
        assert_eq!(c.kind, CommandKind::OauthDiscovery);
        assert_eq!(
            serde_json::to_value(RespType::OauthDiscoveryResponse).unwrap(),
            json!("oauth_discovery_response")
        );
    }

    #[test]
    fn fixture_files_round_trip() {
        let envelope: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/contract/poll_command_envelope.json"
        ))
        .unwrap();
        let batch: PollBatch = serde_json::from_value(envelope).unwrap();
        let first = Command::decode(batch.commands[0].clone()).unwrap();
        assert_eq!(first.channel, "harpoon");
        assert_eq!(first.headers["x-test"], vec!["alpha"]);
        assert_eq!(first.shard_token.expose(), "fixture:jsonrpc");
        assert!(!format!("{first:?}").contains("fixture:jsonrpc"));
        let wire: WireCommand = serde_json::from_value(batch.commands[1].clone()).unwrap();
        assert_eq!(wire.command_type, CommandType::SessionTermination);

        let notify: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/contract/jsonrpc_notify_response.json"
        ))
        .unwrap();
        let payload: ResponsePayload = serde_json::from_value(notify.clone()).unwrap();
        assert_eq!(payload.resp_type, RespType::JsonrpcNotify);
        assert!(!payload.resp_type.is_terminal());
        assert_eq!(serde_json::to_value(&payload).unwrap(), notify);
    }

    #[test]
    fn response_payload_encoding() {
        let p = ResponsePayload {
            request_id: "req_1".into(),
            channel: Some("main".into()),
            resp_json: None,
            resp_headers: Headers::new(),
            resp_code: 202,
            resp_type: RespType::NotifyAck,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            json!({"request_id": "req_1", "channel": "main", "resp_headers": {}, "resp_code": 202, "resp_type": "notify_ack"})
        );
    }

    #[test]
    fn server_info_header() {
        let info = ServerInfo {
            version: 1,
            channels: vec![
                ChannelDecl {
                    name: "main".into(),
                    proc_affinity: true,
                },
                ChannelDecl {
                    name: "remote".into(),
                    proc_affinity: false,
                },
            ],
        };
        assert_eq!(
            info.header_value().unwrap(),
            r#"{"version":1,"channels":[{"name":"main","proc_affinity":true},{"name":"remote"}]}"#
        );
    }

    #[test]
    fn api_error_and_metadata_ignore_unknown_fields() {
        let e: ApiErrorResponse = serde_json::from_value(json!({"error": {"message": "m", "type": "invalid_request_error", "code": "pending_request_not_found", "extra": 1}})).unwrap();
        assert_eq!(e.error.code.as_deref(), Some("pending_request_not_found"));
        let m: TunnelMetadata = serde_json::from_value(
            json!({"id": "tunnel_1", "name": "Prod", "description": "d", "owner": "x"}),
        )
        .unwrap();
        assert_eq!(m.name, "Prod");
    }
}
