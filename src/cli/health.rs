//! `tunnel-client health`: probes a running agent (its pid file, `/healthz`, `/readyz`)
//! for container and supervisor health checks. Writes no file; needs no DNS, shell or curl.

use crate::agent::pidfile::{self, ProcessState};
use serde_json::{json, Value};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Default of `--timeout`: under the 5 s a container engine allows by default,
/// so that the check fails with its own reason rather than being killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest `--timeout`.
pub const MAX_TIMEOUT_SECS: u64 = 300;
/// Largest answer read from the admin server (its health answers are tiny).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Largest admin URL file read (`run --admin-url-file` writes one line).
pub const MAX_URL_FILE_BYTES: u64 = 4096;
/// Longest reason printed; the admin server's reasons are a sentence or two.
pub const MAX_REASON_CHARS: usize = 500;

/// `health` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthArgs {
    pub target: AdminTarget,
    pub pid_file: Option<PathBuf>,
    pub require_ready: bool,
    pub json: bool,
    pub timeout: Duration,
}

impl Default for HealthArgs {
    fn default() -> Self {
        HealthArgs {
            target: AdminTarget::Url(AdminUrl::loopback(8090)),
            pid_file: None,
            require_ready: false,
            json: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Where the admin server is: a URL (`--url`, `--port`, the default) or the
/// file `run --admin-url-file` writes (read when the check runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminTarget {
    Url(AdminUrl),
    UrlFile(PathBuf),
}

/// A plain-http admin base URL: host, port and an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUrl {
    /// As written (an IPv6 address without its brackets).
    host: String,
    port: u16,
    /// Empty, or `/prefix` without a trailing slash.
    prefix: String,
}

impl AdminUrl {
    /// `http://127.0.0.1:PORT/`.
    pub fn loopback(port: u16) -> AdminUrl {
        AdminUrl {
            host: "127.0.0.1".to_string(),
            port,
            prefix: String::new(),
        }
    }

    /// Reads `http://HOST[:PORT][/PREFIX]`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<AdminUrl, String> {
        let text = text.trim();
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the URL contains spaces or control characters".into());
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err("give an absolute URL such as http://127.0.0.1:8090".into());
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!(
                "the admin server speaks plain http, not {scheme} (use http://HOST:PORT)"
            ));
        }
        if rest.contains(['?', '#']) {
            return Err("the URL must not have a query or a fragment".into());
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err("the URL must not carry credentials".into());
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(inner) => {
                let (host, after) = inner
                    .split_once(']')
                    .ok_or("its IPv6 address has no closing ]")?;
                match after {
                    "" => (host, None),
                    p => (
                        host,
                        Some(p.strip_prefix(':').ok_or("its port is malformed")?),
                    ),
                }
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err("the URL has no host".into());
        }
        let port = match port {
            None => 80,
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return Err("its port is not a number 1-65535".into()),
            },
        };
        Ok(AdminUrl {
            host: host.to_string(),
            port,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }

    fn authority(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }
}

impl fmt::Display for AdminUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}/", self.authority(), self.prefix)
    }
}

/// What the check found; printed as one line, or as one JSON object.
#[derive(Debug, Default)]
struct Report {
    healthy: bool,
    /// `None`: /readyz was not reached.
    ready: Option<bool>,
    /// Why the check failed, or why the agent is not ready.
    reason: Option<String>,
    url: Option<String>,
    healthz_status: Option<u16>,
    readyz_status: Option<u16>,
    tunnel_id: Option<String>,
    connected: Option<bool>,
    version: Option<String>,
    pid: Option<u32>,
}

impl Report {
    fn passed(&self, require_ready: bool) -> bool {
        self.healthy && (!require_ready || self.ready == Some(true))
    }

    fn failed(mut self, reason: String) -> Report {
        self.healthy = false;
        self.reason = Some(one_line(&reason));
        self
    }
}

/// Runs the check, prints its outcome, and returns the exit status
/// (0 healthy, 1 not; usage errors never get here).
pub fn run(args: &HealthArgs) -> u8 {
    let report = check(args);
    let passed = report.passed(args.require_ready);
    if args.json {
        println!("{}", report_json(&report, passed));
    } else if passed {
        println!("{}", summary(&report));
    } else {
        let reason = report.reason.as_deref().unwrap_or("no reason given");
        let state = match report.healthy {
            true => "not ready",
            false => "unhealthy",
        };
        eprintln!("tunnel-client health: {state}: {reason}");
    }
    match passed {
        true => super::EXIT_OK,
        false => super::EXIT_FAILURE,
    }
}

