//! Building the fred pool from a [`CacheConfig`]: URL forms, timeouts, reconnection.

use std::time::Duration;

use fred::prelude::*;
use fred::types::config::TcpConfig;
use tiered_cache_core::{CacheConfig, ConfigError, redact_url};

/// Schemes of TLS connections (the `tls` feature).
const TLS_SCHEMES: &[&str] = &[
    "rediss",
    "rediss-cluster",
    "rediss-sentinel",
    "valkeys",
    "valkeys-cluster",
    "valkeys-sentinel",
];

/// Schemes accepted in `redis_url`.
const SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis-cluster",
    "rediss-cluster",
    "redis-sentinel",
    "rediss-sentinel",
    "valkey",
    "valkeys",
    "valkey-cluster",
    "valkeys-cluster",
    "valkey-sentinel",
    "valkeys-sentinel",
];

fn bad_url(url: &str, reason: &str) -> ConfigError {
    ConfigError::new("redis_url", format!("{reason}: `{}`", redact_url(url)))
}

/// Parses `url` into a fred config, refusing what this crate cannot connect to.
pub(crate) fn parse_url(url: &str) -> Result<Config, ConfigError> {
    let scheme = url.split("://").next().unwrap_or_default();
    if !SCHEMES.contains(&scheme) {
        return Err(bad_url(
            url,
            "expected a redis://, rediss://, redis-cluster://, rediss-cluster://, \
             redis-sentinel:// or rediss-sentinel:// URL",
        ));
    }
    if !cfg!(feature = "tls") && TLS_SCHEMES.contains(&scheme) {
        return Err(bad_url(
            url,
            "TLS URLs need the `tls` feature of tiered-cache",
        ));
    }
    let mut config = Config::from_url(url).map_err(|e| bad_url(url, e.details()))?;
    // A Redis that is down at startup is retried like one that went down later.
    config.fail_fast = false;
    Ok(config)
}

/// Applies `redis_tls_ca_file`: trust its CAs (and the system's) for a `rediss://` URL.
#[cfg(feature = "tls")]
fn apply_ca_file(config: &mut Config, url: &str, cache: &CacheConfig) -> Result<(), ConfigError> {
    let Some(path) = &cache.redis_tls_ca_file else {
        return Ok(());
    };
    if config.tls.is_none() {
        return Err(ConfigError::new(
            "redis_tls_ca_file",
            format!(
                "is set but redis_url is not a TLS URL: `{}`",
                redact_url(url)
            ),
        ));
    }
    config.tls = Some(tls::with_ca_file(path)?);
    Ok(())
}

#[cfg(not(feature = "tls"))]
fn apply_ca_file(_: &mut Config, _: &str, cache: &CacheConfig) -> Result<(), ConfigError> {
    if cache.redis_tls_ca_file.is_some() {
        return Err(ConfigError::new(
            "redis_tls_ca_file",
            "needs the `tls` feature of tiered-cache".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(feature = "tls")]
mod tls {
    use std::path::Path;
    use std::sync::Arc;

    use fred::rustls::pki_types::CertificateDer;
    use fred::rustls::pki_types::pem::PemObject;
    use fred::rustls::{ClientConfig, RootCertStore};
    use fred::types::config::{TlsConfig, TlsConnector};
    use tiered_cache_core::ConfigError;

    fn bad(path: &Path, reason: impl std::fmt::Display) -> ConfigError {
        ConfigError::new("redis_tls_ca_file", format!("{}: {reason}", path.display()))
    }

    /// A rustls (ring) client config trusting the system roots plus the CAs in `path`.
    pub(super) fn with_ca_file(path: &Path) -> Result<TlsConfig, ConfigError> {
        let mut roots = RootCertStore::empty();
        for cert in fred::rustls_native_certs::load_native_certs().certs {
            // A system certificate rustls cannot use is skipped, as rustls-native-certs advises.
            let _ = roots.add(cert);
        }
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(path, e))? {
            roots
                .add(cert.map_err(|e| bad(path, e))?)
                .map_err(|e| bad(path, e))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad(path, "no PEM certificate in the file"));
        }
        let provider = Arc::new(fred::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(path, e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConnector::from(config).into())
    }
}

/// The fred connection config the cache builds its connections from: `config.redis_url`
/// checked like the cache checks it (schemes, the `tls` feature) and `redis_tls_ca_file`
/// applied. For tools that read what a cache stored with the cache's own connection rules (the
/// `tiered-cache` operator CLI). It is fred's type, so it follows this crate's fred version.
///
/// Timeouts, pool size and reconnection are left to the caller; `fail_fast` is off (set it
/// for a tool that should give up at once when Redis is down).
///
/// ```
/// use tiered_cache_core::CacheConfig;
///
/// let config = CacheConfig {
///     redis_url: Some("redis://user:secret@127.0.0.1:6390".to_owned()),
///     ..Default::default()
/// };
/// assert!(tiered_cache_redis::fred_config(&config).is_ok());
/// let none = CacheConfig { redis_url: None, ..Default::default() };
/// assert_eq!(tiered_cache_redis::fred_config(&none).unwrap_err().field(), "redis_url");
/// ```
///
/// # Errors
/// A [`ConfigError`] (never showing a password) when `redis_url` is unset or unusable, or the
/// CA file cannot be read.
pub fn fred_config(cache: &CacheConfig) -> Result<Config, ConfigError> {
    let Some(url) = &cache.redis_url else {
        return Err(ConfigError::new("redis_url", "is not set".to_owned()));
    };
    let mut config = parse_url(url)?;
    apply_ca_file(&mut config, url, cache)?;
    Ok(config)
}

/// Socket options: no Nagle delay, and dead connections detected within seconds.
fn tcp_config(l2_timeout: Duration) -> TcpConfig {
    let keepalive = fred::socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(10))
        .with_interval(Duration::from_secs(5));
    TcpConfig {
        nodelay: Some(true),
        keepalive: Some(keepalive),
        user_timeout: Some((l2_timeout * 20).max(Duration::from_secs(5))),
        ..Default::default()
    }
}

/// Builds (but does not connect) the dedicated client of the backplane subscription.
pub(crate) fn build_subscriber(url: &str, cache: &CacheConfig) -> Result<Client, ConfigError> {
    let mut config = parse_url(url)?;
    apply_ca_file(&mut config, url, cache)?;
    let connect_timeout = cache.connect_timeout;
    Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = connect_timeout;
            c.internal_command_timeout = connect_timeout;
            c.tcp = tcp_config(cache.l2_timeout);
        })
        // Room for bursts of notices; a lagging receiver is treated as a gap.
        .with_performance_config(|p| p.broadcast_channel_capacity = 4096)
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 1_000, 2))
        .build()
        .map_err(|e| bad_url(url, e.details()))
}

