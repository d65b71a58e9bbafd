//! Family 7: memory per L1 entry for 1M small entries (a `k<i>` key and a `u64`): ours vs moka,
//! foyer's in-memory cache, amalgam-cache's L1 and raw quick_cache. Each contender fills a cache in a fresh process of its own (this binary
//! with `--memory-child`), which reports its resident-set growth from `/proc/self/status`; no
//! allocator hooks, no `unsafe`.

use std::fmt::Write as _;
use std::process::Command;

use tiered_cache::{CacheConfig, TieredCache};

use crate::BenchResult;
use crate::options::Params;
use crate::report::{Figure, Report, Row, Target};
use crate::timing;

const CONTENDERS: [&str; 5] = ["ours", "moka", "foyer", "amalgam", "quick_cache"];
const NAMES: [&str; 5] = [
    "ours",
    "moka future",
    "foyer Cache",
    "amalgam-cache (L1 only)",
    "quick_cache raw",
];

/// What one child measured.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Measured {
    /// Entries the cache held at the end.
    resident: u64,
    /// Resident-set growth in bytes.
    bytes: u64,
}

/// Runs the family and adds its rows.
pub fn run(params: &Params, report: &mut Report) -> BenchResult<()> {
    let n = params.memory_entries;
    let mut measured = Vec::new();
    for contender in CONTENDERS {
        measured.push(spawn_child(contender, n)?);
    }
    let per_entry = |m: &Measured| m.bytes as f64 / n as f64;
    for peer in 1..CONTENDERS.len() {
        // The floor we build on: at most 1.3x its bytes per entry.
        let target = if CONTENDERS[peer] == "quick_cache" {
            Target::RatioAtMost(1.3)
        } else {
            Target::None
        };
        report.push(Row::new(
            format!("Memory per L1 entry ({n} small entries)"),
            Figure::bytes(per_entry(&measured[0])),
            NAMES[peer],
            Figure::bytes(per_entry(&measured[peer])),
            target,
        ));
    }
    report.push(Row::cannot(
        format!("Memory per L1 entry ({n} small entries)"),
        Figure::bytes(per_entry(&measured[0])),
        "multi-tier-cache",
        "not run: it needs Redis, and each of the 1M sets would also write it; its L1 is a moka cache of JSON bytes, the moka row",
    ));
    let resident: Vec<String> = NAMES
        .iter()
        .zip(&measured)
        .map(|(name, m)| format!("{name} {}", m.resident))
        .collect();
    report.note(
        "memory",
        format!(
            "Each contender runs in a fresh process: read VmRSS from /proc/self/status, build a \
             cache with capacity {n}, insert {n} entries (key `k<i>`, a String; value a u64; \
             ours through `set` with `redis_url: None`), read VmRSS again; the growth divided by \
             {n} is the figure (it includes the keys' own heap bytes, the same for all, and \
             allocator slack). Entries still held at the end: {}.",
            resident.join(", ")
        ),
    );
    Ok(())
}

/// Runs this binary as `--memory-child <contender> <n>` and parses its answer.
fn spawn_child(contender: &str, n: usize) -> BenchResult<Measured> {
    let output = Command::new(std::env::current_exe()?)
        .args(["--memory-child", contender, &n.to_string()])
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "memory child for {contender} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_answer(&stdout).ok_or_else(|| {
        format!("memory child for {contender} answered something unexpected: {stdout}").into()
    })
}

/// Parses `resident=<n> bytes=<n>`.
fn parse_answer(line: &str) -> Option<Measured> {
    let mut resident = None;
    let mut bytes = None;
    for field in line.split_whitespace() {
        match field.split_once('=') {
            Some(("resident", v)) => resident = v.parse().ok(),
            Some(("bytes", v)) => bytes = v.parse().ok(),
            _ => {}
        }
    }
    Some(Measured {
        resident: resident?,
        bytes: bytes?,
    })
}

/// The child: fills one contender's cache with `n` entries and prints what it measured.
pub fn child(contender: &str, n: usize) -> BenchResult<()> {
    let rt = timing::current_thread()?;
    let mut key = String::with_capacity(16);
    let mut make_key = |i: usize| {
        key.clear();
        let _ = write!(key, "k{i}");
        key.clone()
    };
    let before = rss_bytes()?;
    let (resident, after) = match contender {
        "ours" => rt.block_on(async {
            let cache = TieredCache::new(CacheConfig {
                redis_url: None,
                l1_max_size: n,
                ..Default::default()
            })
            .await?;
            let mut key = String::with_capacity(16);
            for i in 0..n {
                key.clear();
                let _ = write!(key, "k{i}");
                cache.set(&key, &(i as u64)).await?;
            }
            let after = rss_bytes()?;
            BenchResult::Ok((cache.stats().l1_stats.size, after))
        })?,
        "moka" => rt.block_on(async {
            let cache = moka::future::Cache::<String, u64>::new(n as u64);
            for i in 0..n {
                cache.insert(make_key(i), i as u64).await;
            }
            cache.run_pending_tasks().await;
            let after = rss_bytes()?;
            BenchResult::Ok((cache.entry_count(), after))
        })?,
        "foyer" => {
            let cache: foyer_memory::Cache<String, u64> = foyer_memory::Cache::builder(n).build();
            for i in 0..n {
                cache.insert(make_key(i), i as u64);
            }
            (cache.entries() as u64, rss_bytes()?)
        }
        "amalgam" => rt.block_on(async {
            let cache = amalgam::Cache::<u64>::builder()
                .max_capacity(n as u64)
                .default_options(amalgam::EntryOptions::new(std::time::Duration::from_secs(
                    3600,
                )))
                .try_build()?;
            for i in 0..n {
                cache.set(make_key(i), i as u64).await?;
            }
            let after = rss_bytes()?;
            let mut held = 0;
            for i in 0..n {
                held += u64::from(cache.try_get(make_key(i)).await?.is_some());
            }
            BenchResult::Ok((held, after))
        })?,
        "quick_cache" => {
            let cache = quick_cache::sync::Cache::<String, u64>::new(n);
            for i in 0..n {
                cache.insert(make_key(i), i as u64);
            }
            (cache.len() as u64, rss_bytes()?)
        }
        other => return Err(format!("unknown memory contender `{other}`").into()),
    };
    println!("resident={resident} bytes={}", after.saturating_sub(before));
    Ok(())
}

/// The resident set size of this process, from `/proc/self/status`.
fn rss_bytes() -> BenchResult<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .ok_or("no VmRSS line in /proc/self/status")?;
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_childs_answer() {
        assert_eq!(
            parse_answer("resident=1000 bytes=123456\n"),
            Some(Measured {
                resident: 1000,
                bytes: 123_456
            })
        );
        assert_eq!(parse_answer("bytes=1"), None);
        assert!(rss_bytes().is_ok_and(|b| b > 0));
    }
}
