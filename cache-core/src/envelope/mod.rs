//! The stored form of an entry: a versioned header with the timeline, then the payload.
//!
//! ```text
//! offset size field
//!      0    2 magic "TC"
//!      2    1 format version (1)
//!      3    1 kind: 0 value, 1 tombstone (an invalidation marker)
//!      4    1 codec id (CodecKind::id: 1 bincode, 2 msgpack, 3 postcard, 4 json)
//!      5    8 created stamp              (big-endian, like every integer here)
//!     13    8 fresh_until, wall-clock ms
//!     21    8 expires_at,  wall-clock ms
//!     29    8 keep_until,  wall-clock ms (fail-safe grace end)
//!     37    8 type fingerprint (FNV-1a of the Rust type name, see fingerprint_for)
//!     45    2 tag count n, then n x (2-byte length, UTF-8 tag)
//!      .    . payload (codec bytes, to the end)
//! ```
//! The created stamp sits at a fixed offset so that Redis-side scripts can compare it
//! ([`CREATED_OFFSET`]). Anything that does not parse is a [`DecodeError`], which the engine
//! counts and treats as a miss.
//!
//! The payload is decoded with the codec the header names, whatever codec the reading cache
//! writes with. Tombstones carry no payload and always name bincode (id 1), which every build
//! reads, so an invalidation is understood by binaries older than the other codecs too.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::Stamp;
use crate::codec::CodecKind;
use crate::entry::EntryMeta;
use crate::error::CacheError;

mod fingerprint;

pub use fingerprint::{fingerprint_for, fingerprint_matches, short_type_name, type_fingerprint};

/// The first two bytes of every envelope.
pub const MAGIC: [u8; 2] = *b"TC";
/// The envelope format this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Byte offset of the big-endian created stamp.
pub const CREATED_OFFSET: usize = 5;
/// Length of the fixed part of the header.
const FIXED_LEN: usize = 47;
const KIND_VALUE: u8 = 0;
const KIND_TOMBSTONE: u8 = 1;
/// Most tags one entry can carry.
pub const MAX_TAGS: usize = 64;

/// Why stored bytes are not an entry this build can use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not written by tiered-cache (or empty).
    #[error("not a tiered-cache envelope (bad magic)")]
    Foreign,
    /// Written by another format version.
    #[error("envelope format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u8),
    /// Written with a codec this build does not know (a newer build's).
    #[error("unknown codec id {0}")]
    Codec(u8),
    /// Cut short.
    #[error("truncated envelope")]
    Truncated,
    /// Written for another Rust type.
    #[error("stored value is of another type")]
    TypeMismatch,
    /// The payload does not decode as the requested type.
    #[error("`{type_name}` could not be decoded with {codec}: {reason}")]
    Payload {
        /// The Rust type asked for.
        type_name: &'static str,
        /// The codec the envelope names.
        codec: CodecKind,
        /// The codec's message.
        reason: String,
    },
}

/// A parsed header, borrowing the stored bytes.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// The entry's timeline.
    pub meta: EntryMeta,
    /// True for an invalidation marker (no value).
    pub tombstone: bool,
    codec: CodecKind,
    type_fingerprint: u64,
    tags_raw: &'a [u8],
    tag_count: usize,
    payload: &'a [u8],
}

fn write_header(
    out: &mut Vec<u8>,
    kind: u8,
    codec: CodecKind,
    meta: &EntryMeta,
    fingerprint: u64,
    tags: &[&str],
) {
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.push(kind);
    out.push(codec.id());
    out.extend_from_slice(&meta.created.raw().to_be_bytes());
    out.extend_from_slice(&meta.fresh_until_ms.to_be_bytes());
    out.extend_from_slice(&meta.expires_at_ms.to_be_bytes());
    out.extend_from_slice(&meta.keep_until_ms.to_be_bytes());
    out.extend_from_slice(&fingerprint.to_be_bytes());
    // Callers bound tags (MAX_TAGS, namespace-sized names), so these fit.
    out.extend_from_slice(&(tags.len() as u16).to_be_bytes());
    for tag in tags {
        out.extend_from_slice(&(tag.len() as u16).to_be_bytes());
        out.extend_from_slice(tag.as_bytes());
    }
}

/// Encodes a value entry with `codec`, refusing it when larger than `max_size`.
///
/// # Errors
/// [`CacheError::Serialize`] (naming the type and the codec) or [`CacheError::ValueTooLarge`].
pub fn encode_value<T: Serialize + ?Sized>(
    value: &T,
    codec: CodecKind,
    meta: &EntryMeta,
    tags: &[&str],
    max_size: usize,
) -> Result<Vec<u8>, CacheError> {
    let mut out = Vec::with_capacity(64);
    let fingerprint = fingerprint_for::<T>(codec);
    write_header(&mut out, KIND_VALUE, codec, meta, fingerprint, tags);
    codec.encode(value, &mut out).map_err(|reason| {
        CacheError::Serialize(format!(
            "`{}` could not be encoded with {codec}: {reason}",
            std::any::type_name::<T>()
        ))
    })?;
    if out.len() > max_size {
        return Err(CacheError::ValueTooLarge {
            size: out.len(),
            max: max_size,
        });
    }
    Ok(out)
}

