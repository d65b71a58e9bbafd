//! Every decision a read makes about time, in one place and without a runtime: what to do with
//! an entry found in a tier (serve / serve and refresh / load with it as a fallback / load), how
//! long a loader may run, and how long a fail-safe stand-in lives. The async code in `read`,
//! `leader` and `refresh` only carries these decisions out.
//!
//! How long a stale value can be served, in one sentence per case (the README repeats this):
//! - during the last `stale_while_revalidate_window` of its ttl, while one refresh runs;
//! - past its ttl only as a fail-safe stand-in: when a loader fails or passes `hard_timeout`
//!   (or `soft_timeout`, while the loader goes on), an entry expired at most
//!   `fail_safe_max_stale` ago is served, and kept fresh for `fail_safe_throttle` after a failure;
//! - never after an invalidation, a clear, a tag invalidation or a newer write of its key that
//!   this instance knows of (see `admit`).

use crate::codec::CodecKind;
use std::time::Duration;

use crate::clock::{Stamp, duration_ms};
use crate::config::CacheConfig;
use crate::entry::{EntryMeta, Freshness};
use crate::envelope::MAX_TAGS;
use crate::error::CacheError;
use crate::tags;

/// Where an entry is on its timeline, as far as serving it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Within `ttl - window`.
    Fresh,
    /// In its stale window (only with `enable_swr`).
    Stale,
    /// Expired, but within `fail_safe_max_stale` with fail-safe on: a fallback for a loader.
    Kept,
    /// Of no use.
    Gone,
}

/// The state of an entry with `meta` at `now_ms`.
#[inline]
pub(crate) fn state(meta: &EntryMeta, now_ms: u64, config: &CacheConfig) -> State {
    match meta.freshness(now_ms, config.enable_swr) {
        Freshness::Fresh => State::Fresh,
        Freshness::Stale => State::Stale,
        Freshness::Expired if config.fail_safe && meta.is_kept(now_ms) => State::Kept,
        Freshness::Expired => State::Gone,
    }
}

/// What a read with a loader does with an entry in `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WithLoader {
    /// Answer with it.
    Serve,
    /// Answer with it, and start one background refresh.
    ServeAndRefresh,
    /// Run the loader now; the entry stands in if the loader fails (fail-safe).
    LoadWithFallback,
    /// Run the loader now; nothing can stand in.
    Load,
}

/// The decision table of a read with a loader.
#[inline]
pub(crate) fn with_loader(state: State, config: &CacheConfig) -> WithLoader {
    match state {
        State::Fresh => WithLoader::Serve,
        State::Stale if config.background_refresh => WithLoader::ServeAndRefresh,
        State::Stale | State::Kept => WithLoader::LoadWithFallback,
        State::Gone => WithLoader::Load,
    }
}

/// Whether a read without a loader answers with an entry in `state` (a kept entry needs a
/// failing loader to be served).
pub(crate) fn without_loader(state: State) -> bool {
    matches!(state, State::Fresh | State::Stale)
}

/// What L1's copy is good for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L1Use {
    /// Use it as found in `State` (fresh or stale).
    Use(State),
    /// Older than `l1_ttl`: ask L2, and fall back to the copy when L2 cannot answer.
    Revalidate,
    /// Expired but kept: only a loader that fails may serve it.
    Kept,
    /// Nothing usable.
    Miss,
}

/// The decision for an L1 copy with `meta` that L1 trusts until `l1_until_ms`.
#[inline]
pub(crate) fn l1_use(
    meta: &EntryMeta,
    l1_until_ms: u64,
    now_ms: u64,
    config: &CacheConfig,
) -> L1Use {
    // The common case in one comparison each: before `fresh_until` an entry is fresh whatever
    // the switches say (`fresh_until` never passes `expires_at`).
    if now_ms < meta.fresh_until_ms && now_ms < l1_until_ms {
        return L1Use::Use(State::Fresh);
    }
    match state(meta, now_ms, config) {
        State::Gone => L1Use::Miss,
        State::Kept => L1Use::Kept,
        _ if now_ms >= l1_until_ms => L1Use::Revalidate,
        live => L1Use::Use(live),
    }
}

/// How long the loader of one load may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Past it, answer with the fallback and let the loader finish in the background.
    pub(crate) soft: Option<Duration>,
    /// Past it, abandon the loader.
    pub(crate) hard: Option<Duration>,
}

