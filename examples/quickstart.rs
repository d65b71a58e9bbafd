//! The first program to run: `cargo run --example quickstart`.
//!
//! Uses Redis when `REDIS_URL` is set or a server answers on localhost:6379, and runs L1-only
//! (in-process) otherwise.

mod support;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tiered_cache::{CacheConfig, TieredCache};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

/// Stands in for a database call.
async fn fetch_user(id: u64) -> Result<User, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(User {
        id,
        name: format!("user-{id}"),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let redis_url = support::redis_url();
    match &redis_url {
        Some(url) => println!("L2: {}", tiered_cache::redact_url(url)),
        None => println!("L2: none found, running L1 only"),
    }
    let cache = TieredCache::new(CacheConfig {
        l1_max_size: 1000,
        l1_ttl: Duration::from_secs(300),
        l2_ttl: Duration::from_secs(3600),
        stale_while_revalidate_window: Duration::from_secs(60),
        redis_url,
        key_prefix: "quickstart".into(),
        ..Default::default()
    })
    .await?;

    // Write and read a value.
    let ada = User {
        id: 1,
        name: "Ada".into(),
    };
    cache
        .set("user:1", &ada)
        .namespace("users")
        .ttl(Duration::from_secs(300))
        .await?;
    let hit: Option<User> = cache.get("user:1").namespace("users").await?;
    println!("get user:1 -> {hit:?}");

    // Read through a loader: the first call runs it, the second is a hit.
    for attempt in 1..=2 {
        let started = Instant::now();
        let user: User = cache
            .get("user:123")
            .namespace("users")
            .refresh_with(|| fetch_user(123))
            .await?;
        println!("attempt {attempt}: {user:?} in {:?}", started.elapsed());
    }

    cache.invalidate("user:123").namespace("users").await?;
    println!(
        "after invalidate: {:?}",
        cache.get::<User>("user:123").namespace("users").await?
    );

    println!("stats: {}", serde_json::to_string_pretty(&cache.stats())?);
    println!(
        "health: {}",
        serde_json::to_string_pretty(&cache.health_check().await)?
    );
    cache.clear_namespace("users").await?;
    cache.close().await;
    Ok(())
}
