//! `get(..).shared()`: the handle to the value L1 holds. It must answer exactly what the plain
//! read answers (the models in `model.rs` and `tests/model_two.rs` mix both reads), hand out
//! L1's own copy on a hit, stay a snapshot when the key changes, and be counted as a read.

use std::time::Duration;

mod common;

use common::memory_l2::MemoryL2;
use common::{SECOND, cache_with, seed};
use tiered_cache_core::Shared;
use tokio::time::advance;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Record {
    name: String,
    lines: Vec<String>,
}

fn record(name: &str) -> Record {
    Record {
        name: name.to_owned(),
        lines: vec!["x".repeat(100); 10],
    }
}

#[tokio::test(start_paused = true)]
async fn a_hit_hands_out_l1s_own_copy_and_a_write_leaves_it_a_snapshot() {
    let cache = cache_with(seed()).await;
    cache.set("r", &record("first")).await.expect("set");

    let a: Shared<Record> = cache.get("r").shared().await.expect("get").expect("hit");
    let b: Shared<Record> = cache.get("r").shared().await.expect("get").expect("hit");
    assert!(Shared::ptr_eq(&a, &b), "both hits read the one stored copy");
    let cloned: Record = cache.get("r").await.expect("get").expect("hit");
    assert_eq!(*a, cloned, "the same value as the plain read");
    assert!(!std::ptr::eq(&*a, &cloned));

    cache.set("r", &record("second")).await.expect("set");
    let c: Shared<Record> = cache.get("r").shared().await.expect("get").expect("hit");
    assert_eq!(c.name, "second");
    assert_eq!(a.name, "first", "an earlier handle keeps what it read");
    assert!(!Shared::ptr_eq(&a, &c));

    cache.invalidate("r").await.expect("invalidate");
    assert_eq!(cache.get::<Record>("r").shared().await.expect("get"), None);
    assert_eq!(a.name, "first", "and outlives the entry");
}

#[tokio::test(start_paused = true)]
async fn a_shared_read_follows_the_timeline_and_the_type_as_the_plain_read() {
    let cache = cache_with(seed()).await;
    cache
        .set("k", &7_u64)
        .ttl(10 * SECOND)
        .stale(Duration::ZERO)
        .await
        .expect("set");
    // Another type under the key: a miss, as for the plain read.
    assert_eq!(cache.get::<String>("k").shared().await.expect("get"), None);
    assert_eq!(
        cache
            .get::<u64>("k")
            .shared()
            .await
            .expect("get")
            .as_deref(),
        Some(&7)
    );
    advance(11 * SECOND).await;
    assert_eq!(cache.get::<u64>("k").shared().await.expect("get"), None);
    assert!(cache.get::<u64>("").shared().await.is_err(), "an empty key");
}

#[tokio::test(start_paused = true)]
async fn shared_reads_are_counted_as_reads() {
    let cache = cache_with(seed()).await;
    cache.set("k", &1_u32).await.expect("set");
    let before = cache.stats();
    for _ in 0..3 {
        cache.get::<u32>("k").shared().await.expect("get");
    }
    cache.get::<u32>("absent").shared().await.expect("get");
    let after = cache.stats();
    assert_eq!(after.l1_stats.hits - before.l1_stats.hits, 3);
    assert_eq!(after.l1_stats.misses - before.l1_stats.misses, 1);
}

#[tokio::test(start_paused = true)]
async fn a_value_from_l2_is_handed_out_and_fills_l1() {
    let l2 = MemoryL2::default();
    let writer = l2.cache(seed()).await;
    let reader = l2.cache(seed()).await;
    writer.set("r", &record("stored")).await.expect("set");

    let from_l2: Shared<Record> = reader.get("r").shared().await.expect("get").expect("hit");
    assert_eq!(from_l2.name, "stored");
    let from_l1: Shared<Record> = reader.get("r").shared().await.expect("get").expect("hit");
    assert_eq!(*from_l1, *from_l2);
    let skipped: Shared<Record> = reader
        .get("r")
        .skip_l1()
        .shared()
        .await
        .expect("get")
        .expect("hit");
    assert!(
        !Shared::ptr_eq(&skipped, &from_l1),
        "L2 answers a copy of its own"
    );
    let stats = reader.stats();
    assert_eq!((stats.l1_stats.hits, stats.l2_stats.hits), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_read_with_a_loader_hands_out_l1s_copy_on_hits_fresh_and_stale() {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let cache = cache_with(seed()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let read = |name: &'static str| {
        let calls = calls.clone();
        cache
            .get::<Record>("r")
            .refresh_with(move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(record(name))
            })
            .ttl(10 * SECOND)
            .stale(5 * SECOND)
            .shared()
    };
    let loaded = read("one").await.expect("loads");
    let fresh = read("two").await.expect("a hit");
    assert_eq!((loaded.name.as_str(), fresh.name.as_str()), ("one", "one"));
    let again = read("two").await.expect("a hit");
    assert!(Shared::ptr_eq(&fresh, &again), "hits share L1's copy");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    advance(6 * SECOND).await;
    let stale = read("two").await.expect("a stale hit");
    assert!(
        Shared::ptr_eq(&stale, &again),
        "the stale copy, served at once"
    );
    common::settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one background refresh");
    let refreshed = read("three").await.expect("a hit");
    assert_eq!(refreshed.name, "two");
    assert_eq!(stale.name, "one", "the handle kept what it read");
}
