//! Family 1: L1 hit latency, one task and two threads, against raw `quick_cache` (the floor we
//! build on), `moka::future::Cache`, foyer's in-memory `Cache`, the `cached` crate's in-memory
//! `#[cached]` async fn, and the L1s of the two Rust tiered caches (amalgam-cache without an L2,
//! multi-tier-cache with its Redis attached: it cannot be built without one).

use std::future::{Future, IntoFuture};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tiered_cache::{CacheConfig, TieredCache};
use tokio::runtime::Runtime;

use crate::BenchResult;
use crate::options::Params;
use crate::report::{Figure, Report, Row, Target};
use crate::timing::{self, median, ns_per_op, rotation};
use crate::value::Item;

/// Warm keys the readers cycle through.
const KEYS: usize = 1024;
/// Capacity of every contender (all keys fit).
const CAPACITY: usize = 10_000;
/// Every contender's ttl: far longer than the run.
const TTL: Duration = Duration::from_secs(300);
/// Threads of the contended measurement (the machine's cores).
const THREADS: usize = 2;

/// The peer: the `cached` crate's default in-memory store for an async fn with a ttl
/// (a `TtlCache` behind an async mutex).
#[cached::macros::cached(ttl_secs = 300)]
async fn cached_item(id: u64) -> Item {
    Item::new(id)
}

const NAMES: [&str; 8] = [
    "ours",
    "quick_cache raw",
    "moka future",
    "cached #[cached] (ttl)",
    "foyer Cache",
    "amalgam-cache (L1 only)",
    "multi-tier-cache (its L1; Redis attached)",
    "quick_cache raw, Arc values",
];
/// Contenders measured; the last is context for the notes (quick_cache holding `Arc<Item>`, the
/// layout of ours' L1: a hit clones an `Arc`, then the value).
const CONTENDERS: usize = NAMES.len();

/// The contenders, warm.
struct Warm {
    keys: Vec<String>,
    ours: TieredCache,
    quick: quick_cache::sync::Cache<String, Item>,
    quick_arc: quick_cache::sync::Cache<String, Arc<Item>>,
    moka: moka::future::Cache<String, Item>,
    foyer: foyer_memory::Cache<String, Item>,
    /// Absent when not asked for: its clock probe crashes under valgrind, so the other
    /// contenders' `--profile` runs leave it out.
    amalgam: Option<amalgam::Cache<Item>>,
    /// Absent without Redis (it cannot be built without one) and in `--profile` runs.
    multi_tier: Option<Arc<multi_tier_cache::CacheManager>>,
}

