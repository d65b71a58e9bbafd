//! A byte-bounded L1: values of very different sizes stay within `l1_max_bytes`, and the entry
//! count bound still holds for small values.

mod common;

use common::{cache_with, seed};
use tiered_cache_core::CacheConfig;

const MIB: usize = 1024 * 1024;

#[tokio::test(start_paused = true)]
async fn large_values_are_bounded_by_bytes_not_by_count() {
    let cache = cache_with(CacheConfig {
        l1_max_size: 10_000,
        l1_max_bytes: Some(MIB),
        max_value_size: 2 * MIB,
        ..seed()
    })
    .await;
    let big = vec![7u8; 64 * 1024];
    for i in 0..200 {
        cache.set(&format!("big:{i}"), &big).await.unwrap();
    }
    let held = cache.stats().l1_stats.size;
    // 16 values of 64 KiB make 1 MiB; the bound is approximate per shard.
    assert!((1..=17).contains(&held), "held {held} entries of 64 KiB");
    // The most recent value is there and whole.
    assert_eq!(cache.get::<Vec<u8>>("big:199").await.unwrap(), Some(big));
}

#[tokio::test(start_paused = true)]
async fn small_values_are_still_bounded_by_count() {
    let cache = cache_with(CacheConfig {
        l1_max_size: 100,
        l1_max_bytes: Some(64 * MIB),
        ..seed()
    })
    .await;
    for i in 0..2_000u32 {
        cache.set(&format!("small:{i}"), &i).await.unwrap();
    }
    let held = cache.stats().l1_stats.size;
    assert!(
        (50..=110).contains(&held),
        "held {held} of at most 100 entries"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_byte_bound_large_values_fill_the_count() {
    let cache = cache_with(CacheConfig {
        l1_max_size: 100,
        max_value_size: 2 * MIB,
        ..seed()
    })
    .await;
    let big = vec![7u8; 64 * 1024];
    for i in 0..200 {
        cache.set(&format!("big:{i}"), &big).await.unwrap();
    }
    // The control for the first test: the count alone lets ~100 large values in (6+ MiB).
    assert!(cache.stats().l1_stats.size > 50);
}
