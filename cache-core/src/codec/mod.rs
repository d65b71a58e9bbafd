//! Value encodings. Each has an id stored in the envelope, so an entry stays readable whatever
//! codec a cache writes with today: the write side picks a codec (the config's
//! [`codec`](crate::CacheConfig::codec), or a call's `.codec(..)`), the read side decodes with
//! the one the entry names.
//!
//! | id | codec | [`CodecKind`] | spelled | kind |
//! |---:|---|---|---|---|
//! | 1 | [`Bincode`] | `Bincode` | `bincode` | positional, no schema (bincode 2, standard config) |
//! | 2 | [`MessagePack`] | `MessagePack` | `msgpack` | self-describing, named fields (`rmp-serde`) |
//! | 3 | [`Postcard`] | `Postcard` | `postcard` | positional, no schema, compact |
//! | 4 | [`Json`] | `Json` | `json` | self-describing text (`serde_json`) |
//!
//! Every built-in implements [`Codec`] with the same contract: `encode` appends to a buffer
//! (the envelope's header is already in it), `decode` takes exactly one whole value (trailing
//! bytes are an error) and never allocates more than the input can justify, whatever a length
//! prefix claims, so bytes from a damaged or hostile store are an error, not an abort.

mod bincode;
mod json;
mod kind;
mod msgpack;
mod postcard;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::bincode::Bincode;
pub use self::json::Json;
pub use self::kind::{CodecKind, ParseCodecError};
pub use self::msgpack::MessagePack;
pub use self::postcard::Postcard;

/// A serde format the cache can store values in: the interface each built-in codec
/// ([`Bincode`], [`MessagePack`], [`Postcard`], [`Json`]) implements, callable directly by tools
/// that read what a cache stored.
///
/// The cache chooses among the built-ins by [`CodecKind`], and the trait is sealed: a reader
/// decodes every entry with the codec its id names, through a `match` compiled for each value
/// type, which is what keeps the read path free of dynamic dispatch. A codec supplied from
/// outside would have to be called through a trait object, and `decode` is generic over the
/// value type, so that would need a type-erased deserializer (`erased-serde`) on every read of
/// such an entry.
///
/// ```
/// use tiered_cache_core::codec::{Codec, CodecKind, MessagePack};
///
/// let mut out = Vec::new();
/// MessagePack::encode(&vec![1u32, 2, 3], &mut out)?;
/// assert_eq!(MessagePack::decode::<Vec<u32>>(&out)?, [1, 2, 3]);
/// assert_eq!(MessagePack::KIND, CodecKind::MessagePack);
/// assert_eq!(MessagePack::ID, 2);
/// # Ok::<(), String>(())
/// ```
pub trait Codec: sealed::Sealed {
    /// The id written into every envelope encoded with this codec. Never reused.
    const ID: u8;
    /// The codec as a [`CodecKind`] (what the config and per-call options name).
    const KIND: CodecKind;

    /// Appends the encoding of `value` to `out`.
    ///
    /// # Errors
    /// The serializer's message when `value` cannot be encoded in this format.
    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String>;

    /// Decodes one whole value from `bytes`; trailing bytes are an error.
    ///
    /// # Errors
    /// The deserializer's message when `bytes` is not a `T` in this format.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Bincode {}
    impl Sealed for super::MessagePack {}
    impl Sealed for super::Postcard {}
    impl Sealed for super::Json {}
}

impl CodecKind {
    /// Appends the encoding of `value` to `out` with this codec.
    ///
    /// ```
    /// use tiered_cache_core::codec::CodecKind;
    ///
    /// let mut out = Vec::new();
    /// CodecKind::Json.encode(&("a", 1u8), &mut out)?;
    /// assert_eq!(out, br#"["a",1]"#);
    /// # Ok::<(), String>(())
    /// ```
    ///
    /// # Errors
    /// The serializer's message when `value` cannot be encoded in this format.
    #[inline]
    pub fn encode<T: Serialize + ?Sized>(self, value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            CodecKind::Bincode => Bincode::encode(value, out),
            CodecKind::MessagePack => MessagePack::encode(value, out),
            CodecKind::Postcard => Postcard::encode(value, out),
            CodecKind::Json => Json::encode(value, out),
        }
    }

    /// Decodes one whole value from `bytes` with this codec.
    ///
    /// ```
    /// use tiered_cache_core::codec::CodecKind;
    ///
    /// assert_eq!(CodecKind::Json.decode::<(String, u8)>(br#"["a",1]"#)?, ("a".to_owned(), 1));
    /// assert!(CodecKind::Json.decode::<(String, u8)>(b"[1,1]").is_err());
    /// # Ok::<(), String>(())
    /// ```
    ///
    /// # Errors
    /// The deserializer's message when `bytes` is not a `T` in this format.
    #[inline]
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, String> {
        match self {
            CodecKind::Bincode => Bincode::decode(bytes),
            CodecKind::MessagePack => MessagePack::decode(bytes),
            CodecKind::Postcard => Postcard::decode(bytes),
            CodecKind::Json => Json::decode(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<C: Codec>() {
        assert_eq!(C::ID, C::KIND.id());
        assert_eq!(CodecKind::from_id(C::ID), Some(C::KIND));
        let mut direct = Vec::new();
        C::encode(&("x", 7u64, Some(1.5f64)), &mut direct).expect("encodes");
        let mut dispatched = Vec::new();
        C::KIND
            .encode(&("x", 7u64, Some(1.5f64)), &mut dispatched)
            .expect("encodes");
        assert_eq!(direct, dispatched);
        assert_eq!(
            C::KIND
                .decode::<(String, u64, Option<f64>)>(&direct)
                .expect("decodes"),
            ("x".to_owned(), 7, Some(1.5))
        );
    }

    #[test]
    fn each_codec_and_its_kind_agree() {
        check::<Bincode>();
        check::<MessagePack>();
        check::<Postcard>();
        check::<Json>();
    }
}
