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

/// The body of a cached function run uncached (the cache refused the call), on the heap. The
/// body's future would otherwise be a part of every call's future, hits included, and a body
/// that holds a query's state across its awaits is kilobytes; boxed, a call's future is the
/// size of the read whatever the body, and only a refused call allocates for it.
#[inline]
pub fn out_of_line<F: Future>(body: F) -> Pin<Box<F>> {
    Box::pin(body)
}

/// The cache of a `#[cached]` function without `cache = ...`: the installed one, or the
/// L1-only default.
pub async fn global() -> &'static TieredCache {
    crate::global::for_cached_fns().await
}
use crate::{CacheError, CallMeta, FnStats, LoadBuilder, SetBuilder, TieredCache};

pub use self::calls::{Function, fn_stats, loading, refused, register, uncached};
pub use self::load::{BoxedLoad, Errors, Load, Loaded, boxed, errors, load};

/// A value a cached function may return (the stored part of it: `T` of `Result<T, E>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: #[cached] stores values that are `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`",
    label = "this return type holds a `{Self}`, which the cache cannot store",
    note = "derive `Clone`, `serde::Serialize` and `serde::Deserialize` for it, or cache a type that has them"
)]
pub trait CacheableValue: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
// Reported as the one unmet bound `CacheableValue` (the message above), not as each serde trait
// the type lacks.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> CacheableValue for T {}

/// The two generated calls that need a stored type's bounds: the read of a cached call and the
/// write of a `{fn}_prime`. As methods of one trait, a type the cache cannot store fails the same
/// bound (`Stored`) at the same span (the return type) in both generated functions, and the
/// compiler prints that error once instead of once per function and serde trait.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: #[cached] stores values that are `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`",
    label = "this return type holds a `{Self}`, which the cache cannot store",
    note = "derive `Clone`, `serde::Serialize` and `serde::Deserialize` for it, or cache a type that has them"
)]
pub trait Stored: Sized {
    /// The read of a cached call: `load` for this type.
    fn load<'a, F, Fut, E>(read: LoadBuilder<'a, Self, F>, errors: Errors<E>) -> Load<'a, Self, E>
    where
        E: CachedError,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Self, E>> + Send + 'static;

    /// The write of a `{fn}_prime`: `primed` for this type.
    fn primed(write: SetBuilder<'_, Self>) -> Primed<'_>;
}

#[diagnostic::do_not_recommend]
impl<T: CacheableValue> Stored for T {
    #[inline]
    fn load<'a, F, Fut, E>(read: LoadBuilder<'a, Self, F>, errors: Errors<E>) -> Load<'a, Self, E>
    where
        E: CachedError,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Self, E>> + Send + 'static,
    {
        load(read, errors)
    }

    #[inline]
    fn primed(write: SetBuilder<'_, Self>) -> Primed<'_> {
        primed(write)
    }
}

/// The error type of a cached function: its loads run on whichever task leads them (or in the
/// background), so the error crosses tasks. `Clone` is not required: see [`errors`].
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` of a #[cached] function must be `Send + Sync + 'static`",
    label = "a load may run on another caller's task or in the background, so its error crosses tasks",
    note = "keep the error's data owned and thread-safe (`Arc` instead of `Rc`, `Mutex` instead of `RefCell`)"
)]
pub trait CachedError: Send + Sync + 'static {}
impl<E: Send + Sync + 'static> CachedError for E {}

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

/// Functions returning any `T`, all of it cached (also `Option` with `cache_none`, `Result`
/// with `cache_err`).
pub mod plain {
    use super::{CallMeta, FnStats, Infallible, Loaded, calls};

    /// The loader's output.
    pub fn loaded<T>(value: T) -> Result<T, Infallible> {
        Ok(value)
    }

    /// The caller's return value and how it was answered (counted in `stats`), or `None` to
    /// run the body uncached.
    #[inline]
    pub fn answer<T>(read: Loaded<T, Infallible>, stats: &FnStats) -> Option<(T, CallMeta)> {
        match read {
            Loaded::Value(value, source) => Some((value, calls::served(stats, source))),
            Loaded::Failed(never) => match never {},
            Loaded::Refused => None,
        }
    }

    /// What a prime stores.
    pub fn stored<T>(ret: &T) -> Option<&T> {
        Some(ret)
    }
}

/// Functions returning `Result<T, E>`: `Ok` is cached, `Err` reaches the callers as
/// [`errors`] says.
pub mod fallible {
    use super::{CallMeta, FnStats, Loaded, calls};

    /// The caller's return value and how it was answered (counted in `stats`), or `None` to
    /// run the body uncached.
    #[inline]
    pub fn answer<T, E>(read: Loaded<T, E>, stats: &FnStats) -> Option<(Result<T, E>, CallMeta)> {
        match read {
            Loaded::Value(value, source) => Some((Ok(value), calls::served(stats, source))),
            Loaded::Failed(error) => Some((Err(error), calls::uncached(stats))),
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
    use super::{CallMeta, FnStats, Infallible, Loaded, calls};

    /// The loader's output.
    pub fn loaded<T>(value: Option<T>) -> Result<Option<T>, Infallible> {
        Ok(value)
    }

    /// The caller's return value and how it was answered (counted in `stats`), or `None` to
    /// run the body uncached.
    #[inline]
    pub fn answer<T>(
        read: Loaded<Option<T>, Infallible>,
        stats: &FnStats,
    ) -> Option<(Option<T>, CallMeta)> {
        match read {
            Loaded::Value(value, source) => Some((value, calls::served(stats, source))),
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

#[path = "private/calls.rs"]
mod calls;
#[path = "private/key.rs"]
pub mod key;
#[path = "private/load.rs"]
mod load;
#[path = "private/registry.rs"]
mod registry;
