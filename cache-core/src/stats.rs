//! Counters, and the [`CacheStats`] snapshot.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

const STRIPES: usize = 8;

/// A counter split over cache-line-padded stripes, so threads counting hits on the hot path do
/// not fight over one cache line.
#[derive(Default)]
pub(crate) struct Counter {
    stripes: [Padded; STRIPES],
}

#[derive(Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    STRIPE.with(|s| {
        let mut i = s.get();
        if i == usize::MAX {
            i = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            s.set(i);
        }
        i
    })
}

impl Counter {
    #[inline]
    pub(crate) fn incr(&self) {
        self.add(1);
    }

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.stripes[stripe_index()]
            .0
            .fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

/// Every event the cache counts.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) l1_misses: Counter,
    pub(crate) l2_hits: Counter,
    pub(crate) l2_misses: Counter,
    pub(crate) l2_errors: Counter,
    pub(crate) l2_connections_lost: Counter,
    pub(crate) l2_rerouted: Counter,
    pub(crate) l2_decode_errors: Counter,
    pub(crate) l2_skipped: Counter,
    pub(crate) l2_writes: Counter,
    pub(crate) l2_write_errors: Counter,
    pub(crate) l2_writes_superseded: Counter,
    pub(crate) stale_hits: Counter,
    pub(crate) background_refreshes: Counter,
    pub(crate) refresh_failures: Counter,
    pub(crate) loader_calls: Counter,
    pub(crate) loader_errors: Counter,
    pub(crate) coalesced_waits: Counter,
    pub(crate) misses: Counter,
    pub(crate) fail_safe_activations: Counter,
    pub(crate) soft_timeouts: Counter,
    pub(crate) hard_timeouts: Counter,
    pub(crate) lock_waits: Counter,
    pub(crate) refreshes_skipped: Counter,
    pub(crate) notices_received: Counter,
    pub(crate) notices_published: Counter,
    pub(crate) backplane_gaps: Counter,
    pub(crate) recovered: Counter,
    pub(crate) recovery_dropped: Counter,
    pub(crate) refused_out_of_memory: Counter,
    pub(crate) refused_read_only: Counter,
    pub(crate) refused_no_permission: Counter,
    pub(crate) refused_other: Counter,
}

impl Counters {
    /// Counts a refused L2 command; returns how many of its kind so far.
    pub(crate) fn refused(&self, kind: crate::l2::Refusal) -> u64 {
        use crate::l2::Refusal;
        let counter = match kind {
            Refusal::OutOfMemory => &self.refused_out_of_memory,
            Refusal::ReadOnly => &self.refused_read_only,
            Refusal::NoPermission => &self.refused_no_permission,
            _ => &self.refused_other,
        };
        counter.incr();
        counter.get()
    }
}

/// A snapshot of the cache's counters. Serializes to JSON as four objects, one per section:
/// `{"l1_stats": {...}, "l2_stats": {...}, "swr_stats": {...}, "overall_stats": {...}}`, each
/// holding the fields of its struct below.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tiered_cache_core::{CacheConfig, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// cache.set("k", &1u32).await?;
/// let _ = cache.get::<u32>("k").await?; // an L1 hit
/// let _ = cache.get::<u32>("other").await?; // a miss
/// let stats = cache.stats();
/// assert_eq!(stats.l1_stats.hits, 1);
/// assert_eq!(stats.overall_stats.total_requests, 2);
/// assert_eq!(stats.overall_stats.hit_rate, 0.5);
/// let json = serde_json::to_value(&stats)?;
/// assert_eq!(json["l1_stats"]["hits"], 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Serialize, PartialEq)]
#[non_exhaustive]
pub struct CacheStats {
    /// The in-process tier.
    pub l1_stats: L1Stats,
    /// The Redis tier.
    pub l2_stats: L2Stats,
    /// Stale-while-revalidate.
    pub swr_stats: SwrStats,
    /// All reads together.
    pub overall_stats: OverallStats,
}

/// L1 counters.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[non_exhaustive]
pub struct L1Stats {
    /// Reads answered from L1.
    pub hits: u64,
    /// Reads L1 could not answer.
    pub misses: u64,
    /// Entries held now (approximate; includes expired ones not yet evicted).
    pub size: u64,
    /// `l1_max_size`.
    pub capacity: u64,
    /// `size / capacity`.
    pub utilization: f64,
}

