//! Streamable HTTP forwarder: POSTs each JSON-RPC message to one MCP server URL
//! and turns its JSON or SSE answer into an [`McpReply`]. Never sends DELETE
//! except for session termination; never puts a URL, body or peer text in a reply.

use crate::config::HeaderSet;
use crate::contract::headers::{filter_response_headers, forwardable_request_headers};
use crate::contract::{FailureSource, Headers, TransportErrorKind, TunnelFailure};
use crate::mcp::sse::{SseError, SseLimits, SseReader};
use crate::mcp::{
    probe, remaining, Backend, BackendStatus, McpCall, McpReply, ProbeClass, ProbeOutcome,
};
use crate::telemetry::Telemetry;
use serde_json::Value;
use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ureq::http::{HeaderMap, HeaderName, HeaderValue, Uri};

/// Largest response body read from the MCP server (JSON body, or a whole SSE
/// stream); beyond it the call fails with `response_body_too_large`.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// Longest SSE line accepted. A JSON-RPC message usually travels on one
/// `data:` line, so a line may be as large as a whole message.
const MAX_SSE_LINE_BYTES: u64 = DEFAULT_MAX_RESPONSE_BYTES;

/// `Accept` sent with every POST unless the command carries its own.
const DEFAULT_ACCEPT: &str = "application/json, text/event-stream";
/// `Content-Type` of every POST unless the command carries its own.
const JSON_CONTENT_TYPE: &str = "application/json";

/// Why the MCP server URL cannot be used. Never quotes the URL: it may carry credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Not parseable as an absolute URL.
    BadUrl,
    /// A scheme other than `http` or `https`.
    UnsupportedScheme,
    /// No host name or address.
    MissingHost,
    /// An operator header that HTTP cannot carry (never quoted: it may be a secret).
    BadHeader,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadUrl => write!(
                f,
                "the MCP server URL is not a valid absolute URL (expected http://host[:port]/path)"
            ),
            HttpError::UnsupportedScheme => {
                write!(f, "the MCP server URL must start with http:// or https://")
            }
            HttpError::MissingHost => write!(f, "the MCP server URL names no host"),
            HttpError::BadHeader => write!(
                f,
                "an extra MCP header cannot be sent over HTTP; check --mcp-extra-headers"
            ),
        }
    }
}

impl std::error::Error for HttpError {}

/// One channel's Streamable HTTP MCP server.
///
/// Credentials in the URL (`https://user:pass@host/mcp`) are sent as HTTP
/// Basic authentication by ureq unless the command carries its own
/// `Authorization`; they appear nowhere else (status, logs, errors, `Debug`).
pub struct HttpBackend {
    agent: ureq::Agent,
    uri: Uri,
    /// `scheme://host:port`, without credentials or path: safe to show.
    origin: String,
    max_response_bytes: u64,
    /// The last request reached the server (a TCP connection was made).
    /// Starts true: nothing but the startup probe is sent just to check it,
    /// so it counts as up until a forward fails.
    reached: AtomicBool,
    /// The operator's headers for this URL, checked at startup.
    operator_headers: Vec<(HeaderName, HeaderValue)>,
    /// `main` only: what its startup probe sends (the operator's headers
    /// with the discovery set on top) and where a 2xx answer is reported.
    probe: Option<ProbeSetup>,
}

struct ProbeSetup {
    headers: Vec<(HeaderName, HeaderValue)>,
    telemetry: Arc<Telemetry>,
}

