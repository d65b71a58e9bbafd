//! What a read can say about the value it returns: its state, its age, its remaining life and
//! the tier that held it ([`CacheEntry`], from [`GetBuilder::with_meta`](crate::GetBuilder::with_meta)).

use std::time::Duration;

use crate::entry::{EntryMeta, Freshness};

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tier {
    /// This instance's memory.
    L1,
    /// The shared tier (Redis).
    L2,
    /// The loader (the origin), called for this read.
    Loader,
}

/// A value with what the cache knows about it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CacheEntry<T> {
    /// The value.
    pub value: T,
    /// Fresh, or stale (in its stale window: served while a refresh would run).
    pub freshness: Freshness,
    /// The tier that held it.
    pub tier: Tier,
    /// Its timeline: created stamp, fresh-until, expires-at, kept-until (wall-clock ms).
    pub meta: EntryMeta,
    /// How long ago it was written (or, for a loaded value, its load started).
    pub age: Duration,
    /// How long until it expires (zero once expired).
    pub expires_in: Duration,
}

impl<T> CacheEntry<T> {
    pub(crate) fn new(
        value: T,
        freshness: Freshness,
        tier: Tier,
        meta: EntryMeta,
        now_ms: u64,
    ) -> Self {
        CacheEntry {
            value,
            freshness,
            tier,
            meta,
            age: Duration::from_millis(now_ms.saturating_sub(meta.created.millis())),
            expires_in: Duration::from_millis(meta.expires_at_ms.saturating_sub(now_ms)),
        }
    }
}
