//! `#[cached]` on what users of other caching macros write, against a real `redis-server`:
//! recursive functions, methods of trait impls (`in_trait_impl`), and error types that are not
//! `Clone` (the caller that ran the body gets its error; each waiting caller runs the body).
#![deny(clippy::pedantic)]

#[allow(clippy::pedantic)]
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use support::{cache, config, eventually, redis_cli, test_redis};
use tiered_cache::{TieredCache, cached};
use tokio::sync::Notify;

/// Counts body runs per argument.
#[derive(Clone, Default)]
struct Runs(Arc<Mutex<HashMap<u64, usize>>>);

impl Runs {
    fn count(&self, n: u64) {
        if let Ok(mut runs) = self.0.lock() {
            *runs.entry(n).or_default() += 1;
        }
    }

    fn snapshot(&self) -> HashMap<u64, usize> {
        self.0.lock().map(|runs| runs.clone()).unwrap_or_default()
    }
}

/// Recursive cached methods: each sub-result is a cached call of its own.
#[derive(Clone)]
struct Maths {
    cache: TieredCache,
    runs: Runs,
}

impl Maths {
    #[cached(key = "fib:{n}", namespace = "maths", cache = self.cache)]
    async fn fib(&self, n: u64) -> u64 {
        self.runs.count(n);
        if n < 2 {
            return n;
        }
        Box::pin(self.fib(n - 1)).await + Box::pin(self.fib(n - 2)).await
    }
}

static FACTORIAL_CACHE: OnceLock<TieredCache> = OnceLock::new();
static FACTORIAL_RUNS: AtomicUsize = AtomicUsize::new(0);

fn factorial_cache() -> &'static TieredCache {
    FACTORIAL_CACHE.get().expect("installed by the test")
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Overflow(u64);

/// A recursive free function returning `Result`, recursing through `?`.
#[cached(key = "factorial:{n}", cache = factorial_cache)]
async fn factorial(n: u64) -> Result<u64, Overflow> {
    FACTORIAL_RUNS.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        return Ok(1);
    }
    let below = Box::pin(factorial(n - 1)).await?;
    below.checked_mul(n).ok_or(Overflow(n))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_function_caches_each_sub_result_once() {
    let redis = test_redis();
    let maths = Maths {
        cache: cache(config(&redis.url())).await,
        runs: Runs::default(),
    };
    // Four callers at once: single-flight per key, so every n still runs once.
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let maths = maths.clone();
            tokio::spawn(async move { maths.fib(40).await })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.expect("task"), 102_334_155);
    }
    let runs = maths.runs.snapshot();
    assert_eq!(runs.len(), 41, "fib(0) ..= fib(40) each ran");
    assert!(
        runs.values().all(|&n| n == 1),
        "each exactly once: {runs:?}"
    );
    assert_eq!(maths.fib(25).await, 75_025, "a sub-result, cached");
    assert_eq!(maths.runs.snapshot().len(), 41);
    let prefix = maths.cache.config().key_prefix.clone();
    let stored = redis_cli(
        redis_port(&redis.url()),
        &["GET", &format!("{prefix}:maths:fib:40")],
    );
    assert!(!stored.trim().is_empty(), "fib(40) is in Redis");

    assert!(
        FACTORIAL_CACHE
            .set(cache(config(&redis.url())).await)
            .is_ok()
    );
    assert_eq!(factorial(20).await, Ok(2_432_902_008_176_640_000));
    assert_eq!(FACTORIAL_RUNS.load(Ordering::SeqCst), 21);
    assert_eq!(
        factorial(21).await,
        Err(Overflow(21)),
        "the error propagates through `?`"
    );
    assert_eq!(
        FACTORIAL_RUNS.load(Ordering::SeqCst),
        22,
        "21 ran; 20 was cached"
    );
}

static DEPTH_CACHE: OnceLock<TieredCache> = OnceLock::new();

fn depth_cache() -> &'static TieredCache {
    DEPTH_CACHE.get().expect("installed by the test")
}

/// A chain of misses, each level's body awaiting the next level.
#[cached(key = "depth:{n}", cache = depth_cache)]
async fn depth(n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    Box::pin(depth(n - 1)).await + 1
}

/// Regression: each level of a recursive miss took ~48 KB of stack in a debug build (the engine's
/// async steps each kept a slot the size of the step they awaited), so 60 levels overflowed a
/// 2 MiB thread (a tokio worker's default) and aborted the process. Now ~18 KB a level.
#[test]
fn a_recursion_sixty_deep_fits_a_two_mib_thread() {
    let worker = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let l1_only = tiered_cache::CacheConfig {
                    redis_url: None,
                    ..tiered_cache::CacheConfig::default()
                };
                assert!(DEPTH_CACHE.set(cache(l1_only).await).is_ok());
                depth(60).await
            })
        })
        .expect("thread");
    assert_eq!(worker.join().expect("no overflow"), 60);
}

