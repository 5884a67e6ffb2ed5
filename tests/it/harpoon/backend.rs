//! Harpoon as a channel backend over real sockets: the MCP surface (initialize, tools/list,
//! errors, session termination), each tool's exact output, TLS, unix sockets, the proxy, OAuth targets, records.

use crate::support::harpoon::*;
use crate::support::harpoon_upstream::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tunnel::contract::Headers;
use tunnel::mcp::harpoon::{
    discovered_targets, validate, Discovered, Harpoon, HostRules, NoSink, Outcome, RawSettings,
    RawTarget, UNKNOWN_TARGET,
};
use tunnel::mcp::{Backend, McpReply};

fn request(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": "r-1", "method": method, "params": params})
}

fn one_target(url: &str) -> (Harpoon, Arc<Recorder>) {
    harpoon(plain(vec![target("api", url)]))
}

// ---------------------------------------------------------------- MCP surface

#[test]
fn initialize_negotiates_the_version() {
    let (h, _) = one_target("http://127.0.0.1:9/");
    for (asked, answered) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let answer = rpc(
            &h,
            &request(
                "initialize",
                json!({"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
            ),
        );
        let result = &answer["result"];
        assert_eq!(result["protocolVersion"], answered);
        assert_eq!(result["capabilities"], json!({"tools": {}}));
        assert_eq!(
            result["serverInfo"],
            json!({"name": "harpoon", "title": "Harpoon (Constrained HTTP Client)", "version": env!("CARGO_PKG_VERSION")})
        );
        assert!(result["instructions"]
            .as_str()
            .unwrap()
            .contains("list_targets"));
        assert_eq!(
            result.as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "capabilities",
                "instructions",
                "protocolVersion",
                "serverInfo"
            ]
        );
    }
    let no_version = rpc(&h, &request("initialize", json!({})));
    assert_eq!(no_version["result"]["protocolVersion"], "2025-11-25");
}

#[test]
fn ping_list_unknown_methods_and_notifications() {
    let (h, _) = one_target("http://127.0.0.1:9/");
    assert_eq!(rpc(&h, &request("ping", json!({})))["result"], json!({}));
    let list = rpc(&h, &request("tools/list", json!({})));
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "call_target",
            "get_oauth_target_audience",
            "http_callout",
            "list_targets"
        ]
    );
    for method in [
        "resources/list",
        "prompts/list",
        "completion/complete",
        "sampling/createMessage",
    ] {
        let answer = rpc(&h, &request(method, json!({})));
        assert_eq!(answer["error"]["code"], -32601, "{method}");
    }
    for notification in [
        "notifications/initialized",
        "notifications/progress",
        "notifications/whatever",
    ] {
        let message = json!({"jsonrpc": "2.0", "method": notification, "params": {}});
        assert_eq!(
            send(&h, &message, Instant::now() + GENEROUS),
            McpReply::Accepted {
                status: 200,
                headers: Headers::new()
            }
        );
    }
    for junk in [
        json!([1, 2]),
        json!("text"),
        json!({"jsonrpc": "2.0", "id": 5}),
    ] {
        match send(&h, &junk, Instant::now() + GENEROUS) {
            McpReply::Response { json, status, .. } => {
                assert_eq!(status, 200);
                assert_eq!(json["error"]["code"], -32600, "{junk}");
            }
            other => panic!("{junk}: {other:?}"),
        }
    }
    // A request whose deadline already passed is not worked on.
    assert_eq!(
        send(&h, &request("ping", json!({})), Instant::now()),
        McpReply::Expired
    );
}