impl fmt::Debug for HttpBackend {
    // By hand: the URI may carry credentials, the origin never does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpBackend")
            .field("origin", &self.origin)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpBackend {
    /// `agent` comes from `net::build_agent(Hop::Mcp, url, ..)`: statuses as
    /// data, no redirects. It is built once per server and shared by every
    /// call (its clones share one connection pool).
    pub fn new(url: &str, agent: ureq::Agent) -> Result<HttpBackend, HttpError> {
        let uri: Uri = url.trim().parse().map_err(|_| HttpError::BadUrl)?;
        let scheme = uri.scheme_str().ok_or(HttpError::BadUrl)?;
        let default_port = if scheme.eq_ignore_ascii_case("http") {
            80
        } else if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            return Err(HttpError::UnsupportedScheme);
        };
        let authority = uri.authority().ok_or(HttpError::MissingHost)?;
        let host = authority.host();
        if host.is_empty() || host == "[]" {
            return Err(HttpError::MissingHost);
        }
        let port = authority.port_u16().unwrap_or(default_port);
        let origin = format!("{}://{}:{}", scheme.to_ascii_lowercase(), host, port);
        Ok(HttpBackend {
            agent,
            uri,
            origin,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            reached: AtomicBool::new(true),
            operator_headers: Vec::new(),
            probe: None,
        })
    }

    /// The operator's headers for requests to this URL (`--mcp-extra-headers`
    /// and the server's own `extra_headers`). Command headers still win.
    pub fn with_headers(mut self, set: &HeaderSet) -> Result<Self, HttpError> {
        self.operator_headers = header_pairs(set)?;
        Ok(self)
    }

    /// Makes this the `main` server with a startup probe: `set` is what the
    /// probe sends, and the probe's state and any later 2xx answer are
    /// reported to `telemetry` for readiness.
    pub fn with_probe(
        mut self,
        set: &HeaderSet,
        telemetry: Arc<Telemetry>,
    ) -> Result<Self, HttpError> {
        self.probe = Some(ProbeSetup {
            headers: header_pairs(set)?,
            telemetry,
        });
        Ok(self)
    }

    /// Replaces [`DEFAULT_MAX_RESPONSE_BYTES`] (at least 1 byte).
    pub fn with_max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes.max(1);
        self
    }

    /// `scheme://host:port` of the server, without credentials.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl Backend for HttpBackend {
    fn call(&self, call: &McpCall<'_>, on_notify: &mut dyn FnMut(Value)) -> McpReply {
        let Some(budget) = remaining(call.deadline) else {
            return McpReply::Expired;
        };
        let body = match serde_json::to_vec(call.message) {
            Ok(body) => body,
            Err(_) => return client_internal(),
        };
        let request = self.agent.post(self.uri.clone());
        let request = with_command_headers(request, &self.operator_headers, call.headers, true)
            .config()
            .timeout_global(Some(budget))
            .build();
        let response = match request.send(&body[..]) {
            Ok(response) => response,
            Err(e) => return self.failed(e, call.deadline),
        };
        self.reached.store(true, Relaxed);
        let success = response.status().is_success();
        if success {
            if let Some(setup) = &self.probe {
                setup.telemetry.mcp_answered_2xx();
            }
        }
        match request_id(call.message) {
            // A notification, or a response the caller sends to the server:
            // the server acknowledges it (202) and owes no JSON-RPC answer.
            None if success => McpReply::Accepted {
                status: response.status().as_u16(),
                headers: response_headers(response.headers()),
            },
            None => http_status(
                response.status().as_u16(),
                response_headers(response.headers()),
            ),
            Some(id) if success => self.success(id, response, call.deadline, on_notify),
            Some(id) => self.error_status(id, response, call.deadline),
        }
    }

    fn terminate_session(&self, headers: &Headers, deadline: Instant) -> McpReply {
        let Some(budget) = remaining(deadline) else {
            return McpReply::Expired;
        };
        let request = self.agent.delete(self.uri.clone());
        let request = with_command_headers(request, &self.operator_headers, headers, false)
            .config()
            .timeout_global(Some(budget))
            .build();
        match request.call() {
            Ok(response) => {
                self.reached.store(true, Relaxed);
                McpReply::Accepted {
                    status: response.status().as_u16(),
                    headers: response_headers(response.headers()),
                }
            }
            Err(e) => self.failed(e, deadline),
        }
    }

    fn proc_affinity(&self) -> bool {
        false
    }

    fn startup_probe(&self, budget: Duration) -> Option<ProbeOutcome> {
        let setup = self.probe.as_ref()?;
        let outcome = probe::run(&self.agent, &self.uri, &setup.headers, budget);
        // The probe is a request like any other: it tells whether the server is reachable.
        let reached = !matches!(
            outcome,
            ProbeOutcome::Failed(
                ProbeClass::ConnectionRefused
                    | ProbeClass::Connect
                    | ProbeClass::Dns
                    | ProbeClass::Tls
            )
        );
        self.reached.store(reached, Relaxed);
        Some(outcome)
    }

    fn has_startup_probe(&self) -> bool {
        self.probe.is_some()
    }

    fn status(&self) -> BackendStatus {
        BackendStatus {
            kind: "http",
            up: self.reached.load(Relaxed),
            detail: self.origin.clone(),
        }
    }

    /// Nothing to stop: in-flight calls end by their own deadlines, and idle
    /// pooled connections close when the agent is dropped.
    fn shutdown(&self, _grace: Duration) {}
}

