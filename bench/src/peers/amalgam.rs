//! `amalgam-cache` (0.4, `redis` feature): an L1 + Redis L2 cache with a Redis backplane and a
//! Redis distributed locker, as its Redis example wires it; values in its postcard serializer
//! (the binary one it ships, closest to ours' bincode).

use std::sync::Arc;
use std::time::Duration;

use amalgam::Cache;
use amalgam::provider::{
    Backplane, DistributedCache, DistributedLocker, DistributedSerializer, PostcardSerializer,
    RedisBackplane, RedisDistributedCache, RedisDistributedLocker,
};

use crate::BenchResult;
use crate::value::Item;

/// One amalgam instance on `url`: its own L2, backplane and locker connections (as a process
/// of its own would have), keys under `prefix`, entries kept for `ttl`.
pub async fn connect(url: &str, prefix: &str, ttl: Duration) -> BenchResult<Cache<Item>> {
    connect_with(url, prefix, amalgam::EntryOptions::new(ttl)).await
}

/// [`connect`] with `options` as every entry's default options.
pub async fn connect_with(
    url: &str,
    prefix: &str,
    options: amalgam::EntryOptions,
) -> BenchResult<Cache<Item>> {
    let l2 = RedisDistributedCache::connect(url.to_owned()).await?;
    let backplane = RedisBackplane::connect(url.to_owned()).await?;
    let locker = RedisDistributedLocker::connect(url.to_owned()).await?;
    let cache = Cache::builder()
        .distributed(Arc::new(l2) as Arc<dyn DistributedCache>)
        .serializer(Arc::new(PostcardSerializer) as Arc<dyn DistributedSerializer<Item>>)
        .backplane(Arc::new(backplane) as Arc<dyn Backplane>)
        .distributed_locker(Arc::new(locker) as Arc<dyn DistributedLocker>)
        .key_prefix(prefix)
        .default_options(options)
        .try_build()?;
    Ok(cache)
}

/// Reads `key` from Redis only (its L1 neither read nor written).
pub async fn get_l2(cache: &Cache<Item>, key: &str) -> BenchResult<Option<Item>> {
    Ok(cache
        .try_get(key)
        .options(|options| options.with_skip_memory(true, true))
        .await?)
}

/// Reads `key` as a service would (L1, then L2).
pub async fn get(cache: &Cache<Item>, key: &str) -> BenchResult<Option<Item>> {
    Ok(cache.try_get(key).await?)
}

/// Reads `key` through, calling `origin` on a miss (its stampede protection and locks on).
pub async fn get_or_set<F, Fut>(cache: &Cache<Item>, key: &str, origin: F) -> BenchResult<Item>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Item> + Send + 'static,
{
    Ok(cache
        .get_or_set(
            key,
            amalgam::source::factory(move |ctx| async move {
                Ok::<_, amalgam::FactoryError>(ctx.value(origin().await))
            }),
        )
        .await?)
}

/// Stores `item` under `key` (L1, L2 and a backplane notice).
pub async fn set(cache: &Cache<Item>, key: &str, item: Item) -> BenchResult<()> {
    cache.set(key, item).await?;
    Ok(())
}
