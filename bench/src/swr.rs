//! Family 5: stale-while-revalidate under load. Readers hammer a few keys whose entries go
//! stale every ~250 ms (fresh 200 ms, then stale until one 50 ms refresh lands). Ours must stay
//! at hit latency through every refresh. The peers: a plain TTL cache (moka with `time_to_live`
//! of the same period), whose callers wait for the origin at each expiry, and amalgam-cache with
//! eager refresh (a background refresh once an entry is past a fraction of its duration, the
//! entry served meanwhile: the same promise by another name).

use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tiered_cache::{CacheConfig, TieredCache};
use tokio::runtime::Runtime;

use crate::BenchResult;
use crate::options::Params;
use crate::report::{Figure, Report, Row, Target};
use crate::timing::{self, Histogram};
use crate::value::Item;

/// amalgam-cache's row name.
const AMALGAM_NAME: &str = "amalgam-cache eager refresh";
/// Keys read round-robin.
const KEYS: usize = 4;
const PLAIN_KEYS: [&str; KEYS] = ["plain:0", "plain:1", "plain:2", "plain:3"];
const SWR_KEYS: [&str; KEYS] = ["swr:0", "swr:1", "swr:2", "swr:3"];
/// Concurrent reader tasks.
const READERS: usize = 4;
/// How long the origin takes.
const ORIGIN: Duration = Duration::from_millis(50);
/// Ours: entry ttl and stale window (fresh for the first 200 ms).
const TTL: Duration = Duration::from_millis(1000);
const WINDOW: Duration = Duration::from_millis(800);
/// Ours' refresh period (fresh part + one origin call), the peer's `time_to_live`.
const PERIOD: Duration = Duration::from_millis(250);

/// Refreshes of ours running right now, and ours' origin calls.
static OURS_IN_FLIGHT: AtomicI64 = AtomicI64::new(0);
static OURS_ORIGIN_CALLS: AtomicU64 = AtomicU64::new(0);
static MOKA_ORIGIN_CALLS: AtomicU64 = AtomicU64::new(0);
static AMALGAM_ORIGIN_CALLS: AtomicU64 = AtomicU64::new(0);
/// amalgam-cache's eager-refresh threshold: the fraction of [`TTL`] ours spends fresh.
const AMALGAM_EAGER: f32 = 0.2;

/// Marks one of ours' origin calls as running while it lives (also when it is cancelled).
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        OURS_ORIGIN_CALLS.fetch_add(1, Ordering::Relaxed);
        OURS_IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        OURS_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Ours' origin.
async fn ours_origin(id: u64) -> Result<Item, Infallible> {
    let _running = InFlight::enter();
    tokio::time::sleep(ORIGIN).await;
    Ok(Item::new(id))
}

#[derive(Clone)]
enum Reader {
    /// Ours on keys that never go stale (ttl 1 h): the plain-hit baseline.
    OursPlain(TieredCache),
    /// Ours on keys that go stale every [`PERIOD`].
    OursSwr(TieredCache),
    /// moka with `time_to_live` = [`PERIOD`].
    Moka(moka::future::Cache<String, Item>),
    /// amalgam-cache (Redis L2, backplane, locker), duration [`TTL`], eager refresh at
    /// [`AMALGAM_EAGER`].
    Amalgam(std::sync::Arc<amalgam::Cache<Item>>),
}

impl Reader {
    async fn read(&self, index: usize) -> bool {
        let id = index as u64;
        match self {
            Reader::OursPlain(cache) => cache
                .get(PLAIN_KEYS[index])
                .refresh_with(move || ours_origin(id))
                .ttl(Duration::from_secs(3600))
                .await
                .is_ok_and(|item| item.id == id),
            Reader::OursSwr(cache) => cache
                .get(SWR_KEYS[index])
                .refresh_with(move || ours_origin(id))
                .ttl(TTL)
                .stale(WINDOW)
                .await
                .is_ok_and(|item| item.id == id),
            Reader::Moka(cache) => {
                let item = cache
                    .get_with_by_ref(SWR_KEYS[index], async {
                        MOKA_ORIGIN_CALLS.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(ORIGIN).await;
                        Item::new(id)
                    })
                    .await;
                item.id == id
            }
            Reader::Amalgam(cache) => {
                crate::peers::amalgam::get_or_set(cache, SWR_KEYS[index], move || async move {
                    AMALGAM_ORIGIN_CALLS.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(ORIGIN).await;
                    Item::new(id)
                })
                .await
                .is_ok_and(|item| item.id == id)
            }
        }
    }
}

