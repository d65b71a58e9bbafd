//! Time: the wall clock the freshness model reads, and the hybrid logical stamps that order writes.
//!
//! Entries are read by other hosts, so their deadlines are wall-clock milliseconds. Ordering
//! (which write is newer, which entries a clear removed) uses [`Stamp`]s: wall-clock
//! milliseconds with a logical counter below them, so two events in the same millisecond (or
//! under a paused test clock) still have a strict order, and an instance that learns of a newer
//! remote stamp never stamps anything older afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bits of a [`Stamp`] that hold the logical counter.
const LOGICAL_BITS: u32 = 16;

/// A hybrid logical timestamp: wall-clock milliseconds in the high 48 bits, a counter in the low 16.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(u64);

impl Stamp {
    /// The stamp before every other stamp.
    pub const ZERO: Stamp = Stamp(0);

    /// A stamp from its raw 64-bit form (as stored in an envelope).
    pub const fn from_raw(raw: u64) -> Self {
        Stamp(raw)
    }

    /// The first stamp of a wall-clock millisecond.
    pub const fn from_millis(ms: u64) -> Self {
        Stamp(ms << LOGICAL_BITS)
    }

    /// The raw 64-bit form; big-endian bytes of it compare like the stamps do.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The wall-clock milliseconds part.
    pub const fn millis(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }

    /// Whether something created at `self` is removed by a clear or invalidation marked at
    /// `mark`: a mark covers everything created at or before it.
    ///
    /// ```
    /// # use tiered_cache_core::Stamp;
    /// let mark = Stamp::from_millis(2_000);
    /// assert!(Stamp::from_millis(1_000).is_covered_by(mark));
    /// assert!(mark.is_covered_by(mark));
    /// assert!(!Stamp::from_millis(3_000).is_covered_by(mark));
    /// ```
    #[inline]
    pub const fn is_covered_by(self, mark: Stamp) -> bool {
        self.0 <= mark.0
    }
}

/// Where the cache reads the time from.
///
/// [`Clock::system`] is the default. Tests use [`Clock::tokio`] (follows a paused tokio clock)
/// or [`Clock::manual`] (moves only when told).
///
/// Reads on the hit path use [`Clock::recent_ms`]: for the system clock, a process-wide value
/// that a background thread refreshes every millisecond (one atomic load instead of a ~30 ns
/// `clock_gettime`); writes and stamps use the precise [`Clock::now_ms`].
#[derive(Clone, Debug)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    System,
    Manual(Arc<AtomicU64>),
    Tokio {
        base_ms: u64,
        base: tokio::time::Instant,
    },
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The operating system's wall clock.
    pub fn system() -> Self {
        Clock {
            source: Source::System,
        }
    }

    /// The wall clock at creation, advanced by tokio's clock since. Under
    /// `tokio::time::pause()` it moves only with `tokio::time::advance` (or auto-advance), so
    /// TTL logic can be tested without sleeping.
    pub fn tokio() -> Self {
        Clock {
            source: Source::Tokio {
                base_ms: system_millis(),
                base: tokio::time::Instant::now(),
            },
        }
    }

    /// A clock that starts at `start_ms` (milliseconds since the Unix epoch) and moves only
    /// through the returned [`ManualClock`].
    pub fn manual(start_ms: u64) -> (Self, ManualClock) {
        let now = Arc::new(AtomicU64::new(start_ms));
        (
            Clock {
                source: Source::Manual(now.clone()),
            },
            ManualClock { now },
        )
    }

    /// Milliseconds since the Unix epoch, to within a couple of milliseconds: what freshness
    /// checks on the read path use.
    #[inline]
    pub fn recent_ms(&self) -> u64 {
        match &self.source {
            Source::System => coarse::recent_ms(),
            _ => self.now_ms(),
        }
    }

    /// Whether this is the operating system's clock (not a test clock).
    pub(crate) fn is_system(&self) -> bool {
        matches!(self.source, Source::System)
    }

    /// Milliseconds since the Unix epoch.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        match &self.source {
            Source::System => system_millis(),
            Source::Manual(now) => now.load(Ordering::Acquire),
            Source::Tokio { base_ms, base } => {
                let elapsed = tokio::time::Instant::now().saturating_duration_since(*base);
                base_ms.saturating_add(duration_ms(elapsed))
            }
        }
    }
}

