//! Per-call deadlines for L2 operations without a timer per call.
//!
//! A timer-wheel registration per call (what `tokio::time::timeout` does) is cheap alone but
//! contends when hundreds of calls are in flight on a few threads. Here a call claims a slot
//! stamped with its start time; one ticker per cache, running every quarter of the timeout,
//! expires the slots older than the timeout and wakes their calls. A call therefore gives up
//! between `timeout` and `timeout * 1.25` (plus the clock's millisecond).

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures::task::AtomicWaker;

use crate::clock::duration_ms;

/// Slots, i.e. L2 calls in flight at once before calls fall back to a tokio timer.
const SLOTS: usize = 2048;
/// How many slots a call tries before falling back.
const PROBES: usize = 8;

/// A slot's state is one word, so the ticker can expire exactly the call it examined:
/// the low bits hold the call's start (monotonic ms since the cache started, plus one; 0 when
/// free), one bit says the ticker expired it, and the high bits count the calls that used the
/// slot, so a call that claimed a slot after the ticker read it is never expired by mistake.
const START_BITS: u32 = 40;
const START_MASK: u64 = (1 << START_BITS) - 1;
const EXPIRED: u64 = 1 << START_BITS;
const GENERATION_SHIFT: u32 = START_BITS + 1;

struct Slot {
    state: AtomicU64,
    waker: AtomicWaker,
}

/// The deadlines of one cache's L2 calls. Durations are measured on a monotonic clock, never on
/// the wall clock: a wall-clock step (NTP, a resumed VM) must not expire or extend calls.
pub(crate) struct Deadlines {
    timeout: Duration,
    timeout_ms: u64,
    clock: Monotonic,
    slots: Box<[Slot]>,
    /// Bumped by [`expire_all`](Self::expire_all): a call that was admitted before it but
    /// claimed its slot after the wake-ups gives up too.
    dead_epoch: AtomicU64,
}

/// Where deadlines read monotonic time.
enum Monotonic {
    /// The process's coarse monotonic clock (one atomic load), under the system clock.
    Coarse,
    /// Tokio's clock since the cache started (tests pause it), under a test clock.
    Tokio(tokio::time::Instant),
}

thread_local! {
    /// Where this thread looks for a free slot next (spreads threads without a shared counter).
    static CURSOR: Cell<usize> = Cell::new(crate::rng::next_u64() as usize);
}

impl Deadlines {
    /// Deadlines of `timeout`; `coarse` for the coarse monotonic clock (the system clock),
    /// else tokio's.
    pub(crate) fn new(timeout: Duration, coarse: bool) -> Self {
        Deadlines {
            timeout,
            timeout_ms: duration_ms(timeout).max(1),
            clock: if coarse {
                Monotonic::Coarse
            } else {
                Monotonic::Tokio(tokio::time::Instant::now())
            },
            slots: (0..SLOTS)
                .map(|_| Slot {
                    state: AtomicU64::new(0),
                    waker: AtomicWaker::new(),
                })
                .collect(),
            dead_epoch: AtomicU64::new(0),
        }
    }

    /// Monotonic milliseconds: the clock of deadlines and the breaker.
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        match &self.clock {
            Monotonic::Coarse => crate::clock::coarse_monotonic_ms(),
            Monotonic::Tokio(base) => duration_ms(base.elapsed()),
        }
    }

    /// How often [`tick`](Self::tick) must run.
    pub(crate) fn tick_interval(&self) -> Duration {
        (self.timeout / 4).max(Duration::from_millis(1))
    }

    /// The epoch a call is admitted in (see [`expire_all`](Self::expire_all)); taken before the
    /// call's breaker check.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.dead_epoch.load(Ordering::Acquire)
    }

    /// Runs `op`, started at `now_ms` ([`now_ms`](Self::now_ms)) and admitted in `epoch`;
    /// `None` when it passed the timeout or its connection was declared dead.
    pub(crate) async fn run<F: Future>(&self, now_ms: u64, epoch: u64, op: F) -> Option<F::Output> {
        let Some((slot, occupied)) = self.claim(now_ms) else {
            return tokio::time::timeout(self.timeout, op).await.ok();
        };
        let _release = Release { slot, occupied };
        let mut op = pin!(op);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = op.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            slot.waker.register(cx.waker());
            if slot.state.load(Ordering::Acquire) == occupied | EXPIRED || self.epoch() != epoch {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }

    fn claim(&self, now_ms: u64) -> Option<(&Slot, u64)> {
        let start = CURSOR.with(|cursor| {
            let at = cursor.get();
            cursor.set(at.wrapping_add(1));
            at
        });
        (0..PROBES)
            .map(|i| &self.slots[start.wrapping_add(i) % SLOTS])
            .find_map(|slot| occupy(slot, now_ms).map(|occupied| (slot, occupied)))
    }

    /// Expires every call in flight now (their connection is known dead).
    pub(crate) fn expire_all(&self) {
        self.dead_epoch.fetch_add(1, Ordering::AcqRel);
        for slot in self.slots.iter() {
            expire(slot, slot.state.load(Ordering::Acquire));
        }
    }

    /// Expires the calls older than the timeout, as of `now_ms` ([`now_ms`](Self::now_ms)).
    pub(crate) fn tick(&self, now_ms: u64) {
        for slot in self.slots.iter() {
            let observed = slot.state.load(Ordering::Acquire);
            self.expire_if_due(slot, observed, now_ms);
        }
    }

    /// Expires the call the ticker observed in `slot` (state `observed`) if it is past the
    /// timeout at `now_ms`. Only that call: a slot freed and claimed again since has another
    /// generation, and the exchange fails.
    fn expire_if_due(&self, slot: &Slot, observed: u64, now_ms: u64) -> bool {
        let started = observed & START_MASK;
        (now_ms + 1).saturating_sub(started) >= self.timeout_ms && expire(slot, observed)
    }
}

