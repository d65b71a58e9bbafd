//! The engine against a reference model of its documented semantics, driven by random sequences
//! of operations (proptest): `set` (random ttl, namespace, tags), plain `get`, `get` with a
//! loader that succeeds, fails, answers "not found" or hangs past `hard_timeout`, concurrent
//! loads of one key, `invalidate`, `invalidate_tag`, `clear_namespace`, `clear_all`, and clock
//! advances. L1 only, on a paused clock, with background refresh on and off.
//!
//! Every answer must be exactly the model's, which enforces: nothing is returned after its
//! expiry (except as the documented fail-safe stand-in); nothing that an invalidation, clear,
//! tag invalidation or newer write superseded; namespaces and tags never leak; one loader call
//! per coalesced miss; and at the end the stats add up to what the model and the loaders saw.
//!
//! CI runs 256 cases per mode; `PROPTEST_CASES=20000 cargo test -p tiered-cache-core --test
//! model --release` runs many more.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use tiered_cache_core::{CacheConfig, Clock, LoadError, TieredCache};

#[path = "common/timeline.rs"]
mod timeline;

use timeline::{MAX_STALE_MS, State, THROTTLE_MS, Version, WINDOW_MS};

const NAMESPACES: [&str; 2] = ["n1", "n2"];
const KEYS: [&str; 2] = ["a", "b"];
const TAGS: [&str; 2] = ["t1", "t2"];
const HARD_MS: u64 = 500;

/// What a loader does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// `Ok(Some(new value))`.
    Value,
    /// `Ok(None)`: "not found".
    Absent,
    /// `Err(..)`.
    Fail,
    /// Never finishes (abandoned at `hard_timeout`).
    Hang,
}

#[derive(Clone, Debug)]
enum Op {
    Set {
        ns: usize,
        key: usize,
        ttl_s: u64,
        tags: Vec<usize>,
    },
    /// A plain read; `shared`: through [`GetBuilder::shared`], the handle to L1's value.
    Get {
        ns: usize,
        key: usize,
        shared: bool,
    },
    Load {
        ns: usize,
        key: usize,
        ttl_s: u64,
        tags: Vec<usize>,
        outcome: Outcome,
        cache_none: bool,
    },
    /// `callers` loads of one key at once.
    Crowd {
        ns: usize,
        key: usize,
        callers: usize,
        outcome: Outcome,
    },
    /// A load whose loader is held while `racer` runs, then returns `outcome`.
    Race {
        ns: usize,
        key: usize,
        tags: Vec<usize>,
        outcome: Outcome,
        cache_none: bool,
        racer: Racer,
    },
    Invalidate {
        ns: usize,
        key: usize,
    },
    InvalidateTag {
        tag: usize,
    },
    ClearNamespace {
        ns: usize,
    },
    ClearAll,
    Advance {
        ms: u64,
    },
}

/// What happens while a [`Op::Race`] load runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Racer {
    Invalidate,
    /// A `set` of the same key (ttl 5 s).
    Set,
    /// A `set` of the other key of the same namespace (must change nothing for this one).
    SetOther,
    ClearNamespace,
    ClearAll,
    InvalidateTag(usize),
}