/// Builds every contender and makes all [`KEYS`] keys hits in each; multi-tier-cache only with
/// a `redis_url` (its hits are served by its L1, but it needs Redis to be built).
fn warm(rt: &Runtime, with_amalgam: bool, redis_url: Option<&str>) -> BenchResult<Warm> {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("item:{i}")).collect();
    let ours = rt.block_on(TieredCache::new(CacheConfig {
        redis_url: None,
        l1_max_size: CAPACITY,
        l2_ttl: TTL,
        ..Default::default()
    }))?;
    let quick = quick_cache::sync::Cache::<String, Item>::new(CAPACITY);
    let quick_arc = quick_cache::sync::Cache::<String, Arc<Item>>::new(CAPACITY);
    let moka = moka::future::Cache::<String, Item>::builder()
        .max_capacity(CAPACITY as u64)
        .time_to_live(TTL)
        .build();
    let foyer = foyer_memory::Cache::<String, Item>::builder(CAPACITY).build();
    let amalgam = if with_amalgam {
        Some(
            amalgam::Cache::<Item>::builder()
                .max_capacity(CAPACITY as u64)
                .default_options(amalgam::EntryOptions::new(TTL))
                .try_build()?,
        )
    } else {
        None
    };
    let multi_tier = match redis_url {
        Some(url) => {
            Some(rt.block_on(crate::peers::multi_tier::connect(url, CAPACITY as u64, TTL))?)
        }
        None => None,
    };
    rt.block_on(async {
        for (i, key) in keys.iter().enumerate() {
            let item = Item::new(i as u64);
            ours.set(key, &item).await?;
            if let Some(multi_tier) = &multi_tier {
                crate::peers::multi_tier::set(multi_tier, key, &item, TTL).await?;
            }
            if let Some(amalgam) = &amalgam {
                amalgam.set(key, item.clone()).await?;
            }
            quick.insert(key.clone(), item.clone());
            quick_arc.insert(key.clone(), Arc::new(item.clone()));
            foyer.insert(key.clone(), item.clone());
            moka.insert(key.clone(), item).await;
            cached_item(i as u64).await;
        }
        moka.run_pending_tasks().await;
        for (i, key) in keys.iter().enumerate() {
            let hit = ours.get::<Item>(key).await?.is_some()
                && quick.get(key.as_str()).is_some()
                && quick_arc.get(key.as_str()).is_some()
                && moka.get(key.as_str()).await.is_some()
                && foyer.get(key.as_str()).is_some()
                && match &amalgam {
                    Some(amalgam) => amalgam.try_get(key.as_str()).await?.is_some(),
                    None => true,
                }
                && match &multi_tier {
                    Some(multi_tier) => crate::peers::multi_tier::get::<Item>(multi_tier, key)
                        .await?
                        .is_some(),
                    None => true,
                }
                && cached_item(i as u64).await.id == i as u64;
            if !hit {
                return Err(format!("L1 bench: key {key} is not warm in every contender").into());
            }
        }
        BenchResult::Ok(())
    })?;
    Ok(Warm {
        keys,
        ours,
        quick,
        quick_arc,
        moka,
        foyer,
        amalgam,
        multi_tier,
    })
}

/// `--profile l1-<contender>`: only `ops` hits of one contender on one task, for
/// `valgrind --tool=callgrind` (instructions per hit = the difference between two op counts
/// divided by their difference).
pub fn profile(contender: &str, ops: usize) -> BenchResult<()> {
    let rt = timing::current_thread()?;
    let Warm {
        keys,
        ours,
        quick,
        quick_arc,
        moka,
        foyer,
        amalgam,
        ..
    } = warm(&rt, contender == "amalgam", None)?;
    let elapsed = match contender {
        "ours" => one_task(&rt, ops, 0, &|i: usize| {
            ours.get::<Item>(&keys[i % KEYS]).into_future()
        }),
        "quick_cache" => one_task(&rt, ops, 0, &|i: usize| {
            std::future::ready(quick.get(keys[i % KEYS].as_str()))
        }),
        "quick_cache_arc" => one_task(&rt, ops, 0, &|i: usize| {
            std::future::ready(
                quick_arc
                    .get(keys[i % KEYS].as_str())
                    .map(|item| (*item).clone()),
            )
        }),
        "moka" => one_task(&rt, ops, 0, &|i: usize| moka.get(keys[i % KEYS].as_str())),
        "cached" => one_task(&rt, ops, 0, &|i: usize| cached_item((i % KEYS) as u64)),
        "amalgam" => {
            let amalgam = amalgam.ok_or("amalgam-cache was not built")?;
            one_task(&rt, ops, 0, &|i: usize| {
                amalgam.try_get(keys[i % KEYS].as_str()).into_future()
            })
        }
        "foyer" => one_task(&rt, ops, 0, &|i: usize| {
            std::future::ready(
                foyer
                    .get(keys[i % KEYS].as_str())
                    .map(|e| e.value().clone()),
            )
        }),
        other => return Err(format!("unknown L1 contender `{other}`").into()),
    };
    eprintln!(
        "l1-{contender}: {ops} hits, {:.1} ns each",
        ns_per_op(elapsed, ops)
    );
    Ok(())
}

