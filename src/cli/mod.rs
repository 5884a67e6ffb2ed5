//! The operator surface (placeholder, owned by the CLI work).
