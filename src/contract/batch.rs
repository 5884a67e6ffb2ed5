//! Splitting a poll body into the byte spans of its commands without decoding it
//! whole, so one command with invalid UTF-8 or deep nesting never costs the others.
//! Never recurses, never trusts a count from the peer, never allocates per command.
//!
//! serde_json refuses a whole document for one bad string or for nesting past
//! its recursion limit. The scanner here only follows the JSON structure —
//! strings (with their escapes), brackets (a depth counter, not a stack of
//! frames) and the separators between members — and leaves every judgement of
//! content to serde_json, one command span at a time. Scalars outside the
//! commands are skipped over, not validated: the agent only needs the commands.

use std::fmt;

/// Deepest JSON document serde_json decodes: its recursion limit counts down
/// from 128 and refuses the container that reaches 0, so 127 levels pass.
pub const DECODE_DEPTH_LIMIT: usize = 127;

/// Levels a JSON-RPC payload sits below the top of a poll body:
/// `{"commands": [ {"jsonrpc": PAYLOAD} ]}` — the body object, the array and
/// the command object.
pub const COMMAND_ENVELOPE_DEPTH: usize = 3;

/// Deepest caller payload that still decodes inside a poll body, even for an
/// agent that decodes the body whole. The relay refuses deeper ones.
pub const MAX_PAYLOAD_DEPTH: usize = DECODE_DEPTH_LIMIT - COMMAND_ENVELOPE_DEPTH;

/// Why a poll body could not be split at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchError {
    /// The body is not a JSON object.
    NotAnObject,
    /// The body ends inside a string or a container.
    Truncated,
    /// A byte where the structure allows none (offset into the body).
    Unexpected(usize),
    /// `commands` is present but not an array.
    CommandsNotAnArray,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::NotAnObject => f.write_str("a poll body that is not a JSON object"),
            BatchError::Truncated => f.write_str("a truncated poll body"),
            BatchError::Unexpected(at) => write!(f, "a poll body malformed at byte {at}"),
            BatchError::CommandsNotAnArray => {
                f.write_str("a poll body whose commands is not a list")
            }
        }
    }
}

impl std::error::Error for BatchError {}

/// A poll body whose command spans have been found.
#[derive(Debug, Clone)]
pub struct PollBody {
    bytes: Vec<u8>,
    /// Byte range of the `commands` array, brackets included.
    array: Option<(usize, usize)>,
    count: usize,
}

impl PollBody {
    /// Checks the structure of the whole body and locates its `commands`
    /// (the last one, when a peer repeats the key). A body without
    /// `commands` has none.
    pub fn parse(bytes: Vec<u8>) -> Result<PollBody, BatchError> {
        let scan = Scanner::new(&bytes);
        let start = scan.skip_ws(0);
        if scan.byte(start) != Some(b'{') {
            return Err(BatchError::NotAnObject);
        }
        let end = scan.value_end(start)?;
        let rest = scan.skip_ws(end);
        if rest != bytes.len() {
            return Err(BatchError::Unexpected(rest));
        }
        let mut array = None;
        for member in scan.members(start) {
            let (key, value) = member?;
            if key_is(&bytes[key.0..key.1], "commands") {
                array = Some(value);
            }
        }
        let array = match array {
            Some((from, to)) if bytes[from] == b'[' => Some((from, to)),
            Some((from, to)) if &bytes[from..to] == b"null" => None,
            Some(_) => return Err(BatchError::CommandsNotAnArray),
            None => None,
        };
        let mut count = 0usize;
        if let Some((from, _)) = array {
            for element in scan.elements(from) {
                element?;
                count += 1;
            }
        }
        Ok(PollBody {
            bytes,
            array,
            count,
        })
    }

