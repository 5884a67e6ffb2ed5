//! The `http_callout` path rules: what a caller's path may contain, and how it
//! joins the base path byte for byte. Pure; must never normalize, decode into the request, or parse a URL.

use std::fmt;

/// Why a path was refused; the text follows `invalid path: `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    NotAbsolute,
    SchemeRelative,
    ForbiddenCharacter,
    MalformedEscape,
    EncodedSeparator,
    DoubleEncoding,
    DotSegment,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::NotAbsolute => "not absolute",
            PathProblem::SchemeRelative => "scheme-relative",
            PathProblem::ForbiddenCharacter => "forbidden character",
            PathProblem::MalformedEscape => "malformed escape",
            PathProblem::EncodedSeparator => "encoded separator",
            PathProblem::DoubleEncoding => "double encoding",
            PathProblem::DotSegment => "dot segment",
        })
    }
}

/// Checks a caller's path (with an optional `?query`):
/// - it starts with `/` and not `//`;
/// - no `\`, `#`, byte ≤ 0x20, 0x7F or non-ASCII anywhere, and no `@` before the `?`;
/// - every `%` is followed by two hex digits;
/// - before the `?`: no `%2f` `%5c` `%00` (encoded separators), no `%25` (double
///   encoding), and no segment that, decoded and cut at `;`, is a dot segment or
///   holds invalid UTF-8 or a control character (servers disagree on those).
pub fn check(path_and_query: &str) -> Result<(), PathProblem> {
    if !path_and_query.starts_with('/') {
        return Err(PathProblem::NotAbsolute);
    }
    if path_and_query.starts_with("//") {
        return Err(PathProblem::SchemeRelative);
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    if !path
        .bytes()
        .all(|b| allowed_byte(b) && b != b'@' && b != b'?')
    {
        return Err(PathProblem::ForbiddenCharacter);
    }
    if let Some(query) = query {
        // `?` and `@` are data in a query.
        if !query.bytes().all(allowed_byte) {
            return Err(PathProblem::ForbiddenCharacter);
        }
    }
    let path_escapes = escapes(path)?;
    if let Some(query) = query {
        escapes(query)?;
    }
    for byte in &path_escapes {
        if matches!(byte, b'/' | b'\\' | 0) {
            return Err(PathProblem::EncodedSeparator);
        }
    }
    if path_escapes.contains(&b'%') {
        return Err(PathProblem::DoubleEncoding);
    }
    for segment in path.split('/') {
        if is_suspicious_segment(segment) {
            return Err(PathProblem::DotSegment);
        }
    }
    Ok(())
}

/// Path and query bytes allowed at all: printable ASCII except `\` and `#`.
fn allowed_byte(b: u8) -> bool {
    b > 0x20 && b < 0x7f && b != b'\\' && b != b'#'
}

/// The decoded byte of every `%XX` escape in `text`, in order.
fn escapes(text: &str) -> Result<Vec<u8>, PathProblem> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .and_then(hex_pair)
                .ok_or(PathProblem::MalformedEscape)?;
            decoded.push(byte);
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(decoded)
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(*pair.first()?)? * 16 + digit(*pair.get(1)?)?) as u8)
}

/// Percent-decodes an already checked segment.
fn decode(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i + 1..i + 3).and_then(hex_pair) {
            Some(byte) if bytes[i] == b'%' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// Dot-like characters some servers fold into `.` (full-width, one-dot leader, small full stop).
const DOT_LOOKALIKES: [char; 3] = ['\u{ff0e}', '\u{2024}', '\u{fe52}'];

/// A segment some server could read as `.` or `..`: decoded and cut at `;`,
/// it is only dots (or dot look-alikes) and whitespace, or it is not valid
/// UTF-8, or it holds a control character. Stricter than "is `.` or `..`":
/// `...`, `.. ` and `．．` are refused too, since path normalizers differ.
fn is_suspicious_segment(segment: &str) -> bool {
    let decoded = decode(segment);
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return true;
    };
    if text.chars().any(char::is_control) {
        return true;
    }
    let head = text.split(';').next().unwrap_or_default();
    let trimmed = head.trim_matches(|c: char| c.is_whitespace());
    !trimmed.is_empty()
        && trimmed
            .chars()
            .all(|c| c == '.' || DOT_LOOKALIKES.contains(&c))
}

/// The request target for a caller path under a base path: the base path
/// without its trailing `/`, then the caller's path, byte for byte.
pub fn join(base_path: &str, path_and_query: &str) -> String {
    let base = base_path.strip_suffix('/').unwrap_or(base_path);
    format!("{base}{path_and_query}")
}

