//! Family `l1-100k`: L1 hits on a production-shaped working set, 100 000 products of ~470 bytes
//! read uniformly at random, so most reads miss the CPU caches (the hot-key family's 1024 small
//! records all stay in them). Each contender is read two ways: the record cloned out (nine heap
//! blocks allocated per read) and shared, without a copy (a pointer cloned per read: an `Arc`
//! the peer holds, or the cache's own handle to its entry).

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use tiered_cache::{CacheConfig, Cacheable, TieredCache};
use tokio::runtime::Runtime;

use crate::BenchResult;
use crate::l1::{one_task, threads};
use crate::options::Params;
use crate::report::{Figure, Report, Row, Target};
use crate::timing::{self, median, ns_per_op, rotation};
use crate::value::{Product, SharedProduct};

/// Entries every contender holds.
const ENTRIES: usize = 100_000;
/// Capacity of every contender: above [`ENTRIES`], so no read is a miss.
const CAPACITY: usize = 120_000;
/// Every contender's ttl (where it has one): far longer than the run.
const TTL: Duration = Duration::from_secs(3_600);

/// Contenders per reading: ours and five peers.
const PER_FORM: usize = 6;
/// The contenders, in measuring order; the first [`PER_FORM`] clone the record, the rest share
/// it.
const NAMES: [&str; 2 * PER_FORM] = [
    "ours",
    "quick_cache raw",
    "moka future",
    "foyer Cache",
    "amalgam-cache (L1 only)",
    "multi-tier-cache (its L1; Redis attached)",
    "ours, get(..).shared() handle",
    "quick_cache raw, Arc values",
    "moka future, Arc values",
    "foyer Cache, entry handle",
    "amalgam-cache (L1 only), Arc values",
    "multi-tier-cache (its L1; Redis attached), read as SharedProduct",
];

/// The key a call reads: call `i` picks entry `hash(i) % ENTRIES` (Fibonacci hashing: a few
/// instructions, the same for every contender, and spread evenly over the entries).
fn pick(i: usize) -> usize {
    ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % ENTRIES
}

/// Every contender, warm.
struct Warm {
    keys: Vec<String>,
    ours: TieredCache,
    ours_arc: TieredCache,
    quick: quick_cache::sync::Cache<String, Product>,
    quick_arc: quick_cache::sync::Cache<String, Arc<Product>>,
    moka: moka::future::Cache<String, Product>,
    moka_arc: moka::future::Cache<String, Arc<Product>>,
    foyer: foyer_memory::Cache<String, Product>,
    amalgam: amalgam::Cache<Product>,
    amalgam_arc: amalgam::Cache<Arc<Product>>,
    multi_tier: Arc<multi_tier_cache::CacheManager>,
}

fn moka_cache<V: Clone + Send + Sync + 'static>() -> moka::future::Cache<String, V> {
    moka::future::Cache::builder()
        .max_capacity(CAPACITY as u64)
        .time_to_live(TTL)
        .build()
}

fn amalgam_cache<V: Clone + Send + Sync + 'static>() -> BenchResult<amalgam::Cache<V>> {
    Ok(amalgam::Cache::<V>::builder()
        .max_capacity(CAPACITY as u64)
        .default_options(amalgam::EntryOptions::new(TTL))
        .try_build()?)
}

/// Stores every product in multi-tier-cache (its L1 and Redis), from 32 tasks at once: one
/// after another, the 100k Redis writes would take longer than the rest of the family.
async fn fill_multi_tier(
    cache: &Arc<multi_tier_cache::CacheManager>,
    keys: &[String],
) -> BenchResult<()> {
    const WRITERS: usize = 32;
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let cache = Arc::clone(cache);
        let mine: Vec<(usize, String)> = keys
            .iter()
            .enumerate()
            .skip(w)
            .step_by(WRITERS)
            .map(|(i, key)| (i, key.clone()))
            .collect();
        writers.spawn(async move {
            for (i, key) in mine {
                crate::peers::multi_tier::set(&cache, &key, &Product::new(i as u64), TTL).await?;
            }
            BenchResult::Ok(())
        });
    }
    while let Some(done) = writers.join_next().await {
        done??;
    }
    Ok(())
}

