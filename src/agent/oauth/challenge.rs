//! Reads `resource_metadata` out of `WWW-Authenticate` challenges (RFC 9110 section 11.6.1,
//! RFC 9728 section 5.1). Pure and total: any byte string gives an answer, never a panic.

/// Longest header value looked at; the rest of a longer one is ignored.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The `resource_metadata` parameter of the first `Bearer` challenge that has
/// one. Scheme and parameter names match without case; the value may be a
/// token or a quoted string (escapes undone). Other challenges, token68
/// credentials and malformed parts are skipped.
pub fn resource_metadata(header_value: &str) -> Option<String> {
    let bytes = header_value.as_bytes();
    let bytes = &bytes[..bytes.len().min(MAX_HEADER_BYTES)];
    let mut at = 0;
    let mut in_bearer = false;
    while at < bytes.len() {
        at = skip(bytes, at, |b| b == b',' || is_space(b));
        let (name, after_name) = token(bytes, at);
        if name.is_empty() {
            // Not a token where one must be: drop this list element.
            at = past_element(bytes, at);
            in_bearer = false;
            continue;
        }
        let after_space = skip(bytes, after_name, is_space);
        if let Some((value, next)) = parameter_value(bytes, after_space) {
            if in_bearer && name.eq_ignore_ascii_case("resource_metadata") {
                return Some(value);
            }
            at = past_element(bytes, next);
            continue;
        }
        // A new challenge: `scheme`, maybe followed by token68 or a first parameter.
        in_bearer = name.eq_ignore_ascii_case("bearer");
        at = after_space;
        if after_space > after_name && !matches!(bytes.get(after_space), None | Some(b',')) {
            let (first, after_first) = token(bytes, after_space);
            let after_first_space = skip(bytes, after_first, is_space);
            if !first.is_empty() && parameter_value(bytes, after_first_space).is_some() {
                continue;
            }
            // token68 (or garbage): nothing of this challenge before the next comma.
            at = past_element(bytes, after_space);
        }
    }
    None
}

/// `= value` at `at` (optional spaces around `=`): the value and the index after it.
fn parameter_value(bytes: &[u8], at: usize) -> Option<(String, usize)> {
    if bytes.get(at) != Some(&b'=') {
        return None;
    }
    let start = skip(bytes, at + 1, is_space);
    match bytes.get(start) {
        Some(b'"') => quoted(bytes, start + 1),
        // A bare value: RFC 9110 wants a token, but servers write bare URLs
        // (`:` and `/` are not token characters), so read up to a delimiter.
        Some(b'=') | None => None,
        Some(_) => {
            let end = skip(bytes, start, |b| b != b',' && b != b'"' && !is_space(b));
            let value = String::from_utf8_lossy(&bytes[start..end]).into_owned();
            (!value.is_empty()).then_some((value, end))
        }
    }
}

/// A quoted string's content from `at` (just after the opening quote).
fn quoted(bytes: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut out = Vec::new();
    while let Some(&b) = bytes.get(at) {
        match b {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), at + 1)),
            b'\\' => {
                out.push(*bytes.get(at + 1)?);
                at += 2;
            }
            _ => {
                out.push(b);
                at += 1;
            }
        }
    }
    None
}

fn token(bytes: &[u8], at: usize) -> (&str, usize) {
    let end = skip(bytes, at, is_tchar);
    // tchar is ASCII, so the slice is valid UTF-8.
    (std::str::from_utf8(&bytes[at..end]).unwrap_or(""), end)
}

fn skip(bytes: &[u8], mut at: usize, class: impl Fn(u8) -> bool) -> usize {
    while bytes.get(at).is_some_and(|&b| class(b)) {
        at += 1;
    }
    at
}

/// The index of the next comma outside a quoted string (or the end).
fn past_element(bytes: &[u8], mut at: usize) -> usize {
    let mut quoted = false;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'\\' if quoted => at += 1,
            b'"' => quoted = !quoted,
            b',' if !quoted => return at,
            _ => {}
        }
        at += 1;
    }
    at
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::resource_metadata;

    const URL: &str = "https://as.example/.well-known/oauth-protected-resource/mcp";

    #[test]
    fn quoted_bare_and_any_case_o4() {
        let found = |h: &str| resource_metadata(h);
        assert_eq!(
            found(&format!(r#"Bearer resource_metadata="{URL}""#)).as_deref(),
            Some(URL)
        );
        assert_eq!(
            found(&format!("Bearer resource_metadata={URL}")).as_deref(),
            Some(URL)
        );
        assert_eq!(
            found(&format!(r#"bEaReR Resource_Metadata = "{URL}""#)).as_deref(),
            Some(URL)
        );
        assert_eq!(
            found(&format!(
                r#"Bearer realm="mcp, \"x\"", error="invalid_token", resource_metadata="{URL}", scope="a b""#
            ))
            .as_deref(),
            Some(URL)
        );
    }

    #[test]
    fn only_inside_a_bearer_challenge_o4() {
        let h = format!(
            r#"Basic realm="x", resource_metadata="https://wrong.example/", DPoP algs="ES256", Bearer resource_metadata="{URL}""#
        );
        assert_eq!(resource_metadata(&h).as_deref(), Some(URL));
        let h = format!(r#"Basic dXNlcjpwYXNz==, Bearer error="x", resource_metadata="{URL}""#);
        assert_eq!(resource_metadata(&h).as_deref(), Some(URL));
        let h = format!(r#"Bearer realm="r", Basic resource_metadata="{URL}""#);
        assert_eq!(resource_metadata(&h), None);
        assert_eq!(
            resource_metadata(&format!("Bearerx resource_metadata={URL}")),
            None
        );
        assert_eq!(resource_metadata("Bearer"), None);
        assert_eq!(resource_metadata("Bearer abc.def-ghi=="), None);
        assert_eq!(resource_metadata(""), None);
    }

    #[test]
    fn malformed_values_never_panic_or_leak_past_their_element() {
        for h in [
            "Bearer resource_metadata=\"unterminated",
            "Bearer resource_metadata=",
            "Bearer resource_metadata=\"",
            "Bearer resource_metadata=\"\\",
            ",,,, ,",
            "\u{e9}\u{e9} Bearer",
            "Bearer r\u{e9}source_metadata=x",
            "=\"x\"",
        ] {
            assert_eq!(resource_metadata(h), None, "{h}");
        }
        let h = format!("Bearer \u{1}, Bearer resource_metadata={URL}");
        assert_eq!(resource_metadata(&h).as_deref(), Some(URL));
    }
}
