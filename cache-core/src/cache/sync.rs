//! Background upkeep of the L2 side. The clear marks: read once at start (so a fresh instance
//! never serves entries cleared before it started), then every `sync_interval`, replaying any
//! invalidations L2 missed. The deadline ticker: expires L2 calls past `l2_timeout`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::Inner;
use crate::keys;

/// Pause between attempts of the first sync.
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(25);

/// Reads the clear marks (retrying for up to `connect_timeout` while the first connection is
/// made), then polls in the background.
pub(super) async fn start(inner: &Arc<Inner>) {
    let first_sync = async {
        if let Some(tier) = &inner.l2 {
            tier.backend.ready().await;
        }
        while !sync_once(inner).await {
            tokio::time::sleep(RETRY_DELAY).await;
        }
    };
    let answered = tokio::time::timeout(inner.config.connect_timeout, first_sync)
        .await
        .is_ok();
    // With require_l2_at_startup the cache does not start at all, and says so in its error.
    if !answered && !inner.config.require_l2_at_startup {
        tracing::warn!("L2 did not answer at startup; serving from L1 until it does");
    }
    every(inner, inner.config.sync_interval, |inner| async move {
        if sync_once(&inner).await {
            inner.replay_pending().await;
            inner.release_orphans().await;
        }
        inner.tags.prune();
        // Local memory of clear marks is kept as long as Redis keeps them, plus clock skew.
        let horizon = super::decide::mark_horizon(&inner.config) + crate::clock::MAX_AHEAD;
        inner
            .namespaces
            .prune(inner.stamps.now_ms(), crate::clock::duration_ms(horizon));
    });
}

/// Runs `tick` every `interval` in a tracked task, until `close()` or until every handle to
/// the cache is gone.
fn every<F, Fut>(inner: &Arc<Inner>, interval: std::time::Duration, tick: F)
where
    F: Fn(Arc<Inner>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let task = periodic(
        Arc::downgrade(inner),
        inner.shutdown.clone(),
        interval,
        tick,
    );
    inner.tasks.spawn(task);
}

/// The loop of [`every`]: stops when `stop` is cancelled or the cache is gone.
async fn periodic<F, Fut>(
    weak: Weak<Inner>,
    stop: tokio_util::sync::CancellationToken,
    interval: std::time::Duration,
    tick: F,
) where
    F: Fn(Arc<Inner>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let Some(inner) = Weak::upgrade(&weak) else {
            return;
        };
        tick(inner).await;
    }
}

/// Expires L2 calls past `l2_timeout`, a few times per timeout, until the cache is closed or
/// gone. Not one of the tracked tasks: `close()` waits for those, and an L2 call they make
/// while Redis vanishes must still time out, so the ticker stops last (`close` cancels its own
/// token once the backend is closed).
pub(super) fn start_deadline_ticker(inner: &Arc<Inner>) {
    let Some(tier) = &inner.l2 else {
        return;
    };
    let task = periodic(
        Arc::downgrade(inner),
        inner.ticker_stop.clone(),
        tier.deadlines.tick_interval(),
        |inner| async move {
            if let Some(tier) = &inner.l2 {
                tier.deadlines.tick(tier.deadlines.now_ms());
            }
        },
    );
    tokio::spawn(task);
}

/// Fetches and applies the clear marks recorded since the last sync (all of them the first
/// time), page by page; marks L2 as usable once a whole pass succeeded.
pub(super) async fn sync_once(inner: &Inner) -> bool {
    let Some(tier) = &inner.l2 else {
        return false;
    };
    loop {
        let since = inner.marks_cursor.load(Ordering::Acquire);
        let Some(marks) = inner.read_clear_marks(since).await else {
            return false;
        };
        if let Some(all) = marks.all {
            inner.apply_clear(None, all);
        }
        for (namespace, at) in &marks.namespaces {
            if keys::validate_namespace(namespace).is_ok() {
                inner.apply_clear(Some(namespace), *at);
            }
        }
        // Only once the page is applied: an interrupted sync reads it again.
        inner.marks_cursor.fetch_max(marks.cursor, Ordering::AcqRel);
        if !marks.more {
            break;
        }
    }
    if !tier.is_synced() {
        tier.set_synced();
        tracing::debug!(backend = %tier.backend.describe(), "L2 clear marks loaded; L2 in use");
    }
    true
}
