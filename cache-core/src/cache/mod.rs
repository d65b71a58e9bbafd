//! [`TieredCache`]: construction, shutdown, stats and health.
//!
//! The engine, by job: `decide` makes every time-based decision (pure); `admit` is the only
//! writer of L1; `stored` the only code that reads or writes envelopes and marks in L2; `coord`
//! coordinates loads across instances. `read` is a plain read; `load` → `leader` → `finish`
//! (and `refresh` in the background) a read with a loader; `write` sets, invalidations and
//! clears; `options` the per-call options. `tier`, `sync`, `bus` and `recovery` keep L2, the
//! clear marks, the backplane and missed invalidations in order.

mod adapt;
mod admit;
mod api;
mod bus;
mod coord;
mod decide;
mod finish;
mod get_entry;
mod get_with;
mod handle;
#[cfg(test)]
mod heap_sizes;
mod leader;
mod load;
mod load_future;
mod many;
mod many_write;
mod options;
mod read;
mod recovery;
mod refresh;
mod shared;
mod startup;
mod stored;
mod sync;
mod tier;
mod write;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use adapt::LoadContext;
pub use get_entry::GetEntry;
pub use get_with::{GetWith, GetWithFuture};
pub use handle::Namespace;
pub use load::{Cacheable, LoadBuilder, WithSource};
pub use load_future::{LoadFuture, SourcedLoadFuture};
pub use many::{GetMany, LoadMany};
pub use many_write::{InvalidateMany, SetMany};
pub use read::{GetBuilder, GetFuture};
pub use shared::{GetShared, Shared, SharedLoad, SharedLoadFuture};
pub use write::{InvalidateBuilder, SetBuilder};

use crate::breaker::Breaker;
use crate::clock::{Clock, StampSource};
use crate::config::CacheConfig;
use crate::error::{CacheError, ConfigError, StartError};
use crate::flight::Flights;
use crate::l1::L1;
use crate::l2::{L2Backend, L2Connector, NoL2};
use crate::namespaces::Namespaces;
use crate::stats::Counters;
use crate::tags::Tags;
use tier::L2Tier;

/// A two-tier cache: a bounded in-process L1 in front of a shared L2 (Redis), with
/// stale-while-revalidate, single-flight loads, namespaces and statistics.
///
/// Cheap to clone (an `Arc` inside); share one per process. The type parameter picks how the
/// L2 is built from the config: the `tiered-cache` facade names its Redis-backed form
/// `tiered_cache::TieredCache`; here the default, [`NoL2`], is L1 only.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tiered_cache_core::{CacheConfig, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// cache.set("user:1", &"Ada".to_owned()).namespace("users").await?;
/// let name: Option<String> = cache.get("user:1").namespace("users").await?;
/// assert_eq!(name.as_deref(), Some("Ada"));
/// # Ok(()) }
/// ```
pub struct TieredCache<C = NoL2> {
    inner: Arc<Inner>,
    _connector: PhantomData<fn() -> C>,
}

