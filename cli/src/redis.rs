//! The CLI's own Redis connection for reading (the writes go through a `TieredCache`): built
//! from the library's connection rules (`tiered_cache_redis::fred_config`), failing at once
//! instead of retrying, and the reads every subcommand shares.

use std::time::Duration;

use bytes::Bytes;
use fred::prelude::*;
use fred::types::scan::ScanResult;
use fred::types::{ClusterHash, CustomCommand};
use futures::stream::{BoxStream, StreamExt};
use tiered_cache::CacheConfig;
use tiered_cache::engine::Stamp;
use tiered_cache::engine::layout::{Layout, parse_mark};

use crate::error::CliError;
use crate::view::Marks;

/// Longest a single read may take once connected.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected client and the layout of the cache it reads.
pub struct Redis {
    pub client: Client,
    pub layout: Layout,
    /// The redacted endpoint, for messages.
    pub endpoint: String,
}

/// Whether the client should follow reconnections (a long-running `watch`) or fail at once.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Once,
    Follow,
}

/// Connects to the Redis of `config` within `connect_timeout`.
///
/// # Errors
/// A usage error for an unusable URL, a failure when Redis does not answer or refuses the
/// credentials (the message never holds the password).
pub async fn connect(config: &CacheConfig, mode: Mode) -> Result<Redis, CliError> {
    let endpoint = config
        .redis_url
        .as_deref()
        .map_or_else(|| "(no redis_url)".to_owned(), tiered_cache::redact_url);
    let mut fred_config = tiered_cache_redis::fred_config(config)
        .map_err(|error| CliError::usage(format!("configuration: {error}")))?;
    fred_config.fail_fast = mode == Mode::Once;
    let mut builder = Builder::from_config(fred_config);
    let connect_timeout = config.connect_timeout;
    builder
        .with_connection_config(|c| {
            c.connection_timeout = connect_timeout;
            c.internal_command_timeout = connect_timeout;
            c.max_command_attempts = 1;
        })
        .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT);
    if mode == Mode::Follow {
        builder.set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
    }
    let client = builder
        .build()
        .map_err(|error| CliError::usage(format!("configuration: {error}")))?;
    let connected = tokio::time::timeout(connect_timeout * 2, client.init()).await;
    match connected {
        Ok(Ok(_task)) => {}
        Ok(Err(error)) => {
            let _ = client.quit().await;
            return Err(CliError::redis(
                &format!("cannot connect to {endpoint}"),
                &error,
            ));
        }
        Err(_) => {
            let _ = client.quit().await;
            return Err(CliError::failure(format!(
                "cannot connect to {endpoint}: no answer within {connect_timeout:?}"
            )));
        }
    }
    Ok(Redis {
        client,
        layout: tiered_cache::engine::layout::Layout::new(&config.key_prefix),
        endpoint,
    })
}

impl Redis {
    /// `standalone` or `cluster`, for headers.
    pub fn topology(&self) -> &'static str {
        if self.client.is_clustered() {
            "cluster"
        } else {
            "standalone"
        }
    }

    /// Pages of `SCAN MATCH pattern COUNT count`; on a cluster, of every primary (fred's
    /// `scan_cluster` runs one cursor per primary, by the slot map it holds). Each page must be
    /// passed on with `ScanResult::next` (or dropped) to fetch the next, or cancelled.
    pub fn scan(&self, pattern: String, count: u32) -> BoxStream<'static, FredResult<ScanResult>> {
        if self.client.is_clustered() {
            self.client.scan_cluster(pattern, Some(count), None).boxed()
        } else {
            self.client.scan(pattern, Some(count), None).boxed()
        }
    }

    /// Explains a failed SCAN page: fred reports a refused SCAN (`NOPERM`) as a malformed reply,
    /// so the same SCAN (one key of this prefix, whose name is dropped) is sent once more as a
    /// plain command to get Redis's own words.
    pub async fn scan_failed(&self, error: &fred::error::Error) -> CliError {
        let probe = CustomCommand::new_static("SCAN", ClusterHash::Random, false);
        let args = vec![
            "0".to_owned(),
            "MATCH".to_owned(),
            self.layout.all_pattern(),
        ];
        match self.client.custom::<Value, _>(probe, args).await {
            Err(refusal) => CliError::redis("SCAN", &refusal),
            Ok(_) => CliError::redis("SCAN", error),
        }
    }

    /// The whole stored value of `redis_key`.
    pub async fn get(&self, redis_key: &str) -> Result<Option<Bytes>, CliError> {
        self.client
            .get(redis_key)
            .await
            .map_err(|error| CliError::redis(&format!("GET {redis_key}"), &error))
    }

    /// `PTTL` of `redis_key` (-2: gone, -1: no expiry).
    pub async fn pttl(&self, redis_key: &str) -> Result<i64, CliError> {
        self.client
            .pttl(redis_key)
            .await
            .map_err(|error| CliError::redis(&format!("PTTL {redis_key}"), &error))
    }

    /// The clear marks covering `namespace` (tag marks are added with [`Redis::add_tag_marks`]).
    pub async fn marks(&self, namespace: &str) -> Result<Marks, CliError> {
        let fields = vec![
            Layout::clear_field(None),
            Layout::clear_field(Some(namespace)),
        ];
        let key = self.layout.clears();
        let values: Vec<Option<String>> = self
            .client
            .hmget(&key, fields)
            .await
            .map_err(|error| CliError::redis(&format!("HMGET {key}"), &error))?;
        let mark = |at: usize| {
            values
                .get(at)
                .cloned()
                .flatten()
                .as_deref()
                .and_then(parse_mark)
        };
        Ok(Marks {
            all: mark(0),
            namespace: mark(1),
            ..Marks::default()
        })
    }

    /// Reads the marks of the `tags` not yet in `marks`.
    pub async fn add_tag_marks<'t>(
        &self,
        marks: &mut Marks,
        tags: impl IntoIterator<Item = &'t str>,
    ) -> Result<(), CliError> {
        let mut missing: Vec<&str> = tags
            .into_iter()
            .filter(|tag| !marks.tags.contains_key(*tag))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let reads = missing.iter().map(|tag| {
            let key = self.layout.tag(tag);
            async move {
                let value: Option<String> = self
                    .client
                    .get(&key)
                    .await
                    .map_err(|error| CliError::redis(&format!("GET {key}"), &error))?;
                Ok::<Option<Stamp>, CliError>(value.as_deref().and_then(parse_mark))
            }
        });
        let found = futures::future::try_join_all(reads).await?;
        for (tag, mark) in missing.into_iter().zip(found) {
            marks.tags.insert(tag.to_owned(), mark);
        }
        Ok(())
    }

    /// Closes the connection (best effort: the process exits next anyway).
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.quit()).await;
    }
}
