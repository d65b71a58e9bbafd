//! Redis at `maxmemory`, evicting: under a `volatile-*` policy Redis evicts entries (plain misses)
//! and never the marks that clears and tag invalidations rest on; an `allkeys-*` policy, which
//! could evict those marks, is detected at startup and reported by `health_check`.
//! (`noeviction`, which refuses writes, is in `refused.rs`.)

mod support;

use std::time::Duration;

use bytes::Bytes;
use fred::interfaces::KeysInterface;
use support::{RedisServer, cache, config, raw_client, redis_cli};

/// `evicted_keys` from `INFO stats`.
fn evicted_keys(port: u16) -> u64 {
    redis_cli(port, &["INFO", "stats"])
        .lines()
        .find_map(|line| line.strip_prefix("evicted_keys:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Regression: tag marks carried a TTL (`tag_ttl`), so a `volatile-*` Redis under memory
/// pressure could evict a mark while an entry it invalidated survived, and an instance that
/// had not seen the invalidation served that entry again. Marks now have no TTL (a log forgets
/// them once every entry they cover has expired); entries are the only thing evicted.
///
/// `volatile-lfu` with `lfu-log-factor 0` (every access counts) makes the outcome
/// deterministic: the invalidated entry is read often, the filler entries a little, the mark
/// never, so an evictable mark is the first candidate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_volatile_eviction_takes_entries_never_a_tag_mark() {
    let server = RedisServer::start_with_args(&[
        "--maxmemory",
        "3mb",
        "--maxmemory-policy",
        "volatile-lfu",
        "--lfu-log-factor",
        "0",
    ]);
    let url = server.url();
    let config = config(&url);
    let writer = cache(config.clone()).await;
    let victim_key = format!("{}:default:victim", config.key_prefix);
    writer
        .set("victim", &1u32)
        .tags(["supplier:7"])
        .ttl(Duration::from_secs(60))
        .await
        .expect("set");
    writer
        .invalidate_tag("supplier:7")
        .await
        .expect("invalidate");
    let raw = raw_client(&url).await;
    for _ in 0..50 {
        let _: Option<Bytes> = raw.get(&victim_key).await.expect("raw read");
    }

    // Fill Redis well past maxmemory with entries, each read twice after its write.
    let filler = vec![7u8; 1024];
    for i in 0..5000u32 {
        let key = format!("fill-{i}");
        writer
            .set(&key, &filler)
            .ttl(Duration::from_secs(60))
            .await
            .expect("a write under eviction is not the caller's error");
        let stored = format!("{}:default:{key}", config.key_prefix);
        for _ in 0..2 {
            let _: Option<Bytes> = raw.get(&stored).await.expect("raw read");
        }
    }
    assert!(
        evicted_keys(server.port()) > 1000,
        "Redis evicted entries: {}",
        evicted_keys(server.port())
    );
    let kept: Option<Bytes> = raw.get(&victim_key).await.expect("raw read");
    assert!(
        kept.is_some(),
        "the invalidated entry survived (the case under test)"
    );

    // An instance that never saw the invalidation (fresh L1, notice long gone) reads the key.
    let reader = cache(config).await;
    let read = reader
        .get::<u32>("victim")
        .refresh_with(|| async { Ok::<_, String>(2) })
        .await
        .expect("read");
    assert_eq!(
        read, 2,
        "the invalidated value came back: its tag mark was evicted"
    );

    // Evicted entries are plain misses: the loader answers, nothing is an error.
    let mut reloaded = 0;
    for i in 0..200u32 {
        let value = reader
            .get::<Vec<u8>>(&format!("fill-{i}"))
            .refresh_with(|| async { Ok::<_, String>(vec![1u8]) })
            .await
            .expect("an evicted entry is a miss, not an error");
        if value == [1u8] {
            reloaded += 1;
        }
    }
    assert!(reloaded > 0, "some early entries were evicted");
    let stats = reader.stats().l2_stats;
    assert_eq!(stats.decode_errors, 0, "{stats:?}");
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert_eq!(stats.circuit_breaker, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allkeys_policy_is_reported_at_startup() {
    let server = RedisServer::start_with_args(&["--maxmemory-policy", "allkeys-lru"]);
    let cache = cache(config(&server.url())).await;
    let health = cache.health_check().await;
    assert!(health.healthy, "a warning does not make the tier down");
    assert_eq!(health.l2.warnings.len(), 1, "{:?}", health.l2.warnings);
    assert!(
        health.l2.warnings[0].contains("allkeys-lru"),
        "{:?}",
        health.l2.warnings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volatile_policy_is_not_reported() {
    let server = RedisServer::start_with_args(&["--maxmemory-policy", "volatile-lfu"]);
    let cache = cache(config(&server.url())).await;
    let health = cache.health_check().await;
    assert!(health.l2.warnings.is_empty(), "{:?}", health.l2.warnings);
}

/// The check runs once, when Redis first answers: at startup, or later for a cache that
/// started while Redis was down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_started_while_redis_was_down_checks_once_it_answers() {
    let port = support::free_port();
    let mut config = config(&format!("redis://127.0.0.1:{port}"));
    config.connect_timeout = Duration::from_millis(200);
    let cache = cache(config).await;
    assert!(cache.health_check().await.l2.warnings.is_empty());
    let _server =
        RedisServer::start_on_port_with_args(port, &["--maxmemory-policy", "allkeys-lfu"]);
    let found = support::eventually(Duration::from_secs(5), || async {
        !cache.health_check().await.l2.warnings.is_empty()
    })
    .await;
    assert!(found, "the check ran once Redis answered");
}
