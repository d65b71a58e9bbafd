//! What users call on a [`TieredCache`]: reads, writes, invalidations, clears, counters,
//! health and shutdown. Each returns a builder or does its work through the engine's other
//! modules; nothing here decides anything.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{GetBuilder, GetWith, InvalidateBuilder, LoadBuilder, SetBuilder, TieredCache, tier};
use crate::config::CacheConfig;
use crate::error::CacheError;
use crate::health::{HealthReport, TierHealth};
use crate::stats::{CacheStats, Gauges};

impl<C> TieredCache<C> {
    /// Reads `key` (namespace `"default"` unless [`GetBuilder::namespace`] says otherwise).
    /// Add [`GetBuilder::refresh_with`] to load misses and refresh stale entries.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.set("user:1", &"Ada".to_owned()).await?;
    /// let name: Option<String> = cache.get("user:1").await?;
    /// assert_eq!(name.as_deref(), Some("Ada"));
    /// let missing: Option<String> = cache.get("user:2").namespace("users").await?;
    /// assert_eq!(missing, None);
    /// # Ok(()) }
    /// ```
    pub fn get<'a, T>(&'a self, key: &'a str) -> GetBuilder<'a, T> {
        GetBuilder::new(&self.inner, key)
    }

    /// Reads `key`, loading a miss with `loader`, which cannot fail: the value it returns is
    /// cached and returned. See [`GetWith`]; for loaders that can fail, use
    /// [`GetBuilder::refresh_with`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// let answer: u32 = cache.get_with("answer", || async { 42 }).await?;
    /// assert_eq!(answer, 42);
    /// # Ok(()) }
    /// ```
    pub fn get_with<'a, T, F, Fut>(&'a self, key: &'a str, loader: F) -> GetWith<'a, T, F>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + Send + 'static,
    {
        GetWith::new(LoadBuilder::new(GetBuilder::new(&self.inner, key), loader))
    }

