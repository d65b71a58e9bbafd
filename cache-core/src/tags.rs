//! Tag invalidation state, client-side and without scans: an entry carrying tag `t` and created
//! at or before `t`'s invalidation mark is gone. L1 entries hold the state of their tags, so a
//! local (or backplane-delivered) invalidation retires them with one epoch bump; marks set by
//! other instances are fetched from L2 before a tagged entry is trusted (at most once per
//! `sync_interval` per tag).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::clock::Stamp;
use crate::error::CacheError;

/// Longest accepted tag, in bytes.
pub const MAX_TAG_LEN: usize = 256;

/// Checks a tag: any non-empty UTF-8 of at most [`MAX_TAG_LEN`] bytes.
pub(crate) fn validate_tag(tag: &str) -> Result<(), CacheError> {
    if tag.is_empty() || tag.len() > MAX_TAG_LEN {
        return Err(CacheError::InvalidOption {
            option: "tags",
            reason: format!(
                "a tag must be 1 to {MAX_TAG_LEN} bytes, got {} bytes",
                tag.len()
            ),
        });
    }
    Ok(())
}

/// What this instance knows of one tag.
#[derive(Debug, Default)]
pub(crate) struct TagState {
    epoch: AtomicU64,
    invalidated_at: AtomicU64,
    /// When the mark was last read from L2 (ms); 0 = never.
    verified_at_ms: AtomicU64,
}

impl TagState {
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Whether an entry created at `created` was invalidated through this tag.
    pub(crate) fn invalidates(&self, created: Stamp) -> bool {
        created.is_covered_by(Stamp::from_raw(self.invalidated_at.load(Ordering::SeqCst)))
    }

    /// Records a mark; returns true when it is newer than what was known. The mark is stored
    /// before the epoch moves, so a reader that sees the new epoch also sees the mark.
    pub(crate) fn mark(&self, at: Stamp) -> bool {
        let before = self.invalidated_at.fetch_max(at.raw(), Ordering::SeqCst);
        if before >= at.raw() {
            return false;
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        true
    }

    pub(crate) fn needs_check(&self, now_ms: u64, interval_ms: u64) -> bool {
        now_ms.saturating_sub(self.verified_at_ms.load(Ordering::Acquire)) >= interval_ms
    }

    pub(crate) fn verified(&self, now_ms: u64) {
        self.verified_at_ms.store(now_ms, Ordering::Release);
    }
}

/// A tag as an L1 entry holds it: the state and the epoch seen when the entry was stored.
#[derive(Debug, Clone)]
pub(crate) struct TagRef {
    pub(crate) state: Arc<TagState>,
    pub(crate) epoch: u64,
}

/// The tags this instance has seen.
#[derive(Debug, Default)]
pub(crate) struct Tags {
    map: Mutex<HashMap<Box<str>, Arc<TagState>, quick_cache::DefaultHashBuilder>>,
}

impl Tags {
    pub(crate) fn get(&self, tag: &str) -> Arc<TagState> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(tag.into()).or_default().clone()
    }

    /// The state of `tag` only if some entry or load uses it.
    pub(crate) fn existing(&self, tag: &str) -> Option<Arc<TagState>> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tag)
            .cloned()
    }

    /// Forgets tags no L1 entry holds any more (they are re-read from L2 when seen again).
    pub(crate) fn prune(&self) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, state| Arc::strong_count(state) > 1);
    }

    /// Forces every known tag to be re-read from L2 before it is trusted again.
    pub(crate) fn distrust_all(&self) {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        for state in map.values() {
            state.verified_at_ms.store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_move_forward_and_bump_the_epoch() {
        let tags = Tags::default();
        let state = tags.get("team:1");
        let epoch = state.epoch();
        assert!(state.mark(Stamp::from_raw(10)));
        assert!(state.invalidates(Stamp::from_raw(10)));
        assert!(!state.invalidates(Stamp::from_raw(11)));
        assert_ne!(state.epoch(), epoch);
        assert!(!state.mark(Stamp::from_raw(5)));
    }

    #[test]
    fn unused_tags_are_pruned() {
        let tags = Tags::default();
        let held = tags.get("held");
        drop(tags.get("dropped"));
        tags.prune();
        assert!(tags.existing("held").is_some());
        assert!(tags.existing("dropped").is_none());
        drop(held);
    }

    #[test]
    fn tags_are_checked() {
        assert!(validate_tag("user:42").is_ok());
        assert!(validate_tag("").is_err());
        assert!(validate_tag(&"t".repeat(MAX_TAG_LEN + 1)).is_err());
    }
}