/// Builds (but does not wait for) a connection pool.
pub(crate) fn build_pool(url: &str, cache: &CacheConfig) -> Result<Pool, ConfigError> {
    let mut config = parse_url(url)?;
    apply_ca_file(&mut config, url, cache)?;
    let connect_timeout = cache.connect_timeout;
    let l2_timeout = cache.l2_timeout;
    let pool = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = connect_timeout;
            c.internal_command_timeout = connect_timeout;
            // The cache has its own fallbacks; a command is tried once.
            c.max_command_attempts = 1;
            // Calls are bounded by the engine (l2_timeout); a dead peer (network black hole) is
            // found by the kernel: keepalive when idle, TCP_USER_TIMEOUT when data is unacked.
            c.tcp = tcp_config(l2_timeout);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 1_000, 2))
        .build_pool(cache.redis_pool_size)
        .map_err(|e| bad_url(url, e.details()))?;
    pool.connect_pool();
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        for url in [
            "redis://127.0.0.1:6379",
            "redis://user:pass@127.0.0.1:6379/2",
            "redis-cluster://127.0.0.1:7000?node=127.0.0.1:7001&node=127.0.0.1:7002",
            "redis-sentinel://user:pass@127.0.0.1:26379?sentinelServiceName=m&node=127.0.0.1:26380",
            #[cfg(feature = "tls")]
            "rediss://user:pass@127.0.0.1:6380",
            #[cfg(feature = "tls")]
            "rediss-cluster://127.0.0.1:7000?node=127.0.0.1:7001",
        ] {
            assert!(parse_url(url).is_ok(), "{url}");
        }
    }

    /// Regression: with the `tls` feature off every `redis://` URL was refused, because
    /// `"redis"` ends with an `s`.
    #[test]
    fn regression_plain_urls_work_with_or_without_tls() {
        for url in [
            "redis://127.0.0.1:6379",
            "redis-cluster://127.0.0.1:7000",
            "valkey://127.0.0.1:6379",
        ] {
            assert!(parse_url(url).is_ok(), "{url}");
        }
        for url in [
            "rediss://127.0.0.1:6380",
            "rediss-sentinel://127.0.0.1:26379?sentinelServiceName=m",
        ] {
            let tls = parse_url(url);
            assert_eq!(tls.is_ok(), cfg!(feature = "tls"), "{tls:?}");
        }
    }

    #[test]
    fn refuses_others_with_a_redacted_message() {
        for url in [
            "http://u:hunter2@host",
            "redis://u:hunter2@:6379",
            "memcached://host",
        ] {
            let err = parse_url(url).expect_err(url);
            assert_eq!(err.field(), "redis_url");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }
}
