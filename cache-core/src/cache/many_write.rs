//! Batch writes: [`SetMany`] and [`InvalidateMany`], each entry written as by its single-key
//! form, the L2 writes sent together.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;

use super::Inner;
use super::TieredCache;
use super::options::WriteOptions;
use super::tier::with_budget;
use crate::codec::CodecKind;
use crate::error::CacheError;
use crate::keys::{self, DEFAULT_NAMESPACE, KeyRef};
use crate::l2::BoxFuture;

impl<C> TieredCache<C> {
    /// Writes every `(key, value)` of `entries` (namespace `"default"` unless
    /// [`SetMany::namespace`]); the L2 writes are sent together. Each entry is written as by
    /// [`set`](TieredCache::set).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tiered_cache_core::CacheError> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() })
    ///     .await
    ///     .expect("valid config");
    /// cache.set_many(&[("a", 1u32), ("b", 2)]).namespace("n").await?;
    /// assert_eq!(cache.get_many::<u32, _>(&["a", "b"]).namespace("n").await?, [Some(1), Some(2)]);
    /// cache.invalidate_many(&["a", "b"]).namespace("n").await?;
    /// assert_eq!(cache.get_many::<u32, _>(&["a", "b"]).namespace("n").await?, [None, None]);
    /// # Ok(()) }
    /// ```
    pub fn set_many<'a, K: AsRef<str>, T>(&'a self, entries: &'a [(K, T)]) -> SetMany<'a, K, T> {
        SetMany {
            inner: &self.inner,
            entries,
            namespace: DEFAULT_NAMESPACE,
            options: WriteOptions::default(),
        }
    }

    /// Invalidates every key of `keys` (namespace `"default"` unless
    /// [`InvalidateMany::namespace`]), each as by [`invalidate`](TieredCache::invalidate); the
    /// L2 writes are sent together.
    pub fn invalidate_many<'a, K: AsRef<str>>(&'a self, keys: &'a [K]) -> InvalidateMany<'a> {
        InvalidateMany {
            inner: &self.inner,
            keys: keys.iter().map(AsRef::as_ref).collect(),
            namespace: DEFAULT_NAMESPACE,
        }
    }
}

/// A write of many entries; `.await` it for `Result<(), CacheError>`. Every key is checked
/// before anything is written; an entry that fails later (too large, not serializable) is
/// reported, the others are written.
#[must_use = "a write does nothing until awaited"]
pub struct SetMany<'a, K, T> {
    inner: &'a Arc<Inner>,
    entries: &'a [(K, T)],
    namespace: &'a str,
    options: WriteOptions,
}

impl<'a, K, T> SetMany<'a, K, T> {
    /// Writes into `namespace` instead of `"default"`.
    pub fn namespace(mut self, namespace: &'a str) -> Self {
        self.namespace = namespace;
        self
    }

    /// Lifetime of every entry (default `l2_ttl`).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.options.ttl = Some(ttl);
        self
    }

    /// Stale window of every entry (default: the configured window).
    pub fn stale(mut self, window: Duration) -> Self {
        self.options.stale = Some(window);
        self
    }

    /// Tags every entry (see [`SetBuilder::tags`](crate::SetBuilder::tags)).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.set_tags(tags);
        self
    }

    /// Writes every entry with `codec` instead of the config's (see
    /// [`SetBuilder::codec`](crate::SetBuilder::codec)).
    pub fn codec(mut self, codec: CodecKind) -> Self {
        self.options.codec = Some(codec);
        self
    }
}

impl<'a, K, T> IntoFuture for SetMany<'a, K, T>
where
    K: AsRef<str> + Sync,
    T: serde::Serialize + Clone + Send + Sync + 'static,
{
    type Output = Result<(), CacheError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(with_budget(async move {
            self.inner.check_open()?;
            keys::validate_namespace(self.namespace)?;
            for (key, _) in self.entries {
                keys::validate_key(key.as_ref())?;
            }
            let writes = self.entries.iter().map(|(key, value)| {
                let write = KeyRef {
                    namespace: self.namespace,
                    key: key.as_ref(),
                };
                self.inner.set_value(write, value, &self.options)
            });
            join_all(writes).await.into_iter().collect()
        }))
    }
}

/// An invalidation of many keys; `.await` it for `Result<(), CacheError>`.
#[must_use = "an invalidation does nothing until awaited"]
pub struct InvalidateMany<'a> {
    inner: &'a Arc<Inner>,
    keys: Vec<&'a str>,
    namespace: &'a str,
}

impl<'a> InvalidateMany<'a> {
    /// Invalidates in `namespace` instead of `"default"`.
    pub fn namespace(mut self, namespace: &'a str) -> Self {
        self.namespace = namespace;
        self
    }
}

impl<'a> IntoFuture for InvalidateMany<'a> {
    type Output = Result<(), CacheError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(with_budget(async move {
            self.inner.check_open()?;
            keys::validate_namespace(self.namespace)?;
            for key in &self.keys {
                keys::validate_key(key)?;
            }
            let namespace = self.namespace;
            join_all(
                self.keys
                    .iter()
                    .map(|key| self.inner.invalidate(KeyRef { namespace, key })),
            )
            .await;
            Ok(())
        }))
    }
}
