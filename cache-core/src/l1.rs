//! L1: the bounded in-process tier on `quick_cache`.
//!
//! quick_cache has no TTL, so each value is stored with its timeline and checked on read. Values
//! of any type share one cache: an entry is a [`Typed<T>`] behind `Arc<dyn Stored>`, one
//! allocation, downcast on hit. A hit clones `T`; nothing is decoded.
//!
//! Only `cache::admit` mutates the map: it decides what may enter L1 and in which order.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use quick_cache::sync::Cache;

use crate::entry::EntryMeta;
use crate::keys::{EntryKey, KeyRef};
use crate::namespaces::NamespaceState;
use crate::tags::TagRef;

/// What every L1 entry carries besides its value.
///
/// In this order (`repr(C)`): what a fresh hit reads (the L1 deadline, the epochs, then the
/// timeline, whose second word is `fresh_until_ms`) comes first, so that with the entry's
/// reference counts in front it spans 64 bytes, one cache line when the entry starts on one:
/// a hit on an entry that is not in the CPU's caches is a trip to memory per line.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Header {
    /// After this (ms) the copy must be checked against L2 (`l1_ttl`); 0 after a backplane gap
    /// (the copy is checked on its next read).
    l1_until_ms: AtomicU64,
    epoch: u64,
    namespace: Arc<NamespaceState>,
    /// Out of line, behind one thin pointer: most entries have no tags, and every entry pays
    /// for this field (a `Box<[TagRef]>` here would be two words).
    tags: Option<Box<Box<[TagRef]>>>,
    pub(crate) meta: EntryMeta,
    /// No background refresh before this (ms): another instance holds the refresh lock, or
    /// the last refresh failed (fail-safe throttle).
    refresh_after_ms: AtomicU64,
    /// The entry's encoded size (saturated), what it weighs in a byte-bounded L1.
    size: u32,
    /// A background refresh of this entry is running: further stale hits start nothing, with
    /// one load instead of a look into the flight map.
    refreshing: AtomicBool,
}

/// What [`Header`] may weigh: an entry is one allocation of the reference counts, the header
/// and the value, and every byte here is paid by every entry in L1. The build fails past it.
const HEADER_BYTES: usize = 80;
const _: () = assert!(
    std::mem::size_of::<Header>() <= HEADER_BYTES,
    "Header outgrew HEADER_BYTES: every L1 entry pays for it"
);

impl Header {
    pub(crate) fn new(
        meta: EntryMeta,
        l1_until_ms: u64,
        epoch: u64,
        namespace: Arc<NamespaceState>,
        tags: Box<[TagRef]>,
    ) -> Self {
        Header {
            meta,
            l1_until_ms: AtomicU64::new(l1_until_ms),
            epoch,
            namespace,
            tags: (!tags.is_empty()).then(|| Box::new(tags)),
            refresh_after_ms: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
            size: 0,
        }
    }

    /// The header of an entry whose encoded value is `size` bytes long.
    pub(crate) fn weighing(mut self, size: usize) -> Self {
        self.size = u32::try_from(size).unwrap_or(u32::MAX);
        self
    }

    /// The entry's encoded size in bytes (0 when unknown).
    pub(crate) fn size(&self) -> usize {
        self.size as usize
    }

    /// Until when L1 trusts this copy without asking L2.
    #[inline]
    pub(crate) fn l1_until_ms(&self) -> u64 {
        self.l1_until_ms.load(Ordering::Relaxed)
    }

    /// Notices may have been missed: the copy is checked against L2 on its next read.
    pub(crate) fn distrust(&self) {
        self.l1_until_ms.store(0, Ordering::Relaxed);
    }

    /// False once a clear of the namespace, or an invalidation of one of its tags, happened
    /// after the entry's load started.
    #[inline]
    pub(crate) fn is_current(&self) -> bool {
        self.epoch == self.namespace.epoch()
            && self
                .tags
                .as_deref()
                .is_none_or(|tags| tags.iter().all(|tag| tag.epoch == tag.state.epoch()))
    }

    /// The namespace epoch the entry was stored under.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The state of the entry's namespace.
    pub(crate) fn namespace(&self) -> &Arc<NamespaceState> {
        &self.namespace
    }

    /// The tags of the entry, with their states.
    pub(crate) fn tags(&self) -> &[TagRef] {
        self.tags.as_deref().map_or(&[], |tags| tags)
    }

