//! Harpoon against an attacker who controls tool arguments (and sometimes the upstream's
//! answers): every H-rule, path and header trick, redirect escapes, oversize and slow answers.
//! Each case checks the answer AND what the upstream saw (often: no connection at all).

use crate::support::harpoon::*;
use crate::support::harpoon_upstream::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tunnel::mcp::harpoon::inflate::gzip_stored;
use tunnel::mcp::harpoon::{validate, Outcome, RawSettings, RawTarget, UNKNOWN_TARGET};
use tunnel::mcp::McpReply;

/// `api` → `http://127.0.0.1:PORT/api/` on a fresh upstream answering with `handler`.
fn api(handler: Handler) -> (Upstream, tunnel::mcp::harpoon::Harpoon, Arc<Recorder>) {
    let up = Upstream::http(handler);
    let (h, rec) = harpoon(plain(vec![target(
        "api",
        &format!("http://127.0.0.1:{}/api/", up.port()),
    )]));
    (up, h, rec)
}

fn callout(path: &str) -> Value {
    json!({"target": "api", "path": path, "method": "GET"})
}

// ---------------------------------------------------------------- H3 paths

/// H3: each path trick is refused with its reason, and nothing is connected.
#[test]
fn h3_path_tricks_never_reach_the_upstream() {
    let (up, h, rec) = api(ok("fine"));
    let cases = [
        ("//evil.example/x", "scheme-relative"),
        ("http://169.254.169.254/latest", "not absolute"),
        ("relative/x", "not absolute"),
        ("/../secret", "dot segment"),
        ("/v1/../../secret", "dot segment"),
        ("/%2e%2e/secret", "dot segment"),
        ("/%2E%2e%2Fsecret", "encoded separator"),
        ("/..;/secret", "dot segment"),
        ("/.%2e/secret", "dot segment"),
        ("/..%00/secret", "encoded separator"),
        ("/a%2fb", "encoded separator"),
        ("/a%5c..%5csecret", "encoded separator"),
        ("/%252e%252e/secret", "double encoding"),
        ("/a\\..\\secret", "forbidden character"),
        ("/@169.254.169.254/x", "forbidden character"),
        ("/x#@evil", "forbidden character"),
        (
            "/x HTTP/1.1\r\nHost: evil\r\n\r\nGET /",
            "forbidden character",
        ),
        ("/caf\u{e9}", "forbidden character"),
        ("/%ef%bc%8e%ef%bc%8e/secret", "dot segment"),
        ("/%c0%ae%c0%ae/secret", "dot segment"),
        ("/x%0d%0aHost:%20evil", "dot segment"),
        ("/%zz", "malformed escape"),
        ("/x?%", "malformed escape"),
    ];
    for (path, reason) in cases {
        let text = refusal(&h, "http_callout", callout(path));
        assert_eq!(
            text,
            format!("label api: invalid path: {reason}"),
            "{path:?}"
        );
        assert_eq!(rec.last().outcome, Outcome::InvalidInput);
    }
    assert_eq!(up.connections(), 0);
}

/// H4: the request line is the base path (trailing `/` dropped) plus the path, byte for byte.
#[test]
fn h4_request_target_is_byte_for_byte() {
    let (up, h, _rec) = api(ok("fine"));
    success(
        &h,
        "http_callout",
        callout("/v1/x;p=1?next=/a@b?c&e=%25&u=%2f"),
    );
    let got = up.wait_requests(1);
    assert_eq!(
        got[0].request_line(),
        "GET /api/v1/x;p=1?next=/a@b?c&e=%25&u=%2f HTTP/1.1"
    );
}

// ---------------------------------------------------------------- H1 / schema

/// H1: no argument sets a URL, host or port; unknown properties are schema errors.
#[test]
fn h1_no_argument_can_name_a_url() {
    let (up, h, rec) = api(ok("fine"));
    for args in [
        json!({"target": "api", "path": "/x", "method": "GET", "url": "http://169.254.169.254/"}),
        json!({"target": "api", "path": "/x", "method": "GET", "host": "evil"}),
        json!({"target": "api", "path": "/x", "method": "GET", "port": 22}),
        json!({"label": "api", "method": "GET", "base_url": "http://evil/"}),
    ] {
        let tool = if args.get("label").is_some() {
            "call_target"
        } else {
            "http_callout"
        };
        let message = invalid_params(&h, tool, args);
        assert!(
            message.starts_with("invalid params: validating \"arguments\": "),
            "{message}"
        );
        assert!(
            message.contains("unexpected additional properties"),
            "{message}"
        );
        assert_eq!(rec.last().outcome, Outcome::InvalidInput);
    }
    // A label that looks like a URL never passes the label pattern.
    let message = invalid_params(
        &h,
        "call_target",
        json!({"label": "http://169.254.169.254", "method": "GET"}),
    );
    assert!(message.contains("pattern"), "{message}");
    assert_eq!(up.connections(), 0);
}

