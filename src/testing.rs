//! Running code that uses the cache under test (feature `testing`; enable it for your tests
//! only, in `[dev-dependencies]`).
//!
//! - [`disabled`]: a cache that stores nothing, so every call runs its loader (the code under
//!   test behaves as without a cache).
//! - [`isolated`]: a fresh L1-only cache per test, on Tokio's clock, so a test that starts with
//!   time paused (`#[tokio::test(start_paused = true)]`) moves entries through fresh, stale and
//!   expired with `tokio::time::advance`.
//! - [`with_global`]: the `#[cached]` functions that use the global cache use the given one
//!   instead, inside one future (the task that awaits it), whatever was installed for the
//!   process. Tests in one binary share the process and its global cache; each can have its own
//!   this way.
//!
//! ```
//! use std::time::Duration;
//! use tiered_cache::cached;
//!
//! #[cached(key = "double:{n}", ttl = 60)]
//! async fn double(n: u64) -> u64 {
//!     n * 2
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let cache = tiered_cache::testing::isolated().await;
//! tiered_cache::testing::with_global(cache.clone(), async {
//!     assert_eq!(double(2).await, 4);
//!     assert_eq!(cache.stats().overall_stats.loader_calls, 1, "this test's own cache");
//!     tokio::time::advance(Duration::from_secs(61)).await;
//!     assert_eq!(double(2).await, 4);
//!     assert_eq!(cache.stats().overall_stats.loader_calls, 2, "expired after its ttl");
//! })
//! .await;
//!
//! let nothing = tiered_cache::testing::disabled().await;
//! tiered_cache::testing::with_global(nothing.clone(), async {
//!     double(3).await;
//!     double(3).await;
//! })
//! .await;
//! assert_eq!(nothing.stats().overall_stats.loader_calls, 2, "nothing was cached");
//! # }
//! ```

use std::future::Future;

use crate::{CacheConfig, Clock, TieredCache};

tokio::task_local! {
    static GLOBAL: &'static TieredCache;
}

/// A cache that stores nothing: see [`TieredCache::disabled`].
pub async fn disabled() -> TieredCache {
    TieredCache::disabled().await
}

/// A new L1-only cache with the default config, reading time from Tokio's clock (so
/// `tokio::time::pause` and `advance` move its entries' timelines).
pub async fn isolated() -> TieredCache {
    isolated_with(CacheConfig::default()).await
}

/// [`isolated`] with `config` (its `redis_url` is ignored: the cache is L1 only).
///
/// # Panics
/// When `config` is invalid (a test's own setup error).
pub async fn isolated_with(config: CacheConfig) -> TieredCache {
    let config = CacheConfig {
        redis_url: None,
        ..config
    };
    match TieredCache::builder(config)
        .clock(Clock::tokio())
        .build()
        .await
    {
        Ok(cache) => cache,
        Err(error) => panic!("tiered_cache::testing::isolated_with: invalid config: {error}"),
    }
}

/// Runs `test` with `cache` as the global cache of `#[cached]` functions (those without
/// `cache = ...`), for the task that awaits it (tasks it spawns use the process's global cache).
///
/// Each call keeps one handle of `cache` alive until the process exits (a few bytes; the
/// function is meant for tests).
pub async fn with_global<F: Future>(cache: TieredCache, test: F) -> F::Output {
    let cache: &'static TieredCache = Box::leak(Box::new(cache));
    GLOBAL.scope(cache, test).await
}

/// The cache [`with_global`] set for the running task, if any.
#[inline]
pub(crate) fn scoped_global() -> Option<&'static TieredCache> {
    GLOBAL.try_with(|cache| *cache).ok()
}
