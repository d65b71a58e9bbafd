//! [`Shared`]: a read that hands out the value L1 holds instead of a clone of it, and the
//! reads that make one: [`GetShared`] (a plain read) and [`SharedLoad`] (a read with a loader).
//!
//! L1 keeps every value typed, in one allocation with its header. A plain read clones the value
//! out, which for a large record means copying it (and every heap block it owns) on every hit;
//! wrapping values in `Arc<T>` avoids that but costs a second allocation per entry and a second
//! pointer to chase per hit. A [`Shared<T>`] is the entry itself, reference-counted: a hit
//! clones one pointer, and the value stays where L1 put it.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;

use super::load::{Cacheable, LoadBuilder, start};
use super::load_future::{Answer, HitAnswer, LoadState};
use super::read::{GetBuilder, GetFuture, start_get};
use crate::error::{CacheError, LoadError};
use crate::l1::{self, Entry};
use crate::source::Source;

/// A value read without copying it: a reference-counted handle to what the cache holds. It
/// dereferences to `T`, clones in O(1), and keeps the value alive after L1 evicts or replaces
/// it (it is a snapshot, never updated in place). Made by [`GetBuilder::shared`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tiered_cache_core::{CacheConfig, Shared, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// cache.set("page:1", &"a large page".repeat(1000)).await?;
/// let page: Shared<String> = cache.get("page:1").shared().await?.expect("a hit");
/// assert!(page.starts_with("a large page"));
/// let again = page.clone(); // a pointer, not the text
/// assert_eq!(*again, *page);
/// # Ok(()) }
/// ```
pub struct Shared<T> {
    held: Held<T>,
}

enum Held<T> {
    /// The L1 entry, which holds a `T` (checked when the handle was made).
    Stored(Entry, PhantomData<fn() -> T>),
    /// A value read from L2 or with L1 skipped, not (or not yet) an L1 entry of this read's.
    Owned(Arc<T>),
}

impl<T> Shared<T> {
    /// The handle to an L1 entry holding `value`.
    pub(crate) fn stored(_value: &T, entry: &Entry) -> Self {
        Shared {
            held: Held::Stored(entry.clone(), PhantomData),
        }
    }

    /// A handle to a value that is no L1 entry.
    pub(crate) fn owned(value: T) -> Self {
        Shared {
            held: Held::Owned(Arc::new(value)),
        }
    }
}

impl<T: 'static> Shared<T> {
    /// Whether `this` and `other` hold the very same value (not merely equal ones).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use tiered_cache_core::{CacheConfig, Shared, TieredCache};
    /// # let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.set("k", &7u64).await?;
    /// let a = cache.get::<u64>("k").shared().await?.expect("a hit");
    /// let b = cache.get::<u64>("k").shared().await?.expect("a hit");
    /// assert!(Shared::ptr_eq(&a, &b)); // both read the one copy L1 holds
    /// # Ok(()) }
    /// ```
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        std::ptr::eq::<T>(&**this, &**other)
    }
}

impl<T: 'static> Deref for Shared<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match &self.held {
            Held::Stored(entry, _) => match l1::value_of::<T>(entry) {
                Some(value) => value,
                // `stored` is only called with the `T` found in this very entry.
                None => unreachable!("a Shared<T> is made of an entry holding a T"),
            },
            Held::Owned(value) => value,
        }
    }
}

impl<T: 'static> AsRef<T> for Shared<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: 'static> std::borrow::Borrow<T> for Shared<T> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            held: match &self.held {
                Held::Stored(entry, _) => Held::Stored(entry.clone(), PhantomData),
                Held::Owned(value) => Held::Owned(value.clone()),
            },
        }
    }
}

impl<T: fmt::Debug + 'static> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display + 'static> fmt::Display for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: PartialEq + 'static> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq + 'static> Eq for Shared<T> {}

