//! Writes: `set`, the store step of loads, `invalidate`, and namespace clears.
//!
//! Every L2 write is conditional on its created stamp (see [`crate::l2::L2Backend::put`]), so
//! an older write (a slow load, a set that lost a race) never replaces a newer entry or an
//! invalidation, on any instance.

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::Inner;
use super::read::FillGuard;
use crate::clock::{Stamp, duration_ms};
use crate::config::CacheConfig;
use crate::entry::EntryMeta;
use crate::envelope;
use crate::error::CacheError;
use crate::keys::{self, DEFAULT_NAMESPACE, KeyRef};
use crate::l1::{self, Entry, Header};
use crate::l2::{BoxFuture, WriteOutcome};
use crate::namespaces::NamespaceState;

/// Per-call write options, shared by `set` and loads.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteOptions<'a> {
    pub(crate) ttl: Option<Duration>,
    pub(crate) stale: Option<Duration>,
    pub(crate) _tags: std::marker::PhantomData<&'a str>,
}

/// The resolved timeline parameters of one write.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lifetime {
    pub(crate) ttl: Duration,
    pub(crate) window: Duration,
    pub(crate) grace: Duration,
}

impl WriteOptions<'_> {
    pub(crate) fn resolve(&self, config: &CacheConfig) -> Result<Lifetime, CacheError> {
        let ttl = self.ttl.unwrap_or(config.l2_ttl);
        if duration_ms(ttl) == 0 {
            return Err(CacheError::InvalidOption {
                option: "ttl",
                reason: format!("must be at least 1 ms, got {ttl:?}"),
            });
        }
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
        let window = if config.enable_swr {
            window
        } else {
            Duration::ZERO
        };
        Ok(Lifetime {
            ttl,
            window,
            grace: Duration::ZERO,
        })
    }
}

/// What became of an L2 write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L2Write {
    Written,
    Superseded,
    Failed,
    NoL2,
}

impl Inner {
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
        match tier
            .call(&self.counters, now, false, |b| {
                b.put(key, bytes, meta.created, ttl_ms)
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
    /// it out of L1). A value that cannot be encoded is returned uncached.
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
        let meta = EntryMeta::new(created, now, lifetime.ttl, lifetime.window, lifetime.grace);
        let outcome = match envelope::encode_value(&value, &meta, &[], self.config.max_value_size) {
            Ok(bytes) => self.write_l2(key, bytes, &meta).await,
            Err(error) => {
                tracing::warn!(namespace = key.namespace, key = key.key, %error, "loaded value not cached");
                return l1::entry(Header::new(meta, 0, epoch, namespace.clone()), value);
            }
        };
        if outcome == L2Write::Superseded {
            self.l1.remove(key);
            return l1::entry(Header::new(meta, 0, epoch, namespace.clone()), value);
        }
        self.fill_l1(key, value, meta, epoch, namespace, guard)
    }

    /// Removes `key` everywhere and blocks older in-flight writes of it.
    async fn invalidate(&self, key: KeyRef<'_>) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.flights.detach(key);
        self.l1.remove(key);
        if self.l2.is_none() {
            return;
        }
        let now = self.stamps.now_ms();
        let tombstone_ttl = self.config.invalidation_tombstone_ttl;
        let meta = EntryMeta::new(
            self.stamps.next(),
            now,
            tombstone_ttl,
            Duration::ZERO,
            Duration::ZERO,
        );
        self.write_l2(key, envelope::encode_tombstone(&meta), &meta)
            .await;
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
                tier.call(&self.counters, now, false, |b| b.clear_namespace(ns, at))
                    .await
            }
            None => {
                tier.call(&self.counters, now, false, |b| b.clear_all(at))
                    .await
            }
        };
        if recorded.is_err() {
            tracing::warn!(
                namespace = namespace.unwrap_or("*"),
                "clear applied locally but not recorded in L2; other instances keep their entries"
            );
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
    options: WriteOptions<'a>,
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
            let now = inner.stamps.now_ms();
            let meta = EntryMeta::new(created, now, lifetime.ttl, lifetime.window, lifetime.grace);
            let bytes =
                envelope::encode_value(self.value, &meta, &[], inner.config.max_value_size)?;
            // A load of this key that is running started before this write: keep it out.
            inner.flights.detach(key);
            if inner.write_l2(key, bytes, &meta).await == L2Write::Superseded {
                inner.l1.remove(key);
                return Ok(());
            }
            inner.fill_l1(key, self.value.clone(), meta, epoch, &namespace, &seen);
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
