//! The one list of the `CacheConfig` fields that a file or the environment sets, and how a value
//! written as text (or as a file's number, boolean or null) becomes each field's type. Files
//! (`de`) and environment variables (`env`) both go through it, so both accept the same
//! spellings and give the same messages.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use super::CacheConfig;
use crate::codec::CodecKind;
use crate::redact::redact_url;

/// A value as a file or a variable wrote it, before it gets the field's type.
#[derive(Clone, Debug, PartialEq)]
// Variables are always text; the other kinds come from files (feature `serde`).
#[cfg_attr(not(feature = "serde"), allow(dead_code))]
pub(crate) enum Raw<'a> {
    Text(Cow<'a, str>),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    /// A file's null (JSON `null`, YAML `~`).
    Null,
    /// Something no field takes (a list, a table): what it is.
    Other(&'static str),
}

impl Raw<'_> {
    /// The value as an error message shows it: text with any credentials redacted.
    pub(crate) fn shown(&self) -> String {
        match self {
            Raw::Text(text) => format!("{:?}", redact_url(text)),
            Raw::Unsigned(n) => n.to_string(),
            Raw::Signed(n) => n.to_string(),
            Raw::Float(x) => x.to_string(),
            Raw::Bool(b) => b.to_string(),
            Raw::Null => "null".to_owned(),
            Raw::Other(what) => (*what).to_owned(),
        }
    }

    /// Whether showing this value as it is would show a credential.
    fn has_secret(&self) -> bool {
        matches!(self, Raw::Text(text) if redact_url(text) != **text)
    }

    /// The text of a value, trimmed, when it is text.
    fn text(&self) -> Option<&str> {
        match self {
            Raw::Text(text) => Some(text.trim()),
            _ => None,
        }
    }

    /// Whether this value means "none": a null, an empty text or `none` (any case).
    fn is_none_word(&self) -> bool {
        match self {
            Raw::Null => true,
            Raw::Text(_) => self
                .text()
                .is_some_and(|t| t.is_empty() || t.eq_ignore_ascii_case("none")),
            _ => false,
        }
    }
}

/// Why a value does not fit a field.
#[derive(Debug)]
pub(crate) struct Invalid {
    expected: &'static str,
    detail: Option<String>,
}

impl Invalid {
    fn new(expected: &'static str) -> Self {
        Invalid {
            expected,
            detail: None,
        }
    }

    fn because(expected: &'static str, detail: impl ToString) -> Self {
        Invalid {
            expected,
            detail: Some(detail.to_string()),
        }
    }

    /// `"5 parsecs" is not a duration such as ... (unknown time unit ...)`: the value
    /// (redacted), what was expected, and why when the parser said (left out when the value held
    /// a credential, since the parser's words may quote it).
    pub(crate) fn message(&self, raw: &Raw<'_>) -> String {
        let mut message = format!("{} is not {}", raw.shown(), self.expected);
        if let Some(detail) = self.detail.as_deref().filter(|_| !raw.has_secret()) {
            message.push_str(&format!(" ({detail})"));
        }
        message
    }
}

/// A field's type, read from a [`Raw`] value.
pub(crate) trait FromRaw: Sized {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid>;
}

const WHOLE_NUMBER: &str = "a whole number (0 or more)";

fn whole_number(raw: &Raw<'_>) -> Result<u64, Invalid> {
    match raw {
        Raw::Unsigned(n) => Ok(*n),
        Raw::Signed(n) => u64::try_from(*n).map_err(|_| Invalid::new(WHOLE_NUMBER)),
        Raw::Text(_) => raw
            .text()
            .unwrap_or_default()
            .parse()
            .map_err(|e| Invalid::because(WHOLE_NUMBER, e)),
        _ => Err(Invalid::new(WHOLE_NUMBER)),
    }
}

impl FromRaw for usize {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        let n = whole_number(raw)?;
        usize::try_from(n).map_err(|_| Invalid::because(WHOLE_NUMBER, "too large"))
    }
}

impl FromRaw for u32 {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        let n = whole_number(raw)?;
        u32::try_from(n).map_err(|_| Invalid::because(WHOLE_NUMBER, "too large"))
    }
}

impl FromRaw for f64 {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        const NUMBER: &str = "a number such as 0.1";
        match raw {
            Raw::Float(x) => Ok(*x),
            // Whole numbers in a file (`ttl_jitter = 0`) are numbers too.
            #[allow(clippy::cast_precision_loss)]
            Raw::Unsigned(n) => Ok(*n as f64),
            #[allow(clippy::cast_precision_loss)]
            Raw::Signed(n) => Ok(*n as f64),
            Raw::Text(_) => raw
                .text()
                .unwrap_or_default()
                .parse()
                .map_err(|e| Invalid::because(NUMBER, e)),
            _ => Err(Invalid::new(NUMBER)),
        }
    }
}

