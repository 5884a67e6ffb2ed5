//! Which of a caller's request headers travel with its command: every
//! end-to-end header, never one that belongs to this hop or names the client.
//! Never logs or echoes header values.

use crate::contract::{header, Headers};

/// Headers of one HTTP hop (and `Expect`, which only asked this hop to
/// accept the body), never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

/// Headers that carry the caller's cookies or say who and where the client
/// is: they stay at the relay.
const CLIENT_IDENTITY: [&str; 10] = [
    "cookie",
    "forwarded",
    "x-real-ip",
    "via",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "client-ip",
];

/// Name prefixes dropped for the same reasons.
const DROPPED_PREFIXES: [&str; 2] = ["proxy-", "x-forwarded-"];

/// Names spelled as MCP and the contract spell them; any other name is
/// written in the usual canonical form (`X-Trace-Id`).
const KNOWN_SPELLINGS: [&str; 7] = [
    header::MCP_SESSION_ID,
    header::MCP_PROTOCOL_VERSION,
    header::LAST_EVENT_ID,
    header::AUTHORIZATION,
    header::WWW_AUTHENTICATE,
    "Mcp-Method",
    "Mcp-Name",
];

/// The command headers for a caller request with headers `pairs`, each name
/// in one spelling ([`canonical_name`]), its values in order.
/// `Authorization` travels only when the relay does not use it itself
/// (`keep_authorization`: caller auth off).
pub fn command_headers<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    keep_authorization: bool,
) -> Headers {
    let named_by_connection: Vec<String> = pairs
        .clone()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect();
    let mut out = Headers::new();
    for (name, value) in pairs {
        let is = |other: &&str| name.eq_ignore_ascii_case(other);
        let dropped = HOP_BY_HOP.iter().any(is)
            || CLIENT_IDENTITY.iter().any(is)
            || DROPPED_PREFIXES.iter().any(|p| {
                name.get(..p.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(p))
            })
            || named_by_connection
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
            || (!keep_authorization && name.eq_ignore_ascii_case(header::AUTHORIZATION));
        if dropped {
            continue;
        }
        out.entry(canonical_name(name))
            .or_default()
            .push(value.to_string());
    }
    out
}

/// `mcp-session-id` → `Mcp-Session-Id`, `x-trace-id` → `X-Trace-Id`: HTTP/2
/// and many clients send lower case; the command carries one spelling.
fn canonical_name(name: &str) -> String {
    if let Some(known) = KNOWN_SPELLINGS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
    {
        return (*known).to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
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
    fn end_to_end_headers_travel_and_the_rest_stays() {
        let caller = [
            ("Host", "relay"),
            ("Content-Length", "12"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Expect", "100-continue"),
            ("Proxy-Authorization", "Basic x"),
            ("Cookie", "sid=1"),
            ("Forwarded", "for=10.0.0.1"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Forwarded-Proto", "https"),
            ("X-Real-IP", "10.0.0.1"),
            ("Via", "1.1 proxy"),
            ("True-Client-IP", "10.0.0.1"),
            ("Authorization", "Bearer relay-token"),
            ("Mcp-Session-Id", "s1"),
            ("Mcp-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "echo"),
            ("Last-Event-ID", "7"),
            ("Accept", "application/json, text/event-stream"),
            ("traceparent", "00-abc-def-01"),
            ("X-Multi", "a"),
            ("x-multi", "b"),
            ("mcp-session-id", "s2"),
        ];
        let got = command_headers(caller.iter().copied(), false);
        assert_eq!(
            got,
            h(&[
                ("Accept", &["application/json, text/event-stream"]),
                ("Last-Event-ID", &["7"]),
                ("Mcp-Method", &["tools/call"]),
                ("Mcp-Name", &["echo"]),
                ("Mcp-Protocol-Version", &["2026-07-28"]),
                ("Mcp-Session-Id", &["s1", "s2"]),
                ("Traceparent", &["00-abc-def-01"]),
                ("X-Multi", &["a", "b"]),
            ])
        );
        let with_auth = command_headers(caller.iter().copied(), true);
        assert_eq!(
            with_auth.get("Authorization"),
            Some(&vec!["Bearer relay-token".to_string()])
        );
    }
}
