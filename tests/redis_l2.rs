//! The Redis L2 against real servers, standalone and a 3-master cluster: every operation, the
//! stored format, TTLs, corrupt data, namespace clears across instances and masters.

#[macro_use]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fred::interfaces::{HashesInterface, KeysInterface, ListInterface};
use support::{cache, config, eventually, raw_client};
use tiered_cache::engine::envelope;
use tiered_cache::{CacheConfig, CacheError, CodecKind, TieredCache};

on_both!(
    every_method_works,
    ttl_in_redis_matches_the_entry,
    undecodable_bytes_are_counted_misses,
    clear_all_leaves_foreign_keys_alone,
    another_instance_sees_a_clear_within_the_sync_bound,
    oversized_values_stay_out_of_redis,
    an_older_write_never_replaces_a_newer_one,
    a_load_lock_has_one_holder_and_a_resent_take_keeps_it,
    taking_a_lock_reads_the_entry_as_it_was_then,
    the_lock_holders_write_releases_its_lock_whatever_the_outcome,
);

/// The Redis key of an entry.
fn redis_key(cache: &TieredCache, namespace: &str, key: &str) -> String {
    format!("{}:{namespace}:{key}", cache.config().key_prefix)
}

async fn loader_value(cache: &TieredCache, key: &str, calls: &Arc<AtomicUsize>, value: u64) -> u64 {
    let calls = calls.clone();
    cache
        .get(key)
        .namespace("n")
        .refresh_with(move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(value)
        })
        .await
        .expect("loads")
}

