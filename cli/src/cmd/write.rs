//! `invalidate`, `clear`, `clear-tag`: done by a short-lived `TieredCache` calling its own
//! methods, so Redis gets exactly what an instance writes (stamped tombstones and marks,
//! through the same scripts, with the backplane notice), and running instances react.
//!
//! The library degrades silently when Redis is down (the change waits in its recovery queue);
//! a CLI must not. So: Redis must answer a health check first, and after the call the cache's
//! own counters must show that L2 took the change (nothing queued for replay, nothing
//! superseded). Anything else exits non-zero.

use std::time::Duration;

use tiered_cache::{CacheConfig, CacheError, L2Stats, TierStatus, TieredCache};

use crate::error::CliError;
use crate::output::line;

/// A change to make.
pub enum Change<'a> {
    Invalidate { namespace: &'a str, key: &'a str },
    ClearNamespace(&'a str),
    ClearAll,
    Tag(&'a str),
}

impl Change<'_> {
    fn what(&self) -> String {
        match self {
            Change::Invalidate { namespace, key } => {
                format!("invalidated `{key}` in `{namespace}`")
            }
            Change::ClearNamespace(namespace) => format!("cleared namespace `{namespace}`"),
            Change::ClearAll => "cleared every namespace".to_owned(),
            Change::Tag(tag) => format!("invalidated tag `{tag}`"),
        }
    }
}

/// The cache the CLI writes through: the configured Redis and prefix, and nothing kept.
fn writer_config(config: &CacheConfig) -> CacheConfig {
    CacheConfig {
        name: "tiered-cache-cli".to_owned(),
        l1_max_size: 16,
        redis_pool_size: 1,
        // One call, by hand: give Redis the connection budget rather than a hot-path one.
        l2_timeout: config.l2_timeout.max(config.connect_timeout),
        // Never prune clear marks that instances with a longer max_ttl still need: the
        // pruning horizon grows with max_ttl, and this is the largest the library accepts.
        max_ttl: Duration::from_secs(10 * 365 * 24 * 3600),
        ..config.clone()
    }
}

pub async fn run(config: &CacheConfig, change: Change<'_>) -> Result<(), CliError> {
    let cache = TieredCache::new(writer_config(config))
        .await
        .map_err(|error| CliError::usage(format!("configuration: {error}")))?;
    let result = apply(&cache, &change).await;
    cache.close().await;
    let prefix = &config.key_prefix;
    result.and_then(|()| {
        line(&format!(
            "{}: Redis took it, and instances of prefix `{prefix}` were told on `{prefix}:#bus`",
            change.what()
        ))
    })
}

async fn apply(cache: &TieredCache, change: &Change<'_>) -> Result<(), CliError> {
    let health = cache.health_check().await;
    if health.l2.status != TierStatus::Up {
        return Err(CliError::failure(format!(
            "nothing was changed: Redis at {} does not answer: {}",
            health.l2.backend.as_deref().unwrap_or("(unknown)"),
            health.l2.error.as_deref().unwrap_or("no reason given")
        )));
    }
    let before = cache.stats().l2_stats;
    let called = match change {
        Change::Invalidate { namespace, key } => cache.invalidate(key).namespace(namespace).await,
        Change::ClearNamespace(namespace) => cache.clear_namespace(namespace).await,
        Change::ClearAll => cache.clear_all().await,
        Change::Tag(tag) => cache.invalidate_tag(tag).await,
    };
    called.map_err(|error| match error {
        CacheError::Closed => CliError::failure(error.to_string()),
        _ => CliError::usage(error.to_string()),
    })?;
    let after = cache.stats().l2_stats;
    if after.pending_recovery > 0 || after.recovery_dropped > before.recovery_dropped {
        return Err(CliError::failure(format!(
            "Redis did not take the change ({}); running instances were not told. Nothing will \
             retry it: run the command again once Redis takes it",
            why_not_taken(&before, &after)
        )));
    }
    if after.writes_superseded > before.writes_superseded {
        return Err(CliError::failure(
            "Redis holds a newer entry than this invalidation (written after it was stamped, \
             or this machine's clock is behind the writers'); nothing was changed",
        ));
    }
    Ok(())
}

/// What the cache's counters say about a change L2 did not take.
fn why_not_taken(before: &L2Stats, after: &L2Stats) -> &'static str {
    let (was, is) = (&before.refused, &after.refused);
    if is.no_permission > was.no_permission {
        "refused with NOPERM: the Redis user lacks a permission the cache needs (see the \
         README's `ACL SETUSER` line)"
    } else if is.out_of_memory > was.out_of_memory {
        "refused with OOM: Redis is at maxmemory and evicts nothing"
    } else if is.read_only > was.read_only {
        "refused with READONLY: the node is a replica (a failover in progress?)"
    } else if is.other > was.other {
        "Redis refused the command"
    } else {
        "the call failed or timed out"
    }
}
