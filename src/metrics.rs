//! The cache's counters through the [`metrics`](https://docs.rs/metrics) facade, for whichever
//! exporter the service installs (Prometheus, OpenTelemetry, StatsD, ...).
//!
//! The cache counts every event once, in its own striped counters (what [`TieredCache::stats`]
//! reads). [`publish`] copies that snapshot into the installed recorder: counters as absolute
//! values, gauges as current values, each labelled `cache` = [`CacheConfig::name`]. So the hit
//! path carries no metrics code at all (its cost with or without a recorder is the same), and
//! the metrics say exactly what `stats()` says. Call [`publish`] just before an exporter renders
//! (a Prometheus `/metrics` handler), or let [`publish_every`] do it on a period (push
//! exporters).
//!
//! ```
//! use tiered_cache::{CacheConfig, TieredCache};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tiered_cache::StartError> {
//! let cache = TieredCache::new(CacheConfig {
//!     name: "products".into(),
//!     redis_url: None,
//!     ..Default::default()
//! })
//! .await?;
//! let recorder = metrics_util::debugging::DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || tiered_cache::metrics::publish(&cache));
//! let names: Vec<String> = snapshotter
//!     .snapshot()
//!     .into_vec()
//!     .into_iter()
//!     .map(|(key, ..)| key.key().name().to_owned())
//!     .collect();
//! assert!(names.iter().any(|n| n == "tiered_cache_gets_total"));
//! # Ok(()) }
//! ```
//!
//! Labels are bounded by construction: `cache` (one per cache), and fixed words (`tier`,
//! `result`, `kind`, `state`); never a key, a namespace or a tag. Every series is listed in
//! [`SERIES`] and in the README's metrics table.
//!
//! [`CacheConfig::name`]: crate::CacheConfig::name

use std::sync::Once;
use std::time::Duration;

use crate::{CacheStats, TieredCache};

/// Whether a series is a monotonic counter or a gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Only grows (until the process restarts); exported with a `_total` name.
    Counter,
    /// A current value.
    Gauge,
}

/// One exported series: its name, fixed labels (besides `cache`), and what it reads.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Series {
    /// The metric's name.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// Fixed labels of this series (the `cache` label is added to all).
    pub labels: &'static [(&'static str, &'static str)],
    /// What the metric means (its description, the same for every label set).
    pub help: &'static str,
    read: fn(&CacheStats) -> u64,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

const fn counter(
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    help: &'static str,
    read: fn(&CacheStats) -> u64,
) -> Series {
    Series {
        name,
        kind: Kind::Counter,
        labels,
        help,
        read,
    }
}

const fn gauge(
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    help: &'static str,
    read: fn(&CacheStats) -> u64,
) -> Series {
    Series {
        name,
        kind: Kind::Gauge,
        labels,
        help,
        read,
    }
}

const GETS: &str =
    "Reads answered (hit) or not (miss) by a tier; an L1 miss goes on to L2 when one is configured";
const REFRESHES: &str = "Background refreshes of stale entries: started, failed (the stale value stayed), skipped (another instance held the refresh lock)";
const TIMEOUTS: &str =
    "Loads past soft_timeout (a fallback was served) or abandoned at hard_timeout";
const L2_ERRORS: &str = "L2 failures: unavailable (unreachable, timed out, unable to serve; what the breaker counts) and decode (stored bytes that did not decode, read as a miss)";
const REFUSED: &str = "L2 commands Redis refused, by kind (the breaker stays closed)";
const WRITES: &str =
    "L2 writes: written, superseded (L2 held something newer), failed (the value stayed in L1)";
const RECOVERY: &str = "Writes, invalidations and clears missed by L2 while down: replayed after it came back, or dropped (queue full)";
const BREAKER: &str = "1 for the circuit breaker's current state, 0 for the others";

