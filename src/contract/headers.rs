//! Multi-valued header maps as the contract carries them, and the two header
//! rules: which request headers never cross a hop, which response headers may.

use super::header;
use std::collections::BTreeMap;

/// `{"Name": ["v1", "v2"]}` as on the wire. Names keep the sender's spelling;
/// look them up with [`get`], which ignores case.
pub type Headers = BTreeMap<String, Vec<String>>;

/// Response headers the agent may copy from the MCP hop into `resp_headers`,
/// in their canonical spelling.
pub const RESPONSE_ALLOWLIST: [&str; 6] = [
    header::CONTENT_TYPE,
    header::MCP_SESSION_ID,
    header::MCP_PROTOCOL_VERSION,
    header::LAST_EVENT_ID,
    header::ACCESS_CONTROL_EXPOSE_HEADERS,
    header::WWW_AUTHENTICATE,
];

/// Request headers that belong to one HTTP hop and are never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "host",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
];

/// All values of `name`, compared without case, in order.
pub fn get<'a>(headers: &'a Headers, name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().map(String::as_str))
        .collect()
}

/// The first value of `name`, compared without case.
pub fn first<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter())
        .map(String::as_str)
        .next()
}

/// Tokens listed by `Connection` headers, lowercased.
fn connection_tokens<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    pairs
        .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The command headers that may be applied to a request to the MCP server:
/// everything except hop-by-hop headers, `Proxy-*` and what `Connection` names.
pub fn forwardable_request_headers(headers: &Headers) -> Vec<(&str, &str)> {
    let pairs = || {
        headers
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str())))
    };
    let named = connection_tokens(pairs());
    pairs()
        .filter(|(k, _)| {
            let lower = k.to_ascii_lowercase();
            !HOP_BY_HOP.contains(&lower.as_str())
                && !lower.starts_with("proxy-")
                && !named.contains(&lower)
        })
        .collect()
}

/// Builds `resp_headers` from the MCP response's headers: only the allowlist,
/// minus anything `Connection` names, minus empty values.
pub fn filter_response_headers<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> Headers {
    let named = connection_tokens(pairs.clone());
    let mut out = Headers::new();
    for (name, value) in pairs {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let Some(canonical) = RESPONSE_ALLOWLIST
            .iter()
            .find(|a| a.eq_ignore_ascii_case(name))
        else {
            continue;
        };
        if named.contains(&canonical.to_ascii_lowercase()) {
            continue;
        }
        out.entry((*canonical).to_string())
            .or_default()
            .push(value.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &[&str])]) -> Headers {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    #[test]
    fn request_headers_drop_hop_by_hop_and_connection_named() {
        let headers = h(&[
            ("Connection", &["keep-alive, X-Secret-Hop"]),
            ("X-Secret-Hop", &["1"]),
            ("Host", &["evil"]),
            ("Proxy-Authorization", &["Basic x"]),
            ("Transfer-Encoding", &["chunked"]),
            ("Mcp-Session-Id", &["s1"]),
            ("X-Multi", &["a", "b"]),
        ]);
        let got = forwardable_request_headers(&headers);
        assert_eq!(
            got,
            vec![("Mcp-Session-Id", "s1"), ("X-Multi", "a"), ("X-Multi", "b")]
        );
    }

    #[test]
    fn response_headers_allowlist() {
        let pairs = [
            ("content-type", "application/json"),
            ("mcp-session-id", "abc"),
            ("Set-Cookie", "x=1"),
            ("Connection", "Last-Event-ID"),
            ("Last-Event-ID", "7"),
            ("WWW-Authenticate", ""),
            ("Mcp-Protocol-Version", "2025-06-18"),
        ];
        let got = filter_response_headers(pairs.iter().map(|(a, b)| (*a, *b)));
        assert_eq!(
            got,
            h(&[
                ("Content-Type", &["application/json"]),
                ("Mcp-Protocol-Version", &["2025-06-18"]),
                ("Mcp-Session-Id", &["abc"]),
            ])
        );
    }

    #[test]
    fn lookups_ignore_case() {
        let headers = h(&[("mcp-session-id", &["x"]), ("MCP-SESSION-ID", &["y"])]);
        assert_eq!(get(&headers, "Mcp-Session-Id"), vec!["y", "x"]);
        assert_eq!(first(&headers, "Mcp-Session-Id"), Some("y"));
        assert_eq!(first(&headers, "Other"), None);
    }
}
