//! The OAuth discovery check: the same discovery the agent runs at startup, then the
//! authorization server's metadata. Shows scheme and host of what it found, never a path or a body.

use super::report::{fail, pass, Check};
use super::OAUTH;
use crate::agent::oauth::{self, Class, Discovery, Outcome};
use crate::config::Config;
use std::sync::Arc;
use std::time::Instant;

pub(super) fn check_oauth(config: &Config) -> Check {
    let telemetry = Arc::new(crate::telemetry::Telemetry::new());
    let discovery = match Discovery::for_main(config, telemetry) {
        None => {
            return pass(
                OAUTH,
                "not advertised (a stdio MCP server has no OAuth metadata)",
            )
        }
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            return fail(
                OAUTH,
                e.to_string(),
                "the HTTP client for the MCP server cannot be set up with these settings",
                "fix the certificate or proxy setting the message names",
            )
        }
    };
    let class =
        match discovery.discover(Instant::now() + oauth::STARTUP_BUDGET) {
            Outcome::Selected(selected) => {
                let report = discovery.follow_up(&selected);
                let found = report.found;
                let mut detail = format!("metadata from {}", found.metadata_origin);
                if let Some(server) = &found.authorization_server {
                    detail.push_str(&format!(
                        "; authorization server {server} (metadata {})",
                        found.authorization_server_metadata
                    ));
                }
                for warning in &found.warnings {
                    detail.push_str(&format!("; warning: {warning}"));
                }
                return pass(OAUTH, detail);
            }
            Outcome::NotAdvertised => return pass(
                OAUTH,
                "not advertised (the MCP server publishes no OAuth protected-resource metadata)",
            ),
            Outcome::Failed(class) => class,
            Outcome::Expired => Class::Timeout,
        };
    let (cause, fix) = explain(class);
    fail(
        OAUTH,
        format!("OAuth discovery failed: {class}"),
        cause,
        fix,
    )
}

/// What a failure class means here, and the fix.
fn explain(class: Class) -> (&'static str, &'static str) {
    match class {
        Class::Timeout => (
            "the metadata did not arrive in time (5 s at startup; the agent stays not ready and retries every 60 s)",
            "check that the MCP server answers GET /.well-known/oauth-protected-resource quickly",
        ),
        Class::Connect => (
            "a metadata URL could not be reached (DNS, connection refused or reset)",
            "check that the MCP server, and the host its resource_metadata hint names, are reachable from this host",
        ),
        Class::Tls => (
            "the TLS handshake with a metadata URL failed",
            "give the CA that signed its certificate with --ca-bundle (or --mcp-ca-bundle)",
        ),
        Class::RedirectBlocked => (
            "the metadata redirects to another scheme, host or port, or more than 10 times; discovery follows redirects within one origin only",
            "serve the metadata at its well-known URL, or redirect within the same origin",
        ),
        Class::BodyTooLarge => (
            "the metadata document is larger than 1 MiB",
            "serve a smaller protected-resource metadata document",
        ),
        Class::InvalidMetadata => (
            "the document is not a JSON object with a non-empty \"resource\" string (and, if present, an \"authorization_servers\" array of strings)",
            "fix the protected-resource metadata the MCP server publishes (RFC 9728)",
        ),
        Class::HttpStatus => (
            "a metadata URL answered a status other than 200, 404 or 5xx (or the advertised document is missing)",
            "check the MCP server's /.well-known/oauth-protected-resource and its WWW-Authenticate resource_metadata",
        ),
    }
}
