//! The admin HTTP server: a few tiny_http threads answering health, metrics,
//! the status page and its JSON. It never reads request bodies, never stops
//! because of what a client sent, and never blocks the tunnel path.
//!
//! What a client can hold is bounded inside tiny_http (see `crate::httpd`):
//! [`MAX_CONNECTIONS`] connections (beyond, a new one is closed at once), a
//! head of [`MAX_HEAD_BYTES`] within [`HEAD_TIMEOUT`], idle at most
//! [`KEEP_ALIVE_TIMEOUT`]; an unread body is drained by tiny_http's
//! connection thread (up to [`MAX_DRAINED_BODY_BYTES`] within
//! [`BODY_TIMEOUT`]) or the connection is closed, never by our threads.

use crate::admin::health::{self, Liveness, Readiness};
use crate::admin::metrics;
use crate::config::AdminConfig;
use crate::contract::CLIENT_VERSION;
use crate::mcp::{Backend, BackendStatus};
use crate::telemetry::activity::redact_urls;
use crate::telemetry::counters::{ChannelCounter, Reading};
use crate::telemetry::histogram::{Percentiles, RECENT_WINDOW};
use crate::telemetry::prometheus;
use crate::telemetry::{Counter, OauthPhase, OauthStatus, Telemetry};
use serde_json::{json, Value};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The status page, compiled in: no file is read at run time.
pub const STATUS_PAGE: &str = include_str!("status.html");

/// Longest request target answered; longer ones get 414. (tiny_http has
/// already read the request head by then: this bounds what we process.)
pub const MAX_URL_BYTES: usize = 2048;

/// Most connections open at once (a few operators, probes and scrapers), and
/// never more than a quarter of the agent's open-files limit allows: the
/// tunnel needs descriptors too.
pub const MAX_CONNECTIONS: usize = 64;

/// Most bytes of a request line and headers (431 beyond). Browsers send
/// every cookie set for `localhost`, which can be several KiB.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Time for a request line and headers: from accept for a new connection,
/// from the first byte for a later request.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle time between requests before a connection is closed (the page
/// refreshes every few seconds over one connection).
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests carry no body here: one that does is answered 413 and its body
/// drained (so the connection stays usable) up to this size, within
/// [`BODY_TIMEOUT`]; a longer or slower one closes the connection.
pub const MAX_DRAINED_BODY_BYTES: u64 = 64 * 1024;
/// Time from the end of a head in which its body must have been drained.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest one write to a client may block; a client that stops reading
/// loses its connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Threads answering requests: a slow client never holds up `/healthz`
/// alone.
pub const WORKERS: usize = 2;

/// Pause before rebuilding the server if tiny_http ever reports an error
/// (its accept loop itself retries and does not stop), so a persistent
/// error cannot spin.
pub const ACCEPT_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Why the admin server could not start. Each message says what to do.
#[derive(Debug)]
pub enum AdminError {
    /// Another process listens on the address.
    InUse { address: String },
    /// The address is not one of this machine's.
    NotLocal { address: String },
    /// A port below 1024 without the privilege to bind it.
    PermissionDenied { address: String },
    /// The address does not parse or resolve.
    BadAddress { address: String, detail: String },
    /// Any other listen failure.
    Listen { address: String, error: io::Error },
    /// `--admin-url-file` could not be written.
    UrlFile { path: PathBuf, error: io::Error },
    /// The server thread could not be started.
    Thread(io::Error),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CHOOSE: &str = "pass --admin-address with another address or port (port 0 picks a free one), or --admin-address off";
        match self {
            AdminError::InUse { address } => {
                write!(f, "admin address {address} is in use: {CHOOSE}")
            }
            AdminError::NotLocal { address } => write!(
                f,
                "admin address {address} is not an address of this machine: {CHOOSE}"
            ),
            AdminError::PermissionDenied { address } => write!(
                f,
                "not allowed to listen on admin address {address} (ports below 1024 need privileges): {CHOOSE}"
            ),
            AdminError::BadAddress { address, detail } => write!(
                f,
                "admin address {address:?} is not HOST:PORT ({detail}): use e.g. 127.0.0.1:8090, [::1]:8090 or off"
            ),
            AdminError::Listen { address, error } => {
                write!(f, "cannot listen on admin address {address}: {error}: {CHOOSE}")
            }
            AdminError::UrlFile { path, error } => write!(
                f,
                "cannot write the admin URL file {}: {error}: check that its directory exists and is writable",
                path.display()
            ),
            AdminError::Thread(error) => write!(f, "cannot start the admin server thread: {error}"),
        }
    }
}