fn redis_port(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse().ok())
        .expect("a redis://host:port URL")
}

/// A trait whose implementations cache their methods.
trait Directory {
    async fn lookup(&self, id: u64, label: &str) -> String;
    async fn find(&self, id: u64) -> Result<u64, String>;
    async fn describe(id: u64) -> String;
}

#[derive(Clone)]
struct Db {
    cache: TieredCache,
    tenant: String,
    runs: Arc<AtomicUsize>,
}

static DESCRIBE_CACHE: OnceLock<TieredCache> = OnceLock::new();

fn describe_cache() -> &'static TieredCache {
    DESCRIBE_CACHE.get().expect("installed by the test")
}

impl Directory for Db {
    /// `self` in the body, in a closure and in a macro; a `&str` and a `mut` argument.
    #[cached(key = "dir:{self.tenant}:{id}:{label}", in_trait_impl, cache = self.cache)]
    async fn lookup(&self, mut id: u64, label: &str) -> String {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        id += 1000;
        let tenant = || self.tenant.clone();
        format!("{}/{label}/{id}/{} run {run}", tenant(), self.tenant.len())
    }

    #[cached(key = "dir-find:{self.tenant}:{id}", in_trait_impl, cache = self.cache)]
    async fn find(&self, id: u64) -> Result<u64, String> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if id == 0 {
            return Err("no id 0".to_owned());
        }
        Ok(id * 2)
    }

    #[cached(key = "describe:{id}", in_trait_impl, cache = describe_cache)]
    async fn describe(id: u64) -> String {
        format!("{} #{id}", std::any::type_name::<Self>())
    }
}

/// Calls through the trait, as generic code would.
async fn lookup_via<D: Directory>(directory: &D, id: u64, label: &str) -> String {
    directory.lookup(id, label).await
}

#[tokio::test]
async fn a_method_of_a_trait_impl_is_cached() {
    let redis = test_redis();
    let db = Db {
        cache: cache(config(&redis.url())).await,
        tenant: "acme".into(),
        runs: Arc::default(),
    };
    assert_eq!(lookup_via(&db, 7, "a:b").await, "acme/a:b/1007/4 run 1");
    assert_eq!(
        lookup_via(&db, 7, "a:b").await,
        "acme/a:b/1007/4 run 1",
        "cached"
    );
    // A spawned call needs the method's future to be `Send`.
    let spawned = tokio::spawn({
        let db = db.clone();
        async move { db.lookup(7, "a:b").await }
    });
    assert_eq!(spawned.await.expect("task"), "acme/a:b/1007/4 run 1");
    assert_eq!(db.runs.load(Ordering::SeqCst), 1);
    let stored: Option<String> = db.cache.get("dir:acme:7:a%3Ab").await.expect("valid key");
    assert_eq!(
        stored.as_deref(),
        Some("acme/a:b/1007/4 run 1"),
        "the template's key, escaped"
    );

    assert_eq!(db.find(0).await, Err("no id 0".to_owned()));
    assert_eq!(
        db.find(0).await,
        Err("no id 0".to_owned()),
        "errors are not cached"
    );
    assert_eq!(db.find(4).await, Ok(8));
    assert_eq!(db.find(4).await, Ok(8));
    assert_eq!(db.runs.load(Ordering::SeqCst), 4);

    assert!(
        DESCRIBE_CACHE
            .set(cache(config(&redis.url())).await)
            .is_ok()
    );
    assert_eq!(Db::describe(3).await, "macro_parity::Db #3");
    let described: Option<String> = describe_cache().get("describe:3").await.expect("valid key");
    assert!(
        described.is_some(),
        "an associated function of a trait impl caches too"
    );
}

/// Opens once; every `wait` after that returns at once.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    notify: Notify,
}

impl Gate {
    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.open.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

static ERRORS_CACHE: OnceLock<TieredCache> = OnceLock::new();
static SETTING_GATE: OnceLock<Gate> = OnceLock::new();
static SHARED_GATE: OnceLock<Gate> = OnceLock::new();
static SETTING_RUNS: AtomicUsize = AtomicUsize::new(0);
static SHARED_RUNS: AtomicUsize = AtomicUsize::new(0);

fn errors_cache() -> &'static TieredCache {
    ERRORS_CACHE.get().expect("installed by the test")
}

fn setting_gate() -> &'static Gate {
    SETTING_GATE.get_or_init(Gate::default)
}

