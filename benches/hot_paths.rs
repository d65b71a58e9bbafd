//! Criterion micro-benchmarks of the cache's own hot paths (L1 only, no Redis), beside raw
//! quick_cache (the floor L1 is built on): `cargo bench -p tiered-cache-bench --bench hot_paths`.
//!
//! A hit completes on the first poll, so the futures are driven with `now_or_never` and the
//! figures are the cache's own cost, not an executor's.

use std::future::IntoFuture;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt;
use tiered_cache::{CacheConfig, TieredCache};

const VALUE: &str = "a small value of about forty bytes, owned";

fn cache() -> TieredCache {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let cache = TieredCache::new(CacheConfig {
            redis_url: None,
            ..Default::default()
        })
        .await
        .expect("valid config");
        cache.set("user:1", &VALUE.to_owned()).await.expect("set");
        cache
    })
}

fn l1_hits(c: &mut Criterion) {
    let raw: quick_cache::sync::Cache<String, String> = quick_cache::sync::Cache::new(1000);
    raw.insert("default:user:1".to_owned(), VALUE.to_owned());
    let cache = cache();
    let mut group = c.benchmark_group("l1_hit");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("raw_quick_cache_get", |b| {
        b.iter(|| raw.get("default:user:1").expect("hit"));
    });
    let raw_arc: quick_cache::sync::Cache<String, std::sync::Arc<String>> =
        quick_cache::sync::Cache::new(1000);
    raw_arc.insert(
        "default:user:1".to_owned(),
        std::sync::Arc::new(VALUE.to_owned()),
    );
    group.bench_function("raw_quick_cache_get_arc_then_clone", |b| {
        b.iter(|| String::clone(&raw_arc.get("default:user:1").expect("hit")));
    });
    group.bench_function("get", |b| {
        b.iter(|| {
            cache
                .get::<String>("user:1")
                .into_future()
                .now_or_never()
                .expect("a hit completes at once")
                .expect("get")
                .expect("hit")
        });
    });
    group.bench_function("get_refresh_with", |b| {
        b.iter(|| {
            cache
                .get("user:1")
                .refresh_with(|| async { Ok::<_, std::io::Error>(String::new()) })
                .into_future()
                .now_or_never()
                .expect("a hit completes at once")
                .expect("hit")
        });
    });
    group.finish();
}

criterion_group!(benches, l1_hits);
criterion_main!(benches);