impl std::error::Error for AdminError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AdminError::Listen { error, .. }
            | AdminError::UrlFile { error, .. }
            | AdminError::Thread(error) => Some(error),
            AdminError::InUse { .. }
            | AdminError::NotLocal { .. }
            | AdminError::PermissionDenied { .. }
            | AdminError::BadAddress { .. } => None,
        }
    }
}

/// What the request handler needs, shared with the server thread.
struct Context {
    tunnel_id: String,
    telemetry: Arc<Telemetry>,
    channels: Vec<(String, Arc<dyn Backend>)>,
    allow_remote_ui: bool,
}

/// A running admin server. Dropping it stops it (same as [`AdminServer::shutdown`]).
pub struct AdminServer {
    local_addr: SocketAddr,
    /// The current server; replaced if it ever fails, `None` once stopped.
    server: Arc<Mutex<Option<Arc<tiny_http::Server>>>>,
    stopping: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl AdminServer {
    /// Binds `cfg.address` (port 0 picks a free port), writes `cfg.url_file`
    /// (atomically, mode 0600) and serves on [`WORKERS`] threads. `Ok(None)` when the
    /// address is `off`. `channels` are the MCP backends by channel name, for
    /// readiness and the page; their `status()` is called per request and must
    /// not block.
    pub fn start(
        cfg: &AdminConfig,
        tunnel_id: &str,
        telemetry: Arc<Telemetry>,
        channels: Vec<(String, Arc<dyn Backend>)>,
    ) -> Result<Option<AdminServer>, AdminError> {
        let Some(address) = cfg.address.as_deref() else {
            return Ok(None);
        };
        let listener = bind(address)?;
        let local_addr = listener.local_addr().map_err(|error| AdminError::Listen {
            address: address.to_string(),
            error,
        })?;
        // A second handle lets a thread rebuild the server if it ever fails.
        let spare = listener.try_clone().map_err(|error| AdminError::Listen {
            address: address.to_string(),
            error,
        })?;
        let server =
            crate::httpd::serve(listener, limits()).map_err(|error| AdminError::Listen {
                address: address.to_string(),
                error,
            })?;
        let server = Arc::new(Mutex::new(Some(Arc::new(server))));
        let stopping = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            context: Context {
                tunnel_id: tunnel_id.to_string(),
                telemetry,
                channels,
                allow_remote_ui: cfg.allow_remote_ui,
            },
            spare,
        });
        let mut admin = AdminServer {
            local_addr,
            server,
            stopping,
            threads: Vec::with_capacity(WORKERS),
        };
        for n in 0..WORKERS {
            let server = Arc::clone(&admin.server);
            let stopping = Arc::clone(&admin.stopping);
            let shared = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name(format!("admin-{n}"))
                .spawn(move || run(&server, &stopping, &shared))
                .map_err(AdminError::Thread)?;
            admin.threads.push(thread);
        }
        if let Some(path) = &cfg.url_file {
            write_url_file(path, &admin.url()).map_err(|error| AdminError::UrlFile {
                path: path.clone(),
                error,
            })?;
        }
        log::info!("admin server listening on {}", admin.url());
        Ok(Some(admin))
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The base URL, e.g. `http://127.0.0.1:8090/`. A wildcard bind
    /// (0.0.0.0, ::) is shown as the loopback address of the same family.
    pub fn url(&self) -> String {
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}/", SocketAddr::new(ip, self.local_addr.port()))
    }

    /// Stops answering and joins the server threads; the listening socket
    /// closes once the last handle on the server is dropped. Idempotent.
    pub fn shutdown(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(server) = &server {
            for _ in &self.threads {
                server.unblock();
            }
        }
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                log::error!("an admin server thread panicked");
            }
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn bind(address: &str) -> Result<TcpListener, AdminError> {
    let owned = || address.to_string();
    TcpListener::bind(address)
        .and_then(crate::net::nodelay_listener)
        .map_err(|error| match error.kind() {
            io::ErrorKind::AddrInUse => AdminError::InUse { address: owned() },
            io::ErrorKind::AddrNotAvailable => AdminError::NotLocal { address: owned() },
            io::ErrorKind::PermissionDenied => AdminError::PermissionDenied { address: owned() },
            io::ErrorKind::InvalidInput => AdminError::BadAddress {
                address: owned(),
                detail: error.to_string(),
            },
            // getaddrinfo failures surface as `Uncategorized`/`Other` kinds.
            _ if error.raw_os_error().is_none() => AdminError::BadAddress {
                address: owned(),
                detail: error.to_string(),
            },
            _ => AdminError::Listen {
                address: owned(),
                error,
            },
        })
}

