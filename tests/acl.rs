//! The README's least-privilege Redis user (`support::acl` reads its `ACL SETUSER` line; every
//! test server has it and every test cache connects as it). Here: the user really is limited,
//! everything the cache does stays within it (Redis's `ACL LOG` records no denial), and a
//! wrong password leaves a working, degraded cache whose errors never show the password.

#[macro_use]
mod support;

use std::time::Duration;

use fred::interfaces::{ClientLike, KeysInterface};
use support::{RedisServer, acl, cache, config, raw_client, redis_cli};
use tiered_cache::{CacheConfig, TierStatus};

on_both!(every_operation_stays_within_the_cache_users_rights);

/// The ports of the servers behind a test URL (every node of a cluster).
fn ports(url: &str) -> Vec<u16> {
    url.split(['@', '?', '&', '='])
        .filter_map(|part| part.strip_prefix("127.0.0.1:"))
        .filter_map(|port| port.parse().ok())
        .collect()
}

/// Runs every kind of operation as the cache user, then asks each server for its ACL denials.
async fn every_operation_stays_within_the_cache_users_rights(url: &str) {
    assert!(
        url.contains(acl::CACHE_USER),
        "the test connects as the cache user: {url}"
    );
    for port in ports(url) {
        redis_cli(port, &["ACL", "LOG", "RESET"]);
    }
    let config = CacheConfig {
        lock_wait: Duration::from_millis(500),
        ..config(url)
    };
    let a = cache(config.clone()).await;
    let b = cache(config).await;
    for i in 0..20u32 {
        let key = format!("k{i}");
        a.set(&key, &i).tags(["t"]).await.expect("set");
        assert_eq!(b.get::<u32>(&key).await.expect("get"), Some(i));
        let loaded = b
            .get::<u32>(&format!("cold{i}"))
            .refresh_with(move || async move { Ok::<_, String>(i) })
            .await
            .expect("read-through (takes and releases the load lock)");
        assert_eq!(loaded, i);
        a.invalidate(&key).await.expect("invalidate");
    }
    a.invalidate_tag("t").await.expect("invalidate_tag");
    a.clear_namespace("default").await.expect("clear_namespace");
    a.clear_all().await.expect("clear_all");
    assert!(a.health_check().await.healthy);
    let stats = a.stats().l2_stats;
    assert_eq!(stats.refused.no_permission, 0, "{stats:?}");
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert!(
        stats.writes > 0 && b.stats().l2_stats.hits > 0,
        "Redis was used"
    );
    a.close().await;
    b.close().await;
    for port in ports(url) {
        let denied = redis_cli(port, &["ACL", "LOG"]);
        assert!(denied.trim().is_empty(), "port {port} denied: {denied}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_user_can_touch_nothing_else() {
    let server = RedisServer::start();
    let as_user = support::raw_client_as_is(&server.url()).await;
    let other_key: Result<(), _> = as_user
        .set("someone-else:key", "x", None, None, false)
        .await;
    assert!(
        other_key.is_err_and(|e| e.details().starts_with("NOPERM")),
        "keys outside the prefix are refused"
    );
    let flush: Result<(), _> = as_user.flushall(false).await;
    assert!(
        flush.is_err_and(|e| e.details().starts_with("NOPERM")),
        "FLUSHALL is refused"
    );
    let admin = raw_client(&server.url()).await;
    let fine: Result<(), _> = admin.set("someone-else:key", "x", None, None, false).await;
    assert!(
        fine.is_ok(),
        "the admin connection of the tests is not limited"
    );
}

#[tokio::test]
async fn a_wrong_password_for_the_cache_user_is_a_degraded_cache_and_a_clean_error() {
    let server = RedisServer::start();
    let url = server
        .url()
        .replace(acl::CACHE_PASSWORD, "not-the-password-7f3a");
    let config = CacheConfig {
        connect_timeout: Duration::from_millis(300),
        ..config(&url)
    };
    let cache = cache(config).await;
    cache.set("k", &1u8).await.expect("set");
    assert_eq!(cache.get::<u8>("k").await.expect("get"), Some(1));
    let loaded = cache
        .get::<u8>("cold")
        .refresh_with(|| async { Ok::<_, String>(2) })
        .await
        .expect("loaders still run");
    assert_eq!(loaded, 2);
    let health = cache.health_check().await;
    assert_eq!(health.l2.status, TierStatus::Down);
    let shown = format!(
        "{}{:?}{:?}",
        serde_json::to_string(&health).expect("json"),
        cache.stats(),
        cache.config()
    );
    assert!(!shown.contains("not-the-password"), "{shown}");
    let error = health.l2.error.unwrap_or_default();
    assert!(
        error.contains("WRONGPASS"),
        "the report says why L2 is down: {error}"
    );
}