/// Runs the family and adds its rows.
pub fn run(params: &Params, redis_url: &str, report: &mut Report) -> BenchResult<()> {
    let rt = timing::current_thread()?;
    let Warm {
        keys,
        ours,
        quick,
        quick_arc,
        moka,
        foyer,
        amalgam,
        multi_tier,
    } = warm(&rt, true, Some(redis_url))?;
    let amalgam = amalgam.ok_or("the L1 bench needs amalgam-cache")?;
    let multi_tier = multi_tier.ok_or("the L1 bench needs multi-tier-cache")?;

    let ours_get = |i: usize| ours.get::<Item>(&keys[i % KEYS]).into_future();
    let quick_get = |i: usize| std::future::ready(quick.get(keys[i % KEYS].as_str()));
    let moka_get = |i: usize| moka.get(keys[i % KEYS].as_str());
    let cached_get = |i: usize| cached_item((i % KEYS) as u64);
    let foyer_get = |i: usize| {
        std::future::ready(
            foyer
                .get(keys[i % KEYS].as_str())
                .map(|e| e.value().clone()),
        )
    };
    let amalgam_get = |i: usize| amalgam.try_get(keys[i % KEYS].as_str()).into_future();
    let multi_tier_get =
        |i: usize| crate::peers::multi_tier::get::<Item>(&multi_tier, &keys[i % KEYS]);
    let arc_get = |i: usize| {
        std::future::ready(
            quick_arc
                .get(keys[i % KEYS].as_str())
                .map(|item| (*item).clone()),
        )
    };

    let n = params.l1_batch;
    let mut single: [Vec<f64>; CONTENDERS] = Default::default();
    let mut threaded: [Vec<f64>; CONTENDERS] = Default::default();
    // Round 0 warms up and is not counted.
    for round in 0..=params.l1_rounds {
        for c in rotation(CONTENDERS, round) {
            let elapsed = match c {
                0 => one_task(&rt, n, 0, &ours_get),
                1 => one_task(&rt, n, 0, &quick_get),
                2 => one_task(&rt, n, 0, &moka_get),
                3 => one_task(&rt, n, 0, &cached_get),
                4 => one_task(&rt, n, 0, &foyer_get),
                5 => one_task(&rt, n, 0, &amalgam_get),
                6 => one_task(&rt, n, 0, &multi_tier_get),
                _ => one_task(&rt, n, 0, &arc_get),
            };
            if round > 0 {
                single[c].push(ns_per_op(elapsed, n));
            }
        }
        for c in rotation(CONTENDERS, round) {
            let elapsed = match c {
                0 => threads(n, KEYS / THREADS, &ours_get)?,
                1 => threads(n, KEYS / THREADS, &quick_get)?,
                2 => threads(n, KEYS / THREADS, &moka_get)?,
                3 => threads(n, KEYS / THREADS, &cached_get)?,
                4 => threads(n, KEYS / THREADS, &foyer_get)?,
                5 => threads(n, KEYS / THREADS, &amalgam_get)?,
                6 => threads(n, KEYS / THREADS, &multi_tier_get)?,
                _ => threads(n, KEYS / THREADS, &arc_get)?,
            };
            if round > 0 {
                threaded[c].push(ns_per_op(elapsed, n));
            }
        }
    }

    observed_rows(&rt, params, report, &ours_get);

    let targets = [
        Target::RatioAtMost(1.4),
        Target::RatioBelow(1.0),
        Target::None,
        Target::None,
        Target::None,
        Target::None,
    ];
    for (label, figures) in [
        ("L1 hit, 1 task (mean per call)", &single),
        (
            "L1 hit, 2 threads (wall time per call per thread)",
            &threaded,
        ),
    ] {
        let ours_ns = median(&figures[0]);
        for (peer, target) in targets.iter().enumerate() {
            report.push(Row::new(
                label,
                Figure::nanos(ours_ns),
                NAMES[peer + 1],
                Figure::nanos(median(&figures[peer + 1])),
                *target,
            ));
        }
    }
    let stats = ours.stats();
    report.note(
        "l1",
        format!(
            "{KEYS} warm keys (a 21-byte-name record, cloned out on each hit), read round-robin; every \
             contender holds them all (capacity {CAPACITY}, ttl 300 s; ours with `redis_url: None`, \
             moka with `time_to_live`, quick_cache and foyer storing the record directly; foyer's \
             in-memory cache has no ttl, and its hit clones the record out of the entry handle; \
             amalgam-cache as `Cache::builder()` with `max_capacity` and a 300 s duration, no \
             L2, read with `try_get`; multi-tier-cache as in its invalidation docs, with Redis \
             attached and an L1 of {CAPACITY}, filled with `set_with_broadcast` and read with \
             `get_typed`: its L1 holds JSON bytes, decoded on each hit). `Instant` around \
             batches of {n} awaited calls on a current-thread tokio runtime; {rounds} rounds after \
             one warm-up round, contenders rotated each round, median batch mean reported. \
             2 threads: two OS threads, each with its own current-thread runtime, start on a \
             barrier and read from different halves of the keys; the figure is the slower thread's \
             wall time / {n}. The `cached` peer's key is a `u64` argument (its natural API); ours, \
             quick_cache's and moka's are `&str`. Our L1 counted {hits} hits and {misses} misses. \
             Context: quick_cache holding `Arc<Item>` (ours' L1 layout: a hit clones an `Arc`, \
             then the record) takes {arc1:.0} ns (1 task) and {arc2:.0} ns (2 threads).",
            rounds = params.l1_rounds,
            hits = stats.l1_stats.hits,
            misses = stats.l1_stats.misses,
            arc1 = median(&single[CONTENDERS - 1]),
            arc2 = median(&threaded[CONTENDERS - 1]),
        ),
    );
    rt.block_on(ours.close());
    Ok(())
}

