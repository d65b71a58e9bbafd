//! What the engine reports beyond its counters: `tracing` spans around its slow work (a load, a
//! background refresh, a wait for another instance's load, the loader, each L2 operation) and,
//! with the `metrics` feature, latency histograms of the same work.
//!
//! Nothing here runs on an L1 hit: spans and histograms cost a few hundred nanoseconds with a
//! subscriber or recorder installed, nothing measurable against a Redis round trip or a loader,
//! but as much as a whole hit. Counters stay in [`crate::stats`], read by `stats()`.
//!
//! Spans are at `INFO` and carry the cache's name, the namespace and an `outcome`; keys are never
//! span fields (they may be personal data and are unbounded): the engine's `TRACE` events name
//! them, inside these spans.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::field::Empty;
use tracing::{Instrument, Span};

/// Histogram of L2 operations, in seconds: labels `cache`, `op` (`read`, `write`, `lock`,
/// `unlock`, `tag_marks`, `invalidate_tag`, `clear_namespace`, `clear_all`, `clear_marks`) and
/// `outcome` (`ok`, `timeout`, `failed`, `refused`, `bad_data`).
pub const L2_OPERATION_SECONDS: &str = "tiered_cache_l2_operation_duration_seconds";
/// Histogram of loader calls (foreground and background), in seconds: labels `cache` and
/// `result` (`ok`, `error`). A loader abandoned at `hard_timeout` is not recorded (it is counted
/// as a hard timeout).
pub const LOADER_SECONDS: &str = "tiered_cache_loader_duration_seconds";
/// Histogram of waits for another instance's load of the same key, in seconds: labels `cache`
/// and `outcome` (`loaded`: its value arrived; `gone`: it ended without one or the wait hit
/// `lock_wait`, and this instance loads).
pub const LOCK_WAIT_SECONDS: &str = "tiered_cache_lock_wait_duration_seconds";

/// What an L2 operation was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L2Op {
    Read,
    Write,
    Lock,
    Unlock,
    TagMarks,
    InvalidateTag,
    ClearNamespace,
    ClearAll,
    ClearMarks,
}

impl L2Op {
    /// Every operation, in declaration order (the order of [`L2Histograms`]' keys).
    #[cfg(feature = "metrics")]
    const ALL: [L2Op; 9] = [
        L2Op::Read,
        L2Op::Write,
        L2Op::Lock,
        L2Op::Unlock,
        L2Op::TagMarks,
        L2Op::InvalidateTag,
        L2Op::ClearNamespace,
        L2Op::ClearAll,
        L2Op::ClearMarks,
    ];

    /// The `op` label and span field.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            L2Op::Read => "read",
            L2Op::Write => "write",
            L2Op::Lock => "lock",
            L2Op::Unlock => "unlock",
            L2Op::TagMarks => "tag_marks",
            L2Op::InvalidateTag => "invalidate_tag",
            L2Op::ClearNamespace => "clear_namespace",
            L2Op::ClearAll => "clear_all",
            L2Op::ClearMarks => "clear_marks",
        }
    }
}

/// How an L2 operation that was sent ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L2Outcome {
    /// Redis answered.
    Ok,
    /// No answer within the call's budget (`l2_timeout`).
    Timeout,
    /// Unreachable, or unable to serve (what the breaker counts).
    Failed,
    /// Redis refused the command (out of memory, read-only, no permission, a bad argument).
    Refused,
    /// Redis answered with data of the wrong kind.
    BadData,
}

impl L2Outcome {
    /// Every outcome, in declaration order (the order of [`L2Histograms`]' keys).
    #[cfg(feature = "metrics")]
    const ALL: [L2Outcome; 5] = [
        L2Outcome::Ok,
        L2Outcome::Timeout,
        L2Outcome::Failed,
        L2Outcome::Refused,
        L2Outcome::BadData,
    ];

    /// The `outcome` label and span field.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            L2Outcome::Ok => "ok",
            L2Outcome::Timeout => "timeout",
            L2Outcome::Failed => "failed",
            L2Outcome::Refused => "refused",
            L2Outcome::BadData => "bad_data",
        }
    }
}

/// The span of one L2 operation; its outcome is filled in by [`l2_done`].
pub(crate) fn l2_span(cache: &str, op: L2Op) -> Span {
    tracing::info_span!("tiered_cache.l2", cache, op = op.name(), outcome = Empty)
}

/// The keys of the L2 operation histogram of one cache, one per (`op`, `outcome`), built once:
/// recording then costs a lookup of the current recorder instead of building three labels (an
/// allocation and the cache name's reference count) on every Redis call. The recorder itself is
/// looked up at each record, so one installed after the cache was built still gets them.
pub(crate) struct L2Histograms {
    #[cfg(feature = "metrics")]
    keys: Box<[metrics::Key]>,
}

