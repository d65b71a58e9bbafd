//! The end of a load: store the value in both tiers and hand it to every waiter, or answer with
//! a fail-safe stand-in (only one that nothing superseded), or hand over the error.

use std::sync::Arc;
use std::time::Duration;

use super::Inner;
use super::admit::Ticket;
use super::coord::HeldLock;
use super::decide;
use super::leader::{LoadCtx, Loaded};
use super::load::Cacheable;
use super::options::Storage;
use super::read::Found;
use super::recovery::Target;
use super::stored::{self, L2Write, tags_allow};
use crate::error::LoadError;
use crate::flight::{FlightGuard, Outcome};
use crate::keys::{EntryKey, KeyRef};
use crate::l1::{self, Entry, Header};
use crate::l2::Undecodable;
use crate::observe;
use crate::source::Source;

/// Why a load produced no value.
enum Failure<E> {
    Loader(Arc<E>),
    TimedOut(Duration),
}

impl Inner {
    /// Stores a loaded value, or handles a failure (fail-safe), and completes the flight.
    pub(crate) async fn finish<T, E>(
        &self,
        guard: FlightGuard,
        ctx: &LoadCtx<T>,
        loaded: Loaded<T, E>,
        fallback: Option<Found<T>>,
        lock: Option<HeldLock>,
        overwrite: Option<Undecodable>,
    ) -> Result<(T, Source), LoadError<E>>
    where
        T: Cacheable,
        E: Send + Sync + 'static,
    {
        // Released by the value's write where the backend can (one round trip fewer).
        let mut released = false;
        let result = match loaded {
            Loaded::Value(value) => {
                observe::outcome("loaded");
                let token = lock.as_ref().map(HeldLock::token);
                let (entry, by_write) = self
                    .store_loaded(guard.key(), value.clone(), ctx, overwrite, token)
                    .await;
                released = by_write;
                guard.complete(Outcome::Value {
                    entry,
                    loaded: true,
                    source: Source::loaded(),
                });
                Ok((value, Source::loaded()))
            }
            Loaded::Failed(error) => {
                self.counters.loader_errors.incr();
                self.fail(guard, ctx, Failure::Loader(Arc::new(error)), fallback)
            }
            Loaded::TimedOut(after) => {
                self.counters.hard_timeouts.incr();
                self.fail(guard, ctx, Failure::TimedOut(after), fallback)
            }
        };
        match lock {
            Some(lock) if released => lock.released_by_write(),
            // L2 did not answer this call: release in the background instead of waiting.
            Some(lock) if super::tier::budget_spent() => drop(lock),
            Some(lock) => lock.release(self).await,
            None => {}
        }
        result
    }

