//! The only code that reads or writes the stored form of entries and marks in L2: envelopes
//! (decode, the clear and tag checks, conditional writes, tombstones), tag marks, clear marks,
//! and the backplane notice each write publishes. Everything above this module deals in values,
//! timelines and stamps.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::Either;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Inner;
use super::decide::Lifetime;
use super::options::Skips;
use super::recovery::{Newer, Pending};
use super::tier::Skip;
use crate::clock::{Stamp, duration_ms};
use crate::codec::CodecKind;
use crate::entry::EntryMeta;
use crate::envelope::{self, DecodeError};
use crate::error::CacheError;
use crate::keys::KeyRef;
use crate::l2::{ClearMarks, L2Error, Undecodable, WriteOutcome};
use crate::notice::{Change, Notice};
use crate::observe::L2Op;
use crate::tags::{TagRef, TagState};

/// What L2 holds for a key.
pub(crate) enum L2Read<T> {
    /// A live entry: not a tombstone, not cleared, no tag of it invalidated.
    Hit {
        value: T,
        meta: EntryMeta,
        tags: Box<[TagRef]>,
        /// The stored envelope's length (what the entry weighs in a byte-bounded L1).
        size: usize,
    },
    /// Nothing usable. `overwrite` describes bytes that did not decode, so that the next write
    /// replaces them whatever they claim.
    Miss { overwrite: Option<Undecodable> },
    /// No L2, or it could not answer.
    Unavailable,
}

/// An entry read from L2 before its tags were checked.
struct Decoded<T> {
    value: T,
    meta: EntryMeta,
    tag_names: Vec<String>,
    /// The stored envelope's length.
    size: usize,
}

/// What became of an L2 write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L2Write {
    Written,
    Superseded,
    Failed,
    NoL2,
}

impl L2Write {
    /// L2 holds this write, or something newer, or there is no L2: nothing to replay.
    pub(crate) fn settled(self) -> bool {
        self != L2Write::Failed
    }
}

/// Whether an entry created at `created` survives the invalidation marks of its `tags`.
/// Epochs first, then marks: an invalidation stores its mark before moving the epoch.
pub(crate) fn tags_allow(tags: &[TagRef], created: Stamp) -> bool {
    !tags.iter().any(|tag| tag.state.invalidates(created))
}

/// Encodes a value entry with the codec its lifetime chose.
///
/// # Errors
/// [`CacheError::Serialize`] or [`CacheError::ValueTooLarge`].
pub(crate) fn encode<T: Serialize + ?Sized>(
    value: &T,
    lifetime: &Lifetime,
    meta: &EntryMeta,
    max_size: usize,
) -> Result<Vec<u8>, CacheError> {
    let tags: Vec<&str> = lifetime.tags.iter().map(String::as_str).collect();
    envelope::encode_value(value, lifetime.codec, meta, &tags, max_size)
}

impl Inner {
    /// Reads and decodes `key` from L2. Foreign or undecodable bytes are a counted miss.
    pub(crate) async fn read_l2<T: DeserializeOwned>(&self, key: KeyRef<'_>) -> L2Read<T> {
        let Some(tier) = &self.l2 else {
            return L2Read::Unavailable;
        };
        // Taken before the read: a replay that lands meanwhile cannot hide a newer write.
        let pending = self.recovery.pending_for(key);
        let stored = tier
            .call(&self.counters, L2Op::Read, true, |b| b.get(key))
            .await;
        self.l2_answer(key, stored, pending).await
    }

    /// What `stored` (L2's answer for `key`, however it was read) holds, given `pending` (this
    /// instance's write or invalidation of the key that L2 has not taken yet, looked up before
    /// L2 was asked). Foreign or undecodable bytes are a counted miss.
    pub(crate) async fn l2_answer<T: DeserializeOwned>(
        &self,
        key: KeyRef<'_>,
        stored: Result<Option<Bytes>, Skip>,
        pending: Option<Pending>,
    ) -> L2Read<T> {
        // Interpreted synchronously: only the tag check may wait (for marks from L2), and a
        // future holds room for everything alive across its waits (see `heap_sizes`).
        let entry = match self.l2_entry::<T>(key, stored, pending) {
            Ok(entry) => entry,
            Err(answer) => return answer,
        };
        let tags = self.tag_refs(&entry.tag_names).await;
        if !tags_allow(&tags, entry.meta.created) {
            // A tag of this entry was invalidated after it was written.
            return L2Read::Miss { overwrite: None };
        }
        L2Read::Hit {
            value: entry.value,
            meta: entry.meta,
            tags,
            size: entry.size,
        }
    }

