//! The admin server: health, readiness, metrics and the status page, in-process with a fake
//! backend, through a real agent, and in a real browser.

mod e2e;
mod metrics;
mod server;
mod ui;
