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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures::task::AtomicWaker;

use crate::clock::duration_ms;

/// Slots, i.e. L2 calls in flight at once before calls fall back to a tokio timer.
const SLOTS: usize = 2048;
/// How many slots a call tries before falling back.
const PROBES: usize = 8;

struct Slot {
    /// Start of the call (ms), 0 when free.
    started_ms: AtomicU64,
    expired: AtomicBool,
    waker: AtomicWaker,
}

/// The deadlines of one cache's L2 calls.
pub(crate) struct Deadlines {
    timeout: Duration,
    timeout_ms: u64,
    slots: Box<[Slot]>,
}

thread_local! {
    /// Where this thread looks for a free slot next (spreads threads without a shared counter).
    static CURSOR: Cell<usize> = Cell::new(crate::rng::next_u64() as usize);
}

impl Deadlines {
    pub(crate) fn new(timeout: Duration) -> Self {
        Deadlines {
            timeout,
            timeout_ms: duration_ms(timeout).max(1),
            slots: (0..SLOTS)
                .map(|_| Slot {
                    started_ms: AtomicU64::new(0),
                    expired: AtomicBool::new(false),
                    waker: AtomicWaker::new(),
                })
                .collect(),
        }
    }

    /// How often [`tick`](Self::tick) must run.
    pub(crate) fn tick_interval(&self) -> Duration {
        (self.timeout / 4).max(Duration::from_millis(1))
    }

    /// Runs `op`, started at `now_ms`; `None` when it passed the timeout.
    pub(crate) async fn run<F: Future>(&self, now_ms: u64, op: F) -> Option<F::Output> {
        let Some(slot) = self.claim(now_ms) else {
            return tokio::time::timeout(self.timeout, op).await.ok();
        };
        let _release = Release(slot);
        let mut op = pin!(op);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = op.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            slot.waker.register(cx.waker());
            if slot.expired.load(Ordering::Acquire) {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }

    fn claim(&self, now_ms: u64) -> Option<&Slot> {
        let start = CURSOR.with(|cursor| {
            let at = cursor.get();
            cursor.set(at.wrapping_add(1));
            at
        });
        let stamp = now_ms.max(1);
        (0..PROBES)
            .map(|i| &self.slots[start.wrapping_add(i) % SLOTS])
            .find(|slot| {
                slot.started_ms
                    .compare_exchange(0, stamp, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            })
    }

    /// Expires the calls older than the timeout.
    pub(crate) fn tick(&self, now_ms: u64) {
        for slot in self.slots.iter() {
            let started = slot.started_ms.load(Ordering::Acquire);
            if started != 0 && now_ms.saturating_sub(started) >= self.timeout_ms {
                slot.expired.store(true, Ordering::Release);
                slot.waker.wake();
            }
        }
    }
}

/// Frees a slot when its call ends, however it ends.
struct Release<'a>(&'a Slot);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.waker.take();
        self.0.expired.store(false, Ordering::Release);
        self.0.started_ms.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    #[tokio::test(start_paused = true)]
    async fn a_call_past_the_timeout_is_expired_by_the_ticker() {
        let clock = Clock::tokio();
        let deadlines = std::sync::Arc::new(Deadlines::new(Duration::from_millis(100)));
        let ticker = {
            let (deadlines, clock) = (deadlines.clone(), clock.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(deadlines.tick_interval()).await;
                    deadlines.tick(clock.now_ms());
                }
            })
        };
        let fast = deadlines.run(clock.now_ms(), async { 7 }).await;
        assert_eq!(fast, Some(7));
        let started = tokio::time::Instant::now();
        let slow = deadlines
            .run(clock.now_ms(), tokio::time::sleep(Duration::from_secs(10)))
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
        let deadlines = Deadlines::new(Duration::from_millis(100));
        for _ in 0..(SLOTS * 3) {
            assert_eq!(deadlines.run(1, async { 1 }).await, Some(1));
        }
        assert!(
            deadlines
                .slots
                .iter()
                .all(|slot| slot.started_ms.load(Ordering::Relaxed) == 0)
        );
    }
}
