//! Per-call skips against a real Redis, with two instances: a write to this instance's L1 only,
//! a write without a backplane notice, and a load without the distributed lock. Each is checked
//! against what Redis holds and what the other instance saw.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fred::interfaces::KeysInterface;
use support::{cache, config, eventually, raw_client, test_redis};
use tiered_cache::TieredCache;

async fn two_instances(url: &str) -> (TieredCache, TieredCache, String) {
    let config = config(url);
    let prefix = config.key_prefix.clone();
    (cache(config.clone()).await, cache(config).await, prefix)
}

async fn stored(url: &str, key: &str) -> bool {
    let raw = raw_client(url).await;
    let value: Option<Vec<u8>> = raw.get(key).await.expect("raw GET");
    value.is_some()
}

#[tokio::test]
async fn a_set_that_skips_the_l2_write_stays_in_the_writers_l1() {
    let redis = test_redis();
    let (a, b, prefix) = two_instances(&redis.url()).await;
    a.set("k", &1u32).await.unwrap();
    assert_eq!(b.get::<u32>("k").await.unwrap(), Some(1));
    let notices = b.stats().l2_stats.notices_received;
    let writes = a.stats().l2_stats.writes;

    a.set("k", &2u32).skip_l2_write().await.unwrap();
    assert_eq!(
        a.get::<u32>("k").await.unwrap(),
        Some(2),
        "the writer reads it"
    );
    assert_eq!(a.stats().l2_stats.writes, writes, "no L2 write");
    assert_eq!(
        a.get::<u32>("k").skip_l1().await.unwrap(),
        Some(1),
        "Redis keeps the value before"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(b.stats().l2_stats.notices_received, notices, "no notice");
    assert_eq!(b.get::<u32>("k").await.unwrap(), Some(1));

    // A load that skips the L2 write: nothing in Redis, the other instance loads for itself.
    let loaded = a
        .get::<u32>("fresh")
        .refresh_with(|| async { Ok::<_, std::io::Error>(7) })
        .skip_l2_write()
        .await
        .unwrap();
    assert_eq!(loaded, 7);
    assert!(!stored(&redis.url(), &format!("{prefix}:default:fresh")).await);
    assert!(
        stored(&redis.url(), &format!("{prefix}:default:k")).await,
        "control: the key layout is right, `k` was written"
    );
    assert_eq!(a.get::<u32>("fresh").await.unwrap(), Some(7), "in A's L1");
    assert_eq!(b.get::<u32>("fresh").await.unwrap(), None);
}

#[tokio::test]
async fn a_set_that_skips_the_backplane_reaches_redis_but_not_other_l1s() {
    let redis = test_redis();
    let (a, b, _) = two_instances(&redis.url()).await;
    a.set("k", &1u32).await.unwrap();
    assert_eq!(b.get::<u32>("k").await.unwrap(), Some(1), "B holds a copy");
    let notices = b.stats().l2_stats.notices_received;

    a.set("k", &2u32).skip_backplane().await.unwrap();
    assert_eq!(
        b.get::<u32>("k").skip_l1().await.unwrap(),
        Some(2),
        "in Redis"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(b.stats().l2_stats.notices_received, notices, "no notice");
    assert_eq!(
        b.get::<u32>("k").await.unwrap(),
        Some(1),
        "B's copy stays until l1_ttl"
    );

    // Control: a plain set is heard.
    a.set("k", &3u32).await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || async {
            b.get::<u32>("k").await.unwrap() == Some(3)
        })
        .await
    );
    assert!(b.stats().l2_stats.notices_received > notices);
}

/// Both instances miss the same cold key at once with a slow loader: coordinated, one loads and
/// the other waits for its value; with `skip_distributed_lock`, each loads.
async fn origin_calls_for_a_cold_key(skip_lock: bool) -> u64 {
    let redis = test_redis();
    let (a, b, _) = two_instances(&redis.url()).await;
    let calls = Arc::new(AtomicU64::new(0));
    let read = |cache: TieredCache| {
        let calls = calls.clone();
        tokio::spawn(async move {
            let load = cache.get::<u32>("cold").refresh_with(move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, std::io::Error>(9)
            });
            let load = if skip_lock {
                load.skip_distributed_lock()
            } else {
                load
            };
            load.await
        })
    };
    let first = read(a.clone());
    // The first instance holds the lock once its loader runs.
    assert!(
        eventually(Duration::from_secs(5), || async {
            calls.load(Ordering::SeqCst) == 1
        })
        .await
    );
    let second = read(b.clone());
    assert_eq!(first.await.unwrap().unwrap(), 9);
    assert_eq!(second.await.unwrap().unwrap(), 9);
    calls.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_load_that_skips_the_distributed_lock_does_not_wait_for_another_instance() {
    assert_eq!(origin_calls_for_a_cold_key(false).await, 1, "coordinated");
    assert_eq!(
        origin_calls_for_a_cold_key(true).await,
        2,
        "not coordinated"
    );
}
