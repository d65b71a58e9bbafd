//! [`RedisL2`]: the [`L2Backend`] on a fred pool.

use std::sync::Mutex;
use std::time::Duration;

use crate::reply::map_error;
use crate::{server_check, watch};
use bytes::Bytes;
use fred::clients::WithOptions;
use fred::prelude::*;
use fred::types::scripts::Script;
use tiered_cache_core::keys::KeyRef;
use tiered_cache_core::l2::{
    BoxFuture, BusSink, ClearMarks, ConnectionSink, L2Backend, L2Error, LockTaken, Undecodable,
    WriteOutcome,
};
use tiered_cache_core::{CacheConfig, ConfigError, Stamp, redact_url};

use crate::connect;
use crate::layout::{ALL_FIELD, Layout, NAMESPACE_FIELD_PREFIX, mark_value, parse_mark};
use crate::scripts;

mod entry_ops;

/// The Redis (standalone or Cluster) second tier.
pub struct RedisL2 {
    pool: Pool,
    /// One handle per pooled connection, with the per-command options applied once.
    clients: Vec<WithOptions<Client>>,
    next: std::sync::atomic::AtomicUsize,
    layout: Layout,
    put_script: Script,
    /// `put_script` that also releases the writer's load lock (where [`RedisL2::lock_apart`]
    /// is false).
    put_unlock_script: Script,
    mark_script: Script,
    sync_script: Script,
    tag_script: Script,
    tag_log_script: Script,
    forget_tag_script: Script,
    unlog_tags_script: Script,
    try_lock_script: Script,
    /// Where [`RedisL2::lock_apart`] is false.
    try_lock_and_read_script: Script,
    unlock_script: Script,
    renew_script: Script,
    description: String,
    /// Whether this is a Cluster, where a script may only touch keys of one slot.
    clustered: bool,
    url: String,
    config: CacheConfig,
    subscriber: Mutex<Option<(Client, tokio::task::JoinHandle<()>)>>,
    /// The tasks watching the pool's connections (see `watch_connections`).
    watchers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Why the last connection failed (fred's error stream), for `health_check` while down.
    last_connection_error: watch::LastError,
    /// What the server-setup check found (`None` until it could run).
    setup_warnings: Mutex<Option<Vec<String>>>,
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
        let clustered = pool.inner().config.server.is_clustered();
        let topology = if clustered { "cluster" } else { "standalone" };
        let options = Options {
            // Fail at once while disconnected: the cache falls back instead of waiting.
            fail_fast: true,
            max_attempts: Some(1),
            ..Default::default()
        };
        let clients = pool
            .clients()
            .iter()
            .map(|client| client.with_options(&options))
            .collect();
        Ok(RedisL2 {
            pool,
            clients,
            next: std::sync::atomic::AtomicUsize::new(0),
            layout: Layout::new(&config.key_prefix),
            put_script: Script::from_lua(scripts::PUT_IF_NEWER),
            put_unlock_script: Script::from_lua(scripts::put_and_unlock()),
            mark_script: Script::from_lua(scripts::mark_cleared()),
            sync_script: Script::from_lua(scripts::sync_marks()),
            tag_script: Script::from_lua(scripts::mark_tag()),
            tag_log_script: Script::from_lua(scripts::log_tag_mark()),
            forget_tag_script: Script::from_lua(scripts::FORGET_TAG_MARK),
            unlog_tags_script: Script::from_lua(scripts::UNLOG_TAG_MARKS),
            try_lock_script: Script::from_lua(scripts::TRY_LOCK),
            try_lock_and_read_script: Script::from_lua(scripts::TRY_LOCK_AND_READ),
            unlock_script: Script::from_lua(scripts::UNLOCK),
            renew_script: Script::from_lua(scripts::RENEW_LOCK),
            description: format!(
                "{} ({topology}, {} connections)",
                redact_url(url),
                config.redis_pool_size
            ),
            clustered,
            url: url.to_owned(),
            config: config.clone(),
            subscriber: Mutex::new(None),
            watchers: Mutex::new(Vec::new()),
            setup_warnings: Mutex::new(None),
            last_connection_error: std::sync::Arc::default(),
        })
    }

