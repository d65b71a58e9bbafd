//! Family "fleet": what several instances of a service see when they share one Redis.
//!
//! - **Stampede across instances**: three cache instances (each with its own Redis
//!   connections, as three processes would have), 999 callers split evenly over them, all
//!   released at once on a cold key whose origin takes 50 ms. Ours coalesces across instances
//!   (one origin call for the fleet); an in-process cache per instance cannot (one per instance).
//! - **Propagation**: instance A `set`s a new value of a key instance B holds in L1; the time
//!   from A's `set` returning until B's `get` returns the new value. The floor is what any
//!   notify-then-reread design needs: from a `PUBLISH` returning until a subscriber on another
//!   connection has received it and read the key back with one `GET`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fred::prelude::{ClientLike, Config, EventInterface, KeysInterface, PubsubInterface};
use tiered_cache::{CacheConfig, TieredCache};
use tokio::runtime::Runtime;

use crate::BenchResult;
use crate::options::Params;
use crate::peers;
use crate::report::{Figure, Report, Row, Target};
use crate::stampede::slow_origin;
use crate::timing::{self, Samples};
use crate::value::Item;

/// Instances in the fleet.
const INSTANCES: usize = 3;
/// Callers per instance in a stampede.
const CALLERS_PER_INSTANCE: usize = 333;
/// The ttl of the peers that need one.
const TTL: Duration = Duration::from_secs(300);
/// How long a propagation may take before the trial counts as failed.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(5);

/// One fleet of caches that share a Redis (or, for the in-process peer, share nothing).
#[derive(Clone)]
enum Fleet {
    Ours(Vec<TieredCache>),
    /// One moka cache per instance: what each process would hold.
    Moka(Vec<moka::future::Cache<u64, Item>>),
    /// amalgam-cache instances sharing the Redis (L2, backplane, distributed locker).
    Amalgam(Vec<amalgam::Cache<Item>>),
    /// multi-tier-cache instances sharing the Redis (L2, pub/sub invalidation).
    MultiTier(Vec<Arc<multi_tier_cache::CacheManager>>),
}

impl Fleet {
    /// One caller on `instance`: reads `key` through the loader; true when the value is right.
    async fn call(&self, instance: usize, key: u64, calls: &Arc<AtomicU64>) -> bool {
        let calls = calls.clone();
        match self {
            Fleet::Ours(caches) => caches[instance]
                .get(&format!("fleet:{key}"))
                .refresh_with(
                    move || async move { Ok::<_, Infallible>(slow_origin(calls, key).await) },
                )
                .await
                .is_ok_and(|item| item.id == key),
            Fleet::Amalgam(caches) => {
                let origin = move || slow_origin(calls, key);
                peers::amalgam::get_or_set(&caches[instance], &format!("fleet:{key}"), origin)
                    .await
                    .is_ok_and(|item| item.id == key)
            }
            Fleet::MultiTier(caches) => {
                let origin = move || slow_origin(calls, key);
                let name = format!("bench_fleet_mt:{key}");
                peers::multi_tier::get_or_compute(&caches[instance], &name, TTL, origin)
                    .await
                    .is_ok_and(|item| item.id == key)
            }
            Fleet::Moka(caches) => {
                let item = caches[instance]
                    .get_with(key, slow_origin(calls, key))
                    .await;
                item.id == key
            }
        }
    }
}

