//! Family 6: hit ratio on a skewed workload — Zipf s = 0.9 and 1.1 over 1M distinct keys, L1
//! capacity 1 % and 10 % of the keys — ours (L1 on quick_cache) vs moka (TinyLFU) and foyer's
//! in-memory cache (its default LRU, and S3-FIFO), with raw quick_cache for context. Every
//! contender replays the same seeded trace. amalgam-cache is not replayed (an insert into its
//! full L1 scans and sorts every entry): its rows give the measured cost of one such insert.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tiered_cache::{CacheConfig, TieredCache};
use tokio::runtime::Runtime;

use crate::BenchResult;
use crate::options::Params;
use crate::report::{Figure, Report, Row, Target};
use crate::timing;
use crate::zipf;

/// Distinct keys.
const KEYS: usize = 1_000_000;
/// The trace's seed.
const SEED: u64 = 0x7113_D0CA_C4E5;
/// Zipf exponents.
const EXPONENTS: [f64; 2] = [0.9, 1.1];
/// L1 capacities, in percent of the keys.
const CAPACITY_PERCENT: [usize; 2] = [1, 10];

/// Hits and counted requests.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    hits: u64,
    counted: u64,
}

impl Tally {
    fn percent(self) -> f64 {
        100.0 * self.hits as f64 / self.counted.max(1) as f64
    }
}

/// Runs the family and adds its rows.
pub fn run(params: &Params, report: &mut Report) -> BenchResult<()> {
    let rt = timing::current_thread()?;
    let warmup = params.zipf_requests / 5;
    let mut context = Vec::new();
    for s in EXPONENTS {
        let trace = zipf::trace(KEYS, s, params.zipf_requests, SEED);
        for percent in CAPACITY_PERCENT {
            let capacity = KEYS * percent / 100;
            let ours = replay_ours(&rt, &trace, warmup, capacity)?;
            let moka = replay_moka(&rt, &trace, warmup, capacity);
            let quick = replay_quick(&trace, warmup, capacity);
            let lru: foyer_memory::Cache<String, u64> =
                foyer_memory::Cache::builder(capacity).build();
            let s3fifo: foyer_memory::Cache<String, u64> = foyer_memory::Cache::builder(capacity)
                .with_eviction_config(foyer_memory::S3FifoConfig::default())
                .build();
            let peers = [
                ("moka (TinyLFU)", moka, Target::PointsWithin(1.0)),
                (
                    "foyer Cache (LRU, its default)",
                    replay_foyer(&lru, &trace, warmup),
                    Target::None,
                ),
                (
                    "foyer Cache (S3-FIFO)",
                    replay_foyer(&s3fifo, &trace, warmup),
                    Target::None,
                ),
            ];
            let measurement = format!("Hit ratio, Zipf s={s}, L1 = {percent} % of 1M keys");
            for (name, tally, target) in peers {
                report.push(Row::new(
                    &measurement,
                    Figure::percent(ours.percent()),
                    name,
                    Figure::percent(tally.percent()),
                    target,
                ));
            }
            // amalgam-cache is not replayed: each insert into its full L1 costs what
            // `amalgam_insert_when_full` measures, so the trace would take too long to run.
            let insert = amalgam_insert_when_full(&rt, capacity)?;
            let misses = trace.len() as f64 * (1.0 - ours.percent() / 100.0);
            report.push(Row::cannot(
                &measurement,
                Figure::percent(ours.percent()),
                "amalgam-cache",
                format!(
                    "too slow to replay: an insert into its full L1 of {capacity} entries took \
                     {insert:.2?} (it collects and sorts every entry to pick a victim), so the \
                     trace's ~{:.1}M misses would take ~{:.0} min",
                    misses / 1e6,
                    insert.as_secs_f64() * misses / 60.0
                ),
            ));
            report.push(Row::cannot(
                &measurement,
                Figure::percent(ours.percent()),
                "multi-tier-cache",
                "not replayed: it needs Redis, and every miss's set would write it; its L1 evicts as moka does, the moka row",
            ));
            context.push(format!(
                "s={s}/{percent} %: quick_cache raw {:.2} %",
                quick.percent()
            ));
        }
    }
    report.note(
        "hit-ratio",
        format!(
            "A trace of {requests} requests over {KEYS} keys (Zipf rank → key `k<rank>`, \
             SplitMix64 seed {SEED:#x}), the same for every contender; the first {warmup} warm \
             the cache and are not counted. Each request is a `get`; a miss is followed by a \
             `set` (ours: L1 only, `l1_max_size` = capacity; moka: `max_capacity` = capacity; \
             foyer: capacity in entries, its default 8 shards; String keys everywhere). For context, raw quick_cache with the same capacity: {context}.",
            requests = params.zipf_requests,
            context = context.join(", "),
        ),
    );
    Ok(())
}

