//! Codecs against a real Redis: two instances configured with different codecs read each
//! other's writes (each entry is decoded with the codec it names), a write's codec is what
//! Redis holds, and a type that gained a `#[serde(default)]` field reads what an instance of
//! its previous version stored in msgpack.

mod support;

use fred::interfaces::KeysInterface;
use serde::{Deserialize, Serialize};
use support::{cache, config, raw_client, test_redis};
use tiered_cache::engine::envelope;
use tiered_cache::{CacheConfig, CodecKind, TieredCache};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    lines: Vec<(String, u32)>,
    note: Option<String>,
}

fn order(id: u64) -> Order {
    Order {
        id,
        lines: vec![("teapot".into(), 2), ("cup".into(), 6)],
        note: Some("gift".into()),
    }
}

/// Two instances on one Redis and key prefix, writing with `a` and `b`.
async fn instances(url: &str, a: CodecKind, b: CodecKind) -> (TieredCache, TieredCache, String) {
    let base = config(url);
    let prefix = base.key_prefix.clone();
    let first = cache(CacheConfig {
        codec: a,
        ..base.clone()
    })
    .await;
    let second = cache(CacheConfig { codec: b, ..base }).await;
    (first, second, prefix)
}

async fn stored_codec(url: &str, redis_key: &str) -> CodecKind {
    let raw = raw_client(url).await;
    let bytes: Option<Vec<u8>> = raw.get(redis_key).await.expect("raw GET");
    let bytes = bytes.expect("Redis holds the entry");
    envelope::decode(&bytes).expect("an envelope").codec()
}

#[tokio::test]
async fn instances_with_different_codecs_read_each_others_writes() {
    let redis = test_redis();
    let url = redis.url();
    for (a, b) in [
        (CodecKind::Bincode, CodecKind::MessagePack),
        (CodecKind::Postcard, CodecKind::Json),
    ] {
        let (first, second, prefix) = instances(&url, a, b).await;
        first
            .set("o:1", &order(1))
            .namespace("orders")
            .await
            .unwrap();
        second
            .set("o:2", &order(2))
            .namespace("orders")
            .await
            .unwrap();
        assert_eq!(stored_codec(&url, &format!("{prefix}:orders:o:1")).await, a);
        assert_eq!(stored_codec(&url, &format!("{prefix}:orders:o:2")).await, b);

        for (reader, key, id) in [(&second, "o:1", 1), (&first, "o:2", 2)] {
            let read = reader
                .get::<Order>(key)
                .namespace("orders")
                .skip_l1()
                .await
                .unwrap();
            assert_eq!(read, Some(order(id)), "{a}/{b}: {key}");
        }
        // A load of a key the other instance stored is an L2 hit: its loader never runs.
        let loaded = first
            .get::<Order>("o:2")
            .namespace("orders")
            .refresh_with(|| async { Err::<Order, _>(std::io::Error::other("not called")) })
            .await
            .unwrap();
        assert_eq!(loaded, order(2));
        assert_eq!(first.stats().l2_stats.decode_errors, 0);
        assert_eq!(second.stats().l2_stats.decode_errors, 0);
        // The other instance's overwrite, in its own codec, reaches this one (backplane).
        second
            .set("o:1", &order(11))
            .namespace("orders")
            .await
            .unwrap();
        assert_eq!(stored_codec(&url, &format!("{prefix}:orders:o:1")).await, b);
        assert!(
            support::eventually(std::time::Duration::from_secs(2), || async {
                first.get::<Order>("o:1").namespace("orders").await.unwrap() == Some(order(11))
            })
            .await
        );
        first.close().await;
        second.close().await;
    }
}

mod v1 {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Profile {
        pub id: u64,
        pub name: String,
    }
}

mod v2 {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Profile {
        pub id: u64,
        pub name: String,
        #[serde(default)]
        pub locale: Option<String>,
    }
}