    /// Writes `value` under `key` in both tiers (ttl `l2_ttl` unless [`SetBuilder::ttl`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// use std::time::Duration;
    ///
    /// cache.set("k", &vec![1u8, 2, 3]).ttl(Duration::from_secs(60)).await?;
    /// assert_eq!(cache.get::<Vec<u8>>("k").await?, Some(vec![1, 2, 3]));
    /// # Ok(()) }
    /// ```
    pub fn set<'a, T>(&'a self, key: &'a str, value: &'a T) -> SetBuilder<'a, T> {
        SetBuilder::new(&self.inner, key, value)
    }

    /// Removes `key` from both tiers; a load of it that is running will not write back.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.set("k", &1u32).namespace("n").await?;
    /// cache.invalidate("k").namespace("n").await?;
    /// assert_eq!(cache.get::<u32>("k").namespace("n").await?, None);
    /// # Ok(()) }
    /// ```
    pub fn invalidate<'a>(&'a self, key: &'a str) -> InvalidateBuilder<'a> {
        InvalidateBuilder::new(&self.inner, key)
    }

    /// Invalidates every entry carrying `tag` (see [`SetBuilder::tags`]), in every namespace and
    /// instance, without scanning Redis.
    ///
    /// # Errors
    /// [`CacheError::InvalidOption`] for an empty or overlong tag, or [`CacheError::Closed`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.set("a", &1u32).tags(["team:7"]).await?;
    /// cache.set("b", &2u32).namespace("other").tags(["team:7"]).await?;
    /// cache.invalidate_tag("team:7").await?;
    /// assert_eq!(cache.get::<u32>("a").await?, None);
    /// assert_eq!(cache.get::<u32>("b").namespace("other").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_tag(&self, tag: &str) -> Result<(), CacheError> {
        tier::with_budget(self.inner.invalidate_tag(tag)).await
    }

    /// Removes every entry of `namespace`, in this instance at once and in every instance within
    /// `sync_interval`. Costs O(1) in Redis whatever the namespace holds.
    ///
    /// # Errors
    /// [`CacheError::InvalidNamespace`] or [`CacheError::Closed`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.set("k", &1u32).namespace("users").await?;
    /// cache.set("k", &2u32).await?;
    /// cache.clear_namespace("users").await?;
    /// assert_eq!(cache.get::<u32>("k").namespace("users").await?, None);
    /// assert_eq!(cache.get::<u32>("k").await?, Some(2), "other namespaces keep theirs");
    /// # Ok(()) }
    /// ```
    pub async fn clear_namespace(&self, namespace: &str) -> Result<(), CacheError> {
        tier::with_budget(self.inner.clear(Some(namespace))).await
    }

    /// Removes every entry of every namespace under this cache's `key_prefix` (other
    /// applications' keys in the same Redis are untouched).
    ///
    /// # Errors
    /// [`CacheError::Closed`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.set("k", &1u32).namespace("users").await?;
    /// cache.clear_all().await?;
    /// assert_eq!(cache.get::<u32>("k").namespace("users").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn clear_all(&self) -> Result<(), CacheError> {
        tier::with_budget(self.inner.clear(None)).await
    }

    /// Reads and loads counted by namespace: one row for each of the first
    /// `metrics_namespaces` namespaces used, and an `"other"` row for the rest (when any).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// let users = cache.namespace("users")?;
    /// users.get_with("1", || async { 1u32 }).await?; // a miss and a load
    /// users.get_with("1", || async { 1u32 }).await?; // a hit
    /// let row = cache.namespace_stats().into_iter().find(|s| s.namespace == "users").unwrap();
    /// assert_eq!((row.hits, row.misses, row.loads), (1, 1, 1));
    /// # Ok(()) }
    /// ```
    pub fn namespace_stats(&self) -> Vec<crate::NamespaceStats> {
        self.inner.namespaces.stats()
    }

    /// A snapshot of the counters.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// let _ = cache.get::<u32>("k").await?;
    /// assert_eq!(cache.stats().overall_stats.total_requests, 1);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> CacheStats {
        let inner = &self.inner;
        let (circuit_breaker, breaker_transitions) = match &inner.l2 {
            Some(tier) => (tier.breaker_state(), tier.breaker.transitions()),
            None => ("closed", (0, 0)),
        };
        let l1_hits = inner
            .namespaces
            .stats()
            .iter()
            .map(|namespace| namespace.hits + namespace.stale)
            .sum();
        inner.counters.snapshot(Gauges {
            l1_hits,
            l1_size: inner.l1.len() as u64,
            l1_capacity: inner.l1.capacity() as u64,
            l2_enabled: inner.l2.is_some(),
            circuit_breaker,
            breaker_transitions,
            pending_recovery: inner.recovery.len() as u64,
        })
    }

    /// Pings L2 (bounded by `l2_timeout`) and reports each tier's state. Never shows credentials.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// let report = cache.health_check().await;
    /// assert!(report.healthy);
    /// assert_eq!(report.status, "healthy");
    /// # Ok(()) }
    /// ```
    pub async fn health_check(&self) -> HealthReport {
        let inner = &self.inner;
        let l1 = TierHealth::l1(inner.l1.len(), inner.l1.capacity());
        let l2 = match &inner.l2 {
            None => TierHealth::disabled(),
            Some(tier) => {
                let since = tier.loss_epoch();
                let started = Instant::now();
                let ping = tokio::time::timeout(inner.config.l2_timeout, tier.backend.ping()).await;
                let latency = started.elapsed();
                // The ping is evidence for the breaker too, so the report and the breaker agree.
                let ping = ping.unwrap_or(Err(crate::l2::L2Error::Timeout));
                tier.observe_health(since, &ping);
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// use std::time::Duration;
    ///
    /// cache.close_within(Duration::from_millis(100)).await;
    /// assert!(cache.is_closed());
    /// assert!(cache.get::<u32>("k").await.is_err(), "closed");
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.close().await;
    /// assert_eq!(cache.set("k", &1u32).await, Err(tiered_cache_core::CacheError::Closed));
    /// # Ok(()) }
    /// ```
    pub async fn close(&self) {
        self.close_within(Duration::from_secs(5)).await;
    }

    /// Whether [`close`](Self::close) was called: every later call fails with
    /// [`CacheError::Closed`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// assert!(!cache.is_closed());
    /// cache.close().await;
    /// assert!(cache.is_closed());
    /// # Ok(()) }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// The config the cache runs with.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// assert_eq!(cache.config().l1_max_size, 1000);
    /// # Ok(()) }
    /// ```
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }
}