/// The bounds the admin server puts on its clients.
fn limits() -> crate::httpd::Limits {
    // Three quarters of the descriptors stay with the tunnel.
    let reserved_fds = crate::httpd::open_files_limit().map_or(0, |limit| limit - limit / 4);
    crate::httpd::Limits {
        max_connections: crate::httpd::connection_cap(MAX_CONNECTIONS, reserved_fds),
        max_head_bytes: MAX_HEAD_BYTES,
        head_timeout: Some(HEAD_TIMEOUT),
        keep_alive_timeout: Some(KEEP_ALIVE_TIMEOUT),
        max_body_bytes: MAX_DRAINED_BODY_BYTES,
        body_timeout: Some(BODY_TIMEOUT),
        write_timeout: Some(WRITE_TIMEOUT),
        pipelining: false,
    }
}

/// What the worker threads share besides the server.
struct Shared {
    context: Context,
    /// Another handle on the listening socket, to rebuild the server on.
    spare: TcpListener,
}

/// A worker thread: answers requests until told to stop.
fn run(slot: &Mutex<Option<Arc<tiny_http::Server>>>, stopping: &AtomicBool, shared: &Shared) {
    loop {
        let current = slot.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(server) = current else { return };
        match server.recv() {
            Ok(request) => answer(request, &shared.context),
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            Err(error) => rebuild(slot, &server, &shared.spare, &error),
        }
        if stopping.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// Replaces `failed` by a new server on the same socket, unless another
/// worker already did, and wakes the workers still waiting on it.
fn rebuild(
    slot: &Mutex<Option<Arc<tiny_http::Server>>>,
    failed: &Arc<tiny_http::Server>,
    spare: &TcpListener,
    error: &io::Error,
) {
    let mut current = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if !current
        .as_ref()
        .is_some_and(|server| Arc::ptr_eq(server, failed))
    {
        return;
    }
    log::error!("admin server stopped accepting connections ({error}); restarting it");
    std::thread::sleep(ACCEPT_RETRY_PAUSE);
    let fresh = spare
        .try_clone()
        .and_then(|listener| crate::httpd::serve(listener, limits()));
    match fresh {
        Ok(fresh) => {
            *current = Some(Arc::new(fresh));
            for _ in 1..WORKERS {
                failed.unblock();
            }
        }
        Err(e) => log::error!("admin server could not restart: {e}"),
    }
}

/// True for a GET or HEAD that declares a body (the admin server takes none;
/// other methods get 405 anyway).
fn carries_body(request: &tiny_http::Request) -> bool {
    let chunked = request
        .headers()
        .iter()
        .any(|h| h.field.equiv("Transfer-Encoding"));
    let readable = matches!(
        request.method(),
        tiny_http::Method::Get | tiny_http::Method::Head
    );
    readable && (chunked || request.body_length().is_some_and(|length| length > 0))
}

fn answer(request: tiny_http::Request, context: &Context) {
    if carries_body(&request) {
        // tiny_http drains the body in the connection's own thread, or
        // closes the connection: nothing here waits for it.
        let response = tiny_http::Response::from_string(
            "request bodies are not accepted by the admin server\n",
        )
        .with_status_code(413);
        if let Err(error) = request.respond(response) {
            log::debug!("admin server: could not answer a request: {error}");
        }
        return;
    }
    let host = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str().to_string());
    let probe = Probe {
        method: request.method().as_str(),
        url: request.url(),
        peer: request.remote_addr().copied(),
        host: host.as_deref(),
    };
    let reply = route(&probe, context);
    let mut response = tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
    for (name, value) in reply.headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    if let Err(error) = request.respond(response) {
        log::debug!("admin server: could not answer a request: {error}");
    }
}

/// The parts of a request the router looks at.
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub peer: Option<SocketAddr>,
    pub host: Option<&'a str>,
}

