//! HttpBackend against scripted MCP servers on 127.0.0.1: JSON and SSE answers,
//! header rules, acknowledgements, pass-through errors, every failure class, DELETE.

use crate::support::closed_port;
use crate::support::mcp::{call, call_with, CALL};
use crate::support::mcp_server::*;
use crossbeam_channel::bounded;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::time::{Duration, Instant};
use tunnel::contract::{FailureSource, Headers, TransportErrorKind, TunnelFailure};
use tunnel::mcp::http::{HttpBackend, DEFAULT_MAX_RESPONSE_BYTES};
use tunnel::mcp::{Backend, McpCall, McpReply};
use tunnel::net::{build_agent, Hop, NetConfig};

fn backend_for(url: &str) -> HttpBackend {
    let agent = build_agent(Hop::Mcp, url, &NetConfig::default()).unwrap();
    HttpBackend::new(url, agent).unwrap()
}

fn headers(pairs: &[(&str, &[&str])]) -> Headers {
    pairs
        .iter()
        .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
        .collect()
}

fn request(id: Value, method: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {"name": "echo", "arguments": {"text": "hi"}}})
}

fn failure(reply: McpReply) -> TunnelFailure {
    match reply {
        McpReply::Failed(f) | McpReply::HttpStatus { failure: f, .. } => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn kind_of(reply: McpReply) -> (FailureSource, TransportErrorKind) {
    let f = failure(reply);
    (f.source, f.transport_error_kind.unwrap())
}

#[test]
fn json_answer_with_response_header_allowlist() {
    let server = MockServer::start(|req, s| {
        let id = serde_json::from_slice::<Value>(&req.body).unwrap()["id"].clone();
        let body = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "result": {"ok": true}}))
            .unwrap();
        respond(
            s,
            200,
            &[
                ("Content-Type", "application/json"),
                ("Mcp-Session-Id", "sess-1"),
                ("Set-Cookie", "track=1"),
                ("X-Internal", "secret"),
                ("WWW-Authenticate", ""),
            ],
            &body,
        );
        Next::KeepAlive
    });
    let backend = backend_for(&server.url());
    let message = request(json!(1), "tools/call");
    let reply = call(&backend, &message);
    assert_eq!(
        reply,
        McpReply::Response {
            json: json!({"jsonrpc": "2.0", "id": 1, "result": {"ok": true}}),
            status: 200,
            headers: headers(&[
                ("Content-Type", &["application/json"]),
                ("Mcp-Session-Id", &["sess-1"])
            ]),
        }
    );
    let seen = server.only_request();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/mcp"));
    assert_eq!(seen.body, serde_json::to_vec(&message).unwrap());
    assert_eq!(seen.values("content-type"), ["application/json"]);
    assert_eq!(
        seen.values("accept"),
        ["application/json, text/event-stream"]
    );
    let status = backend.status();
    assert!(status.up);
    assert_eq!(status.detail, format!("http://{}", server.addr));
    server.assert_no_delete();
}

#[test]
fn calls_reuse_one_pooled_connection() {
    let server = MockServer::start(|req, s| {
        let id = serde_json::from_slice::<Value>(&req.body).unwrap()["id"].clone();
        respond_json(s, &json!({"jsonrpc": "2.0", "id": id, "result": {}}));
        Next::KeepAlive
    });
    let backend = backend_for(&server.url());
    for id in 0..5 {
        let reply = call(&backend, &request(json!(id), "ping"));
        assert!(
            matches!(reply, McpReply::Response { status: 200, .. }),
            "{reply:?}"
        );
    }
    assert_eq!(server.requests().len(), 5);
    assert_eq!(server.connections(), 1);
}

