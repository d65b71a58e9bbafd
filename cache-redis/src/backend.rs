//! [`RedisL2`]: the [`L2Backend`] on a fred pool.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use fred::clients::WithOptions;
use fred::prelude::*;
use fred::types::scripts::Script;
use tiered_cache_core::keys::KeyRef;
use tiered_cache_core::l2::{BoxFuture, ClearMarks, L2Backend, L2Error, WriteOutcome};
use tiered_cache_core::{CacheConfig, ConfigError, Stamp, redact_url};

use crate::connect;
use crate::layout::{ALL_FIELD, Layout, NAMESPACE_FIELD_PREFIX};
use crate::scripts;

/// The Redis (standalone or Cluster) second tier.
pub struct RedisL2 {
    pool: Pool,
    layout: Layout,
    options: Options,
    put_script: Script,
    mark_script: Script,
    description: String,
}

impl std::fmt::Debug for RedisL2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisL2")
            .field("endpoint", &self.description)
            .finish_non_exhaustive()
    }
}

impl RedisL2 {
    /// Builds the pool for `url` and starts connecting in the background.
    ///
    /// # Errors
    /// A [`ConfigError`] for `redis_url` when the URL cannot be used.
    pub fn connect(url: &str, config: &CacheConfig) -> Result<Self, ConfigError> {
        let pool = connect::build_pool(url, config)?;
        let topology = if pool.inner().config.server.is_clustered() {
            "cluster"
        } else {
            "standalone"
        };
        Ok(RedisL2 {
            pool,
            layout: Layout::new(&config.key_prefix),
            options: Options {
                // Fail at once while disconnected: the cache falls back instead of waiting.
                fail_fast: true,
                timeout: Some(config.l2_timeout),
                max_attempts: Some(1),
                ..Default::default()
            },
            put_script: Script::from_lua(scripts::PUT_IF_NEWER),
            mark_script: Script::from_lua(scripts::MARK_CLEARED),
            description: format!(
                "{} ({topology}, {} connections)",
                redact_url(url),
                config.redis_pool_size
            ),
        })
    }

    fn client(&self) -> WithOptions<Client> {
        self.pool.next().with_options(&self.options)
    }

    /// Runs a script by hash, loading it on `NOSCRIPT` (first use, or a restarted server).
    async fn eval<R: FromValue>(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<R, Error> {
        let client = self.client();
        match client
            .evalsha(script.sha1().clone(), keys.clone(), args.clone())
            .await
        {
            Err(error) if error.details().starts_with("NOSCRIPT") => {
                if let Some(lua) = script.lua() {
                    client.script_load_cluster::<Value, _>(lua.clone()).await?;
                }
                client.evalsha(script.sha1().clone(), keys, args).await
            }
            result => result,
        }
    }

    async fn mark(&self, field: String, at: Stamp) -> Result<(), L2Error> {
        let stamp = format!("{:016x}", at.raw());
        self.eval::<i64>(
            &self.mark_script,
            vec![self.layout.clears()],
            vec![field.into(), stamp.into()],
        )
        .await
        .map(|_| ())
        .map_err(map_error)
    }
}

/// Maps a fred error to what the engine needs to know: connectivity, timeout, or bad data.
fn map_error(error: Error) -> L2Error {
    let details = error.details();
    if details.starts_with("WRONGTYPE") {
        return L2Error::Data(details.to_owned());
    }
    match error.kind() {
        ErrorKind::Timeout => L2Error::Timeout,
        _ => L2Error::Unavailable(format!("{:?}: {details}", error.kind())),
    }
}

fn parse_stamp(hex: &str) -> Option<Stamp> {
    u64::from_str_radix(hex, 16).ok().map(Stamp::from_raw)
}

impl L2Backend for RedisL2 {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Errors here just mean "not yet": the engine bounds the wait.
            let _ = self.pool.wait_for_connect().await;
        })
    }

    fn get<'a>(&'a self, key: KeyRef<'a>) -> BoxFuture<'a, Result<Option<Bytes>, L2Error>> {
        Box::pin(async move {
            self.client()
                .get::<Option<Bytes>, _>(self.layout.entry(key.namespace, key.key))
                .await
                .map_err(map_error)
        })
    }

    fn put<'a>(
        &'a self,
        key: KeyRef<'a>,
        envelope: Bytes,
        created: Stamp,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<WriteOutcome, L2Error>> {
        Box::pin(async move {
            let px = i64::try_from(ttl_ms.max(1)).unwrap_or(i64::MAX);
            let args = vec![
                Value::Bytes(envelope),
                Value::Bytes(Bytes::copy_from_slice(&created.raw().to_be_bytes())),
                Value::Integer(px),
            ];
            let written: i64 = self
                .eval(
                    &self.put_script,
                    vec![self.layout.entry(key.namespace, key.key)],
                    args,
                )
                .await
                .map_err(map_error)?;
            Ok(if written == 1 {
                WriteOutcome::Written
            } else {
                WriteOutcome::Superseded
            })
        })
    }

    fn clear_namespace<'a>(
        &'a self,
        namespace: &'a str,
        at: Stamp,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(self.mark(format!("{NAMESPACE_FIELD_PREFIX}{namespace}"), at))
    }

    fn clear_all(&self, at: Stamp) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(self.mark(ALL_FIELD.to_owned(), at))
    }

    fn clear_marks(&self) -> BoxFuture<'_, Result<ClearMarks, L2Error>> {
        Box::pin(async move {
            let fields: HashMap<String, String> = self
                .client()
                .hgetall(self.layout.clears())
                .await
                .map_err(map_error)?;
            let mut marks = ClearMarks::default();
            for (field, value) in fields {
                let Some(at) = parse_stamp(&value) else {
                    continue;
                };
                if field == ALL_FIELD {
                    marks.all = at;
                } else if let Some(namespace) = field.strip_prefix(NAMESPACE_FIELD_PREFIX) {
                    marks.namespaces.push((namespace.to_owned(), at));
                }
            }
            Ok(marks)
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(async move {
            self.client()
                .ping::<Value>(None)
                .await
                .map(|_| ())
                .map_err(map_error)
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), self.pool.quit()).await;
        })
    }
}
