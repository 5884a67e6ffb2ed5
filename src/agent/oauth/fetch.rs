//! The HTTP of discovery: the unread probe, and GETs that follow only same-origin redirects and
//! cap bodies while reading. Operator headers ride only on requests to `main`'s origin; nothing here logs a path or a body.

use super::Class;
use crate::mcp::harpoon::url::{self, Url};
use crate::net::{self, Hop, NetConfig};
use crate::secret::Secret;
use std::io;
use std::time::{Duration, Instant};
use ureq::http::HeaderMap;

/// Most redirects one GET follows (each to the same scheme, host and port).
pub const MAX_REDIRECTS: usize = 10;
/// Largest metadata body read; a longer one is `body_too_large`.
pub const MAX_METADATA_BYTES: u64 = 1024 * 1024;
/// `Accept` of every discovery request.
const ACCEPT_JSON: &str = "application/json";

/// Operator headers for requests to `main`'s origin (the MCP set with the
/// discovery set over it). Values never leave the request.
pub type OriginHeaders = Vec<(String, Secret)>;

/// The HTTP clients of discovery: `main`'s origin gets its own agent (proxy,
/// trust, client certificate) and the operator headers; any other origin gets
/// an agent with the same proxy and trust but no client certificate, and no headers.
pub struct Clients {
    main_origin: Option<Url>,
    main_agent: ureq::Agent,
    /// The network settings without the MCP client certificate.
    anonymous: NetConfig,
    headers: OriginHeaders,
}

/// The agent a request goes through and the operator headers it carries.
type Route<'a> = (ureq::Agent, &'a [(String, Secret)]);

/// Who a request is for, which decides its agent and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Resource metadata: `main`'s origin gets the operator's credentials.
    Resource,
    /// An authorization server: never any operator credential, whatever its origin.
    AuthServer,
}

/// A `200` answer: where it came from, its headers and its body (at most
/// [`MAX_METADATA_BYTES`]).
#[derive(Debug)]
pub struct Page {
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// How one GET (with its redirects) ended.
#[derive(Debug)]
pub enum Fetched {
    Ok(Box<Page>),
    /// Any other final status.
    Status(u16),
    /// A redirect off the origin, past [`MAX_REDIRECTS`], or without a usable `Location`.
    RedirectBlocked,
    /// The body of a `200` was over [`MAX_METADATA_BYTES`].
    TooLarge,
    /// No answer: timeout, connect (DNS, refused, reset) or TLS.
    Transport(Class),
}

impl Clients {
    /// `main_url` is the MCP URL as configured; `headers` go to its origin only.
    pub fn new(
        main_url: &str,
        net: &NetConfig,
        headers: OriginHeaders,
    ) -> Result<Clients, net::NetError> {
        Ok(Clients {
            main_origin: Url::parse(main_url.trim()).ok(),
            main_agent: net::build_agent(Hop::Mcp, main_url.trim(), net)?,
            anonymous: NetConfig {
                mcp_mtls: None,
                ..net.clone()
            },
            headers,
        })
    }

    fn is_main_origin(&self, url: &Url) -> bool {
        self.main_origin
            .as_ref()
            .is_some_and(|m| m.same_origin(url))
    }

    /// The agent and headers for `url`.
    fn route(&self, url: &Url, audience: Audience) -> Result<Route<'_>, Class> {
        if audience == Audience::Resource && self.is_main_origin(url) {
            return Ok((self.main_agent.clone(), &self.headers));
        }
        // Built per origin so proxy and NO_PROXY are judged for that origin.
        match net::build_agent(Hop::Mcp, &origin_url(url), &self.anonymous) {
            Ok(agent) => Ok((agent, &[])),
            Err(e) => {
                log::warn!("oauth discovery: no HTTP client for {}: {e}", shown(url));
                Err(Class::Connect)
            }
        }
    }

    /// POSTs, then GETs, an empty request to the MCP URL and returns the
    /// `resource_metadata` of a `401`'s `Bearer` challenge. Bodies are never read.
    pub fn probe(&self, main: &Url, timeout: Duration, deadline: Instant) -> Option<String> {
        let (agent, headers) = self.route(main, Audience::Resource).ok()?;
        for post in [true, false] {
            let budget = crate::mcp::remaining(deadline)?.min(timeout);
            let uri = request_uri(main);
            let result = if post {
                with_headers(agent.post(uri), headers)
                    .config()
                    .timeout_global(Some(budget))
                    .build()
                    .send(&[][..])
            } else {
                with_headers(agent.get(uri), headers)
                    .config()
                    .timeout_global(Some(budget))
                    .build()
                    .call()
            };
            let method = if post { "POST" } else { "GET" };
            match result {
                Ok(response) if response.status().as_u16() == 401 => {
                    let found = response
                        .headers()
                        .get_all("www-authenticate")
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .find_map(super::challenge::resource_metadata);
                    if found.is_some() {
                        return found;
                    }
                    log::debug!("oauth discovery: {method} probe of {} answered 401 without resource_metadata", shown(main));
                }
                Ok(response) => log::debug!(
                    "oauth discovery: {method} probe of {} answered {}",
                    shown(main),
                    response.status().as_u16()
                ),
                Err(e) => log::debug!(
                    "oauth discovery: {method} probe of {} failed ({})",
                    shown(main),
                    classify(&e).as_str()
                ),
            }
        }
        None
    }

