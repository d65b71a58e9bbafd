//! Reads: the L1 probe every read starts with, the plain read's L2 step behind it, and
//! [`GetBuilder`].

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;

use super::Inner;
use super::adapt::LoadContext;
use super::decide::{self, L1Use, State};
use super::load::LoadBuilder;
use super::stored::L2Read;
use super::tier::with_budget;
use crate::entry::EntryMeta;
use crate::error::CacheError;
use crate::keys::{self, DEFAULT_NAMESPACE, KeyRef};
use crate::l1::{self, Entry};
use crate::l2::BoxFuture;
use crate::source::{Source, Tier};

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

/// What a plain read found: the value, its state and timeline, and the tier that held it.
pub(crate) struct Read<T> {
    pub(crate) value: T,
    pub(crate) state: State,
    pub(crate) meta: EntryMeta,
    pub(crate) tier: Tier,
}

/// A value found in a tier, with its timeline, its L1 entry and the tier it came from.
pub(crate) struct Found<T> {
    pub(crate) value: T,
    pub(crate) meta: EntryMeta,
    pub(crate) entry: Entry,
    pub(crate) tier: Tier,
}

impl<T: Clone + 'static> Found<T> {
    /// The value of an L1 entry, when it holds a `T`.
    pub(crate) fn from_entry(entry: Entry) -> Option<Self> {
        let value = l1::value_of::<T>(&*entry)?.clone();
        let meta = entry.header().meta;
        Some(Found {
            value,
            meta,
            entry,
            tier: Tier::L1,
        })
    }
}

impl<T> Found<T> {
    /// Where an answer with this value comes from (`stale`: past its fresh period).
    pub(crate) fn source(&self, stale: bool) -> Source {
        Source::found(self.tier, stale)
    }
}

impl<T: Clone> Clone for Found<T> {
    fn clone(&self) -> Self {
        Found {
            value: self.value.clone(),
            meta: self.meta,
            entry: self.entry.clone(),
            tier: self.tier,
        }
    }
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

    /// Looks `key` up in L1, counting the outcome; a hit clones the value out.
    #[inline]
    pub(crate) fn probe<T: Clone + 'static>(&self, key: KeyRef<'_>, now_ms: u64) -> Probe<T> {
        self.probe_as(key, now_ms, |value: &T, _, _| value.clone())
    }

    /// Looks `key` up in L1, counting the outcome; a hit of a `T` answers
    /// `take(value, entry, stale)`.
    #[inline]
    pub(crate) fn probe_as<T: 'static, O>(
        &self,
        key: KeyRef<'_>,
        now_ms: u64,
        take: impl FnOnce(&T, &Entry, bool) -> O,
    ) -> Probe<O> {
        let probe = self.probe_uncounted(key, now_ms, take);
        match &probe {
            Probe::Hit { stale, entry, .. } => {
                // The cache's L1 hits are the sum of its namespaces' (one increment per hit).
                let namespace = &entry.header().namespace().counters;
                if *stale {
                    &namespace.stale
                } else {
                    &namespace.hits
                }
                .incr();
                tracing::trace!(namespace = key.namespace, key = key.key, stale, "L1 hit");
            }
            Probe::Revalidate(_) | Probe::Kept(_) | Probe::Miss => {
                self.counters.l1_misses.incr();
                tracing::trace!(namespace = key.namespace, key = key.key, "L1 miss");
            }
        }
        probe
    }

    #[inline]
    fn probe_uncounted<T: 'static, O>(
        &self,
        key: KeyRef<'_>,
        now_ms: u64,
        take: impl FnOnce(&T, &Entry, bool) -> O,
    ) -> Probe<O> {
        let Some(entry) = self.l1.get(key) else {
            return Probe::Miss;
        };
        let header = entry.header();
        if !header.is_current() {
            return Probe::Miss;
        }
        let stale = match decide::l1_use(&header.meta, header.l1_until_ms(), now_ms, &self.config) {
            L1Use::Use(state) => state == State::Stale,
            L1Use::Revalidate => return Probe::Revalidate(entry),
            L1Use::Kept => return Probe::Kept(entry),
            L1Use::Miss => return Probe::Miss,
        };
        match l1::value_of::<T>(&*entry) {
            Some(value) => Probe::Hit {
                value: take(value, &entry, stale),
                stale,
                entry,
            },
            // Another type was stored under this key: let L2 (or the loader) decide.
            None => Probe::Miss,
        }
    }

    /// L1 missed (or needs revalidation) and there is no loader: ask L2. Returns the value with
    /// its state (fresh or stale; an expired one is a miss), its timeline and where it came from.
    pub(crate) async fn get_slow<T>(
        &self,
        key: KeyRef<'_>,
        fallback: Option<Entry>,
        fill: bool,
    ) -> Option<Read<T>>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        // Before the read: a write of this key that begins meanwhile keeps an older value out.
        let ticket = fill.then(|| self.ticket(key));
        let namespace = fill.then(|| self.namespaces.get(key.namespace));
        let epoch = match &namespace {
            Some(namespace) => {
                namespace.counters.misses.incr();
                namespace.epoch()
            }
            None => self.namespaces.with(key.namespace, |namespace| {
                namespace.counters.misses.incr();
                namespace.epoch()
            }),
        };
        match self.read_l2::<T>(key).await {
            L2Read::Hit {
                value,
                meta,
                tags,
                size,
            } => {
                let state = decide::state(&meta, self.stamps.recent_ms(), &self.config);
                if !decide::without_loader(state) {
                    self.counters.l2_misses.incr();
                    self.counters.misses.incr();
                    return None;
                }
                self.counters.l2_hits.incr();
                if state == State::Stale {
                    self.counters.stale_hits.incr();
                }
                if let (Some(namespace), Some(ticket)) = (&namespace, ticket) {
                    let entry = self.l1_entry(value.clone(), meta, epoch, namespace, tags, size);
                    self.admit(key, &entry, ticket);
                }
                tracing::trace!(namespace = key.namespace, key = key.key, "L2 hit");
                Some(Read {
                    value,
                    state,
                    meta,
                    tier: Tier::L2,
                })
            }
            L2Read::Miss { .. } => {
                // L2 is the shared truth: an L1 copy it no longer has is gone.
                if let Some(stale_copy) = &fallback {
                    self.drop_copy(key, stale_copy);
                }
                self.counters.l2_misses.incr();
                self.counters.misses.incr();
                tracing::trace!(namespace = key.namespace, key = key.key, "L2 miss");
                None
            }
            L2Read::Unavailable => {
                let copy = fallback.as_deref().and_then(|entry| {
                    let value = l1::value_of::<T>(entry)?.clone();
                    let meta = entry.header().meta;
                    let state = decide::state(&meta, self.stamps.recent_ms(), &self.config);
                    Some(Read {
                        value,
                        state,
                        meta,
                        tier: Tier::L1,
                    })
                });
                if copy.is_none() {
                    self.counters.misses.incr();
                }
                copy
            }
        }
    }
}

