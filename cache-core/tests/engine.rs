//! Engine behaviour, L1 only, on a paused tokio clock: the SWR timeline, single-flight, errors,
//! cancellation, invalidation races, namespaces, bounds and stats.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::{SECOND, cache_with, settle};
use tiered_cache_core::{CacheConfig, CacheError, LoadError, TieredCache};
use tokio::time::{advance, sleep};

async fn seed_cache() -> TieredCache {
    cache_with(CacheConfig {
        l2_ttl: 300 * SECOND,
        stale_while_revalidate_window: 60 * SECOND,
        ..Default::default()
    })
    .await
}

/// A loader that counts its calls, sleeps `delay`, and returns `value`.
fn counting(
    calls: &Arc<AtomicUsize>,
    delay: Duration,
    value: &str,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<String, String>> + Send>>
+ Send
+ 'static {
    let calls = calls.clone();
    let value = value.to_owned();
    move || {
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            sleep(delay).await;
            Ok(value)
        })
    }
}

async fn load(cache: &TieredCache, key: &str, calls: &Arc<AtomicUsize>, value: &str) -> String {
    cache
        .get(key)
        .refresh_with(counting(calls, Duration::ZERO, value))
        .await
        .expect("loader succeeds")
}

#[tokio::test(start_paused = true)]
async fn the_seed_timeline_fresh_stale_expired() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(load(&cache, "k", &calls, "v1").await, "v1");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a miss runs the loader");

    advance(239 * SECOND).await;
    assert_eq!(
        load(&cache, "k", &calls, "v2").await,
        "v1",
        "fresh until 240 s"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    advance(SECOND).await;
    assert_eq!(
        load(&cache, "k", &calls, "v2").await,
        "v1",
        "stale is served at once"
    );
    settle().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one background refresh ran"
    );
    assert_eq!(
        load(&cache, "k", &calls, "v3").await,
        "v2",
        "the refresh replaced the value"
    );

    advance(301 * SECOND).await;
    assert_eq!(
        load(&cache, "k", &calls, "v4").await,
        "v4",
        "expired is a miss"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let stats = cache.stats();
    assert_eq!(stats.swr_stats.stale_hits, 1);
    assert_eq!(stats.swr_stats.background_refreshes, 1);
}

#[tokio::test(start_paused = true)]
async fn plain_get_serves_fresh_and_stale_but_not_expired() {
    let cache = seed_cache().await;
    cache.set("k", &7u32).await.expect("set");
    advance(250 * SECOND).await;
    assert_eq!(cache.get::<u32>("k").await.expect("get"), Some(7));
    advance(50 * SECOND).await;
    assert_eq!(cache.get::<u32>("k").await.expect("get"), None);
}

#[tokio::test(start_paused = true)]
async fn stale_reads_during_a_refresh_start_nothing_new() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    load(&cache, "k", &calls, "v1").await;
    advance(250 * SECOND).await;
    for _ in 0..50 {
        let value = cache
            .get("k")
            .refresh_with(counting(&calls, 10 * SECOND, "v2"))
            .await
            .expect("served");
        assert_eq!(value, "v1");
    }
    settle().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "exactly one refresh for 50 stale reads"
    );
    advance(11 * SECOND).await;
    settle().await;
    assert_eq!(load(&cache, "k", &calls, "v3").await, "v2");
}

