//! Driving the Harpoon backend in-process through `Backend::call` with JSON-RPC
//! messages, as the dispatcher will: settings, a record sink, answers picked apart. Test-only.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tunnel::contract::Headers;
use tunnel::mcp::harpoon::{
    validate, CallRecord, CallSink, Harpoon, RawSettings, RawTarget, Resolve,
};
use tunnel::mcp::{Backend, McpCall, McpReply};

/// Deadline for calls that end on their own; never reached when they pass.
pub const GENEROUS: Duration = Duration::from_secs(30);

/// Keeps every record for the test to read.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<CallRecord>>);

impl CallSink for Recorder {
    fn record(&self, record: &CallRecord) {
        self.0.lock().unwrap().push(record.clone());
    }
}

impl Recorder {
    pub fn all(&self) -> Vec<CallRecord> {
        self.0.lock().unwrap().clone()
    }

    pub fn last(&self) -> CallRecord {
        self.all().pop().expect("no record")
    }
}

/// Captures every log line of this test binary (for "never logged" checks).
pub fn capture_logs() {
    super::logs::capture();
}

pub fn logged() -> Vec<String> {
    super::logs::lines()
}

/// Web roots plus the test root CA (what `--ca-bundle` adds).
pub fn roots() -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in CertificateDer::pem_file_iter(super::harpoon_upstream::pki("root-ca.pem")).unwrap()
    {
        store.add(cert.unwrap()).unwrap();
    }
    store
}

pub fn target(label: &str, url: &str) -> RawTarget {
    RawTarget {
        label: label.into(),
        url: url.into(),
        ..RawTarget::default()
    }
}

/// Plain-http settings with these targets.
pub fn plain(targets: Vec<RawTarget>) -> RawSettings {
    RawSettings {
        allow_plaintext_http: true,
        targets,
        ..RawSettings::default()
    }
}

pub fn harpoon(raw: RawSettings) -> (Harpoon, Arc<Recorder>) {
    capture_logs();
    let settings = validate(&raw, roots()).unwrap();
    let sink = Arc::new(Recorder::default());
    (Harpoon::new(settings, sink.clone()), sink)
}

/// Answers every name with fixed addresses (each still vetted by Harpoon).
pub struct FixedResolver(pub Vec<IpAddr>);

impl Resolve for FixedResolver {
    fn lookup(&self, _host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
        Ok(self.0.clone())
    }
}

pub fn harpoon_resolving(raw: RawSettings, ips: &[&str]) -> (Harpoon, Arc<Recorder>) {
    capture_logs();
    let resolver = FixedResolver(ips.iter().map(|i| i.parse().unwrap()).collect());
    let settings = validate(&raw, roots())
        .unwrap()
        .with_resolver(Arc::new(resolver));
    let sink = Arc::new(Recorder::default());
    (Harpoon::new(settings, sink.clone()), sink)
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn message(tool: &str, args: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": NEXT_ID.fetch_add(1, Ordering::SeqCst),
        "method": "tools/call",
        "params": {"name": tool, "arguments": args},
    })
}

pub fn send(h: &Harpoon, message: &Value, deadline: Instant) -> McpReply {
    let headers = Headers::new();
    let call = McpCall {
        message,
        headers: &headers,
        deadline,
    };
    h.call(&call, &mut |_| panic!("harpoon sends no notifications"))
}

/// The JSON-RPC answer to a message that must get one (status 200, no headers).
pub fn rpc(h: &Harpoon, message: &Value) -> Value {
    match send(h, message, Instant::now() + GENEROUS) {
        McpReply::Response {
            json,
            status,
            headers,
        } => {
            assert_eq!(status, 200);
            assert!(headers.is_empty());
            assert_eq!(json["id"], message["id"]);
            json
        }
        other => panic!("expected a response, got {other:?}"),
    }
}

/// The `tools/call` result.
pub fn tool(h: &Harpoon, name: &str, args: Value) -> Value {
    let answer = rpc(h, &message(name, args));
    assert!(answer.get("error").is_none(), "{answer}");
    answer["result"].clone()
}

/// The text of a refusal (`isError: true`, one text item, nothing structured).
pub fn refusal(h: &Harpoon, name: &str, args: Value) -> String {
    let result = tool(h, name, args);
    assert_eq!(result["isError"], true, "{result}");
    assert!(result.get("structuredContent").is_none(), "{result}");
    let content = result["content"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    assert_eq!(content[0]["type"], "text");
    content[0]["text"].as_str().unwrap().to_string()
}

/// The structured output of a success, checked against its text item.
pub fn success(h: &Harpoon, name: &str, args: Value) -> Value {
    let result = tool(h, name, args);
    assert!(result.get("isError").is_none(), "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(text).unwrap();
    let structured = result["structuredContent"].clone();
    if name != "call_target" {
        assert_eq!(parsed, structured);
    }
    structured
}

/// The `-32602` message of a refused `tools/call`.
pub fn invalid_params(h: &Harpoon, name: &str, args: Value) -> String {
    let answer = rpc(h, &message(name, args));
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    answer["error"]["message"].as_str().unwrap().to_string()
}

/// The body of a `call_target` success, decoded from base64.
pub fn body_of(out: &Value) -> Vec<u8> {
    decode_base64(out["body_base64"].as_str().unwrap())
}

pub fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