/// Every series [`publish`] exports, in the README's order.
#[rustfmt::skip]
pub const SERIES: &[Series] = &[
    counter("tiered_cache_requests_total", &[], "Reads through the cache (get, refresh_with, #[cached] calls)", |s| s.overall_stats.total_requests),
    counter("tiered_cache_gets_total", &[("tier", "l1"), ("result", "hit")], GETS, |s| s.l1_stats.hits),
    counter("tiered_cache_gets_total", &[("tier", "l1"), ("result", "miss")], GETS, |s| s.l1_stats.misses),
    counter("tiered_cache_gets_total", &[("tier", "l2"), ("result", "hit")], GETS, |s| s.l2_stats.hits),
    counter("tiered_cache_gets_total", &[("tier", "l2"), ("result", "miss")], GETS, |s| s.l2_stats.misses),
    counter("tiered_cache_stale_served_total", &[], "Stale values served while a refresh ran", |s| s.swr_stats.stale_hits),
    counter("tiered_cache_loader_calls_total", &[], "Loader (origin) calls, foreground and background", |s| s.overall_stats.loader_calls),
    counter("tiered_cache_loader_errors_total", &[], "Loader calls that returned an error", |s| s.overall_stats.loader_errors),
    counter("tiered_cache_loads_coalesced_total", &[], "Callers that waited for another caller's load instead of calling the loader", |s| s.overall_stats.coalesced),
    counter("tiered_cache_lock_waits_total", &[], "Cold misses that waited for another instance's load (distributed lock)", |s| s.l2_stats.lock_waits),
    counter("tiered_cache_refreshes_total", &[("result", "started")], REFRESHES, |s| s.swr_stats.background_refreshes),
    counter("tiered_cache_refreshes_total", &[("result", "failed")], REFRESHES, |s| s.swr_stats.refresh_failures),
    counter("tiered_cache_refreshes_total", &[("result", "skipped")], REFRESHES, |s| s.swr_stats.refreshes_skipped),
    counter("tiered_cache_fail_safe_activations_total", &[], "Loader failures or timeouts answered with a previous value", |s| s.overall_stats.fail_safe_activations),
    counter("tiered_cache_timeouts_total", &[("kind", "soft")], TIMEOUTS, |s| s.overall_stats.soft_timeouts),
    counter("tiered_cache_timeouts_total", &[("kind", "hard")], TIMEOUTS, |s| s.overall_stats.hard_timeouts),
    counter("tiered_cache_l2_errors_total", &[("kind", "unavailable")], L2_ERRORS, |s| s.l2_stats.errors),
    counter("tiered_cache_l2_errors_total", &[("kind", "decode")], L2_ERRORS, |s| s.l2_stats.decode_errors),
    counter("tiered_cache_l2_refused_total", &[("kind", "out_of_memory")], REFUSED, |s| s.l2_stats.refused.out_of_memory),
    counter("tiered_cache_l2_refused_total", &[("kind", "read_only")], REFUSED, |s| s.l2_stats.refused.read_only),
    counter("tiered_cache_l2_refused_total", &[("kind", "no_permission")], REFUSED, |s| s.l2_stats.refused.no_permission),
    counter("tiered_cache_l2_refused_total", &[("kind", "other")], REFUSED, |s| s.l2_stats.refused.other),
    counter("tiered_cache_l2_skipped_total", &[], "L2 operations not sent because the circuit breaker was open", |s| s.l2_stats.skipped),
    counter("tiered_cache_l2_writes_total", &[("result", "written")], WRITES, |s| s.l2_stats.writes),
    counter("tiered_cache_l2_writes_total", &[("result", "superseded")], WRITES, |s| s.l2_stats.writes_superseded),
    counter("tiered_cache_l2_writes_total", &[("result", "failed")], WRITES, |s| s.l2_stats.write_errors),
    counter("tiered_cache_l2_connections_lost_total", &[], "Connections to L2 found dead (each opens the breaker at once)", |s| s.l2_stats.connections_lost),
    counter("tiered_cache_l2_rerouted_total", &[], "Changes of the cluster layout the backend followed (failover, resharding)", |s| s.l2_stats.rerouted),
    counter("tiered_cache_backplane_notices_received_total", &[], "Invalidation notices received from other instances", |s| s.l2_stats.notices_received),
    counter("tiered_cache_backplane_gaps_total", &[], "Backplane resubscriptions after which notices may have been missed (L1 copies are then verified)", |s| s.l2_stats.backplane_gaps),
    counter("tiered_cache_recovery_total", &[("result", "replayed")], RECOVERY, |s| s.l2_stats.recovered),
    counter("tiered_cache_recovery_total", &[("result", "dropped")], RECOVERY, |s| s.l2_stats.recovery_dropped),
    gauge("tiered_cache_recovery_pending", &[], "Writes, invalidations and clears waiting to be replayed into L2", |s| s.l2_stats.pending_recovery),
    gauge("tiered_cache_l1_entries", &[], "Entries in L1 now (approximate; includes expired ones not yet evicted)", |s| s.l1_stats.size),
    gauge("tiered_cache_l1_capacity", &[], "l1_max_size", |s| s.l1_stats.capacity),
    gauge("tiered_cache_l2_enabled", &[], "1 when an L2 is configured", |s| u64::from(s.l2_stats.enabled)),
    gauge("tiered_cache_circuit_breaker", &[("state", "closed")], BREAKER, |s| u64::from(s.l2_stats.circuit_breaker == "closed")),
    gauge("tiered_cache_circuit_breaker", &[("state", "open")], BREAKER, |s| u64::from(s.l2_stats.circuit_breaker == "open")),
    gauge("tiered_cache_circuit_breaker", &[("state", "half_open")], BREAKER, |s| u64::from(s.l2_stats.circuit_breaker == "half_open")),
];

