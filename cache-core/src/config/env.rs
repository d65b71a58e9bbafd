//! Overlaying environment variables on a config: `TIERED_CACHE_<FIELD>` for every field, and
//! `REDIS_URL` for `redis_url` when `TIERED_CACHE_REDIS_URL` is not set.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};

use super::CacheConfig;
use super::fields::{self, FIELDS, Raw};
use crate::error::ConfigError;

/// The variable many platforms set to the Redis a service should use.
const FALLBACK_URL_VAR: &str = "REDIS_URL";

impl CacheConfig {
    /// The prefix of the environment variable of every field: `TIERED_CACHE_` followed by the
    /// field's name in upper case (`TIERED_CACHE_L2_TIMEOUT` sets `l2_timeout`).
    ///
    /// ```
    /// use tiered_cache_core::CacheConfig;
    ///
    /// let names: Vec<String> = CacheConfig::FIELD_NAMES
    ///     .iter()
    ///     .map(|field| format!("{}{}", CacheConfig::ENV_PREFIX, field.to_ascii_uppercase()))
    ///     .collect();
    /// assert!(names.iter().any(|n| n == "TIERED_CACHE_REDIS_URL"));
    /// ```
    pub const ENV_PREFIX: &'static str = "TIERED_CACHE_";

    /// The defaults, overlaid with the process's environment: see [`with_vars`](Self::with_vars)
    /// for the variables and how their values are written.
    ///
    /// ```
    /// use tiered_cache_core::CacheConfig;
    ///
    /// // TIERED_CACHE_L1_MAX_SIZE=50000 TIERED_CACHE_L2_TIMEOUT=100ms REDIS_URL=redis://cache:6379
    /// let config = CacheConfig::from_env()?;
    /// println!("{config:?}"); // the password of redis_url redacted
    /// # Ok::<(), tiered_cache_core::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable, its field and its value (a URL redacted) when a
    /// value cannot be read, or an unknown `TIERED_CACHE_` variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::default().with_env()
    }

    /// This config overlaid with the process's environment, so that a file's settings (read into
    /// `self`) give way to the environment's: defaults < file < environment. See
    /// [`with_vars`](Self::with_vars).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tiered_cache_core::CacheConfig;
    ///
    /// let from_code = CacheConfig { l2_ttl: Duration::from_secs(600), ..Default::default() };
    /// let config = from_code.with_env()?; // TIERED_CACHE_L2_TTL, when set, wins
    /// # Ok::<(), tiered_cache_core::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn with_env(self) -> Result<Self, ConfigError> {
        self.with_vars(std::env::vars_os())
    }

    /// This config overlaid with `vars` (name, value pairs, as [`std::env::vars_os`] yields
    /// them): what [`with_env`](Self::with_env) does with the process's environment, for another
    /// source or a test.
    ///
    /// - `TIERED_CACHE_<FIELD>` sets the field of that name in upper case, for every field
    ///   ([`FIELD_NAMES`](Self::FIELD_NAMES)). Values are written as in a config file:
    ///   counts `5000`, booleans `true`/`false` (or `1`/`0`), durations with a unit (`250ms`,
    ///   `5m`, `1h 30m`), `ttl_jitter` a fraction (`0.1`), and for `soft_timeout`,
    ///   `hard_timeout`, `redis_tls_ca_file` and `redis_url` an empty value or `none` means
    ///   `None` (`TIERED_CACHE_REDIS_URL=none`: L1 only).
    /// - `REDIS_URL` sets `redis_url` when `TIERED_CACHE_REDIS_URL` is not set.
    /// - A `TIERED_CACHE_` variable that names no field is an error, as an unknown key in a file
    ///   is: a misspelt variable would otherwise leave its setting silently at the default. If
    ///   something else in your deployment uses the prefix, filter it out of `vars`.
    /// - Other variables are ignored. Values are checked by type here; the rules between
    ///   fields are checked by [`validate`](Self::validate), when the cache is built.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tiered_cache_core::CacheConfig;
    ///
    /// let config = CacheConfig::default().with_vars([
    ///     ("TIERED_CACHE_L2_TIMEOUT", "100ms"),
    ///     ("TIERED_CACHE_BACKPLANE", "false"),
    ///     ("REDIS_URL", "redis://cache.internal:6379"),
    ///     ("HOME", "/root"),
    /// ])?;
    /// assert_eq!(config.l2_timeout, Duration::from_millis(100));
    /// assert!(!config.backplane);
    /// assert_eq!(config.redis_url.as_deref(), Some("redis://cache.internal:6379"));
    ///
    /// let typo = CacheConfig::default().with_vars([("TIERED_CACHE_L2_TIMOUT", "100ms")]);
    /// let error = typo.expect_err("an unknown variable");
    /// assert_eq!(error.variable(), Some("TIERED_CACHE_L2_TIMOUT"));
    /// assert!(error.to_string().contains("did you mean TIERED_CACHE_L2_TIMEOUT?"));
    /// # Ok::<(), tiered_cache_core::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env). Unknown variables are reported before bad values.
    pub fn with_vars<I, K, V>(mut self, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut values: Vec<Option<OsString>> = vec![None; FIELDS.len()];
        let mut fallback_url = None;
        let mut unknown = Vec::new();
        for (name, value) in vars {
            let (name, value) = (name.as_ref(), value.as_ref());
            if name == FALLBACK_URL_VAR {
                fallback_url = Some(value.to_owned());
                continue;
            }
            let Some(suffix) = suffix_of(name) else {
                continue;
            };
            match FIELDS
                .iter()
                .position(|field| suffix.as_deref() == Some(&*field.name.to_ascii_uppercase()))
            {
                Some(i) => values[i] = Some(value.to_owned()),
                None => unknown.push(name.to_string_lossy().into_owned()),
            }
        }
        // The same error whatever order the variables came in.
        unknown.sort();
        if let Some(name) = unknown.first() {
            return Err(unknown_variable(name));
        }
        for (field, value) in FIELDS.iter().zip(&values) {
            if let Some(value) = value {
                set(&mut self, field, &field.env_var(), value)?;
            }
        }
        let url_is_set = FIELDS
            .iter()
            .zip(&values)
            .any(|(field, value)| field.name == "redis_url" && value.is_some());
        if let (false, Some(url), Some(field)) =
            (url_is_set, fallback_url, fields::find("redis_url"))
        {
            set(&mut self, field, FALLBACK_URL_VAR, &url)?;
        }
        Ok(self)
    }
}

