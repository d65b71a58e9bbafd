//! Auto-recovery: invalidations, clears and tag invalidations that could not reach L2 (Redis down
//! or slow) are kept and replayed, with their original stamps, once L2 answers again. The
//! conditional writes make a late replay safe: it never replaces anything written after it.
//! Only the latest operation per target is kept, and the queue is bounded.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::Inner;
use crate::clock::Stamp;
use crate::keys::EntryKey;

/// Most operations kept waiting for L2.
const MAX_PENDING: usize = 10_000;

/// What a pending operation targets (the latest operation per target wins).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Key(EntryKey),
    Namespace(String),
    All,
    Tag(String),
}

#[derive(Default)]
pub(crate) struct Recovery {
    pending: Mutex<HashMap<Target, Stamp>>,
}

impl Recovery {
    /// Queues `target` (invalidated or cleared at `at`); false when the queue is full.
    pub(crate) fn push(&self, target: Target, at: Stamp) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.len() >= MAX_PENDING && !pending.contains_key(&target) {
            return false;
        }
        let stamp = pending.entry(target).or_insert(at);
        *stamp = (*stamp).max(at);
        true
    }

    fn take(&self) -> HashMap<Target, Stamp> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn len(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Inner {
    /// Keeps an operation L2 did not take, for replay.
    pub(crate) fn remember_failed(&self, target: Target, at: Stamp) {
        if self.recovery.push(target, at) {
            tracing::warn!("L2 missed an invalidation; it will be replayed when L2 answers");
        } else {
            self.counters.recovery_dropped.incr();
            tracing::error!(
                "auto-recovery queue full ({MAX_PENDING}); an invalidation is lost for other instances"
            );
        }
    }

    /// Replays pending operations; those that fail again stay queued.
    pub(crate) async fn replay_pending(&self) {
        let pending = self.recovery.take();
        if pending.is_empty() || self.l2.is_none() {
            return;
        }
        let mut replayed = 0usize;
        for (target, at) in pending {
            let ok = match &target {
                Target::Key(key) => self.put_tombstone(key.as_ref(), at, None).await.settled(),
                Target::Namespace(ns) => self.put_clear_mark(Some(ns), at).await,
                Target::All => self.put_clear_mark(None, at).await,
                Target::Tag(tag) => self.put_tag_mark(tag, at).await,
            };
            if ok {
                replayed += 1;
            } else {
                self.recovery.push(target, at);
            }
        }
        if replayed > 0 {
            self.counters.recovered.add(replayed as u64);
            tracing::info!(
                replayed,
                "replayed invalidations that L2 missed while unavailable"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_operation_per_target_and_stays_bounded() {
        let recovery = Recovery::default();
        assert!(recovery.push(Target::All, Stamp::from_raw(5)));
        assert!(recovery.push(Target::All, Stamp::from_raw(3)));
        assert_eq!(recovery.take().get(&Target::All), Some(&Stamp::from_raw(5)));
        for i in 0..MAX_PENDING {
            assert!(recovery.push(Target::Tag(i.to_string()), Stamp::ZERO));
        }
        assert!(!recovery.push(Target::Tag("one more".into()), Stamp::ZERO));
        assert!(
            recovery.push(Target::Tag("0".into()), Stamp::from_raw(1)),
            "an existing target updates"
        );
        assert_eq!(recovery.len(), MAX_PENDING);
    }
}
