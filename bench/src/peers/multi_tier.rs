//! `multi-tier-cache` (0.6): a moka L1 over a Redis L2 with pub/sub invalidation between
//! instances, wired as its invalidation docs show (`CacheManager::new_with_invalidation`, the
//! default channel, updates broadcast with `set_with_broadcast`); values in its default JSON
//! serializer. Its stampede protection coalesces within one instance.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use multi_tier_cache::{
    CacheManager, CacheSerializer, CacheStrategy, InvalidationConfig, L1Cache, L2Cache,
    MokaCacheConfig,
};

use crate::BenchResult;
use crate::value::Item;

/// One instance on `url` (its own L1, Redis connections and subscriber), an L1 of
/// `l1_capacity` entries, entries kept for `ttl`.
pub async fn connect(url: &str, l1_capacity: u64, ttl: Duration) -> BenchResult<Arc<CacheManager>> {
    let l1 = Arc::new(L1Cache::new(MokaCacheConfig {
        max_capacity: l1_capacity,
        time_to_live: ttl,
        ..MokaCacheConfig::default()
    })?);
    let l2 = Arc::new(L2Cache::with_url(url).await?);
    let manager =
        CacheManager::new_with_invalidation(l1, l2, url, InvalidationConfig::default()).await?;
    Ok(Arc::new(manager))
}

/// Reads `key` (L1, then L2 with promotion).
pub async fn get<T: serde::de::DeserializeOwned>(
    cache: &CacheManager,
    key: &str,
) -> BenchResult<Option<T>> {
    Ok(cache.get_typed::<T>(key).await?)
}

/// Reads `key` through, calling `origin` on a miss.
pub async fn get_or_compute<F, Fut>(
    cache: &CacheManager,
    key: &str,
    ttl: Duration,
    origin: F,
) -> BenchResult<Item>
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Item> + Send,
{
    Ok(cache
        .get_or_compute_typed(key, CacheStrategy::Custom(ttl), || async move {
            Ok(origin().await)
        })
        .await?)
}

/// Stores `item` under `key` in every tier and broadcasts the update to the other instances.
pub async fn set<T: serde::Serialize>(
    cache: &CacheManager,
    key: &str,
    item: &T,
    ttl: Duration,
) -> BenchResult<()> {
    let bytes = CacheSerializer::default().serialize(item)?;
    cache
        .set_with_broadcast(key, bytes, CacheStrategy::Custom(ttl))
        .await?;
    Ok(())
}
