//! Test helpers for the relay: start one in-process, and play the agent and the
//! caller over real sockets with the tests' HTTP client.

use super::http::{client, reply, Reply};
use super::process::{self, Process};
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

/// The `tunnel-relay` binary for [`TUNNEL_ID`] on `listen` (port 0 allowed)
/// with the key [`API_KEY`] and `args`, and the URL it prints.
pub fn binary_on(listen: &str, args: &[&str]) -> (Process, String) {
    binary_with(listen, args, &[])
}

/// [`binary_on`] with extra environment (e.g. `TUNNEL_RELAY_CALLER_TOKEN`).
pub fn binary_with(listen: &str, args: &[&str], env: &[(&str, &str)]) -> (Process, String) {
    let mut all = vec![
        "--listen",
        listen,
        "--tunnel-id",
        TUNNEL_ID,
        "--log-level",
        "debug",
    ];
    all.extend_from_slice(args);
    let mut all_env = vec![("TUNNEL_RELAY_AGENT_KEY", API_KEY)];
    all_env.extend_from_slice(env);
    let relay = process::relay(&all, &all_env);
    let url = relay.listening_url();
    (relay, url)
}

/// [`binary_on`] a free port.
pub fn binary(args: &[&str]) -> (Process, String) {
    binary_on("127.0.0.1:0", args)
}

/// Waits until the relay counts `n` connected agent instances.
pub fn wait_for_agents(base: &str, n: u64) {
    wait_until(WAIT, format_args!("{n} agent(s) connected"), || {
        metric(base, "relay_agents_connected") == n
    });
}

/// `{base}/v1/mcp/{TUNNEL_ID}/{channel}`.
pub fn channel_url(base: &str, channel: &str) -> String {
    format!("{base}/v1/mcp/{TUNNEL_ID}/{channel}")
}

/// POSTs one message to `url` with extra headers.
pub fn call_url(url: &str, message: &Value, headers: &[(&str, &str)]) -> Reply {
    let mut req = client()
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    reply(req.send(message.to_string()).unwrap())
}

/// The pid of the stub MCP server that answers `stats` on `channel` (the
/// stub's `stats` tool reports its own process).
pub fn stub_pid(base: &str, channel: &str, headers: &[(&str, &str)]) -> u64 {
    stub_pid_at(&channel_url(base, channel), headers)
}

/// [`stub_pid`] through the caller endpoint `url`.
pub fn stub_pid_at(url: &str, headers: &[(&str, &str)]) -> u64 {
    let message = json!({"jsonrpc": "2.0", "id": "stats", "method": "tools/call",
        "params": {"name": "stats", "arguments": {}}});
    let answer = call_url(url, &message, headers);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let text = answer.json()["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a stats result: {}", answer.body))
        .to_string();
    let stats: Value = serde_json::from_str(&text).unwrap();
    stats["pid"].as_u64().unwrap()
}

/// A test agent: one instance id, optional server-info declaration.
pub struct Agent {
    pub base: String,
    pub instance: String,
    pub server_info: Option<String>,
    /// The `channel=` list of its polls (none when empty).
    pub poll_channels: Vec<String>,
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
            poll_channels: Vec::new(),
            http: client(),
        }
    }

    /// Declares `info` as its `X-Tunnel-MCP-Server-Info`.
    pub fn declaring(mut self, info: &str) -> Agent {
        self.server_info = Some(info.to_string());
        self
    }

    /// Lists `channels` in every poll (`channel=`), as `--poll-channel` does.
    pub fn serving(mut self, channels: &[&str]) -> Agent {
        self.poll_channels = channels.iter().map(|c| c.to_string()).collect();
        self
    }

    pub fn affine(mut self) -> Agent {
        self.server_info =
            Some(r#"{"version":1,"channels":[{"name":"main","proc_affinity":true}]}"#.into());
        self
    }

    pub fn poll(&self, limit: usize, timeout_ms: u64) -> Polled {
        let channels: String = self
            .poll_channels
            .iter()
            .map(|c| format!("channel={c}&"))
            .collect();
        let url = format!(
            "{}/v1/tunnels/{TUNNEL_ID}/poll?{channels}limit={limit}&timeout_ms={timeout_ms}",
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
                "request_id": command["request_id"], "channel": command["channel"],
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
