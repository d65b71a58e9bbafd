//! Writes: `set`, the store step of loads, `invalidate`, tag invalidation and namespace clears.
//!
//! Every L2 write is conditional on its created stamp (see [`crate::l2::L2Backend::put`]), so
//! an older write (a slow load, a set that lost a race) never replaces a newer entry or an
//! invalidation, on any instance. Each write that takes effect publishes a notice on the
//! backplane so other instances drop their L1 copies.

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::Inner;
use super::read::FillGuard;
use super::recovery::{Target, tombstone_meta};
use crate::clock::{Stamp, duration_ms};
use crate::config::CacheConfig;
use crate::entry::EntryMeta;
use crate::envelope::{self, MAX_TAGS};
use crate::error::CacheError;
use crate::keys::{self, DEFAULT_NAMESPACE, EntryKey, KeyRef};
use crate::l1::{self, Entry, Header};
use crate::l2::{BoxFuture, WriteOutcome};
use crate::namespaces::NamespaceState;
use crate::notice::{Change, Notice};
use crate::tags;

/// Per-call write options, shared by `set` and loads.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteOptions {
    pub(crate) ttl: Option<Duration>,
    pub(crate) stale: Option<Duration>,
    pub(crate) tags: Vec<String>,
}

/// The resolved parameters of one write.
#[derive(Clone, Debug)]
pub(crate) struct Lifetime {
    pub(crate) ttl: Duration,
    pub(crate) window: Duration,
    pub(crate) grace: Duration,
    pub(crate) tags: Vec<String>,
}

impl WriteOptions {
    pub(crate) fn set_tags<I, S>(&mut self, tags: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
    }

    /// Validates the options against `config` and draws the ttl jitter.
    pub(crate) fn resolve(&self, config: &CacheConfig) -> Result<Lifetime, CacheError> {
        let ttl = self.ttl.unwrap_or(config.l2_ttl);
        check_ttl("ttl", ttl)?;
        let window = match self.stale {
            Some(window) if window >= ttl => {
                return Err(CacheError::InvalidOption {
                    option: "stale",
                    reason: format!("must be shorter than the ttl ({ttl:?}), got {window:?}"),
                });
            }
            Some(window) => window,
            None => config.default_window_for(ttl),
        };
        if self.tags.len() > MAX_TAGS {
            return Err(CacheError::InvalidOption {
                option: "tags",
                reason: format!("at most {MAX_TAGS} tags per entry, got {}", self.tags.len()),
            });
        }
        for tag in &self.tags {
            tags::validate_tag(tag)?;
        }
        let mut lifetime = Lifetime {
            ttl: jittered(ttl, config.ttl_jitter),
            window: if config.enable_swr {
                window
            } else {
                Duration::ZERO
            },
            grace: if config.fail_safe {
                config.fail_safe_max_stale
            } else {
                Duration::ZERO
            },
            tags: self.tags.clone(),
        };
        if !lifetime.tags.is_empty() {
            // A tag mark must outlive every entry that carries the tag.
            lifetime.ttl = lifetime.ttl.min(config.tag_ttl);
            lifetime.grace = lifetime.grace.min(config.tag_ttl - lifetime.ttl);
        }
        Ok(lifetime)
    }
}

pub(crate) fn check_ttl(option: &'static str, ttl: Duration) -> Result<(), CacheError> {
    if duration_ms(ttl) == 0 {
        return Err(CacheError::InvalidOption {
            option,
            reason: format!("must be at least 1 ms, got {ttl:?}"),
        });
    }
    Ok(())
}

fn jittered(ttl: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 {
        return ttl;
    }
    ttl + ttl.mul_f64(jitter * crate::rng::unit())
}

/// What became of an L2 write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L2Write {
    Written,
    Superseded,
    Failed,
    NoL2,
}

impl Lifetime {
    /// The timeline of an entry created at `created` and written at `now_ms`.
    pub(crate) fn meta(&self, created: Stamp, now_ms: u64) -> EntryMeta {
        EntryMeta::new(created, now_ms, self.ttl, self.window, self.grace)
    }

    fn tag_strs(&self) -> Vec<&str> {
        self.tags.iter().map(String::as_str).collect()
    }
}

impl Inner {
    /// The backplane notice of `change`, when the backplane is on.
    pub(crate) fn notice(&self, change: Change, stamp: Stamp) -> Option<Bytes> {
        if !self.config.backplane {
            return None;
        }
        Some(
            Notice {
                origin: self.origin,
                stamp,
                change,
            }
            .encode(),
        )
    }

    fn key_notice(&self, key: KeyRef<'_>, stamp: Stamp) -> Option<Bytes> {
        self.notice(
            Change::Key {
                namespace: key.namespace.to_owned(),
                key: key.key.to_owned(),
            },
            stamp,
        )
    }

    /// Writes `bytes` (an envelope with `meta`) to L2, counting the outcome.
    pub(crate) async fn write_l2(
        &self,
        key: KeyRef<'_>,
        bytes: Vec<u8>,
        meta: &EntryMeta,
    ) -> L2Write {
        let Some(tier) = &self.l2 else {
            return L2Write::NoL2;
        };
        let now = self.stamps.now_ms();
        let ttl_ms = meta.remaining_keep_ms(now);
        let bytes = Bytes::from(bytes);
        let notice = self.key_notice(key, meta.created);
        match tier
            .call(&self.counters, now, false, |b| {
                b.put(key, bytes, meta.created, ttl_ms, notice)
            })
            .await
        {
            Ok(WriteOutcome::Written) => {
                self.counters.l2_writes.incr();
                L2Write::Written
            }
            Ok(WriteOutcome::Superseded) => {
                self.counters.l2_writes_superseded.incr();
                L2Write::Superseded
            }
            Err(_) => {
                self.counters.l2_write_errors.incr();
                L2Write::Failed
            }
        }
    }

