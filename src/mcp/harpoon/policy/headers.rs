//! Header rules: which caller headers are refused, dropped or sent, and which
//! response headers a caller sees. Pure; must never let a value carry a line break or a caller set framing, cookies, proxy or identity headers.

use std::collections::BTreeMap;

/// Most headers a caller may give.
pub const MAX_REQUEST_HEADERS: usize = 100;
/// Most bytes of caller header names and values together.
pub const MAX_REQUEST_HEADER_BYTES: usize = 16 * 1024;

/// Caller headers dropped silently: framing and connection management (ours),
/// cookies, proxy, client identity and forwarding headers the caller must not forge.
const DROPPED_NAMES: [&str; 21] = [
    "accept-encoding",
    "connection",
    "content-length",
    "cookie",
    "forwarded",
    "host",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "via",
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
    "x-envoy-external-address",
    "x-tunnel-traffic-source",
];
/// Caller headers dropped silently although the official list omits them:
/// frameworks honour them to override the method, path or host Harpoon
/// confined (`X-HTTP-Method-Override: DELETE` past the method allowlist, `X-Original-URL:
/// /admin` out of the base path, `X-HTTP-Host-Override` to another vhost).
const ROUTING_OVERRIDES: [&str; 10] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-envoy-original-path",
    "x-host",
    "x-http-host-override",
    "x-original-host",
];
/// Prefixes of caller headers dropped silently.
const DROPPED_PREFIXES: [&str; 4] = [
    "proxy-",
    "x-forwarded-",
    "x-openai-",
    "x-custom-cf-witness-",
];

/// Response headers `http_callout` never shows: cookies and hop-by-hop headers.
const HIDDEN_RESPONSE_HEADERS: [&str; 11] = [
    "set-cookie",
    "set-cookie2",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Why caller headers were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderProblem {
    /// A control character in a value, a name that is not a token, or two
    /// names equal but for case.
    Invalid,
    /// More than [`MAX_REQUEST_HEADERS`] headers or [`MAX_REQUEST_HEADER_BYTES`] bytes.
    TooLarge,
}

/// The caller headers that will be sent, and how many were dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prepared {
    pub headers: Vec<(String, String)>,
    pub dropped: u32,
}

/// An HTTP token character (RFC 9110 `tchar`).
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_token_byte)
}

/// A value that cannot end a header line or hide one: no control character
/// but horizontal tab. Stricter than CR/LF/NUL alone: some parsers treat VT, FF
/// or DEL as separators.
fn is_safe_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Applies the caller-header rules: refuses oversized sets, unsafe values and
/// case duplicates; drops framing, cookie, proxy and identity headers and
/// every name a caller `Connection` header lists.
pub fn prepare(caller: &[(String, String)]) -> Result<Prepared, HeaderProblem> {
    let bytes = caller.iter().fold(0usize, |n, (k, v)| {
        n.saturating_add(k.len()).saturating_add(v.len())
    });
    if caller.len() > MAX_REQUEST_HEADERS || bytes > MAX_REQUEST_HEADER_BYTES {
        return Err(HeaderProblem::TooLarge);
    }
    let mut seen: Vec<String> = Vec::with_capacity(caller.len());
    for (name, value) in caller {
        let lower = name.to_ascii_lowercase();
        if !is_token(name) || !is_safe_value(value) || seen.contains(&lower) {
            return Err(HeaderProblem::Invalid);
        }
        seen.push(lower);
    }
    let named_by_connection: Vec<String> = caller
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut prepared = Prepared::default();
    for (name, value) in caller {
        let lower = name.to_ascii_lowercase();
        let dropped = DROPPED_NAMES.contains(&lower.as_str())
            || ROUTING_OVERRIDES.contains(&lower.as_str())
            || DROPPED_PREFIXES.iter().any(|p| lower.starts_with(p))
            || named_by_connection.contains(&lower);
        if dropped {
            prepared.dropped += 1;
        } else {
            prepared.headers.push((name.clone(), value.clone()));
        }
    }
    Ok(prepared)
}

