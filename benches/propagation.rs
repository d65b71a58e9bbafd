//! Backplane propagation: from instance A's `set` returning until instance B's `get` returns
//! the new value (B's L1 held the old one; `l1_ttl` is 5 minutes, so only the backplane can
//! explain the change). Two instances in one process, one Redis it starts itself (or
//! `REDIS_URL`). `cargo bench -p tiered-cache-bench --bench propagation [-- --trials N]`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use tiered_cache::{CacheConfig, TieredCache};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let trials: usize = std::env::args()
        .skip_while(|arg| arg != "--trials")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let redis = support::test_redis();
    let config = CacheConfig {
        l1_ttl: Duration::from_secs(300),
        ..support::config(&redis.url())
    };
    let a = TieredCache::new(config.clone()).await.expect("instance A");
    let b = TieredCache::new(config.clone()).await.expect("instance B");

    let mut samples = Vec::with_capacity(trials);
    for i in 0..trials as u64 {
        let key = format!("k{}", i % 16);
        a.set(&key, &i).await.expect("set");
        // B holds the old value in L1 (a hit), or loads the new one on first sight.
        let _ = b.get::<u64>(&key).await.expect("get");
        a.set(&key, &(i + 1_000_000)).await.expect("set");
        let written = Instant::now();
        loop {
            if b.get::<u64>(&key).await.expect("get") == Some(i + 1_000_000) {
                break;
            }
            tokio::task::yield_now().await;
            if written.elapsed() > Duration::from_secs(5) {
                panic!("trial {i}: B never saw the write");
            }
        }
        samples.push(written.elapsed());
    }
    samples.sort_unstable();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "backplane propagation over {trials} trials (A's set returned -> B's get returns the new value):"
    );
    println!("| median | p90 | p99 | max |");
    println!("|---|---|---|---|");
    println!(
        "| {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |",
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(pick(0.99)),
        ms(pick(1.0))
    );
    println!(
        "notices received by B: {}",
        b.stats().l2_stats.notices_received
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
