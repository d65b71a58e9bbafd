//! The futures of reads with a loader, and what each answers: the value ([`LoadFuture`]), the
//! value with its source ([`SourcedLoadFuture`]) or a shared handle
//! ([`SharedLoadFuture`](super::shared::SharedLoadFuture)). All three are one [`LoadState`]:
//! answered at once on an L1 hit, or the boxed slow path; an [`Answer`] kind says how a hit
//! and the slow path's value become the answer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{CacheError, LoadError};
use crate::l1::Entry;
use crate::l2::BoxFuture;
use crate::source::{Source, Tier};

/// The future of a [`LoadBuilder`](super::LoadBuilder). An L1 hit is complete before the first
/// poll and allocates nothing (a stale hit spawns the refresh task).
#[must_use = "futures do nothing unless polled"]
pub struct LoadFuture<'a, T, E> {
    pub(super) state: LoadState<'a, Plain, T, E>,
}

// Nothing is pinned in place: the slow path is boxed.
impl<T, E> Unpin for LoadFuture<'_, T, E> {}

impl<T, E> Future for LoadFuture<'_, T, E> {
    type Output = Result<T, LoadError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().state.poll_answer(cx)
    }
}

/// The future of a [`WithSource`](super::WithSource): complete before its first poll on an L1
/// hit.
#[must_use = "futures do nothing unless polled"]
pub struct SourcedLoadFuture<'a, T, E> {
    pub(super) state: LoadState<'a, Sourced, T, E>,
}

// Nothing is pinned in place: the slow path is boxed.
impl<T, E> Unpin for SourcedLoadFuture<'_, T, E> {}

impl<T, E> SourcedLoadFuture<'_, T, E> {
    /// The answer, taken, when it was known as the read started (an L1 hit, a refused call):
    /// for wrappers that hand it on without polling through another layer. `None` when the read
    /// has to be polled, or its answer was taken; the future must not be polled after an answer
    /// was taken.
    #[doc(hidden)]
    #[inline]
    pub fn take_ready(&mut self) -> Option<Result<(T, Source), LoadError<E>>> {
        match &mut self.state {
            LoadState::Ready(ready) => ready.take(),
            LoadState::Slow(_) => None,
        }
    }
}

impl<T, E> Future for SourcedLoadFuture<'_, T, E> {
    type Output = Result<(T, Source), LoadError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().state.poll_answer(cx)
    }
}

/// The slow path, boxed; it reports where its value came from.
pub(crate) type SlowLoad<'a, T, E> = BoxFuture<'a, Result<(T, Source), LoadError<E>>>;

/// What a read with a loader answers, made from the slow path's value and source: one kind
/// per future ([`Plain`], [`Sourced`], and the shared handle's).
pub(crate) trait Answer<T> {
    /// The answer.
    type Out;
    /// The answer of the slow path, which found or loaded `value` as `source` says.
    fn loaded(value: T, source: Source) -> Self::Out;
}

/// How an L1 hit becomes an [`Answer`].
pub(crate) trait HitAnswer<T>: Answer<T> {
    /// Takes an answer out of an L1 entry holding `value` (`stale`: in its stale window).
    fn hit(value: &T, entry: &Entry, stale: bool) -> Self::Out;
}

/// The value alone, cloned out of L1.
pub(crate) enum Plain {}

impl<T> Answer<T> for Plain {
    type Out = T;

    fn loaded(value: T, _: Source) -> T {
        value
    }
}

impl<T: Clone> HitAnswer<T> for Plain {
    #[inline]
    fn hit(value: &T, _: &Entry, _stale: bool) -> T {
        value.clone()
    }
}

/// The value and where it came from.
pub(crate) enum Sourced {}

impl<T> Answer<T> for Sourced {
    type Out = (T, Source);

    fn loaded(value: T, source: Source) -> (T, Source) {
        (value, source)
    }
}

impl<T: Clone> HitAnswer<T> for Sourced {
    #[inline]
    fn hit(value: &T, _: &Entry, stale: bool) -> (T, Source) {
        (value.clone(), Source::found(Tier::L1, stale))
    }
}

/// Where a load's future is: answered (an L1 hit, or a refusal), or on the boxed slow path.
pub(crate) enum LoadState<'a, A: Answer<T>, T, E> {
    Ready(Option<Result<A::Out, LoadError<E>>>),
    Slow(SlowLoad<'a, T, E>),
}

impl<A: Answer<T>, T, E> LoadState<'_, A, T, E> {
    /// Polls for the answer.
    #[inline]
    pub(crate) fn poll_answer(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<A::Out, LoadError<E>>> {
        match self {
            LoadState::Ready(ready) => match ready.take() {
                Some(result) => Poll::Ready(result),
                None => panic!("a load's future polled after completion"),
            },
            LoadState::Slow(slow) => slow
                .as_mut()
                .poll(cx)
                .map(|result| result.map(|(value, source)| A::loaded(value, source))),
        }
    }

    pub(super) fn refused(error: CacheError) -> Self {
        LoadState::Ready(Some(Err(error.into())))
    }
}
