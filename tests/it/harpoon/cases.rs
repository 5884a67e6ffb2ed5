//! The hostile cases driven two ways: in-process through `Backend::call` and through the
//! built `tunnel-client run`. Each builds its upstream and target, and says what the caller must get and the upstream may see.
//!
//! Every attacker-chosen path, query, header value and body carries [`SECRET`]
//! so that a driver can prove none of them reaches a log line, a metric or the
//! status page.

use crate::support::harpoon_upstream::*;
use crate::support::TempDir;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tunnel::mcp::harpoon::inflate::gzip_stored;
use tunnel::mcp::harpoon::RawTarget;

/// The marker in attacker-chosen paths, queries, header values and bodies.
pub const SECRET: &str = "s3cret";
/// The redirect limit every driver configures (`--harpoon-max-redirects`).
pub const MAX_REDIRECTS: u64 = 3;
/// "It did not hang": the longest any case may take (the slow ones need about a second).
pub const WITHIN: Duration = Duration::from_secs(8);

/// What the caller must get.
pub enum Expect {
    /// `isError: true` with exactly this text.
    Refusal(String),
    /// A JSON-RPC `-32602` whose message contains this.
    InvalidParams(&'static str),
    /// A result; the check reads its `structuredContent`.
    Success(Box<dyn Fn(&Value)>),
}

pub struct Case {
    pub name: String,
    pub tool: &'static str,
    pub args: Value,
    pub expect: Expect,
    /// What the upstreams saw, checked once the answer is in.
    pub saw: Box<dyn Fn()>,
}

/// The targets every case needs (labels `c01`…) and the cases, in order.
pub struct Suite {
    pub targets: Vec<RawTarget>,
    pub cases: Vec<Case>,
    /// Holds the unix socket of the H13 case.
    _dir: TempDir,
    /// Every upstream, alive as long as the suite.
    _upstreams: Vec<Arc<Upstream>>,
}

struct Builder {
    targets: Vec<RawTarget>,
    cases: Vec<Case>,
    upstreams: Vec<Arc<Upstream>>,
}

impl Builder {
    /// Keeps `up` alive as long as the suite.
    fn keep(&mut self, up: Upstream) -> Arc<Upstream> {
        let up = Arc::new(up);
        self.upstreams.push(up.clone());
        up
    }

    fn http(&mut self, handler: Handler) -> Arc<Upstream> {
        self.keep(Upstream::http(handler))
    }

    /// A new target at `url` (with the settings of `t`); returns its label.
    fn target(&mut self, url: &str, t: RawTarget) -> String {
        let label = format!("c{:02}", self.targets.len() + 1);
        self.targets.push(RawTarget {
            label: label.clone(),
            url: url.to_string(),
            ..t
        });
        label
    }

