//! Two instances sharing a real Redis against a reference model (proptest): random sequences of
//! `set`, `get`, loads that succeed, fail or answer "not found", `invalidate`, `invalidate_tag`,
//! `clear_namespace`, `clear_all` and clock advances, each on either instance. Redis is the
//! shared truth; each instance adds only its own fail-safe stand-ins (L1 only, by design).
//!
//! The one window in which an instance may answer differently from the model is the
//! propagation of a change made elsewhere: after each write the test waits for the other
//! instance to receive its notice, within the documented bound (2 s), and fails if it does not.
//! Inline refresh, no hard timeout (real time passes here: the wall clock of the entries is a
//! manual one both instances share).
//!
//! CI runs 24 cases; `PROPTEST_CASES=500 cargo test -p tiered-cache --test model_two` runs more.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use support::{config, eventually, test_redis};
use timeline::{MAX_STALE_MS, State, THROTTLE_MS, Version, WINDOW_MS};

#[path = "../cache-core/tests/common/timeline.rs"]
mod timeline;
use tiered_cache::{CacheConfig, Clock, LoadError, ManualClock, TieredCache};

const NAMESPACES: [&str; 2] = ["n1", "n2"];
const KEYS: [&str; 2] = ["a", "b"];
const TAGS: [&str; 2] = ["t1", "t2"];
/// The propagation bound the README documents for tests (a notice takes milliseconds).
const PROPAGATION: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Value,
    Absent,
    Fail,
}

#[derive(Clone, Debug)]
enum Op {
    Set {
        on: usize,
        ns: usize,
        key: usize,
        ttl_s: u64,
        tags: Vec<usize>,
    },
    /// A plain read; `shared`: through `GetBuilder::shared`, the handle to L1's value.
    Get {
        on: usize,
        ns: usize,
        key: usize,
        shared: bool,
    },
    Load {
        on: usize,
        ns: usize,
        key: usize,
        ttl_s: u64,
        outcome: Outcome,
        cache_none: bool,
    },
    Invalidate {
        on: usize,
        ns: usize,
        key: usize,
    },
    InvalidateTag {
        on: usize,
        tag: usize,
    },
    ClearNamespace {
        on: usize,
        ns: usize,
    },
    ClearAll {
        on: usize,
    },
    Advance {
        ms: u64,
    },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let on = 0..2usize;
    let ns = 0..NAMESPACES.len();
    let key = 0..KEYS.len();
    let outcome = prop_oneof![
        3 => Just(Outcome::Value),
        1 => Just(Outcome::Absent),
        2 => Just(Outcome::Fail),
    ];
    let op = prop_oneof![
        3 => (on.clone(), ns.clone(), key.clone(), 5..=20u64, proptest::collection::vec(0..2usize, 0..=1))
            .prop_map(|(on, ns, key, ttl_s, tags)| Op::Set { on, ns, key, ttl_s, tags }),
        4 => (on.clone(), ns.clone(), key.clone(), any::<bool>()).prop_map(|(on, ns, key, shared)| Op::Get { on, ns, key, shared }),
        4 => (on.clone(), ns.clone(), key.clone(), 5..=20u64, outcome, any::<bool>()).prop_map(
            |(on, ns, key, ttl_s, outcome, cache_none)| Op::Load { on, ns, key, ttl_s, outcome, cache_none }
        ),
        1 => (on.clone(), ns.clone(), key.clone()).prop_map(|(on, ns, key)| Op::Invalidate { on, ns, key }),
        1 => (on.clone(), 0..2usize).prop_map(|(on, tag)| Op::InvalidateTag { on, tag }),
        1 => (on.clone(), ns).prop_map(|(on, ns)| Op::ClearNamespace { on, ns }),
        1 => on.prop_map(|on| Op::ClearAll { on }),
        3 => prop_oneof![1..=2_000u64, 2_000..=15_000u64].prop_map(|ms| Op::Advance { ms }),
    ];
    proptest::collection::vec(op, 1..30)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Value(Option<Option<u32>>),
    Failed,
}

/// Redis's entries, and each instance's fail-safe stand-ins.
#[derive(Default)]
struct Model {
    l2: HashMap<(usize, usize), Version>,
    stand_ins: [HashMap<(usize, usize), Version>; 2],
    loader_calls: u64,
}

