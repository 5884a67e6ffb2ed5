//! Test helpers for the relay: start one in-process, play the agent and the
//! caller over real sockets with ureq, and wait on conditions with deadlines.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};
use tunnel::relay::{Relay, RelayConfig};
use tunnel::secret::Secret;

pub const TUNNEL: &str = "tunnel_0123456789abcdef0123456789abcdef";
pub const AGENT_KEY: &str = "agent-key-for-tests";

/// Upper bound of every wait in these tests: long enough for a loaded CI
/// machine, short enough that a hang fails instead of blocking the suite.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn config() -> RelayConfig {
    let mut config = RelayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![TUNNEL.to_string()],
        Secret::new(AGENT_KEY),
    );
    // An agent that polled once stays "connected" for the whole test, even
    // on a loaded machine; tests of going offline set their own window.
    config.live_window = Duration::from_secs(60);
    config
}

pub fn start(config: RelayConfig) -> (Relay, String) {
    let relay = Relay::start(config).expect("relay starts");
    let base = format!("http://{}", relay.local_addr());
    (relay, base)
}

pub fn http() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(40)))
        .build();
    ureq::Agent::new_with_config(config)
}

/// Polls `cond` until it holds or [`WAIT`] passes (then panics with `what`).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One value from `/metrics` (the first sample whose name and labels match).
pub fn metric(base: &str, series: &str) -> u64 {
    let mut resp = http().get(format!("{base}/metrics")).call().unwrap();
    let text = resp.body_mut().read_to_string().unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no metric {series}"))
}

/// A test agent: one instance id, optional server-info declaration.
pub struct Agent {
    pub base: String,
    pub instance: String,
    pub server_info: Option<String>,
    http: ureq::Agent,
}

pub struct Polled {
    pub status: u16,
    pub commands: Vec<Value>,
}

impl Agent {
    pub fn new(base: &str, instance: &str) -> Agent {
        Agent {
            base: base.to_string(),
            instance: instance.to_string(),
            server_info: None,
            http: http(),
        }
    }

    pub fn affine(mut self) -> Agent {
        self.server_info =
            Some(r#"{"version":1,"channels":[{"name":"main","proc_affinity":true}]}"#.into());
        self
    }

    pub fn poll(&self, limit: usize, timeout_ms: u64) -> Polled {
        let url = format!(
            "{}/v1/tunnels/{TUNNEL}/poll?limit={limit}&timeout_ms={timeout_ms}",
            self.base
        );
        let mut req = self
            .http
            .get(url)
            .header("Authorization", format!("Bearer {AGENT_KEY}"))
            .header("X-Tunnel-Client-Instance-Id", &self.instance);
        if let Some(info) = &self.server_info {
            req = req.header("X-Tunnel-MCP-Server-Info", info);
        }
        let mut resp = req.call().unwrap();
        let status = resp.status().as_u16();
        let commands = if status == 200 {
            let body: Value =
                serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
            body["commands"].as_array().cloned().unwrap_or_default()
        } else {
            Vec::new()
        };
        Polled { status, commands }
    }

    /// Polls until one command arrives (registering the agent as live first).
    pub fn poll_one(&self) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let polled = self.poll(1, 500);
            if let Some(cmd) = polled.commands.into_iter().next() {
                return cmd;
            }
            assert!(Instant::now() < deadline, "no command arrived");
        }
    }

    /// Posts a response for `command` with the given shard token.
    pub fn post_with_token(&self, token: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}/v1/tunnels/{TUNNEL}/response", self.base);
        let mut resp = self
            .http
            .post(url)
            .header("Authorization", format!("Bearer {AGENT_KEY}"))
            .header("X-Tunnel-Client-Instance-Id", &self.instance)
            .header("X-Tunnel-Shard-Token", token)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn post(&self, command: &Value, body: &Value) -> (u16, Value) {
        self.post_with_token(command["shard_token"].as_str().unwrap(), body)
    }

    /// Answers `command` with a JSON-RPC result echoing its method.
    pub fn answer(&self, command: &Value, headers: Value) -> (u16, Value) {
        let id = command["jsonrpc"]["id"].clone();
        let method = command["jsonrpc"]["method"].clone();
        self.post(
            command,
            &json!({
                "request_id": command["request_id"], "channel": "main",
                "resp_json": {"jsonrpc": "2.0", "id": id, "result": {"method": method, "by": self.instance}},
                "resp_headers": headers, "resp_code": 200, "resp_type": "jsonrpc_response",
            }),
        )
    }
}

/// A caller's finished exchange.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// POSTs one message to the caller endpoint with extra headers.
pub fn call(base: &str, message: &Value, headers: &[(&str, &str)]) -> Answer {
    let mut req = http()
        .post(format!("{base}/v1/mcp/{TUNNEL}"))
        .header("Content-Type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send(message.to_string()).unwrap();
    finish(resp)
}

/// [`call`] from a caller thread, so the test can play the agent meanwhile.
pub fn call_in_background(
    base: &str,
    message: Value,
    headers: &[(&str, &str)],
) -> std::thread::JoinHandle<Answer> {
    let base = base.to_string();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    std::thread::spawn(move || {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        call(&base, &message, &headers)
    })
}

pub fn finish(mut resp: ureq::http::Response<ureq::Body>) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// Reads SSE `data:` payloads one by one from a streaming body.
pub struct Events {
    reader: BufReader<Box<dyn Read + Send>>,
}

impl Events {
    pub fn new(resp: ureq::http::Response<ureq::Body>) -> Events {
        let reader: Box<dyn Read + Send> = Box::new(resp.into_body().into_reader());
        Events {
            reader: BufReader::new(reader),
        }
    }

    /// The next event's data, or `None` at the end of the stream.
    pub fn next(&mut self) -> Option<Value> {
        let mut data = None;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap() == 0 {
                return data;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(payload) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(payload).unwrap());
            } else if line.is_empty() && data.is_some() {
                return data;
            }
        }
    }
}