/// Encodes an invalidation marker created at `meta.created`.
pub fn encode_tombstone(meta: &EntryMeta) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED_LEN);
    write_header(&mut out, KIND_TOMBSTONE, CodecKind::Bincode, meta, 0, &[]);
    out
}

fn be_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(word)
}

fn be_u16(bytes: &[u8], at: usize) -> Option<usize> {
    let pair = bytes.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([pair[0], pair[1]])))
}

/// Parses the header of stored bytes.
///
/// # Errors
/// A [`DecodeError`] when the bytes are not an envelope this build reads.
pub fn decode(bytes: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    if bytes.len() < 3 || bytes[..2] != MAGIC {
        return Err(DecodeError::Foreign);
    }
    if bytes[2] != FORMAT_VERSION {
        return Err(DecodeError::Version(bytes[2]));
    }
    if bytes.len() < FIXED_LEN {
        return Err(DecodeError::Truncated);
    }
    let tombstone = match bytes[3] {
        KIND_VALUE => false,
        KIND_TOMBSTONE => true,
        _ => return Err(DecodeError::Foreign),
    };
    let codec = CodecKind::from_id(bytes[4]).ok_or(DecodeError::Codec(bytes[4]))?;
    let meta = EntryMeta {
        created: Stamp::from_raw(be_u64(bytes, CREATED_OFFSET)),
        fresh_until_ms: be_u64(bytes, 13),
        expires_at_ms: be_u64(bytes, 21),
        keep_until_ms: be_u64(bytes, 29),
    };
    let type_fingerprint = be_u64(bytes, 37);
    let tag_count = be_u16(bytes, 45).ok_or(DecodeError::Truncated)?;
    let mut at = FIXED_LEN;
    for _ in 0..tag_count {
        let len = be_u16(bytes, at).ok_or(DecodeError::Truncated)?;
        let tag = bytes
            .get(at + 2..at + 2 + len)
            .ok_or(DecodeError::Truncated)?;
        std::str::from_utf8(tag).map_err(|_| DecodeError::Foreign)?;
        at += 2 + len;
    }
    Ok(Envelope {
        meta,
        tombstone,
        codec,
        type_fingerprint,
        tags_raw: &bytes[FIXED_LEN..at],
        tag_count,
        payload: &bytes[at..],
    })
}

