//! Reads with a loader: single-flight misses, stale-while-revalidate, background refresh,
//! cross-instance coordination, fail-safe and timeouts.
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

use std::any::Any;
use std::future::{Future, IntoFuture};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Inner;
use super::lock::{HeldLock, LockAttempt};
use super::read::{FillGuard, Found, GetBuilder, L2Read, Probe};
use super::write::{Lifetime, WriteOptions, check_ttl};
use crate::clock::{Stamp, duration_ms};
use crate::entry::{EntryMeta, Freshness};
use crate::error::LoadError;
use crate::flight::{FlightGuard, Join, Outcome};
use crate::keys::{self, EntryKey, KeyRef};
use crate::l1::{self, Entry, Header};
use crate::l2::BoxFuture;
use crate::namespaces::NamespaceState;

/// What every loaded value must be.
pub trait Cacheable: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Cacheable for T {}

/// How often an instance waiting for another instance's load looks for its result.
const PEER_POLL: Duration = Duration::from_millis(10);
/// Longest an instance defers its refresh while another instance holds the refresh lock.
const PEER_REFRESH_BACKOFF: Duration = Duration::from_millis(500);

/// Negative caching: the ttl of "not found" values, and how to recognise one.
type Negative<T> = Option<(Duration, fn(&T) -> bool)>;

/// How a loaded value will be stored.
pub(crate) struct Plan<T> {
    lifetime: Lifetime,
    /// A shorter ttl for "not found" values.
    negative: Negative<T>,
}

impl<T> Clone for Plan<T> {
    fn clone(&self) -> Self {
        Plan {
            lifetime: self.lifetime.clone(),
            negative: self.negative,
        }
    }
}

impl<T> Plan<T> {
    fn lifetime_for(&self, value: &T, inner: &Inner) -> Lifetime {
        match self.negative {
            Some((ttl, is_absent)) if is_absent(value) => Lifetime {
                ttl,
                window: if inner.config.enable_swr {
                    inner.config.default_window_for(ttl)
                } else {
                    Duration::ZERO
                },
                ..self.lifetime.clone()
            },
            _ => self.lifetime.clone(),
        }
    }
}

/// A read that loads misses and refreshes stale entries; `.await` it for `Result<T, LoadError<E>>`.
#[must_use = "a read does nothing until awaited"]
pub struct LoadBuilder<'a, T, F> {
    get: GetBuilder<'a, T>,
    loader: F,
    options: WriteOptions,
    negative: Negative<T>,
}

impl<'a, T, F> LoadBuilder<'a, T, F> {
    pub(crate) fn new(get: GetBuilder<'a, T>, loader: F) -> Self {
        LoadBuilder {
            get,
            loader,
            options: WriteOptions::default(),
            negative: None,
        }
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
}

impl<'a, U, F> LoadBuilder<'a, Option<U>, F> {
    /// Negative caching: a loaded `None` ("not found") is cached for `ttl` instead of the
    /// entry's normal ttl. Without it, `None` is cached like any other value.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative = Some((ttl, Option::is_none));
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

/// The future of a [`LoadBuilder`]. An L1 hit is complete before the first poll and allocates
/// nothing (a stale hit spawns the refresh task).
#[must_use = "futures do nothing unless polled"]
pub struct LoadFuture<'a, T, E> {
    state: LoadState<'a, T, E>,
}

enum LoadState<'a, T, E> {
    Ready(Option<Result<T, LoadError<E>>>),
    Slow(BoxFuture<'a, Result<T, LoadError<E>>>),
}

// Nothing is pinned in place: the slow path is boxed.
impl<T, E> Unpin for LoadFuture<'_, T, E> {}

impl<T, E> Future for LoadFuture<'_, T, E> {
    type Output = Result<T, LoadError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            LoadState::Ready(ready) => match ready.take() {
                Some(result) => Poll::Ready(result),
                None => panic!("LoadFuture polled after completion"),
            },
            LoadState::Slow(slow) => slow.as_mut().poll(cx),
        }
    }
}

