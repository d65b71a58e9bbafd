//! Background upkeep of the L2 side. The clear marks: read once at start (so a fresh instance
//! never serves entries cleared before it started), then every `sync_interval`, replaying any
//! invalidations L2 missed. The deadline ticker: expires L2 calls past `l2_timeout`.

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
    if tokio::time::timeout(inner.config.connect_timeout, first_sync)
        .await
        .is_err()
    {
        tracing::warn!("L2 did not answer at startup; serving from L1 until it does");
    }
    every(inner, inner.config.sync_interval, |inner| async move {
        if sync_once(&inner).await {
            inner.replay_pending().await;
        }
        inner.tags.prune();
    });
}

/// Runs `tick` every `interval` in a tracked task, until `close()` or until every handle to
/// the cache is gone.
fn every<F, Fut>(inner: &Arc<Inner>, interval: std::time::Duration, tick: F)
where
    F: Fn(Arc<Inner>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let weak = Arc::downgrade(inner);
    let shutdown = inner.shutdown.clone();
    inner.tasks.spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            let Some(inner) = Weak::upgrade(&weak) else {
                return;
            };
            tick(inner).await;
        }
    });
}

/// Expires L2 calls past `l2_timeout`, a few times per timeout, until the cache goes.
pub(super) fn start_deadline_ticker(inner: &Arc<Inner>) {
    let Some(tier) = &inner.l2 else {
        return;
    };
    every(inner, tier.deadlines.tick_interval(), |inner| async move {
        if let Some(tier) = &inner.l2 {
            tier.deadlines.tick(tier.deadlines.now_ms());
        }
    });
}

/// Fetches and applies the clear marks; marks L2 as usable on success.
pub(super) async fn sync_once(inner: &Inner) -> bool {
    let Some(tier) = &inner.l2 else {
        return false;
    };
    let Some(marks) = inner.read_clear_marks().await else {
        return false;
    };
    inner.apply_clear(None, marks.all);
    for (namespace, at) in &marks.namespaces {
        if keys::validate_namespace(namespace).is_ok() {
            inner.apply_clear(Some(namespace), *at);
        }
    }
    if !tier.is_synced() {
        tier.set_synced();
        tracing::debug!(backend = %tier.backend.describe(), "L2 clear marks loaded; L2 in use");
    }
    true
}
