//! Per-namespace clear state: a local epoch that retires L1 copies at once, and the latest clear
//! stamp that L2 entries are checked against.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::keys::DEFAULT_NAMESPACE;

use crate::clock::Stamp;

/// The clear state of one namespace. L1 entries hold an `Arc` to it, so checking whether an
/// entry survived a clear is one atomic load on the hit path.
#[derive(Debug, Default)]
pub(crate) struct NamespaceState {
    /// Bumped by every clear this instance learns of; an L1 entry written under an older epoch
    /// is gone.
    epoch: AtomicU64,
    /// The latest clear of this namespace or of all namespaces (raw [`Stamp`]); an L2 entry
    /// created at or before it is gone.
    cleared_at: AtomicU64,
}

impl NamespaceState {
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether an entry created at `created` was removed by a clear.
    pub(crate) fn was_cleared(&self, created: Stamp) -> bool {
        created.raw() <= self.cleared_at.load(Ordering::Acquire)
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

/// Every namespace this instance has used, plus the latest clear of all of them.
///
/// Read on every L2 read from every thread, written when a namespace is first used: readers
/// load an immutable snapshot (no lock, no shared counter), writers copy it under a mutex.
#[derive(Debug)]
pub(crate) struct Namespaces {
    /// The namespace of calls that name none, held directly: most reads never touch `map`.
    default: Arc<NamespaceState>,
    map: ArcSwap<Map>,
    writer: Mutex<()>,
    all_cleared_at: AtomicU64,
}

impl Default for Namespaces {
    fn default() -> Self {
        let default = Arc::new(NamespaceState::default());
        let mut map = Map::default();
        map.insert(DEFAULT_NAMESPACE.into(), default.clone());
        Namespaces {
            default,
            map: ArcSwap::from_pointee(map),
            writer: Mutex::default(),
            all_cleared_at: AtomicU64::new(0),
        }
    }
}

impl Namespaces {
    /// Runs `f` on the state of `namespace`, created on first use.
    #[inline]
    pub(crate) fn with<R>(&self, namespace: &str, f: impl FnOnce(&Arc<NamespaceState>) -> R) -> R {
        if namespace == DEFAULT_NAMESPACE {
            return f(&self.default);
        }
        if let Some(state) = self.map.load().get(namespace) {
            return f(state);
        }
        f(&self.create(namespace))
    }

    /// The state of `namespace`, created on first use.
    pub(crate) fn get(&self, namespace: &str) -> Arc<NamespaceState> {
        self.with(namespace, Arc::clone)
    }

    #[cold]
    fn create(&self, namespace: &str) -> Arc<NamespaceState> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.map.load_full();
        if let Some(state) = current.get(namespace) {
            return state.clone();
        }
        // A namespace first seen now still honours a clear-all learned earlier.
        let state = Arc::new(NamespaceState::default());
        state.cleared_at.store(
            self.all_cleared_at.load(Ordering::Acquire),
            Ordering::Release,
        );
        let mut next = Map::clone(&current);
        next.insert(namespace.into(), state.clone());
        self.map.store(Arc::new(next));
        state
    }

    /// Records a clear of `namespace` at `at`; returns false when it was already known.
    pub(crate) fn mark_cleared(&self, namespace: &str, at: Stamp) -> bool {
        self.with(namespace, |state| state.mark_cleared(at))
    }

    /// Retires every L1 entry of every namespace (no clear mark: L2 entries stay valid).
    pub(crate) fn retire_all(&self) {
        for state in self.map.load().values() {
            state.epoch.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Records a clear of every namespace at `at`; returns false when it was already known.
    pub(crate) fn mark_all_cleared(&self, at: Stamp) -> bool {
        // Under the writer lock, so a namespace created concurrently sees the new mark.
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let before = self.all_cleared_at.fetch_max(at.raw(), Ordering::AcqRel);
        if before >= at.raw() {
            return false;
        }
        for state in self.map.load().values() {
            state.mark_cleared(at);
        }
        true
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
    fn clear_all_reaches_existing_and_new_namespaces() {
        let namespaces = Namespaces::default();
        let users = namespaces.get("users");
        assert!(namespaces.mark_all_cleared(Stamp::from_raw(20)));
        assert!(users.was_cleared(Stamp::from_raw(20)));
        assert!(namespaces.get("later").was_cleared(Stamp::from_raw(20)));
        assert!(!namespaces.mark_all_cleared(Stamp::from_raw(20)));
    }
}
