//! [`Postcard`]: the compact positional codec.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecKind};

/// postcard: positional, varint integers, no schema. Id 3. The smallest encoding, for types
/// that never change shape.
///
/// Like [`Bincode`](super::Bincode), a value decodes only as the exact type that wrote it (a
/// type that gained a field reads its old entries as decode errors, so misses) and the serde
/// features that need a self-describing format fail: `flatten` cannot be encoded, untagged
/// enums and `serde_json::Value` cannot be decoded, `skip_serializing_if` shifts the fields
/// after the skipped one.
///
/// Decoding borrows strings and byte arrays from the input, which bounds every length prefix by
/// the input's size, and sequences pre-allocate only what the remaining input could hold.
///
/// ```
/// use tiered_cache_core::codec::{Codec, Postcard};
///
/// let mut out = Vec::new();
/// Postcard::encode(&(300u64, "x"), &mut out)?;
/// assert_eq!(out, [0xac, 0x02, 1, b'x']);
/// assert_eq!(Postcard::decode::<(u64, String)>(&out)?, (300, "x".to_owned()));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Postcard;

impl Codec for Postcard {
    const ID: u8 = 3;
    const KIND: CodecKind = CodecKind::Postcard;

    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        // postcard extends a writer it owns: lend it the buffer and take it back.
        let buffer = std::mem::take(out);
        match postcard::to_extend(value, buffer) {
            Ok(buffer) => {
                *out = buffer;
                Ok(())
            }
            Err(error) => Err(error.to_string()),
        }
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| e.to_string())?;
        if !rest.is_empty() {
            return Err(format!("{} trailing bytes after the value", rest.len()));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_appends_to_what_is_there() {
        let mut out = vec![9, 9];
        Postcard::encode(&1u8, &mut out).expect("encodes");
        assert_eq!(out, [9, 9, 1]);
    }

    #[test]
    fn trailing_and_missing_bytes_are_errors() {
        assert_eq!(Postcard::decode::<u8>(&[5]), Ok(5));
        assert!(Postcard::decode::<u8>(&[5, 0]).is_err());
        assert!(Postcard::decode::<u32>(&[]).is_err());
        assert!(Postcard::decode::<String>(&[3, b'a']).is_err());
    }

    #[test]
    fn huge_length_claims_are_refused_without_allocating_them() {
        // A varint claiming 2^62 elements or bytes, then three bytes.
        let crafted = [
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1, 2, 3,
        ];
        assert!(Postcard::decode::<String>(&crafted).is_err());
        assert!(Postcard::decode::<Vec<u8>>(&crafted).is_err());
        assert!(Postcard::decode::<Vec<u64>>(&crafted).is_err());
        assert!(Postcard::decode::<std::collections::HashMap<String, u8>>(&crafted).is_err());
    }
}
