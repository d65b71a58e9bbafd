//! [`TieredCache`]: construction, shutdown, stats and health.
//!
//! The engine, by job: `decide` makes every time-based decision (pure); `admit` is the only
//! writer of L1; `stored` the only code that reads or writes envelopes and marks in L2; `coord`
//! coordinates loads across instances. `read` is a plain read; `load` → `leader` → `finish`
//! (and `refresh` in the background) a read with a loader; `write` sets, invalidations and
//! clears; `options` the per-call options. `tier`, `sync`, `bus` and `recovery` keep L2, the
//! clear marks, the backplane and missed invalidations in order.

mod admit;
mod bus;
mod coord;
mod decide;
mod finish;
mod get_with;
mod handle;
mod leader;
mod load;
mod options;
mod read;
mod recovery;
mod refresh;
mod stored;
mod sync;
mod tier;
mod write;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use get_with::{GetWith, GetWithFuture};
pub use handle::Namespace;
pub use load::{LoadBuilder, LoadFuture, SourcedLoadFuture, WithSource};
pub use read::{GetBuilder, GetFuture};
pub use write::{InvalidateBuilder, SetBuilder};

use crate::breaker::Breaker;
use crate::clock::{Clock, StampSource};
use crate::config::CacheConfig;
use crate::error::{CacheError, ConfigError};
use crate::flight::Flights;
use crate::health::{HealthReport, TierHealth};
use crate::l1::L1;
use crate::l2::{L2Backend, L2Connector, NoL2};
use crate::namespaces::Namespaces;
use crate::stats::{CacheStats, Counters, Gauges};
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
    /// An unreachable L2 is not an error: the cache starts serving from L1 (and loaders) and
    /// uses L2 as soon as it answers.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first invalid field.
    pub async fn build(self) -> Result<TieredCache<C>, ConfigError> {
        self.config.validate()?;
        let backend = match self.backend {
            _ if self.stores_nothing => None,
            Some(backend) => Some(backend),
            None => C::connect(&self.config)?,
        };
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
            l1: L1::new(config.l1_max_size),
            fences: admit::Fences::default(),
            flights: Arc::default(),
            peers: Arc::default(),
            orphans: Arc::default(),
            namespaces: Namespaces::default(),
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
        inner.serving.store(true, Ordering::Release);
        Ok(TieredCache {
            inner,
            _connector: PhantomData,
        })
    }
}

impl<C: L2Connector> TieredCache<C> {
    /// Validates `config`, connects L2 when `redis_url` is set, and starts the cache.
    /// Must run inside a Tokio runtime.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first invalid field. A Redis that is down is not an error.
    pub async fn new(config: CacheConfig) -> Result<Self, ConfigError> {
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

    /// A [`CacheBuilder`] for options beyond the config.
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

impl<C> TieredCache<C> {
    /// Reads `key` (namespace `"default"` unless [`GetBuilder::namespace`] says otherwise).
    /// Add [`GetBuilder::refresh_with`] to load misses and refresh stale entries.
    pub fn get<'a, T>(&'a self, key: &'a str) -> GetBuilder<'a, T> {
        GetBuilder::new(&self.inner, key)
    }

    /// Reads `key`, loading a miss with `loader`, which cannot fail: the value it returns is
    /// cached and returned. See [`GetWith`]; for loaders that can fail, use
    /// [`GetBuilder::refresh_with`].
    pub fn get_with<'a, T, F, Fut>(&'a self, key: &'a str, loader: F) -> GetWith<'a, T, F>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + Send + 'static,
    {
        GetWith::new(LoadBuilder::new(GetBuilder::new(&self.inner, key), loader))
    }

    /// Writes `value` under `key` in both tiers (ttl `l2_ttl` unless [`SetBuilder::ttl`]).
    pub fn set<'a, T>(&'a self, key: &'a str, value: &'a T) -> SetBuilder<'a, T> {
        SetBuilder::new(&self.inner, key, value)
    }

    /// Removes `key` from both tiers; a load of it that is running will not write back.
    pub fn invalidate<'a>(&'a self, key: &'a str) -> InvalidateBuilder<'a> {
        InvalidateBuilder::new(&self.inner, key)
    }