/// How the answer of the MCP server becomes a reply.
impl HttpBackend {
    /// The answer to a request (a message with an id) on a 2xx status.
    fn success(
        &self,
        id: &Value,
        response: ureq::http::Response<ureq::Body>,
        deadline: Instant,
        on_notify: &mut dyn FnMut(Value),
    ) -> McpReply {
        let status = response.status().as_u16();
        let headers = response_headers(response.headers());
        let media = Media::of(response.headers());
        let body = response.into_body();
        match media {
            Media::EventStream => self.event_stream(id, status, headers, body, deadline, on_notify),
            Media::Json | Media::Missing => {
                let bytes = match self.read_body(body) {
                    Ok(bytes) => bytes,
                    Err(e) => return self.failed(e, deadline),
                };
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return protocol(TransportErrorKind::ResponseBodyMissing);
                }
                let json: Value = match serde_json::from_slice(&bytes) {
                    Ok(json) => json,
                    Err(_) => return protocol(TransportErrorKind::MalformedJson),
                };
                match check_response(&json, id) {
                    Ok(()) => McpReply::Response {
                        json,
                        status,
                        headers,
                    },
                    Err(kind) => protocol(kind),
                }
            }
            Media::Other => protocol(TransportErrorKind::NonProtocolResponse),
        }
    }

    /// Reads an SSE answer as it arrives: every message that is not this
    /// request's response goes to `on_notify` at once; the response ends it.
    fn event_stream(
        &self,
        id: &Value,
        status: u16,
        headers: Headers,
        body: ureq::Body,
        deadline: Instant,
        on_notify: &mut dyn FnMut(Value),
    ) -> McpReply {
        let limit = self.max_response_bytes;
        let limits = SseLimits {
            max_line_bytes: clamp_usize(limit.min(MAX_SSE_LINE_BYTES)),
            max_event_bytes: clamp_usize(limit),
        };
        let reader = body.into_with_config().limit(limit).reader();
        let mut events = SseReader::new(reader, limits);
        let mut saw_message = false;
        loop {
            let event = match events.next_event() {
                Ok(Some(event)) => event,
                Ok(None) if saw_message => return protocol(TransportErrorKind::UnexpectedEof),
                Ok(None) => return protocol(TransportErrorKind::ResponseBodyMissing),
                Err(SseError::Io(e)) => return self.failed(ureq::Error::from(e), deadline),
                Err(SseError::LineTooLong { .. } | SseError::EventTooLarge { .. }) => {
                    return protocol(TransportErrorKind::ResponseBodyTooLarge)
                }
            };
            // Events of other types, and empty ones (MCP's "priming" event that
            // only carries an id), hold no JSON-RPC message.
            if !event.is_message() || event.data.trim().is_empty() {
                continue;
            }
            let json: Value = match serde_json::from_str(&event.data) {
                Ok(json) => json,
                Err(_) => return protocol(TransportErrorKind::MalformedJson),
            };
            saw_message = true;
            let messages = match json {
                Value::Array(batch) => batch,
                single => vec![single],
            };
            for message in messages {
                if !message.is_object() {
                    return protocol(TransportErrorKind::NonProtocolResponse);
                }
                if is_response(&message) && message.get("id") == Some(id) {
                    return match check_response(&message, id) {
                        Ok(()) => McpReply::Response {
                            json: message,
                            status,
                            headers,
                        },
                        Err(kind) => protocol(kind),
                    };
                }
                on_notify(message);
            }
        }
    }

    /// A non-2xx answer to a request: the server's own JSON-RPC error for this
    /// id passes through exactly; anything else is `target_http`.
    fn error_status(
        &self,
        id: &Value,
        response: ureq::http::Response<ureq::Body>,
        deadline: Instant,
    ) -> McpReply {
        let status = response.status().as_u16();
        let headers = response_headers(response.headers());
        let media = Media::of(response.headers());
        if !matches!(media, Media::Json | Media::Missing) {
            return http_status(status, headers);
        }
        let bytes = match self.read_body(response.into_body()) {
            Ok(bytes) => bytes,
            Err(e) if matches!(map_error(&e).outcome, Outcome::DeadlineHit) || past(deadline) => {
                return McpReply::Expired
            }
            // The status is the answer; an unreadable body does not change it.
            Err(_) => return http_status(status, headers),
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(json) if json.get("error").is_some() && check_response(&json, id).is_ok() => {
                McpReply::Response {
                    json,
                    status,
                    headers,
                }
            }
            _ => http_status(status, headers),
        }
    }

    /// Turns a ureq error into the reply, and records whether the server was reached.
    fn failed(&self, err: ureq::Error, deadline: Instant) -> McpReply {
        let mapped = map_error(&err);
        if let Some(reached) = mapped.reached {
            self.reached.store(reached, Relaxed);
        }
        match mapped.outcome {
            Outcome::DeadlineHit => McpReply::Expired,
            Outcome::Failure(f) if f.source == FailureSource::Timeout && past(deadline) => {
                McpReply::Expired
            }
            Outcome::Failure(f) => {
                log::debug!(
                    "MCP server {}: {:?}/{:?}",
                    self.origin,
                    f.source,
                    f.transport_error_kind
                );
                McpReply::Failed(f)
            }
        }
    }

    /// Reads a whole (non-SSE) body, bounded by the response limit.
    fn read_body(&self, body: ureq::Body) -> Result<Vec<u8>, ureq::Error> {
        let limit = self.max_response_bytes;
        let expected = body.content_length().unwrap_or(0);
        if expected > limit {
            return Err(ureq::Error::BodyExceedsLimit(limit));
        }
        // Content-Length is checked above, so this preallocation is bounded.
        let mut bytes = Vec::with_capacity(clamp_usize(expected));
        let mut reader = body.into_with_config().limit(limit).reader();
        reader.read_to_end(&mut bytes).map_err(ureq::Error::from)?;
        Ok(bytes)
    }
}

