//! The discovery algorithm (O4–O6, O9, O10, O14) through the library against real servers on
//! 127.0.0.1: probe hints, candidate order, what moves on and what stops, redirects, caps, timeouts.

use super::*;
use crate::support::closed_port;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tunnel::agent::oauth::{Class, Discovery, Outcome, Selected};
use tunnel::net::NetConfig;
use tunnel::telemetry::Telemetry;

/// Comfortably more than one pass over every candidate.
const DEADLINE: Duration = Duration::from_secs(40);

pub fn discovery(main_url: &str) -> Discovery {
    Discovery::new(
        main_url,
        &NetConfig::default(),
        Vec::new(),
        Arc::new(Telemetry::new()),
    )
    .unwrap()
}

pub fn discover(main_url: &str) -> Outcome {
    discovery(main_url).discover(Instant::now() + DEADLINE)
}

pub fn selected(outcome: Outcome) -> Selected {
    match outcome {
        Outcome::Selected(s) => s,
        other => panic!("expected a selection, got {other:?}"),
    }
}

/// The path a selection came from.
fn source_path(s: &Selected) -> String {
    s.source.request_target()
}

/// The MCP endpoint answers the probe without a hint (as an open MCP server would).
fn no_hint(site: &Site) {
    site.on("POST", "/mcp", |_| status(400));
    site.on("GET", "/mcp", |_| status(405));
}

