//! The soak: several cache instances in separate processes under mixed concurrent load against
//! a versioned origin, while Redis is killed, paused and restarted on a schedule. Reports
//! requests served, errors that reached callers (origin errors apart), stale values by how
//! long ago they were replaced (and by whom), peak RSS per process, recovery time after each
//! fault, and latency in healthy and fault periods.
//!
//! ```sh
//! cargo run --release -p tiered-cache-bench --bin soak -- --duration 60 --instances 3 --fault-every 10
//! ```
//!
//! The origin is a second `redis-server` that is never faulted: each key's current version is
//! `v:<key>` (a write `INCR`s it, then `set`s the cache); when a `set` returns, the writer
//! records when (`w:<key>` field `<version>` = `<ms>:<instance>`). A read first notes the
//! origin's version, then reads through the cache (the loader reads the origin); a result older
//! than the noted version is stale, and its age is the time since the write that replaced it
//! returned. The README documents when that may happen: on another instance for the backplane's
//! propagation, and while Redis is down.

// Shared with the main bench binary, which uses the rest of it.
#[allow(dead_code)]
#[path = "../redis_server.rs"]
mod redis_server;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fred::interfaces::{ClientLike, HashesInterface, KeysInterface};
use fred::types::config::{Config, ReconnectPolicy};
use tiered_cache::{CacheConfig, TieredCache};

/// What the shared bench modules expect.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const KEYS: u64 = 500;
const TASKS_PER_INSTANCE: u64 = 32;
/// How old a value replaced on another instance may be when served, in a healthy period: the
/// backplane's propagation, with a wide margin for a loaded two-core machine.
const PROPAGATION_BOUND_MS: u64 = 1_000;
/// How long after a fault ends its effects may still show (reconnect back-off, breaker
/// cool-down, replay).
const RECOVERY_MARGIN_MS: u64 = 3_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: u64) -> BenchResult<u64> {
    arg(name).map_or(Ok(default), |v| Ok(v.parse()?))
}

