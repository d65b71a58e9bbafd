#![doc = include_str!("../README.md")]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]

pub use tiered_cache_core::{
    CacheBuilder, CacheConfig, CacheError, CacheStats, Clock, ConfigError, GetBuilder, GetFuture,
    HealthReport, InvalidateBuilder, L1Stats, L2Stats, LoadBuilder, LoadError, LoadFuture,
    ManualClock, OverallStats, RefusedStats, SetBuilder, StartError, SwrStats, TierHealth,
    TierStatus, redact_url,
};
pub use tiered_cache_redis::{RedisConnector, RedisL2};

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod global;
#[cfg(feature = "metrics")]
pub mod metrics;
pub use global::{InitError, global_cache, init, install};
/// Caches an `async fn` through the global cache (or the one named by `cache = ...`): every
/// option, the rules for arguments, `self`, generics and return types, and the expansion are in
/// the `#[cached]` section of the crate documentation above.
///
/// ```
/// use tiered_cache::cached;
///
/// #[cached(key = "greeting:{name}", ttl = 60, namespace = "greetings")]
/// async fn greet(name: &str) -> String {
///     format!("hello {name}")
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(greet("ada").await, "hello ada");
/// # }
/// ```
pub use tiered_cache_macros::cached;

/// Extension points: the L2 contract (to plug in another backend), the stored envelope and the
/// freshness model.
pub mod engine {
    pub use tiered_cache_core::{
        L2Backend, L2Connector, L2Error, NoL2, Refusal, Stamp, entry, envelope, keys, l2,
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
