//! The convenience surface, L1 only, on a paused tokio clock: namespace handles, loaders that
//! cannot fail (`get_with`), and turning a `LoadError` into the caller's own error.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::{SECOND, cache_with, seed};
use tiered_cache_core::{CacheError, LoadError};
use tokio::time::{advance, sleep};

#[tokio::test(start_paused = true)]
async fn a_namespace_handle_reads_writes_and_clears_only_its_namespace() {
    let cache = cache_with(seed()).await;
    let users = cache.namespace("users").expect("valid name");
    let orders = cache.namespace("orders").expect("valid name");
    assert_eq!(users.name(), "users");

    users.set("1", &"ada".to_owned()).await.unwrap();
    orders.set("1", &"order-1".to_owned()).await.unwrap();
    cache.set("1", &"default-1".to_owned()).await.unwrap();

    // The handle and the explicit namespace are the same entry.
    let explicit: Option<String> = cache.get("1").namespace("users").await.unwrap();
    assert_eq!(explicit.as_deref(), Some("ada"));
    assert_eq!(
        orders.get::<String>("1").await.unwrap().as_deref(),
        Some("order-1")
    );

    users.invalidate("1").await.unwrap();
    assert_eq!(users.get::<String>("1").await.unwrap(), None);
    assert_eq!(
        orders.get::<String>("1").await.unwrap().as_deref(),
        Some("order-1")
    );

    orders.clear().await.unwrap();
    assert_eq!(orders.get::<String>("1").await.unwrap(), None);
    assert_eq!(
        cache.get::<String>("1").await.unwrap().as_deref(),
        Some("default-1"),
        "clearing a namespace never touches another"
    );
    // A clone is the same namespace of the same cache.
    let again = users.clone();
    again.set("2", &"grace".to_owned()).await.unwrap();
    assert_eq!(
        users.get::<String>("2").await.unwrap().as_deref(),
        Some("grace")
    );
}

#[tokio::test(start_paused = true)]
async fn a_bad_namespace_is_refused_once_when_the_handle_is_made() {
    let cache = cache_with(seed()).await;
    for bad in ["", "has space", "colon:inside", &"x".repeat(65)] {
        let error = cache.namespace(bad).expect_err(bad);
        assert!(
            matches!(error, CacheError::InvalidNamespace { .. }),
            "{bad:?}: {error:?}"
        );
    }
    assert!(cache.namespace("default").is_ok());
}

