//! What `#[cached]` expansions call, and nothing else. Not a public API: it changes with the
//! macro, which the facade pins with `=`.
//!
//! The traits here carry `#[diagnostic::on_unimplemented]` messages, and the expansion spans
//! each use at the tokens it is about (the return type, an argument, `self`, the `cache = ...`
//! expression), so a type the cache cannot handle is reported there, in words.

use std::borrow::Borrow;
use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The cache of a `#[cached]` function without `cache = ...`: the installed one, or the
/// L1-only default.
pub async fn global() -> &'static TieredCache {
    crate::global::for_cached_fns().await
}
use crate::{LoadBuilder, LoadError, SetBuilder, TieredCache};

/// A value a cached function may return (the stored part of it: `T` of `Result<T, E>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: #[cached] stores values that are `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`",
    label = "this return type holds a `{Self}`, which the cache cannot store",
    note = "derive `Clone`, `serde::Serialize` and `serde::Deserialize` for it, or cache a type that has them"
)]
pub trait CacheableValue: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> CacheableValue for T {}

/// An error every caller coalesced on one load receives.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` of a #[cached] function must be `Clone + Send + Sync + 'static`",
    label = "every caller waiting on one load receives this error, so it is cloned",
    note = "derive `Clone` for the error, or return `Result<T, Arc<{Self}>>` (`?` converts through `From`)"
)]
pub trait SharedError: Clone + Send + Sync + 'static {}
impl<E: Clone + Send + Sync + 'static> SharedError for E {}

/// An argument passed by value: the background refresh gets a clone.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a #[cached] function: it must be `Clone + Send + 'static`",
    label = "a background refresh calls the body later with its own copy of this argument",
    note = "pass `&T` (copied with `ToOwned`), or an owned value that is `Clone` (wrap shared state in `Arc`)"
)]
pub trait OwnedArg: Clone + Send + 'static {
    /// The copy the loader owns.
    fn owned(&self) -> Self {
        self.clone()
    }
}
impl<T: Clone + Send + 'static> OwnedArg for T {}

/// An argument passed as `&T`: the background refresh gets `T::to_owned()` and lends it back.
#[diagnostic::on_unimplemented(
    message = "`&{Self}` cannot be an argument of a #[cached] function: `{Self}` must be `ToOwned` (e.g. `Clone`) with a `Send + Sync + 'static` owned form",
    label = "a background refresh calls the body later with its own copy of this argument",
    note = "`&str`, `&[T]` and `&T` with `T: Clone` work; wrap other shared state in `Arc`"
)]
pub trait BorrowedArg: ToOwned<Owned: Send + Sync + 'static> {
    /// The copy the loader owns.
    fn owned(&self) -> Self::Owned {
        self.to_owned()
    }
}
impl<T: ?Sized + ToOwned<Owned: Send + Sync + 'static>> BorrowedArg for T {}

/// `Self` of a `&self` method: the background refresh runs the body on a clone.
#[diagnostic::on_unimplemented(
    message = "a #[cached] method needs `{Self}: Clone + Send + Sync + 'static`",
    label = "a background refresh runs the body later on a clone of `self`",
    note = "derive `Clone` (keep shared state behind `Arc`), or cache a free function that takes what the body needs"
)]
pub trait OwnedReceiver: Clone + Send + Sync + 'static {
    /// The copy the loader owns.
    fn owned(&self) -> Self {
        self.clone()
    }
}
impl<T: Clone + Send + Sync + 'static> OwnedReceiver for T {}

/// What `#[cached(cache = ...)]` accepts: a `TieredCache` (a field such as `self.cache`, a
/// static) or a function returning `TieredCache` or `&TieredCache`.
#[diagnostic::on_unimplemented(
    message = "#[cached(cache = ...)] needs a `TieredCache`, or a function returning one; `{Self}` is neither",
    label = "not a cache",
    note = "write `cache = self.cache` for a field, `cache = my_cache` for `fn my_cache() -> &'static TieredCache`"
)]
pub trait CacheSource {
    /// The cache to use for this call.
    fn handle(&self) -> TieredCache;
}

