//! Reads with a loader: [`LoadBuilder`], its future, and the synchronous first step that
//! answers from L1 when it can. A miss continues in `leader`, a stale hit's refresh in
//! `refresh`; what to do with a found entry is decided in `decide`.
//!
//! ```text
//! L1 fresh ─────────────► value
//! L1 stale ─────────────► value, and one background refresh (or an inline one)
//! L1 miss ─► join flight ─► leader: L2 fresh/stale ─► value (+ refresh when stale)
//!                   │               L2 miss ─► lock? ─► loader ─► L2 (conditional) ─► L1 ─► value
//!                   │                          └─ held elsewhere: wait for that load (≤ lock_wait)
//!                   └─► waiter: the leader's outcome (or retry when the leader vanished)
//! loader error / hard timeout ─► fail-safe: a stale or kept value if there is one, else the error
//! soft timeout with a fallback ─► the fallback now; the load finishes in the background
//! ```

use std::future::{Future, IntoFuture};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::adapt::{Adaptive, LoadContext};
use super::decide::{self, State, WithLoader};
use super::load_future::{HitAnswer, LoadFuture, LoadState, SourcedLoadFuture};
use super::options::{Absent, IsAbsent, Plan, WriteOptions};
use super::read::{GetBuilder, Probe};
use super::tier::with_budget;
use crate::codec::CodecKind;
use crate::error::{CacheError, LoadError};
use crate::keys::{self, KeyRef};
use crate::observe;
use crate::source::Source;

/// What every loaded value must be.
pub trait Cacheable: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Cacheable for T {}

/// A read that loads misses and refreshes stale entries; `.await` it for `Result<T, LoadError<E>>`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tiered_cache_core::{CacheConfig, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// use std::time::Duration;
///
/// let name: String = cache
///     .get("user:1")
///     .namespace("users")
///     .refresh_with(|| async { Ok::<_, std::io::Error>("Ada".to_owned()) })
///     .ttl(Duration::from_secs(300))
///     .stale(Duration::from_secs(60))
///     .tags(["team:7"])
///     .await?;
/// assert_eq!(name, "Ada");
/// // Negative caching for functions of `Option`: a "not found" kept 30 s.
/// let missing: Option<String> = cache
///     .get("user:2")
///     .refresh_with(|| async { Ok::<_, std::io::Error>(None) })
///     .negative_ttl(Duration::from_secs(30))
///     .await?;
/// assert_eq!(missing, None);
/// # Ok(()) }
/// ```
#[must_use = "a read does nothing until awaited"]
pub struct LoadBuilder<'a, T, F> {
    get: GetBuilder<'a, T>,
    loader: F,
    options: WriteOptions,
    absent: Option<(Absent, IsAbsent<T>)>,
    wait_for_loader: bool,
    /// Set when the loader was handed a [`LoadContext`].
    context: Option<LoadContext>,
    share_errors: bool,
}

impl<'a, T, F> LoadBuilder<'a, T, F> {
    pub(crate) fn new(get: GetBuilder<'a, T>, loader: F) -> Self {
        LoadBuilder {
            get,
            loader,
            options: WriteOptions::default(),
            absent: None,
            wait_for_loader: false,
            context: None,
            share_errors: true,
        }
    }

    /// A load whose loader reads `context` (see [`GetBuilder::refresh_with_context`]).
    pub(crate) fn with_context(mut self, context: LoadContext) -> Self {
        self.context = Some(context);
        self
    }