/// Applies the operator's headers the command does not carry itself, then
/// the command's forwardable headers (every value, in order: they apply last
/// and win), then the defaults the command did not set itself.
fn with_command_headers<B>(
    mut request: ureq::RequestBuilder<B>,
    operator: &[(HeaderName, HeaderValue)],
    headers: &Headers,
    post: bool,
) -> ureq::RequestBuilder<B> {
    let forwarded = forwardable_request_headers(headers);
    for (name, value) in operator {
        if !forwarded
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name.as_str()))
        {
            request = request.header(name, value.clone());
        }
    }
    let mut has_accept = false;
    let mut has_content_type = false;
    for (name, value) in forwarded {
        has_accept |= name.eq_ignore_ascii_case("accept");
        has_content_type |= name.eq_ignore_ascii_case("content-type");
        // An invalid name or value (e.g. a line break) fails the request with
        // `ureq::Error::Http`, reported as a client-internal failure.
        request = request.header(name, value);
    }
    if post && !has_accept {
        request = request.header("Accept", DEFAULT_ACCEPT);
    }
    if post && !has_content_type {
        request = request.header("Content-Type", JSON_CONTENT_TYPE);
    }
    request
}

/// A checked header set as ureq's types. The set was validated at startup,
/// so a failure here is a bug in that check, reported as a bad setting.
fn header_pairs(set: &HeaderSet) -> Result<Vec<(HeaderName, HeaderValue)>, HttpError> {
    set.iter()
        .map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| HttpError::BadHeader)?;
            let mut value = HeaderValue::from_str(value).map_err(|_| HttpError::BadHeader)?;
            value.set_sensitive(true);
            Ok((name, value))
        })
        .collect()
}

