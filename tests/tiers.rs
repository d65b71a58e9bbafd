//! The two tiers together against a real `redis-server`: instances sharing Redis, L1 fills,
//! l1_ttl, invalidation, Redis absent at startup, health without credentials.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{RedisServer, cache, cache_with_clock, config, test_redis};
use tiered_cache::{CacheConfig, Clock, TierStatus};

#[tokio::test]
async fn an_instance_reads_what_another_wrote() {
    let redis = test_redis();
    let config = config(&redis.url());
    let a = cache(config.clone()).await;
    let b = cache(config).await;
    a.set("user:1", &"Ada".to_owned())
        .namespace("users")
        .await
        .expect("set");
    let seen: Option<String> = b.get("user:1").namespace("users").await.expect("get");
    assert_eq!(seen.as_deref(), Some("Ada"));
    let stats = b.stats();
    assert_eq!(stats.l2_stats.hits, 1);
    assert_eq!(stats.l1_stats.misses, 1);
    // The L2 hit filled B's L1.
    let _: Option<String> = b.get("user:1").namespace("users").await.expect("get");
    assert_eq!(b.stats().l1_stats.hits, 1);
}

#[tokio::test]
async fn a_loaded_value_reaches_both_tiers() {
    let redis = test_redis();
    let config = config(&redis.url());
    let a = cache(config.clone()).await;
    let b = cache(config).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let value = a
        .get("p:42")
        .namespace("products")
        .refresh_with(move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(vec![4u32, 2])
        })
        .await
        .expect("loaded");
    assert_eq!(value, vec![4, 2]);
    let counted = calls.clone();
    let from_b = b
        .get("p:42")
        .namespace("products")
        .refresh_with(move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(vec![0u32])
        })
        .await
        .expect("served");
    assert_eq!(from_b, vec![4, 2], "B was served from L2, not its loader");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn l1_copies_are_rechecked_against_l2_after_l1_ttl() {
    let redis = test_redis();
    // Without the backplane, l1_ttl is what bounds another instance's staleness.
    let config = CacheConfig {
        l1_ttl: Duration::from_secs(10),
        backplane: false,
        ..config(&redis.url())
    };
    let (clock, hand) = Clock::manual(now_ms());
    let a = cache(config.clone()).await;
    let b = cache_with_clock(config, clock).await;
    a.set("k", &1u32).await.expect("set");
    assert_eq!(b.get::<u32>("k").await.expect("get"), Some(1));
    a.set("k", &2u32).await.expect("set");
    assert_eq!(
        b.get::<u32>("k").await.expect("get"),
        Some(1),
        "B trusts its L1 copy within l1_ttl"
    );
    hand.advance(Duration::from_secs(10));
    assert_eq!(
        b.get::<u32>("k").await.expect("get"),
        Some(2),
        "after l1_ttl B asks L2"
    );
}

#[tokio::test]
async fn invalidate_and_clears_reach_l2() {
    let redis = test_redis();
    let config = config(&redis.url());
    let a = cache(config.clone()).await;
    let b = cache(config).await;
    a.set("k", &1u8).await.expect("set");
    a.set("k", &2u8).namespace("other").await.expect("set");
    a.invalidate("k").await.expect("invalidate");
    assert_eq!(b.get::<u8>("k").await.expect("get"), None);
    assert_eq!(
        b.get::<u8>("k").namespace("other").await.expect("get"),
        Some(2)
    );
    a.clear_namespace("other").await.expect("clear");
    let c = cache(a.config().clone()).await;
    assert_eq!(
        c.get::<u8>("k").namespace("other").await.expect("get"),
        None,
        "a new instance sees the clear"
    );
}

