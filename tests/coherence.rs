//! Many instances, one truth (issue 5), against real Redis, standalone and cluster: the
//! backplane keeps other L1s coherent, a reconnection drops L1, one instance refreshes or loads
//! a key for everyone, tags invalidate across instances, and older loads never overwrite newer
//! invalidations or clears.

#[macro_use]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fred::interfaces::KeysInterface;
use support::{RedisServer, cache, config, eventually, raw_client};
use tiered_cache::{CacheConfig, TieredCache};

/// Far longer than any test: only the backplane (or a reload) can refresh another L1.
const LONG_L1: Duration = Duration::from_secs(300);
/// How long a notice may take to arrive in a test (it takes milliseconds; see the README).
const NOTICE_BOUND: Duration = Duration::from_secs(2);

on_both!(
    writes_invalidations_and_clears_reach_other_l1s,
    tag_invalidation_reaches_every_instance,
    one_instance_refreshes_a_stale_key_for_everyone,
    a_cold_miss_calls_the_origin_once_across_instances,
    a_load_longer_than_lock_ttl_keeps_its_lock,
    a_refresh_that_started_before_an_invalidation_never_writes_back,
    a_load_during_a_namespace_clear_does_not_survive_it,
    starting_up_is_no_gap_and_keeps_l1,
);

/// These tests assert coordination, not speed: a generous L2 timeout keeps a loaded machine
/// from turning a slow Redis call into (correct, but here unwanted) uncoordinated loading.
fn coherent(url: &str) -> CacheConfig {
    CacheConfig {
        l1_ttl: LONG_L1,
        l2_timeout: Duration::from_secs(1),
        ..config(url)
    }
}

async fn instances(config: &CacheConfig, n: usize) -> Vec<TieredCache> {
    let mut caches = Vec::with_capacity(n);
    for _ in 0..n {
        caches.push(cache(config.clone()).await);
    }
    caches
}

async fn pair(config: &CacheConfig) -> (TieredCache, TieredCache) {
    (cache(config.clone()).await, cache(config.clone()).await)
}

/// Whether `cache` sees `expected` under `key` within the notice bound.
async fn sees(cache: &TieredCache, namespace: &str, key: &str, expected: Option<u32>) -> bool {
    eventually(NOTICE_BOUND, || async {
        cache
            .get::<u32>(key)
            .namespace(namespace)
            .await
            .expect("get")
            == expected
    })
    .await
}

async fn writes_invalidations_and_clears_reach_other_l1s(url: &str) {
    let config = coherent(url);
    let (a, b) = pair(&config).await;
    a.set("k", &1u32).namespace("n").await.expect("set");
    a.set("other", &1u32).namespace("m").await.expect("set");
    assert!(sees(&b, "n", "k", Some(1)).await);
    assert!(sees(&b, "m", "other", Some(1)).await);

    a.set("k", &2u32).namespace("n").await.expect("set");
    assert!(sees(&b, "n", "k", Some(2)).await, "a set reaches B's L1");
    a.invalidate("k").namespace("n").await.expect("invalidate");
    assert!(
        sees(&b, "n", "k", None).await,
        "an invalidation reaches B's L1"
    );
    a.set("k", &3u32).namespace("n").await.expect("set");
    assert!(sees(&b, "n", "k", Some(3)).await);
    a.clear_namespace("n").await.expect("clear");
    assert!(
        sees(&b, "n", "k", None).await,
        "a namespace clear reaches B's L1"
    );
    assert!(sees(&b, "m", "other", Some(1)).await);
    a.clear_all().await.expect("clear all");
    assert!(
        sees(&b, "m", "other", None).await,
        "clear_all reaches B's L1"
    );

    assert!(b.stats().l2_stats.notices_received >= 5);
    assert_eq!(
        a.stats().l2_stats.notices_received,
        0,
        "an instance ignores its own notices"
    );
}

