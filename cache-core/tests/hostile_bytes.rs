//! Bytes the cache did not write: the envelope decoder (and every value codec behind it), the
//! backplane notice decoder and key/namespace validation, fed the committed corpora
//! (`tests/corpus/`) and then random and mutated inputs. They answer with errors, never panic,
//! and never allocate what a length prefix asks for: the test binary runs under an allocator
//! capped at 256 MiB, so a decoder that believed a 4 GiB or 2^64 length would abort it. Every
//! payload is fed to every codec (the codec byte patched), so each codec sees every input.
//!
//! The test command runs a few thousand cases per property; a longer run:
//! `PROPTEST_CASES=1000000 cargo test --release -p tiered-cache-core --test hostile_bytes`.

use std::alloc::System;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tiered_cache_core::codec::CodecKind;
use tiered_cache_core::entry::EntryMeta;
use tiered_cache_core::envelope::{self, CREATED_OFFSET};
use tiered_cache_core::keys::{validate_key, validate_namespace};
use tiered_cache_core::notice::Notice;
use tiered_cache_core::{CacheError, Stamp};

#[global_allocator]
static ALLOCATOR: cap::Cap<System> = cap::Cap::new(System, 256 * 1024 * 1024);

/// Where the type fingerprint sits in an envelope header (after the created stamp and three
/// deadlines).
const FINGERPRINT_OFFSET: usize = CREATED_OFFSET + 8 * 4;
/// Where the codec id sits.
const CODEC_OFFSET: usize = 4;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Product {
    id: u64,
    name: String,
    tags: Vec<String>,
    prices: HashMap<String, f64>,
    parent: Option<Box<Product>>,
}

/// Decodes `bytes` as an envelope and, when it is one, its value with every codec as several
/// types (each time with the codec's id and the type's own fingerprint patched in, so the codec
/// itself sees the payload).
fn decode_everything(bytes: &[u8]) {
    let Ok(parsed) = envelope::decode(bytes) else {
        return;
    };
    let _ = parsed.tags().count();
    let _ = parsed.value::<Product>();
    let mut patched = bytes.to_vec();
    for codec in CodecKind::ALL {
        patched[CODEC_OFFSET] = codec.id();
        as_types(&mut patched, codec);
    }
}

fn as_types(patched: &mut [u8], codec: CodecKind) {
    macro_rules! as_type {
        ($($t:ty),*) => {$(
            let fingerprint = envelope::fingerprint_for::<$t>(codec).to_be_bytes();
            patched[FINGERPRINT_OFFSET..FINGERPRINT_OFFSET + 8].copy_from_slice(&fingerprint);
            if let Ok(patched) = envelope::decode(patched) {
                let _ = patched.value::<$t>();
            }
        )*};
    }
    as_type!(
        u64,
        String,
        Vec<u8>,
        Vec<String>,
        Option<Vec<u32>>,
        HashMap<String, Vec<u8>>,
        Product,
        serde_json::Value
    );
}

fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds inputs", dir.display());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read a corpus file");
            (path, bytes)
        })
        .collect()
}

/// `valid-*` files must decode (a `valid-header-*` file's header; its payload may still be
/// refused); every other file must be refused.
fn expect_valid(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with("valid-"))
}

