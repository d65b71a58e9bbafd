//! [`GetWith`]: a read-through whose loader cannot fail, answered with `Result<T, CacheError>`.

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::load::{Cacheable, LoadBuilder};
use super::load_future::LoadFuture;
use crate::codec::CodecKind;
use crate::error::{CacheError, LoadError};

/// A read that loads misses with a loader that cannot fail (it returns `T`, not a `Result`);
/// `.await` it for `Result<T, CacheError>`. Made by
/// [`TieredCache::get_with`](crate::TieredCache::get_with) and
/// [`Namespace::get_with`](crate::Namespace::get_with).
///
/// Everything else is [`refresh_with`](crate::GetBuilder::refresh_with)'s: concurrent misses
/// share one loader call, a stale entry is served at once while one background refresh runs.
/// The caller waits for the loader however long it runs (a `hard_timeout` answers only with a
/// previous value, never with an error). The only errors are the cache's own: an invalid key or
/// option, or a closed cache.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tiered_cache_core::CacheError> {
/// use std::time::Duration;
/// use tiered_cache_core::{CacheConfig, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() })
///     .await
///     .expect("valid config");
/// let greeting: String = cache
///     .get_with("greeting:ada", || async { "hello ada".to_owned() })
///     .ttl(Duration::from_secs(60))
///     .await?;
/// assert_eq!(greeting, "hello ada");
/// # Ok(()) }
/// ```
#[must_use = "a read does nothing until awaited"]
pub struct GetWith<'a, T, F> {
    load: LoadBuilder<'a, T, F>,
}

impl<'a, T, F> GetWith<'a, T, F> {
    pub(crate) fn new(load: LoadBuilder<'a, T, F>) -> Self {
        GetWith { load }
    }

    /// Reads from `namespace` instead of `"default"`.
    pub fn namespace(mut self, namespace: &'a str) -> Self {
        self.load = self.load.namespace(namespace);
        self
    }

    /// Lifetime of a loaded entry (default `l2_ttl`).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.load = self.load.ttl(ttl);
        self
    }

    /// Stale window of a loaded entry (default: the configured window). Must be shorter than
    /// the ttl.
    pub fn stale(mut self, window: Duration) -> Self {
        self.load = self.load.stale(window);
        self
    }

    /// See [`LoadBuilder::skip_l2_write`].
    pub fn skip_l2_write(mut self) -> Self {
        self.load = self.load.skip_l2_write();
        self
    }

    /// See [`LoadBuilder::skip_backplane`].
    pub fn skip_backplane(mut self) -> Self {
        self.load = self.load.skip_backplane();
        self
    }

    /// Writes a loaded value with `codec` instead of the config's (see
    /// [`LoadBuilder::codec`]).
    pub fn codec(mut self, codec: CodecKind) -> Self {
        self.load = self.load.codec(codec);
        self
    }

    /// See [`LoadBuilder::skip_distributed_lock`].
    pub fn skip_distributed_lock(mut self) -> Self {
        self.load = self.load.skip_distributed_lock();
        self
    }

    /// Tags a loaded entry (see [`SetBuilder::tags`](crate::SetBuilder::tags)).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.load = self.load.tags(tags);
        self
    }
}

impl<'a, T, F, Fut> IntoFuture for GetWith<'a, T, F>
where
    T: Cacheable,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    type Output = Result<T, CacheError>;
    type IntoFuture = GetWithFuture<'a, T>;

    fn into_future(self) -> Self::IntoFuture {
        let load = self
            .load
            .map_loader(|loader| move || infallible(loader()))
            .wait_for_loader();
        GetWithFuture {
            load: load.into_future(),
        }
    }
}

async fn infallible<T>(value: impl Future<Output = T>) -> Result<T, Infallible> {
    Ok(value.await)
}

/// The future of a [`GetWith`]; complete before its first poll on an L1 hit.
#[must_use = "futures do nothing unless polled"]
pub struct GetWithFuture<'a, T> {
    load: LoadFuture<'a, T, Infallible>,
}

impl<T> Future for GetWithFuture<'_, T> {
    type Output = Result<T, CacheError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.load)
            .poll(cx)
            .map(|result| result.map_err(LoadError::into_cache_error))
    }
}