/// Runs the family and adds its rows.
pub fn run(params: &Params, url: &str, report: &mut Report) -> BenchResult<()> {
    let rt = timing::two_workers()?;
    let mut ours = Vec::with_capacity(INSTANCES);
    for _ in 0..INSTANCES {
        ours.push(rt.block_on(TieredCache::new(CacheConfig {
            redis_url: Some(url.to_owned()),
            key_prefix: "bench_fleet".to_owned(),
            ..Default::default()
        }))?);
    }
    let mut amalgam = Vec::with_capacity(INSTANCES);
    for _ in 0..INSTANCES {
        amalgam.push(rt.block_on(peers::amalgam::connect(url, "bench_fleet_amalgam", TTL))?);
    }
    let mut multi_tier = Vec::with_capacity(INSTANCES);
    for _ in 0..INSTANCES {
        multi_tier.push(rt.block_on(peers::multi_tier::connect(url, 10_000, TTL))?);
    }
    let fleets = [
        Fleet::Ours(ours.clone()),
        Fleet::Amalgam(amalgam.clone()),
        Fleet::MultiTier(multi_tier.clone()),
        Fleet::Moka(
            (0..INSTANCES)
                .map(|_| moka::future::Cache::new(10_000))
                .collect(),
        ),
    ];
    let names = [
        "ours",
        "amalgam-cache get_or_set",
        "multi-tier-cache get_or_compute_typed",
        "moka get_with, one cache per instance",
    ];
    let mut samples: [Samples; 4] = Default::default();
    let mut calls: [Vec<u64>; 4] = Default::default();
    for trial in 0..params.stampede_trials {
        for (f, fleet) in fleets.iter().enumerate() {
            let key = (trial * 10 + f) as u64 + 1;
            let (batch, origin_calls) = stampede(&rt, fleet, key)?;
            samples[f].extend(&batch);
            calls[f].push(origin_calls);
        }
    }
    let worst = |calls: &[u64]| calls.iter().copied().max().unwrap_or(0) as f64;
    for peer in 1..names.len() {
        report.push(Row::new(
            format!(
                "Stampede across {INSTANCES} instances: origin calls (999 callers; worst trial)"
            ),
            Figure::count(worst(&calls[0])),
            names[peer],
            Figure::count(worst(&calls[peer])),
            // One target, shown once: ours, whatever the peer.
            if peer == 1 {
                Target::OursExactly(1.0)
            } else {
                Target::None
            },
        ));
    }
    for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
        for peer in 1..names.len() {
            report.push(Row::new(
                format!("Stampede across {INSTANCES} instances: caller latency {label}"),
                Figure::nanos(samples[0].quantile_ns(q)),
                names[peer],
                Figure::nanos(samples[peer].quantile_ns(q)),
                Target::None,
            ));
        }
    }

    let trials = params.propagation_trials;
    let mut ours_prop = rt.block_on(propagation(
        trials,
        "propagation",
        async |key: &str, v: u64| Ok(ours[0].set(key, &v).await?),
        async |key: &str| Ok(ours[1].get::<u64>(key).await?),
    ))?;
    let mut floor = rt.block_on(pubsub_floor(url, trials))?;
    // amalgam-cache's backplane evicts B's L1 copy; multi-tier-cache's message replaces it.
    let mut amalgam_prop = rt.block_on(propagation(
        trials,
        "propagation",
        async |key: &str, v: u64| peers::amalgam::set(&amalgam[0], key, Item::new(v)).await,
        async |key: &str| Ok(peers::amalgam::get(&amalgam[1], key).await?.map(|i| i.id)),
    ))?;
    let mut multi_tier_prop = rt.block_on(propagation(
        trials,
        "bench_fleet_mt_propagation",
        async |key: &str, v: u64| {
            peers::multi_tier::set(&multi_tier[0], key, &Item::new(v), TTL).await
        },
        async |key: &str| {
            Ok(peers::multi_tier::get::<Item>(&multi_tier[1], key)
                .await?
                .map(|i| i.id))
        },
    ))?;
    for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
        let peers = [
            (
                "raw fred: PUBLISH returns until a subscriber has it and one GET answered",
                floor.quantile_ns(q),
            ),
            (
                "amalgam-cache: A's set returns until B's try_get sees it",
                amalgam_prop.quantile_ns(q),
            ),
            (
                "multi-tier-cache: A's set_with_broadcast returns until B's get_typed sees it",
                multi_tier_prop.quantile_ns(q),
            ),
        ];
        for (name, peer) in peers {
            report.push(Row::new(
                format!("Propagation: A's set returns until B's get sees it ({label})"),
                Figure::nanos(ours_prop.quantile_ns(q)),
                name,
                Figure::nanos(peer),
                Target::None,
            ));
        }
    }
    let per_trial: Vec<String> = names
        .iter()
        .zip(&calls)
        .map(|(name, calls)| format!("{name} {calls:?}"))
        .collect();
    report.note(
        "fleet",
        format!(
            "Stampede across instances: {INSTANCES} instances of each contender in one process \
             (ours: {INSTANCES} `TieredCache`s with their own Redis connections, backplane and \
             distributed locks on, sharing one Redis and key prefix; moka: one cache per \
             instance, as separate processes would each have; amalgam-cache: {INSTANCES} \
             instances, each with its own Redis L2, backplane and distributed locker; \
             multi-tier-cache: {INSTANCES} `CacheManager`s with invalidation on, each with its \
             own moka L1, Redis connections and subscriber), {CALLERS_PER_INSTANCE} tasks per \
             instance on a two-worker runtime, released by one barrier on a cold key (origin: 50 \
             ms sleep, counted); {trials_s} trials, a fresh key per trial. Origin calls per trial: \
             {calls}. Propagation: {trials} trials; B reads the key (an L1 copy), A `set`s a new \
             value, then B calls `get` (yielding between calls) until it returns the new value; \
             the time from A's `set` returning to that `get` returning. The floor: a fred client \
             `PUBLISH`es, another connection's subscriber polls for the message (yielding between tries), then one `GET` \
             on a third connection, timed the same way. amalgam-cache: the same trials between \
             two of its instances (B's `try_get` reads L1, then L2), and between two multi-tier-cache \
             instances (A's `set_with_broadcast`, B's `get_typed`). Every value read was \
             checked.",
            trials_s = params.stampede_trials,
            calls = per_trial.join("; "),
        ),
    );
    for cache in ours {
        rt.block_on(cache.close());
    }
    Ok(())
}

