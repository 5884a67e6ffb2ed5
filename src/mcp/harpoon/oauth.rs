//! OAuth-discovered targets: the URLs one discovery found, mapped to `oauth`
//! targets when their host is private. Pure; never registers a public host or a URL the configured rules would refuse.

use crate::mcp::harpoon::policy::addresses;
use crate::mcp::harpoon::settings::{
    check_target_url, HarpoonSettings, Target, TargetSource, DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_METHODS, DEFAULT_TIMEOUT_SECONDS,
};
use crate::mcp::harpoon::url::{self, Host};
use std::net::IpAddr;
use std::time::Duration;

/// What one discovery found (absent fields were not advertised).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// The PRMD `resource`.
    pub prmd_resource: Option<String>,
    /// The URL the PRMD came from.
    pub prmd_source: Option<String>,
    /// `authorization_servers[0]`, the issuer.
    pub issuer: Option<String>,
    pub token_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub introspection_endpoint: Option<String>,
    pub registration_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
}

/// Which hosts count as private (`hosts_include_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRules {
    /// `localhost` and loopback literals (default true).
    pub include_loopback: bool,
    /// RFC 1918 and ULA literals (default true).
    pub include_private: bool,
    /// DNS suffixes, matched on label boundaries (`corp.example` matches
    /// `corp.example` and `a.corp.example`, never `badcorp.example`).
    pub include_suffixes: Vec<String>,
}

impl Default for HostRules {
    fn default() -> Self {
        HostRules {
            include_loopback: true,
            include_private: true,
            include_suffixes: Vec::new(),
        }
    }
}

/// A discovered URL's role, which names its target `oauth-<role>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    PrmdResource,
    PrmdSource,
    Issuer,
    Token,
    Jwks,
    Introspection,
    Registration,
    Revocation,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PrmdResource => "prmd-resource",
            Role::PrmdSource => "prmd-source",
            Role::Issuer => "issuer",
            Role::Token => "token",
            Role::Jwks => "jwks",
            Role::Introspection => "introspection",
            Role::Registration => "registration",
            Role::Revocation => "revocation",
        }
    }
}

/// `.corp.example` or `corp.example`, a DNS suffix to match on label boundaries.
pub fn normalize_suffix(text: &str) -> Option<String> {
    let bare = text.trim().trim_start_matches('.').to_ascii_lowercase();
    match url::parse_host(&bare) {
        Ok(Host::Name(name)) => Some(name),
        _ => None,
    }
}

fn ends_with_domain(host: &str, suffix: &str) -> bool {
    host == suffix
        || host
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.'))
}