async fn client(url: &str) -> BenchResult<fred::clients::Client> {
    let client = fred::types::Builder::from_config(Config::from_url(url)?)
        .set_policy(ReconnectPolicy::new_constant(0, 100))
        .build()?;
    client.init().await?;
    Ok(client)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> BenchResult<()> {
    if std::env::args().any(|a| a == "--worker") {
        worker().await
    } else {
        coordinate().await
    }
}

/// One line of a worker's report per request: `t_ms latency_us kind` (kind: `ok`, `error`,
/// `origin-error`, `stale <age_ms> <own|other>`), then `rss_kb <n>` and `stats <json>`.
async fn worker() -> BenchResult<()> {
    let (Some(redis), Some(origin_url), Some(out)) =
        (arg("--redis"), arg("--origin"), arg("--out"))
    else {
        return Err("--worker needs --redis, --origin and --out".into());
    };
    let id = num("--id", 0)?;
    let until = num("--until-ms", 0)?;
    let writers = num("--instances", 1)? * TASKS_PER_INSTANCE;
    let cache = TieredCache::new(CacheConfig {
        redis_url: Some(redis),
        key_prefix: "soak".into(),
        l2_ttl: Duration::from_secs(3),
        stale_while_revalidate_window: Duration::from_millis(500),
        ..Default::default()
    })
    .await?;
    let origin = client(&origin_url).await?;
    // Streamed to the file as requests finish, so the record does not weigh on the RSS.
    let lines = Arc::new(std::sync::Mutex::new(std::io::BufWriter::new(
        std::fs::File::create(&out)?,
    )));
    let tasks: Vec<_> = (0..TASKS_PER_INSTANCE)
        .map(|task| {
            let (cache, origin, lines) = (cache.clone(), origin.clone(), lines.clone());
            tokio::spawn(async move {
                let mut seed = id * 1_000_003 + task * 7_919 + 1;
                while now_ms() < until {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let write = (seed >> 20) % 10 == 0;
                    // Each key has one writer task in the whole soak, so the origin's version
                    // order is the order of the cache's `set`s (two writers racing would make
                    // a lower version the last one set, which is not a stale read).
                    let writer = id * TASKS_PER_INSTANCE + task;
                    let key = if write {
                        writer + writers * ((seed >> 33) % (KEYS / writers).max(1))
                    } else {
                        (seed >> 33) % KEYS
                    };
                    let line = one_request(&cache, &origin, id, key, write).await;
                    let mut file = lines.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = writeln!(file, "{line}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let stats = serde_json::to_string(&cache.stats())?;
    cache.close().await;
    let mut file = lines.lock().unwrap_or_else(|e| e.into_inner());
    writeln!(file, "rss_kb {rss}")?;
    writeln!(file, "stats {stats}")?;
    file.flush()?;
    Ok(())
}

async fn one_request(
    cache: &TieredCache,
    origin: &fred::clients::Client,
    id: u64,
    key: u64,
    write: bool,
) -> String {
    let name = format!("k{key}");
    let version_key = format!("v:{name}");
    let started = now_ms();
    let clock = Instant::now();
    if write {
        let Ok(version) = origin.incr::<u64, _>(&version_key).await else {
            return format!("{started} 0 origin-error");
        };
        let result = cache.set(&name, &version).await;
        let latency = clock.elapsed().as_micros();
        if result.is_err() {
            return format!("{started} {latency} error");
        }
        let done = format!("{}:{id}", now_ms());
        let _: Result<(), _> = origin
            .hset(format!("w:{name}"), (version.to_string(), done))
            .await;
        return format!("{started} {latency} ok");
    }
    let Ok(noted) = origin.get::<Option<u64>, _>(&version_key).await else {
        return format!("{started} 0 origin-error");
    };
    let clock = Instant::now();
    let loader_origin = origin.clone();
    let loader_key = version_key.clone();
    let read = cache
        .get::<u64>(&name)
        .refresh_with(move || async move {
            loader_origin
                .get::<Option<u64>, _>(&loader_key)
                .await
                .map(|v| v.unwrap_or(0))
                .map_err(|e| e.to_string())
        })
        .await;
    let latency = clock.elapsed().as_micros();
    let value = match read {
        Ok(value) => value,
        Err(tiered_cache::LoadError::Loader(_)) => {
            return format!("{started} {latency} origin-error");
        }
        Err(_) => return format!("{started} {latency} error"),
    };
    let noted = noted.unwrap_or(0);
    if value >= noted {
        return format!("{started} {latency} ok");
    }
    // Stale: when did the write that replaced `value` return, and on which instance?
    let replaced: Option<String> = origin
        .hget(format!("w:{name}"), (value + 1).to_string())
        .await
        .ok()
        .flatten();
    let Some((done, by)) = replaced.as_deref().and_then(|r| r.split_once(':')) else {
        // That write had not returned yet: the value is not stale by the README's rules.
        return format!("{started} {latency} ok");
    };
    let done: u64 = done.parse().unwrap_or(u64::MAX);
    // Same millisecond: the write may have returned after the read began (not stale).
    if done >= started {
        return format!("{started} {latency} ok");
    }
    let who = if by == id.to_string() { "own" } else { "other" };
    format!("{started} {latency} stale {} {who}", started - done)
}

/// A fault the coordinator caused: `[start, end)` in epoch ms, and when writes reached Redis
/// again.
struct Fault {
    kind: &'static str,
    start: u64,
    end: u64,
    recovered_ms: Option<u64>,
}

async fn coordinate() -> BenchResult<()> {
    let duration = num("--duration", 60)?;
    let instances = num("--instances", 3)?;
    let fault_every = num("--fault-every", 10)?;
    let mut redis = redis_server::Redis::start_own()?;
    let origin = redis_server::Redis::start_own()?;
    let started = now_ms();
    let until = started + duration * 1_000;
    let dir = std::env::temp_dir().join(format!("tiered-cache-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for id in 0..instances {
        let out = dir.join(format!("worker-{id}.txt"));
        let child = std::process::Command::new(&exe)
            .args([
                "--worker",
                "--id",
                &id.to_string(),
                "--until-ms",
                &until.to_string(),
            ])
            .args(["--instances", &instances.to_string()])
            .args(["--redis", redis.url(), "--origin", origin.url()])
            .arg("--out")
            .arg(&out)
            .spawn()?;
        children.push((child, out));
    }
    let probe = TieredCache::new(CacheConfig {
        redis_url: Some(redis.url().to_owned()),
        key_prefix: "soak".into(),
        ..Default::default()
    })
    .await?;
    let raw = client(redis.url()).await?;
    let mut faults = Vec::new();
    let mut n = 0u64;
    while now_ms() + fault_every * 1_000 + 6_000 < until {
        tokio::time::sleep(Duration::from_secs(fault_every)).await;
        let start = now_ms();
        let kind = if n.is_multiple_of(2) {
            redis.kill();
            tokio::time::sleep(Duration::from_secs(1)).await;
            redis.restart()?;
            "killed 1 s, restarted empty"
        } else {
            redis.pause(true)?;
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            redis.pause(false)?;
            "paused 1.5 s"
        };
        let end = now_ms();
        let recovered_ms = recovered(&probe, &raw, n).await.then(|| now_ms() - end);
        faults.push(Fault {
            kind,
            start,
            end,
            recovered_ms,
        });
        n += 1;
    }
    let mut reports = Vec::new();
    for (mut child, out) in children {
        child.wait()?;
        reports.push(std::fs::read_to_string(&out)?);
    }
    let _ = std::fs::remove_dir_all(&dir);
    print_report(duration, instances, &faults, &reports);
    Ok(())
}

/// Whether a write through the probe reaches Redis within 10 s.
async fn recovered(probe: &TieredCache, raw: &fred::clients::Client, n: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if probe.set("probe", &n).await.is_ok() {
            let read = tokio::time::timeout(
                Duration::from_millis(300),
                raw.get::<Option<bytes::Bytes>, _>("soak:default:probe"),
            )
            .await;
            if matches!(read, Ok(Ok(Some(_)))) {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at] as f64
}

fn print_report(duration: u64, instances: u64, faults: &[Fault], reports: &[String]) {
    let in_fault = |t: u64| {
        faults.iter().any(|f| {
            t + 100 >= f.start && t <= f.end + f.recovered_ms.unwrap_or(10_000) + RECOVERY_MARGIN_MS
        })
    };
    let (mut served, mut errors, mut origin_errors) = (0u64, 0u64, 0u64);
    let (mut healthy, mut faulty) = (Vec::new(), Vec::new());
    let (mut own_stale, mut wrong, mut stale_in_faults, mut stale_within_bound) = (0, 0, 0, 0);
    let (mut worst_wrong, mut worst_within, mut worst_own) = (0u64, 0u64, 0u64);
    let mut own_stale_in_faults = 0u64;
    let mut rss = Vec::new();
    let mut worker_stats = Vec::new();
    for report in reports {
        for line in report.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["rss_kb", kb] => rss.push(kb.parse::<u64>().unwrap_or(0)),
                ["stats", json] => worker_stats.push((*json).to_owned()),
                [t, latency, kind, rest @ ..] => {
                    let (Ok(t), Ok(latency)) = (t.parse::<u64>(), latency.parse::<u64>()) else {
                        continue;
                    };
                    let fault = in_fault(t);
                    match *kind {
                        "error" => errors += 1,
                        "origin-error" => origin_errors += 1,
                        _ => served += 1,
                    }
                    if *kind != "origin-error" {
                        if fault {
                            faulty.push(latency)
                        } else {
                            healthy.push(latency)
                        }
                    }
                    if let ("stale", [age, who]) = (*kind, rest) {
                        let age: u64 = age.parse().unwrap_or(0);
                        if *who == "own" {
                            if fault {
                                own_stale_in_faults += 1;
                            } else {
                                own_stale += 1;
                                worst_own = worst_own.max(age);
                            }
                        } else if fault {
                            stale_in_faults += 1;
                        } else if age > PROPAGATION_BOUND_MS {
                            wrong += 1;
                            worst_wrong = worst_wrong.max(age);
                        } else {
                            stale_within_bound += 1;
                            worst_within = worst_within.max(age);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    healthy.sort_unstable();
    faulty.sort_unstable();
    println!(
        "## Soak: {instances} instances, {duration} s, {} faults\n",
        faults.len()
    );
    println!("| measure | value |\n|---|---|");
    println!("| requests served | {served} |");
    println!("| errors surfaced to callers (not origin errors) | {errors} |");
    println!("| origin errors | {origin_errors} |");
    println!(
        "| stale reads of the instance's own completed write, healthy (wrong) | {own_stale} (oldest {worst_own} ms) |"
    );
    println!(
        "| stale reads of the instance's own completed write, in a fault or its recovery | {own_stale_in_faults} |"
    );
    println!(
        "| stale reads, other instance's write, healthy, older than {PROPAGATION_BOUND_MS} ms (wrong) | {wrong} (worst {worst_wrong} ms) |"
    );
    println!(
        "| stale reads, other instance's write, healthy, within {PROPAGATION_BOUND_MS} ms | {stale_within_bound} |"
    );
    println!("| stale reads during a fault or its recovery (documented) | {stale_in_faults} |");
    println!(
        "| peak RSS per process (MiB) | {} |",
        rss.iter()
            .map(|kb| format!("{:.0}", *kb as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| latency healthy p50 / p99 / max (µs) | {:.0} / {:.0} / {:.0} |",
        percentile(&healthy, 0.5),
        percentile(&healthy, 0.99),
        percentile(&healthy, 1.0)
    );
    println!(
        "| latency in faults p50 / p99 / max (µs) | {:.0} / {:.0} / {:.0} |",
        percentile(&faulty, 0.5),
        percentile(&faulty, 0.99),
        percentile(&faulty, 1.0)
    );
    if std::env::var_os("SOAK_STATS").is_some() {
        for stats in &worker_stats {
            println!("\nstats {stats}");
        }
    }
    println!("\n| fault | recovery (writes reach Redis again) |\n|---|---|");
    for fault in faults {
        match fault.recovered_ms {
            Some(ms) => println!("| {} | {ms} ms after it ended |", fault.kind),
            None => println!("| {} | not within 10 s |", fault.kind),
        }
    }
}
