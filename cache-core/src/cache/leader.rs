//! A load after L1 could not answer, top to bottom: join the key's flight (or wait for its
//! leader); as leader, look in L2; decide what the entry found is good for; coordinate with other
//! instances; run the loader under its timeouts. What happens to its result is in `finish`.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use super::Inner;
use super::admit::Ticket;
use super::coord::{HeldLock, Peer, Take, renewing};
use super::decide::{self, WithLoader};
use super::load::Cacheable;
use super::options::Plan;
use super::read::Found;
use super::stored::L2Read;
use super::tier::with_budget;
use crate::clock::Stamp;
use crate::entry::EntryMeta;
use crate::error::LoadError;
use crate::flight::{FlightGuard, Join, Outcome};
use crate::keys::{EntryKey, KeyRef};
use crate::l1::{self, Entry};
use crate::l2::Undecodable;
use crate::namespaces::NamespaceState;
use crate::observe;
use crate::source::{Source, Tier};
use crate::tags::TagRef;

/// What a load knew when it started, and how it stores its result.
pub(crate) struct LoadCtx<T> {
    /// Taken before anything was read: a write of the key since keeps older values out of L1.
    pub(crate) ticket: Ticket,
    /// The created stamp of the loaded value (orders it against writes and clears).
    pub(crate) started: Stamp,
    /// The namespace epoch at the start (a clear since retires the result).
    pub(crate) epoch: u64,
    pub(crate) namespace: Arc<NamespaceState>,
    pub(crate) plan: Plan<T>,
}

/// What a load produced.
pub(crate) enum Loaded<T, E> {
    Value(T),
    Failed(E),
    TimedOut(Duration),
}

/// Builds a future and moves it to the heap inside a frame of its own.
///
/// An `async fn` keeps a stack slot for each future it builds to await, the size of that future,
/// and a debug build never shares those slots: every level of a recursive `#[cached]` function
/// (its miss polls its body, which polls the next level's miss) took ~48 KB of stack, so a 2 MiB
/// worker thread overflowed at a depth of ~40. Awaiting what this returns costs the caller's
/// frame a pointer; the price is one allocation per step of a miss, next to an origin call.
#[inline(never)]
pub(crate) fn boxed<Fut: Future>(make: impl FnOnce() -> Fut) -> Pin<Box<Fut>> {
    Box::pin(make())
}

/// Awaits a load, giving up after `hard` when set.
pub(crate) async fn bounded<T, E, Fut>(load: Fut, hard: Option<Duration>) -> Loaded<T, E>
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

/// A flight outcome, typed for one waiter.
pub(crate) enum Shared<T, E> {
    Value {
        value: T,
        loaded: bool,
        source: Source,
    },
    Error(LoadError<E>),
    /// Nothing this waiter can use (another type under the same key, or an error the leader
    /// kept): it runs its own loader.
    LoadOwn,
}

pub(crate) fn shared<T: Clone + 'static, E: Send + Sync + 'static>(
    outcome: Outcome,
) -> Shared<T, E> {
    match outcome {
        Outcome::Value {
            entry,
            loaded,
            source,
        } => match l1::value_of::<T>(&*entry) {
            Some(value) => Shared::Value {
                value: value.clone(),
                loaded,
                source,
            },
            None => Shared::LoadOwn,
        },
        Outcome::Failed(error) => match Arc::<dyn Any + Send + Sync>::downcast::<E>(error) {
            Ok(error) => Shared::Error(LoadError::Loader(error)),
            Err(_) => Shared::LoadOwn,
        },
        Outcome::FailedUnshared => Shared::LoadOwn,
        Outcome::TimedOut(after) => Shared::Error(LoadError::TimedOut(after)),
    }
}

impl Inner {
    /// What a load of `key` starts with: the ticket first, then the namespace epoch, then the
    /// stamp, so that anything that happens after one of them is seen by the next.
    pub(crate) fn load_ctx<T>(&self, key: KeyRef<'_>, plan: Plan<T>) -> LoadCtx<T> {
        let ticket = self.ticket(key);
        let namespace = self.namespaces.get(key.namespace);
        LoadCtx {
            ticket,
            epoch: namespace.epoch(),
            started: self.stamps.load_start(),
            namespace,
            plan,
        }
    }

    /// Counts one loader call, for the cache and for `namespace`.
    pub(crate) fn count_loader_call(&self, namespace: &NamespaceState) {
        self.counters.loader_calls.incr();
        namespace.counters.loads.incr();
    }

