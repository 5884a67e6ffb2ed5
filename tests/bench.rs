//! `make bench`: the figures of the performance issue (added latency, calls/s,
//! idle and peak RSS), each with its target, against a direct call in the same run.
//!
//! Rounds are interleaved (direct, tunnel, the baseline tunnel, mcp-proxy,
//! then again) so that noise from the rest of the machine hits all alike.
//! `TUNNEL_BENCH_BASELINE_DIR=dir` (a directory holding an earlier build's
//! `tunnel-client` and `tunnel-relay`) adds a "before" column measured in the
//! same rounds. The stdio figure compares with mcp-proxy when it is installed
//! (see `MCP_PROXY_INSTALL`); without it that row says "not measured".
//! With `strace` installed, one more HTTP round runs under `strace -c` and
//! the system calls per tunneled call of relay and agent are printed.
//! Timings are printed, never asserted.
// A measuring program, not product code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENT: &str = env!("CARGO_BIN_EXE_tunnel-client");
const RELAY: &str = env!("CARGO_BIN_EXE_tunnel-relay");
const TUNNEL_ID: &str = "tunnel_0123456789abcdef0123456789abcdef";
const AGENT_KEY: &str = "bench-agent-key";
/// Interleaved latency rounds, and calls per target in each.
const LATENCY_ROUNDS: usize = 5;
const LATENCY_CALLS: usize = 400;
/// Interleaved throughput rounds, and the length of each run.
const THROUGHPUT_ROUNDS: usize = 2;
const THROUGHPUT_RUN: Duration = Duration::from_secs(3);
const CALLERS: usize = 32;
/// How long an agent idles before its RSS is read.
const IDLE_SETTLE: Duration = Duration::from_secs(3);
/// Where `make bench` looks for mcp-proxy (or `TUNNEL_BENCH_MCP_PROXY`).
const MCP_PROXY_DEFAULT: &str = "target/ref-mcp/proxy/bin/mcp-proxy";
const MCP_PROXY_INSTALL: &str =
    "python3 -m venv target/ref-mcp/proxy && target/ref-mcp/proxy/bin/pip install mcp-proxy";

// Targets of the issue.
const TARGET_P50_MS: f64 = 0.30;
const TARGET_P99_MS: f64 = 1.5;
const TARGET_CALLS: f64 = 5_000.0;
const TARGET_STDIO_FACTOR: f64 = 10.0;
const TARGET_IDLE_MB: f64 = 5.0;
const TARGET_PEAK_MB: f64 = 16.0;

struct Proc(Child);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

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

/// Which build a tunnel runs: this tree's, or the baseline's.
#[derive(Clone)]
struct Build {
    name: &'static str,
    client: String,
    relay: String,
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

fn start_relay(build: &Build) -> (Proc, String) {
    let mut relay = Command::new(&build.relay);
    relay
        .args(["--listen", "127.0.0.1:0", "--tunnel-id", TUNNEL_ID])
        .args(["--log-level", "error", "--max-queue", "4096"])
        .env("TUNNEL_RELAY_AGENT_KEY", AGENT_KEY)
        .env_remove("TUNNEL_RELAY_CALLER_TOKEN");
    start_listening(relay)
}

/// An agent as users run it: admin server on (a free port), 32 workers.
fn start_agent(build: &Build, relay_url: &str, mcp: &[&str]) -> Proc {
    let child = Command::new(&build.client)
        .arg("run")
        .args(["--tunnel-id", TUNNEL_ID, "--control-plane-url", relay_url])
        .args(mcp)
        .args(["--admin-address", "127.0.0.1:0", "--log-level", "error"])
        .args(["--max-concurrency", &CALLERS.to_string()])
        .env("CONTROL_PLANE_API_KEY", AGENT_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agent");
    Proc(child)
}

/// The stdio stub as every stdio figure runs it (this tree's, for all builds).
fn stdio_stub_command() -> String {
    format!("{CLIENT} dev mcp-stub")
}

fn mcp_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections_per_host(64)
        .build()
        .new_agent()
}

/// The JSON-RPC answer of a body that is JSON or an SSE stream (mcp-proxy).
fn answer_of(body: &[u8]) -> Option<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Some(v);
    }
    let text = std::str::from_utf8(body).ok()?;
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .find_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
}

