//! Batches: [`GetMany`] reads many keys of one namespace in one L1 pass with their L2 reads
//! sent together (the Redis client pipelines them: one round trip's wait, not one per key), and
//! [`LoadMany`] loads every key that missed with ONE loader call.
//!
//! A batch load follows the single-key rules where they concern correctness: each loaded key is
//! led as a flight of its own (a concurrent single-key read of it waits for the batch, and the
//! batch waits for a load of it already running), its load context is taken before the loader
//! runs (so a write of the key meanwhile wins), and its value is stored through the same end of
//! a load as any other (`finish`). What it leaves out: the distributed lock (instances may each
//! load the keys they miss) and fail-safe (a failed batch hands its error back; nothing stands in).

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::join_all;
use serde::de::DeserializeOwned;

use super::Inner;
use super::decide::State;
use super::leader::{LoadCtx, Loaded, Shared, shared};
use super::load::Cacheable;
use super::options::{Plan, WriteOptions};
use super::read::Probe;
use super::tier::with_budget;
use super::{GetBuilder, TieredCache};
use crate::codec::CodecKind;
use crate::error::{CacheError, LoadError};
use crate::flight::{FlightGuard, Join, Waiter};
use crate::keys::{self, DEFAULT_NAMESPACE, KeyRef};
use crate::l2::BoxFuture;
use crate::observe;

impl<C> TieredCache<C> {
    /// Reads every key of `keys` (namespace `"default"` unless [`GetMany::namespace`]): one
    /// L1 pass, and the keys L1 could not answer read from L2 together. Add
    /// [`GetMany::refresh_many_with`] to load the misses with one loader call.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tiered_cache_core::CacheError> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() })
    ///     .await
    ///     .expect("valid config");
    /// cache.set("a", &1u32).await?;
    /// let values: Vec<Option<u32>> = cache.get_many(&["a", "b"]).await?;
    /// assert_eq!(values, [Some(1), None]);
    /// # Ok(()) }
    /// ```
    pub fn get_many<'a, T, K: AsRef<str>>(&'a self, keys: &'a [K]) -> GetMany<'a, T> {
        GetMany {
            inner: &self.inner,
            keys: keys.iter().map(AsRef::as_ref).collect(),
            namespace: DEFAULT_NAMESPACE,
            _value: PhantomData,
        }
    }
}

/// A read of many keys; `.await` it for `Result<Vec<Option<T>>, CacheError>`, one answer per
/// key in the order given (fresh and stale values; misses are `None`).
#[must_use = "a read does nothing until awaited"]
pub struct GetMany<'a, T> {
    inner: &'a Arc<Inner>,
    keys: Vec<&'a str>,
    namespace: &'a str,
    _value: PhantomData<fn() -> T>,
}

impl<'a, T> GetMany<'a, T> {
    /// Reads from `namespace` instead of `"default"`.
    pub fn namespace(mut self, namespace: &'a str) -> Self {
        self.namespace = namespace;
        self
    }

    /// Loads every key that missed (or expired) with one call of `loader`, which gets the keys
    /// and returns the values it found by key; a key it does not return is `None` in the answer
    /// and is not cached. Stale keys: when the batch calls the loader anyway, they are in the
    /// same call and answered with its new values; otherwise their stale values are answered at
    /// once and one background call refreshes them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::collections::HashMap;
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.set("user:1", &"Ada".to_owned()).await?;
    /// let names = cache
    ///     .get_many(&["user:1", "user:2", "user:3"])
    ///     .refresh_many_with(|missing: Vec<String>| async move {
    ///         // One query for every key that missed: here user:2 and user:3, and only 2 exists.
    ///         assert_eq!(missing, ["user:2", "user:3"]);
    ///         Ok::<_, std::io::Error>(HashMap::from([("user:2".to_owned(), "Grace".to_owned())]))
    ///     })
    ///     .await?;
    /// assert_eq!(names, [Some("Ada".to_owned()), Some("Grace".to_owned()), None]);
    /// # Ok(()) }
    /// ```
    pub fn refresh_many_with<F, Fut, E>(self, loader: F) -> LoadMany<'a, T, F>
    where
        F: FnOnce(Vec<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<String, T>, E>> + Send + 'static,
    {
        LoadMany {
            get: self,
            loader,
            options: WriteOptions::default(),
        }
    }
}

impl<'a, T> IntoFuture for GetMany<'a, T>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Output = Result<Vec<Option<T>>, CacheError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        // Each read's first step (the L1 probe) runs here, in order; their L2 reads go together.
        let reads: Vec<_> = self
            .keys
            .iter()
            .map(|key| {
                GetBuilder::new(self.inner, key)
                    .namespace(self.namespace)
                    .into_future()
            })
            .collect();
        Box::pin(async move { join_all(reads).await.into_iter().collect() })
    }
}

/// A batch read-through; `.await` it for `Result<Vec<Option<T>>, LoadError<E>>`.
#[must_use = "a read does nothing until awaited"]
pub struct LoadMany<'a, T, F> {
    get: GetMany<'a, T>,
    loader: F,
    options: WriteOptions,
}

