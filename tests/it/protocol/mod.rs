//! The agent against the control-plane contract: rule by rule through the real binary, with
//! an HTTP MCP server, and the agent library in-process with a scripted backend.

mod http_server;
mod in_process;
mod rules;
