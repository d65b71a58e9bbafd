//! Cross-instance coordination of loads, all in one place: one instance loads (or refreshes) a
//! key while the others wait for its result or keep serving stale.
//!
//! A lock is a token under a key with a TTL (`lock_ttl`), renewed by its holder while the
//! loader runs, released only by its holder and expiring by itself (within `lock_ttl`) if the
//! holder dies; a holder that is dropped (cancelled, panicked)
//! releases it in the background. Whoever takes the lock reads L2 once more, because the
//! previous holder may have stored its value and released the lock since the first read. A
//! waiter is woken by the backplane notice the winner's write publishes (and, as a slow
//! fallback, polls), up to `lock_wait`.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::Instrument;

use super::Inner;
use super::leader::LoadCtx;
use super::read::Found;
use super::recovery::Pending;
use super::stored::L2Read;
use super::tier::Skip;
use crate::clock::{Stamp, duration_ms};
use crate::entry::Freshness;
use crate::flight::FlightGuard;
use crate::keys::{EntryKey, KeyRef};
use crate::l2::{L2Backend, L2Error, LockTaken};
use crate::observe::{self, L2Op};

/// How often a waiter looks in L2 without a wake-up, when notices are expected.
const PEER_POLL: Duration = Duration::from_millis(100);
/// How often a waiter looks in L2 when the backplane is off (no notice will wake it).
const PEER_POLL_NO_BACKPLANE: Duration = Duration::from_millis(10);

/// The outcome of trying to take a lock.
pub(crate) enum LockAttempt {
    /// This instance holds it; with what L2 held for the key when the lock was taken, if the
    /// backend read it in the same step (see [`L2Backend::try_lock_and_read`]).
    Acquired(HeldLock, Option<Box<LockedRead>>),
    /// Another instance holds it.
    HeldElsewhere,
    /// No coordination possible (locks off, no L2, or L2 not answering): go ahead alone.
    NotCoordinated,
}

/// The entry as L2 held it when the lock was taken, and this instance's own pending change of
/// it (looked up before the lock was asked for), to be read as [`Inner::l2_answer`] reads.
pub(crate) struct LockedRead {
    stored: Result<Option<bytes::Bytes>, L2Error>,
    pending: Option<Pending>,
}

/// Most lock tokens kept for a later release.
const MAX_ORPHANS: usize = 10_000;

/// Locks this instance may hold without knowing it: a take that timed out (Redis may still run
/// it, as after a SIGSTOP), or a release that failed (the lock may survive a restart from saved
/// data). Each is released with its token once L2 answers, so other instances do not wait out
/// `lock_ttl` behind a lock nobody is loading under.
#[derive(Default)]
pub(crate) struct Orphans {
    locks: Mutex<Vec<(EntryKey, u64)>>,
}

impl Orphans {
    fn push(&self, key: EntryKey, token: u64) {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        if locks.len() < MAX_ORPHANS {
            locks.push((key, token));
        }
    }

