//! The supervisor's state machine driven by hand: a fake child (its stdin is the
//! writer queue, its stdout feeds `route`), fake callers, no process and no thread.
//! Test code only: `mod.rs` declares this module under #[cfg(test)].

use super::lifecycle::Control;
use super::pipes::WriteJob;
use super::route::route;
use super::state::{
    End, Event, Outgoing, Phase, Replay, RestartPacing, State, Waiter, EVENT_QUEUE, HEALTHY_RESET,
    RESTART_INITIAL, RESTART_MAX,
};
use crate::contract::TransportErrorKind;
use crate::mcp::idmap::{with_id, MAX_RETIRED};
use crate::telemetry::Telemetry;
use crossbeam_channel::{bounded, Receiver};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A child as the state machine sees it: lines arrive on its stdin queue,
/// what it says goes through `route` under its generation.
struct FakeChild {
    generation: u64,
    stdin: Receiver<WriteJob>,
    telemetry: Telemetry,
}

impl FakeChild {
    /// Starts generation `generation` (the supervisor has spawned it).
    fn start(st: &mut State, generation: u64) -> FakeChild {
        let (tx, rx) = bounded(16);
        let pid = 1000 + u32::try_from(generation).unwrap();
        assert!(st.begin(generation, pid, tx, Instant::now()));
        FakeChild {
            generation,
            stdin: rx,
            telemetry: Telemetry::new(),
        }
    }

    /// The next message written to the child's stdin.
    fn read(&self) -> Value {
        let job = self.stdin.try_recv().expect("a line on the child's stdin");
        assert_eq!(job.line.last(), Some(&b'\n'));
        serde_json::from_slice(&job.line).unwrap()
    }

    fn heard_nothing(&self) -> bool {
        self.stdin.is_empty()
    }

    /// The child writes `message` on its stdout.
    fn say(&self, st: &mut State, message: Value) -> Option<Control> {
        route(
            st,
            self.generation,
            message,
            Instant::now(),
            "test child",
            &self.telemetry,
        )
    }
}

/// A caller's request, registered and written as `Supervisor::request` does.
struct Caller {
    child_id: u64,
    generation: u64,
    events: Receiver<Event>,
}

fn request(st: &mut State, message: Value) -> Caller {
    let (tx, rx) = bounded(EVENT_QUEUE);
    let is_initialize = message["method"] == "initialize";
    let token = message.pointer("/params/_meta/progressToken").cloned();
    let waiter = Waiter::Call {
        tx,
        token: token.clone(),
        initialize: is_initialize.then(|| message.clone()),
    };
    let (child_id, generation, _) = st
        .register(message["id"].clone(), waiter, Instant::now())
        .unwrap();
    let mut outgoing = with_id(&message, child_id);
    if token.is_some() {
        outgoing["params"]["_meta"]["progressToken"] = Value::from(child_id);
    }
    st.send(&outgoing);
    Caller {
        child_id,
        generation,
        events: rx,
    }
}

impl Caller {
    fn answer(&self) -> Value {
        match self.events.try_recv() {
            Ok(Event::Answer(answer)) => answer,
            Ok(Event::Notify(n)) => panic!("progress instead of an answer: {n}"),
            Ok(Event::Closed(kind)) => panic!("closed ({kind:?}) instead of an answer"),
            Err(e) => panic!("no answer: {e}"),
        }
    }

    fn closed(&self) -> TransportErrorKind {
        match self.events.try_recv() {
            Ok(Event::Closed(kind)) => kind,
            _ => panic!("expected the call to be closed"),
        }
    }

    fn waiting(&self) -> bool {
        self.events.is_empty()
    }
}

fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize",
           "params": {"protocolVersion": "2025-06-18", "capabilities": {}}})
}

fn tools_list(id: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
}

/// A state with its first child up and ready (no `initialize` to replay).
fn ready() -> (State, FakeChild) {
    let mut st = State::new(Instant::now());
    let child = FakeChild::start(&mut st, 1);
    assert_eq!(st.start_replay(), Replay::NotNeeded);
    assert_eq!(st.phase, Phase::Ready);
    (st, child)
}

