//! The control-plane HTTP client: metadata, long-poll and response POSTs with
//! the contract's headers. It reports what happened; retry policy lives above.

use crate::config::HeaderSet;
use crate::contract::{self, header, PollBody, ShardToken, TunnelMetadata};
use crate::net::{describe_error, ConnectFailure, Hop, NetConfig};
use crate::secret::Secret;
use std::fmt;
use std::io::Read;
use std::time::{Duration, Instant, SystemTime};
use ureq::http::{HeaderName, HeaderValue};

/// Extra time the poll request may take beyond the requested `timeout_ms`.
pub const POLL_GRACE: Duration = Duration::from_secs(5);
/// Largest poll body read (25 commands of a few MiB each).
pub const MAX_POLL_BODY: u64 = 64 * 1024 * 1024;
/// Largest body read from the metadata and response endpoints.
const MAX_SMALL_BODY: u64 = 256 * 1024;
/// Timeout of the metadata request.
const METADATA_TIMEOUT: Duration = Duration::from_secs(15);

/// How a request failed before any HTTP status arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetFailure {
    Dns,
    Connect,
    Tls,
    Timeout,
    /// The connection broke (reset, EOF) or the agent was shut down.
    Closed,
    Other,
}

impl NetFailure {
    fn describe(self) -> &'static str {
        match self {
            NetFailure::Dns => "its host name could not be resolved",
            NetFailure::Connect => "the connection was refused or could not be made",
            NetFailure::Tls => "the TLS handshake failed (check --ca-bundle and the proxy)",
            NetFailure::Timeout => "it did not answer in time",
            NetFailure::Closed => "the connection was closed",
            NetFailure::Other => "the request failed",
        }
    }
}

/// What went wrong talking to the control plane. `Display` never shows the
/// key, tokens or URL credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// An HTTP answer with a status the caller must act on.
    Status {
        status: u16,
        retry_after: Option<Duration>,
        /// The contract's stable error code, when the body carried one.
        code: Option<String>,
    },
    /// No HTTP answer. `before_write` is true only when the request certainly
    /// never reached the server (DNS, connect, TLS), which makes a
    /// notification safe to retry.
    Network {
        failure: NetFailure,
        before_write: bool,
        /// The cause in an operator's words (untrusted certificate, proxy
        /// refusal, …) when the network layer could tell.
        cause: Option<ConnectFailure>,
    },
    /// A 2xx answer whose body is not what the contract promises.
    BadBody(&'static str),
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::Status { status, code, .. } => {
                write!(f, "the control plane answered HTTP {status}")?;
                if let Some(code) = code {
                    write!(f, " ({code})")?;
                }
                match status {
                    401 => write!(f, ": the API key was refused; check CONTROL_PLANE_API_KEY"),
                    403 => write!(f, ": this key may not use the tunnel; check the tunnel's organization and permissions"),
                    404 => write!(f, ": unknown tunnel or request"),
                    _ => Ok(()),
                }
            }
            ControlError::Network {
                cause: Some(cause), ..
            } => write!(f, "could not reach the control plane: {cause}"),
            ControlError::Network { failure, .. } => {
                write!(
                    f,
                    "could not reach the control plane: {}",
                    failure.describe()
                )
            }
            ControlError::BadBody(what) => write!(f, "the control plane sent {what}"),
        }
    }
}

impl std::error::Error for ControlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ControlError::Network {
                cause: Some(cause), ..
            } => Some(cause),
            _ => None,
        }
    }
}

/// A poll that returned work.
pub struct PolledCommands {
    /// Monotonic instant the response headers arrived: every command's deadline anchor.
    pub received_at: Instant,
    /// The body, split into command spans the caller decodes one by one.
    pub commands: PollBody,
}

/// Who the agent is to the control plane, and what it asks for.
pub struct ControlSettings<'a> {
    /// Host root plus optional prefix, without trailing slash.
    pub base_url: &'a str,
    pub tunnel_id: &'a str,
    pub api_key: &'a Secret,
    /// `OpenAI-Organization` on every request.
    pub organization_id: Option<&'a str>,
    /// The operator's control-plane headers, on every request.
    pub extra_headers: &'a HeaderSet,
    /// The poll allowlist (names already valid and ascending); `None`: no filter.
    pub poll_channels: Option<&'a [String]>,
    /// `X-Tunnel-MCP-Server-Info`, asked for on every request.
    pub declaration: Declaration,
    pub net: &'a NetConfig,
}