    /// [`l2_answer`](Self::l2_answer) up to the tag check: the live entry in `stored`, or the
    /// answer when there is none.
    fn l2_entry<T: DeserializeOwned>(
        &self,
        key: KeyRef<'_>,
        stored: Result<Option<Bytes>, Skip>,
        pending: Option<Pending>,
    ) -> Result<Decoded<T>, L2Read<T>> {
        let stored = match stored {
            Ok(stored) => stored,
            // A hash or a list under our key: the write script replaces any non-string.
            Err(Skip::Failed(L2Error::Data(message))) => {
                return Err(self.undecodable::<T>(key, &message, None, None));
            }
            // L2 cannot answer: a write this instance queued for it is still the newest value,
            // unless this instance has heard of a newer change of the key since (a notice).
            Err(_)
                if pending.as_ref().is_some_and(|p| {
                    self.still_current(key, p.at, super::admit::Ticket::WRITER)
                }) =>
            {
                None
            }
            Err(_) => return Err(L2Read::Unavailable),
        };
        // A write or invalidation of this key that L2 has not taken yet (it was down) is newer
        // than what L2 holds: this instance reads its own write.
        let newer = pending.map_or(Newer::No, |p| p.newer_than(stored.as_deref()));
        let bytes = match newer {
            Newer::No => match stored {
                Some(bytes) => bytes,
                None => return Err(L2Read::Miss { overwrite: None }),
            },
            Newer::Write(bytes) => bytes,
            Newer::Invalidated => return Err(L2Read::Miss { overwrite: None }),
        };
        let envelope = match envelope::decode(&bytes) {
            Ok(envelope) => envelope,
            Err(error) => {
                let reason = error.to_string();
                let overwrite = Some(Undecodable::of(&bytes));
                return Err(self.undecodable::<T>(key, &reason, None, overwrite));
            }
        };
        let meta = envelope.meta;
        if envelope.tombstone {
            self.stamps.observe(meta.created);
            return Err(L2Read::Miss { overwrite: None });
        }
        // Decoded with the codec the entry names, whatever this cache writes with.
        let value = match envelope.value::<T>() {
            Ok(value) => value,
            Err(error) => {
                let reason = match error {
                    DecodeError::TypeMismatch => "stored value is of another Rust type".to_owned(),
                    DecodeError::Payload { reason, .. } => reason,
                    other => other.to_string(),
                };
                let codec = Some(envelope.codec());
                let overwrite = Some(Undecodable::of(&bytes));
                return Err(self.undecodable::<T>(key, &reason, codec, overwrite));
            }
        };
        // Only a stamp that came with a whole, readable entry moves this instance's clock.
        self.stamps.observe(meta.created);
        let cleared = self.namespaces.with(key.namespace, |namespace| {
            namespace.was_cleared(meta.created)
        });
        if cleared {
            return Err(L2Read::Miss { overwrite: None });
        }
        Ok(Decoded {
            value,
            meta,
            tag_names: envelope.tags().map(str::to_owned).collect(),
            size: bytes.len(),
        })
    }

    /// Counts and logs bytes that are no `T`, naming the type and (when the header named one)
    /// the codec, and answers a miss.
    fn undecodable<T>(
        &self,
        key: KeyRef<'_>,
        reason: &str,
        codec: Option<CodecKind>,
        overwrite: Option<Undecodable>,
    ) -> L2Read<T> {
        self.counters.l2_decode_errors.incr();
        tracing::warn!(
            namespace = key.namespace,
            key = key.key,
            value_type = std::any::type_name::<T>(),
            codec = codec.map_or("(none)", CodecKind::name),
            reason,
            "L2 holds bytes this cache cannot decode as this type; treating as a miss (the next write replaces them)"
        );
        L2Read::Miss { overwrite }
    }