fn post_rpc(agent: &ureq::Agent, url: &str, body: &Value) -> Option<Value> {
    match agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .send(body.to_string())
    {
        Ok(mut resp) if resp.status() == 200 => resp
            .body_mut()
            .read_to_vec()
            .ok()
            .and_then(|b| answer_of(&b)),
        _ => None,
    }
}

fn tools_call(agent: &ureq::Agent, url: &str, id: u64) -> bool {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "bench"}}});
    post_rpc(agent, url, &body).is_some_and(|v| v["result"].is_object())
}

fn wait_until_up(url: &str) {
    let agent = mcp_agent();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if tools_call(&agent, url, 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{url} did not come up");
}

fn latencies(agent: &ureq::Agent, url: &str, calls: usize, into: &mut Vec<Duration>) {
    for i in 0..calls as u64 {
        let t = Instant::now();
        assert!(tools_call(agent, url, i), "call to {url} failed");
        into.push(t.elapsed());
    }
}

fn pct(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Successful calls per second of `callers` threads calling for `run`.
fn throughput(url: &str, callers: usize, run: Duration) -> (u64, f64) {
    let url: Arc<str> = Arc::from(url);
    let start = Instant::now();
    let handles: Vec<_> = (0..callers)
        .map(|c| {
            let url = Arc::clone(&url);
            std::thread::spawn(move || {
                let agent = mcp_agent();
                let mut ok = 0u64;
                let mut id = (c as u64) << 32;
                while start.elapsed() < run {
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
    (total, total as f64 / start.elapsed().as_secs_f64())
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which may hold spaces.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// The children of `pid` (the stdio stub under an agent).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// mcp-proxy serving the stdio stub over Streamable HTTP, when installed.
fn start_mcp_proxy() -> Option<(Proc, String)> {
    let path = std::env::var_os("TUNNEL_BENCH_MCP_PROXY")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(MCP_PROXY_DEFAULT));
    if !path.exists() {
        return None;
    }
    let port = free_port();
    let child = Command::new(&path)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--stateless", "--", CLIENT, "dev", "mcp-stub"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let proc = Proc(child);
    wait_until_up(&url);
    Some((proc, url))
}

/// One tunnel: its relay and (when started) its agent.
struct Tunnel {
    build: Build,
    relay: Proc,
    relay_url: String,
    url: String,
    agent: Option<Proc>,
}

impl Tunnel {
    fn new(build: &Build) -> Tunnel {
        let (relay, relay_url) = start_relay(build);
        let url = format!("{relay_url}/v1/mcp/{TUNNEL_ID}");
        Tunnel {
            build: build.clone(),
            relay,
            relay_url,
            url,
            agent: None,
        }
    }

    fn serve(&mut self, mcp: &[&str]) {
        self.agent = None;
        self.agent = Some(start_agent(&self.build, &self.relay_url, mcp));
        wait_until_up(&self.url);
    }

    fn agent_pid(&self) -> u32 {
        self.agent.as_ref().map_or(0, Proc::pid)
    }
}

/// System calls per tunneled call, by name, most first.
type SyscallCounts = Vec<(String, f64)>;

/// What was measured for one build.
#[derive(Default)]
struct Figures {
    latency: Vec<Duration>,
    http_calls: Vec<f64>,
    stdio_calls: Vec<f64>,
    idle_stdio_kib: u64,
    idle_http_kib: u64,
    peak_http_kib: u64,
    peak_stdio_kib: u64,
    relay_idle_kib: u64,
    relay_peak_kib: u64,
    stub_peak_kib: u64,
    /// CPU per call under 32 callers (HTTP): relay, agent.
    cpu_per_call: (Vec<f64>, Vec<f64>),
    /// CPU per call of the same rounds' callers (this process) and target.
    cpu_callers_target: (Vec<f64>, Vec<f64>),
    /// System calls per tunneled call (HTTP), by name: relay, agent.
    syscalls: Option<(SyscallCounts, SyscallCounts)>,
}

/// Microseconds of `cpu` for each of `calls`.
fn per_call(cpu: Duration, calls: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / calls.max(1) as f64
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Row {
    figure: String,
    values: Vec<String>,
    target: String,
    met: String,
}

fn met(ok: bool) -> String {
    if ok { "yes" } else { "no" }.to_string()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("bench: skipped (run `make bench`)");
        return;
    }
    let mut builds = vec![Build {
        name: "now",
        client: CLIENT.into(),
        relay: RELAY.into(),
    }];
    if let Some(dir) = std::env::var_os("TUNNEL_BENCH_BASELINE_DIR") {
        let dir = PathBuf::from(dir);
        builds.push(Build {
            name: "before",
            client: dir.join("tunnel-client").to_string_lossy().into_owned(),
            relay: dir.join("tunnel-relay").to_string_lossy().into_owned(),
        });
    }
    let mut http_stub = Command::new(CLIENT);
    http_stub.args(["dev", "mcp-stub", "--http", "127.0.0.1:0"]);
    let (stub, stub_url) = start_listening(http_stub);
    wait_until_up(&stub_url);
    let mut tunnels: Vec<Tunnel> = builds.iter().map(Tunnel::new).collect();
    let mut figures: Vec<Figures> = builds.iter().map(|_| Figures::default()).collect();
    for (tunnel, f) in tunnels.iter().zip(figures.iter_mut()) {
        f.relay_idle_kib = status_kib(tunnel.relay.pid(), "VmRSS:");
    }

    // ---- HTTP MCP server behind the agent: latency, then calls/s.
    for tunnel in &mut tunnels {
        tunnel.serve(&["--mcp-server-url", &stub_url]);
    }
    eprintln!("bench: latency, {LATENCY_ROUNDS} interleaved rounds");
    let caller = mcp_agent();
    for url in std::iter::once(&stub_url).chain(tunnels.iter().map(|t| &t.url)) {
        for i in 0..200 {
            tools_call(&caller, url, i);
        }
    }
    let mut direct = Vec::new();
    for _ in 0..LATENCY_ROUNDS {
        latencies(&caller, &stub_url, LATENCY_CALLS, &mut direct);
        for (tunnel, f) in tunnels.iter().zip(figures.iter_mut()) {
            latencies(&caller, &tunnel.url, LATENCY_CALLS, &mut f.latency);
        }
    }
    drop(caller);
    eprintln!("bench: calls/s at {CALLERS} callers (HTTP), {THROUGHPUT_ROUNDS} interleaved rounds");
    let mut direct_calls = Vec::new();
    let mut direct_cpu: (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for _ in 0..THROUGHPUT_ROUNDS {
        let (me, target) = (std::process::id(), stub.pid());
        let (c0, t0) = (cpu_time(me), cpu_time(target));
        let (calls, rate) = throughput(&stub_url, CALLERS, THROUGHPUT_RUN);
        direct_calls.push(rate);
        direct_cpu.0.push(per_call(cpu_time(me) - c0, calls));
        direct_cpu.1.push(per_call(cpu_time(target) - t0, calls));
        for (tunnel, f) in tunnels.iter().zip(figures.iter_mut()) {
            let (relay, agent) = (tunnel.relay.pid(), tunnel.agent_pid());
            let (r0, a0) = (cpu_time(relay), cpu_time(agent));
            let (c0, t0) = (cpu_time(me), cpu_time(target));
            let (calls, rate) = throughput(&tunnel.url, CALLERS, THROUGHPUT_RUN);
            f.http_calls.push(rate);
            f.cpu_per_call.0.push(per_call(cpu_time(relay) - r0, calls));
            f.cpu_per_call.1.push(per_call(cpu_time(agent) - a0, calls));
            f.cpu_callers_target
                .0
                .push(per_call(cpu_time(me) - c0, calls));
            f.cpu_callers_target
                .1
                .push(per_call(cpu_time(target) - t0, calls));
        }
    }
    for (tunnel, f) in tunnels.iter().zip(figures.iter_mut()) {
        f.peak_http_kib = status_kib(tunnel.agent_pid(), "VmHWM:");
    }
    if strace_installed() {
        eprintln!("bench: system calls per call (HTTP), one round under strace -c");
        for (tunnel, f) in tunnels.iter().zip(figures.iter_mut()) {
            f.syscalls = syscalls_per_call(tunnel.relay.pid(), tunnel.agent_pid(), &tunnel.url);
        }
    }

    // ---- The stdio stub behind the agent (and behind mcp-proxy).
    eprintln!(
        "bench: calls/s at {CALLERS} callers (stdio), {THROUGHPUT_ROUNDS} interleaved rounds"
    );
    let stub_cmd = stdio_stub_command();
    for tunnel in &mut tunnels {
        tunnel.serve(&["--mcp-command", &stub_cmd]);
    }
    let proxy = start_mcp_proxy();
    let mut proxy_calls = Vec::new();
    for _ in 0..THROUGHPUT_ROUNDS {
        for (tunnel, f) in tunnels.iter().zip(figures.iter_mut()) {
            f.stdio_calls
                .push(throughput(&tunnel.url, CALLERS, THROUGHPUT_RUN).1);
        }
        if let Some((_, url)) = &proxy {
            proxy_calls.push(throughput(url, CALLERS, THROUGHPUT_RUN).1);
        }
    }
    let proxy_peak_kib = proxy.as_ref().map(|(p, _)| status_kib(p.pid(), "VmHWM:"));
    drop(proxy);
    for (tunnel, f) in tunnels.iter().zip(figures.iter_mut()) {
        let agent = tunnel.agent_pid();
        f.peak_stdio_kib = status_kib(agent, "VmHWM:");
        f.stub_peak_kib = children(agent)
            .first()
            .map_or(0, |&c| status_kib(c, "VmHWM:"));
    }

    // ---- Idle: a fresh agent per binding after a few seconds of long-polls.
    eprintln!("bench: idle RSS");
    for (binding, args) in [
        ("stdio", vec!["--mcp-command", stub_cmd.as_str()]),
        ("http", vec!["--mcp-server-url", stub_url.as_str()]),
    ] {
        for tunnel in &mut tunnels {
            tunnel.serve(&args);
        }
        std::thread::sleep(IDLE_SETTLE);
        for (tunnel, f) in tunnels.iter().zip(figures.iter_mut()) {
            let rss = status_kib(tunnel.agent_pid(), "VmRSS:");
            if binding == "stdio" {
                f.idle_stdio_kib = rss;
            } else {
                f.idle_http_kib = rss;
            }
        }
    }
    for (tunnel, f) in tunnels.iter().zip(figures.iter_mut()) {
        f.relay_peak_kib = status_kib(tunnel.relay.pid(), "VmHWM:");
    }
    let stub_http_peak = status_kib(stub.pid(), "VmHWM:");
    drop(tunnels);
    drop(stub);

    // ---- The table.
    let direct_p50 = pct(&direct, 0.50);
    let direct_p99 = pct(&direct, 0.99);
    let mut rows: Vec<Row> = Vec::new();
    let now = &figures[0];
    let added = |f: &Figures, p: f64, d: Duration| ms(pct(&f.latency, p).saturating_sub(d));
    let each = |value: &dyn Fn(&Figures) -> String| figures.iter().map(value).collect::<Vec<_>>();
    rows.push(Row {
        figure: "added p50, HTTP target".into(),
        values: each(&|f| format!("+{:.3} ms", added(f, 0.50, direct_p50))),
        target: format!("≤ {TARGET_P50_MS:.2} ms"),
        met: met(added(now, 0.50, direct_p50) <= TARGET_P50_MS),
    });
    rows.push(Row {
        figure: "added p99, HTTP target".into(),
        values: each(&|f| format!("+{:.3} ms", added(f, 0.99, direct_p99))),
        target: format!("≤ {TARGET_P99_MS:.1} ms"),
        met: met(added(now, 0.99, direct_p99) <= TARGET_P99_MS),
    });
    rows.push(Row {
        figure: format!("calls/s at {CALLERS} callers, one agent + relay (HTTP)"),
        values: each(&|f| format!("{:.0}", mean(&f.http_calls))),
        target: format!("≥ {TARGET_CALLS:.0}"),
        met: met(mean(&now.http_calls) >= TARGET_CALLS),
    });
    let proxy_rate = mean(&proxy_calls);
    rows.push(Row {
        figure: format!("stdio calls/s at {CALLERS} callers"),
        values: each(&|f| format!("{:.0}", mean(&f.stdio_calls))),
        target: if proxy_calls.is_empty() {
            format!("≥ {TARGET_STDIO_FACTOR:.0}× mcp-proxy's")
        } else {
            format!("≥ {TARGET_STDIO_FACTOR:.0}× mcp-proxy's ({proxy_rate:.0})")
        },
        met: if proxy_calls.is_empty() {
            format!("not measured (install with `{MCP_PROXY_INSTALL}`)")
        } else {
            met(mean(&now.stdio_calls) >= TARGET_STDIO_FACTOR * proxy_rate)
        },
    });
    rows.push(Row {
        figure: "idle RSS of the agent (stdio binding, admin on)".into(),
        values: each(&|f| format!("{:.1} MB", mb(f.idle_stdio_kib))),
        target: format!("≤ {TARGET_IDLE_MB:.1} MB"),
        met: met(mb(now.idle_stdio_kib) <= TARGET_IDLE_MB),
    });
    let peak = |f: &Figures| f.peak_http_kib.max(f.peak_stdio_kib);
    rows.push(Row {
        figure: format!("peak RSS of the agent at {CALLERS} callers"),
        values: each(&|f| format!("{:.1} MB", mb(peak(f)))),
        target: format!("≤ {TARGET_PEAK_MB:.0} MB"),
        met: met(mb(peak(now)) <= TARGET_PEAK_MB),
    });

    let mut header = vec!["figure".to_string()];
    header.extend(builds.iter().map(|b| b.name.to_string()));
    header.extend(["target".to_string(), "met".to_string()]);
    let lines: Vec<Vec<String>> = std::iter::once(header)
        .chain(rows.into_iter().map(|r| {
            let mut line = vec![r.figure];
            line.extend(r.values);
            line.extend([r.target, r.met]);
            line
        }))
        .collect();
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    println!();
    for (n, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("| {} |", cells.join(" | "));
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("| {} |", rule.join(" | "));
        }
    }

    println!(
        "\ndirect calls (same rounds): p50 {:.3} ms, p99 {:.3} ms, {:.0} calls/s at {CALLERS} callers; CPU per call: callers {:.0} µs, target {:.0} µs",
        ms(direct_p50),
        ms(direct_p99),
        mean(&direct_calls),
        mean(&direct_cpu.0),
        mean(&direct_cpu.1),
    );
    for (build, f) in builds.iter().zip(&figures) {
        println!(
            "{}: tunneled p50 {:.3} ms, p99 {:.3} ms; CPU per call at {CALLERS} callers: relay {:.0} µs, agent {:.0} µs (callers {:.0} µs, target {:.0} µs)",
            build.name,
            ms(pct(&f.latency, 0.50)),
            ms(pct(&f.latency, 0.99)),
            mean(&f.cpu_per_call.0),
            mean(&f.cpu_per_call.1),
            mean(&f.cpu_callers_target.0),
            mean(&f.cpu_callers_target.1),
        );
        println!(
            "{}: RSS idle/peak: agent stdio {:.1}/{:.1} MB, agent http {:.1}/{:.1} MB, relay {:.1}/{:.1} MB, stdio stub peak {:.1} MB",
            build.name,
            mb(f.idle_stdio_kib),
            mb(f.peak_stdio_kib),
            mb(f.idle_http_kib),
            mb(f.peak_http_kib),
            mb(f.relay_idle_kib),
            mb(f.relay_peak_kib),
            mb(f.stub_peak_kib),
        );
    }
    for (build, f) in builds.iter().zip(&figures) {
        let Some((relay, agent)) = &f.syscalls else {
            continue;
        };
        let list = |counts: &[(String, f64)]| {
            counts
                .iter()
                .filter(|(_, n)| *n >= 0.05)
                .map(|(name, n)| format!("{name} {n:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "{}: system calls per call (strace -c, {CALLERS} callers, HTTP): agent: {}; relay: {}",
            build.name,
            list(agent),
            list(relay)
        );
    }
    if !strace_installed() {
        println!("system calls per call: not measured (install strace)");
    }
    println!("HTTP stub peak RSS {:.1} MB", mb(stub_http_peak));
    match proxy_peak_kib {
        Some(kib) => println!(
            "mcp-proxy: {proxy_rate:.0} calls/s at {CALLERS} callers (stdio), peak RSS {:.1} MB",
            mb(kib)
        ),
        None => println!("mcp-proxy: not installed (`{MCP_PROXY_INSTALL}`)"),
    }
    for (name, path) in [("tunnel-client", CLIENT), ("tunnel-relay", RELAY)] {
        if let Some(size) = stripped_size(path) {
            println!(
                "{name} binary, stripped: {:.2} MB",
                size as f64 / 1_000_000.0
            );
        }
    }
    let dist = CLIENT.replace("/release/", "/dist/");
    if let Ok(meta) = std::fs::metadata(&dist) {
        println!(
            "tunnel-client binary, dist profile (opt-level z, stripped): {:.2} MB",
            meta.len() as f64 / 1_000_000.0
        );
    }
}

fn strace_installed() -> bool {
    Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether some tracer is attached to `pid` (`TracerPid` in its status).
fn traced(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("TracerPid:"))
                .map(|v| v.trim() != "0")
        })
        .unwrap_or(false)
}

/// System calls per successful call of `relay` and `agent`, by name and
/// most first, over one throughput run with `strace -c -f` attached to both.
fn syscalls_per_call(relay: u32, agent: u32, url: &str) -> Option<(SyscallCounts, SyscallCounts)> {
    let dir = std::env::temp_dir();
    let attach = |pid: u32| {
        let out = dir.join(format!("tunnel-bench-strace-{}-{pid}", std::process::id()));
        let child = Command::new("strace")
            .args(["-c", "-f", "-o"])
            .arg(&out)
            .args(["-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some((child, out))
    };
    let mut tracers = [attach(relay)?, attach(agent)?];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(traced(relay) && traced(agent)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (calls, _) = throughput(url, CALLERS, THROUGHPUT_RUN);
    let mut counts = Vec::new();
    for (child, out) in &mut tracers {
        // strace writes its table when interrupted, then detaches.
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let table = std::fs::read_to_string(&*out).unwrap_or_default();
        let _ = std::fs::remove_file(&*out);
        counts.push(syscalls_per_call_from(&table, calls.max(1)));
    }
    let agent_counts = counts.pop()?;
    let relay_counts = counts.pop()?;
    Some((relay_counts, agent_counts))
}

/// `strace -c`'s table as (name, calls / `calls`), most first. Its rows are
/// `% time, seconds, usecs/call, calls, [errors], syscall`.
fn syscalls_per_call_from(table: &str, calls: u64) -> SyscallCounts {
    let mut rows: SyscallCounts = table
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let name = *cols.last()?;
            let count: u64 = cols.get(3)?.parse().ok()?;
            (cols.len() >= 5 && name != "total")
                .then(|| (name.to_string(), count as f64 / calls as f64))
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    rows
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
