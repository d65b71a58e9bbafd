//! Traces and latency histograms against a real Redis: a cold read-through is one
//! `tiered_cache.load` span whose children are its L2 steps and its loader; a background refresh
//! is a root span that follows from the request that started it; a wait for another instance's
//! load has a span of its own; a hung Redis shows as an L2 span whose outcome is `timeout`; keys
//! never appear in spans. The histograms count exactly the operations the spans show and the
//! loader calls the origin saw.
//!
//! One subscriber and one recorder serve the whole binary (tests run on worker threads); each test
//! reads only what its own cache (a unique name) produced.

#![cfg(feature = "metrics")]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use support::{RedisServer, cache, config, test_redis, unique};
use tiered_cache::TieredCache;
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A closed span as the test sees it.
#[derive(Clone, Debug)]
struct SpanRec {
    seq: u64,
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<u64>,
    follows: Vec<u64>,
}

impl SpanRec {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

#[derive(Default)]
struct Spans {
    next: u64,
    live: HashMap<Id, SpanRec>,
    closed: Vec<SpanRec>,
}

fn spans() -> &'static Mutex<Spans> {
    static SPANS: OnceLock<Mutex<Spans>> = OnceLock::new();
    SPANS.get_or_init(Mutex::default)
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Records every span with its fields, parent and follows-from links.
struct Capture;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut spans = spans().lock().unwrap();
        let parent_id = if attrs.is_root() {
            None
        } else if let Some(parent) = attrs.parent() {
            Some(parent.clone())
        } else {
            ctx.current_span().id().cloned()
        };
        let parent = parent_id.and_then(|p| spans.live.get(&p).map(|s| s.seq));
        spans.next += 1;
        let mut rec = SpanRec {
            seq: spans.next,
            name: attrs.metadata().name(),
            fields: HashMap::new(),
            parent,
            follows: Vec::new(),
        };
        attrs.record(&mut Fields(&mut rec.fields));
        spans.live.insert(id.clone(), rec);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Some(rec) = spans().lock().unwrap().live.get_mut(id) {
            values.record(&mut Fields(&mut rec.fields));
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, _ctx: Context<'_, S>) {
        let mut spans = spans().lock().unwrap();
        if let Some(seq) = spans.live.get(follows).map(|s| s.seq) {
            if let Some(rec) = spans.live.get_mut(id) {
                rec.follows.push(seq);
            }
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        let mut spans = spans().lock().unwrap();
        if let Some(rec) = spans.live.remove(&id) {
            spans.closed.push(rec);
        }
    }
}

/// Installs the subscriber and the recorder once per binary.
fn observed() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Capture);
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per binary");
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::set_global_recorder(recorder).expect("one recorder per binary");
        snapshotter
    })
}

/// The closed spans of the cache called `name`, and every span below them.
fn spans_of(name: &str) -> Vec<SpanRec> {
    let spans = spans().lock().unwrap();
    let mut mine: Vec<SpanRec> = Vec::new();
    let mut seqs = std::collections::HashSet::new();
    let mut all = spans.closed.clone();
    all.sort_by_key(|s| s.seq);
    for span in all {
        if span.field("cache") == name || span.parent.is_some_and(|p| seqs.contains(&p)) {
            seqs.insert(span.seq);
            mine.push(span);
        }
    }
    mine
}

/// Histogram sample counts of the cache called `cache`, by (metric, sorted labels).
type Counts = HashMap<(String, Vec<(String, String)>), usize>;

/// Every histogram sample count so far, by (metric, sorted labels with `cache`). A snapshot drains
/// the recorder, and tests run side by side: each snapshot is added here, so no test loses
/// another's samples.
fn recorded() -> &'static Mutex<Counts> {
    static RECORDED: OnceLock<Mutex<Counts>> = OnceLock::new();
    RECORDED.get_or_init(Mutex::default)
}

fn histograms_of(cache: &str, snapshotter: &Snapshotter) -> Counts {
    let mut all = recorded().lock().unwrap();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let DebugValue::Histogram(samples) = value else {
            continue;
        };
        assert!(
            samples.iter().all(|s| s.into_inner() >= 0.0),
            "durations are never negative"
        );
        let mut labels: Vec<(String, String)> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        *all.entry((key.key().name().to_owned(), labels))
            .or_default() += samples.len();
    }
    let mut out = Counts::new();
    for ((name, labels), count) in all.iter() {
        if !labels.iter().any(|(k, v)| k == "cache" && v == cache) {
            continue;
        }
        let rest: Vec<(String, String)> = labels
            .iter()
            .filter(|(k, _)| k != "cache")
            .cloned()
            .collect();
        out.insert((name.clone(), rest), *count);
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    out.sort();
    out
}