    /// Checks the server's setup once it answers (see `server_check`); until then, each
    /// health ping tries again.
    async fn check_setup(&self) {
        let unchecked = self
            .setup_warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none();
        if unchecked && self.pool.next().is_connected() {
            let found = server_check::check(self.pool.next(), &self.description).await;
            *self
                .setup_warnings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(found);
        }
    }

    fn stop_watchers(&self) {
        let watchers = std::mem::take(
            &mut *self
                .watchers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for watcher in watchers {
            watcher.abort();
        }
    }

    fn client(&self) -> &WithOptions<Client> {
        let next = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.clients[next % self.clients.len()]
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

    /// The channel and notice arguments of a publishing script.
    fn notice_args(&self, notice: Option<Bytes>) -> [Value; 2] {
        [
            Value::from(self.layout.bus()),
            Value::Bytes(notice.unwrap_or_default()),
        ]
    }

    /// Deletes the tag marks whose log entries are due (every entry they covered has expired),
    /// then the entries. Best effort: what fails now is due again at the next sync.
    async fn forget_tag_marks(&self, due: Vec<String>) {
        let forgets = due.iter().filter_map(|member| {
            let (stamp, tag) = split_tag_log_member(member)?;
            Some(self.eval::<i64>(
                &self.forget_tag_script,
                vec![self.layout.tag(tag)],
                vec![stamp.into()],
            ))
        });
        if let Err(error) = futures::future::try_join_all(forgets).await {
            tracing::debug!(%error, "forgetting expired tag marks failed; retrying next sync");
            return;
        }
        let members: Vec<Value> = due.into_iter().map(Value::from).collect();
        if let Err(error) = self
            .eval::<i64>(
                &self.unlog_tags_script,
                vec![self.layout.tag_log()],
                members,
            )
            .await
        {
            tracing::debug!(%error, "forgetting expired tag marks failed; retrying next sync");
        }
    }

    async fn mark(&self, field: String, at: Stamp, notice: Option<Bytes>) -> Result<(), L2Error> {
        let mut args = vec![field.into(), mark_value(at).into()];
        args.extend(self.notice_args(notice));
        let keys = vec![self.layout.clears(), self.layout.clears_log()];
        self.eval::<i64>(&self.mark_script, keys, args)
            .await
            .map(|_| ())
            .map_err(map_error)
    }
}

/// Longest `close()` waits for Redis to take the QUITs (`l2_timeout` when shorter).
const QUIT_GRACE: Duration = Duration::from_secs(1);

/// Clear marks read per round trip.
const MARKS_PAGE: i64 = 1000;

/// A tag-mark log member: the mark's stamp, then the tag (which may contain `:`).
fn tag_log_member(stamp_hex: &str, tag: &str) -> String {
    format!("{stamp_hex}:{tag}")
}

/// The stamp and tag of a tag-mark log member.
fn split_tag_log_member(member: &str) -> Option<(&str, &str)> {
    let (stamp, tag) = member.split_at_checked(16)?;
    Some((stamp, tag.strip_prefix(':')?))
}

fn millis(ms: u64) -> i64 {
    i64::try_from(ms.max(1)).unwrap_or(i64::MAX)
}

impl L2Backend for RedisL2 {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Errors here just mean "not yet": the engine bounds the wait.
            let _ = self.pool.wait_for_connect().await;
            self.check_setup().await;
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
        notice: Option<Bytes>,
        overwrite: Option<Undecodable>,
    ) -> BoxFuture<'a, Result<WriteOutcome, L2Error>> {
        Box::pin(self.write(key, envelope, created, ttl_ms, notice, overwrite, None))
    }

