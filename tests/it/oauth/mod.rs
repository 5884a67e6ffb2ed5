//! `oauth_discovery` (OAUTH.md O1–O16): the algorithm against real servers on 127.0.0.1, the
//! command through the built agent and a scripted control plane, readiness, doctor. Shared helpers below.

mod algorithm;
mod command;
mod doctor;
mod readiness;
mod security;

use crate::support::harpoon_upstream::{respond, Action, Handler, Received, Upstream};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What a route answers; may look at the request and count calls.
pub type Route = Arc<dyn Fn(&Received) -> Action + Send + Sync>;

/// A scripted origin: answers per `METHOD path`, 404 for anything else, and
/// keeps every request. Routes can change while a test runs.
pub struct Site {
    pub upstream: Upstream,
    routes: Arc<Mutex<Vec<(String, Route)>>>,
    scheme: &'static str,
}

impl Site {
    pub fn http() -> Site {
        Self::start(|handler| Upstream::http(handler), "http")
    }

    /// HTTPS with the test server certificate (asks for, never needs, a client certificate).
    pub fn https() -> Site {
        Self::start(
            |handler| {
                Upstream::https_with(
                    handler,
                    crate::support::harpoon_upstream::server_tls_with("server.pem", "server.key"),
                )
            },
            "https",
        )
    }

    fn start(upstream: impl FnOnce(Handler) -> Upstream, scheme: &'static str) -> Site {
        let routes: Arc<Mutex<Vec<(String, Route)>>> = Arc::default();
        let handler: Handler = {
            let routes = Arc::clone(&routes);
            Arc::new(move |r: &Received| {
                let key = route_key(r);
                let route = routes
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, route)| Arc::clone(route));
                match route {
                    Some(route) => route(r),
                    None => Action::Send(respond(404, &[], b"not here")),
                }
            })
        };
        Site {
            upstream: upstream(handler),
            routes,
            scheme,
        }
    }

    /// Sets (or replaces) the answer to `METHOD path`.
    pub fn on(
        &self,
        method: &str,
        path: &str,
        route: impl Fn(&Received) -> Action + Send + Sync + 'static,
    ) {
        let key = format!("{method} {path}");
        let mut routes = self.routes.lock().unwrap();
        routes.retain(|(k, _)| *k != key);
        routes.push((key, Arc::new(route)));
    }

    /// `scheme://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.upstream.port())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// `METHOD path` of every request so far, in order.
    pub fn seen(&self) -> Vec<String> {
        self.upstream.requests().iter().map(route_key).collect()
    }

    pub fn requests(&self) -> Vec<Received> {
        self.upstream.requests()
    }
}

fn route_key(r: &Received) -> String {
    let mut parts = r.request_line().split(' ');
    format!(
        "{} {}",
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default()
    )
}

/// The well-known path of `/mcp`'s metadata.
pub const PRMD_MCP: &str = "/.well-known/oauth-protected-resource/mcp";
/// The root well-known path.
pub const PRMD_ROOT: &str = "/.well-known/oauth-protected-resource";

/// `200` with `body` as JSON and `headers`.
pub fn json_ok(body: &Value, headers: &[(&str, &str)]) -> Action {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    Action::Send(respond(200, &all, body.to_string().as_bytes()))
}

pub fn status(code: u16) -> Action {
    Action::Send(respond(code, &[], b""))
}

pub fn raw(code: u16, headers: &[(&str, &str)], body: &[u8]) -> Action {
    Action::Send(respond(code, headers, body))
}

/// A `401` whose `WWW-Authenticate` is `challenge`.
pub fn unauthorized(challenge: &str) -> Action {
    Action::Send(respond(401, &[("WWW-Authenticate", challenge)], b""))
}

/// A route that answers `first` to its first `n` calls and `then` afterwards.
pub fn first_n(
    n: usize,
    first: impl Fn() -> Action + Send + Sync + 'static,
    then: impl Fn() -> Action + Send + Sync + 'static,
) -> impl Fn(&Received) -> Action + Send + Sync + 'static {
    let calls = AtomicUsize::new(0);
    move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) < n {
            first()
        } else {
            then()
        }
    }
}

/// A valid metadata document for `resource` naming `servers`.
pub fn prmd(resource: &str, servers: &[&str]) -> Value {
    serde_json::json!({
        "resource": resource,
        "authorization_servers": servers,
        "scopes_supported": ["mcp:read", "mcp:write"],
        "bearer_methods_supported": ["header"],
        "x_vendor": {"nested": [1, 2, {"k": null}]},
    })
}