/// L2 counters.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[non_exhaustive]
pub struct L2Stats {
    /// Whether an L2 is configured.
    pub enabled: bool,
    /// Reads answered from L2.
    pub hits: u64,
    /// Reads L2 had nothing for.
    pub misses: u64,
    /// L2 operations that failed because L2 could not be used (unreachable, timed out, unable to
    /// serve): what the circuit breaker counts.
    pub errors: u64,
    /// Times a connection to L2 was found dead (reset, refused, closed), by the backend's own
    /// report or by a call's error: each opens the breaker at once.
    pub connections_lost: u64,
    /// Times the backend re-learned where keys live and followed it (a cluster's failover or
    /// resharding), counted once per change of the layout, not per connection.
    pub rerouted: u64,
    /// L2 commands Redis answered by refusing them, by kind. Not failures of L2: the breaker
    /// stays closed and other commands keep using it.
    pub refused: RefusedStats,
    /// Stored bytes that did not decode (foreign, truncated, other version or type): each was
    /// treated as a miss.
    pub decode_errors: u64,
    /// Operations not sent because the circuit breaker was open.
    pub skipped: u64,
    /// Entries written.
    pub writes: u64,
    /// Writes that failed (the value stayed in L1 only).
    pub write_errors: u64,
    /// Writes not applied because L2 held a newer entry (or a newer invalidation).
    pub writes_superseded: u64,
    /// `closed`, `open` or `half_open`.
    pub circuit_breaker: &'static str,
    /// Times the circuit breaker opened (L2 found unusable).
    pub breaker_opened: u64,
    /// Times the circuit breaker closed again (L2 answered).
    pub breaker_closed: u64,
    /// Backplane notices received from other instances.
    pub notices_received: u64,
    /// Backplane notices this instance published (each with the write, invalidation, clear or
    /// tag invalidation it announces).
    pub notices_published: u64,
    /// Backplane resubscriptions after which notices may have been missed (every L1 copy is then
    /// checked against L2 on its next read).
    pub backplane_gaps: u64,
    /// Cold misses that waited for another instance's load (distributed lock held elsewhere).
    pub lock_waits: u64,
    /// Writes, invalidations and clears waiting to be replayed into L2 (it missed them while
    /// down).
    pub pending_recovery: u64,
    /// Writes, invalidations and clears replayed into L2 after it came back.
    pub recovered: u64,
    /// Writes, invalidations and clears dropped because the recovery queue was full.
    pub recovery_dropped: u64,
}

/// L2 commands refused by Redis, by kind.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RefusedStats {
    /// `OOM`: Redis is at `maxmemory` under a policy that refuses writes (`noeviction`).
    pub out_of_memory: u64,
    /// `READONLY`: a replica (for example during a failover) refused a write.
    pub read_only: u64,
    /// `NOPERM`: the Redis user lacks an ACL permission.
    pub no_permission: u64,
    /// Any other refusal (`ERR ...`).
    pub other: u64,
}

/// Stale-while-revalidate counters.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[non_exhaustive]
pub struct SwrStats {
    /// Stale values served.
    pub stale_hits: u64,
    /// Refreshes started in the background.
    pub background_refreshes: u64,
    /// Background refreshes that failed (error or panic); the stale value stayed.
    pub refresh_failures: u64,
    /// Refreshes not run because another instance held the refresh lock.
    pub refreshes_skipped: u64,
}

/// Totals.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[non_exhaustive]
pub struct OverallStats {
    /// Reads answered from either tier, over all reads.
    pub hit_rate: f64,
    /// All reads.
    pub total_requests: u64,
    /// Loader (origin) calls.
    pub loader_calls: u64,
    /// Loader calls that returned an error.
    pub loader_errors: u64,
    /// Callers that waited for another caller's load instead of calling the loader.
    pub coalesced: u64,
    /// Loader failures or timeouts answered with a previous value (fail-safe).
    pub fail_safe_activations: u64,
    /// Loads that ran past `soft_timeout` while a fallback was served.
    pub soft_timeouts: u64,
    /// Loads abandoned at `hard_timeout`.
    pub hard_timeouts: u64,
}

