//! A Redis Cluster failover under load: three masters with a replica each; a master is
//! SIGKILLed while two cache instances serve 32 concurrent callers; its replica is promoted.
//! Callers see no error, and the cache writes to the new master within a bounded time.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fred::interfaces::KeysInterface;
use support::load::{MixedLoad, Traffic};
use support::{RedisCluster, cache, config, eventually, raw_client, redis_cli};
use tiered_cache::{CacheConfig, TieredCache};

/// The longest the test waits for the cache to use the promoted replica (measured: see the
/// README's "When Redis misbehaves"); the cluster itself takes about two node timeouts.
const PROMOTED_BOUND: Duration = Duration::from_secs(20);

/// Whether a `set` through `cache` of a key on the failed master's slots reaches Redis.
async fn writes_reach(cache: &TieredCache, raw: &fred::clients::Client, key: &str, n: u64) -> bool {
    if cache.set(key, &n).await.is_err() {
        return false;
    }
    let stored = format!("{}:default:{key}", cache.config().key_prefix);
    // The raw client has no deadline of its own; a dead node would hold it.
    let read = tokio::time::timeout(
        Duration::from_millis(500),
        raw.get::<Option<Bytes>, _>(stored),
    );
    matches!(read.await, Ok(Ok(Some(_))))
}

/// A key whose slot the first master serves (slots 0-5460).
fn key_on_first_master(cluster: &RedisCluster, prefix: &str) -> String {
    (0..)
        .map(|i| format!("probe-{i}"))
        .find(|key| {
            let stored = format!("{prefix}:default:{key}");
            std::ptr::eq(cluster.node_of(&stored), &cluster.nodes[0])
        })
        .expect("some key hashes to the first master")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_load_fails_over_without_caller_errors() {
    let mut cluster = RedisCluster::start_with_replicas();
    let url = cluster.url();
    let config = CacheConfig {
        l2_timeout: Duration::from_millis(500),
        ..config(&url)
    };
    let a = cache(config.clone()).await;
    let b = cache(config.clone()).await;
    let probe = key_on_first_master(&cluster, &config.key_prefix);
    let raw = raw_client(&url).await;
    assert!(
        writes_reach(&a, &raw, &probe, 0).await,
        "the cluster is in use"
    );

    let load = MixedLoad::start(
        &[a.clone(), b.clone()],
        Traffic {
            callers: 32,
            keys: 60,
            write_every: 4,
            ttl: Some(Duration::from_millis(300)),
        },
    );
    let served = load.served.clone();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let replica_port = cluster.nodes[3].port();
    cluster.nodes[0].kill();
    let killed = Instant::now();
    let promoted = eventually(PROMOTED_BOUND, || async {
        redis_cli(replica_port, &["ROLE"]).starts_with("master")
    })
    .await;
    assert!(promoted, "the replica was promoted");
    let promoted_after = killed.elapsed();
    let mut n = 0;
    let back = eventually(PROMOTED_BOUND, || {
        n += 1;
        writes_reach(&a, &raw, &probe, n)
    })
    .await;
    let used_after = killed.elapsed();
    let errors = load.stop().await;
    let (sa, sb) = (a.stats(), b.stats());
    eprintln!(
        "promoted after {promoted_after:?}; the cache wrote to the new master after \
         {used_after:?}; served {}; A: {:?}; B: {:?}",
        served.load(Ordering::SeqCst),
        sa.l2_stats,
        sb.l2_stats
    );
    assert!(
        back,
        "the cache did not use the new master within {PROMOTED_BOUND:?}"
    );
    assert_eq!(errors, 0, "no caller saw an error");
    for cache in [&a, &b] {
        // The layout is counted by the backend's own watcher task, soon after fred learns it.
        let counted = eventually(Duration::from_secs(5), || async {
            cache.stats().l2_stats.rerouted >= 1
        })
        .await;
        let stats = cache.stats().l2_stats;
        assert!(counted, "the new layout was counted: {stats:?}");
        assert!(
            stats.connections_lost + stats.errors > 0,
            "the lost master was counted"
        );
        // Once per change of layout, not once per pooled connection (and none at startup).
        assert!(stats.rerouted <= 3, "{stats:?}");
    }
}
