//! The config through `figment`, as the example reads it, and the example's own TOML file.

use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use tiered_cache::{CacheConfig, TieredCache};

/// What the example does, without the process's environment: a TOML file, then
/// values as figment's `Env` provider hands them over (text, and numbers it parsed itself).
#[test]
fn figment_reads_a_file_then_overrides() {
    let config: CacheConfig = Figment::new()
        .merge(Toml::string(
            "l1_max_size = 10\nl2_ttl = \"10m\"\nsoft_timeout = \"1s\"\nredis_url = \"none\"\n",
        ))
        .merge(("l2_ttl", "90s"))
        .merge(("l1_max_size", 50))
        .merge(("soft_timeout", "none"))
        .merge(("ttl_jitter", "0.2"))
        .merge(("backplane", "false"))
        .extract()
        .expect("valid");
    assert_eq!(config.l1_max_size, 50);
    assert_eq!(config.l2_ttl, Duration::from_secs(90));
    assert_eq!(config.soft_timeout, None);
    assert!((config.ttl_jitter - 0.2).abs() < f64::EPSILON);
    assert!(!config.backplane);
    assert_eq!(config.redis_url, None);
    assert_eq!(config.l2_timeout, Duration::from_millis(250), "the default");
}

#[test]
fn figment_errors_name_the_key_and_hide_the_password() {
    let url = "redis://app:hunter2@10.0.0.1:6379";
    for (key, value) in [("l2_ttl", url), ("l1_max_size", url), ("enable_swr", url)] {
        let error = Figment::new()
            .merge((key, value))
            .extract::<CacheConfig>()
            .expect_err(key)
            .to_string();
        assert!(error.contains(&format!("`{key}`")), "{error}");
        assert!(error.contains("redis://app:***@10.0.0.1:6379"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
    let error = Figment::new()
        .merge(Toml::string("l2_timout = \"1s\""))
        .extract::<CacheConfig>()
        .expect_err("unknown")
        .to_string();
    assert!(error.contains("l2_timout"), "{error}");
}

/// The file the example reads parses, with both `toml` and figment, and runs without Redis.
#[tokio::test]
async fn the_example_file_is_valid_and_runs_l1_only() {
    let text = include_str!("../cache.toml");
    let config: CacheConfig = Figment::new()
        .merge(Toml::string(text))
        .extract()
        .expect("valid");
    assert_eq!(config.redis_url, None);
    assert_eq!(config.name, "example");
    let cache = TieredCache::new(config).await.expect("starts");
    cache.set("k", &1u32).await.expect("set");
    assert_eq!(cache.get::<u32>("k").await.expect("get"), Some(1));
}

/// `codec` through figment: a file's spelling overridden by a later provider.
#[test]
fn the_codec_is_read_through_figment() {
    let config: CacheConfig = Figment::new()
        .merge(Toml::string("codec = \"bincode\""))
        .merge(("codec", "msgpack"))
        .extract()
        .expect("valid");
    assert_eq!(config.codec, tiered_cache::CodecKind::MessagePack);
}
