//! Redis failures while the cache is in use: killed under load, restarted on the same port,
//! paused with SIGSTOP. Callers never see an error or a hang; the cache uses Redis again on its
//! own once Redis is back.
//!
//! Stated bounds (test config: `l2_timeout` 200 ms, breaker cool-down 200 ms):
//! - a read while Redis hangs returns within `l2_timeout` (+ scheduling margin);
//! - after Redis comes back, the cache writes to it again within the reconnect back-off
//!   (at most 1 s) + one breaker cool-down + one `l2_timeout`: under 3 s here.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fred::interfaces::KeysInterface;
use support::load::{MixedLoad, Traffic};
use support::{RedisServer, cache, config, eventually, raw_client};
use tiered_cache::{CacheConfig, TieredCache};

const RECOVERY_BOUND: Duration = Duration::from_secs(3);

fn fault_config(server: &RedisServer) -> CacheConfig {
    CacheConfig {
        l2_timeout: Duration::from_millis(200),
        circuit_breaker_threshold: 3,
        circuit_breaker_cooldown: Duration::from_millis(200),
        ..config(&server.url())
    }
}

/// Whether a value written now by `cache` lands in Redis (checked with a plain client).
async fn writes_reach_redis(cache: &TieredCache, url: &str) -> bool {
    let probe = support::unique("probe");
    if cache.set(&probe, &1u8).await.is_err() {
        return false;
    }
    let Ok(raw) = tokio::time::timeout(Duration::from_millis(500), raw_client(url)).await else {
        return false;
    };
    let key = format!("{}:default:{probe}", cache.config().key_prefix);
    let stored: Result<Option<Bytes>, _> = raw.get(key).await;
    matches!(stored, Ok(Some(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_under_load_then_restarted() {
    let mut server = RedisServer::start();
    let url = server.url();
    let cache = cache(fault_config(&server)).await;
    let load = MixedLoad::start(
        std::slice::from_ref(&cache),
        Traffic {
            callers: 100,
            keys: 40,
            write_every: 3,
            ttl: Some(Duration::from_millis(50)),
        },
    );
    let loads = load.loads.clone();

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        writes_reach_redis(&cache, &url).await,
        "Redis is in use before the kill"
    );
    server.kill();
    let loads_at_kill = loads.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // A read that needs its origin is served while Redis is down. (The mixed load's own loads
    // cannot show it: its writes keep its 40 keys fresh, so it loads a handful of times per
    // second at most, and in some 800 ms windows not at all.)
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = ran.clone();
    let cold = cache
        .get::<u64>(&support::unique("cold"))
        .refresh_with(move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(7)
        })
        .await;
    assert!(
        matches!(cold, Ok(7)) && ran.load(Ordering::SeqCst) == 1,
        "a loader runs and serves while Redis is down: {cold:?}"
    );
    eprintln!(
        "mixed-load loader runs in the 800 ms after the kill: {}",
        loads.load(Ordering::SeqCst) - loads_at_kill
    );
    // The kill shows as a lost connection (fred's reader sees it first) or as failed calls.
    let l2 = cache.stats().l2_stats;
    assert!(
        l2.connections_lost + l2.errors > 0,
        "the failures were counted: {l2:?}"
    );

    server.restart();
    let restarted = Instant::now();
    let back = eventually(RECOVERY_BOUND, || writes_reach_redis(&cache, &url)).await;
    assert!(
        back,
        "the cache did not use Redis again within {RECOVERY_BOUND:?}"
    );
    eprintln!(
        "L2 in use again {:?} after the restart",
        restarted.elapsed()
    );

    assert_eq!(load.stop().await, 0, "no caller saw an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_redis_costs_at_most_the_timeout_then_the_breaker_opens_and_recovers() {
    let server = RedisServer::start();
    let url = server.url();
    // A cool-down longer than the reads below, so the breaker is seen open.
    let config = CacheConfig {
        circuit_breaker_cooldown: Duration::from_secs(1),
        ..fault_config(&server)
    };
    let cache = cache(config.clone()).await;
    cache.set("warm", &1u8).await.expect("set");

    server.pause();
    let bound = config.l2_timeout + Duration::from_millis(300);
    for i in 0..config.circuit_breaker_threshold {
        let started = Instant::now();
        let value = cache
            .get::<u8>(&format!("cold{i}"))
            .await
            .expect("a miss, not an error");
        assert_eq!(value, None);
        assert!(
            started.elapsed() < bound,
            "a read took {:?} with Redis paused",
            started.elapsed()
        );
    }
    // "half_open" once a cool-down passed without a probe yet; either way not "closed".
    assert_ne!(cache.stats().l2_stats.circuit_breaker, "closed");
    let skipped_before = cache.stats().l2_stats.skipped;
    assert_eq!(cache.get::<u8>("cold-x").await.expect("get"), None);
    assert!(
        cache.stats().l2_stats.skipped > skipped_before,
        "an open breaker skips L2"
    );
    assert_eq!(
        cache.get::<u8>("warm").await.expect("get"),
        Some(1),
        "L1 still serves"
    );
    let loaded = cache
        .get("load-while-paused")
        .refresh_with(|| async { Ok::<_, String>(5u8) })
        .await
        .expect("loaders run");
    assert_eq!(loaded, 5);

    server.resume();
    let closed = eventually(RECOVERY_BOUND, || async {
        let _ = cache.get::<u8>(&support::unique("probe")).await;
        cache.stats().l2_stats.circuit_breaker == "closed"
    })
    .await;
    assert!(
        closed,
        "the breaker did not close within {RECOVERY_BOUND:?} of SIGCONT"
    );
    // One outage: the breaker opened once (a failed probe re-opens from half-open, which is not
    // a new opening) and closed once.
    let l2 = cache.stats().l2_stats;
    assert_eq!((l2.breaker_opened, l2.breaker_closed), (1, 1), "{l2:?}");
    assert!(writes_reach_redis(&cache, &url).await);
}

#[tokio::test]
async fn the_breaker_recovers_without_traffic() {
    let mut server = RedisServer::start();
    let cache = cache(fault_config(&server)).await;
    server.kill();
    for i in 0..5 {
        let _ = cache.get::<u8>(&format!("k{i}")).await;
    }
    assert_ne!(cache.stats().l2_stats.circuit_breaker, "closed");
    server.restart();
    // Only the background sync talks to Redis now; it doubles as the breaker's probe.
    let closed = eventually(RECOVERY_BOUND, || async {
        cache.stats().l2_stats.circuit_breaker == "closed"
    })
    .await;
    assert!(closed);
}

/// An invalidation made while Redis hangs is replayed once Redis answers, so the stale value
/// does not come back from L2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_made_while_redis_hangs_are_replayed() {
    let server = RedisServer::start();
    let config = fault_config(&server);
    let a = cache(config.clone()).await;
    a.set("k", &1u8).await.expect("set");
    a.set("other", &1u8).namespace("n").await.expect("set");

    server.pause();
    a.invalidate("k").await.expect("invalidate works locally");
    a.clear_namespace("n").await.expect("clear works locally");
    assert_eq!(a.stats().l2_stats.pending_recovery, 2);
    server.resume();

    // The queue is taken before its operations run: wait until they were replayed, not until
    // it looks empty.
    let replayed = eventually(RECOVERY_BOUND, || async {
        let stats = a.stats().l2_stats;
        stats.recovered == 2 && stats.pending_recovery == 0
    })
    .await;
    assert!(
        replayed,
        "both operations were replayed once Redis answered"
    );
    let b = cache(config).await;
    assert_eq!(
        b.get::<u8>("k").await.expect("get"),
        None,
        "the invalidation reached Redis"
    );
    assert_eq!(
        b.get::<u8>("other").namespace("n").await.expect("get"),
        None,
        "so did the clear"
    );
}

/// Redis is down when an instance starts: construction neither fails nor hangs (it waits
/// `connect_timeout` for the first sync and again for the subscription; 5 s is the margin), and
/// once Redis is up the instance uses it and hears the backplane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_while_redis_is_down_joins_when_it_comes_up() {
    let mut server = RedisServer::start();
    let config = CacheConfig {
        // Only a notice can change what B's L1 answers.
        l1_ttl: Duration::from_secs(300),
        connect_timeout: Duration::from_millis(500),
        ..fault_config(&server)
    };
    server.kill();
    let started = Instant::now();
    let b = cache(config.clone()).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "construction waits at most connect_timeout: {:?}",
        started.elapsed()
    );
    b.set("k", &0u32)
        .await
        .expect("an L1-only write while Redis is down");

    server.restart();
    let writer = cache(config.clone()).await;
    writer.set("k", &1u32).await.expect("set");
    let b_reads = |expected: u32| {
        let b = b.clone();
        async move { b.get::<u32>("k").await.ok().flatten() == Some(expected) }
    };
    assert!(
        eventually(RECOVERY_BOUND * 2, || b_reads(1)).await,
        "B reads Redis once it is up"
    );
    assert!(b.stats().l2_stats.backplane_gaps >= 1, "B subscribed");
    writer.set("k", &2u32).await.expect("set");
    assert!(
        eventually(Duration::from_secs(2), || b_reads(2)).await,
        "B's L1 hears the writer's notice"
    );
}

