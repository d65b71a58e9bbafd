//! Stale-while-revalidate with a background refresh: `cargo run --example swr`.
//!
//! An entry with ttl 3 s and a 2 s stale window is fresh for 1 s, then stale. A stale read
//! returns at once while one background refresh (a 1 s loader) runs; the next read after it
//! finishes sees the new value. L1 only, so no Redis is needed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tiered_cache::{CacheConfig, TieredCache};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cache = TieredCache::new(CacheConfig {
        redis_url: None,
        l2_ttl: Duration::from_secs(3),
        stale_while_revalidate_window: Duration::from_secs(2),
        enable_swr: true,
        background_refresh: true,
        ..Default::default()
    })
    .await?;
    let version = Arc::new(AtomicU32::new(0));
    let t0 = Instant::now();

    for _ in 0..6 {
        let started = Instant::now();
        let counter = version.clone();
        let value: String = cache
            .get("report")
            .refresh_with(move || async move {
                // A slow origin: one second per call.
                tokio::time::sleep(Duration::from_secs(1)).await;
                let v = counter.fetch_add(1, Ordering::SeqCst) + 1;
                Ok::<_, std::io::Error>(format!("report v{v}"))
            })
            .await?;
        let at = started.duration_since(t0).as_secs_f64();
        println!(
            "t={at:4.1}s  got {value:<10} in {:>9.3?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let stats = cache.stats();
    println!(
        "stale hits {}, background refreshes {}, loader calls {}",
        stats.swr_stats.stale_hits,
        stats.swr_stats.background_refreshes,
        stats.overall_stats.loader_calls
    );
    cache.close().await;
    Ok(())
}