    /// The states of the tags `names`, with marks read from L2 where they are not known to be
    /// current (at most once per `sync_interval` per tag). When L2 cannot tell, what this
    /// instance knows is used.
    pub(crate) async fn tag_refs(&self, names: &[String]) -> Box<[TagRef]> {
        if names.is_empty() {
            return Box::new([]);
        }
        let states: Vec<_> = names.iter().map(|name| self.tags.get(name)).collect();
        let now = self.stamps.recent_ms();
        let interval = duration_ms(self.config.sync_interval);
        if self.l2.is_some() && states.iter().any(|state| state.needs_check(now, interval)) {
            // On the heap: this runs at most once per `sync_interval` per tag, and held inline
            // its L2 call would be room in the future of every read, load and write that
            // awaits this, tags or not (see `heap_sizes`).
            Box::pin(self.read_tag_marks(names, &states, now)).await;
        }
        states
            .into_iter()
            .map(|state| TagRef {
                epoch: state.epoch(),
                state,
            })
            .collect()
    }

    /// Reads the marks of the tags `names` (whose states are `states`) from L2 and records
    /// them, verified at `now`. When L2 cannot tell, nothing changes.
    async fn read_tag_marks(&self, names: &[String], states: &[Arc<TagState>], now: u64) {
        let Some(tier) = &self.l2 else {
            return;
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        if let Ok(marks) = tier
            .call(&self.counters, L2Op::TagMarks, false, |b| {
                b.tag_marks(&names)
            })
            .await
        {
            for (state, mark) in states.iter().zip(marks) {
                if let Some(mark) = mark {
                    self.stamps.observe(mark);
                    state.mark(mark);
                }
                state.verified(now);
            }
        }
    }

    /// The backplane notice of `change`, when the backplane is on.
    pub(crate) fn notice(&self, change: Change, stamp: Stamp) -> Option<Bytes> {
        if !self.config.backplane {
            return None;
        }
        Some(
            Notice {
                origin: self.origin,
                stamp,
                change,
            }
            .encode(),
        )
    }

    fn key_notice(&self, key: KeyRef<'_>, stamp: Stamp) -> Option<Bytes> {
        self.notice(
            Change::Key {
                namespace: key.namespace.to_owned(),
                key: key.key.to_owned(),
            },
            stamp,
        )
    }

    /// Writes an envelope (`bytes`, with timeline `meta`) to L2 if L2 holds nothing newer,
    /// counting the outcome; it publishes the key's notice when it takes effect. `skips` may
    /// leave out the write (as without an L2) or the notice.
    pub(crate) fn put_l2<'a>(
        &'a self,
        key: KeyRef<'a>,
        bytes: Bytes,
        meta: &EntryMeta,
        overwrite: Option<Undecodable>,
        skips: Skips,
    ) -> impl Future<Output = L2Write> + Send + 'a {
        // Not an `async fn` of its own: that would hold a second copy of the arguments.
        self.put_l2_releasing(key, bytes, meta, overwrite, skips, None)
            .map(|(written, _)| written)
    }

    /// [`put_l2`](Self::put_l2) by the holder of `key`'s load lock when `lock` (its token) is
    /// given: the write ends the load, and the lock is released with it where the backend can
    /// (see [`L2Backend::put_and_unlock`](crate::l2::L2Backend::put_and_unlock)). True when the
    /// lock was released.
    pub(crate) fn put_l2_releasing<'a>(
        &'a self,
        key: KeyRef<'a>,
        bytes: Bytes,
        meta: &EntryMeta,
        overwrite: Option<Undecodable>,
        skips: Skips,
        lock: Option<u64>,
    ) -> impl Future<Output = (L2Write, bool)> + Send + 'a {
        // Not an `async fn`: its future would hold the arguments beside the call that consumes
        // them, room in the boxed future of every write (see `heap_sizes`).
        let Some(tier) = self.l2.as_ref().filter(|_| !skips.l2_write) else {
            return Either::Left(std::future::ready((L2Write::NoL2, false)));
        };
        let ttl_ms = meta.remaining_keep_ms(self.stamps.now_ms());
        let notice = if skips.backplane {
            None
        } else {
            self.key_notice(key, meta.created)
        };
        let notifies = notice.is_some();
        let created = meta.created;
        // The backend's future itself, not an `async` block awaiting it, for the same reason.
        let write = tier.call(&self.counters, L2Op::Write, false, move |b| match lock {
            Some(token) => Either::Left(
                b.put_and_unlock(key, bytes, created, ttl_ms, notice, overwrite, token),
            ),
            None => Either::Right(
                b.put(key, bytes, created, ttl_ms, notice, overwrite)
                    .map(|written| written.map(|outcome| (outcome, false))),
            ),
        });
        Either::Right(write.map(move |written| match written {
            Ok((WriteOutcome::Written, released)) => {
                self.counters.l2_writes.incr();
                self.published(notifies);
                (L2Write::Written, released)
            }
            Ok((WriteOutcome::Superseded, released)) => {
                self.counters.l2_writes_superseded.incr();
                (L2Write::Superseded, released)
            }
            Err(_) => {
                self.counters.l2_write_errors.incr();
                (L2Write::Failed, false)
            }
        }))
    }

    /// Writes an invalidation marker stamped `at` (kept `invalidation_tombstone_ttl`), which
    /// keeps older in-flight writes out.
    pub(crate) async fn put_tombstone(
        &self,
        key: KeyRef<'_>,
        at: Stamp,
        overwrite: Option<Undecodable>,
    ) -> L2Write {
        let meta = tombstone_meta(
            at,
            self.stamps.now_ms(),
            self.config.invalidation_tombstone_ttl,
        );
        self.put_l2(
            key,
            Bytes::from(envelope::encode_tombstone(&meta)),
            &meta,
            overwrite,
            Skips::default(),
        )
        .await
    }

    /// Records that every entry carrying `tag` and created at or before `at` is gone; false
    /// when L2 did not take it.
    pub(crate) async fn put_tag_mark(&self, tag: &str, at: Stamp) -> bool {
        let Some(tier) = &self.l2 else {
            return true;
        };
        let ttl_ms = duration_ms(self.config.tag_ttl);
        let notice = self.notice(Change::Tag(tag.to_owned()), at);
        let notifies = notice.is_some();
        let recorded = tier
            .call(&self.counters, L2Op::InvalidateTag, false, |b| {
                b.invalidate_tag(tag, at, ttl_ms, notice)
            })
            .await
            .is_ok();
        self.published(recorded && notifies);
        recorded
    }

    /// Counts a notice the backplane carried (the script that made a change published it).
    fn published(&self, sent: bool) {
        if sent {
            self.counters.notices_published.incr();
        }
    }

    /// Records a clear of `namespace` (or of all, with `None`) at `at`; false when L2 did not
    /// take it.
    pub(crate) async fn put_clear_mark(&self, namespace: Option<&str>, at: Stamp) -> bool {
        let Some(tier) = &self.l2 else {
            return true;
        };
        let recorded = match namespace {
            Some(ns) => {
                let notice = self.notice(Change::Namespace(ns.to_owned()), at);
                tier.call(&self.counters, L2Op::ClearNamespace, false, |b| {
                    b.clear_namespace(ns, at, notice)
                })
                .await
            }
            None => {
                let notice = self.notice(Change::All, at);
                tier.call(&self.counters, L2Op::ClearAll, false, |b| {
                    b.clear_all(at, notice)
                })
                .await
            }
        };
        // A clear's notice goes out with its mark when the backplane is on.
        self.published(recorded.is_ok() && self.config.backplane);
        recorded.is_ok()
    }

    /// A page of the clear marks recorded in L2 since `since`, or `None` when it cannot answer.
    /// Marks older than the horizon are pruned by the backend as it goes.
    pub(crate) async fn read_clear_marks(&self, since: u64) -> Option<ClearMarks> {
        let tier = self.l2.as_ref()?;
        let horizon_ms = duration_ms(super::decide::mark_horizon(&self.config));
        tier.call(&self.counters, L2Op::ClearMarks, false, |b| {
            b.clear_marks(since, horizon_ms)
        })
        .await
        .ok()
    }
}

/// The timeline of an invalidation marker stamped `at`, written at `now_ms`.
fn tombstone_meta(at: Stamp, now_ms: u64, ttl: std::time::Duration) -> EntryMeta {
    EntryMeta::new(
        at,
        now_ms,
        ttl,
        std::time::Duration::ZERO,
        std::time::Duration::ZERO,
    )
}