/// The allowlisted response headers, as `resp_headers` carries them.
fn response_headers(map: &HeaderMap) -> Headers {
    let pairs: Vec<(&str, &str)> = map
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    filter_response_headers(pairs.iter().copied())
}

/// The id of a JSON-RPC request (a message with both `method` and `id`), the
/// only kind of message that gets a JSON-RPC answer.
fn request_id(message: &Value) -> Option<&Value> {
    let object = message.as_object()?;
    object.get("method")?;
    object.get("id")
}

/// A JSON-RPC response object: `result` or `error`, and no `method`.
fn is_response(message: &Value) -> bool {
    message.get("method").is_none()
        && (message.get("result").is_some() || message.get("error").is_some())
}

/// Checks that `json` is a well-formed JSON-RPC 2.0 response to request `id`.
fn check_response(json: &Value, id: &Value) -> Result<(), TransportErrorKind> {
    let Some(object) = json.as_object() else {
        return Err(TransportErrorKind::NonProtocolResponse);
    };
    let has_result = object.contains_key("result");
    let has_error = object.contains_key("error");
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0")
        || object.contains_key("method")
        || has_result == has_error
    {
        return Err(TransportErrorKind::NonProtocolResponse);
    }
    if object.get("id") != Some(id) {
        return Err(TransportErrorKind::InvalidProtocolResponse);
    }
    if let Some(error) = object.get("error") {
        let code_ok = error.get("code").is_some_and(|c| c.is_i64() || c.is_u64());
        let message_ok = error.get("message").is_some_and(Value::is_string);
        if !code_ok || !message_ok {
            return Err(TransportErrorKind::InvalidMcpError);
        }
    }
    Ok(())
}

/// What the response's `Content-Type` says the body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    Json,
    EventStream,
    /// No `Content-Type`: read as JSON, the only body a POST answer may have besides SSE.
    Missing,
    Other,
}

impl Media {
    fn of(headers: &HeaderMap) -> Media {
        let Some(value) = headers.get("content-type") else {
            return Media::Missing;
        };
        let Ok(value) = value.to_str() else {
            return Media::Other;
        };
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/json") {
            Media::Json
        } else if essence.eq_ignore_ascii_case("text/event-stream") {
            Media::EventStream
        } else {
            Media::Other
        }
    }
}

/// A non-2xx answer without a JSON-RPC error: `target_http`, carrying the
/// answer's allowlisted headers (a 401's challenge among them).
fn http_status(status: u16, headers: Headers) -> McpReply {
    McpReply::HttpStatus {
        failure: TunnelFailure::target_http(status),
        headers,
    }
}

fn protocol(kind: TransportErrorKind) -> McpReply {
    McpReply::Failed(TunnelFailure::protocol_after_response(kind))
}

fn client_internal() -> McpReply {
    McpReply::Failed(TunnelFailure::transport(
        FailureSource::ClientInternal,
        TransportErrorKind::Unknown,
    ))
}

fn past(deadline: Instant) -> bool {
    remaining(deadline).is_none()
}