/// What a snapshot reads besides these counters: the current state of the tiers, and the L1
/// hits (counted once, by namespace, on the hit path: see `ns_stats`).
pub(crate) struct Gauges {
    pub(crate) l1_hits: u64,
    pub(crate) l1_size: u64,
    pub(crate) l1_capacity: u64,
    pub(crate) l2_enabled: bool,
    pub(crate) circuit_breaker: &'static str,
    /// The breaker's (opened, closed) transitions.
    pub(crate) breaker_transitions: (u64, u64),
    pub(crate) pending_recovery: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self, gauges: Gauges) -> CacheStats {
        let Gauges {
            l1_hits,
            l1_size,
            l1_capacity,
            l2_enabled,
            circuit_breaker,
            breaker_transitions: (breaker_opened, breaker_closed),
            pending_recovery,
        } = gauges;
        let l2_hits = self.l2_hits.get();
        let total_requests = l1_hits + self.l1_misses.get();
        let misses = self.misses.get();
        let hits = total_requests.saturating_sub(misses);
        let ratio = |num: u64, den: u64| {
            if den == 0 {
                0.0
            } else {
                num as f64 / den as f64
            }
        };
        CacheStats {
            l1_stats: L1Stats {
                hits: l1_hits,
                misses: self.l1_misses.get(),
                size: l1_size,
                capacity: l1_capacity,
                utilization: ratio(l1_size, l1_capacity),
            },
            l2_stats: L2Stats {
                enabled: l2_enabled,
                hits: l2_hits,
                misses: self.l2_misses.get(),
                errors: self.l2_errors.get(),
                connections_lost: self.l2_connections_lost.get(),
                rerouted: self.l2_rerouted.get(),
                refused: RefusedStats {
                    out_of_memory: self.refused_out_of_memory.get(),
                    read_only: self.refused_read_only.get(),
                    no_permission: self.refused_no_permission.get(),
                    other: self.refused_other.get(),
                },
                decode_errors: self.l2_decode_errors.get(),
                skipped: self.l2_skipped.get(),
                writes: self.l2_writes.get(),
                write_errors: self.l2_write_errors.get(),
                writes_superseded: self.l2_writes_superseded.get(),
                circuit_breaker,
                breaker_opened,
                breaker_closed,
                notices_received: self.notices_received.get(),
                notices_published: self.notices_published.get(),
                backplane_gaps: self.backplane_gaps.get(),
                lock_waits: self.lock_waits.get(),
                pending_recovery,
                recovered: self.recovered.get(),
                recovery_dropped: self.recovery_dropped.get(),
            },
            swr_stats: SwrStats {
                stale_hits: self.stale_hits.get(),
                background_refreshes: self.background_refreshes.get(),
                refresh_failures: self.refresh_failures.get(),
                refreshes_skipped: self.refreshes_skipped.get(),
            },
            overall_stats: OverallStats {
                hit_rate: ratio(hits, total_requests),
                total_requests,
                loader_calls: self.loader_calls.get(),
                loader_errors: self.loader_errors.get(),
                coalesced: self.coalesced_waits.get(),
                fail_safe_activations: self.fail_safe_activations.get(),
                soft_timeouts: self.soft_timeouts.get(),
                hard_timeouts: self.hard_timeouts.get(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_across_threads() {
        let counter = std::sync::Arc::new(Counter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = counter.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| c.incr()))
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(counter.get(), 4000);
    }

    #[test]
    fn serializes_as_four_sections() {
        let counters = Counters::default();
        counters.l1_misses.incr();
        counters.misses.incr();
        let json = serde_json::to_value(counters.snapshot(Gauges {
            l1_hits: 1,
            l1_size: 1,
            l1_capacity: 10,
            l2_enabled: false,
            circuit_breaker: "closed",
            breaker_transitions: (0, 0),
            pending_recovery: 0,
        }))
        .expect("json");
        for section in ["l1_stats", "l2_stats", "swr_stats", "overall_stats"] {
            assert!(json.get(section).is_some(), "{section} missing in {json}");
        }
        assert_eq!(json["overall_stats"]["total_requests"], 2);
        assert_eq!(json["overall_stats"]["hit_rate"], 0.5);
        assert_eq!(json["l1_stats"]["utilization"], 0.1);
    }
}
