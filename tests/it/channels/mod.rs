//! CHANNELS.md through the built `tunnel-client`: several MCP servers on one
//! tunnel, operator headers, the startup probe and wait, the command deadline.

mod headers;
mod isolation;
mod routing;
mod startup;
mod timeout;
mod unsupported;

use crate::support::admin::url_from_file;
use crate::support::http;
use crate::support::TempDir;
use serde_json::{json, Value};

/// A `jsonrpc` command for `channel` (no `response_timeout`).
pub fn command(request_id: &str, channel: &str, message: Value) -> Value {
    json!({
        "request_id": request_id,
        "shard_token": format!("shard-{request_id}"),
        "command_type": "jsonrpc",
        "channel": channel,
        "created_at": "2026-01-01T00:00:00Z",
        "headers": {},
        "jsonrpc": message,
    })
}

/// A `tools/call` of `tool` whose JSON-RPC id is the request id.
pub fn tool_call(request_id: &str, channel: &str, tool: &str, args: Value) -> Value {
    command(
        request_id,
        channel,
        json!({"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
               "params": {"name": tool, "arguments": args}}),
    )
}

/// The first text content of a tool result in a POST body.
pub fn result_text(body: &Value) -> String {
    body["resp_json"]["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// An agent's admin server, found through `--admin-url-file`.
pub struct Admin {
    pub dir: TempDir,
    pub base: Option<String>,
}

impl Admin {
    pub fn new(tag: &str) -> Admin {
        Admin {
            dir: TempDir::new(tag),
            base: None,
        }
    }

    /// The flags that start the admin server and write its URL.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--admin-address".into(),
            "127.0.0.1:0".into(),
            "--admin-url-file".into(),
            self.file().to_string_lossy().into_owned(),
        ]
    }

    fn file(&self) -> std::path::PathBuf {
        self.dir.path().join("admin.url")
    }

    pub fn base(&mut self) -> String {
        if self.base.is_none() {
            self.base = Some(url_from_file(&self.file()));
        }
        self.base.clone().unwrap_or_default()
    }

    pub fn get(&mut self, path: &str) -> http::Reply {
        http::get(&format!("{}{path}", self.base()))
    }

    /// `/readyz` as JSON.
    pub fn readyz(&mut self) -> Value {
        self.get("/readyz").json()
    }

    /// Everything the admin server shows, for "never shown" checks.
    pub fn scrape(&mut self) -> String {
        ["/healthz", "/readyz", "/metrics", "/ui", "/api/status"]
            .iter()
            .map(|p| self.get(p).body)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The readiness reasons of a `/readyz` answer.
pub fn reasons(readyz: &Value) -> Vec<String> {
    readyz["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `args` as the `&[&str]` the launcher takes.
pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