#[test]
fn unknown_targets_and_tools_are_refused_without_a_connection() {
    let (up, h, rec) = api(ok("fine"));
    assert_eq!(
        refusal(
            &h,
            "http_callout",
            json!({"target": "nope", "path": "/", "method": "GET"})
        ),
        "label nope: unknown target"
    );
    assert_eq!(rec.last().target, UNKNOWN_TARGET);
    assert_eq!(rec.last().outcome, Outcome::InvalidInput);
    assert_eq!(
        invalid_params(&h, "fetch", json!({"url": "http://evil/"})),
        "unknown tool \"fetch\""
    );
    assert_eq!(rec.last().tool, UNKNOWN_TARGET);
    assert_eq!(up.connections(), 0);
}

/// A `tools/call` sent as a notification (no id) is acknowledged and never performed.
#[test]
fn a_tools_call_notification_makes_no_request() {
    let (up, h, rec) = api(ok("fine"));
    let mut message = message("http_callout", callout("/x"));
    message.as_object_mut().unwrap().remove("id");
    match send(&h, &message, Instant::now() + GENEROUS) {
        McpReply::Accepted { status, headers } => {
            assert_eq!(status, 200);
            assert!(headers.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(up.connections(), 0);
    assert!(rec.all().is_empty());
}

// ---------------------------------------------------------------- H5 methods

#[test]
fn h5_methods_outside_the_allowlist_never_leave() {
    let up = Upstream::http(ok("fine"));
    let (h, rec) = harpoon(plain(vec![RawTarget {
        allowed_methods: Some(vec!["GET".into()]),
        ..target("api", &format!("http://127.0.0.1:{}/", up.port()))
    }]));
    for method in ["DELETE", "POST", "PUT", "PATCH", "OPTIONS", "HEAD"] {
        assert_eq!(
            refusal(
                &h,
                "http_callout",
                json!({"target": "api", "path": "/x", "method": method})
            ),
            "label api: method not allowed",
            "{method}"
        );
        assert_eq!(rec.last().outcome, Outcome::Refused);
    }
    assert_eq!(
        refusal(&h, "call_target", json!({"label": "api", "method": "POST"})),
        "label api: method not allowed"
    );
    // Methods outside a tool's enum are schema errors.
    assert!(invalid_params(
        &h,
        "call_target",
        json!({"label": "api", "method": "DELETE"})
    )
    .contains("enum"));
    assert!(invalid_params(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/", "method": "TRACE"})
    )
    .contains("enum"));
    assert!(invalid_params(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/", "method": "get"})
    )
    .contains("enum"));
    assert_eq!(up.connections(), 0);
}

/// H5 on every hop: a 303 turns POST into GET, which this target does not allow.
#[test]
fn h5_the_method_is_checked_again_after_a_redirect() {
    let up = Upstream::http(redirect(303, "/api/done"));
    let (h, rec) = harpoon(plain(vec![RawTarget {
        allowed_methods: Some(vec!["POST".into()]),
        ..target("api", &format!("http://127.0.0.1:{}/api", up.port()))
    }]));
    let text = refusal(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/submit", "method": "POST", "body": "x=1"}),
    );
    assert_eq!(text, "label api: method not allowed");
    assert_eq!(rec.last().status, Some(303));
    assert_eq!(up.connections(), 1, "the GET hop never left");
}

// ---------------------------------------------------------------- H6 headers

/// H6: framing, cookie, proxy, identity and Connection-named headers are dropped
/// silently; what the upstream receives is exactly our head plus the rest.
#[test]
fn h6_dropped_headers_never_reach_the_upstream() {
    let (up, h, rec) = api(ok("fine"));
    let headers = json!({
        "Host": "169.254.169.254",
        "Cookie": "session=stolen",
        "User-Agent": "curl/8",
        "Accept-Encoding": "br",
        "Content-Length": "999",
        "Transfer-Encoding": "chunked",
        "TE": "trailers",
        "Trailer": "X",
        "Upgrade": "h2c",
        "Keep-Alive": "timeout=1",
        "Connection": "keep-alive, X-Hop-Secret",
        "X-Hop-Secret": "named by Connection",
        "Forwarded": "for=1.2.3.4",
        "Via": "1.1 evil",
        "X-Forwarded-For": "127.0.0.1",
        "X-Forwarded-Host": "evil",
        "X-Real-IP": "127.0.0.1",
        "True-Client-IP": "127.0.0.1",
        "CF-Connecting-IP": "127.0.0.1",
        "X-Client-IP": "127.0.0.1",
        "X-Cluster-Client-IP": "127.0.0.1",
        "X-Original-Forwarded-For": "127.0.0.1",
        "X-Envoy-External-Address": "127.0.0.1",
        "X-Tunnel-Traffic-Source": "internal",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-OpenAI-Internal": "1",
        "X-Custom-CF-Witness-Foo": "1",
        "X-HTTP-Method-Override": "DELETE",
        "X-Method-Override": "DELETE",
        "X-Original-URL": "/admin",
        "X-Rewrite-URL": "/admin",
        "X-HTTP-Host-Override": "admin.internal",
        "Authorization": "Bearer caller-token",
        "Accept": "application/json",
        "X-Request-Id": "abc",
    });
    success(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/x", "method": "POST", "headers": headers, "body": "{}"}),
    );
    let got = up.wait_requests(1);
    let port = up.port();
    // Caller headers arrive in name order (a JSON object is a sorted map here).
    assert_eq!(
        got[0].head,
        format!(
            "POST /api/x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: tunnel-client-rs/{}\r\n\
             Accept-Encoding: gzip\r\nAccept: application/json\r\nAuthorization: Bearer caller-token\r\n\
             X-Request-Id: abc\r\nContent-Length: 2\r\nConnection: close",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(got[0].body, b"{}");
    assert_eq!(rec.last().dropped_headers, 32);
}

#[test]
fn h6_header_injection_and_case_duplicates_are_refused() {
    let (up, h, rec) = api(ok("fine"));
    for headers in [
        json!({"X-A": "v\r\nHost: evil"}),
        json!({"X-A": "v\nX-B: 1"}),
        json!({"X-A": "v\rX"}),
        json!({"X-A": "v\u{0}"}),
        json!({"X-A": "v\u{b}"}),
        json!({"Cookie": "a\r\nb"}),
        json!({"X-Token": "1", "x-token": "2"}),
        json!({"Authorization": "a", "AUTHORIZATION": "b"}),
    ] {
        assert_eq!(
            refusal(
                &h,
                "http_callout",
                json!({"target": "api", "path": "/x", "method": "GET", "headers": headers})
            ),
            "label api: invalid header"
        );
        assert_eq!(rec.last().outcome, Outcome::InvalidInput);
    }
    for name in ["X A", "X-A:", "X\r\nY", "", "(x)"] {
        let message = invalid_params(
            &h,
            "call_target",
            json!({"label": "api", "method": "GET", "headers": {name: "v"}}),
        );
        assert!(message.contains("propertyNames"), "{name:?}: {message}");
    }
    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("X-H{i}"), json!("v"))).collect();
    assert_eq!(
        refusal(
            &h,
            "http_callout",
            json!({"target": "api", "path": "/x", "method": "GET", "headers": many})
        ),
        "label api: request headers too large"
    );
    assert_eq!(
        refusal(
            &h,
            "call_target",
            json!({"label": "api", "method": "GET", "headers": {"X-Big": "a".repeat(17 * 1024)}})
        ),
        "label api: request headers too large"
    );
    assert_eq!(up.connections(), 0);
}

// ---------------------------------------------------------------- H7 / H8 sizes

#[test]
fn h7_oversized_bodies_are_never_sent() {
    let up = Upstream::http(ok("fine"));
    let (h, rec) = harpoon(plain(vec![RawTarget {
        max_request_size_bytes: Some(10),
        ..target("api", &format!("http://127.0.0.1:{}/", up.port()))
    }]));
    for tool in ["http_callout", "call_target"] {
        let args = if tool == "call_target" {
            json!({"label": "api", "method": "POST", "body": "x".repeat(11)})
        } else {
            json!({"target": "api", "path": "/", "method": "POST", "body": "x".repeat(11)})
        };
        assert_eq!(
            refusal(&h, tool, args),
            "label api: request body exceeds size limit"
        );
        assert_eq!(rec.last().outcome, Outcome::Refused);
    }
    assert_eq!(up.connections(), 0);
    // Exactly at the limit passes; multi-byte characters count as bytes.
    success(
        &h,
        "call_target",
        json!({"label": "api", "method": "POST", "body": "x".repeat(10)}),
    );
    assert_eq!(
        refusal(
            &h,
            "call_target",
            json!({"label": "api", "method": "POST", "body": "\u{e9}".repeat(6)})
        ),
        "label api: request body exceeds size limit"
    );
    assert_eq!(up.connections(), 1);
}

/// H8: over the cap → refused whole, whatever the framing; never a partial body.
#[test]
fn h8_oversized_answers_are_refused_whole() {
    let big = vec![b'a'; 2000];
    let framings: Vec<(&str, Handler)> = vec![
        ("content-length", {
            let big = big.clone();
            Arc::new(move |_| Action::Send(respond(200, &[], &big)))
        }),
        ("chunked", {
            let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for _ in 0..20 {
                chunked.extend_from_slice(b"64\r\n");
                chunked.extend_from_slice(&[b'a'; 100]);
                chunked.extend_from_slice(b"\r\n");
            }
            chunked.extend_from_slice(b"0\r\n\r\n");
            Arc::new(move |_| Action::Send(chunked.clone()))
        }),
        ("until-close", {
            let mut raw = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
            raw.extend_from_slice(&big);
            Arc::new(move |_| Action::Send(raw.clone()))
        }),
        (
            "huge content-length",
            Arc::new(|_| {
                Action::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\naaaa".to_vec())
            }),
        ),
        ("gzip, too big even compressed", {
            let stored = gzip_stored(&vec![0u8; 200_000]);
            Arc::new(move |_| Action::Send(respond(200, &[("Content-Encoding", "gzip")], &stored)))
        }),
        ("gzip bomb", {
            let bomb = gzip_bomb(100); // 25 801 bytes from ~170
            assert!(
                bomb.len() < 1000 + 125 + 1024,
                "the bomb fits the compressed allowance"
            );
            Arc::new(move |_| Action::Send(respond(200, &[("Content-Encoding", "gzip")], &bomb)))
        }),
    ];
    for (name, handler) in framings {
        let up = Upstream::http(handler);
        let (h, rec) = harpoon(plain(vec![RawTarget {
            max_response_size_bytes: Some(1000),
            ..target("api", &format!("http://127.0.0.1:{}/", up.port()))
        }]));
        assert_eq!(
            refusal(
                &h,
                "http_callout",
                json!({"target": "api", "path": "/", "method": "GET"})
            ),
            "label api: response exceeds size limit",
            "{name}"
        );
        assert_eq!(rec.last().outcome, Outcome::ResponseTooLarge, "{name}");
        assert_eq!(rec.last().status, Some(200), "{name}");
        assert_eq!(rec.last().bytes, 0, "{name}");
    }
}

#[test]
fn gzip_answers_are_decoded_then_capped() {
    let (_up, h, rec) = api(Arc::new(|_| {
        Action::Send(respond(
            200,
            &[("Content-Encoding", "gzip"), ("Content-Type", "text/plain")],
            &gzip_bomb(3),
        ))
    }));
    let out = success(&h, "http_callout", callout("/x"));
    assert_eq!(out["body"], "\u{0}".repeat(1 + 258 * 3));
    assert_eq!(out["body_size_bytes"], 1 + 258 * 3);
    // Content-Encoding and Content-Length describe bytes the caller never sees.
    assert_eq!(out["headers"], json!({"Content-Type": ["text/plain"]}));
    assert_eq!(rec.last().bytes, 1 + 258 * 3);
}

#[test]
fn h8_a_caller_may_lower_the_cap_but_never_raise_it() {
    let up = Upstream::http(ok("0123456789"));
    let (h, rec) = harpoon(plain(vec![
        RawTarget {
            max_response_size_bytes: Some(100),
            ..target("small", &format!("http://127.0.0.1:{}/", up.port()))
        },
        RawTarget {
            max_response_size_bytes: Some(5000),
            ..target("large", &format!("http://127.0.0.1:{}/", up.port()))
        },
    ]));
    assert_eq!(
        refusal(
            &h,
            "call_target",
            json!({"label": "small", "method": "GET", "max_response_bytes": 101})
        ),
        "label small: max_response_bytes must be less than or equal to 100"
    );
    assert_eq!(rec.last().outcome, Outcome::Refused);
    assert!(invalid_params(
        &h,
        "call_target",
        json!({"label": "small", "method": "GET", "max_response_bytes": 5001})
    )
    .contains("maximum: got 5001, want 5000"));
    assert_eq!(up.connections(), 0);
    assert_eq!(
        refusal(
            &h,
            "call_target",
            json!({"label": "large", "method": "GET", "max_response_bytes": 9})
        ),
        "label large: response exceeds size limit"
    );
    let out = success(
        &h,
        "call_target",
        json!({"label": "large", "method": "GET", "max_response_bytes": 10}),
    );
    assert_eq!(body_of(&out), b"0123456789");
}

#[test]
fn h8_corrupt_gzip_is_a_read_failure() {
    let mut broken = gzip_stored(b"hello");
    let n = broken.len();
    broken[n - 6] ^= 0xff;
    let (_up, h, rec) = api(Arc::new(move |_| {
        Action::Send(respond(200, &[("Content-Encoding", "gzip")], &broken))
    }));
    assert_eq!(
        refusal(&h, "http_callout", callout("/x")),
        "label api: response read failed"
    );
    assert_eq!(rec.last().outcome, Outcome::ResponseReadError);
}

// ---------------------------------------------------------------- H9 deadline

#[test]
fn h9_a_silent_upstream_costs_at_most_the_timeout() {
    let (up, h, rec) = api(Arc::new(|_| Action::Hang));
    let started = Instant::now();
    let text = refusal(
        &h,
        "call_target",
        json!({"label": "api", "method": "GET", "timeout_ms": 300}),
    );
    assert_eq!(text, "label api: request failed");
    assert_eq!(rec.last().outcome, Outcome::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(up.connections(), 1);
    assert_eq!(
        refusal(
            &h,
            "call_target",
            json!({"label": "api", "method": "GET", "timeout_ms": 30001})
        ),
        "label api: timeout must be at most 30000ms"
    );
}

/// A body that trickles in one byte at a time cannot outlive the deadline.
#[test]
fn h9_a_trickling_body_is_cut_at_the_deadline() {
    let up = Upstream::http(Arc::new(|_| {
        Action::Trickle(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec(),
            vec![b'a'; 100],
            Duration::from_millis(100),
        )
    }));
    let (h, rec) = harpoon(plain(vec![RawTarget {
        timeout_seconds: Some(1),
        ..target("api", &format!("http://127.0.0.1:{}/", up.port()))
    }]));
    let started = Instant::now();
    assert_eq!(
        refusal(
            &h,
            "http_callout",
            json!({"target": "api", "path": "/", "method": "GET"})
        ),
        "label api: timeout"
    );
    assert_eq!(rec.last().outcome, Outcome::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The command's deadline wins over the call's own: the dispatcher gets `Expired`.
#[test]
fn h9_the_command_deadline_cuts_the_call() {
    let (_up, h, rec) = api(Arc::new(|_| Action::Hang));
    let started = Instant::now();
    let reply = send(
        &h,
        &message("http_callout", callout("/x")),
        Instant::now() + Duration::from_millis(300),
    );
    assert_eq!(reply, McpReply::Expired);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(rec.last().outcome, Outcome::Timeout);
}

/// `notifications/cancelled` aborts the call in flight at once.
#[test]
fn a_cancelled_call_ends_at_once() {
    let (up, h, rec) = api(Arc::new(|_| Action::Hang));
    let h = Arc::new(h);
    let call = message("http_callout", callout("/x"));
    let id = call["id"].clone();
    let worker = {
        let h = h.clone();
        std::thread::spawn(move || rpc(&h, &call))
    };
    up.wait_requests(1);
    let started = Instant::now();
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id, "reason": "user"}});
    assert!(matches!(
        send(&h, &cancel, Instant::now() + GENEROUS),
        McpReply::Accepted { status: 200, .. }
    ));
    let answer = worker.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(answer["result"]["isError"], true);
    assert_eq!(
        answer["result"]["content"][0]["text"],
        "label api: request failed"
    );
    assert_eq!(rec.last().outcome, Outcome::RequestError);
}

// ---------------------------------------------------------------- H10 redirects

/// H10: a redirect to the metadata service is blocked; the upstream saw one
/// request and nothing else was contacted.
#[test]
fn h10_redirects_to_metadata_are_blocked() {
    for location in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "//169.254.169.254/latest",
        "http://[fd00:ec2::254]/latest",
        "http://100.100.100.200/latest",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://0251.0376.0251.0376/",
        "http://2852039166/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://127.0.0.1:1@169.254.169.254/",
        "http://169.254.169.254%23@127.0.0.1/",
    ] {
        for tool in ["call_target", "http_callout"] {
            let (up, h, rec) = api(redirect(302, location));
            let args = if tool == "call_target" {
                json!({"label": "api", "method": "GET"})
            } else {
                callout("/x")
            };
            assert_eq!(
                refusal(&h, tool, args),
                "label api: redirect blocked",
                "{location}"
            );
            assert_eq!(rec.last().outcome, Outcome::RedirectBlocked);
            assert_eq!(rec.last().status, Some(302));
            assert_eq!(up.connections(), 1, "{location}");
        }
    }
}

/// H10: other origins and paths outside the base are blocked; nothing reaches them.
#[test]
fn h10_redirects_leave_neither_origin_nor_base_path() {
    let other = Upstream::http(ok("other"));
    let other_port = other.port();
    for location in [
        format!("http://127.0.0.1:{other_port}/api/x"),
        format!("http://localhost:{other_port}/api/x"),
        "/admin".to_string(),
        "/apix".to_string(),
        "/api/../admin".to_string(),
        "../admin".to_string(),
        "/api/%2e%2e/admin".to_string(),
        "/api/a%2fb".to_string(),
        "/api/\u{e9}".to_string(),
        "ftp://127.0.0.1/api/".to_string(),
        "http://user:pw@127.0.0.1/api/x".to_string(),
    ] {
        let (up, h, _rec) = api(redirect(301, &location));
        assert_eq!(
            refusal(&h, "http_callout", callout("/x")),
            "label api: redirect blocked",
            "{location}"
        );
        assert_eq!(up.connections(), 1, "{location}");
    }
    assert_eq!(other.connections(), 0);
}

/// H10: http_callout may follow a redirect that stays under the base path.
#[test]
fn h10_redirects_under_the_base_path_are_followed() {
    let up = Upstream::http(Arc::new(|r: &Received| {
        if r.request_line().starts_with("GET /api/old") {
            Action::Send(respond(301, &[("Location", "new?x=1")], b""))
        } else {
            Action::Send(respond(200, &[], b"arrived"))
        }
    }));
    let (h, _rec) = harpoon(plain(vec![target(
        "api",
        &format!("http://127.0.0.1:{}/api/", up.port()),
    )]));
    let out = success(&h, "http_callout", callout("/old"));
    assert_eq!(out["body"], "arrived");
    let got = up.wait_requests(2);
    assert_eq!(got[1].request_line(), "GET /api/new?x=1 HTTP/1.1");
    // call_target follows only exact target URLs: the same redirect is blocked.
    let (up2, h2, _) = api(redirect(301, "/api/new"));
    assert_eq!(
        refusal(&h2, "call_target", json!({"label": "api", "method": "GET"})),
        "label api: redirect blocked"
    );
    assert_eq!(up2.connections(), 1);
}

/// H10: a hop to another target's exact URL is followed; the origin changed, so
/// Authorization is dropped; 303 makes the POST a bodiless GET.
#[test]
fn h10_cross_target_hops_drop_authorization_and_body() {
    let second = Upstream::http(ok("token issued"));
    let second_url = format!("http://localhost:{}/oauth/token", second.port());
    let first = Upstream::http(redirect(
        303,
        &second_url
            .to_uppercase()
            .replace("/OAUTH/TOKEN", "/oauth/token"),
    ));
    let (h, rec) = harpoon(plain(vec![
        target("api", &format!("http://127.0.0.1:{}/start", first.port())),
        target("token", &second_url),
    ]));
    let out = success(
        &h,
        "call_target",
        json!({"label": "api", "method": "POST", "body": "secret=1",
               "headers": {"Authorization": "Bearer s3cret", "Content-Type": "application/x-www-form-urlencoded", "X-Keep": "1"}}),
    );
    assert_eq!(body_of(&out), b"token issued");
    let got = first.wait_requests(1);
    assert_eq!(
        got[0].header("authorization").as_deref(),
        Some("Bearer s3cret")
    );
    let hop = second.wait_requests(1);
    assert_eq!(hop[0].request_line(), "GET /oauth/token HTTP/1.1");
    assert_eq!(hop[0].header("authorization"), None);
    assert_eq!(hop[0].header("content-type"), None);
    assert_eq!(hop[0].header("x-keep").as_deref(), Some("1"));
    assert_eq!(
        hop[0].header("host"),
        Some(format!("localhost:{}", second.port()))
    );
    assert!(hop[0].body.is_empty());
    assert_eq!(rec.last().status, Some(200));
}

/// H10: 307/308 keep the method and body (same origin keeps Authorization).
#[test]
fn h10_307_keeps_method_and_body() {
    let up = Upstream::http(Arc::new(|r: &Received| {
        if r.request_line().contains("/api/a ") {
            Action::Send(respond(307, &[("Location", "/api/b")], b""))
        } else {
            Action::Send(respond(200, &[], b"ok"))
        }
    }));
    let (h, _) = harpoon(plain(vec![target(
        "api",
        &format!("http://127.0.0.1:{}/api", up.port()),
    )]));
    success(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/a", "method": "PUT", "body": "payload", "headers": {"Authorization": "Bearer t"}}),
    );
    let got = up.wait_requests(2);
    assert_eq!(got[1].request_line(), "PUT /api/b HTTP/1.1");
    assert_eq!(got[1].body, b"payload");
    assert_eq!(got[1].header("authorization").as_deref(), Some("Bearer t"));
}

/// H10: a redirect loop stops at the limit: exactly limit + 1 requests.
#[test]
fn h10_redirect_chains_stop_at_the_limit() {
    let up = Upstream::http(redirect(302, "/api/"));
    let raw = RawSettings {
        max_redirects: Some(3),
        ..plain(vec![target(
            "api",
            &format!("http://127.0.0.1:{}/api/", up.port()),
        )])
    };
    let (h, rec) = harpoon(raw);
    assert_eq!(
        refusal(&h, "call_target", json!({"label": "api", "method": "GET"})),
        "label api: redirect limit exceeded"
    );
    assert_eq!(rec.last().outcome, Outcome::RedirectBlocked);
    assert_eq!(up.connections(), 4);
    assert_eq!(
        refusal(
            &h,
            "call_target",
            json!({"label": "api", "method": "GET", "max_redirects": 1})
        ),
        "label api: redirect limit exceeded"
    );
    assert_eq!(up.connections(), 4 + 2);
    assert!(invalid_params(
        &h,
        "call_target",
        json!({"label": "api", "method": "GET", "max_redirects": 4})
    )
    .contains("maximum: got 4, want 3"));
    // follow_redirects:false returns the 3xx itself, with the target URL rewritten (H15).
    let out = success(
        &h,
        "call_target",
        json!({"label": "api", "method": "GET", "follow_redirects": false}),
    );
    assert_eq!(out["status_code"], 302);
    assert_eq!(out["headers"]["Location"], json!(["/api/"]));
    assert_eq!(up.connections(), 6 + 1);
}

/// H10/H12: https → http is a scheme mismatch, said so, and never followed.
#[test]
fn h10_https_to_http_downgrades_are_blocked() {
    let plain_up = Upstream::http(ok("plaintext"));
    let location = format!("http://localhost:{}/x", plain_up.port());
    let up = Upstream::https(redirect(302, &location));
    let (h, rec) = harpoon(plain(vec![target(
        "api",
        &format!("https://localhost:{}/", up.port()),
    )]));
    assert_eq!(
        refusal(
            &h,
            "http_callout",
            json!({"target": "api", "path": "/x", "method": "GET"})
        ),
        "label api: redirect blocked: scheme mismatch (allowlisted https, redirected to http)"
    );
    assert_eq!(rec.last().outcome, Outcome::RedirectBlocked);
    assert_eq!(plain_up.connections(), 0);
}

// ---------------------------------------------------------------- H11 addresses

/// H11: a name that resolves to loopback, metadata or an IPv4-embedding form
/// is refused before any connection; one bad answer spoils the whole name.
#[test]
fn h11_resolved_addresses_are_vetted_before_connecting() {
    let up = Upstream::http(ok("should never be reached"));
    let raw = plain(vec![target(
        "api",
        &format!("http://internal.example:{}/", up.port()),
    )]);
    for answer in [
        &["127.0.0.1"][..],
        &["::1"],
        &["169.254.169.254"],
        &["10.0.0.1", "169.254.169.254"],
        &["0.0.0.0"],
        &["::ffff:127.0.0.1"],
        &["64:ff9b::7f00:1"],
        &["fe80::1"],
        &["224.0.0.1"],
        &["255.255.255.255"],
    ] {
        let (h, rec) = harpoon_resolving(raw.clone(), answer);
        assert_eq!(
            refusal(
                &h,
                "http_callout",
                json!({"target": "api", "path": "/", "method": "GET"})
            ),
            "label api: address not allowed",
            "{answer:?}"
        );
        assert_eq!(rec.last().outcome, Outcome::Refused);
    }
    assert_eq!(up.connections(), 0);
}

/// H11: one lookup per hop, and the connection uses the addresses that lookup
/// returned (never a second answer); `localhost` is never asked of the resolver.
#[test]
fn h11_one_lookup_per_hop_and_localhost_never_resolved() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// Answers metadata, then loopback: a rebinding resolver.
    struct Counting(AtomicUsize);
    impl tunnel::mcp::harpoon::Resolve for Counting {
        fn lookup(&self, _: &str, _: u16) -> std::io::Result<Vec<std::net::IpAddr>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            let answer = if n % 2 == 0 {
                "169.254.169.254"
            } else {
                "127.0.0.1"
            };
            Ok(vec![answer.parse().unwrap()])
        }
    }
    let up = Upstream::http(ok("local"));
    let raw = plain(vec![
        target("named", &format!("http://rebind.example:{}/", up.port())),
        target("local", &format!("http://localhost:{}/", up.port())),
    ]);
    let resolver = Arc::new(Counting(AtomicUsize::new(0)));
    let settings = validate(&raw, roots())
        .unwrap()
        .with_resolver(resolver.clone());
    let h = tunnel::mcp::harpoon::Harpoon::new(settings, Arc::new(Recorder::default()));
    for expected_lookups in [1, 2] {
        assert_eq!(
            refusal(
                &h,
                "call_target",
                json!({"label": "named", "method": "GET"})
            ),
            "label named: address not allowed"
        );
        assert_eq!(resolver.0.load(Ordering::SeqCst), expected_lookups);
    }
    assert_eq!(up.connections(), 0);
    let out = success(
        &h,
        "call_target",
        json!({"label": "local", "method": "GET"}),
    );
    assert_eq!(body_of(&out), b"local");
    assert_eq!(
        resolver.0.load(Ordering::SeqCst),
        2,
        "localhost is not a DNS question"
    );
    assert_eq!(up.connections(), 1);
}

