//! What a `#[cached]` function says about its calls, against a real `redis-server`: where each
//! answer came from (`{fn}_with_meta`), its own counters (`{fn}_stats`), its key
//! (`{fn}_key`), and the warning when two functions build the same keys.
#![deny(clippy::pedantic)]

#[allow(clippy::pedantic)]
mod support;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use support::{cache, cache_with_clock, config, eventually, redis_cli, test_redis};
use tiered_cache::source::{Freshness, Tier};
use tiered_cache::{CallMeta, Clock, Source, TieredCache, cached};

/// A shop whose prices are cached in its own cache (two shops on one Redis share L2).
#[derive(Clone)]
struct Shop {
    cache: TieredCache,
    runs: Arc<AtomicUsize>,
}

impl Shop {
    #[cached(key = "price:{id}", ttl = 300, stale = 60, namespace = "shop", cache = self.cache)]
    async fn price(&self, id: u64) -> u64 {
        self.runs.fetch_add(1, Ordering::SeqCst);
        // Long enough for ten spawned callers to join one load.
        tokio::time::sleep(Duration::from_millis(300)).await;
        id * 100
    }

    #[cached(key = "name:{label}", namespace = "shop", cache = self.cache)]
    async fn name(&self, label: &str) -> Result<String, String> {
        if label.is_empty() {
            return Err("empty label".to_owned());
        }
        Ok(label.to_uppercase())
    }
}

fn tier(meta: CallMeta) -> Option<(Tier, Freshness, bool)> {
    meta.source()
        .map(|source| (source.tier(), source.freshness(), source.is_coalesced()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_meta_says_where_each_answer_came_from() {
    let redis = test_redis();
    let (clock, hand) = Clock::manual(1_000_000);
    let config = config(&redis.url());
    let here = Shop {
        cache: cache_with_clock(config.clone(), clock.clone()).await,
        runs: Arc::default(),
    };
    let there = Shop {
        cache: cache_with_clock(config, clock).await,
        runs: Arc::default(),
    };

    let (price, meta) = here.price_with_meta(1).await;
    assert_eq!(
        (price, tier(meta)),
        (100, Some((Tier::Loader, Freshness::Loaded, false)))
    );
    assert!(!meta.was_cached());
    let (_, meta) = here.price_with_meta(1).await;
    assert_eq!(tier(meta), Some((Tier::L1, Freshness::Fresh, false)));
    assert_eq!(meta.to_string(), "L1 fresh");
    let (price, meta) = there.price_with_meta(1).await;
    assert_eq!(
        (price, tier(meta)),
        (100, Some((Tier::L2, Freshness::Fresh, false)))
    );
    assert!(meta.was_cached());
    assert_eq!(
        there.price(1).await,
        100,
        "now in the other instance's L1 too"
    );

    hand.advance(Duration::from_secs(250)); // ttl 300 s, stale 60 s
    let (_, meta) = here.price_with_meta(1).await;
    assert_eq!(tier(meta), Some((Tier::L1, Freshness::Stale, false)));
    assert!(meta.was_cached(), "stale is still served from the cache");

    // Ten callers of a cold key: one load, nine callers waiting on it.
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let here = here.clone();
            tokio::spawn(async move { here.price_with_meta(2).await.1 })
        })
        .collect();
    let mut sources = Vec::new();
    for caller in callers {
        sources.push(caller.await.expect("task").source());
    }
    let loaded = Some(Source::loaded());
    assert_eq!(sources.iter().filter(|s| **s == loaded).count(), 1);
    assert_eq!(
        sources
            .iter()
            .filter(|s| **s == loaded.map(Source::coalesced))
            .count(),
        9,
        "{sources:?}"
    );

    // An `Err` and a refused call: no source, the body's own result.
    let (error, meta) = here.name_with_meta("").await;
    assert_eq!(
        (error, meta.source()),
        (Err("empty label".to_owned()), None)
    );
    let long = "x".repeat(5000);
    let (name, meta) = here.name_with_meta(&long).await;
    assert_eq!(
        (name.map(|n| n.len()), meta.to_string()),
        (Ok(5000), "uncached".to_owned())
    );
    let (_, meta) = here.name_with_meta("ok").await;
    assert_eq!(tier(meta), Some((Tier::Loader, Freshness::Loaded, false)));
}

static STOCK_CACHE: OnceLock<TieredCache> = OnceLock::new();
static STOCK_RUNS: AtomicUsize = AtomicUsize::new(0);

fn stock_cache() -> &'static TieredCache {
    STOCK_CACHE.get().expect("installed by the test")
}

#[cached(key = "stock:{shelf}:{id}", namespace = "inventory", cache = stock_cache)]
async fn stock(shelf: &str, id: u64) -> u32 {
    STOCK_RUNS.fetch_add(1, Ordering::SeqCst);
    let _ = shelf;
    u32::try_from(id).unwrap_or(u32::MAX)
}

