//! Shared helpers of the admin integration tests: a fake MCP backend, a
//! started server, a ureq client that reads 4xx/5xx as data. Test code only.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tunnel::admin::telemetry::{CommandOutcome, CommandRecord};
use tunnel::admin::{AdminServer, Telemetry};
use tunnel::config::AdminConfig;
use tunnel::contract::Headers;
use tunnel::mcp::{Backend, BackendStatus, McpCall, McpReply};

pub const TUNNEL_ID: &str = "tunnel_0123456789abcdef0123456789abcdef";

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

pub fn start_with(cfg: &AdminConfig) -> Harness {
    let telemetry = Arc::new(Telemetry::new());
    let backend = FakeBackend::new("stdio", "pid 4242");
    let channels: Vec<(String, Arc<dyn Backend>)> =
        vec![("main".to_string(), backend.clone() as Arc<dyn Backend>)];
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

pub fn start() -> Harness {
    start_with(&loopback_config())
}

pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Status, content type and body of a GET.
pub fn get(agent: &ureq::Agent, url: &str) -> (u16, String, String) {
    let mut response = agent.get(url).call().expect("request reaches the server");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.body_mut().read_to_string().expect("body");
    (status, content_type, body)
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

/// Polls `check` until it returns true or `limit` passes (then panics).
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
