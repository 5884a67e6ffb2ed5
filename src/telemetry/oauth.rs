//! Where `main`'s OAuth discovery stands, for readiness and the status page.
//! Plain data: origins (scheme, host, port) and fixed words only, never a path, a body or a header value.

/// The readiness side of OAuth discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OauthPhase {
    /// `main` is not an enabled HTTP binding: discovery never runs.
    #[default]
    Off,
    /// The startup discovery has not finished yet (not ready).
    Pending,
    /// The last discovery selected metadata or found none advertised (ready).
    Settled,
    /// The last startup or retry discovery failed with this class (not ready
    /// until a later discovery succeeds).
    Failed(&'static str),
}

/// What the last successful selection found, for `/api/status` and doctor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OauthFound {
    /// `scheme://host:port` the protected-resource metadata came from.
    pub metadata_origin: String,
    /// `scheme://host:port` of the first authorization server, if one is named.
    pub authorization_server: Option<String>,
    /// What its metadata lookup gave: `found`, `issuer mismatch` or `unavailable`.
    pub authorization_server_metadata: &'static str,
    /// Why the authorization-server lookup was not clean (fixed words and origins).
    pub warnings: Vec<String>,
}

/// Everything the recorder keeps about OAuth discovery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OauthStatus {
    pub phase: OauthPhase,
    /// The outcome of the last discovery of any kind: `selected`,
    /// `not advertised` or `failed: CLASS`.
    pub last_outcome: Option<String>,
    pub found: Option<OauthFound>,
}
