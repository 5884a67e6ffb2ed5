//! The daemon, wired in data-flow order: poll → dispatch → forward (mcp/) →
//! respond. `run` owns startup and the shutdown order; nothing else exits.

/// Logs a warning and keeps it in the status page's "last errors" list.
/// Messages name request ids and causes, never payloads or secrets.
macro_rules! report {
    ($telemetry:expr, request_id = $id:expr; $($arg:tt)+) => {{
        let message = format!($($arg)+);
        log::warn!(request_id:% = $id; "{message}");
        $telemetry.record_error(&message);
    }};
    ($telemetry:expr, $($arg:tt)+) => {{
        let message = format!($($arg)+);
        log::warn!("{message}");
        $telemetry.record_error(&message);
    }};
}

pub(crate) mod control;
pub(crate) mod dispatch;
mod error;
pub(crate) mod harpoon;
pub mod oauth;
pub(crate) mod pidfile;
pub(crate) mod poll;
pub(crate) mod respond;
pub(crate) mod service;
pub(crate) mod startup;
pub mod stop;

use crate::admin::server::AdminServer;
use crate::config::{Config, McpBinding, McpTarget, StdioConfig, HARPOON_CHANNEL};
use crate::contract::{ChannelDecl, ServerInfo, MAIN_CHANNEL};
use crate::mcp::harpoon::Harpoon;
use crate::mcp::Backend;
use crate::net::{self, Hop};
use crate::telemetry::{Telemetry, WatchdogLimits};
use control::{ControlPlane, ControlSettings};
use dispatch::{Channels, DispatchSettings, Pool};
use log::{error, info, warn};
use poll::PollSettings;
use respond::Responder;
use service::ServiceLink;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stop::Stopper;

pub use error::{AgentError, StartupError};

/// Longest wait for a stdio child to stop after the grace period.
const BACKEND_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait at exit for what the MCP servers left behind to die.
const ORPHAN_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the agent until SIGTERM/SIGINT (Ok: exit 0) or a fatal error. The
/// caller must have blocked the termination signals before any thread started.
pub fn run(config: Config) -> Result<(), AgentError> {
    // First, so that a second agent on the same pid file starts nothing.
    // Dropped (the file removed) when `run` returns, however it returns.
    let _pid_file = match &config.pid_file {
        Some(path) => Some(pidfile::PidFile::claim(path).map_err(AgentError::PidFile)?),
        None => None,
    };
    // A stdio server's descendant that leaves its process group (setsid) and
    // outlives it is re-parented to us, and so can still be ended with it.
    if let Err(e) = crate::mcp::stdio::lineage::become_subreaper() {
        warn!("cannot become the child subreaper ({e}): a stdio server's daemonized descendants may outlive it");
    }
    let telemetry = Arc::new(Telemetry::new());
    if config.unserved_harpoon_targets > 0 {
        warn!(
            "harpoon: the profile lists {} target(s) but \"enabled\" is not true; they are not served",
            config.unserved_harpoon_targets
        );
    }
    for channel in &config.disabled_channels {
        info!(
            "channel {channel} is configured but not in --poll-channel: not started, not declared"
        );
    }
    // Started by a service manager (systemd Type=notify): READY, WATCHDOG, STOPPING.
    let link = ServiceLink::from_env(&telemetry);
    let backends = build_channels(&config, &telemetry)?;
    let channels = backends.channels.clone();
    let stopper = Stopper::new();
    let result = spawn_signal_watcher(stopper.clone())
        .and_then(|()| serve_with(&config, backends, telemetry, &stopper, link));
    if result.is_err() {
        // A startup failure after a child started must not leave it behind.
        for (_, backend) in &channels {
            backend.shutdown(BACKEND_STOP_TIMEOUT);
        }
        crate::mcp::stdio::lineage::end_all_orphans(ORPHAN_STOP_TIMEOUT);
    }
    result
}

/// The enabled channels' backends in the order the control plane is told
/// about them, and Harpoon's own handle (also among them) for the hook that
/// gives it OAuth-discovered targets.
pub struct Backends {
    pub channels: Channels,
    pub harpoon: Option<Arc<Harpoon>>,
}