/// One trial: per-caller latencies and the origin calls it caused.
fn stampede(rt: &Runtime, fleet: &Fleet, key: u64) -> BenchResult<(Samples, u64)> {
    rt.block_on(async {
        let calls = Arc::new(AtomicU64::new(0));
        let callers = INSTANCES * CALLERS_PER_INSTANCE;
        let barrier = Arc::new(tokio::sync::Barrier::new(callers));
        let mut set = tokio::task::JoinSet::new();
        for caller in 0..callers {
            let (fleet, barrier, calls) = (fleet.clone(), barrier.clone(), calls.clone());
            set.spawn(async move {
                barrier.wait().await;
                let start = Instant::now();
                let right = fleet.call(caller % INSTANCES, key, &calls).await;
                (start.elapsed(), right)
            });
        }
        let mut samples = Samples::with_capacity(callers);
        let mut wrong = 0;
        while let Some(joined) = set.join_next().await {
            let (elapsed, right) = joined?;
            samples.push(elapsed);
            wrong += usize::from(!right);
        }
        if wrong > 0 {
            return Err(format!("fleet stampede: {wrong} callers got a wrong value").into());
        }
        Ok((samples, calls.load(Ordering::Relaxed)))
    })
}

/// `trials` propagations between two instances of one contender: `set` stores a value on A,
/// `get` reads it on B. B first holds the old value (read until it has it: it may still be on
/// its way), then A stores a new one; the sample is the time from A's `set` returning until
/// B's `get` returns the new value.
async fn propagation<S, G>(trials: usize, prefix: &str, set: S, get: G) -> BenchResult<Samples>
where
    S: AsyncFn(&str, u64) -> BenchResult<()>,
    G: AsyncFn(&str) -> BenchResult<Option<u64>>,
{
    let mut samples = Samples::with_capacity(trials);
    for trial in 0..trials {
        let key = format!("{prefix}:{}", trial % 16);
        let old = (trial as u64) * 2;
        let new = old + 1;
        set(&key, old).await?;
        let deadline = Instant::now() + PROPAGATION_LIMIT;
        while get(&key).await? != Some(old) {
            if Instant::now() > deadline {
                return Err(format!("{prefix}: B never saw {old} under {key}").into());
            }
            tokio::task::yield_now().await;
        }
        set(&key, new).await?;
        let start = Instant::now();
        while get(&key).await? != Some(new) {
            if start.elapsed() > PROPAGATION_LIMIT {
                return Err(format!("{prefix}: B never saw {new} under {key}").into());
            }
            tokio::task::yield_now().await;
        }
        samples.push(start.elapsed());
    }
    Ok(samples)
}

/// The floor: `trials` pub/sub deliveries between two connections.
async fn pubsub_floor(url: &str, trials: usize) -> BenchResult<Samples> {
    let config = Config::from_url(url)?;
    let publisher = fred::prelude::Builder::from_config(config.clone()).build()?;
    let subscriber = fred::prelude::Builder::from_config(config).build()?;
    let reader = fred::prelude::Builder::from_config(Config::from_url(url)?).build()?;
    publisher.init().await?;
    subscriber.init().await?;
    reader.init().await?;
    let mut messages = subscriber.message_rx();
    subscriber.subscribe("bench_fleet_floor").await?;
    let mut samples = Samples::with_capacity(trials);
    for trial in 0..trials {
        let sent = trial.to_string();
        publisher
            .publish::<(), _, _>("bench_fleet_floor", sent.as_str())
            .await?;
        let start = Instant::now();
        // Polled like ours (a reader that checks, yields and checks again), so both measure
        // the same way on the same two workers.
        loop {
            match messages.try_recv() {
                Ok(message) if message.value.as_str().as_deref() == Some(sent.as_str()) => break,
                Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {}
                Err(error) => return Err(format!("pub/sub floor: {error}").into()),
            }
            if start.elapsed() > PROPAGATION_LIMIT {
                return Err("pub/sub floor: the message never arrived".into());
            }
            tokio::task::yield_now().await;
        }
        reader
            .get::<Option<String>, _>("bench_fleet_floor_key")
            .await?;
        samples.push(start.elapsed());
    }
    publisher.quit().await?;
    subscriber.quit().await?;
    reader.quit().await?;
    Ok(samples)
}