    fn take(&self) -> Vec<(EntryKey, u64)> {
        std::mem::take(&mut *self.locks.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Releases a lock, keeping its token for later when L2 does not take the release.
async fn unlock(
    backend: &dyn L2Backend,
    orphans: &Orphans,
    key: &EntryKey,
    token: u64,
    timeout: Duration,
) {
    match tokio::time::timeout(timeout, backend.unlock(key.as_ref(), token)).await {
        Ok(Ok(())) => {}
        _ => orphans.push(key.clone(), token),
    }
}

/// A lock this instance holds.
pub(crate) struct HeldLock {
    lock: LockKeeper,
    peers: Arc<PeerWaits>,
    orphans: Arc<Orphans>,
    released: bool,
}

impl HeldLock {
    /// What renews this lock (owned, so the loader it guards may move to a background task).
    pub(crate) fn keeper(&self) -> LockKeeper {
        self.lock.clone()
    }

    /// The token that holds the lock.
    pub(crate) fn token(&self) -> u64 {
        self.lock.token
    }

    /// The load's write released the lock (in the same step): nothing left to release but
    /// this instance's waiters to wake.
    pub(crate) fn released_by_write(mut self) {
        self.released = true;
        self.peers.wake(self.lock.key.as_ref());
    }

    /// Releases the lock (if it is still ours) on a caller's path: through the tier like every
    /// L2 call, so an open breaker or a connection declared dead ends it at once (the token is
    /// then kept for the next sync) instead of waiting out `l2_timeout` on a dead socket.
    pub(crate) async fn release(mut self, inner: &Inner) {
        self.released = true;
        let lock = &self.lock;
        let released = match &inner.l2 {
            Some(tier) => tier
                .call(&inner.counters, L2Op::Unlock, false, |b| {
                    b.unlock(lock.key.as_ref(), lock.token)
                })
                .await
                .is_ok(),
            None => false,
        };
        if !released {
            self.orphans.push(lock.key.clone(), lock.token);
        }
        self.peers.wake(lock.key.as_ref());
    }
}

/// Which lock is held, and how to renew it while its loader runs.
#[derive(Clone)]
pub(crate) struct LockKeeper {
    backend: Arc<dyn L2Backend>,
    key: EntryKey,
    token: u64,
    /// `l2_timeout`: the bound of one renewal or release.
    timeout: Duration,
    /// `lock_ttl`: the lock's life from its last renewal.
    lease: Duration,
}

/// Runs `work` (a loader) while renewing `lock` every third of its lease, so the lock lasts as
/// long as the work and a holder that dies leaves it for at most `lock_ttl`. Renewals run
/// beside the work and never delay its result.
pub(crate) async fn renewing<F: Future>(lock: Option<LockKeeper>, work: F) -> F::Output {
    let Some(lock) = lock else {
        return work.await;
    };
    let mut work = std::pin::pin!(work);
    tokio::select! {
        output = &mut work => output,
        () = lock.keep_alive() => work.await,
    }
}

impl LockKeeper {
    /// Renews the lock every third of its lease until it is no longer ours (then returns).
    async fn keep_alive(&self) {
        let ttl_ms = duration_ms(self.lease);
        loop {
            tokio::time::sleep(self.lease / 3).await;
            let renewal = self
                .backend
                .renew_lock(self.key.as_ref(), self.token, ttl_ms);
            match tokio::time::timeout(self.timeout, renewal).await {
                Ok(Ok(true)) => {}
                // Lost (expired, or a backend that cannot renew): another instance may take it.
                Ok(Ok(false)) => return,
                // Unanswered: try again at the next third; the lease may still hold.
                Ok(Err(_)) | Err(_) => {}
            }
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Released by the next sync, or it expires by itself after lock_ttl.
            self.orphans.push(self.lock.key.clone(), self.lock.token);
            return;
        };
        let (lock, peers, orphans) = (self.lock.clone(), self.peers.clone(), self.orphans.clone());
        runtime.spawn(async move {
            unlock(
                &*lock.backend,
                &orphans,
                &lock.key,
                lock.token,
                lock.timeout,
            )
            .await;
            peers.wake(lock.key.as_ref());
        });
    }
}

type WaitMap = hashbrown::HashMap<EntryKey, Arc<Notify>, quick_cache::DefaultHashBuilder>;

/// Waiters for other instances' loads, by key: a notice of the key (or a clear, or a tag
/// invalidation) wakes them so they look in L2 at once.
#[derive(Default)]
pub(crate) struct PeerWaits {
    keys: Mutex<WaitMap>,
}

impl PeerWaits {
    fn map(&self) -> std::sync::MutexGuard<'_, WaitMap> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn watch(self: &Arc<Self>, key: KeyRef<'_>) -> Watch {
        let mut map = self.map();
        let notify = match map.get(&key) {
            Some(notify) => notify.clone(),
            None => {
                let notify = Arc::new(Notify::new());
                map.insert(EntryKey::new(key.namespace, key.key), notify.clone());
                notify
            }
        };
        Watch {
            waits: self.clone(),
            key: EntryKey::new(key.namespace, key.key),
            notify,
        }
    }

    /// Wakes the waiters of `key`.
    pub(crate) fn wake(&self, key: KeyRef<'_>) {
        if let Some(notify) = self.map().get(&key) {
            notify.notify_waiters();
        }
    }

    /// Wakes every waiter (a clear or a tag invalidation may concern any key).
    pub(crate) fn wake_all(&self) {
        for notify in self.map().values() {
            notify.notify_waiters();
        }
    }
}

/// One waiter's registration; the key's entry goes when its last waiter does.
struct Watch {
    waits: Arc<PeerWaits>,
    key: EntryKey,
    notify: Arc<Notify>,
}

impl Watch {
    /// A wake-up armed now, so that a notice arriving before it is awaited still counts.
    fn armed(&self) -> Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut notified = Box::pin(self.notify.notified());
        notified.as_mut().enable();
        notified
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut map = self.waits.map();
        // Ours and the map's: nobody else waits.
        if Arc::strong_count(&self.notify) <= 2 {
            map.remove(&self.key.as_ref());
        }
    }
}

/// What trying to take the load lock produced.
pub(crate) enum Take<T> {
    /// Load (or refresh) now, holding the lock when instances are coordinated.
    Load(Option<HeldLock>),
    /// Another instance's value appeared in L2: no load needed.
    Loaded(Found<T>),
    /// Another instance holds the lock.
    HeldElsewhere,
}

/// What waiting for another instance's load produced.
pub(crate) enum Peer<T> {
    /// Its value appeared in L2.
    Loaded(Found<T>),
    /// It is gone (released without a value, or waited too long): load, with the lock if taken.
    Gone(Option<HeldLock>),
}

impl Inner {
    /// Tries to take the load lock of `key`.
    async fn try_lock(&self, key: KeyRef<'_>, skip: bool) -> LockAttempt {
        if skip || !self.config.distributed_locks {
            return LockAttempt::NotCoordinated;
        }
        let Some(tier) = &self.l2 else {
            return LockAttempt::NotCoordinated;
        };
        if !tier.is_synced() {
            return LockAttempt::NotCoordinated;
        }
        let token = crate::rng::next_u64();
        let ttl_ms = duration_ms(self.config.lock_ttl);
        // Taken before L2 is asked, as for every read: a replay landing meanwhile cannot hide
        // a newer write of this instance.
        let pending = self.recovery.pending_for(key);
        match tier
            .call(&self.counters, L2Op::Lock, false, |b| {
                b.try_lock_and_read(key, token, ttl_ms)
            })
            .await
        {
            Ok(LockTaken {
                acquired: true,
                entry,
            }) => LockAttempt::Acquired(
                HeldLock {
                    lock: LockKeeper {
                        backend: tier.backend.clone(),
                        key: EntryKey::new(key.namespace, key.key),
                        token,
                        timeout: self.config.l2_timeout,
                        lease: self.config.lock_ttl,
                    },
                    peers: self.peers.clone(),
                    orphans: self.orphans.clone(),
                    released: false,
                },
                entry.map(|stored| Box::new(LockedRead { stored, pending })),
            ),
            Ok(LockTaken {
                acquired: false, ..
            }) => LockAttempt::HeldElsewhere,
            Err(Skip::Failed(_)) => {
                // Sent, and unanswered: Redis may take the lock later for this token.
                self.orphans
                    .push(EntryKey::new(key.namespace, key.key), token);
                LockAttempt::NotCoordinated
            }
            Err(Skip::NotTried) => LockAttempt::NotCoordinated,
        }
    }