/// The bounds of a load: `soft_timeout` needs a fallback to answer with; `hard_timeout` applies
/// unless the call asked to wait for its loader when nothing can stand in (`wait_for_loader`:
/// a caller that has no way to receive `LoadError::TimedOut`, such as a `#[cached]` function).
pub(crate) fn bounds(config: &CacheConfig, has_fallback: bool, wait_for_loader: bool) -> Bounds {
    Bounds {
        soft: config.soft_timeout.filter(|_| has_fallback),
        hard: config
            .hard_timeout
            .filter(|_| has_fallback || !wait_for_loader),
    }
}

/// The timeline of a fail-safe stand-in for an entry with `meta`, served from `now_ms`: fresh for
/// `throttle` (the failing origin is not called again meanwhile), and never dropped earlier than
/// the original would have been.
pub(crate) fn stand_in(meta: &EntryMeta, now_ms: u64, throttle: Duration) -> EntryMeta {
    let until = now_ms.saturating_add(duration_ms(throttle));
    EntryMeta {
        fresh_until_ms: until,
        expires_at_ms: until,
        keep_until_ms: meta.keep_until_ms.max(until),
        ..*meta
    }
}

/// The deadline after which an L1 copy must be checked against L2 again: `l1_ttl` from now, never
/// past the entry's end; with no L2 there is nothing to check against and the timeline rules.
pub(crate) fn l1_deadline(
    config: &CacheConfig,
    has_l2: bool,
    now_ms: u64,
    meta: &EntryMeta,
) -> u64 {
    if !has_l2 {
        return u64::MAX;
    }
    now_ms
        .saturating_add(duration_ms(config.l1_ttl))
        .min(meta.keep_until_ms)
}

/// How long a namespace clear mark must be remembered: until every entry created before it has
/// expired (`max_ttl` plus the fail-safe grace), plus the time a writer that has not yet learned
/// of the clear may still store an older entry (a sync interval and an L2 call), plus a margin.
pub(crate) fn mark_horizon(config: &CacheConfig) -> Duration {
    const MARGIN: Duration = Duration::from_secs(1);
    config.max_ttl + config.fail_safe_max_stale + config.sync_interval + config.l2_timeout + MARGIN
}

/// The resolved lifetime of one write.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Lifetime {
    pub(crate) ttl: Duration,
    pub(crate) window: Duration,
    /// How long past its ttl the entry is kept as a fail-safe fallback.
    pub(crate) grace: Duration,
    pub(crate) tags: Vec<String>,
    /// The codec the entry is written with.
    pub(crate) codec: CodecKind,
}

impl Lifetime {
    /// The timeline of an entry created at `created` and written at `now_ms`.
    pub(crate) fn meta(&self, created: Stamp, now_ms: u64) -> EntryMeta {
        EntryMeta::new(created, now_ms, self.ttl, self.window, self.grace)
    }
}

/// Checks a per-call ttl: at least 1 ms, at most `max_ttl`.
pub(crate) fn check_ttl(
    option: &'static str,
    ttl: Duration,
    config: &CacheConfig,
) -> Result<(), CacheError> {
    if duration_ms(ttl) == 0 {
        return Err(CacheError::InvalidOption {
            option,
            reason: format!("must be at least 1 ms, got {ttl:?}"),
        });
    }
    if ttl > config.max_ttl {
        return Err(CacheError::InvalidOption {
            option,
            reason: format!(
                "must be at most max_ttl ({:?}, a CacheConfig field), got {ttl:?}",
                config.max_ttl
            ),
        });
    }
    Ok(())
}

