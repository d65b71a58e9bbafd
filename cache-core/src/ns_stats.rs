//! Per-namespace counters, for metrics labelled by namespace with a bounded label set: the first
//! `metrics_namespaces` namespaces used get counters of their own, every later one shares the
//! `other` bucket. Counters outlive the namespace registry's pruning, so a namespace's series
//! never goes backwards.

use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::stats::Counter;

/// The bucket of namespaces beyond the limit.
pub const OTHER_NAMESPACES: &str = "other";

/// What one namespace (or the `other` bucket) counts.
#[derive(Default)]
pub(crate) struct NamespaceCounters {
    /// Reads L1 answered with a fresh value.
    pub(crate) hits: Counter,
    /// Reads L1 answered with a stale value.
    pub(crate) stale: Counter,
    /// Reads L1 could not answer (they went on to L2 or a loader).
    pub(crate) misses: Counter,
    /// Loader calls, foreground and background.
    pub(crate) loads: Counter,
}

/// Every namespace's counters, bounded.
pub(crate) struct NamespaceMetrics {
    limit: usize,
    named: Mutex<Vec<(Box<str>, Arc<NamespaceCounters>)>>,
    other: Arc<NamespaceCounters>,
}

impl std::fmt::Debug for NamespaceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceMetrics")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl NamespaceMetrics {
    pub(crate) fn new(limit: usize) -> Self {
        NamespaceMetrics {
            limit,
            named: Mutex::default(),
            other: Arc::default(),
        }
    }

    /// The counters of `namespace`: its own while fewer than the limit have theirs, else the
    /// `other` bucket. Called when a namespace's state is created, never on a read.
    pub(crate) fn counters_for(&self, namespace: &str) -> Arc<NamespaceCounters> {
        let mut named = self.named.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, counters)) = named.iter().find(|(name, _)| &**name == namespace) {
            return counters.clone();
        }
        if named.len() >= self.limit {
            return self.other.clone();
        }
        let counters = Arc::<NamespaceCounters>::default();
        named.push((namespace.into(), counters.clone()));
        counters
    }

    /// A snapshot of every namespace's counters, the `other` bucket last (when it counted
    /// anything).
    pub(crate) fn snapshot(&self) -> Vec<NamespaceStats> {
        let named = self.named.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<NamespaceStats> = named
            .iter()
            .map(|(name, counters)| NamespaceStats::read(name, counters))
            .collect();
        let other = NamespaceStats::read(OTHER_NAMESPACES, &self.other);
        if other.hits + other.stale + other.misses + other.loads > 0 {
            out.push(other);
        }
        out
    }
}

/// What one namespace counted (see [`TieredCache::namespace_stats`](crate::TieredCache::namespace_stats)).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamespaceStats {
    /// The namespace, or `"other"` for the namespaces beyond `metrics_namespaces`.
    pub namespace: String,
    /// Reads L1 answered with a fresh value.
    pub hits: u64,
    /// Reads L1 answered with a stale value.
    pub stale: u64,
    /// Reads L1 could not answer (they went on to L2 or a loader).
    pub misses: u64,
    /// Loader calls, foreground and background.
    pub loads: u64,
}

impl NamespaceStats {
    fn read(namespace: &str, counters: &NamespaceCounters) -> Self {
        NamespaceStats {
            namespace: namespace.to_owned(),
            hits: counters.hits.get(),
            stale: counters.stale.get(),
            misses: counters.misses.get(),
            loads: counters.loads.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_past_the_limit_share_the_other_bucket() {
        let metrics = NamespaceMetrics::new(2);
        let a = metrics.counters_for("a");
        let b = metrics.counters_for("b");
        let c = metrics.counters_for("c");
        let d = metrics.counters_for("d");
        assert!(
            Arc::ptr_eq(&a, &metrics.counters_for("a")),
            "the same counters again"
        );
        assert!(Arc::ptr_eq(&c, &d), "c and d share other");
        a.hits.incr();
        b.misses.incr();
        c.loads.incr();
        d.loads.incr();
        let snapshot = metrics.snapshot();
        let names: Vec<&str> = snapshot.iter().map(|s| s.namespace.as_str()).collect();
        assert_eq!(names, ["a", "b", "other"]);
        assert_eq!(snapshot[2].loads, 2);
        assert_eq!(NamespaceMetrics::new(0).counters_for("x").hits.get(), 0);
    }
}