fn clamp_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A ureq error, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mapped {
    outcome: Outcome,
    /// Whether the error shows that the server was (`Some(true)`) or was not
    /// (`Some(false)`) reached; `None` when it cannot tell.
    reached: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The per-request global timeout, which is the command's deadline.
    DeadlineHit,
    Failure(TunnelFailure),
}

/// A ureq error as the contract's failure; `None` when it is the request's
/// own global timeout (the deadline the caller set).
pub(crate) fn failure_of(err: &ureq::Error) -> Option<TunnelFailure> {
    match map_error(err).outcome {
        Outcome::DeadlineHit => None,
        Outcome::Failure(failure) => Some(failure),
    }
}

/// std's message for a failed `getaddrinfo`. std reports it with an unnamed
/// `ErrorKind`, so the text is the only way to tell a DNS failure apart.
const DNS_FAILURE_TEXT: &str = "failed to lookup address information";

/// Classifies a ureq error into the contract's failure source and kind.
fn map_error(err: &ureq::Error) -> Mapped {
    use FailureSource as S;
    use TransportErrorKind as K;
    let fail = |source, kind, reached| Mapped {
        outcome: Outcome::Failure(TunnelFailure::transport(source, kind)),
        reached,
    };
    match err {
        ureq::Error::Timeout(ureq::Timeout::Global | ureq::Timeout::PerCall) => Mapped {
            outcome: Outcome::DeadlineHit,
            reached: None,
        },
        ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => {
            fail(S::Timeout, K::Timeout, Some(false))
        }
        ureq::Error::Timeout(_) => fail(S::Timeout, K::Timeout, Some(true)),
        ureq::Error::HostNotFound => fail(S::Dns, K::Dns, Some(false)),
        ureq::Error::Io(e) => map_io_error(e),
        ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::TlsRequired => fail(S::Tls, K::Tls, Some(false)),
        ureq::Error::ConnectionFailed | ureq::Error::ConnectProxyFailed(_) => {
            fail(S::Connect, K::Dial, Some(false))
        }
        ureq::Error::BodyExceedsLimit(_) => Mapped {
            outcome: Outcome::Failure(TunnelFailure::protocol_after_response(
                K::ResponseBodyTooLarge,
            )),
            reached: Some(true),
        },
        ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => Mapped {
            outcome: Outcome::Failure(TunnelFailure::protocol_after_response(
                K::NonProtocolResponse,
            )),
            reached: Some(true),
        },
        ureq::Error::StatusCode(status) => Mapped {
            outcome: Outcome::Failure(TunnelFailure::target_http(*status)),
            reached: Some(true),
        },
        ureq::Error::BodyStalled => fail(S::TransportClosed, K::UnexpectedEof, Some(true)),
        ureq::Error::Other(inner) => match inner.downcast_ref::<io::Error>() {
            Some(e) => map_io_error(e),
            None => fail(S::Connect, K::Unknown, None),
        },
        // Bad header from the command, bad URI or proxy setting, redirect
        // rules: the request never left because of something on this side.
        _ => fail(S::ClientInternal, K::Unknown, None),
    }
}