/// H11 at startup: literal metadata, link-local and embedding forms never load;
/// the message names the key and never the URL.
#[test]
fn h11_forbidden_literals_are_refused_at_startup() {
    for url in [
        "http://169.254.169.254/latest",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://0.0.0.0:8080/",
        "http://[::]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[fe80::1]/",
        "http://239.1.1.1/",
        "http://255.255.255.255/",
        "http://0x7f000001/",
        "http://2130706433/",
    ] {
        let err = validate(&plain(vec![target("api", url)]), roots()).unwrap_err();
        assert_eq!(err.key.to_string(), "harpoon.targets[0].base_url", "{url}");
        let text = err.to_string();
        let host = url.split("://").nth(1).unwrap().trim_end_matches('/');
        assert!(!text.contains(url) && !text.contains(host), "{text}");
    }
}

// ---------------------------------------------------------------- H12 plaintext

#[test]
fn h12_plaintext_needs_the_operator() {
    let err = validate(
        &RawSettings {
            targets: vec![target("api", "http://10.0.0.1/")],
            ..RawSettings::default()
        },
        roots(),
    )
    .unwrap_err();
    assert_eq!(err.key.to_string(), "harpoon.targets[0].base_url");
    assert!(err.to_string().contains("allow_plaintext_http"), "{err}");
}