    /// How many commands the body holds.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The bytes of each command, in order, to be decoded one by one.
    pub fn commands(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let scan = Scanner::new(&self.bytes);
        let elements = self.array.map(|(from, _)| scan.elements(from));
        elements
            .into_iter()
            .flatten()
            .map_while(Result::ok)
            .map(move |(from, to)| &self.bytes[from..to])
    }
}

/// The value of the top-level member `key` of the JSON object in `object`
/// (the last one when repeated), as raw bytes. `None` when `object` is not an
/// object, is malformed before that member, or has no such key. Used to
/// salvage a request id from a command that does not decode.
pub fn member<'a>(object: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let scan = Scanner::new(object);
    let start = scan.skip_ws(0);
    if scan.byte(start) != Some(b'{') {
        return None;
    }
    let mut found = None;
    for entry in scan.members(start) {
        let Ok((name, value)) = entry else { break };
        if key_is(&object[name.0..name.1], key) {
            found = Some(&object[value.0..value.1]);
        }
    }
    found
}

/// The nesting depth of the JSON text in `bytes` (0 for a scalar), counted
/// without decoding; `None` when its brackets do not balance.
pub fn depth(bytes: &[u8]) -> Option<usize> {
    let scan = Scanner::new(bytes);
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                at = scan.string_end(at).ok()?;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.checked_sub(1)?,
            _ => {}
        }
        at += 1;
    }
    (depth == 0).then_some(deepest)
}

/// True when the raw key (quotes included) names `wanted`. A key with escapes
/// is decoded first, as serde_json would.
fn key_is(raw: &[u8], wanted: &str) -> bool {
    let inner = &raw[1..raw.len() - 1];
    if !inner.contains(&b'\\') {
        return inner == wanted.as_bytes();
    }
    serde_json::from_slice::<String>(raw).is_ok_and(|k| k == wanted)
}

/// Byte offsets into one JSON text; every method is iterative.
#[derive(Clone, Copy)]
struct Scanner<'a> {
    bytes: &'a [u8],
}

type Span = (usize, usize);

impl<'a> Scanner<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Scanner { bytes }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn skip_ws(&self, mut at: usize) -> usize {
        while matches!(self.byte(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            at += 1;
        }
        at
    }

    /// `at` is an opening quote; returns the offset just past the closing one.
    fn string_end(&self, at: usize) -> Result<usize, BatchError> {
        let mut i = at + 1;
        loop {
            match self.byte(i) {
                None => return Err(BatchError::Truncated),
                Some(b'"') => return Ok(i + 1),
                // The escaped byte is skipped whatever it is: serde_json
                // judges the escape when the command is decoded.
                Some(b'\\') => i += 2,
                Some(_) => i += 1,
            }
        }
    }

    /// The offset just past the value that starts at `at`.
    fn value_end(&self, at: usize) -> Result<usize, BatchError> {
        match self.byte(at) {
            None => Err(BatchError::Truncated),
            Some(b'"') => self.string_end(at),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                let mut i = at;
                loop {
                    match self.byte(i) {
                        None => return Err(BatchError::Truncated),
                        Some(b'"') => {
                            i = self.string_end(i)?;
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(i + 1);
                            }
                        }
                        Some(_) => {}
                    }
                    i += 1;
                }
            }
            Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                let mut i = at;
                while let Some(b) = self.byte(i) {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    i += 1;
                }
                Ok(i)
            }
            Some(_) => Err(BatchError::Unexpected(at)),
        }
    }

    /// The members of the object whose `{` is at `at`: (key span with its
    /// quotes, value span).
    fn members(self, at: usize) -> Members<'a> {
        Members {
            scan: self,
            at: at + 1,
            first: true,
            done: false,
        }
    }

    /// The elements of the array whose `[` is at `at`.
    fn elements(self, at: usize) -> Elements<'a> {
        Elements {
            scan: self,
            at: at + 1,
            first: true,
            done: false,
        }
    }

    /// After a member or element: a separator or the closing bracket.
    /// Returns (offset of what follows, whether the container goes on).
    fn separator(&self, at: usize, close: u8) -> Result<(usize, bool), BatchError> {
        let at = self.skip_ws(at);
        match self.byte(at) {
            Some(b',') => Ok((at + 1, true)),
            Some(b) if b == close => Ok((at + 1, false)),
            Some(_) => Err(BatchError::Unexpected(at)),
            None => Err(BatchError::Truncated),
        }
    }
}

