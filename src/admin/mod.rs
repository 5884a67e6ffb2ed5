//! The local admin surface: what the agent records while it works
//! ([`telemetry`]) and the HTTP server that shows it ([`server`]).

pub mod activity;
pub mod health;
pub mod histogram;
pub mod telemetry;

pub use telemetry::Telemetry;
