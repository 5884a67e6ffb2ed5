//! The wire contract with the control plane, shared by the agent and the relay.
//! Pure data and pure functions: nothing in `contract/` performs I/O.

pub mod batch;
pub(crate) mod failure;
pub(crate) mod headers;
pub mod timeout;
pub(crate) mod wire;

pub use batch::PollBody;
pub use failure::{FailureSource, TransportErrorKind, TunnelFailure};
pub use headers::Headers;
pub use wire::*;

/// `X-Tunnel-Client-Name` value: how the control plane tells this agent from the Go one.
pub const CLIENT_NAME: &str = "tunnel-client-rs";
/// Version sent in `X-Tunnel-Client-Version` and shown by `--version`.
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Largest `limit` the poll endpoint accepts.
pub const MAX_POLL_LIMIT: usize = 25;

/// Header names of the contract and of the HTTP around it, spelled once.
pub(crate) mod header {
    pub const AUTHORIZATION: &str = "Authorization";
    pub const WWW_AUTHENTICATE: &str = "WWW-Authenticate";
    pub const CONTENT_TYPE: &str = "Content-Type";
    pub const ACCEPT: &str = "Accept";
    pub const ALLOW: &str = "Allow";
    pub const CONNECTION: &str = "Connection";
    pub const CONTENT_LENGTH: &str = "Content-Length";
    pub const TRANSFER_ENCODING: &str = "Transfer-Encoding";
    pub const ACCESS_CONTROL_EXPOSE_HEADERS: &str = "Access-Control-Expose-Headers";
    pub const CLIENT_NAME: &str = "X-Tunnel-Client-Name";
    pub const CLIENT_VERSION: &str = "X-Tunnel-Client-Version";
    pub const INSTANCE_ID: &str = "X-Tunnel-Client-Instance-Id";
    pub const SERVER_INFO: &str = "X-Tunnel-MCP-Server-Info";
    pub const SHARD_TOKEN: &str = "X-Tunnel-Shard-Token";
    pub const MCP_SESSION_ID: &str = "Mcp-Session-Id";
    pub const MCP_PROTOCOL_VERSION: &str = "Mcp-Protocol-Version";
    pub const LAST_EVENT_ID: &str = "Last-Event-ID";
    pub const RETRY_AFTER: &str = "Retry-After";
    pub const OPENAI_ORGANIZATION: &str = "OpenAI-Organization";
}

/// True for `tunnel_` followed by 32 lowercase ASCII letters or digits.
/// Used only to explain configuration mistakes: ids are otherwise opaque.
pub fn is_valid_tunnel_id(id: &str) -> bool {
    match id.strip_prefix("tunnel_") {
        Some(rest) => {
            rest.len() == 32
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_id_format() {
        assert!(is_valid_tunnel_id(
            "tunnel_0123456789abcdef0123456789abcdef"
        ));
        assert!(is_valid_tunnel_id(
            "tunnel_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
        ));
        assert!(!is_valid_tunnel_id(
            "tunnel_0123456789ABCDEF0123456789abcdef"
        ));
        assert!(!is_valid_tunnel_id("tunnel_0123"));
        assert!(!is_valid_tunnel_id(
            "tunnels_0123456789abcdef0123456789abcdef"
        ));
        assert!(!is_valid_tunnel_id(""));
    }
}
