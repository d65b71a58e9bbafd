//! `ls NAMESPACE`: the namespace's entries with their state, found by SCAN (never KEYS), on
//! every primary of a cluster.
//!
//! Output: one line per entry, `state  redis-ttl  key`, or with `--json` one JSON object per
//! line (JSON Lines, so a large namespace streams): `namespace`, `key`, `redis_key`, `state`,
//! `ttl_ms` (Redis PTTL; null without expiry), `created_ms`, `fresh_until_ms`,
//! `expires_at_ms`, `keep_until_ms` (wall-clock ms), `tags`, and `error` for undecodable bytes.

use bytes::Bytes;
use fred::prelude::*;
use fred::types::scan::Scanner;
use futures::StreamExt;
use serde::Serialize;
use tiered_cache::CacheConfig;
use tiered_cache::engine::envelope::{self, DecodeError};
use tiered_cache::engine::layout::RedisKey;

use crate::error::CliError;
use crate::output::{Progress, line, note};
use crate::redis::{self, Mode, Redis};
use crate::timefmt;
use crate::view::{self, Marks};

/// Keys asked of each SCAN call.
const SCAN_COUNT: u32 = 500;
/// Bytes read of each value: the header and tags of nearly every entry, without the payload.
const HEAD_BYTES: usize = 4096;

#[derive(Serialize)]
struct Row<'a> {
    namespace: &'a str,
    key: &'a str,
    redis_key: &'a str,
    state: &'static str,
    ttl_ms: Option<i64>,
    created_ms: Option<u64>,
    fresh_until_ms: Option<u64>,
    expires_at_ms: Option<u64>,
    keep_until_ms: Option<u64>,
    tags: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn run(
    config: &CacheConfig,
    namespace: &str,
    limit: usize,
    json: bool,
) -> Result<(), CliError> {
    super::check_namespace(namespace)?;
    let redis = redis::connect(config, Mode::Once).await?;
    let result = list(&redis, namespace, limit, json).await;
    redis.close().await;
    result
}

async fn list(redis: &Redis, namespace: &str, limit: usize, json: bool) -> Result<(), CliError> {
    let mut marks = redis.marks(namespace).await?;
    let mut pages = redis.scan(redis.layout.namespace_pattern(namespace), SCAN_COUNT);
    let mut progress = Progress::new();
    let (mut scanned, mut listed) = (0usize, 0usize);
    let mut stopped = false;
    while let Some(page) = pages.next().await {
        let mut page = match page {
            Ok(page) => page,
            Err(error) => return Err(redis.scan_failed(&error).await),
        };
        let keys = page.take_results().unwrap_or_default();
        scanned += keys.len();
        // Only keys that parse as entries of this namespace under this prefix (the pattern
        // already says so; this is what guarantees it).
        let mut entries: Vec<(&str, &str)> = keys
            .iter()
            .filter_map(|key| {
                let text = key.as_str()?;
                match redis.layout.parse(text)? {
                    RedisKey::Entry { namespace: ns, key } if ns == namespace => Some((text, key)),
                    _ => None,
                }
            })
            .collect();
        if limit > 0 {
            entries.truncate(limit - listed);
        }
        let reads = entries
            .iter()
            .map(|(redis_key, _)| read_head(redis, redis_key));
        let heads = futures::future::try_join_all(reads).await?;
        for ((redis_key, key), (head, pttl)) in entries.iter().zip(heads) {
            let Some(head) = head else { continue };
            let decoded = envelope::decode(&head);
            if let Ok(entry) = &decoded {
                redis.add_tag_marks(&mut marks, entry.tags()).await?;
            }
            let row = row(namespace, key, redis_key, &decoded, pttl, &marks);
            progress.clear();
            emit(&row, json)?;
            listed += 1;
        }
        progress.show(&format!("scanned {scanned} keys, listed {listed}"));
        if limit > 0 && listed >= limit {
            page.cancel();
            stopped = true;
            break;
        }
        page.next();
    }
    progress.clear();
    if stopped {
        note(&format!(
            "stopped at --limit {limit}; there may be more (--limit 0 lists all)"
        ));
    } else {
        note(&format!(
            "{listed} entries in namespace `{namespace}` ({} SCAN of {})",
            redis.topology(),
            redis.endpoint
        ));
    }
    Ok(())
}

/// The head of a value (all of it when its tags run past [`HEAD_BYTES`]) and its PTTL; `None`
/// when the key went away since the SCAN.
async fn read_head(redis: &Redis, redis_key: &str) -> Result<(Option<Bytes>, i64), CliError> {
    let range = redis
        .client
        .getrange::<Bytes, _>(redis_key, 0, HEAD_BYTES - 1);
    let (head, pttl) = tokio::join!(range, redis.pttl(redis_key));
    let head = head.map_err(|error| CliError::redis(&format!("GETRANGE {redis_key}"), &error))?;
    let pttl = pttl?;
    if head.is_empty() {
        return Ok((None, pttl));
    }
    if head.len() == HEAD_BYTES && envelope::decode(&head).err() == Some(DecodeError::Truncated) {
        return Ok((redis.get(redis_key).await?, pttl));
    }
    Ok((Some(head), pttl))
}

fn row<'a>(
    namespace: &'a str,
    key: &'a str,
    redis_key: &'a str,
    decoded: &Result<envelope::Envelope<'a>, DecodeError>,
    pttl: i64,
    marks: &Marks,
) -> Row<'a> {
    let ttl_ms = (pttl >= 0).then_some(pttl);
    match decoded {
        Ok(entry) => Row {
            namespace,
            key,
            redis_key,
            state: view::state(entry, marks, timefmt::now_ms()).name(),
            ttl_ms,
            created_ms: Some(entry.meta.created.millis()),
            fresh_until_ms: Some(entry.meta.fresh_until_ms),
            expires_at_ms: Some(entry.meta.expires_at_ms),
            keep_until_ms: Some(entry.meta.keep_until_ms),
            tags: entry.tags().collect(),
            error: None,
        },
        Err(error) => Row {
            namespace,
            key,
            redis_key,
            state: "undecodable",
            ttl_ms,
            created_ms: None,
            fresh_until_ms: None,
            expires_at_ms: None,
            keep_until_ms: None,
            tags: Vec::new(),
            error: Some(error.to_string()),
        },
    }
}

fn emit(row: &Row<'_>, json: bool) -> Result<(), CliError> {
    if json {
        let text = serde_json::to_string(row)
            .map_err(|error| CliError::failure(format!("cannot encode JSON: {error}")))?;
        return line(&text);
    }
    let ttl = row
        .ttl_ms
        .map_or_else(|| "-".to_owned(), |ms| timefmt::span(ms.unsigned_abs()));
    line(&format!("{:<12} {:>12}  {}", row.state, ttl, row.key))
}
