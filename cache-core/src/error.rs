//! The errors a caller can see, and what each one means.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A configuration field that cannot be used. Returned by [`CacheConfig::validate`], by cache
/// construction (inside [`StartError::Config`]) and by the environment overlay
/// ([`CacheConfig::with_env`]), which also names the variable.
///
/// Its message never shows a password.
///
/// [`CacheConfig::validate`]: crate::CacheConfig::validate
/// [`CacheConfig::with_env`]: crate::CacheConfig::with_env
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: Cow<'static, str>,
    variable: Option<String>,
    reason: String,
}

impl ConfigError {
    /// An error for `field` (the `CacheConfig` field name) with a reason a human can act on.
    /// The reason must not contain credentials.
    pub fn new(field: &'static str, reason: String) -> Self {
        ConfigError {
            field: Cow::Borrowed(field),
            variable: None,
            reason,
        }
    }

    /// An error about the value of environment variable `variable`, meant for `field`.
    pub(crate) fn from_variable(
        field: impl Into<Cow<'static, str>>,
        variable: &str,
        reason: String,
    ) -> Self {
        ConfigError {
            field: field.into(),
            variable: Some(variable.to_owned()),
            reason,
        }
    }

    /// The name of the offending `CacheConfig` field (for an environment variable that names no
    /// field, the name it would have: `l2_timout` for `TIERED_CACHE_L2_TIMOUT`).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The environment variable the bad value came from, when it came from one.
    ///
    /// ```
    /// use tiered_cache_core::CacheConfig;
    ///
    /// let error = CacheConfig::default()
    ///     .with_vars([("TIERED_CACHE_L1_MAX_SIZE", "lots")])
    ///     .expect_err("not a number");
    /// assert_eq!(error.field(), "l1_max_size");
    /// assert_eq!(error.variable(), Some("TIERED_CACHE_L1_MAX_SIZE"));
    /// assert!(error.to_string().contains(r#""lots" is not a whole number"#));
    /// ```
    pub fn variable(&self) -> Option<&str> {
        self.variable.as_deref()
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid cache config `{}`", self.field)?;
        if let Some(variable) = &self.variable {
            write!(f, " (environment variable {variable})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Why a cache did not start: [`TieredCache::new`](crate::TieredCache::new) and
/// [`CacheBuilder::build`](crate::CacheBuilder::build).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tiered_cache_core::{CacheConfig, StartError, TieredCache};
///
/// let config = CacheConfig { l1_max_size: 0, redis_url: None, ..Default::default() };
/// match TieredCache::<tiered_cache_core::NoL2>::new(config).await {
///     Err(StartError::Config(error)) => assert_eq!(error.field(), "l1_max_size"),
///     Err(StartError::L2Unavailable { backend, reason, .. }) => {
///         unreachable!("no L2 here; with one: {backend} did not answer: {reason}")
///     }
///     Err(other) => unreachable!("{other}"),
///     Ok(_) => unreachable!("l1_max_size 0 is invalid"),
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `require_l2_at_startup` is set and L2 did not answer within `connect_timeout`. The cache
    /// was closed.
    #[error(
        "L2 {backend} was not usable within connect_timeout ({waited:?}) and \
         require_l2_at_startup is set: {reason}"
    )]
    L2Unavailable {
        /// The backend, as health reports describe it: the URL with its password redacted.
        backend: String,
        /// How long the cache waited (`connect_timeout`).
        waited: Duration,
        /// What the backend said last (connection refused, authentication failed, a timeout).
        reason: String,
    },
}

impl StartError {
    /// The config error, when that is what this is.
    pub fn config_error(&self) -> Option<&ConfigError> {
        match self {
            StartError::Config(error) => Some(error),
            StartError::L2Unavailable { .. } => None,
        }
    }
}

/// Why a cache operation was refused. Only problems the caller can fix are errors: Redis being
/// down, slow or holding foreign bytes never is (the cache carries on without L2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The namespace has characters or a length the cache does not accept.
    #[error("invalid namespace `{namespace}`: {reason}")]
    InvalidNamespace {
        /// The namespace as given (truncated when long).
        namespace: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key is empty or too long.
    #[error("invalid key `{key}`: {reason}")]
    InvalidKey {
        /// The key as given (truncated when long).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A per-call option has a value the cache cannot use.
    #[error("invalid option `{option}`: {reason}")]
    InvalidOption {
        /// The builder method, e.g. `ttl`.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The encoded value is larger than `max_value_size`; it was stored in neither tier.
    #[error("value of {size} bytes exceeds max_value_size ({max} bytes); not cached")]
    ValueTooLarge {
        /// Encoded size in bytes.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// The value could not be encoded with the codec the write chose; it was stored in neither
    /// tier. The message names the Rust type and the codec: "`my_app::Report` could not be
    /// encoded with json: ...".
    #[error("{0}")]
    Serialize(String),
    /// The cache was closed with [`TieredCache::close`](crate::TieredCache::close).
    #[error("the cache is closed")]
    Closed,
    /// A loader ran past `hard_timeout` and no previous value could stand in (what
    /// [`LoadError::TimedOut`] becomes when a load's error is turned into the caller's own, see
    /// [`LoadError::into_error`]).
    #[error("the loader timed out after {0:?}")]
    TimedOut(Duration),
}

/// Why a [`refresh_with`](crate::GetBuilder::refresh_with) read produced no value.
///
/// The loader's own error is shared by every caller that waited on the same load, hence the
/// `Arc`. `LoadError<E>` implements [`std::error::Error`] when `E` does, so `?` turns it into
/// `anyhow::Error` or `Box<dyn Error>`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tiered_cache_core::{CacheConfig, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// let failed = cache
///     .get::<u32>("k")
///     .refresh_with(|| async { Err::<u32, _>(std::io::Error::other("db down")) })
///     .await;
/// match failed {
///     Err(tiered_cache_core::LoadError::Loader(error)) => assert_eq!(error.to_string(), "db down"),
///     other => panic!("{other:?}"),
/// }
/// # Ok(()) }
/// ```
#[non_exhaustive]
pub enum LoadError<E> {
    /// The loader returned this error. Nothing was cached.
    Loader(Arc<E>),
    /// The cache refused the call (bad key, bad namespace, closed cache).
    Cache(CacheError),
    /// The loader ran past `hard_timeout` and no fallback value could stand in.
    TimedOut(Duration),
}

impl<E> LoadError<E> {
    /// The loader's error, when that is what this is.
    pub fn loader_error(&self) -> Option<&E> {
        match self {
            LoadError::Loader(e) => Some(e),
            _ => None,
        }
    }

    /// The loader's error (shared with every caller that waited on the same load), or the
    /// cache's own failure (a timeout becomes [`CacheError::TimedOut`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tiered_cache_core::{CacheError, LoadError};
    ///
    /// let failed: LoadError<std::io::Error> = LoadError::Loader(Arc::new(std::io::Error::other("db down")));
    /// assert_eq!(failed.into_loader_error().unwrap().to_string(), "db down");
    /// let refused: LoadError<std::io::Error> = CacheError::Closed.into();
    /// assert_eq!(refused.into_loader_error().unwrap_err(), CacheError::Closed);
    /// ```
    pub fn into_loader_error(self) -> Result<Arc<E>, CacheError> {
        match self {
            LoadError::Loader(e) => Ok(e),
            LoadError::Cache(e) => Err(e),
            LoadError::TimedOut(after) => Err(CacheError::TimedOut(after)),
        }
    }

    /// Turns this into the caller's own error type, which says how it holds the cache's failures
    /// (`From<CacheError>`, one `#[from]` with `thiserror`); the loader's error is handed back
    /// as is: without a copy when this caller's load was the only one waiting on it, cloned
    /// otherwise. For error types that are not `Clone`, see
    /// [`into_error_with`](Self::into_error_with).
    ///
    /// ```
    /// use tiered_cache_core::{CacheError, LoadError};
    ///
    /// #[derive(Clone, Debug, thiserror::Error)]
    /// enum AppError {
    ///     #[error("not found")]
    ///     NotFound,
    ///     #[error(transparent)]
    ///     Cache(#[from] CacheError),
    /// }
    ///
    /// fn handler(result: Result<u32, LoadError<AppError>>) -> Result<u32, AppError> {
    ///     result.map_err(LoadError::into_error) // one line instead of a From impl with a match
    /// }
    /// let failed = LoadError::Loader(std::sync::Arc::new(AppError::NotFound));
    /// assert!(matches!(handler(Err(failed)), Err(AppError::NotFound)));
    /// assert!(matches!(handler(Err(CacheError::Closed.into())), Err(AppError::Cache(CacheError::Closed))));
    /// ```
    pub fn into_error(self) -> E
    where
        E: Clone + From<CacheError>,
    {
        self.into_error_with(Arc::unwrap_or_clone)
    }

    /// Like [`into_error`](Self::into_error) for an error type that is not `Clone`: `shared`
    /// turns the shared loader error into the caller's type (wrap the `Arc`, or describe it).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tiered_cache_core::{CacheError, LoadError};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// enum AppError {
    ///     #[error("database: {0}")]
    ///     Db(Arc<std::io::Error>),
    ///     #[error(transparent)]
    ///     Cache(#[from] CacheError),
    /// }
    ///
    /// let failed: LoadError<std::io::Error> = LoadError::Loader(Arc::new(std::io::Error::other("down")));
    /// let error: AppError = failed.into_error_with(AppError::Db);
    /// assert_eq!(error.to_string(), "database: down");
    /// ```
    pub fn into_error_with<E2>(self, shared: impl FnOnce(Arc<E>) -> E2) -> E2
    where
        E2: From<CacheError>,
    {
        match self.into_loader_error() {
            Ok(e) => shared(e),
            Err(e) => E2::from(e),
        }
    }
}

impl LoadError<std::convert::Infallible> {
    /// A load whose loader cannot fail can only fail for the cache's own reasons.
    pub(crate) fn into_cache_error(self) -> CacheError {
        match self {
            LoadError::Loader(never) => match *never {},
            LoadError::Cache(e) => e,
            LoadError::TimedOut(after) => CacheError::TimedOut(after),
        }
    }
}

impl<E> Clone for LoadError<E> {
    fn clone(&self) -> Self {
        match self {
            LoadError::Loader(e) => LoadError::Loader(e.clone()),
            LoadError::Cache(e) => LoadError::Cache(e.clone()),
            LoadError::TimedOut(d) => LoadError::TimedOut(*d),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Loader(e) => f.debug_tuple("Loader").field(e).finish(),
            LoadError::Cache(e) => f.debug_tuple("Cache").field(e).finish(),
            LoadError::TimedOut(d) => f.debug_tuple("TimedOut").field(d).finish(),
        }
    }
}

/// The loader's own error is the [`source`](std::error::Error::source) of `LoadError::Loader`,
/// not part of its message, so error reporters that print the chain (`anyhow`'s `{:#}`) show
/// it once.
impl<E> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Loader(_) => f.write_str("the loader failed"),
            LoadError::Cache(e) => write!(f, "the cache refused the call: {e}"),
            LoadError::TimedOut(d) => write!(f, "the loader timed out after {d:?}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for LoadError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Loader(e) => Some(&**e),
            // Its message is part of ours (it is the cache's own error, not a cause).
            LoadError::Cache(_) | LoadError::TimedOut(_) => None,
        }
    }
}

impl<E> From<CacheError> for LoadError<E> {
    fn from(e: CacheError) -> Self {
        LoadError::Cache(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("db down")]
    struct Db;

    /// Regression: `Display` repeated its `source()`, so a report of the chain printed the
    /// loader's message twice ("loader failed: db down: db down").
    #[test]
    fn regression_a_report_of_the_chain_names_each_cause_once() {
        let error: LoadError<Db> = LoadError::Loader(Arc::new(Db));
        let mut chain = vec![error.to_string()];
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            chain.push(cause.to_string());
            source = cause.source();
        }
        assert_eq!(chain, ["the loader failed", "db down"]);
        let refused: LoadError<Db> = CacheError::Closed.into();
        assert_eq!(
            refused.to_string(),
            "the cache refused the call: the cache is closed"
        );
        assert!(std::error::Error::source(&refused).is_none());
    }
}