impl Model {
    /// A fresh stand-in of `on` for `k`, if any (one that is not fresh is replaced by the
    /// entry read from Redis on the next read).
    fn stand_in(&mut self, on: usize, k: (usize, usize), now: u64) -> Option<Option<u32>> {
        let fresh = self.stand_ins[on]
            .get(&k)
            .filter(|v| v.state(now) == State::Fresh)
            .map(|v| v.value);
        if fresh.is_none() {
            self.stand_ins[on].remove(&k);
        }
        fresh
    }

    fn get(&mut self, on: usize, k: (usize, usize), now: u64) -> Answer {
        if let Some(value) = self.stand_in(on, k, now) {
            return Answer::Value(Some(value));
        }
        Answer::Value(match self.l2.get(&k) {
            Some(v) if matches!(v.state(now), State::Fresh | State::Stale) => Some(v.value),
            _ => None,
        })
    }

    /// A load on `on`; returns the answer and whether Redis was written (a notice goes out).
    #[allow(clippy::too_many_arguments)]
    fn load(
        &mut self,
        on: usize,
        k: (usize, usize),
        value: u32,
        ttl_ms: u64,
        outcome: Outcome,
        cache_none: bool,
        now: u64,
    ) -> (Answer, bool) {
        if let Some(value) = self.stand_in(on, k, now) {
            return (Answer::Value(Some(value)), false);
        }
        let found = self.l2.get(&k).cloned();
        let fallback = match found.as_ref().map(|v| (v.state(now), v)) {
            Some((State::Fresh, v)) => return (Answer::Value(Some(v.value)), false),
            Some((State::Stale | State::Kept, v)) => Some(v.clone()),
            _ => None,
        };
        self.loader_calls += 1;
        match outcome {
            Outcome::Value => {
                self.write(k, Some(Version::new(Some(value), now, ttl_ms, Vec::new())));
                (Answer::Value(Some(Some(value))), true)
            }
            Outcome::Absent if cache_none => {
                self.write(k, Some(Version::new(None, now, ttl_ms, Vec::new())));
                (Answer::Value(Some(None)), true)
            }
            Outcome::Absent => {
                self.write(k, None);
                (Answer::Value(Some(None)), true)
            }
            Outcome::Fail => match fallback {
                Some(fallback) => {
                    self.stand_ins[on].insert(k, fallback.stand_in(now));
                    (Answer::Value(Some(fallback.value)), false)
                }
                None => (Answer::Failed, false),
            },
        }
    }

    /// A write or invalidation of `k` (on either instance): Redis holds `version`, and every
    /// instance's stand-in of `k` goes.
    fn write(&mut self, k: (usize, usize), version: Option<Version>) {
        match version {
            Some(version) => self.l2.insert(k, version),
            None => self.l2.remove(&k),
        };
        for stand_ins in &mut self.stand_ins {
            stand_ins.remove(&k);
        }
    }

    fn remove_where(&mut self, doomed: impl Fn(&(usize, usize), &Version) -> bool) {
        self.l2.retain(|k, v| !doomed(k, v));
        for stand_ins in &mut self.stand_ins {
            stand_ins.retain(|k, v| !doomed(k, v));
        }
    }
}

fn instance_config(url: &str, prefix: &str) -> CacheConfig {
    CacheConfig {
        key_prefix: prefix.to_owned(),
        l1_ttl: Duration::from_secs(3_600),
        l2_timeout: Duration::from_secs(1),
        stale_while_revalidate_window: Duration::from_millis(WINDOW_MS),
        background_refresh: false,
        fail_safe_max_stale: Duration::from_millis(MAX_STALE_MS),
        fail_safe_throttle: Duration::from_millis(THROTTLE_MS),
        ..config(url)
    }
}

fn fail<E: std::fmt::Display>(error: E) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// Waits until `other` has received `count` notices, within the bound.
async fn propagated(other: &TieredCache, count: u64) -> Result<(), TestCaseError> {
    let arrived = eventually(PROPAGATION, || async {
        other.stats().l2_stats.notices_received >= count
    })
    .await;
    prop_assert!(arrived, "a notice took longer than the propagation bound");
    Ok(())
}

