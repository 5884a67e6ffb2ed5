//! The HTTP form of the built-in stub (`mcp-stub --http`), over real sockets on
//! 127.0.0.1: JSON answers, SSE progress, 202/204/405, session id on initialize.

use crate::support::http::{read_response, Reply};
use serde_json::{json, Value};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let stub = tunnel::mcp::stub::bind_http("127.0.0.1:0").unwrap();
        let addr = stub.local_addr();
        std::thread::spawn(move || stub.serve());
        addr
    })
}

/// One HTTP/1.1 exchange on a fresh connection.
fn exchange(method: &str, body: &str, accept: &str) -> Reply {
    let mut stream = TcpStream::connect(server()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "{method} /mcp HTTP/1.1\r\nHost: stub\r\nContent-Type: application/json\r\nAccept: {accept}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    read_response(&mut BufReader::new(stream))
}

const BOTH: &str = "application/json, text/event-stream";

#[test]
fn initialize_returns_json_and_a_session_id() {
    let a = exchange(
        "POST",
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
        BOTH,
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Content-Type"), Some("application/json"));
    assert_eq!(a.header("Mcp-Session-Id").map(str::len), Some(32));
    assert_eq!(
        a.json()["result"]["serverInfo"]["name"],
        "tunnel-client-stub"
    );
    let b = exchange(
        "POST",
        r#"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{}}"#,
        BOTH,
    );
    assert_ne!(a.header("Mcp-Session-Id"), b.header("Mcp-Session-Id"));
}

#[test]
fn tool_calls_and_errors_answer_json() {
    let echo = exchange(
        "POST",
        r#"{"jsonrpc":"2.0","id":"e","method":"tools/call","params":{"name":"echo","arguments":{"text":"over http"}}}"#,
        BOTH,
    );
    assert_eq!(echo.status, 200);
    assert_eq!(echo.json()["result"]["content"][0]["text"], "over http");
    assert_eq!(echo.json()["id"], "e");
    let fail = exchange(
        "POST",
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fail","arguments":{"code":-32001,"message":"x"}}}"#,
        BOTH,
    );
    assert_eq!(fail.status, 200);
    assert_eq!(
        fail.json()["error"],
        json!({"code": -32001, "message": "x"})
    );
    let bad = exchange("POST", "{nope", BOTH);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], -32700);
}

#[test]
fn progress_streams_events_before_the_result() {
    let body = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"progress","arguments":{"steps":3},"_meta":{"progressToken":5}}}"#;
    let a = exchange("POST", body, BOTH);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("Content-Type"), Some("text/event-stream"));
    let text = a.body;
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.len(), 4, "{text}");
    for (i, e) in events[..3].iter().enumerate() {
        assert_eq!(e["method"], "notifications/progress");
        assert_eq!(e["params"]["progressToken"], 5);
        assert_eq!(e["params"]["progress"], i + 1);
    }
    assert_eq!(events[3]["id"], 9);
    assert_eq!(
        events[3]["result"]["content"][0]["text"],
        "completed 3 steps"
    );
    // A client that accepts only JSON gets the result alone.
    let plain = exchange("POST", body, "application/json");
    assert_eq!(plain.header("Content-Type"), Some("application/json"));
    assert_eq!(plain.json()["id"], 9);
}

#[test]
fn notifications_delete_and_get() {
    assert_eq!(
        exchange(
            "POST",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            BOTH
        )
        .status,
        202
    );
    assert_eq!(exchange("DELETE", "", BOTH).status, 204);
    assert_eq!(exchange("GET", "", "text/event-stream").status, 405);
}
