//! [`Bincode`]: bincode 2, the codec of every entry written before codecs could be chosen.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecKind};

/// bincode 2 with its standard configuration (varint integers, little endian): positional, no
/// schema. Id 1. The bincode project is unmaintained (RUSTSEC-2025-0141); this codec stays so
/// that entries stored with it remain readable.
///
/// Fields are written in order without names, so a value decodes only as the exact type that
/// wrote it: a type that gained a field cannot read its old entries (a decode error, so a
/// miss). Serde features that need a self-describing format fail: `flatten` cannot be encoded,
/// untagged enums and `serde_json::Value` cannot be decoded, and a field skipped by
/// `skip_serializing_if` shifts every field after it (usually a decode error).
///
/// Decoding bounds the bytes a length prefix can claim by the size of the input (rounded up to
/// a bucket), so a crafted prefix cannot make the cache allocate gigabytes.
///
/// ```
/// use tiered_cache_core::codec::{Bincode, Codec};
///
/// let mut out = Vec::new();
/// Bincode::encode(&(7u64, "x"), &mut out)?;
/// assert_eq!(out, [7, 1, b'x']);
/// assert_eq!(Bincode::decode::<(u64, String)>(&out)?, (7, "x".to_owned()));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Bincode;

/// Decodes with a claim limit of `LIMIT` bytes.
fn bincode_decode<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> Result<T, String> {
    let config = bincode::config::standard().with_limit::<LIMIT>();
    let (value, read) =
        bincode::serde::decode_from_slice::<T, _>(bytes, config).map_err(|e| e.to_string())?;
    if read != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the value",
            bytes.len() - read
        ));
    }
    Ok(value)
}

impl Codec for Bincode {
    const ID: u8 = 1;
    const KIND: CodecKind = CodecKind::Bincode;

    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        // Strings and byte buffers claim their length, and a valid one fits in the input;
        // sequences are pre-allocated by serde's cautious size hint. Buckets keep the number of
        // instantiations small.
        const KIB_64: usize = 64 * 1024;
        const MIB_4: usize = 4 * 1024 * 1024;
        const MIB_512: usize = 512 * 1024 * 1024;
        let len = bytes.len();
        if len <= KIB_64 {
            bincode_decode::<T, KIB_64>(bytes)
        } else if len <= MIB_4 {
            bincode_decode::<T, MIB_4>(bytes)
        } else {
            bincode_decode::<T, MIB_512>(bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct User {
        id: u64,
        name: String,
        tags: Vec<String>,
    }

    #[test]
    fn round_trips() {
        let user = User {
            id: 7,
            name: "Ada".into(),
            tags: vec!["x".into()],
        };
        let mut out = Vec::new();
        Bincode::encode(&user, &mut out).expect("encodes");
        assert_eq!(Bincode::decode::<User>(&out).expect("decodes"), user);
    }

    #[test]
    fn a_huge_length_prefix_is_refused_without_allocating_it() {
        // varint 0xFD = u64 follows: claims a 2^62-byte string.
        let mut crafted = vec![0xFD];
        crafted.extend_from_slice(&(1u64 << 62).to_le_bytes());
        crafted.extend_from_slice(b"abc");
        assert!(Bincode::decode::<String>(&crafted).is_err());
        assert!(Bincode::decode::<Vec<u8>>(&crafted).is_err());
        assert!(Bincode::decode::<Vec<u64>>(&crafted).is_err());
    }

    #[test]
    fn trailing_and_missing_bytes_are_errors() {
        let mut out = Vec::new();
        Bincode::encode(&5u32, &mut out).expect("encodes");
        out.push(0);
        assert!(Bincode::decode::<u32>(&out).is_err());
        assert!(Bincode::decode::<User>(&[1, 2]).is_err());
    }
}
