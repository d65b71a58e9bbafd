//! Helpers shared by the engine's test binaries: an L1-only cache on a paused tokio clock.
#![allow(dead_code)]

use std::time::Duration;

use tiered_cache_core::{CacheConfig, Clock, TieredCache};

pub mod memory_l2;

pub const SECOND: Duration = Duration::from_secs(1);

/// The seed's timeline: ttl 300 s, stale from 240 s.
pub fn seed() -> CacheConfig {
    CacheConfig {
        l2_ttl: 300 * SECOND,
        stale_while_revalidate_window: 60 * SECOND,
        ..Default::default()
    }
}

/// An L1-only cache whose clock follows tokio's (pause it with `start_paused`).
pub async fn cache_with(config: CacheConfig) -> TieredCache {
    TieredCache::builder(CacheConfig {
        redis_url: None,
        ..config
    })
    .clock(Clock::tokio())
    .build()
    .await
    .expect("valid config")
}

/// Lets spawned tasks (background refreshes) run until they wait on something.
pub async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}
