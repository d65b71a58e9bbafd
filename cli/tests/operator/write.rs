//! `invalidate`, `clear`, `clear-tag`: a running instance (in this process) drops its L1 copy
//! at once, which only the backplane notice can make it do (its L1 keeps copies for minutes and
//! it reads clear marks every five minutes).

use std::time::Duration;

use tiered_cache::TieredCache;

use crate::harness::{self, assert_exit, run, standalone_and_cluster, stdout};
use crate::support::{self, eventually};

standalone_and_cluster!(each_change_reaches_a_running_instance);

const NOTICE_BOUND: Duration = Duration::from_secs(3);

/// `key` in `namespace` is in the observer's L1 (and Redis) with `value`.
async fn warm(writer: &TieredCache, observer: &TieredCache, namespace: &str, key: &str) {
    writer
        .set(key, &1u64)
        .namespace(namespace)
        .tags(["team:1"])
        .await
        .expect("set");
    let seen = observer.get::<u64>(key).namespace(namespace).await;
    assert_eq!(seen.expect("get"), Some(1), "the observer holds it");
}

/// Whether the observer misses `key` soon, having heard a notice.
async fn observer_misses(observer: &TieredCache, namespace: &str, key: &str) -> bool {
    eventually(NOTICE_BOUND, || async {
        observer.get::<u64>(key).namespace(namespace).await.ok() == Some(None)
    })
    .await
}

async fn each_change_reaches_a_running_instance(url: &str) {
    let config = harness::config(url);
    let writer = support::cache(config.clone()).await;
    let observer = harness::observer(&config).await;
    let cases: [(&[&str], &str); 4] = [
        (&["invalidate", "a", "--namespace", "n1"], "a"),
        (&["clear", "n2"], "b"),
        (&["clear-tag", "team:1"], "c"),
        (&["clear", "--all"], "d"),
    ];
    for (i, (args, key)) in cases.into_iter().enumerate() {
        let namespace = format!("n{}", i + 1);
        warm(&writer, &observer, &namespace, key).await;
        let notices = observer.stats().l2_stats.notices_received;
        let output = run(&config, args).await;
        assert_exit(&output, 0);
        assert!(
            stdout(&output).contains("Redis took it"),
            "{}",
            stdout(&output)
        );
        assert!(
            observer_misses(&observer, &namespace, key).await,
            "{args:?}: the running instance dropped its copy"
        );
        assert!(
            observer.stats().l2_stats.notices_received > notices,
            "{args:?}: through the backplane"
        );
        // And Redis agrees: a fresh instance misses too.
        let fresh = support::cache(config.clone()).await;
        let got = fresh.get::<u64>(key).namespace(&namespace).await;
        assert_eq!(got.expect("get"), None, "{args:?}");
        fresh.close().await;
    }
    writer.close().await;
    observer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_change_nothing() {
    let redis = harness::server();
    let config = harness::config(&redis.url());
    for args in [
        &["invalidate", "k", "--namespace", "no:colons"][..],
        &["clear", "bad namespace"],
        &["clear-tag", ""],
    ] {
        let output = run(&config, args).await;
        assert_exit(&output, 2);
    }
}
