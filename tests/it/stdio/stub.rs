//! `tunnel-client dev mcp-stub` as a process: newline-delimited JSON-RPC on
//! stdin/stdout, concurrent requests, parse errors, draining at EOF, `crash`.

use crate::support::process::CLIENT;
use crate::support::WAIT;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;

fn stub() -> (Child, ChildStdin, mpsc::Receiver<Value>) {
    let mut child = Command::new(CLIENT)
        .args(["dev", "mcp-stub"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout: ChildStdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    (child, stdin, rx)
}

fn send(stdin: &mut ChildStdin, line: &str) {
    stdin.write_all(line.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
}

fn next(rx: &mpsc::Receiver<Value>) -> Value {
    rx.recv_timeout(WAIT).expect("an answer")
}

#[test]
fn a_slow_call_does_not_hold_up_others() {
    let (mut child, mut stdin, rx) = stub();
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"sleep","arguments":{"ms":1500}}}"#,
    );
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":"fast","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
    );
    let first = next(&rx);
    assert_eq!(first["id"], "fast", "{first}");
    assert_eq!(first["result"]["content"][0]["text"], "hi");
    let second = next(&rx);
    assert_eq!(second["id"], "slow");
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn parse_errors_unknown_methods_and_notifications() {
    let (mut child, mut stdin, rx) = stub();
    send(&mut stdin, "{not json");
    assert_eq!(
        next(&rx),
        json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})
    );
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":4,"method":"resources/list"}"#,
    );
    let unknown = next(&rx);
    assert_eq!(
        unknown["id"], 4,
        "the notification got no answer: {unknown}"
    );
    assert_eq!(unknown["error"]["code"], -32601);
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":5,"method":"initialize","params":{"protocolVersion":"2024-11-05"}}"#,
    );
    let init = next(&rx);
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(init["result"]["serverInfo"]["name"], "tunnel-client-stub");
    assert!(init["result"]["serverInfo"]["version"].is_string());
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn progress_then_result_and_answers_survive_stdin_closing() {
    let (mut child, mut stdin, rx) = stub();
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"progress","arguments":{"steps":2,"interval_ms":100},"_meta":{"progressToken":"t"}}}"#,
    );
    drop(stdin); // like `echo ... | tunnel-client dev mcp-stub`
    for step in 1..=2 {
        let note = next(&rx);
        assert_eq!(note["method"], "notifications/progress");
        assert_eq!(note["params"]["progressToken"], "t");
        assert_eq!(note["params"]["progress"], step);
    }
    assert_eq!(
        next(&rx)["result"]["content"][0]["text"],
        "completed 2 steps"
    );
    assert!(child.wait().unwrap().success());
}

#[test]
fn crash_exits_non_zero() {
    let (mut child, mut stdin, _rx) = stub();
    send(
        &mut stdin,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"crash","arguments":{}}}"#,
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
}
