//! The daemon: poll → dispatch → forward → respond, plus wiring and shutdown.
//! (skeleton; filled in by the agent work)

use crate::config::Config;
use std::fmt;

/// Why the agent stopped without an operator's signal (exit status 1).
#[derive(Debug)]
pub enum AgentError {
    /// Startup failed (admin address in use, child cannot start, …).
    Startup(String),
    /// A fatal condition while running.
    Fatal(String),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Startup(m) => write!(f, "could not start: {m}"),
            AgentError::Fatal(m) => write!(f, "stopped: {m}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Runs the agent until SIGTERM/SIGINT (Ok: exit 0) or a fatal error.
pub fn run(config: Config) -> Result<(), AgentError> {
    let _ = config;
    Err(AgentError::Startup("not built yet".into()))
}

/// Builds the `main` channel's MCP backend from the configuration (stdio child
/// or HTTP forwarder). Used by `run` and by `doctor`'s MCP check.
pub fn build_backend(
    config: &Config,
    telemetry: std::sync::Arc<crate::admin::Telemetry>,
) -> Result<std::sync::Arc<dyn crate::mcp::Backend>, AgentError> {
    let _ = (config, telemetry);
    Err(AgentError::Startup("not built yet".into()))
}