// ---------------------------------------------------------------- hostile upstreams

/// Answers that are not HTTP/1.x as written are failures, never guesses.
#[test]
fn malformed_answers_fail_cleanly() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"garbage\r\n\r\n", "request failed"),
        (
            b"HTTP/1.1 200 OK\r\nX: a\r\n folded: yes\r\n\r\n",
            "request failed",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
            "request failed",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            "response read failed",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
            "response read failed",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            "response read failed",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX",
            "response read failed",
        ),
        (b"", "request failed"),
    ];
    for (raw, message) in cases {
        let raw = raw.to_vec();
        let (_up, h, _) = api(Arc::new(move |_| Action::Send(raw.clone())));
        assert_eq!(
            refusal(&h, "http_callout", callout("/x")),
            format!("label api: {message}")
        );
    }
}

/// Refusals and records never carry a URL, header value or body; log lines
/// never carry paths, queries, header values or bodies.
#[test]
fn secrets_never_reach_answers_records_or_logs() {
    let (_up, h, rec) = api(redirect(302, "http://169.254.169.254/s3cret-location"));
    let text = refusal(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/s3cret-path?token=s3cret-query", "method": "POST",
               "headers": {"Authorization": "Bearer s3cret-header"}, "body": "s3cret-body"}),
    );
    assert_eq!(text, "label api: redirect blocked");
    let records = format!("{:?}", rec.all());
    assert!(!records.contains("s3cret"), "{records}");
    let (_up2, h2, _) = api(ok("s3cret-response"));
    success(
        &h2,
        "http_callout",
        json!({"target": "api", "path": "/s3cret-path?q=s3cret-query", "method": "GET",
               "headers": {"X-Api-Key": "s3cret-header"}}),
    );
    let logs = logged();
    assert!(logs
        .iter()
        .any(|l| l.contains("harpoon call target=api tool=http_callout")));
    for line in logs {
        assert!(!line.contains("s3cret"), "{line}");
        assert!(!line.contains("/api/"), "{line}");
    }
}