/// The `X-Tunnel-MCP-Server-Info` value now (`None`: send none). Asked again
/// on every control-plane request, because a channel can start or stop being
/// declared while the agent runs (Harpoon when OAuth discovery gives it a target).
pub type Declaration = std::sync::Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// The client. Cheap to share: agents are connection pools.
pub struct ControlPlane {
    poll_agent: ureq::Agent,
    post_agent: ureq::Agent,
    tunnel_url: String,
    /// `{tunnel_url}/poll?` plus one `channel=NAME&` per allowlisted channel.
    poll_prefix: String,
    bearer: Secret,
    instance_id: String,
    declaration: Declaration,
    /// `OpenAI-Organization` and the operator's headers, parsed once.
    extra: Vec<(HeaderName, HeaderValue)>,
    /// For describing failures in words (which proxy, which trust).
    base_url: String,
    net: NetConfig,
}

impl ControlPlane {
    /// The poll agent is separate so that shutting it down (to abort a
    /// long-poll) never cuts an in-flight response POST.
    pub fn new(poll_agent: ureq::Agent, post_agent: ureq::Agent, s: &ControlSettings<'_>) -> Self {
        let tunnel_url = format!(
            "{}/v1/tunnels/{}",
            s.base_url,
            encode_path_segment(s.tunnel_id)
        );
        let mut poll_prefix = format!("{tunnel_url}/poll?");
        for channel in s.poll_channels.unwrap_or_default() {
            // Channel names are [a-z0-9_-]: nothing to encode.
            poll_prefix.push_str("channel=");
            poll_prefix.push_str(channel);
            poll_prefix.push('&');
        }
        // Values were checked at startup (tokens, no control characters), so
        // parsing cannot fail; a value ureq would refuse is left out, not sent broken.
        let organization = s
            .organization_id
            .map(|id| (header::OPENAI_ORGANIZATION, id));
        let extra = organization
            .into_iter()
            .chain(s.extra_headers.iter())
            .filter_map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
                let mut value = HeaderValue::from_str(value).ok()?;
                value.set_sensitive(true);
                Some((name, value))
            })
            .collect();
        ControlPlane {
            poll_agent,
            post_agent,
            poll_prefix,
            tunnel_url,
            bearer: Secret::new(format!("Bearer {}", s.api_key.expose())),
            instance_id: crate::random::hex(16),
            declaration: s.declaration.clone(),
            extra,
            base_url: s.base_url.to_string(),
            net: s.net.clone(),
        }
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Aborts a long-poll in progress (and every later poll). Response POSTs
    /// use another pool and are not affected.
    pub fn stop_polling(&self) {
        self.poll_agent.clone().shutdown();
    }

    fn headers<B>(&self, mut req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        for (name, value) in &self.extra {
            req = req.header(name, value.clone());
        }
        let req = req
            .header(header::AUTHORIZATION, self.bearer.expose())
            .header(header::CLIENT_NAME, contract::CLIENT_NAME)
            .header(header::CLIENT_VERSION, contract::CLIENT_VERSION)
            .header(header::INSTANCE_ID, self.instance_id.as_str());
        match (self.declaration)() {
            Some(info) => req.header(header::SERVER_INFO, info),
            None => req,
        }
    }

    /// `GET /v1/tunnels/{id}`.
    pub fn metadata(&self) -> Result<TunnelMetadata, ControlError> {
        let req = self
            .headers(self.post_agent.get(&self.tunnel_url))
            .config()
            .timeout_global(Some(METADATA_TIMEOUT))
            .build();
        let resp = req.call().map_err(|e| self.classify(e))?;
        let status = resp.status().as_u16();
        let body = read_body(resp, MAX_SMALL_BODY)?;
        if status != 200 {
            return Err(status_error(status, None, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|_| ControlError::BadBody("unreadable tunnel metadata"))
    }

    /// One long-poll. `Ok(None)` is "no work" (204, or 200 with no commands).
    pub fn poll(
        &self,
        limit: usize,
        timeout: Duration,
    ) -> Result<Option<PolledCommands>, ControlError> {
        let limit = limit.clamp(1, contract::MAX_POLL_LIMIT);
        let timeout_ms = timeout.as_millis().max(1);
        let req = self
            .headers(self.poll_agent.get(format!(
                "{}limit={limit}&timeout_ms={timeout_ms}",
                self.poll_prefix
            )))
            .config()
            .timeout_global(Some(timeout + POLL_GRACE))
            .build();
        let resp = req.call().map_err(|e| self.classify(e))?;
        let received_at = Instant::now();
        let status = resp.status().as_u16();
        let retry_after = retry_after(&resp);
        if status == 204 {
            return Ok(None);
        }
        let body = read_body(resp, MAX_POLL_BODY)?;
        if status != 200 {
            return Err(status_error(status, retry_after, &body));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        // Split, not decoded whole: each command is decoded on its own so
        // that one bad command never costs the others their answers.
        let commands = PollBody::parse(body).map_err(|e| {
            log::debug!("unusable poll body: {e}");
            ControlError::BadBody("a poll response that is not a command list")
        })?;
        if commands.is_empty() {
            return Ok(None);
        }
        Ok(Some(PolledCommands {
            received_at,
            commands,
        }))
    }

    /// One `POST /v1/tunnels/{id}/response` with an already-serialized body,
    /// so that retries send the exact same bytes.
    pub fn post_response(
        &self,
        body: &[u8],
        shard_token: &ShardToken,
        timeout: Duration,
    ) -> Result<(), ControlError> {
        let req = self
            .headers(
                self.post_agent
                    .post(format!("{}/response", self.tunnel_url)),
            )
            .header(header::SHARD_TOKEN, shard_token.expose())
            .header("Content-Type", "application/json")
            .config()
            .timeout_global(Some(timeout))
            .build();
        let resp = req.send(body).map_err(|e| self.classify(e))?;
        let status = resp.status().as_u16();
        let retry_after = retry_after(&resp);
        let body = read_body(resp, MAX_SMALL_BODY)?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(status_error(status, retry_after, &body))
        }
    }
}

impl ControlPlane {
    fn classify(&self, err: ureq::Error) -> ControlError {
        let cause = describe_error(&err, Hop::ControlPlane, &self.base_url, &self.net);
        log::debug!("control-plane request failed: {err:?} ({cause:?})");
        let mut classified = classify(err);
        if let ControlError::Network { cause: slot, .. } = &mut classified {
            // "Other" carries no more than our own NetFailure words.
            if !matches!(cause, ConnectFailure::Other { .. }) {
                *slot = Some(cause);
            }
        }
        classified
    }
}

fn read_body(resp: ureq::http::Response<ureq::Body>, limit: u64) -> Result<Vec<u8>, ControlError> {
    let mut body = Vec::new();
    let mut reader = resp.into_body().into_reader().take(limit + 1);
    reader
        .read_to_end(&mut body)
        .map_err(|_| ControlError::Network {
            failure: NetFailure::Closed,
            before_write: false,
            cause: None,
        })?;
    if body.len() as u64 > limit {
        return Err(ControlError::BadBody(
            "a response larger than the agent accepts",
        ));
    }
    Ok(body)
}

fn retry_after(resp: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    let value = resp.headers().get(header::RETRY_AFTER)?.to_str().ok()?;
    crate::backoff::parse_retry_after(value, SystemTime::now())
}

fn status_error(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ControlError {
    let code = serde_json::from_slice::<contract::ApiErrorResponse>(body)
        .ok()
        .and_then(|e| e.error.code)
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    ControlError::Status {
        status,
        retry_after,
        code,
    }
}

/// Maps ureq's error to what the retry rules need to know.
pub fn classify(err: ureq::Error) -> ControlError {
    use std::io::ErrorKind;
    use ureq::Error as E;
    let (failure, before_write) = match err {
        E::HostNotFound => (NetFailure::Dns, true),
        E::ConnectionFailed => (NetFailure::Connect, true),
        E::Tls(_) | E::Rustls(_) | E::Pem(_) => (NetFailure::Tls, true),
        E::Timeout(t) => {
            let early = matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect);
            (NetFailure::Timeout, early)
        }
        E::Io(e) => match e.kind() {
            ErrorKind::ConnectionRefused => (NetFailure::Connect, true),
            ErrorKind::TimedOut | ErrorKind::WouldBlock => (NetFailure::Timeout, false),
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => (NetFailure::Closed, false),
            _ => (NetFailure::Other, false),
        },
        _ => (NetFailure::Other, false),
    };
    ControlError::Network {
        failure,
        before_write,
        cause: None,
    }
}

/// Percent-encodes everything outside RFC 3986 "unreserved": ids are opaque.
fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path_segment("tunnel_abc-1.2~"), "tunnel_abc-1.2~");
        assert_eq!(encode_path_segment("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn instance_ids_are_unique_hex() {
        let a = crate::random::hex(16);
        let b = crate::random::hex(16);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn status_errors_read_the_code_and_never_echo_the_body() {
        let body = br#"{"error":{"message":"secret sk-123","type":"x","code":"pending_request_not_found"}}"#;
        let e = status_error(404, None, body);
        assert_eq!(
            e,
            ControlError::Status {
                status: 404,
                retry_after: None,
                code: Some("pending_request_not_found".into())
            }
        );
        assert!(!e.to_string().contains("sk-123"));
        let e = status_error(500, None, b"<html>");
        assert_eq!(e.to_string(), "the control plane answered HTTP 500");
    }
}
