//! What `#[cached]` expansions call, and nothing else. Not a public API: it changes with the
//! macro, which the facade pins with `=`.
//!
//! The traits here carry `#[diagnostic::on_unimplemented]` messages, and the expansion spans
//! each use at the tokens it is about (the return type, an argument, `self`, the `cache = ...`
//! expression), so a type the cache cannot handle is reported there, in words.

use std::borrow::Borrow;
use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The cache of a `#[cached]` function without `cache = ...`: the installed one, or the
/// L1-only default.
pub async fn global() -> &'static TieredCache {
    crate::global::for_cached_fns().await
}
use crate::{CacheError, LoadBuilder, LoadError, LoadFuture, SetBuilder, TieredCache};

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
///
/// The requirements sit on the impl, not on the trait, so a type that misses one is reported
/// as "not `OwnedArg`" with the message below (a supertrait would be reported on its own).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of a #[cached] function: it must be `Clone + Send + 'static`",
    label = "a background refresh calls the body later with its own copy of this argument",
    note = "pass `&T` (the refresh gets an owned copy), or a value that is `Clone` (wrap shared state in `Arc`)"
)]
pub trait OwnedArg: Sized {
    /// The copy the loader owns.
    fn owned(&self) -> Self;
}

impl<T: Clone + Send + 'static> OwnedArg for T {
    fn owned(&self) -> Self {
        self.clone()
    }
}

/// An argument passed as `&T`: the background refresh gets an owned copy (`T` for `T: Clone`,
/// `String` for `str`, `Vec<T>` for `[T]`, ...) and lends it back as `&T`.
#[diagnostic::on_unimplemented(
    message = "`&{Self}` cannot be an argument of a #[cached] function: `{Self}` must be `Clone + Send + Sync + 'static`",
    label = "a background refresh calls the body later with its own copy of this argument",
    note = "`&str`, `&[T]`, `&Path`, `&OsStr`, `&CStr` and `&T` with `T: Clone` work; wrap other shared state in `Arc`"
)]
pub trait BorrowedArg {
    /// `String` for `str`, `Vec<T>` for `[T]`, `T` for `T: Clone`.
    type Owned;
    /// The copy the loader owns.
    fn owned(&self) -> Self::Owned;
}

impl<T: Clone + Send + Sync + 'static> BorrowedArg for T {
    type Owned = T;

    fn owned(&self) -> T {
        self.clone()
    }
}

/// The unsized borrowed forms: `&str`, `&[T]`, `&Path`, `&OsStr`, `&CStr`.
macro_rules! borrowed_unsized {
    ($($ty:ty => $owned:ty),* $(,)?) => {$(
        impl BorrowedArg for $ty {
            type Owned = $owned;

            fn owned(&self) -> $owned {
                self.to_owned()
            }
        }
    )*};
}

borrowed_unsized! {
    str => String,
    std::path::Path => std::path::PathBuf,
    std::ffi::OsStr => std::ffi::OsString,
    std::ffi::CStr => std::ffi::CString,
}

impl<T: Clone + Send + Sync + 'static> BorrowedArg for [T] {
    type Owned = Vec<T>;

    fn owned(&self) -> Vec<T> {
        self.to_vec()
    }
}

/// `Self` of a `&self` method: the background refresh runs the body on a clone.
#[diagnostic::on_unimplemented(
    message = "a #[cached] method needs `{Self}: Clone + Send + Sync + 'static`",
    label = "a background refresh runs the body later on a clone of `self`",
    note = "derive `Clone` (keep shared state behind `Arc`), or cache a free function that takes what the body needs"
)]
pub trait OwnedReceiver: Sized {
    /// The copy the loader owns.
    fn owned(&self) -> Self;
}

impl<T: Clone + Send + Sync + 'static> OwnedReceiver for T {
    fn owned(&self) -> Self {
        self.clone()
    }
}

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

/// Starts a read-through load. The bounds repeat the engine's with the messages above, and are
/// the only place they are checked: see [`Load`].
pub fn load<'a, T, F, Fut, E>(read: LoadBuilder<'a, T, F>) -> Load<'a, T, E>
where
    T: CacheableValue,
    E: SharedError,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    Load {
        future: read.into_future(),
        poll: <LoadFuture<'a, T, E> as Future>::poll,
        take_error: Arc::unwrap_or_clone,
    }
}

/// The engine's [`LoadFuture`], polled through a function pointer taken in [`load`], where its
/// bounds were proven (as is the one that clones a shared error). This `Future` impl has no
/// bounds of its own, so a type the cache cannot handle is reported once, at the return type,
/// and not again at `.await` or at the answer. It allocates nothing.
pub struct Load<'a, T, E> {
    future: LoadFuture<'a, T, E>,
    poll: PollFn<'a, T, E>,
    take_error: fn(Arc<E>) -> E,
}

