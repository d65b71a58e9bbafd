//! The reference timeline the model tests check the engine against: a value, when it is
//! fresh, stale, kept for fail-safe, gone, and what a fail-safe stand-in of it looks like. Shared
//! by `model.rs` (L1 only) and the facade's `model_two.rs` (two instances on Redis), which
//! configure the cache with these constants.
#![allow(dead_code)]

/// `stale_while_revalidate_window`.
pub const WINDOW_MS: u64 = 2_000;
/// `fail_safe_max_stale`.
pub const MAX_STALE_MS: u64 = 3_000;
/// `fail_safe_throttle`.
pub const THROTTLE_MS: u64 = 1_500;

/// One value of the model: what a key holds, on its timeline.
#[derive(Clone, Debug)]
pub struct Version {
    pub value: Option<u32>,
    pub fresh_until: u64,
    pub expires_at: u64,
    pub keep_until: u64,
    pub tags: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Fresh,
    Stale,
    Kept,
    Gone,
}

impl Version {
    /// An entry written at `now` with ttl `ttl_ms`: the configured window, or a fifth of a
    /// ttl too short for it; kept `MAX_STALE_MS` past expiry (fail-safe).
    pub fn new(value: Option<u32>, now: u64, ttl_ms: u64, tags: Vec<usize>) -> Self {
        let window = if WINDOW_MS < ttl_ms {
            WINDOW_MS
        } else {
            ttl_ms / 5
        };
        let expires_at = now + ttl_ms;
        Version {
            value,
            fresh_until: expires_at - window,
            expires_at,
            keep_until: expires_at + MAX_STALE_MS,
            tags,
        }
    }

    pub fn state(&self, now: u64) -> State {
        if now < self.fresh_until {
            State::Fresh
        } else if now < self.expires_at {
            State::Stale
        } else if now < self.keep_until {
            State::Kept
        } else {
            State::Gone
        }
    }

    /// The fail-safe stand-in served from `now`: fresh for the throttle.
    pub fn stand_in(&self, now: u64) -> Self {
        let until = now + THROTTLE_MS;
        Version {
            fresh_until: until,
            expires_at: until,
            keep_until: self.keep_until.max(until),
            ..self.clone()
        }
    }
}
