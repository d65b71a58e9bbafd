//! What per-tenant namespaces cost as they pile up: `N` namespaces each set once and cleared,
//! timed per thousand (the cost must stay flat); the clear marks Redis holds; how long a new
//! instance takes to start against all of them; and the marks once they can no longer matter
//! (every entry they cover has expired, so they are pruned).
//!
//! ```sh
//! cargo run --release -p tiered-cache-bench --bin namespace-churn -- 100000       # max_ttl 2 s
//! cargo run --release -p tiered-cache-bench --bin namespace-churn -- 100000 3600  # marks kept
//! ```

// Shared with the main bench binary, which uses all of it.
#[allow(dead_code)]
#[path = "../redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use fred::interfaces::{ClientLike, HashesInterface};
use tiered_cache::{CacheConfig, TieredCache};

/// What the shared bench modules expect.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> BenchResult<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(Ok(100_000), |arg| arg.parse())?;
    let max_ttl: u64 = std::env::args().nth(2).map_or(Ok(2), |arg| arg.parse())?;
    let redis = redis_server::Redis::start()?;
    let prefix = format!("churn{}", std::process::id());
    let config = CacheConfig {
        redis_url: Some(redis.url().to_owned()),
        key_prefix: prefix.clone(),
        max_ttl: Duration::from_secs(max_ttl),
        l2_ttl: Duration::from_secs(1),
        stale_while_revalidate_window: Duration::from_millis(200),
        sync_interval: Duration::from_millis(250),
        ..Default::default()
    };
    let cache = TieredCache::new(config.clone()).await?;
    let mut per_thousand = Vec::with_capacity(n / 1000 + 1);
    let mut batch = Instant::now();
    for i in 0..n {
        let namespace = format!("tenant-{i}");
        cache.set("k", &(i as u64)).namespace(&namespace).await?;
        cache.clear_namespace(&namespace).await?;
        if (i + 1) % 1000 == 0 {
            per_thousand.push(batch.elapsed());
            batch = Instant::now();
        }
    }
    let micros = |d: Duration| d.as_secs_f64() * 1e6 / 1000.0;
    let (Some(first), Some(last)) = (per_thousand.first(), per_thousand.last()) else {
        return Err("run at least 1000 namespaces".into());
    };
    println!("namespaces: {n}");
    println!(
        "set + clear_namespace, mean per namespace: first 1000 {:.0} us, last 1000 {:.0} us (last/first {:.2})",
        micros(*first),
        micros(*last),
        last.as_secs_f64() / first.as_secs_f64()
    );
    let raw =
        fred::types::Builder::from_config(fred::types::config::Config::from_url(redis.url())?)
            .build()?;
    raw.init().await?;
    let marks_key = format!("{prefix}:{{#clears}}");
    let marks: u64 = raw.hlen(&marks_key).await?;
    println!("clear marks in Redis right after: {marks}");
    let started = Instant::now();
    let fresh = TieredCache::new(config.clone()).await?;
    println!(
        "a new instance's TieredCache::new against them: {:.0} ms (connect_timeout {:?})",
        started.elapsed().as_secs_f64() * 1e3,
        config.connect_timeout
    );
    let probe = fresh
        .get::<u64>("k")
        .namespace(&format!("tenant-{}", n - 1))
        .await?;
    println!("the new instance reads a cleared entry as: {probe:?}");
    if max_ttl > 10 {
        return Ok(());
    }
    // max_ttl + sync_interval 0.25 s + l2_timeout 0.25 s + 1 s, then a few syncs.
    tokio::time::sleep(Duration::from_secs(max_ttl + 3)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut left: u64 = raw.hlen(&marks_key).await?;
    while left > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        left = raw.hlen(&marks_key).await?;
    }
    println!("clear marks once they cannot matter: {left}");
    fresh.close().await;
    cache.close().await;
    Ok(())
}
