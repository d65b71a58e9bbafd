//! What must never be served, L1 only, on a paused tokio clock (issue 9, defects 2, 3 and 4):
//! fail-safe never brings back a value invalidated, cleared or replaced while its load ran; a
//! `None` is an answer, not a failure; a caller that waits for its loader is never one of N
//! origin calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::{SECOND, cache_with, seed, settle};
use tiered_cache_core::{CacheConfig, LoadError, TieredCache};
use tokio::sync::oneshot;
use tokio::time::{advance, sleep};

fn inline_refresh() -> CacheConfig {
    CacheConfig {
        background_refresh: false,
        ..seed()
    }
}

async fn load_ok(cache: &TieredCache, value: &str) -> String {
    let value = value.to_owned();
    cache
        .get("k")
        .refresh_with(move || async move { Ok::<_, String>(value) })
        .await
        .expect("load")
}

/// A read whose loader fails once `go` fires.
fn failing_read(
    cache: &TieredCache,
    go: oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<Result<String, LoadError<String>>> {
    let cache = cache.clone();
    tokio::spawn(async move {
        cache
            .get("k")
            .refresh_with(move || async move {
                let _ = go.await;
                Err::<String, _>("origin down".to_owned())
            })
            .await
    })
}

/// Regression: the fail-safe stand-in was put into L1 after checking only namespace and tag
/// epochs, so a refresh that failed after an `invalidate` brought the old value back, as fresh,
/// for `fail_safe_throttle`.
#[tokio::test(start_paused = true)]
async fn regression_a_load_that_fails_after_an_invalidate_does_not_resurrect_the_value() {
    let cache = cache_with(inline_refresh()).await;
    load_ok(&cache, "v1").await;
    advance(250 * SECOND).await; // stale: the next read with a loader refreshes inline
    let (go, gate) = oneshot::channel();
    let read = failing_read(&cache, gate);
    settle().await;
    cache.invalidate("k").await.expect("invalidate");
    let _ = go.send(());
    match read.await.expect("task") {
        Err(LoadError::Loader(error)) => assert_eq!(*error, "origin down"),
        other => panic!("the invalidated value must not stand in, got {other:?}"),
    }
    assert_eq!(cache.get::<String>("k").await.expect("get"), None);
    assert_eq!(cache.stats().overall_stats.fail_safe_activations, 0);
}

/// The same for a background refresh (nobody waits for it, so the only harm is in L1).
#[tokio::test(start_paused = true)]
async fn regression_a_background_refresh_that_fails_after_an_invalidate_leaves_nothing() {
    let cache = cache_with(seed()).await;
    load_ok(&cache, "v1").await;
    advance(250 * SECOND).await;
    let (go, gate) = oneshot::channel();
    let stale = failing_read(&cache, gate).await.expect("task");
    assert_eq!(stale.expect("stale served at once"), "v1");
    settle().await; // the refresh is waiting on its loader
    cache.invalidate("k").await.expect("invalidate");
    let _ = go.send(());
    settle().await;
    assert_eq!(cache.get::<String>("k").await.expect("get"), None);
}

/// A stand-in is also refused after a newer `set` or a namespace clear during the load.
#[tokio::test(start_paused = true)]
async fn a_failed_load_never_stands_in_for_a_newer_set_or_a_clear() {
    let cache = cache_with(inline_refresh()).await;
    load_ok(&cache, "v1").await;
    advance(250 * SECOND).await;
    let (go, gate) = oneshot::channel();
    let read = failing_read(&cache, gate);
    settle().await;
    cache.set("k", &"v2".to_owned()).await.expect("set");
    let _ = go.send(());
    assert!(matches!(
        read.await.expect("task"),
        Err(LoadError::Loader(_))
    ));
    assert_eq!(
        cache.get::<String>("k").await.expect("get").as_deref(),
        Some("v2")
    );

    advance(250 * SECOND).await; // v2 stale now
    let (go, gate) = oneshot::channel();
    let read = failing_read(&cache, gate);
    settle().await;
    cache.clear_all().await.expect("clear");
    let _ = go.send(());
    assert!(matches!(
        read.await.expect("task"),
        Err(LoadError::Loader(_))
    ));
    assert_eq!(cache.get::<String>("k").await.expect("get"), None);
}

/// Without anything superseding it, the stand-in still works (the rule is not "never").
#[tokio::test(start_paused = true)]
async fn an_undisturbed_failed_load_is_answered_by_fail_safe() {
    let cache = cache_with(inline_refresh()).await;
    load_ok(&cache, "v1").await;
    advance(250 * SECOND).await;
    let (go, gate) = oneshot::channel();
    let read = failing_read(&cache, gate);
    settle().await;
    let _ = go.send(());
    assert_eq!(read.await.expect("task").expect("fail-safe"), "v1");
    assert_eq!(cache.stats().overall_stats.fail_safe_activations, 1);
}

async fn find(
    cache: &TieredCache,
    calls: &Arc<AtomicUsize>,
    found: Option<u32>,
) -> Result<Option<u32>, LoadError<String>> {
    let calls = calls.clone();
    cache
        .get("rec")
        .refresh_with(move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(found)
        })
        .cache_none(false)
        .await
}

