//! The only writer of L1. Every path that puts a value into L1 (a plain read's L2 hit, a load's
//! result, a `set`, a fail-safe stand-in, a refresh) calls [`Inner::admit`], and every local
//! write or invalidation of a key opens with [`Inner::begin_write`], so one rule decides what
//! may enter L1 and in which order:
//!
//! 1. nothing older replaces something newer: an entry is refused when L1 holds one with a later
//!    created stamp, or when a write, invalidation or backplane notice of its key with a later
//!    stamp reached this instance (the key's *fence*);
//! 2. a fill that started before a write of its key is dropped: a plain read or a load takes a
//!    [`Ticket`] before it reads what it will fill with, and is admitted with an older value only
//!    if no write of the key began or arrived since, and none was in progress when it started;
//! 3. an entry whose namespace was cleared or whose tag was invalidated after it was read is
//!    refused (epochs, checked by [`Header::is_current`](crate::l1::Header::is_current));
//! 4. a cache built with [`TieredCache::disabled`](crate::TieredCache::disabled) admits nothing.
//!
//! Fences are kept per bucket of keys (a hash of the key picks one of [`BUCKETS`]), so the table
//! has a fixed size whatever the key count. Two keys that share a bucket can only cost an L1
//! fill (the read still answers correctly and the next one asks L2), never a wrong value.

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::Inner;
use super::decide;
use crate::clock::Stamp;
use crate::entry::EntryMeta;
use crate::keys::{EntryKey, KeyRef};
use crate::l1::{self, Entry, Header};
use crate::namespaces::NamespaceState;
use crate::tags::TagRef;

/// Buckets of the fence table.
const BUCKETS: usize = 4096;

/// What this instance knows of the writes of the keys in one bucket.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    /// The latest stamp of a write, invalidation or notice of any key in the bucket (raw).
    stamp: u64,
    /// Local writes and invalidations of keys in the bucket that have not finished.
    active: u32,
}

/// The fence table.
pub(crate) struct Fences {
    buckets: Box<[Mutex<Bucket>]>,
    hasher: quick_cache::DefaultHashBuilder,
}

impl Default for Fences {
    fn default() -> Self {
        Fences {
            buckets: (0..BUCKETS)
                .map(|_| Mutex::new(Bucket::default()))
                .collect(),
            hasher: quick_cache::DefaultHashBuilder::default(),
        }
    }
}

impl Fences {
    fn index(&self, key: KeyRef<'_>) -> usize {
        (self.hasher.hash_one(key) as usize) & (BUCKETS - 1)
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Bucket> {
        // Critical sections cannot panic; recover from poison instead of spreading it.
        self.buckets[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a fill knew of its key's writes when it started, taken before it reads the value it
/// will fill L1 with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    stamp: u64,
    /// No local write of the key was in progress.
    quiet: bool,
}

impl Ticket {
    /// The ticket of a write's own value: admitted only if nothing newer is known.
    pub(crate) const WRITER: Ticket = Ticket {
        stamp: u64::MAX,
        quiet: false,
    };
}

/// Rules 1 and 2 for an entry created at `created`, against the bucket as it is now.
fn admissible(bucket: &Bucket, ticket: Ticket, created: Stamp) -> bool {
    created.raw() >= bucket.stamp || (ticket.quiet && bucket.stamp == ticket.stamp)
}

/// An open local write or invalidation; closing it (drop) lets quiet fills in again.
pub(crate) struct WriteFence<'a> {
    fences: &'a Fences,
    index: usize,
}

impl Drop for WriteFence<'_> {
    fn drop(&mut self) {
        let mut bucket = self.fences.lock(self.index);
        bucket.active = bucket.active.saturating_sub(1);
    }
}

impl Inner {
    /// The ticket a plain read or a load of `key` takes before it reads from L2 or the loader.
    pub(crate) fn ticket(&self, key: KeyRef<'_>) -> Ticket {
        let bucket = *self.fences.lock(self.fences.index(key));
        Ticket {
            stamp: bucket.stamp,
            quiet: bucket.active == 0,
        }
    }

    /// Whether a value of `key` created at `created`, read under `ticket`, is still the current
    /// one as far as this instance knows: what `admit` checks, and what a fail-safe stand-in must
    /// pass before it is served.
    pub(crate) fn still_current(&self, key: KeyRef<'_>, created: Stamp, ticket: Ticket) -> bool {
        admissible(&self.fences.lock(self.fences.index(key)), ticket, created)
    }

    /// Puts `entry` into L1 under `key` if the rules allow it; returns whether it did.
    pub(crate) fn admit(&self, key: KeyRef<'_>, entry: &Entry, ticket: Ticket) -> bool {
        let header = entry.header();
        if self.stores_nothing || !header.is_current() {
            return false;
        }
        let created = header.meta.created;
        // Under the bucket lock, so no write of this key can begin between the check and the
        // insert (lock order: fence bucket, then L1 shard).
        let bucket = self.fences.lock(self.fences.index(key));
        if !admissible(&bucket, ticket, created) {
            return false;
        }
        if let Some(existing) = self.l1.peek(key) {
            let existing = existing.header();
            if existing.is_current() && existing.meta.created > created {
                return false;
            }
        }
        self.l1
            .insert(EntryKey::new(key.namespace, key.key), entry.clone());
        drop(bucket);
        true
    }

