//! The startup probe of an HTTP `main`: `initialize`, `notifications/initialized`
//! and DELETE of the probe's own session, within one budget. Reads no body; never sends a command's headers.

use super::http::failure_of;
use super::ProbeOutcome;
use crate::contract::{header, FailureSource, TransportErrorKind, CLIENT_VERSION};
use crate::telemetry::ProbeClass;
use std::time::{Duration, Instant};
use ureq::http::{HeaderName, HeaderValue, Uri};

/// Longest the whole probe may take (three requests).
pub const PROBE_BUDGET: Duration = Duration::from_secs(2);
/// The MCP protocol version the probe offers.
pub const PROBE_PROTOCOL_VERSION: &str = "2025-06-18";
/// The client name the probe gives in `initialize`.
pub const PROBE_CLIENT_NAME: &str = "tunnel-client-rs";

const ACCEPT: &str = "application/json, text/event-stream";

/// Probes `uri` with `headers` (the operator's MCP set with the discovery set
/// on top). 2xx and 401 pass; so does no answer within the budget (a slow
/// server is still there); anything else fails with its class.
pub fn run(
    agent: &ureq::Agent,
    uri: &Uri,
    headers: &[(HeaderName, HeaderValue)],
    budget: Duration,
) -> ProbeOutcome {
    let started = Instant::now();
    let left = || {
        budget
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
    };
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": PROBE_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": PROBE_CLIENT_NAME, "version": CLIENT_VERSION},
        }
    });
    let request = with_headers(agent.post(uri.clone()), headers)
        .header(header::ACCEPT, ACCEPT)
        .header(header::CONTENT_TYPE, "application/json")
        .config()
        .timeout_global(Some(budget))
        .build();
    let response = match request.send(initialize.to_string().as_bytes()) {
        Ok(response) => response,
        Err(e) => return outcome_of(&e),
    };
    let status = response.status().as_u16();
    if status == 401 {
        return ProbeOutcome::Passed;
    }
    if !(200..300).contains(&status) {
        return ProbeOutcome::Failed(ProbeClass::HttpStatus);
    }
    let session = response
        .headers()
        .get(header::MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // The body is not read: dropping it closes that connection.
    drop(response);

    let Some(time) = left() else {
        return ProbeOutcome::Passed;
    };
    let mut initialized = with_headers(agent.post(uri.clone()), headers)
        .header(header::ACCEPT, ACCEPT)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::MCP_PROTOCOL_VERSION, PROBE_PROTOCOL_VERSION);
    if let Some(session) = &session {
        initialized = initialized.header(header::MCP_SESSION_ID, session.as_str());
    }
    let note = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let _ = initialized
        .config()
        .timeout_global(Some(time))
        .build()
        .send(&note[..]);

    // The probe's own session is the one DELETE besides session termination.
    if let (Some(session), Some(time)) = (session, left()) {
        let _ = with_headers(agent.delete(uri.clone()), headers)
            .header(header::MCP_SESSION_ID, session.as_str())
            .header(header::MCP_PROTOCOL_VERSION, PROBE_PROTOCOL_VERSION)
            .config()
            .timeout_global(Some(time))
            .build()
            .call();
    }
    ProbeOutcome::Passed
}

fn with_headers<B>(
    mut request: ureq::RequestBuilder<B>,
    headers: &[(HeaderName, HeaderValue)],
) -> ureq::RequestBuilder<B> {
    for (name, value) in headers {
        request = request.header(name, value.clone());
    }
    request
}

/// A request error as a probe outcome: a timeout passes.
fn outcome_of(err: &ureq::Error) -> ProbeOutcome {
    let Some(failure) = failure_of(err) else {
        return ProbeOutcome::Passed;
    };
    let class = match (failure.source, failure.transport_error_kind) {
        (FailureSource::Timeout, _) => return ProbeOutcome::Passed,
        (FailureSource::Connect, Some(TransportErrorKind::ConnectionRefused)) => {
            ProbeClass::ConnectionRefused
        }
        (FailureSource::Connect, _) => ProbeClass::Connect,
        (FailureSource::Dns, _) => ProbeClass::Dns,
        (FailureSource::Tls, _) => ProbeClass::Tls,
        (FailureSource::TransportClosed, _) => ProbeClass::TransportClosed,
        (FailureSource::Protocol, _) => ProbeClass::Protocol,
        (FailureSource::TargetHttp, _) => ProbeClass::HttpStatus,
        (FailureSource::ClientInternal, _) => ProbeClass::ClientInternal,
    };
    ProbeOutcome::Failed(class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn c2_timeouts_pass_and_refusals_are_told_apart() {
        let refused = ureq::Error::Io(io::Error::new(io::ErrorKind::ConnectionRefused, "x"));
        assert_eq!(
            outcome_of(&refused),
            ProbeOutcome::Failed(ProbeClass::ConnectionRefused)
        );
        assert_eq!(
            outcome_of(&ureq::Error::Timeout(ureq::Timeout::Global)),
            ProbeOutcome::Passed
        );
        assert_eq!(
            outcome_of(&ureq::Error::Timeout(ureq::Timeout::Connect)),
            ProbeOutcome::Passed
        );
        assert_eq!(
            outcome_of(&ureq::Error::HostNotFound),
            ProbeOutcome::Failed(ProbeClass::Dns)
        );
        let reset = ureq::Error::Io(io::Error::new(io::ErrorKind::ConnectionReset, "x"));
        assert_eq!(
            outcome_of(&reset),
            ProbeOutcome::Failed(ProbeClass::TransportClosed)
        );
    }
}
