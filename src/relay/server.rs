//! Threads of a running relay: tiny_http receivers, one bounded thread per
//! request, the lease sweeper, and orderly shutdown. Must never busy-wait.
//!
//! What a client can hold is bounded inside tiny_http (see `crate::httpd`):
//! [`MAX_CONNECTIONS`] connections (fewer if the open-files limit is lower;
//! beyond, a new one is closed at once), each with one request at a time, a
//! head within [`HEAD_TIMEOUT`], idle at most [`KEEP_ALIVE_TIMEOUT`], a body
//! read within [`BODY_TIMEOUT`]. tiny_http runs one thread per open
//! connection (std has no readiness polling), so those bounds bound its
//! threads too.
//!
//! Why one thread per request: long-polls (up to 30 s) and waiting callers
//! (up to the response timeout) block by design. A fixed pool would let
//! either kind starve the other; a thread per request, bounded by
//! [`MAX_REQUEST_THREADS`], keeps them independent. The receivers only hand
//! requests over, and answer inline (503) when the bound is reached.
//!
//! Threads are reused: a request goes to an idle request thread through a
//! zero-capacity channel (which succeeds only while one is waiting), and a new
//! thread starts only when none is idle. Idle threads exit after
//! [`IDLE_THREAD_EXIT`]. Starting a thread per request cost more than the
//! rest of the request's handling.

use super::agent_side::{self, AgentSettings};
use super::caller_side::{self, CallerSettings};
use super::http::{Incoming, Reply};
use super::hub::Hub;
use super::metrics::Outcome;
use super::oauth;
use super::{RelayConfig, RelayError};
use crate::contract::{header, MAIN_CHANNEL};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Threads blocked in `Server::recv`, handing requests to handler threads.
const RECEIVER_THREADS: usize = 2;

/// Most connections open at once: held polls and waiting callers keep theirs
/// by design, so room for all of them and more. Lowered to what the
/// open-files limit holds.
pub const MAX_CONNECTIONS: usize = 2048;

/// Descriptors left out of the connection budget (listener, standard
/// streams, what the process opens besides).
const RESERVED_FDS: u64 = 64;

/// Time for a request line and headers: from accept for a new connection,
/// from the first byte for a later request. Slow heads get 408 and close.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle time between requests before a connection is closed. Longer than
/// the agent's own idle limit for pooled connections (15 s), so the agent
/// always closes first and never reuses a connection being closed.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Time from the end of a head in which its body must have been read.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest one write to a client may block (a caller or agent that stops
/// reading loses its connection).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Most requests handled at once (held polls and waiting callers included).
pub const MAX_REQUEST_THREADS: usize = 1_024;

/// Stack of a request thread: handlers are shallow, bodies live on the heap.
const REQUEST_THREAD_STACK: usize = 256 * 1024;

/// How long a request thread waits for more work before it exits.
const IDLE_THREAD_EXIT: Duration = Duration::from_secs(5);

/// How often unconfirmed leases and silent agents are checked.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// How long shutdown waits for in-flight requests to answer.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Everything a request thread needs, shared by all of them.
struct Shared {
    hub: Hub,
    config: RelayConfig,
    /// The relay's address as callers see it, without a trailing `/`.
    public_url: String,
    in_flight: Mutex<usize>,
    idle: Condvar,
    /// Request threads alive (busy or waiting for work).
    threads: Mutex<usize>,
    /// Zero-capacity hand-off to request threads waiting for work.
    handoff: (Sender<tiny_http::Request>, Receiver<tiny_http::Request>),
}

