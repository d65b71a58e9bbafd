//! The engine's side of L2: every backend call bounded by `l2_timeout`, gated by the circuit
//! breaker, and counted.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::Instrument;

use crate::breaker::{Breaker, Permit};
use crate::deadline::Deadlines;
use crate::l2::{L2Backend, L2Error};
use crate::observe::{self, L2Op, L2Outcome};
use crate::stats::Counters;

pub(crate) struct L2Tier {
    pub(crate) backend: Arc<dyn L2Backend>,
    /// The cache's name, for spans.
    name: Arc<str>,
    /// The operation histogram's keys, built once.
    histograms: observe::L2Histograms,
    pub(crate) breaker: Breaker,
    /// Bounds every call by `l2_timeout`.
    pub(crate) deadlines: Deadlines,
    /// False until the clear marks were read once: until then L2 reads could return entries
    /// a clear already removed, so they are skipped.
    synced: AtomicBool,
}

tokio::task_local! {
    /// The L2 budget of the call being served: set once one of its L2 steps found L2 unusable
    /// (timed out, unreachable), after which its other steps skip L2. A cold read-through makes
    /// several L2 calls in a row (read, lock, re-read, write); against a hung Redis each would
    /// wait out `l2_timeout`.
    static BUDGET_SPENT: Cell<bool>;
}

/// Runs `call` (one cache call: a read, a load, a write) with an L2 budget of its own: after
/// its first L2 timeout or connectivity failure, its later L2 steps are skipped.
pub(crate) fn with_budget<F: Future>(call: F) -> impl Future<Output = F::Output> {
    BUDGET_SPENT.scope(Cell::new(false), call)
}

/// Whether the call being served has spent its L2 budget.
pub(crate) fn budget_spent() -> bool {
    BUDGET_SPENT.try_with(Cell::get).unwrap_or(false)
}

/// Why an L2 call produced nothing.
#[derive(Debug)]
pub(crate) enum Skip {
    /// Not attempted (breaker open, or marks not yet synced).
    NotTried,
    /// Attempted and failed.
    Failed(L2Error),
}

