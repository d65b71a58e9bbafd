//! `stats`: counts per namespace and bookkeeping apart, from a bounded sample that says so.

use crate::harness::{self, assert_exit, run, standalone_and_cluster, stdout};
use crate::support;

standalone_and_cluster!(counts_namespaces_and_bookkeeping);

/// The numbers of a `stats` row named `name`.
fn keys_of(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix(name)?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

async fn counts_namespaces_and_bookkeeping(url: &str) {
    let config = harness::config(url);
    let cache = support::cache(config.clone()).await;
    for i in 0..12u64 {
        cache
            .set(&format!("a{i}"), &i)
            .namespace("alpha")
            .await
            .expect("set");
    }
    for i in 0..3u64 {
        cache
            .set(&format!("b{i}"), &i)
            .namespace("beta")
            .await
            .expect("set");
    }
    cache.invalidate_tag("some-tag").await.expect("tag");
    cache.clear_namespace("gamma").await.expect("clear");

    let output = run(&config, &["stats"]).await;
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.contains("all 19 keys under the prefix"), "{text}");
    assert_eq!(keys_of(&text, "alpha"), Some(12), "{text}");
    assert_eq!(keys_of(&text, "beta"), Some(3), "{text}");
    assert_eq!(keys_of(&text, "tag marks"), Some(1), "{text}");
    assert_eq!(
        keys_of(&text, "clear marks (hash and logs)"),
        Some(3),
        "{text}"
    );
    assert_eq!(keys_of(&text, "load locks"), Some(0), "{text}");

    let output = run(&config, &["stats", "--sample", "5"]).await;
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("a sample of 5 keys"),
        "{}",
        stdout(&output)
    );
    cache.close().await;
}
