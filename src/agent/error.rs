//! Why the agent stopped without an operator's signal (exit status 1), each
//! reason wrapping the typed error it came from. Never holds a secret.

use super::pidfile::PidFileError;
use crate::admin::server::AdminError;
use crate::mcp::http::HttpError;
use crate::mcp::stdio::StdioError;
use crate::net::NetError;
use std::error::Error;
use std::fmt;
use std::io;

/// Why the agent stopped without an operator's signal (exit status 1).
#[derive(Debug)]
pub enum AgentError {
    /// Startup failed (admin address in use, child cannot start, …).
    Startup(StartupError),
    /// The poll thread ended by panicking.
    PollThreadFailed,
    /// `--pid-file` names another running tunnel-client, or cannot be written.
    PidFile(PidFileError),
}

impl AgentError {
    /// True for a configuration conflict the operator must resolve (exit
    /// status 2): another tunnel-client already runs with the same pid file.
    pub fn is_configuration_conflict(&self) -> bool {
        matches!(self, AgentError::PidFile(PidFileError::Running { .. }))
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Startup(e) => write!(f, "could not start: {e}"),
            AgentError::PollThreadFailed => write!(f, "stopped: the poll thread failed"),
            AgentError::PidFile(e) => write!(f, "could not start: {e}"),
        }
    }
}

impl Error for AgentError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AgentError::Startup(e) => Some(e),
            AgentError::PollThreadFailed => None,
            AgentError::PidFile(e) => Some(e),
        }
    }
}

impl From<StartupError> for AgentError {
    fn from(e: StartupError) -> AgentError {
        AgentError::Startup(e)
    }
}

/// What could not be set up before serving.
#[derive(Debug)]
pub enum StartupError {
    /// The HTTPS client for the control plane cannot be built from the settings.
    ControlPlaneClient(NetError),
    /// The admin server could not start.
    Admin(AdminError),
    /// The stdio MCP server could not start.
    Stdio(StdioError),
    /// The HTTP client for the MCP server cannot be built from the settings.
    McpClient(NetError),
    /// The MCP server URL cannot be used.
    McpUrl(HttpError),
    /// A thread could not be started; `what` names it ("the poll thread").
    Thread {
        what: &'static str,
        source: io::Error,
    },
}

impl StartupError {
    /// For `map_err`: a thread named `what` could not be started.
    pub fn thread(what: &'static str) -> impl FnOnce(io::Error) -> StartupError {
        move |source| StartupError::Thread { what, source }
    }
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::ControlPlaneClient(e) => write!(f, "control plane: {e}"),
            StartupError::Admin(e) => write!(f, "{e}"),
            StartupError::Stdio(e) => write!(f, "{e}"),
            StartupError::McpClient(e) => write!(f, "MCP server: {e}"),
            StartupError::McpUrl(e) => write!(f, "{e}"),
            StartupError::Thread { what, source } => write!(f, "cannot start {what}: {source}"),
        }
    }
}

impl Error for StartupError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StartupError::ControlPlaneClient(e) | StartupError::McpClient(e) => Some(e),
            StartupError::Admin(e) => Some(e),
            StartupError::Stdio(e) => Some(e),
            StartupError::McpUrl(e) => Some(e),
            StartupError::Thread { source, .. } => Some(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_errors_keep_their_cause_and_their_words() {
        let e = AgentError::from(StartupError::thread("the poll thread")(io::Error::other(
            "no more threads",
        )));
        assert_eq!(
            e.to_string(),
            "could not start: cannot start the poll thread: no more threads"
        );
        let startup = e.source().unwrap();
        let io = startup.source().unwrap();
        assert_eq!(io.to_string(), "no more threads");
        assert!(io.downcast_ref::<io::Error>().is_some());

        let e = AgentError::Startup(StartupError::McpUrl(HttpError::MissingHost));
        assert_eq!(
            e.to_string(),
            "could not start: the MCP server URL names no host"
        );
        let cause = e.source().and_then(Error::source).unwrap();
        assert_eq!(cause.downcast_ref(), Some(&HttpError::MissingHost));
        assert!(AgentError::PollThreadFailed.source().is_none());
    }
}