/// Builds every contender and makes all [`ENTRIES`] keys hits in each.
fn warm(rt: &Runtime, redis_url: &str) -> BenchResult<Warm> {
    let keys: Vec<String> = (0..ENTRIES).map(|i| format!("product:{i}")).collect();
    let config = || CacheConfig {
        redis_url: None,
        l1_max_size: CAPACITY,
        l2_ttl: TTL,
        ..Default::default()
    };
    let ours = rt.block_on(TieredCache::new(config()))?;
    let ours_arc = rt.block_on(TieredCache::new(config()))?;
    let warm = Warm {
        quick: quick_cache::sync::Cache::new(CAPACITY),
        quick_arc: quick_cache::sync::Cache::new(CAPACITY),
        moka: moka_cache(),
        moka_arc: moka_cache(),
        foyer: foyer_memory::Cache::builder(CAPACITY).build(),
        amalgam: amalgam_cache()?,
        amalgam_arc: amalgam_cache()?,
        multi_tier: rt.block_on(crate::peers::multi_tier::connect(
            redis_url,
            CAPACITY as u64,
            TTL,
        ))?,
        keys,
        ours,
        ours_arc,
    };
    rt.block_on(async {
        for (i, key) in warm.keys.iter().enumerate() {
            let product = Product::new(i as u64);
            let shared = Arc::new(product.clone());
            warm.ours.set(key, &product).await?;
            warm.ours_arc.set(key, &product).await?;
            warm.quick.insert(key.clone(), product.clone());
            warm.quick_arc.insert(key.clone(), shared.clone());
            warm.moka.insert(key.clone(), product.clone()).await;
            warm.moka_arc.insert(key.clone(), shared.clone()).await;
            warm.amalgam.set(key, product.clone()).await?;
            warm.amalgam_arc.set(key, shared).await?;
            warm.foyer.insert(key.clone(), product);
        }
        fill_multi_tier(&warm.multi_tier, &warm.keys).await?;
        warm.moka.run_pending_tasks().await;
        warm.moka_arc.run_pending_tasks().await;
        for key in &warm.keys {
            let hit = warm.ours.get::<Product>(key).await?.is_some()
                && warm.ours_arc.get::<Product>(key).shared().await?.is_some()
                && warm.quick.get(key.as_str()).is_some()
                && warm.quick_arc.get(key.as_str()).is_some()
                && warm.moka.get(key.as_str()).await.is_some()
                && warm.moka_arc.get(key.as_str()).await.is_some()
                && warm.foyer.get(key.as_str()).is_some()
                && warm.amalgam.try_get(key.as_str()).await?.is_some()
                && warm.amalgam_arc.try_get(key.as_str()).await?.is_some()
                && crate::peers::multi_tier::get::<Product>(&warm.multi_tier, key)
                    .await?
                    .is_some();
            if !hit {
                return Err(format!("l1-100k: key {key} is not warm in every contender").into());
            }
        }
        BenchResult::Ok(())
    })?;
    Ok(warm)
}

/// One contender's batch of `n` reads on one task and on two threads.
fn measure<F, Fut>(
    rt: &Runtime,
    n: usize,
    stride: usize,
    read: &F,
) -> BenchResult<(Duration, Duration)>
where
    F: Fn(usize) -> Fut + Sync,
    Fut: Future,
{
    Ok((one_task(rt, n, 0, read), threads(n, stride, read)?))
}

