//! `tiered_cache::testing`: per-test caches for `#[cached]` functions that use the global cache,
//! side by side in one process, and a cache that stores nothing.

#![cfg(feature = "testing")]

use std::sync::atomic::{AtomicU64, Ordering};

use tiered_cache::{cached, testing};

static CALLS: AtomicU64 = AtomicU64::new(0);

#[cached(key = "square:{n}", ttl = 60)]
async fn square(n: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::SeqCst);
    n * n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_test_task_gets_its_own_global_cache() {
    let first = testing::isolated().await;
    let second = testing::isolated().await;
    // Both run at once on two threads, each in its own scope: neither sees the other's entry.
    let (a, b) = tokio::join!(
        tokio::spawn(testing::with_global(first.clone(), async {
            (square(3).await, square(3).await)
        })),
        tokio::spawn(testing::with_global(second.clone(), async {
            (square(3).await, square(3).await)
        })),
    );
    assert_eq!(a.unwrap(), (9, 9));
    assert_eq!(b.unwrap(), (9, 9));
    for cache in [&first, &second] {
        let stats = cache.stats();
        assert_eq!(stats.overall_stats.loader_calls, 1, "{stats:?}");
        assert_eq!(stats.l1_stats.hits, 1, "{stats:?}");
    }
    // Outside any scope the process's global cache (here the L1-only default) is used: it has
    // its own entries.
    assert_eq!(square(3).await, 9);
    assert_eq!(first.stats().overall_stats.total_requests, 2);
    assert_eq!(second.stats().overall_stats.total_requests, 2);
}

#[tokio::test]
async fn a_disabled_cache_runs_the_body_every_time() {
    let nothing = testing::disabled().await;
    let before = CALLS.load(Ordering::SeqCst);
    testing::with_global(nothing.clone(), async {
        for _ in 0..3 {
            assert_eq!(square(12).await, 144);
        }
        // Its companions work too, and store nothing.
        assert_eq!(square_prime(13).await, 169);
        assert_eq!(square(13).await, 169);
    })
    .await;
    // Other tests of this binary call `square` concurrently: count this one's calls through
    // the cache's own counter.
    assert!(CALLS.load(Ordering::SeqCst) - before >= 5);
    assert_eq!(
        nothing.stats().overall_stats.loader_calls,
        4,
        "3 reads of 12, 1 of 13"
    );
    assert_eq!(nothing.stats().l1_stats.size, 0);
}
