//! Reads: the L1 probe every read starts with, the L2 read behind it, and [`GetBuilder`].

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;

use super::Inner;
use super::load::LoadBuilder;
use super::tier::Skip;
use crate::entry::{EntryMeta, Freshness};
use crate::envelope::{self, DecodeError};
use crate::error::CacheError;
use crate::flight::FlightGuard;
use crate::keys::{self, DEFAULT_NAMESPACE, EntryKey, KeyRef};
use crate::l1::{self, Entry, Header};
use crate::l2::{BoxFuture, L2Error};
use crate::namespaces::NamespaceState;
use crate::tags::TagRef;

/// What L1 holds for a key.
pub(crate) enum Probe<T> {
    /// A usable copy; `stale` says whether it is in its stale window.
    Hit { value: T, stale: bool, entry: Entry },
    /// A copy older than `l1_ttl`: ask L2, fall back to this copy when L2 cannot answer.
    Revalidate(Entry),
    /// An expired copy still kept as a fail-safe fallback.
    Kept(Entry),
    /// Nothing usable.
    Miss,
}

/// A value found in a tier, with its timeline and its L1 entry.
pub(crate) struct Found<T> {
    pub(crate) value: T,
    pub(crate) meta: EntryMeta,
    pub(crate) entry: Entry,
}

impl<T: Clone + 'static> Found<T> {
    /// The value of an L1 entry, when it holds a `T`.
    pub(crate) fn from_entry(entry: Entry) -> Option<Self> {
        let value = l1::value_of::<T>(&*entry)?.clone();
        let meta = entry.header().meta;
        Some(Found { value, meta, entry })
    }
}

/// What L2 holds for a key.
pub(crate) enum L2Read<T> {
    Hit(T, EntryMeta, Box<[TagRef]>),
    Miss,
    /// No L2, or it could not answer.
    Unavailable,
}

/// Who may veto an L1 fill that raced an invalidation.
pub(crate) enum FillGuard<'g> {
    /// A plain read: any key invalidation since `seen` vetoes.
    Invalidations(u64),
    /// A load: the flight being detached vetoes.
    Flight(&'g FlightGuard),
}