fn map_io_error(e: &io::Error) -> Mapped {
    use io::ErrorKind as E;
    use FailureSource as S;
    use TransportErrorKind as K;
    let (source, kind, reached) = match e.kind() {
        // rustls reports handshake and record failures as InvalidData around its own error.
        E::InvalidData if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => {
            (S::Tls, K::Tls, false)
        }
        E::ConnectionRefused => (S::Connect, K::ConnectionRefused, false),
        E::HostUnreachable => (S::Connect, K::HostUnreachable, false),
        E::NetworkUnreachable | E::NetworkDown => (S::Connect, K::NetworkUnreachable, false),
        E::AddrNotAvailable | E::AddrInUse => (S::Connect, K::Dial, false),
        E::ConnectionReset => (S::TransportClosed, K::ConnectionReset, true),
        E::ConnectionAborted => (S::TransportClosed, K::ConnectionAborted, true),
        E::BrokenPipe => (S::TransportClosed, K::ClosedPipe, true),
        E::NotConnected => (S::TransportClosed, K::ConnectionClosed, true),
        E::UnexpectedEof => (S::TransportClosed, K::UnexpectedEof, true),
        E::TimedOut | E::WouldBlock => (S::Timeout, K::Timeout, true),
        E::InvalidData => (S::Protocol, K::ResponseBodyUnreadable, true),
        _ if e.to_string().contains(DNS_FAILURE_TEXT) => (S::Dns, K::Dns, false),
        _ => (S::TransportClosed, K::Unknown, true),
    };
    let failure = if source == S::Protocol {
        TunnelFailure::protocol_after_response(kind)
    } else {
        TunnelFailure::transport(source, kind)
    };
    Mapped {
        outcome: Outcome::Failure(failure),
        reached: Some(reached),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failure(err: ureq::Error) -> (FailureSource, Option<TransportErrorKind>) {
        match map_error(&err).outcome {
            Outcome::Failure(f) => (f.source, f.transport_error_kind),
            Outcome::DeadlineHit => panic!("unexpected deadline for {err:?}"),
        }
    }

    fn io(kind: io::ErrorKind) -> ureq::Error {
        ureq::Error::Io(io::Error::new(kind, "peer text that must not leak"))
    }

    #[test]
    fn io_errors_map_to_contract_sources() {
        use io::ErrorKind as E;
        use FailureSource as S;
        use TransportErrorKind as K;
        let cases = [
            (E::ConnectionRefused, S::Connect, K::ConnectionRefused),
            (E::HostUnreachable, S::Connect, K::HostUnreachable),
            (E::NetworkUnreachable, S::Connect, K::NetworkUnreachable),
            (E::ConnectionReset, S::TransportClosed, K::ConnectionReset),
            (
                E::ConnectionAborted,
                S::TransportClosed,
                K::ConnectionAborted,
            ),
            (E::BrokenPipe, S::TransportClosed, K::ClosedPipe),
            (E::UnexpectedEof, S::TransportClosed, K::UnexpectedEof),
            (E::TimedOut, S::Timeout, K::Timeout),
            (E::InvalidData, S::Protocol, K::ResponseBodyUnreadable),
            (E::Other, S::TransportClosed, K::Unknown),
        ];
        for (kind, source, tek) in cases {
            assert_eq!(failure(io(kind)), (source, Some(tek)), "{kind:?}");
        }
    }

    #[test]
    fn dns_tls_and_ureq_specific_errors() {
        use FailureSource as S;
        use TransportErrorKind as K;
        let dns =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(failure(ureq::Error::Io(dns)), (S::Dns, Some(K::Dns)));
        assert_eq!(failure(ureq::Error::HostNotFound), (S::Dns, Some(K::Dns)));

        let rustls_err = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, rustls_err);
        assert_eq!(failure(ureq::Error::Io(wrapped)), (S::Tls, Some(K::Tls)));
        assert_eq!(
            failure(ureq::Error::Tls("bad name")),
            (S::Tls, Some(K::Tls))
        );

        assert_eq!(
            failure(ureq::Error::Timeout(ureq::Timeout::Connect)),
            (S::Timeout, Some(K::Timeout))
        );
        assert_eq!(
            failure(ureq::Error::BodyExceedsLimit(5)),
            (S::Protocol, Some(K::ResponseBodyTooLarge))
        );
        assert_eq!(
            failure(ureq::Error::ConnectionFailed),
            (S::Connect, Some(K::Dial))
        );
        assert_eq!(
            failure(ureq::Error::BadUri("x".into())),
            (S::ClientInternal, Some(K::Unknown))
        );
        let status = map_error(&ureq::Error::StatusCode(503)).outcome;
        assert_eq!(status, Outcome::Failure(TunnelFailure::target_http(503)));
    }

    #[test]
    fn global_timeout_is_the_deadline_and_errors_read_back_from_bodies() {
        let global = map_error(&ureq::Error::Timeout(ureq::Timeout::Global));
        assert_eq!(global.outcome, Outcome::DeadlineHit);
        // Body readers wrap ureq errors in io::Error; From unwraps them again.
        let wrapped = ureq::Error::Timeout(ureq::Timeout::Global).into_io();
        assert_eq!(
            map_error(&ureq::Error::from(wrapped)).outcome,
            Outcome::DeadlineHit
        );
        let too_large = ureq::Error::BodyExceedsLimit(3).into_io();
        assert_eq!(
            failure(ureq::Error::from(too_large)).1,
            Some(TransportErrorKind::ResponseBodyTooLarge)
        );
    }

    #[test]
    fn reachability_follows_the_failure() {
        assert_eq!(
            map_error(&io(io::ErrorKind::ConnectionRefused)).reached,
            Some(false)
        );
        assert_eq!(map_error(&ureq::Error::HostNotFound).reached, Some(false));
        assert_eq!(
            map_error(&io(io::ErrorKind::ConnectionReset)).reached,
            Some(true)
        );
        assert_eq!(
            map_error(&ureq::Error::Timeout(ureq::Timeout::Global)).reached,
            None
        );
    }

    #[test]
    fn url_validation_and_origin_without_credentials() {
        let agent = ureq::Agent::new_with_defaults();
        let b = HttpBackend::new(
            "https://user:s3cret@mcp.example:8443/mcp?x=1",
            agent.clone(),
        )
        .unwrap();
        assert_eq!(b.origin(), "https://mcp.example:8443");
        let status = b.status();
        assert_eq!((status.kind, status.up), ("http", true));
        assert!(!status.detail.contains("s3cret") && !status.detail.contains("user"));
        assert!(!format!("{b:?}").contains("s3cret"));
        let b = HttpBackend::new("http://[::1]/mcp", agent.clone()).unwrap();
        assert_eq!(b.origin(), "http://[::1]:80");
        assert!(!b.proc_affinity());

        for (url, want) in [
            ("ftp://host/x", HttpError::UnsupportedScheme),
            ("/relative/path", HttpError::BadUrl),
            ("not a url", HttpError::BadUrl),
            ("http://", HttpError::BadUrl),
        ] {
            let err = HttpBackend::new(url, agent.clone()).unwrap_err();
            assert_eq!(err, want, "{url}");
        }
        let err = HttpBackend::new("ftp://user:pw@host/", agent).unwrap_err();
        assert!(!err.to_string().contains("pw"));
    }

    #[test]
    fn response_checks() {
        let id = json!(7);
        let ok = json!({"jsonrpc": "2.0", "id": 7, "result": {}});
        assert_eq!(check_response(&ok, &id), Ok(()));
        let err = json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -1, "message": "m"}});
        assert_eq!(check_response(&err, &id), Ok(()));
        let other_id = json!({"jsonrpc": "2.0", "id": "7", "result": {}});
        assert_eq!(
            check_response(&other_id, &id),
            Err(TransportErrorKind::InvalidProtocolResponse)
        );
        let bad_error = json!({"jsonrpc": "2.0", "id": 7, "error": {"code": "x"}});
        assert_eq!(
            check_response(&bad_error, &id),
            Err(TransportErrorKind::InvalidMcpError)
        );
        for not_rpc in [
            json!([1]),
            json!({"id": 7, "result": 1}),
            json!({"jsonrpc": "2.0", "id": 7}),
        ] {
            assert_eq!(
                check_response(&not_rpc, &id),
                Err(TransportErrorKind::NonProtocolResponse)
            );
        }
        assert_eq!(request_id(&json!({"jsonrpc": "2.0", "method": "m"})), None);
        assert_eq!(
            request_id(&json!({"jsonrpc": "2.0", "id": 1, "result": {}})),
            None
        );
        assert_eq!(
            request_id(&json!({"jsonrpc": "2.0", "id": 1, "method": "m"})),
            Some(&json!(1))
        );
    }
}
