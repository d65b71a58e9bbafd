//! Background refreshes of stale entries: one per key at a time, tracked so `close()` cancels
//! it, owning its inputs, and releasing its key and lock however it ends.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tracing::Instrument;

use super::Inner;
use super::coord::Take;
use super::decide::{self, State};
use super::leader::{Loaded, bounded};
use super::load::Cacheable;
use super::options::Plan;
use super::read::Found;
use super::stored::L2Read;
use super::tier::with_budget;
use crate::clock::duration_ms;
use crate::flight::{FlightGuard, Outcome};
use crate::keys::KeyRef;
use crate::l1::Entry;
use crate::observe;
use crate::source::{Source, Tier};

/// Longest an instance defers its refresh while another instance holds the refresh lock.
const PEER_REFRESH_BACKOFF: Duration = Duration::from_millis(500);

impl Inner {
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
        let span = observe::refresh_span(&self.name, key.namespace);
        self.tasks.spawn(async move {
            let refresh = with_budget(inner.refresh::<T, F, Fut, E>(guard, plan, loader, stale))
                .instrument(span);
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
        let overwrite = match self.read_l2::<T>(key).await {
            L2Read::Hit {
                value,
                meta,
                tags,
                size,
            } if decide::state(&meta, self.stamps.recent_ms(), &self.config) == State::Fresh => {
                let found = self.fill_found(key, &ctx, value, meta, tags, size);
                observe::outcome("l2_hit");
                let source = found.source(false);
                return complete(guard, found.entry, source);
            }
            L2Read::Miss { overwrite } => overwrite,
            _ => None,
        };
        // One refresh per stale period across instances.
        let newer_than = Some(stale.header().meta.created);
        let lock = match self.take_load_lock(&guard, &ctx, newer_than).await {
            Take::Load(lock) => lock,
            Take::Loaded(found) => {
                observe::outcome("l2_hit");
                let source = found.source(false);
                return complete(guard, found.entry, source);
            }
            Take::HeldElsewhere => {
                self.counters.refreshes_skipped.incr();
                observe::outcome("skipped");
                let backoff = self.config.lock_ttl.min(PEER_REFRESH_BACKOFF);
                stale
                    .header()
                    .defer_refresh(self.stamps.now_ms().saturating_add(duration_ms(backoff)));
                return complete(guard, stale, Source::found(Tier::L1, true));
            }
        };
        self.counters.background_refreshes.incr();
        self.count_loader_call(&ctx.namespace);
        let fallback = Found::from_entry(stale.clone());
        let hard = decide::bounds(&self.config, fallback.is_some(), false).hard;
        let keeper = lock.as_ref().map(super::coord::HeldLock::keeper);
        let load = observe::loader(&self.name, key.namespace, loader());
        let loaded = bounded(super::coord::renewing(keeper, load), hard).await;
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
            .finish::<T, E>(guard, &ctx, loaded, fallback, lock, overwrite)
            .await;
    }
}

/// Ends a refresh with a value found in a tier.
fn complete(guard: FlightGuard, entry: Entry, source: Source) {
    guard.complete(Outcome::Value {
        entry,
        loaded: false,
        source,
    });
}