fn shared_gate() -> &'static Gate {
    SHARED_GATE.get_or_init(Gate::default)
}

/// `std::io::Error` is not `Clone`, and `io::Result` does not even name it.
#[cached(key = "setting:{name}", cache = errors_cache)]
async fn setting(name: &str) -> std::io::Result<String> {
    let run = SETTING_RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    setting_gate().wait().await;
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("no {name} (run {run})"),
    ))
}

/// A typical application error: not `Clone` (it holds an `io::Error`), `?` converts into it.
#[derive(Debug, thiserror::Error)]
enum RepoError {
    #[error("storage: {0}")]
    Storage(#[from] std::io::Error),
}

#[cached(key = "repo:{id}", cache = errors_cache)]
async fn repo_row(id: u64) -> Result<String, RepoError> {
    let bytes = std::fs::read(format!("/nonexistent/tiered-cache/{id}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The other way: `Arc<E>` is `Clone`, so the error is shared (one body run for all).
#[cached(key = "shared:{id}", cache = errors_cache)]
async fn shared_row(id: u64) -> Result<String, Arc<std::io::Error>> {
    SHARED_RUNS.fetch_add(1, Ordering::SeqCst);
    shared_gate().wait().await;
    let bytes = std::fs::read(format!("/nonexistent/tiered-cache/{id}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A generic error without a `Clone` bound is kept by its caller too.
#[cached(key = "parsed:{E}:{text}", cache = errors_cache)]
async fn parsed<E>(text: &str) -> Result<u64, E>
where
    E: From<std::num::ParseIntError> + Send + Sync + 'static,
{
    Ok(text.parse::<u64>()?)
}

/// Starts `waiters + 1` calls of `call`, the first leading (its body, counted in `runs`, holds
/// at `gate`) and the others coalesced on its load before the gate opens; returns their
/// results in start order.
async fn fail_together<T, F, Fut>(waiters: u64, runs: &AtomicUsize, gate: &Gate, call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let coalesced = || errors_cache().stats().overall_stats.coalesced;
    let before = coalesced();
    let started = runs.load(Ordering::SeqCst);
    let leader = tokio::spawn(call());
    assert!(
        eventually(Duration::from_secs(5), || async {
            runs.load(Ordering::SeqCst) > started
        })
        .await,
        "the leader's body started"
    );
    let others: Vec<_> = (0..waiters).map(|_| tokio::spawn(call())).collect();
    assert!(
        eventually(Duration::from_secs(5), || async {
            coalesced() == before + waiters
        })
        .await,
        "every other caller waits on the leader's load"
    );
    gate.open();
    let mut results = vec![leader.await.expect("task")];
    for other in others {
        results.push(other.await.expect("task"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_that_are_not_clone_reach_every_caller_as_their_own_value() {
    let redis = test_redis();
    assert!(ERRORS_CACHE.set(cache(config(&redis.url())).await).is_ok());

    // io::Error: the leader's own error, then one body run per waiter.
    let results = fail_together(5, &SETTING_RUNS, setting_gate(), || setting("mode")).await;
    let messages: Vec<String> = results
        .iter()
        .map(|result| match result {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => error.to_string(),
            other => panic!("expected NotFound, got {other:?}"),
        })
        .collect();
    assert_eq!(
        messages[0], "no mode (run 1)",
        "the caller that ran the body has its error"
    );
    let mut runs: Vec<&str> = messages[1..].iter().map(String::as_str).collect();
    runs.sort_unstable();
    assert_eq!(
        runs,
        [
            "no mode (run 2)",
            "no mode (run 3)",
            "no mode (run 4)",
            "no mode (run 5)",
            "no mode (run 6)"
        ],
        "each waiter ran the body and got its own error"
    );
    assert_eq!(SETTING_RUNS.load(Ordering::SeqCst), 6);
    assert_eq!(setting_stats().loads(), 6);

    // Arc<io::Error>: shared, one run for all six.
    let shared = fail_together(5, &SHARED_RUNS, shared_gate(), || shared_row(1)).await;
    assert!(shared.iter().all(Result::is_err));
    assert_eq!(
        SHARED_RUNS.load(Ordering::SeqCst),
        1,
        "one body run, the error shared"
    );

    // A thiserror enum holding an io::Error, and a generic error.
    assert!(matches!(repo_row(3).await, Err(RepoError::Storage(_))));
    assert!(repo_row(3).await.is_err(), "not cached");
    assert_eq!(parsed::<std::num::ParseIntError>("12").await, Ok(12));
    assert!(parsed::<std::num::ParseIntError>("x").await.is_err());
}
