//! The four tools: check a validated call against its target (label, path,
//! method, headers, body size, response cap, time budget), run it
//! through the client, and shape the answer byte for byte. Never puts a URL, header value or body in a refusal.

use crate::base64;
use crate::mcp::harpoon::client::{self, CancelToken, Failure};
use crate::mcp::harpoon::outcome::Outcome;
use crate::mcp::harpoon::policy::redirects::Scope;
use crate::mcp::harpoon::policy::{self, headers, paths, rewrite, Refusal};
use crate::mcp::harpoon::schema::{
    CallTargetArgs, HttpCalloutArgs, ListTargetsArgs, ToolCall, CALL_TARGET,
    GET_OAUTH_TARGET_AUDIENCE, HTTP_CALLOUT, LIST_TARGETS,
};
use crate::mcp::harpoon::settings::{HarpoonSettings, Target, TargetSet};
use crate::mcp::harpoon::url::Url;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Largest request body `call_target` sends, whatever a target allows.
pub const CALL_TARGET_MAX_REQUEST_BYTES: u64 = 1024 * 1024;

/// What a tool needs besides its arguments.
pub struct Context<'a> {
    pub settings: &'a HarpoonSettings,
    pub targets: &'a TargetSet,
    /// The command's own deadline; a call's deadline never passes it.
    pub command_deadline: Instant,
    pub cancel: &'a CancelToken,
}

/// A tool's answer and what its record needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The `tools/call` result (`CallToolResult`).
    pub result: Value,
    pub tool: &'static str,
    /// The target's label, if the call named an existing target.
    pub target: Option<String>,
    pub method: Option<&'static str>,
    pub status: Option<u16>,
    pub outcome: Outcome,
    pub bytes: u64,
    pub dropped_headers: u32,
    pub origin: Option<String>,
}

impl Answer {
    fn new(tool: &'static str) -> Answer {
        Answer {
            result: Value::Null,
            tool,
            target: None,
            method: None,
            status: None,
            outcome: Outcome::Success,
            bytes: 0,
            dropped_headers: 0,
            origin: None,
        }
    }

    fn about(mut self, target: &Target) -> Answer {
        self.target = Some(target.label().to_string());
        self.origin = Some(target.url().origin());
        self
    }

    /// `isError` with one text item `label <label>: <message>`.
    fn refuse(mut self, label: &str, refusal: Refusal) -> Answer {
        let shown = if label.is_empty() { "unknown" } else { label };
        // The caller of call_target reads a passed deadline as a failed request.
        let message = match (self.tool, refusal) {
            (CALL_TARGET, Refusal::Timeout) => Refusal::RequestFailed.to_string(),
            _ => refusal.to_string(),
        };
        self.outcome = refusal.outcome();
        self.result = json!({
            "content": [{"type": "text", "text": format!("label {shown}: {message}")}],
            "isError": true,
        });
        self
    }

    fn fail(mut self, label: &str, failure: Failure) -> Answer {
        self.status = failure.status;
        self.refuse(label, failure.refusal)
    }

    /// `structuredContent` and the same JSON as text (`text` may omit empty fields).
    fn succeed(mut self, structured: Value, text: String) -> Answer {
        self.outcome = Outcome::Success;
        self.result = json!({
            "content": [{"type": "text", "text": text}],
            "structuredContent": structured,
        });
        self
    }
}

/// Runs one validated call.
pub fn run(ctx: &Context<'_>, call: ToolCall) -> Answer {
    match call {
        ToolCall::CallTarget(args) => call_target(ctx, args),
        ToolCall::HttpCallout(args) => http_callout(ctx, args),
        ToolCall::ListTargets(args) => list_targets(ctx, &args),
        ToolCall::Audience { label } => audience(ctx, &label),
    }
}

/// Compact JSON as Go's `encoding/json` writes it (what callers of the official
/// client parse byte for byte): struct field order, `<`, `>`, `&`, U+2028 and
/// U+2029 escaped. Those characters only occur inside strings, so replacing them
/// in the text is exact.
pub fn go_json<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The deadline of a call: its own budget, never past the command's.
fn deadline(ctx: &Context<'_>, budget: std::time::Duration) -> Instant {
    Instant::now()
        .checked_add(budget)
        .map_or(ctx.command_deadline, |d| d.min(ctx.command_deadline))
}