/// Regression: `close()` with Redis down took seconds: two QUITs one after the other, each
/// waiting out a 1 s bound, and a tracked task's L2 call that nothing expired any more (the
/// deadline ticker had stopped first). Now the QUITs run together, bounded by `l2_timeout`
/// (200 ms here), and the ticker stops last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_with_redis_down_is_prompt() {
    let mut server = RedisServer::start();
    let cache = cache(fault_config(&server)).await;
    cache.set("k", &1u8).await.expect("set");
    server.kill();
    // Until the pool has noticed the connections are gone.
    assert!(
        eventually(Duration::from_secs(5), || async {
            !cache
                .health_check()
                .await
                .l2
                .status
                .eq(&tiered_cache::TierStatus::Up)
        })
        .await
    );
    let started = Instant::now();
    cache.close().await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(800), "close took {took:?}");
}

/// Regression: with Redis hung (SIGSTOP), a first cold `refresh_with` took about three
/// `l2_timeout`s (760-810 ms at 250 ms): its read, lock and write each waited out the timeout.
/// One call has one L2 budget now: after its first timeout, its later L2 steps are skipped.
/// Likewise a `set` with tags (tag marks, then the write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_cold_read_through_costs_one_timeout_against_a_hung_redis() {
    let server = RedisServer::start();
    let config = CacheConfig {
        // Far above the calls below: each starts with a closed breaker.
        circuit_breaker_threshold: 100,
        ..fault_config(&server)
    };
    let cache = cache(config.clone()).await;
    cache.set("warm", &1u8).await.expect("set");
    server.pause();
    let bound = config.l2_timeout + Duration::from_millis(300);
    for i in 0..3 {
        let started = Instant::now();
        let loaded = cache
            .get(&format!("cold-{i}"))
            .refresh_with(move || async move { Ok::<_, String>(i) })
            .await
            .expect("the loader answers");
        assert_eq!(loaded, i);
        let took = started.elapsed();
        assert!(
            took < bound,
            "a cold read-through took {took:?} with Redis paused"
        );
        let started = Instant::now();
        cache
            .set(&format!("tagged-{i}"), &i)
            .tags([format!("tag-{i}")])
            .await
            .expect("set");
        let took = started.elapsed();
        assert!(took < bound, "a tagged set took {took:?} with Redis paused");
    }
    server.resume();
}