#[test]
fn sse_notifications_in_order_then_the_result_and_reading_stops() {
    let (closed_tx, closed_rx) = bounded(1);
    let server = MockServer::start(move |_, s| {
        start_sse(s);
        // A priming event (id, empty data) and a comment carry no message.
        chunk(s, b"id: prime-0\ndata:\n\n: keep-alive\n\n");
        for n in 1..=2 {
            let note = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": "t", "progress": n}});
            sse_event(s, &note);
        }
        sse_event(
            s,
            &json!({"jsonrpc": "2.0", "id": "abc", "result": {"content": []}}),
        );
        // Keep the stream open: the client must stop at the terminal message
        // by itself, and close the connection.
        closed_tx.send(wait_for_client_close(s)).unwrap();
        Next::Close
    });
    let backend = backend_for(&server.url());
    let (reply, notes) = call_with(
        &backend,
        &request(json!("abc"), "tools/call"),
        &Headers::new(),
        Instant::now() + CALL,
    );
    assert_eq!(
        reply,
        McpReply::Response {
            json: json!({"jsonrpc": "2.0", "id": "abc", "result": {"content": []}}),
            status: 200,
            headers: headers(&[("Content-Type", &["text/event-stream"])]),
        }
    );
    let progress: Vec<_> = notes
        .iter()
        .map(|n| n["params"]["progress"].clone())
        .collect();
    assert_eq!(progress, [json!(1), json!(2)]);
    assert!(
        closed_rx.recv_timeout(PATIENCE).unwrap(),
        "client kept the stream open"
    );
    server.assert_no_delete();
}

#[test]
fn sse_notification_is_delivered_before_the_stream_goes_on() {
    // The server sends one notification, then waits until the test's
    // on_notify has seen it before sending the result. A client that buffered
    // the stream would never see the notification, and would hit the deadline.
    let (seen_tx, seen_rx) = bounded::<()>(1);
    let server = MockServer::start(move |_, s| {
        start_sse(s);
        sse_event(
            s,
            &json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info"}}),
        );
        // Another message that is not this request's answer: a server request.
        sse_event(
            s,
            &json!({"jsonrpc": "2.0", "id": 99, "method": "sampling/createMessage"}),
        );
        if seen_rx.recv_timeout(PATIENCE).is_ok() {
            sse_event(
                s,
                &json!({"jsonrpc": "2.0", "id": 5, "result": {"done": true}}),
            );
            end_chunks(s);
        }
        Next::Close
    });
    let backend = backend_for(&server.url());
    let message = request(json!(5), "tools/call");
    let command_headers = Headers::new();
    let call = McpCall {
        message: &message,
        headers: &command_headers,
        deadline: Instant::now() + CALL,
    };
    let mut notes = Vec::new();
    let reply = backend.call(&call, &mut |n| {
        notes.push(n);
        if notes.len() == 2 {
            seen_tx.send(()).unwrap();
        }
    });
    assert!(
        matches!(&reply, McpReply::Response { json, .. } if json["result"]["done"] == true),
        "{reply:?}"
    );
    assert_eq!(notes[0]["method"], "notifications/message");
    assert_eq!(notes[1]["id"], 99);
}

