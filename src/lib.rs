//! tunnel-client: the customer-side agent of a Secure MCP Tunnel, and
//! tunnel-relay, a control plane speaking the same contract.

pub mod admin;
pub mod agent;
pub(crate) mod atomic_file;
pub mod backoff;
pub(crate) mod base64;
pub mod build_info;
pub mod cli;
pub mod clock;
pub mod config;
pub mod contract;
pub(crate) mod httpd;
pub mod mcp;
pub mod net;
pub(crate) mod random;
pub mod relay;
pub mod secret;
pub mod sys;
pub mod telemetry;
