//! Fail-safe, soft and hard timeouts, negative caching, ttl jitter and tags, L1 only, on a
//! paused tokio clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::{SECOND, cache_with, seed, settle};
use tiered_cache_core::{CacheConfig, LoadError, TieredCache};
use tokio::time::{Instant, advance, sleep};

/// Reads `k` with a loader that counts, waits `delay`, then returns `outcome`.
async fn read(
    cache: &TieredCache,
    calls: &Arc<AtomicUsize>,
    delay: Duration,
    outcome: Result<&str, &str>,
) -> Result<String, LoadError<String>> {
    let calls = calls.clone();
    let outcome = outcome.map(str::to_owned).map_err(str::to_owned);
    cache
        .get("k")
        .refresh_with(move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            sleep(delay).await;
            outcome
        })
        .await
}

fn inline_refresh() -> CacheConfig {
    CacheConfig {
        background_refresh: false,
        ..seed()
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_refresh_serves_the_stale_value_then_throttles_the_origin() {
    let cache = cache_with(CacheConfig {
        fail_safe_throttle: 30 * SECOND,
        ..inline_refresh()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        read(&cache, &calls, Duration::ZERO, Ok("v1"))
            .await
            .expect("load"),
        "v1"
    );
    advance(250 * SECOND).await;
    let served = read(&cache, &calls, Duration::ZERO, Err("origin down")).await;
    assert_eq!(served.expect("the stale value, not the error"), "v1");
    assert_eq!(cache.stats().overall_stats.fail_safe_activations, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    advance(20 * SECOND).await;
    assert_eq!(
        read(&cache, &calls, Duration::ZERO, Err("down"))
            .await
            .expect("throttled"),
        "v1"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the origin is not called during the throttle"
    );

    advance(11 * SECOND).await;
    assert_eq!(
        read(&cache, &calls, Duration::ZERO, Ok("v2"))
            .await
            .expect("reloaded"),
        "v2"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn max_stale_keeps_an_expired_value_as_fallback_for_a_while() {
    let cache = cache_with(CacheConfig {
        l2_ttl: 10 * SECOND,
        stale_while_revalidate_window: 2 * SECOND,
        fail_safe_max_stale: 60 * SECOND,
        ..seed()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    read(&cache, &calls, Duration::ZERO, Ok("v1"))
        .await
        .expect("load");
    advance(30 * SECOND).await;
    assert_eq!(
        cache.get::<String>("k").await.expect("get"),
        None,
        "expired for plain reads"
    );
    let served = read(&cache, &calls, Duration::ZERO, Err("down")).await;
    assert_eq!(served.expect("kept value"), "v1");
    advance(100 * SECOND).await;
    match read(&cache, &calls, Duration::ZERO, Err("down")).await {
        Err(LoadError::Loader(error)) => assert_eq!(*error, "down"),
        other => panic!("past max_stale the error goes through, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn without_fail_safe_or_fallback_the_error_goes_through() {
    let cache = cache_with(CacheConfig {
        fail_safe: false,
        ..inline_refresh()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    read(&cache, &calls, Duration::ZERO, Ok("v1"))
        .await
        .expect("load");
    advance(250 * SECOND).await;
    assert!(matches!(
        read(&cache, &calls, Duration::ZERO, Err("down")).await,
        Err(LoadError::Loader(_))
    ));

    let fresh = cache_with(inline_refresh()).await;
    assert!(matches!(
        read(&fresh, &calls, Duration::ZERO, Err("down")).await,
        Err(LoadError::Loader(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_soft_timeout_answers_with_the_fallback_and_the_load_finishes_later() {
    let cache = cache_with(CacheConfig {
        soft_timeout: Some(Duration::from_millis(100)),
        ..inline_refresh()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    read(&cache, &calls, Duration::ZERO, Ok("v1"))
        .await
        .expect("load");
    advance(250 * SECOND).await;
    let started = Instant::now();
    let served = read(&cache, &calls, 10 * SECOND, Ok("v2"))
        .await
        .expect("fallback");
    assert_eq!(served, "v1");
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(100),
        "answered at the soft timeout"
    );
    assert_eq!(cache.stats().overall_stats.soft_timeouts, 1);
    advance(10 * SECOND).await;
    settle().await;
    assert_eq!(
        cache.get::<String>("k").await.expect("get").as_deref(),
        Some("v2"),
        "the load finished and was stored"
    );
}

#[tokio::test(start_paused = true)]
async fn a_soft_timeout_without_a_fallback_waits_for_the_loader() {
    let cache = cache_with(CacheConfig {
        soft_timeout: Some(Duration::from_millis(100)),
        ..seed()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    assert_eq!(
        read(&cache, &calls, 2 * SECOND, Ok("v1"))
            .await
            .expect("load"),
        "v1"
    );
    assert_eq!(started.elapsed(), 2 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn a_hard_timeout_gives_up_releases_the_key_and_reports_it() {
    let cache = cache_with(CacheConfig {
        hard_timeout: Some(SECOND),
        ..seed()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    match read(&cache, &calls, 10 * SECOND, Ok("late")).await {
        Err(LoadError::TimedOut(after)) => assert_eq!(after, SECOND),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(started.elapsed(), SECOND);
    assert_eq!(cache.stats().overall_stats.hard_timeouts, 1);
    assert_eq!(
        read(&cache, &calls, Duration::ZERO, Ok("next"))
            .await
            .expect("load"),
        "next",
        "the key was released"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hard_timeout_with_a_fallback_serves_the_fallback() {
    let cache = cache_with(CacheConfig {
        hard_timeout: Some(SECOND),
        ..inline_refresh()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    read(&cache, &calls, Duration::ZERO, Ok("v1"))
        .await
        .expect("load");
    advance(250 * SECOND).await;
    assert_eq!(
        read(&cache, &calls, 10 * SECOND, Ok("late"))
            .await
            .expect("fallback"),
        "v1"
    );
}

#[tokio::test(start_paused = true)]
async fn a_background_refresh_that_times_out_keeps_the_stale_value_and_backs_off() {
    let cache = cache_with(CacheConfig {
        hard_timeout: Some(SECOND),
        ..seed()
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    read(&cache, &calls, Duration::ZERO, Ok("v1"))
        .await
        .expect("load");
    advance(250 * SECOND).await;
    assert_eq!(
        read(&cache, &calls, 10 * SECOND, Ok("late"))
            .await
            .expect("stale"),
        "v1"
    );
    settle().await;
    advance(2 * SECOND).await;
    settle().await;
    let stats = cache.stats();
    assert_eq!(stats.swr_stats.refresh_failures, 1);
    assert_eq!(stats.overall_stats.hard_timeouts, 1);
    assert_eq!(
        read(&cache, &calls, Duration::ZERO, Ok("v2"))
            .await
            .expect("stale"),
        "v1"
    );
    settle().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "no new refresh during the fail-safe throttle"
    );
}

#[tokio::test(start_paused = true)]
async fn negative_results_are_cached_for_the_negative_ttl() {
    let cache = cache_with(seed()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let lookup = |found: Option<u32>| {
        let calls = calls.clone();
        let cache = cache.clone();
        async move {
            cache
                .get::<Option<u32>>("user:404")
                .refresh_with(move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(found)
                })
                .negative_ttl(5 * SECOND)
                .await
                .expect("loads")
        }
    };
    assert_eq!(lookup(None).await, None);
    advance(4 * SECOND).await;
    assert_eq!(lookup(Some(1)).await, None, "the miss is cached");
    advance(2 * SECOND).await;
    assert_eq!(lookup(Some(1)).await, Some(1), "for the negative ttl only");
    advance(200 * SECOND).await;
    assert_eq!(
        lookup(Some(2)).await,
        Some(1),
        "a found value keeps the normal ttl"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn jitter_spreads_expiry_of_entries_written_together() {
    let cache = cache_with(CacheConfig {
        ttl_jitter: 0.5,
        l1_max_size: 1000,
        ..seed()
    })
    .await;
    for i in 0..200u32 {
        cache
            .set(&i.to_string(), &i)
            .ttl(100 * SECOND)
            .await
            .expect("set");
    }
    let alive = |cache: TieredCache| async move {
        let mut n = 0;
        for i in 0..200u32 {
            if cache
                .get::<u32>(&i.to_string())
                .await
                .expect("get")
                .is_some()
            {
                n += 1;
            }
        }
        n
    };
    assert_eq!(alive(cache.clone()).await, 200);
    advance(125 * SECOND).await;
    let midway = alive(cache.clone()).await;
    assert!(
        (20..180).contains(&midway),
        "{midway} of 200 alive at 125 s: expiry is spread over 100-150 s"
    );
    advance(26 * SECOND).await;
    assert_eq!(alive(cache).await, 0, "none outlives ttl * (1 + jitter)");
}

#[tokio::test(start_paused = true)]
async fn a_tag_invalidation_removes_tagged_entries_in_every_namespace() {
    let cache = cache_with(seed()).await;
    cache
        .set("a", &1u8)
        .namespace("x")
        .tags(["team:1"])
        .await
        .expect("set");
    cache
        .set("b", &2u8)
        .namespace("y")
        .tags(["team:1", "other"])
        .await
        .expect("set");
    cache
        .set("c", &3u8)
        .namespace("y")
        .tags(["team:2"])
        .await
        .expect("set");
    cache.set("d", &4u8).namespace("y").await.expect("set");
    let loaded = cache
        .get("e")
        .namespace("z")
        .refresh_with(|| async { Ok::<_, String>(5u8) })
        .tags(["team:1"])
        .await
        .expect("load");
    assert_eq!(loaded, 5);
    cache
        .invalidate_tag("team:1")
        .await
        .expect("invalidate tag");
    assert_eq!(
        cache.get::<u8>("a").namespace("x").await.expect("get"),
        None
    );
    assert_eq!(
        cache.get::<u8>("b").namespace("y").await.expect("get"),
        None
    );
    assert_eq!(
        cache.get::<u8>("e").namespace("z").await.expect("get"),
        None
    );
    assert_eq!(
        cache.get::<u8>("c").namespace("y").await.expect("get"),
        Some(3)
    );
    assert_eq!(
        cache.get::<u8>("d").namespace("y").await.expect("get"),
        Some(4)
    );
    cache
        .set("a", &6u8)
        .namespace("x")
        .tags(["team:1"])
        .await
        .expect("set after");
    assert_eq!(
        cache.get::<u8>("a").namespace("x").await.expect("get"),
        Some(6),
        "new entries live"
    );
}

#[tokio::test(start_paused = true)]
async fn a_load_that_started_before_a_tag_invalidation_is_not_cached() {
    let cache = cache_with(seed()).await;
    let slow = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get("k")
                .refresh_with(|| async {
                    sleep(10 * SECOND).await;
                    Ok::<_, String>(1u8)
                })
                .tags(["t"])
                .await
        })
    };
    settle().await;
    cache.invalidate_tag("t").await.expect("invalidate");
    assert_eq!(slow.await.expect("task").expect("value"), 1);
    assert_eq!(cache.get::<u8>("k").await.expect("get"), None);
}
