//! `CacheConfig` from any self-describing serde format (TOML, JSON, YAML, `figment`, ...).
//!
//! Written by hand over the field list rather than derived, so that a file and the environment
//! accept the same spellings (durations as `"5m"`, `"none"` for an absent URL), and so that every
//! message names the field and shows the bad value with credentials redacted: a derived
//! implementation names neither in most formats, and quotes any string it rejects verbatim.

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use super::CacheConfig;
use super::fields::{self, FIELD_NAMES, Raw};
use crate::redact::redact_url;

/// Reads a table of fields; a field left out keeps its [`Default`] value, an unknown one is an
/// error. See the [`CacheConfig`] docs for the spellings.
impl<'de> Deserialize<'de> for CacheConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Not `deserialize_struct`: given a string instead of a table, some formats (JSON)
        // answer that with a message quoting the string without asking the visitor, and the
        // string may be a URL with a password.
        deserializer.deserialize_any(ConfigVisitor)
    }
}

struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = CacheConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of CacheConfig fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CacheConfig, A::Error> {
        let mut config = CacheConfig::default();
        let mut seen = [false; FIELD_NAMES.len()];
        while let Some(i) = map.next_key_seed(KeySeed)? {
            let field = &fields::FIELDS[i];
            if std::mem::replace(&mut seen[i], true) {
                return Err(de::Error::duplicate_field(field.name));
            }
            map.next_value_seed(FieldSeed {
                field,
                config: &mut config,
            })?;
        }
        Ok(config)
    }

    // The default message quotes the string whole; it may be a URL with a password.
    fn visit_str<E: de::Error>(self, value: &str) -> Result<CacheConfig, E> {
        Err(E::custom(format!(
            "expected a table of CacheConfig fields, got the string {:?}",
            redact_url(value)
        )))
    }
}

/// Finds the field a key names (its index), or fails while the format is at the key.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        let key = Cow::<'de, str>::deserialize(deserializer)?;
        FIELD_NAMES
            .iter()
            .position(|name| *name == key)
            .ok_or_else(|| de::Error::unknown_field(&key, FIELD_NAMES))
    }
}

