//! [`Json`]: self-describing text.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecKind};

/// JSON through `serde_json`. Id 4. Self-describing like [`MessagePack`](super::MessagePack)
/// (added `#[serde(default)]` fields, `flatten`, untagged enums and `serde_json::Value` work),
/// readable by people and other languages, and the largest and slowest of the codecs.
///
/// JSON has no byte strings (a `Vec<u8>` is an array of numbers), map keys must be strings or
/// numbers (a map keyed by a tuple cannot be encoded), and a non-finite float is written as
/// `null`, which then does not decode as a float (a decode error, so a miss).
///
/// Decoding allocates only for what the input holds (JSON has no length prefixes) and limits
/// nesting to 128 levels. A top-level number has no end marker, so a number payload cut short
/// in the store (`42` to `4`) still parses; Redis stores each entry whole, so only bytes
/// damaged inside the store could show this.
///
/// ```
/// use tiered_cache_core::codec::{Codec, Json};
///
/// let mut out = Vec::new();
/// Json::encode(&serde_json::json!({ "id": 7 }), &mut out)?;
/// assert_eq!(out, br#"{"id":7}"#);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

impl Codec for Json {
    const ID: u8 = 4;
    const KIND: CodecKind = CodecKind::Json;

    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        serde_json::to_writer(out, value).map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        // Trailing bytes other than whitespace are an error.
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_and_deep_nesting_are_errors() {
        assert_eq!(Json::decode::<u8>(b"5"), Ok(5));
        assert!(Json::decode::<u8>(b"5 6").is_err());
        let deep = "[".repeat(100_000);
        assert!(Json::decode::<serde_json::Value>(deep.as_bytes()).is_err());
    }

    #[test]
    fn a_non_finite_float_encodes_but_does_not_decode() {
        let mut out = Vec::new();
        Json::encode(&f64::NAN, &mut out).expect("encodes as null");
        assert_eq!(out, b"null");
        assert!(Json::decode::<f64>(&out).is_err());
    }
}