fn ops(background: bool) -> impl Strategy<Value = Vec<Op>> {
    let ns = 0..NAMESPACES.len();
    let key = 0..KEYS.len();
    let tags = proptest::collection::vec(0..TAGS.len(), 0..=2);
    // A hanging loader would block a background refresh across operations; inline only.
    let outcome = if background {
        prop_oneof![
            Just(Outcome::Value),
            Just(Outcome::Absent),
            Just(Outcome::Fail)
        ]
        .boxed()
    } else {
        prop_oneof![
            3 => Just(Outcome::Value),
            1 => Just(Outcome::Absent),
            2 => Just(Outcome::Fail),
            1 => Just(Outcome::Hang),
        ]
        .boxed()
    };
    let crowd_outcome = prop_oneof![
        Just(Outcome::Value),
        Just(Outcome::Absent),
        Just(Outcome::Fail)
    ];
    let racer = prop_oneof![
        Just(Racer::Invalidate),
        Just(Racer::Set),
        Just(Racer::SetOther),
        Just(Racer::ClearNamespace),
        Just(Racer::ClearAll),
        (0..TAGS.len()).prop_map(Racer::InvalidateTag),
    ];
    let race = (
        ns.clone(),
        key.clone(),
        proptest::collection::vec(0..TAGS.len(), 0..=2),
        crowd_outcome.clone(),
        any::<bool>(),
        racer,
    )
        .prop_map(|(ns, key, tags, outcome, cache_none, racer)| Op::Race {
            ns,
            key,
            tags,
            outcome,
            cache_none,
            racer,
        });
    let op = prop_oneof![
        2 => race,
        3 => (ns.clone(), key.clone(), 1..=10u64, tags.clone())
            .prop_map(|(ns, key, ttl_s, tags)| Op::Set { ns, key, ttl_s, tags }),
        3 => (ns.clone(), key.clone(), any::<bool>()).prop_map(|(ns, key, shared)| Op::Get { ns, key, shared }),
        5 => (ns.clone(), key.clone(), 1..=10u64, tags, outcome, any::<bool>()).prop_map(
            |(ns, key, ttl_s, tags, outcome, cache_none)| Op::Load {
                ns,
                key,
                ttl_s,
                tags,
                outcome,
                cache_none,
            }
        ),
        1 => (ns.clone(), key.clone(), 2..=12usize, crowd_outcome).prop_map(
            |(ns, key, callers, outcome)| Op::Crowd { ns, key, callers, outcome }
        ),
        1 => (ns.clone(), key.clone()).prop_map(|(ns, key)| Op::Invalidate { ns, key }),
        1 => (0..TAGS.len()).prop_map(|tag| Op::InvalidateTag { tag }),
        1 => ns.prop_map(|ns| Op::ClearNamespace { ns }),
        1 => Just(Op::ClearAll),
        4 => prop_oneof![1..=1_500u64, 1_500..=12_000u64].prop_map(|ms| Op::Advance { ms }),
    ];
    proptest::collection::vec(op, 1..40)
}

/// What a read answers.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Value(Option<u32>),
    Failed,
    TimedOut,
}

/// The counters the engine must agree with.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    total: u64,
    misses: u64,
    loader_calls: u64,
    loader_errors: u64,
    fail_safe: u64,
    hard_timeouts: u64,
    stale_hits: u64,
}

/// The reference model.
struct Model {
    background: bool,
    entries: HashMap<(usize, usize), Version>,
    counts: Counts,
}

/// One loader call of the model.
struct Call {
    outcome: Outcome,
    value: u32,
    ttl_ms: u64,
    tags: Vec<usize>,
    cache_none: bool,
}

impl Model {
    fn get(&mut self, k: (usize, usize), now: u64) -> Answer {
        self.counts.total += 1;
        match self.entries.get(&k).map(|v| (v.state(now), v.value)) {
            Some((State::Fresh, value)) => Answer::Value(value),
            Some((State::Stale, value)) => {
                self.counts.stale_hits += 1;
                Answer::Value(value)
            }
            _ => {
                self.counts.misses += 1;
                Answer::Value(None)
            }
        }
    }

    /// A read with a loader by `callers` callers at once (1 for a plain load); `now_after` is
    /// the clock once the loader returned or was abandoned.
    fn load(
        &mut self,
        k: (usize, usize),
        call: Call,
        callers: u64,
        now: u64,
        now_after: u64,
    ) -> Answer {
        self.counts.total += callers;
        let found = self.entries.get(&k).cloned();
        let state = found.as_ref().map_or(State::Gone, |v| v.state(now));
        match state {
            State::Fresh => Answer::Value(found.and_then(|v| v.value)),
            State::Stale if self.background => {
                self.counts.stale_hits += callers;
                let served = found.as_ref().and_then(|v| v.value);
                // The one background refresh, finished before the next operation.
                self.run_loader(k, &call, found, now);
                Answer::Value(served)
            }
            State::Stale | State::Kept => {
                self.counts.misses += callers;
                self.run_loader(k, &call, found, now_after)
            }
            State::Gone => {
                self.counts.misses += callers;
                self.run_loader(k, &call, None, now_after)
            }
        }
    }