impl<T, F> LoadMany<'_, T, F> {
    /// Lifetime of the loaded entries (default `l2_ttl`).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.options.ttl = Some(ttl);
        self
    }

    /// Stale window of the loaded entries (default: the configured window).
    pub fn stale(mut self, window: Duration) -> Self {
        self.options.stale = Some(window);
        self
    }

    /// Tags every loaded entry (see [`SetBuilder::tags`](crate::SetBuilder::tags)).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.set_tags(tags);
        self
    }
    /// Writes every loaded entry with `codec` instead of the config's (see
    /// [`LoadBuilder::codec`](crate::LoadBuilder::codec)).
    pub fn codec(mut self, codec: CodecKind) -> Self {
        self.options.codec = Some(codec);
        self
    }
}

impl<'a, T, F, Fut, E> IntoFuture for LoadMany<'a, T, F>
where
    T: Cacheable,
    F: FnOnce(Vec<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<HashMap<String, T>, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    type Output = Result<Vec<Option<T>>, LoadError<E>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let LoadMany {
            get,
            loader,
            options,
        } = self;
        let inner = get.inner;
        let span = observe::load_span(&inner.name, get.namespace);
        Box::pin(tracing::Instrument::instrument(
            with_budget(async move {
                inner.check_open()?;
                keys::validate_namespace(get.namespace)?;
                for key in &get.keys {
                    keys::validate_key(key)?;
                }
                let plan = Plan {
                    lifetime: options.resolve(&inner.config)?,
                    absent: None,
                    wait_for_loader: false,
                    skips: options.skips,
                    adaptive: None,
                    share_errors: true,
                };
                inner
                    .load_many(get.namespace, &get.keys, plan, loader)
                    .await
            }),
            span,
        ))
    }
}

/// A key this batch leads the load of.
struct Led<'k, T> {
    index: usize,
    key: &'k str,
    guard: FlightGuard,
    ctx: LoadCtx<T>,
}

impl Inner {
    /// The body of a [`LoadMany`].
    async fn load_many<T, F, Fut, E>(
        self: &Arc<Self>,
        namespace: &str,
        keys: &[&str],
        plan: Plan<T>,
        loader: F,
    ) -> Result<Vec<Option<T>>, LoadError<E>>
    where
        T: Cacheable,
        F: FnOnce(Vec<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<String, T>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let key_at = |i: usize| KeyRef {
            namespace,
            key: keys[i],
        };
        // 1. What the tiers hold: one L1 pass, the L2 reads of its misses together.
        let now = self.stamps.recent_ms();
        let mut answers: Vec<Option<(T, State)>> = Vec::with_capacity(keys.len());
        let mut to_read = Vec::new();
        for i in 0..keys.len() {
            match self.probe::<T>(key_at(i), now) {
                Probe::Hit { value, stale, .. } => {
                    let state = if stale { State::Stale } else { State::Fresh };
                    answers.push(Some((value, state)));
                }
                Probe::Revalidate(entry) => {
                    answers.push(None);
                    to_read.push((i, Some(entry)));
                }
                Probe::Kept(_) | Probe::Miss => {
                    answers.push(None);
                    to_read.push((i, None));
                }
            }
        }
        let read =
            join_all(to_read.into_iter().map(|(i, copy)| async move {
                (i, self.get_slow::<T>(key_at(i), copy, true).await)
            }))
            .await;
        for (i, found) in read {
            answers[i] = found.map(|read| (read.value, read.state));
        }

        // 2. Lead the loads of the misses (and, when there are misses, of the stale keys: the
        // loader is called anyway); wait for those another caller is loading.
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| answers[i].is_none()).collect();
        let stale: Vec<usize> = (0..keys.len())
            .filter(|&i| matches!(answers[i], Some((_, State::Stale))))
            .collect();
        self.counters.stale_hits.add(stale.len() as u64);
        let mut led = Vec::new();
        let mut waiting = Vec::new();
        let to_load = if missing.is_empty() {
            &[][..]
        } else {
            &stale[..]
        };
        for &i in missing.iter().chain(to_load) {
            // A stale key another caller is refreshing keeps its stale value; a missing one
            // waits for that caller's load (subscribed now, before this batch runs its own).
            let joined = if answers[i].is_none() {
                self.flights.join(key_at(i))
            } else {
                match self.flights.try_lead(key_at(i)) {
                    Some(guard) => Join::Lead(guard),
                    None => continue,
                }
            };
            match joined {
                Join::Lead(guard) => led.push(Led {
                    index: i,
                    key: keys[i],
                    ctx: self.load_ctx(key_at(i), plan.clone()),
                    guard,
                }),
                Join::Wait(waiter) => waiting.push((i, waiter)),
            }
        }
        if missing.is_empty() && !stale.is_empty() {
            self.refresh_many_in_background(namespace, keys, &stale, plan, loader);
        } else if !led.is_empty() {
            let loaded = self.run_batch(namespace, led, loader).await?;
            for (i, value) in loaded {
                answers[i] = value.map(|value| (value, State::Fresh));
            }
        }