/// Runs the family and adds its rows.
pub fn run(params: &Params, redis_url: &str, report: &mut Report) -> BenchResult<()> {
    let rt = timing::current_thread()?;
    let w = warm(&rt, redis_url)?;
    let keys = &w.keys;
    let key = |i: usize| keys[pick(i)].as_str();

    let ours_clone = |i: usize| w.ours.get::<Product>(key(i)).into_future();
    let quick_clone = |i: usize| std::future::ready(w.quick.get(key(i)));
    let moka_clone = |i: usize| w.moka.get(key(i));
    let foyer_clone = |i: usize| std::future::ready(w.foyer.get(key(i)).map(|e| e.value().clone()));
    let amalgam_clone = |i: usize| w.amalgam.try_get(key(i)).into_future();
    let multi_tier_clone =
        |i: usize| crate::peers::multi_tier::get::<Product>(&w.multi_tier, key(i));
    let ours_arc = |i: usize| w.ours_arc.get::<Product>(key(i)).shared().into_future();
    let quick_arc = |i: usize| std::future::ready(w.quick_arc.get(key(i)));
    let moka_arc = |i: usize| w.moka_arc.get(key(i));
    let foyer_entry = |i: usize| std::future::ready(w.foyer.get(key(i)));
    let amalgam_arc = |i: usize| w.amalgam_arc.try_get(key(i)).into_future();
    let multi_tier_arc =
        |i: usize| crate::peers::multi_tier::get::<SharedProduct>(&w.multi_tier, key(i));

    // A tenth of the hot-key batch: each read here costs several hundred ns.
    let n = (params.l1_batch / 10).max(1);
    let stride = ENTRIES / 2;
    let mut single: [Vec<f64>; NAMES.len()] = Default::default();
    let mut threaded: [Vec<f64>; NAMES.len()] = Default::default();
    for round in 0..=params.l1_rounds {
        for c in rotation(NAMES.len(), round) {
            let (one, two) = match c {
                0 => measure(&rt, n, stride, &ours_clone)?,
                1 => measure(&rt, n, stride, &quick_clone)?,
                2 => measure(&rt, n, stride, &moka_clone)?,
                3 => measure(&rt, n, stride, &foyer_clone)?,
                4 => measure(&rt, n, stride, &amalgam_clone)?,
                5 => measure(&rt, n, stride, &multi_tier_clone)?,
                6 => measure(&rt, n, stride, &ours_arc)?,
                7 => measure(&rt, n, stride, &quick_arc)?,
                8 => measure(&rt, n, stride, &moka_arc)?,
                9 => measure(&rt, n, stride, &foyer_entry)?,
                10 => measure(&rt, n, stride, &amalgam_arc)?,
                _ => measure(&rt, n, stride, &multi_tier_arc)?,
            };
            // Round 0 warms up and is not counted.
            if round > 0 {
                single[c].push(ns_per_op(one, n));
                threaded[c].push(ns_per_op(two, n));
            }
        }
    }

    for (label, figures) in [
        ("L1 hit, 100k entries of ~470 B, 1 task", &single),
        ("L1 hit, 100k entries of ~470 B, 2 threads", &threaded),
    ] {
        for (ours, form) in [(0, "cloned"), (PER_FORM, "shared")] {
            let ours_ns = median(&figures[ours]);
            for peer in 1..PER_FORM {
                let target = if peer == 1 {
                    Target::RatioAtMost(1.2)
                } else {
                    Target::None
                };
                report.push(Row::new(
                    format!("{label}, {form}"),
                    Figure::nanos(ours_ns),
                    NAMES[ours + peer],
                    Figure::nanos(median(&figures[ours + peer])),
                    target,
                ));
            }
        }
    }
    let (stats, arc_stats) = (w.ours.stats(), w.ours_arc.stats());
    report.note(
        "l1-100k",
        format!(
            "{ENTRIES} products of {bytes} bytes (`bench/src/value.rs`: 144 inline, the rest in \
             nine heap blocks; a clone allocates nine times), keys `product:<i>`, every contender with \
             capacity {CAPACITY} and, where it has one, a one-hour ttl (foyer's in-memory cache has \
             none). Call `i` reads entry `hash(i) % {ENTRIES}`: uniform, so the working set \
             (~60 MB per contender) is far beyond the CPU caches. Batches of {n} awaited calls, \
             {rounds} rounds after a warm-up round, contenders rotated; 2 threads as in `l1`. \
             Cloned: the record is cloned out of the cache. Shared: quick_cache and moka hold \
             `Arc<Product>`; ours holds `Product` and reads it with `get::<Product>(key).shared()`, \
             a handle to its L1 entry (`Shared<Product>`); foyer hands back \
             its reference-counted entry handle; amalgam-cache (`Cache::builder()` with `max_capacity`, \
             no L2, read with `try_get`) holds `Product` and `Arc<Product>`; multi-tier-cache (Redis \
             attached, L1 of {CAPACITY}, filled with `set_with_broadcast`) holds JSON bytes in its \
             L1 and decodes them on every hit, into `Product` or `SharedProduct` alike. Our L1s counted {hits} hits and {misses} misses.",
            bytes = Product::new(ENTRIES as u64 - 1).footprint(),
            rounds = params.l1_rounds,
            hits = stats.l1_stats.hits + arc_stats.l1_stats.hits,
            misses = stats.l1_stats.misses + arc_stats.l1_stats.misses,
        ),
    );
    rt.block_on(async {
        w.ours.close().await;
        w.ours_arc.close().await;
    });
    Ok(())
}

