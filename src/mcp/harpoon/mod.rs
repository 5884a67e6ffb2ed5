//! Harpoon, the `harpoon` channel: allowlisted HTTP callouts a remote model may ask
//! for, which can never be turned into a proxy. Nothing here accepts a URL from a caller.
//!
//! Data flow: `server` (JSON-RPC) → `schema` (arguments) → `tools` (per-tool
//! checks from `policy`) → `client` (connect only to vetted addresses, one
//! deadline, capped bodies) → `tools` (answer) → `outcome` (record and log line).
//! `settings` validates the configuration once; `oauth` maps discovered URLs to targets.
//!
//! Wiring (for the agent): build [`RawSettings`] from the configuration, call
//! [`validate`] with the web roots plus `--ca-bundle`, create [`Harpoon::new`]
//! with a [`CallSink`], register it as the `harpoon` channel while
//! [`Harpoon::is_enabled`], and after each OAuth discovery call
//! [`Harpoon::replace_oauth_targets`] with [`discovered_targets`].

mod client;
pub(crate) mod oauth;
pub(crate) mod outcome;
pub mod policy;
pub(crate) mod schema;
mod server;
pub(crate) mod settings;
mod tools;
pub(crate) mod url;

pub use client::inflate;
pub use client::Resolve;
pub use oauth::{discovered_targets, Discovered, HostRules};
pub use outcome::{CallRecord, CallSink, NoSink, Outcome, UNKNOWN_TARGET};
pub use server::Harpoon;
pub use settings::{
    validate, HarpoonSettings, RawSettings, RawTarget, SettingKey, SettingsError, TargetField,
};
