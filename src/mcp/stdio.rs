//! (placeholder: owned by the stdio work; replaced by it)