fn check(args: &HealthArgs) -> Report {
    let deadline = Instant::now() + args.timeout;
    let mut report = Report::default();
    if let Some(path) = &args.pid_file {
        let pid = match pidfile::read_pid(path) {
            Ok(pid) => pid,
            Err(e) => return report.failed(format!("the pid file {}: {e}", path.display())),
        };
        report.pid = Some(pid);
        match pidfile::process_state(pid) {
            ProcessState::Running { .. } => {}
            ProcessState::Gone => {
                return report.failed(format!(
                    "process {pid} named by {} is not running",
                    path.display()
                ))
            }
            ProcessState::Unknown => {
                return report.failed(format!(
                    "cannot tell whether process {pid} runs: /proc is not mounted"
                ))
            }
        }
    }
    let url = match &args.target {
        AdminTarget::Url(url) => url.clone(),
        AdminTarget::UrlFile(path) => match read_url_file(path) {
            Ok(url) => url,
            Err(why) => {
                return report.failed(format!("the admin URL file {}: {why}", path.display()))
            }
        },
    };
    report.url = Some(url.to_string());

    let health = match get(&url, "healthz", deadline, args.timeout) {
        Ok(answer) => answer,
        Err(e) => {
            return report.failed(format!(
                "cannot reach the admin server at {url}: {e} (is the agent running with its admin server there?)"
            ))
        }
    };
    report.healthz_status = Some(health.status);
    let text = |key: &str| health.body[key].as_str().map(one_line);
    report.tunnel_id = text("tunnel_id");
    report.version = text("version");
    report.connected = health.body["connected"].as_bool();
    match (health.status, health.body["status"].as_str()) {
        (200, Some("healthy")) => report.healthy = true,
        (503, _) => {
            let reason = text("reason").unwrap_or_else(|| "the agent is stuck".to_string());
            return report.failed(reason);
        }
        (status, _) => {
            return report.failed(format!(
                "{url}healthz answered HTTP {status} without a tunnel-client health status: \
                 is this the agent's admin server?"
            ))
        }
    }

    match get(&url, "readyz", deadline, args.timeout) {
        Ok(ready) => {
            report.readyz_status = Some(ready.status);
            let is_ready = ready.status == 200 && ready.body["status"] == "ready";
            report.ready = Some(is_ready);
            if !is_ready {
                let reason = ready.body["reason"].as_str().map(one_line);
                report.reason = Some(
                    reason.unwrap_or_else(|| format!("{url}readyz answered HTTP {}", ready.status)),
                );
            }
        }
        Err(e) => report.reason = Some(format!("{url}readyz: {e}")),
    }
    report
}

/// The healthy line: what was checked and what it said.
fn summary(report: &Report) -> String {
    let mut line = String::from("healthy");
    match (report.ready, &report.reason) {
        (Some(true), _) => line.push_str(", ready"),
        (_, Some(reason)) => line.push_str(&format!(", not ready: {reason}")),
        (_, None) => {}
    }
    if let Some(url) = &report.url {
        line.push_str(&format!(" ({url}"));
        if let Some(tunnel) = &report.tunnel_id {
            line.push_str(&format!(", {tunnel}"));
        }
        match report.connected {
            Some(true) => line.push_str(", control plane connected"),
            Some(false) => line.push_str(", control plane not connected"),
            None => {}
        }
        if let Some(pid) = report.pid {
            line.push_str(&format!(", pid {pid}"));
        }
        line.push(')');
    }
    line
}

fn report_json(report: &Report, passed: bool) -> Value {
    json!({
        "ok": passed,
        "healthy": report.healthy,
        "ready": report.ready,
        "reason": report.reason,
        "url": report.url,
        "healthz_status": report.healthz_status,
        "readyz_status": report.readyz_status,
        "tunnel_id": report.tunnel_id,
        "connected": report.connected,
        "version": report.version,
        "pid": report.pid,
    })
}

/// One printable line of at most [`MAX_REASON_CHARS`] characters.
fn one_line(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON_CHARS)
        .collect();
    if text.chars().count() > MAX_REASON_CHARS {
        out.push('…');
    }
    out
}

fn read_url_file(path: &Path) -> Result<AdminUrl, String> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            "no such file (the agent writes it once its admin server listens)".to_string()
        }
        _ => crate::config::io_problem(&e),
    })?;
    let mut text = String::new();
    file.take(MAX_URL_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|_| "it is not text".to_string())?;
    AdminUrl::parse(&text)
}

/// A parsed answer: status and JSON body (`Null` when the body is not JSON).
struct Answer {
    status: u16,
    body: Value,
}

/// Why an endpoint could not be read.
#[derive(Debug)]
enum ProbeError {
    Resolve(io::Error),
    Connect(io::Error),
    TimedOut(Duration),
    Io(io::Error),
    TooLarge,
    NotHttp,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Resolve(e) => write!(f, "cannot resolve its host: {e}"),
            ProbeError::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                write!(f, "connection refused")
            }
            ProbeError::Connect(e) => write!(f, "cannot connect: {}", crate::config::io_problem(e)),
            ProbeError::TimedOut(limit) => {
                write!(f, "no answer within {} s (--timeout)", limit.as_secs())
            }
            ProbeError::Io(e) => write!(f, "{}", crate::config::io_problem(e)),
            ProbeError::TooLarge => write!(f, "the answer is larger than {MAX_ANSWER_BYTES} bytes"),
            ProbeError::NotHttp => write!(f, "the answer is not HTTP"),
        }
    }
}

