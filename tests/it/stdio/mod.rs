//! MCP servers over stdio: the built-in stub as a process, the stdio backend's forwarding,
//! sessions, supervision and child environment, and real reference servers.

mod env;
mod forwarding;
mod reference;
mod sessions;
mod stub;
mod stub_http;
mod supervision;
