//! Writes: `set`, `invalidate`, tag invalidation and namespace clears.
//!
//! Every L2 write is conditional on its created stamp (see [`crate::l2::L2Backend::put`]), so
//! an older write (a slow load, a set that lost a race) never replaces a newer entry or an
//! invalidation, on any instance. Each write that takes effect publishes a notice on the
//! backplane so other instances drop their L1 copies. Locally, a write opens a fence
//! ([`Inner::begin_write`]) before it touches L2: from then on no older value enters L1, and
//! once the write returns this instance never serves the value it replaced.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::Inner;
use super::admit::Ticket;
use super::options::WriteOptions;
use super::recovery::Target;
use super::stored::{self, L2Write};
use super::tier::with_budget;
use crate::clock::Stamp;
use crate::codec::CodecKind;
use crate::error::CacheError;
use crate::keys::{self, DEFAULT_NAMESPACE, EntryKey, KeyRef};
use crate::l2::BoxFuture;
use crate::tags;

impl Inner {
    /// Writes `value` under `key` in both tiers.
    pub(crate) async fn set_value<T>(
        &self,
        key: KeyRef<'_>,
        value: &T,
        options: &WriteOptions,
    ) -> Result<(), CacheError>
    where
        T: Serialize + Clone + Send + Sync + 'static,
    {
        // In a block: the resolved options end here, and the future holds no room for them
        // while the write waits for L2 (see `heap_sizes`).
        let (namespace, epoch, tags, meta, bytes) = {
            let lifetime = options.resolve(&self.config)?;
            // The namespace epoch and the tag states before the stamp: a clear or tag
            // invalidation that comes after them either orders after this write or retires its
            // L1 copy.
            let namespace = self.namespaces.get(key.namespace);
            let epoch = namespace.epoch();
            let tags = self.tag_refs(&lifetime.tags).await;
            let created = self.stamps.next();
            let meta = lifetime.meta(created, self.stamps.now_ms());
            let bytes = stored::encode(value, &lifetime, &meta, self.config.max_value_size)?;
            (namespace, epoch, tags, meta, Bytes::from(bytes))
        };
        let size = bytes.len();
        let _fence = self.begin_write(key, meta.created);
        let written = self
            .put_l2(key, bytes.clone(), &meta, None, options.skips)
            .await;
        if written == L2Write::Failed {
            // Replayed once L2 answers; until then this instance reads it instead of L2's.
            self.remember_failed_write(key, bytes, meta);
        }
        if written != L2Write::Superseded {
            // Written, or L2 is down or absent: this instance serves the new value (a newer
            // one, should another write have begun meanwhile, keeps it out).
            let entry = self.l1_entry(value.clone(), meta, epoch, &namespace, tags, size);
            self.admit(key, &entry, Ticket::WRITER);
        }
        Ok(())
    }

    /// Removes `key` everywhere and blocks older in-flight writes of it.
    pub(crate) async fn invalidate(&self, key: KeyRef<'_>) {
        let at = self.stamps.next();
        let _fence = self.begin_write(key, at);
        if !self.put_tombstone(key, at, None).await.settled() {
            self.remember_failed(Target::Key(EntryKey::new(key.namespace, key.key)), at);
        }
    }

    /// Invalidates every entry carrying `tag`, in every namespace and instance.
    pub(crate) async fn invalidate_tag(&self, tag: &str) -> Result<(), CacheError> {
        self.check_open()?;
        tags::validate_tag(tag)?;
        let at = self.stamps.next();
        self.tags.get(tag).mark(at);
        self.peers.wake_all();
        if !self.put_tag_mark(tag, at).await {
            self.remember_failed(Target::Tag(tag.to_owned()), at);
        }
        Ok(())
    }

    /// Applies a tag invalidation learned from another instance.
    pub(crate) fn apply_tag(&self, tag: &str, at: Stamp) {
        self.stamps.observe(at);
        // Only tags some L1 entry or load holds matter here; others are read from L2 on use.
        if let Some(state) = self.tags.existing(tag) {
            state.mark(at);
        }
        self.peers.wake_all();
    }

    /// Clears one namespace, or all of them.
    pub(crate) async fn clear(&self, namespace: Option<&str>) -> Result<(), CacheError> {
        self.check_open()?;
        if let Some(namespace) = namespace {
            keys::validate_namespace(namespace)?;
        }
        let at = self.stamps.next();
        self.apply_clear(namespace, at);
        if !self.put_clear_mark(namespace, at).await {
            let target = namespace.map_or(Target::All, |ns| Target::Namespace(ns.to_owned()));
            self.remember_failed(target, at);
        }
        Ok(())
    }

    /// Applies a clear (local or learned from L2) to this instance.
    pub(crate) fn apply_clear(&self, namespace: Option<&str>, at: Stamp) {
        self.stamps.observe(at);
        let fresh = match namespace {
            Some(ns) => self.namespaces.mark_cleared(ns, at),
            None => self.namespaces.mark_all_cleared(at),
        };
        if !fresh {
            return;
        }
        self.flights.detach_where(namespace);
        self.drop_namespace(namespace);
        self.peers.wake_all();
    }
}

