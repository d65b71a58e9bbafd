//! The process-wide cache `#[cached]` functions use unless they name one with `cache = ...`.
//!
//! Install it once at startup, inside the Tokio runtime that will run your code:
//!
//! ```no_run
//! use tiered_cache::CacheConfig;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     tiered_cache::init(CacheConfig {
//!         redis_url: Some("redis://localhost:6379".into()),
//!         ..Default::default()
//!     })
//!     .await?;
//!     // ... call #[cached] functions ...
//!     Ok(())
//! }
//! ```
//!
//! - [`init`] builds the cache from a config (it is `async`: it connects to Redis and starts the
//!   cache's background task, so it runs inside a Tokio runtime, after it starts). [`install`]
//!   takes a cache you built yourself, e.g. with [`TieredCache::builder`].
//! - Either succeeds once per process; a second call returns [`InitError::AlreadyInstalled`]
//!   and changes nothing (the cache already installed stays).
//! - Before anything is installed, `#[cached]` functions still work: they use a process-wide
//!   L1-only cache (the default [`CacheConfig`] without Redis: 1000 entries) and log one warning
//!   saying how to install a real one. Installing later is allowed; from then on calls use the
//!   installed cache (entries of the L1-only default are not carried over).
//! - The installed cache's background tasks run on the runtime that built it: build it in the
//!   runtime that serves your calls.

use std::sync::OnceLock;

use tokio::sync::OnceCell;

use crate::{CacheConfig, ConfigError, StartError, TieredCache};

static INSTALLED: OnceLock<TieredCache> = OnceLock::new();
static FALLBACK: OnceCell<TieredCache> = OnceCell::const_new();

/// Why [`init`] or [`install`] did not install a cache.
///
/// ```
/// use std::time::Duration;
/// use tiered_cache::{CacheConfig, InitError, StartError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// // A loopback port nothing listens on.
/// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
/// let config = CacheConfig {
///     redis_url: Some(format!("redis://127.0.0.1:{port}")),
///     require_l2_at_startup: true,
///     connect_timeout: Duration::from_millis(100),
///     ..Default::default()
/// };
/// let error = tiered_cache::init(config).await.expect_err("Redis is required");
/// assert!(matches!(error, InitError::Start(StartError::L2Unavailable { .. })));
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A cache was installed before; it stays installed.
    #[error(
        "a global cache is already installed; tiered_cache::init and tiered_cache::install succeed once per process"
    )]
    AlreadyInstalled,
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cache did not start for another reason: `require_l2_at_startup` is set and Redis did
    /// not answer within `connect_timeout` ([`StartError::L2Unavailable`]).
    #[error(transparent)]
    Start(StartError),
}

impl From<StartError> for InitError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::Config(error) => InitError::Config(error),
            other => InitError::Start(other),
        }
    }
}

/// Builds a cache from `config`, installs it as the global cache of `#[cached]` functions and
/// returns a handle to it (a clone of the installed cache: put it in your app state to use the
/// programmatic API on the same entries).
///
/// Runs inside a Tokio runtime (the cache connects to Redis and starts a background task). A
/// Redis that is down is not an error (the cache serves from L1 until it answers) unless
/// `require_l2_at_startup` is set.
///
/// ```
/// use tiered_cache::CacheConfig;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tiered_cache::InitError> {
/// let cache = tiered_cache::init(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// cache.set("greeting", &"hello".to_owned()).await.ok();
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`InitError::AlreadyInstalled`] when a cache was installed before (the new one is closed),
/// [`InitError::Config`] when `config` is invalid, [`InitError::Start`] when
/// `require_l2_at_startup` is set and Redis did not answer.
pub async fn init(config: CacheConfig) -> Result<TieredCache, InitError> {
    if INSTALLED.get().is_some() {
        return Err(InitError::AlreadyInstalled);
    }
    let cache = TieredCache::new(config).await?;
    if let Err(cache) = INSTALLED.set(cache.clone()) {
        // Another init won the race; ours must not keep a background task running.
        cache.close().await;
        return Err(InitError::AlreadyInstalled);
    }
    Ok(cache)
}

/// Installs `cache` as the global cache of `#[cached]` functions. Keep a clone to use it
/// directly; [`global_cache`] returns it too.
///
/// # Errors
/// [`InitError::AlreadyInstalled`] when a cache was installed before; `cache` is then dropped
/// (not closed: close it yourself if you keep no other clone).
pub fn install(cache: TieredCache) -> Result<(), InitError> {
    INSTALLED
        .set(cache)
        .map_err(|_| InitError::AlreadyInstalled)
}

/// The cache installed with [`init`] or [`install`], if any (not the L1-only default).
pub fn global_cache() -> Option<&'static TieredCache> {
    INSTALLED.get()
}

/// The cache a `#[cached]` function without `cache = ...` uses: the installed one, or the
/// process-wide L1-only default (created on first use, with one warning).
pub(crate) async fn for_cached_fns() -> &'static TieredCache {
    #[cfg(feature = "testing")]
    if let Some(cache) = crate::testing::scoped_global() {
        return cache;
    }
    if let Some(cache) = INSTALLED.get() {
        return cache;
    }
    // Boxed: building the fallback cache is a future of kilobytes, and every `#[cached]` call's
    // future would otherwise carry (and copy) room for it on every call.
    Box::pin(FALLBACK.get_or_init(fallback)).await
}

async fn fallback() -> TieredCache {
    tracing::warn!(
        "a #[cached] function ran before a global cache was installed; using a process-wide \
         L1-only cache (1000 entries, no Redis). Call `tiered_cache::init(config).await` (or \
         `tiered_cache::install(cache)`) at startup to use Redis"
    );
    match TieredCache::new(fallback_config()).await {
        Ok(cache) => cache,
        // `fallback_config` is the default config without Redis, which always validates (a
        // unit test checks it); building with `NoL2`-like settings cannot fail otherwise.
        Err(error) => unreachable!("the L1-only default config is valid: {error}"),
    }
}

fn fallback_config() -> CacheConfig {
    CacheConfig {
        redis_url: None,
        ..CacheConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::fallback_config;

    #[test]
    fn the_fallback_config_is_valid() {
        assert!(fallback_config().validate().is_ok());
        assert!(fallback_config().redis_url.is_none());
    }
}