impl<'a> Envelope<'a> {
    /// The value, when the envelope holds a `T`, decoded with the codec the envelope names.
    ///
    /// # Errors
    /// [`DecodeError::TypeMismatch`] when the fingerprint is not `T`'s
    /// ([`fingerprint_for`]), or [`DecodeError::Payload`] (naming `T` and the codec).
    #[inline]
    pub fn value<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        if !fingerprint_matches::<T>(self.type_fingerprint, self.codec) {
            return Err(DecodeError::TypeMismatch);
        }
        self.codec
            .decode(self.payload)
            .map_err(|reason| DecodeError::Payload {
                type_name: std::any::type_name::<T>(),
                codec: self.codec,
                reason,
            })
    }

    /// Whether the fingerprint admits a read of `T` with this envelope's codec
    /// ([`fingerprint_matches`]).
    pub fn holds<T: ?Sized>(&self) -> bool {
        fingerprint_matches::<T>(self.type_fingerprint, self.codec)
    }

    /// The codec the payload was written with (bincode for a tombstone).
    pub fn codec(&self) -> CodecKind {
        self.codec
    }

    /// The payload's bytes as the codec wrote them (empty for a tombstone). Decoding them
    /// needs the type they were written as: see [`Envelope::value`].
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The fingerprint of the stored value's type ([`fingerprint_for`]; 0 for a tombstone).
    pub fn type_fingerprint(&self) -> u64 {
        self.type_fingerprint
    }

    /// The entry's tags.
    pub fn tags(&self) -> impl Iterator<Item = &'a str> + 'a {
        let raw = self.tags_raw;
        let mut at = 0;
        (0..self.tag_count).filter_map(move |_| {
            let len = be_u16(raw, at)?;
            let tag = raw.get(at + 2..at + 2 + len)?;
            at += 2 + len;
            std::str::from_utf8(tag).ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn meta() -> EntryMeta {
        EntryMeta::new(
            Stamp::from_millis(1_000),
            1_000,
            Duration::from_secs(300),
            Duration::from_secs(60),
            Duration::ZERO,
        )
    }

    #[test]
    fn round_trips_value_meta_and_tags_with_every_codec() {
        for codec in CodecKind::ALL {
            let bytes = encode_value(&"hello".to_owned(), codec, &meta(), &["a", "bc"], 1024)
                .expect("fits");
            assert_eq!(bytes[4], codec.id(), "the codec byte");
            let env = decode(&bytes).expect("parses");
            assert!(!env.tombstone);
            assert_eq!(env.codec(), codec);
            assert_eq!(env.meta, meta());
            assert_eq!(env.tags().collect::<Vec<_>>(), ["a", "bc"]);
            assert_eq!(env.value::<String>().expect("decodes"), "hello");
            assert!(env.holds::<String>());
            assert_eq!(env.type_fingerprint(), fingerprint_for::<String>(codec));
            assert_eq!(&bytes[bytes.len() - env.payload().len()..], env.payload());
        }
    }

    #[test]
    fn bincode_entries_keep_the_full_name_fingerprint_they_always_had() {
        let bytes = encode_value(&1u8, CodecKind::Bincode, &meta(), &[], 1024).expect("fits");
        let env = decode(&bytes).expect("parses");
        assert_eq!(env.type_fingerprint(), type_fingerprint::<u8>());
    }

    #[test]
    fn the_fingerprint_still_tells_types_apart_with_self_describing_codecs() {
        for codec in [CodecKind::MessagePack, CodecKind::Json] {
            let bytes = encode_value(&7u64, codec, &meta(), &[], 1024).expect("fits");
            let env = decode(&bytes).expect("parses");
            assert_eq!(env.value::<u64>(), Ok(7));
            assert_eq!(env.value::<u32>(), Err(DecodeError::TypeMismatch));
            assert_eq!(env.value::<String>(), Err(DecodeError::TypeMismatch));
        }
    }

    #[test]
    fn created_stamp_is_at_the_documented_offset() {
        let bytes = encode_tombstone(&meta());
        assert_eq!(
            &bytes[CREATED_OFFSET..CREATED_OFFSET + 8],
            &meta().created.raw().to_be_bytes()
        );
        assert_eq!(bytes[4], CodecKind::Bincode.id(), "readable by every build");
        assert!(decode(&bytes).expect("parses").tombstone);
    }

    #[test]
    fn foreign_and_damaged_bytes_are_errors_not_panics() {
        for codec in CodecKind::ALL {
            // A string: its end is marked in every codec (a JSON number's is not, see `Json`).
            let value = "forty-two".to_owned();
            let good = encode_value(&value, codec, &meta(), &["t"], 1024).expect("fits");
            assert_eq!(decode(b"").unwrap_err(), DecodeError::Foreign);
            assert_eq!(decode(b"hello world").unwrap_err(), DecodeError::Foreign);
            let mut newer = good.clone();
            newer[2] = 9;
            assert_eq!(decode(&newer).unwrap_err(), DecodeError::Version(9));
            let mut unknown = good.clone();
            unknown[4] = 5;
            assert_eq!(decode(&unknown).unwrap_err(), DecodeError::Codec(5));
            for cut in 3..good.len() {
                let truncated = &good[..cut];
                match decode(truncated) {
                    Err(_) => {}
                    Ok(env) => assert!(env.value::<String>().is_err(), "{codec} cut at {cut}"),
                }
            }
            let env = decode(&good).expect("parses");
            assert_eq!(env.value::<u64>().unwrap_err(), DecodeError::TypeMismatch);
        }
    }

    #[test]
    fn a_payload_that_does_not_decode_names_the_type_and_the_codec() {
        let mut bytes = encode_value(&42u64, CodecKind::Json, &meta(), &[], 1024).expect("fits");
        bytes.pop();
        bytes.push(b'x');
        let error = decode(&bytes)
            .expect("parses")
            .value::<u64>()
            .expect_err("not JSON");
        assert!(matches!(
            error,
            DecodeError::Payload {
                type_name: "u64",
                codec: CodecKind::Json,
                ..
            }
        ));
        assert!(
            error
                .to_string()
                .starts_with("`u64` could not be decoded with json: "),
            "{error}"
        );
    }

    #[test]
    fn a_value_that_does_not_encode_names_the_type_and_the_codec() {
        // JSON map keys must be strings or numbers.
        let value = BTreeMap::from([((1u8, 2u8), 3u8)]);
        let error = encode_value(&value, CodecKind::Json, &meta(), &[], 1024).expect_err("refused");
        let CacheError::Serialize(message) = error else {
            panic!("expected Serialize, got {error:?}");
        };
        assert!(
            message.starts_with(
                "`alloc::collections::btree::map::BTreeMap<(u8, u8), u8>` could not be encoded \
                 with json: "
            ),
            "{message}"
        );
    }

    #[test]
    fn oversized_values_are_refused() {
        let big = vec![7u8; 2048];
        for codec in CodecKind::ALL {
            match encode_value(&big, codec, &meta(), &[], 1024) {
                Err(CacheError::ValueTooLarge { size, max: 1024 }) => assert!(size > 1024),
                other => panic!("expected ValueTooLarge, got {other:?}"),
            }
        }
    }
}
