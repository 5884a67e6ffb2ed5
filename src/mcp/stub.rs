//! (placeholder: owned by the stub work; replaced by it)