/// A response before it is written.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The page may run its own inline script and fetch from this origin; nothing
/// else, and no other site may frame it.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

impl Reply {
    fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![
                ("Content-Type", content_type.to_string()),
                ("Cache-Control", "no-store".to_string()),
                ("X-Content-Type-Options", "nosniff".to_string()),
                ("Referrer-Policy", "no-referrer".to_string()),
            ],
            body: body.into(),
        }
    }

    fn json(status: u16, value: &Value) -> Reply {
        Reply::new(status, "application/json", value.to_string())
    }

    fn text(status: u16, message: &str) -> Reply {
        Reply::new(status, "text/plain; charset=utf-8", format!("{message}\n"))
    }
}

/// Which paths exist and who may see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Healthz,
    Readyz,
    Metrics,
    Page,
    Status,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        match path {
            "/healthz" => Some(Route::Healthz),
            "/readyz" => Some(Route::Readyz),
            "/metrics" => Some(Route::Metrics),
            "/" | "/ui" => Some(Route::Page),
            "/api/status" => Some(Route::Status),
            _ => None,
        }
    }

    /// The page and its API show more than health: loopback only by default.
    fn is_private(self) -> bool {
        matches!(self, Route::Page | Route::Status)
    }
}

fn route(probe: &Probe<'_>, context: &Context) -> Reply {
    if probe.url.len() > MAX_URL_BYTES {
        return Reply::text(414, "request target too long");
    }
    let path = probe.url.split(['?', '#']).next().unwrap_or("");
    let Some(route) = Route::of(path) else {
        return Reply::text(
            404,
            "not found: this admin server answers /ui, /api/status, /healthz, /readyz and /metrics",
        );
    };
    if probe.method != "GET" && probe.method != "HEAD" {
        let mut reply = Reply::text(405, "method not allowed: use GET");
        reply.headers.push(("Allow", "GET, HEAD".to_string()));
        return reply;
    }
    if route.is_private() && !context.allow_remote_ui {
        if !is_loopback_peer(probe.peer) {
            return Reply::text(
                403,
                "the status page answers loopback clients only: open it on the agent's host, or start the agent with --allow-remote-ui",
            );
        }
        if !is_local_host_header(probe.host) {
            // A loopback peer naming a foreign host is DNS rebinding: a web
            // page trying to read the status through the user's browser.
            return Reply::text(
                403,
                "the status page answers only to Host: localhost or a loopback address",
            );
        }
    }
    let channels = channel_statuses(context);
    let telemetry = &context.telemetry;
    match route {
        Route::Healthz => healthz(context, &health::liveness(&telemetry.health_snapshot())),
        Route::Readyz => readyz(&health::readiness(&telemetry.health_snapshot(), &channels)),
        Route::Metrics => {
            let readiness = health::readiness(&telemetry.health_snapshot(), &channels);
            let text = metrics::render(
                telemetry,
                &metrics::Extras {
                    ready: readiness.ready,
                    channels: &channels,
                },
            );
            Reply::new(200, prometheus::CONTENT_TYPE, text)
        }
        Route::Page => {
            let mut reply = Reply::new(200, "text/html; charset=utf-8", STATUS_PAGE);
            reply
                .headers
                .push(("Content-Security-Policy", PAGE_POLICY.to_string()));
            reply.headers.push(("X-Frame-Options", "DENY".to_string()));
            reply
        }
        Route::Status => Reply::json(200, &status_json(context, &channels)),
    }
}

