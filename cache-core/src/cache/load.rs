//! Reads with a loader: single-flight misses, stale-while-revalidate, background refresh.
//!
//! ```text
//! L1 fresh ─────────────► value
//! L1 stale ─────────────► value, and one background refresh (or an inline one)
//! L1 miss ─► join flight ─► leader: L2 fresh/stale ─► value (+ refresh when stale)
//!                   │               L2 miss ───────► loader ─► L2 (conditional) ─► L1 ─► value
//!                   └─► waiter: the leader's outcome (or retry when the leader vanished)
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
use super::read::{FillGuard, GetBuilder, L2Read, Probe};
use super::write::{Lifetime, WriteOptions};
use crate::entry::{EntryMeta, Freshness};
use crate::error::LoadError;
use crate::flight::{FlightGuard, Join, Outcome};
use crate::keys::{EntryKey, KeyRef};
use crate::l1::{self, Entry};
use crate::l2::BoxFuture;
use crate::namespaces::NamespaceState;

/// What every loaded value must be.
pub trait Cacheable: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Cacheable for T {}

/// A read that loads misses and refreshes stale entries; `.await` it for `Result<T, LoadError<E>>`.
#[must_use = "a read does nothing until awaited"]
pub struct LoadBuilder<'a, T, F> {
    get: GetBuilder<'a, T>,
    loader: F,
    options: WriteOptions<'a>,
}

impl<'a, T, F> LoadBuilder<'a, T, F> {
    pub(crate) fn new(get: GetBuilder<'a, T>, loader: F) -> Self {
        LoadBuilder {
            get,
            loader,
            options: WriteOptions::default(),
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
}

impl<'a, T, F, Fut, E> IntoFuture for LoadBuilder<'a, T, F>
where
    T: Cacheable,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    type Output = Result<T, LoadError<E>>;
    type IntoFuture = LoadFuture<'a, T, F, E>;

    fn into_future(self) -> Self::IntoFuture {
        LoadFuture {
            state: LoadState::Start(self),
        }
    }
}

/// The future of a [`LoadBuilder`]. A fresh or stale L1 hit completes on the first poll
/// without allocating (a stale hit spawns the refresh task).
#[must_use = "futures do nothing unless polled"]
pub struct LoadFuture<'a, T, F, E> {
    state: LoadState<'a, T, F, E>,
}

// The loader is moved out on the first poll and never pinned in place, so the future may move.
impl<T, F, E> Unpin for LoadFuture<'_, T, F, E> {}

enum LoadState<'a, T, F, E> {
    Start(LoadBuilder<'a, T, F>),
    Slow(BoxFuture<'a, Result<T, LoadError<E>>>),
    Done,
}

impl<'a, T, F, Fut, E> Future for LoadFuture<'a, T, F, E>
where
    T: Cacheable,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    type Output = Result<T, LoadError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, LoadState::Done) {
                LoadState::Start(builder) => match start(builder) {
                    Ok(ready) => return Poll::Ready(Ok(ready)),
                    Err(Started::Failed(error)) => return Poll::Ready(Err(error)),
                    Err(Started::Slow(slow)) => this.state = LoadState::Slow(slow),
                },
                LoadState::Slow(mut slow) => {
                    let poll = slow.as_mut().poll(cx);
                    if poll.is_pending() {
                        this.state = LoadState::Slow(slow);
                    }
                    return poll;
                }
                LoadState::Done => panic!("LoadFuture polled after completion"),
            }
        }
    }
}

enum Started<'a, T, E> {
    Failed(LoadError<E>),
    Slow(BoxFuture<'a, Result<T, LoadError<E>>>),
}

/// The synchronous first step: answer from L1 when possible.
fn start<'a, T, F, Fut, E>(builder: LoadBuilder<'a, T, F>) -> Result<T, Started<'a, T, E>>
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
    } = builder;
    let inner = get.inner;
    let key = inner
        .checked_key(get.namespace, get.key)
        .map_err(|e| Started::Failed(e.into()))?;
    let lifetime = options
        .resolve(&inner.config)
        .map_err(|e| Started::Failed(e.into()))?;
    let fallback = match inner.probe::<T>(key, inner.stamps.now_ms()) {
        Probe::Hit {
            value,
            stale: false,
        } => return Ok(value),
        Probe::Hit { value, stale: true } if inner.config.background_refresh => {
            inner.spawn_refresh(key, inner.namespaces.get(key.namespace), lifetime, loader);
            return Ok(value);
        }
        // A stale hit without background refresh refreshes inline.
        Probe::Hit { .. } | Probe::Miss => None,
        Probe::Revalidate(entry) => Some(entry),
    };
    Err(Started::Slow(Box::pin(
        inner.clone().load(key, lifetime, loader, fallback),
    )))
}

/// A value found in a tier while leading a load.
struct Found<T> {
    value: T,
    meta: EntryMeta,
    entry: Entry,
}

