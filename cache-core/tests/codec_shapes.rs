//! What each codec does with the serde shapes services use: every shape is encoded and decoded
//! with every codec, and the outcome must be the one documented (the README's codec table). A
//! codec may refuse a shape, but only cleanly: an encode error or a decode error, never a value
//! other than the one written, except where the table says the format itself loses the
//! difference (`Some(None)` in the self-describing formats).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tiered_cache_core::codec::CodecKind;

/// What became of one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Decoded to the value written.
    Same,
    /// The codec refused to encode it (the cache answers `CacheError::Serialize`).
    EncodeError,
    /// Encoded, but did not decode (the cache counts a decode error and misses).
    DecodeError,
    /// Decoded to another value: only where the format cannot tell two values apart.
    Lossy,
}

use Outcome::{DecodeError, EncodeError, Lossy, Same};

fn outcome<T>(codec: CodecKind, value: &T) -> Outcome
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut bytes = Vec::new();
    if codec.encode(value, &mut bytes).is_err() {
        return EncodeError;
    }
    match codec.decode::<T>(&bytes) {
        Ok(decoded) if decoded == *value => Same,
        Ok(_) => Lossy,
        Err(_) => DecodeError,
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct SkipIf {
    id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    count: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Flattened {
    id: u64,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Extra {
    color: String,
    size: u8,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(untagged)]
enum Untagged {
    Number(u64),
    Text(String),
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(tag = "type")]
enum Tagged {
    Circle { radius: u32 },
    Square { side: u32 },
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum External {
    Unit,
    Pair(u8, String),
    Named { id: u64 },
}

/// The documented table: for each shape, the outcome with bincode, msgpack, postcard, json.
const TABLE: &[(&str, [Outcome; 4])] = &[
    ("struct, enum, Vec, Option", [Same, Same, Same, Same]),
    (
        "skip_serializing_if (field skipped)",
        [DecodeError, Same, DecodeError, Same],
    ),
    ("flatten", [EncodeError, Same, EncodeError, Same]),
    ("untagged enum", [DecodeError, Same, DecodeError, Same]),
    (
        "internally tagged enum",
        [DecodeError, Same, DecodeError, Same],
    ),
    ("serde_json::Value", [DecodeError, Same, DecodeError, Same]),
    ("Option<Option<T>>: Some(None)", [Same, Lossy, Same, Lossy]),
    ("map with string keys", [Same, Same, Same, Same]),
    ("map with integer keys", [Same, Same, Same, Same]),
    ("map with tuple keys", [Same, Same, Same, EncodeError]),
    ("bytes (Vec<u8>)", [Same, Same, Same, Same]),
    ("f64::NAN", [Same, Same, Same, DecodeError]),
];

/// The outcomes of the shape called `name`, in [`CodecKind::ALL`] order.
fn measured(name: &str) -> [Outcome; 4] {
    CodecKind::ALL.map(|codec| match name {
        "struct, enum, Vec, Option" => outcome(
            codec,
            &(
                vec![External::Unit, External::Pair(1, "x".into())],
                External::Named { id: 7 },
                Some(5u32),
                None::<String>,
            ),
        ),
        "skip_serializing_if (field skipped)" => outcome(
            codec,
            &SkipIf {
                id: 7,
                note: None,
                count: 3,
            },
        ),
        "flatten" => outcome(
            codec,
            &Flattened {
                id: 7,
                extra: Extra {
                    color: "red".into(),
                    size: 2,
                },
            },
        ),
        "untagged enum" => outcome(
            codec,
            &vec![Untagged::Number(1), Untagged::Text("a".into())],
        ),
        "internally tagged enum" => outcome(codec, &Tagged::Circle { radius: 3 }),
        "serde_json::Value" => outcome(
            codec,
            &serde_json::json!({ "a": [1, "x", null, 2.5], "b": { "c": true } }),
        ),
        "Option<Option<T>>: Some(None)" => outcome(codec, &Some(None::<u8>)),
        "map with string keys" => outcome(codec, &HashMap::from([("a".to_owned(), 1u32)])),
        "map with integer keys" => outcome(codec, &BTreeMap::from([(1u64, "a".to_owned())])),
        "map with tuple keys" => outcome(codec, &BTreeMap::from([((1u8, 2u8), 3u8)])),
        "bytes (Vec<u8>)" => outcome(codec, &vec![0u8, 1, 255]),
        "f64::NAN" => {
            // NaN != NaN, so compare the bits.
            let mut bytes = Vec::new();
            if codec.encode(&f64::NAN, &mut bytes).is_err() {
                return EncodeError;
            }
            match codec.decode::<f64>(&bytes) {
                Ok(x) if x.is_nan() => Same,
                Ok(_) => Lossy,
                Err(_) => DecodeError,
            }
        }
        other => panic!("no shape called {other:?}"),
    })
}

#[test]
fn every_codec_handles_each_shape_as_documented() {
    let mut wrong = Vec::new();
    for (name, expected) in TABLE {
        let got = measured(name);
        if got != *expected {
            wrong.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A field skipped by `skip_serializing_if` shifts a positional codec's fields: the decode must
/// fail, never produce a value, whatever the remaining fields hold.
#[test]
fn a_skipped_field_never_decodes_to_a_wrong_value_with_a_positional_codec() {
    for codec in [CodecKind::Bincode, CodecKind::Postcard] {
        for count in [0u32, 1, 2, 127, 128, 300, u32::MAX] {
            for id in [0u64, 1, 255, 1 << 40] {
                let value = SkipIf {
                    id,
                    note: None,
                    count,
                };
                let mut bytes = Vec::new();
                codec.encode(&value, &mut bytes).expect("encodes");
                assert!(
                    codec.decode::<SkipIf>(&bytes).is_err(),
                    "{codec} id {id} count {count}"
                );
            }
        }
    }
}

/// A value with every field present round-trips with every codec, including
/// `skip_serializing_if` fields that are set.
#[test]
fn a_field_that_is_not_skipped_round_trips_everywhere() {
    let value = SkipIf {
        id: 7,
        note: Some("n".into()),
        count: 3,
    };
    for codec in CodecKind::ALL {
        assert_eq!(outcome(codec, &value), Same, "{codec}");
    }
}
