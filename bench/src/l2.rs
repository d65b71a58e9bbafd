//! Family 3: L2 hits with L1 out of the way, against a raw fred GET + bincode decode (the
//! floor), the same GET with its future boxed (what an object-safe backend boundary such as
//! ours costs on its own) and boxed inside a second boxed future (as ours' read runs it: the
//! gap between the two is what static dispatch over the backend would save), the `cached` crate's `AsyncRedisCache`, amalgam-cache and
//! multi-tier-cache: one caller's latency, and throughput with 64 and 256 concurrent tasks.
//!
//! Ours reads with `skip_l1()` over 10 000 keys round-robin: every read goes to Redis and
//! decodes, and L1 is neither read nor filled.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cached::ConcurrentCachedAsync;
use cached::stores::AsyncRedisCache;
use fred::clients::Pool;
use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::config::Config;
use futures::future::BoxFuture;
use tiered_cache::{CacheConfig, CodecKind, TieredCache};
use tokio::runtime::Runtime;

use crate::BenchResult;
use crate::options::Params;
use crate::peers;
use crate::report::{Figure, Report, Row, Target};
use crate::timing::{self, Samples, median, ns_per_op, rotation};
use crate::value::{self, Item};

/// Distinct keys read round-robin (far more than ours' one-entry L1).
const KEYS: usize = 10_000;
/// Concurrency levels of the throughput measurement.
const CONCURRENCY: [usize; 2] = [64, 256];
/// Spreads tasks over the key space (a prime, so tasks do not share keys).
const STRIDE: usize = 7_919;

const NAMES: [&str; 7] = [
    "ours",
    "raw fred GET + bincode decode",
    "cached AsyncRedisCache",
    "amalgam-cache (L1 skipped)",
    "multi-tier-cache (L1 of 1 entry)",
    "raw fred GET + decode, its future boxed",
    "raw fred GET + decode, boxed in a boxed read",
];
/// Contenders.
const N: usize = NAMES.len();

/// A contender: something that answers "read item `i`".
#[derive(Clone)]
enum Reader {
    Ours(TieredCache, Arc<[String]>),
    Raw(Pool, Arc<[String]>),
    /// Raw fred with its GET future boxed, as an object-safe backend (ours) hands it back: what
    /// the box alone costs.
    RawBoxed(Pool, Arc<[String]>),
    /// `RawBoxed` awaited inside a second boxed future, as ours' read awaits its backend's
    /// boxed future inside its own boxed slow path. Against `RawBoxed` it measures what static
    /// dispatch over the backend would save: the backend's future inside the read's one box
    /// instead of a box of its own.
    RawBoxedTwice(Pool, Arc<[String]>),
    Cached(Arc<AsyncRedisCache<u64, Item>>),
    Amalgam(amalgam::Cache<Item>, Arc<[String]>),
    /// A contender left out of this run (amalgam-cache under valgrind: its clock probe
    /// crashes there); every read counts as a miss.
    Absent,
    MultiTier(Arc<multi_tier_cache::CacheManager>, Arc<[String]>),
}

impl Reader {
    /// Reads item `i % KEYS`; true when it was a hit holding the right record.
    async fn hit(&self, i: usize) -> bool {
        let id = i % KEYS;
        let expected = id as u64;
        match self {
            Reader::Ours(cache, keys) => match cache.get::<Item>(&keys[id]).skip_l1().await {
                Ok(Some(item)) => black_box(item).id == expected,
                _ => false,
            },
            Reader::Raw(pool, keys) => {
                match pool.next().get::<Option<Bytes>, _>(keys[id].as_str()).await {
                    Ok(Some(bytes)) => {
                        value::decode(&bytes).is_ok_and(|item| black_box(item).id == expected)
                    }
                    _ => false,
                }
            }
            Reader::RawBoxed(pool, keys) => {
                let get: BoxFuture<'_, Result<Option<Bytes>, _>> =
                    Box::pin(pool.next().get::<Option<Bytes>, _>(keys[id].as_str()));
                match get.await {
                    Ok(Some(bytes)) => {
                        value::decode(&bytes).is_ok_and(|item| black_box(item).id == expected)
                    }
                    _ => false,
                }
            }
            Reader::RawBoxedTwice(pool, keys) => {
                let read: BoxFuture<'_, Result<Option<Bytes>, fred::error::Error>> =
                    Box::pin(async move {
                        let get: BoxFuture<'_, Result<Option<Bytes>, _>> =
                            Box::pin(pool.next().get::<Option<Bytes>, _>(keys[id].as_str()));
                        get.await
                    });
                match read.await {
                    Ok(Some(bytes)) => {
                        value::decode(&bytes).is_ok_and(|item| black_box(item).id == expected)
                    }
                    _ => false,
                }
            }
            Reader::Cached(cache) => match cache.async_cache_get(&expected).await {
                Ok(Some(item)) => black_box(item).id == expected,
                _ => false,
            },
            Reader::MultiTier(cache, keys) => {
                match peers::multi_tier::get::<Item>(cache, &keys[id]).await {
                    Ok(Some(item)) => black_box(item).id == expected,
                    _ => false,
                }
            }
            Reader::Absent => false,
            Reader::Amalgam(cache, keys) => match peers::amalgam::get_l2(cache, &keys[id]).await {
                Ok(Some(item)) => black_box(item).id == expected,
                _ => false,
            },
        }
    }
}