#[test]
fn an_answer_reaches_its_caller_under_the_callers_own_id() {
    let (mut st, child) = ready();
    let caller = request(&mut st, tools_list(json!("abc")));
    let seen = child.read();
    assert_eq!(seen["id"], json!(caller.child_id));
    assert_eq!(seen["method"], "tools/list");
    assert!(st.waiting_since.is_some());
    let routed = child.say(
        &mut st,
        json!({"jsonrpc": "2.0", "id": caller.child_id, "result": {"tools": []}}),
    );
    assert_eq!(routed, None);
    assert_eq!(
        caller.answer(),
        json!({"jsonrpc": "2.0", "id": "abc", "result": {"tools": []}})
    );
    assert!(st.waiting_since.is_none(), "nothing waits any more");
}

#[test]
fn generation_an_ended_childs_callers_fail_and_its_late_words_are_dropped() {
    let (mut st, old) = ready();
    let caller = request(&mut st, tools_list(json!(1)));
    let asked = old.read();

    st.end(End::Exited, true);
    assert_eq!(st.phase, Phase::Down);
    assert_eq!(caller.closed(), TransportErrorKind::UnexpectedEof);
    assert!(st.writer.is_none(), "the old child's stdin closes");

    let new = FakeChild::start(&mut st, 2);
    assert_eq!((st.generation, st.phase), (2, Phase::Starting));
    assert_eq!(st.start_replay(), Replay::NotNeeded);
    let second = request(&mut st, tools_list(json!(1)));
    assert_eq!(second.generation, 2);
    assert_ne!(
        second.child_id, caller.child_id,
        "child-side ids are never reused"
    );

    // The old child answers late, even with the id the new request got.
    let before = st.last_output;
    for id in [asked["id"].clone(), json!(second.child_id)] {
        let late = json!({"jsonrpc": "2.0", "id": id, "result": {}});
        assert_eq!(old.say(&mut st, late), None);
    }
    assert!(second.waiting(), "an old child never answers a new caller");
    assert_eq!(
        st.last_output, before,
        "an old child's output is not a sign of life"
    );

    new.read();
    new.say(
        &mut st,
        json!({"jsonrpc": "2.0", "id": second.child_id, "result": {"from": 2}}),
    );
    assert_eq!(second.answer()["result"]["from"], 2);
}

#[test]
fn replay_the_first_successful_initialize_goes_to_every_new_child_before_callers() {
    let (mut st, first) = ready();
    // A refused initialize is not remembered.
    let refused = request(&mut st, initialize(7));
    first.read();
    first.say(
        &mut st,
        json!({"jsonrpc": "2.0", "id": refused.child_id, "error": {"code": -1, "message": "no"}}),
    );
    refused.answer();
    assert!(st.init.is_none());

    let init = request(&mut st, initialize(8));
    first.read();
    first.say(
        &mut st,
        json!({"jsonrpc": "2.0", "id": init.child_id, "result": {"protocolVersion": "2025-06-18"}}),
    );
    assert_eq!(init.answer()["id"], 8);
    assert_eq!(st.init, Some(initialize(8)));
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        st.outgoing_notification(&initialized),
        Outgoing::Forward(initialized.clone())
    );
    assert!(st.init_notified);

    for generation in 2..=3 {
        st.end(End::StdoutClosed, true);
        let child = FakeChild::start(&mut st, generation);
        assert_eq!(st.start_replay(), Replay::Sent);
        assert_eq!(st.phase, Phase::Starting, "callers wait for the replay");
        let replayed = child.read();
        assert_eq!(replayed["method"], "initialize");
        assert_eq!(replayed["params"], initialize(8)["params"]);
        assert_ne!(
            replayed["id"],
            json!(8),
            "replayed under a fresh child-side id"
        );
        assert!(child.heard_nothing());

        let answered = child.say(
            &mut st,
            json!({"jsonrpc": "2.0", "id": replayed["id"], "result": {}}),
        );
        assert_eq!(answered, Some(Control::ReplayAnswered { generation }));
        st.replay_answered();
        assert_eq!(child.read(), initialized);
        assert_eq!(st.phase, Phase::Ready);
    }
}