    fn put_and_unlock<'a>(
        &'a self,
        key: KeyRef<'a>,
        envelope: Bytes,
        created: Stamp,
        ttl_ms: u64,
        notice: Option<Bytes>,
        overwrite: Option<Undecodable>,
        token: u64,
    ) -> BoxFuture<'a, Result<(WriteOutcome, bool), L2Error>> {
        Box::pin(self.write_and_release(key, envelope, created, ttl_ms, notice, overwrite, token))
    }

    fn clear_namespace<'a>(
        &'a self,
        namespace: &'a str,
        at: Stamp,
        notice: Option<Bytes>,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(self.mark(Layout::clear_field(Some(namespace)), at, notice))
    }

    fn clear_all(&self, at: Stamp, notice: Option<Bytes>) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(self.mark(Layout::clear_field(None), at, notice))
    }

    fn clear_marks(
        &self,
        since: u64,
        horizon_ms: u64,
    ) -> BoxFuture<'_, Result<ClearMarks, L2Error>> {
        Box::pin(async move {
            let keys = vec![
                self.layout.clears(),
                self.layout.clears_log(),
                self.layout.tag_log(),
            ];
            let args = vec![
                Value::Integer(millis(since)),
                Value::Integer(millis(horizon_ms)),
                Value::Integer(MARKS_PAGE),
            ];
            let (cursor, more, fields, stamps, due): (
                i64,
                i64,
                Vec<String>,
                Vec<String>,
                Vec<String>,
            ) = self
                .eval(&self.sync_script, keys, args)
                .await
                .map_err(map_error)?;
            if !due.is_empty() {
                self.forget_tag_marks(due).await;
            }
            let mut marks = ClearMarks {
                cursor: u64::try_from(cursor).unwrap_or(0),
                more: more == 1,
                ..ClearMarks::default()
            };
            for (field, value) in fields.into_iter().zip(stamps) {
                let Some(at) = parse_mark(&value) else {
                    continue;
                };
                if field == ALL_FIELD {
                    marks.all = Some(at);
                } else if let Some(namespace) = field.strip_prefix(NAMESPACE_FIELD_PREFIX) {
                    marks.namespaces.push((namespace.to_owned(), at));
                }
            }
            Ok(marks)
        })
    }

    fn invalidate_tag<'a>(
        &'a self,
        tag: &'a str,
        at: Stamp,
        ttl_ms: u64,
        notice: Option<Bytes>,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(async move {
            // The log entry first: a mark is never stored without one that will forget it.
            let log = vec![self.layout.tag_log()];
            let logged = vec![
                Value::from(tag_log_member(&mark_value(at), tag)),
                Value::Integer(millis(ttl_ms)),
            ];
            self.eval::<i64>(&self.tag_log_script, log.clone(), logged)
                .await
                .map_err(map_error)?;
            let mut args = vec![mark_value(at).into()];
            args.extend(self.notice_args(notice));
            let redundant: String = self
                .eval(&self.tag_script, vec![self.layout.tag(tag)], args)
                .await
                .map_err(map_error)?;
            if !redundant.is_empty() {
                // Best effort: a leftover entry is dropped when due (its stamp no longer matches).
                let member = Value::from(tag_log_member(&redundant, tag));
                let _ = self
                    .eval::<i64>(&self.unlog_tags_script, log, vec![member])
                    .await;
            }
            Ok(())
        })
    }

    fn tag_marks<'a>(
        &'a self,
        tags: &'a [&'a str],
    ) -> BoxFuture<'a, Result<Vec<Option<Stamp>>, L2Error>> {
        Box::pin(async move {
            // One GET per tag (tags live in different cluster slots); fred pipelines them.
            let client = self.client();
            let reads = tags
                .iter()
                .map(|tag| client.get::<Option<String>, _>(self.layout.tag(tag)));
            let marks = futures::future::try_join_all(reads)
                .await
                .map_err(map_error)?;
            Ok(marks
                .into_iter()
                .map(|mark| mark.as_deref().and_then(parse_mark))
                .collect())
        })
    }

    fn try_lock<'a>(
        &'a self,
        key: KeyRef<'a>,
        token: u64,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<bool, L2Error>> {
        Box::pin(self.lock_script(&self.try_lock_script, key, token, ttl_ms))
    }

    fn try_lock_and_read<'a>(
        &'a self,
        key: KeyRef<'a>,
        token: u64,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<LockTaken, L2Error>> {
        Box::pin(self.lock_and_read(key, token, ttl_ms))
    }

    fn renew_lock<'a>(
        &'a self,
        key: KeyRef<'a>,
        token: u64,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<bool, L2Error>> {
        Box::pin(self.lock_script(&self.renew_script, key, token, ttl_ms))
    }

    fn unlock<'a>(&'a self, key: KeyRef<'a>, token: u64) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(self.release_lock(key, token))
    }

    fn subscribe(&self, sink: BusSink) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(async move {
            let client = connect::build_subscriber(&self.url, &self.config)
                .map_err(|e| L2Error::Unavailable(e.to_string()))?;
            let (live, is_live) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(crate::bus::run(
                client.clone(),
                self.layout.bus(),
                sink,
                live,
            ));
            {
                let mut slot = self
                    .subscriber
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some((_, old)) = slot.replace((client, task)) {
                    old.abort();
                }
            }
            // Return once notices flow, so a cache that was just built misses none; a Redis
            // that is down does not hold construction up beyond connect_timeout.
            match tokio::time::timeout(self.config.connect_timeout, is_live).await {
                Ok(Ok(())) => Ok(()),
                _ => Err(L2Error::Unavailable(
                    "backplane not subscribed yet; retrying in the background".to_owned(),
                )),
            }
        })
    }

    fn watch_connections(&self, events: ConnectionSink) {
        let tasks = watch::spawn(&self.pool, &events, &self.last_connection_error);
        self.watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(tasks);
    }

    fn warnings(&self) -> Vec<String> {
        self.setup_warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_default()
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(async move {
            let pong = self
                .client()
                .ping::<Value>(None)
                .await
                .map(|_| ())
                .map_err(map_error);
            let reason = {
                let mut last = self
                    .last_connection_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if pong.is_ok() {
                    *last = None;
                }
                last.clone()
            };
            match pong {
                Ok(()) => {
                    self.check_setup().await;
                    Ok(())
                }
                // "Connection closed" alone does not say why: the reason fred saw does
                // (WRONGPASS, connection refused...).
                Err(L2Error::Disconnected(message)) => match reason {
                    Some(reason) if reason != message => Err(L2Error::Disconnected(format!(
                        "{message} (last connection error: {reason})"
                    ))),
                    _ => Err(L2Error::Disconnected(message)),
                },
                Err(error) => Err(error),
            }
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop_watchers();
            let subscriber = self
                .subscriber
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            // A QUIT to a Redis that is gone only waits out its bound: one `l2_timeout`, for
            // both at once (a healthy Redis takes them in a round trip).
            let bound = self.config.l2_timeout.min(QUIT_GRACE);
            let subscriber = async {
                if let Some((client, task)) = subscriber {
                    task.abort();
                    let _ = tokio::time::timeout(bound, client.quit()).await;
                }
            };
            let pool = async {
                let _ = tokio::time::timeout(bound, self.pool.quit()).await;
            };
            tokio::join!(subscriber, pool);
        })
    }

    fn abandon(&self) {
        self.stop_watchers();
        let subscriber = self
            .subscriber
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime left to run a QUIT: aborting the subscription is all that can be done.
            if let Some((_, task)) = subscriber {
                task.abort();
            }
            return;
        };
        let pool = self.pool.clone();
        runtime.spawn(async move {
            if let Some((client, task)) = subscriber {
                task.abort();
                let _ = tokio::time::timeout(Duration::from_secs(1), client.quit()).await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), pool.quit()).await;
        });
    }
}
