//! The four threads that serve one child: stdin writer, stdout reader, stderr logger, exit waiter.
//! Never buffers a line past its bound, never logs without a budget, never blocks the reader on a caller.

use super::lifecycle::Control;
use super::route::route;
use super::Shared;
use crate::mcp::stdio::child::Spawned;
use crate::mcp::stdio::lineage;
use crate::mcp::stdio::lines::{preview, read_line_bounded, Line, RateLimit, MAX_LINE_BYTES};
use crossbeam_channel::{bounded, Receiver, Sender};
use serde_json::Value;
use std::io::{self, BufReader, Write};
use std::process::{ChildStderr, ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines queued for the child's stdin; a full queue pushes back on callers
/// within their deadlines.
const WRITE_QUEUE: usize = 256;
/// Longest stderr line kept (longer ones are cut), and how much of it is logged.
const STDERR_LINE_BYTES: usize = 64 * 1024;
const STDERR_LOG_BYTES: usize = 2048;
/// Log budget per child for stderr lines and for stdout lines that are not JSON.
const STDERR_LOG_BURST: u32 = 50;
const NOISE_LOG_BURST: u32 = 10;
const LOG_WINDOW: Duration = Duration::from_secs(10);

/// One line for the child's stdin; `ack` learns whether it was written.
pub(super) struct WriteJob {
    pub(super) line: Vec<u8>,
    pub(super) ack: Option<Sender<bool>>,
}

/// One JSON line, or `None` when it would exceed [`MAX_LINE_BYTES`].
pub(super) fn encode(message: &Value) -> Option<Vec<u8>> {
    let mut line = serde_json::to_vec(message).ok()?;
    if line.len() > MAX_LINE_BYTES {
        return None;
    }
    line.push(b'\n');
    Some(line)
}

/// A named thread body serving one pipe (or the exit) of a child.
type PipeThread = (&'static str, Box<dyn FnOnce() + Send>);

/// Starts the threads of a new child; returns its stdin queue. `reaped` is
/// set once the child has been waited for. On error the threads already
/// started end with the child.
pub(super) fn serve(
    shared: &Arc<Shared>,
    generation: u64,
    spawned: Spawned,
    reaped: &Arc<AtomicBool>,
) -> io::Result<Sender<WriteJob>> {
    let Spawned {
        mut child,
        pid,
        stdin,
        stdout,
        stderr,
    } = spawned;
    let (write_tx, write_rx) = bounded(WRITE_QUEUE);
    let threads: [PipeThread; 4] = [
        ("stdio-writer", {
            let control = shared.control.clone();
            Box::new(move || write_stdin(stdin, &write_rx, &control, generation))
        }),
        ("stdio-reader", {
            let shared = shared.clone();
            Box::new(move || read_stdout(&shared, stdout, generation))
        }),
        ("stdio-stderr", {
            let label = shared.label.clone();
            Box::new(move || read_stderr(&label, pid, stderr))
        }),
        ("stdio-waiter", {
            let control = shared.control.clone();
            let reaped = reaped.clone();
            Box::new(move || {
                let status = match child.wait() {
                    Ok(status) => status.to_string(),
                    Err(e) => format!("unknown ({e})"),
                };
                lineage::reaped(pid);
                reaped.store(true, Ordering::Release);
                let _ = control.send(Control::Exited { generation, status });
            })
        }),
    ];
    for (name, body) in threads {
        std::thread::Builder::new().name(name.into()).spawn(body)?;
    }
    Ok(write_tx)
}

fn write_stdin(
    mut stdin: ChildStdin,
    jobs: &Receiver<WriteJob>,
    control: &Sender<Control>,
    generation: u64,
) {
    for job in jobs.iter() {
        let ok = stdin
            .write_all(&job.line)
            .and_then(|_| stdin.flush())
            .is_ok();
        if let Some(ack) = job.ack {
            let _ = ack.try_send(ok);
        }
        if !ok {
            let _ = control.send(Control::StdinBroken { generation });
            return;
        }
    }
}

fn read_stdout(shared: &Arc<Shared>, stdout: ChildStdout, generation: u64) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    let mut noise = RateLimit::new(NOISE_LOG_BURST, LOG_WINDOW);
    loop {
        match read_line_bounded(&mut reader, &mut buf, MAX_LINE_BYTES) {
            Ok(Line::Complete) => {}
            Ok(Line::TooLong) => {
                if let Some(skipped) = noise.allow(Instant::now()) {
                    log::warn!(
                        "{}: dropped a stdout line longer than {MAX_LINE_BYTES} bytes ({skipped} similar lines not logged)",
                        shared.label
                    );
                }
                continue;
            }
            Ok(Line::Eof) | Err(_) => {
                let _ = shared.control.send(Control::StdoutClosed { generation });
                return;
            }
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&buf) {
            Ok(message) if message.is_object() => {
                let signal = route(
                    &mut shared.lock(),
                    generation,
                    message,
                    Instant::now(),
                    &shared.label,
                    &shared.telemetry,
                );
                if let Some(signal) = signal {
                    let _ = shared.control.try_send(signal);
                }
            }
            _ => {
                if let Some(skipped) = noise.allow(Instant::now()) {
                    log::warn!(
                        "{}: skipped a stdout line that is not a JSON-RPC message ({skipped} similar lines not logged): {}",
                        shared.label,
                        preview(&buf)
                    );
                }
            }
        }
    }
}

fn read_stderr(label: &str, pid: u32, stderr: ChildStderr) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    let mut limit = RateLimit::new(STDERR_LOG_BURST, LOG_WINDOW);
    loop {
        match read_line_bounded(&mut reader, &mut buf, STDERR_LINE_BYTES) {
            Ok(Line::Eof) | Err(_) => return,
            Ok(Line::TooLong) => buf.clear(),
            Ok(Line::Complete) => {}
        }
        if !log::log_enabled!(log::Level::Debug) {
            continue;
        }
        if let Some(skipped) = limit.allow(Instant::now()) {
            let cut = &buf[..buf.len().min(STDERR_LOG_BYTES)];
            let text = String::from_utf8_lossy(cut);
            if skipped > 0 {
                log::debug!("{label}: pid {pid} stderr: ({skipped} lines not logged)");
            }
            log::debug!("{label}: pid {pid} stderr: {}", text.trim_end());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encode_bounds_lines() {
        assert_eq!(encode(&json!({"a": 1})).unwrap(), b"{\"a\":1}\n".to_vec());
        let huge = json!({"x": "y".repeat(MAX_LINE_BYTES)});
        assert!(encode(&huge).is_none());
    }
}
