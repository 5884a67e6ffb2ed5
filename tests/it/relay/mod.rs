//! `tunnel-relay`: its agent side and caller side against the contract, several agents on one
//! tunnel, shutdown, and the binary's command line.

mod agent_side;
mod agents;
mod caller_side;
mod channels;
mod cli;
mod forwarding;
mod ha;
mod mcp_sdk;
mod oauth;
mod shutdown;
