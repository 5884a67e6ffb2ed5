//! The discovery algorithm: probe for a `resource_metadata` hint, then try each candidate
//! in order and judge what came back. Decides; never posts, logs only scheme and host.

use super::fetch::{shown, Audience, Clients, Fetched};
use super::Class;
use crate::contract::{header, Headers};
use crate::mcp::harpoon::url::Url;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

/// Time for each probe request (the POST, then the GET).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Time for each candidate GET, its redirects included.
pub const CANDIDATE_TIMEOUT: Duration = Duration::from_secs(5);
/// The well-known path of protected-resource metadata.
pub const PRMD_WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";
/// Upstream headers a selection passes on, besides its own `Content-Type`.
const KEPT_HEADERS: [&str; 3] = ["Cache-Control", "ETag", "Last-Modified"];

/// How one discovery ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Selected(Selected),
    /// No hint from the probe, and every candidate answered 404.
    NotAdvertised,
    Failed(Class),
    /// The deadline passed first.
    Expired,
}

/// Protected-resource metadata that passed the checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    /// The object as received, every member kept.
    pub metadata: Map<String, Value>,
    /// `Content-Type: application/json` and the upstream caching headers.
    pub headers: Headers,
    /// Where it came from (after same-origin redirects).
    pub source: Url,
}

