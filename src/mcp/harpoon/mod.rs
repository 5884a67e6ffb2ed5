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

mod base64;
mod client;
pub mod oauth;
pub mod outcome;
pub mod policy;
pub mod schema;
mod server;
pub mod settings;
mod tools;
pub mod url;

pub use client::inflate;
pub use client::{Resolve, SystemResolver, MAX_PENDING_BLOCKING_CALLS};
pub use oauth::{discovered_targets, Discovered, HostRules};
pub use outcome::{CallRecord, CallSink, NoSink, Outcome, UNKNOWN_TARGET};
pub use server::{Harpoon, LATEST_PROTOCOL_VERSION, SERVER_NAME};
pub use settings::{
    validate, HarpoonSettings, RawSettings, RawTarget, SettingKey, SettingsError, Target,
    TargetField, TargetSet, TargetSource, TargetStore,
};
pub use tools::CALL_TARGET_MAX_REQUEST_BYTES;
