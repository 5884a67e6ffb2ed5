//! Delivers each message from the child to whoever it belongs to: an answer to its caller,
//! progress to the caller that asked for it, a server request answered here. Never blocks on a caller.

use super::lifecycle::Control;
use super::state::{Event, State, Waiter, EVENT_QUEUE};
use crate::mcp::idmap::{restore_id, Lookup};
use crate::telemetry::Telemetry;
use serde_json::{json, Value};
use std::time::Instant;

/// Routes one message from the child of `generation`. Returns what the
/// supervisor thread must learn (a replay or probe was answered).
pub(super) fn route(
    st: &mut State,
    generation: u64,
    message: Value,
    now: Instant,
    label: &str,
    telemetry: &Telemetry,
) -> Option<Control> {
    if st.generation != generation {
        return None;
    }
    st.last_output = now;
    let has_method = message.get("method").is_some_and(Value::is_string);
    let id = message.get("id").filter(|id| !id.is_null()).cloned();
    let signal = match (has_method, id) {
        (true, Some(id)) => {
            answer_server_request(st, &message, id, label, telemetry);
            None
        }
        (true, None) => {
            route_notification(st, message, label);
            None
        }
        (false, Some(id)) => route_answer(st, generation, message, &id, label),
        (false, None) => {
            log::debug!("{label}: skipped a message with neither method nor id");
            None
        }
    };
    st.calls_changed(now);
    signal
}

fn route_answer(
    st: &mut State,
    generation: u64,
    mut message: Value,
    id: &Value,
    label: &str,
) -> Option<Control> {
    match st.ids.take(id) {
        Lookup::Pending {
            original,
            payload: Waiter::Call { tx, initialize, .. },
        } => {
            if let Some(request) = initialize {
                if st.init.is_none() && message.get("result").is_some() {
                    st.init = Some(request);
                }
            }
            restore_id(&mut message, original);
            let _ = tx.try_send(Event::Answer(message));
            None
        }
        Lookup::Pending {
            payload: Waiter::Replay,
            ..
        } => {
            if message.get("result").is_none() {
                log::warn!("{label}: the new child refused the replayed initialize");
            }
            Some(Control::ReplayAnswered { generation })
        }
        Lookup::Pending {
            payload: Waiter::Probe,
            ..
        } => {
            log::info!("{label}: child answered the ping; not wedged");
            Some(Control::ProbeAnswered { generation })
        }
        Lookup::Retired => {
            log::debug!("{label}: discarded a late answer");
            None
        }
        Lookup::Unknown => {
            log::debug!("{label}: discarded an answer to no pending request");
            None
        }
    }
}

fn route_notification(st: &State, mut message: Value, label: &str) {
    let token = message
        .get("params")
        .and_then(|p| p.get("progressToken"))
        .cloned();
    let Some(token) = token else {
        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
        log::debug!("{label}: notification {method} has no owner in the tunnel; skipped");
        return;
    };
    match st.ids.get(&token) {
        Some((
            _,
            Waiter::Call {
                tx,
                token: Some(original),
                ..
            },
        )) => {
            message["params"]["progressToken"] = original.clone();
            // Keep one slot for the terminal answer.
            if tx.len() + 1 < EVENT_QUEUE {
                let _ = tx.try_send(Event::Notify(message));
            } else {
                log::warn!("{label}: a caller is slow to take progress; dropped one");
            }
        }
        _ => log::debug!("{label}: progress for no pending request; skipped"),
    }
}

/// The tunnel cannot carry a request from the server to the caller: answer it
/// here so the child never hangs waiting.
fn answer_server_request(
    st: &State,
    message: &Value,
    id: Value,
    label: &str,
    telemetry: &Telemetry,
) {
    let method = message.get("method").and_then(Value::as_str).unwrap_or("");
    let answer = if method == "ping" {
        json!({"jsonrpc": "2.0", "id": id, "result": {}})
    } else {
        telemetry.server_request_refused();
        log::info!("{label}: refused server-initiated request {method}");
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": -32601,
                "message": format!("{method} is not available: the tunnel does not carry server-initiated requests back to the client"),
            },
        })
    };
    st.send(&answer);
}
