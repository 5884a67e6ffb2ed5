//! The in-process, stateless MCP server of the `harpoon` channel: JSON-RPC in,
//! [`McpReply`] out, one record per tool call. Holds no session; never answers a notification with a result.

use crate::contract::Headers;
use crate::mcp::harpoon::client::CancelToken;
use crate::mcp::harpoon::outcome::{self, CallRecord, CallSink, Outcome, UNKNOWN_TARGET};
use crate::mcp::harpoon::schema::{self, Limits};
use crate::mcp::harpoon::settings::{HarpoonSettings, Target, TargetStore};
use crate::mcp::harpoon::tools::{self, Context};
use crate::mcp::{remaining, Backend, BackendStatus, McpCall, McpReply};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `serverInfo.name`, and the channel name.
pub const SERVER_NAME: &str = "harpoon";
/// `serverInfo.title`.
pub const SERVER_TITLE: &str = "Harpoon (Constrained HTTP Client)";
/// Protocol versions echoed when asked for; anything else gets the latest.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
pub const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";
/// Status of the answer to `session_termination`: there is no session to end.
pub const SESSION_TERMINATION_STATUS: u16 = 405;

const INSTRUCTIONS: &str = "Harpoon sends HTTP requests to targets the operator allowlisted, \
and nowhere else. Call list_targets to learn the labels; call_target sends a request to a \
target's URL, http_callout to a path under it. URLs are never accepted or shown: targets are \
named by label, and target URLs in call_target answers read harpoon://<label>.";

const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// The `harpoon` channel's backend.
pub struct Harpoon {
    settings: HarpoonSettings,
    store: TargetStore,
    sink: Arc<dyn CallSink>,
    /// Tool calls in flight, by JSON-RPC id, for `notifications/cancelled`.
    in_flight: Mutex<Vec<(Value, Arc<CancelToken>)>>,
    stopping: AtomicBool,
}

impl Harpoon {
    /// The backend over `settings`' targets; every tool call's record goes to `sink`.
    pub fn new(settings: HarpoonSettings, sink: Arc<dyn CallSink>) -> Harpoon {
        let store = TargetStore::new(settings.targets().to_vec());
        Harpoon {
            settings,
            store,
            sink,
            in_flight: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> &HarpoonSettings {
        &self.settings
    }

    /// The live target set (shared: clones see replacements).
    pub fn targets(&self) -> &TargetStore {
        &self.store
    }

    /// Replaces the OAuth-discovered targets (see `oauth::discovered_targets`);
    /// configured targets never change. Returns how many were kept.
    pub fn replace_oauth_targets(&self, discovered: Vec<Target>) -> usize {
        let kept = self.store.replace_oauth(discovered);
        log::info!(
            "harpoon: {kept} OAuth-discovered targets; {} in all",
            self.store.snapshot().len()
        );
        kept
    }

    /// The channel is served while at least one target exists.
    pub fn is_enabled(&self) -> bool {
        !self.store.snapshot().is_empty()
    }

    fn request(&self, call: &McpCall<'_>, method: &str, id: &Value, params: &Value) -> McpReply {
        match method {
            "initialize" => reply(result(id, initialize(params))),
            "ping" => reply(result(id, json!({}))),
            "tools/list" => {
                let limits = self.limits(&self.store.snapshot());
                reply(result(id, schema::tools_list(limits)))
            }
            "tools/call" => self.tools_call(call, id, params),
            _ => reply(error(id, METHOD_NOT_FOUND, "Method not found")),
        }
    }

    fn limits(&self, targets: &crate::mcp::harpoon::settings::TargetSet) -> Limits {
        Limits {
            largest_response_cap: targets.largest_response_cap(self.settings.max_response_bytes),
            max_redirects: self.settings.max_redirects,
        }
    }

    fn tools_call(&self, call: &McpCall<'_>, id: &Value, params: &Value) -> McpReply {
        let started = Instant::now();
        let targets = self.store.snapshot();
        let parsed = schema::parse_call(params, self.limits(&targets));
        let tool_call = match parsed {
            Ok(c) => c,
            Err(e) => {
                // The record names a target only if the arguments name a real one.
                let named = params
                    .get("arguments")
                    .and_then(|a| a.get("label").or_else(|| a.get("target")))
                    .and_then(Value::as_str)
                    .and_then(|l| targets.get(l));
                outcome::deliver(
                    self.sink.as_ref(),
                    &CallRecord {
                        target: named.map_or(UNKNOWN_TARGET.to_string(), |t| t.label().to_string()),
                        tool: schema::known_tool(params).unwrap_or(UNKNOWN_TARGET),
                        method: None,
                        status: None,
                        outcome: Outcome::InvalidInput,
                        latency: started.elapsed(),
                        bytes: 0,
                        dropped_headers: 0,
                        origin: named.map(|t| t.url().origin()),
                    },
                );
                return reply(error(id, INVALID_PARAMS, &e.to_string()));
            }
        };
        let token = Arc::new(CancelToken::default());
        self.track(id, &token);
        if self.stopping.load(Ordering::SeqCst) {
            token.cancel();
        }
        let answer = tools::run(
            &Context {
                settings: &self.settings,
                targets: &targets,
                command_deadline: call.deadline,
                cancel: &token,
            },
            tool_call,
        );
        self.untrack(&token);
        outcome::deliver(
            self.sink.as_ref(),
            &CallRecord {
                target: answer
                    .target
                    .clone()
                    .unwrap_or_else(|| UNKNOWN_TARGET.to_string()),
                tool: answer.tool,
                method: answer.method,
                status: answer.status,
                outcome: answer.outcome,
                latency: started.elapsed(),
                bytes: answer.bytes,
                dropped_headers: answer.dropped_headers,
                origin: answer.origin.clone(),
            },
        );
        if answer.outcome == Outcome::Timeout && remaining(call.deadline).is_none() {
            // The command's own deadline passed: the dispatcher decides what, if anything, is posted.
            return McpReply::Expired;
        }
        reply(result(id, answer.result))
    }

    fn track(&self, id: &Value, token: &Arc<CancelToken>) {
        if let Ok(mut calls) = self.in_flight.lock() {
            calls.push((id.clone(), token.clone()));
        }
    }

    fn untrack(&self, token: &Arc<CancelToken>) {
        if let Ok(mut calls) = self.in_flight.lock() {
            calls.retain(|(_, t)| !Arc::ptr_eq(t, token));
        }
    }

    /// `notifications/cancelled`: aborts the one call in flight with that id.
    /// Ids are the callers'; when several calls share one, none is cancelled.
    fn cancel(&self, params: &Value) {
        let Some(request_id) = params.get("requestId") else {
            return;
        };
        let Ok(calls) = self.in_flight.lock() else {
            return;
        };
        let matching: Vec<&Arc<CancelToken>> = calls
            .iter()
            .filter(|(id, _)| id == request_id)
            .map(|(_, t)| t)
            .collect();
        match matching.as_slice() {
            [only] => {
                only.cancel();
                log::info!("harpoon: a tool call was cancelled by its caller");
            }
            other => log::debug!(
                "harpoon: cancellation matches {} calls in flight; none cancelled",
                other.len()
            ),
        }
    }
}

fn initialize(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(LATEST_PROTOCOL_VERSION);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {}},
        "serverInfo": {
            "name": SERVER_NAME,
            "title": SERVER_TITLE,
            "version": crate::contract::CLIENT_VERSION,
        },
        "instructions": INSTRUCTIONS,
    })
}

fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn reply(json: Value) -> McpReply {
    McpReply::Response {
        json,
        status: 200,
        headers: Headers::new(),
    }
}

fn accepted() -> McpReply {
    McpReply::Accepted {
        status: 200,
        headers: Headers::new(),
    }
}

impl Backend for Harpoon {
    fn call(&self, call: &McpCall<'_>, _on_notify: &mut dyn FnMut(Value)) -> McpReply {
        let Some(message) = call.message.as_object() else {
            return reply(error(&Value::Null, INVALID_REQUEST, "Invalid Request"));
        };
        let method = message.get("method").and_then(Value::as_str);
        let params = message.get("params").unwrap_or(&Value::Null);
        match (method, message.get("id")) {
            (Some("notifications/cancelled"), None) => {
                self.cancel(params);
                accepted()
            }
            // Notifications (and stray responses) are acknowledged, never acted on:
            // a `tools/call` without an id makes no request.
            (_, None) => accepted(),
            (None, Some(id)) => reply(error(id, INVALID_REQUEST, "Invalid Request")),
            (Some(method), Some(id)) => {
                if remaining(call.deadline).is_none() {
                    return McpReply::Expired;
                }
                self.request(call, method, id, params)
            }
        }
    }

    fn terminate_session(&self, _headers: &Headers, _deadline: Instant) -> McpReply {
        McpReply::Accepted {
            status: SESSION_TERMINATION_STATUS,
            headers: Headers::new(),
        }
    }

    fn proc_affinity(&self) -> bool {
        true
    }

    fn serves(&self) -> bool {
        self.is_enabled()
    }

    fn status(&self) -> BackendStatus {
        let n = self.store.snapshot().len();
        BackendStatus {
            kind: "builtin",
            up: true,
            detail: format!("{n} target{}", if n == 1 { "" } else { "s" }),
        }
    }

    fn shutdown(&self, _grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(calls) = self.in_flight.lock() {
            for (_, token) in calls.iter() {
                token.cancel();
            }
        }
    }
}
