//! `ls`: every entry of the namespace and nothing else, on a standalone server and on a cluster
//! (whose keys live on three primaries).

use std::collections::BTreeSet;

use fred::interfaces::KeysInterface;
use serde::Deserialize;
use tiered_cache::TieredCache;

use crate::harness::{self, assert_exit, run, stderr, stdout};
use crate::support;

#[derive(Debug, Deserialize)]
struct Row {
    namespace: String,
    key: String,
    redis_key: String,
    state: String,
    ttl_ms: Option<i64>,
    tags: Vec<String>,
}

async fn fill(cache: &TieredCache, namespace: &str, keys: usize) -> BTreeSet<String> {
    let mut written = BTreeSet::new();
    for i in 0..keys {
        let key = format!("item:{i}");
        cache
            .set(&key, &(i as u64))
            .namespace(namespace)
            .tags(["listed"])
            .await
            .expect("set");
        written.insert(key);
    }
    written
}

/// Lists `namespace` in both formats and checks they name exactly `expected`.
async fn lists_exactly(config: &tiered_cache::CacheConfig, expected: &BTreeSet<String>) {
    let output = run(config, &["ls", "wanted", "--limit", "0"]).await;
    assert_exit(&output, 0);
    let plain: BTreeSet<String> = stdout(&output)
        .lines()
        .map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(columns.first(), Some(&"fresh"), "{line}");
            columns
                .last()
                .map(|key| (*key).to_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(&plain, expected);

    let output = run(config, &["ls", "wanted", "--json", "--limit", "0"]).await;
    assert_exit(&output, 0);
    let mut listed = BTreeSet::new();
    for line in stdout(&output).lines() {
        let row: Row = serde_json::from_str(line).expect("each line is a JSON object");
        assert_eq!(row.namespace, "wanted");
        assert_eq!(row.state, "fresh");
        assert_eq!(row.tags, ["listed"]);
        assert!(row.ttl_ms.is_some_and(|ttl| ttl > 0));
        assert_eq!(
            row.redis_key,
            format!("{}:wanted:{}", config.key_prefix, row.key)
        );
        assert!(listed.insert(row.key), "listed once");
    }
    assert_eq!(&listed, expected);
}

/// Writes the namespace the test lists, a neighbour namespace, the same namespace under
/// another prefix; returns what `ls wanted` must list.
async fn scene(url: &str, keys: usize) -> (tiered_cache::CacheConfig, BTreeSet<String>) {
    let config = harness::config(url);
    let cache = support::cache(config.clone()).await;
    let expected = fill(&cache, "wanted", keys).await;
    fill(&cache, "wanted2", 5).await;
    cache.close().await;
    let neighbour = support::cache(harness::config(url)).await;
    fill(&neighbour, "wanted", 5).await;
    neighbour.close().await;
    (config, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_a_namespace_on_a_standalone_server() {
    let redis = harness::server();
    let (config, expected) = scene(&redis.url(), 40).await;
    // Matches the SCAN pattern but is no key the cache writes (an empty user key).
    let raw = support::raw_client(&redis.url()).await;
    let _: () = raw
        .set(
            format!("{}:wanted:", config.key_prefix),
            "x",
            None,
            None,
            false,
        )
        .await
        .expect("plant");
    lists_exactly(&config, &expected).await;

    let output = run(&config, &["ls", "wanted", "--limit", "7"]).await;
    assert_exit(&output, 0);
    assert_eq!(stdout(&output).lines().count(), 7);
    assert!(stderr(&output).contains("--limit 7"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_a_namespace_on_every_primary_of_a_cluster() {
    let cluster = harness::cluster();
    let (config, expected) = scene(&cluster.url(), 60).await;
    // The keys really are spread: a scan of one node would miss some.
    let nodes: BTreeSet<u16> = expected
        .iter()
        .map(|key| {
            cluster
                .node_of(&format!("{}:wanted:{key}", config.key_prefix))
                .port()
        })
        .collect();
    assert_eq!(nodes.len(), 3, "keys on every primary");
    lists_exactly(&config, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_values_are_listed_as_such() {
    let redis = harness::server();
    let config = harness::config(&redis.url());
    let raw = support::raw_client(&redis.url()).await;
    let _: () = raw
        .set(
            format!("{}:wanted:junk", config.key_prefix),
            "not an entry",
            None,
            None,
            false,
        )
        .await
        .expect("plant");
    let output = run(&config, &["ls", "wanted", "--json"]).await;
    assert_exit(&output, 0);
    let row: serde_json::Value =
        serde_json::from_str(stdout(&output).trim()).expect("one JSON line");
    assert_eq!(row["state"], "undecodable");
    assert_eq!(row["key"], "junk");
    assert!(
        row["error"]
            .as_str()
            .is_some_and(|e| e.contains("bad magic"))
    );
}