/// Whether `path` (no query) is `base_path` itself or below it, on a segment
/// boundary: `/api` covers `/api` and `/api/x`, never `/apix`.
pub fn is_under(base_path: &str, path: &str) -> bool {
    let base = base_path.strip_suffix('/').unwrap_or(base_path);
    if base.is_empty() {
        return path.starts_with('/');
    }
    match path.strip_prefix(base) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PathProblem::*;

    /// H3: one case per trick, with the reason the caller reads.
    #[test]
    fn h3_refuses_every_trick() {
        let cases: &[(&str, PathProblem)] = &[
            ("", NotAbsolute),
            ("v1/users", NotAbsolute),
            ("http://evil/", NotAbsolute),
            ("?x=1", NotAbsolute),
            ("//evil.example/x", SchemeRelative),
            ("///x", SchemeRelative),
            ("/a\\b", ForbiddenCharacter),
            ("/\\\\evil/x", ForbiddenCharacter),
            ("/a#frag", ForbiddenCharacter),
            ("/a?b#c", ForbiddenCharacter),
            ("/@evil.example/", ForbiddenCharacter),
            ("/a@b", ForbiddenCharacter),
            ("/a b", ForbiddenCharacter),
            ("/a\tb", ForbiddenCharacter),
            ("/a\r\nHost: evil", ForbiddenCharacter),
            ("/a\u{0}", ForbiddenCharacter),
            ("/a\u{7f}", ForbiddenCharacter),
            ("/caf\u{e9}", ForbiddenCharacter),
            ("/\u{ff0e}\u{ff0e}/x", ForbiddenCharacter),
            ("/a?b c", ForbiddenCharacter),
            ("/a?b\\c", ForbiddenCharacter),
            ("/a%", MalformedEscape),
            ("/a%2", MalformedEscape),
            ("/a%zz", MalformedEscape),
            ("/a%u002e", MalformedEscape),
            ("/a?x=%g1", MalformedEscape),
            ("/a%2fb", EncodedSeparator),
            ("/a%2Fb", EncodedSeparator),
            ("/a%5cb", EncodedSeparator),
            ("/a%5C..", EncodedSeparator),
            ("/a%00", EncodedSeparator),
            ("/a%252fb", DoubleEncoding),
            ("/%252e%252e/x", DoubleEncoding),
            ("/.", DotSegment),
            ("/..", DotSegment),
            ("/a/../b", DotSegment),
            ("/a/./b", DotSegment),
            ("/a/..", DotSegment),
            ("/%2e%2e/x", DotSegment),
            ("/%2E%2e/x", DotSegment),
            ("/%2e/x", DotSegment),
            ("/.%2e/x", DotSegment),
            ("/..;/x", DotSegment),
            ("/..;jsessionid=1/x", DotSegment),
            ("/%2e%2e%3bx/y", DotSegment),
            ("/.;/x", DotSegment),
            ("/.../x", DotSegment),
            ("/..%20/x", DotSegment),
            ("/%20../x", DotSegment),
            ("/%ef%bc%8e%ef%bc%8e/x", DotSegment),
            ("/%e2%80%a4%e2%80%a4/x", DotSegment),
            ("/.%09./x", DotSegment),
            ("/%c0%ae%c0%ae/x", DotSegment),
            ("/%ff/x", DotSegment),
            ("/a%0d%0aHost:%20evil", DotSegment),
            ("/a%7f", DotSegment),
            ("/a%c2%85", DotSegment),
        ];
        for (path, problem) in cases {
            assert_eq!(check(path), Err(*problem), "{path:?}");
        }
    }

    #[test]
    fn h3_allows_ordinary_paths_and_queries() {
        for path in [
            "/",
            "/v1/users/42",
            "/a//b",
            "/a/.hidden",
            "/a/..b",
            "/a/b..",
            "/a/x.y/b",
            "/a;b=c",
            "/caf%c3%a9",
            "/a%20b",
            "/a%2e",
            "/a?x=1&y=2",
            "/a?next=/b@c?d",
            "/a?x=%25",
            "/a?u=%2f%5c%00",
            "/a?q=..",
            "/~user/file.txt",
            "/x:y!$&'()*+,=",
        ] {
            assert_eq!(check(path), Ok(()), "{path:?}");
        }
    }

    /// H4: byte-for-byte concatenation, trailing slash of the base dropped.
    #[test]
    fn h4_join_is_byte_for_byte() {
        assert_eq!(join("/api/", "/v1/x?y=%41"), "/api/v1/x?y=%41");
        assert_eq!(join("/api", "/v1/x"), "/api/v1/x");
        assert_eq!(join("", "/x"), "/x");
        assert_eq!(join("/", "/x"), "/x");
        assert_eq!(join("/a%2Fb", "/C"), "/a%2Fb/C");
    }

    #[test]
    fn under_base_path_respects_segment_boundaries() {
        assert!(is_under("/api", "/api"));
        assert!(is_under("/api/", "/api/x"));
        assert!(is_under("/api", "/api/"));
        assert!(!is_under("/api", "/apix"));
        assert!(!is_under("/api", "/"));
        assert!(!is_under("/api/v1", "/api/v2/x"));
        assert!(is_under("", "/anything"));
        assert!(is_under("/", "/anything"));
    }

    /// The path rules never panic, whatever the text.
    #[test]
    fn arbitrary_paths_never_panic() {
        let alphabet: Vec<char> = "/%.;?@#\\2eEfF5c0aZ \u{e9}\u{ff0e}".chars().collect();
        let mut seed = 7u32;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = (seed >> 24) as usize % 24;
            let text: String = (0..len)
                .map(|i| alphabet[seed.rotate_left(i as u32 * 3) as usize % alphabet.len()])
                .collect();
            let _ = check(&text);
            let _ = is_under("/api", &text);
        }
    }
}
