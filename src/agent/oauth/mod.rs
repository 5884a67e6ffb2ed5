//! `oauth_discovery`: `main`'s OAuth protected-resource metadata, fetched for a command, at
//! startup (readiness, retried until it heals) and for doctor. Never sends operator credentials off `main`'s origin.
//!
//! Data flow: [`algorithm::discover`] (probe → candidates → judge, over
//! [`fetch::Clients`]) gives an [`Outcome`]; [`answer`] turns it into the
//! command's reply; after each selection [`metadata::lookup`] reads the
//! authorization server's metadata for the status page and the [`DiscoveredHook`].

pub(crate) mod algorithm;
mod challenge;
pub(crate) mod fetch;
pub(crate) mod metadata;

pub use algorithm::{discover, Outcome, Selected};
pub use fetch::{Clients, OriginHeaders};

use super::stop::Stopper;
use crate::config::{Config, McpBinding, McpTarget};
use crate::contract::{Command, Headers, MAIN_CHANNEL};
use crate::mcp::harpoon::url::{Scheme, Url};
use crate::mcp::harpoon::Discovered;
use crate::net::{NetConfig, NetError};
use crate::telemetry::{CommandOutcome, OauthPhase, Telemetry};
use crossbeam_channel::{bounded, Receiver, Sender};
use serde_json::{json, Value};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Budget of the startup discovery and of each retry.
pub const STARTUP_BUDGET: Duration = Duration::from_secs(5);
/// Pause between retries of a failed startup discovery.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(60);
/// Selections waiting for their authorization-server lookup; more are dropped
/// (a later selection brings the same metadata again).
const FOLLOWUP_QUEUE: usize = 4;

/// Why discovery failed, as the `CLASS` of the 502 body and the readiness reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Timeout,
    Connect,
    Tls,
    RedirectBlocked,
    BodyTooLarge,
    InvalidMetadata,
    HttpStatus,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Timeout => "timeout",
            Class::Connect => "connect",
            Class::Tls => "tls",
            Class::RedirectBlocked => "redirect_blocked",
            Class::BodyTooLarge => "body_too_large",
            Class::InvalidMetadata => "invalid_metadata",
            Class::HttpStatus => "http_status",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Called with what each selection found (after its authorization-server
/// lookup), e.g. to replace Harpoon's OAuth-discovered targets.
pub type DiscoveredHook = Arc<dyn Fn(&Discovered) + Send + Sync>;

/// Blocks until the startup wait (if any) has settled; false when the agent
/// is stopping instead. Discovery starts only after it returns true.
pub type StartupGate = Box<dyn FnOnce(&Stopper) -> bool + Send>;

/// `main` as `oauth_discovery` sees it.
#[derive(Clone)]
pub enum MainBinding {
    /// An enabled HTTP binding: discovery runs.
    Http(Arc<Discovery>),
    /// A stdio program: metadata is never advertised.
    Stdio,
    /// Not served here: the command is for an unsupported channel.
    Disabled,
}

/// Discovery for `main`'s HTTP binding, shared by the workers (commands), the
/// `oauth` thread (startup, retries, authorization-server lookups) and doctor.
pub struct Discovery {
    main_url: String,
    main_scheme: Scheme,
    clients: Clients,
    telemetry: Arc<Telemetry>,
    hook: Option<DiscoveredHook>,
    followups: Sender<Selected>,
    pending_followups: Receiver<Selected>,
}

impl fmt::Debug for Discovery {
    // By hand: the clients carry header values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discovery").finish_non_exhaustive()
    }
}

/// A command's terminal answer, before it is posted.
pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub headers: Headers,
    pub outcome: CommandOutcome,
    /// Work for after the POST (the authorization-server lookup of a selection).
    pub after_post: Option<Box<dyn FnOnce() + Send>>,
}

