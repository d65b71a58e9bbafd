//! What construction says and checks about L2 beyond the config: a warning when the URL is the
//! default one, and, with `require_l2_at_startup`, that L2 answered in time.

use std::time::Duration;

use super::Inner;
use crate::config::CacheConfig;
use crate::error::StartError;
use crate::redact::scrub_credentials;

/// The warning of a cache built with [`CacheConfig::DEFAULT_REDIS_URL`].
pub(super) const DEFAULT_URL_WARNING: &str = "no redis_url configured; using the default \
     redis://localhost:6379; set redis_url (TIERED_CACHE_REDIS_URL or REDIS_URL) or use \
     None/\"none\" for L1 only";

/// Logs one warning when `config` uses the default URL, which is more often a setting left
/// unset than a choice (in a container, localhost is rarely where Redis runs). Returns whether
/// it warned.
pub(super) fn warn_if_default_url(config: &CacheConfig) -> bool {
    let default = config.redis_url.as_deref() == Some(CacheConfig::DEFAULT_REDIS_URL);
    if default {
        tracing::warn!(cache = %config.name, "{DEFAULT_URL_WARNING}");
    }
    default
}

/// With `require_l2_at_startup`, an error when L2 has not answered (its clear marks were not
/// read) within `connect_timeout`; the reason is what a last ping says.
pub(super) async fn check_required(inner: &Inner) -> Result<(), StartError> {
    let config = &inner.config;
    let Some(tier) = &inner.l2 else {
        return Ok(());
    };
    if !config.require_l2_at_startup || tier.is_synced() {
        return Ok(());
    }
    let reason = match tokio::time::timeout(config.l2_timeout, tier.backend.ping()).await {
        Err(_) => format!(
            "no answer to a ping within l2_timeout ({:?})",
            config.l2_timeout
        ),
        Ok(Err(error)) => error.to_string(),
        Ok(Ok(())) => "it answers pings but its clear marks could not be read (see the log: \
                       permissions of the Redis user, or a slow server)"
            .to_owned(),
    };
    // The backend's words are not ours to trust: whatever it quotes, not the password.
    let reason = match &config.redis_url {
        Some(url) => scrub_credentials(&reason, url),
        None => reason,
    };
    Err(StartError::L2Unavailable {
        backend: tier.backend.describe(),
        waited: config.connect_timeout,
        reason,
    })
}

