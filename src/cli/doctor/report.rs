//! One line of the doctor report (name, mark, detail, cause, fix) and the two
//! renderings of the whole report: text for people, JSON for scripts. Runs no check.

use serde_json::{json, Value};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Pass,
    Fail,
    Warn,
}

impl Mark {
    fn symbol(self) -> &'static str {
        match self {
            Mark::Pass => "✓",
            Mark::Fail => "✗",
            Mark::Warn => "!",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Mark::Pass => "pass",
            Mark::Fail => "fail",
            Mark::Warn => "warn",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Mark::Pass => "\x1b[32m",
            Mark::Fail => "\x1b[31m",
            Mark::Warn => "\x1b[33m",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub mark: Mark,
    pub detail: String,
    /// What the failure or warning means (shown with `--explain`).
    pub cause: String,
    /// The exact fix.
    pub fix: String,
}

pub(super) fn pass(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        mark: Mark::Pass,
        detail: detail.into(),
        cause: String::new(),
        fix: String::new(),
    }
}

pub(super) fn fail(
    name: &'static str,
    detail: impl Into<String>,
    cause: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        name,
        mark: Mark::Fail,
        detail: detail.into(),
        cause: cause.into(),
        fix: fix.into(),
    }
}

pub(super) fn warn(
    name: &'static str,
    detail: impl Into<String>,
    cause: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        mark: Mark::Warn,
        ..fail(name, detail, cause, fix)
    }
}

/// The plain-text report (marks, details, optional explanations, summary).
pub fn text_report(checks: &[Check], explain: bool, colour: bool) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = if colour {
            format!("{}{}\x1b[0m", c.mark.colour(), c.mark.symbol())
        } else {
            c.mark.symbol().to_string()
        };
        out.push_str(&format!("{mark} {:<22} {}\n", c.name, c.detail));
        if explain && c.mark != Mark::Pass {
            if !c.cause.is_empty() {
                out.push_str(&format!("    cause: {}\n", c.cause));
            }
            if !c.fix.is_empty() {
                out.push_str(&format!("    fix:   {}\n", c.fix));
            }
        }
    }
    let (passed, failed, warned) = counts(checks);
    let plural = if warned == 1 { "" } else { "s" };
    out.push_str(&format!(
        "\n{passed} passed, {failed} failed, {warned} warning{plural}\n"
    ));
    if failed > 0 && !explain {
        out.push_str("run again with --explain for the cause and the fix of each failure\n");
    }
    out
}

fn counts(checks: &[Check]) -> (usize, usize, usize) {
    let n = |m: Mark| checks.iter().filter(|c| c.mark == m).count();
    (n(Mark::Pass), n(Mark::Fail), n(Mark::Warn))
}

/// The same report as one JSON document.
pub fn json_report(checks: &[Check]) -> String {
    let (passed, failed, warned) = counts(checks);
    let items: Vec<Value> = checks
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "status": c.mark.word(),
                "detail": c.detail,
                "cause": c.cause,
                "fix": c.fix,
            })
        })
        .collect();
    json!({
        "ok": failed == 0,
        "checks": items,
        "summary": {"passed": passed, "failed": failed, "warnings": warned},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::{ADMIN, API_KEY, CONFIG};
    use super::*;

    #[test]
    fn report_shapes() {
        let checks = vec![
            pass(CONFIG, "valid"),
            fail(API_KEY, "not set", "why", "export it"),
            warn(ADMIN, "skipped", "c", "f"),
        ];
        let text = text_report(&checks, true, false);
        assert!(text.contains("✓ configuration"));
        assert!(text.contains("✗ API key"));
        assert!(text.contains("    fix:   export it"));
        assert!(text.contains("1 passed, 1 failed, 1 warning\n"));
        assert!(!text.contains('\x1b'));
        let v: Value = serde_json::from_str(&json_report(&checks)).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["checks"][1]["status"], "fail");
    }
}
