//! Shared pieces of the integration tests: a scripted control plane and a
//! handle on a real `tunnel-client run` process.
#![allow(dead_code)]

pub mod agent;
pub mod mock_cp;

/// The tunnel id every test uses (valid format).
pub const TUNNEL_ID: &str = "tunnel_0123456789abcdef0123456789abcdef";
/// A recognisable API key: tests grep every output for it.
pub const API_KEY: &str = "sk-test-SECRET-4f1d2c9a7b";