/// Ours (L1 only), holding `value(i)` under each key `keys[i]`.
fn ours_holding<V: Cacheable>(
    rt: &Runtime,
    keys: &[String],
    value: impl Fn(u64) -> V,
) -> BenchResult<TieredCache> {
    rt.block_on(async {
        let cache = TieredCache::new(CacheConfig {
            redis_url: None,
            l1_max_size: CAPACITY,
            l2_ttl: TTL,
            ..Default::default()
        })
        .await?;
        for (i, key) in keys.iter().enumerate() {
            cache.set(key, &value(i as u64)).await?;
        }
        BenchResult::Ok(cache)
    })
}

/// `--profile l1-100k-<contender>`: fills only that contender, then `ops` random hits on one
/// task, for `valgrind --tool=cachegrind --cache-sim=yes` (cache misses per hit: the difference
/// between two op counts divided by their difference).
pub fn profile(contender: &str, ops: usize) -> BenchResult<()> {
    let rt = timing::current_thread()?;
    let keys: Vec<String> = (0..ENTRIES).map(|i| format!("product:{i}")).collect();
    let key = |i: usize| keys[pick(i)].as_str();
    let elapsed = match contender {
        "ours" => {
            let cache = ours_holding(&rt, &keys, Product::new)?;
            one_task(&rt, ops, 0, &|i| cache.get::<Product>(key(i)).into_future())
        }
        "ours_shared" => {
            let cache = ours_holding(&rt, &keys, Product::new)?;
            one_task(&rt, ops, 0, &|i| {
                cache.get::<Product>(key(i)).shared().into_future()
            })
        }
        "ours_arc" => {
            let cache = ours_holding(&rt, &keys, |i| SharedProduct(Arc::new(Product::new(i))))?;
            one_task(&rt, ops, 0, &|i| {
                cache.get::<SharedProduct>(key(i)).into_future()
            })
        }
        "quick_cache" => {
            let cache = quick_cache::sync::Cache::new(CAPACITY);
            for (i, k) in keys.iter().enumerate() {
                cache.insert(k.clone(), Product::new(i as u64));
            }
            one_task(&rt, ops, 0, &|i| std::future::ready(cache.get(key(i))))
        }
        "quick_cache_arc" => {
            let cache = quick_cache::sync::Cache::new(CAPACITY);
            for (i, k) in keys.iter().enumerate() {
                cache.insert(k.clone(), Arc::new(Product::new(i as u64)));
            }
            one_task(&rt, ops, 0, &|i| std::future::ready(cache.get(key(i))))
        }
        other => return Err(format!("unknown l1-100k contender `{other}`").into()),
    };
    eprintln!(
        "l1-100k-{contender}: {ops} hits, {:.1} ns each",
        ns_per_op(elapsed, ops)
    );
    Ok(())
}
