//! `make soak`: drives the tunnel (tunnel-relay, two tunnel-client agents — one
//! on an HTTP MCP server, one on a stdio one — and the built-in stub) for a long
//! time, samples RSS, threads and fds of every process into target/soak/soak.csv,
//! and fails when memory grows after warm-up or threads/fds drift.
//!
//! `SOAK_SECONDS` (default 600) bounds the run; `SOAK_CALLS` ends it after that
//! many calls (the long form: `SOAK_CALLS=1000000`, no time bound unless
//! `SOAK_SECONDS` is also given). `SOAK_CALLERS` sets the concurrent callers
//! (default 8, split across both tunnels). Under plain `cargo test` it only
//! says how to run it. std + ureq only.
//!
//! Criteria, per process, on the samples after warm-up (the first fifth of the
//! run, at least 30 s):
//! - memory: the median RSS of the last three samples is at most the median of
//!   the first three plus 10 % plus 4 MiB (allocator noise, pool warm-up);
//! - threads and fds: the largest value in the last third of the samples is at
//!   most the largest in the first third plus a slack (threads 4, fds 8) — a
//!   leak grows without bound, a busy relay only fluctuates;
//! - calls: failures are at most 0.1 % of all calls.
// A measuring program, not product code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENT: &str = env!("CARGO_BIN_EXE_tunnel-client");
const RELAY: &str = env!("CARGO_BIN_EXE_tunnel-relay");
const HTTP_TUNNEL: &str = "tunnel_50a50a50a50a50a50a50a50a50a50a5a";
const STDIO_TUNNEL: &str = "tunnel_5d105d105d105d105d105d105d105d10";
const AGENT_KEY: &str = "soak-agent-key";
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const DEFAULT_SECONDS: u64 = 600;
const DEFAULT_CALLERS: usize = 8;
const MIN_WARMUP: Duration = Duration::from_secs(30);
const RSS_GROWTH_FRACTION: f64 = 0.10;
const RSS_GROWTH_SLACK_KB: u64 = 4 * 1024;
const THREAD_SLACK: u64 = 4;
const FD_SLACK: u64 = 8;
const MAX_FAILURE_RATE: f64 = 0.001;

struct Proc {
    name: &'static str,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_listening(name: &'static str, mut cmd: Command) -> (Proc, String) {
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
    (Proc { name, child }, url)
}

fn start_agent(name: &'static str, relay: &str, tunnel: &str, mcp: &[&str]) -> Proc {
    let child = Command::new(CLIENT)
        .arg("run")
        .args(["--tunnel-id", tunnel, "--control-plane-url", relay])
        .args(mcp)
        .args(["--admin-address", "off", "--log-level", "error"])
        .args(["--max-concurrency", "16"])
        .env("CONTROL_PLANE_API_KEY", AGENT_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agent");
    Proc { name, child }
}

/// RSS (KiB), threads and open fds of `pid`, from /proc.
fn sample(pid: u32) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((field("VmRSS:")?, field("Threads:")?, fds))
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
}

/// One caller: a keep-alive connection that sends tools/calls until told to stop.
fn caller(url: String, index: usize, counts: Arc<Counts>, stop: Arc<AtomicBool>, limit: u64) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .proxy(None)
        .build()
        .into();
    let mut n: u64 = 0;
    while !stop.load(Relaxed) {
        n += 1;
        let body = match n % 10 {
            0 => format!(
                r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"add","arguments":{{"a":{index},"b":{n}}}}}}}"#
            ),
            1 => format!(r#"{{"jsonrpc":"2.0","id":"p{n}","method":"ping"}}"#),
            _ => format!(
                r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"caller {index} call {n}"}}}}}}"#
            ),
        };
        let ok = agent
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .send(body)
            .ok()
            .and_then(|mut r| {
                let status = r.status().as_u16();
                let text = r.body_mut().read_to_string().ok()?;
                (status == 200 && text.contains("\"result\"")).then_some(())
            })
            .is_some();
        let counter = if ok { &counts.ok } else { &counts.failed };
        let total = counter.fetch_add(1, Relaxed) + 1;
        if !ok && total <= 5 {
            eprintln!("soak: caller {index}: call {n} failed");
        }
        if limit > 0 && counts.ok.load(Relaxed) + counts.failed.load(Relaxed) >= limit {
            stop.store(true, Relaxed);
        }
    }
}

