//! Codecs through the cache, with two caches sharing one (in-memory) L2: the write side picks
//! the codec (config or call), the read side decodes with the one the entry names; a type that
//! gained a `#[serde(default)]` field reads its old entries with a self-describing codec and
//! misses cleanly with a positional one; errors name the type and the codec.

mod common;

use std::sync::{Arc, Mutex, PoisonError};

use common::memory_l2::MemoryL2;
use serde::{Deserialize, Serialize};
use tiered_cache_core::codec::CodecKind;
use tiered_cache_core::envelope::{self, fingerprint_for};
use tiered_cache_core::{CacheConfig, CacheError, TieredCache};

/// The version of a record a service ran with before.
mod v1 {
    use super::*;

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Report {
        pub id: u64,
        pub title: String,
    }
}

/// The next version: the same name, one optional field more.
mod v2 {
    use super::*;

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Report {
        pub id: u64,
        pub title: String,
        #[serde(default)]
        pub pages: Option<u32>,
    }
}

fn with_codec(codec: CodecKind) -> CacheConfig {
    CacheConfig {
        codec,
        ..Default::default()
    }
}

async fn two_caches(l2: &MemoryL2, a: CodecKind, b: CodecKind) -> (TieredCache, TieredCache) {
    (l2.cache(with_codec(a)).await, l2.cache(with_codec(b)).await)
}

fn stored_codec(l2: &MemoryL2, key: &str) -> CodecKind {
    let bytes = l2.raw("default", key).expect("stored");
    envelope::decode(&bytes).expect("an envelope").codec()
}

#[tokio::test]
async fn each_cache_reads_what_the_other_wrote_with_its_own_codec() {
    for (a, b) in [
        (CodecKind::Bincode, CodecKind::MessagePack),
        (CodecKind::MessagePack, CodecKind::Postcard),
        (CodecKind::Postcard, CodecKind::Json),
        (CodecKind::Json, CodecKind::Bincode),
    ] {
        let l2 = MemoryL2::default();
        let (writer_a, writer_b) = two_caches(&l2, a, b).await;
        let report = v1::Report {
            id: 1,
            title: "q3".into(),
        };
        writer_a.set("from-a", &report).await.expect("set");
        writer_b.set("from-b", &report).await.expect("set");
        assert_eq!(stored_codec(&l2, "from-a"), a);
        assert_eq!(stored_codec(&l2, "from-b"), b);
        for (reader, key) in [(&writer_b, "from-a"), (&writer_a, "from-b")] {
            assert_eq!(
                reader.get::<v1::Report>(key).await.expect("get"),
                Some(report.clone()),
                "{a} and {b}: {key}"
            );
            assert_eq!(reader.stats().l2_stats.decode_errors, 0);
        }
    }
}

#[tokio::test]
async fn an_old_bincode_entry_is_read_by_a_cache_configured_for_msgpack() {
    let l2 = MemoryL2::default();
    let old = l2.cache(with_codec(CodecKind::Bincode)).await;
    old.set("k", &vec!["a".to_owned(), "b".to_owned()])
        .await
        .expect("set");
    assert_eq!(stored_codec(&l2, "k"), CodecKind::Bincode);

    let new = l2.cache(CacheConfig::default()).await;
    assert_eq!(new.config().codec, CodecKind::MessagePack);
    let loads = Arc::new(Mutex::new(0));
    let counted = loads.clone();
    let value: Vec<String> = new
        .get("k")
        .refresh_with(move || async move {
            *counted.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            Ok::<_, std::io::Error>(Vec::new())
        })
        .await
        .expect("read");
    assert_eq!(value, ["a", "b"]);
    assert_eq!(*loads.lock().unwrap_or_else(PoisonError::into_inner), 0);
    // A rewrite uses the reader's codec.
    new.set("k", &vec!["c".to_owned()]).await.expect("set");
    assert_eq!(stored_codec(&l2, "k"), CodecKind::MessagePack);
    assert_eq!(
        old.get::<Vec<String>>("k").skip_l1().await.expect("get"),
        Some(vec!["c".to_owned()])
    );
}

#[tokio::test]
async fn a_call_chooses_its_own_codec_over_the_configs() {
    let l2 = MemoryL2::default();
    let cache = l2.cache(with_codec(CodecKind::Postcard)).await;
    cache
        .set("set", &1u32)
        .codec(CodecKind::Json)
        .await
        .expect("set");
    assert_eq!(
        l2.raw("default", "set").map(|b| b.ends_with(b"1")),
        Some(true)
    );
    assert_eq!(stored_codec(&l2, "set"), CodecKind::Json);

    cache
        .get::<u32>("load")
        .refresh_with(|| async { Ok::<_, std::io::Error>(2) })
        .codec(CodecKind::Bincode)
        .await
        .expect("load");
    assert_eq!(stored_codec(&l2, "load"), CodecKind::Bincode);

    cache
        .get_with("get-with", || async { 3u32 })
        .codec(CodecKind::MessagePack)
        .await
        .expect("get_with");
    assert_eq!(stored_codec(&l2, "get-with"), CodecKind::MessagePack);

    cache
        .set_many(&[("many-1", 4u32), ("many-2", 5)])
        .codec(CodecKind::Json)
        .await
        .expect("set_many");
    assert_eq!(stored_codec(&l2, "many-2"), CodecKind::Json);

    let loaded = cache
        .get_many::<u32, _>(&["batch-1", "batch-2"])
        .refresh_many_with(|keys| async move {
            Ok::<_, std::io::Error>(keys.into_iter().map(|k| (k, 6u32)).collect())
        })
        .codec(CodecKind::MessagePack)
        .await
        .expect("load_many");
    assert_eq!(loaded, [Some(6), Some(6)]);
    assert_eq!(stored_codec(&l2, "batch-1"), CodecKind::MessagePack);

    cache.set("config", &7u32).await.expect("set");
    assert_eq!(stored_codec(&l2, "config"), CodecKind::Postcard);
}