async fn tag_invalidation_reaches_every_instance(url: &str) {
    let config = coherent(url);
    let (a, b) = pair(&config).await;
    a.set("p1", &1u32)
        .namespace("products")
        .tags(["supplier:7"])
        .await
        .expect("set");
    a.set("o1", &2u32)
        .namespace("orders")
        .tags(["supplier:7"])
        .await
        .expect("set");
    a.set("p2", &3u32)
        .namespace("products")
        .tags(["supplier:8"])
        .await
        .expect("set");
    assert!(sees(&b, "products", "p1", Some(1)).await);
    assert!(sees(&b, "orders", "o1", Some(2)).await);

    a.invalidate_tag("supplier:7")
        .await
        .expect("invalidate tag");
    assert!(
        sees(&b, "products", "p1", None).await,
        "B's L1 copy is gone"
    );
    assert!(sees(&b, "orders", "o1", None).await, "in every namespace");
    assert!(sees(&b, "products", "p2", Some(3)).await, "other tags stay");

    // An instance without the backplane (and an empty L1) reads the tag mark from Redis.
    let c = cache(CacheConfig {
        backplane: false,
        ..config
    })
    .await;
    assert_eq!(
        c.get::<u32>("p1").namespace("products").await.expect("get"),
        None
    );
    assert_eq!(
        c.get::<u32>("p2").namespace("products").await.expect("get"),
        Some(3)
    );
}

/// Three instances hold a key that turns stale; hundreds of concurrent reads on all of them
/// refresh it once.
async fn one_instance_refreshes_a_stale_key_for_everyone(url: &str) {
    let config = CacheConfig {
        l2_ttl: Duration::from_millis(1500),
        stale_while_revalidate_window: Duration::from_millis(1200),
        ..coherent(url)
    };
    let caches = instances(&config, 3).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let read = |cache: TieredCache, calls: Arc<AtomicUsize>| async move {
        cache
            .get("report")
            .refresh_with(move || async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<_, String>(n as u32)
            })
            .await
            .expect("served")
    };
    for cache in &caches {
        read(cache.clone(), calls.clone()).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one load filled all three");
    tokio::time::sleep(Duration::from_millis(400)).await; // now stale everywhere
    let readers: Vec<_> = (0..300)
        .map(|i| tokio::spawn(read(caches[i % 3].clone(), calls.clone())))
        .collect();
    for reader in readers {
        assert_eq!(reader.await.expect("reader"), 1, "stale is served at once");
    }
    assert!(
        eventually(NOTICE_BOUND, || async {
            let mut all = true;
            for cache in &caches {
                all &= read(cache.clone(), calls.clone()).await == 2;
            }
            all
        })
        .await,
        "every instance sees the refreshed value"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "exactly one refresh for all instances"
    );
}

/// Starting up is no gap (regression: a normal start counted one): nothing was cached before
/// the first subscription, and on a cluster connecting to the other primaries is no gap either;
/// what an instance cached right after start stays in its L1.
async fn starting_up_is_no_gap_and_keeps_l1(url: &str) {
    let cache = cache(coherent(url)).await;
    cache.set("k", &1u32).await.expect("set");
    // Long enough for every primary's connection to have reported itself.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let l1_hits = cache.stats().l1_stats.hits;
    assert_eq!(cache.get::<u32>("k").await.expect("get"), Some(1));
    let stats = cache.stats();
    assert_eq!(
        stats.l2_stats.backplane_gaps, 0,
        "the first subscription is no gap"
    );
    assert_eq!(stats.l1_stats.hits, l1_hits + 1, "L1 was not dropped");
}