impl Selected {
    /// The `resource` member (checked to be a non-empty string).
    pub fn resource(&self) -> &str {
        self.metadata
            .get("resource")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `authorization_servers[0]`, if any.
    pub fn first_authorization_server(&self) -> Option<&str> {
        self.metadata
            .get("authorization_servers")?
            .as_array()?
            .first()?
            .as_str()
    }
}

/// What one candidate gave.
enum Tried {
    Selected(Selected),
    /// Try the next candidate; this is why (404 has no class of its own).
    Next(Option<Class>),
    /// Stop: discovery failed.
    Stop(Class),
}

/// Runs discovery for `main_url` within `deadline`.
pub fn discover(clients: &Clients, main_url: &str, deadline: Instant) -> Outcome {
    let Ok(main) = Url::parse(main_url.trim()) else {
        log::warn!("oauth discovery: the MCP server URL cannot be used for discovery");
        return Outcome::Failed(Class::Connect);
    };
    let hint = clients
        .probe(&main, PROBE_TIMEOUT, deadline)
        .and_then(|hint| usable_hint(&main, &hint));
    if crate::mcp::remaining(deadline).is_none() {
        return Outcome::Expired;
    }
    let mut candidates: Vec<Url> = hint.iter().cloned().collect();
    for candidate in well_known(&main) {
        if !candidates.iter().any(|c| c.same_location(&candidate)) {
            candidates.push(candidate);
        }
    }

    let mut reasons: Vec<Option<Class>> = Vec::new();
    for pass in 0..2 {
        reasons.clear();
        for candidate in &candidates {
            if crate::mcp::remaining(deadline).is_none() {
                return Outcome::Expired;
            }
            match try_candidate(clients, candidate, deadline) {
                Tried::Selected(selected) => return Outcome::Selected(selected),
                Tried::Stop(class) => {
                    log::info!(
                        "oauth discovery: {} gave unusable metadata ({})",
                        shown(candidate),
                        class.as_str()
                    );
                    return Outcome::Failed(class);
                }
                Tried::Next(reason) => reasons.push(reason),
            }
        }
        if crate::mcp::remaining(deadline).is_none() {
            return Outcome::Expired;
        }
        let all_timed_out = reasons.iter().all(|r| *r == Some(Class::Timeout));
        if !(all_timed_out && pass == 0) {
            break;
        }
        log::debug!("oauth discovery: every candidate timed out; one more pass");
    }
    if hint.is_none() && reasons.iter().all(Option::is_none) {
        return Outcome::NotAdvertised;
    }
    // The first real failure says the most (the hint comes first); a hint
    // whose document is missing is a wrong status.
    Outcome::Failed(
        reasons
            .into_iter()
            .flatten()
            .next()
            .unwrap_or(Class::HttpStatus),
    )
}

fn try_candidate(clients: &Clients, candidate: &Url, deadline: Instant) -> Tried {
    match clients.get(candidate, Audience::Resource, CANDIDATE_TIMEOUT, deadline) {
        Fetched::Ok(page) => match judge(&page.body) {
            Some(metadata) => Tried::Selected(Selected {
                metadata,
                headers: kept_headers(&page.headers),
                source: page.url,
            }),
            None => Tried::Stop(Class::InvalidMetadata),
        },
        Fetched::Status(404) => Tried::Next(None),
        Fetched::Status(500..=599) => Tried::Next(Some(Class::HttpStatus)),
        Fetched::Status(_) => Tried::Stop(Class::HttpStatus),
        Fetched::TooLarge => Tried::Stop(Class::BodyTooLarge),
        Fetched::RedirectBlocked => Tried::Next(Some(Class::RedirectBlocked)),
        Fetched::Transport(class) => Tried::Next(Some(class)),
    }
}

/// The probe's hint, if it is an absolute http(s) URL without userinfo that
/// does not step down from https to http.
fn usable_hint(main: &Url, hint: &str) -> Option<Url> {
    let parts = crate::mcp::harpoon::url::parse_parts(hint.trim()).ok()?;
    let refused = parts.userinfo.is_some()
        || (main.scheme == crate::mcp::harpoon::url::Scheme::Https
            && parts.url.scheme == crate::mcp::harpoon::url::Scheme::Http);
    if refused {
        log::info!("oauth discovery: the server's resource_metadata hint is not usable; ignored");
        return None;
    }
    Some(parts.url)
}

/// The well-known candidates of `main`: path-suffixed (when it has a path),
/// then the root document. The query is never used.
pub fn well_known(main: &Url) -> Vec<Url> {
    let at = |path: String| Url {
        path,
        query: None,
        ..main.clone()
    };
    let mut out = Vec::new();
    let path = main.path.as_str();
    if !path.is_empty() && path != "/" {
        if path.starts_with(PRMD_WELL_KNOWN) {
            out.push(at(path.to_string()));
        } else {
            out.push(at(format!("{PRMD_WELL_KNOWN}/{}", path.trim_matches('/'))));
        }
    }
    let root = at(PRMD_WELL_KNOWN.to_string());
    if !out.iter().any(|c| c.same_location(&root)) {
        out.push(root);
    }
    out
}

/// A JSON object whose `resource` is a non-empty string and whose
/// `authorization_servers`, if present, is an array of strings.
fn judge(body: &[u8]) -> Option<Map<String, Value>> {
    let Ok(Value::Object(metadata)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let resource_ok = metadata
        .get("resource")
        .and_then(Value::as_str)
        .is_some_and(|r| !r.is_empty());
    let servers_ok = match metadata.get("authorization_servers") {
        None => true,
        Some(Value::Array(servers)) => servers.iter().all(Value::is_string),
        Some(_) => false,
    };
    (resource_ok && servers_ok).then_some(metadata)
}

/// `Content-Type: application/json`, plus `Cache-Control`, `ETag` and
/// `Last-Modified` as upstream sent them; nothing else.
fn kept_headers(upstream: &ureq::http::HeaderMap) -> Headers {
    let mut out = Headers::new();
    out.insert(
        header::CONTENT_TYPE.to_string(),
        vec!["application/json".to_string()],
    );
    for name in KEPT_HEADERS {
        let values: Vec<String> = upstream
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        if !values.is_empty() {
            out.insert(name.to_string(), values);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn texts(urls: &[Url]) -> Vec<String> {
        urls.iter().map(super::super::fetch::request_uri).collect()
    }

    #[test]
    fn well_known_candidates_o5() {
        assert_eq!(
            texts(&well_known(&url("https://h/a/mcp"))),
            [
                "https://h/.well-known/oauth-protected-resource/a/mcp",
                "https://h/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            texts(&well_known(&url("http://h:8080/mcp/?x=1"))),
            [
                "http://h:8080/.well-known/oauth-protected-resource/mcp",
                "http://h:8080/.well-known/oauth-protected-resource"
            ]
        );
        for root in ["https://h", "https://h/", "https://h/?q"] {
            assert_eq!(
                texts(&well_known(&url(root))),
                ["https://h/.well-known/oauth-protected-resource"],
                "{root}"
            );
        }
        assert_eq!(
            texts(&well_known(&url(
                "https://h/.well-known/oauth-protected-resource/x"
            ))),
            [
                "https://h/.well-known/oauth-protected-resource/x",
                "https://h/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            texts(&well_known(&url(
                "https://h/.well-known/oauth-protected-resource"
            ))),
            ["https://h/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn hints_must_be_absolute_without_userinfo_or_downgrade_o4() {
        let https = url("https://m/mcp");
        let http = url("http://m/mcp");
        assert!(usable_hint(&https, "https://other/x").is_some());
        assert!(usable_hint(&http, "http://other/x").is_some());
        assert!(usable_hint(&http, "https://other/x").is_some());
        assert!(usable_hint(&https, "http://other/x").is_none());
        assert!(usable_hint(&https, "https://u:p@other/x").is_none());
        assert!(usable_hint(&https, "/relative").is_none());
        assert!(usable_hint(&https, "ftp://other/x").is_none());
    }

    #[test]
    fn metadata_checks_o6() {
        let ok = |v: Value| judge(v.to_string().as_bytes()).is_some();
        assert!(ok(json!({"resource": "https://m/mcp"})));
        assert!(ok(
            json!({"resource": "r", "authorization_servers": [], "x": {"y": 1}})
        ));
        assert!(ok(
            json!({"resource": "r", "authorization_servers": ["https://as"]})
        ));
        assert!(!ok(json!({"resource": ""})));
        assert!(!ok(json!({"resource": 1})));
        assert!(!ok(json!({"authorization_servers": ["https://as"]})));
        assert!(!ok(
            json!({"resource": "r", "authorization_servers": "https://as"})
        ));
        assert!(!ok(json!({"resource": "r", "authorization_servers": [1]})));
        assert!(!ok(json!({"resource": "r", "authorization_servers": null})));
        assert!(!ok(json!(["resource"])));
        assert!(judge(b"").is_none());
        assert!(judge(b"{").is_none());
        assert!(judge(b"  ").is_none());
    }
}