/// The channels served now (Harpoon only while it has a target; its card says why not).
fn channel_statuses(context: &Context) -> Vec<(String, BackendStatus)> {
    context
        .channels
        .iter()
        .filter(|(_, backend)| backend.serves())
        .map(|(name, backend)| {
            let mut status = backend.status();
            status.detail = redact_urls(&status.detail);
            (name.clone(), status)
        })
        .collect()
}

fn healthz(context: &Context, live: &Liveness) -> Reply {
    let mut body = json!({
        "status": if live.healthy { "healthy" } else { "unhealthy" },
        "tunnel_id": context.tunnel_id,
        "connected": context.telemetry.connected(),
        "version": CLIENT_VERSION,
    });
    if !live.healthy {
        body["reason"] = json!(live.reasons.join("; "));
    }
    Reply::json(if live.healthy { 200 } else { 503 }, &body)
}

fn readyz(ready: &Readiness) -> Reply {
    let mut body = json!({
        "status": if ready.ready { "ready" } else { "not_ready" },
        "polling": ready.polling,
        "mcp_server_reachable": ready.mcp_server_reachable,
    });
    if !ready.ready {
        body["reason"] = json!(ready.reasons.join("; "));
        body["reasons"] = json!(ready.reasons);
    }
    Reply::json(if ready.ready { 200 } else { 503 }, &body)
}

fn percentiles_json(p: Option<Percentiles>) -> Value {
    match p {
        Some(p) => {
            json!({"count": p.count, "p50_ms": p.p50_ms, "p95_ms": p.p95_ms, "p99_ms": p.p99_ms})
        }
        None => Value::Null,
    }
}

/// The JSON behind the status page. Names, counts and durations only.
fn status_json(context: &Context, channels: &[(String, BackendStatus)]) -> Value {
    let t = &context.telemetry;
    let snapshot = t.health_snapshot();
    let ready = health::readiness(&snapshot, channels);
    let live = health::liveness(&snapshot);
    let success = t.count(Counter::RequestsSuccess);
    let error = t.count(Counter::RequestsError);
    let metadata = t.metadata().unwrap_or_default();
    let answered = success + error;
    let success_rate = (answered > 0).then(|| success as f64 / answered as f64);
    let timing = t.timing_split().map(|split| {
        json!({
            "queue_wait": percentiles_json(split.queue_wait),
            "mcp": percentiles_json(split.mcp),
            "post": percentiles_json(split.post),
        })
    });
    let activity: Vec<Value> = t
        .recent_activity()
        .into_iter()
        .map(|a| {
            json!({
                "at_unix_ms": a.at_unix_ms,
                "channel": a.channel,
                "method": a.method,
                "tool": a.tool,
                "outcome": a.outcome,
                "duration_ms": a.duration.as_secs_f64() * 1000.0,
            })
        })
        .collect();
    let errors: Vec<Value> = t
        .recent_errors()
        .into_iter()
        .map(|e| json!({"at_unix_ms": e.at_unix_ms, "message": e.message}))
        .collect();
    json!({
        "version": CLIENT_VERSION,
        "now_unix_ms": t.unix_ms_at(snapshot.now_ms),
        "started_unix_ms": t.started_unix_ms(),
        "tunnel": {
            "id": context.tunnel_id,
            "name": metadata.name,
            "description": metadata.description,
        },
        "connection": {
            "connected": t.connected(),
            "since_unix_ms": t.connected_since_unix_ms(),
            "last_poll_unix_ms": t.last_poll_unix_ms(),
        },
        "ready": {"ready": ready.ready, "polling": ready.polling,
                  "mcp_server_reachable": ready.mcp_server_reachable, "reasons": ready.reasons},
        "live": {"healthy": live.healthy, "reasons": live.reasons},
        "channels": channels.iter().map(|(name, s)| json!({
            "name": name, "kind": s.kind, "up": s.up, "detail": s.detail,
            "inflight": reading(t.channel_reading(name, ChannelCounter::ChannelInflight)),
            "requests": {
                "success": reading(t.channel_reading(name, ChannelCounter::ChannelRequestsSuccess)),
                "error": reading(t.channel_reading(name, ChannelCounter::ChannelRequestsError)),
            },
        })).collect::<Vec<_>>(),
        "oauth": oauth_json(&t.oauth_status()),
        "harpoon": harpoon_json(context),
        "mcp_probe": snapshot.mcp_probe.to_string(),
        "mcp_restarts": t.mcp_restarts(),
        "inflight": t.inflight(),
        "queue_depth": t.queue_depth(),
        "totals": {
            "success": success,
            "error": error,
            "answered": answered,
            "dropped": t.count(Counter::DroppedExpired)
                + t.count(Counter::DroppedUnknownType)
                + t.count(Counter::DroppedShutdown),
            "notifications": t.count(Counter::NotificationsPosted),
            "success_rate": success_rate,
        },
        "latency": {
            "window_seconds": RECENT_WINDOW.as_secs(),
            "total": percentiles_json(t.latency()),
            "timing": timing,
        },
        "errors": errors,
        "activity": activity,
    })
}

