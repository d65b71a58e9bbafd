//! Auto-recovery: writes, invalidations, clears and tag invalidations that could not reach L2
//! (Redis down, slow, or its breaker open) are kept and replayed, with their original stamps, once
//! L2 answers again. The conditional writes make a late replay safe: it never replaces anything
//! written after it. Only the latest operation per target is kept, and the queue is bounded (in
//! operations, and in the bytes of queued values: past that, a write is kept as an invalidation
//! of its key, so the value it replaced still never comes back).
//!
//! Until an operation is replayed, this instance's reads prefer it to what L2 holds when it is
//! newer (see [`Recovery::pending_for`] and [`Pending::newer_than`]): the writer reads its write even when its L1 was
//! dropped meanwhile (a backplane gap at Redis's restart).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use super::Inner;
use super::options::Skips;
use crate::clock::Stamp;
use crate::entry::EntryMeta;
use crate::envelope;
use crate::keys::{EntryKey, KeyRef};

/// Most operations kept waiting for L2.
const MAX_PENDING: usize = 10_000;
/// Most bytes of queued values.
const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// What a pending operation targets (the latest operation per target wins).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Key(EntryKey),
    Namespace(String),
    All,
    Tag(String),
}

/// A `set` L2 did not take: the envelope and its timeline.
#[derive(Clone, Debug)]
pub(crate) struct QueuedWrite {
    pub(crate) bytes: Bytes,
    pub(crate) meta: EntryMeta,
}

/// One pending operation: its stamp, and for a key, the value written (none: an invalidation).
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) at: Stamp,
    pub(crate) write: Option<QueuedWrite>,
}

/// What a pending operation says about a key, against the bytes L2 holds for it.
pub(crate) enum Newer {
    /// Nothing pending is newer than what L2 holds.
    No,
    /// A write L2 has not taken: these are the bytes to read.
    Write(Bytes),
    /// An invalidation L2 has not taken: the key holds nothing.
    Invalidated,
}

#[derive(Default)]
struct Queue {
    pending: HashMap<Target, Pending>,
    bytes: usize,
}

#[derive(Default)]
pub(crate) struct Recovery {
    queue: Mutex<Queue>,
    /// How many operations are pending, read without the lock on every L2 read.
    count: AtomicUsize,
}

impl Recovery {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `pending` for `target` unless a later operation is queued for it; false when the
    /// queue is full. A write that does not fit the byte budget is kept as an invalidation.
    pub(crate) fn push(&self, target: Target, mut pending: Pending) -> bool {
        let mut queue = self.lock();
        if let Some(existing) = queue.pending.get(&target) {
            if existing.at > pending.at {
                return true;
            }
        } else if queue.pending.len() >= MAX_PENDING {
            return false;
        }
        let size = pending.write.as_ref().map_or(0, |w| w.bytes.len());
        if queue.bytes + size > MAX_QUEUED_BYTES {
            pending.write = None;
        }
        queue.bytes += pending.write.as_ref().map_or(0, |w| w.bytes.len());
        if let Some(old) = queue.pending.insert(target, pending) {
            queue.bytes -= old.write.map_or(0, |w| w.bytes.len());
        }
        self.count.store(queue.pending.len(), Ordering::Release);
        true
    }

    /// Everything pending now.
    fn snapshot(&self) -> Vec<(Target, Pending)> {
        let queue = self.lock();
        queue
            .pending
            .iter()
            .map(|(target, pending)| (target.clone(), pending.clone()))
            .collect()
    }

    /// `target`'s operation stamped `at` reached L2: forget it, unless a later one replaced it.
    fn settle(&self, target: &Target, at: Stamp) {
        let mut queue = self.lock();
        if queue.pending.get(target).is_some_and(|p| p.at == at) {
            if let Some(done) = queue.pending.remove(target) {
                queue.bytes -= done.write.map_or(0, |w| w.bytes.len());
            }
        }
        self.count.store(queue.pending.len(), Ordering::Release);
    }

    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// What is pending for `key`, taken before reading it from L2 (so a replay that lands
    /// between the read and the comparison cannot hide it). One atomic load when nothing is.
    #[inline]
    pub(crate) fn pending_for(&self, key: KeyRef<'_>) -> Option<Pending> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let target = Target::Key(EntryKey::new(key.namespace, key.key));
        self.lock().pending.get(&target).cloned()
    }
}

impl Pending {
    /// Whether this operation, which L2 had not taken before `stored` was read, is newer than
    /// `stored` (the bytes L2 held, `None` for nothing).
    pub(crate) fn newer_than(self, stored: Option<&[u8]>) -> Newer {
        let stored_at = stored
            .and_then(|bytes| envelope::decode(bytes).ok())
            .map(|envelope| envelope.meta.created);
        if stored_at.is_some_and(|at| at >= self.at) {
            return Newer::No;
        }
        match self.write {
            Some(write) => Newer::Write(write.bytes),
            None => Newer::Invalidated,
        }
    }
}

impl Inner {
    /// Keeps an invalidation, clear or tag invalidation L2 did not take, for replay.
    pub(crate) fn remember_failed(&self, target: Target, at: Stamp) {
        self.remember(target, Pending { at, write: None });
    }

    /// Keeps a `set` L2 did not take, for replay.
    pub(crate) fn remember_failed_write(&self, key: KeyRef<'_>, bytes: Bytes, meta: EntryMeta) {
        let target = Target::Key(EntryKey::new(key.namespace, key.key));
        let at = meta.created;
        self.remember(
            target,
            Pending {
                at,
                write: Some(QueuedWrite { bytes, meta }),
            },
        );
    }

