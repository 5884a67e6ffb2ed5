//! The MCP server checks: the stdio program can be found and run, or the HTTP
//! endpoint's TLS works; then a real initialize and tools/list. Never leaves the backend running.

use super::explain::connect_failure;
use super::network::path_words;
use super::report::{fail, pass, warn, Check};
use super::{MCP_ANSWERS, MCP_REACHABLE};
use crate::config::{Config, Env, McpBinding, McpTarget};
use crate::contract::{header, Headers, CLIENT_VERSION};
use crate::mcp::{Backend, McpCall, McpReply};
use crate::net::{self, Hop, NetError};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time the MCP server gets for `initialize` and for `tools/list` each.
const MCP_CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Time the MCP backend gets to stop after the check.
const MCP_SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// MCP protocol version doctor offers in `initialize`.
const MCP_PROTOCOL_VERSION: &str = "2025-06-18";

/// The program a stdio command would start, found like execvp does.
fn find_program(program: &str, env: &Env) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        if !path.exists() {
            return Err(format!("{program} does not exist"));
        }
        if !executable(&path) {
            return Err(format!("{program} is not an executable file"));
        }
        return Ok(path);
    }
    let search = env.get("PATH").unwrap_or("/usr/local/bin:/usr/bin:/bin");
    for dir in search.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(format!("{program} was not found on PATH"))
}

/// The server doctor checks: `main`'s, else the first enabled one.
fn checked_binding(config: &Config) -> Option<&McpBinding> {
    config.main().or_else(|| config.bindings.first())
}

pub(super) fn check_mcp_reachable(config: &Config, env: &Env) -> Check {
    let Some(binding) = checked_binding(config) else {
        return pass(MCP_REACHABLE, "no MCP server is enabled (--poll-channel)");
    };
    match &binding.target {
        McpTarget::Stdio { argv } => {
            let Some(program) = argv.first() else {
                return fail(
                    MCP_REACHABLE,
                    "the command is empty",
                    "",
                    "set --mcp-command",
                );
            };
            match find_program(program, env) {
                Ok(path) => pass(MCP_REACHABLE, format!("stdio: {} is executable", path.display())),
                Err(what) => fail(
                    MCP_REACHABLE,
                    what,
                    "the command is started without a shell, so aliases, functions and $VARS do not apply",
                    "use an absolute path, or install the program on the PATH of the user that runs tunnel-client",
                ),
            }
        }
        McpTarget::Http { url } => match net::check_tls_handshake(url, Hop::Mcp, &config.net) {
            Ok(()) => pass(
                MCP_REACHABLE,
                format!(
                    "{} ({})",
                    net::redact_url(url),
                    path_words(url, Hop::Mcp, &config.net)
                ),
            ),
            Err(NetError::Connect { failure, .. }) => {
                connect_failure(MCP_REACHABLE, &net::redact_url(url), &failure, Hop::Mcp)
            }
            Err(e) => fail(
                MCP_REACHABLE,
                e.to_string(),
                "the HTTP client for the MCP server cannot be set up with these settings",
                "fix the certificate or proxy setting the message names",
            ),
        },
    }
}

/// One call with a bounded deadline.
fn call(backend: &dyn Backend, message: &Value, headers: &Headers) -> McpReply {
    let call = McpCall {
        message,
        headers,
        deadline: Instant::now() + MCP_CALL_TIMEOUT,
    };
    backend.call(&call, &mut |_| {})
}

pub(super) fn check_mcp_answers(config: &Config) -> Check {
    let Some(binding) = checked_binding(config) else {
        return pass(MCP_ANSWERS, "no MCP server is enabled (--poll-channel)");
    };
    let telemetry = Arc::new(crate::telemetry::Telemetry::new());
    let backend = match crate::agent::build_backend(binding, config, telemetry) {
        Ok(b) => b,
        Err(e) => {
            return fail(
                MCP_ANSWERS,
                e.to_string(),
                "the MCP server could not be started or set up",
                "run the MCP command by hand to see its error, or check --mcp-server-url",
            )
        }
    };
    let result = handshake(backend.as_ref());
    backend.shutdown(MCP_SHUTDOWN_GRACE);
    match result {
        Ok(detail) => pass(MCP_ANSWERS, detail),
        Err(Unanswered::AuthorizationRequired { challenged }) => warn(
            MCP_ANSWERS,
            if challenged {
                "initialize answered HTTP 401 with a Bearer challenge: the server wants OAuth; callers authorize through the tunnel, so initialize and tools/list are not checked"
            } else {
                "initialize answered HTTP 401 without a challenge: the server wants credentials the tunnel does not add"
            },
            "the MCP server requires authorization; the tunnel passes each caller's Authorization header through",
            "nothing to do for an OAuth-protected server (see the OAuth discovery check); otherwise add the server's credentials with --mcp-extra-headers",
        ),
        Err(Unanswered::Failed(what, fix)) => fail(
            MCP_ANSWERS,
            what,
            "the MCP server did not complete initialize and tools/list",
            fix,
        ),
    }
}

