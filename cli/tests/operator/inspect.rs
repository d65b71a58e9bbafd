//! `inspect`: what a real cache wrote, read back field by field; garbage refused cleanly.

use std::time::Duration;

use fred::interfaces::KeysInterface;
use serde::{Deserialize, Serialize};
use tiered_cache::CodecKind;

use crate::harness::{self, assert_exit, field, run, standalone_and_cluster, stderr, stdout};
use crate::support;

standalone_and_cluster!(
    a_fresh_entry_shows_what_was_written,
    garbage_bytes_are_a_clear_error
);

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Product {
    name: String,
    price: u32,
}

async fn a_fresh_entry_shows_what_was_written(url: &str) {
    let config = harness::config(url);
    let cache = support::cache(config.clone()).await;
    cache
        .set("p:1", &"hello operator".to_owned())
        .namespace("products")
        .tags(["team:7", "blue"])
        .ttl(Duration::from_secs(300))
        .await
        .expect("set");
    let product = Product {
        name: "teapot-418".to_owned(),
        price: 12,
    };
    cache
        .set("p:2", &product)
        .namespace("products")
        .await
        .expect("set");
    cache
        .set("p:3", &product)
        .namespace("products")
        .codec(CodecKind::Postcard)
        .await
        .expect("set");

    let output = run(&config, &["inspect", "p:1", "--namespace", "products"]).await;
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert_eq!(field(&text, "namespace"), Some("products"), "{text}");
    assert_eq!(field(&text, "key"), Some("p:1"));
    let redis_key = format!("{}:products:p:1", config.key_prefix);
    assert_eq!(field(&text, "redis key"), Some(redis_key.as_str()));
    assert!(
        field(&text, "state").is_some_and(|s| s.starts_with("fresh")),
        "{text}"
    );
    assert_eq!(field(&text, "tags"), Some("team:7, blue"));
    let ttl = field(&text, "redis ttl").expect("a TTL line");
    assert!(
        ttl.starts_with("4m") || ttl.starts_with("5m"),
        "about 300 s: {ttl}"
    );
    assert!(
        field(&text, "value").is_some_and(|v| v.starts_with("\"hello operator\"")),
        "{text}"
    );

    // A type of the service's own, in the default codec (msgpack, self-describing): as JSON.
    let output = run(&config, &["inspect", "p:2", "-n", "products"]).await;
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert_eq!(
        field(&text, "value"),
        Some(r#"{"name":"teapot-418","price":12} (msgpack, shown as JSON)"#),
        "{text}"
    );
    assert!(field(&text, "payload").is_some_and(|p| p.contains("bytes of msgpack")));

    // The same type in a positional codec the CLI cannot decode without the type: hex plus
    // printable ASCII, said plainly.
    let output = run(&config, &["inspect", "p:3", "-n", "products"]).await;
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(field(&text, "payload").is_some_and(|p| p.contains("bytes of postcard")));
    assert!(
        field(&text, "value").is_some_and(|v| v.contains("not decodable")),
        "{text}"
    );
    assert!(text.contains("|"), "an ASCII column: {text}");
    assert!(
        text.contains("teapot-418"),
        "the string is visible in the dump: {text}"
    );
    assert_eq!(field(&text, "tags"), Some("(none)"));
    cache.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_then_cleared_entry_says_so() {
    let redis = harness::server();
    let config = harness::config(&redis.url());
    let cache = support::cache(config.clone()).await;
    cache
        .set("k", &7u64)
        // A positional codec: the CLI recognises common types by their fingerprint.
        .codec(CodecKind::Bincode)
        .ttl(Duration::from_secs(30))
        .stale(Duration::from_millis(29_700))
        .tags(["t1"])
        .await
        .expect("set");
    let state = |output: &std::process::Output| {
        field(&stdout(output), "state")
            .map(str::to_owned)
            .unwrap_or_default()
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    let output = run(&config, &["inspect", "k"]).await;
    assert_exit(&output, 0);
    assert!(state(&output).starts_with("stale"), "{}", stdout(&output));
    assert_eq!(
        field(&stdout(&output), "value"),
        Some("7 (as u64: the fingerprint matches)")
    );

    cache.invalidate_tag("t1").await.expect("tag");
    let output = run(&config, &["inspect", "k"]).await;
    assert!(
        state(&output).starts_with("invalidated (a miss: tag `t1`"),
        "{}",
        stdout(&output)
    );
    cache.clear_namespace("default").await.expect("clear");
    let output = run(&config, &["inspect", "k"]).await;
    assert!(state(&output).starts_with("cleared"), "{}", stdout(&output));

    cache.invalidate("k").await.expect("invalidate");
    let output = run(&config, &["inspect", "k"]).await;
    assert!(
        state(&output).starts_with("tombstone"),
        "{}",
        stdout(&output)
    );
    cache.close().await;
}

async fn garbage_bytes_are_a_clear_error(url: &str) {
    let config = harness::config(url);
    let raw = support::raw_client(url).await;
    let prefix = &config.key_prefix;
    let _: () = raw
        .set(
            format!("{prefix}:ns:junk"),
            bytes::Bytes::from_static(b"\x00\xffnot an entry"),
            None,
            None,
            false,
        )
        .await
        .expect("plant garbage");
    let _: () = raw
        .set(
            format!("{prefix}:ns:cut"),
            bytes::Bytes::from_static(b"TC\x01\x00\x01"),
            None,
            None,
            false,
        )
        .await
        .expect("plant a truncated header");

    for (key, why) in [("junk", "bad magic"), ("cut", "truncated")] {
        let output = run(&config, &["inspect", key, "-n", "ns"]).await;
        assert_exit(&output, 4);
        let error = stderr(&output);
        assert!(
            error.contains("does not hold an entry this build can read"),
            "{error}"
        );
        assert!(error.contains(why), "{error}");
        assert!(
            stdout(&output).contains("00000000"),
            "a hex dump of what is there"
        );
    }

    let output = run(&config, &["inspect", "absent", "-n", "ns"]).await;
    assert_exit(&output, 3);
    assert!(stderr(&output).contains("no entry"), "{}", stderr(&output));

    let output = run(&config, &["inspect", "k", "-n", "bad:namespace"]).await;
    assert_exit(&output, 2);
}