impl FromRaw for bool {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        const BOOLEAN: &str = "a boolean (true or false)";
        match raw {
            Raw::Bool(b) => Ok(*b),
            Raw::Text(_) => match raw.text().unwrap_or_default() {
                t if t.eq_ignore_ascii_case("true") || t == "1" => Ok(true),
                t if t.eq_ignore_ascii_case("false") || t == "0" => Ok(false),
                _ => Err(Invalid::new(BOOLEAN)),
            },
            _ => Err(Invalid::new(BOOLEAN)),
        }
    }
}

const DURATION: &str = r#"a duration such as "250ms", "5m" or "1h 30m""#;

impl FromRaw for Duration {
    /// Only text with units: a bare number (`l2_ttl = 60`) would leave the unit to guess.
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        let text = raw.text().ok_or_else(|| Invalid::new(DURATION))?;
        humantime::parse_duration(text).map_err(|e| Invalid::because(DURATION, e))
    }
}

impl FromRaw for Option<Duration> {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        const OPTIONAL_DURATION: &str =
            r#"a duration such as "250ms", "5m" or "1h 30m", or "none""#;
        if raw.is_none_word() {
            return Ok(None);
        }
        Duration::from_raw(raw).map(Some).map_err(|e| Invalid {
            expected: OPTIONAL_DURATION,
            ..e
        })
    }
}

/// `l1_max_bytes`: a count, or `"none"`/null for no byte bound.
impl FromRaw for Option<usize> {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        if raw.is_none_word() {
            return Ok(None);
        }
        usize::from_raw(raw).map(Some).map_err(|e| Invalid {
            expected: r#"a whole number, or "none""#,
            ..e
        })
    }
}

impl FromRaw for String {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        match raw {
            Raw::Text(text) => Ok(text.clone().into_owned()),
            _ => Err(Invalid::new("a string")),
        }
    }
}

/// `redis_url`: a URL, or `""`/`"none"`/null for L1 only. The URL's form is checked by
/// `validate` (and by the backend), not here, so a file and a struct literal get the same rule.
impl FromRaw for Option<String> {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        if raw.is_none_word() {
            return Ok(None);
        }
        match raw.text() {
            Some(url) => Ok(Some(url.to_owned())),
            None => Err(Invalid::new(
                r#"a URL such as "redis://host:6379", or "none""#,
            )),
        }
    }
}

impl FromRaw for Option<PathBuf> {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        if raw.is_none_word() {
            return Ok(None);
        }
        match raw {
            Raw::Text(path) => Ok(Some(PathBuf::from(path.as_ref()))),
            _ => Err(Invalid::new(r#"a file path, or "none""#)),
        }
    }
}

/// `codec`: a codec's name (`msgpack`, `postcard`, `json`, `bincode`).
impl FromRaw for CodecKind {
    fn from_raw(raw: &Raw<'_>) -> Result<Self, Invalid> {
        const CODEC: &str = r#"a codec: "msgpack", "postcard", "json" or "bincode""#;
        let text = raw.text().ok_or_else(|| Invalid::new(CODEC))?;
        text.parse().map_err(|_| Invalid::new(CODEC))
    }
}

/// One settable field.
pub(crate) struct Field {
    pub(crate) name: &'static str,
    set: fn(&mut CacheConfig, &Raw<'_>) -> Result<(), Invalid>,
}

impl Field {
    /// Sets the field from `raw`; the error message shows the value redacted.
    pub(crate) fn set(&self, config: &mut CacheConfig, raw: &Raw<'_>) -> Result<(), String> {
        (self.set)(config, raw).map_err(|invalid| invalid.message(raw))
    }

