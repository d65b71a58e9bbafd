//! Family 4: a stampede — 1000 concurrent callers on a cold key whose origin takes 50 ms.
//! Origin calls, and p50/p99 caller latency: ours (`get(..).refresh_with(..)`, with Redis and
//! distributed locks, the default deployment) vs moka `get_with` vs the `cached` macro with its
//! default options (and, for context, with `sync_writes = "by_key"`) vs amalgam-cache's
//! `get_or_set`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tiered_cache::{CacheConfig, TieredCache};
use tokio::runtime::Runtime;

use crate::BenchResult;
use crate::options::Params;
use crate::peers;
use crate::report::{Figure, Report, Row, Target};
use crate::timing::{self, Samples, rotation};
use crate::value::Item;

/// Concurrent callers per trial.
const CALLERS: usize = 1000;
/// How long the origin takes.
const ORIGIN: Duration = Duration::from_millis(50);
/// The ttl of the peers that need one.
const TTL: Duration = Duration::from_secs(300);

static CACHED_CALLS: AtomicU64 = AtomicU64::new(0);
static CACHED_BY_KEY_CALLS: AtomicU64 = AtomicU64::new(0);

/// The `cached` peer with default options (no write synchronisation).
#[cached::macros::cached]
async fn cached_origin(key: u64) -> Item {
    CACHED_CALLS.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(ORIGIN).await;
    Item::new(key)
}

/// The `cached` peer with per-key write synchronisation.
#[cached::macros::cached(sync_writes = "by_key")]
async fn cached_origin_by_key(key: u64) -> Item {
    CACHED_BY_KEY_CALLS.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(ORIGIN).await;
    Item::new(key)
}

/// The origin of every loader-driven stampede (ours' and the peers'): counts its call, takes
/// [`ORIGIN`], answers item `key`.
pub async fn slow_origin(calls: Arc<AtomicU64>, key: u64) -> Item {
    calls.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(ORIGIN).await;
    Item::new(key)
}

const NAMES: [&str; 6] = [
    "ours",
    "moka get_with",
    "cached #[cached] (default)",
    "cached #[cached] (sync_writes = \"by_key\")",
    "amalgam-cache get_or_set",
    "multi-tier-cache get_or_compute_typed",
];
/// Contenders.
const N: usize = NAMES.len();

#[derive(Clone)]
enum Contender {
    Ours(TieredCache, Arc<AtomicU64>),
    Moka(moka::future::Cache<u64, Item>, Arc<AtomicU64>),
    Cached,
    CachedByKey,
    Amalgam(amalgam::Cache<Item>, Arc<AtomicU64>),
    MultiTier(Arc<multi_tier_cache::CacheManager>, Arc<AtomicU64>),
}

impl Contender {
    /// One caller: reads `key` through the contender's loader; true when the value is right.
    async fn call(&self, key: u64) -> bool {
        match self {
            Contender::Ours(cache, calls) => {
                let calls = calls.clone();
                let name = format!("stampede:{key}");
                cache
                    .get(&name)
                    .refresh_with(move || async move {
                        Ok::<_, Infallible>(slow_origin(calls, key).await)
                    })
                    .await
                    .is_ok_and(|item| item.id == key)
            }
            Contender::Moka(cache, calls) => {
                let item = cache.get_with(key, slow_origin(calls.clone(), key)).await;
                item.id == key
            }
            Contender::Amalgam(cache, calls) => {
                let calls = calls.clone();
                let origin = move || slow_origin(calls, key);
                peers::amalgam::get_or_set(cache, &format!("stampede:{key}"), origin)
                    .await
                    .is_ok_and(|item| item.id == key)
            }
            Contender::MultiTier(cache, calls) => {
                let calls = calls.clone();
                let origin = move || slow_origin(calls, key);
                let name = format!("bench_stampede_mt:{key}");
                peers::multi_tier::get_or_compute(cache, &name, TTL, origin)
                    .await
                    .is_ok_and(|item| item.id == key)
            }
            Contender::Cached => cached_origin(key).await.id == key,
            Contender::CachedByKey => cached_origin_by_key(key).await.id == key,
        }
    }

    /// Origin calls so far.
    fn origin_calls(&self) -> u64 {
        match self {
            Contender::Ours(_, calls)
            | Contender::Moka(_, calls)
            | Contender::Amalgam(_, calls)
            | Contender::MultiTier(_, calls) => calls.load(Ordering::Relaxed),
            Contender::Cached => CACHED_CALLS.load(Ordering::Relaxed),
            Contender::CachedByKey => CACHED_BY_KEY_CALLS.load(Ordering::Relaxed),
        }
    }
}

