//! Authorization-server metadata after a selection (RFC 8414, OpenID discovery), for
//! diagnostics and OAuth-discovered Harpoon targets. Never sends an operator credential; a failure is only a warning.

use super::algorithm::Selected;
use super::fetch::{shown, Audience, Clients, Fetched};
use crate::mcp::harpoon::url::{Scheme, Url};
use crate::mcp::harpoon::Discovered;
use crate::telemetry::OauthFound;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

/// Time for each authorization-server metadata GET.
pub const AUTH_SERVER_TIMEOUT: Duration = Duration::from_secs(5);
/// The two well-known documents, in the order they are tried.
const SUFFIXES: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

/// What one lookup found, in words and origins for the status page and doctor,
/// and the discovered URLs for Harpoon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub found: OauthFound,
    pub discovered: Discovered,
}

/// Looks up the metadata of `authorization_servers[0]` of `selected`.
/// Every URL is reached without operator headers or client certificate.
pub fn lookup(clients: &Clients, selected: &Selected, main_scheme: Scheme) -> Report {
    let mut found = OauthFound {
        metadata_origin: shown(&selected.source),
        authorization_server: None,
        authorization_server_metadata: "unavailable",
        warnings: Vec::new(),
    };
    let mut discovered = Discovered {
        prmd_resource: Some(selected.resource().to_string()),
        prmd_source: Some(super::fetch::request_uri(&selected.source)),
        ..Discovered::default()
    };
    let Some(issuer) = selected.first_authorization_server() else {
        found
            .warnings
            .push("the metadata names no authorization server".to_string());
        return Report { found, discovered };
    };
    discovered.issuer = Some(issuer.to_string());
    let issuer_url = match Url::parse(issuer.trim()) {
        Ok(url) if url.query.is_none() => url,
        _ => {
            found.warnings.push(
                "authorization_servers[0] is not an absolute http(s) URL without query; not contacted"
                    .to_string(),
            );
            return Report { found, discovered };
        }
    };
    found.authorization_server = Some(shown(&issuer_url));
    if main_scheme == Scheme::Https && issuer_url.scheme == Scheme::Http {
        found.warnings.push(format!(
            "{} uses http under an https MCP server; not contacted",
            shown(&issuer_url)
        ));
        return Report { found, discovered };
    }

    let mut accepted: Option<Map<String, Value>> = None;
    for candidate in candidates(&issuer_url) {
        let deadline = Instant::now() + AUTH_SERVER_TIMEOUT;
        let Fetched::Ok(page) = clients.get(
            &candidate,
            Audience::AuthServer,
            AUTH_SERVER_TIMEOUT,
            deadline,
        ) else {
            continue;
        };
        if !is_json(&page.headers) {
            continue;
        }
        let Ok(Value::Object(document)) = serde_json::from_slice::<Value>(&page.body) else {
            continue;
        };
        if document.get("issuer").and_then(Value::as_str) == Some(issuer) {
            accepted = Some(document);
            found.authorization_server_metadata = "found";
            break;
        }
        if accepted.is_none() {
            accepted = Some(document);
            found.authorization_server_metadata = "issuer mismatch";
        }
    }
    match &accepted {
        None => found.warnings.push(format!(
            "no authorization server metadata at {}",
            shown(&issuer_url)
        )),
        Some(_) if found.authorization_server_metadata != "found" => found.warnings.push(format!(
            "issuer mismatch: the metadata at {} names another issuer",
            shown(&issuer_url)
        )),
        Some(_) => {}
    }
    if let Some(document) = &accepted {
        let text = |name: &str| {
            document
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        discovered.token_endpoint = text("token_endpoint");
        discovered.jwks_uri = text("jwks_uri");
        discovered.introspection_endpoint = text("introspection_endpoint");
        discovered.registration_endpoint = text("registration_endpoint");
        discovered.revocation_endpoint = text("revocation_endpoint");
    }
    Report { found, discovered }
}

/// Issuer `https://i/p`: `/p` + each suffix and each suffix + `/p`,
/// for OAuth first, then OpenID; a pathless issuer: each suffix alone.
pub fn candidates(issuer: &Url) -> Vec<Url> {
    let path = issuer.path.trim_end_matches('/');
    let at = |path: String| Url {
        path,
        query: None,
        ..issuer.clone()
    };
    let mut out = Vec::new();
    for suffix in SUFFIXES {
        if path.is_empty() {
            out.push(at(suffix.to_string()));
        } else {
            out.push(at(format!("{path}{suffix}")));
            out.push(at(format!("{suffix}{path}")));
        }
    }
    out
}

fn is_json(headers: &ureq::http::HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(issuer: &str) -> Vec<String> {
        candidates(&Url::parse(issuer).unwrap())
            .iter()
            .map(super::super::fetch::request_uri)
            .collect()
    }

    #[test]
    fn auth_server_candidates_o7() {
        assert_eq!(
            texts("https://i/p"),
            [
                "https://i/p/.well-known/oauth-authorization-server",
                "https://i/.well-known/oauth-authorization-server/p",
                "https://i/p/.well-known/openid-configuration",
                "https://i/.well-known/openid-configuration/p",
            ]
        );
        for pathless in ["https://i", "https://i/"] {
            assert_eq!(
                texts(pathless),
                [
                    "https://i/.well-known/oauth-authorization-server",
                    "https://i/.well-known/openid-configuration",
                ]
            );
        }
        assert_eq!(
            texts("https://i:8443/realms/x/")[..2],
            [
                "https://i:8443/realms/x/.well-known/oauth-authorization-server",
                "https://i:8443/.well-known/oauth-authorization-server/realms/x",
            ]
        );
    }
}
