//! [`CodecKind`]: the codec a cache (or one call) writes with, its id in the envelope, and its
//! spelling in config files and environment variables.

use std::fmt;
use std::str::FromStr;

/// The codec a cache writes values with: [`CacheConfig::codec`](crate::CacheConfig::codec) for
/// the whole cache, `.codec(..)` on a write or a load for one call. Reads never need it: every
/// entry names the codec it was written with, and is decoded with that one, so entries written
/// by another codec (an older default, another service) stay readable.
///
/// | variant | spelled | id | reads entries of an older version of the type | the bench's `Item` / `Record` |
/// |---|---|---:|---|---:|
/// | `MessagePack` (default) | `msgpack` | 2 | yes, when fields were added with `#[serde(default)]` (or as `Option`), removed or reordered, or the type moved to another module | 32 B / 594 B |
/// | `Bincode` | `bincode` | 1 | no: any change of the fields is a miss | 23 B / 450 B |
/// | `Postcard` | `postcard` | 3 | no: any change of the fields is a miss | 23 B / 445 B |
/// | `Json` | `json` | 4 | like `msgpack` | 40 B / 685 B |
///
/// **Why MessagePack is the default.** It stores field names, so a type that gained an optional
/// field still reads the entries its previous version wrote, and the serde features that need
/// a self-describing format (`flatten`, untagged and internally tagged enums,
/// `serde_json::Value`, `skip_serializing_if`) work; with `bincode` or `postcard` they fail to
/// encode or decode. Measured on the bench's values (`cargo run --release -p
/// tiered-cache-bench -- --only codec`), it stores about a third more bytes than `postcard`
/// (the field names) and decodes in 1.0 to 1.9 times bincode's time (tens of nanoseconds for a
/// small record, at most about a microsecond more for a 450-byte one), where an L2 read is a
/// Redis round trip of about 60 µs and an L1 hit decodes nothing. `bincode` 2 is unmaintained
/// (RUSTSEC-2025-0141) and stays for reading (and, if asked, writing) entries stored before;
/// `postcard` is the compact, fastest-decoding choice for types that never change shape;
/// `json` is for entries people or other languages read (the largest and slowest).
///
/// Entries are fingerprinted by their Rust type's name: for `bincode` and `postcard` the full
/// path (`my_app::model::Report`, so moving the type is a miss), for `msgpack` and `json` also
/// the name without module paths (`Report`, `Vec<Report>`), since fields are matched by name
/// (see [`fingerprint_for`](crate::envelope::fingerprint_for)).
///
/// **Changing the codec in a running fleet.** New entries are written with the new codec, old
/// ones stay readable. A binary older than the codec's introduction cannot read the new id: it
/// counts a decode error, treats the entry as a miss, loads and overwrites it with its own
/// codec. That costs extra loads while old and new binaries run side by side, never a wrong
/// value. To avoid them, deploy the new binary with the old codec configured first, then switch
/// the setting.
///
/// ```
/// use tiered_cache_core::CacheConfig;
/// use tiered_cache_core::codec::CodecKind;
///
/// assert_eq!(CacheConfig::default().codec, CodecKind::MessagePack);
/// assert_eq!("postcard".parse::<CodecKind>(), Ok(CodecKind::Postcard));
/// assert_eq!(CodecKind::Json.to_string(), "json");
/// assert_eq!(CodecKind::from_id(1), Some(CodecKind::Bincode));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecKind {
    /// bincode 2, standard config: positional, compact, no schema. Id 1, the only codec of
    /// entries written before codecs could be chosen.
    Bincode,
    /// MessagePack with named fields (`rmp-serde`): self-describing. Id 2. The default.
    #[default]
    MessagePack,
    /// postcard: positional, compact, no schema. Id 3.
    Postcard,
    /// JSON (`serde_json`): self-describing text. Id 4.
    Json,
}

impl CodecKind {
    /// Every codec, by id.
    pub const ALL: [CodecKind; 4] = [
        CodecKind::Bincode,
        CodecKind::MessagePack,
        CodecKind::Postcard,
        CodecKind::Json,
    ];

    /// The id stored in the envelope (byte 4).
    pub const fn id(self) -> u8 {
        match self {
            CodecKind::Bincode => 1,
            CodecKind::MessagePack => 2,
            CodecKind::Postcard => 3,
            CodecKind::Json => 4,
        }
    }

    /// The codec of an envelope's id, when this build knows it.
    pub const fn from_id(id: u8) -> Option<CodecKind> {
        match id {
            1 => Some(CodecKind::Bincode),
            2 => Some(CodecKind::MessagePack),
            3 => Some(CodecKind::Postcard),
            4 => Some(CodecKind::Json),
            _ => None,
        }
    }

    /// The spelling in files, variables, errors and logs: `bincode`, `msgpack`, `postcard`,
    /// `json`.
    pub const fn name(self) -> &'static str {
        match self {
            CodecKind::Bincode => "bincode",
            CodecKind::MessagePack => "msgpack",
            CodecKind::Postcard => "postcard",
            CodecKind::Json => "json",
        }
    }

    /// Whether the format carries field names, so a type may gain `#[serde(default)]` fields
    /// and still read what its previous version wrote (and serde features that need
    /// `deserialize_any`, such as `flatten` and untagged enums, work).
    pub const fn is_self_describing(self) -> bool {
        matches!(self, CodecKind::MessagePack | CodecKind::Json)
    }
}

impl fmt::Display for CodecKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A codec name that is none of `bincode`, `msgpack`, `postcard`, `json`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown codec {given:?} (known: bincode, msgpack, postcard, json)")]
pub struct ParseCodecError {
    given: String,
}

impl FromStr for CodecKind {
    type Err = ParseCodecError;

    /// A codec's [`name`](CodecKind::name), in any case and surrounded by any whitespace;
    /// `messagepack` is accepted for `msgpack`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let found = CodecKind::ALL
            .into_iter()
            .find(|kind| text.eq_ignore_ascii_case(kind.name()));
        match found {
            Some(kind) => Ok(kind),
            None if text.eq_ignore_ascii_case("messagepack") => Ok(CodecKind::MessagePack),
            None => Err(ParseCodecError {
                given: text.chars().take(40).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_names_and_spellings_round_trip() {
        for kind in CodecKind::ALL {
            assert_eq!(CodecKind::from_id(kind.id()), Some(kind));
            assert_eq!(kind.name().parse::<CodecKind>(), Ok(kind));
            assert_eq!(
                kind.to_string().to_uppercase().parse::<CodecKind>(),
                Ok(kind)
            );
        }
        assert_eq!(" MessagePack ".parse(), Ok(CodecKind::MessagePack));
        assert_eq!(CodecKind::from_id(0), None);
        assert_eq!(CodecKind::from_id(5), None);
        let error = "yaml".parse::<CodecKind>().expect_err("unknown");
        assert_eq!(
            error.to_string(),
            r#"unknown codec "yaml" (known: bincode, msgpack, postcard, json)"#
        );
    }
}