#[cached(key = "restock:{id}", namespace = "inventory", cache = stock_cache)]
async fn restock(id: u64) -> u32 {
    u32::try_from(id).unwrap_or(u32::MAX)
}

#[tokio::test]
async fn each_function_counts_its_own_calls_and_names_its_keys() {
    let redis = test_redis();
    let config = config(&redis.url());
    let prefix = config.key_prefix.clone();
    assert!(STOCK_CACHE.set(cache(config).await).is_ok());

    assert_eq!(stock_key("a:b", &7), "stock:a%3Ab:7");
    assert_eq!(stock("a:b", 7).await, 7); // miss, load
    assert_eq!(stock("a:b", 7).await, 7); // hit
    assert_eq!(stock("c", 8).await, 8); // miss, load
    assert_eq!(stock("a:b", 7).await, 7); // hit
    let stats = stock_stats();
    assert_eq!((stats.hits(), stats.misses(), stats.loads()), (2, 2, 2));
    assert_eq!((stats.calls(), stats.hit_rate()), (4, 0.5));
    assert_eq!(STOCK_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(
        restock_stats().calls(),
        0,
        "another function, its own counters"
    );

    // The key is what the cache and Redis hold.
    let key = stock_key("a:b", &7);
    assert_eq!(
        stock_cache().get::<u32>(&key).namespace("inventory").await,
        Ok(Some(7))
    );
    let port = redis
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let redis_key = format!("{prefix}:inventory:{key}");
    assert_eq!(
        redis_cli(port, &["EXISTS", &redis_key]).trim(),
        "1",
        "{redis_key}"
    );

    // Companions are not calls: `_no_cache` and `_prime` count nothing but `_prime`'s write.
    assert_eq!(stock_no_cache("c", 8).await, 8);
    assert_eq!(stock_prime("c", 8).await, 8);
    assert_eq!((stats.calls(), stats.loads()), (4, 2));
    stock_invalidate("c", 8).await.expect("valid key");
    assert_eq!(stock("c", 8).await, 8);
    assert_eq!((stats.misses(), stats.loads()), (3, 3));
}

/// Everything the subscriber writes, as text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn lines(&self, needle: &str) -> Vec<String> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static PEOPLE_CACHE: OnceLock<TieredCache> = OnceLock::new();

fn people_cache() -> &'static TieredCache {
    PEOPLE_CACHE.get().expect("installed by the test")
}

#[cached(key = "person:{id}", namespace = "people", cache = people_cache)]
async fn person_name(id: u64) -> String {
    format!("name-{id}")
}

/// The same keys under other placeholder names: shares `person_name`'s entries.
#[cached(key = "person:{person_id}", namespace = "people", cache = people_cache)]
async fn person_label(person_id: u64) -> String {
    format!("label-{person_id}")
}

/// The same keys for another type: each overwrites the other's entries.
#[cached(key = "person:{id}", namespace = "people", cache = people_cache)]
async fn person_age(id: u64) -> u32 {
    u32::try_from(id).unwrap_or_default()
}

/// Another namespace: entries of its own.
#[cached(key = "person:{id}", namespace = "pets", cache = people_cache)]
async fn pet_name(id: u64) -> String {
    format!("pet-{id}")
}

#[tokio::test]
async fn two_functions_building_the_same_keys_are_warned_about_once() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // This test's thread only (a current-thread runtime runs every call here).
    let _guard = tracing::subscriber::set_default(subscriber);
    let redis = test_redis();
    assert!(PEOPLE_CACHE.set(cache(config(&redis.url())).await).is_ok());

    assert_eq!(person_name(1).await, "name-1");
    assert_eq!(
        person_label(1).await,
        "name-1",
        "the hazard: another function's value"
    );
    for _ in 0..3 {
        person_label(2).await;
        person_age(1).await;
        pet_name(1).await;
    }
    let shares = logs.lines("so they share entries");
    assert_eq!(shares.len(), 1, "{shares:?}");
    assert!(shares[0].contains("`macro_meta::person_name` and `macro_meta::person_label`"));
    assert!(shares[0].contains("(`person:{}`) in namespace `people`"));
    let overwrites = logs.lines("overwrites them");
    assert_eq!(
        overwrites.len(),
        2,
        "one per function it clashes with: {overwrites:?}"
    );
    assert!(
        overwrites
            .iter()
            .all(|line| line.contains("`macro_meta::person_age` (u32)"))
    );
    assert!(
        logs.lines("macro_meta::pet_name").is_empty(),
        "another namespace is no clash"
    );
    assert!(
        eventually(Duration::from_secs(1), || async {
            person_age_stats().calls() == 3
        })
        .await
    );
}