#[test]
fn session_termination_is_405_and_the_channel_keeps_serving() {
    let (h, _) = one_target("http://127.0.0.1:9/");
    let mut headers = Headers::new();
    headers.insert("Mcp-Session-Id".into(), vec!["abc".into()]);
    assert_eq!(
        h.terminate_session(&headers, Instant::now() + GENEROUS),
        McpReply::Accepted {
            status: 405,
            headers: Headers::new()
        }
    );
    assert_eq!(rpc(&h, &request("ping", json!({})))["result"], json!({}));
    assert!(h.proc_affinity());
    let status = h.status();
    assert_eq!(
        (status.kind, status.up, status.detail.as_str()),
        ("builtin", true, "1 target")
    );
}

#[test]
fn tools_list_reflects_the_configuration() {
    let (h, _) = harpoon(RawSettings {
        max_redirects: Some(2),
        ..plain(vec![
            RawTarget {
                max_response_size_bytes: Some(5000),
                ..target("a", "http://127.0.0.1:9/")
            },
            RawTarget {
                max_response_size_bytes: Some(70_000),
                ..target("b", "http://127.0.0.1:9/")
            },
        ])
    });
    let list = rpc(&h, &request("tools/list", json!({})));
    let props = &list["result"]["tools"][0]["inputSchema"]["properties"];
    assert_eq!(
        props["max_response_bytes"],
        json!({"type": "integer", "minimum": 1, "maximum": 70000, "default": 70000})
    );
    assert_eq!(
        props["max_redirects"],
        json!({"type": "integer", "minimum": 0, "maximum": 2, "default": 2})
    );
}

// ---------------------------------------------------------------- call_target

/// The text is byte-exact (Go field order and escaping, empty fields omitted);
/// structuredContent carries every field.
#[test]
fn call_target_output_is_byte_exact() {
    let up = Upstream::http(Arc::new(|_| {
        Action::Send(respond(
            201,
            &[
                ("content-type", "application/json"),
                ("X-Note", "<a&b>"),
                ("x-note", "2"),
            ],
            b"{\"ok\":true}",
        ))
    }));
    let (h, rec) = harpoon(plain(vec![target(
        "api",
        &format!("http://127.0.0.1:{}", up.port()),
    )]));
    let result = tool(&h, "call_target", json!({"label": "api", "method": "GET"}));
    let text = result["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        text,
        r#"{"status_code":201,"headers":{"Content-Length":["11"],"Content-Type":["application/json"],"X-Note":["\u003ca\u0026b\u003e","2"]},"body_base64":"eyJvayI6dHJ1ZX0=","body_size_bytes":11}"#
    );
    assert_eq!(
        result["structuredContent"],
        json!({"status_code": 201, "headers": {"Content-Length": ["11"], "Content-Type": ["application/json"], "X-Note": ["<a&b>", "2"]},
               "body_base64": "eyJvayI6dHJ1ZX0=", "body_size_bytes": 11, "truncated": false})
    );
    // H2: an empty base path is requested as `/`.
    assert_eq!(up.wait_requests(1)[0].request_line(), "GET / HTTP/1.1");
    let record = rec.last();
    assert_eq!(
        (
            record.target.as_str(),
            record.tool,
            record.method,
            record.status,
            record.outcome,
            record.bytes
        ),
        (
            "api",
            "call_target",
            Some("GET"),
            Some(201),
            Outcome::Success,
            11
        )
    );
    assert_eq!(
        record.origin,
        Some(format!("http://127.0.0.1:{}", up.port()))
    );
}

#[test]
fn call_target_text_omits_empty_headers_and_body() {
    let up = Upstream::http(Arc::new(|_| {
        Action::Send(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec())
    }));
    let (h, _) = one_target(&format!("http://127.0.0.1:{}/hook/", up.port()));
    let result = tool(
        &h,
        "call_target",
        json!({"label": "api", "method": "POST", "body": "{}"}),
    );
    assert_eq!(
        result["content"][0]["text"],
        r#"{"status_code":204,"body_size_bytes":0}"#
    );
    assert_eq!(result["structuredContent"]["headers"], json!({}));
    // H2: the base URL is used as configured, trailing slash kept.
    let got = up.wait_requests(1);
    assert_eq!(got[0].request_line(), "POST /hook/ HTTP/1.1");
    assert_eq!(got[0].body, b"{}");
}