/// Regression: with Redis killed and restarted from its AOF, a `set(v2)` made during the outage
/// returned `Ok`, and afterwards the writer, another instance and Redis all returned v1 for the
/// rest of v1's ttl (the writer's L1 was dropped at the resubscription). The write is queued
/// with its stamp and replayed once Redis answers; until then the writer reads it instead of
/// Redis's older value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_set_during_an_outage_wins_once_redis_is_back() {
    let mut server =
        RedisServer::start_with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let url = server.url();
    let config = fault_config(&server);
    let writer = cache(config.clone()).await;
    let other = cache(config).await;
    writer.set("k", &1u32).await.expect("set");
    assert_eq!(other.get::<u32>("k").await.expect("get"), Some(1));

    server.kill();
    assert!(
        eventually(Duration::from_secs(5), || async {
            writer.set("k", &2u32).await.is_ok() && writer.stats().l2_stats.pending_recovery == 1
        })
        .await,
        "the write was queued"
    );
    assert_eq!(writer.get::<u32>("k").await.expect("get"), Some(2));

    server.restart(); // from the AOF: Redis holds v1 again
    let redis_key = format!("{}:default:k", writer.config().key_prefix);
    // The writer never goes back to v1, not even after its resubscription drops its L1.
    let replayed = eventually(Duration::from_secs(10), || async {
        assert_eq!(
            writer.get::<u32>("k").await.expect("get"),
            Some(2),
            "the writer served the value its set replaced"
        );
        writer.stats().l2_stats.pending_recovery == 0
    })
    .await;
    assert!(replayed, "the write was replayed");
    // Only now: right after the restart Redis may still be loading its AOF.
    let raw = raw_client(&url).await;
    let stored: Bytes = raw.get(&redis_key).await.expect("get");
    let stored = tiered_cache::engine::envelope::decode(&stored)
        .expect("an envelope")
        .value::<u32>()
        .expect("a u32");
    assert_eq!(stored, 2, "Redis holds the write");
    assert!(
        eventually(Duration::from_secs(5), || async {
            other.get::<u32>("k").await.expect("get") == Some(2)
        })
        .await,
        "the other instance sees it (the replay's notice)"
    );
}