impl From<Channels> for Backends {
    fn from(channels: Channels) -> Backends {
        Backends {
            channels,
            harpoon: None,
        }
    }
}

/// The enabled channels' backends: HTTP bindings, then stdio ones (each as
/// configured), then `harpoon` when it serves. A stdio child that crash-loops
/// restarts on its own supervisor thread and never holds up another channel's start.
pub fn build_channels(config: &Config, telemetry: &Arc<Telemetry>) -> Result<Backends, AgentError> {
    let mut channels: Channels = Vec::with_capacity(config.bindings.len() + 1);
    for binding in &config.bindings {
        match build_backend(binding, config, Arc::clone(telemetry)) {
            Ok(backend) => channels.push((binding.channel.clone(), backend)),
            Err(e) => {
                for (_, started) in &channels {
                    started.shutdown(BACKEND_STOP_TIMEOUT);
                }
                return Err(e);
            }
        }
    }
    // In-process and last; declared only while it has a target.
    let harpoon = match (&config.harpoon, config.serves_harpoon()) {
        (Some(settings), true) => {
            let harpoon = harpoon::build(settings, telemetry);
            let backend: Arc<dyn Backend> = harpoon.clone();
            channels.push((HARPOON_CHANNEL.to_string(), backend));
            Some(harpoon)
        }
        _ => None,
    };
    Ok(Backends { channels, harpoon })
}

/// The `X-Tunnel-MCP-Server-Info` declaration now: one entry per channel, in
/// order, leaving out a backend that has nothing to serve at the moment
/// (Harpoon before it has a target). Asked again on every control-plane request.
fn server_info(channels: &Channels) -> ServerInfo {
    ServerInfo {
        version: 1,
        channels: channels
            .iter()
            .filter(|(_, b)| b.serves())
            .map(|(name, b)| ChannelDecl {
                name: name.clone(),
                proc_affinity: b.proc_affinity(),
            })
            .collect(),
    }
}

/// Serves `channels` until `stopper` fires, then drains in the contract's
/// order: stop polling, finish in-flight commands within the grace, stop the
/// MCP servers. `run` is this plus signals; embedders and tests call it directly.
pub fn serve(
    config: &Config,
    backends: Backends,
    telemetry: Arc<Telemetry>,
    stopper: &Stopper,
) -> Result<(), AgentError> {
    serve_with(config, backends, telemetry, stopper, None)
}

