//! The four tools' input schemas (for `tools/list`) and a hand-written validator of
//! exactly those schemas into typed arguments. No general JSON-schema engine; never echoes header values or bodies.

use crate::mcp::harpoon::policy::Method;
use crate::mcp::harpoon::settings::is_label;
use serde_json::{json, Map, Value};
use std::fmt;

pub const CALL_TARGET: &str = "call_target";
pub const HTTP_CALLOUT: &str = "http_callout";
pub const LIST_TARGETS: &str = "list_targets";
pub const GET_OAUTH_TARGET_AUDIENCE: &str = "get_oauth_target_audience";

/// `timeout_ms` bounds and default of `call_target`.
pub const MIN_TIMEOUT_MS: u64 = 100;
pub const MAX_TIMEOUT_MS: u64 = 120_000;
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// `path` length bounds of `http_callout` (characters).
pub const MAX_PATH_CHARS: usize = 2048;
/// Longest tool name quoted back in `unknown tool "<name>"`.
const MAX_QUOTED_NAME_CHARS: usize = 128;
/// Most unexpected property names listed in a message.
const MAX_LISTED_PROPERTIES: usize = 5;
/// Longest property name quoted in a message.
const MAX_QUOTED_PROPERTY_CHARS: usize = 64;

const LABEL_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";
const HEADER_NAME_PATTERN: &str = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
const CALL_TARGET_METHODS: [Method; 3] = [Method::Get, Method::Post, Method::Put];

/// Schema bounds that depend on the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest target cap: `max_response_bytes`'s maximum and default.
    pub largest_response_cap: u64,
    /// Configured `max_redirects`: the maximum and default of the argument.
    pub max_redirects: u8,
}

fn label_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": LABEL_PATTERN})
}

fn headers_schema() -> Value {
    json!({
        "type": "object",
        "default": {},
        "additionalProperties": {"type": "string"},
        "propertyNames": {"pattern": HEADER_NAME_PATTERN},
    })
}

fn tool(name: &str, description: &str, required: &[&str], properties: Value) -> Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": {
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": properties,
        },
    })
}

/// The `tools/list` result: `call_target`, `get_oauth_target_audience`,
/// `http_callout`, `list_targets`.
pub fn tools_list(limits: Limits) -> Value {
    let cap = limits.largest_response_cap;
    let redirects = limits.max_redirects;
    json!({"tools": [
        tool(
            CALL_TARGET,
            "Sends one HTTP request to the URL of an allowlisted target, named by its label. \
             Returns the status, headers and the body in base64. Target URLs in the answer \
             appear as harpoon://<label>.",
            &["label", "method"],
            json!({
                "label": label_schema(),
                "method": {"type": "string", "enum": ["GET", "POST", "PUT"]},
                "headers": headers_schema(),
                "body": {"type": "string"},
                "timeout_ms": {"type": "integer", "minimum": MIN_TIMEOUT_MS, "maximum": MAX_TIMEOUT_MS, "default": DEFAULT_TIMEOUT_MS},
                "max_response_bytes": {"type": "integer", "minimum": 1, "maximum": cap, "default": cap},
                "follow_redirects": {"type": "boolean", "default": true},
                "max_redirects": {"type": "integer", "minimum": 0, "maximum": redirects, "default": redirects},
            }),
        ),
        tool(
            GET_OAUTH_TARGET_AUDIENCE,
            "Returns the audience (the protected resource) of an OAuth-discovered token endpoint target.",
            &["label"],
            json!({"label": label_schema()}),
        ),
        tool(
            HTTP_CALLOUT,
            "Sends one HTTP request to a path under the base URL of an allowlisted target. \
             The path starts with / and may carry a ?query. Returns the status, headers and \
             the body (UTF-8 text or base64).",
            &["target", "path", "method"],
            json!({
                "target": label_schema(),
                "path": {"type": "string", "minLength": 1, "maxLength": MAX_PATH_CHARS},
                "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]},
                "headers": headers_schema(),
                "body": {"type": "string"},
            }),
        ),
        tool(
            LIST_TARGETS,
            "Lists the targets this agent may call (labels, descriptions, methods, limits; never URLs). \
             Filters: any of the categories, any of the sources, all of the tags.",
            &[],
            json!({
                "categories": {"type": "array", "items": {"type": "string"}},
                "sources": {"type": "array", "items": {"type": "string"}},
                "tags": {"type": "array", "items": {"type": "string"}},
            }),
        ),
    ]})
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTargetArgs {
    pub label: String,
    pub method: Method,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout_ms: Option<u64>,
    pub max_response_bytes: Option<u64>,
    pub follow_redirects: bool,
    pub max_redirects: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCalloutArgs {
    pub target: String,
    pub path: String,
    pub method: Method,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListTargetsArgs {
    pub categories: Vec<String>,
    pub sources: Vec<String>,
    pub tags: Vec<String>,
}

/// A validated `tools/call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolCall {
    CallTarget(CallTargetArgs),
    HttpCallout(HttpCalloutArgs),
    ListTargets(ListTargetsArgs),
    Audience { label: String },
}

/// Why a `tools/call` was refused with `-32602`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsError {
    UnknownTool(String),
    /// The detail after `validating "arguments": `.
    Invalid(String),
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamsError::UnknownTool(name) => write!(f, "unknown tool \"{name}\""),
            ParamsError::Invalid(detail) => {
                write!(f, "invalid params: validating \"arguments\": {detail}")
            }
        }
    }
}

