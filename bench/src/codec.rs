//! Family `codec`: what each value codec costs on the bench's values: encode and decode time
//! (the codec alone, into a reused buffer / from a slice) and encoded size, each codec beside
//! bincode (the codec of every entry written before codecs could be chosen). The evidence for
//! the default codec.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tiered_cache::CodecKind;
use tiered_cache::engine::envelope::{fingerprint_for, fingerprint_matches};

use crate::BenchResult;
use crate::options::Params;
use crate::report::{Figure, Report, Row, Target};
use crate::timing;
use crate::value::Item;

/// A larger cached row (about 470 bytes in bincode): the shape of a profile or product record
/// with text, a list, optional fields, a nested struct and a small map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    id: u64,
    handle: String,
    display_name: String,
    email: String,
    bio: String,
    tags: Vec<String>,
    avatar_url: Option<String>,
    manager_id: Option<u64>,
    address: Address,
    settings: BTreeMap<String, String>,
    created_ms: u64,
    updated_ms: u64,
    score: f64,
    active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Address {
    street: String,
    city: String,
    postcode: String,
    country: String,
}

impl Record {
    /// The record with id `id`.
    pub fn new(id: u64) -> Self {
        Record {
            id,
            handle: format!("user{id:08}"),
            display_name: format!("User Number {id}"),
            email: format!("user{id:08}@example.com"),
            bio: "Works on distributed systems; likes caches that do not serve stale data \
                  after an invalidation, and benchmarks with honest baselines. Previously ran \
                  the storage team; now writes about tail latency and retries."
                .to_owned(),
            tags: ["admin", "beta", "eu-west", "newsletter", "2fa"]
                .map(str::to_owned)
                .to_vec(),
            avatar_url: Some(format!("https://cdn.example.com/avatars/{id}.png")),
            manager_id: Some(id / 10),
            address: Address {
                street: "42 Long Street".to_owned(),
                city: "Springfield".to_owned(),
                postcode: "12345".to_owned(),
                country: "Freedonia".to_owned(),
            },
            settings: [
                ("theme", "dark"),
                ("lang", "en-GB"),
                ("tz", "Europe/Berlin"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into_iter()
            .collect(),
            created_ms: 1_700_000_000_000 + id,
            updated_ms: 1_750_000_000_000 + id,
            score: 0.875,
            active: true,
        }
    }
}

/// One codec's figures for one value.
#[derive(Debug, Clone, Copy)]
struct Measured {
    encode_ns: f64,
    decode_ns: f64,
    bytes: usize,
}

/// The median of `rounds` batches of `batch` encodes, then of decodes, of `value`.
fn measure<T>(codec: CodecKind, value: &T, rounds: usize, batch: usize) -> BenchResult<Measured>
where
    T: Serialize + DeserializeOwned + PartialEq,
{
    let mut out = Vec::with_capacity(1024);
    codec.encode(value, &mut out)?;
    let encoded = out.clone();
    if codec.decode::<T>(&encoded)? != *value {
        return Err(format!("{codec} does not round-trip the bench value").into());
    }
    let mut encodes = Vec::with_capacity(rounds);
    let mut decodes = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..batch {
            out.clear();
            codec.encode(black_box(value), &mut out)?;
            black_box(&out);
        }
        encodes.push(timing::ns_per_op(started.elapsed(), batch));
        let started = Instant::now();
        for _ in 0..batch {
            black_box(codec.decode::<T>(black_box(&encoded))?);
        }
        decodes.push(timing::ns_per_op(started.elapsed(), batch));
    }
    Ok(Measured {
        encode_ns: timing::median(&encodes),
        decode_ns: timing::median(&decodes),
        bytes: encoded.len(),
    })
}

/// What a read of an entry of `T` written by `T` with `codec` spends on the fingerprint check
/// before decoding.
fn fingerprint_ns<T>(codec: CodecKind, rounds: usize, batch: usize) -> f64 {
    let stored = fingerprint_for::<T>(codec);
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..batch {
            black_box(fingerprint_matches::<T>(
                black_box(stored),
                black_box(codec),
            ));
        }
        times.push(timing::ns_per_op(started.elapsed(), batch));
    }
    timing::median(&times)
}

/// Runs the family and adds its rows.
pub fn run(params: &Params, report: &mut Report) -> BenchResult<()> {
    let rounds = params.l1_rounds;
    let batch = params.l1_batch / 10;
    let mut table = String::new();
    measure_value(
        "`Item` (id + 21-byte name)",
        &Item::new(42),
        rounds,
        batch,
        report,
        &mut table,
    )?;
    measure_value(
        "`Record` (profile row)",
        &Record::new(42),
        rounds,
        batch / 4,
        report,
        &mut table,
    )?;
    let fingerprints = CodecKind::ALL
        .map(|codec| {
            let ns = fingerprint_ns::<Item>(codec, rounds, batch);
            format!("{codec} {ns:.1} ns")
        })
        .join(", ");
    let _ = writeln!(
        table,
        "fingerprint check of `Item` per read: {fingerprints}"
    );
    eprintln!("{table}");
    report.note(
        "codec",
        format!(
            "Each codec alone, on one thread: `CodecKind::encode` into a cleared, reused buffer \
             and `CodecKind::decode` from the encoded slice, {rounds} rounds of {batch} calls \
             (`Record`: a quarter of that), the median round reported; sizes are the payload \
             alone (the envelope adds a 47-byte header plus tags). Every codec beside bincode; \
             all four: {}",
            table.trim_end().replace('\n', "; ")
        ),
    );
    Ok(())
}

fn measure_value<T>(
    label: &str,
    value: &T,
    rounds: usize,
    batch: usize,
    report: &mut Report,
    table: &mut String,
) -> BenchResult<()>
where
    T: Serialize + DeserializeOwned + PartialEq,
{
    let measured = CodecKind::ALL.map(|codec| (codec, measure(codec, value, rounds, batch)));
    let mut figures = Vec::new();
    for (codec, result) in measured {
        figures.push((codec, result?));
    }
    let Some(&(_, bincode)) = figures.iter().find(|(c, _)| *c == CodecKind::Bincode) else {
        return Err("bincode was not measured".into());
    };
    for &(codec, m) in &figures {
        let _ = writeln!(
            table,
            "{label} {codec}: encode {:.0} ns, decode {:.0} ns, {} B",
            m.encode_ns, m.decode_ns, m.bytes
        );
        if codec == CodecKind::Bincode {
            continue;
        }
        let rows = [
            (
                "encode",
                Figure::nanos(m.encode_ns),
                Figure::nanos(bincode.encode_ns),
            ),
            (
                "decode",
                Figure::nanos(m.decode_ns),
                Figure::nanos(bincode.decode_ns),
            ),
            (
                "size",
                Figure::bytes(m.bytes as f64),
                Figure::bytes(bincode.bytes as f64),
            ),
        ];
        for (what, ours, peer) in rows {
            report.push(Row::new(
                format!("Codec {codec}: {what} {label}"),
                ours,
                "bincode",
                peer,
                Target::None,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_about_470_bytes_in_bincode_and_round_trips_everywhere() {
        let record = Record::new(42);
        for codec in CodecKind::ALL {
            let mut out = Vec::new();
            codec.encode(&record, &mut out).expect("encodes");
            assert_eq!(codec.decode::<Record>(&out).expect("decodes"), record);
            if codec == CodecKind::Bincode {
                assert!((440..=500).contains(&out.len()), "{}", out.len());
            }
        }
    }
}