    /// Releases the locks this instance may hold without knowing it (see [`Orphans`]); those
    /// L2 does not take stay for the next sync.
    pub(crate) async fn release_orphans(&self) {
        let Some(tier) = &self.l2 else {
            return;
        };
        for (key, token) in self.orphans.take() {
            let released = tier
                .call(&self.counters, L2Op::Unlock, false, |b| {
                    b.unlock(key.as_ref(), token)
                })
                .await;
            self.peers.wake(key.as_ref());
            if released.is_err() {
                self.orphans.push(key, token);
            }
        }
    }

    /// Takes the load lock of `guard`'s key before a load or refresh. Having taken it, reads L2
    /// once more: the previous holder may have stored its value (newer than `newer_than`) and
    /// released the lock since this instance last looked, and then its value is used instead.
    pub(crate) async fn take_load_lock<T: super::load::Cacheable>(
        &self,
        guard: &FlightGuard,
        ctx: &LoadCtx<T>,
        newer_than: Option<Stamp>,
    ) -> Take<T> {
        match self.try_lock(guard.key(), ctx.plan.skips.lock).await {
            LockAttempt::Acquired(lock, read) => {
                match self.peer_loaded(guard, ctx, newer_than, read).await {
                    Some(found) => {
                        lock.release(self).await;
                        Take::Loaded(found)
                    }
                    None => Take::Load(Some(lock)),
                }
            }
            LockAttempt::NotCoordinated => Take::Load(None),
            LockAttempt::HeldElsewhere => Take::HeldElsewhere,
        }
    }