#[tokio::test(start_paused = true)]
async fn get_with_coalesces_caches_and_refreshes_like_refresh_with() {
    let cache = cache_with(seed()).await;
    let users = cache.namespace("users").unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let loader = |value: &'static str| {
        let calls = calls.clone();
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            sleep(Duration::from_millis(10)).await;
            value.to_owned()
        }
    };

    // Ten concurrent misses, one loader call.
    let reads: Vec<_> = (0..10)
        .map(|_| {
            let users = users.clone();
            let loader = loader("v1");
            tokio::spawn(async move { users.get_with("k", loader).await })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap(), "v1");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        users.get_with("k", loader("v2")).await.unwrap(),
        "v1",
        "cached"
    );

    // Stale: served at once, one background refresh.
    advance(250 * SECOND).await;
    assert_eq!(users.get_with("k", loader("v2")).await.unwrap(), "v1");
    sleep(Duration::from_millis(20)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(users.get_with("k", loader("v3")).await.unwrap(), "v2");

    // Options apply: a 1 s ttl expires after 1 s.
    let short = cache
        .get_with("short", loader("s1"))
        .ttl(SECOND)
        .stale(Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(short, "s1");
    advance(2 * SECOND).await;
    assert_eq!(cache.get::<String>("short").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn get_with_fails_only_for_the_cache_own_reasons() {
    let cache = cache_with(seed()).await;
    let bad_key = cache.get_with("", || async { 1u8 }).await;
    assert!(
        matches!(bad_key, Err(CacheError::InvalidKey { .. })),
        "{bad_key:?}"
    );
    let bad_option = cache
        .get_with("k", || async { 1u8 })
        .ttl(SECOND)
        .stale(2 * SECOND)
        .await;
    assert!(
        matches!(bad_option, Err(CacheError::InvalidOption { .. })),
        "{bad_option:?}"
    );
    cache.close().await;
    assert_eq!(
        cache.get_with("k", || async { 1u8 }).await,
        Err(CacheError::Closed)
    );
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
enum AppError {
    #[error("not found: {0}")]
    NotFound(u32),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

#[tokio::test(start_paused = true)]
async fn a_load_error_becomes_the_callers_error_in_one_line() {
    let cache = cache_with(seed()).await;
    let failed: Result<u32, AppError> = cache
        .get("k")
        .refresh_with(|| async { Err(AppError::NotFound(7)) })
        .await
        .map_err(LoadError::into_error);
    assert_eq!(failed, Err(AppError::NotFound(7)));

    let refused: Result<u32, AppError> = cache
        .get("")
        .refresh_with(|| async { Ok::<_, AppError>(1) })
        .await
        .map_err(LoadError::into_error);
    assert!(matches!(
        refused,
        Err(AppError::Cache(CacheError::InvalidKey { .. }))
    ));

    let timed_out: LoadError<AppError> = LoadError::TimedOut(SECOND);
    assert_eq!(
        timed_out.into_error(),
        AppError::Cache(CacheError::TimedOut(SECOND))
    );
}

#[tokio::test(start_paused = true)]
async fn a_loader_chooses_how_its_value_is_stored() {
    let cache = cache_with(seed()).await;
    let load = |value: u32, ttl: Option<Duration>, tags: &'static [&'static str]| {
        move |ctx: tiered_cache_core::LoadContext| async move {
            if let Some(ttl) = ttl {
                ctx.ttl(ttl);
            }
            if !tags.is_empty() {
                ctx.tags(tags.iter().copied());
            }
            Ok::<_, std::io::Error>(value)
        }
    };
    // The loader's 10 s beats the call's 300 s.
    let got = cache
        .get::<u32>("short")
        .refresh_with_context(load(1, Some(10 * SECOND), &[]))
        .ttl(300 * SECOND)
        .await
        .unwrap();
    assert_eq!(got, 1);
    advance(9 * SECOND).await;
    assert_eq!(cache.get::<u32>("short").await.unwrap(), Some(1));
    advance(2 * SECOND).await;
    assert_eq!(
        cache.get::<u32>("short").await.unwrap(),
        None,
        "expired at the loader's ttl"
    );

    // Without a choice, the call's options hold.
    cache
        .get::<u32>("default")
        .refresh_with_context(load(2, None, &[]))
        .ttl(100 * SECOND)
        .await
        .unwrap();
    advance(50 * SECOND).await;
    assert_eq!(cache.get::<u32>("default").await.unwrap(), Some(2));

    // Tags chosen by the loader work like the call's.
    cache
        .get::<u32>("tagged")
        .refresh_with_context(load(3, None, &["team:1"]))
        .await
        .unwrap();
    assert_eq!(cache.get::<u32>("tagged").await.unwrap(), Some(3));
    cache.invalidate_tag("team:1").await.unwrap();
    assert_eq!(cache.get::<u32>("tagged").await.unwrap(), None);

    // An invalid choice keeps the value out of the cache; the caller still gets it.
    let got = cache
        .get::<u32>("bad")
        .refresh_with_context(load(4, Some(Duration::ZERO), &[]))
        .await
        .unwrap();
    assert_eq!(got, 4);
    assert_eq!(cache.get::<u32>("bad").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_loader_can_keep_its_value_out_of_the_cache() {
    let cache = cache_with(seed()).await;
    cache.set("k", &1u32).await.unwrap();
    advance(250 * SECOND).await; // stale: the next read refreshes in the background
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let got = cache
        .get::<u32>("k")
        .refresh_with_context(move |ctx| async move {
            counted.fetch_add(1, Ordering::SeqCst);
            ctx.skip_cache();
            Ok::<_, std::io::Error>(2)
        })
        .await
        .unwrap();
    assert_eq!(got, 1, "stale value served");
    sleep(Duration::from_millis(10)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the refresh ran");
    assert_eq!(
        cache.get::<u32>("k").await.unwrap(),
        Some(1),
        "its value was not stored; the entry stays as it was"
    );
    let cold = cache
        .get::<u32>("cold")
        .refresh_with_context(|ctx| async move {
            ctx.skip_cache();
            Ok::<_, std::io::Error>(5)
        })
        .await
        .unwrap();
    assert_eq!(cold, 5);
    assert_eq!(cache.get::<u32>("cold").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn namespaces_past_the_metrics_limit_are_counted_as_other() {
    let cache = cache_with(tiered_cache_core::CacheConfig {
        metrics_namespaces: 2, // "default" and the first other one
        ..seed()
    })
    .await;
    for ns in ["a", "b", "c"] {
        let handle = cache.namespace(ns).unwrap();
        handle.get_with("k", || async { 1u8 }).await.unwrap();
        handle.get_with("k", || async { 1u8 }).await.unwrap();
    }
    let rows = cache.namespace_stats();
    let names: Vec<&str> = rows.iter().map(|r| r.namespace.as_str()).collect();
    assert_eq!(names, ["default", "a", "other"]);
    let other = &rows[2];
    assert_eq!(
        (other.hits, other.misses, other.loads),
        (2, 2, 2),
        "b and c together"
    );
    let stats = cache.stats();
    let hits: u64 = rows.iter().map(|r| r.hits + r.stale).sum();
    assert_eq!(
        hits, stats.l1_stats.hits,
        "the cache's hits are its namespaces'"
    );
}

#[tokio::test(start_paused = true)]
async fn a_read_with_meta_says_how_fresh_and_how_old() {
    use tiered_cache_core::Tier;
    use tiered_cache_core::source::Freshness;
    let cache = cache_with(seed()).await;
    cache
        .set("k", &1u32)
        .ttl(100 * SECOND)
        .stale(20 * SECOND)
        .await
        .unwrap();
    advance(30 * SECOND).await;
    let entry = cache.get::<u32>("k").with_meta().await.unwrap().unwrap();
    assert_eq!(
        (entry.value, entry.source.tier(), entry.source.freshness()),
        (1, Tier::L1, Freshness::Fresh)
    );
    assert_eq!(entry.age.as_secs(), 30);
    assert_eq!(entry.expires_in.as_secs(), 70);
    advance(60 * SECOND).await;
    let entry = cache.get::<u32>("k").with_meta().await.unwrap().unwrap();
    assert_eq!(entry.source.freshness(), Freshness::Stale);
    assert_eq!(
        cache.stats().swr_stats.stale_hits,
        1,
        "counted like a plain read"
    );
    advance(20 * SECOND).await;
    assert!(
        cache.get::<u32>("k").with_meta().await.unwrap().is_none(),
        "expired"
    );
    assert!(matches!(
        cache.get::<u32>("").with_meta().await,
        Err(CacheError::InvalidKey { .. })
    ));
}