/// The handle that moves a [`Clock::manual`] clock.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(duration_ms(by), Ordering::AcqRel);
    }

    /// The current reading, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }
}

/// Whole milliseconds of a duration, saturating.
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn system_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, duration_ms)
}

/// Coarse monotonic milliseconds (since the coarse clock started): what L2 deadlines and the
/// breaker measure durations with under the system clock. One atomic load.
#[inline]
pub(crate) fn coarse_monotonic_ms() -> u64 {
    coarse::monotonic_ms()
}

/// The coarse system clock: one thread per process stores the wall-clock milliseconds, and the
/// monotonic milliseconds since it started, every millisecond; readers load them. Started by
/// the first read.
mod coarse {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Once, OnceLock};
    use std::time::{Duration, Instant};

    static NOW_MS: AtomicU64 = AtomicU64::new(0);
    /// Monotonic milliseconds since `START`, plus one (0: the thread is not running).
    static MONO_MS: AtomicU64 = AtomicU64::new(0);
    static START: OnceLock<Instant> = OnceLock::new();
    static TICKER: Once = Once::new();

    fn precise_monotonic() -> u64 {
        super::duration_ms(START.get_or_init(Instant::now).elapsed()) + 1
    }

    #[inline]
    pub(super) fn monotonic_ms() -> u64 {
        let now = MONO_MS.load(Ordering::Relaxed);
        if now != 0 {
            return now;
        }
        start();
        match MONO_MS.load(Ordering::Relaxed) {
            0 => precise_monotonic(),
            now => now,
        }
    }

    #[inline]
    pub(super) fn recent_ms() -> u64 {
        let now = NOW_MS.load(Ordering::Relaxed);
        if now != 0 {
            return now;
        }
        start()
    }

    #[cold]
    fn start() -> u64 {
        TICKER.call_once(|| {
            NOW_MS.store(super::system_millis(), Ordering::Relaxed);
            MONO_MS.store(precise_monotonic(), Ordering::Relaxed);
            let ticker = std::thread::Builder::new()
                .name("tiered-cache-clock".to_owned())
                .spawn(|| {
                    loop {
                        std::thread::sleep(Duration::from_millis(1));
                        NOW_MS.fetch_max(super::system_millis(), Ordering::Relaxed);
                        MONO_MS.store(precise_monotonic(), Ordering::Relaxed);
                    }
                });
            if let Err(error) = ticker {
                // Without the thread every read goes to the system clock: slower, still right.
                tracing::warn!(%error, "could not start the coarse clock thread");
                NOW_MS.store(0, Ordering::Relaxed);
                MONO_MS.store(0, Ordering::Relaxed);
            }
        });
        match NOW_MS.load(Ordering::Relaxed) {
            0 => super::system_millis(),
            now => now,
        }
    }
}

/// How far ahead of this host's clock an observed stamp may be (clock skew between hosts).
pub(crate) const MAX_AHEAD: Duration = Duration::from_secs(300);

/// Issues strictly increasing [`Stamp`]s from a [`Clock`] (a hybrid logical clock).
#[derive(Debug)]
pub(crate) struct StampSource {
    clock: Clock,
    last: AtomicU64,
}

