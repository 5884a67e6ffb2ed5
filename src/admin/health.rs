//! Readiness and liveness rules: pure functions of a [`HealthSnapshot`] taken
//! from the telemetry. Liveness never depends on the control plane or the MCP server.

use crate::mcp::BackendStatus;
use crate::telemetry::{HealthSnapshot, OauthPhase, PollFailure};
use std::time::Duration;

/// A failing control plane makes the agent not ready only after this long, so
/// that one lost poll does not flap the readiness of every replica.
pub const NOT_READY_AFTER_FAILING: Duration = Duration::from_secs(60);

/// This many forwarded commands in a row ending in synthesized transport
/// failures mean the MCP server is "up but broken".
pub const SYNTHESIZED_STREAK_NOT_READY: u32 = 5;

/// The answer of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// The control plane is being polled successfully.
    pub polling: bool,
    /// Every MCP binding is up and not failing every command.
    pub mcp_server_reachable: bool,
    /// Why not ready, most important first; empty when ready.
    pub reasons: Vec<String>,
}

/// The answer of `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liveness {
    pub healthy: bool,
    /// Which of the agent's own threads are stuck; empty when healthy.
    pub reasons: Vec<String>,
}

fn failure_text(failure: Option<PollFailure>) -> String {
    match failure {
        Some(PollFailure::Http(status)) => format!("the control plane answered HTTP {status}"),
        Some(PollFailure::Network) | None => {
            "the control plane could not be reached (DNS, connect, TLS or timeout)".to_string()
        }
    }
}

/// Readiness from the snapshot and each channel's backend status.
pub fn readiness(s: &HealthSnapshot, channels: &[(String, BackendStatus)]) -> Readiness {
    let mut reasons = Vec::new();
    let mut polling = true;
    if s.draining {
        reasons.push("the agent is shutting down".to_string());
        polling = false;
    }
    if let Some(status) = s.auth_refused {
        polling = false;
        reasons.push(format!(
            "the control plane refused the API key (HTTP {status}): check the key and the tunnel id"
        ));
    } else if !s.first_poll_ok {
        polling = false;
        match s.failing_since_ms {
            Some(_) => reasons.push(format!(
                "no successful poll yet: {}",
                failure_text(s.last_failure)
            )),
            None => reasons.push("waiting for the first poll of the control plane".to_string()),
        }
    } else if let Some(since) = s.failing_since_ms {
        let failing_for = Duration::from_millis(s.now_ms.saturating_sub(since));
        if failing_for > NOT_READY_AFTER_FAILING {
            polling = false;
            reasons.push(format!(
                "polls have been failing for {} s: {}",
                failing_for.as_secs(),
                failure_text(s.last_failure)
            ));
        }
    }

    let mut mcp_server_reachable = true;
    for (name, status) in channels {
        if !status.up {
            mcp_server_reachable = false;
            reasons.push(format!(
                "the MCP server of channel {name} ({}) is down: {}",
                status.kind, status.detail
            ));
        }
    }
    if let Some(reason) = s.mcp_probe.not_ready_reason() {
        mcp_server_reachable = false;
        reasons.push(reason);
    }
    if s.synthesized_streak >= SYNTHESIZED_STREAK_NOT_READY {
        mcp_server_reachable = false;
        reasons.push(format!(
            "the last {} commands all failed on the way to the MCP server (it is reachable but not answering)",
            s.synthesized_streak
        ));
    }

    // Only the startup discovery and its retries set this; commands never do.
    match s.oauth {
        OauthPhase::Pending => reasons.push("oauth discovery pending".to_string()),
        OauthPhase::Failed(class) => reasons.push(format!("oauth discovery failed: {class}")),
        OauthPhase::Off | OauthPhase::Settled => {}
    }

    Readiness {
        ready: reasons.is_empty(),
        polling,
        mcp_server_reachable,
        reasons,
    }
}