/// `content-type` → `Content-Type`: the first letter and each one after `-`
/// upper case, the rest lower case (Go's canonical form, which callers of the
/// official client see). Names that are not tokens are left as they are.
pub fn canonical_name(name: &str) -> String {
    if !is_token(name) {
        return name.to_string();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// Response headers as a caller sees them: canonical names, values in order.
/// `Transfer-Encoding` is never shown (framing is ours); `hide_hop_by_hop`
/// (`http_callout`) also hides cookies, hop-by-hop headers and the names a
/// response `Connection` header lists.
pub fn for_caller(
    headers: &[(String, String)],
    hide_hop_by_hop: bool,
) -> BTreeMap<String, Vec<String>> {
    let named_by_connection: Vec<String> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let hidden = lower == "transfer-encoding"
            || (hide_hop_by_hop
                && (HIDDEN_RESPONSE_HEADERS.contains(&lower.as_str())
                    || named_by_connection.contains(&lower)));
        if !hidden {
            out.entry(canonical_name(name))
                .or_default()
                .push(value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sent(list: &[(&str, &str)]) -> (Vec<String>, u32) {
        let p = prepare(&pairs(list)).unwrap();
        (p.headers.into_iter().map(|(k, _)| k).collect(), p.dropped)
    }

    /// H6: every name of the drop list, the prefixes, and Connection-named headers.
    #[test]
    fn h6_drops_framing_cookie_proxy_and_identity_headers() {
        for name in DROPPED_NAMES.iter().chain(ROUTING_OVERRIDES.iter()) {
            let upper = name.to_ascii_uppercase();
            assert_eq!(sent(&[(&upper, "x")]), (vec![], 1), "{name}");
        }
        for name in [
            "Proxy-Authorization",
            "proxy-connection",
            "X-Forwarded-For",
            "x-forwarded-host",
            "X-Forwarded-Proto",
            "X-OpenAI-Org",
            "x-custom-cf-witness-abc",
        ] {
            assert_eq!(sent(&[(name, "x")]), (vec![], 1), "{name}");
        }
        let (kept, dropped) = sent(&[
            ("Connection", "close, X-Secret-Hop ,authorization"),
            ("X-Secret-Hop", "1"),
            ("Authorization", "Bearer t"),
            ("Accept", "application/json"),
        ]);
        assert_eq!((kept, dropped), (vec!["Accept".to_string()], 3));
    }

    #[test]
    fn h6_authorization_and_ordinary_headers_pass() {
        let (kept, dropped) = sent(&[
            ("Authorization", "Basic dTpw"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Request-Id", "abc\tdef"),
            ("Accept-Language", "d\u{e9}"),
            ("X-Empty", ""),
        ]);
        assert_eq!(kept.len(), 5);
        assert_eq!(dropped, 0);
    }

    #[test]
    fn h6_refuses_line_breaks_controls_and_case_duplicates() {
        for (name, value) in [
            ("X-A", "a\r\nHost: evil"),
            ("X-A", "a\nb"),
            ("X-A", "a\rb"),
            ("X-A", "a\u{0}b"),
            ("X-A", "a\u{b}b"),
            ("X-A", "a\u{7f}"),
            ("X A", "v"),
            ("X-A:", "v"),
            ("", "v"),
            ("Host\r\nX", "v"),
        ] {
            assert_eq!(
                prepare(&pairs(&[(name, value)])),
                Err(HeaderProblem::Invalid),
                "{name:?}: {value:?}"
            );
        }
        // A refused value is refused even on a header that would be dropped.
        assert_eq!(
            prepare(&pairs(&[("Cookie", "a\r\nb")])),
            Err(HeaderProblem::Invalid)
        );
        assert_eq!(
            prepare(&pairs(&[("X-A", "1"), ("x-a", "2")])),
            Err(HeaderProblem::Invalid)
        );
        assert_eq!(
            prepare(&pairs(&[("authorization", "1"), ("AUTHORIZATION", "2")])),
            Err(HeaderProblem::Invalid)
        );
    }

    #[test]
    fn h6_caps_count_and_bytes() {
        let many: Vec<(String, String)> = (0..=MAX_REQUEST_HEADERS)
            .map(|i| (format!("X-H{i}"), "v".to_string()))
            .collect();
        assert_eq!(prepare(&many), Err(HeaderProblem::TooLarge));
        assert!(prepare(&many[..MAX_REQUEST_HEADERS]).is_ok());
        let big = pairs(&[("X-Big", &"a".repeat(MAX_REQUEST_HEADER_BYTES))]);
        assert_eq!(prepare(&big), Err(HeaderProblem::TooLarge));
        let fits = pairs(&[("X-Big", &"a".repeat(MAX_REQUEST_HEADER_BYTES - 5))]);
        assert!(prepare(&fits).is_ok());
    }

    #[test]
    fn canonical_names_follow_go() {
        for (raw, canonical) in [
            ("content-type", "Content-Type"),
            ("WWW-AUTHENTICATE", "Www-Authenticate"),
            ("x-request-id", "X-Request-Id"),
            ("etag", "Etag"),
            ("a--b", "A--B"),
            ("bad name", "bad name"),
        ] {
            assert_eq!(canonical_name(raw), canonical);
        }
    }

    #[test]
    fn response_headers_for_each_tool() {
        let response = pairs(&[
            ("content-type", "application/json"),
            ("Set-Cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("Connection", "close, X-Hop"),
            ("X-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("Location", "/x"),
        ]);
        let callout = for_caller(&response, true);
        assert_eq!(
            callout.keys().collect::<Vec<_>>(),
            vec!["Content-Type", "Location"]
        );
        let call_target = for_caller(&response, false);
        assert_eq!(call_target["Set-Cookie"], vec!["a=1", "b=2"]);
        assert!(!call_target.contains_key("Transfer-Encoding"));
        assert!(call_target.contains_key("X-Hop"));
    }
}
