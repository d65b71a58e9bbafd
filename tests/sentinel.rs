//! Redis Sentinel: the cache connects through a Sentinel (`redis-sentinel://`), and when the
//! primary is SIGKILLed under load, Sentinel promotes the replica and the cache follows it
//! without an error reaching a caller.

mod support;

use std::time::{Duration, Instant};

use support::load::{MixedLoad, Traffic};
use support::sentinel::RedisSentinel;
use support::{cache, config, eventually, redis_cli};
use tiered_cache::{CacheConfig, TieredCache};

/// The longest the test waits for the promotion and for the cache to follow it.
const FOLLOW_BOUND: Duration = Duration::from_secs(20);

/// Whether a `set` through `cache` lands on the server at `port` (read there with redis-cli).
async fn writes_reach(cache: &TieredCache, port: u16, n: u64) -> bool {
    if cache.set("probe", &n).await.is_err() {
        return false;
    }
    let stored = format!("{}:default:probe", cache.config().key_prefix);
    redis_cli(port, &["EXISTS", &stored]).trim() == "1"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_follows_a_sentinel_failover_without_caller_errors() {
    let mut redis = RedisSentinel::start();
    let config = CacheConfig {
        l2_timeout: Duration::from_millis(500),
        ..config(&redis.url())
    };
    let a = cache(config.clone()).await;
    let b = cache(config).await;
    let first = redis.primary.port();
    assert!(
        writes_reach(&a, first, 0).await,
        "Redis is in use through Sentinel: {:?}",
        a.health_check().await
    );
    a.set("shared", &1u32).await.expect("set");
    assert_eq!(
        b.get::<u32>("shared").await.expect("get"),
        Some(1),
        "B reads A's write"
    );

    let load = MixedLoad::start(
        &[a.clone(), b.clone()],
        Traffic {
            callers: 16,
            keys: 40,
            write_every: 4,
            ttl: None,
        },
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = redis.replica.port();
    redis.primary.kill();
    let killed = Instant::now();
    let promoted = eventually(FOLLOW_BOUND, || async {
        redis.primary_port() == Some(second)
    })
    .await;
    assert!(promoted, "Sentinel promoted the replica");
    let promoted_after = killed.elapsed();
    let mut n = 0;
    let followed = eventually(FOLLOW_BOUND, || {
        n += 1;
        writes_reach(&a, second, n)
    })
    .await;
    let followed_after = killed.elapsed();
    let errors = load.stop().await;
    eprintln!(
        "promoted after {promoted_after:?}; the cache wrote to the new primary after \
         {followed_after:?}; A: {:?}",
        a.stats().l2_stats
    );
    assert!(
        followed,
        "the cache did not follow the promotion within {FOLLOW_BOUND:?}"
    );
    assert_eq!(errors, 0, "no caller saw an error");
    // The backplane follows too: B learns of A's write through the new primary.
    a.set("shared", &2u32).await.expect("set");
    let seen = eventually(Duration::from_secs(5), || async {
        b.get::<u32>("shared").await.ok().flatten() == Some(2)
    })
    .await;
    assert!(seen, "B sees A's write after the failover");
}