/// Regression: a lock taken just before Redis was killed survived its restart from the AOF
/// (its release had failed), and for up to `lock_ttl` (10 s) every other instance's cold read of
/// the key waited the whole `lock_wait` behind it. The token is kept and released once Redis
/// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_lock_orphaned_by_a_restart_is_released_when_redis_is_back() {
    let mut server =
        RedisServer::start_with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let holder = cache(fault_config(&server)).await;
    let lock_key =
        tiered_cache::engine::layout::Layout::new(&holder.config().key_prefix).lock("default", "k");
    let (go, gate) = tokio::sync::oneshot::channel::<()>();
    let load = {
        let holder = holder.clone();
        tokio::spawn(async move {
            holder
                .get("k")
                .refresh_with(move || async move {
                    let _ = gate.await;
                    Ok::<_, String>(1u32)
                })
                .await
        })
    };
    let exists = |port: u16| support::redis_cli(port, &["EXISTS", &lock_key]).trim() == "1";
    assert!(
        eventually(Duration::from_secs(5), || async { exists(server.port()) }).await,
        "the holder took the lock"
    );
    server.kill();
    let _ = go.send(());
    assert_eq!(load.await.expect("task").expect("the loader answers"), 1);
    // Longer than the release's own attempt (bounded by l2_timeout) takes to give up.
    tokio::time::sleep(Duration::from_millis(600)).await;
    server.restart(); // from the AOF: the lock is back, with the holder's token
    assert!(exists(server.port()), "the restart brought the lock back");
    assert!(
        eventually(Duration::from_secs(3), || async { !exists(server.port()) }).await,
        "the orphaned lock was released (it would live lock_ttl = 10 s)"
    );
}

/// Regression: with Redis SIGKILLed, calls in flight on the dead connections waited out their
/// whole `l2_timeout`, and the breaker opened only after `circuit_breaker_threshold` of them.
/// A dead connection (reset, closed, refused) now opens the breaker on its first error and ends
/// every call in flight at once. Here `l2_timeout` is 2 s: no call may come near it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_killed_redis_fails_calls_at_once_not_at_their_timeout() {
    let mut server = RedisServer::start();
    let config = CacheConfig {
        l2_timeout: Duration::from_secs(2),
        ..fault_config(&server)
    };
    let cache = cache(config).await;
    cache.set("k", &1u32).await.expect("set");
    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..64)
            .map(|_| {
                let (cache, stop) = (cache.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut slowest = Duration::ZERO;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let _ = cache.get::<u32>("k").skip_l1().await;
                        slowest = slowest.max(started.elapsed());
                        tokio::task::yield_now().await;
                    }
                    slowest
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.kill();
        tokio::time::sleep(Duration::from_millis(600)).await;
        stop.store(true, Ordering::Relaxed);
        let mut slowest = Duration::ZERO;
        for reader in readers {
            slowest = slowest.max(reader.await.expect("task"));
        }
        assert!(
            slowest < Duration::from_secs(1),
            "round {round}: a call took {slowest:?} after the kill"
        );
        assert_ne!(cache.stats().l2_stats.circuit_breaker, "closed");
        server.restart();
        assert!(
            eventually(RECOVERY_BOUND, || async {
                cache
                    .get::<u32>(&support::unique("probe"))
                    .skip_l1()
                    .await
                    .is_ok()
                    && cache.stats().l2_stats.circuit_breaker == "closed"
            })
            .await,
            "Redis is used again"
        );
        cache.set("k", &1u32).await.expect("set");
    }
}

/// Regression (measured with the axum service under wrk: a miss-heavy endpoint's p99 went from
/// 60 ms to 150-195 ms when Redis was killed): a cold read-through whose loader was running when
/// Redis died released its load lock with a call of its own that bypassed the breaker and the
/// dead-connection signal, so it waited the whole `l2_timeout` after its loader returned. The
/// release now goes through the tier like every L2 call (the token is kept for the next sync).
/// `l2_timeout` is 2 s: no call may come near it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_lock_held_when_redis_dies_is_released_without_waiting() {
    let mut server = RedisServer::start();
    let config = CacheConfig {
        l2_timeout: Duration::from_secs(2),
        ..fault_config(&server)
    };
    let cache = cache(config).await;
    let loads: Vec<_> = (0..16)
        .map(|i| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let value = cache
                    .get(&format!("held:{i}"))
                    .refresh_with(|| async {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Ok::<_, std::io::Error>(7u32)
                    })
                    .await;
                (value.ok(), started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.kill();
    for load in loads {
        let (value, took) = load.await.expect("task");
        assert_eq!(value, Some(7), "the loader's value is served");
        assert!(
            took < Duration::from_secs(1),
            "a cold read-through took {took:?}: its loader took 300 ms"
        );
    }
    assert!(cache.stats().l2_stats.lock_waits == 0);
}
