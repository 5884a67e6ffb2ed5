//! The local admin surface: what the agent records while it works
//! ([`telemetry`]) and the HTTP server that shows it ([`server`]).

pub mod activity;
pub mod health;
pub mod histogram;
pub mod metrics;
pub mod server;
pub mod telemetry;

pub use server::{AdminError, AdminServer};
pub use telemetry::Telemetry;