#[test]
fn expiry_cancels_the_request_retires_its_id_and_drops_the_late_answer() {
    let (mut st, child) = ready();
    let caller = request(&mut st, tools_list(json!(5)));
    child.read();
    let restart = st.expire(caller.child_id, caller.generation, false, Instant::now());
    assert_eq!(restart, None, "the pipe is kept");
    let cancel = child.read();
    assert_eq!(cancel["method"], "notifications/cancelled");
    assert_eq!(cancel["params"]["requestId"], json!(caller.child_id));
    assert_eq!(st.ids.retired_len(), 1);
    assert!(st.waiting_since.is_none());

    child.say(
        &mut st,
        json!({"jsonrpc": "2.0", "id": caller.child_id, "result": {}}),
    );
    assert!(caller.waiting(), "the late answer goes nowhere");
    assert_eq!(st.ids.retired_len(), 0, "and its id is done with");
}

#[test]
fn expiry_of_initialize_asks_for_one_restart_per_generation() {
    let (mut st, child) = ready();
    let a = request(&mut st, initialize(1));
    let b = request(&mut st, initialize(2));
    let now = Instant::now();
    assert_eq!(
        st.expire(a.child_id, 1, true, now),
        Some(End::InitializeTimeout)
    );
    assert_eq!(st.expire(b.child_id, 1, true, now), None, "asked once");
    assert_eq!(st.ids.pending_len(), 0);
    child.read();
    child.read();
    assert!(child.heard_nothing(), "no cancellation for initialize");

    // A caller of an earlier generation changes nothing.
    st.end(End::InitializeTimeout, true);
    let _next = FakeChild::start(&mut st, 2);
    assert!(!st.restart_requested);
    assert_eq!(st.expire(a.child_id, 1, true, now), None);
    let c = request(&mut st, initialize(3));
    assert_eq!(
        st.expire(c.child_id, 2, true, now),
        Some(End::InitializeTimeout)
    );
}

#[test]
fn expiry_with_too_many_retired_ids_asks_for_a_restart() {
    let (mut st, _child) = ready();
    let now = Instant::now();
    for n in 0..MAX_RETIRED {
        let caller = request(&mut st, tools_list(json!(n)));
        assert_eq!(st.expire(caller.child_id, 1, false, now), None);
    }
    let one_more = request(&mut st, tools_list(json!("last")));
    assert_eq!(
        st.expire(one_more.child_id, 1, false, now),
        Some(End::TooManyRetired)
    );
}

#[test]
fn restart_backoff_grows_is_bounded_and_resets_after_a_healthy_run() {
    let mut pacing = RestartPacing::new();
    let crashed = Some(Duration::from_millis(5));
    let mut delays = Vec::new();
    for attempt in 0..12 {
        // A restart that could not spawn counts as a failure like a crash.
        let lived = if attempt % 3 == 2 { None } else { crashed };
        delays.push(pacing.next_delay(lived, 0));
    }
    assert_eq!(delays[0], RESTART_INITIAL / 2);
    assert_eq!(delays[1], RESTART_INITIAL);
    assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
    assert_eq!(delays[11], RESTART_MAX / 2);
    assert!(pacing.next_delay(crashed, u64::MAX) <= RESTART_MAX);

    assert_eq!(
        pacing.next_delay(Some(HEALTHY_RESET), 0),
        RESTART_INITIAL / 2,
        "a child that stayed up starts the pacing over"
    );
    assert_eq!(pacing.next_delay(crashed, 0), RESTART_INITIAL);
}