// ---------------------------------------------------------------- found by attacking

/// A redirect to another target's exact URL is allowed, but that target's name
/// still goes through H11: if it resolves to metadata, nothing connects.
#[test]
fn a_redirect_to_a_target_is_still_vetted() {
    let first = Upstream::http(redirect(302, "http://evil-target.example:9/"));
    let raw = plain(vec![
        target("api", &format!("http://127.0.0.1:{}/", first.port())),
        target("evil", "http://evil-target.example:9/"),
    ]);
    let (h, rec) = harpoon_resolving(raw, &["169.254.169.254"]);
    assert_eq!(
        refusal(&h, "call_target", json!({"label": "api", "method": "GET"})),
        "label api: address not allowed"
    );
    assert_eq!(rec.last().status, Some(302));
    assert_eq!(first.connections(), 1);
}

/// Locations too long or almost-equal to a target URL are blocked.
#[test]
fn near_miss_locations_are_blocked() {
    let up = Upstream::http(ok("x"));
    let port = up.port();
    for location in [
        format!("http://127.0.0.1:{port}/API/"),
        format!("http://127.0.0.1:{port}/api"),
        format!("http://127.0.0.1:{port}/api/?"),
        format!("http://127.0.0.1.:{port}/api/"),
        format!("http://127.0.0.1:{port}/api/{}", "a".repeat(9000)),
        format!("http://[::ffff:127.0.0.1]:{port}/api/"),
        format!("http://0x7f.0.0.1:{port}/api/"),
    ] {
        let first = Upstream::http(redirect(302, &location));
        let (h, _) = harpoon(plain(vec![
            target("start", &format!("http://127.0.0.1:{}/", first.port())),
            target("api", &format!("http://127.0.0.1:{port}/api/")),
        ]));
        assert_eq!(
            refusal(
                &h,
                "call_target",
                json!({"label": "start", "method": "GET"})
            ),
            "label start: redirect blocked",
            "{}",
            &location[..location.len().min(60)]
        );
    }
    assert_eq!(up.connections(), 0);
}