/// Any status is a success: the caller reads 4xx/5xx as data.
#[test]
fn error_statuses_are_data() {
    for status in [400, 401, 404, 500, 503] {
        let up = Upstream::http(Arc::new(move |_| Action::Send(respond(status, &[], b"no"))));
        let (h, rec) = one_target(&format!("http://127.0.0.1:{}/", up.port()));
        let out = success(&h, "call_target", json!({"label": "api", "method": "GET"}));
        assert_eq!(out["status_code"], status);
        assert_eq!(rec.last().outcome, Outcome::Success);
    }
}

/// H15: target URLs in Location, Link and JSON bodies read `harpoon://<label>`;
/// other JSON keeps its bytes.
#[test]
fn h15_call_target_names_targets_instead_of_urls() {
    let up = Upstream::http(Arc::new(|r: &Received| {
        let host = r.header("host").unwrap();
        if r.request_line().contains("/.well-known/") {
            let body = format!(
                r#"{{"issuer":"http://{host}/","token_endpoint":"HTTP://{host}/oauth/token","other":"http://{host}/unlisted"}}"#
            );
            Action::Send(respond(
                200,
                &[
                    ("Content-Type", "application/json"),
                    (
                        "Link",
                        &format!("<http://{host}/oauth/token>; rel=\"token\""),
                    ),
                    ("Content-Location", &format!("http://{host}/")),
                ],
                body.as_bytes(),
            ))
        } else {
            Action::Send(respond(
                200,
                &[("Content-Type", "application/json")],
                b"{ \"b\" : 1 , \"a\" : 2 }",
            ))
        }
    }));
    let port = up.port();
    let (h, _) = harpoon(plain(vec![
        target(
            "meta",
            &format!("http://127.0.0.1:{port}/.well-known/oauth-authorization-server"),
        ),
        target("issuer", &format!("http://127.0.0.1:{port}/")),
        target("token", &format!("http://127.0.0.1:{port}/oauth/token")),
    ]));
    let out = success(&h, "call_target", json!({"label": "meta", "method": "GET"}));
    let body: Value = serde_json::from_slice(&body_of(&out)).unwrap();
    assert_eq!(
        body,
        json!({"issuer": "harpoon://issuer", "token_endpoint": "harpoon://token", "other": format!("http://127.0.0.1:{port}/unlisted")})
    );
    assert_eq!(
        out["headers"]["Link"],
        json!(["<harpoon://token>; rel=\"token\""])
    );
    assert_eq!(
        out["headers"]["Content-Location"],
        json!(["harpoon://issuer"])
    );
    // body_size_bytes counts what was received, not the rewritten body.
    assert!(out["body_size_bytes"].as_u64().unwrap() > body_of(&out).len() as u64);
    let untouched = success(
        &h,
        "call_target",
        json!({"label": "token", "method": "POST"}),
    );
    assert_eq!(body_of(&untouched), b"{ \"b\" : 1 , \"a\" : 2 }");
    // http_callout never rewrites.
    let callout = success(
        &h,
        "http_callout",
        json!({"target": "issuer", "path": "/.well-known/x", "method": "GET"}),
    );
    assert!(callout["body"]
        .as_str()
        .unwrap()
        .contains("http://127.0.0.1"));
}

// ---------------------------------------------------------------- http_callout