    fn run_loader(
        &mut self,
        k: (usize, usize),
        call: &Call,
        fallback: Option<Version>,
        now: u64,
    ) -> Answer {
        self.counts.loader_calls += 1;
        let failed = match call.outcome {
            Outcome::Value => {
                let version = Version::new(Some(call.value), now, call.ttl_ms, call.tags.clone());
                self.entries.insert(k, version);
                return Answer::Value(Some(call.value));
            }
            Outcome::Absent if call.cache_none => {
                self.entries
                    .insert(k, Version::new(None, now, call.ttl_ms, call.tags.clone()));
                return Answer::Value(None);
            }
            Outcome::Absent => {
                self.entries.remove(&k);
                return Answer::Value(None);
            }
            Outcome::Fail => {
                self.counts.loader_errors += 1;
                Answer::Failed
            }
            Outcome::Hang => {
                self.counts.hard_timeouts += 1;
                Answer::TimedOut
            }
        };
        match fallback {
            Some(fallback) => {
                self.counts.fail_safe += 1;
                let served = fallback.value;
                self.entries.insert(k, fallback.stand_in(now));
                Answer::Value(served)
            }
            None => failed,
        }
    }

    /// A load of `k` whose loader runs while `racer` happens (the racer's own effect included).
    fn race(
        &mut self,
        k: (usize, usize),
        call: Call,
        racer: Racer,
        racer_value: u32,
        now: u64,
    ) -> Answer {
        self.counts.total += 1;
        let found = self.entries.get(&k).cloned();
        let state = found.as_ref().map_or(State::Gone, |v| v.state(now));
        let (served, fallback) = match state {
            State::Fresh => {
                self.apply_racer(k, racer, racer_value, now);
                return Answer::Value(found.and_then(|v| v.value));
            }
            State::Stale if self.background => {
                self.counts.stale_hits += 1;
                (
                    Some(Answer::Value(found.as_ref().and_then(|v| v.value))),
                    found,
                )
            }
            State::Stale | State::Kept => {
                self.counts.misses += 1;
                (None, found)
            }
            State::Gone => {
                self.counts.misses += 1;
                (None, None)
            }
        };
        self.counts.loader_calls += 1;
        self.apply_racer(k, racer, racer_value, now);
        // The load started before the racer: its value is older than anything the racer wrote.
        let blocks = |tags: &[usize]| match racer {
            Racer::SetOther => false,
            Racer::InvalidateTag(t) => tags.contains(&t),
            _ => true,
        };
        let answer = match call.outcome {
            Outcome::Value | Outcome::Absent
                if call.outcome == Outcome::Value || call.cache_none =>
            {
                let value = (call.outcome == Outcome::Value).then_some(call.value);
                if !blocks(&call.tags) {
                    self.entries
                        .insert(k, Version::new(value, now, call.ttl_ms, call.tags.clone()));
                }
                Answer::Value(value)
            }
            Outcome::Absent => {
                // Removes what is older than the load: not a value the racer wrote since.
                if racer != Racer::Set {
                    self.entries.remove(&k);
                }
                Answer::Value(None)
            }
            _ => {
                self.counts.loader_errors += 1;
                match fallback.filter(|f| !blocks(&f.tags)) {
                    Some(fallback) => {
                        self.counts.fail_safe += 1;
                        self.entries.insert(k, fallback.stand_in(now));
                        Answer::Value(fallback.value)
                    }
                    None => Answer::Failed,
                }
            }
        };
        served.unwrap_or(answer)
    }

    fn apply_racer(&mut self, k: (usize, usize), racer: Racer, value: u32, now: u64) {
        match racer {
            Racer::Invalidate => self.invalidate(k),
            Racer::Set => self.set(k, value, 5_000, Vec::new(), now),
            Racer::SetOther => self.set((k.0, 1 - k.1), value, 5_000, Vec::new(), now),
            Racer::ClearNamespace => self.clear(Some(k.0)),
            Racer::ClearAll => self.clear(None),
            Racer::InvalidateTag(t) => self.invalidate_tag(t),
        }
    }