/// Runs the family and adds its rows.
pub fn run(params: &Params, url: &str, report: &mut Report) -> BenchResult<()> {
    // One caller runs on a current-thread runtime: the caller and every client's connection
    // tasks share one thread, so the figure does not depend on which worker each task landed
    // on (on two workers it flips between ~25 and ~60 µs from run to run with task placement).
    let rt = timing::current_thread()?;
    let (readers, single_ours) = rt.block_on(setup(url, None, true, true))?;

    // One caller: per-call samples and per-batch means, contenders interleaved.
    let mut samples: [Samples; N] = Default::default();
    let mut means: [Vec<f64>; N] = Default::default();
    let mut misses = 0;
    for round in 0..=params.l2_rounds {
        for c in rotation(N, round) {
            let offset = round * params.l2_batch;
            let (batch, elapsed, missed) =
                single_caller(&rt, &readers[c], offset, params.l2_batch)?;
            // Round 0 warms connections and scripts up.
            if round > 0 {
                samples[c].extend(&batch);
                means[c].push(ns_per_op(elapsed, params.l2_batch));
                misses += missed;
            }
        }
    }
    let mean: Vec<f64> = means.iter().map(|m| median(m)).collect();
    for peer in 1..N {
        let target = if peer == 1 {
            Target::RatioAtMost(1.05)
        } else {
            Target::None
        };
        report.push(Row::new(
            "L2 hit, 1 caller (mean per call)",
            Figure::nanos(mean[0]),
            NAMES[peer],
            Figure::nanos(mean[peer]),
            target,
        ));
    }
    let ours_p99 = samples[0].quantile_ns(0.99);
    for peer in 1..N {
        let peer_p99 = samples[peer].quantile_ns(0.99);
        report.push(Row::new(
            "L2 hit, 1 caller (p99)",
            Figure::nanos(ours_p99),
            NAMES[peer],
            Figure::nanos(peer_p99),
            Target::None,
        ));
    }
    let p50: Vec<String> = samples
        .iter_mut()
        .map(|s| format!("{:.1} µs", s.quantile_ns(0.5) / 1e3))
        .collect();

    let l1_single = single_ours.stats().l1_stats;
    rt.block_on(single_ours.close());
    drop(readers);
    drop(rt);

    // Many callers: throughput, on two workers (the shape of a small service here).
    let rt = timing::two_workers()?;
    let (readers, ours) = rt.block_on(setup(url, None, false, true))?;
    for concurrency in CONCURRENCY {
        let mut rates: [Vec<f64>; N] = Default::default();
        for round in 0..=params.l2_concurrent_rounds {
            for c in rotation(N, round) {
                let (elapsed, missed, done) =
                    concurrent(&rt, &readers[c], concurrency, params.l2_concurrent_ops)?;
                if round > 0 {
                    rates[c].push(done as f64 / elapsed.as_secs_f64());
                    misses += missed;
                }
            }
        }
        for peer in 1..N {
            let target = if peer == 1 {
                Target::RatioAtLeast(1.0)
            } else {
                Target::None
            };
            report.push(Row::new(
                format!("L2 hits/s, {concurrency} concurrent tasks"),
                Figure::ops(median(&rates[0])),
                NAMES[peer],
                Figure::ops(median(&rates[peer])),
                target,
            ));
        }
    }
    if misses > 0 {
        return Err(format!("L2 bench: {misses} reads were not hits").into());
    }

    let l1 = ours.stats().l1_stats;
    report.note(
        "l2",
        format!(
            "{KEYS} keys holding the same record in each contender's own format (ours: envelope + \
             {codec}, the raw contender's codec, so both decode the same payload (the default, \
             MessagePack with field names, costs ~220 more instructions per decode of this record); raw: bincode; cached: MessagePack in its own wrapper; amalgam-cache: its postcard serializer), read \
             round-robin. amalgam-cache (Redis L2, backplane and locker, as its Redis example \
             wires them) reads with `try_get(..).options(|o| o.with_skip_memory(true, true))`: \
             its L1 neither read nor written, so it reads Redis on every call as ours does. \
             multi-tier-cache (moka L1, Redis L2, invalidation on, JSON) cannot skip its L1: it \
             has an L1 of one entry, so nearly every read goes to Redis and promotes into it. \
             Ours reads with `skip_l1()`: every read goes to Redis and decodes, and L1 is neither \
             read nor filled; the row \"its future boxed\" is the raw GET awaited through \
             `Box::pin` as a `dyn Future`, as ours' object-safe backend hands its fred future \
             to the engine, so the gap between the two raw rows is the box's own cost; the row \
             \"boxed in a boxed read\" awaits that boxed GET inside a second boxed future, as \
             ours' read awaits its backend's future inside its own boxed slow path, so its gap \
             to the single box is what static dispatch over the backend (fred's future inside \
             the read's one box) would save (ours' L1 served {l1_hits} of its {l1_total} reads; an L2 hit that \
             also fills L1 costs about 1.3k more instructions, a quick_cache insert and the \
             entry's allocation). Raw fred \
             uses a pool of the same size as ours ({pool} connections); the `cached` store has its \
             one multiplexed connection. One caller: a current-thread tokio runtime (caller and \
             connection tasks on one thread, so task placement cannot flip the figure), \
             {rounds} rounds of {batch} sequential calls after a warm-up round, \
             contenders rotated; mean = median of the batch means (`Instant` around each batch), \
             p99 from per-call `Instant` timings (p50: {p50}). Throughput: \
             a two-worker runtime, {ops} reads split over 64 or 256 spawned tasks, wall time from first spawn to last \
             join, median of {crounds} rounds. Every read was checked to be a hit with the right \
             record.",
            l1_hits = l1.hits + l1_single.hits,
            l1_total = l1.hits + l1.misses + l1_single.hits + l1_single.misses,
            pool = ours.config().redis_pool_size,
            codec = ours.config().codec,
            rounds = params.l2_rounds,
            batch = params.l2_batch,
            p50 = NAMES
                .iter()
                .zip(&p50)
                .map(|(name, p)| format!("{name} {p}"))
                .collect::<Vec<_>>()
                .join(", "),
            ops = params.l2_concurrent_ops,
            crounds = params.l2_concurrent_rounds,
        ),
    );
    rt.block_on(ours.close());
    crate::batch::run(params, url, report)
}

