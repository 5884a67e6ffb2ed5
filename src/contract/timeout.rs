//! The `response_timeout` grammar: one non-negative integer and one unit among
//! `ns us ms s m h`. Anything else counts as absent (never as an error).

use serde_json::Value;
use std::time::Duration;

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