struct Series {
    name: &'static str,
    pid: u32,
    rss: Vec<u64>,
    threads: Vec<u64>,
    fds: Vec<u64>,
}

fn median(values: &[u64]) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Checks one process's samples after warm-up; returns what went wrong.
fn verdict(s: &Series, warm: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let after = |v: &[u64]| v[warm.min(v.len())..].to_vec();
    let (rss, threads, fds) = (after(&s.rss), after(&s.threads), after(&s.fds));
    if rss.len() < 6 {
        return vec![format!("{}: too few samples after warm-up", s.name)];
    }
    let first = median(&rss[..3]);
    let last = median(&rss[rss.len() - 3..]);
    let allowed = first + (first as f64 * RSS_GROWTH_FRACTION) as u64 + RSS_GROWTH_SLACK_KB;
    if last > allowed {
        problems.push(format!(
            "{}: RSS grew from {first} KiB to {last} KiB (allowed {allowed})",
            s.name
        ));
    }
    let third = threads.len() / 3;
    for (what, v, slack) in [("threads", &threads, THREAD_SLACK), ("fds", &fds, FD_SLACK)] {
        let early = v[..third].iter().max().copied().unwrap_or(0);
        let late = v[v.len() - third..].iter().max().copied().unwrap_or(0);
        if late > early + slack {
            problems.push(format!("{}: {what} drifted from {early} to {late}", s.name));
        }
    }
    problems
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn main() {
    if !std::env::args().any(|a| a == "--soak") {
        println!("soak: run it with `make soak` (SOAK_SECONDS, SOAK_CALLS, SOAK_CALLERS)");
        return;
    }
    let calls_limit = env_number("SOAK_CALLS").unwrap_or(0);
    let seconds = env_number("SOAK_SECONDS").unwrap_or(if calls_limit > 0 {
        u64::MAX / 4
    } else {
        DEFAULT_SECONDS
    });
    let run_for = Duration::from_secs(seconds);
    let callers = env_number("SOAK_CALLERS")
        .map_or(DEFAULT_CALLERS, |n| n as usize)
        .max(2);

    let mut relay_cmd = Command::new(RELAY);
    relay_cmd
        .args(["--listen", "127.0.0.1:0"])
        .args(["--tunnel-id", HTTP_TUNNEL, "--tunnel-id", STDIO_TUNNEL])
        .args(["--max-queue", "10000", "--log-level", "error"])
        .env("TUNNEL_RELAY_AGENT_KEY", AGENT_KEY)
        .env_remove("TUNNEL_RELAY_CALLER_TOKEN");
    let (relay, relay_url) = start_listening("tunnel-relay", relay_cmd);
    let mut stub_cmd = Command::new(CLIENT);
    stub_cmd.args(["dev", "mcp-stub", "--http", "127.0.0.1:0"]);
    let (stub, stub_url) = start_listening("http stub", stub_cmd);
    let http_agent = start_agent(
        "agent (http)",
        &relay_url,
        HTTP_TUNNEL,
        &["--mcp-server-url", &format!("{stub_url}/mcp")],
    );
    let stdio_agent = start_agent(
        "agent (stdio)",
        &relay_url,
        STDIO_TUNNEL,
        &["--mcp-command", &format!("{CLIENT} dev mcp-stub")],
    );
    // Wait until both tunnels answer.
    for tunnel in [HTTP_TUNNEL, STDIO_TUNNEL] {
        let url = format!("{relay_url}/v1/mcp/{tunnel}");
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = ureq::post(&url)
                .header("Content-Type", "application/json")
                .send(r#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#)
                .is_ok();
            if ok {
                break;
            }
            assert!(Instant::now() < until, "tunnel {tunnel} never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let processes = [&relay, &http_agent, &stdio_agent, &stub];
    let mut series: Vec<Series> = processes
        .iter()
        .map(|p| Series {
            name: p.name,
            pid: p.child.id(),
            rss: Vec::new(),
            threads: Vec::new(),
            fds: Vec::new(),
        })
        .collect();
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..callers)
        .map(|i| {
            let tunnel = if i % 2 == 0 {
                HTTP_TUNNEL
            } else {
                STDIO_TUNNEL
            };
            let url = format!("{relay_url}/v1/mcp/{tunnel}");
            let (counts, stop) = (Arc::clone(&counts), Arc::clone(&stop));
            std::thread::spawn(move || caller(url, i, counts, stop, calls_limit))
        })
        .collect();

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/soak");
    std::fs::create_dir_all(dir).unwrap();
    let csv_path = format!("{dir}/soak.csv");
    let mut csv = std::fs::File::create(&csv_path).unwrap();
    let mut header = String::from("elapsed_s,calls_ok,calls_failed");
    for s in &series {
        let key = s.name.replace([' ', '(', ')'], "");
        write!(header, ",{key}_rss_kb,{key}_threads,{key}_fds").unwrap();
    }
    writeln!(csv, "{header}").unwrap();
    println!(
        "soak: {callers} callers for {} (or {} calls); sampling every {} s into {csv_path}",
        if seconds >= u64::MAX / 4 {
            "ever".to_string()
        } else {
            format!("{seconds} s")
        },
        if calls_limit > 0 {
            calls_limit.to_string()
        } else {
            "unlimited".into()
        },
        SAMPLE_EVERY.as_secs()
    );
    let started = Instant::now();
    let mut next = started;
    let mut died = None;
    loop {
        let elapsed = started.elapsed();
        let mut row = format!(
            "{},{},{}",
            elapsed.as_secs(),
            counts.ok.load(Relaxed),
            counts.failed.load(Relaxed)
        );
        for s in &mut series {
            match sample(s.pid) {
                Some((rss, threads, fds)) => {
                    s.rss.push(rss);
                    s.threads.push(threads);
                    s.fds.push(fds);
                    write!(row, ",{rss},{threads},{fds}").unwrap();
                }
                None => died = died.or(Some(s.name)),
            }
        }
        writeln!(csv, "{row}").unwrap();
        if died.is_some() || stop.load(Relaxed) || elapsed >= run_for {
            break;
        }
        next += SAMPLE_EVERY;
        while Instant::now() < next && !stop.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    stop.store(true, Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = started.elapsed();
    let (ok, failed) = (counts.ok.load(Relaxed), counts.failed.load(Relaxed));
    let total = ok + failed;

    let samples = series[0].rss.len();
    let warm_time = (elapsed / 5).max(MIN_WARMUP);
    let warm = (warm_time.as_secs() / SAMPLE_EVERY.as_secs()) as usize;
    println!(
        "\n{total} calls in {:.0} s ({:.0}/s), {failed} failed; {samples} samples, warm-up {} s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        warm_time.as_secs()
    );
    println!(
        "{:<14} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6}",
        "process",
        "rss0 MiB",
        "rssW MiB",
        "rssN MiB",
        "thr W",
        "thr max",
        "thr N",
        "fd W",
        "fd max",
        "fd N"
    );
    let mib = |kb: u64| kb as f64 / 1024.0;
    let mut problems = Vec::new();
    for s in &series {
        let w = warm.min(s.rss.len().saturating_sub(1));
        let last = s.rss.len().saturating_sub(1);
        println!(
            "{:<14} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6}",
            s.name,
            mib(s.rss.first().copied().unwrap_or(0)),
            mib(s.rss.get(w).copied().unwrap_or(0)),
            mib(s.rss.get(last).copied().unwrap_or(0)),
            s.threads.get(w).copied().unwrap_or(0),
            s.threads.iter().max().copied().unwrap_or(0),
            s.threads.get(last).copied().unwrap_or(0),
            s.fds.get(w).copied().unwrap_or(0),
            s.fds.iter().max().copied().unwrap_or(0),
            s.fds.get(last).copied().unwrap_or(0),
        );
        problems.extend(verdict(s, warm));
    }
    if let Some(name) = died {
        problems.push(format!("{name} exited during the soak"));
    }
    if total == 0 || failed as f64 > total as f64 * MAX_FAILURE_RATE {
        problems.push(format!("{failed} of {total} calls failed"));
    }
    drop((stdio_agent, http_agent, stub, relay));
    if problems.is_empty() {
        println!("soak: PASS");
    } else {
        for p in &problems {
            println!("soak: FAIL: {p}");
        }
        std::process::exit(1);
    }
}
