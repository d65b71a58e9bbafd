//! Value encodings. Each has an id stored in the envelope, so entries written with one codec
//! stay readable (or are cleanly refused) after another is added.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A serde format the cache can store values in.
pub trait Codec {
    /// The id written into every envelope encoded with this codec. Never reuse one.
    const ID: u8;

    /// Appends the encoding of `value` to `out`.
    ///
    /// # Errors
    /// The serializer's message when `value` cannot be encoded.
    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String>;

    /// Decodes a whole value from `bytes`; trailing bytes are an error.
    ///
    /// # Errors
    /// The deserializer's message when `bytes` is not a `T`.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String>;
}

/// bincode 2 with its standard configuration (varint integers, little endian).
///
/// Decoding bounds the bytes a length prefix can claim by the size of the input (rounded up to
/// a bucket), so a crafted prefix cannot make the cache allocate gigabytes.
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
