//! The local admin surface: the HTTP server ([`server`]) that shows what the
//! agent recorded in [`crate::telemetry`]. It reads the telemetry and never records into it.

pub(crate) mod health;
pub(crate) mod metrics;
pub mod server;

pub use server::{AdminError, AdminServer};
