//! Showing a payload. A self-describing codec's payload (msgpack, json) carries its field
//! names, so the CLI shows it as JSON whatever its Rust type. A positional codec's (bincode,
//! postcard) carries no type information, so it can be decoded only as the type it was written
//! as: the envelope holds a fingerprint of that type's name, and when it is one of the common
//! types below the CLI decodes it exactly (the library's own `Envelope::value` checks the
//! fingerprint); otherwise it shows hex and printable ASCII.

use std::fmt::Write as _;

use tiered_cache::engine::envelope::Envelope;

/// A self-describing payload as one line of JSON; `None` for a positional codec. An error when
/// the payload does not decode.
pub fn as_json(entry: &Envelope<'_>) -> Option<Result<String, String>> {
    let codec = entry.codec();
    if !codec.is_self_describing() {
        return None;
    }
    Some(
        codec
            .decode::<serde_json::Value>(entry.payload())
            .map(|value| value.to_string()),
    )
}

/// The value as text, when the entry holds one of the types the CLI knows by fingerprint:
/// `(type name, Debug rendering)`.
pub fn typed(entry: &Envelope<'_>) -> Option<(&'static str, String)> {
    macro_rules! try_types {
        ($($ty:ty),* $(,)?) => {$(
            if let Ok(value) = entry.value::<$ty>() {
                return Some((std::any::type_name::<$ty>(), format!("{value:?}")));
            }
        )*};
    }
    try_types!(
        String,
        bool,
        char,
        u8,
        u16,
        u32,
        u64,
        u128,
        usize,
        i8,
        i16,
        i32,
        i64,
        i128,
        isize,
        f32,
        f64,
        (),
        Vec<u8>,
        Vec<String>,
        Vec<u64>,
        Vec<i64>,
        Option<String>,
        Option<u64>,
        Option<i64>,
    );
    None
}

/// A classic hex dump of at most `max` bytes: offset, 16 bytes in hex, printable ASCII (`.`
/// for the rest), then how many bytes were left out.
pub fn hex_dump(bytes: &[u8], max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let mut out = String::new();
    for (row, chunk) in shown.chunks(16).enumerate() {
        let _ = write!(out, "  {:08x}  ", row * 16);
        for column in 0..16 {
            match chunk.get(column) {
                Some(byte) => {
                    let _ = write!(out, "{byte:02x} ");
                }
                None => out.push_str("   "),
            }
            if column == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        out.extend(chunk.iter().map(|&byte| {
            if byte.is_ascii_graphic() || byte == b' ' {
                char::from(byte)
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
    if bytes.len() > shown.len() {
        let _ = writeln!(
            out,
            "  ... {} more bytes (--max-bytes to see more)",
            bytes.len() - shown.len()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tiered_cache::codec::CodecKind;
    use tiered_cache::engine::Stamp;
    use tiered_cache::engine::entry::EntryMeta;
    use tiered_cache::engine::envelope;

    fn stored<T: serde::Serialize>(value: &T) -> Vec<u8> {
        stored_with(value, CodecKind::Bincode)
    }

    fn stored_with<T: serde::Serialize>(value: &T, codec: CodecKind) -> Vec<u8> {
        let meta = EntryMeta::new(
            Stamp::from_millis(1),
            1,
            Duration::from_secs(1),
            Duration::ZERO,
            Duration::ZERO,
        );
        envelope::encode_value(value, codec, &meta, &[], 1 << 20).expect("encodes")
    }

    #[test]
    fn self_describing_payloads_show_as_json_whatever_their_type() {
        #[derive(serde::Serialize)]
        struct Custom {
            name: String,
            tags: Vec<u8>,
        }
        let custom = Custom {
            name: "x".to_owned(),
            tags: vec![1, 2],
        };
        for codec in [CodecKind::MessagePack, CodecKind::Json] {
            let stored = stored_with(&custom, codec);
            let entry = envelope::decode(&stored).expect("decodes");
            assert_eq!(
                as_json(&entry),
                Some(Ok(r#"{"name":"x","tags":[1,2]}"#.to_owned()))
            );
        }
        let stored = stored_with(&custom, CodecKind::Postcard);
        assert_eq!(as_json(&envelope::decode(&stored).expect("decodes")), None);
    }

    #[test]
    fn known_types_decode_by_fingerprint_only() {
        let text = stored(&"hello".to_owned());
        let entry = envelope::decode(&text).expect("decodes");
        assert_eq!(
            typed(&entry),
            Some(("alloc::string::String", "\"hello\"".to_owned()))
        );
        let number = stored(&42u64);
        assert_eq!(
            typed(&envelope::decode(&number).expect("decodes")).map(|t| t.1),
            Some("42".to_owned())
        );
        #[derive(serde::Serialize)]
        struct Custom {
            name: String,
        }
        let custom = stored(&Custom {
            name: "x".to_owned(),
        });
        assert_eq!(typed(&envelope::decode(&custom).expect("decodes")), None);
    }

    #[test]
    fn dumps_hex_and_ascii() {
        let dump = hex_dump(b"hello\x00world, this is long", 20);
        assert!(dump.starts_with("  00000000  68 65 6c 6c 6f 00 77 6f  72 6c 64 2c"));
        assert!(dump.contains("|hello.world, thi|"), "{dump}");
        assert!(dump.contains("... 5 more bytes"), "{dump}");
        assert_eq!(hex_dump(b"", 10), "");
    }
}