/// The tool a `tools/call` names, if it exists (for records: never caller text).
pub fn known_tool(params: &Value) -> Option<&'static str> {
    let name = params.get("name")?.as_str()?;
    [
        CALL_TARGET,
        HTTP_CALLOUT,
        LIST_TARGETS,
        GET_OAUTH_TARGET_AUDIENCE,
    ]
    .into_iter()
    .find(|t| *t == name)
}

/// Validates `params` (`{"name", "arguments"}`) against the named tool's schema.
/// Absent or null `arguments` count as `{}`.
pub fn parse_call(params: &Value, limits: Limits) -> Result<ToolCall, ParamsError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(tool) = known_tool(params) else {
        return Err(ParamsError::UnknownTool(
            name.chars().take(MAX_QUOTED_NAME_CHARS).collect(),
        ));
    };
    let empty = Map::new();
    let args = match params.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(invalid(format!(
                "validating root: type: got {}, want object",
                kind(other)
            )))
        }
    };
    let args = Args(args);
    match tool {
        CALL_TARGET => {
            args.only(&[
                "label",
                "method",
                "headers",
                "body",
                "timeout_ms",
                "max_response_bytes",
                "follow_redirects",
                "max_redirects",
            ])?;
            args.required(&["label", "method"])?;
            Ok(ToolCall::CallTarget(CallTargetArgs {
                label: args.label("label")?,
                method: args.method("method", &CALL_TARGET_METHODS)?,
                headers: args.headers()?,
                body: args.string("body")?,
                timeout_ms: args.integer("timeout_ms", MIN_TIMEOUT_MS, MAX_TIMEOUT_MS)?,
                max_response_bytes: args.integer(
                    "max_response_bytes",
                    1,
                    limits.largest_response_cap,
                )?,
                follow_redirects: args.boolean("follow_redirects")?.unwrap_or(true),
                max_redirects: args
                    .integer("max_redirects", 0, u64::from(limits.max_redirects))?
                    .map(|n| u8::try_from(n).unwrap_or(limits.max_redirects)),
            }))
        }
        HTTP_CALLOUT => {
            args.only(&["target", "path", "method", "headers", "body"])?;
            args.required(&["target", "path", "method"])?;
            Ok(ToolCall::HttpCallout(HttpCalloutArgs {
                target: args.label("target")?,
                path: args.path()?,
                method: args.method("method", &Method::ALL)?,
                headers: args.headers()?,
                body: args.string("body")?,
            }))
        }
        LIST_TARGETS => {
            args.only(&["categories", "sources", "tags"])?;
            Ok(ToolCall::ListTargets(ListTargetsArgs {
                categories: args.strings("categories")?,
                sources: args.strings("sources")?,
                tags: args.strings("tags")?,
            }))
        }
        _ => {
            args.only(&["label"])?;
            args.required(&["label"])?;
            Ok(ToolCall::Audience {
                label: args.label("label")?,
            })
        }
    }
}

fn invalid(detail: String) -> ParamsError {
    ParamsError::Invalid(detail)
}

/// JSON type name, as schema messages spell it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A property name as a message may show it: JSON-quoted, truncated.
fn quoted(name: &str) -> String {
    let short: String = name.chars().take(MAX_QUOTED_PROPERTY_CHARS).collect();
    Value::String(short).to_string()
}