/// [`serve`], telling the service manager through `link` (if any) when the
/// first poll succeeded and when draining starts; `link` pings the watchdog
/// meanwhile.
fn serve_with(
    config: &Config,
    backends: Backends,
    telemetry: Arc<Telemetry>,
    stopper: &Stopper,
    link: Option<ServiceLink>,
) -> Result<(), AgentError> {
    let Backends { channels, harpoon } = backends;
    let declared = channels.clone();
    let declaration: control::Declaration = Arc::new(move || server_info(&declared).header_value());
    let agent = || {
        net::build_agent(Hop::ControlPlane, &config.control_plane_url, &config.net)
            .map_err(StartupError::ControlPlaneClient)
    };
    let control = Arc::new(ControlPlane::new(
        agent()?,
        agent()?,
        &ControlSettings {
            base_url: &config.control_plane_url,
            tunnel_id: &config.tunnel_id,
            api_key: &config.api_key,
            organization_id: config.organization_id.as_deref(),
            extra_headers: &config.control_plane_headers,
            poll_channels: config.poll_channels.as_deref(),
            declaration,
            net: &config.net,
        },
    ));
    telemetry.set_watchdog(WatchdogLimits::for_agent(
        config.poll_timeout,
        config.request_timeout,
    ));
    telemetry.set_request_timing(config.enable_request_timing);
    let names: Vec<String> = channels.iter().map(|(name, _)| name.clone()).collect();
    telemetry.set_channels(&names);
    let mut admin = AdminServer::start(
        &config.admin,
        &config.tunnel_id,
        Arc::clone(&telemetry),
        channels.clone(),
    )
    .map_err(StartupError::Admin)?;
    spawn_metadata_fetch(
        Arc::clone(&control),
        Arc::clone(&telemetry),
        stopper.clone(),
    )?;
    let main = channels
        .iter()
        .find(|(name, _)| name == MAIN_CHANNEL)
        .map(|(_, b)| Arc::clone(b));
    // OAuth startup discovery waits on this gate too (no discovery before the wait is over).
    let gate = startup::begin(
        main,
        config.mcp_startup_wait,
        Arc::clone(&telemetry),
        stopper.clone(),
    )?;

    let oauth = start_oauth_discovery(config, &channels, harpoon, &telemetry, &gate, stopper)?;

    let backends: Vec<Arc<dyn Backend>> = channels.iter().map(|(_, b)| Arc::clone(b)).collect();
    let kinds: Vec<String> = channels
        .iter()
        .map(|(name, b)| format!("{name}={}", b.status().kind))
        .collect();
    let responder = Responder::new(Arc::clone(&control), Arc::clone(&telemetry));
    let pool = Pool::start(
        config.max_concurrency,
        channels,
        responder,
        Arc::clone(&telemetry),
        DispatchSettings {
            request_timeout: config.request_timeout,
            oauth,
        },
    )
    .map_err(StartupError::thread("worker threads"))?;

    info!(
        "tunnel-client {} serving tunnel {} (instance {}, {} workers per channel, channels {})",
        crate::contract::CLIENT_VERSION,
        config.tunnel_id,
        control.instance_id(),
        config.max_concurrency,
        kinds.join(", ")
    );
    let settings = PollSettings {
        timeout: config.poll_timeout,
        interval: config.poll_interval,
    };
    let poller = {
        let control = Arc::clone(&control);
        let telemetry = Arc::clone(&telemetry);
        let stopper = stopper.clone();
        std::thread::Builder::new()
            .name("poll".into())
            .spawn(move || {
                // No poll before the startup wait is over: no command is held.
                // The loop still reports that it is alive while it waits.
                let open = loop {
                    telemetry.poll_heartbeat();
                    if let Some(open) = gate.wait_up_to(&stopper, dispatch::HEARTBEAT_INTERVAL) {
                        break open;
                    }
                };
                if open {
                    poll::poll_loop(&control, &pool, &telemetry, settings, &stopper);
                }
                // The loop ends only when stopping: hand the pool back to drain.
                stopper.stop();
                pool
            })
            .map_err(StartupError::thread("the poll thread"))?
    };

    stopper.wait();
    telemetry.set_draining();
    if let Some(link) = &link {
        link.stopping();
    }
    info!(
        "stopping: no new commands; finishing those in flight (grace {} s)",
        config.shutdown_grace.as_secs()
    );
    control.stop_polling();
    let now = Instant::now();
    let grace_deadline = now.checked_add(config.shutdown_grace).unwrap_or(now);
    let pool = poller.join().map_err(|_| AgentError::PollThreadFailed)?;
    let unfinished = pool.drain(grace_deadline);
    if unfinished > 0 {
        warn!("{unfinished} command(s) still unfinished after the shutdown grace; exiting anyway");
    }
    // Stopping a backend never sends a DELETE: MCP sessions end only when a
    // caller asks (session_termination).
    for backend in backends {
        backend.shutdown(BACKEND_STOP_TIMEOUT);
    }
    let orphans = crate::mcp::stdio::lineage::end_all_orphans(ORPHAN_STOP_TIMEOUT);
    if orphans > 0 {
        warn!("ended {orphans} process(es) the MCP server left behind");
    }
    if let Some(admin) = admin.as_mut() {
        admin.shutdown();
    }
    if let Some(link) = link {
        link.finish();
    }
    info!("stopped");
    Ok(())
}

fn spawn_signal_watcher(stopper: Stopper) -> Result<(), AgentError> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || match crate::sys::wait_for_termination() {
            Ok(signal) => {
                info!("received {signal:?}");
                stopper.stop();
            }
            Err(e) => error!("cannot wait for signals: {e}"),
        })
        .map(|_| ())
        .map_err(|e| StartupError::thread("the signal thread")(e).into())
}