/// Liveness: only the agent's own loops count. While draining, threads stop on
/// purpose, so the watchdog stands down.
pub fn liveness(s: &HealthSnapshot) -> Liveness {
    let mut reasons = Vec::new();
    if !s.draining {
        let silent_ms = s.now_ms.saturating_sub(s.poll_heartbeat_ms);
        if silent_ms > s.poll_stall_limit_ms {
            reasons.push(format!(
                "the poll loop has not reported for {} s (limit {} s): it is stuck or has died",
                silent_ms / 1000,
                s.poll_stall_limit_ms / 1000
            ));
        }
        for (index, &due) in s.worker_due_ms.iter().enumerate() {
            if s.now_ms > due {
                reasons.push(format!(
                    "worker {index} is {} s overdue: it is stuck or has died",
                    (s.now_ms - due) / 1000
                ));
            }
        }
    }
    Liveness {
        healthy: reasons.is_empty(),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> HealthSnapshot {
        HealthSnapshot {
            now_ms: 1_000_000,
            draining: false,
            first_poll_ok: true,
            auth_refused: None,
            failing_since_ms: None,
            last_failure: None,
            synthesized_streak: 0,
            poll_heartbeat_ms: 999_000,
            poll_stall_limit_ms: 155_000,
            worker_due_ms: vec![1_010_000, 1_020_000],
            oauth: OauthPhase::Off,
            mcp_probe: crate::telemetry::McpProbe::NotProbed,
        }
    }

    fn up() -> Vec<(String, BackendStatus)> {
        vec![(
            "main".to_string(),
            BackendStatus {
                kind: "stdio",
                up: true,
                detail: "pid 7".into(),
            },
        )]
    }

    #[test]
    fn ready_and_live_when_nothing_is_wrong() {
        let r = readiness(&healthy(), &up());
        assert!(r.ready && r.polling && r.mcp_server_reachable, "{r:?}");
        assert!(liveness(&healthy()).healthy);
    }

    #[test]
    fn failing_polls_count_only_after_sixty_seconds() {
        let mut s = healthy();
        s.failing_since_ms = Some(s.now_ms - 60_000);
        s.last_failure = Some(PollFailure::Http(503));
        assert!(readiness(&s, &up()).ready);
        s.failing_since_ms = Some(s.now_ms - 61_000);
        let r = readiness(&s, &up());
        assert!(!r.ready && !r.polling && r.mcp_server_reachable);
        assert_eq!(
            r.reasons,
            ["polls have been failing for 61 s: the control plane answered HTTP 503"]
        );
        // A control-plane outage never touches liveness.
        assert!(liveness(&s).healthy);
    }

    #[test]
    fn auth_refusal_wins_over_the_first_poll_reason() {
        let mut s = healthy();
        s.first_poll_ok = false;
        s.auth_refused = Some(401);
        let r = readiness(&s, &up());
        assert_eq!(r.reasons.len(), 1);
        assert!(r.reasons[0].contains("refused the API key (HTTP 401)"));
    }

    #[test]
    fn oauth_discovery_pending_or_failed_is_not_ready_o12() {
        let mut s = healthy();
        for (phase, reason) in [
            (OauthPhase::Pending, Some("oauth discovery pending")),
            (
                OauthPhase::Failed("timeout"),
                Some("oauth discovery failed: timeout"),
            ),
            (OauthPhase::Settled, None),
            (OauthPhase::Off, None),
        ] {
            s.oauth = phase;
            let r = readiness(&s, &up());
            assert_eq!(r.ready, reason.is_none(), "{phase:?}");
            assert_eq!(r.reasons.first().map(String::as_str), reason);
            assert!(r.polling && r.mcp_server_reachable);
            assert!(liveness(&s).healthy);
        }
    }

    #[test]
    fn c2_c3_the_startup_probe_is_a_readiness_reason() {
        use crate::telemetry::{McpProbe, ProbeClass};
        let mut s = healthy();
        for (probe, reason) in [
            (McpProbe::Pending, "mcp startup probe pending"),
            (
                McpProbe::Failed(ProbeClass::ConnectionRefused),
                "mcp probe failed: connect",
            ),
            (
                McpProbe::Failed(ProbeClass::HttpStatus),
                "mcp probe failed: http_status",
            ),
            (
                McpProbe::WaitFailed,
                "mcp startup wait failed: connection refused",
            ),
        ] {
            s.mcp_probe = probe;
            let r = readiness(&s, &up());
            assert!(!r.ready && r.polling && !r.mcp_server_reachable, "{r:?}");
            assert_eq!(r.reasons, [reason]);
        }
        for probe in [McpProbe::Passed, McpProbe::NotProbed] {
            s.mcp_probe = probe;
            assert!(readiness(&s, &up()).ready);
        }
    }

    #[test]
    fn stalled_loops_fail_liveness_unless_draining() {
        let mut s = healthy();
        s.poll_heartbeat_ms = s.now_ms - 156_000;
        s.worker_due_ms[1] = s.now_ms - 3_000;
        let l = liveness(&s);
        assert!(!l.healthy);
        assert_eq!(l.reasons.len(), 2);
        assert!(l.reasons[0].starts_with("the poll loop has not reported for 156 s"));
        assert!(l.reasons[1].starts_with("worker 1 is 3 s overdue"));
        s.draining = true;
        assert!(liveness(&s).healthy);
        assert!(!readiness(&s, &up()).ready);
    }
}
