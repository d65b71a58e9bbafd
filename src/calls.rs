//! What a `#[cached]` function reports about its calls: [`CallMeta`] for one call (from its
//! `{fn}_with_meta` companion) and [`FnStats`] for all of them (from `{fn}_stats()`).

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tiered_cache_core::Source;

/// How one call of a `#[cached]` function was answered, returned by its `{fn}_with_meta`
/// companion next to the value.
///
/// ```
/// use tiered_cache::cached;
/// use tiered_cache::source::Tier;
///
/// #[cached(key = "square:{n}")]
/// async fn square(n: u64) -> u64 {
///     n * n
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (value, meta) = square_with_meta(12).await;
/// assert_eq!(value, 144);
/// assert!(!meta.was_cached()); // the body ran
/// let (_, meta) = square_with_meta(12).await;
/// assert!(meta.was_cached());
/// assert_eq!(meta.source().map(|s| s.tier()), Some(Tier::L1));
/// assert_eq!(meta.to_string(), "L1 fresh");
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallMeta {
    source: Option<Source>,
}

impl CallMeta {
    /// A call answered with a value the cache handled, from `source`.
    pub(crate) const fn served(source: Source) -> Self {
        CallMeta {
            source: Some(source),
        }
    }

    /// A call whose answer did not pass through the cache as a value.
    pub(crate) const fn uncached() -> Self {
        CallMeta { source: None }
    }

    /// Whether the value was served from L1 or L2 (fresh or stale) without running the body
    /// for this call.
    pub fn was_cached(&self) -> bool {
        self.source.is_some_and(|source| source.was_cached())
    }

    /// Where the returned value came from: a tier (and how fresh it was), or the body
    /// ([`Tier::Loader`](crate::source::Tier::Loader): this call's run, or one it waited on).
    /// `None` when the answer is the body's own result outside the cache: an `Err` of a
    /// `Result` function (errors are not cached), or a call the cache refused (the body ran
    /// uncached, as described under "When the cache refuses a call").
    pub fn source(&self) -> Option<Source> {
        self.source
    }
}

impl fmt::Display for CallMeta {
    /// The source (`L1 fresh`, `L2 stale`, `loaded`, ...), or `uncached`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => source.fmt(f),
            None => f.write_str("uncached"),
        }
    }
}

const STRIPES: usize = 8;

/// The calls of one `#[cached]` function since the process started, returned by its
/// `{fn}_stats()` companion. One set of counters per function, whatever cache, instance or
/// type parameters a call used; counting costs one uncontended atomic add per call.
///
/// ```
/// use tiered_cache::cached;
///
/// #[cached(key = "cube:{n}")]
/// async fn cube(n: u64) -> u64 {
///     n * n * n
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// cube(3).await; // runs the body
/// cube(3).await; // a hit
/// let stats = cube_stats();
/// assert_eq!((stats.hits(), stats.misses(), stats.loads()), (1, 1, 1));
/// # }
/// ```
pub struct FnStats {
    stripes: [Stripe; STRIPES],
    /// Whether the function has registered its key shape (see `__private::calls`).
    pub(crate) registered: AtomicBool,
}

/// The counters one thread adds to, on a cache line of their own so that threads counting the
/// same function do not fight over one line.
#[repr(align(128))]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
    loads: AtomicU64,
}

impl Stripe {
    const fn zero() -> Self {
        Stripe {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            loads: AtomicU64::new(0),
        }
    }
}

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's stripe, assigned round-robin on first use.
#[inline]
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    STRIPE.with(|stripe| {
        let mut i = stripe.get();
        if i == usize::MAX {
            i = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            stripe.set(i);
        }
        i
    })
}

impl FnStats {
    /// Zero counters, for a function's `static`.
    pub(crate) const fn new() -> Self {
        FnStats {
            stripes: [const { Stripe::zero() }; STRIPES],
            registered: AtomicBool::new(false),
        }
    }

    /// Calls answered from L1 or L2, fresh or stale.
    pub fn hits(&self) -> u64 {
        self.sum(|stripe| &stripe.hits)
    }

    /// Calls the cache did not answer from a tier: the value was loaded (by this call or one it
    /// waited on), the body returned an `Err`, or the cache refused the call.
    pub fn misses(&self) -> u64 {
        self.sum(|stripe| &stripe.misses)
    }

    /// Every call: `hits() + misses()`.
    pub fn calls(&self) -> u64 {
        self.hits() + self.misses()
    }

    /// Runs of the body by the cache: the loads of misses, background refreshes, and callers
    /// that ran the body themselves (an unshared error, a refused call). Calls of
    /// `{fn}_no_cache` and `{fn}_prime` are not counted.
    pub fn loads(&self) -> u64 {
        self.sum(|stripe| &stripe.loads)
    }

    /// `hits() / calls()`, or 0 before the first call.
    #[allow(clippy::cast_precision_loss)] // a ratio: 2^53 calls are far away
    pub fn hit_rate(&self) -> f64 {
        let (hits, calls) = (self.hits(), self.calls());
        if calls == 0 {
            0.0
        } else {
            hits as f64 / calls as f64
        }
    }

    #[inline]
    pub(crate) fn count_call(&self, cached: bool) {
        let stripe = &self.stripes[stripe_index()];
        let counter = if cached { &stripe.hits } else { &stripe.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_load(&self) {
        self.stripes[stripe_index()]
            .loads
            .fetch_add(1, Ordering::Relaxed);
    }

    fn sum(&self, counter: impl Fn(&Stripe) -> &AtomicU64) -> u64 {
        self.stripes
            .iter()
            .map(|stripe| counter(stripe).load(Ordering::Relaxed))
            .sum()
    }
}

impl fmt::Debug for FnStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnStats")
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .field("loads", &self.loads())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_across_threads() {
        static STATS: FnStats = FnStats::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..1000 {
                        STATS.count_call(i % 4 != 0);
                    }
                    STATS.count_load();
                });
            }
        });
        assert_eq!(
            (STATS.hits(), STATS.misses(), STATS.loads()),
            (3000, 1000, 4)
        );
        assert_eq!(STATS.calls(), 4000);
        assert!((STATS.hit_rate() - 0.75).abs() < 1e-9);
        assert_eq!(
            format!("{STATS:?}"),
            "FnStats { hits: 3000, misses: 1000, loads: 4 }"
        );
    }

    #[test]
    fn a_call_meta_reads_as_its_source() {
        assert_eq!(CallMeta::uncached().to_string(), "uncached");
        assert!(!CallMeta::uncached().was_cached());
        assert!(!CallMeta::served(Source::loaded()).was_cached());
    }
}