#[test]
fn o4_a_bearer_resource_metadata_hint_is_tried_first_in_every_spelling() {
    let site = Site::http();
    let hinted = site.url("/meta/hinted");
    site.on("GET", "/meta/hinted", |_| {
        json_ok(&prmd("https://r/mcp", &[]), &[])
    });
    let challenges = [
        format!(r#"Bearer resource_metadata="{hinted}""#),
        format!("Bearer resource_metadata={hinted}"),
        format!(r#"BEARER Resource_Metadata = "{hinted}", scope="a""#),
        format!(
            r#"Basic realm="x", resource_metadata="{}", DPoP algs="ES256", Bearer error="invalid_token", resource_metadata="{hinted}""#,
            site.url("/wrong")
        ),
    ];
    for challenge in &challenges {
        let answer = challenge.clone();
        site.on("POST", "/mcp", move |_| unauthorized(&answer));
        let s = selected(discover(&site.url("/mcp")));
        assert_eq!(source_path(&s), "/meta/hinted", "{challenge}");
    }
    // Two header lines: the Bearer one carries the hint.
    let line = format!("Bearer resource_metadata=\"{hinted}\"");
    site.on("POST", "/mcp", move |_| {
        raw(
            401,
            &[
                ("WWW-Authenticate", "Basic realm=\"x\""),
                ("WWW-Authenticate", &line),
            ],
            b"",
        )
    });
    assert_eq!(
        source_path(&selected(discover(&site.url("/mcp")))),
        "/meta/hinted"
    );
    // The GET probe when the POST gives nothing.
    let challenge = format!("Bearer resource_metadata=\"{hinted}\"");
    site.on("POST", "/mcp", |_| status(405));
    site.on("GET", "/mcp", move |_| unauthorized(&challenge));
    let before = site.seen().len();
    assert_eq!(
        source_path(&selected(discover(&site.url("/mcp")))),
        "/meta/hinted"
    );
    assert_eq!(
        site.seen()[before..],
        ["POST /mcp", "GET /mcp", "GET /meta/hinted"]
    );
}

#[test]
fn o4_o16_the_probe_never_reads_a_body() {
    // A 401 announcing 10 MB and trickling it: reading it would run into the
    // 1 s probe timeout and lose the hint; the probe only looks at the head.
    let site = Site::http();
    let challenge = format!("Bearer resource_metadata=\"{}\"", site.url("/meta/hinted"));
    site.on("POST", "/mcp", move |_| {
        let head = format!(
            "HTTP/1.1 401 X\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 10000000\r\n\r\n"
        );
        Action::Trickle(
            head.into_bytes(),
            vec![b'x'; 100],
            Duration::from_millis(100),
        )
    });
    site.on("GET", "/meta/hinted", |_| {
        json_ok(&prmd("https://r/mcp", &[]), &[])
    });
    let s = selected(discover(&site.url("/mcp")));
    assert_eq!(source_path(&s), "/meta/hinted");
    assert_eq!(site.seen(), ["POST /mcp", "GET /meta/hinted"]);
}

#[test]
fn o4_unusable_hints_are_ignored() {
    let site = Site::http();
    site.on("GET", "/meta/hinted", |_| {
        json_ok(&prmd("https://r/mcp", &[]), &[])
    });
    let hinted = site.url("/meta/hinted");
    let userinfo = hinted.replace("http://", "http://user:pw@");
    for challenge in [
        format!("Basic resource_metadata=\"{hinted}\""),
        format!("Bearer resource_metadata=\"{userinfo}\""),
        "Bearer resource_metadata=\"/meta/hinted\"".to_string(),
        "Bearer resource_metadata=\"ftp://127.0.0.1/x\"".to_string(),
        "Bearer realm=\"x\"".to_string(),
    ] {
        let c = challenge.clone();
        site.on("POST", "/mcp", move |_| unauthorized(&c));
        site.on("GET", "/mcp", |_| status(405));
        assert_eq!(
            discover(&site.url("/mcp")),
            Outcome::NotAdvertised,
            "{challenge}"
        );
    }
    assert!(!site.seen().contains(&"GET /meta/hinted".to_string()));
}

#[test]
fn o5_o6_path_suffixed_then_root_and_the_query_is_dropped() {
    let site = Site::http();
    no_hint(&site);
    site.on("GET", PRMD_ROOT, |_| {
        json_ok(&prmd("https://r/a/mcp", &[]), &[])
    });
    site.on("POST", "/a/mcp/?tenant=1", |_| status(400));
    site.on("GET", "/a/mcp/?tenant=1", |_| status(405));
    let s = selected(discover(&site.url("/a/mcp/?tenant=1")));
    assert_eq!(source_path(&s), PRMD_ROOT);
    assert_eq!(
        site.seen(),
        [
            "POST /a/mcp/?tenant=1",
            "GET /a/mcp/?tenant=1",
            "GET /.well-known/oauth-protected-resource/a/mcp",
            "GET /.well-known/oauth-protected-resource",
        ]
    );
    for r in site.requests() {
        assert_eq!(r.header("Accept").as_deref(), Some("application/json"));
        assert!(r.body.is_empty(), "probe and GETs carry no body");
    }
}

#[test]
fn o9_every_candidate_404_is_not_advertised_but_a_missing_hinted_document_fails() {
    let site = Site::http();
    no_hint(&site);
    assert_eq!(discover(&site.url("/mcp")), Outcome::NotAdvertised);
    assert_eq!(
        site.seen(),
        [
            "POST /mcp",
            "GET /mcp",
            &format!("GET {PRMD_MCP}"),
            &format!("GET {PRMD_ROOT}")
        ]
    );
    let challenge = format!("Bearer resource_metadata=\"{}\"", site.url("/gone"));
    site.on("POST", "/mcp", move |_| unauthorized(&challenge));
    assert_eq!(
        discover(&site.url("/mcp")),
        Outcome::Failed(Class::HttpStatus)
    );
}

#[test]
fn o6_server_errors_move_on_to_the_next_candidate() {
    let site = Site::http();
    no_hint(&site);
    site.on("GET", PRMD_MCP, |_| status(503));
    site.on("GET", PRMD_ROOT, |_| {
        json_ok(&prmd("https://r/mcp", &[]), &[])
    });
    assert_eq!(
        source_path(&selected(discover(&site.url("/mcp")))),
        PRMD_ROOT
    );
    // 5xx then 404: no candidate left, and it was not "not advertised".
    site.on("GET", PRMD_ROOT, |_| status(404));
    assert_eq!(
        discover(&site.url("/mcp")),
        Outcome::Failed(Class::HttpStatus)
    );
    // 5xx, then success on a later attempt of the same candidate.
    site.on(
        "GET",
        PRMD_MCP,
        first_n(
            1,
            || status(500),
            || json_ok(&prmd("https://r/mcp", &[]), &[]),
        ),
    );
    assert_eq!(
        discover(&site.url("/mcp")),
        Outcome::Failed(Class::HttpStatus)
    );
    assert_eq!(
        source_path(&selected(discover(&site.url("/mcp")))),
        PRMD_MCP
    );
}

#[test]
fn o6_o10_unusable_answers_stop_at_once_with_their_class() {
    let oversize = {
        let mut body = br#"{"resource":"https://r/mcp","pad":""#.to_vec();
        body.resize(1024 * 1024 + 1, b'a');
        body
    };
    let exactly_the_cap = {
        let mut body = br#"{"resource":"https://r/mcp"}"#.to_vec();
        body.resize(1024 * 1024, b' ');
        body
    };
    let chunked_oversize = {
        let mut bytes =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        for _ in 0..17 {
            bytes.extend_from_slice(b"10000\r\n");
            bytes.extend_from_slice(&[b' '; 0x10000]);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        bytes
    };
    let cases: Vec<(&str, Action, Option<Class>)> = vec![
        (
            "invalid JSON",
            raw(200, &[], b"{\"resource\": "),
            Some(Class::InvalidMetadata),
        ),
        (
            "empty body",
            raw(200, &[], b""),
            Some(Class::InvalidMetadata),
        ),
        (
            "not an object",
            raw(200, &[], b"[\"resource\"]"),
            Some(Class::InvalidMetadata),
        ),
        (
            "no resource",
            json_ok(&json!({"authorization_servers": []}), &[]),
            Some(Class::InvalidMetadata),
        ),
        (
            "empty resource",
            json_ok(&json!({"resource": ""}), &[]),
            Some(Class::InvalidMetadata),
        ),
        (
            "servers not a list",
            json_ok(
                &json!({"resource": "r", "authorization_servers": "https://as"}),
                &[],
            ),
            Some(Class::InvalidMetadata),
        ),
        (
            "servers not strings",
            json_ok(
                &json!({"resource": "r", "authorization_servers": [{"url": "x"}]}),
                &[],
            ),
            Some(Class::InvalidMetadata),
        ),
        (
            "over 1 MiB",
            raw(200, &[], &oversize),
            Some(Class::BodyTooLarge),
        ),
        (
            "over 1 MiB, chunked",
            Action::Send(chunked_oversize),
            Some(Class::BodyTooLarge),
        ),
        ("exactly 1 MiB", raw(200, &[], &exactly_the_cap), None),
        ("403", status(403), Some(Class::HttpStatus)),
        ("401", status(401), Some(Class::HttpStatus)),
        ("204", status(204), Some(Class::HttpStatus)),
        (
            "redirect without Location",
            status(302),
            Some(Class::RedirectBlocked),
        ),
    ];
    for (what, answer, expected) in cases {
        let site = Site::http();
        no_hint(&site);
        site.on("GET", PRMD_MCP, move |_| answer.clone());
        site.on("GET", PRMD_ROOT, |_| status(404));
        let outcome = discover(&site.url("/mcp"));
        match expected {
            Some(class) if class == Class::RedirectBlocked => {
                // A blocked redirect moves on; the root 404 leaves it the reason.
                assert_eq!(outcome, Outcome::Failed(class), "{what}");
                assert!(site.seen().contains(&format!("GET {PRMD_ROOT}")), "{what}");
            }
            Some(class) => {
                assert_eq!(outcome, Outcome::Failed(class), "{what}");
                assert!(
                    !site.seen().contains(&format!("GET {PRMD_ROOT}")),
                    "{what}: no candidate after a stop"
                );
            }
            None => assert_eq!(source_path(&selected(outcome)), PRMD_MCP, "{what}"),
        }
    }
}

#[test]
fn o14_same_origin_redirects_are_followed_up_to_ten() {
    let site = Site::http();
    no_hint(&site);
    let origin = site.origin();
    // 301, 302, 303, 307, 308; relative and absolute same-origin locations.
    let codes = [301, 302, 303, 307, 308];
    for hop in 0..11 {
        let code = codes[hop % codes.len()];
        let next = if hop % 2 == 0 {
            format!("/hop/{}", hop + 1)
        } else {
            format!("{origin}/hop/{}", hop + 1)
        };
        let path = if hop == 0 {
            PRMD_MCP.to_string()
        } else {
            format!("/hop/{hop}")
        };
        site.on("GET", &path, move |_| {
            raw(code, &[("Location", &next)], b"moved")
        });
    }
    // Ten redirects land on /hop/10.
    site.on("GET", "/hop/10", |_| {
        json_ok(&prmd("https://r/mcp", &[]), &[("ETag", "\"v10\"")])
    });
    let s = selected(discover(&site.url("/mcp")));
    assert_eq!(source_path(&s), "/hop/10");
    assert_eq!(s.headers["ETag"], ["\"v10\""]);
    // An eleventh is one too many: that candidate fails, the next is tried.
    let origin = site.origin();
    site.on("GET", "/hop/10", move |_| {
        raw(302, &[("Location", &format!("{origin}/hop/11"))], b"")
    });
    site.on("GET", "/hop/11", |_| {
        json_ok(&prmd("https://r/mcp", &[]), &[])
    });
    assert_eq!(
        discover(&site.url("/mcp")),
        Outcome::Failed(Class::RedirectBlocked)
    );
    assert!(!site.seen().contains(&"GET /hop/11".to_string()));
    assert_eq!(
        site.seen().last().map(String::as_str),
        Some(&*format!("GET {PRMD_ROOT}"))
    );
}

#[test]
fn o14_a_redirect_off_the_origin_fails_that_candidate_and_is_never_followed() {
    let main = Site::http();
    let other = Site::http();
    no_hint(&main);
    other.on("GET", PRMD_ROOT, |_| {
        json_ok(&prmd("https://r/mcp", &[]), &[])
    });
    let same_port_https = format!("https://127.0.0.1:{}{PRMD_ROOT}", main.upstream.port());
    let localhost = format!("http://localhost:{}{PRMD_ROOT}", main.upstream.port());
    for location in [other.url(PRMD_ROOT), same_port_https, localhost] {
        let to = location.clone();
        main.on("GET", PRMD_MCP, move |_| {
            raw(302, &[("Location", &to)], b"")
        });
        main.on("GET", PRMD_ROOT, |_| {
            json_ok(&prmd("https://r/root", &[]), &[])
        });
        let s = selected(discover(&main.url("/mcp")));
        assert_eq!(source_path(&s), PRMD_ROOT, "{location}");
        assert_eq!(s.metadata["resource"], "https://r/root");
        main.on("GET", PRMD_ROOT, |_| status(404));
        assert_eq!(
            discover(&main.url("/mcp")),
            Outcome::Failed(Class::RedirectBlocked),
            "{location}"
        );
    }
    assert_eq!(
        other.upstream.connections(),
        0,
        "the other origin was contacted"
    );
}

#[test]
fn o6_when_every_candidate_timed_out_there_is_one_more_pass() {
    let site = Site::http();
    no_hint(&site);
    site.on(
        "GET",
        PRMD_MCP,
        first_n(
            1,
            || Action::Hang,
            || json_ok(&prmd("https://r/mcp", &[]), &[]),
        ),
    );
    site.on(
        "GET",
        PRMD_ROOT,
        first_n(1, || Action::Hang, || status(404)),
    );
    let s = selected(discover(&site.url("/mcp")));
    assert_eq!(source_path(&s), PRMD_MCP);
    assert_eq!(
        site.seen(),
        [
            "POST /mcp",
            "GET /mcp",
            &format!("GET {PRMD_MCP}"),
            &format!("GET {PRMD_ROOT}"),
            &format!("GET {PRMD_MCP}"),
        ]
    );
}

#[test]
fn o6_a_timeout_beside_a_404_fails_as_timeout_after_one_pass() {
    let site = Site::http();
    no_hint(&site);
    site.on("GET", PRMD_MCP, |_| Action::Hang);
    assert_eq!(discover(&site.url("/mcp")), Outcome::Failed(Class::Timeout));
    assert_eq!(
        site.seen()
            .iter()
            .filter(|s| s.starts_with("GET /.well-known"))
            .count(),
        2,
        "one pass only: {:?}",
        site.seen()
    );
}

#[test]
fn o3_a_deadline_inside_discovery_expires_it() {
    let site = Site::http();
    no_hint(&site);
    site.on("GET", PRMD_MCP, |_| Action::Hang);
    let started = Instant::now();
    let outcome =
        discovery(&site.url("/mcp")).discover(Instant::now() + Duration::from_millis(1500));
    assert_eq!(outcome, Outcome::Expired);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it did not hang"
    );
}

#[test]
fn o10_connect_and_tls_failures_are_classified() {
    let url = format!("http://127.0.0.1:{}/mcp", closed_port());
    assert_eq!(discover(&url), Outcome::Failed(Class::Connect));
    // The test CA is not trusted here.
    let site = Site::https();
    assert_eq!(discover(&site.url("/mcp")), Outcome::Failed(Class::Tls));
}