/// A write of one value; `.await` it for `Result<(), CacheError>`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tiered_cache_core::{CacheConfig, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// use std::time::Duration;
///
/// cache
///     .set("user:1", &"Ada".to_owned())
///     .namespace("users")
///     .ttl(Duration::from_secs(600))
///     .tags(["team:7"])
///     .await?;
/// cache.invalidate_tag("team:7").await?;
/// assert_eq!(cache.get::<String>("user:1").namespace("users").await?, None);
/// # Ok(()) }
/// ```
#[must_use = "a write does nothing until awaited"]
pub struct SetBuilder<'a, T> {
    inner: &'a Arc<Inner>,
    key: &'a str,
    value: &'a T,
    namespace: &'a str,
    options: WriteOptions,
}

impl<'a, T> SetBuilder<'a, T> {
    pub(crate) fn new(inner: &'a Arc<Inner>, key: &'a str, value: &'a T) -> Self {
        SetBuilder {
            inner,
            key,
            value,
            namespace: DEFAULT_NAMESPACE,
            options: WriteOptions::default(),
        }
    }

    /// Writes into `namespace` instead of `"default"`.
    pub fn namespace(mut self, namespace: &'a str) -> Self {
        self.namespace = namespace;
        self
    }

    /// Lifetime of the entry (default `l2_ttl`).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.options.ttl = Some(ttl);
        self
    }

    /// Stale window of the entry (default: the configured window). Must be shorter than the ttl.
    pub fn stale(mut self, window: Duration) -> Self {
        self.options.stale = Some(window);
        self
    }

    /// Writes this instance's L1 only: L2 is not written and no backplane notice goes out, so
    /// other instances keep what they have (after `l1_ttl` this instance asks L2 again too).
    pub fn skip_l2_write(mut self) -> Self {
        self.options.skips.l2_write = true;
        self
    }

    /// Writes L2 without a backplane notice: other instances keep the copies they hold until
    /// `l1_ttl` (new readers see the new value).
    pub fn skip_backplane(mut self) -> Self {
        self.options.skips.backplane = true;
        self
    }

    /// Tags the entry; [`TieredCache::invalidate_tag`](crate::TieredCache::invalidate_tag)
    /// removes every entry with a tag, across namespaces and instances.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.set_tags(tags);
        self
    }

    /// Writes the entry with `codec` instead of the config's
    /// [`codec`](crate::CacheConfig::codec). Readers need no option: every entry is decoded
    /// with the codec it names.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::codec::CodecKind;
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.set("readable", &vec![1u32, 2]).codec(CodecKind::Json).await?;
    /// assert_eq!(cache.get::<Vec<u32>>("readable").await?, Some(vec![1, 2]));
    /// # Ok(()) }
    /// ```
    pub fn codec(mut self, codec: CodecKind) -> Self {
        self.options.codec = Some(codec);
        self
    }
}

impl<'a, T> IntoFuture for SetBuilder<'a, T>
where
    T: Serialize + Clone + Send + Sync + 'static,
{
    type Output = Result<(), CacheError>;
    type IntoFuture = BoxFuture<'a, Result<(), CacheError>>;

    /// # Errors
    /// Invalid key/namespace/options, [`CacheError::ValueTooLarge`], [`CacheError::Serialize`],
    /// or [`CacheError::Closed`]. A failing L2 is not an error (the value stays in L1).
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(with_budget(async move {
            let key = self.inner.checked_key(self.namespace, self.key)?;
            self.inner.set_value(key, self.value, &self.options).await
        }))
    }
}

/// An invalidation of one key; `.await` it for `Result<(), CacheError>`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tiered_cache_core::{CacheConfig, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// cache.set("k", &1u32).await?;
/// cache.invalidate("k").await?;
/// assert_eq!(cache.get::<u32>("k").await?, None);
/// # Ok(()) }
/// ```
#[must_use = "an invalidation does nothing until awaited"]
pub struct InvalidateBuilder<'a> {
    inner: &'a Arc<Inner>,
    key: &'a str,
    namespace: &'a str,
}

impl<'a> InvalidateBuilder<'a> {
    pub(crate) fn new(inner: &'a Arc<Inner>, key: &'a str) -> Self {
        InvalidateBuilder {
            inner,
            key,
            namespace: DEFAULT_NAMESPACE,
        }
    }

    /// Invalidates in `namespace` instead of `"default"`.
    pub fn namespace(mut self, namespace: &'a str) -> Self {
        self.namespace = namespace;
        self
    }
}

impl<'a> IntoFuture for InvalidateBuilder<'a> {
    type Output = Result<(), CacheError>;
    type IntoFuture = BoxFuture<'a, Result<(), CacheError>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(with_budget(async move {
            let key = self.inner.checked_key(self.namespace, self.key)?;
            self.inner.invalidate(key).await;
            Ok(())
        }))
    }
}
