//! One callout from first request to final response: hops, redirects, body cap, gzip.
//! Decisions come from `policy`; this file sequences them and must never skip one on any hop.

pub mod connect;
pub mod inflate;
pub mod wire;

pub use connect::{CancelToken, Resolve, SystemResolver};

use crate::mcp::harpoon::policy::redirects::{self, Scope};
use crate::mcp::harpoon::policy::{check_method, check_scheme, Method, Refusal};
use crate::mcp::harpoon::settings::{HarpoonSettings, Target, TargetSet};
use crate::mcp::harpoon::url::Url;
use connect::{Dial, DialError};
use inflate::InflateError;
use std::io::{self, BufReader, Write};
use std::sync::Arc;
use std::time::Instant;
use wire::{Request, WireError};

/// Read buffer of a response.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// One callout, fully checked by the tool that built it.
pub struct Call<'a> {
    pub settings: &'a HarpoonSettings,
    /// The snapshot the call started with (redirect targets come from it).
    pub targets: &'a TargetSet,
    pub target: &'a Arc<Target>,
    pub scope: Scope,
    /// The first request's URL: the target's origin with the checked path and query.
    pub first_hop: Url,
    pub method: Method,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Largest body returned (after gzip decoding).
    pub response_cap: u64,
    pub deadline: Instant,
    pub follow_redirects: bool,
    pub max_redirects: u8,
    pub cancel: &'a CancelToken,
}

/// The final response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names as received; `Content-Encoding`/`Content-Length` removed after gzip decoding.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a callout ended without a usable response, and the last status seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub refusal: Refusal,
    pub status: Option<u16>,
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Failure {
            refusal,
            status: None,
        }
    }
}

/// gzip input allowed for a decoded cap: stored blocks cost 5 bytes per
/// 64 KiB plus an 18-byte frame, so this is generous for honest data.
fn gzip_input_limit(cap: u64) -> u64 {
    cap.saturating_add(cap / 8).saturating_add(1024)
}