/// What one phase recorded.
#[derive(Default)]
struct Phase {
    all: Histogram,
    /// Calls that started or ended while one of ours' refreshes ran.
    during_refresh: Histogram,
    /// Calls that took at least [`ORIGIN`]: they waited for the origin.
    origin_waits: u64,
    wrong: u64,
}

impl Phase {
    fn merge(&mut self, other: &Phase) {
        self.all.merge(&other.all);
        self.during_refresh.merge(&other.during_refresh);
        self.origin_waits += other.origin_waits;
        self.wrong += other.wrong;
    }
}

/// Runs the family and adds its rows.
pub fn run(params: &Params, url: &str, report: &mut Report) -> BenchResult<()> {
    let rt = timing::two_workers()?;
    let ours = rt.block_on(TieredCache::new(CacheConfig {
        redis_url: Some(url.to_owned()),
        key_prefix: "bench_swr".to_owned(),
        ..Default::default()
    }))?;
    let moka = moka::future::Cache::builder()
        .max_capacity(1_000)
        .time_to_live(PERIOD)
        .build();
    let eager = amalgam::EntryOptions::new(TTL)
        .with_eager_refresh(amalgam::EagerThreshold::new(AMALGAM_EAGER));
    let amalgam = rt.block_on(crate::peers::amalgam::connect_with(
        url,
        "bench_swr_amalgam",
        eager,
    ))?;
    let readers = [
        Reader::OursPlain(ours.clone()),
        Reader::OursSwr(ours.clone()),
        Reader::Moka(moka),
        Reader::Amalgam(std::sync::Arc::new(amalgam)),
    ];
    let phase_len = Duration::from_secs_f64(params.swr_phase_secs);
    let mut phases: [Phase; 4] = Default::default();
    let refreshes_before = ours.stats().swr_stats.background_refreshes;
    let ours_calls_before = OURS_ORIGIN_CALLS.load(Ordering::Relaxed);
    let mut warm_calls = 0;
    for round in 0..params.swr_rounds {
        for (c, reader) in readers.iter().enumerate() {
            // Untimed: make every key present (a cold or expired key loads here, not in the
            // phase), then let any refresh it started finish.
            let before = OURS_ORIGIN_CALLS.load(Ordering::Relaxed);
            warm(&rt, reader)?;
            warm_calls += OURS_ORIGIN_CALLS.load(Ordering::Relaxed) - before;
            let phase = phase(&rt, reader, phase_len, round)?;
            phases[c].merge(&phase);
        }
    }
    let wrong: u64 = phases.iter().map(|p| p.wrong).sum();
    if wrong > 0 {
        return Err(format!("SWR bench: {wrong} reads returned a wrong value or an error").into());
    }
    let stats = ours.stats();
    let refreshes = stats.swr_stats.background_refreshes - refreshes_before;
    let ours_calls = OURS_ORIGIN_CALLS.load(Ordering::Relaxed) - ours_calls_before - warm_calls;

    let [plain, swr, moka, amalgam] = &phases;
    report.push(Row::new(
        "SWR: p99 of calls while a refresh runs (ours) vs plain hits",
        Figure::nanos(swr.during_refresh.quantile_ns(0.99)),
        "ours, plain hits (never stale)",
        Figure::nanos(plain.all.quantile_ns(0.99)),
        Target::RatioAtMost(2.0),
    ));
    let waits = "SWR: calls that waited for the origin (≥ 50 ms)";
    report.push(Row::new(
        waits,
        Figure::count(swr.origin_waits as f64),
        "moka time_to_live",
        Figure::count(moka.origin_waits as f64),
        Target::OursExactly(0.0),
    ));
    report.push(Row::new(
        waits,
        Figure::count(swr.origin_waits as f64),
        AMALGAM_NAME,
        Figure::count(amalgam.origin_waits as f64),
        Target::None,
    ));
    report.push(Row::cannot(
        waits,
        Figure::count(swr.origin_waits as f64),
        "multi-tier-cache",
        "no stale-while-revalidate or early refresh: a caller past the ttl waits for the origin",
    ));
    for (label, q) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        for (name, peer) in [("moka time_to_live", moka), (AMALGAM_NAME, amalgam)] {
            report.push(Row::new(
                format!("SWR under load: {label} (all calls)"),
                Figure::nanos(swr.all.quantile_ns(q)),
                name,
                Figure::nanos(peer.all.quantile_ns(q)),
                Target::None,
            ));
        }
    }
    report.note(
        "swr",
        format!(
            "{READERS} reader tasks on a two-worker tokio runtime read {KEYS} keys round-robin \
             through the loader API, yielding to the scheduler after each call (closed loop). \
             Ours (Redis L2, default config): ttl 1 s with an 800 ms stale window, so each entry \
             is fresh for 200 ms, then stale until its one background refresh (50 ms origin) \
             lands: a refresh every ~250 ms per key. moka: `time_to_live` 250 ms and `get_with`. \
             amalgam-cache (Redis L2, backplane, distributed locker): `get_or_set`, duration 1 s, \
             eager refresh at {AMALGAM_EAGER} of it (a background refresh from 200 ms on). \
             {rounds} rounds of {secs} s phases: ours plain (keys with a 1 h ttl), ours SWR, moka, \
             amalgam-cache; \
             keys warmed (untimed) before each phase. Per-call `Instant` timings in a log-linear \
             histogram (quantiles within 1.6 %); \"while a refresh runs\" = calls that started or \
             ended while one of ours' origin calls was in flight ({during} of {swr_calls} calls). \
             Ours made {ours_calls} origin calls in the SWR phases ({refreshes} background \
             refreshes); moka made {moka_calls}, amalgam-cache {amalgam_calls}. Calls: plain \
             {plain_calls}, moka {moka_n}, amalgam-cache {amalgam_n}. \
             A closed loop under-states the peer's stalls in p99 (a blocked reader issues no \
             calls); max and the wait count show them.",
            rounds = params.swr_rounds,
            secs = params.swr_phase_secs,
            during = swr.during_refresh.count(),
            swr_calls = swr.all.count(),
            moka_calls = MOKA_ORIGIN_CALLS.load(Ordering::Relaxed),
            plain_calls = plain.all.count(),
            moka_n = moka.all.count(),
            amalgam_calls = AMALGAM_ORIGIN_CALLS.load(Ordering::Relaxed),
            amalgam_n = amalgam.all.count(),
        ),
    );
    rt.block_on(ours.close());
    Ok(())
}