    fn case(
        &mut self,
        name: impl Into<String>,
        tool: &'static str,
        args: Value,
        expect: Expect,
        saw: impl Fn() + 'static,
    ) {
        self.cases.push(Case {
            name: name.into(),
            tool,
            args,
            expect,
            saw: Box::new(saw),
        });
    }
}

fn refusal(label: &str, message: &str) -> Expect {
    Expect::Refusal(format!("label {label}: {message}"))
}

fn callout(label: &str, path: &str) -> Value {
    json!({"target": label, "path": path, "method": "GET"})
}

fn never(up: &Arc<Upstream>) -> impl Fn() {
    let up = up.clone();
    move || assert_eq!(up.connections(), 0, "the upstream was contacted")
}

fn connections(up: &Arc<Upstream>, n: usize) -> impl Fn() {
    let up = up.clone();
    move || assert_eq!(up.connections(), n)
}

fn base(up: &Upstream) -> String {
    format!("http://127.0.0.1:{}/api/", up.port())
}

pub fn suite() -> Suite {
    let dir = TempDir::new("hostile-sock");
    let mut b = Builder {
        targets: Vec::new(),
        cases: Vec::new(),
        upstreams: Vec::new(),
    };

    // ------------------------------------------------ H3: path tricks never connect
    let paths = b.http(ok("never"));
    let p = b.target(&base(&paths), RawTarget::default());
    for (path, reason) in [
        ("//evil.example/x", "scheme-relative"),
        ("http://169.254.169.254/latest", "not absolute"),
        ("/../s3cret", "dot segment"),
        ("/%2e%2e/s3cret", "dot segment"),
        ("/..;/s3cret", "dot segment"),
        ("/.%2e/s3cret", "dot segment"),
        ("/%c0%ae%c0%ae/s3cret", "dot segment"),
        ("/a%2fb/s3cret", "encoded separator"),
        ("/a%5c..%5cs3cret", "encoded separator"),
        ("/x%00/s3cret", "encoded separator"),
        ("/%252e%252e/s3cret", "double encoding"),
        ("/a\\..\\s3cret", "forbidden character"),
        ("/@169.254.169.254/s3cret", "forbidden character"),
        ("/x#@evil/s3cret", "forbidden character"),
        (
            "/x HTTP/1.1\r\nHost: evil\r\n\r\nGET /s3cret",
            "forbidden character",
        ),
        ("/%zz/s3cret", "malformed escape"),
    ] {
        b.case(
            format!("H3 path {path:?}"),
            "http_callout",
            callout(&p, path),
            refusal(&p, &format!("invalid path: {reason}")),
            never(&paths),
        );
    }

    // ------------------------------------------------ H1 / schema: no URL from the caller
    b.case(
        "H1 a url argument",
        "http_callout",
        json!({"target": p, "path": "/x", "method": "GET", "url": "http://169.254.169.254/s3cret"}),
        Expect::InvalidParams("unexpected additional properties"),
        never(&paths),
    );
    b.case(
        "H1 a host argument",
        "call_target",
        json!({"label": p, "method": "GET", "host": "evil", "port": 22}),
        Expect::InvalidParams("unexpected additional properties"),
        never(&paths),
    );
    b.case(
        "H1 a label that is a URL",
        "call_target",
        json!({"label": "http://169.254.169.254", "method": "GET"}),
        Expect::InvalidParams("pattern"),
        never(&paths),
    );
    b.case(
        "H1 an unknown label",
        "http_callout",
        json!({"target": "nope", "path": "/s3cret", "method": "GET"}),
        refusal("nope", "unknown target"),
        never(&paths),
    );
    b.case(
        "an unknown tool",
        "fetch",
        json!({"url": "http://169.254.169.254/s3cret"}),
        Expect::InvalidParams("unknown tool \"fetch\""),
        never(&paths),
    );

    // ------------------------------------------------ H4: the request target byte for byte
    let exact = b.http(ok("exact"));
    let label = b.target(&base(&exact), RawTarget::default());
    let up = exact.clone();
    b.case(
        "H4 path and query byte for byte",
        "http_callout",
        callout(&label, "/v1/s3cret;p=1?next=/a@b?c&e=%25&q=s3cret"),
        Expect::Success(Box::new(|out| assert_eq!(out["body"], "exact"))),
        move || {
            let got = up.wait_requests(1);
            assert_eq!(
                got[0].request_line(),
                "GET /api/v1/s3cret;p=1?next=/a@b?c&e=%25&q=s3cret HTTP/1.1"
            );
            assert_eq!(up.connections(), 1);
        },
    );

    // ------------------------------------------------ H5: methods, on every hop
    let get_only = b.http(ok("never"));
    let label = b.target(
        &base(&get_only),
        RawTarget {
            allowed_methods: Some(vec!["GET".into()]),
            ..RawTarget::default()
        },
    );
    for method in ["DELETE", "PUT", "PATCH", "OPTIONS"] {
        b.case(
            format!("H5 {method} on a GET-only target"),
            "http_callout",
            json!({"target": label, "path": "/s3cret", "method": method, "body": "s3cret-body"}),
            refusal(&label, "method not allowed"),
            never(&get_only),
        );
    }
    let post_only = b.http(redirect(303, "/api/done"));
    let label = b.target(
        &base(&post_only),
        RawTarget {
            allowed_methods: Some(vec!["POST".into()]),
            ..RawTarget::default()
        },
    );
    b.case(
        "H5 a 303 turns POST into a GET the target does not allow",
        "http_callout",
        json!({"target": label, "path": "/submit", "method": "POST", "body": "s3cret-body"}),
        refusal(&label, "method not allowed"),
        connections(&post_only, 1),
    );

    // ------------------------------------------------ H6: header smuggling
    let headers_up = b.http(ok("fine"));
    let label = b.target(&base(&headers_up), RawTarget::default());
    let up = headers_up.clone();
    b.case(
        "H6 hop-by-hop, cookie, proxy and identity headers are dropped",
        "http_callout",
        json!({"target": label, "path": "/x", "method": "POST", "body": "{}", "headers": {
            "Host": "169.254.169.254", "Cookie": "session=s3cret", "User-Agent": "curl/8",
            "Accept-Encoding": "br", "Content-Length": "999", "Transfer-Encoding": "chunked",
            "Connection": "keep-alive, X-Hop", "X-Hop": "s3cret-hop", "TE": "trailers",
            "Upgrade": "h2c", "Forwarded": "for=1.2.3.4", "X-Forwarded-For": "127.0.0.1",
            "X-Real-IP": "127.0.0.1", "Proxy-Authorization": "Basic s3cret",
            "X-Tunnel-Traffic-Source": "internal", "X-OpenAI-Internal": "1",
            "Authorization": "Bearer s3cret-token", "Accept": "application/json"}}),
        Expect::Success(Box::new(|out| assert_eq!(out["status_code"], 200))),
        move || {
            let got = up.wait_requests(1);
            assert_eq!(
                got[0].head,
                format!(
                    "POST /api/x HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: tunnel-client-rs/{}\r\n\
                     Accept-Encoding: gzip\r\nAccept: application/json\r\nAuthorization: Bearer s3cret-token\r\n\
                     Content-Length: 2\r\nConnection: close",
                    up.port(),
                    env!("CARGO_PKG_VERSION")
                )
            );
            assert_eq!(got[0].body, b"{}");
        },
    );
    for (name, headers, message) in [
        (
            "CRLF in a value",
            json!({"X-A": "v\r\nHost: evil"}),
            "invalid header",
        ),
        (
            "LF in a value",
            json!({"X-A": "s3cret\nX-B: 1"}),
            "invalid header",
        ),
        (
            "NUL in a value",
            json!({"X-A": "s3cret\u{0}"}),
            "invalid header",
        ),
        (
            "names equal but for case",
            json!({"X-Token": "s3cret", "x-token": "2"}),
            "invalid header",
        ),
    ] {
        b.case(
            format!("H6 {name}"),
            "http_callout",
            json!({"target": p, "path": "/x", "method": "GET", "headers": headers}),
            refusal(&p, message),
            never(&paths),
        );
    }
    let many: serde_json::Map<String, Value> = (0..101)
        .map(|i| (format!("X-H{i}"), json!("s3cret")))
        .collect();
    b.case(
        "H6 more than 100 headers",
        "http_callout",
        json!({"target": p, "path": "/x", "method": "GET", "headers": many}),
        refusal(&p, "request headers too large"),
        never(&paths),
    );
    b.case(
        "H6 a header name with a space",
        "call_target",
        json!({"label": p, "method": "GET", "headers": {"X A": "s3cret"}}),
        Expect::InvalidParams("propertyNames"),
        never(&paths),
    );

    // ------------------------------------------------ H7: request bodies
    let small_body = b.http(ok("never"));
    let label = b.target(
        &base(&small_body),
        RawTarget {
            max_request_size_bytes: Some(10),
            ..RawTarget::default()
        },
    );
    b.case(
        "H7 a body over the target's request cap",
        "call_target",
        json!({"label": label, "method": "POST", "body": "s3cret-body"}),
        refusal(&label, "request body exceeds size limit"),
        never(&small_body),
    );

    // ------------------------------------------------ H8: oversize and gzip-bomb answers
    let capped = |b: &mut Builder, name: &str, handler: Handler| {
        let up = b.http(handler);
        let label = b.target(
            &base(&up),
            RawTarget {
                max_response_size_bytes: Some(1000),
                ..RawTarget::default()
            },
        );
        b.case(
            format!("H8 {name}"),
            "http_callout",
            callout(&label, "/s3cret"),
            refusal(&label, "response exceeds size limit"),
            connections(&up, 1),
        );
    };
    let big = vec![b'a'; 2000];
    capped(&mut b, "a Content-Length answer over the cap", {
        Arc::new(move |_| Action::Send(respond(200, &[], &big)))
    });
    capped(&mut b, "a chunked answer over the cap", {
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..20 {
            chunked.extend_from_slice(b"64\r\n");
            chunked.extend_from_slice(&[b'a'; 100]);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        Arc::new(move |_| Action::Send(chunked.clone()))
    });
    capped(&mut b, "a gzip bomb", {
        let bomb = gzip_bomb(100);
        Arc::new(move |_| Action::Send(respond(200, &[("Content-Encoding", "gzip")], &bomb)))
    });
    capped(&mut b, "a stored gzip over the cap", {
        let stored = gzip_stored(&[0u8; 5000]);
        Arc::new(move |_| Action::Send(respond(200, &[("Content-Encoding", "gzip")], &stored)))
    });
    let gzip = b.http(Arc::new(|_| {
        Action::Send(respond(
            200,
            &[("Content-Encoding", "gzip"), ("Content-Type", "text/plain")],
            &gzip_stored(b"decoded"),
        ))
    }));
    let label = b.target(
        &base(&gzip),
        RawTarget {
            max_response_size_bytes: Some(1000),
            ..RawTarget::default()
        },
    );
    b.case(
        "H8 gzip is decoded and its framing headers dropped",
        "http_callout",
        callout(&label, "/x"),
        Expect::Success(Box::new(|out| {
            assert_eq!(out["body"], "decoded");
            assert_eq!(out["headers"], json!({"Content-Type": ["text/plain"]}));
        })),
        connections(&gzip, 1),
    );
    let cap = b.http(ok("never"));
    let label = b.target(
        &base(&cap),
        RawTarget {
            max_response_size_bytes: Some(100),
            ..RawTarget::default()
        },
    );
    b.case(
        "H8 a caller cannot raise the cap",
        "call_target",
        json!({"label": label, "method": "GET", "max_response_bytes": 101}),
        refusal(
            &label,
            "max_response_bytes must be less than or equal to 100",
        ),
        never(&cap),
    );

    // ------------------------------------------------ H9: slow upstreams
    let hang = b.http(Arc::new(|_| Action::Hang));
    let label = b.target(&base(&hang), RawTarget::default());
    b.case(
        "H9 a silent upstream costs the call's timeout",
        "call_target",
        json!({"label": label, "method": "GET", "timeout_ms": 300}),
        refusal(&label, "request failed"),
        connections(&hang, 1),
    );
    for (name, first, rest) in [
        (
            "H9 a body trickling past the deadline",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec(),
            vec![b'a'; 100],
        ),
        (
            "H9 a head trickling past the deadline",
            Vec::new(),
            b"HTTP/1.1 200 OK\r\nX-Slow: aaaaaaaaaaaaaaaa\r\n\r\n".to_vec(),
        ),
    ] {
        let up = b.http(Arc::new(move |_| {
            Action::Trickle(first.clone(), rest.clone(), Duration::from_millis(100))
        }));
        let label = b.target(
            &base(&up),
            RawTarget {
                timeout_seconds: Some(1),
                ..RawTarget::default()
            },
        );
        b.case(
            name,
            "http_callout",
            callout(&label, "/s3cret"),
            refusal(&label, "timeout"),
            connections(&up, 1),
        );
    }

    // ------------------------------------------------ H10: redirect escapes
    let other = b.http(ok("other origin"));
    for (name, location) in [
        (
            "to the metadata service",
            "http://169.254.169.254/latest/meta-data/s3cret".to_string(),
        ),
        (
            "to metadata as IPv4-mapped IPv6",
            "http://[::ffff:a9fe:a9fe]/latest".to_string(),
        ),
        (
            "to metadata scheme-relative",
            "//169.254.169.254/latest".to_string(),
        ),
        (
            "to metadata behind userinfo",
            "http://127.0.0.1:1@169.254.169.254/".to_string(),
        ),
        (
            "to metadata in octal",
            "http://0251.0376.0251.0376/".to_string(),
        ),
        (
            "to another origin on 127.0.0.1",
            format!("http://127.0.0.1:{}/api/x", other.port()),
        ),
        (
            "to localhost on another port",
            format!("http://localhost:{}/api/x", other.port()),
        ),
        ("out of the base path", "/admin".to_string()),
        (
            "out of the base path by an encoded dot segment",
            "/api/%2e%2e/admin".to_string(),
        ),
        ("to ftp", "ftp://127.0.0.1/api/".to_string()),
    ] {
        let up = b.http(redirect(302, &location));
        let label = b.target(&base(&up), RawTarget::default());
        let other = other.clone();
        let first = up.clone();
        b.case(
            format!("H10 a redirect {name}"),
            "http_callout",
            json!({"target": label, "path": "/x", "method": "GET", "headers": {"Authorization": "Bearer s3cret"}}),
            refusal(&label, "redirect blocked"),
            move || {
                assert_eq!(first.connections(), 1);
                assert_eq!(other.connections(), 0);
            },
        );
    }
    let looping = b.http(redirect(302, "/api/"));
    let label = b.target(&base(&looping), RawTarget::default());
    b.case(
        "H10 a redirect loop stops at the limit",
        "call_target",
        json!({"label": label, "method": "GET"}),
        refusal(&label, "redirect limit exceeded"),
        connections(&looping, MAX_REDIRECTS as usize + 1),
    );
    let second = b.http(ok("token issued"));
    let second_url = format!("http://localhost:{}/oauth/token", second.port());
    let first = b.http(redirect(303, &second_url));
    let label = b.target(
        &format!("http://127.0.0.1:{}/start", first.port()),
        RawTarget::default(),
    );
    b.target(&second_url, RawTarget::default());
    let (a, z) = (first.clone(), second.clone());
    b.case(
        "H10 a hop to another target drops Authorization and the body",
        "call_target",
        json!({"label": label, "method": "POST", "body": "s3cret-body",
               "headers": {"Authorization": "Bearer s3cret", "Content-Type": "text/plain"}}),
        Expect::Success(Box::new(|out| {
            assert_eq!(out["body_base64"], "dG9rZW4gaXNzdWVk")
        })),
        move || {
            assert_eq!(
                a.wait_requests(1)[0].header("authorization").as_deref(),
                Some("Bearer s3cret")
            );
            let hop = z.wait_requests(1);
            assert_eq!(hop[0].request_line(), "GET /oauth/token HTTP/1.1");
            assert_eq!(hop[0].header("authorization"), None);
            assert!(hop[0].body.is_empty());
        },
    );
    let plain_up = b.http(ok("plaintext"));
    let tls_up = b.keep(Upstream::https(redirect(
        302,
        &format!("http://localhost:{}/x", plain_up.port()),
    )));
    let label = b.target(
        &format!("https://localhost:{}/", tls_up.port()),
        RawTarget::default(),
    );
    b.case(
        "H10/H12 an https to http downgrade",
        "http_callout",
        callout(&label, "/s3cret"),
        refusal(
            &label,
            "redirect blocked: scheme mismatch (allowlisted https, redirected to http)",
        ),
        never(&plain_up),
    );

    // ------------------------------------------------ H13, H14, H15
    let wrong_name = b.keep(Upstream::https_with(
        ok("never"),
        server_tls_with("server-wrong-name.pem", "server-wrong-name.key"),
    ));
    let label = b.target(
        &format!("https://localhost:{}/", wrong_name.port()),
        RawTarget::default(),
    );
    let up = wrong_name.clone();
    b.case(
        "H14 a certificate for another name",
        "call_target",
        json!({"label": label, "method": "GET", "headers": {"Authorization": "Bearer s3cret"}}),
        refusal(&label, "request failed"),
        move || {
            assert!(
                up.requests().is_empty(),
                "no request crossed the failed handshake"
            )
        },
    );
    let socket = dir.path().join("h.sock");
    let unix = b.keep(Upstream::unix(&socket, ok("over the socket")));
    let label = b.target(
        "http://docker.internal.example/v1.43/",
        RawTarget {
            unix_socket: Some(socket.to_string_lossy().into_owned()),
            ..RawTarget::default()
        },
    );
    let up = unix.clone();
    b.case(
        "H13 a unix socket target",
        "http_callout",
        callout(&label, "/containers/json"),
        Expect::Success(Box::new(|out| assert_eq!(out["body"], "over the socket"))),
        move || {
            let got = up.wait_requests(1);
            assert_eq!(got[0].request_line(), "GET /v1.43/containers/json HTTP/1.1");
            assert_eq!(
                got[0].header("host").as_deref(),
                Some("docker.internal.example")
            );
        },
    );
    let rewrite = b.http(Arc::new(|r: &Received| {
        let port = r.header("host").unwrap_or_default();
        Action::Send(respond(
            200,
            &[("Location", &format!("http://{port}/api/"))],
            b"{}",
        ))
    }));
    let label = b.target(&base(&rewrite), RawTarget::default());
    let named = label.clone();
    b.case(
        "H15 a target URL in Location is named, not shown",
        "call_target",
        json!({"label": label, "method": "GET"}),
        Expect::Success(Box::new(move |out| {
            assert_eq!(
                out["headers"]["Location"],
                json!([format!("harpoon://{named}")])
            )
        })),
        connections(&rewrite, 1),
    );

    // ------------------------------------------------ hostile answers and smuggling
    for (name, raw, message) in [
        (
            "garbage instead of HTTP",
            b"garbage\r\n\r\n".to_vec(),
            "request failed",
        ),
        (
            "two Content-Length headers",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello".to_vec(),
            "response read failed",
        ),
        (
            "a 101 Switching Protocols",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n".to_vec(),
            "request failed",
        ),
    ] {
        let up = b.http(Arc::new(move |_| Action::Send(raw.clone())));
        let label = b.target(&base(&up), RawTarget::default());
        b.case(
            format!("an upstream answering {name}"),
            "http_callout",
            callout(&label, "/s3cret"),
            refusal(&label, message),
            connections(&up, 1),
        );
    }
    let smuggle = b.http(ok("one"));
    let label = b.target(&base(&smuggle), RawTarget::default());
    let up = smuggle.clone();
    let smuggled = "GET /admin HTTP/1.1\r\nHost: internal\r\n\r\ns3cret";
    b.case(
        "a body cannot smuggle a second request",
        "call_target",
        json!({"label": label, "method": "GET", "body": smuggled}),
        Expect::Success(Box::new(|out| assert_eq!(out["status_code"], 200))),
        move || {
            let got = up.wait_requests(1);
            assert_eq!(got[0].request_line(), "GET /api/ HTTP/1.1");
            assert_eq!(
                got[0].header("content-length"),
                Some(smuggled.len().to_string())
            );
            assert_eq!(got[0].body, smuggled.as_bytes());
            assert_eq!(up.connections(), 1);
            assert_eq!(up.requests().len(), 1);
        },
    );

    Suite {
        targets: b.targets,
        cases: b.cases,
        _dir: dir,
        _upstreams: b.upstreams,
    }
}

/// Checks a JSON-RPC answer against what the case expects.
pub fn check(case: &Case, answer: &Value) {
    let name = &case.name;
    match &case.expect {
        Expect::Refusal(text) => {
            let result = &answer["result"];
            assert_eq!(result["isError"], true, "{name}: {answer}");
            assert!(
                result.get("structuredContent").is_none(),
                "{name}: {answer}"
            );
            assert_eq!(
                result["content"].as_array().map(Vec::len),
                Some(1),
                "{name}"
            );
            assert_eq!(result["content"][0]["text"], text.as_str(), "{name}");
        }
        Expect::InvalidParams(part) => {
            assert_eq!(answer["error"]["code"], -32602, "{name}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(part), "{name}: {message}");
        }
        Expect::Success(check) => {
            let result = &answer["result"];
            assert!(result.get("isError").is_none(), "{name}: {answer}");
            check(&result["structuredContent"]);
        }
    }
}

/// What the caller got, in one short line (the case list printed under `--nocapture`).
pub fn summary(answer: &Value) -> String {
    let result = &answer["result"];
    if let Some(message) = answer["error"]["message"].as_str() {
        let code = &answer["error"]["code"];
        let short: String = message.chars().take(70).collect();
        format!("error {code}: {short}")
    } else if result["isError"] == true {
        format!(
            "refused: {}",
            result["content"][0]["text"].as_str().unwrap_or_default()
        )
    } else {
        format!("status {}", result["structuredContent"]["status_code"])
    }
}
