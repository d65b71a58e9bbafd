//! Batch reads against Redis: 100 keys in one `get_many` against 100 sequential `get`s, both
//! from L2 (the reading instance's L1 holds one entry, so every read goes to Redis).

use std::time::Instant;

use tiered_cache::{CacheConfig, TieredCache};

use crate::BenchResult;
use crate::options::Params;
use crate::report::{Figure, Report, Row, Target};
use crate::timing::{self, median, rotation};
use crate::value::Item;

/// Keys per batch.
const BATCH: usize = 100;

/// Adds the batch rows to `report`.
pub fn run(params: &Params, url: &str, report: &mut Report) -> BenchResult<()> {
    let rt = timing::current_thread()?;
    let config = CacheConfig {
        redis_url: Some(url.to_owned()),
        key_prefix: "bench_batch".to_owned(),
        ..Default::default()
    };
    let writer = rt.block_on(TieredCache::new(config.clone()))?;
    let reader = rt.block_on(TieredCache::new(CacheConfig {
        l1_max_size: 1,
        ..config
    }))?;
    let keys: Vec<String> = (0..BATCH).map(|i| format!("batch:{i}")).collect();
    let entries: Vec<(String, Item)> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| (key.clone(), Item::new(i as u64)))
        .collect();
    rt.block_on(async { writer.set_many(&entries).await })?;

    let rounds = params.l2_rounds.max(3) * 4;
    let (mut batched, mut sequential) = (Vec::new(), Vec::new());
    let mut misses = 0;
    for round in 0..=rounds {
        for c in rotation(2, round) {
            let started = Instant::now();
            let found = rt.block_on(async {
                if c == 0 {
                    reader.get_many::<Item, _>(&keys).await
                } else {
                    let mut found = Vec::with_capacity(BATCH);
                    for key in &keys {
                        found.push(reader.get::<Item>(key).await?);
                    }
                    Ok(found)
                }
            })?;
            let elapsed = started.elapsed().as_secs_f64() * 1e9;
            misses += found.iter().filter(|v| v.is_none()).count();
            if round > 0 {
                if c == 0 {
                    batched.push(elapsed);
                } else {
                    sequential.push(elapsed);
                }
            }
        }
    }
    if misses > 0 {
        return Err(format!("batch bench: {misses} reads were not hits").into());
    }
    report.push(Row::new(
        format!("{BATCH} keys from L2 in one get_many (per call)"),
        Figure::nanos(median(&batched)),
        format!("ours, {BATCH} sequential gets"),
        Figure::nanos(median(&sequential)),
        Target::RatioAtMost(0.5),
    ));
    report.note(
        "batch",
        format!(
            "{BATCH} keys written by one instance, read by another whose L1 holds 1 entry (so \
             every read asks Redis); one caller on a current-thread runtime; {rounds} rounds \
             after a warm-up, the two forms alternated; median wall time of a whole call (or \
             of the {BATCH} sequential calls). `get_many` sends the {BATCH} L2 reads together \
             (the client pipelines them on its connections)."
        ),
    );
    rt.block_on(async {
        writer.close().await;
        reader.close().await;
    });
    Ok(())
}
