#![doc = include_str!("../README.md")]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]

pub use tiered_cache_core::{
    CacheBuilder, CacheConfig, CacheError, CacheStats, Clock, ConfigError, GetBuilder, GetFuture,
    HealthReport, InvalidateBuilder, L1Stats, L2Stats, LoadBuilder, LoadError, LoadFuture,
    ManualClock, OverallStats, SetBuilder, SwrStats, TierHealth, TierStatus, redact_url,
};
pub use tiered_cache_redis::{RedisConnector, RedisL2};

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod global;
pub use global::{InitError, global_cache, init, install};
#[doc = include_str!("../docs/macro.md")]
pub use tiered_cache_macros::cached;

/// Extension points: the L2 contract (to plug in another backend), the stored envelope and the
/// freshness model.
pub mod engine {
    pub use tiered_cache_core::{
        L2Backend, L2Connector, L2Error, NoL2, Stamp, entry, envelope, keys, l2,
    };
}

/// The cache: an in-process L1 in front of Redis (`CacheConfig::redis_url`; `None` for L1 only).
///
/// See [`tiered_cache_core::TieredCache`] for every method.
pub type TieredCache = tiered_cache_core::TieredCache<RedisConnector>;

/// The types most code needs: `use tiered_cache::prelude::*;`.
pub mod prelude {
    pub use crate::{CacheConfig, CacheError, LoadError, TieredCache};
}