    /// Whether a background refresh may start at `now_ms`.
    #[inline]
    pub(crate) fn may_refresh(&self, now_ms: u64) -> bool {
        now_ms >= self.refresh_after_ms.load(Ordering::Relaxed)
    }

    /// Claims the right to start this entry's background refresh: true for one caller until
    /// [`end_refresh`](Self::end_refresh).
    #[inline]
    pub(crate) fn begin_refresh(&self, now_ms: u64) -> bool {
        self.may_refresh(now_ms)
            && !self.refreshing.load(Ordering::Relaxed)
            && self
                .refreshing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// The refresh started by [`begin_refresh`](Self::begin_refresh) is over (whatever became
    /// of it): a later stale hit may start another.
    pub(crate) fn end_refresh(&self) {
        self.refreshing.store(false, Ordering::Release);
    }

    /// Holds background refreshes off until `until_ms`.
    pub(crate) fn defer_refresh(&self, until_ms: u64) {
        self.refresh_after_ms.fetch_max(until_ms, Ordering::Relaxed);
    }
}

/// An L1 entry: the header, then the value. Stored as `Typed<dyn Any>` so that the header is
/// read without a virtual call and the value is downcast with one.
#[repr(C)]
pub(crate) struct Typed<T: ?Sized> {
    header: Header,
    value: T,
}

/// A type-erased L1 entry.
pub(crate) type Stored = Typed<dyn Any + Send + Sync>;

impl Stored {
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        &self.header
    }
}

pub(crate) type Entry = Arc<Stored>;

/// Wraps a value as an L1 entry.
pub(crate) fn entry<T: Send + Sync + 'static>(header: Header, value: T) -> Entry {
    Arc::new(Typed { header, value })
}

/// The value of an entry, when it holds a `T`.
#[inline]
pub(crate) fn value_of<T: 'static>(entry: &Stored) -> Option<&T> {
    entry.value.downcast_ref::<T>()
}

/// What an entry weighs. Counted alone, each weighs 1 and the capacity is the entry count.
/// With a byte bound too, both limits are folded into one weight: the capacity is
/// `count × bytes` and an entry weighs `max(bytes, its size × count)`, so the weights of the
/// entries held add up to at most the capacity only if there are at most `count` of them and
/// their sizes add up to at most `bytes` (each weight is at least its share of either limit).
#[derive(Clone, Debug)]
pub(crate) struct Weights {
    /// `(l1_max_size, l1_max_bytes)` when bytes are bounded.
    bounds: Option<(u64, u64)>,
}

/// What an entry costs beyond its encoded value and key: its header, the map's slot and the
/// allocations' own bookkeeping, roughly.
const ENTRY_OVERHEAD: u64 = 160;

impl Weights {
    /// The size an entry is weighed at: its encoded value, its key and its overhead.
    fn size(key: &EntryKey, entry: &Entry) -> u64 {
        (entry.header().size() as u64)
            .saturating_add((key.namespace().len() + key.key().len()) as u64)
            .saturating_add(ENTRY_OVERHEAD)
    }
}

impl quick_cache::Weighter<EntryKey, Entry> for Weights {
    fn weight(&self, key: &EntryKey, entry: &Entry) -> u64 {
        match self.bounds {
            None => 1,
            Some((count, bytes)) => bytes.max(Weights::size(key, entry).saturating_mul(count)),
        }
    }
}

/// The bounded map from (namespace, key) to entries.
pub(crate) struct L1 {
    cache: Cache<EntryKey, Entry, Weights>,
    capacity: usize,
}

