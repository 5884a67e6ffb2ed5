//! Harpoon in the agent: the backend built from the configuration, its call records
//! fed to telemetry, and the OAuth hook that replaces its `oauth` targets. Never logs a URL.

use super::oauth::DiscoveredHook;
use crate::config::HarpoonConfig;
use crate::mcp::harpoon::{discovered_targets, CallRecord, CallSink, Harpoon, HostRules};
use crate::telemetry::{harpoon::Call, Telemetry};
use std::sync::Arc;

/// Hands every call record to telemetry (metrics, status page).
struct TelemetrySink(Arc<Telemetry>);

impl CallSink for TelemetrySink {
    fn record(&self, r: &CallRecord) {
        self.0.harpoon_call(&Call {
            target: &r.target,
            tool: r.tool,
            method: r.method,
            status: r.status,
            outcome: r.outcome.as_str(),
            latency: r.latency,
            bytes: r.bytes,
            dropped_headers: r.dropped_headers,
        });
    }
}

/// The `harpoon` backend over the configured targets.
pub fn build(config: &HarpoonConfig, telemetry: &Arc<Telemetry>) -> Arc<Harpoon> {
    let sink = Arc::new(TelemetrySink(Arc::clone(telemetry)));
    let harpoon = Arc::new(Harpoon::new(config.settings.clone(), sink));
    publish_targets(&harpoon, telemetry);
    let n = harpoon.targets().snapshot().len();
    if n == 0 {
        log::info!(
            "harpoon: no configured target; the channel is declared once OAuth discovery registers one"
        );
    } else {
        log::info!("harpoon: serving {n} configured target(s)");
    }
    harpoon
}

/// Tells telemetry which targets exist now (the `target` label's values).
fn publish_targets(harpoon: &Harpoon, telemetry: &Telemetry) {
    let targets: Vec<(String, &'static str)> = harpoon
        .targets()
        .snapshot()
        .iter()
        .map(|t| (t.label().to_string(), t.source().as_str()))
        .collect();
    telemetry.set_harpoon_targets(&targets);
}

/// After each OAuth discovery: the private URLs it found replace Harpoon's
/// `oauth` targets (configured targets never change). The channel is
/// declared while any target exists.
pub fn oauth_hook(
    harpoon: Arc<Harpoon>,
    hosts: HostRules,
    telemetry: Arc<Telemetry>,
) -> DiscoveredHook {
    Arc::new(move |found| {
        let taken = harpoon.targets().configured_labels();
        let targets = discovered_targets(found, &hosts, harpoon.settings(), &taken);
        let labels: Vec<String> = targets.iter().map(|t| t.label().to_string()).collect();
        let was_serving = harpoon.is_enabled();
        harpoon.replace_oauth_targets(targets);
        publish_targets(&harpoon, &telemetry);
        if !labels.is_empty() {
            log::info!("harpoon: OAuth-discovered targets {}", labels.join(", "));
        }
        match (was_serving, harpoon.is_enabled()) {
            (false, true) => log::info!("harpoon: the channel has a target and is declared"),
            (true, false) => {
                log::info!("harpoon: no target left; the channel is no longer declared")
            }
            _ => {}
        }
    })
}