/// `--profile l2-<contender>[-<tasks>]`: only `ops` L2 hits of one contender, from one task or
/// `tasks` concurrent tasks, for `valgrind --tool=callgrind`.
pub fn profile(contender: &str, tasks: usize, ops: usize, url: &str) -> BenchResult<()> {
    let rt = if tasks <= 1 {
        timing::current_thread()?
    } else {
        timing::two_workers()?
    };
    // Under callgrind everything runs ~50x slower: a generous L2 timeout keeps ours' reads from
    // timing out (the path and its instructions are the same; only the deadline differs).
    let (readers, ours) = rt.block_on(setup(
        url,
        Some(Duration::from_secs(10)),
        true,
        contender == "amalgam",
    ))?;
    let index = match contender {
        "ours" => 0,
        "raw" => 1,
        "cached" => 2,
        "amalgam" => 3,
        "multi_tier" => 4,
        "raw_boxed" => 5,
        "raw_boxed_twice" => 6,
        other => return Err(format!("unknown L2 contender `{other}`").into()),
    };
    let (elapsed, misses) = if tasks <= 1 {
        let (_, elapsed, misses) = single_caller(&rt, &readers[index], 0, ops)?;
        (elapsed, misses)
    } else {
        let (elapsed, misses, _) = concurrent(&rt, &readers[index], tasks, ops)?;
        (elapsed, misses)
    };
    eprintln!(
        "l2-{contender} ({tasks} tasks): {ops} reads, {misses} misses, {:.0} reads/s",
        ops as f64 / elapsed.as_secs_f64()
    );
    rt.block_on(ours.close());
    Ok(())
}

