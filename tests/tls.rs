//! `rediss://` against a real TLS-only redis-server whose certificate is signed by a private CA
//! (trusted through `redis_tls_ca_file`).

#![cfg(feature = "tls")]

mod support;

use std::time::Duration;

use support::{RedisServer, cache, config};
use tiered_cache::{CacheConfig, ConfigError, TierStatus, TieredCache};

#[tokio::test]
async fn rediss_with_a_private_ca_works_end_to_end() {
    let server = RedisServer::start_tls();
    let config = CacheConfig {
        redis_tls_ca_file: Some(server.ca_file()),
        ..config(&server.url())
    };
    let a = cache(config.clone()).await;
    let b = cache(config).await;
    a.set("k", &"over tls".to_owned()).await.expect("set");
    assert_eq!(
        b.get::<String>("k").await.expect("get").as_deref(),
        Some("over tls")
    );
    assert_eq!(b.stats().l2_stats.hits, 1);
    assert_eq!(a.health_check().await.l2.status, TierStatus::Up);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_down_l2_not_an_error() {
    let server = RedisServer::start_tls();
    let config = CacheConfig {
        connect_timeout: Duration::from_millis(300),
        ..config(&server.url())
    };
    let cache = cache(config).await;
    cache.set("k", &1u8).await.expect("set works from L1");
    assert_eq!(cache.health_check().await.l2.status, TierStatus::Down);
}

#[tokio::test]
async fn a_ca_file_needs_a_tls_url_and_a_readable_pem() {
    let plain = CacheConfig {
        redis_tls_ca_file: Some("/nonexistent/ca.pem".into()),
        ..config("redis://127.0.0.1:1")
    };
    let err = TieredCache::new(plain).await.expect_err("not a TLS URL");
    assert_eq!(
        err.config_error().map(ConfigError::field),
        Some("redis_tls_ca_file")
    );
    let missing = CacheConfig {
        redis_tls_ca_file: Some("/nonexistent/ca.pem".into()),
        ..config("rediss://127.0.0.1:1")
    };
    let err = TieredCache::new(missing)
        .await
        .expect_err("unreadable file");
    assert_eq!(
        err.config_error().map(ConfigError::field),
        Some("redis_tls_ca_file")
    );
}