#[test]
fn command_headers_forwarded_hop_by_hop_stripped_and_accept_overridable() {
    let server = MockServer::start(|req, s| {
        let id = serde_json::from_slice::<Value>(&req.body).unwrap()["id"].clone();
        respond_json(s, &json!({"jsonrpc": "2.0", "id": id, "result": {}}));
        Next::KeepAlive
    });
    let backend = backend_for(&server.url());
    let command = headers(&[
        ("X-Multi", &["a", "b"]),
        ("Mcp-Session-Id", &["sess-9"]),
        ("Mcp-Protocol-Version", &["2026-07-28"]),
        // The stateless style's mirrored headers (SEP-2243) pass through untouched.
        ("Mcp-Method", &["tools/call"]),
        ("Mcp-Name", &["echo"]),
        ("Authorization", &["Bearer caller-token"]),
        ("Connection", &["X-Hop"]),
        ("X-Hop", &["1"]),
        ("Keep-Alive", &["timeout=5"]),
        ("Proxy-Authorization", &["Basic eA=="]),
        ("Host", &["evil.example"]),
        ("TE", &["trailers"]),
        ("Upgrade", &["h2c"]),
        ("Content-Length", &["999"]),
    ]);
    let message = request(json!(1), "tools/call");
    let (reply, _) = call_with(&backend, &message, &command, Instant::now() + CALL);
    assert!(
        matches!(reply, McpReply::Response { status: 200, .. }),
        "{reply:?}"
    );
    let seen = server.only_request();
    assert_eq!(seen.values("x-multi"), ["a", "b"]);
    assert_eq!(seen.values("mcp-session-id"), ["sess-9"]);
    assert_eq!(seen.values("mcp-protocol-version"), ["2026-07-28"]);
    assert_eq!(seen.values("mcp-method"), ["tools/call"]);
    assert_eq!(seen.values("mcp-name"), ["echo"]);
    assert_eq!(seen.values("authorization"), ["Bearer caller-token"]);
    assert_eq!(
        seen.values("accept"),
        ["application/json, text/event-stream"]
    );
    assert_eq!(seen.values("host"), [server.addr.to_string()]);
    assert_eq!(
        seen.values("content-length"),
        [message.to_string().len().to_string()]
    );
    for gone in [
        "x-hop",
        "keep-alive",
        "proxy-authorization",
        "te",
        "upgrade",
    ] {
        assert!(seen.values(gone).is_empty(), "{gone} was forwarded");
    }
    assert!(!seen.values("connection").contains(&"X-Hop"));

    // The command's own Accept and Content-Type win over the defaults.
    let command = headers(&[
        ("accept", &["application/json"]),
        ("Content-Type", &["application/json; charset=utf-8"]),
    ]);
    let (reply, _) = call_with(
        &backend,
        &request(json!(2), "ping"),
        &command,
        Instant::now() + CALL,
    );
    assert!(
        matches!(reply, McpReply::Response { status: 200, .. }),
        "{reply:?}"
    );
    let seen = server.requests().pop().unwrap();
    assert_eq!(seen.values("accept"), ["application/json"]);
    assert_eq!(
        seen.values("content-type"),
        ["application/json; charset=utf-8"]
    );
}

#[test]
fn url_credentials_become_basic_auth_and_nothing_else() {
    let server = MockServer::start(|req, s| {
        let id = serde_json::from_slice::<Value>(&req.body).unwrap()["id"].clone();
        respond_json(s, &json!({"jsonrpc": "2.0", "id": id, "result": {}}));
        Next::KeepAlive
    });
    let url = format!("http://user:pw-s3cret@{}/mcp", server.addr);
    let backend = backend_for(&url);
    let reply = call(&backend, &request(json!(1), "ping"));
    assert!(
        matches!(reply, McpReply::Response { status: 200, .. }),
        "{reply:?}"
    );
    // base64("user:pw-s3cret")
    assert_eq!(
        server.only_request().values("authorization"),
        ["Basic dXNlcjpwdy1zM2NyZXQ="]
    );
    let status = backend.status();
    assert!(!status.detail.contains("s3cret") && !status.detail.contains("user"));
    assert!(!format!("{backend:?}").contains("s3cret"));
}

#[test]
fn notification_acknowledged_with_202_or_204() {
    for status in [202u16, 204] {
        let server = MockServer::start(move |_, s| {
            respond(s, status, &[("Mcp-Session-Id", "sess-2")], b"");
            Next::KeepAlive
        });
        let backend = backend_for(&server.url());
        let message = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (reply, notes) = call_with(&backend, &message, &Headers::new(), Instant::now() + CALL);
        assert_eq!(
            reply,
            McpReply::Accepted {
                status,
                headers: headers(&[("Mcp-Session-Id", &["sess-2"])])
            }
        );
        assert!(notes.is_empty());
        server.assert_no_delete();
    }
}

