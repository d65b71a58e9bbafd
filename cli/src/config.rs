//! Which cache the CLI talks to: the one place that turns flags, environment and a file into a
//! `tiered_cache::CacheConfig`, with the library's own rules. Precedence: flags, then the
//! environment (`TIERED_CACHE_<FIELD>`, and `REDIS_URL` when `TIERED_CACHE_REDIS_URL` is unset,
//! as the library reads them), then the file (a whole `CacheConfig` in TOML, as the library
//! reads it), then the library's defaults. So the CLI writes marks with the services' own
//! settings (`tag_ttl`, `max_ttl`, ...) when it is given their file and environment.

use std::path::Path;

use tiered_cache::CacheConfig;

use crate::args::Connection;
use crate::error::CliError;

/// Builds the config from `flags`, the environment `vars` (name, value pairs, so tests need not
/// touch the process environment) and the file `flags.config` names, and validates it.
///
/// # Errors
/// A usage error naming what is wrong (never showing a password).
pub fn resolve(
    flags: &Connection,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<CacheConfig, CliError> {
    let file = match &flags.config {
        Some(path) => read_file(path)?,
        None => CacheConfig::default(),
    };
    let mut config = file
        .with_vars(vars)
        .map_err(|error| CliError::usage(format!("configuration: {error}")))?;
    if let Some(url) = &flags.redis_url {
        config.redis_url = Some(url.clone());
    }
    if let Some(prefix) = &flags.key_prefix {
        config.key_prefix.clone_from(prefix);
    }
    config
        .validate()
        .map_err(|error| CliError::usage(format!("configuration: {error}")))?;
    if config.redis_url.is_none() {
        return Err(CliError::usage(
            "configuration: no Redis to talk to (redis_url is none); give --redis-url or \
             TIERED_CACHE_REDIS_URL"
                .to_owned(),
        ));
    }
    Ok(config)
}

fn read_file(path: &Path) -> Result<CacheConfig, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| CliError::usage(format!("cannot read {}: {error}", path.display())))?;
    // The parser's own Display quotes the offending line, which may hold a password: report
    // only its message (which names the field and shows the value redacted) and where.
    toml::from_str(&text).map_err(|error| {
        let line = error
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| before.lines().count().max(1));
        let at = line.map_or_else(String::new, |line| format!(" (line {line})"));
        CliError::usage(format!(
            "cannot parse {}{at}: {}",
            path.display(),
            error.message()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn file(text: &str) -> tempfile::TempPath {
        tempfile::write(text)
    }

    /// A tiny temp-file helper (no extra dependency).
    mod tempfile {
        pub struct TempPath(pub std::path::PathBuf);
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        pub fn write(text: &str) -> TempPath {
            use std::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "tiered-cache-cli-{}-{}.toml",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, text).expect("write a temp file");
            TempPath(path)
        }
    }

    #[test]
    fn defaults_are_the_librarys() {
        let config = resolve(&Connection::default(), env_of(&[])).expect("valid");
        assert_eq!(config.redis_url, CacheConfig::default().redis_url);
        assert_eq!(config.key_prefix, "tc");
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let path = file("redis_url = \"redis://file:1\"\nkey_prefix = \"f\"\nl2_ttl = \"5m\"\n");
        let mut flags = Connection {
            config: Some(path.0.clone()),
            ..Connection::default()
        };
        let config = resolve(&flags, env_of(&[])).expect("valid");
        assert_eq!(config.redis_url.as_deref(), Some("redis://file:1"));
        assert_eq!(config.key_prefix, "f");

        let env = env_of(&[
            ("REDIS_URL", "redis://generic:2"),
            ("TIERED_CACHE_KEY_PREFIX", "e"),
        ]);
        let config = resolve(&flags, env.clone()).expect("valid");
        assert_eq!(config.redis_url.as_deref(), Some("redis://generic:2"));
        assert_eq!(config.key_prefix, "e");

        let env = env_of(&[
            ("REDIS_URL", "redis://generic:2"),
            ("TIERED_CACHE_REDIS_URL", "redis://specific:3"),
        ]);
        let config = resolve(&flags, env.clone()).expect("valid");
        assert_eq!(config.redis_url.as_deref(), Some("redis://specific:3"));
        assert_eq!(
            config.key_prefix, "f",
            "the file's, no variable says otherwise"
        );
        assert_eq!(
            config.l2_ttl,
            std::time::Duration::from_secs(300),
            "every field of the file is read (the library's own reader)"
        );

        flags.redis_url = Some("redis://flag:4".to_owned());
        flags.key_prefix = Some("x".to_owned());
        let config = resolve(&flags, env.clone()).expect("valid");
        assert_eq!(config.redis_url.as_deref(), Some("redis://flag:4"));
        assert_eq!(config.key_prefix, "x");
    }

    #[test]
    fn bad_input_is_a_usage_error_without_secrets() {
        let flags = Connection {
            key_prefix: Some("bad:prefix".to_owned()),
            ..Connection::default()
        };
        let error = resolve(&flags, env_of(&[])).expect_err("invalid prefix");
        assert!(error.message.contains("key_prefix"), "{error}");

        let path = file("redis_url = \"redis://u:topsecret@host:1\nkey_prefix = 3\n");
        let flags = Connection {
            config: Some(path.0.clone()),
            ..Connection::default()
        };
        let error = resolve(&flags, env_of(&[])).expect_err("bad TOML");
        assert!(!error.message.contains("topsecret"), "{error}");
        assert!(error.message.contains("line 1"), "{error}");
    }
}