async fn run(url: &str, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let (clock, hand): (Clock, ManualClock) = Clock::manual(1_900_000_000_000);
    let prefix = support::unique("t").replace('-', "_");
    let mut caches = Vec::new();
    for _ in 0..2 {
        caches.push(
            TieredCache::builder(instance_config(url, &prefix))
                .clock(clock.clone())
                .build()
                .await
                .map_err(fail)?,
        );
    }
    let mut model = Model::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut expected_notices = [0u64; 2];
    for (step, op) in ops.into_iter().enumerate() {
        let value = u32::try_from(step).unwrap_or(u32::MAX);
        // Each step in its own millisecond (a load loses to a write of its millisecond by
        // rule; `tests/consistency.rs` tests that on its own).
        hand.advance(Duration::from_millis(1));
        let now = hand.now_ms();
        let (on, wrote) = match op.clone() {
            Op::Set {
                on,
                ns,
                key,
                ttl_s,
                tags,
            } => {
                let names: Vec<&str> = tags.iter().map(|t| TAGS[*t]).collect();
                caches[on]
                    .set(KEYS[key], &Some(value))
                    .namespace(NAMESPACES[ns])
                    .ttl(Duration::from_secs(ttl_s))
                    .tags(names)
                    .await
                    .map_err(fail)?;
                model.write(
                    (ns, key),
                    Some(Version::new(Some(value), now, ttl_s * 1000, tags)),
                );
                (on, true)
            }
            Op::Get {
                on,
                ns,
                key,
                shared,
            } => {
                let read = caches[on]
                    .get::<Option<u32>>(KEYS[key])
                    .namespace(NAMESPACES[ns]);
                let got = if shared {
                    read.shared().await.map(|got| got.map(|handle| *handle))
                } else {
                    read.await
                }
                .map_err(fail)?;
                let expected = model.get(on, (ns, key), now);
                prop_assert_eq!(Answer::Value(got), expected, "step {}: {:?}", step, op);
                (on, false)
            }
            Op::Load {
                on,
                ns,
                key,
                ttl_s,
                outcome,
                cache_none,
            } => {
                let runs = runs.clone();
                let read = caches[on]
                    .get::<Option<u32>>(KEYS[key])
                    .namespace(NAMESPACES[ns])
                    .refresh_with(move || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        match outcome {
                            Outcome::Value => Ok(Some(value)),
                            Outcome::Absent => Ok(None),
                            Outcome::Fail => Err("origin down".to_owned()),
                        }
                    })
                    .ttl(Duration::from_secs(ttl_s))
                    .cache_none(cache_none)
                    .await;
                let got = match read {
                    Ok(value) => Answer::Value(Some(value)),
                    Err(LoadError::Loader(_)) => Answer::Failed,
                    Err(other) => return Err(fail(format!("{other:?}"))),
                };
                let (expected, wrote) =
                    model.load(on, (ns, key), value, ttl_s * 1000, outcome, cache_none, now);
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
                (on, wrote)
            }
            Op::Invalidate { on, ns, key } => {
                caches[on]
                    .invalidate(KEYS[key])
                    .namespace(NAMESPACES[ns])
                    .await
                    .map_err(fail)?;
                model.write((ns, key), None);
                (on, true)
            }
            Op::InvalidateTag { on, tag } => {
                caches[on].invalidate_tag(TAGS[tag]).await.map_err(fail)?;
                model.remove_where(|_, v| v.tags.contains(&tag));
                (on, true)
            }
            Op::ClearNamespace { on, ns } => {
                caches[on]
                    .clear_namespace(NAMESPACES[ns])
                    .await
                    .map_err(fail)?;
                model.remove_where(|k, _| k.0 == ns);
                (on, true)
            }
            Op::ClearAll { on } => {
                caches[on].clear_all().await.map_err(fail)?;
                model.remove_where(|_, _| true);
                (on, true)
            }
            Op::Advance { ms } => {
                hand.advance(Duration::from_millis(ms));
                (0, false)
            }
        };
        if wrote {
            // Each write publishes one notice; the other instance must have it before the next
            // operation (its L1 may be behind only until then).
            expected_notices[1 - on] += 1;
            propagated(&caches[1 - on], expected_notices[1 - on]).await?;
        }
    }
    let calls: u64 = caches
        .iter()
        .map(|c| c.stats().overall_stats.loader_calls)
        .sum();
    prop_assert_eq!(calls, model.loader_calls, "loader calls in the stats");
    prop_assert_eq!(
        runs.load(Ordering::SeqCst) as u64,
        model.loader_calls,
        "loader runs"
    );
    for cache in &caches {
        prop_assert_eq!(cache.stats().l2_stats.errors, 0, "no L2 errors");
        cache.close().await;
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn two_instances_follow_the_model(ops in ops()) {
        static REDIS: std::sync::OnceLock<support::TestRedis> = std::sync::OnceLock::new();
        let redis = REDIS.get_or_init(test_redis);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(fail)?;
        runtime.block_on(run(&redis.url(), ops))?;
    }
}
