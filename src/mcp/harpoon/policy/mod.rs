//! What a callout may do, as pure functions: methods, sizes, deadlines here;
//! paths, headers, redirects, addresses and URL rewriting in the files below. Never performs I/O.

pub(crate) mod addresses;
pub(crate) mod headers;
pub mod paths;
pub(crate) mod redirects;
pub(crate) mod rewrite;

use crate::mcp::harpoon::outcome::Outcome;
use crate::mcp::harpoon::url::Scheme;
use std::fmt;
use std::time::Duration;

/// The HTTP methods a target may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    /// Exact upper-case spelling only (as the tool schemas enumerate them).
    pub fn parse(text: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call was refused or failed: the text after `label <label>: `, and the
/// outcome it counts as. Never carries a URL, header value or body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownTarget,
    InvalidPath(paths::PathProblem),
    MethodNotAllowed,
    InvalidHeader,
    HeadersTooLarge,
    BodyTooLarge,
    /// A `max_response_bytes` above the target's cap (the cap).
    ResponseCapTooHigh(u64),
    /// A `timeout_ms` above the target's timeout (its milliseconds).
    TimeoutTooHigh(u128),
    AddressNotAllowed,
    RedirectBlocked,
    SchemeMismatch {
        allowlisted: Scheme,
        redirected: Scheme,
    },
    RedirectLimit,
    RequestFailed,
    /// The call's deadline passed.
    Timeout,
    /// `notifications/cancelled` named the call.
    Cancelled,
    ResponseTooLarge,
    ResponseReadFailed,
    NotTokenEndpoint,
}

impl Refusal {
    pub fn outcome(self) -> Outcome {
        match self {
            Refusal::UnknownTarget
            | Refusal::InvalidPath(_)
            | Refusal::InvalidHeader
            | Refusal::HeadersTooLarge => Outcome::InvalidInput,
            Refusal::MethodNotAllowed
            | Refusal::BodyTooLarge
            | Refusal::ResponseCapTooHigh(_)
            | Refusal::TimeoutTooHigh(_)
            | Refusal::AddressNotAllowed
            | Refusal::NotTokenEndpoint => Outcome::Refused,
            Refusal::RedirectBlocked | Refusal::SchemeMismatch { .. } | Refusal::RedirectLimit => {
                Outcome::RedirectBlocked
            }
            Refusal::RequestFailed | Refusal::Cancelled => Outcome::RequestError,
            Refusal::Timeout => Outcome::Timeout,
            Refusal::ResponseTooLarge => Outcome::ResponseTooLarge,
            Refusal::ResponseReadFailed => Outcome::ResponseReadError,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnknownTarget => f.write_str("unknown target"),
            Refusal::InvalidPath(problem) => write!(f, "invalid path: {problem}"),
            Refusal::MethodNotAllowed => f.write_str("method not allowed"),
            Refusal::InvalidHeader => f.write_str("invalid header"),
            Refusal::HeadersTooLarge => f.write_str("request headers too large"),
            Refusal::BodyTooLarge => f.write_str("request body exceeds size limit"),
            Refusal::ResponseCapTooHigh(cap) => {
                write!(f, "max_response_bytes must be less than or equal to {cap}")
            }
            Refusal::TimeoutTooHigh(ms) => write!(f, "timeout must be at most {ms}ms"),
            Refusal::AddressNotAllowed => f.write_str("address not allowed"),
            Refusal::RedirectBlocked => f.write_str("redirect blocked"),
            Refusal::SchemeMismatch {
                allowlisted,
                redirected,
            } => write!(
                f,
                "redirect blocked: scheme mismatch (allowlisted {}, redirected to {})",
                allowlisted.as_str(),
                redirected.as_str()
            ),
            Refusal::RedirectLimit => f.write_str("redirect limit exceeded"),
            Refusal::RequestFailed | Refusal::Cancelled => f.write_str("request failed"),
            Refusal::Timeout => f.write_str("timeout"),
            Refusal::ResponseTooLarge => f.write_str("response exceeds size limit"),
            Refusal::ResponseReadFailed => f.write_str("response read failed"),
            Refusal::NotTokenEndpoint => f.write_str("target is not an OAuth token endpoint"),
        }
    }
}

