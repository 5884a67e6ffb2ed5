//! Shared helpers of the admin integration tests: a fake MCP backend whose status the test
//! flips, a started admin server, its pages as data. Test code only.

use super::http::{self, client};
use super::TUNNEL_ID;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tunnel::admin::AdminServer;
use tunnel::config::AdminConfig;
use tunnel::contract::Headers;
use tunnel::mcp::{Backend, BackendStatus, McpCall, McpReply};
use tunnel::telemetry::{CommandOutcome, CommandRecord, Telemetry};

/// A backend whose status the test flips.
pub struct FakeBackend {
    pub kind: &'static str,
    pub up: AtomicBool,
    pub detail: Mutex<String>,
}

impl FakeBackend {
    pub fn new(kind: &'static str, detail: &str) -> Arc<FakeBackend> {
        Arc::new(FakeBackend {
            kind,
            up: AtomicBool::new(true),
            detail: Mutex::new(detail.to_string()),
        })
    }
}

impl Backend for FakeBackend {
    fn call(&self, _: &McpCall<'_>, _: &mut dyn FnMut(serde_json::Value)) -> McpReply {
        McpReply::Expired
    }
    fn terminate_session(&self, _: &Headers, _: Instant) -> McpReply {
        McpReply::Expired
    }
    fn proc_affinity(&self) -> bool {
        self.kind == "stdio"
    }
    fn status(&self) -> BackendStatus {
        BackendStatus {
            kind: self.kind,
            up: self.up.load(Ordering::SeqCst),
            detail: self.detail.lock().unwrap().clone(),
        }
    }
    fn shutdown(&self, _: Duration) {}
}

pub struct Harness {
    pub server: AdminServer,
    pub telemetry: Arc<Telemetry>,
    pub backend: Arc<FakeBackend>,
    pub agent: ureq::Agent,
}

pub fn loopback_config() -> AdminConfig {
    AdminConfig {
        address: Some("127.0.0.1:0".to_string()),
        url_file: None,
        allow_remote_ui: false,
    }
}

/// A server on `cfg` whose channel `main` is `backend`, followed by `others`.
pub fn start_for(
    cfg: &AdminConfig,
    backend: Arc<FakeBackend>,
    others: Vec<(String, Arc<dyn Backend>)>,
) -> Harness {
    let telemetry = Arc::new(Telemetry::new());
    let mut channels: Vec<(String, Arc<dyn Backend>)> =
        vec![("main".to_string(), backend.clone() as Arc<dyn Backend>)];
    channels.extend(others);
    let server = AdminServer::start(cfg, TUNNEL_ID, telemetry.clone(), channels)
        .expect("admin server starts")
        .expect("admin server is not off");
    Harness {
        server,
        telemetry,
        backend,
        agent: client(),
    }
}

/// A server on `cfg` with one stdio channel `main`.
pub fn start_with(cfg: &AdminConfig) -> Harness {
    start_for(cfg, FakeBackend::new("stdio", "pid 4242"), Vec::new())
}

pub fn start() -> Harness {
    start_with(&loopback_config())
}

/// Status, content type and body of a GET.
pub fn get(agent: &ureq::Agent, url: &str) -> (u16, String, String) {
    let reply = http::reply(agent.get(url).call().expect("request reaches the server"));
    let content_type = reply.header("content-type").unwrap_or("").to_string();
    (reply.status, content_type, reply.body)
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url(), path.trim_start_matches('/'))
    }

    pub fn get(&self, path: &str) -> (u16, String, String) {
        get(&self.agent, &self.url(path))
    }

    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, content_type, body) = self.get(path);
        assert_eq!(content_type, "application/json", "{path}");
        (status, serde_json::from_str(&body).expect("valid JSON"))
    }

    /// One finished command through the telemetry, as a worker reports it.
    pub fn command(&self, method: &str, tool: Option<&str>, outcome: CommandOutcome, ms: u64) {
        self.telemetry.command_started();
        self.telemetry.command_finished(CommandRecord {
            channel: "main".to_string(),
            method: method.to_string(),
            tool: tool.map(str::to_string),
            outcome,
            total: Duration::from_millis(ms),
            queue_wait: Duration::from_millis(1),
            mcp_time: Duration::from_millis(ms.saturating_sub(2)),
            post_time: Duration::from_millis(1),
        });
    }
}

/// The admin base URL a running agent wrote to `--admin-url-file` (no trailing slash).
pub fn url_from_file(file: &std::path::Path) -> String {
    super::wait_until(super::WAIT, "the admin URL file", || {
        let url = std::fs::read_to_string(file).ok()?;
        let url = url.trim().trim_end_matches('/');
        (!url.is_empty()).then(|| url.to_string())
    })
}
