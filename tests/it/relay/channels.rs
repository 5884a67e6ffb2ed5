//! Channels through tunnel-relay (CHANNELS.md R1–R3): a three-channel tunnel (two HTTP MCP
//! servers, one stdio) through the built relay and agent, channel names, routing by what an agent
//! polls for or declares, session pins per channel.

use crate::support::http::client;
use crate::support::mcp_server::{answering, MockServer};
use crate::support::process::{self, Process};
use crate::support::relay::*;
use crate::support::{wait_until, API_KEY, TUNNEL_ID, WAIT};
use serde_json::{json, Value};

/// tunnel-relay and one tunnel-client serving three channels: `main` (the
/// HTTP stub), `docs` (a recording mock HTTP server) and `local` (the stdio
/// stub).
struct ThreeChannels {
    base: String,
    main_stub: Process,
    docs: MockServer,
    _agent: Process,
    _relay: Process,
}

fn three_channels() -> ThreeChannels {
    let (relay, base) = binary(&[]);
    let (main_stub, main_url) = process::http_stub();
    let docs = answering("docs");
    let docs_binding = format!("channel=docs,url={}/mcp", docs.url());
    let local_binding = format!("channel=local,command={}", process::stub_command());
    let agent = process::agent(
        &base,
        &[
            "--mcp-server-url",
            &main_url,
            "--mcp-server-url",
            &docs_binding,
            "--mcp-command",
            &local_binding,
        ],
    );
    wait_for_agents(&base, 1);
    ThreeChannels {
        base,
        main_stub,
        docs,
        _agent: agent,
        _relay: relay,
    }
}

fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
}

// R1: `/v1/mcp/{id}/{channel}` queues on that channel, `/v1/mcp/{id}` is `main`.
#[test]
fn r1_each_channel_path_reaches_its_own_server() {
    let t = three_channels();
    let main_pid = u64::from(t.main_stub.pid());
    let plain = format!("{}/v1/mcp/{TUNNEL_ID}", t.base);
    assert_eq!(stub_pid_at(&plain, &[]), main_pid);
    assert_eq!(stub_pid(&t.base, "main", &[]), main_pid);

    let docs = call_url(&channel_url(&t.base, "docs"), &tools_list(), &[]);
    assert_eq!(docs.status, 200, "{}", docs.body);
    assert_eq!(docs.json()["result"]["server"], "docs");

    let local = stub_pid(&t.base, "local", &[]);
    assert_ne!(local, main_pid, "the stdio stub is its own process");
    assert_eq!(stub_pid(&t.base, "local", &[]), local, "one stdio child");

    // DELETE on a channel path ends the session on that channel's server.
    let init = call_url(
        &channel_url(&t.base, "docs"),
        &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}),
        &[],
    );
    let session = init.header("Mcp-Session-Id").expect("docs issues sessions");
    let deleted = client()
        .delete(channel_url(&t.base, "docs"))
        .header("Mcp-Session-Id", session)
        .call()
        .unwrap();
    assert_eq!(deleted.status(), 204);
    wait_until(WAIT, "the DELETE at the docs server", || {
        t.docs
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.values("mcp-session-id") == [session])
    });
}

// R1: a `{channel}` outside `^[a-z0-9_-]{1,64}$` is refused, never folded or routed.
#[test]
fn r1_a_channel_outside_the_name_rule_is_400_invalid_channel_format() {
    let t = three_channels();
    let long = "a".repeat(65);
    for channel in ["Docs", "do.cs", "d%20s", "d+s", long.as_str()] {
        let answer = call_url(&channel_url(&t.base, channel), &tools_list(), &[]);
        assert_eq!(answer.status, 400, "{channel}");
        assert_eq!(
            answer.json()["error"]["data"]["relay_error"],
            "invalid_channel_format",
            "{channel}"
        );
        let deleted = client()
            .delete(channel_url(&t.base, channel))
            .header("Mcp-Session-Id", "s")
            .call()
            .unwrap();
        assert_eq!(deleted.status(), 400, "DELETE {channel}");
    }
    let deeper = call_url(
        &format!("{}/docs/x", channel_url(&t.base, "docs")),
        &tools_list(),
        &[],
    );
    assert_eq!(deeper.status, 404);
    // The 64-character maximum is a name.
    let longest = call_url(&channel_url(&t.base, &"a".repeat(64)), &tools_list(), &[]);
    assert_eq!(longest.status, 503, "valid, and nobody serves it");
    assert!(t.docs.mcp_requests().is_empty(), "nothing reached a server");
}

// R1: the same name rule for a poll's `channel=` list.
#[test]
fn r1_a_poll_listing_an_invalid_channel_is_400() {
    let (_relay, base) = start(config());
    for bad in ["Main", "a.b", ""] {
        let resp = client()
            .get(format!(
                "{base}/v1/tunnels/{TUNNEL_ID}/poll?channel={bad}&limit=1&timeout_ms=1"
            ))
            .header("Authorization", format!("Bearer {API_KEY}"))
            .call()
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad:?}");
        let body: Value =
            serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "invalid_channel_format");
    }
    assert_eq!(metric(&base, "relay_agents_connected"), 0, "no poll held");
}

// R2: no agent serves the channel → 503 at once, naming the channel.
#[test]
fn r2_a_channel_nobody_serves_is_503_tunnel_client_not_seen_naming_it() {
    let t = three_channels();
    let answer = call_url(&channel_url(&t.base, "nobody"), &tools_list(), &[]);
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json()["id"], 1);
    assert_eq!(
        answer.json()["error"]["data"]["relay_error"],
        "tunnel_client_not_seen"
    );
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("\"nobody\""), "{message}");
}

