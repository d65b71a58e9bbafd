//! Redis refusing a command is not Redis being down (issue 10, item 4), against real servers: an
//! out-of-memory `noeviction` server and a read-only replica. Refusals are counted by kind, the
//! circuit breaker stays closed, reads keep using Redis, and `health_check` agrees.

mod support;

use std::time::Duration;

use fred::interfaces::KeysInterface;
use support::{RedisServer, cache, config, eventually, raw_client, redis_cli};
use tiered_cache::{CacheConfig, TierStatus};

/// Regression: an OOM reply (which the README's recommended `noeviction` produces) counted as
/// "L2 unavailable"; after `circuit_breaker_threshold` refused writes the breaker opened and the
/// writer's reads of keys other instances wrote became misses, while health said healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_out_of_memory_refusals_keep_the_tier_up() {
    let server = RedisServer::start_with_args(&["--maxmemory-policy", "noeviction"]);
    let url = server.url();
    let config = config(&url);
    let writer = cache(config.clone()).await;
    let other = cache(config).await;
    other.set("before", &1u32).await.expect("set");
    // Redis is over its memory limit, with nothing it may evict: every write is refused.
    let reply = redis_cli(server.port(), &["CONFIG", "SET", "maxmemory", "100kb"]);
    assert!(reply.contains("OK"), "{reply}");
    let raw = raw_client(&url).await;
    let refused: Result<(), _> = raw.set("probe", "x", None, None, false).await;
    assert!(
        refused.is_err_and(|e| e.details().starts_with("OOM")),
        "Redis refuses writes"
    );
    for i in 0..10u32 {
        writer
            .set(&format!("k{i}"), &i)
            .await
            .expect("a refused write is not the caller's error");
    }
    let stats = writer.stats().l2_stats;
    assert!(stats.refused.out_of_memory >= 10, "{:?}", stats.refused);
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.circuit_breaker, "closed");
    assert_eq!(
        writer.get::<u32>("before").skip_l1().await.expect("get"),
        Some(1),
        "reads still use Redis"
    );
    let health = writer.health_check().await;
    assert_eq!(health.l2.status, TierStatus::Up);
    assert_eq!(health.l2.circuit_breaker, Some("closed"));
}

/// A replica refuses writes with READONLY (as a demoted primary does during a failover); the
/// cache counts it and keeps reading from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_replica_refuses_writes_and_keeps_serving_reads() {
    let primary = RedisServer::start();
    let port = primary.port().to_string();
    let replica = RedisServer::start_with_args(&["--replicaof", "127.0.0.1", &port]);
    let on_primary = cache(config(&primary.url())).await;
    on_primary.set("k", &7u32).await.expect("set");
    let prefix = on_primary.config().key_prefix.clone();
    assert!(
        eventually(Duration::from_secs(10), || async {
            redis_cli(replica.port(), &["EXISTS", &format!("{prefix}:default:k")]).trim() == "1"
        })
        .await,
        "the replica has the entry"
    );
    let on_replica = cache(CacheConfig {
        key_prefix: prefix,
        ..config(&replica.url())
    })
    .await;
    on_replica
        .set("mine", &8u32)
        .await
        .expect("not the caller's error");
    let stats = on_replica.stats().l2_stats;
    assert!(stats.refused.read_only >= 1, "{:?}", stats.refused);
    assert_eq!(stats.circuit_breaker, "closed");
    assert_eq!(
        on_replica.get::<u32>("k").skip_l1().await.expect("get"),
        Some(7),
        "reads from the replica work"
    );
    assert_eq!(
        on_replica.get::<u32>("mine").await.expect("get"),
        Some(8),
        "the refused write stays in the writer's L1"
    );
}
