//! Type fingerprints: which name of a value's Rust type an envelope carries, by codec.

use crate::codec::CodecKind;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_step(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
}

/// A stable 64-bit fingerprint of `T`'s full name, module paths included (FNV-1a of
/// [`std::any::type_name`]): what entries written with a positional codec (bincode, postcard)
/// carry.
pub fn type_fingerprint<T: ?Sized>() -> u64 {
    std::any::type_name::<T>()
        .bytes()
        .fold(FNV_OFFSET, fnv_step)
}

/// Calls `keep` with the bytes of `name` without its module paths, last byte first: every
/// identifier followed by `::` is left out, so `alloc::vec::Vec<my_app::v2::Report>` gives
/// `Vec<Report>` backwards. Bytes past ASCII count as identifier bytes (Rust identifiers may be
/// Unicode).
///
/// One pass from the end with a fixed number of steps and no lookahead, so that for a
/// `type_name` (a constant) the compiler can fold the whole fingerprint into a constant.
#[inline(always)]
fn short_name_reversed(name: &str, mut keep: impl FnMut(u8)) {
    let bytes = name.as_bytes();
    let mut at = bytes.len();
    let mut in_path = false;
    while at > 0 {
        at -= 1;
        let byte = bytes[at];
        if byte == b':' && at > 0 && bytes[at - 1] == b':' {
            in_path = true;
            at -= 1;
            continue;
        }
        if in_path && (byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80) {
            continue;
        }
        in_path = false;
        keep(byte);
    }
}

/// `T`'s name without module paths (`Vec<Report>`), as the fingerprint of a self-describing
/// codec's entries covers it.
///
/// ```
/// use tiered_cache_core::envelope::short_type_name;
///
/// assert_eq!(short_type_name::<Vec<Option<String>>>(), "Vec<Option<String>>");
/// assert_eq!(short_type_name::<(u8, std::collections::HashMap<String, u8>)>(), "(u8, HashMap<String, u8>)");
/// ```
pub fn short_type_name<T: ?Sized>() -> String {
    let mut bytes = Vec::new();
    short_name_reversed(std::any::type_name::<T>(), |byte| bytes.push(byte));
    bytes.reverse();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// FNV-1a of `name` without module paths, read from its last byte.
#[inline(always)]
fn short_fingerprint(name: &str) -> u64 {
    let mut hash = FNV_OFFSET;
    short_name_reversed(name, |byte| hash = fnv_step(hash, byte));
    hash
}

/// The fingerprint an entry of `T` written with `codec` carries (what a read checks with
/// [`fingerprint_matches`]).
///
/// A positional codec (bincode, postcard) decodes only the exact type that wrote the bytes, so
/// its entries carry the full name ([`type_fingerprint`]): moving or renaming the type makes its
/// entries misses. A self-describing codec (msgpack, json) matches fields by name, so its
/// entries may be read by a type of the same name at another path: their fingerprint holds, in
/// its high 32 bits, those of the FNV-1a of the name without module paths ([`short_type_name`],
/// hashed from its last byte) and, in its low 32 bits, those of the full name's. A read accepts
/// either half, the full name's first: that one is a constant of `T`, so the usual read (the
/// type where it was) pays nothing for the check, and only a type that moved computes its short
/// name. So the type may move between modules or crates and gain `#[serde(default)]` fields and
/// still read what was stored, while a value of a differently named type (a `String` where a
/// `u64` is asked for) is refused before decoding. Renaming the type makes its entries misses
/// with every codec.
///
/// `std::any::type_name` is not guaranteed stable across compiler versions: a toolchain that
/// spells a name differently turns the entries it fingerprints differently into misses (never
/// into wrong values).
///
/// ```
/// use tiered_cache_core::codec::CodecKind;
/// use tiered_cache_core::envelope::{fingerprint_for, fingerprint_matches};
///
/// mod v1 { pub struct Report; }
/// mod v2 { pub struct Report; }
/// let msgpack = fingerprint_for::<v1::Report>(CodecKind::MessagePack);
/// assert!(fingerprint_matches::<v2::Report>(msgpack, CodecKind::MessagePack));
/// assert!(!fingerprint_matches::<String>(msgpack, CodecKind::MessagePack));
/// let postcard = fingerprint_for::<v1::Report>(CodecKind::Postcard);
/// assert!(!fingerprint_matches::<v2::Report>(postcard, CodecKind::Postcard));
/// ```
#[inline]
pub fn fingerprint_for<T: ?Sized>(codec: CodecKind) -> u64 {
    let full = type_fingerprint::<T>();
    if codec.is_self_describing() {
        (short_fingerprint(std::any::type_name::<T>()) & HIGH) | (full & !HIGH)
    } else {
        full
    }
}

/// Whether `stored`, the fingerprint of an entry written with `codec`, admits a read of `T`
/// (see [`fingerprint_for`]).
#[inline]
pub fn fingerprint_matches<T: ?Sized>(stored: u64, codec: CodecKind) -> bool {
    let full = type_fingerprint::<T>();
    if !codec.is_self_describing() {
        return stored == full;
    }
    // The full name's half is a constant; the short name is computed only for a moved type.
    stored & !HIGH == full & !HIGH
        || stored & HIGH == short_fingerprint(std::any::type_name::<T>()) & HIGH
}

/// The half of a self-describing codec's fingerprint that covers the name without paths.
const HIGH: u64 = 0xffff_ffff_0000_0000;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    mod before {
        pub struct Moved;
    }

    mod after {
        pub struct Moved;
    }

    #[test]
    fn a_moved_type_matches_only_with_a_self_describing_codec() {
        for codec in CodecKind::ALL {
            let stored = fingerprint_for::<before::Moved>(codec);
            assert!(fingerprint_matches::<before::Moved>(stored, codec));
            assert_eq!(
                fingerprint_matches::<after::Moved>(stored, codec),
                codec.is_self_describing(),
                "{codec}"
            );
            assert!(!fingerprint_matches::<String>(stored, codec));
            assert!(!fingerprint_matches::<Vec<before::Moved>>(stored, codec));
        }
        // Bincode entries keep the fingerprint they always had.
        assert_eq!(
            fingerprint_for::<String>(CodecKind::Bincode),
            type_fingerprint::<String>()
        );
    }

    #[test]
    fn short_names_leave_out_module_paths_only() {
        assert_eq!(short_type_name::<String>(), "String");
        assert_eq!(
            short_type_name::<BTreeMap<String, Vec<Option<u8>>>>(),
            "BTreeMap<String, Vec<Option<u8>>>"
        );
        assert_eq!(
            short_type_name::<(u8, [u16; 4], &str)>(),
            "(u8, [u16; 4], &str)"
        );
        assert_eq!(short_type_name::<crate::entry::EntryMeta>(), "EntryMeta");
        let short = |name: &str| {
            let mut kept = Vec::new();
            short_name_reversed(name, |b| kept.push(b));
            kept.reverse();
            kept
        };
        assert_eq!(short("a::b::C<d::E>"), b"C<E>");
        assert_eq!(short("módulo::Tipo"), b"Tipo");
        assert_eq!(short("(a::B, [c::D; 2])"), b"(B, [D; 2])");
        assert!(short("").is_empty());
        // The fingerprint hashes exactly those bytes, last first.
        let expected = b">E<C".iter().fold(FNV_OFFSET, |h, &b| fnv_step(h, b));
        assert_eq!(short_fingerprint("a::b::C<d::E>"), expected);
    }
}