    fn set(&mut self, k: (usize, usize), value: u32, ttl_ms: u64, tags: Vec<usize>, now: u64) {
        self.entries
            .insert(k, Version::new(Some(value), now, ttl_ms, tags));
    }

    fn invalidate(&mut self, k: (usize, usize)) {
        self.entries.remove(&k);
    }

    fn invalidate_tag(&mut self, tag: usize) {
        self.entries.retain(|_, v| !v.tags.contains(&tag));
    }

    fn clear(&mut self, ns: Option<usize>) {
        self.entries
            .retain(|(n, _), _| ns.is_some_and(|ns| *n != ns));
    }
}

fn config(background: bool) -> CacheConfig {
    CacheConfig {
        redis_url: None,
        l1_max_size: 10_000,
        stale_while_revalidate_window: Duration::from_millis(WINDOW_MS),
        background_refresh: background,
        fail_safe: true,
        fail_safe_max_stale: Duration::from_millis(MAX_STALE_MS),
        fail_safe_throttle: Duration::from_millis(THROTTLE_MS),
        hard_timeout: Some(Duration::from_millis(HARD_MS)),
        ..Default::default()
    }
}

/// The engine's answer to a read with a loader.
fn answer(read: Result<Option<u32>, LoadError<String>>) -> Answer {
    match read {
        Ok(value) => Answer::Value(value),
        Err(LoadError::Loader(_)) => Answer::Failed,
        Err(LoadError::TimedOut(_)) => Answer::TimedOut,
        Err(other) => panic!("the cache refused a valid call: {other:?}"),
    }
}

/// A read with a loader that does what `call` says, counting its runs in `runs`. Loaders of a
/// crowd yield first, so every caller joins the load before it finishes. Odd steps read a
/// [`Shared`](tiered_cache_core::Shared) handle, even ones the value.
async fn load(
    cache: &TieredCache,
    k: (usize, usize),
    call: &Call,
    runs: &Arc<AtomicUsize>,
    crowd: bool,
) -> Answer {
    let (outcome, value) = (call.outcome, call.value);
    let runs = runs.clone();
    let tags: Vec<&str> = call.tags.iter().map(|t| TAGS[*t]).collect();
    let read = cache
        .get::<Option<u32>>(KEYS[k.1])
        .namespace(NAMESPACES[k.0])
        .refresh_with(move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            if crowd {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
            }
            match outcome {
                Outcome::Value => Ok(Some(value)),
                Outcome::Absent => Ok(None),
                Outcome::Fail => Err("origin down".to_owned()),
                Outcome::Hang => std::future::pending().await,
            }
        })
        .ttl(Duration::from_millis(call.ttl_ms))
        .tags(tags)
        .cache_none(call.cache_none);
    // Every other step reads through `.shared()`: the handle must answer what the value does.
    let read = if call.value % 2 == 1 {
        read.shared().await.map(|handle| *handle)
    } else {
        read.await
    };
    answer(read)
}

