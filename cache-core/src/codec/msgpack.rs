//! [`MessagePack`]: self-describing binary with named fields, the default codec.

use std::{fmt, io};

use serde::Serialize;
use serde::de::{DeserializeOwned, Visitor};

use super::{Codec, CodecKind};

/// Deepest nesting of arrays and maps a value may have. `rmp-serde` allows 1024, deep enough
/// for a hostile payload decoded as a recursive type (`serde_json::Value`) to overflow a
/// thread's stack; 128 is `serde_json`'s own limit.
const MAX_DEPTH: usize = 128;

/// MessagePack through `rmp-serde`, structs written as maps keyed by field name. Id 2.
///
/// Because fields are named, a type may gain a field marked `#[serde(default)]` (or an
/// `Option`) and still read what its previous version wrote, fields may be reordered, and
/// unknown fields are skipped. The serde features that need a self-describing format work:
/// `flatten`, untagged and internally tagged enums, `serde_json::Value`,
/// `skip_serializing_if`. The price is the field names in every value.
///
/// Decoding borrows strings and byte arrays from the input, which bounds every length prefix
/// by the input's size; sequences are pre-allocated by serde's cautious size hint, and nesting
/// is limited to 128 levels.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tiered_cache_core::codec::{Codec, MessagePack};
///
/// #[derive(Serialize)]
/// struct V1 { id: u64 }
/// #[derive(Deserialize, Debug, PartialEq)]
/// struct V2 { id: u64, #[serde(default)] note: Option<String> }
///
/// let mut out = Vec::new();
/// MessagePack::encode(&V1 { id: 7 }, &mut out)?;
/// assert_eq!(MessagePack::decode::<V2>(&out)?, V2 { id: 7, note: None });
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MessagePack;

impl Codec for MessagePack {
    const ID: u8 = 2;
    const KIND: CodecKind = CodecKind::MessagePack;

    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        value
            .serialize(&mut rmp_serde::Serializer::new(out).with_struct_map())
            .map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
        de.set_max_depth(MAX_DEPTH);
        let value = T::deserialize(&mut de).map_err(|e| e.to_string())?;
        // The deserializer does not expose what it left unread, so it is asked for one more
        // value with a visitor that refuses whatever it is shown: only an input with nothing
        // left fails on reading the first marker, before any visit.
        match serde::Deserializer::deserialize_any(&mut de, NothingLeft) {
            Err(rmp_serde::decode::Error::InvalidMarkerRead(e))
                if e.kind() == io::ErrorKind::UnexpectedEof =>
            {
                Ok(value)
            }
            _ => Err("trailing bytes after the value".to_owned()),
        }
    }
}

/// A visitor that accepts nothing (every `visit_*` is serde's default, an error), so probing
/// with it reads no further than the first marker.
struct NothingLeft;

impl Visitor<'_> for NothingLeft {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the end of the input")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_and_missing_bytes_are_errors() {
        let mut out = Vec::new();
        MessagePack::encode(&5u32, &mut out).expect("encodes");
        assert_eq!(MessagePack::decode::<u32>(&out), Ok(5));
        for trailing in [
            &[0xc0][..],
            &[0xa5, b'a'],
            &[0x91],
            &[0x92, 0xc0],
            &[0xc1],
            &[0xd4],
        ] {
            let mut longer = out.clone();
            longer.extend_from_slice(trailing);
            assert!(MessagePack::decode::<u32>(&longer).is_err(), "{trailing:?}");
        }
        assert!(MessagePack::decode::<u32>(&[]).is_err());
        assert!(MessagePack::decode::<String>(&[0xa5, b'a']).is_err());
    }

    #[test]
    fn huge_length_claims_are_refused_without_allocating_them() {
        // str32 / bin32 / array32 / map32 claiming 4 GiB - 1 with three bytes behind them.
        for marker in [0xdb, 0xc6, 0xdd, 0xdf] {
            let crafted = [marker, 0xff, 0xff, 0xff, 0xff, 1, 2, 3];
            assert!(MessagePack::decode::<String>(&crafted).is_err());
            assert!(MessagePack::decode::<Vec<u8>>(&crafted).is_err());
            assert!(MessagePack::decode::<Vec<u64>>(&crafted).is_err());
            assert!(MessagePack::decode::<serde_json::Value>(&crafted).is_err());
            assert!(
                MessagePack::decode::<std::collections::HashMap<String, u8>>(&crafted).is_err()
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_it_exhausts_the_stack() {
        // 100 000 nested one-element arrays.
        let crafted = vec![0x91; 100_000];
        let error = MessagePack::decode::<serde_json::Value>(&crafted).expect_err("too deep");
        assert!(error.contains("depth"), "{error}");
        let nested = [0x91; 100].into_iter().chain([0x90]).collect::<Vec<_>>();
        assert!(MessagePack::decode::<serde_json::Value>(&nested).is_ok());
        let too_deep = [0x91; MAX_DEPTH]
            .into_iter()
            .chain([0x90])
            .collect::<Vec<_>>();
        assert!(MessagePack::decode::<serde_json::Value>(&too_deep).is_err());
    }
}