impl StampSource {
    pub(crate) fn new(clock: Clock) -> Self {
        StampSource {
            clock,
            last: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    #[inline]
    pub(crate) fn recent_ms(&self) -> u64 {
        self.clock.recent_ms()
    }

    /// The stamp of a write (a set, an invalidation, a clear): later than every stamp issued
    /// or observed so far, and never the first stamp of its millisecond, which is a load's
    /// (see [`StampSource::load_start`]).
    pub(crate) fn next(&self) -> Stamp {
        let physical = Stamp::from_millis(self.clock.now_ms()).raw() + 1;
        let mut last = self.last.load(Ordering::Acquire);
        loop {
            let next = physical.max(last.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Stamp(next),
                Err(seen) => last = seen,
            }
        }
    }

    /// The created stamp of a load starting now: the first stamp of the current millisecond.
    ///
    /// Counters of different instances are not comparable within a millisecond: a load that
    /// read the origin just before another instance's `set` could otherwise carry a higher
    /// stamp than the `set` and replace it in L2 (measured by the soak: the writer then served
    /// its replaced value). Every write of the same millisecond wins over a load, whichever
    /// came first; a load's result that loses is returned but not stored.
    pub(crate) fn load_start(&self) -> Stamp {
        let last = Stamp(self.last.load(Ordering::Acquire));
        Stamp::from_millis(self.clock.now_ms().max(last.millis()))
    }

    /// Records a stamp made elsewhere, so later local stamps order after it. A stamp more than
    /// [`MAX_AHEAD`] ahead of this host's clock is not followed: no host's clock is that far
    /// off, so it came from bytes this cache did not write, and following it would drag every
    /// later stamp (and, through them, every instance's) into the future.
    pub(crate) fn observe(&self, remote: Stamp) {
        // Most observed stamps are older than ours: a load avoids a contended write.
        if remote.raw() <= self.last.load(Ordering::Acquire) {
            return;
        }
        let horizon = self.clock.now_ms().saturating_add(duration_ms(MAX_AHEAD));
        if remote.millis() > horizon {
            tracing::debug!(?remote, "ignoring a stamp far ahead of this host's clock");
            return;
        }
        self.last.fetch_max(remote.raw(), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_increase_within_one_millisecond() {
        let (clock, _handle) = Clock::manual(1_000);
        let source = StampSource::new(clock);
        let a = source.next();
        let b = source.next();
        assert!(b > a);
        assert_eq!(a.millis(), 1_000);
        assert_eq!(b.millis(), 1_000);
    }

    #[test]
    fn observed_remote_stamps_order_before_later_local_ones() {
        let (clock, _handle) = Clock::manual(1_000);
        let source = StampSource::new(clock);
        let remote = Stamp::from_millis(5_000);
        source.observe(remote);
        assert!(source.next() > remote);
    }

    /// Regression: a far-future stamp in bytes this cache did not write moved the clock, and
    /// with it every later stamp of the instance.
    #[test]
    fn regression_a_stamp_far_in_the_future_is_not_followed() {
        let (clock, _handle) = Clock::manual(1_000);
        let source = StampSource::new(clock);
        source.observe(Stamp::from_millis(1_000 + 300_000));
        let near = source.next();
        assert!(
            near > Stamp::from_millis(300_000),
            "within the skew bound: followed"
        );
        source.observe(Stamp::from_raw(u64::MAX - 1));
        let after = source.next();
        assert!(after.millis() < 1_000 + 300_001, "{after:?}");
    }

    #[test]
    fn stamp_bytes_compare_like_stamps() {
        let a = Stamp::from_raw(0x00ff);
        let b = Stamp::from_raw(0x0100);
        assert!(a < b);
        assert!(a.raw().to_be_bytes() < b.raw().to_be_bytes());
    }

    #[test]
    fn the_coarse_system_clock_stays_close_to_the_precise_one() {
        let clock = Clock::system();
        for _ in 0..20 {
            let coarse = clock.recent_ms();
            let precise = clock.now_ms();
            assert!(
                precise >= coarse && precise - coarse < 1000,
                "{coarse} vs {precise}"
            );
            std::thread::sleep(Duration::from_millis(3));
        }
    }

    #[test]
    fn the_coarse_monotonic_clock_moves_forward() {
        let first = coarse_monotonic_ms();
        std::thread::sleep(Duration::from_millis(20));
        let later = coarse_monotonic_ms();
        assert!(later >= first + 10, "{first} then {later}");
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let clock = Clock::tokio();
        let before = clock.now_ms();
        tokio::time::advance(Duration::from_secs(240)).await;
        assert_eq!(clock.now_ms() - before, 240_000);
    }
}
