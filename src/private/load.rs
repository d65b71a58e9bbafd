//! The read a `#[cached]` call makes ([`load`]), how a loader error reaches its callers
//! ([`errors`]), and the boxed loader that keeps recursive functions `Send` ([`boxed`]).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{CacheableValue, CachedError};
use crate::{LoadBuilder, LoadError, Source, SourcedLoadFuture};

/// Starts a read-through load that reports where its value came from. The bounds repeat the
/// engine's with the messages of [`CacheableValue`] and [`CachedError`], and are the only place
/// they are checked: see [`Load`]. Generated code calls it as
/// [`Stored::load`](super::Stored::load). `errors` says how a loader error reaches the callers waiting
/// on the load (see [`errors`]).
pub fn load<'a, T, F, Fut, E>(read: LoadBuilder<'a, T, F>, errors: Errors<E>) -> Load<'a, T, E>
where
    T: CacheableValue,
    E: CachedError,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let mut future = read.share_errors(errors.share).with_source().into_future();
    // An L1 hit is answered here, where the engine's future is a known type: polled through the
    // pointer below instead, the hit paid an indirect call that nothing could inline.
    let ready = future
        .take_ready()
        .map(|answer| loaded(answer, errors.take));
    Load {
        ready,
        future,
        poll: <SourcedLoadFuture<'a, T, E> as Future>::poll,
        take_error: errors.take,
    }
}

/// The engine's [`SourcedLoadFuture`], polled through a function pointer taken in [`load`],
/// where its bounds were proven (as is the one that takes the error out); an answer known at
/// once (an L1 hit) is taken there and handed on without polling. This `Future` impl
/// has no bounds of its own, so a type the cache cannot handle is reported once, at the return
/// type, and not again at `.await` or at the answer. It allocates nothing.
pub struct Load<'a, T, E> {
    /// The answer known when the read started (an L1 hit); `future` is then not polled.
    ready: Option<Loaded<T, E>>,
    future: SourcedLoadFuture<'a, T, E>,
    poll: PollFn<'a, T, E>,
    take_error: fn(Arc<E>) -> Option<E>,
}

type PollFn<'a, T, E> = fn(
    Pin<&mut SourcedLoadFuture<'a, T, E>>,
    &mut Context<'_>,
) -> Poll<Result<(T, Source), LoadError<E>>>;

/// What a load gave one caller.
pub enum Loaded<T, E> {
    /// A value, cached or just loaded, and where it came from.
    Value(T, Source),
    /// The loader's error: this caller's own `E`.
    Failed(E),
    /// The cache refused the call (logged); the caller runs the body uncached.
    Refused,
}

// Nothing in it is pinned in place: the engine's future is `Unpin`, and the ready answer is
// moved out whole.
impl<T, E> Unpin for Load<'_, T, E> {}

impl<T, E> Future for Load<'_, T, E> {
    type Output = Loaded<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Load` is `Unpin`: `SourcedLoadFuture` is (the engine never pins its loader in place).
        let this = self.get_mut();
        if let Some(answer) = this.ready.take() {
            return Poll::Ready(answer);
        }
        let take_error = this.take_error;
        (this.poll)(Pin::new(&mut this.future), cx).map(|read| loaded(read, take_error))
    }
}

/// What the engine's answer means for one caller of a cached function.
#[inline]
fn loaded<T, E>(
    read: Result<(T, Source), LoadError<E>>,
    take_error: fn(Arc<E>) -> Option<E>,
) -> Loaded<T, E> {
    match read {
        Ok((value, source)) => Loaded::Value(value, source),
        Err(LoadError::Loader(error)) => match take_error(error) {
            Some(error) => Loaded::Failed(error),
            // Not reached: an unshared error has one holder, this caller.
            None => {
                tracing::warn!(
                    "#[cached]: the loader's error is held elsewhere; running the function uncached"
                );
                Loaded::Refused
            }
        },
        Err(error) => {
            refused(&error);
            Loaded::Refused
        }
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

/// How a loader's error reaches the callers of one load.
pub struct Errors<E> {
    /// Every waiting caller receives it (else only the caller that ran the loader).
    share: bool,
    /// This caller's own `E` from the shared `Arc`.
    take: fn(Arc<E>) -> Option<E>,
}

/// The error rule of `#[cached]` functions, picked at compile time from the return type:
///
/// - `E: Clone`: one body run answers every caller waiting on the load; each receives its own
///   clone (the last one takes the value without cloning).
/// - any other `E`: the caller whose call ran the body receives its `E` (moved, never cloned),
///   and each caller that waited on that load runs the body itself (one more body run per
///   waiter while the origin fails).
///
/// The expansion writes `(&&Tag::<Ret>::NEW).errors()` with both traits in scope; method
/// resolution takes [`ByClone`](errors::ByClone) (implemented for `&Tag`) when `E: Clone` holds, and
/// [`Unshared`](errors::Unshared) (for `Tag`, one auto-deref away) otherwise, including a type parameter `E`
/// without a `Clone` bound.
pub mod errors {
    use std::convert::Infallible;
    use std::marker::PhantomData;
    use std::sync::Arc;

    use super::Errors;

    /// Names a function's return type for [`ByClone`] and [`Unshared`].
    pub struct Tag<R>(PhantomData<fn() -> R>);

    impl<R> Tag<R> {
        /// The tag of `R`.
        pub const NEW: Self = Tag(PhantomData);
    }

    /// `Result<T, E>` with `E: Clone`: errors are shared.
    pub trait ByClone<E> {
        /// The rule for `E`.
        fn errors(&self) -> Errors<E>;
    }

    impl<T, E: Clone> ByClone<E> for &Tag<Result<T, E>> {
        fn errors(&self) -> Errors<E> {
            Errors {
                share: true,
                take: |error| Some(Arc::unwrap_or_clone(error)),
            }
        }
    }

    /// `Result<T, E>` with any other `E`: errors stay with the caller that ran the body.
    pub trait Unshared<E> {
        /// The rule for `E`.
        fn errors(&self) -> Errors<E>;
    }

    impl<T, E> Unshared<E> for Tag<Result<T, E>> {
        fn errors(&self) -> Errors<E> {
            Errors {
                share: false,
                take: Arc::into_inner,
            }
        }
    }

    /// Functions whose loader cannot fail (every return type but `Result` without
    /// `cache_err`).
    pub fn none() -> Errors<Infallible> {
        Errors {
            share: true,
            take: |never| match *never {},
        }
    }
}

/// The future of a `#[cached]` function's loader, boxed, with `Send` in its type.
///
/// The loader's future is the body's, which may call the cached function again (recursion).
/// Had the read named that future's type, proving it `Send` would need the cached function's
/// own future type while that type is being inferred, which the compiler refuses. Boxed in a
/// function of its own (`__cached_load_{fn}`), whose signature states `Send`, nothing in the
/// cached function depends on the body's future type.
pub type BoxedLoad<R> = Pin<Box<dyn Future<Output = R> + Send + 'static>>;

/// Boxes a loader future; the `Send` bound is checked here, at the loader function.
pub fn boxed<F>(future: F) -> BoxedLoad<F::Output>
where
    F: Future + Send + 'static,
{
    Box::pin(future)
}
