//! (placeholder: owned by the sse work; replaced by it)