#[test]
fn http_callout_hides_cookies_and_hop_by_hop_headers() {
    let up = Upstream::http(Arc::new(|_| {
        Action::Send(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: sid=1\r\nset-cookie: b=2\r\n\
              Connection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\
              Trailer: X-T\r\nX-Kept: yes\r\n\r\n4\r\nbody\r\n0\r\nX-T: 1\r\n\r\n"
                .to_vec(),
        )
    }));
    let (h, _) = one_target(&format!("http://127.0.0.1:{}/", up.port()));
    let result = tool(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/", "method": "GET"}),
    );
    assert_eq!(
        result["content"][0]["text"],
        r#"{"status_code":200,"headers":{"Content-Type":["text/plain"],"X-Kept":["yes"]},"body_encoding":"utf8","body":"body","body_size_bytes":4}"#
    );
    // call_target shows Set-Cookie (its callers are token clients) but never framing.
    let out = success(&h, "call_target", json!({"label": "api", "method": "GET"}));
    assert_eq!(out["headers"]["Set-Cookie"], json!(["sid=1", "b=2"]));
    assert!(out["headers"].get("Transfer-Encoding").is_none());
}

#[test]
fn http_callout_bodies_are_utf8_or_base64() {
    let up = Upstream::http(Arc::new(|r: &Received| {
        let body: &[u8] = if r.request_line().contains("/bin") {
            &[0xff, 0xfe, 0x00, 0x41]
        } else {
            "caf\u{e9} \u{2603}".as_bytes()
        };
        Action::Send(respond(200, &[], body))
    }));
    let (h, _) = one_target(&format!("http://127.0.0.1:{}/", up.port()));
    let text = success(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/text", "method": "GET"}),
    );
    assert_eq!(text["body_encoding"], "utf8");
    assert_eq!(text["body"], "caf\u{e9} \u{2603}");
    assert_eq!(text["body_size_bytes"], 9);
    let bin = success(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/bin", "method": "GET"}),
    );
    assert_eq!(bin["body_encoding"], "base64");
    assert_eq!(bin["body"], "//4AQQ==");
    assert_eq!(bin["body_size_bytes"], 4);
}

/// HEAD has no body whatever Content-Length says; HEAD never asks for gzip.
#[test]
fn head_requests_read_no_body() {
    let up = Upstream::http(Arc::new(|_| {
        Action::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec())
    }));
    let (h, _) = harpoon(plain(vec![RawTarget {
        allowed_methods: Some(vec!["HEAD".into()]),
        ..target("api", &format!("http://127.0.0.1:{}/", up.port()))
    }]));
    let out = success(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/", "method": "HEAD"}),
    );
    assert_eq!(out["body"], "");
    assert_eq!(out["headers"]["Content-Length"], json!(["1000"]));
    let got = up.wait_requests(1);
    assert_eq!(got[0].header("accept-encoding"), None);
    assert_eq!(got[0].header("content-length"), None);
}

/// Bodiless POST/PUT/PATCH still say `Content-Length: 0`; a Range request is not gzipped.
#[test]
fn request_framing_is_ours() {
    let (up, h) = {
        let up = Upstream::http(ok("x"));
        let (h, _) = harpoon(plain(vec![RawTarget {
            allowed_methods: Some(vec!["PATCH".into(), "GET".into(), "DELETE".into()]),
            ..target("api", &format!("http://127.0.0.1:{}/", up.port()))
        }]));
        (up, h)
    };
    success(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/p", "method": "PATCH"}),
    );
    success(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/d", "method": "DELETE"}),
    );
    success(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/r", "method": "GET", "headers": {"Range": "bytes=0-1"}}),
    );
    let got = up.wait_requests(3);
    let by_path = |p: &str| {
        got.iter()
            .find(|r| r.request_line().contains(p))
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_path(" /p ").header("content-length").as_deref(),
        Some("0")
    );
    assert_eq!(by_path(" /d ").header("content-length"), None);
    assert_eq!(by_path(" /r ").header("accept-encoding"), None);
    assert_eq!(
        by_path(" /d ").header("accept-encoding").as_deref(),
        Some("gzip")
    );
}

// ---------------------------------------------------------------- list / audience