    /// The environment variable of this field: the prefix, then the name in upper case.
    pub(crate) fn env_var(&self) -> String {
        format!(
            "{}{}",
            CacheConfig::ENV_PREFIX,
            self.name.to_ascii_uppercase()
        )
    }
}

/// The field called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|field| field.name == name)
}

/// Declares the field list once; the table, the names and a compile-time check that the list
/// is complete all come from it.
macro_rules! fields {
    ($($name:ident),* $(,)?) => {
        /// Every field, in declaration order.
        pub(crate) const FIELDS: &[Field] = &[$(Field {
            name: stringify!($name),
            set: |config, raw| {
                config.$name = FromRaw::from_raw(raw)?;
                Ok(())
            },
        }),*];

        /// The names of [`FIELDS`].
        pub(crate) const FIELD_NAMES: &[&str] = &[$(stringify!($name)),*];

        /// Does not compile when `CacheConfig` has a field the list lacks: a new field cannot be
        /// left out of files and the environment.
        #[allow(dead_code)]
        fn every_field_is_listed(config: CacheConfig) {
            let CacheConfig { $($name: _),* } = config;
        }
    };
}

fields!(
    name,
    l1_max_size,
    l1_max_bytes,
    l1_ttl,
    l2_ttl,
    stale_while_revalidate_window,
    enable_swr,
    background_refresh,
    redis_url,
    redis_tls_ca_file,
    key_prefix,
    l2_timeout,
    connect_timeout,
    require_l2_at_startup,
    redis_pool_size,
    max_value_size,
    codec,
    circuit_breaker_threshold,
    circuit_breaker_cooldown,
    sync_interval,
    invalidation_tombstone_ttl,
    backplane,
    distributed_locks,
    lock_ttl,
    lock_wait,
    fail_safe,
    fail_safe_max_stale,
    fail_safe_throttle,
    soft_timeout,
    hard_timeout,
    ttl_jitter,
    tag_ttl,
    metrics_namespaces,
    max_ttl,
);

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Raw<'_> {
        Raw::Text(Cow::Borrowed(s))
    }

    fn set(name: &str, raw: &Raw<'_>) -> Result<CacheConfig, String> {
        let mut config = CacheConfig::default();
        find(name).expect("a field").set(&mut config, raw)?;
        Ok(config)
    }

    /// The list, `Debug` and the struct agree: `Debug` is written by hand, so it could miss a
    /// field the list (checked against the struct at compile time) has.
    #[test]
    fn the_list_names_every_field_in_debug_order() {
        let debug = format!("{:#?}", CacheConfig::default());
        let debug_names: Vec<&str> = debug
            .lines()
            .filter_map(|line| line.strip_prefix("    ")?.split_once(": ").map(|(n, _)| n))
            .collect();
        assert_eq!(debug_names, FIELD_NAMES);
        assert_eq!(FIELDS.len(), FIELD_NAMES.len());
    }

    #[test]
    fn each_kind_reads_text_and_file_values() {
        assert_eq!(
            set("l1_max_size", &text(" 5000 ")).map(|c| c.l1_max_size),
            Ok(5000)
        );
        assert_eq!(
            set("l1_max_size", &Raw::Signed(7)).map(|c| c.l1_max_size),
            Ok(7)
        );
        assert!(set("l1_max_size", &Raw::Signed(-1)).is_err());
        assert!(set("circuit_breaker_threshold", &Raw::Unsigned(1 << 40)).is_err());
        assert_eq!(
            set("ttl_jitter", &text("0.25")).map(|c| c.ttl_jitter),
            Ok(0.25)
        );
        assert_eq!(
            set("ttl_jitter", &Raw::Unsigned(0)).map(|c| c.ttl_jitter),
            Ok(0.0)
        );
        assert_eq!(
            set("backplane", &text("FALSE")).map(|c| c.backplane),
            Ok(false)
        );
        assert_eq!(set("backplane", &text("1")).map(|c| c.backplane), Ok(true));
        assert!(set("backplane", &text("yes")).is_err());
        assert_eq!(
            set("l2_ttl", &text("1h 30m")).map(|c| c.l2_ttl),
            Ok(Duration::from_secs(5400))
        );
        assert!(
            set("l2_ttl", &Raw::Unsigned(60)).is_err(),
            "a unit is required"
        );
        for none in [text(""), text("none"), text("NONE"), Raw::Null] {
            assert_eq!(set("soft_timeout", &none).map(|c| c.soft_timeout), Ok(None));
            assert_eq!(set("redis_url", &none).map(|c| c.redis_url), Ok(None));
            assert_eq!(
                set("redis_tls_ca_file", &none).map(|c| c.redis_tls_ca_file),
                Ok(None)
            );
        }
        assert_eq!(
            set("hard_timeout", &text("2s")).map(|c| c.hard_timeout),
            Ok(Some(Duration::from_secs(2)))
        );
        assert_eq!(
            set("codec", &text(" Postcard ")).map(|c| c.codec),
            Ok(CodecKind::Postcard)
        );
        assert_eq!(
            set("codec", &text("msgpack")).map(|c| c.codec),
            Ok(CodecKind::MessagePack)
        );
        assert_eq!(
            set("codec", &text("yaml")).map(|c| c.codec),
            Err(r#""yaml" is not a codec: "msgpack", "postcard", "json" or "bincode""#.to_owned())
        );
        assert!(set("codec", &Raw::Unsigned(2)).is_err());
        assert!(set("name", &Raw::Unsigned(3)).is_err());
        assert!(set("redis_url", &Raw::Bool(true)).is_err());
    }

    #[test]
    fn a_message_shows_the_value_and_what_was_expected() {
        let message = set("l2_timeout", &text("5 parsecs")).expect_err("bad");
        assert!(
            message.starts_with(r#""5 parsecs" is not a duration such as"#),
            "{message}"
        );
        assert!(message.contains("parsecs\""), "{message}");
        let message = set("enable_swr", &Raw::Other("a sequence")).expect_err("bad");
        assert_eq!(message, "a sequence is not a boolean (true or false)");
    }

    #[test]
    fn a_message_never_shows_a_password() {
        for field in [
            "l2_ttl",
            "l1_max_size",
            "ttl_jitter",
            "backplane",
            "soft_timeout",
        ] {
            let message = set(field, &text("redis://app:hunter2@10.0.0.1:6379")).expect_err(field);
            assert!(!message.contains("hunter2"), "{message}");
            assert!(
                message.contains("redis://app:***@10.0.0.1:6379"),
                "{message}"
            );
        }
        // The duration parser quotes the unit it did not know, here part of the password.
        let message = set("l2_ttl", &text("5hunter2@host")).expect_err("bad");
        assert!(!message.contains("hunter2"), "{message}");
    }
}
