//! [`GetEntry`]: a plain read that also says what it found (state, age, remaining life, tier).

use std::future::IntoFuture;

use serde::de::DeserializeOwned;

use super::Inner;
use super::decide::State;
use super::read::{GetBuilder, Probe, Read};
use super::tier::with_budget;
use crate::error::CacheError;
use crate::keys::KeyRef;
use crate::l2::BoxFuture;
use crate::meta::CacheEntry;
use crate::source::{Freshness, Source, Tier};

impl<'a, T> GetBuilder<'a, T> {
    /// Reads the value with what the cache knows about it: fresh or stale, its age and
    /// remaining life, and the tier that held it. Otherwise the same read (and counted the
    /// same way).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tiered_cache_core::source::Freshness;
    /// use tiered_cache_core::{CacheConfig, Tier, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.set("k", &7u32).ttl(Duration::from_secs(60)).await?;
    /// let entry = cache.get::<u32>("k").with_meta().await?.expect("a hit");
    /// assert_eq!(entry.value, 7);
    /// assert_eq!(entry.source.tier(), Tier::L1);
    /// assert_eq!(entry.source.freshness(), Freshness::Fresh);
    /// assert!(entry.expires_in <= Duration::from_secs(60));
    /// # Ok(()) }
    /// ```
    pub fn with_meta(self) -> GetEntry<'a, T> {
        GetEntry { get: self }
    }
}

/// A read that answers with a [`CacheEntry`]; `.await` it for
/// `Result<Option<CacheEntry<T>>, CacheError>`.
#[must_use = "a read does nothing until awaited"]
pub struct GetEntry<'a, T> {
    get: GetBuilder<'a, T>,
}

impl<'a, T> IntoFuture for GetEntry<'a, T>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Output = Result<Option<CacheEntry<T>>, CacheError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let GetBuilder {
            inner,
            key,
            namespace,
            skip_l1,
            ..
        } = self.get;
        Box::pin(with_budget(async move {
            let key = inner.checked_key(namespace, key)?;
            Ok(inner.read_entry(key, skip_l1).await)
        }))
    }
}

impl Inner {
    /// A plain read, reporting what it found.
    async fn read_entry<T>(&self, key: KeyRef<'_>, skip_l1: bool) -> Option<CacheEntry<T>>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let now = self.stamps.recent_ms();
        let (copy, fill) = if skip_l1 {
            self.counters.l1_misses.incr();
            (None, false)
        } else {
            match self.probe::<T>(key, now) {
                Probe::Hit {
                    value,
                    stale,
                    entry,
                } => {
                    if stale {
                        self.counters.stale_hits.incr();
                    }
                    let freshness = if stale {
                        Freshness::Stale
                    } else {
                        Freshness::Fresh
                    };
                    let meta = entry.header().meta;
                    let source = Source::new(Tier::L1, freshness);
                    return Some(CacheEntry::new(value, source, meta, now));
                }
                Probe::Revalidate(entry) => (Some(entry), true),
                // A plain read has no loader to fail: an expired copy is a miss.
                Probe::Kept(_) | Probe::Miss => (None, true),
            }
        };
        let Read {
            value,
            state,
            meta,
            tier,
        } = self.get_slow::<T>(key, copy, fill).await?;
        // A plain read serves fresh and stale values only.
        let freshness = if state == State::Stale {
            Freshness::Stale
        } else {
            Freshness::Fresh
        };
        let source = Source::new(tier, freshness);
        Some(CacheEntry::new(
            value,
            source,
            meta,
            self.stamps.recent_ms(),
        ))
    }
}
