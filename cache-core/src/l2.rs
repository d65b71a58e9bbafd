//! The L2 contract: what a shared backend (Redis, in `tiered-cache-redis`) must do. The engine
//! wraps every call in a timeout and the circuit breaker, so a backend only has to be correct.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::clock::Stamp;
use crate::config::CacheConfig;
use crate::error::ConfigError;
use crate::keys::KeyRef;

/// A boxed, sendable future: what the object-safe [`L2Backend`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A failed L2 operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum L2Error {
    /// The backend could not be reached or failed; counts toward the circuit breaker.
    #[error("L2 unavailable: {0}")]
    Unavailable(String),
    /// The operation took longer than `l2_timeout`; counts toward the circuit breaker.
    #[error("L2 operation timed out")]
    Timeout,
    /// The connection is known to be dead (reset, refused, closed): the breaker opens at once
    /// and the calls in flight give up now instead of waiting out `l2_timeout`.
    #[error("L2 connection lost: {0}")]
    Disconnected(String),
    /// The backend answered, but with data of the wrong kind (for example a Redis list under one
    /// of our keys). Counted as a decode error; not a connectivity failure.
    #[error("unexpected data in L2: {0}")]
    Data(String),
    /// The backend answered and refused this command (out of memory, a read-only replica, a
    /// missing ACL permission, an invalid argument): counted by kind, not a connectivity failure,
    /// so other commands keep using L2.
    #[error("L2 refused the command ({kind}): {message}")]
    Refused {
        /// What kind of refusal.
        kind: Refusal,
        /// The backend's reply.
        message: String,
    },
}

/// Why a backend refused a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// Over its memory limit with an eviction policy that refuses writes (Redis `OOM`).
    OutOfMemory,
    /// A replica that takes no writes (Redis `READONLY`, during a failover).
    ReadOnly,
    /// The connection's user may not run it (Redis ACL `NOPERM`).
    NoPermission,
    /// Any other refusal (Redis `ERR ...`, for example an argument out of range).
    Other,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::OutOfMemory => "out of memory",
            Refusal::ReadOnly => "read-only",
            Refusal::NoPermission => "no permission",
            Refusal::Other => "other",
        })
    }
}

impl L2Error {
    /// Whether the failure says the backend cannot be used now (unreachable, hung, or unable to
    /// serve anything): what opens the circuit breaker. A refused command or bad data is not.
    pub fn is_connectivity(&self) -> bool {
        matches!(
            self,
            L2Error::Unavailable(_) | L2Error::Timeout | L2Error::Disconnected(_)
        )
    }
}

/// The result of a conditional write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The envelope is stored.
    Written,
    /// Not stored: the backend holds an entry (or invalidation) with a later created stamp.
    Superseded,
}

/// Bytes that a read found under a key and could not decode (foreign, damaged, another format
/// or type). A write that carries this replaces them whatever created stamp they seem to hold,
/// provided they are still what is stored: the same length, and the same eight bytes where an
/// envelope's created stamp sits ([`crate::envelope::CREATED_OFFSET`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Undecodable {
    /// Length of the stored bytes.
    pub len: usize,
    /// The stored bytes at the created-stamp offset (zero-padded when shorter).
    pub stamp_bytes: [u8; 8],
}

impl Undecodable {
    /// Describes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut stamp_bytes = [0u8; 8];
        let at = crate::envelope::CREATED_OFFSET;
        if let Some(tail) = bytes.get(at..) {
            let n = tail.len().min(8);
            stamp_bytes[..n].copy_from_slice(&tail[..n]);
        }
        Undecodable {
            len: bytes.len(),
            stamp_bytes,
        }
    }
}

/// Namespace clear marks recorded in L2 at or after some point of the backend's clock: one
/// page of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClearMarks {
    /// The latest `clear_all`, when it was recorded in this range.
    pub all: Option<Stamp>,
    /// The latest `clear_namespace` of each namespace cleared in this range.
    pub namespaces: Vec<(String, Stamp)>,
    /// Where the next read starts (a point of the backend's clock; marks recorded at it may
    /// be returned again).
    pub cursor: u64,
    /// More marks are waiting beyond this page: read again from `cursor` at once.
    pub more: bool,
}

/// What the backplane delivers to a [`BusSink`].
#[derive(Clone, Debug)]
pub enum BusEvent {
    /// A notice published by some instance (possibly this one).
    Notice(Bytes),
    /// The subscription was (re)established: notices sent before it (while it was down, or
    /// before it first started) were missed.
    Gap,
}

/// Receives backplane events; called from the backend's own task, so it must be quick.
pub type BusSink = Arc<dyn Fn(BusEvent) + Send + Sync>;

/// What a backend learned about its connections, as soon as it learned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// A connection is known lost (reset, closed by the peer, refused).
    Lost,
    /// The backend re-learned where keys live and sends them to other nodes now (a cluster's
    /// failover or resharding, seen as `MOVED` replies or a changed slot map).
    Rerouted,
}