/// A running relay. Dropping it shuts it down.
pub struct Running {
    local_addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    shared: Arc<Shared>,
    stopping: Arc<AtomicBool>,
    stop_sweeper: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

pub fn start(config: RelayConfig, hub: Hub) -> Result<Running, RelayError> {
    let listener =
        super::http::nodelay_listener(config.listen).map_err(|source| RelayError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| RelayError::Bind {
        addr: config.listen,
        source,
    })?;
    let limits = crate::httpd::Limits {
        max_connections: crate::httpd::connection_cap(MAX_CONNECTIONS, RESERVED_FDS),
        max_head_bytes: super::http::MAX_HEAD_BYTES,
        head_timeout: Some(HEAD_TIMEOUT),
        keep_alive_timeout: Some(KEEP_ALIVE_TIMEOUT),
        // Room for chunk framing, and for draining a body refused for being
        // a little too long so that its connection stays usable.
        max_body_bytes: (config.max_body_bytes as u64).saturating_mul(2),
        body_timeout: Some(BODY_TIMEOUT),
        write_timeout: Some(WRITE_TIMEOUT),
        // One request at a time per connection: a client cannot queue up
        // requests (memory, request threads) behind a slow answer.
        pipelining: false,
    };
    log::debug!("serving at most {} connections", limits.max_connections);
    let server =
        crate::httpd::serve(listener, limits).map_err(|e| RelayError::Server(Box::new(e)))?;
    let server = Arc::new(server);
    let public_url = match &config.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{local_addr}"),
    };
    let shared = Arc::new(Shared {
        hub,
        config,
        public_url,
        in_flight: Mutex::new(0),
        idle: Condvar::new(),
        threads: Mutex::new(0),
        handoff: crossbeam_channel::bounded(0),
    });
    let stopping = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for n in 0..RECEIVER_THREADS {
        let server = Arc::clone(&server);
        let shared = Arc::clone(&shared);
        let stopping = Arc::clone(&stopping);
        let handle = std::thread::Builder::new()
            .name(format!("relay-recv-{n}"))
            .spawn(move || receive(&server, &shared, &stopping))
            .map_err(RelayError::Thread)?;
        threads.push(handle);
    }
    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    let sweeper = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("relay-sweep".into())
            .spawn(move || sweep(&shared, &stop_rx))
            .map_err(RelayError::Thread)?
    };
    threads.push(sweeper);
    Ok(Running {
        local_addr,
        server,
        shared,
        stopping,
        stop_sweeper: Some(stop_tx),
        threads,
    })
}