impl L2Tier {
    /// `coarse_clock`: measure deadlines on the coarse monotonic clock (the system clock).
    pub(crate) fn new(
        backend: Arc<dyn L2Backend>,
        name: Arc<str>,
        breaker: Breaker,
        timeout: Duration,
        coarse_clock: bool,
    ) -> Self {
        L2Tier {
            backend,
            histograms: observe::L2Histograms::new(&name),
            name,
            breaker,
            deadlines: Deadlines::new(timeout, coarse_clock),
            synced: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    pub(crate) fn set_synced(&self) {
        self.synced.store(true, Ordering::Release);
    }

    /// The breaker's state for stats and health: `closed`, `open` or `half_open`.
    pub(crate) fn breaker_state(&self) -> &'static str {
        self.breaker.state_name(self.deadlines.now_ms())
    }

    /// A connection is known dead (a call's error, or the backend's own report): it answers
    /// nothing, so the breaker opens now and the calls waiting on it give up at once rather than
    /// at their deadline. Counted once per report. True when this opened the breaker.
    pub(crate) fn connection_lost(&self, counters: &Counters) -> bool {
        counters.l2_connections_lost.incr();
        let opened = self.breaker.trip(self.deadlines.now_ms());
        self.deadlines.expire_all();
        opened
    }

    /// The count of connection losses so far: taken before an operation, it tells
    /// [`answered`](Self::answered) whether the answer came over a connection since declared
    /// dead.
    pub(crate) fn loss_epoch(&self) -> u64 {
        self.deadlines.epoch()
    }

    /// L2 answered an operation started at loss epoch `since`: the one rule for what closes the
    /// breaker. An answer is a sign that L2 is up only if no connection was declared dead since
    /// the operation started: a reply read off a connection just before it died says nothing of
    /// the connections now, and closing the breaker on it sends the next calls to connections
    /// fred has not yet marked down, where they wait out their whole timeout. True when this
    /// closed the breaker.
    fn answered(&self, since: u64) -> bool {
        since == self.deadlines.epoch() && self.breaker.record_success()
    }

    /// Feeds a health ping's result (the ping started at loss epoch `since`) to the breaker:
    /// an answer closes it, a connectivity failure counts toward opening it.
    pub(crate) fn observe_health(&self, since: u64, ping: &Result<(), L2Error>) {
        match ping {
            Err(error) if error.is_connectivity() => {
                self.breaker.record_failure(self.deadlines.now_ms());
            }
            _ => {
                self.answered(since);
            }
        }
    }

    /// Runs one backend operation (`what`) under the breaker and the timeout, in a span of its
    /// own, timed.
    ///
    /// `needs_sync` operations (reads) are skipped until the clear marks have been read.
    pub(crate) async fn call<'a, T, F>(
        &'a self,
        counters: &Counters,
        what: L2Op,
        needs_sync: bool,
        op: impl FnOnce(&'a dyn L2Backend) -> F,
    ) -> Result<T, Skip>
    where
        F: Future<Output = Result<T, L2Error>> + 'a,
    {
        if (needs_sync && !self.is_synced()) || budget_spent() {
            counters.l2_skipped.incr();
            return Err(Skip::NotTried);
        }
        // Before the breaker's check: a dead connection declared after it still ends this call.
        let epoch = self.deadlines.epoch();
        // The breaker's cool-down is a duration: measured on the monotonic clock of deadlines.
        let now_ms = self.deadlines.now_ms();
        if self.breaker.permit(now_ms) == Permit::Reject {
            counters.l2_skipped.incr();
            return Err(Skip::NotTried);
        }
        let span = observe::l2_span(&self.name, what);
        let started = std::time::Instant::now();
        let result = match self
            .deadlines
            .run(now_ms, epoch, op(&*self.backend))
            .instrument(span.clone())
            .await
        {
            Some(result) => result,
            None => Err(L2Error::Timeout),
        };
        let outcome = match &result {
            Ok(_) => L2Outcome::Ok,
            Err(L2Error::Timeout) => L2Outcome::Timeout,
            Err(error) if error.is_connectivity() => L2Outcome::Failed,
            Err(L2Error::Refused { .. }) => L2Outcome::Refused,
            Err(_) => L2Outcome::BadData,
        };
        observe::l2_done(&span, &self.histograms, what, outcome, started.elapsed());
        let _entered = span.enter();
        match result {
            Ok(value) => {
                if self.answered(epoch) {
                    tracing::info!(backend = %self.backend.describe(), "L2 is back; circuit breaker closed");
                }
                Ok(value)
            }
            Err(error) if error.is_connectivity() => {
                counters.l2_errors.incr();
                let _ = BUDGET_SPENT.try_with(|spent| spent.set(true));
                let opened = if matches!(error, L2Error::Disconnected(_)) {
                    self.connection_lost(counters)
                } else {
                    self.breaker.record_failure(self.deadlines.now_ms())
                };
                if opened {
                    tracing::warn!(
                        backend = %self.backend.describe(),
                        %error,
                        "L2 keeps failing; circuit breaker open, serving from L1 and loaders"
                    );
                } else {
                    tracing::warn!(%error, "L2 operation failed; carrying on without L2");
                }
                Err(Skip::Failed(error))
            }
            Err(error) => {
                // The backend answered: it is up; this command or its data is the problem.
                self.answered(epoch);
                if let L2Error::Refused { kind, message } = &error {
                    let count = counters.refused(*kind);
                    // Every refusal is counted; the log shows the 1st, 2nd, 4th, 8th... of a kind.
                    if count.is_power_of_two() {
                        tracing::warn!(
                            backend = %self.backend.describe(),
                            %kind,
                            message,
                            refused_so_far = count,
                            "L2 refused a command; the cache carries on (the tier stays up)"
                        );
                    }
                }
                Err(Skip::Failed(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::startup::tests::Stub;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Regression: with Redis SIGKILLed under load, a reply already read off a connection was
    /// handled just after that connection was declared dead; it closed the breaker the death
    /// had opened, and the next calls went to connections not yet marked down, where they
    /// waited a whole `l2_timeout` (`tests/faults.rs`, a call of 2 s after the kill).
    #[tokio::test(flavor = "current_thread")]
    async fn a_reply_from_before_a_connection_died_leaves_the_breaker_open() {
        let tier = L2Tier::new(
            Arc::new(Stub { answers: true }),
            Arc::from("test"),
            Breaker::new(3, Duration::from_secs(60)),
            Duration::from_secs(2),
            false,
        );
        let counters = Counters::default();
        let (reply, replied) = tokio::sync::oneshot::channel::<u32>();
        let mut call = pin!(tier.call(&counters, L2Op::Read, false, |_| async move {
            replied.await.map_err(|_| L2Error::Timeout)
        }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            call.as_mut().poll(&mut cx).is_pending(),
            "sent, no reply yet"
        );
        // The reply is in, then the connection is declared dead before the call runs again.
        assert!(reply.send(7).is_ok());
        assert!(tier.connection_lost(&counters));
        assert!(matches!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(7))));
        assert_eq!(
            tier.breaker_state(),
            "open",
            "the old reply is no sign of recovery"
        );

        // A call started after the death that gets an answer does close it.
        let after = tier.call(&counters, L2Op::Read, false, |_| async { Ok(1) });
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(matches!(after.await, Ok(1)));
        assert_eq!(tier.breaker_state(), "closed");
    }
}