#[test]
fn jsonrpc_error_with_error_status_passes_through_exactly() {
    for status in [400u16, 404, 500] {
        let server = MockServer::start(move |_, s| {
            let body = br#"{"jsonrpc":"2.0","id":"q-1","error":{"code":-32602,"message":"Unknown tool","data":{"tool":"nope"}}}"#;
            respond(s, status, &[("Content-Type", "application/json")], body);
            Next::KeepAlive
        });
        let backend = backend_for(&server.url());
        let reply = call(&backend, &request(json!("q-1"), "tools/call"));
        assert_eq!(
            reply,
            McpReply::Response {
                json: json!({"jsonrpc": "2.0", "id": "q-1", "error": {"code": -32602, "message": "Unknown tool", "data": {"tool": "nope"}}}),
                status,
                headers: headers(&[("Content-Type", &["application/json"])]),
            }
        );
    }
}

#[test]
fn error_status_without_jsonrpc_error_is_target_http() {
    let cases: [(u16, &str, &[u8]); 3] = [
        (
            500,
            "text/html",
            b"<html><body>Internal Server Error</body></html>",
        ),
        (503, "application/json", br#"{"detail":"overloaded"}"#),
        // A JSON-RPC error for another id is not this request's answer.
        (
            400,
            "application/json",
            br#"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"m"}}"#,
        ),
    ];
    for (status, content_type, body) in cases {
        let server = MockServer::start(move |_, s| {
            respond(s, status, &[("Content-Type", content_type)], body);
            Next::KeepAlive
        });
        let backend = backend_for(&server.url());
        let reply = call(&backend, &request(json!(1), "tools/call"));
        // The answer's allowlisted headers go with the synthesized failure.
        let McpReply::HttpStatus { failure, headers } = reply else {
            panic!("expected an HTTP status failure, got {reply:?}");
        };
        assert_eq!(failure, TunnelFailure::target_http(status));
        assert_eq!(
            headers.get("Content-Type"),
            Some(&vec![content_type.to_string()])
        );
    }
}

#[test]
fn refused_port_is_connect_refused() {
    let port = closed_port();
    let backend = backend_for(&format!("http://127.0.0.1:{port}/mcp"));
    let f = failure(call(&backend, &request(json!(1), "ping")));
    assert_eq!(f.source, FailureSource::Connect);
    assert_eq!(
        f.transport_error_kind,
        Some(TransportErrorKind::ConnectionRefused)
    );
    assert!(!f.upstream_response_received);
    assert!(!backend.status().up);
    // Terminating a session on a dead server is a failure too, not an ack.
    let reply = backend.terminate_session(&Headers::new(), Instant::now() + CALL);
    assert_eq!(
        kind_of(reply),
        (
            FailureSource::Connect,
            TransportErrorKind::ConnectionRefused
        )
    );
}

#[test]
fn server_that_accepts_and_closes_is_transport_closed() {
    let server = MockServer::start(|_, _| Next::Close);
    let backend = backend_for(&server.url());
    let f = failure(call(&backend, &request(json!(1), "ping")));
    assert_eq!(f.source, FailureSource::TransportClosed, "{f:?}");
    assert!(!f.upstream_response_received);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn stream_cut_in_the_middle_of_a_body_is_transport_closed() {
    // The head promises 100 bytes; the server hangs up after 12.
    let server = MockServer::start(|_, s| {
        use std::io::Write;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":");
        Next::Close
    });
    let backend = backend_for(&server.url());
    let reply = call(&backend, &request(json!(1), "ping"));
    assert_eq!(
        kind_of(reply),
        (
            FailureSource::TransportClosed,
            TransportErrorKind::UnexpectedEof
        )
    );
}

#[test]
fn server_that_never_answers_expires_at_the_deadline() {
    let (closed_tx, closed_rx) = bounded(1);
    let server = MockServer::start(move |_, s| {
        closed_tx.send(wait_for_client_close(s)).unwrap();
        Next::Close
    });
    let backend = backend_for(&server.url());
    let deadline = Instant::now() + Duration::from_millis(300);
    let (reply, _) = call_with(
        &backend,
        &request(json!(1), "tools/call"),
        &Headers::new(),
        deadline,
    );
    assert_eq!(reply, McpReply::Expired);
    assert!(Instant::now() >= deadline);
    assert!(closed_rx.recv_timeout(PATIENCE).unwrap());

    // A deadline already past: no request at all.
    let (reply, _) = call_with(
        &backend,
        &request(json!(2), "ping"),
        &Headers::new(),
        Instant::now(),
    );
    assert_eq!(reply, McpReply::Expired);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn sse_that_stalls_after_a_notification_expires() {
    let server = MockServer::start(|_, s| {
        start_sse(s);
        sse_event(
            s,
            &json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}),
        );
        wait_for_client_close(s);
        Next::Close
    });
    let backend = backend_for(&server.url());
    let deadline = Instant::now() + Duration::from_millis(300);
    let (reply, notes) = call_with(
        &backend,
        &request(json!(1), "tools/call"),
        &Headers::new(),
        deadline,
    );
    assert_eq!(reply, McpReply::Expired);
    assert_eq!(notes.len(), 1);
}

