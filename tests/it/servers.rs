//! Our HTTP servers against hostile clients, through the real binaries:
//! tunnel-relay and the admin server of `tunnel-client run`. Oversized
//! bodies, idle and slowloris connections, endless header lines, bursts of
//! new connections behind busy keep-alive ones; the servers stay bounded
//! (descriptors, threads, memory), keep serving, and stop on SIGTERM.

use crate::support::control_plane::MockControlPlane;
use crate::support::process::{self, CLIENT, RELAY};
use crate::support::{wait_until, TempDir, API_KEY, TUNNEL_ID};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
const AGENT_KEY: &str = "agent-key-for-hostile-tests";

/// The open-files limit the servers run under here: their connection caps
/// shrink to fit it (relay: (128 - 64) / 2 = 32; admin: a quarter, 16).
const FD_LIMIT: u64 = 128;
const RELAY_CAP: usize = 32;
const ADMIN_CAP: usize = 16;

/// The servers' head deadlines (relay/server.rs, admin/server.rs).
const RELAY_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const ADMIN_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Upper bound of every "it did not hang" wait.
const WAIT: Duration = Duration::from_secs(20);

/// How long SIGTERM may take, abuse in progress: the grace (relay 3 s, agent
/// 2 s here) and some; it took 20-42 s when tiny_http's drop hung.
const STOP: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------ processes

/// A server binary started under `ulimit -n`, stdout and stderr collected.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    _dir: Option<TempDir>,
}

/// `program` run by `sh` after lowering its open-files limit.
fn limited(fd_limit: u64, program: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {fd_limit} && exec \"$0\" \"$@\""))
        .arg(program)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG");
    cmd
}

fn collect(stream: impl Read + Send + 'static, log: &Arc<Mutex<String>>) {
    let log = Arc::clone(log);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
}

fn start_relay(fd_limit: u64) -> Server {
    let mut child = limited(fd_limit, RELAY)
        .args(["--listen", "127.0.0.1:0", "--tunnel-id", TUNNEL_ID])
        .args(["--log-level", "info"])
        .env("TUNNEL_RELAY_AGENT_KEY", AGENT_KEY)
        .env_remove("TUNNEL_RELAY_CALLER_TOKEN")
        .spawn()
        .expect("start tunnel-relay");
    let log = Arc::new(Mutex::new(String::new()));
    collect(child.stderr.take().unwrap(), &log);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();
    collect(stdout, &log);
    Server {
        child,
        addr,
        log,
        _dir: None,
    }
}

/// `tunnel-client run` against `cp` with the stdio stub and an admin server
/// on a free loopback port.
fn start_agent(cp: &MockControlPlane, fd_limit: u64) -> Server {
    let dir = TempDir::new("servers-hostile");
    let url_file = dir.path().join("admin.url");
    let mut child = limited(fd_limit, CLIENT)
        .args([
            "run",
            "--tunnel-id",
            TUNNEL_ID,
            "--control-plane-url",
            &cp.url,
        ])
        .args(["--poll-timeout-ms", "1000", "--log-level", "info"])
        .args(["--mcp-command", &format!("{CLIENT} dev mcp-stub")])
        .args(["--admin-address", "127.0.0.1:0", "--shutdown-grace", "2"])
        .arg("--admin-url-file")
        .arg(&url_file)
        .env("CONTROL_PLANE_API_KEY", API_KEY)
        .spawn()
        .expect("start tunnel-client");
    let log = Arc::new(Mutex::new(String::new()));
    collect(child.stderr.take().unwrap(), &log);
    collect(child.stdout.take().unwrap(), &log);
    let addr = admin_addr(&url_file, &mut child, &log);
    Server {
        child,
        addr,
        log,
        _dir: Some(dir),
    }
}