impl Discovery {
    /// Discovery for the configured `main`, when it is an HTTP server: its URL,
    /// its trust and client certificate, and its MCP headers with the
    /// discovery set on top (sent to `main`'s origin only). `None` for a
    /// stdio `main` or none at all.
    pub fn for_main(
        config: &Config,
        telemetry: Arc<Telemetry>,
    ) -> Option<Result<Discovery, NetError>> {
        let Some(McpBinding {
            target: McpTarget::Http { url },
            ..
        }) = config.main()
        else {
            return None;
        };
        let headers = config
            .discovery_headers()
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), crate::secret::Secret::new(value)))
            .collect();
        Some(Discovery::new(url, &config.net, headers, telemetry))
    }

    /// `main_url` is `main`'s MCP URL; `headers` (the MCP set with the discovery
    /// set over it) and the MCP client certificate go to its origin only.
    pub fn new(
        main_url: &str,
        net: &NetConfig,
        headers: OriginHeaders,
        telemetry: Arc<Telemetry>,
    ) -> Result<Discovery, NetError> {
        let (followups, pending_followups) = bounded(FOLLOWUP_QUEUE);
        let main_scheme = match Url::parse(main_url.trim()) {
            Ok(url) => url.scheme,
            Err(_) => Scheme::Https,
        };
        Ok(Discovery {
            main_url: main_url.trim().to_string(),
            main_scheme,
            clients: Clients::new(main_url, net, headers)?,
            telemetry,
            hook: None,
            followups,
            pending_followups,
        })
    }

    /// Calls `hook` with what each selection found.
    pub fn with_hook(mut self, hook: DiscoveredHook) -> Discovery {
        self.hook = Some(hook);
        self
    }

    /// One discovery within `deadline`.
    pub fn discover(&self, deadline: Instant) -> Outcome {
        discover(&self.clients, &self.main_url, deadline)
    }

    /// The authorization-server lookup of `selected`: recorded for the status
    /// page, logged as warnings, handed to the hook. Takes up to 20 s.
    pub fn follow_up(&self, selected: &Selected) -> metadata::Report {
        let report = metadata::lookup(&self.clients, selected, self.main_scheme);
        for warning in &report.found.warnings {
            log::warn!("oauth discovery: {warning}");
        }
        self.telemetry.set_oauth_found(report.found.clone());
        if let Some(hook) = &self.hook {
            hook(&report.discovered);
        }
        report
    }

    /// Serves one `oauth_discovery` command on `main`: `None` when its
    /// deadline passed first (nothing is posted).
    fn answer(&self, request_id: &str, deadline: Instant) -> Option<Reply> {
        let outcome = self.discover(deadline);
        if crate::mcp::remaining(deadline).is_none() {
            log::info!("oauth discovery {request_id} passed its deadline; nothing posted");
            return None;
        }
        match outcome {
            Outcome::Expired => {
                log::info!("oauth discovery {request_id} passed its deadline; nothing posted");
                None
            }
            Outcome::Selected(selected) => {
                log::info!(
                    "oauth discovery {request_id}: metadata from {}",
                    fetch::shown(&selected.source)
                );
                self.telemetry.oauth_command_finished(Ok("selected"));
                let json = Value::Object(selected.metadata.clone());
                let headers = selected.headers.clone();
                let followups = self.followups.clone();
                Some(Reply {
                    status: 200,
                    json,
                    headers,
                    outcome: CommandOutcome::Success,
                    after_post: Some(Box::new(move || {
                        // The `oauth` thread does the lookup; a full queue
                        // already holds selections just as fresh.
                        let _ = followups.try_send(selected);
                    })),
                })
            }
            Outcome::NotAdvertised => {
                log::info!("oauth discovery {request_id}: not advertised");
                self.telemetry.oauth_command_finished(Ok("not advertised"));
                Some(not_advertised())
            }
            Outcome::Failed(class) => {
                report!(
                    self.telemetry, request_id = request_id;
                    "oauth discovery {request_id} failed: {class}"
                );
                self.telemetry.oauth_command_finished(Err(class.as_str()));
                Some(failed(class))
            }
        }
    }
}

/// Answers an `oauth_discovery` command: only `main`, only an enabled HTTP
/// binding; a stdio `main` advertises nothing; anything else is an
/// unsupported channel. `None` means post nothing (the deadline passed).
pub fn answer(command: &Command, main: &MainBinding, deadline: Instant) -> Option<Reply> {
    if command.channel != MAIN_CHANNEL {
        return Some(unsupported_channel(&command.channel));
    }
    match main {
        MainBinding::Http(discovery) => discovery.answer(&command.request_id, deadline),
        MainBinding::Stdio => Some(not_advertised()),
        MainBinding::Disabled => Some(unsupported_channel(&command.channel)),
    }
}