#[test]
fn oversized_bodies_are_refused() {
    // Announced by Content-Length beyond the 16 MiB default: refused before reading.
    let server = MockServer::start(|_, s| {
        use std::io::Write;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            DEFAULT_MAX_RESPONSE_BYTES + 1
        );
        let _ = s.write_all(head.as_bytes());
        Next::Close
    });
    let reply = call(&backend_for(&server.url()), &request(json!(1), "ping"));
    assert_eq!(
        kind_of(reply),
        (
            FailureSource::Protocol,
            TransportErrorKind::ResponseBodyTooLarge
        )
    );

    // Chunked (no length announced), with a small limit.
    let server = MockServer::start(|_, s| {
        start_chunked(s, 200, &[("Content-Type", "application/json")]);
        chunk(s, br#"{"jsonrpc":"2.0","id":1,"result":{"big":""#);
        chunk(s, &[b'x'; 2048]);
        chunk(s, br#""}}"#);
        end_chunks(s);
        Next::Close
    });
    let backend = backend_for(&server.url()).with_max_response_bytes(1024);
    let reply = call(&backend, &request(json!(1), "ping"));
    assert_eq!(
        kind_of(reply),
        (
            FailureSource::Protocol,
            TransportErrorKind::ResponseBodyTooLarge
        )
    );

    // An SSE stream: one event too large, and many small events too many.
    for (events, size) in [(1usize, 2048usize), (40, 40)] {
        let server = MockServer::start(move |_, s| {
            start_sse(s);
            for _ in 0..events {
                let note = json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "y".repeat(size)}});
                sse_event(s, &note);
            }
            end_chunks(s);
            Next::Close
        });
        let backend = backend_for(&server.url()).with_max_response_bytes(1024);
        let (reply, _) = call_with(
            &backend,
            &request(json!(1), "ping"),
            &Headers::new(),
            Instant::now() + CALL,
        );
        assert_eq!(
            kind_of(reply),
            (
                FailureSource::Protocol,
                TransportErrorKind::ResponseBodyTooLarge
            )
        );
    }
}

#[test]
fn unusable_success_answers_are_protocol_failures() {
    use TransportErrorKind as K;
    let cases: [(&str, &[u8], K); 6] = [
        (
            "application/json",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,",
            K::MalformedJson,
        ),
        ("application/json", b"", K::ResponseBodyMissing),
        (
            "application/json",
            br#"{"hello":"world"}"#,
            K::NonProtocolResponse,
        ),
        (
            "application/json",
            br#"{"jsonrpc":"2.0","id":2,"result":{}}"#,
            K::InvalidProtocolResponse,
        ),
        (
            "application/json",
            br#"{"jsonrpc":"2.0","id":1,"error":{"message":7}}"#,
            K::InvalidMcpError,
        ),
        (
            "text/html",
            b"<html>login page</html>",
            K::NonProtocolResponse,
        ),
    ];
    for (content_type, body, want) in cases {
        let server = MockServer::start(move |_, s| {
            respond(s, 200, &[("Content-Type", content_type)], body);
            Next::KeepAlive
        });
        let f = failure(call(
            &backend_for(&server.url()),
            &request(json!(1), "ping"),
        ));
        assert_eq!(
            (f.source, f.transport_error_kind),
            (FailureSource::Protocol, Some(want))
        );
        assert!(f.upstream_response_received);
        assert_eq!(f.upstream_status, None);
    }
    // 202 to a request: the answer is missing.
    let server = MockServer::start(|_, s| {
        respond(s, 202, &[], b"");
        Next::KeepAlive
    });
    let reply = call(&backend_for(&server.url()), &request(json!(1), "ping"));
    assert_eq!(
        kind_of(reply),
        (FailureSource::Protocol, K::ResponseBodyMissing)
    );
}