/// Runs the family and adds its rows.
pub fn run(params: &Params, url: &str, report: &mut Report) -> BenchResult<()> {
    let rt = timing::two_workers()?;
    let ours = rt.block_on(TieredCache::new(CacheConfig {
        redis_url: Some(url.to_owned()),
        key_prefix: "bench_stampede".to_owned(),
        ..Default::default()
    }))?;
    let contenders = [
        Contender::Ours(ours.clone(), Arc::default()),
        Contender::Moka(moka::future::Cache::new(10_000), Arc::default()),
        Contender::Cached,
        Contender::CachedByKey,
        Contender::Amalgam(
            rt.block_on(peers::amalgam::connect(url, "bench_stampede_amalgam", TTL))?,
            Arc::default(),
        ),
        Contender::MultiTier(
            rt.block_on(peers::multi_tier::connect(url, 10_000, TTL))?,
            Arc::default(),
        ),
    ];
    let mut samples: [Samples; N] = Default::default();
    let mut calls: [Vec<u64>; N] = Default::default();
    for trial in 0..params.stampede_trials {
        for c in rotation(N, trial) {
            // A key no contender has seen: cold everywhere.
            let key = (trial * 10 + c) as u64 + 1;
            let (batch, origin_calls) = stampede(&rt, &contenders[c], key)?;
            samples[c].extend(&batch);
            calls[c].push(origin_calls);
        }
    }

    for peer in 1..N {
        let target = if peer == 1 {
            Target::OursExactly(1.0)
        } else {
            Target::None
        };
        report.push(Row::new(
            "Stampede: origin calls (1000 callers, cold key; worst trial)",
            Figure::count(worst(&calls[0])),
            NAMES[peer],
            Figure::count(worst(&calls[peer])),
            target,
        ));
    }
    for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
        let ours_q = samples[0].quantile_ns(q);
        for peer in 1..N {
            report.push(Row::new(
                format!("Stampede: caller latency {label}"),
                Figure::nanos(ours_q),
                NAMES[peer],
                Figure::nanos(samples[peer].quantile_ns(q)),
                Target::None,
            ));
        }
    }
    let per_trial: Vec<String> = NAMES
        .iter()
        .zip(&calls)
        .map(|(name, calls)| format!("{name} {calls:?}"))
        .collect();
    report.note(
        "stampede",
        format!(
            "{CALLERS} tasks on a two-worker tokio runtime wait on a barrier, then all read one \
             cold key through the contender's loader (origin: 50 ms sleep, counted). Each caller \
             times its own call with `Instant`; p50/p99 over all callers of {trials} trials (a \
             fresh key per trial and contender, contenders rotated). Ours is the default \
             deployment: Redis L2, backplane and distributed locks on (a cold miss checks L2, \
             takes the load lock, loads once, writes both tiers); amalgam-cache likewise (Redis L2, \
             backplane and distributed locker, `get_or_set`); multi-tier-cache with its moka L1, Redis L2 and pub/sub invalidation \
             (`get_or_compute_typed`). Origin calls per trial: {calls}.",
            trials = params.stampede_trials,
            calls = per_trial.join("; "),
        ),
    );
    rt.block_on(ours.close());
    Ok(())
}

/// The largest count over the trials.
fn worst(calls: &[u64]) -> f64 {
    calls.iter().copied().max().unwrap_or(0) as f64
}

/// One trial: per-caller latencies and the origin calls it caused.
fn stampede(rt: &Runtime, contender: &Contender, key: u64) -> BenchResult<(Samples, u64)> {
    rt.block_on(async {
        let before = contender.origin_calls();
        let barrier = Arc::new(tokio::sync::Barrier::new(CALLERS));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..CALLERS {
            let (contender, barrier) = (contender.clone(), barrier.clone());
            set.spawn(async move {
                barrier.wait().await;
                let start = Instant::now();
                let right = contender.call(key).await;
                (start.elapsed(), right)
            });
        }
        let mut samples = Samples::with_capacity(CALLERS);
        let mut wrong = 0;
        while let Some(joined) = set.join_next().await {
            let (elapsed, right) = joined?;
            samples.push(elapsed);
            wrong += usize::from(!right);
        }
        if wrong > 0 {
            return Err(format!("stampede: {wrong} callers got a wrong value or an error").into());
        }
        Ok((samples, contender.origin_calls() - before))
    })
}