/// Inserts into a full amalgam-cache L1 of `capacity` entries: the mean time of one.
fn amalgam_insert_when_full(rt: &Runtime, capacity: usize) -> BenchResult<Duration> {
    // Enough inserts to average over, few enough to stay within a second or two.
    let inserts = (2_000_000 / capacity).clamp(5, 200);
    rt.block_on(async {
        let cache = amalgam::Cache::<u64>::builder()
            .max_capacity(capacity as u64)
            .default_options(amalgam::EntryOptions::new(Duration::from_secs(3_600)))
            .try_build()?;
        for i in 0..capacity {
            cache.set(format!("k{i}"), i as u64).await?;
        }
        let start = Instant::now();
        for i in 0..inserts {
            cache.set(format!("x{i}"), i as u64).await?;
        }
        let elapsed = start.elapsed();
        // Each of those inserts evicted one entry: the cache stayed at its capacity.
        let held = cache.try_get(format!("x{}", inserts - 1)).await?.is_some();
        if !held {
            return Err("hit-ratio: amalgam-cache dropped the newest insert".into());
        }
        Ok(elapsed / inserts as u32)
    })
}

fn replay_ours(rt: &Runtime, trace: &[u32], warmup: usize, capacity: usize) -> BenchResult<Tally> {
    rt.block_on(async {
        let cache = TieredCache::new(CacheConfig {
            redis_url: None,
            l1_max_size: capacity,
            ..Default::default()
        })
        .await?;
        let mut tally = Tally::default();
        let mut key = String::with_capacity(16);
        for (i, &rank) in trace.iter().enumerate() {
            key.clear();
            let _ = write!(key, "k{rank}");
            let hit = cache.get::<u64>(&key).await?.is_some();
            if !hit {
                cache.set(&key, &u64::from(rank)).await?;
            }
            if i >= warmup {
                tally.counted += 1;
                tally.hits += u64::from(hit);
            }
        }
        cache.close().await;
        Ok(tally)
    })
}

fn replay_moka(rt: &Runtime, trace: &[u32], warmup: usize, capacity: usize) -> Tally {
    rt.block_on(async {
        let cache = moka::future::Cache::<String, u64>::new(capacity as u64);
        let mut tally = Tally::default();
        let mut key = String::with_capacity(16);
        for (i, &rank) in trace.iter().enumerate() {
            key.clear();
            let _ = write!(key, "k{rank}");
            let hit = cache.get(key.as_str()).await.is_some();
            if !hit {
                cache.insert(key.clone(), u64::from(rank)).await;
            }
            if i >= warmup {
                tally.counted += 1;
                tally.hits += u64::from(hit);
            }
        }
        tally
    })
}

/// Replays `trace` on an in-memory map read by `get` and filled by `insert`.
fn replay_map(
    trace: &[u32],
    warmup: usize,
    get: impl Fn(&str) -> bool,
    insert: impl Fn(String, u64),
) -> Tally {
    let mut tally = Tally::default();
    let mut key = String::with_capacity(16);
    for (i, &rank) in trace.iter().enumerate() {
        key.clear();
        let _ = write!(key, "k{rank}");
        let hit = get(&key);
        if !hit {
            insert(key.clone(), u64::from(rank));
        }
        if i >= warmup {
            tally.counted += 1;
            tally.hits += u64::from(hit);
        }
    }
    tally
}

fn replay_foyer(cache: &foyer_memory::Cache<String, u64>, trace: &[u32], warmup: usize) -> Tally {
    replay_map(
        trace,
        warmup,
        |key| cache.get(key).is_some(),
        |key, value| {
            cache.insert(key, value);
        },
    )
}

fn replay_quick(trace: &[u32], warmup: usize, capacity: usize) -> Tally {
    let cache = quick_cache::sync::Cache::<String, u64>::new(capacity);
    replay_map(
        trace,
        warmup,
        |key| cache.get(key).is_some(),
        |key, value| cache.insert(key, value),
    )
}
