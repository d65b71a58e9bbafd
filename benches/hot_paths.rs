//! Criterion micro-benchmarks of the cache's own hot paths (L1 only, no Redis):
//! `cargo bench --bench hot_paths`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tiered_cache::{CacheConfig, TieredCache};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn l1_hits(c: &mut Criterion) {
    let rt = runtime();
    let cache = rt.block_on(async {
        let cache = TieredCache::new(CacheConfig {
            redis_url: None,
            ..Default::default()
        })
        .await
        .expect("valid config");
        cache
            .set("user:1", &"a small value".to_owned())
            .await
            .expect("set");
        cache
    });
    let mut group = c.benchmark_group("l1_hit");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("get", |b| {
        b.iter(|| rt.block_on(async { cache.get::<String>("user:1").await.expect("get") }));
    });
    group.bench_function("get_refresh_with", |b| {
        b.iter(|| {
            rt.block_on(async {
                cache
                    .get("user:1")
                    .refresh_with(|| async { Ok::<_, std::io::Error>(String::new()) })
                    .await
                    .expect("hit")
            })
        });
    });
    group.finish();
}

fn writes(c: &mut Criterion) {
    let rt = runtime();
    let cache = rt.block_on(async {
        TieredCache::new(CacheConfig {
            redis_url: None,
            ..Default::default()
        })
        .await
        .expect("valid config")
    });
    let value = "a small value".to_owned();
    c.bench_function("l1_set", |b| {
        b.iter(|| rt.block_on(async { cache.set("user:1", &value).await.expect("set") }));
    });
}

criterion_group!(benches, l1_hits, writes);
criterion_main!(benches);