impl Inner {
    /// Validates a (namespace, key) pair and refuses calls on a closed cache.
    pub(crate) fn checked_key<'k>(
        &self,
        namespace: &'k str,
        key: &'k str,
    ) -> Result<KeyRef<'k>, CacheError> {
        self.check_open()?;
        keys::validate_namespace(namespace)?;
        keys::validate_key(key)?;
        Ok(KeyRef { namespace, key })
    }

    /// Looks `key` up in L1, counting the outcome.
    #[inline]
    pub(crate) fn probe<T: Clone + 'static>(&self, key: KeyRef<'_>, now_ms: u64) -> Probe<T> {
        let probe = self.probe_uncounted(key, now_ms);
        match &probe {
            Probe::Hit { stale, .. } => {
                self.counters.l1_hits.incr();
                tracing::debug!(namespace = key.namespace, key = key.key, stale, "L1 hit");
            }
            Probe::Revalidate(_) | Probe::Kept(_) | Probe::Miss => {
                self.counters.l1_misses.incr();
                tracing::debug!(namespace = key.namespace, key = key.key, "L1 miss");
            }
        }
        probe
    }

    #[inline]
    fn probe_uncounted<T: Clone + 'static>(&self, key: KeyRef<'_>, now_ms: u64) -> Probe<T> {
        let Some(entry) = self.l1.get(key) else {
            return Probe::Miss;
        };
        let header = entry.header();
        if !header.is_current() {
            return Probe::Miss;
        }
        let freshness = header.meta.freshness(now_ms, self.config.enable_swr);
        if freshness == Freshness::Expired {
            return if self.config.fail_safe && header.meta.is_kept(now_ms) {
                Probe::Kept(entry)
            } else {
                Probe::Miss
            };
        }
        if now_ms >= header.l1_until_ms {
            return Probe::Revalidate(entry);
        }
        match l1::value_of::<T>(&*entry) {
            Some(value) => Probe::Hit {
                value: value.clone(),
                stale: freshness == Freshness::Stale,
                entry,
            },
            // Another type was stored under this key: let L2 (or the loader) decide.
            None => Probe::Miss,
        }
    }

    /// Reads and decodes `key` from L2. Foreign or undecodable bytes are a counted miss.
    pub(crate) async fn read_l2<T: DeserializeOwned>(&self, key: KeyRef<'_>) -> L2Read<T> {
        let Some(tier) = &self.l2 else {
            return L2Read::Unavailable;
        };
        let now = self.stamps.recent_ms();
        let bytes = match tier.call(&self.counters, now, true, |b| b.get(key)).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                self.counters.l2_misses.incr();
                tracing::debug!(namespace = key.namespace, key = key.key, "L2 miss");
                return L2Read::Miss;
            }
            Err(Skip::Failed(L2Error::Data(message))) => {
                return self.undecodable(key, &message);
            }
            Err(_) => return L2Read::Unavailable,
        };
        let envelope = match envelope::decode(&bytes) {
            Ok(envelope) => envelope,
            Err(error) => return self.undecodable(key, &error.to_string()),
        };
        self.stamps.observe(envelope.meta.created);
        let created = envelope.meta.created;
        if envelope.tombstone
            || self
                .namespaces
                .with(key.namespace, |namespace| namespace.was_cleared(created))
        {
            self.counters.l2_misses.incr();
            return L2Read::Miss;
        }
        let value = envelope.value::<T>();
        let meta = envelope.meta;
        let tag_names: Vec<String> = envelope.tags().map(str::to_owned).collect();
        drop(bytes);
        let checked = if tag_names.is_empty() {
            Some(Box::default())
        } else {
            self.current_tags(&tag_names, meta.created).await
        };
        let Some(tags) = checked else {
            // A tag of this entry was invalidated after it was written.
            self.counters.l2_misses.incr();
            return L2Read::Miss;
        };
        match value {
            Ok(value) => {
                self.counters.l2_hits.incr();
                tracing::debug!(namespace = key.namespace, key = key.key, "L2 hit");
                L2Read::Hit(value, meta, tags)
            }
            Err(DecodeError::TypeMismatch) => {
                self.undecodable(key, "stored value is of another Rust type")
            }
            Err(error) => self.undecodable(key, &error.to_string()),
        }
    }

    /// The states of `names` for an entry created at `created`, with marks read from L2 where
    /// they are not known to be current; `None` when one of the tags invalidated the entry.
    pub(crate) async fn current_tags(
        &self,
        names: &[String],
        created: crate::clock::Stamp,
    ) -> Option<Box<[TagRef]>> {
        if names.is_empty() {
            return Some(Box::new([]));
        }
        let states: Vec<_> = names.iter().map(|name| self.tags.get(name)).collect();
        let now = self.stamps.recent_ms();
        let interval = crate::clock::duration_ms(self.config.sync_interval);
        if let Some(tier) = &self.l2 {
            if states.iter().any(|state| state.needs_check(now, interval)) {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                // When L2 cannot tell, go by what this instance knows.
                if let Ok(marks) = tier
                    .call(&self.counters, now, false, |b| b.tag_marks(&names))
                    .await
                {
                    for (state, mark) in states.iter().zip(marks) {
                        if let Some(mark) = mark {
                            self.stamps.observe(mark);
                            state.mark(mark);
                        }
                        state.verified(now);
                    }
                }
            }
        }
        // Epochs first, then marks: an invalidation stores its mark before moving the epoch.
        let refs: Box<[TagRef]> = states
            .into_iter()
            .map(|state| TagRef {
                epoch: state.epoch(),
                state,
            })
            .collect();
        if refs.iter().any(|tag| tag.state.invalidates(created)) {
            return None;
        }
        Some(refs)
    }

    fn undecodable<T>(&self, key: KeyRef<'_>, reason: &str) -> L2Read<T> {
        self.counters.l2_decode_errors.incr();
        tracing::warn!(
            namespace = key.namespace,
            key = key.key,
            reason,
            "L2 holds bytes this cache cannot decode; treating as a miss (the next write replaces them)"
        );
        L2Read::Miss
    }

    /// The deadline after which an L1 copy must be checked against L2.
    pub(crate) fn l1_deadline(&self, now_ms: u64, meta: &EntryMeta) -> u64 {
        if self.l2.is_none() {
            // Nothing to revalidate against: the entry's own timeline rules.
            return u64::MAX;
        }
        let l1_ttl = crate::clock::duration_ms(self.config.l1_ttl);
        now_ms.saturating_add(l1_ttl).min(meta.keep_until_ms)
    }

    /// Puts `value` into L1 unless `guard` says an invalidation raced it. Returns the entry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill_l1<T: Send + Sync + 'static>(
        &self,
        key: KeyRef<'_>,
        value: T,
        meta: EntryMeta,
        epoch: u64,
        namespace: &Arc<NamespaceState>,
        tags: Box<[TagRef]>,
        guard: &FillGuard<'_>,
    ) -> Entry {
        let now = self.stamps.recent_ms();
        let header = Header::new(
            meta,
            self.l1_deadline(now, &meta),
            epoch,
            namespace.clone(),
            tags,
        );
        let entry = l1::entry(header, value);
        if vetoed(self, guard) {
            return entry;
        }
        self.l1
            .insert(EntryKey::new(key.namespace, key.key), entry.clone());
        // An invalidation that ran between the check and the insert has already removed what it
        // could; look again and undo our insert.
        if vetoed(self, guard) {
            self.l1.remove_exact(key, &entry);
        }
        entry
    }

    /// L1 missed (or needs revalidation) and there is no loader: ask L2.
    async fn get_slow<T>(&self, key: KeyRef<'_>, fallback: Option<Entry>, fill: bool) -> Option<T>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let guard = FillGuard::Invalidations(self.invalidations.load(Ordering::SeqCst));
        // The namespace state is kept only when the result will fill L1.
        let namespace = fill.then(|| self.namespaces.get(key.namespace));
        let epoch = match &namespace {
            Some(namespace) => namespace.epoch(),
            None => self
                .namespaces
                .with(key.namespace, |namespace| namespace.epoch()),
        };
        match self.read_l2::<T>(key).await {
            L2Read::Hit(value, meta, tags) => {
                let now = self.stamps.recent_ms();
                match meta.freshness(now, self.config.enable_swr) {
                    Freshness::Expired => {
                        self.counters.misses.incr();
                        None
                    }
                    freshness => {
                        if freshness == Freshness::Stale {
                            self.counters.stale_hits.incr();
                        }
                        if let Some(namespace) = &namespace {
                            self.fill_l1(key, value.clone(), meta, epoch, namespace, tags, &guard);
                        }
                        Some(value)
                    }
                }
            }
            L2Read::Miss => {
                if let Some(stale_copy) = &fallback {
                    self.l1.remove_exact(key, stale_copy);
                }
                self.counters.misses.incr();
                None
            }
            L2Read::Unavailable => {
                let value = fallback.as_deref().and_then(l1::value_of::<T>).cloned();
                if value.is_none() {
                    self.counters.misses.incr();
                }
                value
            }
        }
    }
}