#[test]
fn sse_without_the_terminal_message() {
    use TransportErrorKind as K;
    for (with_note, want) in [(true, K::UnexpectedEof), (false, K::ResponseBodyMissing)] {
        let server = MockServer::start(move |_, s| {
            start_sse(s);
            if with_note {
                sse_event(
                    s,
                    &json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}),
                );
            }
            chunk(s, b": bye\n\n");
            end_chunks(s);
            Next::Close
        });
        let (reply, notes) = call_with(
            &backend_for(&server.url()),
            &request(json!(1), "ping"),
            &Headers::new(),
            Instant::now() + CALL,
        );
        assert_eq!(kind_of(reply), (FailureSource::Protocol, want));
        assert_eq!(notes.len(), usize::from(with_note));
    }
    // An event whose data is not JSON.
    let server = MockServer::start(|_, s| {
        start_sse(s);
        chunk(s, b"data: not json\n\n");
        end_chunks(s);
        Next::Close
    });
    let reply = call(&backend_for(&server.url()), &request(json!(1), "ping"));
    assert_eq!(kind_of(reply), (FailureSource::Protocol, K::MalformedJson));
}

#[test]
fn delete_terminates_the_session_with_the_real_status() {
    for status in [204u16, 405] {
        let server = MockServer::start(move |_, s| {
            respond(
                s,
                status,
                &[("Mcp-Session-Id", "sess-7"), ("Content-Type", "text/plain")],
                b"",
            );
            Next::KeepAlive
        });
        let backend = backend_for(&server.url());
        let command = headers(&[
            ("Mcp-Session-Id", &["sess-7"]),
            ("Authorization", &["Bearer caller"]),
            ("Connection", &["X-Hop"]),
            ("X-Hop", &["1"]),
        ]);
        let reply = backend.terminate_session(&command, Instant::now() + CALL);
        assert_eq!(
            reply,
            McpReply::Accepted {
                status,
                headers: headers(&[
                    ("Content-Type", &["text/plain"]),
                    ("Mcp-Session-Id", &["sess-7"])
                ]),
            }
        );
        let seen = server.only_request();
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("DELETE", "/mcp")
        );
        assert_eq!(seen.values("mcp-session-id"), ["sess-7"]);
        assert_eq!(seen.values("authorization"), ["Bearer caller"]);
        assert!(seen.values("x-hop").is_empty());
        assert!(seen.body.is_empty());
    }
    let backend = backend_for("http://127.0.0.1:9/mcp");
    assert_eq!(
        backend.terminate_session(&Headers::new(), Instant::now()),
        McpReply::Expired
    );
}

