//! `stats`: key counts and memory per namespace, and the cache's bookkeeping keys counted
//! apart, from a bounded sample: SCAN over the prefix until `--sample` keys were seen, with
//! `MEMORY USAGE` of each.

use std::collections::BTreeMap;

use fred::prelude::*;
use fred::types::scan::Scanner;
use futures::StreamExt;
use tiered_cache::CacheConfig;
use tiered_cache::engine::layout::RedisKey;

use crate::error::CliError;
use crate::output::{Progress, line};
use crate::redis::{self, Mode, Redis};

const SCAN_COUNT: u32 = 1000;

/// Keys and bytes of one group.
#[derive(Default)]
struct Tally {
    keys: u64,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: Option<u64>) {
        self.keys += 1;
        self.bytes += bytes.unwrap_or(0);
    }
}

#[derive(Default)]
struct Sample {
    namespaces: BTreeMap<String, Tally>,
    clear_marks: Tally,
    tag_marks: Tally,
    locks: Tally,
    /// Under the prefix but not a key the cache writes.
    other: Tally,
    seen: usize,
    complete: bool,
}

pub async fn run(config: &CacheConfig, sample: usize) -> Result<(), CliError> {
    if sample == 0 {
        return Err(CliError::usage("--sample must be at least 1"));
    }
    let redis = redis::connect(config, Mode::Once).await?;
    let header = format!(
        "prefix `{}` on {} ({})",
        config.key_prefix,
        redis.endpoint,
        redis.topology()
    );
    let result = collect(&redis, sample).await;
    redis.close().await;
    report(&header, result?)
}

async fn collect(redis: &Redis, sample: usize) -> Result<Sample, CliError> {
    let mut found = Sample::default();
    let mut pages = redis.scan(redis.layout.all_pattern(), SCAN_COUNT);
    let mut progress = Progress::new();
    found.complete = true;
    while let Some(page) = pages.next().await {
        let mut page = match page {
            Ok(page) => page,
            Err(error) => return Err(redis.scan_failed(&error).await),
        };
        let mut keys = page.take_results().unwrap_or_default();
        // MATCH already says so; this is what guarantees no other key is touched.
        keys.retain(|key| redis.layout.owns(key.as_bytes()));
        keys.truncate(sample - found.seen);
        found.seen += keys.len();
        let sizes = keys.iter().map(|key| async move {
            redis
                .client
                .memory_usage::<Option<u64>, _>(key.clone(), None)
                .await
                .map_err(|error| CliError::redis("MEMORY USAGE", &error))
        });
        let sizes = futures::future::try_join_all(sizes).await?;
        for (key, bytes) in keys.iter().zip(sizes) {
            let parsed = key.as_str().and_then(|text| redis.layout.parse(text));
            let tally = match parsed {
                Some(RedisKey::Entry { namespace, .. }) => {
                    found.namespaces.entry(namespace.to_owned()).or_default()
                }
                Some(RedisKey::ClearMarks | RedisKey::ClearLog | RedisKey::TagLog) => {
                    &mut found.clear_marks
                }
                Some(RedisKey::TagMark { .. }) => &mut found.tag_marks,
                Some(RedisKey::Lock { .. }) => &mut found.locks,
                _ => &mut found.other,
            };
            tally.add(bytes);
        }
        progress.show(&format!("sampled {} keys", found.seen));
        if found.seen >= sample {
            found.complete = false;
            page.cancel();
            break;
        }
        page.next();
    }
    Ok(found)
}

fn report(header: &str, sample: Sample) -> Result<(), CliError> {
    let scope = if sample.complete {
        format!("all {} keys under the prefix", sample.seen)
    } else {
        format!(
            "a sample of {} keys (SCAN stopped at --sample {}): counts and sizes are for the \
             sample, not the whole keyspace",
            sample.seen, sample.seen
        )
    };
    line(&format!("{header}: {scope}; memory by MEMORY USAGE"))?;
    line(&format!(
        "{:<40} {:>10} {:>12}",
        "NAMESPACE", "KEYS", "MEMORY"
    ))?;
    if sample.namespaces.is_empty() {
        line("(no entries)")?;
    }
    for (namespace, tally) in &sample.namespaces {
        row(namespace, tally)?;
    }
    line("bookkeeping (not entries):")?;
    row("  clear marks (hash and logs)", &sample.clear_marks)?;
    row("  tag marks", &sample.tag_marks)?;
    row("  load locks", &sample.locks)?;
    if sample.other.keys > 0 {
        row("other keys under the prefix", &sample.other)?;
    }
    Ok(())
}

fn row(name: &str, tally: &Tally) -> Result<(), CliError> {
    line(&format!(
        "{name:<40} {:>10} {:>12}",
        tally.keys,
        bytes(tally.bytes)
    ))
}

/// `1.5 KiB`.
fn bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_binary_units() {
        assert_eq!(super::bytes(0), "0 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
