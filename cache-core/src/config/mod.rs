//! [`CacheConfig`]: every knob, its default, and the validation that names the bad field.
//! Reading it from files (`de`, feature `serde`) and the environment (`env`) goes through the
//! one field list in `fields`.

#[cfg(feature = "serde")]
mod de;
mod env;
mod fields;

use std::fmt;
use std::time::Duration;

use crate::codec::CodecKind;
use crate::error::ConfigError;
use crate::keys;
use crate::redact::redact_url;

/// The largest value the cache will store, whatever `max_value_size` says (Redis's own limit).
const HARD_MAX_VALUE_SIZE: usize = 512 * 1024 * 1024;
/// The default of [`CacheConfig::metrics_namespaces`].
pub(crate) const DEFAULT_METRICS_NAMESPACES: usize = 32;
/// The largest `max_ttl`: ten years (far below Redis's PX limit, and no overflow with jitter).
const MAX_TTL_LIMIT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Configuration of a [`TieredCache`](crate::TieredCache).
///
/// Build it with struct-update syntax so new fields keep your code compiling:
///
/// ```
/// use std::time::Duration;
/// use tiered_cache_core::CacheConfig;
///
/// let config = CacheConfig {
///     l1_max_size: 10_000,
///     l2_ttl: Duration::from_secs(600),
///     redis_url: None, // L1 only
///     ..Default::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
///
/// `Debug` output never shows the password of `redis_url`.
///
/// # From a file and the environment
///
/// With the `serde` feature (on by default in `tiered-cache`) a config is read from any
/// self-describing serde format: TOML, JSON, YAML, or a config crate such as `figment`. Every
/// field may be left out (it keeps its default); a field the struct does not have is an error.
/// [`with_env`](Self::with_env) then overlays `TIERED_CACHE_<FIELD>` variables, so the
/// precedence is defaults < file < environment. Both spell values the same way:
///
/// | type | written as |
/// |---|---|
/// | durations | text with a unit: `"250ms"`, `"5m"`, `"1h 30m"`, `"7days"` (a bare number is refused: its unit would be a guess) |
/// | `soft_timeout`, `hard_timeout` | a duration, or `"none"` / `""` |
/// | `redis_url` | a URL, or `"none"` / `""` for L1 only (TOML has no null; a format's null works too); left out, it is [`DEFAULT_REDIS_URL`](Self::DEFAULT_REDIS_URL) |
/// | `redis_tls_ca_file` | a path, or `"none"` / `""` |
/// | counts, `ttl_jitter` | numbers (`5000`, `0.1`), or the same as text |
/// | booleans | `true` / `false` (text: also `1` / `0`) |
/// | `codec` | `"msgpack"`, `"postcard"`, `"json"` or `"bincode"` (any case) |
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use std::time::Duration;
/// use tiered_cache_core::CacheConfig;
///
/// let config: CacheConfig = serde_json::from_str(
///     r#"{ "l1_max_size": 50000, "l2_ttl": "10m", "redis_url": "none" }"#,
/// )?;
/// assert_eq!(config.l2_ttl, Duration::from_secs(600));
/// assert_eq!(config.redis_url, None);
/// assert_eq!(config.l2_timeout, Duration::from_millis(250)); // not in the file: the default
///
/// let error = serde_json::from_str::<CacheConfig>(r#"{ "l2_ttl": "10 parsecs" }"#)
///     .expect_err("not a duration");
/// assert!(error.to_string().contains(r#"`l2_ttl`: "10 parsecs" is not a duration"#));
/// # }
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// Error messages name the field and show the rejected value with any credentials redacted. A
/// format may add words of its own: the `toml` crate's errors quote the offending line of the
/// file (its `message()` does not). Keep the Redis password out of files: set the URL with
/// `TIERED_CACHE_REDIS_URL` (or `REDIS_URL`).
#[derive(Clone)]
pub struct CacheConfig {
    /// What this cache is called in metrics (the `cache` label) and in its log lines, so two
    /// caches in one process are told apart: 1 to 64 ASCII letters, digits, `_`, `-` or `.`.
    /// Default `"default"`.
    pub name: String,
    /// Most entries the in-process tier (L1) holds. Default 1000.
    pub l1_max_size: usize,
    /// Most bytes of entries L1 holds, when set: each entry is weighed at its encoded size plus
    /// its key and about 160 bytes of overhead, so values of very different sizes cannot grow
    /// the process past this. Both limits apply. Default `None` (entries counted only).
    pub l1_max_bytes: Option<usize>,
    /// Longest time L1 keeps a copy before it asks L2 again, so that other processes' writes
    /// become visible even without invalidation messages. Default 300 s.
    pub l1_ttl: Duration,
    /// Default lifetime of an entry (its ttl) when a call does not set one. Default 3600 s.
    pub l2_ttl: Duration,
    /// The last part of an entry's lifetime during which it is served stale while one refresh
    /// runs. An entry with ttl `T` is fresh until `T - window`, stale until `T`. Default 60 s.
    pub stale_while_revalidate_window: Duration,
    /// With `false` an entry is fresh until its ttl, then a miss. Default `true`.
    pub enable_swr: bool,
    /// With `true` a stale read returns at once and refreshes in a background task; with
    /// `false` a stale read that has a loader waits for the refresh. Default `true`.
    pub background_refresh: bool,
    /// The Redis L2: `redis://[user:pass@]host:port[/db]`, `rediss://...` (TLS),
    /// `redis-cluster://host:port?node=host2:port2` (Cluster). `None` means L1 only.
    /// Default `Some("redis://localhost:6379")`.
    pub redis_url: Option<String>,
    /// A PEM file of CA certificates to trust for `rediss://` (besides the system's), for Redis
    /// behind a private CA. Default `None`.
    pub redis_tls_ca_file: Option<std::path::PathBuf>,
    /// Prefix of every Redis key this cache writes; `clear_all` touches only keys under it.
    /// Letters, digits, `_`, `-` and `.`. Default `"tc"`.
    pub key_prefix: String,
    /// Longest time one L2 operation may take before the cache treats it as failed and carries on
    /// without L2. Default 250 ms.
    pub l2_timeout: Duration,
    /// Longest time to establish a Redis connection, and to wait for L2 at startup. Default 2 s.
    pub connect_timeout: Duration,
    /// With `true`, building the cache fails ([`StartError::L2Unavailable`]) when L2 does not
    /// answer within `connect_timeout`, for services that must not run without their shared
    /// cache. With `false` the cache starts degraded (L1 and loaders) and takes L2 into use when
    /// it answers. A cache with no L2 at all (`redis_url` `None`) cannot start with `true`.
    /// Default `false`.
    ///
    /// [`StartError::L2Unavailable`]: crate::StartError::L2Unavailable
    pub require_l2_at_startup: bool,
    /// Redis connections (each pipelines many requests). Default 2.
    pub redis_pool_size: usize,
    /// Largest encoded value accepted; `set` refuses larger ones. Default 1 MiB.
    pub max_value_size: usize,
    /// The codec new entries are written with (a call's `.codec(..)` overrides it). Reads
    /// decode every entry with the codec it was written with, whatever this says, so changing it
    /// keeps existing entries readable. Default [`CodecKind::MessagePack`]: see [`CodecKind`]
    /// for the choice, and for changing it in a running fleet.
    pub codec: CodecKind,
    /// Consecutive L2 failures that open the circuit breaker. Default 5.
    pub circuit_breaker_threshold: u32,
    /// How long an open breaker skips L2 before it lets one probe through. Default 2 s.
    pub circuit_breaker_cooldown: Duration,
    /// How often each instance reads the namespace clear marks from L2: the longest time before
    /// another instance's `clear_namespace`/`clear_all` is seen. Default 1 s.
    pub sync_interval: Duration,
    /// How long an invalidation marker stays in L2, blocking any write from a load that started
    /// before the invalidation. Default 60 s.
    pub invalidation_tombstone_ttl: Duration,
    /// Publish every write, invalidation and clear on Redis pub/sub so other instances drop
    /// their L1 copies within milliseconds. With `false`, `l1_ttl` bounds how stale another
    /// instance's L1 can be. Default `true`.
    pub backplane: bool,
    /// Coordinate loads across instances with Redis locks: one instance refreshes a stale
    /// entry per stale period, and on a cold miss one instance loads while the others wait up to
    /// `lock_wait` for its result. Default `true`.
    pub distributed_locks: bool,
    /// Longest a load lock outlives an owner that died: the owner renews it every third of this
    /// while its loader runs, so a slow loader keeps it. Shorter than `lock_wait`, so waiters
    /// behind a dead owner take over before they give up waiting. Default 1 s.
    pub lock_ttl: Duration,
    /// Longest an instance waits for another instance's load on a cold miss before loading
    /// itself. Default 2 s.
    pub lock_wait: Duration,
    /// Serve a stale (or, within `fail_safe_max_stale`, expired) value instead of a loader's
    /// error or timeout. Default `true`.
    pub fail_safe: bool,
    /// How long past its ttl an entry is kept (in both tiers) as a fail-safe fallback.
    /// Default 0 (only values still within their ttl stand in).
    pub fail_safe_max_stale: Duration,
    /// After a loader failed and a fallback was served, how long the fallback is served as
    /// fresh before the loader is tried again. Default 30 s.
    pub fail_safe_throttle: Duration,
    /// If a loader runs longer than this and a fallback value exists, return the fallback now
    /// and let the loader finish in the background. Default `None`.
    pub soft_timeout: Option<Duration>,
    /// Give up on a loader after this long: its result is dropped, its key released, and the
    /// caller gets a fallback (fail-safe) or `LoadError::TimedOut`. Default `None`.
    pub hard_timeout: Option<Duration>,
    /// Random extra ttl, as a fraction of the ttl (0.1 adds up to 10%), so entries written
    /// together do not expire together. Default 0.
    pub ttl_jitter: f64,
    /// How long a tag invalidation is remembered; entries that carry tags live at most this
    /// long (ttl plus fail-safe grace). Default 24 h.
    pub tag_ttl: Duration,
    /// How many namespaces get counters (and metric series) of their own; namespaces used after
    /// that many are counted together as `other`, so the label set stays bounded whatever the
    /// namespaces are. 0 counts every namespace as `other`. Default 32.
    pub metrics_namespaces: usize,
    /// The longest ttl any entry may have; a longer per-call ttl is refused. A namespace clear
    /// mark is kept until every entry it can cover has expired (`max_ttl` plus
    /// `fail_safe_max_stale`), then pruned, in Redis too. Every instance sharing a `key_prefix`
    /// must use the same value. At most ten years. Default 7 days.
    pub max_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            name: "default".to_owned(),
            l1_max_size: 1000,
            l1_max_bytes: None,
            l1_ttl: Duration::from_secs(300),
            l2_ttl: Duration::from_secs(3600),
            stale_while_revalidate_window: Duration::from_secs(60),
            enable_swr: true,
            background_refresh: true,
            redis_url: Some(Self::DEFAULT_REDIS_URL.to_owned()),
            redis_tls_ca_file: None,
            key_prefix: "tc".to_owned(),
            l2_timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(2),
            require_l2_at_startup: false,
            redis_pool_size: 2,
            max_value_size: 1024 * 1024,
            codec: CodecKind::default(),
            circuit_breaker_threshold: 5,
            circuit_breaker_cooldown: Duration::from_secs(2),
            sync_interval: Duration::from_secs(1),
            invalidation_tombstone_ttl: Duration::from_secs(60),
            backplane: true,
            distributed_locks: true,
            lock_ttl: Duration::from_secs(1),
            lock_wait: Duration::from_secs(2),
            fail_safe: true,
            fail_safe_max_stale: Duration::ZERO,
            fail_safe_throttle: Duration::from_secs(30),
            soft_timeout: None,
            hard_timeout: None,
            ttl_jitter: 0.0,
            tag_ttl: Duration::from_secs(24 * 3600),
            metrics_namespaces: DEFAULT_METRICS_NAMESPACES,
            max_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("name", &self.name)
            .field("l1_max_size", &self.l1_max_size)
            .field("l1_max_bytes", &self.l1_max_bytes)
            .field("l1_ttl", &self.l1_ttl)
            .field("l2_ttl", &self.l2_ttl)
            .field(
                "stale_while_revalidate_window",
                &self.stale_while_revalidate_window,
            )
            .field("enable_swr", &self.enable_swr)
            .field("background_refresh", &self.background_refresh)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_tls_ca_file", &self.redis_tls_ca_file)
            .field("key_prefix", &self.key_prefix)
            .field("l2_timeout", &self.l2_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("require_l2_at_startup", &self.require_l2_at_startup)
            .field("redis_pool_size", &self.redis_pool_size)
            .field("max_value_size", &self.max_value_size)
            .field("codec", &self.codec)
            .field("circuit_breaker_threshold", &self.circuit_breaker_threshold)
            .field("circuit_breaker_cooldown", &self.circuit_breaker_cooldown)
            .field("sync_interval", &self.sync_interval)
            .field(
                "invalidation_tombstone_ttl",
                &self.invalidation_tombstone_ttl,
            )
            .field("backplane", &self.backplane)
            .field("distributed_locks", &self.distributed_locks)
            .field("lock_ttl", &self.lock_ttl)
            .field("lock_wait", &self.lock_wait)
            .field("fail_safe", &self.fail_safe)
            .field("fail_safe_max_stale", &self.fail_safe_max_stale)
            .field("fail_safe_throttle", &self.fail_safe_throttle)
            .field("soft_timeout", &self.soft_timeout)
            .field("hard_timeout", &self.hard_timeout)
            .field("ttl_jitter", &self.ttl_jitter)
            .field("tag_ttl", &self.tag_ttl)
            .field("metrics_namespaces", &self.metrics_namespaces)
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

impl CacheConfig {
    /// The default `redis_url`. A cache built with it logs a warning, since it is more often an
    /// unset setting than a choice; to use a Redis on this host without the warning, write
    /// `redis://127.0.0.1:6379`.
    ///
    /// ```
    /// use tiered_cache_core::CacheConfig;
    ///
    /// assert_eq!(
    ///     CacheConfig::default().redis_url.as_deref(),
    ///     Some(CacheConfig::DEFAULT_REDIS_URL)
    /// );
    /// ```
    pub const DEFAULT_REDIS_URL: &'static str = "redis://localhost:6379";

    /// The name of every field, in declaration order: the keys a config file may have, and with
    /// [`ENV_PREFIX`](Self::ENV_PREFIX) the environment variables.
    ///
    /// ```
    /// use tiered_cache_core::CacheConfig;
    ///
    /// assert!(CacheConfig::FIELD_NAMES.contains(&"l2_timeout"));
    /// ```
    pub const FIELD_NAMES: &'static [&'static str] = fields::FIELD_NAMES;

    /// Checks every field; the error names the first bad one.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field and saying what is wrong with it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_name(&self.name)?;
        positive_count("l1_max_size", self.l1_max_size)?;
        if let Some(bytes) = self.l1_max_bytes {
            positive_count("l1_max_bytes", bytes)?;
            // L1 folds both limits into one weight of `l1_max_size × l1_max_bytes`.
            if (self.l1_max_size as u64)
                .checked_mul(bytes as u64)
                .is_none()
            {
                return Err(ConfigError::new(
                    "l1_max_bytes",
                    format!(
                        "times l1_max_size ({}) must fit in 64 bits, got {bytes}",
                        self.l1_max_size
                    ),
                ));
            }
        }
        positive_duration("l1_ttl", self.l1_ttl)?;
        positive_duration("max_ttl", self.max_ttl)?;
        if self.max_ttl > MAX_TTL_LIMIT {
            return Err(ConfigError::new(
                "max_ttl",
                format!("must be at most ten years, got {:?}", self.max_ttl),
            ));
        }
        positive_duration("l2_ttl", self.l2_ttl)?;
        if self.l2_ttl > self.max_ttl {
            return Err(ConfigError::new(
                "l2_ttl",
                format!(
                    "must be at most max_ttl ({:?}), got {:?}",
                    self.max_ttl, self.l2_ttl
                ),
            ));
        }
        if self.enable_swr && self.stale_while_revalidate_window >= self.l2_ttl {
            return Err(ConfigError::new(
                "stale_while_revalidate_window",
                format!(
                    "must be shorter than l2_ttl ({:?}), got {:?}",
                    self.l2_ttl, self.stale_while_revalidate_window
                ),
            ));
        }
        if let Some(url) = &self.redis_url {
            check_url_shape(url)?;
        }
        keys::validate_prefix(&self.key_prefix)
            .map_err(|reason| ConfigError::new("key_prefix", reason))?;
        positive_duration("l2_timeout", self.l2_timeout)?;
        positive_duration("connect_timeout", self.connect_timeout)?;
        if !(1..=64).contains(&self.redis_pool_size) {
            return Err(ConfigError::new(
                "redis_pool_size",
                format!("must be between 1 and 64, got {}", self.redis_pool_size),
            ));
        }
        positive_count("max_value_size", self.max_value_size)?;
        if self.max_value_size > HARD_MAX_VALUE_SIZE {
            return Err(ConfigError::new(
                "max_value_size",
                format!(
                    "must be at most {HARD_MAX_VALUE_SIZE} bytes (Redis's limit), got {}",
                    self.max_value_size
                ),
            ));
        }
        if self.circuit_breaker_threshold == 0 {
            return Err(ConfigError::new(
                "circuit_breaker_threshold",
                "must be at least 1".to_owned(),
            ));
        }
        positive_duration("circuit_breaker_cooldown", self.circuit_breaker_cooldown)?;
        positive_duration("sync_interval", self.sync_interval)?;
        positive_duration(
            "invalidation_tombstone_ttl",
            self.invalidation_tombstone_ttl,
        )?;
        positive_duration("lock_ttl", self.lock_ttl)?;
        positive_duration("fail_safe_throttle", self.fail_safe_throttle)?;
        positive_duration("tag_ttl", self.tag_ttl)?;
        if let Some(soft) = self.soft_timeout {
            positive_duration("soft_timeout", soft)?;
        }
        if let Some(hard) = self.hard_timeout {
            positive_duration("hard_timeout", hard)?;
            if self.soft_timeout.is_some_and(|soft| soft >= hard) {
                return Err(ConfigError::new(
                    "soft_timeout",
                    format!("must be shorter than hard_timeout ({hard:?})"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.ttl_jitter) {
            return Err(ConfigError::new(
                "ttl_jitter",
                format!(
                    "must be a fraction between 0 and 1, got {}",
                    self.ttl_jitter
                ),
            ));
        }
        Ok(())
    }

    /// The stale window an entry with this `ttl` gets when the call does not choose one:
    /// the configured window, or a fifth of `ttl` when the configured window does not fit in it.
    pub(crate) fn default_window_for(&self, ttl: Duration) -> Duration {
        if self.stale_while_revalidate_window < ttl {
            self.stale_while_revalidate_window
        } else {
            ttl / 5
        }
    }
}

/// A name goes into metric labels and log lines as is, so it is short and plain.
fn validate_name(name: &str) -> Result<(), ConfigError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
        // Redacted first: a URL put here by mistake must not show its password.
        let shown: String = redact_url(name).chars().take(64).collect();
        return Err(ConfigError::new(
            "name",
            format!("must be 1 to 64 of A-Z a-z 0-9 _ - ., got {shown:?}"),
        ));
    }
    Ok(())
}

fn positive_count(field: &'static str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(field, "must be greater than 0".to_owned()));
    }
    Ok(())
}

fn positive_duration(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.as_millis() == 0 {
        return Err(ConfigError::new(
            field,
            format!("must be at least 1 ms, got {value:?}"),
        ));
    }
    Ok(())
}

/// The shape every backend needs: `scheme://host...`. The backend checks the rest.
fn check_url_shape(url: &str) -> Result<(), ConfigError> {
    let bad = |reason: &str| {
        Err(ConfigError::new(
            "redis_url",
            format!("{reason}: `{}`", redact_url(url)),
        ))
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("expected `redis://host:port`");
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-".contains(c))
    {
        return bad("the scheme is not valid");
    }
    let host_part = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    if host_part.is_empty() || host_part.starts_with(['/', '?', ':']) {
        return bad("the host is missing");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(config: CacheConfig) -> String {
        config
            .validate()
            .expect_err("config should be invalid")
            .field()
            .to_owned()
    }

    #[test]
    fn defaults_are_the_seeds_and_valid() {
        let c = CacheConfig::default();
        assert_eq!(c.l1_max_size, 1000);
        assert_eq!(c.l1_ttl, Duration::from_secs(300));
        assert_eq!(c.l2_ttl, Duration::from_secs(3600));
        assert_eq!(c.stale_while_revalidate_window, Duration::from_secs(60));
        assert!(c.enable_swr && c.background_refresh);
        assert_eq!(c.redis_url.as_deref(), Some("redis://localhost:6379"));
        c.validate().expect("defaults are valid");
    }

    #[test]
    fn each_invalid_field_is_named() {
        let base = CacheConfig::default;
        assert_eq!(
            field_of(CacheConfig {
                l1_max_bytes: Some(0),
                ..base()
            }),
            "l1_max_bytes"
        );
        assert_eq!(
            field_of(CacheConfig {
                l1_max_size: usize::MAX,
                l1_max_bytes: Some(usize::MAX),
                ..base()
            }),
            "l1_max_bytes"
        );
        assert_eq!(
            field_of(CacheConfig {
                l1_max_size: 0,
                ..base()
            }),
            "l1_max_size"
        );
        assert_eq!(
            field_of(CacheConfig {
                l1_ttl: Duration::ZERO,
                ..base()
            }),
            "l1_ttl"
        );
        assert_eq!(
            field_of(CacheConfig {
                l2_ttl: Duration::ZERO,
                ..base()
            }),
            "l2_ttl"
        );
        assert_eq!(
            field_of(CacheConfig {
                l2_ttl: Duration::from_secs(60),
                stale_while_revalidate_window: Duration::from_secs(60),
                ..base()
            }),
            "stale_while_revalidate_window"
        );
        assert_eq!(
            field_of(CacheConfig {
                redis_url: Some("localhost:6379".into()),
                ..base()
            }),
            "redis_url"
        );
        assert_eq!(
            field_of(CacheConfig {
                redis_url: Some("redis://".into()),
                ..base()
            }),
            "redis_url"
        );
        for name in ["", "has space", "a{b}", &"n".repeat(65)] {
            assert_eq!(
                field_of(CacheConfig {
                    name: name.into(),
                    ..base()
                }),
                "name"
            );
        }
        assert_eq!(
            field_of(CacheConfig {
                key_prefix: "a:b".into(),
                ..base()
            }),
            "key_prefix"
        );
        assert_eq!(
            field_of(CacheConfig {
                redis_pool_size: 0,
                ..base()
            }),
            "redis_pool_size"
        );
        assert_eq!(
            field_of(CacheConfig {
                max_value_size: 0,
                ..base()
            }),
            "max_value_size"
        );
        assert_eq!(
            field_of(CacheConfig {
                circuit_breaker_threshold: 0,
                ..base()
            }),
            "circuit_breaker_threshold"
        );
        assert_eq!(
            field_of(CacheConfig {
                sync_interval: Duration::ZERO,
                ..base()
            }),
            "sync_interval"
        );
        assert_eq!(
            field_of(CacheConfig {
                ttl_jitter: 1.5,
                ..base()
            }),
            "ttl_jitter"
        );
        assert_eq!(
            field_of(CacheConfig {
                ttl_jitter: f64::NAN,
                ..base()
            }),
            "ttl_jitter"
        );
        assert_eq!(
            field_of(CacheConfig {
                soft_timeout: Some(Duration::from_secs(2)),
                hard_timeout: Some(Duration::from_secs(1)),
                ..base()
            }),
            "soft_timeout"
        );
        assert_eq!(
            field_of(CacheConfig {
                lock_ttl: Duration::ZERO,
                ..base()
            }),
            "lock_ttl"
        );
    }

    #[test]
    fn a_window_as_long_as_the_ttl_is_fine_without_swr() {
        let config = CacheConfig {
            enable_swr: false,
            l2_ttl: Duration::from_secs(10),
            stale_while_revalidate_window: Duration::from_secs(60),
            ..Default::default()
        };
        assert!(config.validate().is_ok());
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let config = CacheConfig {
            redis_url: Some("redis://app:hunter2@127.0.0.1:6379".into()),
            ..Default::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
        let bad = CacheConfig {
            redis_url: Some("hunter2@nohost".into()),
            ..Default::default()
        };
        let message = bad.validate().expect_err("invalid").to_string();
        assert!(message.contains("redis_url"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_short_ttl_gets_a_proportional_window() {
        let config = CacheConfig::default();
        assert_eq!(
            config.default_window_for(Duration::from_secs(300)),
            Duration::from_secs(60)
        );
        assert_eq!(
            config.default_window_for(Duration::from_secs(30)),
            Duration::from_secs(6)
        );
    }
}
