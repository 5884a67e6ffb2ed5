//! The integration tests, one binary: the built `tunnel-client` and `tunnel-relay` and the library
//! against real sockets on 127.0.0.1 and real child processes. One module per area; `support` is shared.

mod support;

mod admin;
mod cli;
mod http;
mod net;
mod protocol;
mod relay;
mod stdio;