#[test]
fn list_targets_never_shows_urls_and_filters() {
    let (h, _) = harpoon(plain(vec![
        RawTarget {
            description: Some("Billing API".into()),
            allowed_methods: Some(vec!["GET".into()]),
            max_request_size_bytes: Some(10),
            max_response_size_bytes: Some(20),
            timeout_seconds: Some(3),
            ..target(
                "billing",
                "http://billing.internal.example:8080/s3cret-path",
            )
        },
        target("plain", "http://10.0.0.9/"),
    ]));
    let result = tool(&h, "list_targets", json!({}));
    let text = result["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        text,
        r#"{"targets":[{"label":"billing","description":"Billing API","category":"config","source":"config","allowed_methods":["GET"],"max_request_bytes":10,"max_response_bytes":20,"timeout_ms":3000},{"label":"plain","category":"config","source":"config","allowed_methods":["GET","POST","PUT"],"max_request_bytes":102400,"max_response_bytes":102400,"timeout_ms":30000}]}"#
    );
    assert!(!text.contains("s3cret") && !text.contains("internal") && !text.contains("10.0.0.9"));
    let count = |args: Value| {
        success(&h, "list_targets", args)["targets"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(json!({"sources": ["config"]})), 2);
    assert_eq!(count(json!({"sources": ["oauth"]})), 0);
    assert_eq!(count(json!({"categories": ["oauth", "config"]})), 2);
    assert_eq!(
        count(json!({"categories": ["config"], "sources": ["oauth"]})),
        0
    );
    assert_eq!(count(json!({"tags": ["billing"]})), 0);
    assert_eq!(count(json!({"tags": []})), 2);
}

/// OAuth-discovered targets join the set, keep the configured ones, answer the
/// audience question, and are replaced whole by the next discovery.
#[test]
fn oauth_targets_are_swapped_in_at_runtime() {
    let up = Upstream::http(ok("{\"access_token\":\"t\"}"));
    let port = up.port();
    let (h, rec) = one_target(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(
        refusal(&h, "get_oauth_target_audience", json!({"label": "api"})),
        "label api: target is not an OAuth token endpoint"
    );
    assert_eq!(rec.last().outcome, Outcome::Refused);
    assert_eq!(
        refusal(
            &h,
            "get_oauth_target_audience",
            json!({"label": "oauth-token"})
        ),
        "label oauth-token: unknown target"
    );
    let found = Discovered {
        prmd_resource: Some(format!("http://127.0.0.1:{port}/mcp")),
        issuer: Some("https://login.public.example/".into()),
        token_endpoint: Some(format!("http://localhost:{port}/token")),
        ..Discovered::default()
    };
    let labels = h.targets().configured_labels();
    let targets = discovered_targets(&found, &HostRules::default(), h.settings(), &labels);
    assert_eq!(h.replace_oauth_targets(targets), 2);
    assert_eq!(h.status().detail, "3 targets");
    assert_eq!(
        success(
            &h,
            "get_oauth_target_audience",
            json!({"label": "oauth-token"})
        ),
        json!({"audience": format!("http://127.0.0.1:{port}/mcp")})
    );
    let out = success(
        &h,
        "call_target",
        json!({"label": "oauth-token", "method": "POST", "body": "grant_type=client_credentials"}),
    );
    assert_eq!(body_of(&out), b"{\"access_token\":\"t\"}");
    assert_eq!(
        up.wait_requests(1)[0].request_line(),
        "POST /token HTTP/1.1"
    );
    let listed = success(&h, "list_targets", json!({"sources": ["oauth"]}));
    let labels: Vec<&str> = listed["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["oauth-prmd-resource", "oauth-token"]);
    // The next discovery replaces them; configured targets stay.
    h.replace_oauth_targets(Vec::new());
    assert_eq!(h.status().detail, "1 target");
    assert_eq!(
        refusal(
            &h,
            "call_target",
            json!({"label": "oauth-token", "method": "GET"})
        ),
        "label oauth-token: unknown target"
    );
    assert!(h.is_enabled());
}

/// With no configured target the channel is disabled until discovery adds one.
#[test]
fn a_channel_without_targets_is_disabled() {
    let settings = validate(&RawSettings::default(), roots()).unwrap();
    let h = Harpoon::new(settings, Arc::new(NoSink));
    assert!(!h.is_enabled());
    assert_eq!(h.status().detail, "0 targets");
    assert_eq!(
        success(&h, "list_targets", json!({})),
        json!({"targets": []})
    );
    assert_eq!(
        refusal(&h, "call_target", json!({"label": "api", "method": "GET"})),
        "label api: unknown target"
    );
}

// ---------------------------------------------------------------- H13 unix sockets

#[test]
fn h13_unix_socket_targets_use_the_socket_and_the_url_host() {
    let dir = std::env::temp_dir().join(format!("harpoon-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("api.sock");
    let up = Upstream::unix(&path, ok("over the socket"));
    let (h, rec) = harpoon_resolving(
        plain(vec![RawTarget {
            unix_socket: Some(path.to_string_lossy().into_owned()),
            ..target("sock", "http://docker.internal.example/v1.43/")
        }]),
        // Any lookup would be refused: proves none happens.
        &["169.254.169.254"],
    );
    let out = success(
        &h,
        "http_callout",
        json!({"target": "sock", "path": "/containers/json", "method": "GET"}),
    );
    assert_eq!(out["body"], "over the socket");
    let got = up.wait_requests(1);
    assert_eq!(got[0].request_line(), "GET /v1.43/containers/json HTTP/1.1");
    assert_eq!(
        got[0].header("host").as_deref(),
        Some("docker.internal.example")
    );
    assert_eq!(
        rec.last().origin.as_deref(),
        Some("http://docker.internal.example:80")
    );
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
    // A socket that is gone is a failed request, not a fallback to TCP.
    assert_eq!(
        refusal(
            &h,
            "http_callout",
            json!({"target": "sock", "path": "/", "method": "GET"})
        ),
        "label sock: request failed"
    );
}

// ---------------------------------------------------------------- H14 TLS

/// H14: verified against web roots + the CA bundle; no client certificate is
/// offered even when the server asks for one.
#[test]
fn h14_tls_is_verified_and_anonymous() {
    let up = Upstream::https(ok("secure"));
    let (h, _) = harpoon(RawSettings {
        targets: vec![target("api", &format!("https://localhost:{}/", up.port()))],
        ..RawSettings::default()
    });
    let out = success(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/", "method": "GET"}),
    );
    assert_eq!(out["body"], "secure");
    let got = up.wait_requests(1);
    assert!(!got[0].client_cert, "a client certificate was offered");
    // The same server by IP literal (its certificate lists 127.0.0.1).
    let (h, _) = harpoon(RawSettings {
        targets: vec![target("api", &format!("https://127.0.0.1:{}/", up.port()))],
        ..RawSettings::default()
    });
    success(&h, "call_target", json!({"label": "api", "method": "GET"}));
}

#[test]
fn h14_untrusted_or_misnamed_servers_fail() {
    let wrong = Upstream::https_with(
        ok("x"),
        server_tls_with("server-wrong-name.pem", "server-wrong-name.key"),
    );
    let expired = Upstream::https_with(
        ok("x"),
        server_tls_with("server-expired.pem", "server-expired.key"),
    );
    let trusted = Upstream::https(ok("x"));
    for (up, roots_have_ca) in [(&wrong, true), (&expired, true), (&trusted, false)] {
        let raw = RawSettings {
            targets: vec![target("api", &format!("https://localhost:{}/", up.port()))],
            ..RawSettings::default()
        };
        let store = if roots_have_ca {
            roots()
        } else {
            rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }
        };
        let h = Harpoon::new(validate(&raw, store).unwrap(), Arc::new(NoSink));
        assert_eq!(
            refusal(
                &h,
                "http_callout",
                json!({"target": "api", "path": "/", "method": "GET"})
            ),
            "label api: request failed"
        );
        assert!(
            up.requests().is_empty(),
            "no request crossed a failed handshake"
        );
    }
}

// ---------------------------------------------------------------- proxy

/// Through `http_proxy`: CONNECT to the target's host and port with the proxy's
/// credentials; the request inside the tunnel is ours.
#[test]
fn proxied_calls_connect_through_the_proxy() {
    let up = Upstream::http(ok("via proxy"));
    let proxy = crate::support::proxy::ConnectProxy::start(crate::support::proxy::Mode::Basic {
        expected: "dXNlcjpwQHNz".into(),
    });
    let (h, _) = harpoon(RawSettings {
        http_proxy: Some(format!(
            "http://user:p%40ss@127.0.0.1:{}",
            proxy.addr.port()
        )),
        ..plain(vec![target(
            "api",
            &format!("http://localhost:{}/base", up.port()),
        )])
    });
    let out = success(
        &h,
        "http_callout",
        json!({"target": "api", "path": "/x", "method": "GET"}),
    );
    assert_eq!(out["body"], "via proxy");
    let seen = proxy.wait_for(1);
    assert_eq!(seen[0].target(), format!("localhost:{}", up.port()));
    assert_eq!(seen[0].authorization.as_deref(), Some("Basic dXNlcjpwQHNz"));
    let got = up.wait_requests(1);
    assert_eq!(got[0].request_line(), "GET /base/x HTTP/1.1");
    assert_eq!(got[0].header("proxy-authorization"), None);
    assert!(!logged()
        .iter()
        .any(|l| l.contains("p@ss") || l.contains("dXNlcjpwQHNz")));
}

/// A proxy that refuses the tunnel fails the call; nothing reaches the target.
#[test]
fn a_refusing_proxy_fails_the_call() {
    let up = Upstream::http(ok("never"));
    let proxy =
        crate::support::proxy::ConnectProxy::start(crate::support::proxy::Mode::Refuse(403));
    let (h, _) = harpoon(RawSettings {
        http_proxy: Some(format!("http://127.0.0.1:{}", proxy.addr.port())),
        ..plain(vec![target(
            "api",
            &format!("http://localhost:{}/", up.port()),
        )])
    });
    assert_eq!(
        refusal(&h, "call_target", json!({"label": "api", "method": "GET"})),
        "label api: request failed"
    );
    assert_eq!(up.connections(), 0);
}

// ---------------------------------------------------------------- records

#[test]
fn every_call_leaves_one_record() {
    let up = Upstream::http(ok("x"));
    let (h, rec) = one_target(&format!("http://127.0.0.1:{}/", up.port()));
    success(&h, "list_targets", json!({}));
    invalid_params(&h, "call_target", json!({"label": "api"}));
    invalid_params(&h, "call_target", json!({"label": "ghost"}));
    refusal(
        &h,
        "call_target",
        json!({"label": "ghost", "method": "GET"}),
    );
    success(
        &h,
        "call_target",
        json!({"label": "api", "method": "GET", "headers": {"Cookie": "x"}}),
    );
    let all = rec.all();
    assert_eq!(all.len(), 5);
    assert_eq!(
        (all[0].tool, all[0].target.as_str()),
        ("list_targets", UNKNOWN_TARGET)
    );
    assert_eq!(
        (all[1].tool, all[1].target.as_str(), all[1].outcome),
        ("call_target", "api", Outcome::InvalidInput)
    );
    assert_eq!(all[2].target, UNKNOWN_TARGET);
    assert_eq!(
        (all[3].target.as_str(), all[3].outcome),
        (UNKNOWN_TARGET, Outcome::InvalidInput)
    );
    assert_eq!(
        (
            all[4].outcome,
            all[4].dropped_headers,
            all[4].status_class()
        ),
        (Outcome::Success, 1, "2xx")
    );
    assert!(all.iter().all(|r| r.latency < Duration::from_secs(10)));
}