impl L1 {
    /// At most `capacity` entries and, when set, `max_bytes` bytes of entries (encoded values,
    /// keys and a fixed overhead each). `capacity × max_bytes` must fit a `u64` (the config's
    /// validation checks it).
    pub(crate) fn new(capacity: usize, max_bytes: Option<usize>) -> Self {
        let count = capacity as u64;
        let (weights, weight_capacity) = match max_bytes {
            None => (Weights { bounds: None }, count),
            Some(bytes) => (
                Weights {
                    bounds: Some((count, bytes as u64)),
                },
                count.saturating_mul(bytes as u64),
            ),
        };
        L1 {
            cache: Cache::with_weighter(capacity, weight_capacity, weights),
            capacity,
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: KeyRef<'_>) -> Option<Entry> {
        self.cache.get(&key)
    }

    /// What is stored under `key`, without counting as an access for eviction.
    pub(crate) fn peek(&self, key: KeyRef<'_>) -> Option<Entry> {
        self.cache.peek(&key)
    }

    pub(crate) fn insert(&self, key: EntryKey, entry: Entry) {
        self.cache.insert(key, entry);
    }

    /// Removes the entry under `key` when `doomed` says so; returns it, to be dropped by the
    /// caller outside its own locks.
    pub(crate) fn remove_if(
        &self,
        key: KeyRef<'_>,
        doomed: impl FnOnce(&Entry) -> bool,
    ) -> Option<Entry> {
        self.cache
            .remove_if(&key, |stored| doomed(stored))
            .map(|(_, entry)| entry)
    }

    /// Marks every copy for a check against L2 on its next read.
    pub(crate) fn distrust_all(&self) -> usize {
        let mut marked = 0;
        for (_, entry) in self.cache.iter() {
            entry.header().distrust();
            marked += 1;
        }
        marked
    }

    /// Drops every entry of `namespace` (memory only: the epoch already retired them).
    pub(crate) fn remove_namespace(&self, namespace: &str) {
        self.cache.retain(|key, _| key.namespace() != namespace);
    }

    pub(crate) fn clear(&self) {
        self.cache.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.cache.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Stamp;
    use std::time::Duration;

    fn header(ns: &Arc<NamespaceState>) -> Header {
        let meta = EntryMeta::new(
            Stamp::ZERO,
            0,
            Duration::from_secs(10),
            Duration::ZERO,
            Duration::ZERO,
        );
        Header::new(meta, 10_000, ns.epoch(), ns.clone(), Box::new([]))
    }

    #[test]
    fn stores_values_of_different_types_and_checks_the_type() {
        let l1 = L1::new(100, None);
        let ns = Arc::new(NamespaceState::default());
        l1.insert(EntryKey::new("n", "a"), entry(header(&ns), 5u32));
        l1.insert(
            EntryKey::new("n", "b"),
            entry(header(&ns), "text".to_owned()),
        );
        let a = l1
            .get(KeyRef {
                namespace: "n",
                key: "a",
            })
            .expect("present");
        assert_eq!(value_of::<u32>(&*a), Some(&5));
        assert_eq!(value_of::<String>(&*a), None);
        let b = l1
            .get(KeyRef {
                namespace: "n",
                key: "b",
            })
            .expect("present");
        assert_eq!(value_of::<String>(&*b).map(String::as_str), Some("text"));
    }

    #[test]
    fn tags_out_of_line_are_still_checked() {
        let ns = Arc::new(NamespaceState::default());
        let meta = EntryMeta::new(
            Stamp::ZERO,
            0,
            Duration::from_secs(10),
            Duration::ZERO,
            Duration::ZERO,
        );
        let tag = crate::tags::TagState::default();
        let tag = Arc::new(tag);
        let tags: Box<[TagRef]> = Box::new([TagRef {
            epoch: tag.epoch(),
            state: tag.clone(),
        }]);
        let header = Header::new(meta, 10_000, ns.epoch(), ns.clone(), tags);
        assert_eq!(header.tags().len(), 1);
        assert!(header.is_current());
        assert!(tag.mark(Stamp::from_raw(5)));
        assert!(!header.is_current());
        let untagged = Header::new(meta, 10_000, ns.epoch(), ns.clone(), Box::new([]));
        assert!(untagged.tags().is_empty());
        assert!(untagged.is_current());
    }

    #[test]
    fn stays_bounded() {
        let l1 = L1::new(100, None);
        let ns = Arc::new(NamespaceState::default());
        for i in 0..10_000 {
            l1.insert(EntryKey::new("n", &i.to_string()), entry(header(&ns), i));
        }
        assert!(l1.len() <= 110, "len {}", l1.len());
    }

    #[test]
    fn removes_one_namespace_only() {
        let l1 = L1::new(100, None);
        let ns = Arc::new(NamespaceState::default());
        l1.insert(EntryKey::new("a", "k"), entry(header(&ns), 1));
        l1.insert(EntryKey::new("b", "k"), entry(header(&ns), 2));
        l1.remove_namespace("a");
        assert!(
            l1.get(KeyRef {
                namespace: "a",
                key: "k"
            })
            .is_none()
        );
        assert!(
            l1.get(KeyRef {
                namespace: "b",
                key: "k"
            })
            .is_some()
        );
    }
}
