//! `make bench`: added latency of a tools/call through tunnel-relay and
//! tunnel-client over a direct call, throughput, idle RSS and binary size.
// A measuring program, not product code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENT: &str = env!("CARGO_BIN_EXE_tunnel-client");
const RELAY: &str = env!("CARGO_BIN_EXE_tunnel-relay");
const TUNNEL_ID: &str = "tunnel_0123456789abcdef0123456789abcdef";
const AGENT_KEY: &str = "bench-agent-key";
/// Calls per latency sample set.
const LATENCY_CALLS: usize = 2000;
/// Length of each throughput run.
const THROUGHPUT_RUN: Duration = Duration::from_secs(5);

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a program that prints `listening on URL` first; returns it and the URL.
fn start_listening(mut cmd: Command) -> (Proc, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    (Proc(child), url)
}

fn start_agent(relay_url: &str, mcp: &[&str]) -> Proc {
    let child = Command::new(CLIENT)
        .arg("run")
        .args(["--tunnel-id", TUNNEL_ID, "--control-plane-url", relay_url])
        .args(mcp)
        .args([
            "--admin-address",
            "off",
            "--log-level",
            "error",
            "--max-concurrency",
            "32",
        ])
        .env("CONTROL_PLANE_API_KEY", AGENT_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agent");
    Proc(child)
}

fn mcp_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections_per_host(64)
        .build()
        .new_agent()
}

fn tools_call(agent: &ureq::Agent, url: &str, id: u64) -> bool {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "bench"}}});
    match agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .send(body.to_string())
    {
        Ok(mut resp) if resp.status() == 200 => resp
            .body_mut()
            .read_to_vec()
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| v["result"].is_object()),
        _ => false,
    }
}

fn wait_until_up(url: &str) {
    let agent = mcp_agent();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if tools_call(&agent, url, 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{url} did not come up");
}

fn latencies(url: &str) -> Vec<Duration> {
    let agent = mcp_agent();
    for i in 0..200 {
        tools_call(&agent, url, i);
    }
    let mut samples: Vec<Duration> = (0..LATENCY_CALLS as u64)
        .map(|i| {
            let t = Instant::now();
            assert!(tools_call(&agent, url, i), "call failed");
            t.elapsed()
        })
        .collect();
    samples.sort();
    samples
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn throughput(url: &str, callers: usize) -> f64 {
    let url: Arc<str> = Arc::from(url);
    let start = Instant::now();
    let handles: Vec<_> = (0..callers)
        .map(|c| {
            let url = Arc::clone(&url);
            std::thread::spawn(move || {
                let agent = mcp_agent();
                let mut ok = 0u64;
                let mut id = (c as u64) << 32;
                while start.elapsed() < THROUGHPUT_RUN {
                    id += 1;
                    if tools_call(&agent, &url, id) {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

/// 1 caller, then 32 callers twice: the first 32-caller run opens 32 new
/// connections at once (the burst that used to starve behind keep-alive
/// connections in tiny_http's pool); the second run shows the steady state.
/// Both are printed.
fn throughput_rows(rows: &mut Vec<(String, String, String)>, url: &str, what: &str) {
    let one = throughput(url, 1);
    rows.push((
        format!("calls/s, 1 caller, {what}"),
        format!("{one:.0}"),
        "≥ 5,000".into(),
    ));
    let cold = throughput(url, 32);
    let warm = throughput(url, 32);
    rows.push((
        format!("calls/s, 32 callers, {what}"),
        format!("{warm:.0} (first run {cold:.0})"),
        "≥ 5,000".into(),
    ));
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn stripped_size(binary: &str) -> Option<u64> {
    let out = std::env::temp_dir().join(format!("tunnel-bench-strip-{}", std::process::id()));
    let ok = Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(binary)
        .status()
        .ok()?
        .success();
    let size = ok
        .then(|| std::fs::metadata(&out).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_file(&out);
    size
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("bench: skipped (run `make bench`)");
        return;
    }
    let mut http_stub = Command::new(CLIENT);
    http_stub.args(["dev", "mcp-stub", "--http", "127.0.0.1:0"]);
    let (_stub, stub_url) = start_listening(http_stub);
    let mut relay = Command::new(RELAY);
    relay
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tunnel-id",
            TUNNEL_ID,
            "--log-level",
            "error",
            "--max-queue",
            "4096",
        ])
        .env("TUNNEL_RELAY_AGENT_KEY", AGENT_KEY)
        .env_remove("TUNNEL_RELAY_CALLER_TOKEN");
    let (_relay, relay_url) = start_listening(relay);
    let tunnel_url = format!("{relay_url}/v1/mcp/{TUNNEL_ID}");
    wait_until_up(&stub_url);

    let mut rows: Vec<(String, String, String)> = Vec::new();
    let direct = latencies(&stub_url);

    // HTTP MCP server behind the agent.
    let http_agent = start_agent(&relay_url, &["--mcp-server-url", &stub_url]);
    wait_until_up(&tunnel_url);
    let tunneled = latencies(&tunnel_url);
    for (label, p) in [("p50", 0.50), ("p99", 0.99)] {
        let added = pct(&tunneled, p).saturating_sub(pct(&direct, p));
        let target = if label == "p50" {
            "≤ 0.5 ms"
        } else {
            "≤ 2 ms"
        };
        rows.push((
            format!("added latency {label} (HTTP MCP, relay+agent)"),
            format!(
                "{} (direct {}, tunneled {})",
                ms(added),
                ms(pct(&direct, p)),
                ms(pct(&tunneled, p))
            ),
            target.into(),
        ));
    }
    throughput_rows(&mut rows, &tunnel_url, "HTTP MCP");
    drop(http_agent);

    // The stdio stub behind the agent.
    let stub_cmd = format!("{CLIENT} dev mcp-stub");
    let stdio_agent = start_agent(&relay_url, &["--mcp-command", &stub_cmd]);
    wait_until_up(&tunnel_url);
    throughput_rows(&mut rows, &tunnel_url, "stdio MCP");
    drop(stdio_agent);

    // Idle RSS: a fresh agent after a few seconds of empty long-polls.
    let idle = start_agent(&relay_url, &["--mcp-server-url", &stub_url]);
    wait_until_up(&tunnel_url);
    std::thread::sleep(Duration::from_secs(3));
    rows.push((
        "idle RSS of the agent".into(),
        format!("{:.1} MB", rss_kib(idle.0.id()) as f64 / 1024.0),
        "≤ 6 MB".into(),
    ));
    drop(idle);

    for (name, path) in [("tunnel-client", CLIENT), ("tunnel-relay", RELAY)] {
        let size = stripped_size(path).map_or("strip not found".into(), |b| {
            format!("{:.2} MB", b as f64 / 1_000_000.0)
        });
        rows.push((
            format!("{name} binary, stripped"),
            size,
            if name == "tunnel-client" {
                "≤ 3 MB".into()
            } else {
                "-".into()
            },
        ));
    }

    // `make bench` also builds the size-optimised `dist` profile (our tarballs).
    let dist = CLIENT.replace("/release/", "/dist/");
    if let Ok(meta) = std::fs::metadata(&dist) {
        rows.push((
            "tunnel-client binary, dist profile (opt-level z, stripped)".into(),
            format!("{:.2} MB", meta.len() as f64 / 1_000_000.0),
            "≤ 3 MB".into(),
        ));
    }

    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    println!("\n{:<w0$}  {:<w1$}  target", "measure", "result");
    println!("{}", "-".repeat(w0 + w1 + 12));
    for (a, b, c) in rows {
        println!("{a:<w0$}  {b:<w1$}  {c}");
    }
}
