//! Against real Redis: a wall-clock step does not expire L2 calls; dropping the last handle
//! without `close()` releases the connections; the counters say what Redis and the origin saw.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{RedisServer, cache, cache_with_clock, config, eventually, redis_cli};
use tiered_cache::{CacheConfig, Clock};

/// Regression: L2 deadlines compared the call's start and the ticker's reading on the wall
/// clock (and on two different wall clocks), so a step of the wall clock (NTP, a resumed VM)
/// expired every call in flight, and the breaker opened on a healthy Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_wall_clock_steps_do_not_expire_l2_calls() {
    let server = RedisServer::start();
    let (clock, handle) = Clock::manual(1_900_000_000_000);
    let config = CacheConfig {
        l2_timeout: Duration::from_millis(200),
        ..config(&server.url())
    };
    let cache = cache_with_clock(config, clock).await;
    cache
        .set("k", &1u32)
        .ttl(Duration::from_secs(7 * 24 * 3600 - 60))
        .await
        .expect("set");
    let stop = Arc::new(AtomicBool::new(false));
    // The wall clock jumps a minute ahead every millisecond.
    let stepper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                handle.advance(Duration::from_secs(60));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let mut answered = 0;
    let started = tokio::time::Instant::now();
    // Long enough for several ticks of the deadline ticker (every l2_timeout / 4).
    while started.elapsed() < Duration::from_millis(400) {
        if cache.get::<u32>("k").skip_l1().await.expect("get") == Some(1) {
            answered += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    stepper.await.expect("task");
    let stats = cache.stats().l2_stats;
    assert!(answered > 20, "reads went to Redis ({answered})");
    assert_eq!(stats.errors, 0, "no L2 call timed out");
    assert_eq!(stats.circuit_breaker, "closed");
}

fn connected_clients(port: u16) -> usize {
    redis_cli(port, &["CLIENT", "LIST"]).lines().count()
}

/// Dropping the last handle without `close()` stops the backplane subscription and closes the
/// pool (nothing keeps running in the background for a cache nobody can reach).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_releases_the_connections() {
    let server = RedisServer::start();
    let before = connected_clients(server.port());
    let cache = cache(config(&server.url())).await;
    cache.set("k", &1u32).await.expect("set");
    let clone = cache.clone();
    assert!(
        connected_clients(server.port()) >= before + 3,
        "pool of 2 + subscriber"
    );
    drop(cache);
    drop(clone);
    assert!(
        eventually(Duration::from_secs(5), || async {
            connected_clients(server.port()) == before
        })
        .await,
        "connections left: {}",
        connected_clients(server.port()) - before
    );
}

/// Regression: a cold load counted two L2 misses (the read, and the lock holder's re-read),
/// so 5 cold loads showed as 10. Every read is one outcome: here 5 misses that ran the loader,
/// then 5 L1 hits, then 5 L2 hits on another instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_each_read_counts_once() {
    let server = RedisServer::start();
    let config = config(&server.url());
    let a = cache(config.clone()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    for round in 0..2 {
        for i in 0..5u32 {
            let calls = calls.clone();
            let value = a
                .get(&format!("cold-{i}"))
                .refresh_with(move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(i)
                })
                .await
                .expect("load");
            assert_eq!(value, i, "round {round}");
        }
    }
    let stats = a.stats();
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(stats.overall_stats.loader_calls, 5);
    assert_eq!(stats.l2_stats.misses, 5);
    assert_eq!(stats.l2_stats.hits, 0);
    assert_eq!(stats.l1_stats.hits, 5);
    assert_eq!(stats.overall_stats.total_requests, 10);
    assert_eq!(stats.overall_stats.hit_rate, 0.5);

    let b = cache(config).await;
    for i in 0..5u32 {
        assert_eq!(
            b.get::<u32>(&format!("cold-{i}")).await.expect("get"),
            Some(i)
        );
    }
    let stats = b.stats();
    assert_eq!((stats.l2_stats.hits, stats.l2_stats.misses), (5, 0));
    assert_eq!(stats.overall_stats.hit_rate, 1.0);
}
