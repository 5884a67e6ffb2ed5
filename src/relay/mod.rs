//! tunnel-relay: the project's own control plane (placeholder, owned by the relay work).
