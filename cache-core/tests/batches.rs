//! Batches, L1 only, on a paused tokio clock: one loader call for every miss, stale keys served
//! and refreshed, coalescing with single-key loads both ways, errors, and keys the loader does
//! not return.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{SECOND, cache_with, seed, settle};
use tiered_cache_core::{CacheError, LoadError};
use tokio::time::{advance, sleep};

type Calls = Arc<Mutex<Vec<Vec<String>>>>;

type Answer =
    std::pin::Pin<Box<dyn Future<Output = Result<HashMap<String, String>, String>> + Send>>;

/// A batch loader that records the keys it was asked for and answers `v:<key>` for every key
/// except those starting with `none`.
fn batch(calls: &Calls, delay: Duration) -> impl FnOnce(Vec<String>) -> Answer + Send + 'static {
    let calls = calls.clone();
    move |keys| {
        Box::pin(async move {
            calls.lock().unwrap().push(keys.clone());
            sleep(delay).await;
            Ok(keys
                .into_iter()
                .filter(|k| !k.starts_with("none"))
                .map(|k| (k.clone(), format!("v:{k}")))
                .collect())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn one_loader_call_for_every_miss_and_the_answers_in_order() {
    let cache = cache_with(seed()).await;
    cache.set("b", &"cached".to_owned()).await.unwrap();
    let calls = Calls::default();
    let got = cache
        .get_many(&["a", "b", "c", "none-d"])
        .refresh_many_with(batch(&calls, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(
        got,
        [
            Some("v:a".to_owned()),
            Some("cached".to_owned()),
            Some("v:c".to_owned()),
            None
        ]
    );
    assert_eq!(*calls.lock().unwrap(), [vec!["a", "c", "none-d"]]);
    // Stored: a plain batch read now finds them; the key the loader did not return is not.
    let again = cache
        .get_many::<String, _>(&["a", "c", "none-d"])
        .await
        .unwrap();
    assert_eq!(
        again,
        [Some("v:a".to_owned()), Some("v:c".to_owned()), None]
    );
    assert_eq!(cache.stats().overall_stats.loader_calls, 1);
}

#[tokio::test(start_paused = true)]
async fn stale_keys_are_served_and_refreshed_with_the_misses_or_in_the_background() {
    let cache = cache_with(seed()).await;
    cache.set("s", &"old".to_owned()).await.unwrap();
    advance(250 * SECOND).await; // stale from 240 s
    let calls = Calls::default();
    // With a miss: the stale key rides in the same loader call.
    let got = cache
        .get_many(&["s", "m"])
        .refresh_many_with(batch(&calls, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(
        got,
        [Some("v:s".to_owned()), Some("v:m".to_owned())],
        "the caller waited for the loader anyway: the stale key's new value"
    );
    assert_eq!(*calls.lock().unwrap(), [vec!["m", "s"]]);
    assert_eq!(
        cache.get::<String>("s").await.unwrap().as_deref(),
        Some("v:s")
    );

    // Only stale keys: answered at once, one background call refreshes them.
    advance(250 * SECOND).await;
    cache.set("s", &"old again".to_owned()).await.unwrap();
    cache.set("m", &"old m".to_owned()).await.unwrap();
    advance(250 * SECOND).await;
    let got = cache
        .get_many(&["s", "m"])
        .refresh_many_with(batch(&calls, Duration::from_millis(10)))
        .await
        .unwrap();
    assert_eq!(
        got,
        [Some("old again".to_owned()), Some("old m".to_owned())],
        "stale, at once"
    );
    sleep(Duration::from_millis(20)).await;
    assert_eq!(calls.lock().unwrap().len(), 2);
    assert_eq!(calls.lock().unwrap()[1], ["s", "m"]);
    assert_eq!(cache.stats().swr_stats.background_refreshes, 2);
    assert_eq!(
        cache.get_many::<String, _>(&["s", "m"]).await.unwrap(),
        [Some("v:s".to_owned()), Some("v:m".to_owned())],
        "refreshed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_and_single_key_loads_share_their_loader_calls() {
    let cache = cache_with(seed()).await;
    let calls = Calls::default();
    let single_calls = Arc::new(Mutex::new(0));
    // A single-key load of "a" is running when the batch starts: the batch waits for it.
    let single = {
        let cache = cache.clone();
        let single_calls = single_calls.clone();
        tokio::spawn(async move {
            cache
                .get::<String>("a")
                .refresh_with(move || async move {
                    *single_calls.lock().unwrap() += 1;
                    sleep(Duration::from_millis(50)).await;
                    Ok::<_, String>("single:a".to_owned())
                })
                .await
        })
    };
    settle().await;
    let batch_read = {
        let cache = cache.clone();
        let calls = calls.clone();
        tokio::spawn(async move {
            cache
                .get_many(&["a", "b"])
                .refresh_many_with(batch(&calls, Duration::from_millis(50)))
                .await
        })
    };
    settle().await;
    // A single-key load of "b" while the batch loads it: it waits for the batch.
    let b = cache
        .get::<String>("b")
        .refresh_with(|| async { Ok::<_, String>("single:b".to_owned()) });
    let (b, batch_read, single) = tokio::join!(b.into_future(), batch_read, single);
    assert_eq!(b.unwrap(), "v:b");
    assert_eq!(
        batch_read.unwrap().unwrap(),
        [Some("single:a".to_owned()), Some("v:b".to_owned())]
    );
    assert_eq!(single.unwrap().unwrap(), "single:a");
    assert_eq!(*calls.lock().unwrap(), [vec!["b"]]);
    assert_eq!(*single_calls.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_batch_caches_nothing_and_bad_keys_are_refused_up_front() {
    let cache = cache_with(seed()).await;
    let failed = cache
        .get_many::<String, _>(&["a", "b"])
        .refresh_many_with(|_keys| async { Err::<HashMap<String, String>, _>("db down") })
        .await;
    assert!(matches!(failed, Err(LoadError::Loader(ref e)) if **e == "db down"));
    assert_eq!(
        cache.get_many::<String, _>(&["a", "b"]).await.unwrap(),
        [None, None]
    );
    assert_eq!(cache.stats().overall_stats.loader_errors, 1);

    let calls = Calls::default();
    let refused = cache
        .get_many(&["ok", ""])
        .refresh_many_with(batch(&calls, Duration::ZERO))
        .await;
    assert!(matches!(
        refused,
        Err(LoadError::Cache(CacheError::InvalidKey { .. }))
    ));
    assert!(calls.lock().unwrap().is_empty(), "nothing loaded");
    let refused = cache.set_many(&[("x", 1u8), ("", 2)]).await;
    assert!(matches!(refused, Err(CacheError::InvalidKey { .. })));
    assert_eq!(cache.get::<u8>("x").await.unwrap(), None, "nothing written");
}

#[tokio::test(start_paused = true)]
async fn set_many_and_invalidate_many_through_a_namespace_handle() {
    let cache = cache_with(seed()).await;
    let users = cache.namespace("users").unwrap();
    users
        .set_many(&[("1", "ada".to_owned()), ("2", "grace".to_owned())])
        .ttl(10 * SECOND)
        .await
        .unwrap();
    assert_eq!(
        users.get_many::<String, _>(&["1", "2", "3"]).await.unwrap(),
        [Some("ada".to_owned()), Some("grace".to_owned()), None]
    );
    assert_eq!(
        cache.get::<String>("1").await.unwrap(),
        None,
        "other namespace"
    );
    users.invalidate_many(&["1"]).await.unwrap();
    assert_eq!(
        users.get_many::<String, _>(&["1", "2"]).await.unwrap(),
        [None, Some("grace".to_owned())]
    );
    advance(11 * SECOND).await;
    assert_eq!(
        users.get::<String>("2").await.unwrap(),
        None,
        "the batch's ttl"
    );
}
