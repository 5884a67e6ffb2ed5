//! Test helpers for the relay: start one in-process, and play the agent and the
//! caller over real sockets with the tests' HTTP client.

use super::http::{client, reply, Reply};
use super::{wait_until, API_KEY, TUNNEL_ID, WAIT};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;
use tunnel::relay::{Relay, RelayConfig};
use tunnel::secret::Secret;

pub fn config() -> RelayConfig {
    let mut config = RelayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![TUNNEL_ID.to_string()],
        Secret::new(API_KEY),
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

/// One value from `/metrics` (the first sample whose name and labels match).
pub fn metric(base: &str, series: &str) -> u64 {
    let text = super::http::get(&format!("{base}/metrics")).body;
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
            http: client(),
        }
    }

    pub fn affine(mut self) -> Agent {
        self.server_info =
            Some(r#"{"version":1,"channels":[{"name":"main","proc_affinity":true}]}"#.into());
        self
    }

    pub fn poll(&self, limit: usize, timeout_ms: u64) -> Polled {
        let url = format!(
            "{}/v1/tunnels/{TUNNEL_ID}/poll?limit={limit}&timeout_ms={timeout_ms}",
            self.base
        );
        let mut req = self
            .http
            .get(url)
            .header("Authorization", format!("Bearer {API_KEY}"))
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
        wait_until(WAIT, "a command for the agent", || {
            self.poll(1, 500).commands.into_iter().next()
        })
    }

    /// Posts a response for `command` with the given shard token.
    pub fn post_with_token(&self, token: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}/v1/tunnels/{TUNNEL_ID}/response", self.base);
        let mut resp = self
            .http
            .post(url)
            .header("Authorization", format!("Bearer {API_KEY}"))
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

/// POSTs one message to the caller endpoint with extra headers.
pub fn call(base: &str, message: &Value, headers: &[(&str, &str)]) -> Reply {
    let mut req = client()
        .post(format!("{base}/v1/mcp/{TUNNEL_ID}"))
        .header("Content-Type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    reply(req.send(message.to_string()).unwrap())
}

/// [`call`] from a caller thread, so the test can play the agent meanwhile.
pub fn call_in_background(
    base: &str,
    message: Value,
    headers: &[(&str, &str)],
) -> std::thread::JoinHandle<Reply> {
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