/// The cost of observability on the hit path: the same hits with a Prometheus recorder and an
/// `INFO` tracing subscriber (writing to a sink) installed on the measuring thread, against none.
fn observed_rows<F, Fut>(rt: &Runtime, params: &Params, report: &mut Report, get: &F)
where
    F: Fn(usize) -> Fut,
    Fut: Future,
{
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    let dispatch = tracing::Dispatch::new(subscriber);
    let n = params.l1_batch;
    let (mut plain, mut observed) = (Vec::new(), Vec::new());
    for round in 0..=params.l1_rounds {
        let bare = one_task(rt, n, 0, get);
        let with = metrics::with_local_recorder(&recorder, || {
            tracing::dispatcher::with_default(&dispatch, || one_task(rt, n, 0, get))
        });
        if round > 0 {
            plain.push(ns_per_op(bare, n));
            observed.push(ns_per_op(with, n));
        }
    }
    report.push(Row::new(
        "L1 hit, 1 task, with a metrics recorder and an INFO tracing subscriber",
        Figure::nanos(median(&observed)),
        "ours without them",
        Figure::nanos(median(&plain)),
        Target::RatioAtMost(1.05),
    ));
}

/// Awaits `get(offset + i)` for `i` in `0..ops` on `rt`; returns the batch's wall time.
pub fn one_task<F, Fut>(rt: &Runtime, ops: usize, offset: usize, get: &F) -> Duration
where
    F: Fn(usize) -> Fut,
    Fut: Future,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..ops {
            black_box(get(black_box(offset + i)).await);
        }
        start.elapsed()
    })
}

/// [`one_task`] on [`THREADS`] threads at once, each with its own runtime, thread `t` starting
/// at call index `t * stride`; returns the slower thread's wall time.
pub fn threads<F, Fut>(ops: usize, stride: usize, get: &F) -> BenchResult<Duration>
where
    F: Fn(usize) -> Fut + Sync,
    Fut: Future,
{
    let barrier = std::sync::Barrier::new(THREADS);
    let results: Vec<BenchResult<Duration>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let barrier = &barrier;
                scope.spawn(move || -> BenchResult<Duration> {
                    let rt = timing::current_thread();
                    barrier.wait();
                    Ok(one_task(&rt?, ops, t * stride, get))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("a bench thread panicked".into()))
            })
            .collect()
    });
    let mut slowest = Duration::ZERO;
    for result in results {
        slowest = slowest.max(result?);
    }
    Ok(slowest)
}