/// The method must be one the target allows, on every hop.
pub fn check_method(allowed: &[Method], method: Method) -> Result<(), Refusal> {
    if allowed.contains(&method) {
        Ok(())
    } else {
        Err(Refusal::MethodNotAllowed)
    }
}

/// A body larger than any applicable limit is refused before anything is sent.
pub fn check_request_body(len: usize, limits: &[u64]) -> Result<(), Refusal> {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    if limits.iter().any(|limit| len > *limit) {
        Err(Refusal::BodyTooLarge)
    } else {
        Ok(())
    }
}

/// The response cap is the target's, or a lower one the caller asks for.
pub fn response_cap(target_cap: u64, asked: Option<u64>) -> Result<u64, Refusal> {
    match asked {
        None => Ok(target_cap),
        Some(n) if n <= target_cap => Ok(n),
        Some(_) => Err(Refusal::ResponseCapTooHigh(target_cap)),
    }
}

/// The call's time budget is the target's timeout, or a shorter one asked for.
pub fn call_timeout(target_timeout: Duration, asked_ms: Option<u64>) -> Result<Duration, Refusal> {
    match asked_ms {
        None => Ok(target_timeout),
        Some(ms) if u128::from(ms) <= target_timeout.as_millis() => Ok(Duration::from_millis(ms)),
        Some(_) => Err(Refusal::TimeoutTooHigh(target_timeout.as_millis())),
    }
}

/// Plain `http` only when the operator allowed it (targets and every hop).
pub fn check_scheme(scheme: Scheme, allow_plaintext_http: bool) -> bool {
    scheme == Scheme::Https || allow_plaintext_http
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h5_method_must_be_allowed() {
        let allowed = [Method::Get, Method::Post];
        assert_eq!(check_method(&allowed, Method::Get), Ok(()));
        assert_eq!(
            check_method(&allowed, Method::Delete),
            Err(Refusal::MethodNotAllowed)
        );
        assert_eq!(Method::parse("get"), None);
        assert_eq!(Method::parse("PATCH"), Some(Method::Patch));
    }

    #[test]
    fn h7_body_over_any_limit_is_refused() {
        assert_eq!(check_request_body(10, &[10, 20]), Ok(()));
        assert_eq!(
            check_request_body(11, &[10, 20]),
            Err(Refusal::BodyTooLarge)
        );
        assert_eq!(
            check_request_body(11, &[20, 10]),
            Err(Refusal::BodyTooLarge)
        );
    }

    #[test]
    fn h8_cap_may_only_be_lowered() {
        assert_eq!(response_cap(100, None), Ok(100));
        assert_eq!(response_cap(100, Some(1)), Ok(1));
        assert_eq!(response_cap(100, Some(100)), Ok(100));
        let refused = response_cap(100, Some(101)).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "max_response_bytes must be less than or equal to 100"
        );
    }

    #[test]
    fn h9_timeout_may_only_be_shortened() {
        let t = Duration::from_secs(2);
        assert_eq!(call_timeout(t, None), Ok(t));
        assert_eq!(call_timeout(t, Some(150)), Ok(Duration::from_millis(150)));
        assert_eq!(
            call_timeout(t, Some(2001)).unwrap_err().to_string(),
            "timeout must be at most 2000ms"
        );
    }

    #[test]
    fn h12_plaintext_needs_permission() {
        assert!(check_scheme(Scheme::Https, false));
        assert!(!check_scheme(Scheme::Http, false));
        assert!(check_scheme(Scheme::Http, true));
    }

    #[test]
    fn messages_match_the_spec() {
        let mismatch = Refusal::SchemeMismatch {
            allowlisted: Scheme::Https,
            redirected: Scheme::Http,
        };
        assert_eq!(
            mismatch.to_string(),
            "redirect blocked: scheme mismatch (allowlisted https, redirected to http)"
        );
        assert_eq!(
            Refusal::InvalidPath(paths::PathProblem::DotSegment).to_string(),
            "invalid path: dot segment"
        );
        assert_eq!(Refusal::Cancelled.to_string(), "request failed");
        assert_eq!(Refusal::Timeout.outcome(), Outcome::Timeout);
        assert_eq!(Refusal::RedirectLimit.outcome(), Outcome::RedirectBlocked);
    }
}