type PollFn<'a, T, E> =
    fn(Pin<&mut LoadFuture<'a, T, E>>, &mut Context<'_>) -> Poll<Result<T, LoadError<E>>>;

/// What a load gave one caller.
pub enum Loaded<T, E> {
    /// A value, cached or just loaded.
    Value(T),
    /// The loader's error: this caller's own clone of it.
    Failed(E),
    /// The cache refused the call (logged); the caller runs the body uncached.
    Refused,
}

impl<T, E> Future for Load<'_, T, E> {
    type Output = Loaded<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `LoadFuture` is `Unpin` (the engine never pins its loader in place).
        let this = self.get_mut();
        (this.poll)(Pin::new(&mut this.future), cx).map(|read| match read {
            Ok(value) => Loaded::Value(value),
            Err(LoadError::Loader(error)) => Loaded::Failed((this.take_error)(error)),
            Err(error) => {
                refused(&error);
                Loaded::Refused
            }
        })
    }
}

/// Writes the value a `{fn}_prime` companion stores; a refusal is logged, not returned. The
/// future it returns names no `T`, so the bound is checked once, here.
pub fn primed<T: CacheableValue>(write: SetBuilder<'_, T>) -> Primed<'_> {
    Primed(write.into_future())
}

/// The write of a [`primed`] value.
pub struct Primed<'a>(Pin<Box<dyn Future<Output = Result<(), CacheError>> + Send + 'a>>);

impl Future for Primed<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx).map(|written| {
            if let Err(error) = written {
                tracing::warn!(%error, "#[cached] prime: the cache refused the value; it was not stored");
            }
        })
    }
}

/// The cache refused a call: say so (the caller then runs the body uncached).
fn refused<E>(read: &LoadError<E>) {
    match read {
        LoadError::Cache(error) => tracing::warn!(
            %error,
            "#[cached]: the cache refused this call; running the function uncached"
        ),
        // Not reached: #[cached] reads wait for their loader (`wait_for_loader`).
        LoadError::TimedOut(after) => tracing::warn!(
            ?after,
            "#[cached]: the load passed hard_timeout; running the function uncached"
        ),
        _ => tracing::warn!("#[cached]: the cache could not serve this call; running it uncached"),
    }
}

/// Functions returning any `T`, all of it cached (also `Option` with `cache_none`, `Result`
/// with `cache_err`).
pub mod plain {
    use super::{Infallible, Loaded};

    /// The loader's output.
    pub fn loaded<T>(value: T) -> Result<T, Infallible> {
        Ok(value)
    }

    /// The caller's return value, or `None` to run the body uncached.
    pub fn answer<T>(read: Loaded<T, Infallible>) -> Option<T> {
        match read {
            Loaded::Value(value) => Some(value),
            Loaded::Failed(never) => match never {},
            Loaded::Refused => None,
        }
    }

    /// What a prime stores.
    pub fn stored<T>(ret: &T) -> Option<&T> {
        Some(ret)
    }
}

/// Functions returning `Result<T, E>`: `Ok` is cached, `Err` reaches every coalesced caller.
pub mod fallible {
    use super::Loaded;

    /// The caller's return value, or `None` to run the body uncached.
    pub fn answer<T, E>(read: Loaded<T, E>) -> Option<Result<T, E>> {
        match read {
            Loaded::Value(value) => Some(Ok(value)),
            Loaded::Failed(error) => Some(Err(error)),
            Loaded::Refused => None,
        }
    }

    /// What a prime stores.
    pub fn stored<T, E>(ret: &Result<T, E>) -> Option<&T> {
        ret.as_ref().ok()
    }
}

/// Functions returning `Option<T>`: the whole `Option` is the stored type; `Some` is cached, a
/// `None` reaches every coalesced caller and removes the entry (`cache_none(false)`).
pub mod optional {
    use super::{Infallible, Loaded};

    /// The loader's output.
    pub fn loaded<T>(value: Option<T>) -> Result<Option<T>, Infallible> {
        Ok(value)
    }

    /// The caller's return value, or `None` to run the body uncached.
    pub fn answer<T>(read: Loaded<Option<T>, Infallible>) -> Option<Option<T>> {
        match read {
            Loaded::Value(value) => Some(value),
            Loaded::Failed(never) => match never {},
            Loaded::Refused => None,
        }
    }

    /// What a prime stores: a `Some` (a `None` removes the entry instead).
    pub fn stored<T>(ret: &Option<T>) -> Option<&Option<T>> {
        ret.is_some().then_some(ret)
    }
}

/// The removal a `{fn}_prime` companion makes for a `None`; a refusal is logged, not returned.
pub async fn removed<F: IntoFuture<Output = Result<(), CacheError>>>(invalidation: F) {
    if let Err(error) = invalidation.await {
        tracing::warn!(%error, "#[cached] prime: the cache refused to remove the entry");
    }
}

#[path = "private/key.rs"]
pub mod key;
