//! `inspect KEY`: one entry, decoded with the library's own envelope decoder.

use tiered_cache::CacheConfig;
use tiered_cache::engine::envelope::{self, Envelope};

use crate::error::{CliError, Exit};
use crate::output::line;
use crate::redis::{self, Mode, Redis};
use crate::{payload, timefmt, view};

pub async fn run(
    config: &CacheConfig,
    namespace: &str,
    key: &str,
    max_bytes: usize,
) -> Result<(), CliError> {
    super::check_namespace(namespace)?;
    super::check_key(key)?;
    let redis = redis::connect(config, Mode::Once).await?;
    let result = inspect(&redis, namespace, key, max_bytes).await;
    redis.close().await;
    result
}

async fn inspect(
    redis: &Redis,
    namespace: &str,
    key: &str,
    max_bytes: usize,
) -> Result<(), CliError> {
    let redis_key = redis.layout.entry(namespace, key);
    let (stored, pttl) = tokio::try_join!(redis.get(&redis_key), redis.pttl(&redis_key))?;
    let Some(stored) = stored else {
        return Err(CliError::with_exit(
            Exit::NotFound,
            format!("no entry: Redis holds nothing under `{redis_key}`"),
        ));
    };
    let now_ms = timefmt::now_ms();
    field("namespace", namespace)?;
    field("key", key)?;
    field("redis key", &redis_key)?;
    let entry = match envelope::decode(&stored) {
        Ok(entry) => entry,
        Err(error) => {
            field("redis ttl", &view::redis_ttl(pttl))?;
            field("stored", &format!("{} bytes", stored.len()))?;
            line(payload::hex_dump(&stored, max_bytes).trim_end_matches('\n'))?;
            return Err(CliError::with_exit(
                Exit::Undecodable,
                format!(
                    "`{redis_key}` does not hold an entry this build can read: {error} \
                     (every instance treats it as a miss and overwrites it on the next write)"
                ),
            ));
        }
    };
    let mut marks = redis.marks(namespace).await?;
    redis.add_tag_marks(&mut marks, entry.tags()).await?;
    let state = view::state(&entry, &marks, now_ms);
    field("state", &state.describe(now_ms))?;
    timeline(&entry, now_ms)?;
    let tags: Vec<&str> = entry.tags().collect();
    field(
        "tags",
        &if tags.is_empty() {
            "(none)".to_owned()
        } else {
            tags.join(", ")
        },
    )?;
    field("redis ttl", &view::redis_ttl(pttl))?;
    if entry.tombstone {
        return Ok(());
    }
    show_payload(&entry, stored.len(), max_bytes)
}

fn timeline(entry: &Envelope<'_>, now_ms: u64) -> Result<(), CliError> {
    let meta = &entry.meta;
    field(
        "created",
        &format!(
            "{}, stamp {:016x}",
            timefmt::wall_and_relative(meta.created.millis(), now_ms),
            meta.created.raw()
        ),
    )?;
    if entry.tombstone {
        return field(
            "kept until",
            &timefmt::wall_and_relative(meta.keep_until_ms, now_ms),
        );
    }
    field(
        "fresh until",
        &timefmt::wall_and_relative(meta.fresh_until_ms, now_ms),
    )?;
    field(
        "expires at",
        &timefmt::wall_and_relative(meta.expires_at_ms, now_ms),
    )?;
    let grace = if meta.keep_until_ms > meta.expires_at_ms {
        timefmt::wall_and_relative(meta.keep_until_ms, now_ms)
    } else {
        "(no fail-safe grace)".to_owned()
    };
    field("kept until", &grace)
}

fn show_payload(entry: &Envelope<'_>, stored: usize, max_bytes: usize) -> Result<(), CliError> {
    let bytes = entry.payload();
    let codec = entry.codec();
    let covers = if codec.is_self_describing() {
        "the name without module paths"
    } else {
        "the full path"
    };
    field(
        "type",
        &format!(
            "fingerprint {:016x} (FNV-1a of the Rust type name, {covers})",
            entry.type_fingerprint()
        ),
    )?;
    field(
        "payload",
        &format!(
            "{} bytes of {codec} ({stored} bytes stored with the header)",
            bytes.len()
        ),
    )?;
    match payload::as_json(entry) {
        Some(Ok(json)) => return field("value", &format!("{json} ({codec}, shown as JSON)")),
        Some(Err(error)) => {
            return Err(CliError::with_exit(
                Exit::Undecodable,
                format!("the {codec} payload does not decode: {error}"),
            ));
        }
        None => {}
    }
    match payload::typed(entry) {
        Some((type_name, value)) => field(
            "value",
            &format!("{value} (as {type_name}: the fingerprint matches)"),
        ),
        None => {
            line(&format!(
                "value        not decodable without its Rust type ({codec} carries no type \
                 information, and the fingerprint is none of the common types this CLI knows); \
                 hex and printable ASCII:"
            ))?;
            line(payload::hex_dump(bytes, max_bytes).trim_end_matches('\n'))
        }
    }
}

fn field(name: &str, value: &str) -> Result<(), CliError> {
    line(&format!("{name:<12} {value}"))
}