/// A read of one key; `.await` it for `Result<Option<T>, CacheError>`.
///
/// Fresh and stale entries are returned; expired ones are a miss. Redis being down or holding
/// undecodable bytes is a miss too, never an error. Errors are only for what the caller can
/// fix: an invalid key or namespace, or a closed cache.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tiered_cache_core::{CacheConfig, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// cache.set("user:1", &"Ada".to_owned()).namespace("users").await?;
/// let hit: Option<String> = cache.get("user:1").namespace("users").await?;
/// assert_eq!(hit.as_deref(), Some("Ada"));
/// // Straight to L2 (here there is none, so a miss), neither reading nor filling L1.
/// assert_eq!(cache.get::<String>("user:1").namespace("users").skip_l1().await?, None);
/// # Ok(()) }
/// ```
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

impl<'a, T> GetBuilder<'a, T> {
    /// Like [`refresh_with`](Self::refresh_with), with a loader that is handed a
    /// [`LoadContext`]: it may choose the ttl, stale window and tags of the value it returns,
    /// from what it loaded, or keep that value out of the cache.
    pub fn refresh_with_context<F, Fut, E>(
        self,
        loader: F,
    ) -> LoadBuilder<'a, T, impl FnOnce() -> Fut + Send + 'static>
    where
        F: FnOnce(LoadContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let context = LoadContext::default();
        let handed = context.clone();
        LoadBuilder::new(self, move || loader(handed)).with_context(context)
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
            state: start_get(self, |value: &T, _| value.clone(), |value| value),
        }
    }
}

/// The synchronous first step of a read: answer from L1 when possible. An L1 hit answers
/// `take(value, entry)`, a value read from L2 `own(value)`.
#[inline]
pub(crate) fn start_get<'a, T, O>(
    builder: GetBuilder<'a, T>,
    take: impl FnOnce(&T, &Entry) -> O,
    own: fn(T) -> O,
) -> GetState<'a, O>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
    O: Send + 'a,
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
        return slow(inner, key, None, false, own);
    }
    let fallback = match inner.probe_as(key, inner.stamps.recent_ms(), |value, entry, _| {
        take(value, entry)
    }) {
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
    slow(inner, key, fallback, true, own)
}

/// The slow path of a read, boxed, with an L2 budget of its own. Out of line, so that the hit
/// path stays small.
#[cold]
#[inline(never)]
fn slow<'a, T, O>(
    inner: &'a Arc<Inner>,
    key: KeyRef<'a>,
    fallback: Option<Entry>,
    fill: bool,
    own: fn(T) -> O,
) -> GetState<'a, O>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
    O: Send + 'a,
{
    GetState::Slow(Box::pin(with_budget(async move {
        inner
            .get_slow(key, fallback, fill)
            .await
            .map(|read| own(read.value))
    })))
}

/// The future of a [`GetBuilder`] (`T`: the value) and of a
/// [`GetShared`](super::shared::GetShared) (`T`: a [`Shared`](super::shared::Shared) handle). An
/// L1 hit is complete before the first poll and allocates nothing.
#[must_use = "futures do nothing unless polled"]
pub struct GetFuture<'a, T> {
    pub(crate) state: GetState<'a, T>,
}

pub(crate) enum GetState<'a, T> {
    Ready(Option<Result<Option<T>, CacheError>>),
    Slow(BoxFuture<'a, Option<T>>),
}

// Nothing is pinned in place: the slow path is boxed.
impl<T> Unpin for GetFuture<'_, T> {}

impl<'a, T> Future for GetFuture<'a, T> {
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