/// Writes `v1::Report` with `codec` from one cache and reads it as `v2::Report` (a field more)
/// from another. `same_path` stands for what a deploy sees: the next build of the same type
/// at the same path. Here both versions live in one test binary, at two paths, so the test
/// writes v2's fingerprint into the stored entry, which is what the next build would compute.
async fn v1_written_v2_read(codec: CodecKind, same_path: bool) -> (Option<v2::Report>, u64) {
    let l2 = MemoryL2::default();
    let (old, new) = two_caches(&l2, codec, codec).await;
    let report = v1::Report {
        id: 9,
        title: "annual".into(),
    };
    old.set("report", &report).await.expect("set");
    if same_path {
        let mut bytes = l2.raw("default", "report").expect("stored").to_vec();
        let at = envelope::CREATED_OFFSET + 32;
        bytes[at..at + 8].copy_from_slice(&fingerprint_for::<v2::Report>(codec).to_be_bytes());
        l2.put_raw("default", "report", bytes);
    }
    let read = new.get::<v2::Report>("report").await.expect("get");
    (read, new.stats().l2_stats.decode_errors)
}

#[tokio::test]
async fn a_type_that_gained_a_default_field_reads_its_old_entries_with_a_self_describing_codec() {
    for codec in [CodecKind::MessagePack, CodecKind::Json] {
        let expected = Some(v2::Report {
            id: 9,
            title: "annual".into(),
            pages: None,
        });
        // Two modules, one type name: the fingerprint of a self-describing codec's entry
        // leaves module paths out, so no patching is needed.
        assert_eq!(
            v1_written_v2_read(codec, false).await,
            (expected.clone(), 0),
            "{codec}"
        );
        assert_eq!(
            v1_written_v2_read(codec, true).await,
            (expected, 0),
            "{codec}"
        );
    }
}

#[tokio::test]
async fn a_positional_codec_misses_cleanly_when_the_type_changed() {
    for codec in [CodecKind::Bincode, CodecKind::Postcard] {
        // Another path: the fingerprint refuses it before decoding.
        assert_eq!(v1_written_v2_read(codec, false).await, (None, 1), "{codec}");
        // The same path (a new build): the codec itself finds the bytes too short. A miss and
        // a counted decode error, never a value.
        assert_eq!(v1_written_v2_read(codec, true).await, (None, 1), "{codec}");
    }
}

#[tokio::test]
async fn a_miss_on_an_undecodable_entry_loads_and_replaces_it() {
    let l2 = MemoryL2::default();
    let (old, new) = two_caches(&l2, CodecKind::Postcard, CodecKind::Postcard).await;
    old.set(
        "report",
        &v1::Report {
            id: 1,
            title: "t".into(),
        },
    )
    .await
    .expect("set");
    let fresh = v2::Report {
        id: 1,
        title: "t".into(),
        pages: Some(3),
    };
    let expected = fresh.clone();
    let loaded = new
        .get::<v2::Report>("report")
        .refresh_with(move || async move { Ok::<_, std::io::Error>(fresh) })
        .await
        .expect("load");
    assert_eq!(loaded, expected);
    // Counted on each look at L2 (the load looks again once it holds the lock).
    assert!(new.stats().l2_stats.decode_errors >= 1);
    let again = l2.cache(with_codec(CodecKind::Postcard)).await;
    assert_eq!(
        again.get::<v2::Report>("report").await.expect("get"),
        Some(expected)
    );
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct WithFlatten {
    id: u64,
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, u64>,
}

#[tokio::test]
async fn a_value_that_cannot_be_encoded_names_its_type_and_the_codec() {
    let l2 = MemoryL2::default();
    let cache = l2.cache(with_codec(CodecKind::Postcard)).await;
    let value = WithFlatten {
        id: 1,
        rest: [("a".to_owned(), 2)].into(),
    };
    let error = cache
        .set("k", &value)
        .await
        .expect_err("postcard has no flatten");
    let CacheError::Serialize(message) = &error else {
        panic!("expected Serialize, got {error:?}");
    };
    assert!(
        message.starts_with("`codecs::WithFlatten` could not be encoded with postcard: "),
        "{message}"
    );
    assert_eq!(error.to_string(), *message);
    assert!(l2.raw("default", "k").is_none());
    // The same value with a self-describing codec is stored.
    cache
        .set("k", &value)
        .codec(CodecKind::MessagePack)
        .await
        .expect("msgpack has flatten");
    assert_eq!(
        cache.get::<WithFlatten>("k").skip_l1().await.expect("get"),
        Some(value)
    );
}