    /// Stores a loaded value in both tiers (L2 first, so an L2 that holds something newer keeps
    /// it out of L1). A value that cannot be encoded, or whose tag was invalidated while it
    /// loaded, is returned uncached.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn store<T: Serialize + Send + Sync + 'static>(
        &self,
        key: KeyRef<'_>,
        value: T,
        created: Stamp,
        epoch: u64,
        namespace: &Arc<NamespaceState>,
        lifetime: &Lifetime,
        guard: &FillGuard<'_>,
    ) -> Entry {
        let now = self.stamps.now_ms();
        let meta = lifetime.meta(created, now);
        let uncached = |value| {
            l1::entry(
                Header::new(meta, 0, epoch, namespace.clone(), Box::new([])),
                value,
            )
        };
        let Some(tags) = self.current_tags(&lifetime.tags, created).await else {
            return uncached(value);
        };
        let bytes = match envelope::encode_value(
            &value,
            &meta,
            &lifetime.tag_strs(),
            self.config.max_value_size,
        ) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(namespace = key.namespace, key = key.key, %error, "loaded value not cached");
                return uncached(value);
            }
        };
        if self.write_l2(key, bytes, &meta).await == L2Write::Superseded {
            self.l1.remove(key);
            return uncached(value);
        }
        self.fill_l1(key, value, meta, epoch, namespace, tags, guard)
    }

    /// Drops `key` from this instance: L1 copy, and the result of a load running now.
    pub(crate) fn evict_local(&self, key: KeyRef<'_>) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.flights.detach(key);
        self.l1.remove(key);
    }

    /// Removes `key` everywhere and blocks older in-flight writes of it.
    async fn invalidate(&self, key: KeyRef<'_>) {
        self.evict_local(key);
        if self.l2.is_none() {
            return;
        }
        let at = self.stamps.next();
        let meta = tombstone_meta(
            at,
            self.stamps.now_ms(),
            self.config.invalidation_tombstone_ttl,
        );
        if !self.write_tombstone(key, &meta).await {
            self.remember_failed(Target::Key(EntryKey::new(key.namespace, key.key)), at);
        }
    }

    /// Invalidates every entry carrying `tag`, in every namespace and instance.
    pub(crate) async fn invalidate_tag(&self, tag: &str) -> Result<(), CacheError> {
        self.check_open()?;
        tags::validate_tag(tag)?;
        let at = self.stamps.next();
        self.tags.get(tag).mark(at);
        let Some(tier) = &self.l2 else {
            return Ok(());
        };
        let now = self.stamps.now_ms();
        let ttl_ms = duration_ms(self.config.tag_ttl);
        let notice = self.notice(Change::Tag(tag.to_owned()), at);
        if tier
            .call(&self.counters, now, false, |b| {
                b.invalidate_tag(tag, at, ttl_ms, notice)
            })
            .await
            .is_err()
        {
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
    }

    /// Clears one namespace, or all of them.
    pub(crate) async fn clear(&self, namespace: Option<&str>) -> Result<(), CacheError> {
        self.check_open()?;
        if let Some(namespace) = namespace {
            keys::validate_namespace(namespace)?;
        }
        let at = self.stamps.next();
        self.apply_clear(namespace, at);
        let Some(tier) = &self.l2 else {
            return Ok(());
        };
        let now = self.stamps.now_ms();
        let recorded = match namespace {
            Some(ns) => {
                let notice = self.notice(Change::Namespace(ns.to_owned()), at);
                tier.call(&self.counters, now, false, |b| {
                    b.clear_namespace(ns, at, notice)
                })
                .await
            }
            None => {
                let notice = self.notice(Change::All, at);
                tier.call(&self.counters, now, false, |b| b.clear_all(at, notice))
                    .await
            }
        };
        if recorded.is_err() {
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
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.flights.detach_where(namespace);
        match namespace {
            Some(ns) => self.l1.remove_namespace(ns),
            None => self.l1.clear(),
        }
    }
}

/// A write of one value; `.await` it for `Result<(), CacheError>`.
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
        Box::pin(async move {
            let inner = self.inner;
            let key = inner.checked_key(self.namespace, self.key)?;
            let lifetime = self.options.resolve(&inner.config)?;
            let namespace = inner.namespaces.get(key.namespace);
            let epoch = namespace.epoch();
            let seen = FillGuard::Invalidations(inner.invalidations.load(Ordering::SeqCst));
            let created = inner.stamps.next();
            let meta = lifetime.meta(created, inner.stamps.now_ms());
            let bytes = envelope::encode_value(
                self.value,
                &meta,
                &lifetime.tag_strs(),
                inner.config.max_value_size,
            )?;
            // A load of this key that is running started before this write: keep it out.
            inner.flights.detach(key);
            let Some(tags) = inner.current_tags(&lifetime.tags, created).await else {
                return Ok(());
            };
            if inner.write_l2(key, bytes, &meta).await == L2Write::Superseded {
                inner.l1.remove(key);
                return Ok(());
            }
            inner.fill_l1(
                key,
                self.value.clone(),
                meta,
                epoch,
                &namespace,
                tags,
                &seen,
            );
            Ok(())
        })
    }
}

/// An invalidation of one key; `.await` it for `Result<(), CacheError>`.
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
        Box::pin(async move {
            let key = self.inner.checked_key(self.namespace, self.key)?;
            self.inner.invalidate(key).await;
            Ok(())
        })
    }
}