/// Expires the call observed in `slot` (state `observed`), if there is one and it is not yet
/// expired, and wakes it. Only that call: a slot freed and claimed again since has another
/// generation, and the exchange fails.
fn expire(slot: &Slot, observed: u64) -> bool {
    let expired = observed & START_MASK != 0
        && observed & EXPIRED == 0
        && slot
            .state
            .compare_exchange(
                observed,
                observed | EXPIRED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok();
    if expired {
        slot.waker.wake();
    }
    expired
}

/// Claims `slot` for a call starting at `now_ms`, if it is free; the state that marks it ours.
fn occupy(slot: &Slot, now_ms: u64) -> Option<u64> {
    let state = slot.state.load(Ordering::Acquire);
    if state & START_MASK != 0 {
        return None;
    }
    let generation = (state >> GENERATION_SHIFT).wrapping_add(1);
    let started = ((now_ms + 1) & START_MASK).max(1);
    let occupied = (generation << GENERATION_SHIFT) | started;
    slot.state
        .compare_exchange(state, occupied, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
        .then_some(occupied)
}

/// Frees a slot when its call ends, however it ends.
struct Release<'a> {
    slot: &'a Slot,
    occupied: u64,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.slot.waker.take();
        let generation = self.occupied >> GENERATION_SHIFT;
        self.slot
            .state
            .store(generation << GENERATION_SHIFT, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_call_past_the_timeout_is_expired_by_the_ticker() {
        let deadlines = std::sync::Arc::new(Deadlines::new(Duration::from_millis(100), false));
        let ticker = {
            let deadlines = deadlines.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(deadlines.tick_interval()).await;
                    deadlines.tick(deadlines.now_ms());
                }
            })
        };
        let fast = deadlines.run(deadlines.now_ms(), 0, async { 7 }).await;
        assert_eq!(fast, Some(7));
        let started = tokio::time::Instant::now();
        let slow = deadlines
            .run(
                deadlines.now_ms(),
                0,
                tokio::time::sleep(Duration::from_secs(10)),
            )
            .await;
        assert_eq!(slow, None);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(100) && waited <= Duration::from_millis(125),
            "{waited:?}"
        );
        ticker.abort();
    }

    #[tokio::test]
    async fn slots_are_freed_and_reused() {
        let deadlines = Deadlines::new(Duration::from_millis(100), false);
        for _ in 0..(SLOTS * 3) {
            assert_eq!(deadlines.run(1, 0, async { 1 }).await, Some(1));
        }
        assert!(
            deadlines
                .slots
                .iter()
                .all(|slot| slot.state.load(Ordering::Relaxed) & START_MASK == 0)
        );
    }

    /// Regression: the ticker read a slot, the call ended and a new call claimed the slot, then
    /// the ticker's write expired the new call at once (a spurious timeout).
    #[test]
    fn regression_a_reused_slot_is_not_expired_by_a_tick_that_read_its_previous_call() {
        let deadlines = Deadlines::new(Duration::from_millis(100), false);
        let slot = &deadlines.slots[0];
        let first = occupy(slot, 0).expect("free");
        let observed = slot.state.load(Ordering::Acquire);
        drop(Release {
            slot,
            occupied: first,
        });
        let second = occupy(slot, 500).expect("free again");
        assert_ne!(first, second, "a new generation");
        assert!(
            !deadlines.expire_if_due(slot, observed, 10_000),
            "the tick saw the first call, which is gone"
        );
        assert_eq!(
            slot.state.load(Ordering::Acquire),
            second,
            "the new call is untouched"
        );
        assert!(!deadlines.expire_if_due(slot, second, 550), "50 ms old");
        assert!(deadlines.expire_if_due(slot, second, 600), "100 ms old");
        assert_eq!(slot.state.load(Ordering::Acquire), second | EXPIRED);
    }
}