    /// Opens a local write or invalidation of `key` stamped `at`: later fills of older values are
    /// refused, fills in flight are vetoed, the L1 copy goes, and a load running now keeps its
    /// result to its own callers (new callers start a new load).
    pub(crate) fn begin_write(&self, key: KeyRef<'_>, at: Stamp) -> WriteFence<'_> {
        let index = self.fences.index(key);
        let dropped = {
            let mut bucket = self.fences.lock(index);
            bucket.stamp = bucket.stamp.max(at.raw());
            bucket.active += 1;
            self.drop_older_locked(key, at)
        };
        drop(dropped);
        self.flights.detach(key);
        WriteFence {
            fences: &self.fences,
            index,
        }
    }

    /// Applies another instance's write or invalidation of `key` stamped `at` (a backplane
    /// notice): older L1 copies go, and fills of older values are refused from now on.
    pub(crate) fn changed_elsewhere(&self, key: KeyRef<'_>, at: Stamp) {
        let dropped = {
            let mut bucket = self.fences.lock(self.fences.index(key));
            bucket.stamp = bucket.stamp.max(at.raw());
            self.drop_older_locked(key, at)
        };
        drop(dropped);
        self.flights.detach(key);
    }

    /// Notices may have been missed (a backplane gap): no fill that started before now may bring
    /// an older value in, and every L1 copy is checked against L2 on its next read: one round
    /// trip and no loader call when L2 still holds it, the copy served when L2 cannot answer.
    pub(crate) fn distrust_l1(&self, at: Stamp) -> usize {
        for bucket in self.fences.buckets.iter() {
            let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
            bucket.stamp = bucket.stamp.max(at.raw());
        }
        self.l1.distrust_all()
    }

    /// Drops L1's copy of `key` when it was created before `than` (L2 holds something newer).
    pub(crate) fn drop_older(&self, key: KeyRef<'_>, than: Stamp) {
        let dropped = self.drop_older_locked(key, than);
        drop(dropped);
    }

    fn drop_older_locked(&self, key: KeyRef<'_>, than: Stamp) -> Option<Entry> {
        self.l1
            .remove_if(key, |stored| stored.header().meta.created < than)
    }

    /// Drops `copy` from L1 if it is still what L1 holds for `key` (L2 no longer has it).
    pub(crate) fn drop_copy(&self, key: KeyRef<'_>, copy: &Entry) {
        let dropped = self
            .l1
            .remove_if(key, |stored| std::sync::Arc::ptr_eq(stored, copy));
        drop(dropped);
    }

    /// Frees the memory of a cleared namespace (its epoch already retired the entries).
    pub(crate) fn drop_namespace(&self, namespace: Option<&str>) {
        match namespace {
            Some(namespace) => self.l1.remove_namespace(namespace),
            None => self.l1.clear(),
        }
    }

    /// An L1 entry for `value` with timeline `meta`, stored under namespace epoch `epoch`.
    pub(crate) fn l1_entry<T: Send + Sync + 'static>(
        &self,
        value: T,
        meta: EntryMeta,
        epoch: u64,
        namespace: &std::sync::Arc<NamespaceState>,
        tags: Box<[TagRef]>,
        size: usize,
    ) -> Entry {
        let now = self.stamps.recent_ms();
        let l1_until = decide::l1_deadline(&self.config, self.l2.is_some(), now, &meta);
        l1::entry(
            Header::new(meta, l1_until, epoch, namespace.clone(), tags).weighing(size),
            value,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(stamp: u64, active: u32) -> Bucket {
        Bucket { stamp, active }
    }

    #[test]
    fn a_newer_value_always_passes_and_an_older_one_only_with_a_quiet_unchanged_ticket() {
        let quiet = Ticket {
            stamp: 10,
            quiet: true,
        };
        let busy = Ticket {
            stamp: 10,
            quiet: false,
        };
        let now = bucket(10, 0);
        assert!(
            admissible(&now, quiet, Stamp::from_raw(3)),
            "nothing happened"
        );
        assert!(
            !admissible(&now, busy, Stamp::from_raw(3)),
            "a write was running"
        );
        assert!(
            admissible(&now, busy, Stamp::from_raw(10)),
            "the write's own value"
        );
        let moved = bucket(20, 0);
        assert!(
            !admissible(&moved, quiet, Stamp::from_raw(3)),
            "a write began since"
        );
        assert!(
            admissible(&moved, quiet, Stamp::from_raw(21)),
            "newer than the write"
        );
        assert!(admissible(&moved, Ticket::WRITER, Stamp::from_raw(20)));
        assert!(!admissible(&moved, Ticket::WRITER, Stamp::from_raw(19)));
    }

    #[test]
    fn buckets_are_a_power_of_two() {
        assert!(BUCKETS.is_power_of_two());
    }
}