#[tokio::test]
async fn a_new_version_of_a_type_reads_the_old_versions_msgpack_entries_through_redis() {
    let redis = test_redis();
    let (old, new, _) = instances(&redis.url(), CodecKind::MessagePack, CodecKind::Postcard).await;
    let before = v1::Profile {
        id: 3,
        name: "Ada".into(),
    };
    old.set("p:3", &before).await.unwrap();
    // The reader is configured for postcard; the entry says msgpack, and is read as such.
    let after = new.get::<v2::Profile>("p:3").skip_l1().await.unwrap();
    assert_eq!(
        after,
        Some(v2::Profile {
            id: 3,
            name: "Ada".into(),
            locale: None,
        })
    );
    assert_eq!(new.stats().l2_stats.decode_errors, 0);
    old.close().await;
    new.close().await;
}

/// The write script keeps an older write out by the stored entry's stamp whatever codec the
/// stored entry names (it validates the header, codec ids 1 to 15): an entry of every codec,
/// stamped a minute ahead, survives a `set` made now.
#[tokio::test]
async fn the_write_script_orders_writes_over_entries_of_every_codec() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    use tiered_cache::engine::Stamp;
    use tiered_cache::engine::entry::EntryMeta;

    let redis = test_redis();
    let url = redis.url();
    let base = config(&url);
    let prefix = base.key_prefix.clone();
    let writer = cache(base).await;
    let raw = raw_client(&url).await;
    let now_ms = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits");
    for codec in CodecKind::ALL {
        let key = format!("newer-{codec}");
        let meta = EntryMeta::new(
            Stamp::from_millis(now_ms + 60_000),
            now_ms,
            Duration::from_secs(600),
            Duration::ZERO,
            Duration::ZERO,
        );
        let newer =
            envelope::encode_value(&"newer".to_owned(), codec, &meta, &[], 1024).expect("encodes");
        let redis_key = format!("{prefix}:default:{key}");
        let _: () = raw
            .set(&redis_key, newer.clone(), None, None, false)
            .await
            .expect("raw SET");
        writer.set(&key, &"older".to_owned()).await.unwrap();
        let stored: Option<Vec<u8>> = raw.get(&redis_key).await.expect("raw GET");
        assert_eq!(stored, Some(newer), "{codec}: the newer entry stays");
    }
    assert_eq!(
        writer.stats().l2_stats.writes_superseded,
        CodecKind::ALL.len() as u64
    );
    writer.close().await;
}

static MACRO_CACHE: std::sync::OnceLock<TieredCache> = std::sync::OnceLock::new();

fn macro_cache() -> &'static TieredCache {
    MACRO_CACHE.get().expect("installed by the test")
}

/// `codec = "postcard"` overrides the cache's msgpack for this function's writes only.
#[tiered_cache::cached(key = "order:{id}", namespace = "orders", codec = "postcard", cache = macro_cache)]
async fn postcard_order(id: u64) -> Order {
    order(id)
}

#[tiered_cache::cached(key = "plain:{id}", namespace = "orders", cache = macro_cache)]
async fn default_order(id: u64) -> Order {
    order(id)
}

/// A `#[cached(codec = ..)]` function writes its loads and its primes with that codec, and a
/// function without the option writes with the config's; both read back.
#[tokio::test]
async fn the_macro_option_sets_the_codec_of_its_writes() {
    let redis = test_redis();
    let url = redis.url();
    let base = config(&url);
    let prefix = base.key_prefix.clone();
    assert!(MACRO_CACHE.set(cache(base.clone()).await).is_ok());
    assert_eq!(postcard_order(1).await, order(1));
    assert_eq!(
        stored_codec(&url, &format!("{prefix}:orders:order:1")).await,
        CodecKind::Postcard
    );
    assert_eq!(postcard_order_prime(2).await, order(2));
    assert_eq!(
        stored_codec(&url, &format!("{prefix}:orders:order:2")).await,
        CodecKind::Postcard
    );
    assert_eq!(default_order(3).await, order(3));
    assert_eq!(
        stored_codec(&url, &format!("{prefix}:orders:plain:3")).await,
        CodecKind::MessagePack
    );
    // Read back through L2 by a second instance (its L1 is empty).
    let other = cache(base).await;
    let read: Option<Order> = other
        .get("order:2")
        .namespace("orders")
        .await
        .expect("read");
    assert_eq!(read, Some(order(2)));
}
