//! The global cache of `#[cached]` functions: the L1-only default and its one warning, then
//! `init` with a real Redis, and a second `init`/`install` refused. Process-wide state, so this
//! binary has one test that walks through the phases in order.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::{RedisServer, cache, config, redis_cli};
use tiered_cache::{InitError, cached};

static PRODUCT_CALLS: AtomicUsize = AtomicUsize::new(0);
static PRICE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "product:{product_id}", ttl = 300, namespace = "products")]
async fn get_product_details(product_id: u64) -> String {
    PRODUCT_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    format!("product-{product_id}")
}

#[cached(key = "price:{product_id}", namespace = "prices")]
async fn get_price(product_id: u64) -> u64 {
    PRICE_CALLS.fetch_add(1, Ordering::SeqCst);
    product_id * 100
}

/// Everything the subscriber writes, as text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn count(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
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

const WARNING: &str = "a #[cached] function ran before a global cache was installed";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_warns_once_then_init_installs_once() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");

    // 1. Nothing installed: calls work on the L1-only default, with one warning for all of them.
    assert!(tiered_cache::global_cache().is_none());
    let first_calls: Vec<_> = (0..50)
        .map(|i| tokio::spawn(async move { get_product_details(i % 2).await }))
        .collect();
    for call in first_calls {
        assert!(call.await.expect("completes").starts_with("product-"));
    }
    assert_eq!(get_price(3).await, 300);
    assert_eq!(get_price(3).await, 300);
    assert_eq!(
        PRODUCT_CALLS.load(Ordering::SeqCst),
        2,
        "cached in the default"
    );
    assert_eq!(
        PRICE_CALLS.load(Ordering::SeqCst),
        1,
        "cached in the default"
    );
    assert_eq!(logs.count(WARNING), 1, "{}", logs.text());
    assert!(logs.text().contains("tiered_cache::init(config).await"));

    // 2. init with Redis: from now on calls use it.
    let redis = RedisServer::start();
    let config = config(&redis.url());
    let prefix = config.key_prefix.clone();
    let invalid = tiered_cache::init(tiered_cache::CacheConfig {
        l1_max_size: 0,
        ..config.clone()
    })
    .await;
    assert!(
        matches!(&invalid, Err(InitError::Config(e)) if e.field() == "l1_max_size"),
        "{invalid:?}"
    );
    assert!(tiered_cache::global_cache().is_none(), "nothing installed");
    tiered_cache::init(config.clone())
        .await
        .expect("the first init installs");
    let installed = tiered_cache::global_cache().expect("installed");
    assert_eq!(installed.config().key_prefix, prefix);
    assert_eq!(get_product_details(42).await, "product-42");
    let key = format!("{prefix}:products:product:42");
    assert_eq!(
        redis_cli(redis.port(), &["EXISTS", &key]).trim(),
        "1",
        "{key}"
    );
    assert_eq!(get_product_details(42).await, "product-42");
    assert_eq!(PRODUCT_CALLS.load(Ordering::SeqCst), 3);

    // 3. A second init or install is refused and changes nothing.
    let again = tiered_cache::init(config.clone()).await;
    assert!(
        matches!(again, Err(InitError::AlreadyInstalled)),
        "{again:?}"
    );
    let other = cache(support::config(&redis.url())).await;
    let install = tiered_cache::install(other.clone());
    assert!(
        matches!(install, Err(InitError::AlreadyInstalled)),
        "{install:?}"
    );
    other.close().await;
    let still = tiered_cache::global_cache().expect("installed");
    assert_eq!(still.config().key_prefix, prefix);
    assert_eq!(get_product_details(42).await, "product-42");
    assert_eq!(
        PRODUCT_CALLS.load(Ordering::SeqCst),
        3,
        "still served by the first"
    );
    assert_eq!(logs.count(WARNING), 1, "no further warning");
}

/// The size of a call's future, which its caller carries in its own; the call is not polled,
/// so the process-wide state of the test above is untouched.
fn future_size<F: std::future::Future>(call: F) -> usize {
    std::mem::size_of_val(&call)
}

/// A future no larger than the read itself needs.
const SMALL: usize = 512;

/// A call on the global cache must not hold room for building the L1-only default (kilobytes,
/// needed at most once per process).
#[test]
fn a_cached_call_on_the_global_cache_is_a_small_future() {
    let size = future_size(get_price(7));
    assert!(
        size <= SMALL,
        "a #[cached] call's future is {size} bytes: something large is held across an await"
    );
}

/// A body holding 8 KB across an await.
#[cached(key = "big:{id}", namespace = "big")]
async fn big_body(id: u64) -> u64 {
    let scratch = [id.to_le_bytes()[0]; 8192];
    tokio::task::yield_now().await;
    scratch.iter().map(|byte| u64::from(*byte)).sum()
}

/// The body runs in the loader (boxed) or, when the cache refuses the call, uncached: either
/// way on the heap, so a call's future does not grow with what the body holds.
#[test]
fn a_cached_call_does_not_carry_its_body_future() {
    let size = future_size(big_body(7));
    assert!(
        size <= SMALL,
        "a #[cached] call's future is {size} bytes: the body's future is inline"
    );
}