#[tokio::test]
async fn redis_absent_at_startup_means_l1_only_and_a_degraded_health() {
    let port = support::free_port();
    let config = CacheConfig {
        connect_timeout: Duration::from_millis(300),
        ..config(&format!("redis://127.0.0.1:{port}"))
    };
    let cache = cache(config).await;
    let calls = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let counted = calls.clone();
        let value = cache
            .get("k")
            .refresh_with(move || async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>("from origin".to_owned())
            })
            .await
            .expect("a down Redis is not an error");
        assert_eq!(value, "from origin");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "L1 served the rest");
    cache
        .set("other", &1u8)
        .await
        .expect("set works without L2");
    assert_eq!(cache.get::<u8>("other").await.expect("get"), Some(1));
    let health = cache.health_check().await;
    assert!(!health.healthy);
    assert_eq!(health.status, "degraded");
    assert_eq!(health.l2.status, TierStatus::Down);
    assert_eq!(health.l1.status, TierStatus::Up);
}

#[tokio::test]
async fn the_cache_starts_using_redis_once_it_comes_up() {
    let port = support::free_port();
    let config = CacheConfig {
        connect_timeout: Duration::from_millis(200),
        ..config(&format!("redis://127.0.0.1:{port}"))
    };
    let a = cache(config.clone()).await;
    assert_eq!(a.health_check().await.l2.status, TierStatus::Down);
    let _server = support::RedisServer::start_on_port(port);
    let up = support::eventually(Duration::from_secs(5), || async {
        a.set("k", &7u8).await.expect("set");
        let b = cache(a.config().clone()).await;
        b.get::<u8>("k").await.expect("get") == Some(7)
    })
    .await;
    assert!(up, "writes reach Redis once it is up");
}

#[tokio::test]
async fn health_and_debug_never_show_the_password() {
    let server = RedisServer::start_with_password("hunter2-secret");
    let config = config(&server.url());
    assert!(
        config
            .redis_url
            .as_deref()
            .is_some_and(|u| u.contains("hunter2-secret"))
    );
    let cache = cache(config).await;
    cache.set("k", &1u8).await.expect("set");
    let health = cache.health_check().await;
    assert!(health.healthy, "{health:?}");
    assert!(health.l2.latency_ms.is_some());
    let shown = format!(
        "{}{:?}{:?}{}",
        serde_json::to_string(&health).expect("json"),
        health,
        cache,
        serde_json::to_string(&cache.stats()).expect("json"),
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("***"), "the redacted URL is shown: {shown}");
}

#[tokio::test]
async fn a_wrong_password_is_a_down_l2_not_a_crash() {
    let server = RedisServer::start_with_password("right");
    let url = format!("redis://:wrong@127.0.0.1:{}", server.port());
    let config = CacheConfig {
        connect_timeout: Duration::from_millis(300),
        ..config(&url)
    };
    let cache = cache(config).await;
    cache.set("k", &1u8).await.expect("set");
    assert_eq!(cache.get::<u8>("k").await.expect("get"), Some(1));
    let health = cache.health_check().await;
    assert_eq!(health.l2.status, TierStatus::Down);
    assert!(
        !serde_json::to_string(&health)
            .expect("json")
            .contains("wrong")
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[tokio::test]
async fn skip_l1_reads_the_shared_truth_and_leaves_l1_alone() {
    let redis = test_redis();
    let config = CacheConfig {
        backplane: false,
        ..config(&redis.url())
    };
    let a = cache(config.clone()).await;
    let b = cache(config).await;
    a.set("k", &1u32).await.expect("set");
    assert_eq!(
        b.get::<u32>("k").await.expect("get"),
        Some(1),
        "B's L1 holds 1"
    );
    a.set("k", &2u32).await.expect("set");
    assert_eq!(
        b.get::<u32>("k").await.expect("get"),
        Some(1),
        "no backplane: B's L1 still says 1"
    );
    assert_eq!(
        b.get::<u32>("k").skip_l1().await.expect("get"),
        Some(2),
        "skip_l1 reads Redis"
    );
    assert_eq!(
        b.get::<u32>("k").await.expect("get"),
        Some(1),
        "and does not fill L1"
    );
    assert_eq!(b.get::<u32>("absent").skip_l1().await.expect("get"), None);
}
