//! What a Redis restart costs the origin: 3 instances with a warm L1 of `KEYS` keys each, read
//! at random by 16 tasks per instance, while Redis is SIGKILLed for 1 s and restarted, once from
//! its append-only file (its data back) and once empty. Reports origin calls during the outage
//! and in the first seconds after the restart.
//!
//! Each restart is a backplane gap: notices may have been missed, so an instance trusts none of
//! its L1 copies until it has checked each against Redis (one round trip, no origin call when
//! Redis still holds it). A copy Redis no longer holds is loaded again (absent cannot be told
//! from invalidated), so the empty restart costs what dropping L1 at every gap used to cost on
//! every restart.
//!
//! ```sh
//! cargo run --release -p tiered-cache-bench --bin restart -- 10000
//! ```

// Shared with the main bench binary, which uses all of it.
#[allow(dead_code)]
#[path = "../redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tiered_cache::{CacheConfig, TieredCache};

/// What the shared bench modules expect.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const INSTANCES: usize = 3;
const TASKS: usize = 16;
const OUTAGE: Duration = Duration::from_secs(1);
const AFTER: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Counts {
    origin: AtomicU64,
    reads: AtomicU64,
    errors: AtomicU64,
}

async fn read(cache: &TieredCache, counts: &Arc<Counts>, key: u64) {
    let origin = counts.clone();
    let result = cache
        .get(&format!("k:{key}"))
        .namespace("restart")
        .refresh_with(move || async move {
            origin.origin.fetch_add(1, Ordering::Relaxed);
            Ok::<_, std::io::Error>(key)
        })
        .await;
    counts.reads.fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(value) if value == key => {}
        _ => {
            counts.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Report {
    mode: &'static str,
    warm_origin: u64,
    outage_origin: u64,
    after: Vec<(Duration, u64)>,
    reads: u64,
    errors: u64,
    l2_hits_after: u64,
    gaps: u64,
}

async fn run(mode: &'static str, persistent: bool, keys: u64) -> BenchResult<Report> {
    let mut redis = if persistent {
        redis_server::Redis::start_own_persistent()?
    } else {
        redis_server::Redis::start_own()?
    };
    let config = CacheConfig {
        name: "restart".into(),
        redis_url: Some(redis.url().to_owned()),
        key_prefix: format!("restart{}", std::process::id()),
        l1_max_size: (keys as usize) * 2,
        l1_ttl: Duration::from_secs(600),
        l2_ttl: Duration::from_secs(600),
        stale_while_revalidate_window: Duration::from_secs(60),
        circuit_breaker_cooldown: Duration::from_millis(200),
        ..Default::default()
    };
    let mut caches = Vec::with_capacity(INSTANCES);
    for _ in 0..INSTANCES {
        caches.push(TieredCache::new(config.clone()).await?);
    }
    let counts = Arc::new(Counts::default());
    // Warm: the first instance loads every key, the others read them from Redis.
    for cache in &caches {
        futures::stream::iter(0..keys)
            .for_each_concurrent(64, |key| read(cache, &counts, key))
            .await;
    }
    let warm_origin = counts.origin.swap(0, Ordering::Relaxed);
    let l2_hits_before: u64 = caches.iter().map(|c| c.stats().l2_stats.hits).sum();

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, cache) in caches.iter().enumerate() {
        for t in 0..TASKS {
            let (cache, counts, stop) = (cache.clone(), counts.clone(), stop.clone());
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ ((i * TASKS + t) as u64 + 1);
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    // xorshift64: a uniform key, no shared RNG on the hot loop.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    read(&cache, &counts, state % keys).await;
                    tokio::task::yield_now().await;
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_kill = counts.origin.load(Ordering::Relaxed);
    redis.kill();
    tokio::time::sleep(OUTAGE).await;
    redis.restart()?;
    let restarted = Instant::now();
    let outage_origin = counts.origin.load(Ordering::Relaxed) - before_kill;
    let mut after = Vec::new();
    let base = counts.origin.load(Ordering::Relaxed);
    for mark in [1u64, 2, 3, 4, 5] {
        let at = Duration::from_secs(mark);
        tokio::time::sleep(at.saturating_sub(restarted.elapsed())).await;
        after.push((at, counts.origin.load(Ordering::Relaxed) - base));
    }
    debug_assert!(restarted.elapsed() >= AFTER);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await?;
    }
    let l2_hits_after =
        caches.iter().map(|c| c.stats().l2_stats.hits).sum::<u64>() - l2_hits_before;
    let gaps = caches
        .iter()
        .map(|c| c.stats().l2_stats.backplane_gaps)
        .sum();
    for cache in &caches {
        cache.close().await;
    }
    Ok(Report {
        mode,
        warm_origin,
        outage_origin,
        after,
        reads: counts.reads.load(Ordering::Relaxed),
        errors: counts.errors.load(Ordering::Relaxed),
        l2_hits_after,
        gaps,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> BenchResult<()> {
    let keys: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(10_000), |arg| arg.parse())?;
    if keys == 0 {
        return Err("give at least one key".into());
    }
    let mut reports = Vec::new();
    for (mode, persistent) in [("restarted from its AOF", true), ("restarted empty", false)] {
        reports.push(run(mode, persistent, keys).await?);
    }
    println!(
        "{INSTANCES} instances x {TASKS} tasks, {keys} keys warm in every L1, Redis SIGKILLed for {} s",
        OUTAGE.as_secs()
    );
    println!();
    println!(
        "| Redis | warm-up origin calls | during the outage | first 1 s after | 2 s | 5 s | L2 hits after | gaps | reads | caller errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &reports {
        let at = |s: u64| {
            r.after
                .iter()
                .find(|(d, _)| d.as_secs() == s)
                .map_or(0, |(_, n)| *n)
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.mode,
            r.warm_origin,
            r.outage_origin,
            at(1),
            at(2),
            at(5),
            r.l2_hits_after,
            r.gaps,
            r.reads,
            r.errors
        );
    }
    Ok(())
}