    /// Offers a value found in L2 to L1 (under the load's ticket) and wraps it.
    pub(crate) fn fill_found<T: Cacheable>(
        &self,
        key: KeyRef<'_>,
        ctx: &LoadCtx<T>,
        value: T,
        meta: EntryMeta,
        tags: Box<[TagRef]>,
        size: usize,
    ) -> Found<T> {
        let entry = self.l1_entry(value.clone(), meta, ctx.epoch, &ctx.namespace, tags, size);
        self.admit(key, &entry, ctx.ticket);
        Found {
            value,
            meta,
            entry,
            tier: Tier::L2,
        }
    }

    /// L1 could not answer: coalesce with any running load of `key`, or lead one. The answer
    /// says where its value came from.
    pub(crate) async fn load<T, F, Fut, E>(
        self: &Arc<Self>,
        key: KeyRef<'_>,
        plan: Plan<T>,
        loader: F,
        l1_copy: Option<Entry>,
    ) -> Result<(T, Source), LoadError<E>>
    where
        T: Cacheable,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        self.namespaces
            .with(key.namespace, |namespace| namespace.counters.misses.incr());
        let guard = loop {
            match self.flights.join(key) {
                Join::Lead(guard) => break guard,
                Join::Wait(waiter) => {
                    self.counters.coalesced_waits.incr();
                    observe::outcome("coalesced");
                    match waiter.outcome().await.map(shared::<T, E>) {
                        Some(Shared::Value {
                            value,
                            loaded,
                            source,
                        }) => {
                            if loaded {
                                self.counters.misses.incr();
                            }
                            return Ok((value, source.coalesced()));
                        }
                        Some(Shared::Error(error)) => {
                            self.counters.misses.incr();
                            return Err(error);
                        }
                        // Another type under the same key, or an error its loader's caller
                        // kept: load for ourselves, uncached.
                        Some(Shared::LoadOwn) => {
                            self.counters.misses.incr();
                            self.namespaces
                                .with(key.namespace, |ns| self.count_loader_call(ns));
                            observe::outcome("loaded");
                            return observe::loader(&self.name, key.namespace, loader())
                                .await
                                .map(|value| (value, Source::loaded()))
                                .map_err(|e| LoadError::Loader(Arc::new(e)));
                        }
                        // The leader was cancelled or panicked: try again.
                        None => {}
                    }
                }
            }
        };
        boxed(move || self.lead(guard, plan, loader, l1_copy)).await
    }

    /// Runs one load of `guard`'s key: L2 first, then (coordinated with other instances) the
    /// loader.
    async fn lead<T, F, Fut, E>(
        self: &Arc<Self>,
        guard: FlightGuard,
        plan: Plan<T>,
        loader: F,
        l1_copy: Option<Entry>,
    ) -> Result<(T, Source), LoadError<E>>
    where
        T: Cacheable,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let key = guard.key();
        let ctx = self.load_ctx(key, plan);

        // 1. What the tiers hold.
        let mut overwrite = None;
        let mut l2_answered = true;
        let found = match boxed(|| self.read_l2::<T>(key)).await {
            L2Read::Hit {
                value,
                meta,
                tags,
                size,
            } => Some(self.fill_found(key, &ctx, value, meta, tags, size)),
            L2Read::Miss { overwrite: junk } => {
                overwrite = junk;
                // L2 is the shared truth: an L1 copy it no longer has is gone.
                if let Some(copy) = &l1_copy {
                    self.drop_copy(key, copy);
                }
                None
            }
            // L2 cannot answer: the L1 copy is the best there is.
            L2Read::Unavailable => {
                l2_answered = false;
                l1_copy.and_then(Found::from_entry)
            }
        };

        // 2. What the entry found is good for.
        let mut fallback = None;
        if let Some(found) = found {
            let state = decide::state(&found.meta, self.stamps.recent_ms(), &self.config);
            match decide::with_loader(state, &self.config) {
                WithLoader::Serve => return Ok(self.answer_found(guard, found, false)),
                WithLoader::ServeAndRefresh => {
                    self.counters.stale_hits.incr();
                    let owned = EntryKey::new(key.namespace, key.key);
                    let entry = found.entry.clone();
                    let value = self.answer_found(guard, found, true);
                    if entry.header().begin_refresh(self.stamps.recent_ms()) {
                        self.spawn_refresh(owned.as_ref(), ctx.plan, loader, entry);
                    }
                    return Ok(value);
                }
                WithLoader::LoadWithFallback => fallback = Some(found),
                WithLoader::Load => {}
            }
        }

        // 3. One instance loads; the others wait for its value.
        let newer_than = fallback.as_ref().map(|f| f.meta.created);
        let lock = match boxed(|| self.take_load_lock(&guard, &ctx, newer_than)).await {
            Take::Load(lock) => lock,
            Take::Loaded(found) => return Ok(self.answer_found(guard, found, false)),
            Take::HeldElsewhere => match boxed(|| self.wait_for_peer(&guard, &ctx)).await {
                Peer::Loaded(found) => return Ok(self.answer_found(guard, found, false)),
                Peer::Gone(lock) => lock,
            },
        };

        // 4. The loader.
        if l2_answered && self.l2.is_some() {
            self.counters.l2_misses.incr();
        }
        self.counters.misses.incr();
        self.count_loader_call(&ctx.namespace);
        let load = Box::pin(observe::loader(&self.name, key.namespace, loader()));
        boxed(move || self.run_loader(guard, ctx, load, fallback, lock, overwrite)).await
    }

    /// Hands a value found in a tier (`stale`: past its fresh period) to the waiters and the
    /// caller.
    fn answer_found<T: Cacheable>(
        &self,
        guard: FlightGuard,
        found: Found<T>,
        stale: bool,
    ) -> (T, Source) {
        let from_l2 = found.tier == Tier::L2;
        observe::outcome(if from_l2 { "l2_hit" } else { "l1_copy" });
        if from_l2 && self.l2.is_some() {
            self.counters.l2_hits.incr();
        }
        let source = found.source(stale);
        guard.complete(Outcome::Value {
            entry: found.entry,
            loaded: false,
            source,
        });
        (found.value, source)
    }

    /// Runs a load as leader of `guard` under the soft and hard timeouts, then stores and
    /// publishes the outcome.
    async fn run_loader<T, Fut, E>(
        self: &Arc<Self>,
        guard: FlightGuard,
        ctx: LoadCtx<T>,
        load: Pin<Box<Fut>>,
        fallback: Option<Found<T>>,
        lock: Option<HeldLock>,
        overwrite: Option<Undecodable>,
    ) -> Result<(T, Source), LoadError<E>>
    where
        T: Cacheable,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let bounds = decide::bounds(&self.config, fallback.is_some(), ctx.plan.wait_for_loader);
        let mut load = Box::pin(renewing(lock.as_ref().map(HeldLock::keeper), load));
        let loaded = match (bounds.soft, &fallback) {
            (Some(soft), Some(stand_in)) => {
                let first = tokio::select! {
                    loaded = bounded(&mut load, bounds.hard) => Some(loaded),
                    () = tokio::time::sleep(soft) => None,
                };
                match first {
                    Some(loaded) => loaded,
                    None if self.usable_fallback(guard.key(), stand_in, &ctx) => {
                        // Answer with the fallback now; the load finishes in the background.
                        self.counters.soft_timeouts.incr();
                        observe::outcome("soft_timeout");
                        let source = stand_in.source(true);
                        guard.publish(Outcome::Value {
                            entry: stand_in.entry.clone(),
                            loaded: true,
                            source,
                        });
                        let value = (stand_in.value.clone(), source);
                        let remaining = bounds.hard.map(|hard| hard.saturating_sub(soft));
                        self.finish_in_background(
                            guard, ctx, load, remaining, fallback, lock, overwrite,
                        );
                        return Ok(value);
                    }
                    // The fallback was superseded meanwhile: nothing may stand in.
                    None => {
                        let hard = bounds.hard.map(|hard| hard.saturating_sub(soft));
                        boxed(move || bounded(load, hard)).await
                    }
                }
            }
            _ => boxed(move || bounded(load, bounds.hard)).await,
        };
        boxed(|| self.finish(guard, &ctx, loaded, fallback, lock, overwrite)).await
    }

    /// The rest of a load that answered at its soft timeout, as a tracked task.
    #[allow(clippy::too_many_arguments)]
    fn finish_in_background<T, Fut, E>(
        self: &Arc<Self>,
        guard: FlightGuard,
        ctx: LoadCtx<T>,
        load: Pin<Box<Fut>>,
        remaining: Option<Duration>,
        fallback: Option<Found<T>>,
        lock: Option<HeldLock>,
        overwrite: Option<Undecodable>,
    ) where
        T: Cacheable,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let inner = self.clone();
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            let finish = with_budget(async {
                let loaded = bounded(load, remaining).await;
                let _ = inner
                    .finish::<T, E>(guard, &ctx, loaded, fallback, lock, overwrite)
                    .await;
            });
            tokio::select! {
                () = shutdown.cancelled() => {}
                _ = AssertUnwindSafe(finish).catch_unwind() => {}
            }
        });
    }
}
