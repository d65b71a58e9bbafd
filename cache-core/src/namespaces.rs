//! Per-namespace clear state: a local epoch that retires L1 copies at once, and the latest clear
//! stamp that L2 entries are checked against.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::keys::DEFAULT_NAMESPACE;
use crate::ns_stats::{NamespaceCounters, NamespaceMetrics, NamespaceStats};

use crate::clock::Stamp;

/// The clear state of one namespace. L1 entries hold an `Arc` to it, so checking whether an
/// entry survived a clear is one atomic load on the hit path, and counting a hit for the
/// namespace needs no lookup.
pub(crate) struct NamespaceState {
    /// Bumped by every clear this instance learns of; an L1 entry written under an older epoch
    /// is gone.
    epoch: AtomicU64,
    /// The latest clear of this namespace or of all namespaces (raw [`Stamp`]); an L2 entry
    /// created at or before it is gone.
    cleared_at: AtomicU64,
    /// What reads and loads of this namespace counted (shared with `other` past the limit).
    pub(crate) counters: Arc<NamespaceCounters>,
}

impl std::fmt::Debug for NamespaceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceState")
            .field("epoch", &self.epoch)
            .field("cleared_at", &self.cleared_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl Default for NamespaceState {
    /// A namespace on its own (unit tests of L1).
    fn default() -> Self {
        NamespaceState::new(Arc::default())
    }
}

impl NamespaceState {
    fn new(counters: Arc<NamespaceCounters>) -> Self {
        NamespaceState {
            epoch: AtomicU64::new(0),
            cleared_at: AtomicU64::new(0),
            counters,
        }
    }

    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether an entry created at `created` was removed by a clear.
    pub(crate) fn was_cleared(&self, created: Stamp) -> bool {
        created.is_covered_by(Stamp::from_raw(self.cleared_at.load(Ordering::Acquire)))
    }

    /// Records a clear at `at`; returns false when it was already known.
    fn mark_cleared(&self, at: Stamp) -> bool {
        let before = self.cleared_at.fetch_max(at.raw(), Ordering::AcqRel);
        if before >= at.raw() {
            return false;
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        true
    }
}

// foldhash, not SipHash: looked up on every L2 read, with keys this process chose.
type Map = HashMap<Box<str>, Arc<NamespaceState>, quick_cache::DefaultHashBuilder>;

/// Shards of the registry: creating a namespace locks one of them, never the others.
const SHARDS: usize = 32;

/// Every namespace this instance uses, plus the latest clear of all of them.
///
/// Read on every L2 read from every thread, written when a namespace is first used. Sharded
/// read-write locks: a new namespace costs one insert into one shard (a copy-on-write map cost
/// the whole map per new namespace, quadratic with per-tenant namespaces), and idle namespaces
/// are pruned (see [`prune`](Self::prune)).
#[derive(Debug)]
pub(crate) struct Namespaces {
    /// The namespace of calls that name none, held directly: most reads never touch a shard.
    default: Arc<NamespaceState>,
    shards: Box<[RwLock<Map>]>,
    hasher: quick_cache::DefaultHashBuilder,
    /// Raw stamp of the latest clear of every namespace. Written under every shard's write lock
    /// (in order), so a namespace created concurrently sees it.
    all_cleared_at: AtomicU64,
    /// Per-namespace counters, bounded; they outlive pruning.
    metrics: NamespaceMetrics,
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces::new(crate::config::DEFAULT_METRICS_NAMESPACES)
    }
}

impl Namespaces {
    /// A registry whose first `metrics_namespaces` namespaces get counters of their own.
    pub(crate) fn new(metrics_namespaces: usize) -> Self {
        let metrics = NamespaceMetrics::new(metrics_namespaces);
        Namespaces {
            default: Arc::new(NamespaceState::new(metrics.counters_for(DEFAULT_NAMESPACE))),
            shards: (0..SHARDS).map(|_| RwLock::new(Map::default())).collect(),
            hasher: quick_cache::DefaultHashBuilder::default(),
            all_cleared_at: AtomicU64::new(0),
            metrics,
        }
    }

    /// Every namespace's counters.
    pub(crate) fn stats(&self) -> Vec<NamespaceStats> {
        self.metrics.snapshot()
    }
}

impl Namespaces {
    fn shard(&self, namespace: &str) -> &RwLock<Map> {
        &self.shards[(self.hasher.hash_one(namespace) as usize) % SHARDS]
    }

    /// Runs `f` on the state of `namespace`, created on first use.
    #[inline]
    pub(crate) fn with<R>(&self, namespace: &str, f: impl FnOnce(&Arc<NamespaceState>) -> R) -> R {
        if namespace == DEFAULT_NAMESPACE {
            return f(&self.default);
        }
        let shard = self.shard(namespace);
        if let Some(state) = shard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(namespace)
        {
            return f(state);
        }
        f(&self.create(shard, namespace))
    }

    /// The state of `namespace`, created on first use.
    pub(crate) fn get(&self, namespace: &str) -> Arc<NamespaceState> {
        self.with(namespace, Arc::clone)
    }

    #[cold]
    fn create(&self, shard: &RwLock<Map>, namespace: &str) -> Arc<NamespaceState> {
        let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(namespace.into())
            .or_insert_with(|| {
                // A namespace first seen now still honours a clear-all learned earlier.
                let state = NamespaceState::new(self.metrics.counters_for(namespace));
                state.cleared_at.store(
                    self.all_cleared_at.load(Ordering::Acquire),
                    Ordering::Release,
                );
                Arc::new(state)
            })
            .clone()
    }

    /// Records a clear of `namespace` at `at`; returns false when it was already known.
    pub(crate) fn mark_cleared(&self, namespace: &str, at: Stamp) -> bool {
        self.with(namespace, |state| state.mark_cleared(at))
    }

    /// Records a clear of every namespace at `at`; returns false when it was already known.
    pub(crate) fn mark_all_cleared(&self, at: Stamp) -> bool {
        // Every shard write-locked, in order: a namespace created concurrently either exists
        // when the mark is applied below, or is created after and copies the new mark.
        let mut guards: Vec<_> = self
            .shards
            .iter()
            .map(|shard| shard.write().unwrap_or_else(PoisonError::into_inner))
            .collect();
        let before = self.all_cleared_at.fetch_max(at.raw(), Ordering::AcqRel);
        if before >= at.raw() {
            return false;
        }
        self.default.mark_cleared(at);
        for map in &mut guards {
            for state in map.values() {
                state.mark_cleared(at);
            }
        }
        true
    }

    /// Forgets namespaces nothing uses (no L1 entry, no load holds their state) whose own clear
    /// mark can no longer matter: none, or one older than `horizon_ms` (every entry it covered
    /// has expired). They are created afresh on their next use.
    pub(crate) fn prune(&self, now_ms: u64, horizon_ms: u64) -> usize {
        let all = self.all_cleared_at.load(Ordering::Acquire);
        let forgettable = |state: &Arc<NamespaceState>| {
            let cleared = state.cleared_at.load(Ordering::Acquire);
            Arc::strong_count(state) == 1
                && (cleared <= all
                    || Stamp::from_raw(cleared).millis().saturating_add(horizon_ms) < now_ms)
        };
        let mut pruned = 0;
        for shard in self.shards.iter() {
            let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
            let before = map.len();
            map.retain(|_, state| !forgettable(state));
            pruned += before - map.len();
        }
        pruned
    }

    /// How many namespaces are registered (the default one not counted).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clear_retires_older_entries_and_bumps_the_epoch() {
        let namespaces = Namespaces::default();
        let users = namespaces.get("users");
        let epoch = users.epoch();
        assert!(!users.was_cleared(Stamp::from_raw(5)));
        assert!(namespaces.mark_cleared("users", Stamp::from_raw(10)));
        assert!(users.was_cleared(Stamp::from_raw(10)));
        assert!(!users.was_cleared(Stamp::from_raw(11)));
        assert_ne!(users.epoch(), epoch);
        assert!(
            !namespaces.mark_cleared("users", Stamp::from_raw(9)),
            "older clears are known"
        );
        assert!(!namespaces.get("orders").was_cleared(Stamp::from_raw(1)));
    }

    #[test]
    fn idle_namespaces_are_pruned_once_their_mark_cannot_matter() {
        let namespaces = Namespaces::default();
        let held = namespaces.get("held");
        drop(namespaces.get("idle"));
        namespaces.mark_cleared("recent", Stamp::from_millis(10_000));
        namespaces.mark_cleared("old", Stamp::from_millis(1_000));
        assert_eq!(namespaces.len(), 4);
        let pruned = namespaces.prune(10_500, 5_000);
        assert_eq!(pruned, 2, "idle and old go; held and recent stay");
        assert_eq!(namespaces.len(), 2);
        assert!(
            namespaces
                .get("recent")
                .was_cleared(Stamp::from_millis(9_999))
        );
        assert!(
            !namespaces.get("old").was_cleared(Stamp::from_millis(999)),
            "forgotten"
        );
        drop(held);
    }

    /// 100,000 namespaces cost a constant amount each (regression: the registry copied the
    /// whole map on each new namespace).
    #[test]
    fn many_namespaces_are_created_and_cleared() {
        let namespaces = Namespaces::default();
        for i in 0..100_000u64 {
            let name = format!("tenant-{i}");
            namespaces.mark_cleared(&name, Stamp::from_raw(i + 1));
        }
        assert_eq!(namespaces.len(), 100_000);
        assert!(namespaces.mark_all_cleared(Stamp::from_raw(200_000)));
        assert_eq!(
            namespaces.prune(0, 0),
            100_000,
            "all covered by the clear-all"
        );
    }

    #[test]
    fn clear_all_reaches_existing_and_new_namespaces() {
        let namespaces = Namespaces::default();
        let users = namespaces.get("users");
        assert!(namespaces.mark_all_cleared(Stamp::from_raw(20)));
        assert!(users.was_cleared(Stamp::from_raw(20)));
        assert!(namespaces.get("later").was_cleared(Stamp::from_raw(20)));
        assert!(!namespaces.mark_all_cleared(Stamp::from_raw(20)));
    }
}
