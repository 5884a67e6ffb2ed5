//! `call_target` answers name targets, not URLs: an absolute URL equal to a target
//! URL in `Location`, `Content-Location`, `Link` or a JSON string becomes `harpoon://<label>`. Pure.

use crate::mcp::harpoon::settings::TargetSet;
use crate::mcp::harpoon::url;
use serde_json::Value;

/// Scheme of the rewritten form.
pub const SCHEME: &str = "harpoon://";

/// `harpoon://<label>` if `text` is exactly a target URL (no userinfo or fragment).
fn replacement(text: &str, targets: &TargetSet) -> Option<String> {
    if !text
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("http"))
    {
        return None;
    }
    let parts = url::parse_parts(text).ok()?;
    if parts.userinfo.is_some() || parts.fragment.is_some() {
        return None;
    }
    targets
        .at_location(&parts.url)
        .map(|t| format!("{SCHEME}{}", t.label()))
}

/// Rewrites `Location`, `Content-Location` and every `<…>` of `Link` in place.
pub fn rewrite_headers(headers: &mut [(String, String)], targets: &TargetSet) {
    for (name, value) in headers.iter_mut() {
        if name.eq_ignore_ascii_case("location") || name.eq_ignore_ascii_case("content-location") {
            if let Some(new) = replacement(value.trim(), targets) {
                *value = new;
            }
        } else if name.eq_ignore_ascii_case("link") {
            if let Some(new) = rewrite_link(value, targets) {
                *value = new;
            }
        }
    }
}

/// `<https://t/x>; rel="next", <…>` with each bracketed target URL replaced.
fn rewrite_link(value: &str, targets: &TargetSet) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut changed = false;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let inner = &rest[open + 1..open + close];
        out.push_str(&rest[..=open]);
        match replacement(inner, targets) {
            Some(new) => {
                out.push_str(&new);
                changed = true;
            }
            None => out.push_str(inner),
        }
        out.push('>');
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The body with target URLs in JSON strings replaced, re-encoded; `None`
/// when the body is not JSON or nothing changed (the bytes stay as received).
pub fn rewrite_json(body: &[u8], targets: &TargetSet) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    if !rewrite_value(&mut value, targets) {
        return None;
    }
    serde_json::to_vec(&value).ok()
}

fn rewrite_value(value: &mut Value, targets: &TargetSet) -> bool {
    match value {
        Value::String(s) => match replacement(s, targets) {
            Some(new) => {
                *s = new;
                true
            }
            None => false,
        },
        // Every element is visited: no short-circuit.
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= rewrite_value(item, targets);
            }
            changed
        }
        Value::Object(map) => {
            let mut changed = false;
            for item in map.values_mut() {
                changed |= rewrite_value(item, targets);
            }
            changed
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::harpoon::settings::{self, RawSettings, RawTarget, TargetStore};
    use std::sync::Arc;

    fn targets() -> Arc<TargetSet> {
        let raw = RawSettings {
            targets: vec![
                RawTarget {
                    label: "token".into(),
                    url: "https://auth.internal/oauth/token".into(),
                    ..RawTarget::default()
                },
                RawTarget {
                    label: "jwks".into(),
                    url: "https://auth.internal".into(),
                    ..RawTarget::default()
                },
            ],
            ..RawSettings::default()
        };
        let s = settings::validate(&raw, rustls::RootCertStore::empty()).unwrap();
        TargetStore::new(s.targets().to_vec()).snapshot()
    }

    #[test]
    fn h15_headers() {
        let set = targets();
        let mut headers = vec![
            (
                "Location".to_string(),
                "HTTPS://Auth.Internal:443/oauth/token".to_string(),
            ),
            (
                "content-location".to_string(),
                "https://auth.internal/".to_string(),
            ),
            (
                "Link".to_string(),
                "<https://auth.internal/oauth/token>; rel=\"a\", <https://other/x>; rel=\"b\""
                    .to_string(),
            ),
            (
                "X-Other".to_string(),
                "https://auth.internal/oauth/token".to_string(),
            ),
        ];
        rewrite_headers(&mut headers, &set);
        assert_eq!(headers[0].1, "harpoon://token");
        assert_eq!(headers[1].1, "harpoon://jwks");
        assert_eq!(
            headers[2].1,
            "<harpoon://token>; rel=\"a\", <https://other/x>; rel=\"b\""
        );
        assert_eq!(headers[3].1, "https://auth.internal/oauth/token");
    }

    #[test]
    fn h15_json_only_when_changed() {
        let set = targets();
        let body = br#"{"token_endpoint": "https://auth.internal/oauth/token", "n": [1, "https://auth.internal/"], "keep": "https://auth.internal/oauth/token?x", "frag": "https://auth.internal/oauth/token#f", "user": "https://u@auth.internal/oauth/token"}"#;
        let out = rewrite_json(body, &set).unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["token_endpoint"], "harpoon://token");
        assert_eq!(value["n"][1], "harpoon://jwks");
        assert_eq!(value["keep"], "https://auth.internal/oauth/token?x");
        assert_eq!(value["frag"], "https://auth.internal/oauth/token#f");
        assert_eq!(value["user"], "https://u@auth.internal/oauth/token");
        // Unchanged JSON keeps its exact bytes (spacing, key order).
        assert_eq!(rewrite_json(br#"{"b": 1,  "a": "https://x/"}"#, &set), None);
        assert_eq!(rewrite_json(b"not json https://auth.internal/", &set), None);
        assert_eq!(
            rewrite_json(b" \"https://auth.internal/\" ", &set).unwrap(),
            b"\"harpoon://jwks\""
        );
        assert_eq!(rewrite_json(b"{broken", &set), None);
    }
}
