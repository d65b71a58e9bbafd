//! tiered-cache facade (filled in below).
pub use tiered_cache_core::*;
