//! [`TieredCache`]: the engine's cache with its Redis tier, as users name it.

use std::ops::Deref;
use std::sync::Arc;

use crate::engine::L2Backend;
use crate::{CacheConfig, Clock, RedisConnector, StartError};

/// The engine's cache over the Redis tier (the type [`TieredCache`] derefs to).
pub type Engine = tiered_cache_core::TieredCache<RedisConnector>;

/// The cache: a bounded in-process L1 in front of Redis (`CacheConfig::redis_url`; `None` for
/// L1 only), with stale-while-revalidate, single-flight loads, namespaces, tags, batches,
/// statistics and health. Cheap to clone (an `Arc` inside): build one at startup and share it.
///
/// Every read, write and invalidation is a method of the engine it derefs to, listed below
/// ("Methods from `Deref`"), each with an example: [`get`](Engine::get),
/// [`get_with`](Engine::get_with), [`get_many`](Engine::get_many), [`set`](Engine::set),
/// [`set_many`](Engine::set_many), [`invalidate`](Engine::invalidate),
/// [`invalidate_tag`](Engine::invalidate_tag), [`clear_namespace`](Engine::clear_namespace),
/// [`clear_all`](Engine::clear_all), [`namespace`](Engine::namespace),
/// [`stats`](Engine::stats), [`namespace_stats`](Engine::namespace_stats),
/// [`health_check`](Engine::health_check), [`close`](Engine::close).
///
/// ```
/// use tiered_cache::{CacheConfig, TieredCache};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// cache.set("user:1", &"Ada".to_owned()).namespace("users").await?;
/// let name: Option<String> = cache.get("user:1").namespace("users").await?;
/// assert_eq!(name.as_deref(), Some("Ada"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TieredCache {
    engine: Engine,
}

impl Deref for TieredCache {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl std::fmt::Debug for TieredCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.engine.fmt(f)
    }
}

impl From<Engine> for TieredCache {
    fn from(engine: Engine) -> Self {
        TieredCache { engine }
    }
}

impl TieredCache {
    /// Validates `config`, connects to Redis when `redis_url` is set, and starts the cache.
    /// Must run inside a Tokio runtime. A Redis that is down is not an error (the cache serves
    /// from L1 and loaders and uses Redis once it answers) unless `require_l2_at_startup` is set.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache::{CacheConfig, TieredCache};
    ///
    /// let cache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// let refused = TieredCache::new(CacheConfig { l1_max_size: 0, ..Default::default() }).await;
    /// assert_eq!(refused.unwrap_err().config_error().map(|e| e.field()), Some("l1_max_size"));
    /// # drop(cache); Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`StartError::Config`] naming the first invalid field, or [`StartError::L2Unavailable`]
    /// when `require_l2_at_startup` is set and Redis did not answer within `connect_timeout`.
    pub async fn new(config: CacheConfig) -> Result<Self, StartError> {
        Engine::new(config).await.map(Self::from)
    }

    /// A [`CacheBuilder`] for options beyond the config: a clock (a test's virtual clock), or an
    /// L2 backend of your own.
    pub fn builder(config: CacheConfig) -> CacheBuilder {
        CacheBuilder {
            inner: Engine::builder(config),
        }
    }

    /// A cache that stores nothing (every call runs its loader), for tests; see
    /// [`Engine::disabled`].
    pub async fn disabled() -> Self {
        Engine::disabled().await.into()
    }

    /// The engine this cache derefs to.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Sets up a [`TieredCache`] beyond its config.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tiered_cache::{CacheConfig, Clock, TieredCache};
///
/// let cache = TieredCache::builder(CacheConfig { redis_url: None, ..Default::default() })
///     .clock(Clock::tokio())
///     .build()
///     .await?;
/// cache.set("k", &1u32).ttl(Duration::from_secs(10)).await?;
/// tokio::time::advance(Duration::from_secs(11)).await;
/// assert_eq!(cache.get::<u32>("k").await?, None, "expired on the virtual clock");
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until built"]
pub struct CacheBuilder {
    inner: tiered_cache_core::CacheBuilder<RedisConnector>,
}

impl CacheBuilder {
    /// Reads time from `clock` instead of the system clock (tests use [`Clock::tokio`]).
    pub fn clock(self, clock: Clock) -> Self {
        CacheBuilder {
            inner: self.inner.clock(clock),
        }
    }

    /// Uses `backend` as L2 instead of building one from `redis_url`.
    pub fn l2(self, backend: Arc<dyn L2Backend>) -> Self {
        CacheBuilder {
            inner: self.inner.l2(backend),
        }
    }

    /// Validates the config and starts the cache (see [`TieredCache::new`]).
    ///
    /// # Errors
    /// As [`TieredCache::new`].
    pub async fn build(self) -> Result<TieredCache, StartError> {
        self.inner.build().await.map(TieredCache::from)
    }
}