/// Receives [`ConnectionEvent`]s; called from the backend's own task, so it must be quick.
pub type ConnectionSink = Arc<dyn Fn(ConnectionEvent) + Send + Sync>;

/// What [`L2Backend::try_lock_and_read`] found.
///
/// ```
/// use tiered_cache_core::l2::LockTaken;
///
/// // The lock is ours, and the entry was absent when we took it: load.
/// let taken = LockTaken { acquired: true, entry: Some(Ok(None)) };
/// assert!(taken.acquired && matches!(taken.entry, Some(Ok(None))));
/// ```
#[derive(Debug)]
pub struct LockTaken {
    /// Whether this caller now holds the lock.
    pub acquired: bool,
    /// With the lock taken: the entry's stored envelope read in the same atomic step
    /// (`Ok(None)`: absent; `Err(L2Error::Data(..))`: something that is not an envelope, such
    /// as a hash). `None`: not read (the lock was not taken, or the backend cannot read
    /// atomically with taking it).
    pub entry: Option<Result<Option<Bytes>, L2Error>>,
}

/// A shared second tier.
///
/// The engine bounds every call by `l2_timeout` (and drops the call's future when it passes),
/// so a backend needs no per-call timers of its own.
///
/// Keys are given as (namespace, key); the backend lays them out, under the configured prefix.
/// Values are opaque envelopes ([`crate::envelope`]) whose created stamp sits big-endian at
/// [`crate::envelope::CREATED_OFFSET`]. A `notice`, when given, is published on the backplane
/// if (and only if) the operation took effect, after it took effect.
pub trait L2Backend: Send + Sync + 'static {
    /// A description for health reports and logs, with credentials redacted.
    fn describe(&self) -> String;

    /// Resolves once the backend can take commands. The engine waits for it at startup, bounded
    /// by `connect_timeout`, then carries on either way.
    fn ready(&self) -> BoxFuture<'_, ()>;

    /// The stored envelope of `key`, if any.
    fn get<'a>(&'a self, key: KeyRef<'a>) -> BoxFuture<'a, Result<Option<Bytes>, L2Error>>;

    /// Stores `envelope` under `key` for `ttl_ms`, unless the stored envelope has a created
    /// stamp later than `created`. Anything the backend cannot fully validate as an envelope
    /// (foreign bytes, a damaged header, not a string) counts as absent and is replaced; so are
    /// the bytes `overwrite` describes, whatever stamp they seem to carry.
    fn put<'a>(
        &'a self,
        key: KeyRef<'a>,
        envelope: Bytes,
        created: Stamp,
        ttl_ms: u64,
        notice: Option<Bytes>,
        overwrite: Option<Undecodable>,
    ) -> BoxFuture<'a, Result<WriteOutcome, L2Error>>;

    /// [`put`](Self::put) by the holder of `key`'s load lock (`token`), which the write ends:
    /// the lock is released whatever the write's outcome. Answers the outcome and whether the
    /// lock was released. A backend that can write and release in one atomic step saves a
    /// round trip on every cold miss, and no instance can then take the lock and not find the
    /// value; the default writes, then [`unlock`](Self::unlock)s.
    #[allow(clippy::too_many_arguments)] // `put`'s arguments, and the lock's token
    fn put_and_unlock<'a>(
        &'a self,
        key: KeyRef<'a>,
        envelope: Bytes,
        created: Stamp,
        ttl_ms: u64,
        notice: Option<Bytes>,
        overwrite: Option<Undecodable>,
        token: u64,
    ) -> BoxFuture<'a, Result<(WriteOutcome, bool), L2Error>> {
        Box::pin(async move {
            let outcome = self
                .put(key, envelope, created, ttl_ms, notice, overwrite)
                .await?;
            Ok((outcome, self.unlock(key, token).await.is_ok()))
        })
    }

    /// Records that `namespace` was cleared at `at` (keeping the later of two marks).
    fn clear_namespace<'a>(
        &'a self,
        namespace: &'a str,
        at: Stamp,
        notice: Option<Bytes>,
    ) -> BoxFuture<'a, Result<(), L2Error>>;

    /// Records that every namespace was cleared at `at` (keeping the later of two marks).
    fn clear_all(&self, at: Stamp, notice: Option<Bytes>) -> BoxFuture<'_, Result<(), L2Error>>;

    /// The clear marks recorded at or after `since` (0 for all of them), a page at a time. Marks
    /// recorded more than `horizon_ms` ago cover only entries that have expired: the backend
    /// may forget them (bounded work per call, safe with concurrent writers).
    fn clear_marks(
        &self,
        since: u64,
        horizon_ms: u64,
    ) -> BoxFuture<'_, Result<ClearMarks, L2Error>>;

    /// Records that every entry carrying `tag` and created at or before `at` is invalid,
    /// remembered for `ttl_ms` (keeping the later of two marks).
    fn invalidate_tag<'a>(
        &'a self,
        tag: &'a str,
        at: Stamp,
        ttl_ms: u64,
        notice: Option<Bytes>,
    ) -> BoxFuture<'a, Result<(), L2Error>>;

    /// The invalidation mark of each tag, in order (`None` for a tag never invalidated).
    fn tag_marks<'a>(
        &'a self,
        tags: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<Option<Stamp>>, L2Error>>;

    /// Takes the load lock of `key` for `ttl_ms` if nobody holds it. A backend without locks
    /// answers `true` (no cross-instance coordination).
    fn try_lock<'a>(
        &'a self,
        key: KeyRef<'a>,
        token: u64,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<bool, L2Error>> {
        let _ = (key, token, ttl_ms);
        Box::pin(async { Ok(true) })
    }

    /// [`try_lock`](Self::try_lock), and, when the lock is taken, `key`'s stored envelope as it
    /// was at that moment, read in the same step. The engine reads the entry again right after
    /// taking a lock (the previous holder may have stored its value and released the lock
    /// since this instance last looked); a backend that can take the lock and read in one
    /// atomic round trip saves that read. The default takes the lock alone
    /// ([`LockTaken::entry`] `None`: the engine then reads the entry itself).
    fn try_lock_and_read<'a>(
        &'a self,
        key: KeyRef<'a>,
        token: u64,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<LockTaken, L2Error>> {
        Box::pin(async move {
            Ok(LockTaken {
                acquired: self.try_lock(key, token, ttl_ms).await?,
                entry: None,
            })
        })
    }

    /// Extends the load lock of `key` to `ttl_ms` from now if `token` still holds it; `false`
    /// when it does not (it expired, or was never taken). The holder renews its lock while its
    /// loader runs, so a lock outlives a dead holder by at most `lock_ttl`. The default renews
    /// nothing: locks then last `lock_ttl` however long the load takes.
    fn renew_lock<'a>(
        &'a self,
        key: KeyRef<'a>,
        token: u64,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<bool, L2Error>> {
        let _ = (key, token, ttl_ms);
        Box::pin(async { Ok(false) })
    }

    /// Releases the load lock of `key` if `token` still holds it.
    fn unlock<'a>(&'a self, key: KeyRef<'a>, token: u64) -> BoxFuture<'a, Result<(), L2Error>> {
        let _ = (key, token);
        Box::pin(async { Ok(()) })
    }

    /// Starts delivering backplane events to `sink`, resubscribing after disconnects (each
    /// subscription, the first included, reported as [`BusEvent::Gap`]). Resolves once the first
    /// subscription is active, or with an error when it is not yet (it keeps trying in the
    /// background). A backend without a backplane returns an error.
    fn subscribe(&self, sink: BusSink) -> BoxFuture<'_, Result<(), L2Error>> {
        let _ = sink;
        Box::pin(async {
            Err(L2Error::Unavailable(
                "this backend has no backplane".to_owned(),
            ))
        })
    }

    /// Starts telling `events` whenever one of the backend's connections is known to be lost
    /// (as soon as the backend learns it, not when a call next fails: the engine then opens the
    /// circuit breaker and ends the calls in flight) and when its routing changed. The default
    /// tells nothing.
    fn watch_connections(&self, events: ConnectionSink) {
        let _ = events;
    }

    /// What the backend found wrong with the server's setup (a setting under which it would
    /// drop data the cache's correctness rests on), for `health_check`. The default: nothing.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// A round trip, for health checks.
    fn ping(&self) -> BoxFuture<'_, Result<(), L2Error>>;

    /// Closes connections; later calls fail.
    fn close(&self) -> BoxFuture<'_, ()>;

    /// The cache's last handle was dropped without `close()`: stop background work (the
    /// backplane subscription) and release connections without waiting; called from `Drop`,
    /// maybe outside a runtime. The default does nothing.
    fn abandon(&self) {}
}

/// Builds the L2 a config asks for. [`NoL2`] builds none; the `tiered-cache` facade plugs in the
/// Redis connector.
pub trait L2Connector {
    /// The backend for `config` (`Ok(None)` for L1 only). Must not wait for the backend to be
    /// reachable: a down Redis is not a construction error.
    ///
    /// # Errors
    /// A [`ConfigError`] when the config cannot describe a backend (for example a malformed URL).
    fn connect(config: &CacheConfig) -> Result<Option<Arc<dyn L2Backend>>, ConfigError>;
}

/// The connector of an L1-only cache.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoL2;

impl L2Connector for NoL2 {
    fn connect(config: &CacheConfig) -> Result<Option<Arc<dyn L2Backend>>, ConfigError> {
        if config.redis_url.is_some() {
            tracing::warn!(
                "redis_url is set but this cache was built without an L2 connector; running L1 only"
            );
        }
        Ok(None)
    }
}