/// Whether `host` may become a target: loopback, RFC 1918/ULA, a listed
/// suffix, or the PRMD resource host and its subdomains.
fn is_private(host: &Host, rules: &HostRules, resource_host: Option<&Host>) -> bool {
    if addresses::is_loopback_host(host) {
        return rules.include_loopback;
    }
    if let Host::Ip(ip) = host {
        let private = match ip {
            IpAddr::V4(v4) => v4.is_private(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
        };
        if private && rules.include_private {
            return true;
        }
    }
    match (host, resource_host) {
        (Host::Name(name), _)
            if rules
                .include_suffixes
                .iter()
                .any(|s| normalize_suffix(s).is_some_and(|s| ends_with_domain(name, &s))) =>
        {
            true
        }
        (Host::Name(name), Some(Host::Name(resource))) => ends_with_domain(name, resource),
        (host, Some(resource)) => host == resource,
        _ => false,
    }
}

/// The `oauth` targets for one discovery: each discovered URL whose host is
/// private and which passes the target URL rules becomes `oauth-<role>`
/// (`-2`, `-3`… when `taken` or an earlier role has the label), with the
/// default methods, caps and timeout; a `token` target's audience is the PRMD resource.
pub fn discovered_targets(
    found: &Discovered,
    rules: &HostRules,
    settings: &HarpoonSettings,
    taken: &[String],
) -> Vec<Target> {
    let resource_host = found
        .prmd_resource
        .as_deref()
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.host);
    let roles = [
        (Role::PrmdResource, &found.prmd_resource),
        (Role::PrmdSource, &found.prmd_source),
        (Role::Issuer, &found.issuer),
        (Role::Token, &found.token_endpoint),
        (Role::Jwks, &found.jwks_uri),
        (Role::Introspection, &found.introspection_endpoint),
        (Role::Registration, &found.registration_endpoint),
        (Role::Revocation, &found.revocation_endpoint),
    ];
    let mut labels: Vec<String> = taken.to_vec();
    let mut targets = Vec::new();
    for (role, text) in roles {
        let Some(text) = text else { continue };
        let url = match check_target_url(text, settings.allow_plaintext_http()) {
            Ok(url) => url,
            Err(problem) => {
                log::debug!(
                    "harpoon: discovered {} URL not registered: {problem}",
                    role.as_str()
                );
                continue;
            }
        };
        if !is_private(&url.host, rules, resource_host.as_ref()) {
            log::debug!(
                "harpoon: discovered {} URL is on a public host; not registered",
                role.as_str()
            );
            continue;
        }
        let base = format!("oauth-{}", role.as_str());
        let label = std::iter::once(base.clone())
            .chain((2..).map(|n| format!("{base}-{n}")))
            .find(|l| !labels.contains(l))
            .unwrap_or(base);
        labels.push(label.clone());
        targets.push(Target {
            label,
            url,
            description: Some(format!("OAuth {} (discovered)", role.as_str())),
            source: TargetSource::Oauth,
            allowed_methods: DEFAULT_METHODS.to_vec(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_response_bytes: settings.max_response_bytes(),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECONDS),
            unix_socket: None,
            audience: if role == Role::Token {
                found.prmd_resource.clone()
            } else {
                None
            },
        });
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::harpoon::settings::{validate, RawSettings};

    fn settings(plaintext: bool) -> HarpoonSettings {
        validate(
            &RawSettings {
                allow_plaintext_http: plaintext,
                ..RawSettings::default()
            },
            rustls::RootCertStore::empty(),
        )
        .unwrap()
    }

    fn labels(targets: &[Target]) -> Vec<(String, String)> {
        targets
            .iter()
            .map(|t| (t.label().to_string(), t.url().origin()))
            .collect()
    }

    #[test]
    fn every_role_on_private_hosts_becomes_a_target() {
        let found = Discovered {
            prmd_resource: Some("https://mcp.corp.example/mcp".into()),
            prmd_source: Some(
                "https://mcp.corp.example/.well-known/oauth-protected-resource/mcp".into(),
            ),
            issuer: Some("https://10.0.0.5/realms/x".into()),
            token_endpoint: Some("https://10.0.0.5/realms/x/token".into()),
            jwks_uri: Some("https://[fd12::5]/jwks".into()),
            introspection_endpoint: Some("https://auth.mcp.corp.example/introspect".into()),
            registration_endpoint: Some("https://localhost:8443/register".into()),
            revocation_endpoint: Some("https://idp.internal.example/revoke".into()),
        };
        let rules = HostRules {
            include_suffixes: vec![".internal.example".into()],
            ..HostRules::default()
        };
        let targets = discovered_targets(&found, &rules, &settings(false), &[]);
        let names: Vec<&str> = targets.iter().map(|t| t.label()).collect();
        assert_eq!(
            names,
            [
                "oauth-prmd-resource",
                "oauth-prmd-source",
                "oauth-issuer",
                "oauth-token",
                "oauth-jwks",
                "oauth-introspection",
                "oauth-registration",
                "oauth-revocation"
            ]
        );
        for t in &targets {
            assert_eq!(t.source(), TargetSource::Oauth);
            assert_eq!(t.allowed_methods(), &DEFAULT_METHODS);
        }
        let token = &targets[3];
        assert_eq!(token.audience(), Some("https://mcp.corp.example/mcp"));
        assert_eq!(token.url().path, "/realms/x/token");
        assert_eq!(targets[2].audience(), None);
    }

    #[test]
    fn public_hosts_and_refused_urls_are_never_registered() {
        let found = Discovered {
            prmd_resource: Some("https://mcp.corp.example/mcp".into()),
            issuer: Some("https://login.public-idp.example/".into()),
            token_endpoint: Some("https://evilcorp.example/token".into()),
            jwks_uri: Some("https://mcp.corp.example.evil.example/jwks".into()),
            introspection_endpoint: Some("https://169.254.169.254/latest".into()),
            registration_endpoint: Some("http://10.0.0.5/register".into()),
            revocation_endpoint: Some("https://u:p@10.0.0.5/revoke".into()),
            prmd_source: Some("https://8.8.8.8/x".into()),
        };
        let rules = HostRules {
            include_suffixes: vec!["corp.example".into()],
            ..HostRules::default()
        };
        let targets = discovered_targets(&found, &rules, &settings(false), &[]);
        assert_eq!(
            labels(&targets),
            [(
                "oauth-prmd-resource".to_string(),
                "https://mcp.corp.example:443".to_string()
            )]
        );
    }

    #[test]
    fn host_classes_can_be_switched_off() {
        let found = Discovered {
            prmd_resource: Some("https://mcp.example/mcp".into()),
            issuer: Some("https://127.0.0.1:9000/".into()),
            token_endpoint: Some("https://192.168.1.10/token".into()),
            ..Discovered::default()
        };
        let all = discovered_targets(&found, &HostRules::default(), &settings(false), &[]);
        assert_eq!(all.len(), 3);
        let strict = HostRules {
            include_loopback: false,
            include_private: false,
            include_suffixes: vec![],
        };
        let some = discovered_targets(&found, &strict, &settings(false), &[]);
        assert_eq!(
            labels(&some),
            [(
                "oauth-prmd-resource".to_string(),
                "https://mcp.example:443".to_string()
            )]
        );
    }

    #[test]
    fn labels_avoid_collisions() {
        let found = Discovered {
            prmd_resource: Some("https://10.1.1.1/mcp".into()),
            token_endpoint: Some("https://10.1.1.1/token".into()),
            ..Discovered::default()
        };
        let taken = vec!["oauth-token".to_string(), "oauth-token-2".to_string()];
        let targets = discovered_targets(&found, &HostRules::default(), &settings(false), &taken);
        let names: Vec<&str> = targets.iter().map(|t| t.label()).collect();
        assert_eq!(names, ["oauth-prmd-resource", "oauth-token-3"]);
    }

    #[test]
    fn suffixes_match_on_label_boundaries() {
        assert_eq!(
            normalize_suffix(".Corp.Example"),
            Some("corp.example".into())
        );
        assert_eq!(normalize_suffix("bad suffix"), None);
        assert_eq!(normalize_suffix("10.0.0.1"), None);
        assert!(ends_with_domain("a.corp.example", "corp.example"));
        assert!(ends_with_domain("corp.example", "corp.example"));
        assert!(!ends_with_domain("badcorp.example", "corp.example"));
    }
}
