//! The freshness model: when an entry is fresh, stale, or expired.
//!
//! ```text
//!  written          fresh_until                 expires_at            keep_until
//!     |---- fresh ------|-------- stale ------------|--- fail-safe grace ---|
//!        served as is      served, one refresh runs   served only when the loader fails
//! ```
//! With ttl `T` and window `W`, `fresh_until = written + T - W` and `expires_at = written + T`.

use std::time::Duration;

use crate::clock::{Stamp, duration_ms};

/// The timestamps that travel with an entry, in both tiers and across hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)] // `fresh_until_ms` second: see the L1 entry's header
pub struct EntryMeta {
    /// Orders writes: a write never replaces an entry with a later `created` stamp, and a clear
    /// at stamp `c` removes every entry created at or before `c`. For a loader result this is
    /// the stamp taken when the load started.
    pub created: Stamp,
    /// Wall-clock ms until which the entry is fresh.
    pub fresh_until_ms: u64,
    /// Wall-clock ms at which the entry expires (its ttl).
    pub expires_at_ms: u64,
    /// Wall-clock ms until which an expired entry is still kept as a fail-safe fallback
    /// (equal to `expires_at_ms` when there is no grace period).
    pub keep_until_ms: u64,
}

/// Where an entry is on its timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Serve as is.
    Fresh,
    /// Serve, and refresh once.
    Stale,
    /// A miss (usable only as a fail-safe fallback until `keep_until_ms`).
    Expired,
}

impl EntryMeta {
    /// The timeline of an entry written at `now_ms` with `ttl` and stale `window`
    /// (`window < ttl`), kept `grace` past expiry as a fail-safe fallback.
    pub fn new(
        created: Stamp,
        now_ms: u64,
        ttl: Duration,
        window: Duration,
        grace: Duration,
    ) -> Self {
        let ttl_ms = duration_ms(ttl).max(1);
        let window_ms = duration_ms(window).min(ttl_ms);
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        EntryMeta {
            created,
            fresh_until_ms: expires_at_ms - window_ms,
            expires_at_ms,
            keep_until_ms: expires_at_ms.saturating_add(duration_ms(grace)),
        }
    }

    /// The state at `now_ms`. With `swr` off the stale phase counts as fresh.
    #[inline]
    pub fn freshness(&self, now_ms: u64, swr: bool) -> Freshness {
        if now_ms >= self.expires_at_ms {
            Freshness::Expired
        } else if swr && now_ms >= self.fresh_until_ms {
            Freshness::Stale
        } else {
            Freshness::Fresh
        }
    }

    /// Whether the entry may still be served as a fail-safe fallback at `now_ms`.
    pub fn is_kept(&self, now_ms: u64) -> bool {
        now_ms < self.keep_until_ms
    }

    /// Milliseconds from `now_ms` until the entry may be dropped everywhere (at least 1).
    pub fn remaining_keep_ms(&self, now_ms: u64) -> u64 {
        self.keep_until_ms.saturating_sub(now_ms).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;

    /// The seed's timeline: ttl 300 s, window 60 s.
    #[test]
    fn seed_timeline() {
        let meta = EntryMeta::new(
            Stamp::ZERO,
            0,
            Duration::from_secs(300),
            Duration::from_secs(60),
            Duration::ZERO,
        );
        assert_eq!(meta.freshness(0, true), Freshness::Fresh);
        assert_eq!(meta.freshness(240 * S - 1, true), Freshness::Fresh);
        assert_eq!(meta.freshness(240 * S, true), Freshness::Stale);
        assert_eq!(meta.freshness(300 * S - 1, true), Freshness::Stale);
        assert_eq!(meta.freshness(300 * S, true), Freshness::Expired);
        assert!(!meta.is_kept(300 * S));
    }

    #[test]
    fn without_swr_the_stale_phase_is_fresh() {
        let meta = EntryMeta::new(
            Stamp::ZERO,
            0,
            Duration::from_secs(300),
            Duration::from_secs(60),
            Duration::ZERO,
        );
        assert_eq!(meta.freshness(270 * S, false), Freshness::Fresh);
        assert_eq!(meta.freshness(300 * S, false), Freshness::Expired);
    }

    #[test]
    fn grace_keeps_an_expired_entry_as_fallback() {
        let meta = EntryMeta::new(
            Stamp::ZERO,
            0,
            Duration::from_secs(10),
            Duration::from_secs(2),
            Duration::from_secs(60),
        );
        assert_eq!(meta.freshness(30 * S, true), Freshness::Expired);
        assert!(meta.is_kept(30 * S));
        assert!(!meta.is_kept(70 * S));
        assert_eq!(meta.remaining_keep_ms(0), 70 * S);
    }
}