#[tokio::test(start_paused = true)]
async fn without_background_refresh_a_stale_read_waits_for_the_new_value() {
    let cache = cache_with(CacheConfig {
        l2_ttl: 300 * SECOND,
        background_refresh: false,
        ..Default::default()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    load(&cache, "k", &calls, "v1").await;
    advance(250 * SECOND).await;
    assert_eq!(load(&cache, "k", &calls, "v2").await, "v2");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn without_swr_an_entry_is_fresh_until_its_ttl() {
    let cache = cache_with(CacheConfig {
        l2_ttl: 300 * SECOND,
        enable_swr: false,
        ..Default::default()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    load(&cache, "k", &calls, "v1").await;
    advance(299 * SECOND).await;
    assert_eq!(load(&cache, "k", &calls, "v2").await, "v1");
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no refresh inside the ttl");
    advance(SECOND).await;
    assert_eq!(
        load(&cache, "k", &calls, "v2").await,
        "v2",
        "a miss at the ttl"
    );
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_misses_call_the_loader_once() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let cache = cache.clone();
            let loader = counting(&calls, 50 * Duration::from_millis(1), "once");
            tokio::spawn(async move { cache.get("hot").refresh_with(loader).await })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.expect("task").expect("value"), "once");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().overall_stats.coalesced, 999);
}

#[tokio::test(start_paused = true)]
async fn a_loader_error_reaches_every_waiter_and_is_not_cached() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            let calls = calls.clone();
            tokio::spawn(async move {
                cache
                    .get::<String>("k")
                    .refresh_with(move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        sleep(Duration::from_millis(10)).await;
                        Err::<String, _>("origin down".to_owned())
                    })
                    .await
            })
        })
        .collect();
    for caller in callers {
        match caller.await.expect("task") {
            Err(LoadError::Loader(error)) => assert_eq!(*error, "origin down"),
            other => panic!("expected the loader's error, got {other:?}"),
        }
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the error was shared, not retried"
    );
    assert_eq!(
        load(&cache, "k", &calls, "ok").await,
        "ok",
        "nothing was cached"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_leader_does_not_wedge_the_key() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let leader = {
        let cache = cache.clone();
        let loader = counting(&calls, 100 * SECOND, "never");
        tokio::spawn(async move { cache.get("k").refresh_with(loader).await })
    };
    settle().await;
    let waiter = {
        let cache = cache.clone();
        let loader = counting(&calls, SECOND, "second");
        tokio::spawn(async move { cache.get("k").refresh_with(loader).await })
    };
    settle().await;
    leader.abort();
    assert_eq!(waiter.await.expect("task").expect("value"), "second");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_loader_does_not_wedge_the_key() {
    let cache = seed_cache().await;
    let panicking = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get::<String>("k")
                .refresh_with(|| async {
                    sleep(Duration::from_millis(10)).await;
                    panic!("loader bug");
                    #[allow(unreachable_code)]
                    Ok::<String, String>(String::new())
                })
                .await
        })
    };
    settle().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let waiter = {
        let cache = cache.clone();
        let loader = counting(&calls, Duration::ZERO, "recovered");
        tokio::spawn(async move { cache.get("k").refresh_with(loader).await })
    };
    assert!(panicking.await.is_err(), "the panic reaches its own caller");
    assert_eq!(waiter.await.expect("task").expect("value"), "recovered");
}

#[tokio::test(start_paused = true)]
async fn a_load_that_started_before_an_invalidate_does_not_write_back() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = {
        let cache = cache.clone();
        let loader = counting(&calls, 10 * SECOND, "old");
        tokio::spawn(async move { cache.get("k").refresh_with(loader).await })
    };
    settle().await;
    cache.invalidate("k").await.expect("invalidate");
    assert_eq!(
        slow.await.expect("task").expect("its caller still gets it"),
        "old"
    );
    assert_eq!(
        cache.get::<String>("k").await.expect("get"),
        None,
        "not cached"
    );
    assert_eq!(load(&cache, "k", &calls, "new").await, "new");
}

#[tokio::test(start_paused = true)]
async fn a_background_refresh_that_started_before_an_invalidate_does_not_write_back() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    load(&cache, "k", &calls, "v1").await;
    advance(250 * SECOND).await;
    let stale = cache
        .get("k")
        .refresh_with(counting(&calls, 10 * SECOND, "refreshed"))
        .await
        .expect("stale");
    assert_eq!(stale, "v1");
    settle().await;
    cache.invalidate("k").await.expect("invalidate");
    advance(11 * SECOND).await;
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the refresh ran");
    assert_eq!(cache.get::<String>("k").await.expect("get"), None);
}

#[tokio::test(start_paused = true)]
async fn a_load_that_started_before_a_namespace_clear_does_not_survive_it() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = {
        let cache = cache.clone();
        let loader = counting(&calls, 10 * SECOND, "old");
        tokio::spawn(async move { cache.get("k").namespace("users").refresh_with(loader).await })
    };
    settle().await;
    cache.clear_namespace("users").await.expect("clear");
    slow.await.expect("task").expect("value");
    assert_eq!(
        cache
            .get::<String>("k")
            .namespace("users")
            .await
            .expect("get"),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn a_set_during_a_load_wins_over_the_load() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = {
        let cache = cache.clone();
        let loader = counting(&calls, 10 * SECOND, "loaded");
        tokio::spawn(async move { cache.get("k").refresh_with(loader).await })
    };
    settle().await;
    cache.set("k", &"written".to_owned()).await.expect("set");
    slow.await.expect("task").expect("value");
    assert_eq!(
        cache.get::<String>("k").await.expect("get").as_deref(),
        Some("written")
    );
}

#[tokio::test(start_paused = true)]
async fn namespaces_are_isolated() {
    let cache = seed_cache().await;
    cache.set("k", &1u8).namespace("a").await.expect("set");
    cache.set("k", &2u8).namespace("b").await.expect("set");
    cache.set("k", &3u8).await.expect("set default");
    assert_eq!(
        cache.get::<u8>("k").namespace("a").await.expect("get"),
        Some(1)
    );
    cache.clear_namespace("a").await.expect("clear");
    assert_eq!(
        cache.get::<u8>("k").namespace("a").await.expect("get"),
        None
    );
    assert_eq!(
        cache.get::<u8>("k").namespace("b").await.expect("get"),
        Some(2)
    );
    assert_eq!(cache.get::<u8>("k").await.expect("get"), Some(3));
    cache.clear_all().await.expect("clear all");
    assert_eq!(
        cache.get::<u8>("k").namespace("b").await.expect("get"),
        None
    );
    cache
        .set("k", &4u8)
        .namespace("b")
        .await
        .expect("set after clear");
    assert_eq!(
        cache.get::<u8>("k").namespace("b").await.expect("get"),
        Some(4)
    );
}