fn vetoed(inner: &Inner, guard: &FillGuard<'_>) -> bool {
    match guard {
        FillGuard::Invalidations(seen) => inner.invalidations.load(Ordering::SeqCst) != *seen,
        FillGuard::Flight(flight) => flight.is_detached(),
    }
}

/// A read of one key; `.await` it for `Result<Option<T>, CacheError>`.
///
/// Fresh and stale entries are returned; expired ones are a miss. Redis being down or holding
/// undecodable bytes is a miss too, never an error. Errors are only for what the caller can
/// fix: an invalid key or namespace, or a closed cache.
#[must_use = "a read does nothing until awaited"]
pub struct GetBuilder<'a, T> {
    pub(crate) inner: &'a Arc<Inner>,
    pub(crate) key: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) skip_l1: bool,
    _value: PhantomData<fn() -> T>,
}

impl<'a, T> GetBuilder<'a, T> {
    pub(crate) fn new(inner: &'a Arc<Inner>, key: &'a str) -> Self {
        GetBuilder {
            inner,
            key,
            namespace: DEFAULT_NAMESPACE,
            skip_l1: false,
            _value: PhantomData,
        }
    }

    /// Reads from `namespace` instead of `"default"`.
    pub fn namespace(mut self, namespace: &'a str) -> Self {
        self.namespace = namespace;
        self
    }