async fn every_method_works(url: &str) {
    let config = config(url);
    let a = cache(config.clone()).await;
    let b = cache(config).await;
    let raw = raw_client(url).await;

    a.set("user:1", &"Ada".to_owned())
        .namespace("users")
        .await
        .expect("set");
    let stored: Option<Bytes> = raw
        .get(redis_key(&a, "users", "user:1"))
        .await
        .expect("raw get");
    assert!(
        stored.is_some_and(|bytes| bytes.starts_with(&envelope::MAGIC)),
        "a readable key holds an envelope"
    );
    assert_eq!(
        b.get::<String>("user:1")
            .namespace("users")
            .await
            .expect("get")
            .as_deref(),
        Some("Ada")
    );

    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(loader_value(&a, "loaded", &calls, 7).await, 7);
    assert_eq!(
        loader_value(&b, "loaded", &calls, 8).await,
        7,
        "B is served from L2"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    a.invalidate("loaded")
        .namespace("n")
        .await
        .expect("invalidate");
    let fresh_b = cache(b.config().clone()).await;
    assert_eq!(
        fresh_b
            .get::<u64>("loaded")
            .namespace("n")
            .await
            .expect("get"),
        None
    );

    a.clear_namespace("users").await.expect("clear namespace");
    let fresh = cache(a.config().clone()).await;
    assert_eq!(
        fresh
            .get::<String>("user:1")
            .namespace("users")
            .await
            .expect("get"),
        None
    );
    a.set("k", &1u8).await.expect("set");
    a.clear_all().await.expect("clear all");
    let fresh = cache(a.config().clone()).await;
    assert_eq!(fresh.get::<u8>("k").await.expect("get"), None);

    let health = a.health_check().await;
    assert!(health.healthy, "{health:?}");
    let stats = a.stats();
    assert!(stats.l2_stats.enabled);
    assert!(stats.l2_stats.writes >= 3);
    assert_eq!(stats.l2_stats.errors, 0);
    a.close().await;
    assert!(matches!(a.get::<u8>("k").await, Err(CacheError::Closed)));
}

async fn ttl_in_redis_matches_the_entry(url: &str) {
    let cache = cache(config(url)).await;
    let raw = raw_client(url).await;
    cache
        .set("k", &1u8)
        .ttl(Duration::from_secs(300))
        .await
        .expect("set");
    let pttl: i64 = raw
        .pttl(redis_key(&cache, "default", "k"))
        .await
        .expect("pttl");
    assert!((299_000..=300_000).contains(&pttl), "PTTL {pttl}");

    cache
        .get("loaded")
        .refresh_with(|| async { Ok::<_, String>(1u8) })
        .ttl(Duration::from_secs(42))
        .await
        .expect("loads");
    let pttl: i64 = raw
        .pttl(redis_key(&cache, "default", "loaded"))
        .await
        .expect("pttl");
    assert!((41_000..=42_000).contains(&pttl), "PTTL {pttl}");

    // The default ttl is l2_ttl.
    cache.set("default-ttl", &1u8).await.expect("set");
    let ttl: i64 = raw
        .ttl(redis_key(&cache, "default", "default-ttl"))
        .await
        .expect("ttl");
    assert!((3599..=3600).contains(&ttl), "TTL {ttl}");
}

async fn undecodable_bytes_are_counted_misses(url: &str) {
    let cache = cache(config(url)).await;
    let raw = raw_client(url).await;
    let key = |k: &str| redis_key(&cache, "n", k);

    // An envelope whose String payload claims a 2^62-byte length.
    let meta = tiered_cache::engine::entry::EntryMeta::new(
        tiered_cache::engine::Stamp::from_millis(1),
        now_ms(),
        Duration::from_secs(60),
        Duration::ZERO,
        Duration::ZERO,
    );
    let mut huge = envelope::encode_value(&"x".to_owned(), CodecKind::default(), &meta, &[], 1024)
        .expect("encodes");
    let payload_at = huge.len() - 2; // varint length 1 + "x"
    huge.truncate(payload_at);
    huge.push(0xFD);
    huge.extend_from_slice(&(1u64 << 62).to_le_bytes());
    huge.extend_from_slice(b"abc");

    let mut newer_format =
        envelope::encode_value(&"x".to_owned(), CodecKind::default(), &meta, &[], 1024)
            .expect("encodes");
    newer_format[2] = 99;

    // Regression: bytes that start like an envelope and whose stamp field reads as a far-future
    // stamp, then junk, with no TTL: the write script compared against the junk stamp and never
    // replaced them, so caching was off for the key forever. One with a whole header and a junk
    // payload (only a reader can tell), one cut short (the script must validate the header).
    let mut future = b"TC\x01\x00\x01".to_vec();
    future.extend_from_slice(&[0xFF; 8]);
    future.extend_from_slice(&[0u8; 32]);
    future.extend_from_slice(&[0, 0]);
    future.extend_from_slice(b"junk payload");
    let mut future_short = b"TC\x01\x00\x01".to_vec();
    future_short.extend_from_slice(&[0xFF; 8]);
    future_short.extend_from_slice(b"junk");

    let planted: Vec<(&str, Bytes)> = vec![
        ("garbage", Bytes::from_static(b"\x00\xffnot ours at all")),
        ("empty", Bytes::new()),
        ("huge", Bytes::from(huge)),
        ("truncated", Bytes::from_static(b"TC\x01\x00\x01\x00\x00")),
        ("newer", Bytes::from(newer_format)),
        ("future", Bytes::from(future)),
        ("future_short", Bytes::from(future_short)),
    ];
    for (name, bytes) in &planted {
        let _: () = raw
            .set(key(name), bytes.clone(), None, None, false)
            .await
            .expect("plant");
    }
    let _: () = raw
        .hset(key("hash"), ("field", "value"))
        .await
        .expect("plant hash");
    let _: () = raw.rpush(key("list"), "item").await.expect("plant list");
    cache
        .set("typed", &5u32)
        .namespace("n")
        .await
        .expect("set a u32");

    let names = [
        "garbage",
        "empty",
        "huge",
        "truncated",
        "newer",
        "future",
        "future_short",
        "hash",
        "list",
        "typed",
    ];
    for (i, name) in names.iter().enumerate() {
        let fresh = support::cache(cache.config().clone()).await;
        assert_eq!(
            fresh
                .get::<String>(name)
                .namespace("n")
                .await
                .expect("a miss, not an error"),
            None,
            "{name}"
        );
        assert_eq!(fresh.stats().l2_stats.decode_errors, 1, "{name} is counted");
        // The loader runs and its value replaces the bytes.
        let calls = Arc::new(AtomicUsize::new(0));
        let value = fresh
            .get(name)
            .namespace("n")
            .refresh_with({
                let calls = calls.clone();
                move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(format!("fixed {i}"))
                }
            })
            .await
            .expect("loads");
        assert_eq!(value, format!("fixed {i}"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let other = support::cache(cache.config().clone()).await;
        assert_eq!(
            other
                .get::<String>(name)
                .namespace("n")
                .await
                .expect("get")
                .as_deref(),
            Some(format!("fixed {i}").as_str()),
            "{name} was overwritten with a good envelope"
        );
        // The junk's stamp did not drag the instance's clock along: what it wrote is stamped
        // now, not in the far future (which would let it beat every later write).
        let stored: Bytes = raw.get(key(name)).await.expect("get");
        let created = envelope::decode(&stored).expect("ours").meta.created;
        assert!(
            created.millis().abs_diff(now_ms()) < 3_600_000,
            "{name}: the loaded value is stamped {created:?}"
        );
    }
}

async fn clear_all_leaves_foreign_keys_alone(url: &str) {
    let cache = cache(config(url)).await;
    let raw = raw_client(url).await;
    let foreign = format!("other-app:{}", support::unique("k"));
    let _: () = raw
        .set(&foreign, "theirs", None, None, false)
        .await
        .expect("plant");
    cache.set("mine", &1u8).await.expect("set");
    cache.clear_all().await.expect("clear all");
    let theirs: Option<String> = raw.get(&foreign).await.expect("get");
    assert_eq!(theirs.as_deref(), Some("theirs"));
    assert_eq!(cache.get::<u8>("mine").await.expect("get"), None);
    let _: () = raw.del(&foreign).await.expect("cleanup");
}

/// `sync_interval` is 50 ms in tests; a clear must show within one interval plus round trips.
async fn another_instance_sees_a_clear_within_the_sync_bound(url: &str) {
    let config = config(url);
    let a = cache(config.clone()).await;
    let b = cache(config.clone()).await;
    let keys: Vec<String> = (0..30).map(|i| format!("item:{i}")).collect();
    for key in &keys {
        a.set(key, &1u8).namespace("catalog").await.expect("set");
        a.set(key, &2u8).namespace("kept").await.expect("set");
        assert_eq!(
            b.get::<u8>(key).namespace("catalog").await.expect("get"),
            Some(1),
            "B's L1 holds it"
        );
    }
    a.clear_namespace("catalog").await.expect("clear");
    let bound = config.sync_interval * 2 + Duration::from_millis(400);
    let cleared = eventually(bound, || async {
        let mut all_gone = true;
        for key in &keys {
            all_gone &= b
                .get::<u8>(key)
                .namespace("catalog")
                .await
                .expect("get")
                .is_none();
        }
        all_gone
    })
    .await;
    assert!(cleared, "B still served cleared entries after {bound:?}");
    for key in &keys {
        assert_eq!(
            b.get::<u8>(key).namespace("kept").await.expect("get"),
            Some(2)
        );
    }
}

async fn oversized_values_stay_out_of_redis(url: &str) {
    let cache = cache(CacheConfig {
        max_value_size: 1024,
        ..config(url)
    })
    .await;
    let raw = raw_client(url).await;
    let err = cache
        .set("big", &vec![0u8; 4096])
        .await
        .expect_err("refused");
    assert!(matches!(err, CacheError::ValueTooLarge { .. }), "{err}");
    let exists: i64 = raw
        .exists(redis_key(&cache, "default", "big"))
        .await
        .expect("exists");
    assert_eq!(exists, 0);
    assert_eq!(cache.get::<Vec<u8>>("big").await.expect("get"), None);
}

/// Two instances race: the write with the later created stamp wins in Redis, whatever order the
/// writes arrive in.
async fn an_older_write_never_replaces_a_newer_one(url: &str) {
    let cache = cache(config(url)).await;
    let raw = raw_client(url).await;
    let key = redis_key(&cache, "default", "k");
    cache.set("k", &"new".to_owned()).await.expect("set");
    // Plant an envelope stamped earlier, the way a slow writer elsewhere would, via the script
    // path: a set from an instance whose stamps are older.
    let newer: Bytes = raw.get(&key).await.expect("get");
    let env = envelope::decode(&newer).expect("ours");
    let older_meta = tiered_cache::engine::entry::EntryMeta {
        created: tiered_cache::engine::Stamp::from_raw(env.meta.created.raw() - 1),
        ..env.meta
    };
    let older = envelope::encode_value(
        &"old".to_owned(),
        CodecKind::default(),
        &older_meta,
        &[],
        1024,
    )
    .expect("encodes");
    let backend = tiered_cache::RedisL2::connect(url, cache.config()).expect("connects");
    use tiered_cache::engine::L2Backend;
    backend.ready().await;
    let outcome = backend
        .put(
            tiered_cache::engine::keys::KeyRef {
                namespace: "default",
                key: "k",
            },
            Bytes::from(older),
            older_meta.created,
            60_000,
            None,
            None,
        )
        .await
        .expect("put");
    assert_eq!(outcome, tiered_cache::engine::l2::WriteOutcome::Superseded);
    let other = support::cache(cache.config().clone()).await;
    assert_eq!(
        other.get::<String>("k").await.expect("get").as_deref(),
        Some("new")
    );
}

/// The load lock: one holder at a time; taking it again with the holder's token (a command
/// the client re-sent after a lost reply) still says "yours"; only the holder releases it.
async fn a_load_lock_has_one_holder_and_a_resent_take_keeps_it(url: &str) {
    use tiered_cache::engine::L2Backend;
    let cache = cache(config(url)).await;
    let backend = tiered_cache::RedisL2::connect(url, cache.config()).expect("connects");
    backend.ready().await;
    let key = tiered_cache::engine::keys::KeyRef {
        namespace: "default",
        key: "locked",
    };
    assert!(backend.try_lock(key, 1, 60_000).await.expect("lock"));
    assert!(
        backend.try_lock(key, 1, 60_000).await.expect("lock"),
        "a re-sent take by the holder"
    );
    assert!(!backend.try_lock(key, 2, 60_000).await.expect("lock"));
    backend.unlock(key, 2).await.expect("unlock");
    assert!(
        !backend.try_lock(key, 2, 60_000).await.expect("lock"),
        "only the holder releases it"
    );
    backend.unlock(key, 1).await.expect("unlock");
    assert!(backend.try_lock(key, 2, 60_000).await.expect("lock"));
}

/// Taking the load lock and reading the entry in one step: the entry as stored when the lock
/// was taken, absent when there is none, a data error (and the lock still taken) when the key
/// holds a hash; nothing read when the lock is held elsewhere. A Cluster does it in one step too
/// (the lock is in the entry's slot), except for a key with `}` and no hash tag, whose lock is
/// in another slot: there the lock is taken alone and the engine reads the entry itself.
async fn taking_a_lock_reads_the_entry_as_it_was_then(url: &str) {
    use tiered_cache::engine::L2Backend;
    let cache = cache(config(url)).await;
    let backend = tiered_cache::RedisL2::connect(url, cache.config()).expect("connects");
    backend.ready().await;
    let raw = raw_client(url).await;
    let clustered = fred::interfaces::ClientLike::is_clustered(&raw);
    let key = |key| tiered_cache::engine::keys::KeyRef {
        namespace: "n",
        key,
    };

    cache
        .set("stored", &7_u64)
        .namespace("n")
        .await
        .expect("set");
    let stored: Option<Bytes> = raw
        .get(redis_key(&cache, "n", "stored"))
        .await
        .expect("raw get");
    let taken = backend
        .try_lock_and_read(key("stored"), 1, 60_000)
        .await
        .expect("lock");
    assert!(taken.acquired);
    assert_eq!(
        taken.entry.expect("read with the lock").expect("a string"),
        stored
    );
    let elsewhere = backend
        .try_lock_and_read(key("stored"), 2, 60_000)
        .await
        .expect("lock");
    assert!(!elsewhere.acquired && elsewhere.entry.is_none());

    let absent = backend
        .try_lock_and_read(key("absent"), 1, 60_000)
        .await
        .expect("lock");
    assert!(absent.acquired);
    assert!(matches!(absent.entry, Some(Ok(None))), "{absent:?}");

    let _: i64 = raw
        .hset(redis_key(&cache, "n", "hash"), ("f", "v"))
        .await
        .expect("hset");
    let hash = backend
        .try_lock_and_read(key("hash"), 1, 60_000)
        .await
        .expect("lock");
    assert!(hash.acquired, "a hash under the key leaves the lock taken");
    assert!(
        matches!(
            hash.entry,
            Some(Err(tiered_cache::engine::L2Error::Data(_)))
        ),
        "{hash:?}"
    );
    assert!(
        !backend
            .try_lock(key("hash"), 2, 60_000)
            .await
            .expect("lock"),
        "and held"
    );

    // `}` without a hash tag: the lock hashes apart from the entry.
    cache
        .set("odd}key", &8_u64)
        .namespace("n")
        .await
        .expect("set");
    let apart = backend
        .try_lock_and_read(key("odd}key"), 1, 60_000)
        .await
        .expect("lock");
    assert!(apart.acquired);
    if clustered {
        assert!(apart.entry.is_none(), "{apart:?}");
    } else {
        assert!(matches!(apart.entry, Some(Ok(Some(_)))), "{apart:?}");
    }
    // A cold load of such a key: lock, re-read, write and unlock, each on its own where
    // the lock is apart; the value lands and the lock is gone either way.
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(loader_value(&cache, "cold}key", &calls, 9).await, 9);
    let layout = tiered_cache::engine::layout::Layout::new(&cache.config().key_prefix);
    let lock: Option<String> = raw
        .get(layout.lock("n", "cold}key"))
        .await
        .expect("raw get");
    assert_eq!(lock, None, "released");
    let other = support::cache(cache.config().clone()).await;
    assert_eq!(loader_value(&other, "cold}key", &calls, 10).await, 9);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    for k in ["stored", "absent", "hash", "odd}key"] {
        backend.unlock(key(k), 1).await.expect("unlock");
    }
}

/// The lock holder's write ends its load: the lock is released with it, when the write takes
/// effect and when a newer entry keeps it out; another token's lock is left alone.
async fn the_lock_holders_write_releases_its_lock_whatever_the_outcome(url: &str) {
    use tiered_cache::engine::L2Backend;
    use tiered_cache::engine::l2::WriteOutcome;
    let cache = cache(config(url)).await;
    let backend = tiered_cache::RedisL2::connect(url, cache.config()).expect("connects");
    backend.ready().await;
    let key = tiered_cache::engine::keys::KeyRef {
        namespace: "n",
        key: "written",
    };
    let stamped = |raw: u64| {
        let meta = tiered_cache::engine::entry::EntryMeta {
            created: tiered_cache::engine::Stamp::from_raw(raw),
            fresh_until_ms: u64::MAX,
            expires_at_ms: u64::MAX,
            keep_until_ms: u64::MAX,
        };
        let bytes =
            envelope::encode_value(&raw, CodecKind::default(), &meta, &[], 1024).expect("encodes");
        (Bytes::from(bytes), meta.created)
    };
    let write = |raw: u64, token: u64| {
        let (bytes, created) = stamped(raw);
        backend.put_and_unlock(key, bytes, created, 60_000, None, None, token)
    };

    assert!(backend.try_lock(key, 1, 60_000).await.expect("lock"));
    let (outcome, released) = write(1 << 40, 1).await.expect("write");
    assert_eq!((outcome, released), (WriteOutcome::Written, true));
    assert!(
        backend.try_lock(key, 2, 60_000).await.expect("lock"),
        "released: another token takes it"
    );
    // Token 2 holds it; an older write by token 2 is kept out, and still releases.
    let (outcome, released) = write(1 << 39, 2).await.expect("write");
    assert_eq!((outcome, released), (WriteOutcome::Superseded, true));
    assert!(backend.try_lock(key, 3, 60_000).await.expect("lock"));
    // A write with a token that does not hold the lock leaves the holder's lock alone.
    let (outcome, _) = write(1 << 41, 9).await.expect("write");
    assert_eq!(outcome, WriteOutcome::Written);
    assert!(
        !backend.try_lock(key, 4, 60_000).await.expect("lock"),
        "token 3 still holds it"
    );
    backend.unlock(key, 3).await.expect("unlock");
}

#[tokio::test]
async fn cluster_keys_spread_over_every_master_and_clears_reach_them_all() {
    let cluster = support::shared_cluster();
    let config = config(&cluster.url());
    let a = cache(config.clone()).await;
    let keys: Vec<String> = (0..60).map(|i| format!("product:{i}")).collect();
    let mut masters = std::collections::HashSet::new();
    for key in &keys {
        a.set(key, &1u32).namespace("products").await.expect("set");
        let stored = redis_key(&a, "products", key);
        let node = cluster.node_of(&stored);
        assert_eq!(
            support::redis_cli(node.port(), &["EXISTS", &stored]).trim(),
            "1",
            "{stored} on its master"
        );
        masters.insert(node.port());
    }
    assert_eq!(
        masters.len(),
        3,
        "one namespace spreads over all three masters"
    );
    a.clear_namespace("products").await.expect("clear");
    let b = cache(config).await;
    for key in &keys {
        assert_eq!(
            b.get::<u32>(key).namespace("products").await.expect("get"),
            None
        );
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
