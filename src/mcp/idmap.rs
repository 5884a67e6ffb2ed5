//! (placeholder: owned by the idmap work; replaced by it)
