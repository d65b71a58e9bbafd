//! The product example with `#[cached]`: `cargo run --example macro`.
//!
//! Uses Redis when `REDIS_URL` is set or a server answers on localhost:6379, and runs L1-only
//! (in-process) otherwise.

mod support;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tiered_cache::{CacheConfig, cached};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Product {
    id: u64,
    name: String,
    price_cents: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Row(Vec<String>);

/// Why a query failed. `Clone`: every caller waiting on one load receives the same error.
#[derive(Clone, Debug)]
struct DbError(String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database error: {}", self.0)
    }
}

impl std::error::Error for DbError {}

/// Looks a product up (a slow database call in real life).
#[cached(key = "product:{product_id}", ttl = 300, namespace = "products")]
async fn get_product_details(product_id: u64) -> Product {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Product {
        id: product_id,
        name: format!("product-{product_id}"),
        price_cents: 1999,
    }
}

/// Runs a query; only `Ok` results are cached.
#[cached(
    key = "query:{table}:{filters_hash}",
    ttl = 600,
    namespace = "database"
)]
async fn execute_query(table: &str, filters_hash: u64) -> Result<Vec<Row>, DbError> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    if table.is_empty() {
        return Err(DbError("no table".into()));
    }
    Ok(vec![Row(vec![table.to_owned(), filters_hash.to_string()])])
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let redis_url = support::redis_url();
    match &redis_url {
        Some(url) => println!("L2: {}", tiered_cache::redact_url(url)),
        None => println!("L2: none found, running L1 only"),
    }
    // Once, at startup, inside the runtime.
    tiered_cache::init(CacheConfig {
        redis_url,
        key_prefix: "macro-example".into(),
        ..Default::default()
    })
    .await?;

    for attempt in 1..=2 {
        let started = Instant::now();
        let product = get_product_details(42).await;
        println!("attempt {attempt}: {product:?} in {:?}", started.elapsed());
    }

    // 100 concurrent calls for a key nobody has loaded: one body run serves them all.
    let started = Instant::now();
    let calls: Vec<_> = (0..100)
        .map(|_| tokio::spawn(get_product_details(7)))
        .collect();
    for call in calls {
        call.await?;
    }
    println!("100 concurrent calls in {:?}", started.elapsed());

    println!("query: {:?}", execute_query("orders", 17).await?);
    println!(
        "failed query (not cached): {:?}",
        execute_query("", 0).await
    );

    // The companions: drop an entry, reload one now, or bypass the cache.
    get_product_details_invalidate(42).await?;
    let fresh = get_product_details_prime(42).await;
    println!("primed: {fresh:?}");
    println!("uncached: {:?}", get_product_details_no_cache(42).await);

    if let Some(cache) = tiered_cache::global_cache() {
        println!("stats: {}", serde_json::to_string_pretty(&cache.stats())?);
        cache.clear_namespace("products").await?;
        cache.clear_namespace("database").await?;
        cache.close().await;
    }
    Ok(())
}