fn admin_addr(url_file: &std::path::Path, child: &mut Child, log: &Mutex<String>) -> SocketAddr {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(url_file) {
            let addr = text
                .trim()
                .trim_start_matches("http://")
                .trim_end_matches('/');
            return addr.parse().unwrap();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("agent exited with {status}: {}", log.lock().unwrap());
        }
        assert!(Instant::now() < deadline, "admin URL file never written");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A numeric field of /proc/PID/status (`Threads`, `VmRSS`, `VmHWM`...).
    fn status(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// SIGTERM, then the exit status if it came within `limit`.
    fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------ clients

/// The status of `GET path` on a fresh connection; `None` when the server
/// closed it without an answer or did not answer within `WAIT`.
fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(WAIT)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until `GET path` answers `status`.
fn wait_for_status(addr: SocketAddr, path: &str, status: u16, what: &str) {
    let deadline = Instant::now() + WAIT;
    while get_status(addr, path) != Some(status) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `request` on a fresh connection and reads until the server closes
/// it. `None` if it was still open after `WAIT` (or could not be opened).
fn answer_then_close(addr: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(WAIT)).ok()?;
    stream.write_all(request).ok()?;
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => Some(answer),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Some(answer),
        Err(_) => None,
    }
}

/// Connections a test holds open, each watched for the server closing it.
struct Held {
    streams: Vec<TcpStream>,
    closed: Vec<bool>,
}

impl Held {
    /// Opens `n` connections and writes `first` on each.
    fn open(addr: SocketAddr, n: usize, first: &[u8]) -> Held {
        let mut streams = Vec::with_capacity(n);
        for _ in 0..n {
            let mut stream = TcpStream::connect(addr).expect("connect");
            let _ = stream.write_all(first);
            stream.set_nonblocking(true).unwrap();
            streams.push(stream);
        }
        Held {
            closed: vec![false; n],
            streams,
        }
    }

    /// How many the server has closed so far (reading whatever it sent).
    fn count_closed(&mut self) -> usize {
        let mut buf = [0u8; 512];
        for (stream, closed) in self.streams.iter_mut().zip(self.closed.iter_mut()) {
            while !*closed {
                match stream.read(&mut buf) {
                    Ok(0) => *closed = true,
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => *closed = true,
                }
            }
        }
        self.closed.iter().filter(|c| **c).count()
    }

    /// Writes one more byte on every connection still open.
    fn trickle(&mut self) {
        for (stream, closed) in self.streams.iter_mut().zip(&self.closed) {
            if !closed {
                let _ = stream.write_all(b"a");
            }
        }
    }
}

/// Streams an endless header line at `server` (up to 64 MiB): it must answer
/// 431 or close, and its peak memory must stay far below what was offered.
fn endless_header_line_is_cut_short(server: &Server, path: &str) {
    const OFFER: usize = 64 << 20;
    const CHUNK: usize = 64 << 10;
    let rss_before = server.status("VmRSS");
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Endless: ");
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'a'; CHUNK];
    let mut sent = 0;
    while sent < OFFER && stream.write_all(&chunk).is_ok() {
        sent += CHUNK;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        sent < OFFER,
        "the server read all {sent} bytes of one header line"
    );
    let peak_growth_kib = server.status("VmHWM").saturating_sub(rss_before);
    assert!(
        peak_growth_kib < 16 * 1024,
        "peak memory grew by {peak_growth_kib} KiB"
    );
    assert_eq!(get_status(server.addr, "/healthz"), Some(200));
}

// ------------------------------------------------------------------ relay

#[test]
fn relay_closes_connections_whose_declared_body_is_too_long_and_keeps_accepting() {
    let relay = start_relay(FD_LIMIT);
    let paths = [
        format!("/v1/mcp/{TUNNEL_ID}"),
        format!("/v1/tunnels/{TUNNEL_ID}/response"),
        "/no/such/path".to_string(),
    ];
    // Three times the descriptor limit: each connection used to stay open
    // on purpose, and accept then died with "too many open files".
    let attempts = 3 * FD_LIMIT as usize;
    let refused: Vec<_> = (0..4)
        .map(|worker| {
            let (addr, paths) = (relay.addr, paths.clone());
            std::thread::spawn(move || {
                for i in (worker..attempts).step_by(4) {
                    let request = format!(
                        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                         Content-Length: 999999999999\r\n\r\n",
                        paths[i % paths.len()]
                    );
                    let answer = answer_then_close(addr, request.as_bytes())
                        .unwrap_or_else(|| panic!("request {i} was not answered and closed"));
                    let head = String::from_utf8_lossy(&answer);
                    let status: u16 = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    assert!((400..600).contains(&status), "request {i}: {head}");
                    assert!(head.contains("Connection: close\r\n"), "{head}");
                }
            })
        })
        .collect();
    for worker in refused {
        worker.join().unwrap();
    }
    assert_eq!(get_status(relay.addr, "/healthz"), Some(200));
    assert!(
        relay.open_fds() < RELAY_CAP,
        "{} fds open",
        relay.open_fds()
    );
    assert!(
        !relay.log().contains("too many open files"),
        "{}",
        relay.log()
    );
}