/// How `oauth_discovery` sees `main`, and for an enabled HTTP `main` the
/// discovery thread: startup discovery once the startup wait is over, then
/// retries until it heals and the authorization-server lookups.
fn start_oauth_discovery(
    config: &Config,
    channels: &Channels,
    harpoon: Option<Arc<Harpoon>>,
    telemetry: &Arc<Telemetry>,
    gate: &startup::StartupGate,
    stopper: &Stopper,
) -> Result<oauth::MainBinding, AgentError> {
    if !channels.iter().any(|(name, _)| name == MAIN_CHANNEL) {
        return Ok(oauth::MainBinding::Disabled);
    }
    let discovery = match oauth::Discovery::for_main(config, Arc::clone(telemetry)) {
        None => return Ok(oauth::MainBinding::Stdio),
        Some(discovery) => discovery.map_err(StartupError::McpClient)?,
    };
    // Each discovery's private endpoints become Harpoon's `oauth` targets.
    let discovery = match (harpoon, &config.harpoon) {
        (Some(harpoon), Some(settings)) => discovery.with_hook(harpoon::oauth_hook(
            harpoon,
            settings.hosts.clone(),
            Arc::clone(telemetry),
        )),
        _ => discovery,
    };
    let discovery = Arc::new(discovery);
    let gate = gate.clone();
    oauth::spawn(
        Arc::clone(&discovery),
        Box::new(move |stopper: &Stopper| gate.wait(stopper)),
        oauth::RETRY_INTERVAL,
        stopper.clone(),
    )
    .map_err(StartupError::thread("the oauth thread"))?;
    Ok(oauth::MainBinding::Http(discovery))
}

/// Fetches the tunnel's name for the status page; failures only cost the name.
fn spawn_metadata_fetch(
    control: Arc<ControlPlane>,
    telemetry: Arc<Telemetry>,
    stopper: Stopper,
) -> Result<(), AgentError> {
    const ATTEMPTS: u32 = 5;
    std::thread::Builder::new()
        .name("metadata".into())
        .spawn(move || {
            let mut backoff =
                crate::backoff::Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
            for attempt in 1..=ATTEMPTS {
                match control.metadata() {
                    Ok(metadata) => {
                        telemetry.set_metadata(metadata);
                        return;
                    }
                    Err(e) if attempt == ATTEMPTS => warn!("tunnel metadata unavailable: {e}"),
                    Err(_) => {
                        if stopper.sleep(backoff.next_delay()) {
                            return;
                        }
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(|e| StartupError::thread("a thread")(e).into())
}

/// Builds one channel's MCP backend (stdio child or HTTP forwarder) from
/// its binding. Used by `run` and by `doctor`'s MCP check.
pub fn build_backend(
    binding: &McpBinding,
    config: &Config,
    telemetry: Arc<Telemetry>,
) -> Result<Arc<dyn Backend>, AgentError> {
    match &binding.target {
        McpTarget::Stdio { argv } => {
            let cfg = StdioConfig {
                extra_env: binding.env.clone(),
                ..config.stdio.clone()
            };
            let label = if binding.channel == MAIN_CHANNEL {
                "stdio MCP server".to_string()
            } else {
                format!("stdio MCP server of channel {}", binding.channel)
            };
            let backend =
                crate::mcp::stdio::StdioBackend::start_named(argv, &cfg, telemetry, label)
                    .map_err(StartupError::Stdio)?;
            Ok(Arc::new(backend))
        }
        McpTarget::Http { url } => {
            let agent =
                net::build_agent(Hop::Mcp, url, &config.net).map_err(StartupError::McpClient)?;
            let mut backend = crate::mcp::http::HttpBackend::new(url, agent)
                .and_then(|b| b.with_headers(&binding.headers))
                .map_err(StartupError::McpUrl)?;
            if binding.channel == MAIN_CHANNEL {
                let probe = config.discovery_headers();
                backend = backend
                    .with_probe(probe.headers(), telemetry)
                    .map_err(StartupError::McpUrl)?;
            }
            Ok(Arc::new(backend))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_watchdog_assumes_the_configured_default_timeouts() {
        assert_eq!(
            WatchdogLimits::default(),
            WatchdogLimits::for_agent(
                crate::config::DEFAULT_POLL_TIMEOUT,
                crate::config::DEFAULT_REQUEST_TIMEOUT
            )
        );
    }
}
