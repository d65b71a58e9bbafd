//! Which cache the CLI talks to: the one place that turns flags, environment and a file into a
//! `tiered_cache::CacheConfig`. Precedence: flags, then environment, then the file, then the
//! library's defaults. Only `redis_url` and `key_prefix` are read; every other setting is the
//! library's default (when the library gains a config loader, it slots in here).

use std::path::Path;

use serde::Deserialize;
use tiered_cache::CacheConfig;

use crate::args::Connection;
use crate::error::CliError;

/// The environment variables read, most specific first.
pub const URL_VARS: [&str; 2] = ["TIERED_CACHE_REDIS_URL", "REDIS_URL"];
pub const PREFIX_VAR: &str = "TIERED_CACHE_KEY_PREFIX";

/// The part of a config file the CLI reads.
#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    redis_url: Option<String>,
    key_prefix: Option<String>,
}

/// Builds the config from `flags`, `env` (a lookup, so tests need not touch the process
/// environment) and the file `flags.config` names, and validates it.
///
/// # Errors
/// A usage error naming what is wrong (never showing a password).
pub fn resolve(
    flags: &Connection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CacheConfig, CliError> {
    let file = match &flags.config {
        Some(path) => read_file(path)?,
        None => FileConfig::default(),
    };
    // An empty variable counts as unset, as shells make it easy to export one by accident.
    let var = |name: &str| env(name).filter(|value| !value.is_empty());
    let defaults = CacheConfig::default();
    let redis_url = flags
        .redis_url
        .clone()
        .or_else(|| URL_VARS.iter().find_map(|name| var(name)))
        .or(file.redis_url)
        .or(defaults.redis_url.clone());
    let key_prefix = flags
        .key_prefix
        .clone()
        .or_else(|| var(PREFIX_VAR))
        .or(file.key_prefix)
        .unwrap_or_else(|| defaults.key_prefix.clone());
    let config = CacheConfig {
        redis_url,
        key_prefix,
        ..defaults
    };
    config
        .validate()
        .map_err(|error| CliError::usage(format!("configuration: {error}")))?;
    Ok(config)
}

fn read_file(path: &Path) -> Result<FileConfig, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| CliError::usage(format!("cannot read {}: {error}", path.display())))?;
    // The parser's own message quotes the offending line, which may hold a password: report
    // only what went wrong and where.
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

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
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
        let config = resolve(&Connection::default(), &env_of(&[])).expect("valid");
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
        let config = resolve(&flags, &env_of(&[])).expect("valid");
        assert_eq!(config.redis_url.as_deref(), Some("redis://file:1"));
        assert_eq!(config.key_prefix, "f");

        let env = env_of(&[
            ("REDIS_URL", "redis://generic:2"),
            ("TIERED_CACHE_KEY_PREFIX", "e"),
        ]);
        let config = resolve(&flags, &env).expect("valid");
        assert_eq!(config.redis_url.as_deref(), Some("redis://generic:2"));
        assert_eq!(config.key_prefix, "e");

        let env = env_of(&[
            ("REDIS_URL", "redis://generic:2"),
            ("TIERED_CACHE_REDIS_URL", "redis://specific:3"),
            ("TIERED_CACHE_KEY_PREFIX", ""),
        ]);
        let config = resolve(&flags, &env).expect("valid");
        assert_eq!(config.redis_url.as_deref(), Some("redis://specific:3"));
        assert_eq!(config.key_prefix, "f", "an empty variable is unset");

        flags.redis_url = Some("redis://flag:4".to_owned());
        flags.key_prefix = Some("x".to_owned());
        let config = resolve(&flags, &env).expect("valid");
        assert_eq!(config.redis_url.as_deref(), Some("redis://flag:4"));
        assert_eq!(config.key_prefix, "x");
    }

    #[test]
    fn bad_input_is_a_usage_error_without_secrets() {
        let flags = Connection {
            key_prefix: Some("bad:prefix".to_owned()),
            ..Connection::default()
        };
        let error = resolve(&flags, &env_of(&[])).expect_err("invalid prefix");
        assert!(error.message.contains("key_prefix"), "{error}");

        let path = file("redis_url = \"redis://u:topsecret@host:1\nkey_prefix = 3\n");
        let flags = Connection {
            config: Some(path.0.clone()),
            ..Connection::default()
        };
        let error = resolve(&flags, &env_of(&[])).expect_err("bad TOML");
        assert!(!error.message.contains("topsecret"), "{error}");
        assert!(error.message.contains("line 1"), "{error}");
    }
}