fn call_target(ctx: &Context<'_>, args: CallTargetArgs) -> Answer {
    let mut answer = Answer::new(CALL_TARGET);
    answer.method = Some(args.method.as_str());
    let Some(target) = ctx.targets.get(&args.label) else {
        return answer.refuse(&args.label, Refusal::UnknownTarget);
    };
    let answer = answer.about(target);
    let label = target.label();
    let checked = (|| -> Result<_, Refusal> {
        policy::check_method(target.allowed_methods(), args.method)?;
        let cap = policy::response_cap(target.max_response_bytes(), args.max_response_bytes)?;
        let timeout = policy::call_timeout(target.timeout(), args.timeout_ms)?;
        let prepared = prepare_headers(&args.headers)?;
        let body = args.body.map(String::into_bytes);
        policy::check_request_body(
            body.as_ref().map_or(0, Vec::len),
            &[target.max_request_bytes(), CALL_TARGET_MAX_REQUEST_BYTES],
        )?;
        Ok((cap, timeout, prepared, body))
    })();
    let (cap, timeout, prepared, body) = match checked {
        Ok(c) => c,
        Err(refusal) => return answer.refuse(label, refusal),
    };
    let mut answer = answer;
    answer.dropped_headers = prepared.dropped;
    // `call_target` sends the target URL exactly as configured; an empty path is sent as `/`.
    let mut first_hop = target.url().clone();
    first_hop.path = first_hop.request_path().to_string();
    let max_redirects = args
        .max_redirects
        .unwrap_or(ctx.settings.max_redirects)
        .min(ctx.settings.max_redirects);
    let result = client::perform(&client::Call {
        settings: ctx.settings,
        targets: ctx.targets,
        target,
        scope: Scope::CallTarget,
        first_hop,
        method: args.method,
        headers: prepared.headers,
        body,
        response_cap: cap,
        deadline: deadline(ctx, timeout),
        follow_redirects: args.follow_redirects,
        max_redirects,
        cancel: ctx.cancel,
    });
    let mut response = match result {
        Ok(r) => r,
        Err(failure) => return answer.fail(label, failure),
    };
    answer.status = Some(response.status);
    let received = response.body.len() as u64;
    answer.bytes = received;
    // Absolute target URLs in the answer's headers and JSON become harpoon://<label>.
    rewrite::rewrite_headers(&mut response.headers, ctx.targets);
    let body = rewrite::rewrite_json(&response.body, ctx.targets).unwrap_or(response.body);
    let headers = headers::for_caller(&response.headers, false);
    let body_base64 = base64::encode(&body);

    #[derive(Serialize)]
    struct Text<'a> {
        status_code: u16,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        headers: &'a BTreeMap<String, Vec<String>>,
        #[serde(skip_serializing_if = "str::is_empty")]
        body_base64: &'a str,
        body_size_bytes: u64,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
    }
    let text = go_json(&Text {
        status_code: response.status,
        headers: &headers,
        body_base64: &body_base64,
        body_size_bytes: received,
        truncated: false,
    });
    let structured = json!({
        "status_code": response.status,
        "headers": headers,
        "body_base64": body_base64,
        "body_size_bytes": received,
        "truncated": false,
    });
    answer.succeed(structured, text)
}