#[test]
fn no_delete_on_any_other_path() {
    // One server answering every kind of call the backend makes, including
    // failures and an expiry; only POSTs may arrive.
    let server = MockServer::start(|req, s| {
        let message: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        match message["method"].as_str() {
            Some("ok") => respond_json(s, &json!({"jsonrpc": "2.0", "id": message["id"], "result": {}})),
            Some("sse") => {
                start_sse(s);
                sse_event(s, &json!({"jsonrpc": "2.0", "method": "notifications/progress"}));
                sse_event(s, &json!({"jsonrpc": "2.0", "id": message["id"], "result": {}}));
                end_chunks(s);
            }
            Some("notifications/cancelled") => respond(s, 202, &[], b""),
            Some("rpc-error") => respond(
                s,
                404,
                &[("Content-Type", "application/json")],
                format!(r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32001,"message":"Session not found"}}}}"#, message["id"]).as_bytes(),
            ),
            Some("html") => respond(s, 502, &[("Content-Type", "text/html")], b"<h1>bad gateway</h1>"),
            Some("hang") => {
                wait_for_client_close(s);
                return Next::Close;
            }
            _ => return Next::Close,
        }
        Next::KeepAlive
    });
    let backend = backend_for(&server.url());
    let with_session = headers(&[("Mcp-Session-Id", &["sess-x"])]);
    for (method, id, deadline) in [
        ("ok", Some(1), CALL),
        ("sse", Some(2), CALL),
        ("notifications/cancelled", None, CALL),
        ("rpc-error", Some(3), CALL),
        ("html", Some(4), CALL),
        ("hang", Some(5), Duration::from_millis(200)),
        ("close", Some(6), CALL),
    ] {
        let mut message = json!({"jsonrpc": "2.0", "method": method});
        if let Some(id) = id {
            message["id"] = json!(id);
        }
        let _ = call_with(&backend, &message, &with_session, Instant::now() + deadline);
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 7);
    assert!(requests.iter().all(|r| r.method == "POST"), "{requests:?}");
}

#[test]
fn connection_closed_by_the_server_while_idle_is_not_reused() {
    // Like a Node MCP server whose keep-alive timeout ends an idle connection:
    // the next call must open a new connection, not fail on the dead one.
    let (closed_tx, closed_rx) = bounded(2);
    let server = MockServer::start(move |req, s| {
        let id = serde_json::from_slice::<Value>(&req.body).unwrap()["id"].clone();
        respond_json(s, &json!({"jsonrpc": "2.0", "id": id, "result": {}}));
        let _ = s.shutdown(std::net::Shutdown::Both);
        closed_tx.send(()).unwrap();
        Next::Close
    });
    let backend = backend_for(&server.url());
    for id in 0..2 {
        let reply = call(&backend, &request(json!(id), "ping"));
        assert!(
            matches!(reply, McpReply::Response { status: 200, .. }),
            "{reply:?}"
        );
        closed_rx.recv_timeout(PATIENCE).unwrap();
    }
    assert_eq!(server.connections(), 2);
}

#[test]
fn command_header_with_a_line_break_fails_without_sending() {
    let server = MockServer::start(|_, s| {
        respond(s, 500, &[], b"");
        Next::KeepAlive
    });
    let backend = backend_for(&server.url());
    let command = headers(&[("X-Injected", &["a\r\nX-Evil: 1"])]);
    let (reply, _) = call_with(
        &backend,
        &request(json!(1), "ping"),
        &command,
        Instant::now() + CALL,
    );
    assert_eq!(
        kind_of(reply),
        (FailureSource::ClientInternal, TransportErrorKind::Unknown)
    );
    assert!(server.requests().is_empty());
}

#[test]
fn notification_refused_with_an_error_status_is_target_http() {
    let server = MockServer::start(|_, s| {
        let body =
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request"}}"#;
        respond(s, 400, &[("Content-Type", "application/json")], body);
        Next::KeepAlive
    });
    let message = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let reply = call(&backend_for(&server.url()), &message);
    assert_eq!(failure(reply), TunnelFailure::target_http(400));
}

#[test]
fn https_to_a_server_that_does_not_speak_tls_is_a_tls_failure() {
    // The server answers the ClientHello with plain HTTP, as a misconfigured
    // `https://` URL pointing at an http port would.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            wait_for_client_close(&mut stream);
        }
    });
    let backend = backend_for(&format!("https://{addr}/mcp"));
    let f = failure(call(&backend, &request(json!(1), "ping")));
    assert_eq!(
        (f.source, f.transport_error_kind),
        (FailureSource::Tls, Some(TransportErrorKind::Tls))
    );
    assert!(!backend.status().up);
}
