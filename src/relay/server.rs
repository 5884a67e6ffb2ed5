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
//! [`MAX_REQUEST_THREADS`], keeps them independent.
//!
//! The request threads receive for themselves (leader/followers): each waits
//! in `Server::recv`, handles what it got on the spot, and goes back to
//! waiting. Before handling, a thread that was the last one waiting starts
//! another, so someone always receives. There is no hand-off between a
//! receiving thread and a handling one: that hop used to cost two thread
//! wake-ups per request. Beyond [`MAX_REQUEST_THREADS`] requests in flight
//! the receiving thread answers 503 inline. Threads beyond
//! [`RECEIVER_THREADS`] exit after [`IDLE_THREAD_EXIT`] without work.

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

/// Request threads that stay even when idle, waiting in `Server::recv`.
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

/// Most request threads alive: those handling plus a few receiving (which
/// answer 503 while the handling ones are at their bound).
const MAX_THREADS: usize = MAX_REQUEST_THREADS + RECEIVER_THREADS;

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
    /// Request threads alive, and how many of them wait in `Server::recv`.
    threads: Mutex<ThreadCount>,
    server: Arc<tiny_http::Server>,
    stopping: AtomicBool,
}

#[derive(Default)]
struct ThreadCount {
    alive: usize,
    receiving: usize,
}

/// A running relay. Dropping it shuts it down.
pub struct Running {
    local_addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    shared: Arc<Shared>,
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
        threads: Mutex::new(ThreadCount::default()),
        server: Arc::clone(&server),
        stopping: AtomicBool::new(false),
    });
    let mut threads = Vec::new();
    for _ in 0..RECEIVER_THREADS {
        counted_receiver(&shared);
        let handle = spawn_request_thread(&shared, true).map_err(|e| {
            uncount_receiver(&shared);
            RelayError::Thread(e)
        })?;
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
        if self.shared.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        self.shared.hub.close();
        self.stop_sweeper.take();
        // One wake-up per thread alive; threads busy now see `stopping`
        // when they come back (they wait with a timeout).
        let alive = lock_threads(&self.shared).alive;
        for _ in 0..alive.max(RECEIVER_THREADS) {
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

fn lock_threads(shared: &Shared) -> std::sync::MutexGuard<'_, ThreadCount> {
    shared.threads.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts a thread about to start as alive and receiving.
fn counted_receiver(shared: &Shared) {
    let mut threads = lock_threads(shared);
    threads.alive += 1;
    threads.receiving += 1;
}

fn uncount_receiver(shared: &Shared) {
    let mut threads = lock_threads(shared);
    threads.alive = threads.alive.saturating_sub(1);
    threads.receiving = threads.receiving.saturating_sub(1);
}

/// Starts a request thread, already counted by [`counted_receiver`]. A
/// `permanent` one never exits for lack of work.
fn spawn_request_thread(shared: &Arc<Shared>, permanent: bool) -> std::io::Result<JoinHandle<()>> {
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name("relay-req".into())
        .stack_size(REQUEST_THREAD_STACK)
        .spawn(move || serve_requests(&shared, permanent))
}

/// One request thread: receive, make sure another thread receives, handle,
/// and again, until shutdown (or, unless `permanent`, until idle too long).
fn serve_requests(shared: &Arc<Shared>, permanent: bool) {
    loop {
        let received = shared.server.recv_timeout(IDLE_THREAD_EXIT);
        let stopping = shared.stopping.load(Ordering::Acquire);
        let request = match received {
            Ok(Some(request)) => request,
            Ok(None) if !stopping && permanent => continue,
            Ok(None) if !stopping => {
                let mut threads = lock_threads(shared);
                // Keep enough receivers for a burst; the spare ones go.
                if threads.receiving > RECEIVER_THREADS {
                    threads.alive = threads.alive.saturating_sub(1);
                    threads.receiving = threads.receiving.saturating_sub(1);
                    return;
                }
                continue;
            }
            Ok(None) => {
                uncount_receiver(shared);
                return;
            }
            Err(e) => {
                if !stopping {
                    log::error!("the HTTP server stopped accepting connections: {e}");
                }
                uncount_receiver(shared);
                return;
            }
        };
        if stopping {
            // `unblock` wakes with nothing, but a request may race it.
            let _ = Incoming::new(request).respond(Reply::empty(503));
            continue;
        }
        hand_on_receiving(shared);
        handle(request, shared);
        lock_threads(shared).receiving += 1;
    }
}

/// This thread stops receiving to handle a request: if it was the last one
/// receiving, another starts (within the thread bound), so that the next
/// request never waits for this one to end.
fn hand_on_receiving(shared: &Arc<Shared>) {
    let mut threads = lock_threads(shared);
    threads.receiving = threads.receiving.saturating_sub(1);
    if threads.receiving > 0 || threads.alive >= MAX_THREADS {
        return;
    }
    threads.alive += 1;
    threads.receiving += 1;
    drop(threads);
    if let Err(e) = spawn_request_thread(shared, false) {
        log::error!("could not start a request thread: {e}");
        uncount_receiver(shared);
    }
}

/// Handles one request on this thread, or refuses it when
/// [`MAX_REQUEST_THREADS`] requests are already in flight.
fn handle(request: tiny_http::Request, shared: &Shared) {
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
    route(shared, Incoming::new(request));
    finished(shared);
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