impl<'a, T> GetBuilder<'a, T> {
    /// The same read, answering a [`Shared<T>`]: a handle to the value L1 holds rather than a
    /// clone of it. An L1 hit then costs the same for a record of any size: no copy, no
    /// allocation. A read L1 cannot answer (from L2, or with [`skip_l1`](Self::skip_l1)) hands
    /// out a copy of its own, L1 keeping another. For values that are large or costly to clone;
    /// the same key may be read both ways (the stored value is the same).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tiered_cache_core::{CacheConfig, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// cache.set("ids", &vec![1_u64; 10_000]).namespace("lists").await?;
    /// let ids = cache.get::<Vec<u64>>("ids").namespace("lists").shared().await?;
    /// assert_eq!(ids.map(|ids| ids.len()), Some(10_000));
    /// # Ok(()) }
    /// ```
    pub fn shared(self) -> GetShared<'a, T> {
        GetShared { get: self }
    }
}

/// A read that answers a [`Shared<T>`]; `.await` it for
/// `Result<Option<Shared<T>>, CacheError>`. Made by [`GetBuilder::shared`].
#[must_use = "a read does nothing until awaited"]
pub struct GetShared<'a, T> {
    get: GetBuilder<'a, T>,
}

impl<'a, T> IntoFuture for GetShared<'a, T>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Output = Result<Option<Shared<T>>, CacheError>;
    type IntoFuture = GetFuture<'a, Shared<T>>;

    /// Looks in L1 at once, as a plain read does: a hit is complete before the first poll.
    fn into_future(self) -> Self::IntoFuture {
        GetFuture {
            state: start_get(self.get, Shared::stored, Shared::owned),
        }
    }
}

impl<'a, T, F> LoadBuilder<'a, T, F> {
    /// The same read with its loader, answering a [`Shared<T>`] (see [`GetBuilder::shared`]):
    /// an L1 hit, fresh or stale, hands out L1's own value; a loaded value or one read from L2
    /// is handed out as a copy of its own, L1 keeping another.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::convert::Infallible;
    /// use tiered_cache_core::{CacheConfig, Shared, TieredCache};
    ///
    /// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
    /// let load = || async { Ok::<_, Infallible>(vec![0_u8; 1 << 20]) };
    /// let loaded: Shared<Vec<u8>> = cache.get("blob").refresh_with(load).shared().await?;
    /// let hit: Shared<Vec<u8>> = cache.get("blob").refresh_with(load).shared().await?;
    /// assert_eq!(hit.len(), 1 << 20); // a hit copied nothing
    /// assert_eq!(*hit, *loaded);
    /// # Ok(()) }
    /// ```
    pub fn shared(self) -> SharedLoad<'a, T, F> {
        SharedLoad { load: self }
    }
}

/// A read with a loader that answers a [`Shared<T>`]; `.await` it for
/// `Result<Shared<T>, LoadError<E>>`. Made by [`LoadBuilder::shared`].
#[must_use = "a read does nothing until awaited"]
pub struct SharedLoad<'a, T, F> {
    load: LoadBuilder<'a, T, F>,
}

impl<'a, T, F, Fut, E> IntoFuture for SharedLoad<'a, T, F>
where
    T: Cacheable,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    type Output = Result<Shared<T>, LoadError<E>>;
    type IntoFuture = SharedLoadFuture<'a, T, E>;

    /// Looks in L1 at once, as [`LoadBuilder`] does: a hit is complete before the first poll.
    fn into_future(self) -> Self::IntoFuture {
        SharedLoadFuture {
            state: start(self.load),
        }
    }
}

/// The future of a [`SharedLoad`]: complete before its first poll on an L1 hit.
#[must_use = "futures do nothing unless polled"]
pub struct SharedLoadFuture<'a, T, E> {
    state: LoadState<'a, Handle, T, E>,
}

/// The answer of a [`SharedLoad`]: a handle to L1's value on a hit, a copy of its own else.
enum Handle {}

impl<T> Answer<T> for Handle {
    type Out = Shared<T>;

    fn loaded(value: T, _: Source) -> Shared<T> {
        Shared::owned(value)
    }
}

impl<T> HitAnswer<T> for Handle {
    #[inline]
    fn hit(value: &T, entry: &Entry, _stale: bool) -> Shared<T> {
        Shared::stored(value, entry)
    }
}

// Nothing is pinned in place: the slow path is boxed.
impl<T, E> Unpin for SharedLoadFuture<'_, T, E> {}

impl<T, E> Future for SharedLoadFuture<'_, T, E> {
    type Output = Result<Shared<T>, LoadError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().state.poll_answer(cx)
    }
}