/// The synchronous first step: answer from L1 when possible, else box the slow path.
fn start<'a, T, F, Fut, E>(builder: LoadBuilder<'a, T, F>) -> LoadState<'a, T, E>
where
    T: Cacheable,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let LoadBuilder {
        get,
        loader,
        options,
        negative,
    } = builder;
    let inner = get.inner;
    let failed = |error: crate::CacheError| LoadState::Ready(Some(Err(error.into())));
    if let Err(error) = inner.check_open() {
        return failed(error);
    }
    // Unvalidated on purpose: only valid pairs are ever stored, so a hit needs no check.
    let key = KeyRef {
        namespace: get.namespace,
        key: get.key,
    };
    // Resolved only when a load or refresh needs it: a hit pays nothing for its options.
    let plan = || -> Result<Plan<T>, crate::CacheError> {
        let lifetime = options.resolve(&inner.config)?;
        if let Some((ttl, _)) = negative {
            check_ttl("negative_ttl", ttl)?;
        }
        Ok(Plan { lifetime, negative })
    };
    let now = inner.stamps.recent_ms();
    let probe = if get.skip_l1 {
        inner.counters.l1_misses.incr();
        Probe::Miss
    } else {
        inner.probe::<T>(key, now)
    };
    let l1_copy = match probe {
        Probe::Hit {
            value,
            stale: false,
            ..
        } => return LoadState::Ready(Some(Ok(value))),
        Probe::Hit {
            value,
            stale: true,
            entry,
        } if inner.config.background_refresh => {
            inner.counters.stale_hits.incr();
            if entry.header().begin_refresh(now) {
                match plan() {
                    Ok(plan) => inner.spawn_refresh(key, plan, loader, entry),
                    Err(error) => return failed(error),
                }
            }
            return LoadState::Ready(Some(Ok(value)));
        }
        // A stale hit without background refresh refreshes inline, the copy standing by.
        Probe::Hit { entry, .. } | Probe::Revalidate(entry) | Probe::Kept(entry) => Some(entry),
        Probe::Miss => {
            if let Err(error) = keys::validate_pair(key) {
                return failed(error);
            }
            None
        }
    };
    match plan() {
        Ok(plan) => LoadState::Slow(Box::pin(inner.load(key, plan, loader, l1_copy))),
        Err(error) => failed(error),
    }
}

/// What a load produced.
enum Loaded<T, E> {
    Value(T),
    Failed(E),
    TimedOut(Duration),
}

/// Awaits a load, giving up after `hard` when set.
async fn bounded<T, E, Fut>(load: Fut, hard: Option<Duration>) -> Loaded<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let result = match hard {
        Some(hard) => match tokio::time::timeout(hard, load).await {
            Ok(result) => result,
            Err(_) => return Loaded::TimedOut(hard),
        },
        None => load.await,
    };
    match result {
        Ok(value) => Loaded::Value(value),
        Err(error) => Loaded::Failed(error),
    }
}

/// Where a load writes: its namespace, the epoch and stamp taken when it started, its plan.
struct LoadCtx<T> {
    namespace: Arc<NamespaceState>,
    epoch: u64,
    started: Stamp,
    plan: Plan<T>,
}

impl<T> Clone for Found<T>
where
    T: Clone,
{
    fn clone(&self) -> Self {
        Found {
            value: self.value.clone(),
            meta: self.meta,
            entry: self.entry.clone(),
        }
    }
}

impl Inner {
    /// Takes the namespace epoch and the created stamp a load of `key` starts with.
    fn load_ctx<T>(&self, key: KeyRef<'_>, plan: Plan<T>) -> LoadCtx<T> {
        let namespace = self.namespaces.get(key.namespace);
        LoadCtx {
            epoch: namespace.epoch(),
            started: self.stamps.next(),
            namespace,
            plan,
        }
    }

    /// Puts a value the leader of `guard` found in L2 into L1 (unless an invalidation raced it).
    fn fill_found<T: Cacheable>(
        &self,
        guard: &FlightGuard,
        ctx: &LoadCtx<T>,
        value: T,
        meta: EntryMeta,
        tags: Box<[crate::tags::TagRef]>,
    ) -> Found<T> {
        let fill = FillGuard::Flight(guard);
        let entry = self.fill_l1(
            guard.key(),
            value.clone(),
            meta,
            ctx.epoch,
            &ctx.namespace,
            tags,
            &fill,
        );
        Found { value, meta, entry }
    }

