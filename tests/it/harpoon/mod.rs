//! Harpoon, the in-process allowlisted HTTP callout channel: its MCP surface and its
//! refusals, against real upstreams on 127.0.0.1 that record the bytes they receive.

mod backend;
mod cases;
mod hostile;
mod oauth_targets;
mod through_agent;
