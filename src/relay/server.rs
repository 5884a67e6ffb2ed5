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
//! Each request is handled on the thread of its own connection (tiny_http's
//! `from_listener_with_handler`): without pipelining a connection holds one
//! request at a time, so that thread has nothing else to do meanwhile, and
//! no request waits in a queue for a handler thread. Handing requests from
//! connection threads to request threads cost four thread wake-ups per
//! request. Beyond [`MAX_REQUEST_THREADS`] requests in flight, a request is
//! answered 503 at once.

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
    stopping: AtomicBool,
}

/// A running relay. Dropping it shuts it down.
pub struct Running {
    local_addr: SocketAddr,
    /// Dropped at shutdown: no connection is accepted after it.
    server: Option<tiny_http::Server>,
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
        stopping: AtomicBool::new(false),
    });
    let handler = {
        let shared = Arc::clone(&shared);
        Arc::new(move |request: tiny_http::Request| handle(request, &shared))
    };
    let server = crate::httpd::serve_with(listener, limits, handler)
        .map_err(|e| RelayError::Server(Box::new(e)))?;
    let mut threads = Vec::new();
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
        server: Some(server),
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
        drop(in_flight);
        // Stops the accept thread; connections still open end on their own.
        self.server.take();
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

/// Handles one request on this thread, or refuses it when
/// [`MAX_REQUEST_THREADS`] requests are already in flight.
fn handle(request: tiny_http::Request, shared: &Shared) {
    if shared.stopping.load(Ordering::Acquire) {
        let _ = Incoming::new(request).respond(Reply::empty(503));
        return;
    }
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