struct Members<'a> {
    scan: Scanner<'a>,
    at: usize,
    first: bool,
    done: bool,
}

impl Iterator for Members<'_> {
    type Item = Result<(Span, Span), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.step();
        match &result {
            Ok(None) | Err(_) => self.done = true,
            Ok(Some(_)) => {}
        }
        result.transpose()
    }
}

impl Members<'_> {
    fn step(&mut self) -> Result<Option<(Span, Span)>, BatchError> {
        let scan = self.scan;
        let key_at = scan.skip_ws(self.at);
        if self.first && scan.byte(key_at) == Some(b'}') {
            return Ok(None);
        }
        self.first = false;
        match scan.byte(key_at) {
            Some(b'"') => {}
            Some(_) => return Err(BatchError::Unexpected(key_at)),
            None => return Err(BatchError::Truncated),
        }
        let key_end = scan.string_end(key_at)?;
        let colon = scan.skip_ws(key_end);
        match scan.byte(colon) {
            Some(b':') => {}
            Some(_) => return Err(BatchError::Unexpected(colon)),
            None => return Err(BatchError::Truncated),
        }
        let value_at = scan.skip_ws(colon + 1);
        let value_end = scan.value_end(value_at)?;
        let (next, more) = scan.separator(value_end, b'}')?;
        self.at = next;
        if !more {
            self.done = true;
        }
        Ok(Some(((key_at, key_end), (value_at, value_end))))
    }
}

struct Elements<'a> {
    scan: Scanner<'a>,
    at: usize,
    first: bool,
    done: bool,
}

impl Iterator for Elements<'_> {
    type Item = Result<Span, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.step();
        match &result {
            Ok(None) | Err(_) => self.done = true,
            Ok(Some(_)) => {}
        }
        result.transpose()
    }
}