    /// Lifetime of a loaded entry (default `l2_ttl`).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.options.ttl = Some(ttl);
        self
    }

    /// Stale window of a loaded entry (default: the configured window). Must be shorter than
    /// the ttl.
    pub fn stale(mut self, window: Duration) -> Self {
        self.options.stale = Some(window);
        self
    }

    /// Reads from `namespace` instead of `"default"`.
    pub fn namespace(mut self, namespace: &'a str) -> Self {
        self.get = self.get.namespace(namespace);
        self
    }

    /// Tags a loaded entry (see [`SetBuilder::tags`](crate::SetBuilder::tags)).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.set_tags(tags);
        self
    }

    /// Stores a loaded value in this instance's L1 only: L2 is not written and no backplane
    /// notice goes out, so other instances do not see it (after `l1_ttl` this instance asks L2
    /// again too). For values that only make sense here.
    pub fn skip_l2_write(mut self) -> Self {
        self.options.skips.l2_write = true;
        self
    }

    /// Writes a loaded value to L2 without a backplane notice: other instances keep the copies
    /// they hold until `l1_ttl` (new readers see the new value). For bulk reloads that should
    /// not flood the backplane.
    pub fn skip_backplane(mut self) -> Self {
        self.options.skips.backplane = true;
        self
    }

    /// Writes a loaded value with `codec` instead of the config's
    /// [`codec`](crate::CacheConfig::codec) (`#[cached]` functions pass theirs here). Reading
    /// needs no option: every entry is decoded with the codec it names.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::codec::CodecKind;
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// let ids: Vec<u64> = cache
    ///     .get("ids")
    ///     .refresh_with(|| async { Ok::<_, std::io::Error>(vec![1, 2, 3]) })
    ///     .codec(CodecKind::Postcard)
    ///     .await?;
    /// assert_eq!(ids, [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn codec(mut self, codec: CodecKind) -> Self {
        self.options.codec = Some(codec);
        self
    }

    /// Loads without the distributed lock: on a cold miss this instance calls the loader even
    /// when another instance is loading the same key (calls within this instance still share
    /// one loader call). For loaders cheap enough that waiting costs more than loading.
    pub fn skip_distributed_lock(mut self) -> Self {
        self.options.skips.lock = true;
        self
    }

    /// Never answers [`LoadError::TimedOut`]: when no fallback value can stand in, waits for the
    /// loader however long it runs instead of abandoning it at `hard_timeout` (with a fallback,
    /// the hard timeout still answers with it). For callers that have no way to return a
    /// timeout; `#[cached]` functions use it, so a slow origin is called once, not once per
    /// waiting caller.
    pub fn wait_for_loader(mut self) -> Self {
        self.wait_for_loader = true;
        self
    }

    /// Whether the callers waiting on this load receive its loader's error (`true`, the
    /// default: one loader call answers every waiting caller, each holding the same `Arc<E>`).
    ///
    /// With `false`, the error goes only to the caller whose call ran the loader, as the only
    /// holder of its `Arc` ([`Arc::into_inner`](std::sync::Arc::into_inner) returns the `E`),
    /// and each caller that waited on that load runs its own loader instead (uncached; one more
    /// loader call per waiter while the origin fails). For error types that are not `Clone`,
    /// whose callers each need an `E` of their own.
    pub fn share_errors(mut self, share: bool) -> Self {
        self.share_errors = share;
        self
    }

    /// The same read, answering `(value, Source)`: where the value came from (L1, L2 or the
    /// loader), how fresh it was, and whether another caller's load answered it. An L1 hit
    /// costs what it costs without it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::convert::Infallible;
    /// use tiered_cache_core::source::Tier;
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// let load = || async { Ok::<_, Infallible>(7_u32) };
    /// let (value, source) = cache.get::<u32>("seven").refresh_with(load).with_source().await?;
    /// assert_eq!((value, source.tier()), (7, Tier::Loader));
    /// let (_, source) = cache.get::<u32>("seven").refresh_with(load).with_source().await?;
    /// assert!(source.was_cached() && source.tier() == Tier::L1);
    /// # Ok(()) }
    /// ```
    pub fn with_source(self) -> WithSource<'a, T, F> {
        WithSource { load: self }
    }
}

impl<'a, T, F> LoadBuilder<'a, T, F> {
    /// The same read with its loader wrapped by `wrap` (every option kept).
    pub(crate) fn map_loader<G>(self, wrap: impl FnOnce(F) -> G) -> LoadBuilder<'a, T, G> {
        LoadBuilder {
            get: self.get,
            loader: wrap(self.loader),
            options: self.options,
            absent: self.absent,
            wait_for_loader: self.wait_for_loader,
            context: self.context,
            share_errors: self.share_errors,
        }
    }
}

impl<'a, U, F> LoadBuilder<'a, Option<U>, F> {
    /// Negative caching: a loaded `None` ("not found") is cached for `ttl` instead of the
    /// entry's normal ttl. Without it, `None` is cached like any other value.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.absent = Some((Absent::Ttl(ttl), Option::is_none));
        self
    }

    /// With `false`, a loaded `None` ("not found") is returned to every waiting caller but not
    /// cached, and it removes what either tier held for the key (the record is gone): the next
    /// read runs the loader again. A `None` is an answer, never a failure, so fail-safe never
    /// replaces it with an older `Some`. With `true` (the default), `None` is cached like any
    /// other value.
    pub fn cache_none(mut self, cache_none: bool) -> Self {
        self.absent = (!cache_none).then_some((Absent::Remove, Option::is_none));
        self
    }
}

