//! The local admin surface: what the agent records while it works
//! ([`telemetry`]) and the HTTP server that shows it.

pub mod telemetry;

pub use telemetry::Telemetry;