/// What follows `TIERED_CACHE_` in `name` (`None` inside when that is not UTF-8), or `None`
/// for a variable without the prefix.
fn suffix_of(name: &OsStr) -> Option<Option<Cow<'_, str>>> {
    let rest = name
        .as_encoded_bytes()
        .strip_prefix(CacheConfig::ENV_PREFIX.as_bytes())?;
    Some(std::str::from_utf8(rest).ok().map(Cow::Borrowed))
}

fn set(
    config: &mut CacheConfig,
    field: &fields::Field,
    variable: &str,
    value: &OsStr,
) -> Result<(), ConfigError> {
    let Some(text) = value.to_str() else {
        return Err(ConfigError::from_variable(
            field.name,
            variable,
            "the value is not valid UTF-8".to_owned(),
        ));
    };
    field
        .set(config, &Raw::Text(Cow::Borrowed(text)))
        .map_err(|reason| ConfigError::from_variable(field.name, variable, reason))
}

fn unknown_variable(name: &str) -> ConfigError {
    let wanted = name
        .strip_prefix(CacheConfig::ENV_PREFIX)
        .unwrap_or(name)
        .to_ascii_lowercase();
    let hint = closest_field(&wanted)
        .map(|field| format!("did you mean {}? ", field.env_var()))
        .unwrap_or_default();
    ConfigError::from_variable(
        wanted,
        name,
        format!(
            "no such field; {hint}every {}* variable must name a CacheConfig field",
            CacheConfig::ENV_PREFIX
        ),
    )
}

/// The field whose name is within a few typos of `wanted`, if one is.
fn closest_field(wanted: &str) -> Option<&'static fields::Field> {
    FIELDS
        .iter()
        .map(|field| (edit_distance(wanted, field.name), field))
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, field)| field)
}