/// `main`'s OAuth discovery: phase, last outcome, and the origins the last
/// selection found (never paths, bodies or header values).
fn oauth_json(status: &OauthStatus) -> Value {
    let phase = match status.phase {
        OauthPhase::Off => "off",
        OauthPhase::Pending => "pending",
        OauthPhase::Settled => "ready",
        OauthPhase::Failed(_) => "failed",
    };
    let found = status.found.as_ref().map(|f| {
        json!({
            "metadata_origin": f.metadata_origin,
            "authorization_server": f.authorization_server,
            "authorization_server_metadata": f.authorization_server_metadata,
            "warnings": f.warnings,
        })
    });
    json!({"phase": phase, "last_outcome": status.last_outcome, "found": found})
}

/// Harpoon: whether the channel serves, its targets' counts and last status,
/// the last calls. Labels, tools, methods, statuses and sizes only: never a
/// URL, path, query, header value or body.
fn harpoon_json(context: &Context) -> Value {
    let stats = context.telemetry.harpoon();
    let backend = context
        .channels
        .iter()
        .find(|(name, _)| name == crate::config::HARPOON_CHANNEL);
    let state = match backend {
        None => "off",
        Some((_, b)) if b.serves() => "serving",
        Some(_) => "no targets",
    };
    let targets: Vec<Value> = stats
        .summaries()
        .into_iter()
        .map(|t| {
            json!({
                "label": t.label,
                "source": t.source,
                "current": t.current,
                "calls": t.calls,
                "successes": t.successes,
                "last_status": t.last_status,
                "last_call_unix_ms": t.last_call_unix_ms,
            })
        })
        .collect();
    let recent: Vec<Value> = stats
        .recent()
        .into_iter()
        .map(|c| {
            json!({
                "at_unix_ms": c.at_unix_ms,
                "target": c.target,
                "tool": c.tool,
                "method": c.method,
                "status": c.status,
                "outcome": c.outcome,
                "duration_ms": c.duration.as_secs_f64() * 1000.0,
                "bytes": c.bytes,
            })
        })
        .collect();
    json!({
        "channel": state,
        "target_count": stats.target_count(),
        "targets": targets,
        "recent": recent,
    })
}

/// A counter table reading as a JSON number.
fn reading(r: Reading) -> Value {
    match r {
        Reading::Count(n) => json!(n),
        Reading::Level(n) => json!(n),
    }
}

/// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
pub fn is_loopback_peer(peer: Option<SocketAddr>) -> bool {
    match peer.map(|p| p.ip()) {
        Some(IpAddr::V4(ip)) => ip.is_loopback(),
        Some(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// True when `Host` names this machine by a loopback name or address (or is
/// absent, as in HTTP/1.0).
pub fn is_local_host_header(host: Option<&str>) -> bool {
    let Some(host) = host.map(str::trim) else {
        return true;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<IpAddr>().is_ok_and(|ip| match ip {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => ip.is_loopback(),
    })
}

/// Writes `url` to `path` atomically, mode 0600 (it tells where the admin server is).
fn write_url_file(path: &Path, url: &str) -> io::Result<()> {
    crate::atomic_file::write(path, format!("{url}\n").as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn loopback_peers() {
        assert!(is_loopback_peer(addr("127.0.0.1:5")));
        assert!(is_loopback_peer(addr("127.8.9.10:5")));
        assert!(is_loopback_peer(addr("[::1]:5")));
        assert!(is_loopback_peer(addr("[::ffff:127.0.0.1]:5")));
        assert!(!is_loopback_peer(addr("10.0.0.2:5")));
        assert!(!is_loopback_peer(addr("[::ffff:10.0.0.2]:5")));
        assert!(!is_loopback_peer(addr("[fe80::1]:5")));
        assert!(!is_loopback_peer(None));
    }

    #[test]
    fn host_headers() {
        for ok in [
            None,
            Some("localhost"),
            Some("LOCALHOST:8090"),
            Some("127.0.0.1:1"),
            Some("[::1]:8090"),
            Some("[::1]"),
        ] {
            assert!(is_local_host_header(ok), "{ok:?}");
        }
        for bad in [
            Some("evil.example:8090"),
            Some("10.0.0.1"),
            Some("[fe80::1]:1"),
            Some(""),
        ] {
            assert!(!is_local_host_header(bad), "{bad:?}");
        }
    }

    fn context(allow_remote_ui: bool) -> Context {
        Context {
            tunnel_id: "tunnel_x".into(),
            telemetry: Arc::new(Telemetry::new()),
            channels: Vec::new(),
            allow_remote_ui,
        }
    }

    fn status(context: &Context, method: &str, url: &str, peer: &str, host: Option<&str>) -> u16 {
        let probe = Probe {
            method,
            url,
            peer: addr(peer),
            host,
        };
        route(&probe, context).status
    }

    #[test]
    fn access_rules() {
        let local = context(false);
        let open = context(true);
        let far = "192.0.2.7:40000";
        let near = "127.0.0.1:40000";
        for path in ["/healthz", "/readyz", "/metrics"] {
            assert_ne!(
                status(&local, "GET", path, far, Some("agent.example")),
                403,
                "{path}"
            );
        }
        for path in ["/", "/ui", "/api/status", "/ui?x=1"] {
            assert_eq!(status(&local, "GET", path, far, None), 403, "{path}");
            assert_eq!(
                status(&local, "GET", path, near, Some("evil.example")),
                403,
                "{path}"
            );
            assert_eq!(
                status(&local, "GET", path, near, Some("127.0.0.1:8090")),
                200,
                "{path}"
            );
            assert_eq!(
                status(&open, "GET", path, far, Some("agent.example")),
                200,
                "{path}"
            );
        }
        assert_eq!(status(&local, "GET", "/nope", near, None), 404);
        assert_eq!(status(&local, "POST", "/nope", near, None), 404);
        assert_eq!(status(&local, "POST", "/metrics", near, None), 405);
        assert_eq!(status(&local, "HEAD", "/metrics", near, None), 200);
        let long = format!("/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(status(&local, "GET", &long, near, None), 414);
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = AdminError::InUse {
            address: "127.0.0.1:8090".into(),
        };
        assert_eq!(
            e.to_string(),
            "admin address 127.0.0.1:8090 is in use: pass --admin-address with another address or port (port 0 picks a free one), or --admin-address off"
        );
    }
}