/// Reads every key once (untimed) and waits out any refresh that started.
fn warm(rt: &Runtime, reader: &Reader) -> BenchResult<()> {
    rt.block_on(async {
        for id in 0..KEYS {
            if !reader.read(id).await {
                return Err("SWR bench: warming read failed".into());
            }
        }
        tokio::time::sleep(ORIGIN * 2).await;
        Ok(())
    })
}

/// [`READERS`] tasks read for `length`; returns what they recorded.
fn phase(rt: &Runtime, reader: &Reader, length: Duration, round: usize) -> BenchResult<Phase> {
    rt.block_on(async {
        let deadline = Instant::now() + length;
        let mut set = tokio::task::JoinSet::new();
        for r in 0..READERS {
            let reader = reader.clone();
            set.spawn(async move {
                let mut phase = Phase::default();
                let mut id = r + round;
                loop {
                    if id.is_multiple_of(64) && Instant::now() >= deadline {
                        break;
                    }
                    let refreshing = OURS_IN_FLIGHT.load(Ordering::SeqCst) > 0;
                    let start = Instant::now();
                    let right = reader.read(id % KEYS).await;
                    let elapsed = start.elapsed();
                    phase.all.record(elapsed);
                    if refreshing || OURS_IN_FLIGHT.load(Ordering::SeqCst) > 0 {
                        phase.during_refresh.record(elapsed);
                    }
                    phase.origin_waits += u64::from(elapsed >= ORIGIN);
                    phase.wrong += u64::from(!right);
                    id += 1;
                    tokio::task::yield_now().await;
                }
                phase
            });
        }
        let mut total = Phase::default();
        while let Some(joined) = set.join_next().await {
            total.merge(&joined?);
        }
        // Let a refresh the phase started land before the next phase.
        tokio::time::sleep(ORIGIN * 2).await;
        Ok(total)
    })
}
