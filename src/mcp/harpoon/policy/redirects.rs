//! Redirect rules: which statuses redirect, where a hop may go (a target URL, or for
//! `http_callout` the same origin under the base path), and what a hop does to the method. Pure.

use super::{check_scheme, paths, Method, Refusal};
use crate::mcp::harpoon::settings::{Target, TargetSet};
use crate::mcp::harpoon::url::{self, Url};
use std::sync::Arc;

/// Which tool's redirect rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A hop must be exactly a target URL.
    CallTarget,
    /// A hop may also stay on the target's origin, under its base path.
    HttpCallout,
}

/// The statuses followed when they carry a `Location`.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The method (and whether the body is kept) after a redirect: 301/302/303
/// turn anything but GET/HEAD into a bodiless GET; 307/308 keep both.
pub fn method_after(status: u16, method: Method) -> (Method, bool) {
    match (status, method) {
        (301..=303, Method::Get | Method::Head) => (method, false),
        (301..=303, _) => (Method::Get, false),
        _ => (method, true),
    }
}

/// Where a redirect goes, and the target whose settings (unix socket,
/// methods) apply there.
#[derive(Debug, Clone)]
pub struct NextHop {
    pub url: Url,
    pub target: Arc<Target>,
}

/// Decides a redirect from `current` (a hop of a call to `original`) to
/// `location`. Allowed: exactly a target URL (scheme and host in any case),
/// or, for `http_callout`, the original target's scheme, host and port with a
/// path under its base path that passes the path rules. Plain http only when
/// allowed. Anything else is `redirect blocked` (an http/https switch says so).
pub fn next_hop(
    scope: Scope,
    original: &Arc<Target>,
    current: &Url,
    location: &str,
    targets: &TargetSet,
    allow_plaintext_http: bool,
) -> Result<NextHop, Refusal> {
    let url = url::resolve(current, location).map_err(|_| Refusal::RedirectBlocked)?;
    let base = original.url();
    if check_scheme(url.scheme, allow_plaintext_http) {
        if let Some(target) = targets.at_location(&url) {
            return Ok(NextHop {
                url,
                target: target.clone(),
            });
        }
        if scope == Scope::HttpCallout
            && url.same_origin(base)
            && paths::is_under(&base.path, url.request_path())
            && paths::check(&url.request_target()).is_ok()
        {
            return Ok(NextHop {
                url,
                target: original.clone(),
            });
        }
    }
    if url.scheme != base.scheme {
        return Err(Refusal::SchemeMismatch {
            allowlisted: base.scheme,
            redirected: url.scheme,
        });
    }
    Err(Refusal::RedirectBlocked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::harpoon::settings::{self, RawSettings, RawTarget, TargetStore};

    fn targets(plaintext: bool) -> Arc<TargetSet> {
        let raw = RawSettings {
            allow_plaintext_http: plaintext,
            targets: vec![
                RawTarget {
                    label: "api".into(),
                    url: "https://api.internal/v1/".into(),
                    ..RawTarget::default()
                },
                RawTarget {
                    label: "token".into(),
                    url: "https://auth.internal/oauth/token".into(),
                    ..RawTarget::default()
                },
                RawTarget {
                    label: "root".into(),
                    url: "https://root.internal".into(),
                    ..RawTarget::default()
                },
            ],
            ..RawSettings::default()
        };
        let s = settings::validate(&raw, rustls::RootCertStore::empty()).unwrap();
        TargetStore::new(s.targets().to_vec()).snapshot()
    }

    fn hop(scope: Scope, from: &str, location: &str) -> Result<String, Refusal> {
        let set = targets(false);
        let api = set.get("api").unwrap().clone();
        let current = Url::parse(from).unwrap();
        next_hop(scope, &api, &current, location, &set, false).map(|h| {
            format!(
                "{} {}{}",
                h.target.label(),
                h.url.origin(),
                h.url.request_target()
            )
        })
    }

    #[test]
    fn h10_statuses_and_method_changes() {
        for s in [301, 302, 303, 307, 308] {
            assert!(is_redirect(s));
        }
        for s in [300, 304, 305, 306, 200, 399] {
            assert!(!is_redirect(s));
        }
        assert_eq!(method_after(301, Method::Post), (Method::Get, false));
        assert_eq!(method_after(302, Method::Put), (Method::Get, false));
        assert_eq!(method_after(303, Method::Delete), (Method::Get, false));
        assert_eq!(method_after(303, Method::Head), (Method::Head, false));
        assert_eq!(method_after(307, Method::Post), (Method::Post, true));
        assert_eq!(method_after(308, Method::Put), (Method::Put, true));
    }

    #[test]
    fn h10_hops_to_target_urls_are_allowed_in_any_case() {
        let from = "https://api.internal/v1/x";
        for scope in [Scope::CallTarget, Scope::HttpCallout] {
            assert_eq!(
                hop(scope, from, "HTTPS://AUTH.INTERNAL:443/oauth/token").unwrap(),
                "token https://auth.internal:443/oauth/token"
            );
            assert_eq!(
                hop(scope, from, "https://root.internal/").unwrap(),
                "root https://root.internal:443/"
            );
        }
    }

    #[test]
    fn h10_http_callout_may_stay_under_the_base_path() {
        let from = "https://api.internal/v1/items";
        let ok = [
            ("/v1/items/2", "api https://api.internal:443/v1/items/2"),
            ("page2", "api https://api.internal:443/v1/page2"),
            ("?page=2", "api https://api.internal:443/v1/items?page=2"),
            (
                "https://API.internal/v1/z?q=@",
                "api https://api.internal:443/v1/z?q=@",
            ),
            ("/v1", "api https://api.internal:443/v1"),
        ];
        for (location, expected) in ok {
            assert_eq!(
                hop(Scope::HttpCallout, from, location).unwrap(),
                expected,
                "{location}"
            );
        }
        // call_target accepts none of them: only exact target URLs.
        for (location, _) in ok {
            assert_eq!(
                hop(Scope::CallTarget, from, location),
                Err(Refusal::RedirectBlocked),
                "{location}"
            );
        }
    }

    /// H10: every way out of the allowlist is blocked.
    #[test]
    fn h10_blocks_everything_else() {
        let from = "https://api.internal/v1/items";
        for location in [
            "/v2/items",
            "/",
            "/v1x",
            "../../admin",
            "/v1/../admin",
            "/v1/%2e%2e/admin",
            "/v1/a%2fb",
            "/v1/%252e",
            "https://api.internal:8443/v1/x",
            "https://evil.example/v1/x",
            "https://169.254.169.254/latest/meta-data/",
            "//169.254.169.254/latest",
            "https://auth.internal/oauth/token?x=1",
            "https://auth.internal/oauth/token/",
            "https://auth.internal/oauth",
            "https://user@api.internal/v1/x",
            "https://api.internal@evil.example/v1/x",
            "ftp://api.internal/v1/x",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "/v1/a b",
            "/v1/\u{e9}",
            "\\\\evil.example\\x",
            "https://[fd00:ec2::254]/v1/",
            "https://0x7f.1/v1/",
        ] {
            assert_eq!(
                hop(Scope::HttpCallout, from, location),
                Err(Refusal::RedirectBlocked),
                "{location}"
            );
        }
    }

    #[test]
    fn h10_h12_scheme_switches_say_so() {
        let err = hop(
            Scope::HttpCallout,
            "https://api.internal/v1/x",
            "http://api.internal/v1/y",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "redirect blocked: scheme mismatch (allowlisted https, redirected to http)"
        );
        // Even a plaintext-allowed set refuses the downgrade of an https target.
        let set = targets(true);
        let api = set.get("api").unwrap().clone();
        let current = Url::parse("https://api.internal/v1/x").unwrap();
        assert!(matches!(
            next_hop(
                Scope::HttpCallout,
                &api,
                &current,
                "http://api.internal/v1/y",
                &set,
                true
            ),
            Err(Refusal::SchemeMismatch { .. })
        ));
    }
}