/// Performs the call: every hop re-checks the method allowlist and the
/// plaintext rule, connects through [`connect::open`] (vetted addresses only,
/// the target's Unix socket if it has one, verified TLS), and redirects only
/// where [`redirects::next_hop`] allows (to a target URL, or under the base
/// path). The body is capped while it is read and after gzip decoding.
pub fn perform(call: &Call<'_>) -> Result<Response, Failure> {
    let settings = call.settings;
    let original = call.target;
    let user_agent = format!(
        "{}/{}",
        crate::contract::CLIENT_NAME,
        crate::contract::CLIENT_VERSION
    );
    let mut url = call.first_hop.clone();
    let mut hop_target = original.clone();
    let mut method = call.method;
    let mut body = call.body.clone();
    let mut headers = call.headers.clone();
    let mut redirects_taken: u8 = 0;
    let mut authorization_dropped = false;
    // The status of the last redirect followed, for records of later failures.
    let mut last_status: Option<u16> = None;
    loop {
        let before_response = |refusal: Refusal| Failure {
            refusal,
            status: last_status,
        };
        if call.cancel.is_cancelled() {
            return Err(before_response(Refusal::Cancelled));
        }
        if crate::mcp::remaining(call.deadline).is_none() {
            return Err(before_response(Refusal::Timeout));
        }
        check_method(original.allowed_methods(), method).map_err(before_response)?;
        check_method(hop_target.allowed_methods(), method).map_err(before_response)?;
        if !check_scheme(url.scheme, settings.allow_plaintext_http) {
            return Err(before_response(Refusal::RedirectBlocked));
        }
        let unix_socket = hop_target.unix_socket().map(|p| p.as_path());
        let conn = connect::open(&Dial {
            url: &url,
            unix_socket,
            proxy: settings.http_proxy.as_ref(),
            tls: &settings.tls,
            resolver: &settings.resolver,
            deadline: call.deadline,
            cancel: call.cancel,
        })
        .map_err(|e| match e {
            DialError::AddressNotAllowed => Refusal::AddressNotAllowed,
            DialError::Timeout => Refusal::Timeout,
            DialError::Cancelled => Refusal::Cancelled,
            DialError::Failed => Refusal::RequestFailed,
        })
        .map_err(before_response)?;
        let accept_gzip =
            method != Method::Head && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("range"));
        let sent_body = match (&body, method) {
            (Some(b), _) => Some(b.as_slice()),
            (None, Method::Post | Method::Put | Method::Patch) => Some(&[][..]),
            (None, _) => None,
        };
        let request = wire::encode_request(&Request {
            method,
            target: &url.request_target(),
            host: &url.host_header(),
            user_agent: &user_agent,
            accept_gzip,
            headers: &headers,
            body: sent_body,
        });
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, conn);
        reader
            .get_mut()
            .write_all(&request)
            .map_err(|e| before_response(io_refusal(&e, call.cancel, Refusal::RequestFailed)))?;
        let head = wire::read_head(&mut reader).map_err(|e| {
            before_response(match e {
                WireError::Io(e) => io_refusal(&e, call.cancel, Refusal::RequestFailed),
                WireError::Malformed(_) | WireError::TooLarge => Refusal::RequestFailed,
            })
        })?;
        let status = Some(head.status);
        let failed = |refusal: Refusal| Failure { refusal, status };

        let location = head.first("location").filter(|l| !l.is_empty());
        if let (true, true, Some(location)) = (
            call.follow_redirects,
            redirects::is_redirect(head.status),
            location,
        ) {
            if redirects_taken >= call.max_redirects {
                return Err(failed(Refusal::RedirectLimit));
            }
            let next = redirects::next_hop(
                call.scope,
                original,
                &url,
                location,
                call.targets,
                settings.allow_plaintext_http,
            )
            .map_err(failed)?;
            let (next_method, keep_body) = redirects::method_after(head.status, method);
            if !keep_body {
                body = None;
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            }
            if !authorization_dropped && !next.url.same_origin(original.url()) {
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
                authorization_dropped = true;
            }
            log::debug!(
                "harpoon: {} redirected ({}) to {}",
                original.label(),
                head.status,
                next.url.origin()
            );
            method = next_method;
            url = next.url;
            hop_target = next.target;
            redirects_taken += 1;
            last_status = Some(head.status);
            continue;
        }

        let framing =
            wire::framing(&head, method).map_err(|_| failed(Refusal::ResponseReadFailed))?;
        let gzip = accept_gzip && is_gzip(&head.headers);
        let raw_limit = if gzip {
            gzip_input_limit(call.response_cap)
        } else {
            call.response_cap
        };
        let raw = wire::read_body(&mut reader, framing, raw_limit).map_err(|e| {
            failed(match e {
                WireError::TooLarge => Refusal::ResponseTooLarge,
                WireError::Io(e) => io_refusal(&e, call.cancel, Refusal::ResponseReadFailed),
                WireError::Malformed(_) => Refusal::ResponseReadFailed,
            })
        })?;
        let mut headers = head.headers;
        let body = if gzip {
            headers.retain(|(k, _)| {
                !k.eq_ignore_ascii_case("content-encoding")
                    && !k.eq_ignore_ascii_case("content-length")
            });
            if raw.is_empty() {
                raw
            } else {
                let cap = usize::try_from(call.response_cap).unwrap_or(usize::MAX);
                inflate::gunzip_until(&raw, cap, Some(call.deadline)).map_err(|e| {
                    failed(match e {
                        InflateError::TooLarge => Refusal::ResponseTooLarge,
                        InflateError::Timeout => Refusal::Timeout,
                        InflateError::Corrupt(_) => Refusal::ResponseReadFailed,
                    })
                })?
            }
        } else {
            raw
        };
        return Ok(Response {
            status: head.status,
            headers,
            body,
        });
    }
}

/// `Content-Encoding: gzip` and nothing else.
fn is_gzip(headers: &[(String, String)]) -> bool {
    let mut encodings = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty());
    matches!(
        (encodings.next(), encodings.next()),
        (Some(first), None) if first.eq_ignore_ascii_case("gzip")
    )
}

/// An I/O error as the caller reads it: the deadline, a cancellation, or `otherwise`.
fn io_refusal(e: &io::Error, cancel: &CancelToken, otherwise: Refusal) -> Refusal {
    if e.kind() == io::ErrorKind::TimedOut {
        Refusal::Timeout
    } else if cancel.is_cancelled() {
        Refusal::Cancelled
    } else {
        otherwise
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_recognised_only_alone() {
        let h = |v: &str| vec![("Content-Encoding".to_string(), v.to_string())];
        assert!(is_gzip(&h("gzip")));
        assert!(is_gzip(&h(" GZIP ")));
        assert!(!is_gzip(&h("gzip, br")));
        assert!(!is_gzip(&h("deflate")));
        assert!(!is_gzip(&[]));
        let twice = [h("gzip"), h("gzip")].concat();
        assert!(!is_gzip(&twice));
    }

    #[test]
    fn gzip_input_limit_never_overflows() {
        assert_eq!(gzip_input_limit(8), 8 + 1 + 1024);
        assert_eq!(gzip_input_limit(u64::MAX), u64::MAX);
    }
}