async fn named_cache(url: &str, name: &str) -> TieredCache {
    let mut config = config(url);
    config.name = name.to_owned();
    cache(config).await
}

fn counting_loader(
    calls: &Arc<AtomicU64>,
    value: u64,
) -> impl FnOnce() -> std::future::Ready<Result<u64, std::io::Error>> + Send + 'static {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(value))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_read_through_is_one_load_span_with_its_l2_steps_and_loader() {
    let snapshotter = observed();
    let redis = test_redis();
    let name = unique("trace_cold").replace('-', "_");
    let cache = named_cache(&redis.url(), &name).await;
    let calls = Arc::new(AtomicU64::new(0));
    let secret_key = "user:ada@example.com";

    let value = cache
        .get::<u64>(secret_key)
        .namespace("people")
        .refresh_with(counting_loader(&calls, 7))
        .await
        .unwrap();
    assert_eq!(value, 7);
    // A hit: no span at all.
    let again = cache
        .get::<u64>(secret_key)
        .namespace("people")
        .refresh_with(counting_loader(&calls, 8))
        .await
        .unwrap();
    assert_eq!(again, 7);
    cache.close().await;

    let spans = spans_of(&name);
    let loads: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.name == "tiered_cache.load")
        .collect();
    assert_eq!(
        loads.len(),
        1,
        "one load span (the hit has none): {spans:#?}"
    );
    let load = loads[0];
    assert_eq!(load.field("namespace"), "people");
    assert_eq!(load.field("outcome"), "loaded");
    let children: Vec<(&str, &str, &str)> = spans
        .iter()
        .filter(|s| s.parent == Some(load.seq))
        .map(|s| (s.name, s.field("op"), s.field("outcome")))
        .collect();
    for step in [
        ("tiered_cache.l2", "read", "ok"),
        ("tiered_cache.l2", "lock", "ok"),
        ("tiered_cache.loader", "", "ok"),
        ("tiered_cache.l2", "write", "ok"),
    ] {
        assert!(
            children.contains(&step),
            "{step:?} is a child of the load span; children: {children:?}"
        );
    }
    // The lock is taken with the entry's re-read and released by the write, each in one step: no re-read, no unlock of their own, and the lock is gone.
    assert_eq!(
        children
            .iter()
            .filter(|(name, op, _)| *name == "tiered_cache.l2" && *op == "read")
            .count(),
        1,
        "one read: {children:?}"
    );
    assert!(
        !children.iter().any(|(_, op, _)| *op == "unlock"),
        "the write released the lock: {children:?}"
    );
    let raw = support::raw_client(&redis.url()).await;
    let lock_key = tiered_cache::engine::layout::Layout::new(&cache.config().key_prefix)
        .lock("people", secret_key);
    let lock: Option<String> = fred::interfaces::KeysInterface::get(&raw, lock_key)
        .await
        .expect("raw get");
    assert_eq!(lock, None, "the load's lock is released");
    for span in &spans {
        assert!(
            !span.fields.contains_key("key")
                && span.fields.values().all(|v| !v.contains("ada@example.com")),
            "a key never appears in a span: {span:?}"
        );
    }

    // The histograms count what the spans show, and the loader what the origin saw.
    let counts = histograms_of(&name, snapshotter);
    let loader_runs = counts
        .get(&(
            "tiered_cache_loader_duration_seconds".to_owned(),
            labels(&[("result", "ok")]),
        ))
        .copied()
        .unwrap_or(0);
    assert_eq!(loader_runs as u64, calls.load(Ordering::SeqCst));
    for op in ["read", "lock", "write"] {
        let spans_of_op = spans
            .iter()
            .filter(|s| s.name == "tiered_cache.l2" && s.field("op") == op)
            .count();
        let recorded = counts
            .get(&(
                "tiered_cache_l2_operation_duration_seconds".to_owned(),
                labels(&[("op", op), ("outcome", "ok")]),
            ))
            .copied()
            .unwrap_or(0);
        assert!(spans_of_op > 0, "{op}: at least one span");
        assert_eq!(
            recorded, spans_of_op,
            "{op}: one sample per span; {counts:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_refresh_follows_from_the_request_that_started_it() {
    observed();
    let redis = test_redis();
    let name = unique("trace_refresh").replace('-', "_");
    let cache = named_cache(&redis.url(), &name).await;
    let calls = Arc::new(AtomicU64::new(0));
    // Stale at once: fresh for 0 ms of a 10 s ttl.
    cache
        .set("k", &1u64)
        .ttl(Duration::from_secs(10))
        .stale(Duration::from_secs(10) - Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let request = tracing::info_span!("request", cache = name.as_str());
    let served = {
        let _entered = request.enter();
        cache
            .get::<u64>("k")
            .refresh_with(counting_loader(&calls, 2))
            .await
            .unwrap()
    };
    assert_eq!(served, 1, "the stale value is served at once");
    drop(request);
    assert!(
        support::eventually(Duration::from_secs(5), || async {
            spans_of(&name)
                .iter()
                .any(|s| s.name == "tiered_cache.refresh")
        })
        .await,
        "the refresh ran and its span closed"
    );
    cache.close().await;

    let spans = spans_of(&name);
    let request = spans
        .iter()
        .find(|s| s.name == "request")
        .expect("the request span closed");
    let refresh = spans
        .iter()
        .find(|s| s.name == "tiered_cache.refresh")
        .unwrap();
    assert_eq!(refresh.parent, None, "a refresh is a root: {refresh:?}");
    assert_eq!(
        refresh.follows,
        vec![request.seq],
        "it follows from the request"
    );
    assert_eq!(refresh.field("outcome"), "loaded");
    assert!(
        spans
            .iter()
            .any(|s| s.name == "tiered_cache.loader" && s.parent == Some(refresh.seq)),
        "the loader runs inside the refresh"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_another_instance_has_a_span_and_a_histogram() {
    let snapshotter = observed();
    let redis = test_redis();
    let name = unique("trace_wait").replace('-', "_");
    let mut config_a = config(&redis.url());
    config_a.name = name.clone();
    let mut config_b = config_a.clone();
    config_b.name = format!("{name}_b");
    let a = cache(config_a).await;
    let b = cache(config_b).await;
    let calls = Arc::new(AtomicU64::new(0));

    let slow_calls = calls.clone();
    let slow = tokio::spawn({
        let b = b.clone();
        async move {
            b.get::<u64>("k")
                .refresh_with(move || async move {
                    slow_calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, std::io::Error>(5)
                })
                .await
        }
    });
    // B holds the lock once its loader runs.
    assert!(
        support::eventually(Duration::from_secs(5), || async {
            calls.load(Ordering::SeqCst) == 1
        })
        .await
    );
    let value = a
        .get::<u64>("k")
        .refresh_with(counting_loader(&calls, 6))
        .await
        .unwrap();
    assert_eq!(value, 5, "A waited for B's value");
    assert_eq!(slow.await.unwrap().unwrap(), 5);
    a.close().await;
    b.close().await;

    let spans = spans_of(&name);
    let wait = spans
        .iter()
        .find(|s| s.name == "tiered_cache.lock_wait")
        .unwrap_or_else(|| panic!("A's wait has a span: {spans:#?}"));
    assert_eq!(wait.field("outcome"), "loaded");
    let load = spans
        .iter()
        .find(|s| s.seq == wait.parent.unwrap())
        .unwrap();
    assert_eq!(load.name, "tiered_cache.load");
    assert_eq!(load.field("outcome"), "l2_hit");
    let counts = histograms_of(&name, snapshotter);
    assert_eq!(
        counts.get(&(
            "tiered_cache_lock_wait_duration_seconds".to_owned(),
            labels(&[("outcome", "loaded")]),
        )),
        Some(&1),
        "{counts:#?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one origin call for both");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_shows_as_an_l2_span_that_timed_out() {
    let snapshotter = observed();
    let redis = RedisServer::start();
    let name = unique("trace_hung").replace('-', "_");
    let cache = named_cache(&redis.url(), &name).await;
    redis.pause();
    let value = cache.get::<u64>("k").await.unwrap();
    redis.resume();
    assert_eq!(value, None);
    cache.close().await;

    let spans = spans_of(&name);
    let timed_out = spans
        .iter()
        .filter(|s| {
            s.name == "tiered_cache.l2"
                && s.field("op") == "read"
                && s.field("outcome") == "timeout"
        })
        .count();
    assert_eq!(timed_out, 1, "{spans:#?}");
    let counts = histograms_of(&name, snapshotter);
    assert_eq!(
        counts.get(&(
            "tiered_cache_l2_operation_duration_seconds".to_owned(),
            labels(&[("op", "read"), ("outcome", "timeout")]),
        )),
        Some(&1),
        "{counts:#?}"
    );
}