    /// Stores a loaded value in both tiers (L2 first, so an L2 that holds something newer keeps
    /// it out of L1), or removes the entry when the value says the record is gone. A value that
    /// cannot be encoded, or whose tag was invalidated while it loaded, is returned uncached.
    /// `lock`: the token of the load lock this load holds, released by the value's write where
    /// the backend can (then the second half of the answer is true).
    async fn store_loaded<T: Cacheable>(
        &self,
        key: KeyRef<'_>,
        value: T,
        ctx: &LoadCtx<T>,
        overwrite: Option<Undecodable>,
        lock: Option<u64>,
    ) -> (Entry, bool) {
        let uncached = |value, meta| {
            l1::entry(
                Header::new(meta, 0, ctx.epoch, ctx.namespace.clone(), Box::new([])),
                value,
            )
        };
        let now = self.stamps.now_ms();
        let lifetime = match ctx.plan.storage_for(&value, &self.config) {
            Storage::Store(lifetime) => lifetime,
            Storage::Skip => {
                return (
                    uncached(value, ctx.plan.lifetime.meta(ctx.started, now)),
                    false,
                );
            }
            Storage::Remove => {
                // Stamped with the load's start: a write of the key since keeps its value.
                let _fence = self.begin_write(key, ctx.started);
                if !self
                    .put_tombstone(key, ctx.started, overwrite)
                    .await
                    .settled()
                {
                    self.remember_failed(
                        Target::Key(EntryKey::new(key.namespace, key.key)),
                        ctx.started,
                    );
                }
                return (
                    uncached(value, ctx.plan.lifetime.meta(ctx.started, now)),
                    false,
                );
            }
        };
        let meta = lifetime.meta(ctx.started, now);
        let tags = self.tag_refs(&lifetime.tags).await;
        // Cleared or tag-invalidated while it loaded: readers would drop it anyway, and kept out
        // of L2 it cannot outlive the mark that hides it.
        if ctx.namespace.was_cleared(ctx.started) || !tags_allow(&tags, ctx.started) {
            return (uncached(value, meta), false);
        }
        let bytes = match stored::encode(&value, &lifetime, &meta, self.config.max_value_size) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(namespace = key.namespace, key = key.key, %error, "loaded value not cached");
                return (uncached(value, meta), false);
            }
        };
        let size = bytes.len();
        let (written, released) = self
            .put_l2_releasing(key, bytes.into(), &meta, overwrite, ctx.plan.skips, lock)
            .await;
        if written == L2Write::Superseded {
            // L2 holds something newer than this load: older L1 copies are gone too.
            self.drop_older(key, ctx.started);
            return (uncached(value, meta), released);
        }
        let entry = self.l1_entry(value, meta, ctx.epoch, &ctx.namespace, tags, size);
        self.admit(key, &entry, ctx.ticket);
        (entry, released)
    }

    /// Whether `fallback` may still stand in for `key`: no clear, tag invalidation, write or
    /// invalidation of it since the load started (the same rule that admits values into L1).
    pub(crate) fn usable_fallback<T>(
        &self,
        key: KeyRef<'_>,
        fallback: &Found<T>,
        ctx: &LoadCtx<T>,
    ) -> bool {
        fallback.entry.header().is_current()
            && self.still_current(key, fallback.meta.created, ctx.ticket)
    }

    /// A load failed: serve the fallback (fail-safe) or hand the error to every waiter (to the
    /// caller that ran the loader only, when the load does not share errors).
    fn fail<T: Cacheable, E: Send + Sync + 'static>(
        &self,
        guard: FlightGuard,
        ctx: &LoadCtx<T>,
        failure: Failure<E>,
        fallback: Option<Found<T>>,
    ) -> Result<(T, Source), LoadError<E>> {
        let key = guard.key();
        let stand_in = fallback
            .filter(|_| self.config.fail_safe)
            .filter(|fallback| self.usable_fallback(key, fallback, ctx));
        if let Some(stand_in) = stand_in {
            observe::outcome("fail_safe");
            let entry = self.throttle_with(key, &stand_in, ctx.ticket);
            let source = stand_in.source(true);
            guard.complete(Outcome::Value {
                entry,
                loaded: true,
                source,
            });
            return Ok((stand_in.value, source));
        }
        match failure {
            Failure::Loader(error) => {
                observe::outcome("error");
                // Unshared, this `Arc` has no other holder: the caller can take the `E` out.
                guard.complete(if ctx.plan.share_errors {
                    Outcome::Failed(error.clone())
                } else {
                    Outcome::FailedUnshared
                });
                Err(LoadError::Loader(error))
            }
            Failure::TimedOut(after) => {
                observe::outcome("timed_out");
                guard.complete(Outcome::TimedOut(after));
                Err(LoadError::TimedOut(after))
            }
        }
    }

    /// Fail-safe: keeps serving `stand_in` as fresh for `fail_safe_throttle` (L1 only), so the
    /// failing origin is not called again meanwhile.
    fn throttle_with<T: Cacheable>(
        &self,
        key: KeyRef<'_>,
        stand_in: &Found<T>,
        ticket: Ticket,
    ) -> Entry {
        self.counters.fail_safe_activations.incr();
        tracing::warn!(
            namespace = key.namespace,
            key = key.key,
            throttle = ?self.config.fail_safe_throttle,
            "loader failed; serving the previous value (fail-safe)"
        );
        let now = self.stamps.now_ms();
        let meta = decide::stand_in(&stand_in.meta, now, self.config.fail_safe_throttle);
        let header = stand_in.entry.header();
        let l1_until = decide::l1_deadline(&self.config, self.l2.is_some(), now, &meta);
        let entry = l1::entry(
            Header::new(
                meta,
                l1_until,
                header.epoch(),
                header.namespace().clone(),
                header.tags().into(),
            )
            .weighing(header.size()),
            stand_in.value.clone(),
        );
        self.admit(key, &entry, ticket);
        entry
    }
}