/// Connects the three contenders and, with `write`, stores the same records through each.
async fn setup(
    url: &str,
    l2_timeout: Option<Duration>,
    write: bool,
    with_amalgam: bool,
) -> BenchResult<([Reader; N], TieredCache)> {
    let defaults = CacheConfig::default();
    let ours = TieredCache::new(CacheConfig {
        redis_url: Some(url.to_owned()),
        key_prefix: "bench_l2".to_owned(),
        l1_max_size: 1,
        l2_ttl: Duration::from_secs(3600),
        codec: CodecKind::Bincode,
        l2_timeout: l2_timeout.unwrap_or(defaults.l2_timeout),
        ..defaults
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
    let cached = AsyncRedisCache::<u64, Item>::builder("bench_l2_cached")
        .ttl(Duration::from_secs(3600))
        .connection_string(url)
        .build()
        .await?;
    let amalgam = if with_amalgam {
        Some(peers::amalgam::connect(url, "bench_l2_amalgam", Duration::from_secs(3600)).await?)
    } else {
        None
    };
    // It cannot skip its L1: one entry of it, and 10 000 keys read round-robin.
    let multi_tier = peers::multi_tier::connect(url, 1, Duration::from_secs(3600)).await?;
    let mt_keys: Arc<[String]> = (0..KEYS).map(|i| format!("bench_l2_mt:item:{i}")).collect();

    let ours_keys: Arc<[String]> = (0..KEYS).map(|i| format!("item:{i}")).collect();
    let raw_keys: Arc<[String]> = (0..KEYS)
        .map(|i| format!("bench_l2_raw:item:{i}"))
        .collect();
    let chunks: Vec<usize> = if write {
        (0..KEYS).collect()
    } else {
        Vec::new()
    };
    for chunk in chunks.chunks(250) {
        let writes = chunk.iter().map(|&i| {
            let (ours, pool, cached, amalgam) = (&ours, &pool, &cached, &amalgam);
            let (multi_tier, mt_key) = (&multi_tier, &mt_keys[i]);
            let (ours_key, raw_key) = (&ours_keys[i], &raw_keys[i]);
            async move {
                let item = Item::new(i as u64);
                ours.set(ours_key, &item).await?;
                let bytes = Bytes::from(value::encode(&item)?);
                pool.next()
                    .set::<(), _, _>(raw_key.as_str(), bytes, None, None, false)
                    .await?;
                cached.async_cache_set(i as u64, item.clone()).await?;
                peers::multi_tier::set(multi_tier, mt_key, &item, Duration::from_secs(3600))
                    .await?;
                if let Some(amalgam) = amalgam {
                    peers::amalgam::set(amalgam, ours_key, item).await?;
                }
                BenchResult::Ok(())
            }
        });
        for outcome in futures::future::join_all(writes).await {
            outcome?;
        }
    }
    let readers = [
        Reader::Ours(ours.clone(), ours_keys.clone()),
        Reader::Raw(pool.clone(), raw_keys.clone()),
        Reader::Cached(Arc::new(cached)),
        match amalgam {
            Some(amalgam) => Reader::Amalgam(amalgam, ours_keys.clone()),
            None => Reader::Absent,
        },
        Reader::MultiTier(multi_tier, mt_keys),
        Reader::RawBoxed(pool.clone(), raw_keys.clone()),
        Reader::RawBoxedTwice(pool, raw_keys),
    ];
    Ok((readers, ours))
}

/// `calls` sequential reads from one task spawned on `rt`: per-call samples, batch wall time,
/// misses.
fn single_caller(
    rt: &Runtime,
    reader: &Reader,
    offset: usize,
    calls: usize,
) -> BenchResult<(Samples, Duration, usize)> {
    let reader = reader.clone();
    let task = async move {
        let mut samples = Samples::with_capacity(calls);
        let mut misses = 0;
        let start = Instant::now();
        for j in 0..calls {
            let t = Instant::now();
            let hit = reader.hit(offset + j).await;
            samples.push(t.elapsed());
            misses += usize::from(!hit);
        }
        (samples, start.elapsed(), misses)
    };
    Ok(rt.block_on(rt.spawn(task))?)
}

/// `ops` reads split over `tasks` spawned tasks: wall time, misses, and reads done.
fn concurrent(
    rt: &Runtime,
    reader: &Reader,
    tasks: usize,
    ops: usize,
) -> BenchResult<(Duration, usize, usize)> {
    rt.block_on(async {
        let per_task = ops / tasks;
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for t in 0..tasks {
            let reader = reader.clone();
            set.spawn(async move {
                let mut misses = 0;
                for j in 0..per_task {
                    misses += usize::from(!reader.hit(t * STRIDE + j).await);
                }
                misses
            });
        }
        let mut misses = 0;
        while let Some(joined) = set.join_next().await {
            misses += joined?;
        }
        Ok((start.elapsed(), misses, per_task * tasks))
    })
}
