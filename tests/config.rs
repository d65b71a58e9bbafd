//! The config from outside the program: `require_l2_at_startup` against a port nothing listens
//! on, a Redis that refuses the password and a real Redis; the README's table
//! against the field list.

mod support;

use std::time::{Duration, Instant};

use support::{RedisServer, config, free_port, test_redis};
use tiered_cache::{CacheConfig, InitError, StartError, TierStatus, TieredCache};

fn required(url: &str) -> CacheConfig {
    CacheConfig {
        require_l2_at_startup: true,
        connect_timeout: Duration::from_millis(200),
        ..config(url)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_redis_that_nothing_serves_fails_the_start_within_connect_timeout() {
    let url = format!("redis://app:hunter2@127.0.0.1:{}", free_port());
    let started = Instant::now();
    let error = TieredCache::new(required(&url))
        .await
        .expect_err("nothing listens there");
    let elapsed = started.elapsed();
    let StartError::L2Unavailable {
        backend,
        waited,
        reason,
    } = &error
    else {
        panic!("expected L2Unavailable, got {error:?}");
    };
    assert_eq!(*waited, Duration::from_millis(200));
    assert!(backend.contains("redis://app:***@127.0.0.1:"), "{backend}");
    assert!(reason.to_lowercase().contains("refused"), "{reason}");
    let message = error.to_string();
    assert!(message.contains("require_l2_at_startup"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
    // connect_timeout, then a ping bounded by l2_timeout (200 ms) and the close.
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

    // Through `init`: its own variant, and nothing installed.
    let error = tiered_cache::init(required(&url))
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(error, InitError::Start(StartError::L2Unavailable { .. })),
        "{error:?}"
    );
    assert!(tiered_cache::global_cache().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_redis_that_refuses_the_password_fails_the_start_without_showing_it() {
    let server = RedisServer::start_with_password("right-one");
    let port = server.url().rsplit(':').next().map(str::to_owned);
    let url = format!("redis://:wrong-one@127.0.0.1:{}", port.expect("a port"));
    let error = TieredCache::new(required(&url))
        .await
        .expect_err("authentication fails");
    assert!(
        matches!(error, StartError::L2Unavailable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(!message.contains("wrong-one"), "{message}");
    assert!(!message.contains("right-one"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_redis_that_answers_starts_the_cache() {
    let redis = test_redis();
    let cache = TieredCache::new(required(&redis.url()))
        .await
        .expect("Redis answers");
    cache.set("k", &1u32).await.expect("set");
    assert_eq!(cache.health_check().await.l2.status, TierStatus::Up);
    assert!(cache.stats().l2_stats.enabled);
    cache.close().await;
}

#[tokio::test]
async fn a_down_redis_that_is_not_required_still_starts_degraded() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let cache = TieredCache::new(CacheConfig {
        connect_timeout: Duration::from_millis(200),
        ..config(&url)
    })
    .await
    .expect("degraded, not an error");
    cache.set("k", &1u32).await.expect("set goes to L1");
    assert_eq!(cache.health_check().await.l2.status, TierStatus::Down);
    cache.close().await;
}

/// `codec` from a TOML file (any case), overridden by the environment's spelling, and a bad name
/// refused with the field named.
#[cfg(feature = "serde")]
#[test]
fn the_codec_is_read_from_a_file_and_the_environment() {
    use tiered_cache::CodecKind;
    let from_file: CacheConfig = toml::from_str("codec = \"Postcard\"").expect("valid");
    assert_eq!(from_file.codec, CodecKind::Postcard);
    let overlaid = from_file
        .clone()
        .with_vars([("TIERED_CACHE_CODEC", "json")])
        .expect("valid");
    assert_eq!(overlaid.codec, CodecKind::Json);
    let error = toml::from_str::<CacheConfig>("codec = \"yaml\"")
        .expect_err("unknown codec")
        .to_string();
    assert!(error.contains("`codec`"), "{error}");
    assert!(error.contains(r#""yaml" is not a codec"#), "{error}");
    let error = from_file
        .with_vars([("TIERED_CACHE_CODEC", "protobuf")])
        .expect_err("unknown codec")
        .to_string();
    assert!(error.contains("TIERED_CACHE_CODEC"), "{error}");
    assert_eq!(CacheConfig::default().codec, CodecKind::MessagePack);
}

/// The README's configuration table lists every field, in the struct's order, and nothing else.
#[test]
fn the_readme_table_lists_every_field() {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has a Configuration section");
    let listed: Vec<&str> = section
        .lines()
        .skip_while(|line| !line.starts_with("| field |"))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.strip_prefix("| `")?.split('`').next())
        .collect();
    assert_eq!(listed, CacheConfig::FIELD_NAMES);
}