impl Inner {
    /// L1 could not answer: coalesce with any running load of `key`, or lead one.
    async fn load<T, F, Fut, E>(
        self: Arc<Self>,
        key: KeyRef<'_>,
        lifetime: Lifetime,
        loader: F,
        fallback: Option<Entry>,
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
        self.lead(guard, lifetime, loader, fallback).await
    }

    /// Runs one load of `guard`'s key: L2 first, then the loader.
    async fn lead<T, F, Fut, E>(
        self: Arc<Self>,
        guard: FlightGuard,
        lifetime: Lifetime,
        loader: F,
        fallback: Option<Entry>,
    ) -> Result<T, LoadError<E>>
    where
        T: Cacheable,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let key = guard.key();
        let namespace = self.namespaces.get(key.namespace);
        let epoch = namespace.epoch();
        let started = self.stamps.next();
        let found = match self.read_l2::<T>(key, &namespace).await {
            L2Read::Hit(value, meta) => {
                let entry = self.fill_l1(
                    key,
                    value.clone(),
                    meta,
                    epoch,
                    &namespace,
                    &FillGuard::Flight(&guard),
                );
                Some(Found { value, meta, entry })
            }
            L2Read::Miss => {
                // L2 is the shared truth: an L1 copy it no longer has is gone.
                if let Some(copy) = &fallback {
                    self.l1.remove_exact(key, copy);
                }
                None
            }
            // L2 cannot answer: the L1 copy past `l1_ttl` is the best we have.
            L2Read::Unavailable => fallback.and_then(|entry| {
                let value = l1::value_of::<T>(&*entry)?.clone();
                Some(Found {
                    value,
                    meta: entry.header().meta,
                    entry,
                })
            }),
        };
        if let Some(found) = found {
            match found
                .meta
                .freshness(self.stamps.now_ms(), self.config.enable_swr)
            {
                Freshness::Fresh => {
                    guard.complete(Outcome::Value(found.entry));
                    return Ok(found.value);
                }
                Freshness::Stale if self.config.background_refresh => {
                    self.counters.stale_hits.incr();
                    let owned = EntryKey::new(key.namespace, key.key);
                    guard.complete(Outcome::Value(found.entry));
                    self.spawn_refresh(owned.as_ref(), namespace, lifetime, loader);
                    return Ok(found.value);
                }
                // Stale with inline refresh, or expired: load.
                Freshness::Stale | Freshness::Expired => {}
            }
        }
        self.counters.misses.incr();
        self.run_loader(guard, namespace, epoch, started, lifetime, loader)
            .await
    }

    /// Calls the loader as leader of `guard` and publishes the outcome.
    async fn run_loader<T, F, Fut, E>(
        &self,
        guard: FlightGuard,
        namespace: Arc<NamespaceState>,
        epoch: u64,
        started: crate::clock::Stamp,
        lifetime: Lifetime,
        loader: F,
    ) -> Result<T, LoadError<E>>
    where
        T: Cacheable,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Send + Sync + 'static,
    {
        self.counters.loader_calls.incr();
        match loader().await {
            Ok(value) => {
                let entry = self
                    .store(
                        guard.key(),
                        value.clone(),
                        started,
                        epoch,
                        &namespace,
                        &lifetime,
                        &FillGuard::Flight(&guard),
                    )
                    .await;
                guard.complete(Outcome::Value(entry));
                Ok(value)
            }
            Err(error) => {
                self.counters.loader_errors.incr();
                let error = Arc::new(error);
                guard.complete(Outcome::Failed(error.clone()));
                Err(LoadError::Loader(error))
            }
        }
    }

    /// Starts one background refresh of `key` unless one is running. The task owns its inputs;
    /// `close()` cancels it, and a cancelled or panicking refresh releases the key.
    pub(crate) fn spawn_refresh<T, F, Fut, E>(
        self: &Arc<Self>,
        key: KeyRef<'_>,
        namespace: Arc<NamespaceState>,
        lifetime: Lifetime,
        loader: F,
    ) where
        T: Cacheable,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        if self.shutdown.is_cancelled() {
            return;
        }
        let Some(guard) = self.flights.try_lead(key) else {
            return;
        };
        self.counters.background_refreshes.incr();
        let inner = self.clone();
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            let epoch = namespace.epoch();
            let started = inner.stamps.next();
            let refresh = inner.run_loader::<T, F, Fut, E>(guard, namespace, epoch, started, lifetime, loader);
            tokio::select! {
                // Dropping the refresh drops its flight guard: the key is free again.
                () = shutdown.cancelled() => {}
                outcome = AssertUnwindSafe(refresh).catch_unwind() => match outcome {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => {
                        inner.counters.refresh_failures.incr();
                        tracing::warn!(
                            error_type = std::any::type_name::<E>(),
                            "background refresh failed; the stale value stays until it expires"
                        );
                    }
                    Err(_) => {
                        inner.counters.refresh_failures.incr();
                        tracing::error!("background refresh panicked; the stale value stays until it expires");
                    }
                },
            }
        });
    }
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
    }
}