/// `GET {url}{endpoint}` over a fresh connection, all of it before `deadline`.
/// HTTP/1.0, so the answer is never chunked and the server closes after it.
fn get(
    url: &AdminUrl,
    endpoint: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<Answer, ProbeError> {
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(ProbeError::TimedOut(timeout))
    };
    // An IP literal is parsed, never looked up: the default needs no DNS.
    let addresses: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(ProbeError::Resolve)?
        .collect();
    let mut last = None;
    let mut stream = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, left()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(ProbeError::TimedOut(timeout))
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(mut stream) = stream else {
        return Err(ProbeError::Connect(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "the host has no address")
        })));
    };
    let timed = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ProbeError::TimedOut(timeout),
        _ => ProbeError::Io(e),
    };
    stream
        .set_write_timeout(Some(left()?))
        .map_err(ProbeError::Io)?;
    let request = format!(
        "GET {}/{endpoint} HTTP/1.0\r\nHost: {}\r\nUser-Agent: tunnel-client-health/{}\r\nAccept: application/json\r\n\r\n",
        url.prefix,
        url.authority(),
        crate::contract::CLIENT_VERSION
    );
    stream.write_all(request.as_bytes()).map_err(timed)?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        stream
            .set_read_timeout(Some(left()?))
            .map_err(ProbeError::Io)?;
        let n = stream.read(&mut chunk).map_err(timed)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
        if answer.len() > MAX_ANSWER_BYTES {
            return Err(ProbeError::TooLarge);
        }
    }
    parse_answer(&answer).ok_or(ProbeError::NotHttp)
}

/// Status line, headers, body: enough HTTP/1.x for the admin server's answers.
fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let mut status_line = lines.next()?.split_whitespace();
    if !status_line.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = status_line.next()?.parse::<u16>().ok()?;
    let mut body = &raw[end + 4..];
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            let length = value.trim().parse::<usize>().ok()?;
            body = body.get(..length)?;
        }
    }
    Some(Answer {
        status,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_urls_are_plain_http_without_credentials() {
        let url = AdminUrl::parse("http://127.0.0.1:8090/").unwrap();
        assert_eq!(url, AdminUrl::loopback(8090));
        assert_eq!(url.to_string(), "http://127.0.0.1:8090/");
        let v6 = AdminUrl::parse(" http://[::1]:9/admin/ \n").unwrap();
        assert_eq!(v6.to_string(), "http://[::1]:9/admin/");
        assert_eq!(v6.authority(), "[::1]:9");
        assert_eq!(
            AdminUrl::parse("HTTP://agent").unwrap().to_string(),
            "http://agent:80/"
        );
        for (bad, why) in [
            ("https://127.0.0.1:8090", "plain http"),
            ("127.0.0.1:8090", "absolute URL"),
            ("http://u:p@127.0.0.1:1/", "credentials"),
            ("http://127.0.0.1:1/?x=1", "query"),
            ("http://127.0.0.1:0/", "1-65535"),
            ("http://127.0.0.1:99999/", "1-65535"),
            ("http://:80/", "no host"),
            ("http://[::1/", "closing ]"),
            ("http://a b/", "spaces"),
        ] {
            let e = AdminUrl::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn answers_are_read_with_their_length_and_status() {
        let a = parse_answer(
            b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 20\r\n\r\n{\"status\":\"stuck\"}  trailing",
        )
        .unwrap();
        assert_eq!(a.status, 503);
        assert_eq!(a.body["status"], "stuck");
        let text = parse_answer(b"HTTP/1.1 200 OK\r\n\r\nnot json").unwrap();
        assert_eq!((text.status, text.body), (200, Value::Null));
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 abc\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\n",
        ] {
            assert!(parse_answer(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn reasons_stay_on_one_bounded_line() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
        let long = one_line(&"x".repeat(MAX_REASON_CHARS * 2));
        assert_eq!(long.chars().count(), MAX_REASON_CHARS + 1);
    }

    #[test]
    fn the_summary_says_what_was_found() {
        let report = Report {
            healthy: true,
            ready: Some(false),
            reason: Some("waiting for the first poll".into()),
            url: Some("http://127.0.0.1:8090/".into()),
            tunnel_id: Some("tunnel_x".into()),
            connected: Some(false),
            ..Report::default()
        };
        assert!(report.passed(false) && !report.passed(true));
        assert_eq!(
            summary(&report),
            "healthy, not ready: waiting for the first poll (http://127.0.0.1:8090/, tunnel_x, control plane not connected)"
        );
        let json = report_json(&report, true);
        assert_eq!(json["ready"], false);
        assert_eq!(json["pid"], Value::Null);
    }
}
