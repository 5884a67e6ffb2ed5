//! The startup probe of an HTTP `main` as readiness sees it: pending, passed,
//! failed (with a class) or the startup wait ran out. One atomic; never blocks.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// Why a probe failed, in one word for the readiness reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeClass {
    /// The connection was refused: the server is not listening (yet).
    ConnectionRefused,
    /// Any other failure to connect (unreachable, dial error).
    Connect,
    Dns,
    Tls,
    /// The connection broke before an answer.
    TransportClosed,
    /// An answer that is not HTTP the agent can read.
    Protocol,
    /// An HTTP status other than 2xx and 401.
    HttpStatus,
    /// A setting on this side made the request impossible.
    ClientInternal,
}

impl ProbeClass {
    const ALL: [ProbeClass; 8] = [
        ProbeClass::ConnectionRefused,
        ProbeClass::Connect,
        ProbeClass::Dns,
        ProbeClass::Tls,
        ProbeClass::TransportClosed,
        ProbeClass::Protocol,
        ProbeClass::HttpStatus,
        ProbeClass::ClientInternal,
    ];

    /// The word in `mcp probe failed: CLASS`.
    pub fn label(self) -> &'static str {
        match self {
            ProbeClass::ConnectionRefused | ProbeClass::Connect => "connect",
            ProbeClass::Dns => "dns",
            ProbeClass::Tls => "tls",
            ProbeClass::TransportClosed => "transport_closed",
            ProbeClass::Protocol => "protocol",
            ProbeClass::HttpStatus => "http_status",
            ProbeClass::ClientInternal => "client_internal",
        }
    }

    fn code(self) -> u8 {
        ProbeClass::ALL
            .iter()
            .position(|c| *c == self)
            .and_then(|i| u8::try_from(i).ok())
            .unwrap_or(0)
    }

    fn from_code(code: u8) -> ProbeClass {
        ProbeClass::ALL
            .get(usize::from(code))
            .copied()
            .unwrap_or(ProbeClass::Connect)
    }
}

/// Where the startup probe of an HTTP `main` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpProbe {
    /// No HTTP `main`: nothing is probed and readiness does not wait for it.
    NotProbed,
    /// Started and not settled yet.
    Pending,
    /// A 2xx, a 401 or a timeout answered it (or a later command got a 2xx).
    Passed,
    /// Any other answer or error; re-probed until it passes.
    Failed(ProbeClass),
    /// `--mcp-startup-wait` ran out while the server refused connections;
    /// re-probed until it passes.
    WaitFailed,
}

impl McpProbe {
    /// The readiness reason this state gives, if any.
    pub fn not_ready_reason(self) -> Option<String> {
        match self {
            McpProbe::NotProbed | McpProbe::Passed => None,
            McpProbe::Pending => Some("mcp startup probe pending".to_string()),
            McpProbe::Failed(class) => Some(format!("mcp probe failed: {}", class.label())),
            McpProbe::WaitFailed => Some("mcp startup wait failed: connection refused".to_string()),
        }
    }
}

impl fmt::Display for McpProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.not_ready_reason() {
            Some(reason) => f.write_str(&reason),
            None if *self == McpProbe::Passed => f.write_str("passed"),
            None => f.write_str("not probed"),
        }
    }
}

const NOT_PROBED: u8 = 0;
const PENDING: u8 = 1;
const PASSED: u8 = 2;
const WAIT_FAILED: u8 = 3;
/// `FAILED + class code`.
const FAILED: u8 = 16;

/// [`McpProbe`] in one atomic: written by the probe thread, cleared by a 2xx
/// on `main`, read by `/readyz`.
#[derive(Debug, Default)]
pub struct ProbeCell(AtomicU8);

impl ProbeCell {
    pub fn set(&self, state: McpProbe) {
        self.0.store(encode(state), Relaxed);
    }

    pub fn get(&self) -> McpProbe {
        decode(self.0.load(Relaxed))
    }

    /// A 2xx answer on `main` clears a failed probe (not a spent startup
    /// wait: that needs a probe to pass). One load when nothing failed.
    pub fn answered_2xx(&self) {
        let now = self.0.load(Relaxed);
        if now >= FAILED {
            let _ = self.0.compare_exchange(now, PASSED, Relaxed, Relaxed);
        }
    }
}

fn encode(state: McpProbe) -> u8 {
    match state {
        McpProbe::NotProbed => NOT_PROBED,
        McpProbe::Pending => PENDING,
        McpProbe::Passed => PASSED,
        McpProbe::WaitFailed => WAIT_FAILED,
        McpProbe::Failed(class) => FAILED + class.code(),
    }
}

fn decode(code: u8) -> McpProbe {
    match code {
        PENDING => McpProbe::Pending,
        PASSED => McpProbe::Passed,
        WAIT_FAILED => McpProbe::WaitFailed,
        c if c >= FAILED => McpProbe::Failed(ProbeClass::from_code(c - FAILED)),
        _ => McpProbe::NotProbed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c2_states_round_trip_and_give_the_exact_reasons() {
        let cell = ProbeCell::default();
        assert_eq!(cell.get(), McpProbe::NotProbed);
        assert_eq!(cell.get().not_ready_reason(), None);
        cell.set(McpProbe::Pending);
        assert_eq!(
            cell.get().not_ready_reason().as_deref(),
            Some("mcp startup probe pending")
        );
        for class in ProbeClass::ALL {
            cell.set(McpProbe::Failed(class));
            assert_eq!(cell.get(), McpProbe::Failed(class));
        }
        cell.set(McpProbe::Failed(ProbeClass::Tls));
        assert_eq!(
            cell.get().not_ready_reason().as_deref(),
            Some("mcp probe failed: tls")
        );
        cell.answered_2xx();
        assert_eq!(cell.get(), McpProbe::Passed);
        cell.set(McpProbe::WaitFailed);
        cell.answered_2xx();
        assert_eq!(
            cell.get().not_ready_reason().as_deref(),
            Some("mcp startup wait failed: connection refused")
        );
        cell.set(McpProbe::Pending);
        cell.answered_2xx();
        assert_eq!(cell.get(), McpProbe::Pending);
    }
}