#[test]
fn the_envelope_corpus_decodes_or_is_refused_as_named() {
    for (path, bytes) in corpus("envelope") {
        decode_everything(&bytes);
        assert_eq!(
            envelope::decode(&bytes).is_ok(),
            expect_valid(&path),
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_payload_claiming_gigabytes_is_an_error_not_an_allocation() {
    let mut seen = 0;
    for (path, bytes) in corpus("envelope") {
        let name = path.display().to_string();
        if !name.contains("claims") && !name.contains("nesting") && !name.contains("number") {
            continue;
        }
        seen += 1;
        let codec = envelope::decode(&bytes)
            .expect("the header is valid")
            .codec();
        let mut patched = bytes.clone();
        macro_rules! refused_as {
            ($($t:ty),*) => {$(
                let fingerprint = envelope::fingerprint_for::<$t>(codec).to_be_bytes();
                patched[FINGERPRINT_OFFSET..FINGERPRINT_OFFSET + 8].copy_from_slice(&fingerprint);
                let parsed = envelope::decode(&patched).expect("the header is valid");
                assert!(parsed.value::<$t>().is_err(), "{name} as {}", stringify!($t));
            )*};
        }
        refused_as!(
            String,
            Vec<u8>,
            Vec<u64>,
            Vec<Vec<String>>,
            HashMap<String, Vec<u8>>,
            serde_json::Value
        );
    }
    assert!(seen >= 10, "the corpus holds the crafted payloads ({seen})");
}

/// The committed `valid-product-<codec>.bin` files (`real_envelope` when they were written)
/// still decode to the same value: a codec crate update that changed the stored form would fail
/// here instead of turning stored entries into misses. With `TIERED_CACHE_WRITE_CORPUS=1` the
/// test writes the files of codecs that have none yet.
#[test]
fn the_committed_envelope_of_every_codec_still_decodes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/envelope");
    for codec in CodecKind::ALL {
        let path = dir.join(format!("valid-product-{codec}.bin"));
        if !path.exists() && std::env::var_os("TIERED_CACHE_WRITE_CORPUS").is_some() {
            std::fs::write(&path, real_envelope(codec)).expect("write the corpus file");
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let parsed = envelope::decode(&bytes).expect("a valid envelope");
        assert_eq!(parsed.codec(), codec);
        assert_eq!(parsed.tags().collect::<Vec<_>>(), ["supplier:7", "x"]);
        assert_eq!(parsed.value::<Product>(), Ok(product()), "{codec}");
    }
}

#[test]
fn the_notice_corpus_decodes_or_is_refused_as_named() {
    for (path, bytes) in corpus("notice") {
        assert_eq!(
            Notice::decode(&bytes).is_some(),
            expect_valid(&path),
            "{}",
            path.display()
        );
    }
}

fn product() -> Product {
    Product {
        id: 42,
        name: "lamp".into(),
        tags: vec!["a".into(), "b".into()],
        prices: HashMap::from([("eur".into(), 9.5)]),
        parent: None,
    }
}

/// A real envelope to mutate: a `Product` with two tags, written with `codec`.
fn real_envelope(codec: CodecKind) -> Vec<u8> {
    let product = product();
    let meta = EntryMeta::new(
        Stamp::from_millis(1_000),
        1_000,
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(10),
        std::time::Duration::ZERO,
    );
    envelope::encode_value(&product, codec, &meta, &["supplier:7", "x"], 1 << 20).expect("encodes")
}

/// One edit of a valid input: overwrite, insert, remove or truncate at a position.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    proptest::collection::vec(edit, 1..8)
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        match *edit {
            Edit::Set(at, b) if len > 0 => bytes[at % len] = b,
            Edit::Insert(at, b) => bytes.insert(at % (len + 1), b),
            Edit::Remove(at) if len > 0 => {
                bytes.remove(at % len);
            }
            Edit::Truncate(at) => bytes.truncate(at % (len + 1)),
            _ => {}
        }
    }
    bytes
}

fn cases() -> ProptestConfig {
    // PROPTEST_CASES overrides this for the long run.
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(3_000),
    )
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn random_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_everything(&bytes);
        let _ = Notice::decode(&bytes);
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic_the_codec(
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = corpus_header();
        bytes.extend_from_slice(&payload);
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_envelopes_never_panic(edits in edits(), codec in 0usize..4) {
        decode_everything(&apply(real_envelope(CodecKind::ALL[codec]), &edits));
    }

    #[test]
    fn mutated_notices_never_panic(edits in edits(), which in 0usize..3) {
        let (_, valid) = corpus("notice")
            .into_iter()
            .filter(|(path, _)| expect_valid(path))
            .nth(which)
            .expect("three valid notices");
        let _ = Notice::decode(&apply(valid, &edits));
    }

    #[test]
    fn namespace_validation_agrees_with_its_rule(namespace in "\\PC{0,70}|[A-Za-z0-9_.-]{0,70}") {
        let allowed = namespace == "default"
            || (!namespace.is_empty()
                && namespace.len() <= 64
                && namespace.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)));
        match validate_namespace(&namespace) {
            Ok(()) => prop_assert!(allowed, "{namespace:?} accepted"),
            Err(CacheError::InvalidNamespace { namespace: shown, .. }) => {
                prop_assert!(!allowed, "{namespace:?} refused");
                // The error quotes at most 80 bytes (cut on a character boundary) and "...".
                prop_assert!(shown.len() <= 83, "{shown:?}");
                prop_assert!(namespace.starts_with(shown.trim_end_matches("...")));
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn key_validation_agrees_with_its_rule(key in "\\PC{0,40}", repeat in 0usize..300) {
        let key = key.repeat(repeat.max(1));
        let allowed = !key.is_empty() && key.len() <= tiered_cache_core::keys::MAX_KEY_LEN;
        match validate_key(&key) {
            Ok(()) => prop_assert!(allowed),
            Err(CacheError::InvalidKey { key: shown, .. }) => {
                prop_assert!(!allowed);
                prop_assert!(shown.len() <= 83, "the error does not echo a huge key");
                prop_assert!(key.starts_with(shown.trim_end_matches("...")));
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}

/// The fixed header of a value envelope with no tags, from the corpus.
fn corpus_header() -> Vec<u8> {
    let (_, bytes) = corpus("envelope")
        .into_iter()
        .find(|(path, _)| path.ends_with("valid-two-tags.bin"))
        .expect("the corpus has valid-two-tags.bin");
    let mut header = bytes[..FINGERPRINT_OFFSET + 8].to_vec();
    header[3] = 0;
    header.extend_from_slice(&[0, 0]);
    header
}