/// Levenshtein distance (insertions, deletions and substitutions).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn overlay(vars: &[(&str, &str)]) -> Result<CacheConfig, ConfigError> {
        CacheConfig::default().with_vars(vars.iter().copied())
    }

    #[test]
    fn every_field_has_a_variable_that_sets_it() {
        // A value each field takes that differs from its default, written as in the environment.
        let custom = CacheConfig {
            name: "custom".into(),
            l1_max_size: 7,
            l1_max_bytes: Some(7000),
            l1_ttl: Duration::from_secs(7),
            l2_ttl: Duration::from_secs(70),
            stale_while_revalidate_window: Duration::from_secs(7),
            enable_swr: false,
            background_refresh: false,
            redis_url: None,
            redis_tls_ca_file: Some("/etc/ca.pem".into()),
            key_prefix: "custom".into(),
            l2_timeout: Duration::from_millis(7),
            connect_timeout: Duration::from_millis(7),
            require_l2_at_startup: true,
            redis_pool_size: 7,
            max_value_size: 7,
            codec: crate::codec::CodecKind::Json,
            circuit_breaker_threshold: 7,
            circuit_breaker_cooldown: Duration::from_millis(7),
            sync_interval: Duration::from_millis(7),
            invalidation_tombstone_ttl: Duration::from_secs(7),
            backplane: false,
            distributed_locks: false,
            lock_ttl: Duration::from_millis(7),
            lock_wait: Duration::from_millis(7),
            fail_safe: false,
            fail_safe_max_stale: Duration::from_secs(7),
            fail_safe_throttle: Duration::from_secs(7),
            soft_timeout: Some(Duration::from_millis(7)),
            hard_timeout: Some(Duration::from_millis(70)),
            ttl_jitter: 0.5,
            tag_ttl: Duration::from_secs(7),
            metrics_namespaces: 7,
            max_ttl: Duration::from_secs(700),
        };
        let vars = [
            ("NAME", "custom"),
            ("L1_MAX_SIZE", "7"),
            ("L1_MAX_BYTES", "7000"),
            ("L1_TTL", "7s"),
            ("L2_TTL", "70s"),
            ("STALE_WHILE_REVALIDATE_WINDOW", "7s"),
            ("ENABLE_SWR", "false"),
            ("BACKGROUND_REFRESH", "false"),
            ("REDIS_URL", "none"),
            ("REDIS_TLS_CA_FILE", "/etc/ca.pem"),
            ("KEY_PREFIX", "custom"),
            ("L2_TIMEOUT", "7ms"),
            ("CONNECT_TIMEOUT", "7ms"),
            ("REQUIRE_L2_AT_STARTUP", "true"),
            ("REDIS_POOL_SIZE", "7"),
            ("MAX_VALUE_SIZE", "7"),
            ("CODEC", "json"),
            ("CIRCUIT_BREAKER_THRESHOLD", "7"),
            ("CIRCUIT_BREAKER_COOLDOWN", "7ms"),
            ("SYNC_INTERVAL", "7ms"),
            ("INVALIDATION_TOMBSTONE_TTL", "7s"),
            ("BACKPLANE", "false"),
            ("DISTRIBUTED_LOCKS", "false"),
            ("LOCK_TTL", "7ms"),
            ("LOCK_WAIT", "7ms"),
            ("FAIL_SAFE", "false"),
            ("FAIL_SAFE_MAX_STALE", "7s"),
            ("FAIL_SAFE_THROTTLE", "7s"),
            ("SOFT_TIMEOUT", "7ms"),
            ("HARD_TIMEOUT", "70ms"),
            ("TTL_JITTER", "0.5"),
            ("TAG_TTL", "7s"),
            ("METRICS_NAMESPACES", "7"),
            ("MAX_TTL", "700s"),
        ];
        // One variable per field, and nothing else.
        let mut names: Vec<String> = vars.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        names.sort();
        let mut fields: Vec<&str> = CacheConfig::FIELD_NAMES.to_vec();
        fields.sort_unstable();
        assert_eq!(names, fields);
        let vars = vars.map(|(name, value)| (format!("TIERED_CACHE_{name}"), value));
        // Each variable on its own changes the config (none is ignored)...
        let default = format!("{:?}", CacheConfig::default());
        for (name, value) in &vars {
            let one = CacheConfig::default()
                .with_vars([(name, value)])
                .expect("valid");
            assert_ne!(format!("{one:?}"), default, "{name} changed nothing");
        }
        // ... and all of them together set every field.
        let loaded = CacheConfig::default().with_vars(vars).expect("all valid");
        assert_eq!(format!("{loaded:?}"), format!("{custom:?}"));
    }

    #[test]
    fn each_type_of_value() {
        let config = overlay(&[
            ("TIERED_CACHE_L1_MAX_SIZE", "50000"),
            ("TIERED_CACHE_ENABLE_SWR", "false"),
            ("TIERED_CACHE_L2_TIMEOUT", "250ms"),
            ("TIERED_CACHE_L2_TTL", "1h 30m"),
            ("TIERED_CACHE_SOFT_TIMEOUT", "1500ms"),
            ("TIERED_CACHE_HARD_TIMEOUT", ""),
            ("TIERED_CACHE_TTL_JITTER", "0.1"),
        ])
        .expect("valid");
        assert_eq!(config.l1_max_size, 50_000);
        assert!(!config.enable_swr);
        assert_eq!(config.l2_timeout, Duration::from_millis(250));
        assert_eq!(config.l2_ttl, Duration::from_secs(5400));
        assert_eq!(config.soft_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(config.hard_timeout, None);
        assert!((config.ttl_jitter - 0.1).abs() < f64::EPSILON);
        config.validate().expect("and valid together");

        let with_timeout = CacheConfig {
            soft_timeout: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        let cleared = with_timeout
            .with_vars([("TIERED_CACHE_SOFT_TIMEOUT", "none")])
            .expect("valid");
        assert_eq!(cleared.soft_timeout, None);
    }

    #[test]
    fn redis_url_none_means_l1_only() {
        for none in ["none", "NONE", ""] {
            let config = overlay(&[("TIERED_CACHE_REDIS_URL", none)]).expect("valid");
            assert_eq!(config.redis_url, None, "{none:?}");
        }
    }

    #[test]
    fn redis_url_falls_back_to_redis_url_and_ours_wins() {
        let fallback = overlay(&[("REDIS_URL", "redis://fallback:6379")]).expect("valid");
        assert_eq!(fallback.redis_url.as_deref(), Some("redis://fallback:6379"));
        // Whichever comes first.
        for vars in [
            [
                ("REDIS_URL", "redis://fallback:6379"),
                ("TIERED_CACHE_REDIS_URL", "redis://ours:6379"),
            ],
            [
                ("TIERED_CACHE_REDIS_URL", "redis://ours:6379"),
                ("REDIS_URL", "redis://fallback:6379"),
            ],
        ] {
            let config = overlay(&vars).expect("valid");
            assert_eq!(config.redis_url.as_deref(), Some("redis://ours:6379"));
        }
        let ours_none = overlay(&[
            ("TIERED_CACHE_REDIS_URL", "none"),
            ("REDIS_URL", "redis://fallback:6379"),
        ])
        .expect("valid");
        assert_eq!(ours_none.redis_url, None);
        let fallback_none = overlay(&[("REDIS_URL", "")]).expect("valid");
        assert_eq!(fallback_none.redis_url, None);
        let untouched = overlay(&[]).expect("valid");
        assert_eq!(
            untouched.redis_url.as_deref(),
            Some(CacheConfig::DEFAULT_REDIS_URL)
        );
    }

    #[test]
    fn the_environment_overrides_what_was_set_before() {
        let from_file = CacheConfig {
            l1_max_size: 10,
            l2_ttl: Duration::from_secs(600),
            redis_url: Some("redis://from-file:6379".into()),
            ..Default::default()
        };
        let config = from_file
            .with_vars([
                ("TIERED_CACHE_L1_MAX_SIZE", "20"),
                ("REDIS_URL", "redis://from-env:6379"),
            ])
            .expect("valid");
        assert_eq!(config.l1_max_size, 20);
        assert_eq!(
            config.l2_ttl,
            Duration::from_secs(600),
            "not in the env: kept"
        );
        assert_eq!(config.redis_url.as_deref(), Some("redis://from-env:6379"));
    }

    #[test]
    fn a_bad_value_names_the_variable_the_field_and_the_value() {
        let error = overlay(&[("TIERED_CACHE_L2_TIMEOUT", "5 parsecs")]).expect_err("bad");
        assert_eq!(error.field(), "l2_timeout");
        assert_eq!(error.variable(), Some("TIERED_CACHE_L2_TIMEOUT"));
        let message = error.to_string();
        assert!(message.contains("TIERED_CACHE_L2_TIMEOUT"), "{message}");
        assert!(message.contains("\"5 parsecs\""), "{message}");
        assert!(message.contains("`l2_timeout`"), "{message}");
        for (name, value) in [
            ("TIERED_CACHE_L1_MAX_SIZE", "lots"),
            ("TIERED_CACHE_L1_MAX_SIZE", "-1"),
            ("TIERED_CACHE_BACKPLANE", "maybe"),
            ("TIERED_CACHE_TTL_JITTER", "a tenth"),
            ("TIERED_CACHE_SOFT_TIMEOUT", "soon"),
            ("TIERED_CACHE_L2_TTL", "60"),
        ] {
            let error = overlay(&[(name, value)]).expect_err(name);
            assert_eq!(error.variable(), Some(name));
            assert!(error.to_string().contains(&format!("{value:?}")), "{error}");
        }
    }

    #[test]
    fn an_unknown_variable_is_an_error_with_a_suggestion() {
        let error = overlay(&[("TIERED_CACHE_L2_TIMOUT", "100ms")]).expect_err("unknown");
        assert_eq!(error.variable(), Some("TIERED_CACHE_L2_TIMOUT"));
        assert!(
            error
                .to_string()
                .contains("did you mean TIERED_CACHE_L2_TIMEOUT?"),
            "{error}"
        );
        let error = overlay(&[("TIERED_CACHE_COLOUR", "blue")]).expect_err("unknown");
        assert!(!error.to_string().contains("did you mean"), "{error}");
        // Lower case is another variable, not ours; so is one without the prefix.
        overlay(&[("tiered_cache_l2_ttl", "x"), ("TIERED_CACHE", "x")]).expect("ignored");
    }

    #[test]
    fn a_password_never_appears_in_an_error() {
        let url = "redis://app:hunter2@10.0.0.1:6379";
        for (name, value) in [
            ("TIERED_CACHE_L2_TIMEOUT", url),
            ("TIERED_CACHE_L1_MAX_SIZE", url),
            ("TIERED_CACHE_BACKPLANE", url),
            ("TIERED_CACHE_TTL_JITTER", url),
            ("TIERED_CACHE_HARD_TIMEOUT", url),
        ] {
            let message = overlay(&[(name, value)]).expect_err(name).to_string();
            assert!(!message.contains("hunter2"), "{message}");
        }
        // A URL that parses as a value but not as a URL: the error comes from `validate`.
        for vars in [
            [("TIERED_CACHE_REDIS_URL", "hunter2@nohost")],
            [("REDIS_URL", "app:hunter2@nohost:6379")],
            [("TIERED_CACHE_KEY_PREFIX", url)],
            [("TIERED_CACHE_NAME", url)],
        ] {
            let config = overlay(&vars).expect("parses");
            let message = config.validate().expect_err("invalid").to_string();
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_value_that_is_not_utf8_is_an_error() {
        use std::os::unix::ffi::OsStrExt;
        let value = OsStr::from_bytes(b"1\xff0");
        let error = CacheConfig::default()
            .with_vars([(OsStr::new("TIERED_CACHE_L1_MAX_SIZE"), value)])
            .expect_err("not UTF-8");
        assert!(error.to_string().contains("not valid UTF-8"), "{error}");
        // Somebody else's variable that is not UTF-8 is no concern of ours.
        CacheConfig::default()
            .with_vars([(OsStr::new("OTHER"), value)])
            .expect("ignored");
    }

    /// The one test on the process's environment: it sets nothing, so it runs beside the
    /// others; it only checks that whatever the environment holds is read without a panic.
    #[test]
    fn from_env_reads_the_process_environment() {
        let ours = std::env::vars_os()
            .any(|(name, _)| suffix_of(&name).is_some() || name == FALLBACK_URL_VAR);
        let config = CacheConfig::from_env();
        if !ours {
            let config = config.expect("no variable of ours: the defaults");
            assert_eq!(
                format!("{config:?}"),
                format!("{:?}", CacheConfig::default())
            );
        }
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("l2_timout", "l2_timeout"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
