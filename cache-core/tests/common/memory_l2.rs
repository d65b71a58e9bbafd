//! An L2 kept in a map, for engine tests that need a second tier shared by two caches: values
//! only (marks, locks and the backplane are no-ops). Tests read and replace what it holds.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tiered_cache_core::envelope;
use tiered_cache_core::keys::KeyRef;
use tiered_cache_core::l2::{BoxFuture, ClearMarks, L2Backend, L2Error, Undecodable, WriteOutcome};
use tiered_cache_core::{CacheConfig, Clock, Stamp, TieredCache};

/// The map, shared by every cache built on it.
#[derive(Clone, Default)]
pub struct MemoryL2 {
    entries: Arc<Mutex<HashMap<(String, String), Bytes>>>,
}

impl MemoryL2 {
    /// What is stored under (`namespace`, `key`).
    pub fn raw(&self, namespace: &str, key: &str) -> Option<Bytes> {
        self.map()
            .get(&(namespace.to_owned(), key.to_owned()))
            .cloned()
    }

    /// Replaces what is stored under (`namespace`, `key`).
    pub fn put_raw(&self, namespace: &str, key: &str, bytes: Vec<u8>) {
        self.map()
            .insert((namespace.to_owned(), key.to_owned()), Bytes::from(bytes));
    }

    /// A cache on this L2 (tokio's clock, no backplane) with `config`.
    pub async fn cache(&self, config: CacheConfig) -> TieredCache {
        TieredCache::builder(CacheConfig {
            redis_url: None,
            backplane: false,
            ..config
        })
        .clock(Clock::tokio())
        .l2(Arc::new(self.clone()))
        .build()
        .await
        .expect("valid config")
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Bytes>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl L2Backend for MemoryL2 {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn get<'a>(&'a self, key: KeyRef<'a>) -> BoxFuture<'a, Result<Option<Bytes>, L2Error>> {
        Box::pin(async move { Ok(self.raw(key.namespace, key.key)) })
    }

    fn put<'a>(
        &'a self,
        key: KeyRef<'a>,
        bytes: Bytes,
        created: Stamp,
        _ttl_ms: u64,
        _notice: Option<Bytes>,
        overwrite: Option<Undecodable>,
    ) -> BoxFuture<'a, Result<WriteOutcome, L2Error>> {
        Box::pin(async move {
            let mut map = self.map();
            let slot = (key.namespace.to_owned(), key.key.to_owned());
            // As the Redis script: only a whole envelope keeps a write out by its stamp.
            let newer = map.get(&slot).is_some_and(|stored| {
                overwrite != Some(Undecodable::of(stored))
                    && envelope::decode(stored).is_ok_and(|env| env.meta.created > created)
            });
            if newer {
                return Ok(WriteOutcome::Superseded);
            }
            map.insert(slot, bytes);
            Ok(WriteOutcome::Written)
        })
    }

    fn clear_namespace<'a>(
        &'a self,
        _namespace: &'a str,
        _at: Stamp,
        _notice: Option<Bytes>,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(async { Ok(()) })
    }

    fn clear_all(&self, _at: Stamp, _notice: Option<Bytes>) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(async { Ok(()) })
    }

    fn clear_marks(
        &self,
        since: u64,
        _horizon_ms: u64,
    ) -> BoxFuture<'_, Result<ClearMarks, L2Error>> {
        Box::pin(async move {
            Ok(ClearMarks {
                cursor: since,
                ..ClearMarks::default()
            })
        })
    }

    fn invalidate_tag<'a>(
        &'a self,
        _tag: &'a str,
        _at: Stamp,
        _ttl_ms: u64,
        _notice: Option<Bytes>,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(async { Ok(()) })
    }

    fn tag_marks<'a>(
        &'a self,
        tags: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<Option<Stamp>>, L2Error>> {
        Box::pin(async move { Ok(vec![None; tags.len()]) })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(async { Ok(()) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