    fn remember(&self, target: Target, pending: Pending) {
        if self.recovery.push(target, pending) {
            tracing::warn!(
                "L2 missed a write or invalidation; it will be replayed when L2 answers"
            );
        } else {
            self.counters.recovery_dropped.incr();
            tracing::error!(
                "auto-recovery queue full ({MAX_PENDING}); an operation is lost for other instances"
            );
        }
    }

    /// Replays pending operations; those that fail again stay queued.
    pub(crate) async fn replay_pending(&self) {
        if self.recovery.len() == 0 || self.l2.is_none() {
            return;
        }
        let mut replayed = 0usize;
        for (target, pending) in self.recovery.snapshot() {
            let at = pending.at;
            let ok = match &target {
                Target::Key(key) => self.replay_key(key.as_ref(), pending).await,
                Target::Namespace(ns) => self.put_clear_mark(Some(ns), at).await,
                Target::All => self.put_clear_mark(None, at).await,
                Target::Tag(tag) => self.put_tag_mark(tag, at).await,
            };
            if ok {
                self.recovery.settle(&target, at);
                replayed += 1;
            }
        }
        if replayed > 0 {
            self.counters.recovered.add(replayed as u64);
            tracing::info!(
                replayed,
                "replayed writes and invalidations that L2 missed while unavailable"
            );
        }
    }

    /// A key's pending write (while its value can still be read) or invalidation. A write whose
    /// value expired meanwhile is replayed as an invalidation: the value it replaced must not
    /// come back either.
    async fn replay_key(&self, key: KeyRef<'_>, pending: Pending) -> bool {
        let now = self.stamps.now_ms();
        match pending.write {
            Some(write) if write.meta.is_kept(now) => self
                .put_l2(key, write.bytes, &write.meta, None, Skips::default())
                .await
                .settled(),
            _ => self.put_tombstone(key, pending.at, None).await.settled(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CodecKind;
    use std::time::Duration;

    fn invalidation(at: u64) -> Pending {
        Pending {
            at: Stamp::from_raw(at),
            write: None,
        }
    }

    fn write(at: u64, size: usize) -> Pending {
        Pending {
            at: Stamp::from_raw(at),
            write: Some(QueuedWrite {
                bytes: Bytes::from(vec![0u8; size]),
                meta: EntryMeta::new(
                    Stamp::from_raw(at),
                    0,
                    Duration::from_secs(1),
                    Duration::ZERO,
                    Duration::ZERO,
                ),
            }),
        }
    }

    #[test]
    fn keeps_the_latest_operation_per_target_and_stays_bounded() {
        let recovery = Recovery::default();
        assert!(recovery.push(Target::All, invalidation(5)));
        assert!(recovery.push(Target::All, invalidation(3)));
        let all = recovery.snapshot();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].1.at, Stamp::from_raw(5));
        for i in 0..MAX_PENDING - 1 {
            assert!(recovery.push(Target::Tag(i.to_string()), invalidation(0)));
        }
        assert!(!recovery.push(Target::Tag("one more".into()), invalidation(0)));
        assert!(
            recovery.push(Target::Tag("0".into()), invalidation(1)),
            "an existing target updates"
        );
        assert_eq!(recovery.len(), MAX_PENDING);
        recovery.settle(&Target::All, Stamp::from_raw(4));
        assert_eq!(
            recovery.len(),
            MAX_PENDING,
            "a settle of an older stamp keeps the newer"
        );
        recovery.settle(&Target::All, Stamp::from_raw(5));
        assert_eq!(recovery.len(), MAX_PENDING - 1);
    }

    #[test]
    fn writes_past_the_byte_budget_are_kept_as_invalidations() {
        let recovery = Recovery::default();
        let key = |k: &str| Target::Key(EntryKey::new("n", k));
        assert!(recovery.push(key("a"), write(1, MAX_QUEUED_BYTES)));
        assert!(recovery.push(key("b"), write(2, 10)));
        let b = recovery
            .snapshot()
            .into_iter()
            .find(|(t, _)| *t == key("b"))
            .expect("queued");
        assert!(b.1.write.is_none(), "over the budget: an invalidation");
        assert!(recovery.push(key("a"), invalidation(3)));
        assert!(recovery.push(key("c"), write(4, 10)));
        let c = recovery
            .snapshot()
            .into_iter()
            .find(|(t, _)| *t == key("c"))
            .expect("queued");
        assert!(c.1.write.is_some(), "the budget was given back");
    }

    #[test]
    fn a_pending_operation_wins_over_older_stored_bytes_only() {
        let recovery = Recovery::default();
        let key = KeyRef {
            namespace: "n",
            key: "k",
        };
        assert!(recovery.pending_for(key).is_none());
        recovery.push(Target::Key(EntryKey::new("n", "k")), write(10, 4));
        let meta = |at| {
            EntryMeta::new(
                Stamp::from_raw(at),
                0,
                Duration::from_secs(1),
                Duration::ZERO,
                Duration::ZERO,
            )
        };
        let older =
            envelope::encode_value(&1u8, CodecKind::Bincode, &meta(5), &[], 1024).expect("fits");
        let newer =
            envelope::encode_value(&1u8, CodecKind::Bincode, &meta(20), &[], 1024).expect("fits");
        let pending = || recovery.pending_for(key).expect("pending");
        assert!(matches!(pending().newer_than(None), Newer::Write(_)));
        assert!(matches!(
            pending().newer_than(Some(&older)),
            Newer::Write(_)
        ));
        assert!(matches!(pending().newer_than(Some(&newer)), Newer::No));
        recovery.push(Target::Key(EntryKey::new("n", "k")), invalidation(11));
        assert!(matches!(
            pending().newer_than(Some(&older)),
            Newer::Invalidated
        ));
    }
}