impl<'a, T, F, Fut, E> IntoFuture for LoadBuilder<'a, T, F>
where
    T: Cacheable,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    type Output = Result<T, LoadError<E>>;
    type IntoFuture = LoadFuture<'a, T, E>;

    /// Looks in L1 at once: a fresh (or, with background refresh, stale) hit yields a future
    /// that is already complete.
    fn into_future(self) -> Self::IntoFuture {
        LoadFuture { state: start(self) }
    }
}

/// A [`LoadBuilder`] that reports where its value came from; made by
/// [`LoadBuilder::with_source`]. `.await` it for `Result<(T, Source), LoadError<E>>`.
#[must_use = "a read does nothing until awaited"]
pub struct WithSource<'a, T, F> {
    load: LoadBuilder<'a, T, F>,
}

impl<'a, T, F, Fut, E> IntoFuture for WithSource<'a, T, F>
where
    T: Cacheable,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    type Output = Result<(T, Source), LoadError<E>>;
    type IntoFuture = SourcedLoadFuture<'a, T, E>;

    /// Looks in L1 at once, as [`LoadBuilder`] does.
    fn into_future(self) -> Self::IntoFuture {
        SourcedLoadFuture {
            state: start(self.load),
        }
    }
}

/// The synchronous first step: answer from L1 when possible, else box the slow path.
pub(crate) fn start<'a, A, T, F, Fut, E>(builder: LoadBuilder<'a, T, F>) -> LoadState<'a, A, T, E>
where
    A: HitAnswer<T>,
    T: Cacheable,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let LoadBuilder {
        get,
        loader,
        options,
        absent,
        wait_for_loader,
        context,
        share_errors,
    } = builder;
    let inner = get.inner;
    if let Err(error) = inner.check_open() {
        return LoadState::refused(error);
    }
    // Unvalidated on purpose: only valid pairs are ever stored, so a hit needs no check.
    let key = KeyRef {
        namespace: get.namespace,
        key: get.key,
    };
    // Resolved only when a load or refresh needs it: a hit pays nothing for its options.
    let plan = || -> Result<Plan<T>, CacheError> {
        let lifetime = options.resolve(&inner.config)?;
        if let Some((Absent::Ttl(ttl), _)) = absent {
            decide::check_ttl("negative_ttl", ttl, &inner.config)?;
        }
        Ok(Plan {
            lifetime,
            absent,
            wait_for_loader,
            skips: options.skips,
            adaptive: context
                .clone()
                .map(|context| Adaptive::new(context, options.clone())),
            share_errors,
        })
    };
    let now = inner.stamps.recent_ms();
    let probe = if get.skip_l1 {
        inner.counters.l1_misses.incr();
        Probe::Miss
    } else {
        inner.probe_as(key, now, A::hit)
    };
    let l1_copy = match probe {
        // `decide::with_loader`'s first row (fresh: serve), taken before anything else is
        // built: most reads end here.
        Probe::Hit {
            value,
            stale: false,
            ..
        } => return LoadState::Ready(Some(Ok(value))),
        Probe::Hit {
            value,
            stale,
            entry,
        } => {
            let state = if stale { State::Stale } else { State::Fresh };
            match decide::with_loader(state, &inner.config) {
                WithLoader::Serve => return LoadState::Ready(Some(Ok(value))),
                WithLoader::ServeAndRefresh => {
                    inner.counters.stale_hits.incr();
                    if entry.header().begin_refresh(now) {
                        match plan() {
                            Ok(plan) => inner.spawn_refresh(key, plan, loader, entry),
                            Err(error) => {
                                entry.header().end_refresh();
                                return LoadState::refused(error);
                            }
                        }
                    }
                    return LoadState::Ready(Some(Ok(value)));
                }
                // Stale without background refresh: refresh inline, the copy standing by.
                WithLoader::LoadWithFallback | WithLoader::Load => Some(entry),
            }
        }
        Probe::Revalidate(entry) | Probe::Kept(entry) => Some(entry),
        Probe::Miss => {
            if let Err(error) = keys::validate_pair(key) {
                return LoadState::refused(error);
            }
            None
        }
    };
    match plan() {
        Ok(plan) => {
            let span = observe::load_span(&inner.name, key.namespace);
            LoadState::Slow(Box::pin(
                with_budget(inner.load(key, plan, loader, l1_copy)).instrument(span),
            ))
        }
        Err(error) => LoadState::refused(error),
    }
}
