//! Family `miss`: a read-through miss — one caller asks for a key nobody has cached, the
//! contender reads its tiers, calls the origin (instant here, so the figure is the cache's own
//! cost) and stores the answer. Ours (`get(..).refresh_with(..)` with Redis: L1, L2 `GET`, the
//! miss lock, the origin, the conditional write with its notice) against the floor any
//! read-through over Redis pays (raw fred `GET`, then `SET .. EX`) and the `cached` crate's
//! `AsyncRedisCache` (get, then set).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cached::ConcurrentCachedAsync;
use cached::stores::AsyncRedisCache;
use fred::clients::Pool;
use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::Expiration;
use fred::types::config::Config;
use tiered_cache::{CacheConfig, CodecKind, TieredCache};
use tokio::runtime::Runtime;

use crate::BenchResult;
use crate::options::Params;
use crate::peers;
use crate::report::{Figure, Report, Row, Target};
use crate::timing::{self, Samples, median, ns_per_op, rotation};
use crate::value::{self, Item};

/// Every contender's ttl for what it stores.
const TTL: Duration = Duration::from_secs(300);

const NAMES: [&str; 5] = [
    "ours",
    "raw fred GET, then SET EX",
    "cached AsyncRedisCache (get, then set)",
    "amalgam-cache get_or_set",
    "multi-tier-cache get_or_compute_typed",
];
/// Contenders.
const N: usize = NAMES.len();

/// A contender, with the origin calls it made.
#[derive(Clone)]
enum Loader {
    Ours(TieredCache, Arc<AtomicU64>),
    Raw(Pool, Arc<AtomicU64>),
    Cached(Arc<AsyncRedisCache<u64, Item>>, Arc<AtomicU64>),
    Amalgam(amalgam::Cache<Item>, Arc<AtomicU64>),
    MultiTier(Arc<multi_tier_cache::CacheManager>, Arc<AtomicU64>, u128),
}

/// The origin: instant, counted.
fn origin(calls: &AtomicU64, id: u64) -> Item {
    calls.fetch_add(1, Ordering::Relaxed);
    Item::new(id)
}

impl Loader {
    /// Reads the cold key `id` through, calling the origin; true when the record is right.
    async fn read_through(&self, id: u64) -> BenchResult<bool> {
        let item = match self {
            Loader::Ours(cache, calls) => {
                let calls = calls.clone();
                cache
                    .get(&format!("miss:{id}"))
                    .refresh_with(move || async move { Ok::<_, Infallible>(origin(&calls, id)) })
                    .await?
            }
            Loader::Raw(pool, calls) => {
                let key = format!("bench_miss_raw:{id}");
                let client = pool.next();
                match client.get::<Option<Bytes>, _>(key.as_str()).await? {
                    Some(bytes) => value::decode(&bytes)?,
                    None => {
                        let item = origin(calls, id);
                        let bytes = Bytes::from(value::encode(&item)?);
                        let ttl = Expiration::EX(TTL.as_secs() as i64);
                        client
                            .set::<(), _, _>(key.as_str(), bytes, Some(ttl), None, false)
                            .await?;
                        item
                    }
                }
            }
            Loader::Amalgam(cache, calls) => {
                let calls = calls.clone();
                peers::amalgam::get_or_set(cache, &format!("miss:{id}"), move || async move {
                    origin(&calls, id)
                })
                .await?
            }
            Loader::MultiTier(cache, calls, run) => {
                let calls = calls.clone();
                let key = format!("bench_miss_mt_{run}:{id}");
                peers::multi_tier::get_or_compute(cache, &key, TTL, move || async move {
                    origin(&calls, id)
                })
                .await?
            }
            Loader::Cached(cache, calls) => match cache.async_cache_get(&id).await? {
                Some(item) => item,
                None => {
                    let item = origin(calls, id);
                    cache.async_cache_set(id, item.clone()).await?;
                    item
                }
            },
        };
        Ok(item.id == id)
    }

    fn origin_calls(&self) -> u64 {
        match self {
            Loader::Ours(_, calls)
            | Loader::Raw(_, calls)
            | Loader::Cached(_, calls)
            | Loader::Amalgam(_, calls)
            | Loader::MultiTier(_, calls, _) => calls.load(Ordering::Relaxed),
        }
    }
}