/// How long a cache that failed to start waits for its background tasks as it closes.
pub(super) fn stop_grace(config: &CacheConfig) -> Duration {
    config.l2_timeout
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use bytes::Bytes;

    use super::*;
    use crate::TieredCache;
    use crate::clock::Stamp;
    use crate::error::ConfigError;
    use crate::keys::KeyRef;
    use crate::l2::WriteOutcome;
    use crate::l2::{BoxFuture, ClearMarks, L2Backend, L2Connector, L2Error, Undecodable};

    /// A backend that either answers every call (with nothing stored) or refuses every call,
    /// as a Redis that nothing listens for would.
    pub(crate) struct Stub {
        pub(crate) answers: bool,
    }

    impl Stub {
        fn result<T>(&self, value: T) -> Result<T, L2Error> {
            if self.answers {
                Ok(value)
            } else {
                Err(L2Error::Unavailable(
                    "connection refused by app:hunter2 (a backend quoting its URL)".to_owned(),
                ))
            }
        }
    }

    impl L2Backend for Stub {
        fn describe(&self) -> String {
            "stub://app:***@nowhere".to_owned()
        }
        fn ready(&self) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
        fn get<'a>(&'a self, _: KeyRef<'a>) -> BoxFuture<'a, Result<Option<Bytes>, L2Error>> {
            Box::pin(async { self.result(None) })
        }
        fn put<'a>(
            &'a self,
            _: KeyRef<'a>,
            _: Bytes,
            _: Stamp,
            _: u64,
            _: Option<Bytes>,
            _: Option<Undecodable>,
        ) -> BoxFuture<'a, Result<WriteOutcome, L2Error>> {
            Box::pin(async { self.result(WriteOutcome::Written) })
        }
        fn clear_namespace<'a>(
            &'a self,
            _: &'a str,
            _: Stamp,
            _: Option<Bytes>,
        ) -> BoxFuture<'a, Result<(), L2Error>> {
            Box::pin(async { self.result(()) })
        }
        fn clear_all(&self, _: Stamp, _: Option<Bytes>) -> BoxFuture<'_, Result<(), L2Error>> {
            Box::pin(async { self.result(()) })
        }
        fn clear_marks(&self, since: u64, _: u64) -> BoxFuture<'_, Result<ClearMarks, L2Error>> {
            Box::pin(async move {
                self.result(ClearMarks {
                    cursor: since,
                    ..ClearMarks::default()
                })
            })
        }
        fn invalidate_tag<'a>(
            &'a self,
            _: &'a str,
            _: Stamp,
            _: u64,
            _: Option<Bytes>,
        ) -> BoxFuture<'a, Result<(), L2Error>> {
            Box::pin(async { self.result(()) })
        }
        fn tag_marks<'a>(
            &'a self,
            tags: &'a [&'a str],
        ) -> BoxFuture<'a, Result<Vec<Option<Stamp>>, L2Error>> {
            Box::pin(async move { self.result(vec![None; tags.len()]) })
        }
        fn ping(&self) -> BoxFuture<'_, Result<(), L2Error>> {
            Box::pin(async { self.result(()) })
        }
        fn close(&self) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    /// Builds a [`Stub`] for any `redis_url`, as the Redis connector builds a backend.
    struct StubConnector<const ANSWERS: bool>;

    impl<const ANSWERS: bool> L2Connector for StubConnector<ANSWERS> {
        fn connect(config: &CacheConfig) -> Result<Option<Arc<dyn L2Backend>>, ConfigError> {
            Ok(config
                .redis_url
                .as_ref()
                .map(|_| Arc::new(Stub { answers: ANSWERS }) as Arc<dyn L2Backend>))
        }
    }

    fn config(url: Option<&str>, require: bool) -> CacheConfig {
        CacheConfig {
            redis_url: url.map(str::to_owned),
            require_l2_at_startup: require,
            connect_timeout: Duration::from_millis(200),
            l2_timeout: Duration::from_millis(50),
            backplane: false,
            ..Default::default()
        }
    }

    /// What the cache logs at WARN and above while `run` runs on this thread.
    fn warnings_during<T>(run: impl FnOnce() -> T) -> (T, String) {
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let value = tracing::subscriber::with_default(subscriber, run);
        let text = String::from_utf8_lossy(
            &captured
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned();
        (value, text)
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn the_default_url_is_warned_about_once_per_cache() {
        let (cache, logged) = warnings_during(|| {
            block_on(async {
                TieredCache::<StubConnector<true>>::new(config(
                    Some(CacheConfig::DEFAULT_REDIS_URL),
                    false,
                ))
                .await
            })
        });
        assert!(cache.is_ok());
        assert_eq!(logged.matches(DEFAULT_URL_WARNING).count(), 1, "{logged}");
        assert!(logged.contains("WARN"), "{logged}");
    }

    #[test]
    fn another_url_or_none_is_not_warned_about() {
        for url in [Some("redis://cache.internal:6379"), None] {
            let (cache, logged) = warnings_during(|| {
                block_on(TieredCache::<StubConnector<true>>::new(config(url, false)))
            });
            assert!(cache.is_ok());
            assert!(!logged.contains("no redis_url configured"), "{logged}");
        }
        assert!(warn_if_default_url(&CacheConfig::default()));
        assert!(!warn_if_default_url(&config(None, false)));
    }

    #[test]
    fn a_required_l2_that_does_not_answer_fails_the_start_within_connect_timeout() {
        let url = "redis://app:hunter2@127.0.0.1:9";
        let started = Instant::now();
        let result = block_on(TieredCache::<StubConnector<false>>::new(config(
            Some(url),
            true,
        )));
        let elapsed = started.elapsed();
        let Err(error) = result else {
            panic!("the start should fail");
        };
        assert!(
            matches!(&error, StartError::L2Unavailable { waited, .. } if *waited == Duration::from_millis(200)),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("stub://app:***@nowhere"), "{message}");
        assert!(message.contains("connection refused"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        // connect_timeout, a ping bounded by l2_timeout, and the close: well under a second.
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    }

    #[test]
    fn requiring_an_l2_that_cannot_exist_is_a_config_error() {
        let none = block_on(TieredCache::<StubConnector<true>>::new(config(None, true)));
        let no_connector = block_on(TieredCache::<crate::NoL2>::new(config(
            Some("redis://cache.internal:6379"),
            true,
        )));
        for result in [none.map(|_| ()), no_connector.map(|_| ())] {
            let field = result
                .expect_err("nothing to require")
                .config_error()
                .map(|e| e.field().to_owned());
            assert_eq!(field.as_deref(), Some("require_l2_at_startup"));
        }
    }

    #[test]
    fn a_required_l2_that_answers_starts_and_an_unrequired_one_need_not() {
        let url = Some("redis://cache.internal:6379");
        assert!(block_on(TieredCache::<StubConnector<true>>::new(config(url, true))).is_ok());
        let degraded = block_on(TieredCache::<StubConnector<false>>::new(config(url, false)));
        assert!(degraded.is_ok(), "not required: starts degraded");
    }
}