#[cfg(feature = "metrics")]
static L2_METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl L2Histograms {
    pub(crate) fn new(cache: &Arc<str>) -> Self {
        #[cfg(feature = "metrics")]
        {
            let keys = L2Op::ALL
                .iter()
                .flat_map(|op| {
                    L2Outcome::ALL.iter().map(move |outcome| {
                        metrics::Key::from_parts(
                            L2_OPERATION_SECONDS,
                            vec![
                                metrics::Label::new("cache", cache.clone()),
                                metrics::Label::new("op", op.name()),
                                metrics::Label::new("outcome", outcome.name()),
                            ],
                        )
                    })
                })
                .collect();
            L2Histograms { keys }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = cache;
            L2Histograms {}
        }
    }

    /// Records one operation's duration.
    fn record(&self, op: L2Op, outcome: L2Outcome, elapsed: Duration) {
        #[cfg(feature = "metrics")]
        if let Some(key) = self
            .keys
            .get(op as usize * L2Outcome::ALL.len() + outcome as usize)
        {
            metrics::with_recorder(|recorder| {
                recorder
                    .register_histogram(key, &L2_METADATA)
                    .record(elapsed);
            });
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (op, outcome, elapsed);
    }
}

/// An L2 operation ended after `elapsed`.
pub(crate) fn l2_done(
    span: &Span,
    histograms: &L2Histograms,
    op: L2Op,
    outcome: L2Outcome,
    elapsed: Duration,
) {
    span.record("outcome", outcome.name());
    histograms.record(op, outcome, elapsed);
}

/// The span of a read that L1 could not answer and that has a loader. Its outcome says how it
/// was answered (see [`outcome`]).
pub(crate) fn load_span(cache: &str, namespace: &str) -> Span {
    tracing::info_span!("tiered_cache.load", cache, namespace, outcome = Empty)
}

/// The span of a background refresh. It is a root of its own (the request that started it has
/// long returned) that *follows from* the span of that request, so a trace shows both.
pub(crate) fn refresh_span(cache: &str, namespace: &str) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "tiered_cache.refresh",
        cache,
        namespace,
        outcome = Empty
    );
    span.follows_from(Span::current());
    span
}

/// Records how the load or refresh being served ended: `l2_hit` (a tier held a usable value,
/// possibly another instance's fresh load), `coalesced` (another caller's load answered),
/// `loaded`, `fail_safe` (a previous value stood in for a failed or timed-out loader),
/// `soft_timeout` (the fallback answered, the loader goes on), `error`, `timed_out`, `skipped`
/// (a refresh another instance was already running).
pub(crate) fn outcome(outcome: &'static str) {
    Span::current().record("outcome", outcome);
}

/// Wraps a loader's future: a `tiered_cache.loader` span (a child of the load or refresh) and its
/// duration, recorded when it completes.
pub(crate) fn loader<Fut, T, E>(
    cache: &Arc<str>,
    namespace: &str,
    load: Fut,
) -> impl Future<Output = Result<T, E>> + Send + 'static
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let span = tracing::info_span!(
        "tiered_cache.loader",
        cache = &**cache,
        namespace,
        outcome = Empty
    );
    let cache = cache.clone();
    async move {
        let started = Instant::now();
        let result = load.instrument(span.clone()).await;
        let result_name = if result.is_ok() { "ok" } else { "error" };
        span.record("outcome", result_name);
        #[cfg(feature = "metrics")]
        metrics::histogram!(LOADER_SECONDS, "cache" => cache, "result" => result_name)
            .record(started.elapsed());
        #[cfg(not(feature = "metrics"))]
        let _ = (cache, started);
        result
    }
}

/// The span of a wait for another instance's load, and when it started.
pub(crate) fn lock_wait_span(cache: &str, namespace: &str) -> (Span, Instant) {
    (
        tracing::info_span!("tiered_cache.lock_wait", cache, namespace, outcome = Empty),
        Instant::now(),
    )
}

/// A wait for another instance's load ended (`loaded` or `gone`).
pub(crate) fn lock_wait_done(
    span: &Span,
    cache: &Arc<str>,
    started: Instant,
    outcome: &'static str,
) {
    span.record("outcome", outcome);
    #[cfg(feature = "metrics")]
    metrics::histogram!(LOCK_WAIT_SECONDS, "cache" => cache.clone(), "outcome" => outcome)
        .record(started.elapsed());
    #[cfg(not(feature = "metrics"))]
    let _ = (cache, started);
}
