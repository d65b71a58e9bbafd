//! The L2 circuit breaker: after `threshold` consecutive failures L2 is skipped for a cool-down,
//! then one probe is let through; a success closes the breaker, a failure re-opens it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::duration_ms;

/// Lock-free breaker state. Times are in the cache clock's milliseconds.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cooldown_ms: u64,
    failures: AtomicU32,
    /// 0 when closed; otherwise the time after which one probe may pass.
    open_until_ms: AtomicU64,
    /// Times the breaker opened (from closed) and closed (from open or half-open).
    opened: AtomicU64,
    closed: AtomicU64,
}

/// What the breaker says about one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Permit {
    /// Closed: go ahead.
    Pass,
    /// The cool-down ended and this caller is the probe.
    Probe,
    /// Open: skip L2.
    Reject,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold,
            cooldown_ms: duration_ms(cooldown).max(1),
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            closed: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn permit(&self, now_ms: u64) -> Permit {
        let open_until = self.open_until_ms.load(Ordering::Acquire);
        if open_until == 0 {
            return Permit::Pass;
        }
        if now_ms < open_until {
            return Permit::Reject;
        }
        // One caller wins the probe; the rest keep skipping for another cool-down.
        let next = now_ms.saturating_add(self.cooldown_ms);
        match self.open_until_ms.compare_exchange(
            open_until,
            next,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Permit::Probe,
            Err(_) => Permit::Reject,
        }
    }

    /// Returns true when this success closed an open breaker.
    pub(crate) fn record_success(&self) -> bool {
        self.failures.store(0, Ordering::Release);
        let closed = self.open_until_ms.swap(0, Ordering::AcqRel) != 0;
        self.count(&self.closed, closed)
    }

    /// Returns true when this failure opened the breaker.
    pub(crate) fn record_failure(&self, now_ms: u64) -> bool {
        let failures = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if failures < self.threshold {
            return false;
        }
        let until = now_ms.saturating_add(self.cooldown_ms).max(1);
        let opened = self.open_until_ms.swap(until, Ordering::AcqRel) == 0;
        self.count(&self.opened, opened)
    }

    /// Opens the breaker now, whatever the failure count (the connection is known dead);
    /// returns true when it was closed.
    pub(crate) fn trip(&self, now_ms: u64) -> bool {
        self.failures.store(self.threshold, Ordering::Release);
        let until = now_ms.saturating_add(self.cooldown_ms).max(1);
        let opened = self.open_until_ms.swap(until, Ordering::AcqRel) == 0;
        self.count(&self.opened, opened)
    }

    /// Counts a transition when `happened`; returns `happened`.
    fn count(&self, transitions: &AtomicU64, happened: bool) -> bool {
        if happened {
            transitions.fetch_add(1, Ordering::Relaxed);
        }
        happened
    }

    /// How many times the breaker opened, and closed, so far.
    pub(crate) fn transitions(&self) -> (u64, u64) {
        (
            self.opened.load(Ordering::Relaxed),
            self.closed.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn state_name(&self, now_ms: u64) -> &'static str {
        match self.open_until_ms.load(Ordering::Acquire) {
            0 => "closed",
            until if now_ms < until => "open",
            _ => "half_open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_probes_once_then_closes() {
        let breaker = Breaker::new(3, Duration::from_millis(100));
        assert!(!breaker.record_failure(0));
        assert!(!breaker.record_failure(0));
        assert_eq!(breaker.permit(0), Permit::Pass);
        assert!(breaker.record_failure(0));
        assert_eq!(breaker.permit(50), Permit::Reject);
        assert_eq!(breaker.state_name(50), "open");
        assert_eq!(breaker.permit(100), Permit::Probe);
        assert_eq!(breaker.permit(101), Permit::Reject, "only one probe");
        assert!(breaker.record_success());
        assert_eq!(breaker.permit(102), Permit::Pass);
        assert_eq!(breaker.state_name(102), "closed");
    }

    #[test]
    fn a_failed_probe_reopens() {
        let breaker = Breaker::new(1, Duration::from_millis(100));
        breaker.record_failure(0);
        assert_eq!(breaker.permit(100), Permit::Probe);
        breaker.record_failure(100);
        assert_eq!(breaker.permit(150), Permit::Reject);
        assert_eq!(breaker.permit(200), Permit::Probe);
    }

    #[test]
    fn transitions_are_counted_once_each() {
        let breaker = Breaker::new(2, Duration::from_millis(100));
        assert!(!breaker.record_failure(0));
        assert!(breaker.record_failure(0));
        assert!(
            !breaker.record_failure(1),
            "already open: no second opening"
        );
        assert!(!breaker.trip(2), "already open");
        assert!(breaker.record_success());
        assert!(!breaker.record_success(), "already closed");
        assert!(breaker.trip(3));
        assert_eq!(breaker.transitions(), (2, 1));
    }

    #[test]
    fn a_trip_opens_at_once() {
        let breaker = Breaker::new(5, Duration::from_millis(100));
        assert!(breaker.trip(0));
        assert_eq!(breaker.permit(50), Permit::Reject);
        assert!(!breaker.trip(60), "already open");
        assert_eq!(breaker.permit(160), Permit::Probe);
        assert!(breaker.record_success());
    }

    #[test]
    fn successes_reset_the_failure_count() {
        let breaker = Breaker::new(2, Duration::from_millis(100));
        breaker.record_failure(0);
        breaker.record_success();
        assert!(!breaker.record_failure(0));
        assert_eq!(breaker.permit(0), Permit::Pass);
    }
}
