//! What a `#[cached]` function answers when the origin is slow or says "not found" (issue 9,
//! defects 3 and 4), on an L1-only cache and a paused clock: a hard timeout never turns the
//! waiting callers into one body run each, and `None` is an answer that is returned, not
//! cached, removes the entry, and is never replaced by an older `Some`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tiered_cache::{CacheConfig, Clock, TieredCache, cached};

async fn l1_cache(config: CacheConfig) -> TieredCache {
    TieredCache::builder(CacheConfig {
        redis_url: None,
        ..config
    })
    .clock(Clock::tokio())
    .build()
    .await
    .expect("valid config")
}

/// A table of records behind a slow origin, cached per method.
#[derive(Clone)]
struct Records {
    cache: TieredCache,
    rows: Arc<Mutex<HashMap<u64, u32>>>,
    calls: Arc<AtomicUsize>,
}

impl Records {
    fn new(cache: TieredCache) -> Self {
        Records {
            cache,
            rows: Arc::default(),
            calls: Arc::default(),
        }
    }

    fn row(&self, id: u64) -> Option<u32> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.rows.lock().expect("rows").get(&id).copied()
    }

    #[cached(key = "slow:{id}", cache = self.cache)]
    async fn slow(&self, id: u64) -> u32 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.row(id).unwrap_or_default()
    }

    #[cached(key = "slow-result:{id}", cache = self.cache)]
    async fn slow_result(&self, id: u64) -> Result<u32, String> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.row(id).ok_or_else(|| "missing".to_owned())
    }

    #[cached(key = "find:{id}", ttl = 300, stale = 60, cache = self.cache)]
    async fn find(&self, id: u64) -> Option<u32> {
        self.row(id)
    }
}

/// Regression: 50 concurrent calls with `hard_timeout` 100 ms and a 300 ms body ran the body
/// 51 times (every coalesced waiter got `TimedOut` and ran it uncached), while the stats said
/// one loader call and a 0.98 hit rate. Now one body run serves all 50, and the stats say so.
#[tokio::test(start_paused = true)]
async fn regression_a_hard_timeout_does_not_turn_waiters_into_body_runs() {
    let cache = l1_cache(CacheConfig {
        hard_timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    })
    .await;
    let records = Records::new(cache.clone());
    records.rows.lock().expect("rows").insert(1, 11);
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let records = records.clone();
            tokio::spawn(async move { (records.slow(1).await, records.slow_result(1).await) })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.expect("task"), (11, Ok(11)));
    }
    assert_eq!(
        records.calls.load(Ordering::SeqCst),
        2,
        "one body run per function"
    );
    let stats = cache.stats().overall_stats;
    assert_eq!(stats.loader_calls, 2);
    assert_eq!(stats.hard_timeouts, 0);
    assert_eq!(stats.total_requests, 100);
    assert_eq!(stats.hit_rate, 0.0, "every call waited for the origin");
}

/// Regression: a `None` was a loader failure, so with fail-safe on (the default) a stale `Some`
/// stood in for a record that had been deleted, and every "not found" counted as a loader
/// error and logged a warning.
#[tokio::test(start_paused = true)]
async fn regression_a_deleted_record_is_not_served_from_a_stale_some() {
    let cache = l1_cache(CacheConfig {
        background_refresh: false,
        ..Default::default()
    })
    .await;
    let records = Records::new(cache.clone());
    records.rows.lock().expect("rows").insert(7, 70);
    assert_eq!(records.find(7).await, Some(70));
    records.rows.lock().expect("rows").remove(&7);
    tokio::time::advance(Duration::from_secs(250)).await; // stale: the next call loads inline
    assert_eq!(records.find(7).await, None, "deleted");
    assert_eq!(
        cache.get::<Option<u32>>("find:7").await.expect("get"),
        None,
        "the stale entry is gone"
    );
    assert_eq!(records.find(7).await, None);
    assert_eq!(
        records.calls.load(Ordering::SeqCst),
        3,
        "None is not cached"
    );
    let stats = cache.stats().overall_stats;
    assert_eq!((stats.loader_errors, stats.fail_safe_activations), (0, 0));
}

/// `{fn}_prime` does what a cached call would do: a `Some` is stored, a `None` removes.
#[tokio::test(start_paused = true)]
async fn priming_a_none_removes_the_entry() {
    let cache = l1_cache(CacheConfig::default()).await;
    let records = Records::new(cache.clone());
    records.rows.lock().expect("rows").insert(3, 30);
    assert_eq!(records.find_prime(3).await, Some(30));
    assert_eq!(
        cache.get::<Option<u32>>("find:3").await.expect("get"),
        Some(Some(30))
    );
    records.rows.lock().expect("rows").remove(&3);
    assert_eq!(records.find_prime(3).await, None);
    assert_eq!(cache.get::<Option<u32>>("find:3").await.expect("get"), None);
}