/// Runs a load of `k` whose loader, once started, waits until `racer` has happened. The model
/// says whether a loader runs (`loads`: a miss, or a stale entry's refresh).
#[allow(clippy::too_many_arguments)]
async fn race(
    cache: &TieredCache,
    k: (usize, usize),
    call: &Call,
    racer: Racer,
    racer_value: u32,
    runs: &Arc<AtomicUsize>,
    loads: bool,
) -> Result<Answer, TestCaseError> {
    let (go, gate) = tokio::sync::oneshot::channel::<()>();
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (outcome, value) = (call.outcome, call.value);
    let tags: Vec<&'static str> = call.tags.iter().map(|t| TAGS[*t]).collect();
    let task = {
        let (cache, runs, started) = (cache.clone(), runs.clone(), started.clone());
        let (ttl, cache_none) = (Duration::from_millis(call.ttl_ms), call.cache_none);
        tokio::spawn(async move {
            let read = cache
                .get::<Option<u32>>(KEYS[k.1])
                .namespace(NAMESPACES[k.0])
                .refresh_with(move || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    started.store(true, Ordering::SeqCst);
                    let _ = gate.await;
                    match outcome {
                        Outcome::Value => Ok(Some(value)),
                        Outcome::Absent => Ok(None),
                        _ => Err("origin down".to_owned()),
                    }
                })
                .ttl(ttl)
                .tags(tags)
                .cache_none(cache_none)
                .await;
            answer(read)
        })
    };
    // Until the loader waits (a background refresh starts after the read answered), or the
    // read answered without one.
    for _ in 0..100 {
        if started.load(Ordering::SeqCst) || (!loads && task.is_finished()) {
            break;
        }
        tokio::task::yield_now().await;
    }
    if loads != started.load(Ordering::SeqCst) {
        return Err(TestCaseError::fail(format!(
            "the loader {} (the model says it {})",
            if loads { "never started" } else { "started" },
            if loads { "runs" } else { "does not run" },
        )));
    }
    let fail = |e: tiered_cache_core::CacheError| TestCaseError::fail(e.to_string());
    let (ns, key) = (NAMESPACES[k.0], KEYS[k.1]);
    match racer {
        Racer::Invalidate => cache.invalidate(key).namespace(ns).await.map_err(fail)?,
        Racer::Set => cache
            .set(key, &Some(racer_value))
            .namespace(ns)
            .ttl(Duration::from_secs(5))
            .await
            .map_err(fail)?,
        Racer::SetOther => cache
            .set(KEYS[1 - k.1], &Some(racer_value))
            .namespace(ns)
            .ttl(Duration::from_secs(5))
            .await
            .map_err(fail)?,
        Racer::ClearNamespace => cache.clear_namespace(ns).await.map_err(fail)?,
        Racer::ClearAll => cache.clear_all().await.map_err(fail)?,
        Racer::InvalidateTag(t) => cache.invalidate_tag(TAGS[t]).await.map_err(fail)?,
    }
    let _ = go.send(());
    let got = task.await.map_err(|e| TestCaseError::fail(e.to_string()))?;
    settle().await;
    Ok(got)
}