    /// L1 could not answer: coalesce with any running load of `key`, or lead one.
    async fn load<T, F, Fut, E>(
        self: &Arc<Self>,
        key: KeyRef<'_>,
        plan: Plan<T>,
        loader: F,
        l1_copy: Option<Entry>,
    ) -> Result<T, LoadError<E>>
    where
        T: Cacheable,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let guard = loop {
            match self.flights.join(key) {
                Join::Lead(guard) => break guard,
                Join::Wait(waiter) => {
                    self.counters.coalesced_waits.incr();
                    match waiter.outcome().await.map(shared::<T, E>) {
                        Some(Shared::Value(value)) => {
                            self.counters.misses.incr();
                            return Ok(value);
                        }
                        Some(Shared::Error(error)) => return Err(error),
                        // Another type under the same key: load for ourselves, uncached.
                        Some(Shared::OtherType) => {
                            self.counters.loader_calls.incr();
                            return loader().await.map_err(|e| LoadError::Loader(Arc::new(e)));
                        }
                        // The leader was cancelled or panicked: try again.
                        None => {}
                    }
                }
            }
        };
        self.lead(guard, plan, loader, l1_copy).await
    }

    /// Runs one load of `guard`'s key: L2 first, then (coordinated with other instances) the
    /// loader.
    async fn lead<T, F, Fut, E>(
        self: &Arc<Self>,
        guard: FlightGuard,
        plan: Plan<T>,
        loader: F,
        l1_copy: Option<Entry>,
    ) -> Result<T, LoadError<E>>
    where
        T: Cacheable,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let key = guard.key();
        let ctx = self.load_ctx(key, plan);
        let found = match self.read_l2::<T>(key).await {
            L2Read::Hit(value, meta, tags) => {
                Some(self.fill_found(&guard, &ctx, value, meta, tags))
            }
            L2Read::Miss => {
                // L2 is the shared truth: an L1 copy it no longer has is gone.
                if let Some(copy) = &l1_copy {
                    self.l1.remove_exact(key, copy);
                }
                None
            }
            // L2 cannot answer: the L1 copy is the best we have.
            L2Read::Unavailable => l1_copy.and_then(Found::from_entry),
        };
        let now = self.stamps.recent_ms();
        let mut fallback = None;
        if let Some(found) = found {
            match found.meta.freshness(now, self.config.enable_swr) {
                Freshness::Fresh => {
                    guard.complete(Outcome::Value(found.entry));
                    return Ok(found.value);
                }
                Freshness::Stale if self.config.background_refresh => {
                    self.counters.stale_hits.incr();
                    let owned = EntryKey::new(key.namespace, key.key);
                    guard.complete(Outcome::Value(found.entry.clone()));
                    if found.entry.header().begin_refresh(now) {
                        self.spawn_refresh(owned.as_ref(), ctx.plan, loader, found.entry);
                    }
                    return Ok(found.value);
                }
                Freshness::Stale => fallback = Some(found),
                Freshness::Expired if self.config.fail_safe && found.meta.is_kept(now) => {
                    fallback = Some(found)
                }
                Freshness::Expired => {}
            }
        }
        let newer_than = fallback.as_ref().map(|f| f.meta.created);
        let lock = match self.take_load_lock(&guard, &ctx, newer_than).await {
            Take::Load(lock) => lock,
            Take::Loaded(found) => {
                guard.complete(Outcome::Value(found.entry));
                return Ok(found.value);
            }
            Take::HeldElsewhere => match self.wait_for_peer::<T>(&guard, &ctx).await {
                Peer::Loaded(found) => {
                    guard.complete(Outcome::Value(found.entry));
                    return Ok(found.value);
                }
                Peer::Gone(lock) => lock,
            },
        };
        self.counters.misses.incr();
        self.counters.loader_calls.incr();
        let load = Box::pin(loader());
        self.run_loader(guard, ctx, load, fallback, lock).await
    }

    /// Another instance holds the load lock: poll L2 for its result for up to `lock_wait`,
    /// taking the lock if it is released without a result.
    async fn wait_for_peer<T: Cacheable>(&self, guard: &FlightGuard, ctx: &LoadCtx<T>) -> Peer<T> {
        self.counters.lock_waits.incr();
        let key = guard.key();
        let deadline = tokio::time::Instant::now() + self.config.lock_wait;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(PEER_POLL).await;
            if let Some(found) = self.peer_loaded(guard, ctx, None).await {
                return Peer::Loaded(found);
            }
            match self.take_load_lock(guard, ctx, None).await {
                Take::Load(lock) => return Peer::Gone(lock),
                Take::Loaded(found) => return Peer::Loaded(found),
                Take::HeldElsewhere => {}
            }
        }
        tracing::debug!(
            namespace = key.namespace,
            key = key.key,
            "waited lock_wait for another instance; loading"
        );
        Peer::Gone(None)
    }

    /// Takes the load lock of `guard`'s key before a load or refresh. Having taken it, reads L2
    /// once more: the previous holder may have stored its value (newer than `newer_than`) and
    /// released the lock since this instance last looked, and then its value is used instead.
    async fn take_load_lock<T: Cacheable>(
        &self,
        guard: &FlightGuard,
        ctx: &LoadCtx<T>,
        newer_than: Option<Stamp>,
    ) -> Take<T> {
        match self.try_lock(guard.key()).await {
            LockAttempt::Acquired(lock) => match self.peer_loaded(guard, ctx, newer_than).await {
                Some(found) => {
                    lock.release().await;
                    Take::Loaded(found)
                }
                None => Take::Load(Some(lock)),
            },
            LockAttempt::NotCoordinated => Take::Load(None),
            LockAttempt::HeldElsewhere => Take::HeldElsewhere,
        }
    }

    /// A value another instance loaded into L2: not expired, and newer than `newer_than` (the
    /// stale value this instance already has) when given. Fills L1 with it.
    async fn peer_loaded<T: Cacheable>(
        &self,
        guard: &FlightGuard,
        ctx: &LoadCtx<T>,
        newer_than: Option<Stamp>,
    ) -> Option<Found<T>> {
        let L2Read::Hit(value, meta, tags) = self.read_l2::<T>(guard.key()).await else {
            return None;
        };
        let usable = meta.freshness(self.stamps.recent_ms(), self.config.enable_swr)
            != Freshness::Expired
            && newer_than.is_none_or(|old| meta.created > old);
        usable.then(|| self.fill_found(guard, ctx, value, meta, tags))
    }

    /// Runs a load as leader of `guard` under the soft and hard timeouts, then stores and
    /// publishes the outcome.
    async fn run_loader<T, Fut, E>(
        self: &Arc<Self>,
        guard: FlightGuard,
        ctx: LoadCtx<T>,
        mut load: Pin<Box<Fut>>,
        fallback: Option<Found<T>>,
        lock: Option<HeldLock>,
    ) -> Result<T, LoadError<E>>
    where
        T: Cacheable,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let hard = self.config.hard_timeout;
        let loaded = match (self.config.soft_timeout, &fallback) {
            (Some(soft), Some(stand_in)) => {
                let first = tokio::select! {
                    loaded = bounded(&mut load, hard) => Some(loaded),
                    () = tokio::time::sleep(soft) => None,
                };
                match first {
                    Some(loaded) => loaded,
                    None => {
                        // Answer with the fallback now; the load finishes in the background.
                        self.counters.soft_timeouts.incr();
                        guard.publish(Outcome::Value(stand_in.entry.clone()));
                        let value = stand_in.value.clone();
                        let inner = self.clone();
                        let remaining = hard.map(|hard| hard.saturating_sub(soft));
                        let shutdown = self.shutdown.clone();
                        self.tasks.spawn(async move {
                            let finish = async {
                                let loaded = bounded(load, remaining).await;
                                let _ = inner
                                    .finish::<T, E>(guard, &ctx, loaded, fallback, lock)
                                    .await;
                            };
                            tokio::select! {
                                () = shutdown.cancelled() => {}
                                _ = AssertUnwindSafe(finish).catch_unwind() => {}
                            }
                        });
                        return Ok(value);
                    }
                }
            }
            _ => bounded(load, hard).await,
        };
        self.finish(guard, &ctx, loaded, fallback, lock).await
    }

    /// Stores a loaded value, or handles a failure (fail-safe), and completes the flight.
    async fn finish<T, E>(
        &self,
        guard: FlightGuard,
        ctx: &LoadCtx<T>,
        loaded: Loaded<T, E>,
        fallback: Option<Found<T>>,
        lock: Option<HeldLock>,
    ) -> Result<T, LoadError<E>>
    where
        T: Cacheable,
        E: Send + Sync + 'static,
    {
        let result = match loaded {
            Loaded::Value(value) => {
                let lifetime = ctx.plan.lifetime_for(&value, self);
                let fill = FillGuard::Flight(&guard);
                let entry = self
                    .store(
                        guard.key(),
                        value.clone(),
                        ctx.started,
                        ctx.epoch,
                        &ctx.namespace,
                        &lifetime,
                        &fill,
                    )
                    .await;
                guard.complete(Outcome::Value(entry));
                Ok(value)
            }
            Loaded::Failed(error) => {
                self.counters.loader_errors.incr();
                self.fail(guard, Failure::Loader(Arc::new(error)), fallback)
            }
            Loaded::TimedOut(after) => {
                self.counters.hard_timeouts.incr();
                self.fail(guard, Failure::TimedOut(after), fallback)
            }
        };
        if let Some(lock) = lock {
            lock.release().await;
        }
        result
    }

    /// A load failed: serve the fallback (fail-safe) or hand the error to every waiter.
    fn fail<T: Cacheable, E: Send + Sync + 'static>(
        &self,
        guard: FlightGuard,
        failure: Failure<E>,
        fallback: Option<Found<T>>,
    ) -> Result<T, LoadError<E>> {
        if let Some(stand_in) = fallback.filter(|_| self.config.fail_safe) {
            let entry = self.throttle_with(guard.key(), &stand_in);
            guard.complete(Outcome::Value(entry));
            return Ok(stand_in.value);
        }
        match failure {
            Failure::Loader(error) => {
                guard.complete(Outcome::Failed(error.clone()));
                Err(LoadError::Loader(error))
            }
            Failure::TimedOut(after) => {
                guard.complete(Outcome::TimedOut(after));
                Err(LoadError::TimedOut(after))
            }
        }
    }

    /// Fail-safe: keeps serving `stand_in` as fresh for `fail_safe_throttle` (L1 only), so the
    /// failing origin is not called again meanwhile.
    fn throttle_with<T: Cacheable>(&self, key: KeyRef<'_>, stand_in: &Found<T>) -> Entry {
        self.counters.fail_safe_activations.incr();
        let now = self.stamps.now_ms();
        let until = now.saturating_add(duration_ms(self.config.fail_safe_throttle));
        tracing::warn!(
            namespace = key.namespace,
            key = key.key,
            throttle = ?self.config.fail_safe_throttle,
            "loader failed; serving the previous value (fail-safe)"
        );
        let meta = EntryMeta {
            fresh_until_ms: until,
            expires_at_ms: until,
            keep_until_ms: stand_in.meta.keep_until_ms.max(until),
            ..stand_in.meta
        };
        let header = stand_in.entry.header();
        let throttled = Header::new(
            meta,
            self.l1_deadline(now, &meta),
            header.epoch(),
            header.namespace().clone(),
            header.tags().into(),
        );
        let entry = l1::entry(throttled, stand_in.value.clone());
        if header.is_current() {
            self.l1
                .insert(EntryKey::new(key.namespace, key.key), entry.clone());
        }
        entry
    }

    /// Starts one background refresh of `key` unless one is running. The task owns its inputs;
    /// `close()` cancels it, and a cancelled or panicking refresh releases the key and its lock.
    pub(crate) fn spawn_refresh<T, F, Fut, E>(
        self: &Arc<Self>,
        key: KeyRef<'_>,
        plan: Plan<T>,
        loader: F,
        stale: Entry,
    ) where
        T: Cacheable,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        // The caller claimed the entry's refresh (`begin_refresh`); every way out gives it back.
        if self.shutdown.is_cancelled() {
            stale.header().end_refresh();
            return;
        }
        let Some(guard) = self.flights.try_lead(key) else {
            stale.header().end_refresh();
            return;
        };
        let inner = self.clone();
        let shutdown = self.shutdown.clone();
        let claimed = stale.clone();
        self.tasks.spawn(async move {
            let refresh = inner.refresh::<T, F, Fut, E>(guard, plan, loader, stale);
            tokio::select! {
                // Dropping the refresh drops its flight guard and lock: the key is free again.
                () = shutdown.cancelled() => {}
                outcome = AssertUnwindSafe(refresh).catch_unwind() => if outcome.is_err() {
                    inner.counters.refresh_failures.incr();
                    tracing::error!("background refresh panicked; the stale value stays");
                },
            }
            claimed.header().end_refresh();
        });
    }

    /// The body of a background refresh.
    async fn refresh<T, F, Fut, E>(
        self: &Arc<Self>,
        guard: FlightGuard,
        plan: Plan<T>,
        loader: F,
        stale: Entry,
    ) where
        T: Cacheable,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let key = guard.key();
        let ctx = self.load_ctx(key, plan);
        // Another instance may have refreshed it already.
        if let L2Read::Hit(value, meta, tags) = self.read_l2::<T>(key).await {
            if meta.freshness(self.stamps.recent_ms(), self.config.enable_swr) == Freshness::Fresh {
                let fill = FillGuard::Flight(&guard);
                let entry = self.fill_l1(key, value, meta, ctx.epoch, &ctx.namespace, tags, &fill);
                guard.complete(Outcome::Value(entry));
                return;
            }
        }
        // One refresh per stale period across instances.
        let newer_than = Some(stale.header().meta.created);
        let lock = match self.take_load_lock(&guard, &ctx, newer_than).await {
            Take::Load(lock) => lock,
            Take::Loaded(found) => {
                guard.complete(Outcome::Value(found.entry));
                return;
            }
            Take::HeldElsewhere => {
                self.counters.refreshes_skipped.incr();
                let backoff = self.config.lock_ttl.min(PEER_REFRESH_BACKOFF);
                stale
                    .header()
                    .defer_refresh(self.stamps.now_ms().saturating_add(duration_ms(backoff)));
                guard.complete(Outcome::Value(stale));
                return;
            }
        };
        self.counters.background_refreshes.incr();
        self.counters.loader_calls.incr();
        let fallback = Found::from_entry(stale.clone());
        let loaded = bounded(loader(), self.config.hard_timeout).await;
        if !matches!(loaded, Loaded::Value(_)) {
            self.counters.refresh_failures.incr();
            tracing::warn!(
                namespace = key.namespace,
                key = key.key,
                error_type = std::any::type_name::<E>(),
                "background refresh failed; the stale value stays"
            );
        }
        let _ = self
            .finish::<T, E>(guard, &ctx, loaded, fallback, lock)
            .await;
    }
}