/// Regression (`#[cached]` on an `Option` function): `None` was a loader failure, so with
/// fail-safe on a stale `Some` stood in for a real "not found" and every "not found" counted as
/// a loader error. With `cache_none(false)`, `None` is returned, removes the entry, is never
/// replaced by fail-safe, and is no error.
#[tokio::test(start_paused = true)]
async fn regression_none_is_an_answer_that_removes_the_entry_not_a_failure() {
    let cache = cache_with(inline_refresh()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(find(&cache, &calls, Some(7)).await.expect("load"), Some(7));
    advance(250 * SECOND).await; // stale, with fail-safe on
    assert_eq!(
        find(&cache, &calls, None).await.expect("an answer"),
        None,
        "deleted: not the stale Some"
    );
    assert_eq!(
        cache.get::<Option<u32>>("rec").await.expect("get"),
        None,
        "entry removed"
    );
    assert_eq!(find(&cache, &calls, None).await.expect("an answer"), None);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "None is not cached");
    let stats = cache.stats().overall_stats;
    assert_eq!((stats.loader_errors, stats.fail_safe_activations), (0, 0));
}

/// The background refresh of a stale entry that finds the record gone removes it.
#[tokio::test(start_paused = true)]
async fn a_background_refresh_that_finds_none_removes_the_entry() {
    let cache = cache_with(seed()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(find(&cache, &calls, Some(7)).await.expect("load"), Some(7));
    advance(250 * SECOND).await;
    assert_eq!(
        find(&cache, &calls, None).await.expect("stale"),
        Some(7),
        "stale-while-revalidate serves the stale value once, by design"
    );
    settle().await;
    assert_eq!(find(&cache, &calls, None).await.expect("an answer"), None);
}

/// `cache_none(true)` (the default) still caches `None`.
#[tokio::test(start_paused = true)]
async fn none_is_cached_by_default() {
    let cache = cache_with(seed()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let read = |cache: &TieredCache| {
        let calls = calls.clone();
        let cache = cache.clone();
        async move {
            cache
                .get("rec")
                .refresh_with(move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<Option<u32>, String>(None)
                })
                .await
        }
    };
    assert_eq!(read(&cache).await.expect("load"), None);
    assert_eq!(read(&cache).await.expect("cached"), None);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Regression (`#[cached]` with `hard_timeout`): `LoadError::TimedOut` reached every coalesced
/// waiter and the macro ran the body once per waiter (50 callers: 51 body runs, while the stats
/// said 1 loader call). With `wait_for_loader`, callers without a fallback wait for the one
/// running loader.
#[tokio::test(start_paused = true)]
async fn regression_waiting_for_the_loader_keeps_a_slow_origin_to_one_call() {
    let cache = cache_with(CacheConfig {
        hard_timeout: Some(Duration::from_millis(100)),
        ..seed()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..50)
        .map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                cache
                    .get("slow")
                    .refresh_with(move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        sleep(Duration::from_millis(300)).await;
                        Ok::<_, String>(42u32)
                    })
                    .wait_for_loader()
                    .await
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.await.expect("task").expect("waited"), 42);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = cache.stats().overall_stats;
    assert_eq!(stats.loader_calls, 1);
    assert_eq!(stats.hard_timeouts, 0);
    assert_eq!(stats.total_requests, 50);
    assert_eq!(
        stats.hit_rate, 0.0,
        "every caller waited for the origin: no hits"
    );
}

/// Without `wait_for_loader` the hard timeout still reaches every waiter as an error, counted
/// as a miss each (regression: the waiters counted as hits, 0.98 hit rate for 50 timeouts).
#[tokio::test(start_paused = true)]
async fn regression_timed_out_waiters_count_as_misses() {
    let cache = cache_with(CacheConfig {
        hard_timeout: Some(Duration::from_millis(100)),
        ..seed()
    })
    .await;
    let readers: Vec<_> = (0..10)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get("slow")
                    .refresh_with(|| async {
                        sleep(Duration::from_millis(300)).await;
                        Ok::<_, String>(42u32)
                    })
                    .await
            })
        })
        .collect();
    for reader in readers {
        assert!(matches!(
            reader.await.expect("task"),
            Err(LoadError::TimedOut(_))
        ));
    }
    let stats = cache.stats().overall_stats;
    assert_eq!((stats.loader_calls, stats.hard_timeouts), (1, 1));
    assert_eq!(stats.hit_rate, 0.0);
}
