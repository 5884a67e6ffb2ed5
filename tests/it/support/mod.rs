//! What the integration tests share: the tunnel id and key every test uses, and the helpers
//! below (one of each: waiting, launching the binaries, scripted peers, HTTP client). Test code only.

pub mod admin;
pub mod cli;
pub mod control_plane;
pub mod harpoon;
pub mod harpoon_upstream;
pub mod http;
pub mod isolate;
pub mod logs;
pub mod mcp;
pub mod mcp_server;
pub mod process;
pub mod proxy;
pub mod relay;
pub mod stdio;
pub mod temp;
pub mod tls_server;
pub mod tools;
pub mod wait;

pub use temp::TempDir;
pub use tools::{require, require_tool};
pub use wait::{wait_until, WAIT};

/// The tunnel id every test uses (valid format).
pub const TUNNEL_ID: &str = "tunnel_0123456789abcdef0123456789abcdef";
/// The one API key of the tests (agent to control plane, agent to relay). It is
/// recognisable: tests grep every output for it.
pub const API_KEY: &str = "sk-test-SECRET-4f1d2c9a7b";

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