fn http_callout(ctx: &Context<'_>, args: HttpCalloutArgs) -> Answer {
    let mut answer = Answer::new(HTTP_CALLOUT);
    answer.method = Some(args.method.as_str());
    let Some(target) = ctx.targets.get(&args.target) else {
        return answer.refuse(&args.target, Refusal::UnknownTarget);
    };
    let answer = answer.about(target);
    let label = target.label();
    let checked = (|| -> Result<_, Refusal> {
        paths::check(&args.path).map_err(Refusal::InvalidPath)?;
        policy::check_method(target.allowed_methods(), args.method)?;
        let prepared = prepare_headers(&args.headers)?;
        let body = args.body.map(String::into_bytes);
        policy::check_request_body(
            body.as_ref().map_or(0, Vec::len),
            &[target.max_request_bytes()],
        )?;
        Ok((prepared, body))
    })();
    let (prepared, body) = match checked {
        Ok(c) => c,
        Err(refusal) => return answer.refuse(label, refusal),
    };
    let mut answer = answer;
    answer.dropped_headers = prepared.dropped;
    // Base path without its trailing `/`, then the caller's path, byte for byte.
    let joined = paths::join(&target.url().path, &args.path);
    let (path, query) = match joined.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (joined, None),
    };
    let first_hop = Url {
        path,
        query,
        ..target.url().clone()
    };
    let result = client::perform(&client::Call {
        settings: ctx.settings,
        targets: ctx.targets,
        target,
        scope: Scope::HttpCallout,
        first_hop,
        method: args.method,
        headers: prepared.headers,
        body,
        response_cap: target.max_response_bytes(),
        deadline: deadline(ctx, target.timeout()),
        follow_redirects: true,
        max_redirects: ctx.settings.max_redirects,
        cancel: ctx.cancel,
    });
    let response = match result {
        Ok(r) => r,
        Err(failure) => return answer.fail(label, failure),
    };
    answer.status = Some(response.status);
    answer.bytes = response.body.len() as u64;
    let headers = headers::for_caller(&response.headers, true);
    let size = response.body.len() as u64;
    let (encoding, body) = match String::from_utf8(response.body) {
        Ok(text) => ("utf8", text),
        Err(e) => ("base64", base64::encode(e.as_bytes())),
    };

    #[derive(Serialize)]
    struct Out<'a> {
        status_code: u16,
        headers: &'a BTreeMap<String, Vec<String>>,
        body_encoding: &'a str,
        body: &'a str,
        body_size_bytes: u64,
    }
    let out = Out {
        status_code: response.status,
        headers: &headers,
        body_encoding: encoding,
        body: &body,
        body_size_bytes: size,
    };
    let structured = serde_json::to_value(&out).unwrap_or(Value::Null);
    answer.succeed(structured, go_json(&out))
}

fn prepare_headers(caller: &[(String, String)]) -> Result<headers::Prepared, Refusal> {
    headers::prepare(caller).map_err(|p| match p {
        headers::HeaderProblem::Invalid => Refusal::InvalidHeader,
        headers::HeaderProblem::TooLarge => Refusal::HeadersTooLarge,
    })
}

fn list_targets(ctx: &Context<'_>, args: &ListTargetsArgs) -> Answer {
    #[derive(Serialize)]
    struct Entry<'a> {
        label: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<&'a str>,
        category: &'a str,
        source: &'a str,
        allowed_methods: Vec<&'a str>,
        max_request_bytes: u64,
        max_response_bytes: u64,
        timeout_ms: u128,
    }
    #[derive(Serialize)]
    struct Out<'a> {
        targets: Vec<Entry<'a>>,
    }
    let matches = |t: &Arc<Target>| {
        let kind = t.source().as_str();
        // Targets carry no tags yet: any tag filter matches none.
        (args.categories.is_empty() || args.categories.iter().any(|c| c == kind))
            && (args.sources.is_empty() || args.sources.iter().any(|s| s == kind))
            && args.tags.is_empty()
    };
    let out = Out {
        targets: ctx
            .targets
            .iter()
            .filter(|t| matches(t))
            .map(|t| Entry {
                label: t.label(),
                description: t.description(),
                category: t.source().as_str(),
                source: t.source().as_str(),
                allowed_methods: t.allowed_methods().iter().map(|m| m.as_str()).collect(),
                max_request_bytes: t.max_request_bytes(),
                max_response_bytes: t.max_response_bytes(),
                timeout_ms: t.timeout().as_millis(),
            })
            .collect(),
    };
    let structured = serde_json::to_value(&out).unwrap_or(Value::Null);
    Answer::new(LIST_TARGETS).succeed(structured, go_json(&out))
}

fn audience(ctx: &Context<'_>, label: &str) -> Answer {
    let answer = Answer::new(GET_OAUTH_TARGET_AUDIENCE);
    let Some(target) = ctx.targets.get(label) else {
        return answer.refuse(label, Refusal::UnknownTarget);
    };
    let answer = answer.about(target);
    match target.audience() {
        Some(audience) => {
            let out = json!({"audience": audience});
            let text = go_json(&out);
            answer.succeed(out, text)
        }
        None => answer.refuse(label, Refusal::NotTokenEndpoint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_escapes_like_encoding_json() {
        assert_eq!(
            go_json(&json!({"a": "<b>&\u{2028}\u{2029}\"\n"})),
            r#"{"a":"\u003cb\u003e\u0026\u2028\u2029\"\n"}"#
        );
    }
}
