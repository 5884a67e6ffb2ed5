//! Test HTTP CONNECT proxy on 127.0.0.1: optional Basic auth, refusal modes,
//! and a record of every CONNECT it saw (target and Proxy-Authorization).
//! Test-only: it must never be used outside tests/.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest CONNECT head the proxy reads.
const MAX_HEAD: usize = 16 * 1024;
/// Socket timeouts and the longest a test waits for a record.
const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Tunnel every CONNECT.
    Open,
    /// Tunnel only with `Proxy-Authorization: Basic <expected>`; else 407.
    Basic { expected: String },
    /// Answer every CONNECT with this status (403, 502, ...).
    Refuse(u16),
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The request line, e.g. `CONNECT 127.0.0.1:4443 HTTP/1.1`.
    pub request_line: String,
    /// The Proxy-Authorization header value, if any.
    pub authorization: Option<String>,
    /// The status the proxy answered.
    pub status: u16,
}

impl Seen {
    /// The CONNECT target (`host:port`).
    pub fn target(&self) -> &str {
        self.request_line.split(' ').nth(1).unwrap_or_default()
    }
}

pub struct ConnectProxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl ConnectProxy {
    pub fn start(mode: Mode) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (mode, seen) = (mode.clone(), seen2.clone());
                thread::spawn(move || handle(stream, &mode, &seen));
            }
        });
        ConnectProxy { addr, seen, stop }
    }

    /// `http://127.0.0.1:PORT`, optionally with `user:pass@`.
    pub fn url(&self, userinfo: Option<&str>) -> String {
        match userinfo {
            Some(u) => format!("http://{u}@{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` requests were recorded.
    pub fn wait_for(&self, n: usize) -> Vec<Seen> {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen = self.seen();
            if seen.len() >= n || Instant::now() > deadline {
                return seen;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn handle(mut client: TcpStream, mode: &Mode, seen: &Mutex<Vec<Seen>>) {
    let _ = client.set_read_timeout(Some(WAIT));
    let _ = client.set_write_timeout(Some(WAIT));
    let Some(head) = read_head(&mut client) else {
        return;
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, value)| value.trim().to_string());
    let is_connect = request_line.starts_with("CONNECT ");
    let target = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();

    let mut upstream = None;
    let status = match mode {
        _ if !is_connect => 405,
        Mode::Refuse(status) => *status,
        Mode::Basic { expected }
            if authorization.as_deref() != Some(&format!("Basic {expected}")) =>
        {
            407
        }
        _ => match TcpStream::connect(&target) {
            Ok(s) => {
                upstream = Some(s);
                200
            }
            Err(_) => 502,
        },
    };
    seen.lock().unwrap().push(Seen {
        request_line,
        authorization,
        status,
    });

    let reason = match status {
        200 => "Connection established",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        502 => "Bad Gateway",
        _ => "Refused",
    };
    let extra = if status == 407 {
        "Proxy-Authenticate: Basic realm=\"test\"\r\n"
    } else {
        ""
    };
    let length = if status == 200 {
        ""
    } else {
        "Content-Length: 0\r\n"
    };
    let answer = format!("HTTP/1.1 {status} {reason}\r\n{extra}{length}\r\n");
    if client.write_all(answer.as_bytes()).is_err() {
        return;
    }
    let Some(upstream) = upstream else {
        return;
    };
    // Tunnel both ways until either side closes.
    let _ = client.set_read_timeout(None);
    let (Ok(mut client_r), Ok(mut upstream_w)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let forward = thread::spawn(move || {
        let _ = std::io::copy(&mut client_r, &mut upstream_w);
        let _ = upstream_w.shutdown(Shutdown::Write);
    });
    let mut upstream_r = upstream;
    let _ = std::io::copy(&mut upstream_r, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = forward.join();
}

fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    String::from_utf8(head).ok()
}
