//! The `response_timeout` grammar: one non-negative integer and one unit among
//! `ns us ms s m h`. Anything else counts as absent (never as an error).

use serde_json::Value;
use std::time::{Duration, Instant};

/// Room kept above every deadline: the I/O layers add their own timeouts to
/// instants a little later than the receipt, and that sum must not overflow.
pub const DEADLINE_HEADROOM: Duration = Duration::from_secs(86_400);

/// When a command must be finished by, and whether its own `response_timeout` said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandDeadline {
    pub at: Instant,
    /// False when the command carried no usable `response_timeout` and the
    /// agent's own request timeout applies.
    pub from_command: bool,
}

/// Deadline = poll receipt instant + `response_timeout`, with checked
/// arithmetic: a timeout whose deadline (plus [`DEADLINE_HEADROOM`]) the clock
/// cannot represent counts as absent, and `fallback` applies.
pub fn command_deadline(
    received_at: Instant,
    response_timeout: Option<Duration>,
    fallback: Duration,
) -> CommandDeadline {
    let representable = |timeout: Duration| {
        received_at
            .checked_add(timeout.checked_add(DEADLINE_HEADROOM)?)
            .and(received_at.checked_add(timeout))
    };
    if let Some(at) = response_timeout.and_then(representable) {
        return CommandDeadline {
            at,
            from_command: true,
        };
    }
    CommandDeadline {
        // The fallback is a validated setting (at most a day); an instant
        // that cannot take it leaves the command already expired.
        at: representable(fallback).unwrap_or(received_at),
        from_command: false,
    }
}

/// Parses a command's `response_timeout` field. `None` means "absent": the
/// caller falls back to its own request timeout.
pub fn parse_response_timeout(value: Option<&Value>) -> Option<Duration> {
    match value {
        Some(Value::String(s)) => parse_duration(s),
        _ => None,
    }
}

/// Parses the grammar itself; `None` for anything outside it, including overflow.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let digits_end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return None;
    }
    let (digits, unit) = text.split_at(digits_end);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ns" => Some(Duration::from_nanos(n)),
        "us" => Some(Duration::from_micros(n)),
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// Formats a duration in the grammar (whole milliseconds), for the relay.
pub fn format_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_the_grammar() {
        let cases = [
            ("30s", Duration::from_secs(30)),
            ("4500ms", Duration::from_millis(4500)),
            ("0s", Duration::ZERO),
            ("7ns", Duration::from_nanos(7)),
            ("9us", Duration::from_micros(9)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("007s", Duration::from_secs(7)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Some(want), "{text}");
        }
    }

    /// PROTOCOL: a response_timeout whose deadline the clock cannot represent counts as absent.
    #[test]
    fn unrepresentable_deadlines_count_as_absent() {
        let now = Instant::now();
        let fallback = Duration::from_secs(60);
        for text in [
            "18446744073709551615s",
            "5124095576030431h",
            "307445734561825860m",
        ] {
            let timeout = parse_duration(text);
            assert!(timeout.is_some(), "{text} is in the grammar");
            let d = command_deadline(now, timeout, fallback);
            assert_eq!(
                d,
                CommandDeadline {
                    at: now + fallback,
                    from_command: false
                },
                "{text}"
            );
        }
        let d = command_deadline(now, Some(Duration::MAX), fallback);
        assert!(!d.from_command);
        // Far but representable: kept.
        let far = parse_duration("18446744073709551615ms");
        let d = command_deadline(now, far, fallback);
        assert!(d.from_command && d.at > now + Duration::from_secs(1 << 50));
        let d = command_deadline(now, Some(Duration::from_secs(30)), fallback);
        assert_eq!(
            d,
            CommandDeadline {
                at: now + Duration::from_secs(30),
                from_command: true
            }
        );
        assert_eq!(command_deadline(now, None, fallback).at, now + fallback);
    }

    #[test]
    fn everything_else_is_absent() {
        for text in [
            "",
            "s",
            "1.5s",
            "-1s",
            "+1s",
            " 1s",
            "1s ",
            "1 s",
            "1m30s",
            "1e3ms",
            "10S",
            "10sec",
            "10d",
            "10",
            "99999999999999999999s",
            "18446744073709551615h",
        ] {
            assert_eq!(parse_duration(text), None, "{text:?}");
        }
        assert_eq!(parse_response_timeout(Some(&json!(30))), None);
        assert_eq!(parse_response_timeout(Some(&json!(null))), None);
        assert_eq!(parse_response_timeout(None), None);
        assert_eq!(
            parse_response_timeout(Some(&json!("30s"))),
            Some(Duration::from_secs(30))
        );
    }
}