/// Resolves a write's options against the config: the ttl (default `l2_ttl`, plus jitter
/// `jitter_draw` in `[0, 1)` of `ttl_jitter`, never past `max_ttl`), the stale window (default:
/// the configured one, or a fifth of a ttl too short for it), the fail-safe grace, and tags
/// (tagged entries live at most `tag_ttl`, so a tag mark outlives every entry it covers).
pub(crate) fn lifetime(
    ttl: Option<Duration>,
    stale: Option<Duration>,
    tags: &[String],
    config: &CacheConfig,
    jitter_draw: f64,
) -> Result<Lifetime, CacheError> {
    let ttl = ttl.unwrap_or(config.l2_ttl);
    check_ttl("ttl", ttl, config)?;
    let window = match stale {
        Some(window) if window >= ttl => {
            return Err(CacheError::InvalidOption {
                option: "stale",
                reason: format!("must be shorter than the ttl ({ttl:?}), got {window:?}"),
            });
        }
        Some(window) => window,
        None => config.default_window_for(ttl),
    };
    if tags.len() > MAX_TAGS {
        return Err(CacheError::InvalidOption {
            option: "tags",
            reason: format!("at most {MAX_TAGS} tags per entry, got {}", tags.len()),
        });
    }
    for tag in tags {
        tags::validate_tag(tag)?;
    }
    // `max_ttl` is at most ten years, so the jittered ttl cannot overflow.
    let jitter = ttl.mul_f64(config.ttl_jitter * jitter_draw.clamp(0.0, 1.0));
    let mut lifetime = Lifetime {
        ttl: (ttl + jitter).min(config.max_ttl),
        window: if config.enable_swr {
            window
        } else {
            Duration::ZERO
        },
        grace: if config.fail_safe {
            config.fail_safe_max_stale
        } else {
            Duration::ZERO
        },
        tags: tags.to_vec(),
        codec: config.codec,
    };
    if !lifetime.tags.is_empty() {
        lifetime.ttl = lifetime.ttl.min(config.tag_ttl);
        lifetime.grace = lifetime.grace.min(config.tag_ttl - lifetime.ttl);
    }
    Ok(lifetime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Stamp;

    const S: u64 = 1000;

    /// ttl 300 s, window 60 s, kept 30 s past expiry.
    fn meta() -> EntryMeta {
        EntryMeta::new(
            Stamp::ZERO,
            0,
            Duration::from_secs(300),
            Duration::from_secs(60),
            Duration::from_secs(30),
        )
    }

    fn config(enable_swr: bool, fail_safe: bool, background_refresh: bool) -> CacheConfig {
        CacheConfig {
            enable_swr,
            fail_safe,
            background_refresh,
            ..Default::default()
        }
    }

    /// Every combination of the three switches against every phase of the timeline.
    #[test]
    fn the_decision_table_is_total_and_matches_the_documented_semantics() {
        for swr in [false, true] {
            for fail_safe in [false, true] {
                for background in [false, true] {
                    let c = config(swr, fail_safe, background);
                    for (now, expected_state) in [
                        (0, State::Fresh),
                        (240 * S - 1, State::Fresh),
                        (240 * S, if swr { State::Stale } else { State::Fresh }),
                        (300 * S - 1, if swr { State::Stale } else { State::Fresh }),
                        (300 * S, if fail_safe { State::Kept } else { State::Gone }),
                        (
                            330 * S - 1,
                            if fail_safe { State::Kept } else { State::Gone },
                        ),
                        (330 * S, State::Gone),
                    ] {
                        let got = state(&meta(), now, &c);
                        assert_eq!(got, expected_state, "swr {swr} fs {fail_safe} at {now}");
                        let expected = match got {
                            State::Fresh => WithLoader::Serve,
                            State::Stale if background => WithLoader::ServeAndRefresh,
                            State::Stale | State::Kept => WithLoader::LoadWithFallback,
                            State::Gone => WithLoader::Load,
                        };
                        assert_eq!(with_loader(got, &c), expected);
                        assert_eq!(
                            without_loader(got),
                            matches!(got, State::Fresh | State::Stale)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_l1_copy_past_l1_ttl_is_revalidated_unless_only_kept() {
        let c = config(true, true, true);
        assert_eq!(l1_use(&meta(), 10 * S, 5 * S, &c), L1Use::Use(State::Fresh));
        assert_eq!(l1_use(&meta(), 10 * S, 10 * S, &c), L1Use::Revalidate);
        assert_eq!(
            l1_use(&meta(), 500 * S, 250 * S, &c),
            L1Use::Use(State::Stale)
        );
        assert_eq!(l1_use(&meta(), 10 * S, 250 * S, &c), L1Use::Revalidate);
        assert_eq!(l1_use(&meta(), 10 * S, 310 * S, &c), L1Use::Kept);
        assert_eq!(l1_use(&meta(), 10 * S, 330 * S, &c), L1Use::Miss);
        let no_fail_safe = config(true, false, true);
        assert_eq!(l1_use(&meta(), 10 * S, 310 * S, &no_fail_safe), L1Use::Miss);
    }

    #[test]
    fn timeouts_need_a_fallback_or_a_caller_that_can_take_the_error() {
        let c = CacheConfig {
            soft_timeout: Some(Duration::from_millis(10)),
            hard_timeout: Some(Duration::from_millis(100)),
            ..Default::default()
        };
        let ms = Duration::from_millis;
        for (fallback, wait, soft, hard) in [
            (false, false, None, Some(ms(100))),
            (false, true, None, None),
            (true, false, Some(ms(10)), Some(ms(100))),
            (true, true, Some(ms(10)), Some(ms(100))),
        ] {
            assert_eq!(
                bounds(&c, fallback, wait),
                Bounds { soft, hard },
                "{fallback} {wait}"
            );
        }
        assert_eq!(
            bounds(&CacheConfig::default(), true, false),
            Bounds {
                soft: None,
                hard: None
            }
        );
    }

    #[test]
    fn a_stand_in_is_fresh_for_the_throttle_and_never_shortens_the_keep() {
        let m = meta();
        let s = stand_in(&m, 310 * S, Duration::from_secs(5));
        assert_eq!(s.created, m.created);
        assert_eq!(s.fresh_until_ms, 315 * S);
        assert_eq!(s.expires_at_ms, 315 * S);
        assert_eq!(s.keep_until_ms, 330 * S);
        let long = stand_in(&m, 310 * S, Duration::from_secs(60));
        assert_eq!(long.keep_until_ms, 370 * S);
    }

    #[test]
    fn lifetimes_resolve_defaults_windows_jitter_and_tags() {
        let c = CacheConfig {
            l2_ttl: Duration::from_secs(300),
            stale_while_revalidate_window: Duration::from_secs(60),
            ttl_jitter: 0.5,
            ..Default::default()
        };
        let plain = lifetime(None, None, &[], &c, 0.0).expect("valid");
        assert_eq!(
            (plain.ttl, plain.window),
            (Duration::from_secs(300), Duration::from_secs(60))
        );
        let jittered = lifetime(None, None, &[], &c, 0.5).expect("valid");
        assert_eq!(jittered.ttl, Duration::from_secs(375));
        let short = lifetime(Some(Duration::from_secs(10)), None, &[], &c, 0.0).expect("valid");
        assert_eq!(
            short.window,
            Duration::from_secs(2),
            "a fifth of a ttl too short"
        );
        let err = lifetime(
            Some(Duration::from_secs(10)),
            Some(Duration::from_secs(10)),
            &[],
            &c,
            0.0,
        );
        assert!(matches!(
            err,
            Err(CacheError::InvalidOption {
                option: "stale",
                ..
            })
        ));
        let tagged = CacheConfig {
            tag_ttl: Duration::from_secs(100),
            fail_safe_max_stale: Duration::from_secs(500),
            ..c.clone()
        };
        let t = lifetime(None, None, &["t".to_owned()], &tagged, 0.0).expect("valid");
        assert_eq!((t.ttl, t.grace), (Duration::from_secs(100), Duration::ZERO));
    }

    /// Regression: `set(..).ttl(Duration::MAX)` with jitter panicked (Duration overflow).
    #[test]
    fn regression_a_huge_ttl_is_a_clear_error_not_a_panic() {
        let c = CacheConfig {
            ttl_jitter: 0.9,
            ..Default::default()
        };
        for ttl in [Duration::MAX, c.max_ttl + Duration::from_millis(1)] {
            match lifetime(Some(ttl), None, &[], &c, 0.99) {
                Err(CacheError::InvalidOption {
                    option: "ttl",
                    reason,
                }) => {
                    assert!(reason.contains("max_ttl"), "{reason}");
                }
                other => panic!("expected a ttl error, got {other:?}"),
            }
        }
        let at_max = lifetime(Some(c.max_ttl), None, &[], &c, 0.99).expect("valid");
        assert_eq!(at_max.ttl, c.max_ttl, "jitter never passes max_ttl");
        assert!(check_ttl("ttl", Duration::ZERO, &c).is_err());
    }

    #[test]
    fn l1_trusts_a_copy_for_l1_ttl_but_never_past_its_end() {
        let c = CacheConfig {
            l1_ttl: Duration::from_secs(10),
            ..Default::default()
        };
        assert_eq!(l1_deadline(&c, true, 0, &meta()), 10 * S);
        assert_eq!(l1_deadline(&c, true, 325 * S, &meta()), 330 * S);
        assert_eq!(l1_deadline(&c, false, 0, &meta()), u64::MAX);
    }
}