impl<C> Clone for TieredCache<C> {
    fn clone(&self) -> Self {
        TieredCache {
            inner: self.inner.clone(),
            _connector: PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for TieredCache<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredCache")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The shared state behind every clone of a [`TieredCache`].
pub(crate) struct Inner {
    pub(crate) config: CacheConfig,
    /// `config.name`, shared by spans and histograms.
    pub(crate) name: Arc<str>,
    pub(crate) stamps: StampSource,
    pub(crate) l1: L1,
    /// Per-key write fences: what `admit` checks before anything enters L1.
    pub(crate) fences: admit::Fences,
    pub(crate) flights: Arc<Flights>,
    /// Local waiters for other instances' loads, woken by backplane notices.
    pub(crate) peers: Arc<coord::PeerWaits>,
    /// Lock tokens to release once L2 answers.
    pub(crate) orphans: Arc<coord::Orphans>,
    pub(crate) namespaces: Namespaces,
    pub(crate) tags: Tags,
    /// This instance's id on the backplane (it ignores its own notices).
    pub(crate) origin: u64,
    pub(crate) l2: Option<L2Tier>,
    pub(crate) recovery: recovery::Recovery,
    pub(crate) counters: Counters,
    pub(crate) tasks: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    /// Stops the deadline ticker, last of all (see `sync::start_deadline_ticker`).
    pub(crate) ticker_stop: CancellationToken,
    /// Where the next read of the clear marks starts (the backend's clock).
    pub(crate) marks_cursor: AtomicU64,
    /// Set once construction is over: backplane gaps before it lost nothing.
    pub(crate) serving: AtomicBool,
    /// A disabled cache (see [`TieredCache::disabled`]): L1 admits nothing and there is no L2.
    pub(crate) stores_nothing: bool,
    closed: AtomicBool,
}

impl Drop for Inner {
    /// The last handle is gone without `close()`: stop the background tasks (they hold only
    /// weak handles) and let the backend close its connections.
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.ticker_stop.cancel();
        if let Some(tier) = &self.l2 {
            tier.backend.abandon();
        }
    }
}

/// Sets up a [`TieredCache`] beyond its config: the clock, or an L2 backend of your own.
pub struct CacheBuilder<C = NoL2> {
    config: CacheConfig,
    clock: Clock,
    backend: Option<Arc<dyn L2Backend>>,
    stores_nothing: bool,
    _connector: PhantomData<fn() -> C>,
}

impl<C: L2Connector> CacheBuilder<C> {
    /// Reads time from `clock` instead of the system clock (tests use [`Clock::tokio`]).
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `backend` as L2 instead of building one from `redis_url`.
    #[must_use]
    pub fn l2(mut self, backend: Arc<dyn L2Backend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Validates the config and starts the cache. Must run inside a Tokio runtime.
    ///
    /// An unreachable L2 is not an error unless `require_l2_at_startup` is set: the cache
    /// starts serving from L1 (and loaders) and uses L2 as soon as it answers. A config whose
    /// `redis_url` is [`CacheConfig::DEFAULT_REDIS_URL`] logs one warning (an unset URL is a
    /// common mistake).
    ///
    /// # Errors
    /// [`StartError::Config`] naming the first invalid field (or `require_l2_at_startup` when
    /// the cache has no L2 to require); [`StartError::L2Unavailable`] when `require_l2_at_startup` is set and L2 did not answer
    /// within `connect_timeout` (the cache is closed).
    pub async fn build(self) -> Result<TieredCache<C>, StartError> {
        self.config.validate()?;
        let backend = match self.backend {
            _ if self.stores_nothing => None,
            Some(backend) => Some(backend),
            None => {
                let built = C::connect(&self.config)?;
                // Only when the URL is in use: a connector that ignores it warns on its own.
                if built.is_some() {
                    startup::warn_if_default_url(&self.config);
                }
                built
            }
        };
        if self.config.require_l2_at_startup && backend.is_none() {
            return Err(ConfigError::new(
                "require_l2_at_startup",
                "is true but this cache has no L2 (redis_url is None, or the cache was built \
                 without an L2 connector)"
                    .to_owned(),
            )
            .into());
        }
        let config = self.config;
        let name: Arc<str> = Arc::from(config.name.as_str());
        let l2 = backend.map(|backend| {
            let breaker = Breaker::new(
                config.circuit_breaker_threshold,
                config.circuit_breaker_cooldown,
            );
            L2Tier::new(
                backend,
                name.clone(),
                breaker,
                config.l2_timeout,
                self.clock.is_system(),
            )
        });
        let inner = Arc::new(Inner {
            name,
            stamps: StampSource::new(self.clock),
            l1: L1::new(config.l1_max_size, config.l1_max_bytes),
            fences: admit::Fences::default(),
            flights: Arc::default(),
            peers: Arc::default(),
            orphans: Arc::default(),
            namespaces: Namespaces::new(config.metrics_namespaces),
            tags: Tags::default(),
            origin: crate::rng::next_u64(),
            l2,
            recovery: recovery::Recovery::default(),
            counters: Counters::default(),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            ticker_stop: CancellationToken::new(),
            marks_cursor: AtomicU64::new(0),
            serving: AtomicBool::new(false),
            stores_nothing: self.stores_nothing,
            closed: AtomicBool::new(false),
            config,
        });
        if let Some(tier) = &inner.l2 {
            let weak = Arc::downgrade(&inner);
            tier.backend.watch_connections(Arc::new(move |event| {
                let Some(inner) = weak.upgrade() else { return };
                let Some(tier) = &inner.l2 else { return };
                match event {
                    crate::l2::ConnectionEvent::Lost => {
                        if tier.connection_lost(&inner.counters) {
                            tracing::warn!(
                                "L2 connection lost; circuit breaker open, serving from L1 and loaders"
                            );
                        }
                    }
                    crate::l2::ConnectionEvent::Rerouted => {
                        inner.counters.l2_rerouted.incr();
                        tracing::info!("L2 routing changed (failover or resharding); following it");
                    }
                }
            }));
            sync::start_deadline_ticker(&inner);
            // Both bounded by connect_timeout, side by side.
            tokio::join!(bus::start(&inner), sync::start(&inner));
        }
        let cache = TieredCache {
            inner,
            _connector: PhantomData,
        };
        if let Err(error) = startup::check_required(&cache.inner).await {
            cache
                .close_within(startup::stop_grace(&cache.inner.config))
                .await;
            return Err(error);
        }
        cache.inner.serving.store(true, Ordering::Release);
        Ok(cache)
    }
}

impl<C: L2Connector> TieredCache<C> {
    /// Validates `config`, connects L2 when `redis_url` is set, and starts the cache.
    /// Must run inside a Tokio runtime. See [`CacheBuilder::build`].
    ///
    /// # Errors
    /// [`StartError::Config`] naming the first invalid field. A Redis that is down is not an
    /// error, unless `require_l2_at_startup` is set: then [`StartError::L2Unavailable`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// let refused = TieredCache::<tiered_cache_core::NoL2>::new(CacheConfig { l1_max_size: 0, ..Default::default() }).await;
    /// assert_eq!(refused.unwrap_err().config_error().map(|e| e.field()), Some("l1_max_size"));
    /// # drop(cache); Ok(()) }
    /// ```
    pub async fn new(config: CacheConfig) -> Result<Self, StartError> {
        Self::builder(config).build().await
    }

    /// A cache that stores nothing, for tests of code that uses a cache: every read misses, so
    /// every `refresh_with`/`get_with` runs its loader (concurrent calls of one key still share
    /// one loader call), and `set`, `invalidate` and clears succeed and keep nothing. No Redis.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tiered_cache_core::CacheError> {
    /// use tiered_cache_core::TieredCache;
    ///
    /// let cache: TieredCache = TieredCache::disabled().await;
    /// cache.set("k", &1u32).await?;
    /// assert_eq!(cache.get::<u32>("k").await?, None);
    /// assert_eq!(cache.get_with("k", || async { 2u32 }).await?, 2);
    /// assert_eq!(cache.get_with("k", || async { 3u32 }).await?, 3, "the loader ran again");
    /// # Ok(()) }
    /// ```
    pub async fn disabled() -> Self {
        let builder = CacheBuilder {
            stores_nothing: true,
            ..Self::builder(CacheConfig {
                name: "disabled".to_owned(),
                l1_max_size: 1,
                redis_url: None,
                ..CacheConfig::default()
            })
        };
        match builder.build().await {
            Ok(cache) => cache,
            // The default config without Redis and with one L1 slot always validates (the
            // example above builds it); nothing else can fail without an L2.
            Err(error) => unreachable!("the disabled cache's config is valid: {error}"),
        }
    }

    /// A [`CacheBuilder`] for options beyond the config: the clock (a test's virtual clock), or
    /// an L2 backend of your own.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tiered_cache_core::{CacheConfig, Clock, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::builder(CacheConfig { redis_url: None, ..Default::default() })
    ///     .clock(Clock::tokio())
    ///     .build()
    ///     .await?;
    /// cache.set("k", &1u32).ttl(Duration::from_secs(10)).await?;
    /// tokio::time::advance(Duration::from_secs(11)).await;
    /// assert_eq!(cache.get::<u32>("k").await?, None, "expired on the virtual clock");
    /// # Ok(()) }
    /// ```
    pub fn builder(config: CacheConfig) -> CacheBuilder<C> {
        CacheBuilder {
            config,
            clock: Clock::system(),
            backend: None,
            stores_nothing: false,
            _connector: PhantomData,
        }
    }
}

impl Inner {
    #[inline]
    pub(crate) fn check_open(&self) -> Result<(), CacheError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(CacheError::Closed);
        }
        Ok(())
    }
}