/// Three instances, hundreds of callers, a cold key: the origin sees one call.
async fn a_cold_miss_calls_the_origin_once_across_instances(url: &str) {
    let caches = instances(&coherent(url), 3).await;
    let gaps = |caches: &[TieredCache]| -> u64 {
        caches
            .iter()
            .map(|c| c.stats().l2_stats.backplane_gaps)
            .sum()
    };
    let gaps_before = gaps(&caches);
    let calls = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..300)
        .map(|i| {
            let cache = caches[i % 3].clone();
            let calls = calls.clone();
            tokio::spawn(async move {
                cache
                    .get("cold")
                    .refresh_with(move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Ok::<_, String>(42u32)
                    })
                    .await
                    .expect("value")
            })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.expect("caller"), 42);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one origin call for three instances"
    );
    // Usually both other instances wait for the lock holder; one that starts after the value
    // landed in Redis just reads it. A backplane gap (a subscriber reconnecting, which a busy
    // cluster does) detaches an instance's flight, so its next caller waits once more.
    let waited: u64 = caches.iter().map(|c| c.stats().l2_stats.lock_waits).sum();
    let new_gaps = gaps(&caches) - gaps_before;
    assert!(
        waited <= 2 + new_gaps,
        "at most the two other instances wait (plus one per backplane gap: {new_gaps}), got {waited}"
    );
}

/// Regression: the load lock lasted `lock_ttl` however long its loader ran, so a load slower
/// than `lock_ttl` lost its lock and the waiting instance loaded too. The holder now renews it
/// every third of `lock_ttl` while its loader runs (which lets `lock_ttl` be short: a holder
/// that dies blocks the others for at most that).
async fn a_load_longer_than_lock_ttl_keeps_its_lock(url: &str) {
    let config = CacheConfig {
        lock_ttl: Duration::from_millis(300),
        lock_wait: Duration::from_secs(5),
        ..coherent(url)
    };
    let (a, b) = pair(&config).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = {
        let calls = calls.clone();
        tokio::spawn(async move {
            a.get("slow")
                .refresh_with(move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1_200)).await;
                    Ok::<_, String>(1u32)
                })
                .await
                .expect("value")
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let calls_b = calls.clone();
    let waited = b
        .get("slow")
        .refresh_with(move || async move {
            calls_b.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(2u32)
        })
        .await
        .expect("value");
    assert_eq!(slow.await.expect("loader task"), 1);
    assert_eq!(waited, 1, "B waited for A's value");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one origin call");
}