    /// GETs `url`, following redirects to the same scheme, host and port only,
    /// within `timeout` (and `deadline`); a `200` body is read up to the cap.
    pub fn get(
        &self,
        url: &Url,
        audience: Audience,
        timeout: Duration,
        deadline: Instant,
    ) -> Fetched {
        let (agent, headers) = match self.route(url, audience) {
            Ok(route) => route,
            Err(class) => return Fetched::Transport(class),
        };
        let until = deadline.min(Instant::now() + timeout);
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let Some(budget) = crate::mcp::remaining(until) else {
                return Fetched::Transport(Class::Timeout);
            };
            let response = with_headers(agent.get(request_uri(&current)), headers)
                .config()
                .timeout_global(Some(budget))
                .build()
                .call();
            let response = match response {
                Ok(response) => response,
                Err(e) => return Fetched::Transport(classify(&e)),
            };
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let next = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|location| url::resolve(&current, location).ok());
                match next {
                    Some(next) if next.same_origin(&current) => {
                        current = next;
                        continue;
                    }
                    _ => {
                        log::debug!(
                            "oauth discovery: {} redirected off its origin; not followed",
                            shown(&current)
                        );
                        return Fetched::RedirectBlocked;
                    }
                }
            }
            if status != 200 {
                return Fetched::Status(status);
            }
            let (parts, body) = response.into_parts();
            if body
                .content_length()
                .is_some_and(|n| n > MAX_METADATA_BYTES)
            {
                return Fetched::TooLarge;
            }
            return match body
                .into_with_config()
                .limit(MAX_METADATA_BYTES)
                .read_to_vec()
            {
                Ok(body) => Fetched::Ok(Box::new(Page {
                    url: current,
                    headers: parts.headers,
                    body,
                })),
                Err(ureq::Error::BodyExceedsLimit(_)) => Fetched::TooLarge,
                Err(e) => Fetched::Transport(classify(&e)),
            };
        }
        log::debug!(
            "oauth discovery: {} redirected more than {MAX_REDIRECTS} times",
            shown(url)
        );
        Fetched::RedirectBlocked
    }
}

/// Operator headers (never `Accept` or `Connection`, which discovery sets),
/// then `Accept`, and `Connection: close`: discovery is rare, and a pooled
/// connection the server has since closed would fail the next candidate.
fn with_headers<B>(
    mut request: ureq::RequestBuilder<B>,
    headers: &[(String, Secret)],
) -> ureq::RequestBuilder<B> {
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("accept") && !name.eq_ignore_ascii_case("connection") {
            request = request.header(name.as_str(), value.expose());
        }
    }
    request
        .header("Accept", ACCEPT_JSON)
        .header("Connection", "close")
}

/// What a failed request counts as: `timeout`, `tls` or `connect`.
fn classify(err: &ureq::Error) -> Class {
    match err {
        ureq::Error::Timeout(_) => Class::Timeout,
        ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::TlsRequired => Class::Tls,
        ureq::Error::Io(e) => classify_io(e),
        ureq::Error::Other(inner) => inner
            .downcast_ref::<io::Error>()
            .map_or(Class::Connect, classify_io),
        _ => Class::Connect,
    }
}

fn classify_io(e: &io::Error) -> Class {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Class::Timeout,
        io::ErrorKind::InvalidData if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => {
            Class::Tls
        }
        _ => Class::Connect,
    }
}

/// `scheme://host[:port]path?query`, the port only when not the default.
pub fn request_uri(url: &Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme.as_str(),
        url.host_header(),
        url.request_target()
    )
}

/// `scheme://host[:port]/`, for choosing a proxy and trust.
fn origin_url(url: &Url) -> String {
    format!("{}://{}/", url.scheme.as_str(), url.host_header())
}

/// `scheme://host`: all that logs, the status page and doctor show of a URL.
pub fn shown(url: &Url) -> String {
    format!("{}://{}", url.scheme.as_str(), url.host)
}