impl CacheSource for TieredCache {
    fn handle(&self) -> TieredCache {
        self.clone()
    }
}

impl CacheSource for Arc<TieredCache> {
    fn handle(&self) -> TieredCache {
        TieredCache::clone(self)
    }
}

impl<F, R> CacheSource for F
where
    F: Fn() -> R,
    R: Borrow<TieredCache>,
{
    fn handle(&self) -> TieredCache {
        self().borrow().clone()
    }
}

/// Awaits a read-through load. The bounds repeat the engine's with the messages above, and the
/// future is opaque, so a value the cache cannot store is reported once, at the return type.
pub fn load<'a, T, F, Fut, E>(
    read: LoadBuilder<'a, T, F>,
) -> impl Future<Output = Result<T, LoadError<E>>> + 'a
where
    T: CacheableValue,
    E: SharedError,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    read.into_future()
}

/// Awaits a write from a `{fn}_prime` companion; a refusal is logged, not returned.
pub async fn primed<T: CacheableValue>(write: SetBuilder<'_, T>) {
    if let Err(error) = write.await {
        tracing::warn!(%error, "#[cached] prime: the cache refused the value; it was not stored");
    }
}

/// The cache refused a call: say so, and let the caller run the body uncached.
fn bypass<E>(read: &LoadError<E>) {
    match read {
        LoadError::Cache(error) => tracing::warn!(
            %error,
            "#[cached]: the cache refused this call; running the function uncached"
        ),
        _ => tracing::warn!("#[cached]: the cache could not serve this call; running it uncached"),
    }
}

/// Functions returning any `T`, all of it cached (also `Option` with `cache_none`, `Result`
/// with `cache_err`).
pub mod plain {
    use super::{Infallible, LoadError, bypass};

    /// The loader's output.
    pub fn loaded<T>(value: T) -> Result<T, Infallible> {
        Ok(value)
    }

    /// The caller's return value, or `None` to run the body uncached.
    pub fn answer<T>(read: Result<T, LoadError<Infallible>>) -> Option<T> {
        match read {
            Ok(value) => Some(value),
            Err(error) => {
                bypass(&error);
                None
            }
        }
    }

    /// What a prime stores.
    pub fn stored<T>(ret: &T) -> Option<&T> {
        Some(ret)
    }
}

/// Functions returning `Result<T, E>`: `Ok` is cached, `Err` reaches every coalesced caller.
pub mod fallible {
    use super::{Arc, LoadError, bypass};

    /// The caller's return value, or `None` to run the body uncached.
    pub fn answer<T, E: Clone>(read: Result<T, LoadError<E>>) -> Option<Result<T, E>> {
        match read {
            Ok(value) => Some(Ok(value)),
            Err(LoadError::Loader(error)) => Some(Err(Arc::unwrap_or_clone(error))),
            Err(error) => {
                bypass(&error);
                None
            }
        }
    }

    /// What a prime stores.
    pub fn stored<T, E>(ret: &Result<T, E>) -> Option<&T> {
        ret.as_ref().ok()
    }
}

/// Functions returning `Option<T>`: `Some` is cached, `None` reaches every coalesced caller.
pub mod optional {
    use super::{LoadError, bypass};

    /// The loader's error for `None`: nothing to cache.
    #[derive(Clone, Copy, Debug)]
    pub struct Absent;

    /// The loader's output.
    pub fn loaded<T>(value: Option<T>) -> Result<T, Absent> {
        value.ok_or(Absent)
    }

    /// The caller's return value, or `None` to run the body uncached.
    pub fn answer<T>(read: Result<T, LoadError<Absent>>) -> Option<Option<T>> {
        match read {
            Ok(value) => Some(Some(value)),
            Err(LoadError::Loader(_)) => Some(None),
            Err(error) => {
                bypass(&error);
                None
            }
        }
    }

    /// What a prime stores.
    pub fn stored<T>(ret: &Option<T>) -> Option<&T> {
        ret.as_ref()
    }
}