/// An oversized response head, or a head that trickles in, fails within bounds.
#[test]
fn oversized_or_trickling_heads_fail() {
    let big = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let (_up, h, _) = api(Arc::new(move |_| Action::Send(big.clone().into_bytes())));
    assert_eq!(
        refusal(&h, "http_callout", callout("/x")),
        "label api: request failed"
    );

    let up = Upstream::http(Arc::new(|_| {
        Action::Trickle(
            Vec::new(),
            b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
            Duration::from_millis(150),
        )
    }));
    let (h, rec) = harpoon(plain(vec![RawTarget {
        timeout_seconds: Some(1),
        ..target("api", &format!("http://127.0.0.1:{}/", up.port()))
    }]));
    let started = Instant::now();
    assert_eq!(
        refusal(&h, "http_callout", callout("/x")),
        "label api: timeout"
    );
    assert_eq!(rec.last().outcome, Outcome::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A GET body cannot smuggle a second request: it is framed by Content-Length
/// and the connection is closed after one exchange.
#[test]
fn a_body_cannot_smuggle_a_second_request() {
    let (up, h, _) = api(ok("one"));
    let smuggled = "GET /admin HTTP/1.1\r\nHost: internal\r\n\r\n";
    success(
        &h,
        "call_target",
        json!({"label": "api", "method": "GET", "body": smuggled}),
    );
    let got = up.wait_requests(1);
    assert_eq!(got[0].request_line(), "GET /api/ HTTP/1.1");
    assert_eq!(
        got[0].header("content-length"),
        Some(smuggled.len().to_string())
    );
    assert_eq!(got[0].header("connection").as_deref(), Some("close"));
    assert_eq!(got[0].body, smuggled.as_bytes());
    assert_eq!(up.connections(), 1);
    assert_eq!(up.requests().len(), 1);
}

/// Many calls at once share nothing they should not: each gets its own answer and record.
#[test]
fn concurrent_calls_stay_apart() {
    let up = Upstream::http(Arc::new(|r: &Received| {
        let path = r
            .request_line()
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        Action::Send(respond(200, &[], path.as_bytes()))
    }));
    let (h, rec) = harpoon(plain(vec![target(
        "api",
        &format!("http://127.0.0.1:{}/api", up.port()),
    )]));
    let h = Arc::new(h);
    let workers: Vec<_> = (0..16)
        .map(|i| {
            let h = h.clone();
            std::thread::spawn(move || {
                let out = success(&h, "http_callout", callout(&format!("/n{i}")));
                assert_eq!(out["body"], format!("/api/n{i}"));
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(rec.all().len(), 16);
    assert_eq!(up.connections(), 16);
}

/// The hostile cases the binary suite drives (`through_agent`), in-process:
/// the same answers and the same upstream observations.
#[test]
fn shared_hostile_cases_in_process() {
    use super::cases::{self, MAX_REDIRECTS, SECRET, WITHIN};
    let suite = cases::suite();
    let (h, rec) = harpoon(RawSettings {
        max_redirects: Some(MAX_REDIRECTS),
        ..plain(suite.targets.clone())
    });
    for case in &suite.cases {
        let started = Instant::now();
        let answer = rpc(&h, &message(case.tool, case.args.clone()));
        assert!(started.elapsed() < WITHIN, "{}", case.name);
        cases::check(case, &answer);
        (case.saw)();
    }
    assert_eq!(rec.all().len(), suite.cases.len());
    let records = format!("{:?}", rec.all());
    assert!(!records.contains(SECRET), "{records}");
}
