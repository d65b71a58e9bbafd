//! The real Redis backend with holds: a test stops one call of a given kind on a given key,
//! before it reaches Redis or after Redis answered, to pin an interleaving that real traffic
//! produces only by chance. Everything else passes straight through to Redis.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tiered_cache::engine::keys::KeyRef;
use tiered_cache::engine::l2::{
    BoxFuture, BusSink, ClearMarks, ConnectionSink, Undecodable, WriteOutcome,
};
use tiered_cache::engine::{L2Backend, L2Error, Stamp};
use tiered_cache::{CacheConfig, RedisL2, TieredCache};
use tokio::sync::oneshot;

/// Which call to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    /// A `put` of a value envelope.
    PutValue,
    /// A `put` of an invalidation marker.
    PutTombstone,
}

/// Where to hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// Before the call reaches Redis.
    Before,
    /// After Redis answered, before the cache sees the answer.
    After,
}

struct Pending {
    op: Op,
    key: String,
    at: At,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// The test's end of a hold.
pub struct Hold {
    reached: Option<oneshot::Receiver<()>>,
    release: Option<oneshot::Sender<()>>,
}

impl Hold {
    /// Waits until the held call is stopped at its point.
    pub async fn reached(&mut self) {
        if let Some(reached) = self.reached.take() {
            reached.await.expect("the held call ran");
        }
    }

    /// Lets the held call go on.
    pub fn release(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release();
    }
}

/// [`RedisL2`] with holds.
pub struct Gated {
    inner: RedisL2,
    holds: Mutex<Vec<Pending>>,
}

impl Gated {
    /// Holds the next `op` of `key` (in the default namespace unless `key` says `ns/key`) at `at`.
    pub fn hold(&self, op: Op, key: &str, at: At) -> Hold {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        self.holds.lock().expect("holds").push(Pending {
            op,
            key: key.to_owned(),
            at,
            reached: reached_tx,
            release: release_rx,
        });
        Hold {
            reached: Some(reached_rx),
            release: Some(release_tx),
        }
    }

    async fn gate(&self, op: Op, key: KeyRef<'_>, at: At) {
        let name = if key.namespace == "default" {
            key.key.to_owned()
        } else {
            format!("{}/{}", key.namespace, key.key)
        };
        let pending = {
            let mut holds = self.holds.lock().expect("holds");
            let found = holds
                .iter()
                .position(|h| h.op == op && h.at == at && h.key == name);
            found.map(|i| holds.remove(i))
        };
        if let Some(pending) = pending {
            let _ = pending.reached.send(());
            let _ = pending.release.await;
        }
    }
}

/// A cache whose L2 is a [`Gated`] Redis backend, and the backend.
pub async fn gated_cache(config: CacheConfig) -> (TieredCache, Arc<Gated>) {
    let url = config.redis_url.clone().expect("a Redis URL");
    let gated = Arc::new(Gated {
        inner: RedisL2::connect(&url, &config).expect("connects"),
        holds: Mutex::new(Vec::new()),
    });
    let cache = TieredCache::builder(config)
        .l2(gated.clone())
        .build()
        .await
        .expect("valid config");
    (cache, gated)
}

impl L2Backend for Gated {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn ready(&self) -> BoxFuture<'_, ()> {
        self.inner.ready()
    }

    fn get<'a>(&'a self, key: KeyRef<'a>) -> BoxFuture<'a, Result<Option<Bytes>, L2Error>> {
        Box::pin(async move {
            self.gate(Op::Get, key, At::Before).await;
            let got = self.inner.get(key).await;
            self.gate(Op::Get, key, At::After).await;
            got
        })
    }

    fn put<'a>(
        &'a self,
        key: KeyRef<'a>,
        envelope: Bytes,
        created: Stamp,
        ttl_ms: u64,
        notice: Option<Bytes>,
        overwrite: Option<Undecodable>,
    ) -> BoxFuture<'a, Result<WriteOutcome, L2Error>> {
        let op = if envelope.get(3) == Some(&1) {
            Op::PutTombstone
        } else {
            Op::PutValue
        };
        Box::pin(async move {
            self.gate(op, key, At::Before).await;
            let put = self
                .inner
                .put(key, envelope, created, ttl_ms, notice, overwrite)
                .await;
            self.gate(op, key, At::After).await;
            put
        })
    }

    fn clear_namespace<'a>(
        &'a self,
        namespace: &'a str,
        at: Stamp,
        notice: Option<Bytes>,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        self.inner.clear_namespace(namespace, at, notice)
    }

    fn clear_all(&self, at: Stamp, notice: Option<Bytes>) -> BoxFuture<'_, Result<(), L2Error>> {
        self.inner.clear_all(at, notice)
    }

    fn clear_marks(
        &self,
        since: u64,
        horizon_ms: u64,
    ) -> BoxFuture<'_, Result<ClearMarks, L2Error>> {
        self.inner.clear_marks(since, horizon_ms)
    }

    fn invalidate_tag<'a>(
        &'a self,
        tag: &'a str,
        at: Stamp,
        ttl_ms: u64,
        notice: Option<Bytes>,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        self.inner.invalidate_tag(tag, at, ttl_ms, notice)
    }

    fn tag_marks<'a>(
        &'a self,
        tags: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<Option<Stamp>>, L2Error>> {
        self.inner.tag_marks(tags)
    }

    fn try_lock<'a>(
        &'a self,
        key: KeyRef<'a>,
        token: u64,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<bool, L2Error>> {
        self.inner.try_lock(key, token, ttl_ms)
    }

    fn unlock<'a>(&'a self, key: KeyRef<'a>, token: u64) -> BoxFuture<'a, Result<(), L2Error>> {
        self.inner.unlock(key, token)
    }

    fn subscribe(&self, sink: BusSink) -> BoxFuture<'_, Result<(), L2Error>> {
        self.inner.subscribe(sink)
    }

    fn renew_lock<'a>(
        &'a self,
        key: KeyRef<'a>,
        token: u64,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<bool, L2Error>> {
        self.inner.renew_lock(key, token, ttl_ms)
    }

    fn watch_connections(&self, events: ConnectionSink) {
        self.inner.watch_connections(events);
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        self.inner.ping()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }

    fn abandon(&self) {
        self.inner.abandon();
    }
}