/// Why the handshake did not finish.
enum Unanswered {
    /// The server wants authorization the doctor does not have (HTTP 401);
    /// `challenged`: it said how, with a `WWW-Authenticate` challenge.
    AuthorizationRequired { challenged: bool },
    /// Anything else: what happened and the fix.
    Failed(String, &'static str),
}

impl From<(String, &'static str)> for Unanswered {
    fn from((what, fix): (String, &'static str)) -> Unanswered {
        Unanswered::Failed(what, fix)
    }
}

/// initialize → notifications/initialized → tools/list (→ session end).
fn handshake(backend: &dyn Backend) -> Result<String, Unanswered> {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": MCP_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "tunnel-client-doctor", "version": CLIENT_VERSION}
        }
    });
    let reply = call(backend, &initialize, &Headers::new());
    if let McpReply::HttpStatus { failure, headers } = &reply {
        if failure.upstream_status == Some(401) {
            let challenged = crate::contract::headers::get(headers, header::WWW_AUTHENTICATE)
                .iter()
                .any(|v| v.trim_start().to_ascii_lowercase().starts_with("bearer"));
            return Err(Unanswered::AuthorizationRequired { challenged });
        }
    }
    let (init, reply_headers) = expect_result(reply, "initialize")?;
    let server = init
        .pointer("/serverInfo/name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed server")
        .to_string();
    let mut headers = Headers::new();
    if let Some(session) = crate::contract::headers::first(&reply_headers, header::MCP_SESSION_ID) {
        headers.insert(
            header::MCP_SESSION_ID.to_string(),
            vec![session.to_string()],
        );
    }
    if let Some(version) = init.get("protocolVersion").and_then(Value::as_str) {
        headers.insert(
            header::MCP_PROTOCOL_VERSION.to_string(),
            vec![version.to_string()],
        );
    }
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let _ = call(backend, &initialized, &headers);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let (tools, _) = expect_result(call(backend, &list, &headers), "tools/list")?;
    if headers.contains_key(header::MCP_SESSION_ID) {
        let _ = backend.terminate_session(&headers, Instant::now() + MCP_CALL_TIMEOUT);
    }
    let count = tools
        .get("tools")
        .and_then(Value::as_array)
        .map(Vec::len)
        .ok_or((
            "tools/list returned no tools array".to_string(),
            "check that the server implements the MCP tools capability",
        ))?;
    let more = if tools.get("nextCursor").is_some_and(|c| !c.is_null()) {
        "+"
    } else {
        ""
    };
    Ok(format!("{server}: initialize ok, {count}{more} tools"))
}

fn expect_result(
    reply: McpReply,
    method: &str,
) -> Result<(Value, Headers), (String, &'static str)> {
    match reply {
        McpReply::Response {
            json,
            status,
            headers,
        } => {
            if let Some(err) = json.get("error") {
                let message = err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                return Err((
                    format!("{method} returned a JSON-RPC error (HTTP {status}): {message}"),
                    "check the MCP server's logs; it must accept a standard MCP handshake",
                ));
            }
            match json.get("result") {
                Some(result) => Ok((result.clone(), headers)),
                None => Err((
                    format!("{method} answered without a result (HTTP {status})"),
                    "check that the URL or command is an MCP server",
                )),
            }
        }
        McpReply::Accepted { status, .. } => Err((
            format!("{method} was accepted (HTTP {status}) but not answered"),
            "check that the URL is the MCP endpoint (often ending in /mcp)",
        )),
        McpReply::Failed(failure) | McpReply::HttpStatus { failure, .. } => Err((
            format!("{method} failed: {}", failure_text(&failure)),
            "run the MCP command by hand (or curl the URL) to see why it does not answer",
        )),
        McpReply::Expired => Err((
            format!(
                "{method} got no answer within {} s",
                MCP_CALL_TIMEOUT.as_secs()
            ),
            "a stdio server must print JSON-RPC on stdout, one message per line; logs go to stderr",
        )),
    }
}

fn failure_text(failure: &crate::contract::TunnelFailure) -> String {
    serde_json::to_value(failure)
        .ok()
        .map(|v| {
            let source = v.get("source").and_then(Value::as_str).unwrap_or("unknown");
            match v.get("transport_error_kind").and_then(Value::as_str) {
                Some(kind) => format!("{source} ({kind})"),
                None => source.to_string(),
            }
        })
        .unwrap_or_else(|| "transport failure".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_like_execvp() {
        let env = Env::from_pairs([("PATH", "/nonexistent:/bin:/usr/bin")]);
        assert!(find_program("sh", &env).is_ok());
        assert!(find_program("no-such-program-xyz", &env).is_err());
        assert!(find_program("/etc/passwd", &env).is_err());
    }
}