/// Sets one field from whatever the format holds for it. The field's error is raised here,
/// while the format is at the value, so formats that report positions point at the value.
struct FieldSeed<'a> {
    field: &'static fields::Field,
    config: &'a mut CacheConfig,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let raw = deserializer.deserialize_any(ValueVisitor)?;
        let name = self.field.name;
        self.field
            .set(self.config, &raw)
            .map_err(|reason| de::Error::custom(format!("`{name}`: {reason}")))
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean or null")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw<'de>, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw<'de>, E> {
        Ok(Raw::Signed(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Raw<'de>, E> {
        Ok(Raw::Unsigned(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Raw<'de>, E> {
        Ok(Raw::Float(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Raw<'de>, E> {
        Ok(Raw::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw<'de>, E> {
        Ok(Raw::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw<'de>, E> {
        Ok(Raw::Text(Cow::Owned(v)))
    }

    fn visit_none<E>(self) -> Result<Raw<'de>, E> {
        Ok(Raw::Null)
    }

    fn visit_unit<E>(self) -> Result<Raw<'de>, E> {
        Ok(Raw::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Raw<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bytes<E>(self, _: &[u8]) -> Result<Raw<'de>, E> {
        Ok(Raw::Other("bytes"))
    }

    // A list or a table is reported as the field's error (which names the field); it is read
    // to its end so that the format is left where it expects to be.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::Other("a list"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Raw::Other("a table"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn from_toml(text: &str) -> Result<CacheConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn from_json(text: &str) -> Result<CacheConfig, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_toml_file_with_human_durations() {
        let config = from_toml(
            r#"
            name = "products"
            l1_max_size = 50_000
            l1_max_bytes = 268_435_456
            l1_ttl = "5m"
            l2_ttl = "1h 30m"
            stale_while_revalidate_window = "2m"
            enable_swr = true
            background_refresh = false
            redis_url = "redis://cache.internal:6379/2"
            redis_tls_ca_file = "none"
            key_prefix = "shop"
            l2_timeout = "250ms"
            connect_timeout = "3s"
            require_l2_at_startup = true
            redis_pool_size = 4
            max_value_size = 2_097_152
            codec = "postcard"
            circuit_breaker_threshold = 3
            circuit_breaker_cooldown = "5s"
            sync_interval = "500ms"
            invalidation_tombstone_ttl = "90s"
            backplane = false
            distributed_locks = false
            lock_ttl = "2s"
            lock_wait = "3s"
            fail_safe = false
            fail_safe_max_stale = "10m"
            fail_safe_throttle = "15s"
            soft_timeout = "800ms"
            hard_timeout = "5s"
            ttl_jitter = 0.1
            tag_ttl = "12h"
            metrics_namespaces = 8
            max_ttl = "30days"
            "#,
        )
        .expect("valid");
        let expected = CacheConfig {
            name: "products".into(),
            l1_max_size: 50_000,
            l1_max_bytes: Some(256 * 1024 * 1024),
            l1_ttl: Duration::from_secs(300),
            l2_ttl: Duration::from_secs(5400),
            stale_while_revalidate_window: Duration::from_secs(120),
            enable_swr: true,
            background_refresh: false,
            redis_url: Some("redis://cache.internal:6379/2".into()),
            redis_tls_ca_file: None,
            key_prefix: "shop".into(),
            l2_timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(3),
            require_l2_at_startup: true,
            redis_pool_size: 4,
            max_value_size: 2 * 1024 * 1024,
            codec: crate::codec::CodecKind::Postcard,
            circuit_breaker_threshold: 3,
            circuit_breaker_cooldown: Duration::from_secs(5),
            sync_interval: Duration::from_millis(500),
            invalidation_tombstone_ttl: Duration::from_secs(90),
            backplane: false,
            distributed_locks: false,
            lock_ttl: Duration::from_secs(2),
            lock_wait: Duration::from_secs(3),
            fail_safe: false,
            fail_safe_max_stale: Duration::from_secs(600),
            fail_safe_throttle: Duration::from_secs(15),
            soft_timeout: Some(Duration::from_millis(800)),
            hard_timeout: Some(Duration::from_secs(5)),
            ttl_jitter: 0.1,
            tag_ttl: Duration::from_secs(12 * 3600),
            metrics_namespaces: 8,
            max_ttl: Duration::from_secs(30 * 24 * 3600),
        };
        assert_eq!(format!("{config:?}"), format!("{expected:?}"));
        config.validate().expect("valid together");
    }

    #[test]
    fn a_json_document_too() {
        let config = from_json(
            r#"{"l2_ttl": "10m", "soft_timeout": null, "hard_timeout": "2s", "ttl_jitter": 0,
                "redis_url": null, "l1_max_size": 10}"#,
        )
        .expect("valid");
        assert_eq!(config.l2_ttl, Duration::from_secs(600));
        assert_eq!(config.soft_timeout, None);
        assert_eq!(config.hard_timeout, Some(Duration::from_secs(2)));
        assert_eq!(config.redis_url, None);
        assert_eq!(config.l1_max_size, 10);
    }

    /// The usual place of a cache's config: a section of the service's own.
    #[test]
    fn a_section_of_a_larger_file() {
        #[derive(serde::Deserialize)]
        struct Service {
            #[serde(default)]
            cache: CacheConfig,
            port: u16,
        }
        let service: Service =
            toml::from_str("port = 8080\n[cache]\nl2_ttl = \"2m\"\nredis_url = \"none\"\n")
                .expect("valid");
        assert_eq!(service.port, 8080);
        assert_eq!(service.cache.l2_ttl, Duration::from_secs(120));
        assert_eq!(service.cache.redis_url, None);
        let message = toml::from_str::<Service>("port = 1\n[cache]\nl2_ttl = \"2 fortnights\"\n")
            .map(|_| ())
            .expect_err("bad duration")
            .to_string();
        assert!(
            message.contains("`l2_ttl`: \"2 fortnights\" is not"),
            "{message}"
        );
        let defaults: Service = toml::from_str("port = 1").expect("valid");
        assert_eq!(defaults.cache.l1_max_size, 1000);
    }

    #[test]
    fn a_partial_file_keeps_the_defaults_for_the_rest() {
        let config = from_toml("l1_max_size = 10\nl2_timeout = \"100ms\"\n").expect("valid");
        let expected = CacheConfig {
            l1_max_size: 10,
            l2_timeout: Duration::from_millis(100),
            ..Default::default()
        };
        assert_eq!(format!("{config:?}"), format!("{expected:?}"));
        let empty = from_toml("").expect("valid");
        assert_eq!(
            format!("{empty:?}"),
            format!("{:?}", CacheConfig::default())
        );
    }

    #[test]
    fn redis_url_none_or_empty_means_l1_only_and_absent_means_the_default() {
        for text in [
            "redis_url = \"none\"",
            "redis_url = \"\"",
            "redis_url = \"None\"",
        ] {
            assert_eq!(from_toml(text).expect(text).redis_url, None, "{text}");
        }
        assert_eq!(
            from_toml("name = \"x\"")
                .expect("valid")
                .redis_url
                .as_deref(),
            Some(CacheConfig::DEFAULT_REDIS_URL)
        );
    }

    #[test]
    fn an_unknown_field_is_named() {
        for message in [
            from_toml("l2_timout = \"100ms\"").expect_err("unknown"),
            from_json(r#"{"l2_timout": "100ms"}"#).expect_err("unknown"),
        ] {
            assert!(message.contains("unknown field `l2_timout`"), "{message}");
            assert!(
                message.contains("`l2_timeout`"),
                "lists the fields: {message}"
            );
        }
        let twice = from_json(r#"{"l1_max_size": 1, "l1_max_size": 2}"#).expect_err("twice");
        assert!(twice.contains("duplicate field `l1_max_size`"), "{twice}");
    }

    #[test]
    fn a_bad_value_names_the_field_and_the_value() {
        for (text, field, shown) in [
            ("l2_ttl = \"5 parsecs\"", "l2_ttl", "\"5 parsecs\""),
            ("l2_ttl = 60", "l2_ttl", "60"),
            ("l1_max_size = \"lots\"", "l1_max_size", "\"lots\""),
            ("l1_max_size = -3", "l1_max_size", "-3"),
            ("enable_swr = \"maybe\"", "enable_swr", "\"maybe\""),
            ("ttl_jitter = true", "ttl_jitter", "true"),
            ("soft_timeout = [1, 2]", "soft_timeout", "a list"),
            ("redis_url = 6379", "redis_url", "6379"),
            ("name = { a = 1 }", "name", "a table"),
        ] {
            let message = from_toml(text).expect_err(text);
            assert!(
                message.contains(&format!("`{field}`: {shown} is not")),
                "{message}"
            );
        }
        let message = from_json(r#"{"l2_timeout": "5 parsecs"}"#).expect_err("bad");
        assert!(
            message.contains("`l2_timeout`: \"5 parsecs\" is not a duration such as"),
            "{message}"
        );
    }

    /// A URL with a password in the wrong place: in a field of another type, as the whole
    /// document, or a URL whose own type is wrong. None of the messages shows the password.
    #[test]
    fn a_password_never_appears_in_an_error() {
        let url = "redis://app:hunter2@10.0.0.1:6379";
        for field in [
            "l2_ttl",
            "l1_max_size",
            "ttl_jitter",
            "enable_swr",
            "soft_timeout",
        ] {
            let message = from_json(&format!(r#"{{"{field}": "{url}"}}"#)).expect_err(field);
            assert!(!message.contains("hunter2"), "{message}");
            assert!(
                message.contains("redis://app:***@10.0.0.1:6379"),
                "{message}"
            );
        }
        for document in [
            format!("{url:?}"),
            format!(r#"{{"redis_url": ["{url}"]}}"#),
            format!(r#"{{"redis_url": {{"url": "{url}"}}}}"#),
        ] {
            let message = from_json(&document).expect_err("bad");
            assert!(!message.contains("hunter2"), "{message}");
        }
        // `toml` quotes the offending line of the file in its `Display`, beyond our reach (the
        // CacheConfig docs say so); its `message()` is ours alone.
        for document in [
            format!("l2_ttl = {url:?}"),
            format!("redis_url = [{url:?}]"),
            format!("redis_url = {{ url = {url:?} }}"),
        ] {
            let error = toml::from_str::<CacheConfig>(&document)
                .map(|_| ())
                .expect_err("bad");
            assert!(!error.message().contains("hunter2"), "{}", error.message());
        }
        // A URL that is a string but not a URL fails in `validate`, redacted there.
        let config = from_json(r#"{"redis_url": "app:hunter2@nohost"}"#).expect("a string");
        let message = config.validate().expect_err("not a URL").to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }
}