#[test]
fn a_shutdown_while_spawning_ends_the_new_generation() {
    let (mut st, _first) = ready();
    let caller = request(&mut st, tools_list(json!(1)));
    assert!(st.stop());
    assert!(!st.stop(), "once");
    assert_eq!(caller.closed(), TransportErrorKind::ConnectionClosed);
    st.end(End::Shutdown, true);
    assert_eq!(st.phase, Phase::Stopped, "a stop is never undone");

    let (tx, stdin) = bounded(1);
    assert!(!st.begin(2, 2002, tx, Instant::now()));
    assert_eq!((st.generation, st.phase), (2, Phase::Stopped));
    assert!(st.writer.is_none());
    assert!(
        stdin.recv().is_err(),
        "its stdin queue is dropped: stdin closes"
    );
}

#[test]
fn a_silent_child_gets_one_ping_and_answering_it_clears_the_suspicion() {
    let (mut st, child) = ready();
    let hang_after = Duration::from_secs(30);
    let caller = request(&mut st, tools_list(json!(1)));
    child.read();
    let since = st.waiting_since.unwrap();
    assert!(!st.looks_wedged(since + hang_after / 2, hang_after));
    assert!(st.looks_wedged(since + hang_after, hang_after));

    assert!(st.send_probe());
    let ping = child.read();
    assert_eq!(ping["method"], "ping");
    let answered = child.say(
        &mut st,
        json!({"jsonrpc": "2.0", "id": ping["id"], "result": {}}),
    );
    assert_eq!(answered, Some(Control::ProbeAnswered { generation: 1 }));
    assert!(caller.waiting(), "the probe's answer is not the caller's");
    assert!(!st.looks_wedged(st.last_output + hang_after / 2, hang_after));
}

#[test]
fn progress_reaches_its_caller_under_the_callers_token() {
    let (mut st, child) = ready();
    let mut message = tools_list(json!(1));
    message["params"] = json!({"_meta": {"progressToken": "mine"}});
    let caller = request(&mut st, message);
    let seen = child.read();
    let ours = seen["params"]["_meta"]["progressToken"].clone();
    assert_eq!(ours, json!(caller.child_id));

    let progress = |token: Value| {
        json!({"jsonrpc": "2.0", "method": "notifications/progress",
               "params": {"progressToken": token, "progress": 1}})
    };
    child.say(&mut st, progress(ours));
    match caller.events.try_recv() {
        Ok(Event::Notify(n)) => assert_eq!(n["params"]["progressToken"], "mine"),
        _ => panic!("expected progress"),
    }
    child.say(&mut st, progress(json!(999)));
    child.say(
        &mut st,
        json!({"jsonrpc": "2.0", "method": "notifications/message"}),
    );
    assert!(
        caller.waiting(),
        "progress for no one, and notifications without owner, are skipped"
    );
}

#[test]
fn requests_from_the_child_are_answered_here() {
    let (mut st, child) = ready();
    child.say(
        &mut st,
        json!({"jsonrpc": "2.0", "id": "p1", "method": "ping"}),
    );
    assert_eq!(
        child.read(),
        json!({"jsonrpc": "2.0", "id": "p1", "result": {}})
    );
    child.say(
        &mut st,
        json!({"jsonrpc": "2.0", "id": 9, "method": "sampling/createMessage"}),
    );
    let refused = child.read();
    assert_eq!(refused["id"], 9);
    assert_eq!(refused["error"]["code"], -32601);
}

#[test]
fn a_cancellation_is_forwarded_only_for_exactly_one_request_in_flight() {
    let (mut st, _child) = ready();
    let caller = request(&mut st, tools_list(json!("x")));
    let cancel = |id: Value| {
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": id}})
    };
    match st.outgoing_notification(&cancel(json!("x"))) {
        Outgoing::Forward(out) => assert_eq!(out["params"]["requestId"], json!(caller.child_id)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        st.outgoing_notification(&cancel(json!("y"))),
        Outgoing::Unmatched(0)
    );
    let _twin = request(&mut st, tools_list(json!("x")));
    assert_eq!(
        st.outgoing_notification(&cancel(json!("x"))),
        Outgoing::Unmatched(2)
    );
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    st.outgoing_notification(&initialized);
    assert!(!st.init_notified, "nothing to replay it with yet");
}
