//! `#[cached]` functions against a real `redis-server`: the keys they write, single-flight and
//! stale-while-revalidate through them, how `Result` and `Option` are cached, the companions,
//! and which cache `cache = ...` picks. (The global cache has its own test binary,
//! `macro_global.rs`, because it is process-wide.)
#![deny(clippy::pedantic)]

#[allow(clippy::pedantic)]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::{RedisServer, cache, cache_with_clock, config, eventually, redis_cli, test_redis};
use tiered_cache::{CacheConfig, Clock, TieredCache, cached};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Product {
    id: u64,
    name: String,
    version: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct FetchError(String);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct NotFound(u64);

/// A repository whose methods are cached in its own cache and count their body runs.
#[derive(Clone)]
struct Catalogue {
    cache: TieredCache,
    tenant: String,
    calls: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl Catalogue {
    fn new(cache: TieredCache) -> Self {
        Catalogue {
            cache,
            tenant: "acme".into(),
            calls: Arc::default(),
            failing: Arc::default(),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Counts a body run and returns its number.
    fn run(&self) -> usize {
        self.calls.fetch_add(1, Ordering::SeqCst) + 1
    }

    #[cached(key = "product:{id}", ttl = 300, stale = 60, namespace = "products", cache = self.cache)]
    async fn product(&self, id: u64) -> Product {
        let version = self.run();
        tokio::time::sleep(Duration::from_millis(20)).await;
        Product {
            id,
            name: format!("product-{id}"),
            version,
        }
    }

    #[cached(key = "fresh:{id}", ttl = 300, refresh = false, cache = self.cache)]
    async fn product_no_refresh(&self, id: u64) -> Product {
        Product {
            id,
            name: "no-refresh".into(),
            version: self.run(),
        }
    }

    #[cached(key = "{self.tenant}:price:{id}", namespace = "prices", cache = self.cache)]
    async fn price(&self, id: u64) -> Result<u64, FetchError> {
        let run = self.run();
        tokio::time::sleep(Duration::from_millis(20)).await;
        if self.failing.load(Ordering::SeqCst) {
            return Err(FetchError(format!("database down (run {run})")));
        }
        Ok(id * 100)
    }

    #[cached(key = "find:{name}", namespace = "products", cache = self.cache)]
    async fn find(&self, name: &str) -> Option<u64> {
        self.run();
        name.strip_prefix("sku-").and_then(|n| n.parse().ok())
    }

    #[cached(key = "find-any:{name}", namespace = "products", cache_none, cache = self.cache)]
    async fn find_remembering_misses(&self, name: &str) -> Option<u64> {
        self.run();
        name.strip_prefix("sku-").and_then(|n| n.parse().ok())
    }

    #[cached(key = "parse:{T}:{input}", cache = self.cache)]
    async fn parse<T>(&self, input: &str) -> Option<T>
    where
        T: std::str::FromStr
            + Clone
            + Serialize
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        self.run();
        input.parse().ok()
    }

    #[cached(key = "chunk:{N}:{id}", cache = self.cache)]
    async fn chunk<const N: usize>(&self, id: u64) -> Vec<u64> {
        self.run();
        vec![id; N]
    }

    #[cached(key = "strict:{id}", cache_err, cache = self.cache)]
    async fn strict(&self, id: u64) -> Result<u64, NotFound> {
        self.run();
        Err(NotFound(id))
    }

    /// A `mut` parameter stays mutable in the body (and nowhere else, so no `unused_mut`).
    #[cached(key = "label:{label}", cache = self.cache)]
    async fn normalised(&self, mut label: String) -> String {
        self.run();
        label.make_ascii_lowercase();
        label
    }

    #[cached(key = "broken:{value}", cache = self.cache)]
    async fn broken(&self, value: Broken) -> usize {
        let _ = value;
        self.run()
    }

    /// `{self}`: the tenant's `Display`, escaped like any value.
    #[cached(key = "{self}:label:{id}:{label}", ttl = 60, cache = self.cache)]
    async fn labelled(&self, id: u64, label: &str) -> String {
        self.run();
        format!("{label}-{id}")
    }
}

impl std::fmt::Display for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tenant {}", self.tenant)
    }
}

/// A `Display` that breaks its contract and returns an error.
#[derive(Clone)]
struct Broken;

impl std::fmt::Display for Broken {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

fn fixed_cache(slot: &'static OnceLock<TieredCache>) -> &'static TieredCache {
    slot.get().expect("the test installs this cache first")
}

static KEY_FORMAT: OnceLock<TieredCache> = OnceLock::new();
static KEY_FORMAT_CALLS: AtomicUsize = AtomicUsize::new(0);

fn key_format_cache() -> &'static TieredCache {
    fixed_cache(&KEY_FORMAT)
}

/// The README's product example, on a cache the test controls.
#[cached(key = "product:{product_id}", ttl = 300, namespace = "products", cache = key_format_cache)]
async fn get_product_details(product_id: u64) -> Product {
    let version = KEY_FORMAT_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    Product {
        id: product_id,
        name: "Widget".into(),
        version,
    }
}

#[cached(ttl = 60, cache = key_format_cache)]
async fn default_keyed(id: u64, label: &str) -> String {
    format!("{label}:{id}")
}

#[tokio::test]
async fn the_key_template_is_what_redis_shows() {
    let redis = RedisServer::start();
    let config = config(&redis.url());
    let prefix = config.key_prefix.clone();
    assert!(KEY_FORMAT.set(cache(config).await).is_ok());

    let product = get_product_details(42).await;
    assert_eq!(product.id, 42);
    let key = format!("{prefix}:products:product:42");
    assert_eq!(
        redis_cli(redis.port(), &["EXISTS", &key]).trim(),
        "1",
        "{key}"
    );

    assert_eq!(default_keyed(7, "x").await, "x:7");
    let key = format!("{prefix}:default:macro_redis::default_keyed(7,\"x\")");
    assert_eq!(
        redis_cli(redis.port(), &["EXISTS", &key]).trim(),
        "1",
        "{key}"
    );

    // A second call is served from the cache.
    assert_eq!(get_product_details(42).await, product);
    assert_eq!(KEY_FORMAT_CALLS.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn methods_key_self_where_the_template_names_it() {
    let redis = test_redis();
    let config = config(&redis.url());
    let catalogue = Catalogue::new(cache(config).await);
    assert_eq!(catalogue.price(3).await, Ok(300));
    let stored: Option<u64> = catalogue
        .cache
        .get("acme:price:3")
        .namespace("prices")
        .await
        .expect("valid key");
    assert_eq!(stored, Some(300));

    assert_eq!(catalogue.labelled(5, "b:c").await, "b:c-5");
    let stored: Option<String> = catalogue
        .cache
        .get("tenant acme:label:5:b%3Ac")
        .await
        .expect("valid key");
    assert_eq!(stored.as_deref(), Some("b:c-5"));
}

#[tokio::test]
async fn regression_two_instances_of_a_method_do_not_share_entries() {
    let redis = test_redis();
    let shared = cache(config(&redis.url())).await;
    let acme = Catalogue::new(shared.clone());
    let globex = Catalogue {
        tenant: "globex".into(),
        ..Catalogue::new(shared)
    };
    assert_eq!(acme.labelled(1, "x").await, "x-1");
    assert_eq!(globex.labelled(1, "x").await, "x-1");
    assert_eq!(acme.labelled(1, "x").await, "x-1");
    assert_eq!(globex.labelled(1, "x").await, "x-1");
    assert_eq!(
        (acme.calls(), globex.calls()),
        (1, 1),
        "one entry per tenant, each loaded by its own instance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_run_the_body_once() {
    let redis = test_redis();
    let catalogue = Catalogue::new(cache(config(&redis.url())).await);
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let catalogue = catalogue.clone();
            tokio::spawn(async move { catalogue.product(7).await })
        })
        .collect();
    for call in calls {
        let product = call.await.expect("call completes");
        assert_eq!(product.version, 1);
    }
    assert_eq!(catalogue.calls(), 1);
    assert_eq!(catalogue.cache.stats().overall_stats.loader_calls, 1);
}

#[tokio::test]
async fn a_stale_entry_is_served_at_once_and_refreshed_in_the_background() {
    let redis = test_redis();
    let (clock, hand) = Clock::manual(1_000_000);
    let catalogue = Catalogue::new(cache_with_clock(config(&redis.url()), clock).await);
    assert_eq!(catalogue.product(1).await.version, 1);

    // ttl 300 s, stale 60 s: stale from 240 s on.
    hand.advance(Duration::from_secs(250));
    assert_eq!(
        catalogue.product(1).await.version,
        1,
        "the stale value comes back at once"
    );
    assert!(
        eventually(Duration::from_secs(5), || async { catalogue.calls() == 2 }).await,
        "one background refresh ran the body"
    );
    let refreshed = eventually(Duration::from_secs(5), || async {
        catalogue.product(1).await.version == 2
    })
    .await;
    assert!(refreshed, "later calls see the refreshed value");
    assert_eq!(catalogue.cache.stats().swr_stats.background_refreshes, 1);
    assert_eq!(catalogue.calls(), 2);
}

#[tokio::test]
async fn refresh_false_serves_the_entry_until_its_ttl_without_refreshing() {
    let redis = test_redis();
    let (clock, hand) = Clock::manual(1_000_000);
    let catalogue = Catalogue::new(cache_with_clock(config(&redis.url()), clock).await);
    assert_eq!(catalogue.product_no_refresh(1).await.version, 1);
    hand.advance(Duration::from_secs(299));
    assert_eq!(catalogue.product_no_refresh(1).await.version, 1);
    let stats = catalogue.cache.stats();
    assert_eq!(stats.swr_stats.stale_hits, 0, "never stale");
    assert_eq!(stats.swr_stats.background_refreshes, 0);
    hand.advance(Duration::from_secs(2));
    assert_eq!(
        catalogue.product_no_refresh(1).await.version,
        2,
        "expired: loaded again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_err_reaches_every_coalesced_caller_and_is_not_cached() {
    let redis = test_redis();
    let catalogue = Catalogue::new(cache(config(&redis.url())).await);
    catalogue.failing.store(true, Ordering::SeqCst);
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let catalogue = catalogue.clone();
            tokio::spawn(async move { catalogue.price(9).await })
        })
        .collect();
    for call in calls {
        let error = call.await.expect("call completes");
        assert_eq!(error, Err(FetchError("database down (run 1)".into())));
    }
    assert_eq!(catalogue.calls(), 1, "one body run for all 100 callers");

    catalogue.failing.store(false, Ordering::SeqCst);
    assert_eq!(
        catalogue.price(9).await,
        Ok(900),
        "the error was not cached"
    );
    assert_eq!(catalogue.price(9).await, Ok(900));
    assert_eq!(catalogue.calls(), 2, "the Ok value was cached");
}

#[tokio::test]
async fn none_is_cached_only_when_asked() {
    let redis = test_redis();
    let catalogue = Catalogue::new(cache(config(&redis.url())).await);
    assert_eq!(catalogue.find("sku-12").await, Some(12));
    assert_eq!(catalogue.find("sku-12").await, Some(12));
    assert_eq!(catalogue.calls(), 1, "Some is cached");
    assert_eq!(catalogue.find("nope").await, None);
    assert_eq!(catalogue.find("nope").await, None);
    assert_eq!(catalogue.calls(), 3, "None is not");

    assert_eq!(catalogue.find_remembering_misses("nope").await, None);
    assert_eq!(catalogue.find_remembering_misses("nope").await, None);
    assert_eq!(catalogue.calls(), 4, "with cache_none, None is cached too");
}

#[tokio::test]
async fn companions_bypass_invalidate_and_prime() {
    let redis = test_redis();
    let catalogue = Catalogue::new(cache(config(&redis.url())).await);
    assert_eq!(catalogue.product(5).await.version, 1);

    assert_eq!(catalogue.product_no_cache(5).await.version, 2, "bypasses");
    assert_eq!(
        catalogue.product(5).await.version,
        1,
        "left the entry alone"
    );

    catalogue.product_invalidate(5).await.expect("invalidated");
    assert_eq!(catalogue.product(5).await.version, 3, "reloaded");

    assert_eq!(catalogue.product_prime(5).await.version, 4, "runs the body");
    assert_eq!(
        catalogue.product(5).await.version,
        4,
        "and stored its value"
    );
    assert_eq!(catalogue.calls(), 4);

    // Primes store only what a call would cache.
    catalogue.failing.store(true, Ordering::SeqCst);
    assert!(catalogue.price_prime(1).await.is_err());
    catalogue.failing.store(false, Ordering::SeqCst);
    assert_eq!(catalogue.price(1).await, Ok(100), "the Err was not stored");
}

static CACHE_A: OnceLock<TieredCache> = OnceLock::new();

fn cache_a() -> TieredCache {
    fixed_cache(&CACHE_A).clone()
}

#[cached(key = "item:{id}", namespace = "picked", cache = cache_a)]
async fn picked_item(id: u64) -> u64 {
    id + 1
}

#[tokio::test]
async fn cache_option_picks_the_instance() {
    let redis = test_redis();
    let a = cache(config(&redis.url())).await;
    let b = cache(config(&redis.url())).await;
    assert!(CACHE_A.set(a.clone()).is_ok());
    assert_eq!(picked_item(1).await, 2);
    let in_a: Option<u64> = a.get("item:1").namespace("picked").await.expect("valid");
    let in_b: Option<u64> = b.get("item:1").namespace("picked").await.expect("valid");
    assert_eq!((in_a, in_b), (Some(2), None));
}

#[tokio::test]
async fn generic_functions_keep_one_entry_per_type() {
    let redis = test_redis();
    let catalogue = Catalogue::new(cache(config(&redis.url())).await);
    assert_eq!(catalogue.parse::<u32>("42").await, Some(42));
    assert_eq!(catalogue.parse::<String>("42").await, Some("42".to_owned()));
    assert_eq!(catalogue.parse::<u32>("42").await, Some(42));
    assert_eq!(catalogue.calls(), 2, "one load per type, then hits");
    // An `Option` function stores the whole `Option`.
    let u32_entry: Option<Option<u32>> = catalogue
        .cache
        .get("parse:u32:42")
        .await
        .expect("valid key");
    assert_eq!(u32_entry, Some(Some(42)));
}

#[tokio::test]
async fn a_key_the_cache_refuses_runs_the_body_uncached() {
    let catalogue = Catalogue::new(
        cache(CacheConfig {
            redis_url: None,
            ..CacheConfig::default()
        })
        .await,
    );
    let long = format!("sku-{}", "9".repeat(5000));
    // `cache_none` would cache this `None` under an acceptable key.
    assert_eq!(catalogue.find_remembering_misses(&long).await, None);
    assert_eq!(catalogue.find_remembering_misses(&long).await, None);
    assert_eq!(
        catalogue.calls(),
        2,
        "the body ran each time, nothing was cached"
    );
}

#[tokio::test]
async fn a_value_whose_display_fails_runs_the_body_uncached() {
    let catalogue = Catalogue::new(
        cache(CacheConfig {
            redis_url: None,
            ..CacheConfig::default()
        })
        .await,
    );
    // The key would end after `broken:`, shared by every such value: it is refused instead.
    assert_eq!(catalogue.broken(Broken).await, 1);
    assert_eq!(catalogue.broken(Broken).await, 2);
    assert!(catalogue.broken_invalidate(Broken).await.is_err());
    let stored: Option<usize> = catalogue.cache.get("broken:").await.expect("valid key");
    assert_eq!(stored, None, "nothing stored under the truncated key");
}

#[tokio::test]
async fn cache_err_caches_errors_too() {
    let redis = test_redis();
    let catalogue = Catalogue::new(cache(config(&redis.url())).await);
    assert_eq!(catalogue.strict(4).await, Err(NotFound(4)));
    assert_eq!(catalogue.strict(4).await, Err(NotFound(4)));
    assert_eq!(catalogue.calls(), 1, "the Err was served from the cache");
}

#[tokio::test]
async fn const_generic_parameters_are_part_of_the_key() {
    let redis = test_redis();
    let catalogue = Catalogue::new(cache(config(&redis.url())).await);
    assert_eq!(catalogue.chunk::<2>(1).await, vec![1, 1]);
    assert_eq!(catalogue.chunk::<3>(1).await, vec![1, 1, 1]);
    assert_eq!(catalogue.chunk::<2>(1).await, vec![1, 1]);
    assert_eq!(catalogue.calls(), 2);
}

static ASSOCIATED: OnceLock<TieredCache> = OnceLock::new();
static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

fn associated_cache() -> &'static TieredCache {
    fixed_cache(&ASSOCIATED)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Code(u64);

impl Code {
    /// No `self` and no `Self` in the signature: `in_impl` says the companions are `Self::`.
    #[cached(key = "code:{id}", cache = associated_cache, in_impl)]
    async fn lookup(id: u64) -> u64 {
        LOOKUPS.fetch_add(1, Ordering::SeqCst);
        id * 2
    }

    /// `Self` in the signature is enough.
    #[cached(cache = associated_cache)]
    async fn find(id: u64) -> Option<Self> {
        LOOKUPS.fetch_add(1, Ordering::SeqCst);
        Some(Code(id))
    }
}

#[tokio::test]
async fn associated_functions_without_self() {
    let redis = test_redis();
    assert!(ASSOCIATED.set(cache(config(&redis.url())).await).is_ok());
    assert_eq!(Code::lookup(21).await, 42);
    assert_eq!(Code::lookup(21).await, 42);
    assert_eq!(Code::find(3).await, Some(Code(3)));
    assert_eq!(Code::find(3).await, Some(Code(3)));
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 2);
    let stored: Option<Option<Code>> = associated_cache()
        .get("macro_redis::Code::find(3)")
        .await
        .expect("valid key");
    assert_eq!(stored, Some(Some(Code(3))));
}

/// A service holding its cache behind an `Arc`.
#[derive(Clone)]
struct Shared {
    cache: Arc<TieredCache>,
    calls: Arc<AtomicUsize>,
}

impl Shared {
    #[cached(key = "shared:{id}", cache = self.cache)]
    async fn get(&self, id: u64) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        id
    }
}