        // 3. The keys another caller was loading.
        let waited = join_all(
            waiting
                .into_iter()
                .map(|(i, waiter)| async move { (i, self.wait_for_flight::<T, E>(waiter).await) }),
        )
        .await;
        for (i, value) in waited {
            answers[i] = value?.map(|value| (value, State::Fresh));
        }
        Ok(answers
            .into_iter()
            .map(|answer| answer.map(|(value, _)| value))
            .collect())
    }

    /// Calls the loader once for the `led` keys and stores what it returned, each key through
    /// the end of a load. A key the loader did not return is `None`: its flight is dropped, so a
    /// caller waiting for it loads it itself.
    async fn run_batch<T, F, Fut, E>(
        &self,
        namespace: &str,
        led: Vec<Led<'_, T>>,
        loader: F,
    ) -> Result<Vec<(usize, Option<T>)>, LoadError<E>>
    where
        T: Cacheable,
        F: FnOnce(Vec<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<String, T>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let wanted: Vec<String> = led.iter().map(|l| l.key.to_owned()).collect();
        // One origin call: counted once for the cache, and once for the namespace.
        self.counters.loader_calls.incr();
        if let Some(first) = led.first() {
            first.ctx.namespace.counters.loads.incr();
        }
        let mut found = match observe::loader(&self.name, namespace, loader(wanted)).await {
            Ok(found) => found,
            Err(error) => {
                // Every led flight is dropped: its waiters load for themselves.
                self.counters.loader_errors.incr();
                observe::outcome("error");
                return Err(LoadError::Loader(Arc::new(error)));
            }
        };
        observe::outcome("loaded");
        let stores = led.into_iter().map(|led| {
            let value = found.remove(led.key);
            async move {
                let Some(value) = value else {
                    return (led.index, None);
                };
                let stored = self
                    .finish::<T, E>(led.guard, &led.ctx, Loaded::Value(value), None, None, None)
                    .await;
                (led.index, stored.ok().map(|(value, _source)| value))
            }
        });
        Ok(join_all(stores).await)
    }

    /// Waits for a load another caller leads; `None` when it ended without a value (the caller
    /// may read again).
    async fn wait_for_flight<T, E>(&self, waiter: Waiter) -> Result<Option<T>, LoadError<E>>
    where
        T: Cacheable,
        E: Send + Sync + 'static,
    {
        self.counters.coalesced_waits.incr();
        match waiter.outcome().await.map(shared::<T, E>) {
            Some(Shared::Value { value, .. }) => Ok(Some(value)),
            Some(Shared::Error(error)) => Err(error),
            // Nothing it can use (another type, or an error its leader kept): none here.
            Some(Shared::LoadOwn) | None => Ok(None),
        }
    }

    /// Refreshes the `stale` keys with one loader call in a tracked task (the caller has its
    /// answers already). Keys another caller is refreshing are left to it.
    fn refresh_many_in_background<T, F, Fut, E>(
        self: &Arc<Self>,
        namespace: &str,
        keys: &[&str],
        stale: &[usize],
        plan: Plan<T>,
        loader: F,
    ) where
        T: Cacheable,
        F: FnOnce(Vec<String>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<String, T>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        if self.shutdown.is_cancelled() {
            return;
        }
        let owned: Vec<(String, FlightGuard, LoadCtx<T>)> = stale
            .iter()
            .filter_map(|&i| {
                let key = KeyRef {
                    namespace,
                    key: keys[i],
                };
                let guard = self.flights.try_lead(key)?;
                Some((keys[i].to_owned(), guard, self.load_ctx(key, plan.clone())))
            })
            .collect();
        if owned.is_empty() {
            return;
        }
        self.counters.background_refreshes.add(owned.len() as u64);
        let inner = self.clone();
        let shutdown = self.shutdown.clone();
        let namespace = namespace.to_owned();
        let span = observe::refresh_span(&self.name, &namespace);
        self.tasks.spawn(async move {
            let refresh = with_budget(async {
                let (keys, rest): (Vec<String>, Vec<(FlightGuard, LoadCtx<T>)>) = owned
                    .into_iter()
                    .map(|(key, guard, ctx)| (key, (guard, ctx)))
                    .unzip();
                let led: Vec<Led<'_, T>> = keys
                    .iter()
                    .zip(rest)
                    .enumerate()
                    .map(|(index, (key, (guard, ctx)))| Led {
                        index,
                        key,
                        guard,
                        ctx,
                    })
                    .collect();
                if inner.run_batch::<T, F, Fut, E>(&namespace, led, loader).await.is_err() {
                    inner.counters.refresh_failures.incr();
                    tracing::warn!(namespace, "background batch refresh failed; the stale values stay");
                }
            });
            tokio::select! {
                () = shutdown.cancelled() => {}
                outcome = AssertUnwindSafe(tracing::Instrument::instrument(refresh, span)).catch_unwind() => {
                    if outcome.is_err() {
                        inner.counters.refresh_failures.incr();
                        tracing::error!("background batch refresh panicked; the stale values stay");
                    }
                }
            }
        });
    }
}