    /// Another instance holds the load lock: wait for its value for up to `lock_wait` (woken by
    /// its notice, polling slowly as a fallback), taking the lock if it is released without one.
    pub(crate) async fn wait_for_peer<T: super::load::Cacheable>(
        &self,
        guard: &FlightGuard,
        ctx: &LoadCtx<T>,
    ) -> Peer<T> {
        self.counters.lock_waits.incr();
        let key = guard.key();
        let (span, started) = observe::lock_wait_span(&self.name, key.namespace);
        let waited = self.wait_in(guard, ctx).instrument(span.clone()).await;
        let outcome = match &waited {
            Peer::Loaded(_) => "loaded",
            Peer::Gone(_) => "gone",
        };
        observe::lock_wait_done(&span, &self.name, started, outcome);
        waited
    }

    /// The body of [`wait_for_peer`](Self::wait_for_peer).
    async fn wait_in<T: super::load::Cacheable>(
        &self,
        guard: &FlightGuard,
        ctx: &LoadCtx<T>,
    ) -> Peer<T> {
        let key = guard.key();
        let watch = self.peers.watch(key);
        let poll = if self.config.backplane {
            PEER_POLL
        } else {
            PEER_POLL_NO_BACKPLANE
        };
        let deadline = tokio::time::Instant::now() + self.config.lock_wait;
        let mut woken = watch.armed();
        while tokio::time::Instant::now() < deadline {
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(poll) => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
            // Armed before looking, so a notice that lands while this instance looks wakes it.
            woken = watch.armed();
            if let Some(found) = self.peer_loaded(guard, ctx, None, None).await {
                return Peer::Loaded(found);
            }
            match self.take_load_lock(guard, ctx, None).await {
                Take::Load(lock) => return Peer::Gone(lock),
                Take::Loaded(found) => return Peer::Loaded(found),
                Take::HeldElsewhere => {}
            }
        }
        tracing::debug!(
            namespace = key.namespace,
            key = key.key,
            "waited lock_wait for another instance; loading"
        );
        Peer::Gone(None)
    }

    /// A value another instance loaded into L2: not expired, and newer than `newer_than` (the
    /// stale value this instance already has) when given. Fills L1 with it. `read`: the entry
    /// as read with the lock just taken; without it, L2 is read now.
    async fn peer_loaded<T: super::load::Cacheable>(
        &self,
        guard: &FlightGuard,
        ctx: &LoadCtx<T>,
        newer_than: Option<Stamp>,
        read: Option<Box<LockedRead>>,
    ) -> Option<Found<T>> {
        let answer = match read {
            Some(read) => {
                let LockedRead { stored, pending } = *read;
                let stored = stored.map_err(Skip::Failed);
                self.l2_answer::<T>(guard.key(), stored, pending).await
            }
            None => self.read_l2::<T>(guard.key()).await,
        };
        let L2Read::Hit {
            value,
            meta,
            tags,
            size,
        } = answer
        else {
            return None;
        };
        let usable = meta.freshness(self.stamps.recent_ms(), self.config.enable_swr)
            != Freshness::Expired
            && newer_than.is_none_or(|old| meta.created > old);
        usable.then(|| self.fill_found(guard.key(), ctx, value, meta, tags, size))
    }
}