// R2: an agent whose polls list channels (`--poll-channel`) takes only those;
// a binding it does not list is neither declared nor served.
#[test]
fn r2_an_agent_polling_for_main_only_is_never_given_another_channel() {
    let (_relay, base) = binary(&[]);
    let tools = format!("channel=tools,command={}", process::stub_command());
    let _agent = process::agent(
        &base,
        &[
            "--mcp-command",
            &process::stub_command(),
            "--mcp-command",
            &tools,
            "--poll-channel",
            "main",
        ],
    );
    wait_for_agents(&base, 1);
    assert!(stub_pid(&base, "main", &[]) > 0);
    let answer = call_url(&channel_url(&base, "tools"), &tools_list(), &[]);
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.body.contains("tools"));
}

// R2: the poll's list wins; without one, the server-info declaration; without
// either, every channel.
#[test]
fn r2_commands_go_by_poll_list_then_declaration() {
    let (_relay, base) = start(config());
    let lists_tools = Agent::new(&base, "A").serving(&["tools"]).declaring(
        r#"{"version":1,"channels":[{"name":"main"},{"name":"tools","proc_affinity":true}]}"#,
    );
    let declares_main =
        Agent::new(&base, "B").declaring(r#"{"version":1,"channels":[{"name":"main"}]}"#);
    assert_eq!(lists_tools.poll(1, 1).status, 204);
    assert_eq!(declares_main.poll(1, 1).status, 204);

    let to_tools = call_in_background_at(&channel_url(&base, "tools"), 10);
    wait_until(WAIT, "the tools command to be queued", || {
        metric(&base, "relay_queue_depth") == 1
    });
    assert_eq!(
        declares_main.poll(25, 300).status,
        204,
        "B does not declare tools"
    );
    let cmd = lists_tools.poll_one();
    assert_eq!(cmd["channel"], "tools");
    assert_eq!(lists_tools.answer(&cmd, json!({})).0, 200);
    assert_eq!(to_tools.join().unwrap().json()["result"]["by"], "A");

    let to_main = call_in_background_at(&channel_url(&base, "main"), 11);
    wait_until(WAIT, "the main command to be queued", || {
        metric(&base, "relay_queue_depth") == 1
    });
    assert_eq!(
        lists_tools.poll(25, 300).status,
        204,
        "A's poll lists only tools"
    );
    let cmd = declares_main.poll_one();
    assert_eq!(cmd["channel"], "main");
    assert_eq!(declares_main.answer(&cmd, json!({})).0, 200);
    assert_eq!(to_main.join().unwrap().json()["result"]["by"], "B");

    // An agent that says nothing about its channels may get any of them.
    let silent = Agent::new(&base, "C");
    assert_eq!(silent.poll(1, 1).status, 204);
    let to_other = call_in_background_at(&channel_url(&base, "other"), 12);
    let cmd = silent.poll_one();
    assert_eq!(cmd["channel"], "other");
    assert_eq!(silent.answer(&cmd, json!({})).0, 200);
    assert_eq!(to_other.join().unwrap().status, 200);
}

fn call_in_background_at(
    url: &str,
    id: u64,
) -> std::thread::JoinHandle<crate::support::http::Reply> {
    let url = url.to_string();
    std::thread::spawn(move || {
        call_url(
            &url,
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call"}),
            &[],
        )
    })
}

// R3: a session is pinned per (channel, Mcp-Session-Id), by that channel's
// proc_affinity: the same session id on an HTTP channel goes anywhere.
#[test]
fn r3_session_pins_are_per_channel_and_follow_its_affinity() {
    let (_relay, base) = start(config());
    let info =
        r#"{"version":1,"channels":[{"name":"main"},{"name":"tools","proc_affinity":true}]}"#;
    let a = Agent::new(&base, "A").declaring(info);
    let b = Agent::new(&base, "B").declaring(info);
    assert_eq!(a.poll(1, 1).status, 204);

    // initialize on tools through A: a stdio server issues no session id,
    // so the relay mints one and pins it to A for channel tools.
    let url = channel_url(&base, "tools");
    let initialize = std::thread::spawn(move || {
        call_url(
            &url,
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}),
            &[],
        )
    });
    let cmd = a.poll_one();
    assert_eq!(cmd["channel"], "tools");
    assert_eq!(a.answer(&cmd, json!({})).0, 200);
    let answer = initialize.join().unwrap();
    let session = answer.header("Mcp-Session-Id").unwrap().to_string();
    assert!(session.starts_with("relay-session-"), "{session}");

    assert_eq!(b.poll(1, 1).status, 204);
    let sid = session.clone();
    let url = channel_url(&base, "tools");
    let pinned = std::thread::spawn(move || {
        call_url(
            &url,
            &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call"}),
            &[("Mcp-Session-Id", &sid)],
        )
    });
    wait_until(WAIT, "the pinned command to be queued", || {
        metric(&base, "relay_queue_depth") == 1
    });
    assert_eq!(
        b.poll(25, 300).status,
        204,
        "B never gets A's tools session"
    );
    let cmd = a.poll_one();
    assert_eq!(a.answer(&cmd, json!({})).0, 200);
    assert_eq!(pinned.join().unwrap().json()["result"]["by"], "A");

    // The same session id on main (no affinity) is not pinned: B may take it.
    let sid = session.clone();
    let url = channel_url(&base, "main");
    let unpinned = std::thread::spawn(move || {
        call_url(
            &url,
            &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call"}),
            &[("Mcp-Session-Id", &sid)],
        )
    });
    let cmd = b.poll_one();
    assert_eq!(cmd["channel"], "main");
    assert_eq!(b.answer(&cmd, json!({})).0, 200);
    assert_eq!(unpinned.join().unwrap().json()["result"]["by"], "B");
}
