//! The integration tests, one binary: the built `tunnel-client` and `tunnel-relay` and the library
//! against real sockets on 127.0.0.1 and real child processes. One module per area; `support` is shared.

// Tests and their support code may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod admin;
mod channels;
mod cli;
mod harpoon;
mod hostile;
mod http;
mod net;
mod oauth;
mod protocol;
mod relay;
mod servers;
mod service;
mod stdio;
