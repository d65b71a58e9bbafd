//! The cache's counters through the [`metrics`](https://docs.rs/metrics) facade, for whichever
//! exporter the service installs (Prometheus, OpenTelemetry, StatsD, ...).
//!
//! The cache counts every event once, in its own striped counters (what [`TieredCache::stats`](crate::Engine::stats)(crate::Engine::stats)
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
//! Latency is different: a histogram needs every sample, so the cache records durations into the
//! installed recorder as the work ends: each L2 operation, each loader call, each wait for
//! another instance's load ([`HISTOGRAMS`]). None of these happens on an L1 hit.
//!
//! Labels are bounded by construction: `cache` (one per cache), fixed words (`tier`, `result`,
//! `kind`, `state`, `op`, `outcome`), and on the [`NAMESPACE_SERIES`] a `namespace` label that
//! takes at most `metrics_namespaces` values plus `other`; never a key or a tag. Every series
//! is listed in [`SERIES`], [`NAMESPACE_SERIES`] and [`HISTOGRAMS`] and in the README's metrics
//! table.
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
const TRANSITIONS: &str =
    "Circuit breaker transitions: opened (L2 found unusable), closed (L2 answered again)";

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
    counter("tiered_cache_circuit_breaker_transitions_total", &[("to", "open")], TRANSITIONS, |s| s.l2_stats.breaker_opened),
    counter("tiered_cache_circuit_breaker_transitions_total", &[("to", "closed")], TRANSITIONS, |s| s.l2_stats.breaker_closed),
    counter("tiered_cache_backplane_notices_published_total", &[], "Invalidation notices this instance published (each with its write, invalidation, clear or tag invalidation)", |s| s.l2_stats.notices_published),
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

/// A latency histogram, recorded by the cache as the work happens (never on an L1 hit), in
/// seconds, labelled `cache` plus its own labels.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Histogram {
    /// The metric's name.
    pub name: &'static str,
    /// Its labels besides `cache`, with the values each may take.
    pub labels: &'static [(&'static str, &'static [&'static str])],
    /// What the metric means.
    pub help: &'static str,
}

/// Every histogram the cache records, in the README's order. Unlike [`SERIES`] these need no
/// [`publish`]: the cache records each sample into the installed recorder as the L2 operation,
/// the loader or the lock wait ends (a no-op without a recorder).
pub const HISTOGRAMS: &[Histogram] = &[
    Histogram {
        name: tiered_cache_core::L2_OPERATION_SECONDS,
        labels: &[
            (
                "op",
                &[
                    "read",
                    "write",
                    "lock",
                    "unlock",
                    "tag_marks",
                    "invalidate_tag",
                    "clear_namespace",
                    "clear_all",
                    "clear_marks",
                ],
            ),
            (
                "outcome",
                &["ok", "timeout", "failed", "refused", "bad_data"],
            ),
        ],
        help: "Duration of each L2 operation the cache sent (operations the breaker skipped are not sent)",
    },
    Histogram {
        name: tiered_cache_core::LOADER_SECONDS,
        labels: &[("result", &["ok", "error"])],
        help: "Duration of each loader (origin) call, foreground and background, that completed",
    },
    Histogram {
        name: tiered_cache_core::LOCK_WAIT_SECONDS,
        labels: &[("outcome", &["loaded", "gone"])],
        help: "Duration of each wait for another instance's load of the same key: its value arrived (loaded), or it ended without one and this instance loaded (gone)",
    },
];

/// A counter labelled by namespace (besides `cache`): one series per namespace among the first
/// [`CacheConfig::metrics_namespaces`](crate::CacheConfig::metrics_namespaces) used, the rest
/// under `namespace="other"` (see [`TieredCache::namespace_stats`](crate::Engine::namespace_stats)).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct NamespaceSeries {
    /// The metric's name.
    pub name: &'static str,
    /// Its labels besides `cache` and `namespace`, with the values each may take.
    pub labels: &'static [(&'static str, &'static [&'static str])],
    /// What the metric means.
    pub help: &'static str,
}

/// Every per-namespace series [`publish`] exports.
pub const NAMESPACE_SERIES: &[NamespaceSeries] = &[
    NamespaceSeries {
        name: "tiered_cache_namespace_gets_total",
        labels: &[("result", &["hit", "stale", "miss"])],
        help: "Reads of a namespace as L1 answered them: hit (fresh), stale, miss (went on to L2 or a loader)",
    },
    NamespaceSeries {
        name: "tiered_cache_namespace_loads_total",
        labels: &[],
        help: "Loader (origin) calls for a namespace, foreground and background (a batch load counts once)",
    },
];

/// Registers every series' description with the installed recorder. [`publish`] calls it once
/// per process; call it yourself after installing a recorder late.
pub fn describe() {
    for series in NAMESPACE_SERIES {
        ::metrics::describe_counter!(series.name, series.help);
    }
    for histogram in HISTOGRAMS {
        ::metrics::describe_histogram!(histogram.name, ::metrics::Unit::Seconds, histogram.help);
    }
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

/// Copies `cache`'s counters ([`TieredCache::stats`](crate::Engine::stats)(crate::Engine::stats)) into the installed `metrics` recorder,
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
    for namespace in cache.namespace_stats() {
        let labels = |result: Option<&'static str>| {
            let mut labels = vec![
                ::metrics::Label::new("cache", name.clone()),
                ::metrics::Label::new("namespace", namespace.namespace.clone()),
            ];
            labels
                .extend(result.map(|result| ::metrics::Label::from_static_parts("result", result)));
            labels
        };
        let gets = NAMESPACE_SERIES[0].name;
        ::metrics::counter!(gets, labels(Some("hit"))).absolute(namespace.hits);
        ::metrics::counter!(gets, labels(Some("stale"))).absolute(namespace.stale);
        ::metrics::counter!(gets, labels(Some("miss"))).absolute(namespace.misses);
        ::metrics::counter!(NAMESPACE_SERIES[1].name, labels(None)).absolute(namespace.loads);
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
