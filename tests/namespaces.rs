//! Per-namespace and per-tag state stays bounded (issue 9, defect 6), against real Redis,
//! standalone and cluster: clear marks are read incrementally and a page at a time, and clear
//! and tag marks are forgotten (in Redis and in each instance) once they can no longer matter:
//! after every entry they cover expired.

#[macro_use]
mod support;

use std::time::Duration;

use fred::interfaces::{HashesInterface, KeysInterface, SortedSetsInterface};
use support::{cache, config, eventually, raw_client};
use tiered_cache::CacheConfig;

on_both!(
    a_new_instance_honours_every_clear_mark_across_pages,
    clear_marks_are_forgotten_once_they_cannot_matter,
    tag_marks_are_forgotten_once_their_entries_expired,
);

/// More marks than one page (1000): a fresh instance, which learns clears only from the marks
/// (no backplane), treats every cleared namespace's entries as gone.
async fn a_new_instance_honours_every_clear_mark_across_pages(url: &str) {
    let config = CacheConfig {
        backplane: false,
        ..config(url)
    };
    let writer = cache(config.clone()).await;
    for i in 0..2_500u32 {
        let ns = format!("tenant-{i}");
        writer.set("k", &i).namespace(&ns).await.expect("set");
        writer.clear_namespace(&ns).await.expect("clear");
    }
    writer.set("k", &7u32).namespace("kept").await.expect("set");
    let fresh = cache(config).await;
    for i in (0..2_500u32).step_by(7) {
        let ns = format!("tenant-{i}");
        assert_eq!(
            fresh.get::<u32>("k").namespace(&ns).await.expect("get"),
            None,
            "{ns} was cleared"
        );
    }
    assert_eq!(
        fresh.get::<u32>("k").namespace("kept").await.expect("get"),
        Some(7)
    );
}

/// Regression: `<prefix>:#clears` was never trimmed (20,000 marks stayed long after every
/// entry had expired) and every instance read all of it every `sync_interval`. With entries of
/// at most `max_ttl`, a mark goes once it is older than `max_ttl` plus the fail-safe grace (and
/// a margin); a later clear of the same namespace records a new one.
async fn clear_marks_are_forgotten_once_they_cannot_matter(url: &str) {
    let config = CacheConfig {
        max_ttl: Duration::from_millis(200),
        l2_ttl: Duration::from_millis(100),
        stale_while_revalidate_window: Duration::from_millis(20),
        ..config(url)
    };
    let writer = cache(config.clone()).await;
    for i in 0..300u32 {
        let ns = format!("tenant-{i}");
        writer.set("k", &i).namespace(&ns).await.expect("set");
        writer.clear_namespace(&ns).await.expect("clear");
    }
    let raw = raw_client(url).await;
    let hash = format!("{}:{{#clears}}", config.key_prefix);
    let log = format!("{hash}:log");
    let len: u64 = raw.hlen(&hash).await.expect("hlen");
    assert_eq!(len, 300);
    // The horizon here: max_ttl 200 ms + sync_interval 50 ms + l2_timeout 200 ms + 1 s.
    assert!(
        eventually(Duration::from_secs(5), || async {
            let marks: u64 = raw.hlen(&hash).await.unwrap_or(u64::MAX);
            let logged: u64 = raw.zcard(&log).await.unwrap_or(u64::MAX);
            marks == 0 && logged == 0
        })
        .await,
        "marks pruned"
    );
    // Nothing cleared comes back: the entries expired before their marks went.
    assert_eq!(
        writer
            .get::<u32>("k")
            .namespace("tenant-3")
            .await
            .expect("get"),
        None
    );
    writer
        .set("k", &9u32)
        .namespace("tenant-3")
        .await
        .expect("set");
    writer.clear_namespace("tenant-3").await.expect("clear");
    let len: u64 = raw.hlen(&hash).await.expect("hlen");
    assert_eq!(len, 1, "a new clear records a new mark");
    let fresh = cache(config).await;
    assert_eq!(
        fresh
            .get::<u32>("k")
            .namespace("tenant-3")
            .await
            .expect("get"),
        None
    );
}

/// Tag marks have no TTL (so no `volatile-*` eviction can drop one early, see `eviction.rs`):
/// each is logged with the time it may go (`tag_ttl` after it was set, when every entry it can
/// cover has expired), and the sync forgets it then. Re-invalidating a tag keeps one log entry.
async fn tag_marks_are_forgotten_once_their_entries_expired(url: &str) {
    let config = CacheConfig {
        tag_ttl: Duration::from_millis(300),
        l2_ttl: Duration::from_millis(100),
        stale_while_revalidate_window: Duration::from_millis(20),
        ..config(url)
    };
    let writer = cache(config.clone()).await;
    for i in 0..50u32 {
        let tag = format!("supplier:{i}");
        writer.set("k", &i).tags([tag.as_str()]).await.expect("set");
        writer.invalidate_tag(&tag).await.expect("invalidate");
    }
    writer.invalidate_tag("supplier:3").await.expect("again");
    let raw = raw_client(url).await;
    let log = format!("{}:{{#clears}}:tags", config.key_prefix);
    let mark = |i: u32| format!("{}:#tag:supplier:{i}", config.key_prefix);
    let logged: u64 = raw.zcard(&log).await.expect("zcard");
    assert_eq!(
        logged, 50,
        "one log entry per tag, also after a re-invalidation"
    );
    let ttl: i64 = raw.pttl(mark(3)).await.expect("pttl");
    assert_eq!(ttl, -1, "a mark carries no TTL");
    assert!(
        eventually(Duration::from_secs(5), || async {
            let logged: u64 = raw.zcard(&log).await.unwrap_or(u64::MAX);
            let left: u64 = raw.exists(mark(3)).await.unwrap_or(u64::MAX);
            logged == 0 && left == 0
        })
        .await,
        "tag marks forgotten"
    );
    for i in 0..50 {
        // One key per call: on a cluster the marks live in different slots.
        let left: u64 = raw.exists(mark(i)).await.expect("exists");
        assert_eq!(left, 0, "the mark of supplier:{i} is gone");
    }
    // A later invalidation of a forgotten tag is a new mark and still applies everywhere.
    writer
        .set("k", &9u32)
        .tags(["supplier:3"])
        .await
        .expect("set");
    writer
        .invalidate_tag("supplier:3")
        .await
        .expect("invalidate");
    let fresh = cache(config).await;
    assert_eq!(fresh.get::<u32>("k").await.expect("get"), None);
}
