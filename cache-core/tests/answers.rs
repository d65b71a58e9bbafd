//! What a read with a loader tells its caller beyond the value, L1 only on a paused clock:
//! where the value came from (`with_source`), and who receives a loader's error when the load
//! does not share errors (`share_errors(false)`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::{SECOND, cache_with, seed, settle};
use tiered_cache_core::source::{Freshness, Source, Tier};
use tiered_cache_core::{CacheConfig, LoadError, TieredCache};
use tokio::time::{advance, sleep};

/// Reads `key` through a loader that counts its calls and answers `value`.
async fn read(
    cache: &TieredCache,
    key: &str,
    calls: &Arc<AtomicUsize>,
    value: &str,
) -> (String, Source) {
    let calls = calls.clone();
    let value = value.to_owned();
    cache
        .get::<String>(key)
        .refresh_with(move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(value)
        })
        .with_source()
        .await
        .expect("loads")
}

#[tokio::test(start_paused = true)]
async fn the_source_follows_an_entry_through_loaded_fresh_and_stale() {
    let cache = cache_with(seed()).await;
    let calls = Arc::new(AtomicUsize::new(0));

    let (value, source) = read(&cache, "k", &calls, "v1").await;
    assert_eq!((value.as_str(), source), ("v1", Source::loaded()));
    assert!(!source.was_cached());

    let (_, source) = read(&cache, "k", &calls, "v2").await;
    assert_eq!(source, Source::new(Tier::L1, Freshness::Fresh));
    assert!(source.was_cached());

    advance(250 * SECOND).await; // in the stale window: served at once, refreshed behind
    let (value, source) = read(&cache, "k", &calls, "v2").await;
    assert_eq!(
        (value.as_str(), source.tier(), source.freshness()),
        ("v1", Tier::L1, Freshness::Stale)
    );
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one background refresh");
    let (value, source) = read(&cache, "k", &calls, "v3").await;
    assert_eq!(
        (value.as_str(), source.freshness()),
        ("v2", Freshness::Fresh)
    );

    // The plain form reads the same entry and says nothing more.
    let plain: String = cache
        .get::<String>("k")
        .refresh_with(|| async { Ok::<_, std::convert::Infallible>("unused".to_owned()) })
        .await
        .expect("hit");
    assert_eq!(plain, "v2");
}

#[tokio::test(start_paused = true)]
async fn callers_that_waited_on_a_load_are_told_so() {
    let cache = cache_with(seed()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let cache = cache.clone();
            let calls = calls.clone();
            tokio::spawn(async move {
                cache
                    .get::<u32>("slow")
                    .refresh_with(move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        sleep(Duration::from_millis(50)).await;
                        Ok::<_, std::convert::Infallible>(7)
                    })
                    .with_source()
                    .await
                    .expect("loads")
            })
        })
        .collect();
    let mut coalesced = 0;
    for caller in callers {
        let (value, source) = caller.await.expect("task");
        assert_eq!((value, source.tier()), (7, Tier::Loader));
        coalesced += usize::from(source.is_coalesced());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        coalesced, 9,
        "every caller but the one that ran the loader waited"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fail_safe_stand_in_is_reported_stale() {
    let cache = cache_with(CacheConfig {
        background_refresh: false,
        ..seed()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    read(&cache, "k", &calls, "v1").await;
    advance(250 * SECOND).await;
    let (value, source) = cache
        .get::<String>("k")
        .refresh_with(|| async { Err::<String, _>("origin down") })
        .with_source()
        .await
        .expect("the previous value stands in");
    assert_eq!(
        (value.as_str(), source),
        ("v1", Source::new(Tier::L1, Freshness::Stale))
    );
}

/// A loader error that is not `Clone`.
#[derive(Debug)]
struct Down(usize);

#[tokio::test(start_paused = true)]
async fn an_unshared_error_stays_with_its_caller_and_waiters_load_their_own() {
    let cache = cache_with(seed()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..5)
        .map(|_| {
            let cache = cache.clone();
            let calls = calls.clone();
            tokio::spawn(async move {
                cache
                    .get::<String>("down")
                    .refresh_with(move || async move {
                        let run = calls.fetch_add(1, Ordering::SeqCst) + 1;
                        sleep(Duration::from_millis(50)).await;
                        Err::<String, _>(Down(run))
                    })
                    .share_errors(false)
                    .await
            })
        })
        .collect();
    let mut runs = Vec::new();
    for caller in callers {
        match caller.await.expect("task") {
            // Each caller is the only holder of its error: it owns an `E`.
            Err(LoadError::Loader(error)) => match Arc::into_inner(error) {
                Some(Down(run)) => runs.push(run),
                None => panic!("the error is shared with another holder"),
            },
            other => panic!("expected the loader's error, got {other:?}"),
        }
    }
    runs.sort_unstable();
    assert_eq!(
        runs,
        [1, 2, 3, 4, 5],
        "one loader run per caller, each its own error"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(cache.stats().overall_stats.loader_calls, 5);
}
