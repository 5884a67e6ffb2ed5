//! JSON-RPC id rewriting for a child shared by many callers: unique child-side
//! ids on the way in, the caller's exact original id on the way out. Pure data, no I/O.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Most ids whose caller gave up (deadline) that are remembered so their late
/// answers can be recognised and dropped. Beyond it the owner restarts the child
/// rather than let the set grow without limit.
pub const MAX_RETIRED: usize = 1024;

/// Most requests in flight on one child. Far above any worker pool; a guard
/// against unbounded growth, not a tuning knob.
pub const MAX_PENDING: usize = 4096;

/// What an id found on a message from the child refers to.
#[derive(Debug, PartialEq)]
pub enum Lookup<T> {
    /// A request in flight: its original id and the payload registered with it.
    Pending { original: Value, payload: T },
    /// A request whose caller gave up; its answer is discarded.
    Retired,
    /// Not an id this map handed out (or already answered).
    Unknown,
}

/// Why a request could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdMapError {
    /// [`MAX_PENDING`] requests are already in flight.
    Full,
}

impl std::fmt::Display for IdMapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdMapError::Full => write!(
                f,
                "{MAX_PENDING} requests are already waiting on the MCP server"
            ),
        }
    }
}

/// Pending requests of one child, keyed by the child-side id (a JSON integer).
/// Child-side ids are never reused for the life of the map, so a late answer
/// can never be mistaken for the answer to a newer request.
#[derive(Debug)]
pub struct IdMap<T> {
    next: u64,
    pending: HashMap<u64, (Value, T)>,
    retired: HashSet<u64>,
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> IdMap<T> {
    pub fn new() -> Self {
        IdMap {
            next: 1,
            pending: HashMap::new(),
            retired: HashSet::new(),
        }
    }

    /// Registers a request whose caller used `original` as its id and returns
    /// the child-side id to send instead.
    pub fn register(&mut self, original: Value, payload: T) -> Result<u64, IdMapError> {
        if self.pending.len() >= MAX_PENDING {
            return Err(IdMapError::Full);
        }
        let id = self.next;
        // Never wraps: an id is never reused, even after 2^64 requests.
        self.next = self.next.checked_add(1).ok_or(IdMapError::Full)?;
        self.pending.insert(id, (original, payload));
        Ok(id)
    }

    /// Classifies the id of a message from the child and, for a pending
    /// request, removes it (an answer ends a request).
    pub fn take(&mut self, child_id: &Value) -> Lookup<T> {
        let Some(id) = child_id.as_u64() else {
            return Lookup::Unknown;
        };
        if let Some((original, payload)) = self.pending.remove(&id) {
            return Lookup::Pending { original, payload };
        }
        if self.retired.remove(&id) {
            return Lookup::Retired;
        }
        Lookup::Unknown
    }

    /// The payload of a pending request, without ending it (progress routing).
    pub fn get(&self, child_id: &Value) -> Option<&(Value, T)> {
        child_id.as_u64().and_then(|id| self.pending.get(&id))
    }

    /// Removes a pending request without an answer (write failed).
    pub fn forget(&mut self, id: u64) -> Option<(Value, T)> {
        self.pending.remove(&id)
    }

    /// The caller gave up on `id`: its late answer will be discarded. Returns
    /// false when the retired set is full (the caller should restart the child).
    pub fn retire(&mut self, id: u64) -> bool {
        if self.pending.remove(&id).is_none() {
            return true;
        }
        if self.retired.len() >= MAX_RETIRED {
            return false;
        }
        self.retired.insert(id);
        true
    }

    /// Child-side ids of pending requests whose caller used `original`
    /// (exact JSON equality: 1, 1.0 and "1" are three different ids).
    pub fn find_original(&self, original: &Value) -> Vec<u64> {
        self.pending
            .iter()
            .filter(|(_, (o, _))| o == original)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Ends every pending request (the child is gone) and forgets retired ids.
    /// Child-side ids keep counting up.
    pub fn drain(&mut self) -> Vec<(Value, T)> {
        self.retired.clear();
        self.pending.drain().map(|(_, v)| v).collect()
    }

    #[cfg(test)]
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    #[cfg(test)]
    pub fn retired_len(&self) -> usize {
        self.retired.len()
    }

    /// Visits every pending payload (e.g. to find the hang probe).
    pub fn payloads(&self) -> impl Iterator<Item = &T> {
        self.pending.values().map(|(_, p)| p)
    }
}

/// A copy of `message` whose `id` is `child_id`.
pub fn with_id(message: &Value, child_id: u64) -> Value {
    let mut out = message.clone();
    if let Some(object) = out.as_object_mut() {
        object.insert("id".to_string(), Value::from(child_id));
    }
    out
}

/// Puts the caller's `original` id back on an answer from the child.
pub fn restore_id(answer: &mut Value, original: Value) {
    if let Some(object) = answer.as_object_mut() {
        object.insert("id".to_string(), original);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(map: &mut IdMap<()>, original: Value) -> Value {
        let request = json!({"jsonrpc": "2.0", "id": original.clone(), "method": "ping"});
        let child_id = map.register(original, ()).unwrap();
        let sent = with_id(&request, child_id);
        assert_eq!(sent["id"], json!(child_id));
        let mut answer = json!({"jsonrpc": "2.0", "id": sent["id"].clone(), "result": {}});
        match map.take(&answer["id"]) {
            Lookup::Pending { original, .. } => restore_id(&mut answer, original),
            other => panic!("expected pending, got {other:?}"),
        }
        answer
    }

    /// Ids at and past the integer limits, as a caller's JSON text gives them:
    /// kept as decoded and given back unchanged; a child answering with an id
    /// this map never handed out (negative, fractional, huge) is unknown.
    #[test]
    fn ids_past_the_integer_limits_never_overflow_or_match() {
        let mut map = IdMap::new();
        for text in [
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e308",
            "0.5",
            "-0",
            "123456789012345678901234567890",
        ] {
            let original: Value = serde_json::from_str(text).unwrap();
            let answer = roundtrip(&mut map, original.clone());
            assert_eq!(answer["id"], original, "{text}");
        }
        for child_id in [
            "-1",
            "1.0",
            "1e2",
            "18446744073709551615",
            "18446744073709551616",
            "\"1\"",
            "null",
        ] {
            let id: Value = serde_json::from_str(child_id).unwrap();
            assert_eq!(map.take(&id), Lookup::Unknown, "{child_id}");
        }
        let mut full = IdMap::<()> {
            next: u64::MAX,
            pending: HashMap::new(),
            retired: HashSet::new(),
        };
        assert_eq!(full.register(json!(1), ()), Err(IdMapError::Full));
        assert_eq!(full.next, u64::MAX);
    }

    #[test]
    fn original_id_type_and_value_survive() {
        let mut map = IdMap::new();
        for original in [
            json!(1),
            json!(1.0),
            json!("1"),
            json!(-7),
            json!(""),
            json!(u64::MAX),
            json!("req-é"),
        ] {
            let answer = roundtrip(&mut map, original.clone());
            assert_eq!(answer["id"], original);
            // serialized form too: 1.0 must stay 1.0, not become 1
            assert_eq!(answer["id"].to_string(), original.to_string());
        }
    }

    #[test]
    fn colliding_caller_ids_get_distinct_child_ids() {
        let mut map = IdMap::new();
        let a = map.register(json!(1), "a").unwrap();
        let b = map.register(json!(1), "b").unwrap();
        assert_ne!(a, b);
        assert_eq!(map.find_original(&json!(1)).len(), 2);
        assert!(map.find_original(&json!("1")).is_empty());
        assert!(map.find_original(&json!(1.0)).is_empty());
        // answers come back in the other order
        assert_eq!(
            map.take(&json!(b)),
            Lookup::Pending {
                original: json!(1),
                payload: "b"
            }
        );
        assert_eq!(
            map.take(&json!(a)),
            Lookup::Pending {
                original: json!(1),
                payload: "a"
            }
        );
        assert_eq!(map.take(&json!(a)), Lookup::Unknown);
    }

    #[test]
    fn foreign_ids_are_unknown() {
        let mut map: IdMap<()> = IdMap::new();
        let id = map.register(json!(5), ()).unwrap();
        assert_eq!(map.take(&json!(id.to_string())), Lookup::Unknown);
        assert_eq!(map.take(&json!(id as f64 + 0.5)), Lookup::Unknown);
        assert_eq!(map.take(&json!(null)), Lookup::Unknown);
        assert_eq!(map.take(&json!(-1)), Lookup::Unknown);
        assert_eq!(map.pending_len(), 1);
    }

    #[test]
    fn retired_answer_is_recognised_once() {
        let mut map: IdMap<()> = IdMap::new();
        let id = map.register(json!("x"), ()).unwrap();
        assert!(map.retire(id));
        assert_eq!(map.pending_len(), 0);
        assert_eq!(map.take(&json!(id)), Lookup::Retired);
        assert_eq!(map.take(&json!(id)), Lookup::Unknown);
    }

    #[test]
    fn retired_set_is_bounded() {
        let mut map: IdMap<()> = IdMap::new();
        for _ in 0..MAX_RETIRED {
            let id = map.register(json!(1), ()).unwrap();
            assert!(map.retire(id));
        }
        let id = map.register(json!(1), ()).unwrap();
        assert!(
            !map.retire(id),
            "the set must refuse to grow past its bound"
        );
        assert_eq!(map.retired_len(), MAX_RETIRED);
        map.drain();
        assert_eq!(map.retired_len(), 0);
    }

    #[test]
    fn ids_never_repeat_after_drain() {
        let mut map: IdMap<()> = IdMap::new();
        let first = map.register(json!(1), ()).unwrap();
        map.drain();
        let second = map.register(json!(1), ()).unwrap();
        assert!(second > first);
    }

    #[test]
    fn pending_is_bounded() {
        let mut map: IdMap<()> = IdMap::new();
        for _ in 0..MAX_PENDING {
            map.register(json!(1), ()).unwrap();
        }
        assert_eq!(map.register(json!(1), ()), Err(IdMapError::Full));
    }
}