struct Args<'a>(&'a Map<String, Value>);

impl Args<'_> {
    fn only(&self, allowed: &[&str]) -> Result<(), ParamsError> {
        let extra: Vec<String> = self
            .0
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .take(MAX_LISTED_PROPERTIES)
            .map(|k| quoted(k))
            .collect();
        if extra.is_empty() {
            Ok(())
        } else {
            Err(invalid(format!(
                "validating root: unexpected additional properties [{}]",
                extra.join(",")
            )))
        }
    }

    fn required(&self, names: &[&str]) -> Result<(), ParamsError> {
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !self.0.contains_key(**n))
            .map(|n| quoted(n))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(invalid(format!(
                "validating root: required: missing properties: [{}]",
                missing.join(",")
            )))
        }
    }

    fn wrong_type(name: &str, value: &Value, want: &str) -> ParamsError {
        invalid(format!(
            "validating /properties/{name}: type: got {}, want {want}",
            kind(value)
        ))
    }

    fn string(&self, name: &str) -> Result<Option<String>, ParamsError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(Self::wrong_type(name, other, "string")),
        }
    }

    fn label(&self, name: &str) -> Result<String, ParamsError> {
        let value = self.string(name)?.unwrap_or_default();
        let chars = value.chars().count();
        if chars < 1 {
            return Err(invalid(format!(
                "validating /properties/{name}: minLength: got 0, want 1"
            )));
        }
        if chars > 64 {
            return Err(invalid(format!(
                "validating /properties/{name}: maxLength: got {chars}, want 64"
            )));
        }
        if !is_label(&value) {
            return Err(invalid(format!(
                "validating /properties/{name}: pattern: does not match {LABEL_PATTERN:?}"
            )));
        }
        Ok(value)
    }

    fn path(&self) -> Result<String, ParamsError> {
        let value = self.string("path")?.unwrap_or_default();
        let chars = value.chars().count();
        if chars < 1 {
            return Err(invalid(
                "validating /properties/path: minLength: got 0, want 1".into(),
            ));
        }
        if chars > MAX_PATH_CHARS {
            return Err(invalid(format!(
                "validating /properties/path: maxLength: got {chars}, want {MAX_PATH_CHARS}"
            )));
        }
        Ok(value)
    }

    fn method(&self, name: &str, allowed: &[Method]) -> Result<Method, ParamsError> {
        let value = self.string(name)?.unwrap_or_default();
        allowed
            .iter()
            .copied()
            .find(|m| m.as_str() == value)
            .ok_or_else(|| {
                let list: Vec<String> = allowed
                    .iter()
                    .map(|m| format!("{:?}", m.as_str()))
                    .collect();
                invalid(format!(
                    "validating /properties/{name}: enum: value must be one of [{}]",
                    list.join(",")
                ))
            })
    }

    /// An integer (`5` or `5.0`) within `min..=max`.
    fn integer(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, ParamsError> {
        let Some(value) = self.0.get(name) else {
            return Ok(None);
        };
        let Value::Number(n) = value else {
            return Err(Self::wrong_type(name, value, "integer"));
        };
        let as_int: Option<i128> = n
            .as_u64()
            .map(i128::from)
            .or_else(|| n.as_i64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e30)
                    .map(|f| f as i128)
            });
        let Some(v) = as_int else {
            return Err(Self::wrong_type(name, value, "integer"));
        };
        if v < i128::from(min) {
            return Err(invalid(format!(
                "validating /properties/{name}: minimum: got {v}, want {min}"
            )));
        }
        if v > i128::from(max) {
            return Err(invalid(format!(
                "validating /properties/{name}: maximum: got {v}, want {max}"
            )));
        }
        Ok(u64::try_from(v).ok())
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, ParamsError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Self::wrong_type(name, other, "boolean")),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, ParamsError> {
        match self.0.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(invalid(format!(
                        "validating /properties/{name}/items: type: got {}, want string",
                        kind(other)
                    ))),
                })
                .collect(),
            Some(other) => Err(Self::wrong_type(name, other, "array")),
        }
    }

    /// `H`: an object of string values whose names are HTTP tokens.
    fn headers(&self) -> Result<Vec<(String, String)>, ParamsError> {
        let map = match self.0.get("headers") {
            None => return Ok(Vec::new()),
            Some(Value::Object(map)) => map,
            Some(other) => return Err(Self::wrong_type("headers", other, "object")),
        };
        let mut out = Vec::with_capacity(map.len());
        for (name, value) in map {
            if !crate::mcp::harpoon::policy::headers::is_token(name) {
                return Err(invalid(format!(
                    "validating /properties/headers/propertyNames: pattern: does not match {HEADER_NAME_PATTERN:?}"
                )));
            }
            let Value::String(value) = value else {
                return Err(invalid(format!(
                    "validating /properties/headers/additionalProperties: type: got {}, want string",
                    kind(value)
                )));
            };
            out.push((name.clone(), value.clone()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        largest_response_cap: 1000,
        max_redirects: 3,
    };

    fn parse(name: &str, args: Value) -> Result<ToolCall, String> {
        parse_call(&json!({"name": name, "arguments": args}), LIMITS).map_err(|e| e.to_string())
    }

    fn detail(name: &str, args: Value) -> String {
        parse(name, args).unwrap_err()
    }

    #[test]
    fn tools_list_has_the_exact_schemas() {
        let list = tools_list(LIMITS);
        let names: Vec<&str> = list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                CALL_TARGET,
                GET_OAUTH_TARGET_AUDIENCE,
                HTTP_CALLOUT,
                LIST_TARGETS
            ]
        );
        let call = &list["tools"][0]["inputSchema"];
        assert_eq!(call["type"], "object");
        assert_eq!(call["additionalProperties"], false);
        assert_eq!(call["required"], json!(["label", "method"]));
        assert_eq!(
            call["properties"]["label"],
            json!({"type":"string","minLength":1,"maxLength":64,"pattern":"^[a-z0-9][a-z0-9_-]{0,63}$"})
        );
        assert_eq!(
            call["properties"]["headers"],
            json!({"type":"object","default":{},"additionalProperties":{"type":"string"},"propertyNames":{"pattern":"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"}})
        );
        assert_eq!(
            call["properties"]["max_response_bytes"],
            json!({"type":"integer","minimum":1,"maximum":1000,"default":1000})
        );
        assert_eq!(
            call["properties"]["max_redirects"],
            json!({"type":"integer","minimum":0,"maximum":3,"default":3})
        );
        assert_eq!(
            call["properties"]["timeout_ms"],
            json!({"type":"integer","minimum":100,"maximum":120000,"default":30000})
        );
        let callout = &list["tools"][2]["inputSchema"];
        assert_eq!(callout["required"], json!(["target", "path", "method"]));
        assert_eq!(
            callout["properties"]["method"]["enum"],
            json!(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        );
        assert_eq!(
            callout["properties"]["path"],
            json!({"type":"string","minLength":1,"maxLength":2048})
        );
        for tool in list["tools"].as_array().unwrap() {
            assert_eq!(tool["inputSchema"]["additionalProperties"], false);
        }
    }

    #[test]
    fn valid_arguments_become_typed_calls() {
        let call = parse(
            CALL_TARGET,
            json!({"label": "tok", "method": "POST", "headers": {"Authorization": "Bearer x"},
                   "body": "a=b", "timeout_ms": 500.0, "max_response_bytes": 1000,
                   "follow_redirects": false, "max_redirects": 0}),
        )
        .unwrap();
        assert_eq!(
            call,
            ToolCall::CallTarget(CallTargetArgs {
                label: "tok".into(),
                method: Method::Post,
                headers: vec![("Authorization".into(), "Bearer x".into())],
                body: Some("a=b".into()),
                timeout_ms: Some(500),
                max_response_bytes: Some(1000),
                follow_redirects: false,
                max_redirects: Some(0),
            })
        );
        assert!(matches!(
            parse(LIST_TARGETS, Value::Null),
            Ok(ToolCall::ListTargets(_))
        ));
        assert!(matches!(
            parse_call(&json!({"name": LIST_TARGETS}), LIMITS),
            Ok(ToolCall::ListTargets(_))
        ));
    }

    #[test]
    fn every_violation_is_a_32602_detail() {
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                CALL_TARGET,
                json!([]),
                "validating root: type: got array, want object",
            ),
            (
                CALL_TARGET,
                json!({"label": "a"}),
                "missing properties: [\"method\"]",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "url": "http://x"}),
                "unexpected additional properties [\"url\"]",
            ),
            (
                CALL_TARGET,
                json!({"label": "A", "method": "GET"}),
                "/properties/label: pattern",
            ),
            (
                CALL_TARGET,
                json!({"label": "", "method": "GET"}),
                "/properties/label: minLength",
            ),
            (
                CALL_TARGET,
                json!({"label": "a".repeat(65), "method": "GET"}),
                "/properties/label: maxLength",
            ),
            (
                CALL_TARGET,
                json!({"label": 7, "method": "GET"}),
                "/properties/label: type: got integer, want string",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "DELETE"}),
                "/properties/method: enum",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "get"}),
                "/properties/method: enum",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "timeout_ms": 99}),
                "minimum: got 99, want 100",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "timeout_ms": 120001}),
                "maximum: got 120001, want 120000",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "timeout_ms": 1.5}),
                "type: got number, want integer",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "timeout_ms": "100"}),
                "type: got string, want integer",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "max_response_bytes": 1001}),
                "maximum: got 1001, want 1000",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "max_response_bytes": 0}),
                "minimum: got 0, want 1",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "max_redirects": 4}),
                "maximum: got 4, want 3",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "max_redirects": -1}),
                "minimum: got -1, want 0",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "follow_redirects": "no"}),
                "want boolean",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "body": {}}),
                "/properties/body: type: got object, want string",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "headers": []}),
                "/properties/headers: type: got array, want object",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "headers": {"X-A": 1}}),
                "additionalProperties: type: got integer, want string",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "headers": {"Bad Name": "v"}}),
                "propertyNames: pattern",
            ),
            (
                CALL_TARGET,
                json!({"label": "a", "method": "GET", "headers": {"X\r\nY": "v"}}),
                "propertyNames: pattern",
            ),
            (
                HTTP_CALLOUT,
                json!({"target": "a", "method": "GET"}),
                "missing properties: [\"path\"]",
            ),
            (
                HTTP_CALLOUT,
                json!({"target": "a", "path": "", "method": "GET"}),
                "/properties/path: minLength",
            ),
            (
                HTTP_CALLOUT,
                json!({"target": "a", "path": "/".repeat(2049), "method": "GET"}),
                "/properties/path: maxLength: got 2049, want 2048",
            ),
            (
                HTTP_CALLOUT,
                json!({"target": "a", "path": "/", "method": "TRACE"}),
                "/properties/method: enum",
            ),
            (
                HTTP_CALLOUT,
                json!({"target": "a", "path": "/", "method": "GET", "label": "a"}),
                "unexpected additional properties [\"label\"]",
            ),
            (
                LIST_TARGETS,
                json!({"tags": "x"}),
                "/properties/tags: type: got string, want array",
            ),
            (
                LIST_TARGETS,
                json!({"tags": [1]}),
                "/properties/tags/items: type: got integer, want string",
            ),
            (
                GET_OAUTH_TARGET_AUDIENCE,
                json!({}),
                "missing properties: [\"label\"]",
            ),
        ];
        for (tool, args, expected) in cases {
            let text = detail(tool, args.clone());
            assert!(
                text.starts_with("invalid params: validating \"arguments\": "),
                "{tool} {args}: {text}"
            );
            assert!(text.contains(expected), "{tool} {args}: {text}");
        }
    }

    #[test]
    fn messages_never_echo_values() {
        let text = detail(
            CALL_TARGET,
            json!({"label": "a", "method": "GET", "headers": {"X-A": ["s3cret-value"]}}),
        );
        assert!(!text.contains("s3cret"), "{text}");
        let text = detail(
            CALL_TARGET,
            json!({"label": "s3cret-LABEL", "method": "GET"}),
        );
        assert!(!text.contains("s3cret"), "{text}");
        let text = detail(CALL_TARGET, json!({"label": "a", "method": "s3cret"}));
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn unknown_tools_are_named() {
        assert_eq!(
            parse_call(&json!({"name": "fetch_url"}), LIMITS)
                .unwrap_err()
                .to_string(),
            "unknown tool \"fetch_url\""
        );
        assert_eq!(
            parse_call(&json!({}), LIMITS).unwrap_err().to_string(),
            "unknown tool \"\""
        );
        let long = "x".repeat(1000);
        let text = parse_call(&json!({"name": long}), LIMITS)
            .unwrap_err()
            .to_string();
        assert!(text.len() < 200, "{text}");
    }
}