impl Running {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops receiving, wakes every held poll and waiting caller (they
    /// answer 503 or 204), waits briefly for them, joins the threads.
    pub fn shutdown(&mut self) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        self.shared.hub.close();
        self.stop_sweeper.take();
        for _ in 0..RECEIVER_THREADS {
            self.server.unblock();
        }
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut in_flight = lock(&self.shared.in_flight);
        while *in_flight > 0 {
            let now = Instant::now();
            if now >= deadline {
                log::warn!("{} request(s) still open at shutdown", *in_flight);
                break;
            }
            in_flight = match self.shared.idle.wait_timeout(in_flight, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock(m: &Mutex<usize>) -> std::sync::MutexGuard<'_, usize> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn receive(server: &tiny_http::Server, shared: &Arc<Shared>, stopping: &AtomicBool) {
    loop {
        let request = match server.recv() {
            Ok(request) => request,
            Err(e) => {
                if !stopping.load(Ordering::Acquire) {
                    log::error!("the HTTP server stopped accepting connections: {e}");
                }
                return;
            }
        };
        if stopping.load(Ordering::Acquire) {
            // `unblock` wakes with an error, but a request may race it.
            let _ = Incoming::new(request).respond(Reply::empty(503));
            continue;
        }
        dispatch(request, shared);
    }
}

/// Runs the request on an idle request thread, or a new one, or refuses it
/// when the bound is reached.
fn dispatch(request: tiny_http::Request, shared: &Arc<Shared>) {
    {
        let mut in_flight = lock(&shared.in_flight);
        if *in_flight >= MAX_REQUEST_THREADS {
            drop(in_flight);
            let reply = Reply::text(503, "text/plain", "relay busy; retry\n")
                .with_header(header::RETRY_AFTER, "1");
            let _ = Incoming::new(request).respond(reply);
            return;
        }
        *in_flight += 1;
    }
    let request = match shared.handoff.0.try_send(request) {
        Ok(()) => return,
        Err(returned) => returned.into_inner(),
    };
    {
        let mut threads = lock(&shared.threads);
        if *threads >= MAX_REQUEST_THREADS {
            // Every thread is busy or just finishing: wait for one to take it.
            drop(threads);
            if let Err(e) = shared.handoff.0.send(request) {
                drop(e);
                finished(shared);
            }
            return;
        }
        *threads += 1;
    }
    let worker = Arc::clone(shared);
    // The request moves into the closure; if spawning fails it is dropped
    // there, which answers 500 (tiny_http's default for an unanswered request).
    let spawned = std::thread::Builder::new()
        .name("relay-req".into())
        .stack_size(REQUEST_THREAD_STACK)
        .spawn(move || {
            let mut next = Some(request);
            while let Some(request) = next.take() {
                route(&worker, Incoming::new(request));
                finished(&worker);
                next = worker.handoff.1.recv_timeout(IDLE_THREAD_EXIT).ok();
            }
            *lock(&worker.threads) -= 1;
        });
    if let Err(e) = spawned {
        log::error!("could not start a request thread: {e}");
        *lock(&shared.threads) -= 1;
        finished(shared);
    }
}

/// One request is done: shutdown may be waiting for the count to reach zero.
fn finished(shared: &Shared) {
    let mut in_flight = lock(&shared.in_flight);
    *in_flight = in_flight.saturating_sub(1);
    if *in_flight == 0 {
        shared.idle.notify_all();
    }
}

fn route(shared: &Shared, incoming: Incoming) {
    let hub = &shared.hub;
    if incoming.target_too_long() {
        let _ = incoming.respond(Reply::empty(414));
        return;
    }
    let path = incoming.path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["healthz"] => {
            let _ = incoming.respond(Reply::text(200, "text/plain", "ok\n"));
        }
        ["metrics"] => {
            let text = hub.metrics.render(&hub.gauges(Instant::now()));
            let _ = incoming.respond(Reply::text(200, "text/plain; version=0.0.4", text));
        }
        ["v1", "tunnels", tunnel_id, rest @ ..] if rest.len() <= 1 => {
            let settings = AgentSettings {
                agent_key: shared.config.agent_key.expose(),
                max_body_bytes: shared.config.max_body_bytes,
            };
            let rest = rest.first().copied().unwrap_or("");
            agent_side::handle(hub, &settings, incoming, tunnel_id, rest);
        }
        ["v1", "mcp", tunnel_id, channel @ ..] if channel.len() <= 1 => {
            // `/v1/mcp/{id}` is the same endpoint as `/v1/mcp/{id}/main`.
            let channel = channel.first().copied().unwrap_or(MAIN_CHANNEL);
            let started = Instant::now();
            let settings = caller_settings(shared);
            let outcome = caller_side::handle(hub, &settings, incoming, tunnel_id, channel);
            hub.metrics.caller_finished(outcome, started.elapsed());
            if outcome == Outcome::Answered {
                log::debug!("caller request answered in {:?}", started.elapsed());
            }
        }
        // Protected-resource metadata exists for a tunnel (its `main`), never
        // for a channel path below it.
        [".well-known", "oauth-protected-resource", "v1", "mcp", tunnel_id] => {
            let started = Instant::now();
            let settings = caller_settings(shared);
            let outcome = oauth::handle(hub, &settings, incoming, tunnel_id);
            hub.metrics.caller_finished(outcome, started.elapsed());
        }
        _ => {
            let _ = incoming.respond(Reply::text(404, "text/plain", "not found\n"));
        }
    }
}

fn caller_settings(shared: &Shared) -> CallerSettings<'_> {
    CallerSettings {
        caller_token: shared.config.caller_token.as_ref().map(|t| t.expose()),
        response_timeout: shared.config.response_timeout,
        max_body_bytes: shared.config.max_body_bytes,
        public_url: &shared.public_url,
    }
}

fn sweep(shared: &Shared, stop: &Receiver<()>) {
    loop {
        match stop.recv_timeout(SWEEP_INTERVAL) {
            Err(RecvTimeoutError::Timeout) => shared.hub.sweep(Instant::now()),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