/// Runs the family and adds its rows.
pub fn run(params: &Params, url: &str, report: &mut Report) -> BenchResult<()> {
    // One caller on a current-thread runtime, as in the `l2` family's single-caller figures.
    let rt = timing::current_thread()?;
    let (loaders, ours) = rt.block_on(setup(url))?;
    let batch = params.l2_batch;
    let mut samples: [Samples; N] = Default::default();
    let mut means: [Vec<f64>; N] = Default::default();
    let mut wrong = 0;
    for round in 0..=params.l2_rounds {
        for c in rotation(N, round) {
            // Keys no contender has seen (each run stores under prefixes of its own).
            let first = round * batch;
            let (batch_samples, elapsed, bad) = calls(&rt, &loaders[c], first as u64, batch)?;
            if round > 0 {
                samples[c].extend(&batch_samples);
                means[c].push(ns_per_op(elapsed, batch));
            }
            wrong += bad;
        }
    }
    let expected = ((params.l2_rounds + 1) * batch) as u64;
    let origin_calls: Vec<u64> = loaders.iter().map(Loader::origin_calls).collect();
    if wrong > 0 || origin_calls.iter().any(|&n| n != expected) {
        return Err(format!(
            "miss bench: {wrong} wrong answers; origin calls {origin_calls:?}, expected {expected} each"
        )
        .into());
    }
    for peer in 1..N {
        report.push(Row::new(
            "Read-through miss, 1 caller (mean per call)",
            Figure::nanos(median(&means[0])),
            NAMES[peer],
            Figure::nanos(median(&means[peer])),
            Target::None,
        ));
    }
    let ours_p99 = samples[0].quantile_ns(0.99);
    for peer in 1..N {
        report.push(Row::new(
            "Read-through miss, 1 caller (p99)",
            Figure::nanos(ours_p99),
            NAMES[peer],
            Figure::nanos(samples[peer].quantile_ns(0.99)),
            Target::None,
        ));
    }
    let stats = ours.stats();
    report.note(
        "miss",
        format!(
            "Each call asks for a key no contender has seen and whose origin answers at once (a \
             counted function returning the record), so the figure is the cache's own cost of a \
             miss. Ours: `get(key).refresh_with(origin)` with Redis and the default deployment \
             (distributed miss lock, conditional write script, backplane notice; codec bincode); \
             raw: `GET` (nil), the origin, `SET key value EX 300`, one pooled connection per \
             call; cached: its `AsyncRedisCache` `cache_get`, the origin, `cache_set`; amalgam-cache: `get_or_set` with its factory (Redis L2, backplane and \
             distributed locker on); multi-tier-cache: `get_or_compute_typed` (moka L1, Redis L2, \
             pub/sub invalidation, JSON). One \
             caller on a current-thread runtime, {rounds} rounds of {batch} calls after a \
             warm-up round, contenders rotated; mean = median of batch means, p99 from per-call \
             timings. Every contender called the origin exactly once per key ({expected} each, \
             checked); ours counted {misses} L2 misses and {l2} L2 writes.",
            rounds = params.l2_rounds,
            misses = stats.l2_stats.misses,
            l2 = stats.l2_stats.writes,
        ),
    );
    rt.block_on(ours.close());
    Ok(())
}

/// Builds the three contenders on `url`.
async fn setup(url: &str) -> BenchResult<([Loader; N], TieredCache)> {
    // Each run's keys live under a prefix of their own, so a rerun on the same server is cold.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let ours = TieredCache::new(CacheConfig {
        redis_url: Some(url.to_owned()),
        key_prefix: format!("bench_miss_{run}"),
        l2_ttl: TTL,
        codec: CodecKind::Bincode,
        ..Default::default()
    })
    .await?;
    let pool = Pool::new(
        Config::from_url(url)?,
        None,
        None,
        None,
        ours.config().redis_pool_size,
    )?;
    pool.init().await?;
    let cached = AsyncRedisCache::<u64, Item>::builder(format!("bench_miss_cached_{run}:"))
        .ttl(TTL)
        .connection_string(url)
        .build()
        .await?;
    let loaders = [
        Loader::Ours(ours.clone(), Arc::default()),
        Loader::Raw(pool, Arc::default()),
        Loader::Cached(Arc::new(cached), Arc::default()),
        Loader::Amalgam(
            peers::amalgam::connect(url, &format!("bench_miss_amalgam_{run}"), TTL).await?,
            Arc::default(),
        ),
        Loader::MultiTier(
            peers::multi_tier::connect(url, 10_000, TTL).await?,
            Arc::default(),
            run,
        ),
    ];
    Ok((loaders, ours))
}

/// `n` read-throughs of keys `first..first + n` from one task: per-call samples, wall time,
/// wrong answers.
fn calls(
    rt: &Runtime,
    loader: &Loader,
    first: u64,
    n: usize,
) -> BenchResult<(Samples, Duration, usize)> {
    let loader = loader.clone();
    rt.block_on(async move {
        let mut samples = Samples::with_capacity(n);
        let mut wrong = 0;
        let start = Instant::now();
        for id in first..first + n as u64 {
            let t = Instant::now();
            let right = loader.read_through(id).await?;
            samples.push(t.elapsed());
            wrong += usize::from(!right);
        }
        BenchResult::Ok((samples, start.elapsed(), wrong))
    })
}
