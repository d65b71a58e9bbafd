//! What a read can say about the value it returns: where it came from, its age, its remaining
//! life and its timeline ([`CacheEntry`], from [`GetBuilder::with_meta`](crate::GetBuilder::with_meta)).

use std::time::Duration;

use crate::entry::EntryMeta;
use crate::source::Source;

/// A value with what the cache knows about it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CacheEntry<T> {
    /// The value.
    pub value: T,
    /// Where it came from: the tier (L1, or L2 when Redis answered) and whether it was fresh or
    /// stale.
    pub source: Source,
    /// Its timeline: created stamp, fresh-until, expires-at, kept-until (wall-clock ms).
    pub meta: EntryMeta,
    /// How long ago it was written (or, for a loaded value, its load started).
    pub age: Duration,
    /// How long until it expires (zero once expired).
    pub expires_in: Duration,
}

impl<T> CacheEntry<T> {
    pub(crate) fn new(value: T, source: Source, meta: EntryMeta, now_ms: u64) -> Self {
        CacheEntry {
            value,
            source,
            meta,
            age: Duration::from_millis(now_ms.saturating_sub(meta.created.millis())),
            expires_in: Duration::from_millis(meta.expires_at_ms.saturating_sub(now_ms)),
        }
    }
}