#[test]
fn relay_idle_and_slowloris_connections_are_capped_bounded_and_timed_out() {
    let mut relay = start_relay(FD_LIMIT);
    assert_eq!(get_status(relay.addr, "/healthz"), Some(200));
    let threads_before = relay.status("Threads");
    // 250 connections that send nothing and 250 that trickle a head that
    // never ends, one byte at a time.
    let mut idle = Held::open(relay.addr, 250, b"");
    let mut slow = Held::open(relay.addr, 250, b"GET /healthz HTTP/1.1\r\nX-Slow: ");
    let opened = Instant::now();
    // Beyond the cap, connections are closed at once (well before the head
    // deadline); at most the cap stays open.
    let total = 500;
    let mut closed = 0;
    while closed < total - RELAY_CAP {
        slow.trickle();
        closed = idle.count_closed() + slow.count_closed();
        assert!(
            opened.elapsed() < RELAY_HEAD_TIMEOUT / 2,
            "only {closed} of {total} closed at once"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let threads = relay.status("Threads");
    assert!(
        threads <= threads_before + RELAY_CAP as u64 + 8,
        "{threads} threads (before: {threads_before})"
    );
    assert!(
        relay.open_fds() < FD_LIMIT as usize,
        "{} fds",
        relay.open_fds()
    );
    // The rest go at the head deadline, trickling or not.
    let deadline = RELAY_HEAD_TIMEOUT + Duration::from_secs(5);
    while idle.count_closed() + slow.count_closed() < total {
        slow.trickle();
        assert!(opened.elapsed() < deadline, "held past the head deadline");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Service continues after them, and SIGTERM is not held up by the abuse.
    wait_for_status(relay.addr, "/healthz", 200, "the relay to serve again");
    let _again = Held::open(relay.addr, 100, b"GET /healthz HTTP/1.1\r\nX-Slow: ");
    let status = relay
        .terminate(STOP)
        .expect("the relay did not stop after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", relay.log());
}

#[test]
fn relay_cuts_an_endless_header_line_short() {
    let relay = start_relay(1024);
    endless_header_line_is_cut_short(&relay, "/healthz");
}

/// The pool race: tiny_http queued a connection accepted while a pool thread
/// was still waking up for the previous one; the queued connection then
/// waited until some connection ended, and busy keep-alive connections never
/// do. Each round leaves the pool one or two idle threads (every other
/// connection stays open), stops the relay (SIGSTOP) while a burst of
/// connections is opened and their requests sent, and resumes it: its accept
/// thread then hands them to the pool back to back. Every round must be
/// answered in full.
#[test]
fn a_burst_of_new_connections_behind_busy_keep_alive_ones_is_served() {
    let relay = start_relay(1024);
    let addr = relay.addr;
    let mut held: Vec<KeepAlive> = (0..3).map(|_| KeepAlive::connect(addr)).collect();
    for client in &mut held {
        assert_eq!(client.get("/healthz"), Some(200));
    }
    for round in 0..12 {
        // One connection that ends frees one pool thread; the pause lets
        // the relay see it end (a shorter one only makes the race rarer).
        assert_eq!(KeepAlive::connect(addr).get("/healthz"), Some(200));
        std::thread::sleep(Duration::from_millis(50));
        signal(&relay, "STOP");
        let mut burst: Vec<_> = (0..8).map(|_| KeepAlive::connect(addr)).collect();
        for client in &mut burst {
            client.send_get("/healthz");
        }
        signal(&relay, "CONT");
        let answered: Vec<_> = burst.iter_mut().map(KeepAlive::read_status).collect();
        assert!(
            answered.iter().all(|status| *status == Some(200)),
            "round {round}: {answered:?}"
        );
        for client in &mut held {
            assert_eq!(client.get("/healthz"), Some(200), "round {round}");
        }
        held.extend(burst);
    }
}

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A keep-alive HTTP/1.1 client on one connection; each answer must come
/// within 5 s (far below the relay's 30 s keep-alive, after which a starved
/// connection would have been served anyway).
struct KeepAlive(BufReader<TcpStream>);

impl KeepAlive {
    fn connect(addr: SocketAddr) -> KeepAlive {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        KeepAlive(BufReader::new(stream))
    }

    fn get(&mut self, path: &str) -> Option<u16> {
        self.send_get(path);
        self.read_status()
    }

    fn send_get(&mut self, path: &str) {
        // One write: a request in pieces would wait on Nagle's algorithm.
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let _ = self.0.get_mut().write_all(request.as_bytes());
    }

    /// Reads one answer; its status, or `None` if none came.
    fn read_status(&mut self) -> Option<u16> {
        let mut status = None;
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if self.0.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if status.is_none() {
                status = line.split_whitespace().nth(1)?.parse().ok();
            } else if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().ok()?;
            } else if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        self.0.read_exact(&mut body).ok()?;
        status
    }
}

// ------------------------------------------------------------------ admin

#[test]
fn the_admin_server_keeps_answering_after_many_requests_with_bodies() {
    let cp = MockControlPlane::start();
    let mut agent = start_agent(&cp, 1024);
    wait_for_status(agent.addr, "/healthz", 200, "the admin server");
    // It used to stop itself for good after 64 of these.
    for i in 0..100 {
        let answer = answer_then_close(
            agent.addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n",
        )
        .unwrap_or_else(|| panic!("request {i} was not answered and closed"));
        assert!(
            answer.starts_with(b"HTTP/1.1 413"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    // A small body is drained and the connection carries the next request.
    let answer = answer_then_close(
        agent.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
          GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("HTTP/1.1 200 OK"), "{text}");
    assert_eq!(get_status(agent.addr, "/healthz"), Some(200));
    let status = agent.terminate(STOP).expect("agent did not stop");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_admin_server_under_a_low_descriptor_limit_caps_times_out_and_stops_in_time() {
    let cp = MockControlPlane::start();
    let mut agent = start_agent(&cp, FD_LIMIT);
    wait_for_status(agent.addr, "/healthz", 200, "the admin server");
    let threads_before = agent.status("Threads");
    let polls_before = cp.polls().len();
    let mut idle = Held::open(agent.addr, 150, b"");
    let mut slow = Held::open(agent.addr, 150, b"GET /healthz HTTP/1.1\r\nX-Slow: ");
    let opened = Instant::now();
    let total = 300;
    let mut closed = 0;
    while closed < total - ADMIN_CAP {
        slow.trickle();
        closed = idle.count_closed() + slow.count_closed();
        assert!(
            opened.elapsed() < ADMIN_HEAD_TIMEOUT / 2,
            "only {closed} of {total} closed at once"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let threads = agent.status("Threads");
    assert!(
        threads <= threads_before + ADMIN_CAP as u64 + 8,
        "{threads} threads (before: {threads_before})"
    );
    // The tunnel keeps its descriptors: polling goes on meanwhile.
    wait_until(WAIT, "the agent to keep polling", || {
        cp.polls().len() > polls_before + 1
    });
    let deadline = ADMIN_HEAD_TIMEOUT + Duration::from_secs(5);
    while idle.count_closed() + slow.count_closed() < total {
        slow.trickle();
        assert!(opened.elapsed() < deadline, "held past the head deadline");
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for_status(
        agent.addr,
        "/healthz",
        200,
        "the admin server to serve again",
    );
    endless_header_line_is_cut_short(&agent, "/healthz");
    // Abuse in progress does not hold up shutdown (grace 2 s).
    let _again = Held::open(agent.addr, 100, b"GET /healthz HTTP/1.1\r\nX-Slow: ");
    let status = agent.terminate(STOP).expect("agent did not stop");
    assert_eq!(status.code(), Some(0), "{}", agent.log());
}

/// Every IPv4 TCP socket of this machine that is not listening and has an
/// end at `127.0.0.1:port`, as /proc/net/tcp lines.
fn loopback_sockets_on(port: u16) -> Vec<String> {
    const LISTEN: &str = "0A";
    let end = format!("0100007F:{port:04X}");
    let text = std::fs::read_to_string("/proc/net/tcp").expect("Linux /proc/net/tcp");
    text.lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[3] != LISTEN && (fields[1] == end || fields[2] == end)
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn an_idle_agent_makes_no_connection_to_its_admin_port() {
    let cp = MockControlPlane::start();
    let dir = TempDir::new("servers-hostile-idle");
    let url_file = dir.path().join("admin.url");
    let mut agent = process::agent(
        &cp.url,
        &[
            "--admin-address",
            "127.0.0.1:0",
            "--admin-url-file",
            url_file.to_str().unwrap(),
        ],
    );
    let port = wait_until(WAIT, "the admin URL file", || {
        let text = std::fs::read_to_string(&url_file).ok()?;
        let addr: SocketAddr = text
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .ok()?;
        Some(addr.port())
    });
    // Idle: long-polling an empty control plane. Nobody else talks to the
    // admin port (this test never does), so any socket on it other than
    // the listener is the agent's own doing (the old pool kicker opened two
    // every 250 ms, each leaving a TIME_WAIT entry for a minute).
    // The port may have served someone else before the agent got it (tests
    // run in parallel): their TIME_WAIT entries linger for a minute. Only
    // connections that appear while we watch count.
    wait_until(WAIT, "two polls", || cp.polls().len() >= 2);
    let addresses = |line: &String| {
        line.split_whitespace()
            .skip(1)
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let before: Vec<String> = loopback_sockets_on(port).iter().map(addresses).collect();
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(3) {
        let new: Vec<String> = loopback_sockets_on(port)
            .into_iter()
            .filter(|line| !before.contains(&addresses(line)))
            .collect();
        assert!(new.is_empty(), "new sockets on the admin port: {new:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(agent.terminate(WAIT).code(), Some(0));
}