/// A starts a refresh; B invalidates; A's refresh finishes: nothing of it is cached anywhere.
async fn a_refresh_that_started_before_an_invalidation_never_writes_back(url: &str) {
    let config = CacheConfig {
        l2_ttl: Duration::from_secs(60),
        stale_while_revalidate_window: Duration::from_secs(59),
        ..coherent(url)
    };
    let (a, b) = pair(&config).await;
    a.set("k", &1u32).await.expect("set");
    tokio::time::sleep(Duration::from_millis(1100)).await; // stale
    let refreshed = Arc::new(AtomicUsize::new(0));
    let done = refreshed.clone();
    let stale = a
        .get("k")
        .refresh_with(move || async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            done.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(99u32)
        })
        .await
        .expect("stale served");
    assert_eq!(stale, 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.invalidate("k").await.expect("invalidate");
    assert!(
        eventually(NOTICE_BOUND, || async {
            refreshed.load(Ordering::SeqCst) == 1
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(a.get::<u32>("k").await.expect("get"), None, "not in A's L1");
    assert_eq!(b.get::<u32>("k").await.expect("get"), None, "not in B's L1");
    let c = cache(config).await;
    assert_eq!(c.get::<u32>("k").await.expect("get"), None, "not in L2");
}

/// A clears a namespace while B is loading a key in it: B's result does not survive the clear.
async fn a_load_during_a_namespace_clear_does_not_survive_it(url: &str) {
    let config = coherent(url);
    let (a, b) = pair(&config).await;
    let loading = {
        let b = b.clone();
        tokio::spawn(async move {
            b.get("k")
                .namespace("catalog")
                .refresh_with(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, String>(7u32)
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.clear_namespace("catalog").await.expect("clear");
    assert_eq!(
        loading
            .await
            .expect("task")
            .expect("B's caller gets its value"),
        7
    );
    assert_eq!(
        b.get::<u32>("k").namespace("catalog").await.expect("get"),
        None,
        "not in B's L1"
    );
    assert_eq!(
        a.get::<u32>("k").namespace("catalog").await.expect("get"),
        None,
        "not via L2"
    );
    let c = cache(config).await;
    assert_eq!(
        c.get::<u32>("k").namespace("catalog").await.expect("get"),
        None
    );
}

/// Notices sent while B's subscription is down are lost; after it reconnects B must not trust
/// L1 copies from before the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_backplane_gap_l1_copies_are_checked_against_l2() {
    let mut server = RedisServer::start();
    let url = server.url();
    let config = coherent(&url);
    let b = cache(config.clone()).await;
    let writer = cache(config.clone()).await;
    writer.set("k", &1u32).await.expect("set");
    assert_eq!(
        b.get::<u32>("k").await.expect("get"),
        Some(1),
        "in B's L1 now"
    );
    let gaps_before = b.stats().l2_stats.backplane_gaps;

    server.kill();
    server.restart(); // empty: the write below is the only thing in Redis
    assert!(
        eventually(Duration::from_secs(5), || async {
            b.stats().l2_stats.backplane_gaps > gaps_before
        })
        .await,
        "B noticed the reconnection"
    );
    // Written behind the backplane's back (no notice), like a notice lost in the gap.
    let silent = cache(CacheConfig {
        backplane: false,
        ..config
    })
    .await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            silent.set("k", &2u32).await.is_ok() && {
                let raw = raw_client(&url).await;
                let stored: Option<bytes::Bytes> = raw
                    .get(format!("{}:default:k", silent.config().key_prefix))
                    .await
                    .unwrap_or(None);
                stored.is_some()
            }
        })
        .await
    );
    assert!(
        sees(&b, "default", "k", Some(2)).await,
        "B re-read L2 instead of trusting its old copy"
    );
}

/// On a cluster (its own: the fault would disturb other tests), the server drops the
/// subscription connection: the instance counts a gap, resubscribes, and other instances' writes
/// reach its L1 again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_lost_subscription_is_a_gap_and_notices_resume() {
    let cluster = support::RedisCluster::start();
    let config = coherent(&cluster.url());
    let (writer, b) = pair(&config).await;
    writer.set("k", &1u32).await.expect("set");
    assert!(sees(&b, "default", "k", Some(1)).await, "in B's L1 now");
    let gaps_before = b.stats().l2_stats.backplane_gaps;

    for node in &cluster.nodes {
        support::redis_cli(node.port(), &["CLIENT", "KILL", "TYPE", "pubsub"]);
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            b.stats().l2_stats.backplane_gaps > gaps_before
        })
        .await,
        "B noticed that its subscription was gone"
    );
    // The gap dropped B's L1; read k into it again. From now on only a notice can change what
    // B's L1 answers (for `LONG_L1`).
    assert_eq!(b.get::<u32>("k").await.expect("get"), Some(1));
    writer.set("k", &2u32).await.expect("set");
    assert!(
        sees(&b, "default", "k", Some(2)).await,
        "notices reach B again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_ttl_and_jitter_show_in_redis() {
    let redis = support::test_redis();
    let config = CacheConfig {
        ttl_jitter: 0.5,
        ..config(&redis.url())
    };
    let cache = cache(config).await;
    let raw = raw_client(&redis.url()).await;
    let prefix = cache.config().key_prefix.clone();
    let missing: Option<u32> = cache
        .get("user:404")
        .refresh_with(|| async { Ok::<_, String>(None) })
        .ttl(Duration::from_secs(600))
        .negative_ttl(Duration::from_secs(30))
        .await
        .expect("loads");
    assert_eq!(missing, None);
    let pttl: i64 = raw
        .pttl(format!("{prefix}:default:user:404"))
        .await
        .expect("pttl");
    assert!(
        (29_000..=45_000).contains(&pttl),
        "a miss lives the negative ttl (+ jitter): {pttl}"
    );

    let mut ttls = Vec::new();
    for i in 0..20 {
        cache
            .set(&format!("j{i}"), &i)
            .ttl(Duration::from_secs(100))
            .await
            .expect("set");
        let pttl: i64 = raw
            .pttl(format!("{prefix}:default:j{i}"))
            .await
            .expect("pttl");
        assert!((99_000..=150_000).contains(&pttl), "{pttl}");
        ttls.push(pttl / 1000);
    }
    ttls.sort_unstable();
    ttls.dedup();
    assert!(ttls.len() > 5, "jitter spreads the ttls: {ttls:?}");
}

/// Calls of `command` the server has answered so far (`INFO commandstats`).
fn command_calls(port: u16, command: &str) -> u64 {
    let stats = support::redis_cli(port, &["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{command}:calls=");
    stats
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

/// Regression: an instance waiting for another instance's load polled Redis (a GET and a lock
/// attempt) every 10 ms for up to `lock_wait`. It is woken by the notice the winner's write
/// publishes, and polls only as a slow fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_waiting_instance_is_woken_by_the_notice_not_by_polling() {
    let server = RedisServer::start();
    // The clear-mark sync runs a script too: slow it down so only the wait is counted.
    let config = CacheConfig {
        sync_interval: Duration::from_secs(10),
        ..coherent(&server.url())
    };
    let (a, b) = pair(&config).await;
    let (loading, is_loading) = tokio::sync::oneshot::channel();
    let leader = tokio::spawn(async move {
        a.get("k")
            .refresh_with(move || async move {
                let _ = loading.send(());
                tokio::time::sleep(Duration::from_millis(600)).await;
                Ok::<_, String>(1u32)
            })
            .await
    });
    is_loading.await.expect("A is loading and holds the lock");
    let port = server.port();
    let before = command_calls(port, "get") + command_calls(port, "evalsha");
    let origin = Arc::new(AtomicUsize::new(0));
    let waited = b
        .get("k")
        .refresh_with({
            let origin = origin.clone();
            move || async move {
                origin.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(2u32)
            }
        })
        .await
        .expect("load");
    let commands = command_calls(port, "get") + command_calls(port, "evalsha") - before;
    assert_eq!(leader.await.expect("task").expect("load"), 1);
    assert_eq!(waited, 1, "B got A's value");
    assert_eq!(
        origin.load(Ordering::SeqCst),
        0,
        "B never called the origin"
    );
    assert_eq!(b.stats().l2_stats.lock_waits, 1);
    // 600 ms of waiting: about a hundred GET + EVALSHA when polling every 10 ms.
    assert!(commands < 40, "{commands} GET/EVALSHA while B waited");
}

/// Regression: every (re)subscription dropped all of L1, so an instance whose subscription came
/// back while Redis was still struggling sent every read to the origin at once. Now the copies
/// stay and are checked against Redis on their next read; when Redis cannot answer, the copy is
/// served. Here: a gap, then Redis hangs (SIGSTOP); 300 warm keys are read with no origin call
/// (300 before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_backplane_gap_does_not_send_reads_to_the_origin() {
    const KEYS: u32 = 300;
    let server = RedisServer::start();
    let cache = cache(CacheConfig {
        l2_timeout: Duration::from_millis(100),
        circuit_breaker_cooldown: Duration::from_secs(30),
        ..coherent(&server.url())
    })
    .await;
    let origin = Arc::new(AtomicUsize::new(0));
    let read_all = |cache: TieredCache, origin: Arc<AtomicUsize>| async move {
        for i in 0..KEYS {
            let origin = origin.clone();
            let value = cache
                .get(&format!("k{i}"))
                .refresh_with(move || async move {
                    origin.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(i)
                })
                .await
                .expect("load");
            assert_eq!(value, i);
        }
    };
    read_all(cache.clone(), origin.clone()).await;
    assert_eq!(
        origin.load(Ordering::SeqCst),
        KEYS as usize,
        "warm: one load per key"
    );
    let gaps = cache.stats().l2_stats.backplane_gaps;
    support::redis_cli(server.port(), &["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert!(
        eventually(Duration::from_secs(5), || async {
            cache.stats().l2_stats.backplane_gaps > gaps
        })
        .await,
        "the instance saw the gap"
    );
    server.pause();
    read_all(cache.clone(), origin.clone()).await;
    server.resume();
    assert_eq!(
        origin.load(Ordering::SeqCst),
        KEYS as usize,
        "no origin call after the gap: the copies answered"
    );
}