fn error_reply(
    status: u16,
    message: &str,
    kind: &str,
    code: &str,
    outcome: CommandOutcome,
) -> Reply {
    Reply {
        status,
        json: json!({"error": {"message": message, "type": kind, "code": code}}),
        headers: Headers::new(),
        outcome,
        after_post: None,
    }
}

/// 404: no protected-resource metadata is advertised.
fn not_advertised() -> Reply {
    error_reply(
        404,
        "the MCP server does not advertise OAuth protected resource metadata",
        "invalid_request_error",
        "oauth_metadata_not_found",
        CommandOutcome::RpcError,
    )
}

/// 502 naming only the class: no URL, body or upstream text.
fn failed(class: Class) -> Reply {
    error_reply(
        502,
        &format!("OAuth discovery failed: {class}"),
        "server_error",
        "oauth_discovery_failed",
        CommandOutcome::RpcError,
    )
}

/// 400 for a channel without an enabled binding (never `main`'s answer).
fn unsupported_channel(channel: &str) -> Reply {
    error_reply(
        400,
        &format!("unsupported channel \"{channel}\""),
        "invalid_request_error",
        "unsupported_channel",
        CommandOutcome::Synthesized,
    )
}

/// Starts the `oauth` thread: after `gate` opens, the startup discovery
/// (within [`STARTUP_BUDGET`]) sets readiness; a failure is retried every
/// `retry_every` until a discovery succeeds or a command's success clears it;
/// selections of commands get their authorization-server lookup here.
/// Readiness says "pending" from this call until the first discovery ends.
pub fn spawn(
    discovery: Arc<Discovery>,
    gate: StartupGate,
    retry_every: Duration,
    stopper: Stopper,
) -> std::io::Result<()> {
    discovery.telemetry.oauth_pending();
    std::thread::Builder::new()
        .name("oauth".into())
        .spawn(move || {
            if gate(&stopper) {
                run(&discovery, retry_every, &stopper);
            }
        })
        .map(|_| ())
}

fn run(discovery: &Discovery, retry_every: Duration, stopper: &Stopper) {
    let mut retry_at = startup_discovery(discovery, "startup", retry_every);
    loop {
        let timer = retry_at.map_or_else(crossbeam_channel::never, crossbeam_channel::at);
        crossbeam_channel::select! {
            recv(discovery.pending_followups) -> selected => {
                if let Ok(selected) = selected {
                    discovery.follow_up(&selected);
                }
            }
            recv(stopper.signal()) -> _ => return,
            recv(timer) -> _ => {
                retry_at = match discovery.telemetry.oauth_status().phase {
                    OauthPhase::Failed(_) => startup_discovery(discovery, "retry", retry_every),
                    // A command's success healed it meanwhile.
                    _ => None,
                };
            }
        }
        if stopper.is_stopped() {
            return;
        }
    }
}

/// One startup or retry discovery, recorded for readiness; when it failed,
/// the instant of the next retry.
fn startup_discovery(discovery: &Discovery, what: &str, retry_every: Duration) -> Option<Instant> {
    let telemetry = &discovery.telemetry;
    let class = match discovery.discover(Instant::now() + STARTUP_BUDGET) {
        Outcome::Selected(selected) => {
            log::info!(
                "oauth discovery ({what}): metadata from {}",
                fetch::shown(&selected.source)
            );
            telemetry.oauth_discovered(Ok("selected"));
            discovery.follow_up(&selected);
            return None;
        }
        Outcome::NotAdvertised => {
            log::info!("oauth discovery ({what}): the MCP server advertises no OAuth metadata");
            telemetry.oauth_discovered(Ok("not advertised"));
            return None;
        }
        Outcome::Failed(class) => class,
        Outcome::Expired => Class::Timeout,
    };
    report!(
        telemetry,
        "oauth discovery ({what}) failed: {class}; trying again in {} s",
        retry_every.as_secs()
    );
    telemetry.oauth_discovered(Err(class.as_str()));
    Some(Instant::now() + retry_every)
}