/// Lets a background refresh started by the last operation finish.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Runs `ops` against a fresh cache and the model; the first disagreement fails the case.
async fn run(background: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = Clock::tokio();
    let cache = TieredCache::builder(config(background))
        .clock(clock.clone())
        .build()
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut model = Model {
        background,
        entries: HashMap::new(),
        counts: Counts::default(),
    };
    let runs = Arc::new(AtomicUsize::new(0));
    for (step, op) in ops.into_iter().enumerate() {
        let value = u32::try_from(step).unwrap_or(u32::MAX);
        // Each step in its own millisecond: a load that starts in the millisecond of a write
        // loses to it by rule (see `StampSource::load_start`), which `tests/consistency.rs` of the facade
        // tests on its own.
        tokio::time::advance(Duration::from_millis(1)).await;
        let now = clock.now_ms();
        match op.clone() {
            Op::Set {
                ns,
                key,
                ttl_s,
                tags,
            } => {
                let names: Vec<&str> = tags.iter().map(|t| TAGS[*t]).collect();
                cache
                    .set(KEYS[key], &Some(value))
                    .namespace(NAMESPACES[ns])
                    .ttl(Duration::from_secs(ttl_s))
                    .tags(names)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.set((ns, key), value, ttl_s * 1000, tags, now);
            }
            Op::Get { ns, key, shared } => {
                let read = cache
                    .get::<Option<u32>>(KEYS[key])
                    .namespace(NAMESPACES[ns]);
                let got = if shared {
                    read.shared().await.map(|got| got.map(|handle| *handle))
                } else {
                    read.await
                }
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let expected = model.get((ns, key), now);
                prop_assert_eq!(
                    Answer::Value(got.flatten()),
                    expected.clone(),
                    "step {}: {:?}",
                    step,
                    op
                );
                // A plain miss and a cached `None` both read as `None` above; tell them apart.
                let cached_none = matches!(got, Some(None));
                let model_none = model.entries.get(&(ns, key)).is_some_and(|v| {
                    v.value.is_none() && matches!(v.state(now), State::Fresh | State::Stale)
                });
                prop_assert_eq!(cached_none, model_none, "step {}: {:?}", step, op);
            }
            Op::Load {
                ns,
                key,
                ttl_s,
                tags,
                outcome,
                cache_none,
            } => {
                let call = Call {
                    outcome,
                    value,
                    ttl_ms: ttl_s * 1000,
                    tags,
                    cache_none,
                };
                let got = load(&cache, (ns, key), &call, &runs, false).await;
                let now_after = clock.now_ms();
                settle().await;
                let expected = model.load((ns, key), call, 1, now, now_after);
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
            }
            Op::Crowd {
                ns,
                key,
                callers,
                outcome,
            } => {
                let call = Call {
                    outcome,
                    value,
                    ttl_ms: 5_000,
                    tags: Vec::new(),
                    cache_none: false,
                };
                let tasks: Vec<_> = (0..callers)
                    .map(|_| {
                        let (cache, runs) = (cache.clone(), runs.clone());
                        let call = Call {
                            tags: Vec::new(),
                            ..call
                        };
                        tokio::spawn(
                            async move { load(&cache, (ns, key), &call, &runs, true).await },
                        )
                    })
                    .collect();
                let mut answers = Vec::new();
                for task in tasks {
                    answers.push(task.await.map_err(|e| TestCaseError::fail(e.to_string()))?);
                }
                settle().await;
                let expected = model.load((ns, key), call, callers as u64, now, clock.now_ms());
                for got in answers {
                    prop_assert_eq!(got, expected.clone(), "step {}: {:?}", step, op);
                }
            }
            Op::Race {
                ns,
                key,
                tags,
                outcome,
                cache_none,
                racer,
            } => {
                let racer_value = value | 0x8000_0000;
                let call = Call {
                    outcome,
                    value,
                    ttl_ms: 5_000,
                    tags,
                    cache_none,
                };
                let loads = model
                    .entries
                    .get(&(ns, key))
                    .is_none_or(|v| v.state(now) != State::Fresh);
                let got = race(&cache, (ns, key), &call, racer, racer_value, &runs, loads).await?;
                let expected = model.race((ns, key), call, racer, racer_value, now);
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
            }
            Op::Invalidate { ns, key } => {
                cache
                    .invalidate(KEYS[key])
                    .namespace(NAMESPACES[ns])
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.invalidate((ns, key));
            }
            Op::InvalidateTag { tag } => {
                cache
                    .invalidate_tag(TAGS[tag])
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.invalidate_tag(tag);
            }
            Op::ClearNamespace { ns } => {
                cache
                    .clear_namespace(NAMESPACES[ns])
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.clear(Some(ns));
            }
            Op::ClearAll => {
                cache
                    .clear_all()
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                model.clear(None);
            }
            Op::Advance { ms } => tokio::time::advance(Duration::from_millis(ms)).await,
        }
    }
    let stats = cache.stats();
    let overall = &stats.overall_stats;
    let engine = Counts {
        total: overall.total_requests,
        misses: overall.total_requests
            - (overall.hit_rate * overall.total_requests as f64).round() as u64,
        loader_calls: overall.loader_calls,
        loader_errors: overall.loader_errors,
        fail_safe: overall.fail_safe_activations,
        hard_timeouts: overall.hard_timeouts,
        stale_hits: stats.swr_stats.stale_hits,
    };
    prop_assert_eq!(&engine, &model.counts, "stats");
    prop_assert_eq!(
        runs.load(Ordering::SeqCst) as u64,
        model.counts.loader_calls,
        "loader runs"
    );
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256)
}

fn check(background: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    runtime.block_on(run(background, ops))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_engine_follows_the_model_with_inline_refresh(ops in ops(false)) {
        check(false, ops)?;
    }

    #[test]
    fn the_engine_follows_the_model_with_background_refresh(ops in ops(true)) {
        check(true, ops)?;
    }
}