impl Elements<'_> {
    fn step(&mut self) -> Result<Option<Span>, BatchError> {
        let scan = self.scan;
        let value_at = scan.skip_ws(self.at);
        if self.first && scan.byte(value_at) == Some(b']') {
            return Ok(None);
        }
        self.first = false;
        let value_end = scan.value_end(value_at)?;
        let (next, more) = scan.separator(value_end, b']')?;
        self.at = next;
        if !more {
            self.done = true;
        }
        Ok(Some((value_at, value_end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn spans(body: &str) -> Vec<String> {
        let body = PollBody::parse(body.as_bytes().to_vec()).unwrap();
        let out: Vec<String> = body
            .commands()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        assert_eq!(out.len(), body.len());
        out
    }

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn serde_json_decodes_exactly_127_levels() {
        assert!(serde_json::from_str::<Value>(&nested(DECODE_DEPTH_LIMIT)).is_ok());
        let err = serde_json::from_str::<Value>(&nested(DECODE_DEPTH_LIMIT + 1)).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }

    /// The relay's bound keeps a payload decodable inside a poll body decoded whole.
    #[test]
    fn the_deepest_allowed_payload_still_decodes_in_a_whole_body() {
        let body = |levels: usize| {
            format!(
                r#"{{"commands":[{{"request_id":"r","shard_token":"s","jsonrpc":{}}}]}}"#,
                nested(levels)
            )
        };
        assert!(serde_json::from_str::<Value>(&body(MAX_PAYLOAD_DEPTH)).is_ok());
        assert!(serde_json::from_str::<Value>(&body(MAX_PAYLOAD_DEPTH + 1)).is_err());
        assert_eq!(
            depth(body(MAX_PAYLOAD_DEPTH).as_bytes()),
            Some(DECODE_DEPTH_LIMIT)
        );
    }

    #[test]
    fn splits_commands_whatever_they_hold() {
        let deep = nested(10_000);
        let body = format!(
            "{{\"x\": {{\"commands\": 1}}, \"commands\" : [ {{\"a\":\"]}}\\\"[\"}} ,{deep}, \"s\",\n 12.5e3,null ] , \"y\":[]}}"
        );
        assert_eq!(
            spans(&body),
            vec![
                r#"{"a":"]}\"["}"#.to_string(),
                deep,
                "\"s\"".into(),
                "12.5e3".into(),
                "null".into()
            ]
        );
        assert!(spans(r#"{"commands":[]}"#).is_empty());
        assert!(spans(r#" {} "#).is_empty());
        assert!(spans(r#"{"commands":null}"#).is_empty());
        assert_eq!(spans(r#"{"comm\u0061nds":[1]}"#), vec!["1"]);
        // The last `commands` wins, as in a decoded object.
        assert_eq!(spans(r#"{"commands":[1],"commands":[2]}"#), vec!["2"]);
    }

    #[test]
    fn invalid_utf8_stays_inside_its_span() {
        let mut body = br#"{"commands":[{"request_id":"bad","x":""#.to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(br#""},{"request_id":"good"}]}"#);
        let parsed = PollBody::parse(body).unwrap();
        let decoded: Vec<Option<Value>> = parsed
            .commands()
            .map(|s| serde_json::from_slice(s).ok())
            .collect();
        assert_eq!(decoded, vec![None, Some(json!({"request_id": "good"}))]);
    }

    #[test]
    fn broken_structure_is_refused() {
        for (body, want) in [
            ("", BatchError::NotAnObject),
            ("[]", BatchError::NotAnObject),
            ("{", BatchError::Truncated),
            (r#"{"commands":[1,2"#, BatchError::Truncated),
            (r#"{"commands":["x]}"#, BatchError::Truncated),
            (r#"{"commands":{}}"#, BatchError::CommandsNotAnArray),
            (r#"{"commands":"[]"}"#, BatchError::CommandsNotAnArray),
            (r#"{"commands":[1 2]}"#, BatchError::Unexpected(15)),
            (r#"{"commands":[1,]}"#, BatchError::Unexpected(15)),
            (r#"{"a" 1}"#, BatchError::Unexpected(5)),
            (r#"{,}"#, BatchError::Unexpected(1)),
            (r#"{} x"#, BatchError::Unexpected(3)),
        ] {
            assert_eq!(
                PollBody::parse(body.as_bytes().to_vec()).unwrap_err(),
                want,
                "{body}"
            );
        }
    }

    #[test]
    fn members_are_found_in_undecodable_objects() {
        let mut object = br#"{"jsonrpc": {"id": 7, "p": ""#.to_vec();
        object.push(0xff);
        object.extend_from_slice(br#""}, "request_id" : "r\u0031", "n": [[["#);
        assert_eq!(member(&object, "request_id"), Some(&br#""r\u0031""#[..]));
        let payload = member(&object, "jsonrpc").unwrap();
        assert_eq!(member(payload, "id"), Some(&b"7"[..]));
        // Past the point where the object breaks, nothing is found.
        assert_eq!(member(&object, "n"), None);
        assert_eq!(member(b"[1]", "id"), None);
        assert_eq!(member(b"", "id"), None);
    }

    #[test]
    fn depth_counts_without_decoding() {
        assert_eq!(depth(b"1"), Some(0));
        assert_eq!(depth(br#"{"a":"[[[","b":[{}]}"#), Some(3));
        assert_eq!(depth(nested(100_000).as_bytes()), Some(100_000));
        assert_eq!(depth(b"[[]"), None);
        assert_eq!(depth(b"]["), None);
    }
}