/// Why a load produced no value.
enum Failure<E> {
    Loader(Arc<E>),
    TimedOut(Duration),
}

/// What trying to take the load lock produced.
enum Take<T> {
    /// Load (or refresh) now, holding the lock when instances are coordinated.
    Load(Option<HeldLock>),
    /// Another instance's value appeared in L2: no load needed.
    Loaded(Found<T>),
    /// Another instance holds the lock.
    HeldElsewhere,
}

/// What waiting for another instance's load produced.
enum Peer<T> {
    /// Its value appeared in L2.
    Loaded(Found<T>),
    /// It is gone (released without a value, or waited too long): load, with the lock if taken.
    Gone(Option<HeldLock>),
}

/// A flight outcome, typed for one waiter.
enum Shared<T, E> {
    Value(T),
    Error(LoadError<E>),
    OtherType,
}

fn shared<T: Clone + 'static, E: Send + Sync + 'static>(outcome: Outcome) -> Shared<T, E> {
    match outcome {
        Outcome::Value(entry) => match l1::value_of::<T>(&*entry) {
            Some(value) => Shared::Value(value.clone()),
            None => Shared::OtherType,
        },
        Outcome::Failed(error) => match Arc::<dyn Any + Send + Sync>::downcast::<E>(error) {
            Ok(error) => Shared::Error(LoadError::Loader(error)),
            Err(_) => Shared::OtherType,
        },
        Outcome::TimedOut(after) => Shared::Error(LoadError::TimedOut(after)),
    }
}
