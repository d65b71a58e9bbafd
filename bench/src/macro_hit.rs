//! Family 2: a `#[cached]` function's hit vs the same call written by hand through
//! `get(..).refresh_with(..)`: the macro must add nothing measurable.

use std::convert::Infallible;
use std::time::Duration;

use tiered_cache::{CacheConfig, TieredCache};
use tokio::runtime::Runtime;

use crate::BenchResult;
use crate::l1::one_task;
use crate::options::Params;
use crate::report::{Figure, Report, Row, Target};
use crate::timing::{self, median, ns_per_op, rotation};
use crate::value::Item;

/// Warm keys the readers cycle through.
const KEYS: usize = 1024;
/// The ttl both spell out.
const TTL: Duration = Duration::from_secs(300);

/// The macro contender: the global cache, key `item:{id}`, ttl 300 s.
#[tiered_cache::cached(key = "item:{id}", ttl = 300)]
async fn macro_item(id: u64) -> Item {
    Item::new(id)
}

/// The same read written by hand: format the key, read through a loader that owns its inputs,
/// and run the body uncached if the cache refuses the call (as the macro does).
async fn hand_item(cache: &TieredCache, id: u64) -> Item {
    let key = format!("item:{id}");
    let read = cache
        .get::<Item>(&key)
        .refresh_with(move || async move { Ok::<_, Infallible>(Item::new(id)) })
        .ttl(TTL)
        .await;
    match read {
        Ok(item) => item,
        Err(_) => Item::new(id),
    }
}

/// Installs the global cache (L1 only) and loads every key through the macro.
fn warm(rt: &Runtime) -> BenchResult<&'static TieredCache> {
    rt.block_on(async {
        if tiered_cache::global_cache().is_none() {
            tiered_cache::init(CacheConfig {
                redis_url: None,
                l1_max_size: 10_000,
                ..Default::default()
            })
            .await?;
        }
        let cache = tiered_cache::global_cache().ok_or("the global cache is not installed")?;
        for id in 0..KEYS as u64 {
            if macro_item(id).await.id != id || hand_item(cache, id).await.id != id {
                return Err(format!("macro bench: key item:{id} returned a wrong record").into());
            }
        }
        Ok(cache)
    })
}

/// `--profile macro-<macro|hand>`: only `ops` hits of one form, for `valgrind --tool=callgrind`.
pub fn profile(form: &str, ops: usize) -> BenchResult<()> {
    let rt = timing::current_thread()?;
    let cache = warm(&rt)?;
    let elapsed = match form {
        "macro" => one_task(&rt, ops, 0, &|i: usize| macro_item((i % KEYS) as u64)),
        "hand" => one_task(&rt, ops, 0, &|i: usize| hand_item(cache, (i % KEYS) as u64)),
        other => return Err(format!("unknown macro form `{other}` (macro or hand)").into()),
    };
    eprintln!(
        "macro-{form}: {ops} hits, {:.1} ns each",
        ns_per_op(elapsed, ops)
    );
    Ok(())
}

/// Runs the family and adds its row.
pub fn run(params: &Params, report: &mut Report) -> BenchResult<()> {
    let rt = timing::current_thread()?;
    let cache = warm(&rt)?;
    let hits_before = cache.stats().l1_stats.hits;
    let macro_get = |i: usize| macro_item((i % KEYS) as u64);
    let hand_get = |i: usize| hand_item(cache, (i % KEYS) as u64);
    let n = params.macro_batch;
    let mut figures: [Vec<f64>; 2] = Default::default();
    // Round 0 warms up and is not counted.
    for round in 0..=params.macro_rounds {
        for c in rotation(2, round) {
            let elapsed = match c {
                0 => one_task(&rt, n, 0, &macro_get),
                _ => one_task(&rt, n, 0, &hand_get),
            };
            if round > 0 {
                figures[c].push(ns_per_op(elapsed, n));
            }
        }
    }
    report.push(Row::new(
        "#[cached] fn hit, 1 task (mean per call)",
        Figure::nanos(median(&figures[0])),
        "hand-written get(..).refresh_with(..)",
        Figure::nanos(median(&figures[1])),
        Target::RatioAtMost(1.05),
    ));
    let calls = 2 * n * (params.macro_rounds + 1);
    let hits = cache.stats().l1_stats.hits - hits_before;
    report.note(
        "macro",
        format!(
            "`#[cached(key = \"item:{{id}}\", ttl = 300)] async fn(id: u64) -> Item` on the global \
             cache (`tiered_cache::init`, L1 only) vs the same read by hand on the same cache: \
             `format!` the key, `get::<Item>(&key).refresh_with(move || async move {{ .. }})\
             .ttl(300 s)`, the body on refusal. The macro's call also asks the engine where \
             the value came from (`with_source`) and counts a hit in the function's own \
             counters (`{{fn}}_stats`). Both read the same {KEYS} warm entries \
             round-robin; `Instant` around batches of {n} calls on a current-thread runtime, \
             {rounds} rounds after a warm-up round, alternating, median batch mean. {hits} of \
             the {calls} calls were L1 hits.",
            rounds = params.macro_rounds,
        ),
    );
    Ok(())
}