    /// Invalidates every entry carrying `tag` (see [`SetBuilder::tags`]), in every namespace and
    /// instance, without scanning Redis.
    ///
    /// # Errors
    /// [`CacheError::InvalidOption`] for an empty or overlong tag, or [`CacheError::Closed`].
    pub async fn invalidate_tag(&self, tag: &str) -> Result<(), CacheError> {
        tier::with_budget(self.inner.invalidate_tag(tag)).await
    }

    /// Removes every entry of `namespace`, in this instance at once and in every instance within
    /// `sync_interval`. Costs O(1) in Redis whatever the namespace holds.
    ///
    /// # Errors
    /// [`CacheError::InvalidNamespace`] or [`CacheError::Closed`].
    pub async fn clear_namespace(&self, namespace: &str) -> Result<(), CacheError> {
        tier::with_budget(self.inner.clear(Some(namespace))).await
    }

    /// Removes every entry of every namespace under this cache's `key_prefix` (other
    /// applications' keys in the same Redis are untouched).
    ///
    /// # Errors
    /// [`CacheError::Closed`].
    pub async fn clear_all(&self) -> Result<(), CacheError> {
        tier::with_budget(self.inner.clear(None)).await
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let inner = &self.inner;
        let (circuit_breaker, breaker_transitions) = match &inner.l2 {
            Some(tier) => (tier.breaker_state(), tier.breaker.transitions()),
            None => ("closed", (0, 0)),
        };
        inner.counters.snapshot(Gauges {
            l1_size: inner.l1.len() as u64,
            l1_capacity: inner.l1.capacity() as u64,
            l2_enabled: inner.l2.is_some(),
            circuit_breaker,
            breaker_transitions,
            pending_recovery: inner.recovery.len() as u64,
        })
    }

    /// Pings L2 (bounded by `l2_timeout`) and reports each tier's state. Never shows credentials.
    pub async fn health_check(&self) -> HealthReport {
        let inner = &self.inner;
        let l1 = TierHealth::l1(inner.l1.len(), inner.l1.capacity());
        let l2 = match &inner.l2 {
            None => TierHealth::disabled(),
            Some(tier) => {
                let started = Instant::now();
                let ping = tokio::time::timeout(inner.config.l2_timeout, tier.backend.ping()).await;
                let latency = started.elapsed();
                // The ping is evidence for the breaker too, so the report and the breaker agree.
                let ping = ping.unwrap_or(Err(crate::l2::L2Error::Timeout));
                tier.observe_health(&ping);
                let breaker = tier.breaker_state();
                match ping {
                    Ok(()) => TierHealth::up(
                        tier.backend.describe(),
                        latency,
                        breaker,
                        tier.backend.warnings(),
                    ),
                    Err(crate::l2::L2Error::Timeout) => TierHealth::down(
                        tier.backend.describe(),
                        format!("no answer within {:?}", inner.config.l2_timeout),
                        breaker,
                    ),
                    Err(error) => {
                        TierHealth::down(tier.backend.describe(), error.to_string(), breaker)
                    }
                }
            }
        };
        HealthReport::new(l1, l2, inner.closed.load(Ordering::Acquire))
    }

    /// Stops background refreshes (cancelling those still running), closes L2 connections, and
    /// makes later calls fail with [`CacheError::Closed`]. Waits at most `grace` for tasks.
    pub async fn close_within(&self, grace: Duration) {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        inner.shutdown.cancel();
        inner.tasks.close();
        if tokio::time::timeout(grace, inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background cache tasks still running after {grace:?}; leaving them");
        }
        if let Some(tier) = &inner.l2 {
            tier.backend.close().await;
        }
        inner.ticker_stop.cancel();
    }

    /// [`close_within`](Self::close_within) five seconds.
    pub async fn close(&self) {
        self.close_within(Duration::from_secs(5)).await;
    }

    /// Whether [`close`](Self::close) was called: every later call fails with
    /// [`CacheError::Closed`].
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// The config the cache runs with.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
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
