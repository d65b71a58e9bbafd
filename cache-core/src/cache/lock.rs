//! Distributed load locks: one instance loads (or refreshes) a key while the others wait or
//! keep serving stale. A lock is a token under a key with a TTL (`lock_ttl`), released only by
//! its holder and expiring by itself if the holder dies; a holder that is dropped (cancelled,
//! panicked) releases it in the background.

use std::sync::Arc;
use std::time::Duration;

use super::Inner;
use crate::clock::duration_ms;
use crate::keys::{EntryKey, KeyRef};
use crate::l2::L2Backend;

/// The outcome of trying to take a lock.
pub(crate) enum LockAttempt {
    /// This instance holds it.
    Acquired(HeldLock),
    /// Another instance holds it.
    HeldElsewhere,
    /// No coordination possible (locks off, no L2, or L2 not answering): go ahead alone.
    NotCoordinated,
}

/// A lock this instance holds.
pub(crate) struct HeldLock {
    backend: Arc<dyn L2Backend>,
    key: EntryKey,
    token: u64,
    timeout: Duration,
    released: bool,
}

impl HeldLock {
    /// Releases the lock (if it is still ours).
    pub(crate) async fn release(mut self) {
        self.released = true;
        let _ = tokio::time::timeout(
            self.timeout,
            self.backend.unlock(self.key.as_ref(), self.token),
        )
        .await;
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // it expires by itself after lock_ttl
        };
        let (backend, key, token, timeout) = (
            self.backend.clone(),
            self.key.clone(),
            self.token,
            self.timeout,
        );
        runtime.spawn(async move {
            let _ = tokio::time::timeout(timeout, backend.unlock(key.as_ref(), token)).await;
        });
    }
}

impl Inner {
    /// Tries to take the load lock of `key`.
    pub(crate) async fn try_lock(&self, key: KeyRef<'_>) -> LockAttempt {
        if !self.config.distributed_locks {
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
        let now = self.stamps.now_ms();
        match tier
            .call(&self.counters, now, false, |b| {
                b.try_lock(key, token, ttl_ms)
            })
            .await
        {
            Ok(true) => LockAttempt::Acquired(HeldLock {
                backend: tier.backend.clone(),
                key: EntryKey::new(key.namespace, key.key),
                token,
                timeout: self.config.l2_timeout,
                released: false,
            }),
            Ok(false) => LockAttempt::HeldElsewhere,
            Err(_) => LockAttempt::NotCoordinated,
        }
    }
}