    /// Reads L2 directly: L1 is neither read nor filled by this read (an L1-only cache then
    /// always misses). For reading the shared truth, and for measuring L2. With
    /// [`refresh_with`](Self::refresh_with) the loaded value is still stored in both tiers.
    pub fn skip_l1(mut self) -> Self {
        self.skip_l1 = true;
        self
    }

    /// Loads the value with `loader` on a miss, and refreshes it when stale: concurrent callers
    /// share one loader call, stale entries are served at once while one background refresh runs.
    ///
    /// The loader must be `Send + 'static` because a background refresh outlives the caller;
    /// move owned copies of its inputs into it.
    pub fn refresh_with<F, Fut, E>(self, loader: F) -> LoadBuilder<'a, T, F>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        LoadBuilder::new(self, loader)
    }
}

impl<'a, T> IntoFuture for GetBuilder<'a, T>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Output = Result<Option<T>, CacheError>;
    type IntoFuture = GetFuture<'a, T>;

    /// Looks in L1 at once: a hit yields a future that is already complete.
    fn into_future(self) -> Self::IntoFuture {
        GetFuture {
            state: start_get(self),
        }
    }
}

/// The synchronous first step of a read: answer from L1 when possible.
fn start_get<'a, T>(builder: GetBuilder<'a, T>) -> GetState<'a, T>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let inner = builder.inner;
    if let Err(error) = inner.check_open() {
        return GetState::Ready(Some(Err(error)));
    }
    // Unvalidated on purpose: only valid pairs are ever stored, so a hit needs no check.
    let key = KeyRef {
        namespace: builder.namespace,
        key: builder.key,
    };
    if builder.skip_l1 {
        inner.counters.l1_misses.incr();
        if let Err(error) = keys::validate_pair(key) {
            return GetState::Ready(Some(Err(error)));
        }
        return GetState::Slow(Box::pin(inner.get_slow(key, None, false)));
    }
    let fallback = match inner.probe::<T>(key, inner.stamps.recent_ms()) {
        Probe::Hit { value, stale, .. } => {
            if stale {
                inner.counters.stale_hits.incr();
            }
            return GetState::Ready(Some(Ok(Some(value))));
        }
        Probe::Revalidate(entry) => Some(entry),
        // A plain read has no loader to fail: an expired copy is a miss.
        Probe::Kept(_) => None,
        Probe::Miss => {
            if let Err(error) = keys::validate_pair(key) {
                return GetState::Ready(Some(Err(error)));
            }
            None
        }
    };
    GetState::Slow(Box::pin(inner.get_slow(key, fallback, true)))
}

/// The future of a [`GetBuilder`]. An L1 hit is complete before the first poll and allocates
/// nothing.
#[must_use = "futures do nothing unless polled"]
pub struct GetFuture<'a, T> {
    state: GetState<'a, T>,
}

enum GetState<'a, T> {
    Ready(Option<Result<Option<T>, CacheError>>),
    Slow(BoxFuture<'a, Option<T>>),
}

// Nothing is pinned in place: the slow path is boxed.
impl<T> Unpin for GetFuture<'_, T> {}

impl<'a, T> Future for GetFuture<'a, T>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Output = Result<Option<T>, CacheError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            GetState::Ready(ready) => match ready.take() {
                Some(result) => Poll::Ready(result),
                None => panic!("GetFuture polled after completion"),
            },
            GetState::Slow(slow) => slow.as_mut().poll(cx).map(Ok),
        }
    }
}
