//! (placeholder: owned by the http work; replaced by it)