/// Registers every series' description with the installed recorder. [`publish`] calls it once
/// per process; call it yourself after installing a recorder late.
pub fn describe() {
    let mut seen: Vec<&str> = Vec::with_capacity(SERIES.len());
    for series in SERIES {
        if seen.contains(&series.name) {
            continue;
        }
        seen.push(series.name);
        match series.kind {
            Kind::Counter => ::metrics::describe_counter!(series.name, series.help),
            Kind::Gauge => ::metrics::describe_gauge!(series.name, series.help),
        }
    }
}

/// Copies `cache`'s counters ([`TieredCache::stats`]) into the installed `metrics` recorder,
/// every series labelled `cache` = the cache's [`name`](crate::CacheConfig::name). Cheap (one
/// snapshot, about forty series); a no-op without a recorder.
pub fn publish(cache: &TieredCache) {
    static DESCRIBED: Once = Once::new();
    DESCRIBED.call_once(describe);
    let stats = cache.stats();
    let name = cache.config().name.clone();
    for series in SERIES {
        let mut labels: Vec<::metrics::Label> = Vec::with_capacity(series.labels.len() + 1);
        labels.push(::metrics::Label::new("cache", name.clone()));
        labels.extend(
            series
                .labels
                .iter()
                .map(|&(key, value)| ::metrics::Label::from_static_parts(key, value)),
        );
        let value = (series.read)(&stats);
        match series.kind {
            Kind::Counter => ::metrics::counter!(series.name, labels).absolute(value),
            // Every gauge here is a count far below 2^53, so the f64 is exact.
            Kind::Gauge => ::metrics::gauge!(series.name, labels).set(value as f64),
        }
    }
}

/// Spawns a task that calls [`publish`] every `period` until the cache is closed, for exporters
/// that push (StatsD, OpenTelemetry). A Prometheus scrape handler can call [`publish`] itself
/// instead, so each scrape is exact.
///
/// Runs on the current Tokio runtime; abort the returned handle to stop it earlier.
pub fn publish_every(cache: TieredCache, period: Duration) -> tokio::task::JoinHandle<()> {
    let period = period.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if cache.is_closed() {
                return;
            }
            publish(&cache);
        }
    })
}