#[tokio::test]
async fn a_cache_behind_an_arc_is_a_source_too() {
    let redis = test_redis();
    let shared = Shared {
        cache: Arc::new(cache(config(&redis.url())).await),
        calls: Arc::default(),
    };
    assert_eq!(shared.get(8).await, 8);
    assert_eq!(shared.get(8).await, 8);
    assert_eq!(shared.calls.load(Ordering::SeqCst), 1);
    let stored: Option<u64> = shared.cache.get("shared:8").await.expect("valid key");
    assert_eq!(stored, Some(8));
}

#[tokio::test]
async fn mutable_parameters_stay_mutable_in_the_body() {
    let redis = test_redis();
    let catalogue = Catalogue::new(cache(config(&redis.url())).await);
    assert_eq!(catalogue.normalised("MiXeD".into()).await, "mixed");
    assert_eq!(catalogue.normalised("MiXeD".into()).await, "mixed");
    assert_eq!(catalogue.calls(), 1);
}

/// Records looked up by caller-controlled strings, in the cache it is given; counts body runs.
#[derive(Clone)]
struct Records {
    cache: TieredCache,
    calls: Arc<AtomicUsize>,
}

impl Records {
    fn new(cache: TieredCache) -> Self {
        Records {
            cache,
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    #[cached(key = "tenant:{tenant}:{id}", namespace = "records", cache = self.cache)]
    async fn record(&self, tenant: &str, id: &str) -> (String, String) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        (tenant.to_owned(), id.to_owned())
    }

    #[cached(key = "t/{a}-x-{b}:{c}", namespace = "records", cache = self.cache)]
    async fn triple(&self, a: &str, b: &str, c: &str) -> (String, String, String) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        (a.to_owned(), b.to_owned(), c.to_owned())
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[tokio::test]
async fn regression_template_values_with_separators_do_not_collide() {
    let redis = RedisServer::start();
    let config = config(&redis.url());
    let prefix = config.key_prefix.clone();
    let records = Records::new(cache(config).await);
    // Joined unescaped, both were `tenant:a:b:c`: tenant `a` could read tenant `a:b`'s entry.
    assert_eq!(records.record("a:b", "c").await, pair("a:b", "c"));
    assert_eq!(records.record("a", "b:c").await, pair("a", "b:c"));
    assert_eq!(records.calls(), 2, "two entries, each loaded by its caller");
    assert_eq!(records.record("a:b", "c").await, pair("a:b", "c"));
    assert_eq!(records.record("a", "b:c").await, pair("a", "b:c"));
    assert_eq!(records.calls(), 2, "and each served from its own entry");

    // What `redis-cli` shows: the template's text, values with `%` and `:` escaped.
    for key in ["tenant:a%3Ab:c", "tenant:a:b%3Ac"] {
        let key = format!("{prefix}:records:{key}");
        let exists = redis_cli(redis.port(), &["EXISTS", &key]);
        assert_eq!(exists.trim(), "1", "{key}");
    }
    let pattern = format!("{prefix}:records:*");
    let mut keys: Vec<String> = redis_cli(redis.port(), &["KEYS", &pattern])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    let expected = [
        format!("{prefix}:records:tenant:a%3Ab:c"),
        format!("{prefix}:records:tenant:a:b%3Ac"),
    ];
    assert_eq!(keys, expected);
}

#[tokio::test]
async fn regression_a_percent_in_a_value_cannot_forge_an_escape() {
    let redis = RedisServer::start();
    let config = config(&redis.url());
    let prefix = config.key_prefix.clone();
    let records = Records::new(cache(config).await);
    // `a%3Ab` is what `a:b` escapes to; written as a value it must stay distinct.
    assert_eq!(records.record("a%3Ab", "c").await, pair("a%3Ab", "c"));
    assert_eq!(records.record("a:b", "c").await, pair("a:b", "c"));
    assert_eq!(records.record("100%", "c").await, pair("100%", "c"));
    assert_eq!(records.calls(), 3);
    assert_eq!(records.record("a%3Ab", "c").await, pair("a%3Ab", "c"));
    assert_eq!(records.record("a:b", "c").await, pair("a:b", "c"));
    assert_eq!(records.calls(), 3);
    for key in ["tenant:a%253Ab:c", "tenant:a%3Ab:c", "tenant:100%25:c"] {
        let key = format!("{prefix}:records:{key}");
        let exists = redis_cli(redis.port(), &["EXISTS", &key]);
        assert_eq!(exists.trim(), "1", "{key}");
    }
}

/// Every string of up to `len` characters from `alphabet`.
fn strings(alphabet: &[char], len: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..len {
        last = last
            .iter()
            .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

/// Through the macro itself (L1 only, room for every entry): each call must get back its own
/// arguments, so no two argument tuples share an entry, including tuples that a plain join of
/// the values would map to one key.
#[tokio::test]
async fn distinct_template_arguments_never_share_an_entry() {
    let records = Records::new(
        cache(CacheConfig {
            redis_url: None,
            l1_max_size: 100_000,
            ..CacheConfig::default()
        })
        .await,
    );
    let values = strings(&['a', ':', '%', '3', 'A'], 2);
    for round in 0..2 {
        for a in &values {
            for b in &values {
                assert_eq!(records.record(a, b).await, pair(a, b), "round {round}");
            }
        }
    }
    assert_eq!(records.calls(), values.len().pow(2), "one entry per pair");

    let records = Records::new(records.cache.clone());
    let values = strings(&['-', ':', '%', 'x'], 2);
    for round in 0..2 {
        for a in &values {
            for b in &values {
                for c in &values {
                    let expected = (a.clone(), b.clone(), c.clone());
                    assert_eq!(records.triple(a, b, c).await, expected, "round {round}");
                }
            }
        }
    }
    assert_eq!(records.calls(), values.len().pow(3), "one entry per triple");
}

static DEFAULT_KEYS: OnceLock<TieredCache> = OnceLock::new();
static SEND_CALLS: AtomicUsize = AtomicUsize::new(0);

fn default_keys_cache() -> &'static TieredCache {
    fixed_cache(&DEFAULT_KEYS)
}

/// An address whose `Debug` hides it, as logging-safe types do.
#[derive(Clone, Serialize)]
struct Email(String);

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

#[cached(ttl = 60, namespace = "mail", cache = default_keys_cache)]
async fn mailbox(owner: Email, page: Option<u32>) -> String {
    SEND_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("{}/{}", owner.0, page.unwrap_or(1))
}

#[tokio::test]
async fn regression_default_keys_do_not_depend_on_debug() {
    let redis = RedisServer::start();
    let config = config(&redis.url());
    let prefix = config.key_prefix.clone();
    assert!(DEFAULT_KEYS.set(cache(config).await).is_ok());
    let ada = Email("ada@example.com".into());
    let bob = Email("bob@example.com".into());
    assert_eq!(format!("{ada:?}"), format!("{bob:?}"), "the same `Debug`");
    // With `Debug` keys, bob was served ada's mailbox.
    assert_eq!(mailbox(ada.clone(), None).await, "ada@example.com/1");
    assert_eq!(mailbox(bob.clone(), None).await, "bob@example.com/1");
    assert_eq!(mailbox(ada, None).await, "ada@example.com/1");
    assert_eq!(mailbox(bob, Some(2)).await, "bob@example.com/2");
    assert_eq!(SEND_CALLS.load(Ordering::SeqCst), 3);

    let key = format!("{prefix}:mail:macro_redis::mailbox(Email(\"bob@example.com\"),Some(2))");
    let exists = redis_cli(redis.port(), &["EXISTS", &key]);
    assert_eq!(exists.trim(), "1", "{key}");
}