#[tokio::test(start_paused = true)]
async fn bad_namespaces_and_keys_are_clear_errors() {
    let cache = seed_cache().await;
    let err = cache
        .set("c", &1u8)
        .namespace("a:b")
        .await
        .expect_err("rejected");
    assert!(matches!(err, CacheError::InvalidNamespace { .. }), "{err}");
    assert!(err.to_string().contains("a:b"));
    assert!(matches!(
        cache.get::<u8>("").await,
        Err(CacheError::InvalidKey { .. })
    ));
    assert!(cache.clear_namespace("no spaces").await.is_err());
    let bad_window = cache.set("k", &1u8).ttl(SECOND).stale(SECOND).await;
    assert!(matches!(
        bad_window,
        Err(CacheError::InvalidOption {
            option: "stale",
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn l1_stays_bounded() {
    let cache = cache_with(CacheConfig {
        l1_max_size: 100,
        ..Default::default()
    })
    .await;
    for i in 0..5_000u32 {
        cache.set(&i.to_string(), &i).await.expect("set");
    }
    let stats = cache.stats();
    assert!(stats.l1_stats.size <= 110, "size {}", stats.l1_stats.size);
    assert_eq!(stats.l1_stats.capacity, 100);
}

#[tokio::test(start_paused = true)]
async fn oversized_values_are_refused_and_stay_out() {
    let cache = cache_with(CacheConfig {
        max_value_size: 1024,
        ..Default::default()
    })
    .await;
    cache.set("k", &vec![1u8; 10]).await.expect("small fits");
    let err = cache
        .set("k", &vec![2u8; 4096])
        .await
        .expect_err("too large");
    assert!(
        matches!(err, CacheError::ValueTooLarge { max: 1024, .. }),
        "{err}"
    );
    assert_eq!(
        cache.get::<Vec<u8>>("k").await.expect("get"),
        Some(vec![1u8; 10])
    );
}

#[tokio::test(start_paused = true)]
async fn a_value_of_another_type_is_a_miss() {
    let cache = seed_cache().await;
    cache.set("k", &5u32).await.expect("set");
    assert_eq!(cache.get::<String>("k").await.expect("get"), None);
}

#[tokio::test(start_paused = true)]
async fn stats_count_hits_misses_and_loads() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    load(&cache, "k", &calls, "v").await; // miss + load
    load(&cache, "k", &calls, "v").await; // hit
    assert_eq!(cache.get::<String>("absent").await.expect("get"), None); // miss
    let stats = cache.stats();
    assert_eq!(stats.overall_stats.total_requests, 3);
    assert_eq!(stats.l1_stats.hits, 1);
    assert_eq!(stats.l1_stats.misses, 2);
    assert_eq!(stats.overall_stats.loader_calls, 1);
    assert!((stats.overall_stats.hit_rate - 1.0 / 3.0).abs() < 1e-9);
    assert!(!stats.l2_stats.enabled);
}

#[tokio::test(start_paused = true)]
async fn close_cancels_background_refreshes_and_refuses_calls() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    load(&cache, "k", &calls, "v1").await;
    advance(250 * SECOND).await;
    let finished = Arc::new(AtomicUsize::new(0));
    let done = finished.clone();
    cache
        .get("k")
        .refresh_with(move || async move {
            sleep(1000 * SECOND).await;
            done.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>("late".to_owned())
        })
        .await
        .expect("stale served");
    settle().await;
    cache.close().await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "the refresh was cancelled, not awaited"
    );
    assert!(matches!(
        cache.get::<String>("k").await,
        Err(CacheError::Closed)
    ));
    let health = cache.health_check().await;
    assert!(!health.healthy);
    assert_eq!(health.status, "closed");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_background_refresh_keeps_the_stale_value_and_is_counted() {
    let cache = seed_cache().await;
    let calls = Arc::new(AtomicUsize::new(0));
    load(&cache, "k", &calls, "v1").await;
    advance(250 * SECOND).await;
    let served = cache
        .get("k")
        .refresh_with(|| async {
            panic!("refresh bug");
            #[allow(unreachable_code)]
            Ok::<String, String>(String::new())
        })
        .await
        .expect("stale served");
    assert_eq!(served, "v1");
    settle().await;
    assert_eq!(cache.stats().swr_stats.refresh_failures, 1);
    assert_eq!(
        load(&cache, "k", &calls, "v2").await,
        "v1",
        "still stale, refresh runs again"
    );
    settle().await;
    assert_eq!(load(&cache, "k", &calls, "v3").await, "v2");
}
