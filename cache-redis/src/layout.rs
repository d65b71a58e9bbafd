//! Where things live in Redis. Every key starts with the configured prefix, so `clear_all` and
//! operators (`redis-cli --scan --pattern 'tc:*'`) find exactly this cache's keys.
//!
//! ```text
//! tc:users:user:123     an entry: prefix, namespace, user key (spread over cluster slots by
//!                       the whole key; a user key with `{...}` picks its own slot)
//! tc:{#clears}          hash of clear marks: field `*` (clear_all) and `ns:<namespace>`
//! tc:{#clears}:log      the same fields by the Redis time each was last set (a sorted set),
//!                       so instances read only new marks and forget old ones (one slot)
//! tc:{#clears}:tags     the tag marks by the Redis time each may be forgotten (a sorted set
//!                       of `<stamp>:<tag>`; `tag_ttl` after it was set)
//! tc:#tag:<tag>         the invalidation mark of a tag: no TTL, so no `volatile-*` eviction
//!                       drops it early; deleted once its log entry is due
//! tc:#lock:{tc:<ns>:<key>}
//!                       the load lock of an entry (expires after `lock_ttl`): the braces put
//!                       it in its entry's cluster slot, so one script takes the lock and reads
//!                       the entry; a user key with `}` in it keeps `tc:#lock:<ns>:<key>`
//!                       (see [`Layout::lock_shares_slot`])
//! tc:#bus               the pub/sub channel of the backplane
//! ```
//! Namespaces and prefixes cannot contain `:` or `#`, so no entry key collides with another or
//! with the bookkeeping keys, and [`Layout::parse`] can tell every key of the cache apart.
//!
//! A mark (a clear mark's hash value, a tag mark's value) is its [`Stamp`] as 16 lowercase hex
//! digits ([`mark_value`], [`parse_mark`]), so Lua scripts compare marks as strings. An entry
//! created at or before a mark that covers it is gone ([`Stamp::is_covered_by`]), whatever Redis
//! still holds under its key.
//!
//! ```
//! use tiered_cache_redis::layout::{Layout, RedisKey};
//!
//! let layout = Layout::new("tc");
//! let key = layout.entry("products", "product:42");
//! assert_eq!(key, "tc:products:product:42");
//! assert_eq!(
//!     layout.parse(&key),
//!     Some(RedisKey::Entry { namespace: "products", key: "product:42" })
//! );
//! assert_eq!(layout.lock("products", "p:1"), "tc:#lock:{tc:products:p:1}");
//! assert_eq!(layout.parse("tc:#lock:{tc:products:p:1}"), Some(RedisKey::Lock { namespace: "products", key: "p:1" }));
//! assert_eq!(layout.parse("other:products:product:42"), None); // not this cache's
//! ```

use tiered_cache_core::Stamp;
use tiered_cache_core::keys::validate_namespace;

/// Builds (and parses) the Redis keys of one cache.
#[derive(Clone, Debug)]
pub struct Layout {
    prefix: String,
}

/// The clear-marks hash field of `clear_all`.
pub(crate) const ALL_FIELD: &str = "*";
/// The clear-marks hash field prefix of `clear_namespace`.
pub(crate) const NAMESPACE_FIELD_PREFIX: &str = "ns:";

const CLEARS: &str = "{#clears}";
const CLEARS_LOG: &str = "{#clears}:log";
const TAG_LOG: &str = "{#clears}:tags";
const TAG: &str = "#tag:";
const LOCK: &str = "#lock:";
const BUS: &str = "#bus";

/// What a Redis key under a cache's prefix is (see [`Layout::parse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisKey<'a> {
    /// An entry (a value or an invalidation marker).
    Entry {
        /// Its namespace.
        namespace: &'a str,
        /// The user key.
        key: &'a str,
    },
    /// The hash of clear marks ([`Layout::clears`]).
    ClearMarks,
    /// The log of the clear marks ([`Layout::clears_log`]).
    ClearLog,
    /// The log of the tag marks ([`Layout::tag_log`]).
    TagLog,
    /// The invalidation mark of a tag ([`Layout::tag`]).
    TagMark {
        /// The tag.
        tag: &'a str,
    },
    /// The load lock of an entry ([`Layout::lock`]).
    Lock {
        /// The entry's namespace.
        namespace: &'a str,
        /// The entry's key.
        key: &'a str,
    },
}

impl RedisKey<'_> {
    /// True for everything but entries: the keys the cache keeps for its own coordination.
    pub fn is_bookkeeping(&self) -> bool {
        !matches!(self, RedisKey::Entry { .. })
    }
}

impl Layout {
    /// The layout of a cache with `key_prefix = prefix`.
    pub fn new(prefix: &str) -> Self {
        Layout {
            prefix: prefix.to_owned(),
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of an entry.
    pub fn entry(&self, namespace: &str, key: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + namespace.len() + key.len() + 2);
        out.push_str(&self.prefix);
        out.push(':');
        out.push_str(namespace);
        out.push(':');
        out.push_str(key);
        out
    }

    /// A `SCAN ... MATCH` pattern for the entries of `namespace` (and nothing else).
    ///
    /// ```
    /// # use tiered_cache_redis::layout::Layout;
    /// assert_eq!(Layout::new("tc").namespace_pattern("users"), "tc:users:*");
    /// ```
    pub fn namespace_pattern(&self, namespace: &str) -> String {
        format!("{}:{}:*", glob_escape(&self.prefix), glob_escape(namespace))
    }

    /// A `SCAN ... MATCH` pattern for every key of this cache (entries and bookkeeping).
    pub fn all_pattern(&self) -> String {
        format!("{}:*", glob_escape(&self.prefix))
    }

    /// The hash holding clear marks.
    pub fn clears(&self) -> String {
        format!("{}:{CLEARS}", self.prefix)
    }

    /// The field of the clear-marks hash that holds the mark of `clear_namespace(namespace)`,
    /// or of `clear_all()` with `None`.
    pub fn clear_field(namespace: Option<&str>) -> String {
        match namespace {
            Some(namespace) => format!("{NAMESPACE_FIELD_PREFIX}{namespace}"),
            None => ALL_FIELD.to_owned(),
        }
    }

    /// The log of the clear marks (same cluster slot as the hash, for one script).
    pub fn clears_log(&self) -> String {
        format!("{}:{CLEARS_LOG}", self.prefix)
    }

    /// The log of the tag marks, by when each may be forgotten (in the clear marks' slot, so the
    /// sync reads both in one place).
    pub fn tag_log(&self) -> String {
        format!("{}:{TAG_LOG}", self.prefix)
    }

    /// The invalidation mark of a tag.
    pub fn tag(&self, tag: &str) -> String {
        format!("{}:{TAG}{tag}", self.prefix)
    }

    /// The load lock of an entry: `<prefix>:#lock:{<entry key>}`, whose hash tag is the whole
    /// entry key, so that on a Cluster the lock lives in the entry's slot and one script can take
    /// the lock and read the entry, or write the entry and release the lock. A user key holding
    /// `}` would cut that tag short: its lock is `<prefix>:#lock:<namespace>:<key>`, which still
    /// shares the slot when the key has a hash tag of its own (see
    /// [`lock_shares_slot`](Self::lock_shares_slot)).
    ///
    /// ```
    /// # use tiered_cache_redis::layout::Layout;
    /// let layout = Layout::new("tc");
    /// assert_eq!(layout.lock("users", "user:1"), "tc:#lock:{tc:users:user:1}");
    /// assert_eq!(layout.lock("users", "{team:7}:1"), "tc:#lock:users:{team:7}:1");
    /// ```
    pub fn lock(&self, namespace: &str, key: &str) -> String {
        if key.contains('}') {
            format!("{}:{LOCK}{namespace}:{key}", self.prefix)
        } else {
            format!("{0}:{LOCK}{{{0}:{namespace}:{key}}}", self.prefix)
        }
    }

    /// Whether the load lock of the entry under user key `key` is in the entry's cluster slot: always, except for a
    /// user key that holds `}` but no hash tag of its own (`a}b`, `x{}y}`), whose lock and
    /// entry are hashed whole, each by itself. Where this is false, a Cluster takes the lock and
    /// reads the entry in two round trips (and writes, then unlocks, in two).
    ///
    /// ```
    /// # use tiered_cache_redis::layout::Layout;
    /// let layout = Layout::new("tc");
    /// assert!(layout.lock_shares_slot("user:1"));
    /// assert!(layout.lock_shares_slot("{team:7}:1"));
    /// assert!(!layout.lock_shares_slot("odd}key"));
    /// ```
    pub fn lock_shares_slot(&self, key: &str) -> bool {
        // Prefix and namespace hold no braces, so the entry key's hash tag is the user key's.
        !key.contains('}') || hash_tag(key).is_some()
    }

    /// The backplane channel.
    pub fn bus(&self) -> String {
        format!("{}:{BUS}", self.prefix)
    }

    /// Whether `redis_key` is under this cache's prefix (`<prefix>:`): the keys a tool acting
    /// for this cache may touch, whether or not [`Layout::parse`] knows them.
    ///
    /// ```
    /// # use tiered_cache_redis::layout::Layout;
    /// let layout = Layout::new("tc");
    /// assert!(layout.owns(b"tc:anything"));
    /// assert!(!layout.owns(b"tcx:users:1"));
    /// ```
    pub fn owns(&self, redis_key: &[u8]) -> bool {
        redis_key
            .strip_prefix(self.prefix.as_bytes())
            .is_some_and(|rest| rest.first() == Some(&b':'))
    }

    /// What `redis_key` is to this cache; `None` when it is not one of its keys (another
    /// prefix, or a key under this prefix that the cache never writes).
    pub fn parse<'k>(&self, redis_key: &'k str) -> Option<RedisKey<'k>> {
        let rest = redis_key
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(':')?;
        match rest {
            CLEARS => return Some(RedisKey::ClearMarks),
            CLEARS_LOG => return Some(RedisKey::ClearLog),
            TAG_LOG => return Some(RedisKey::TagLog),
            _ => {}
        }
        if let Some(tag) = rest.strip_prefix(TAG) {
            return (!tag.is_empty()).then_some(RedisKey::TagMark { tag });
        }
        if let Some(lock) = rest.strip_prefix(LOCK) {
            let (namespace, key) = match lock.strip_prefix('{') {
                // A namespace never starts with `{`: this is the braced form, whose key has no `}`.
                Some(braced) => {
                    let entry = braced
                        .strip_suffix('}')?
                        .strip_prefix(self.prefix.as_str())?
                        .strip_prefix(':')?;
                    split_entry(entry).filter(|(_, key)| !key.contains('}'))?
                }
                None => split_entry(lock).filter(|(_, key)| key.contains('}'))?,
            };
            return Some(RedisKey::Lock { namespace, key });
        }
        let (namespace, key) = split_entry(rest)?;
        Some(RedisKey::Entry { namespace, key })
    }
}

/// `<namespace>:<key>`, with a namespace the cache accepts and a non-empty key.
fn split_entry(joined: &str) -> Option<(&str, &str)> {
    let (namespace, key) = joined.split_once(':')?;
    (validate_namespace(namespace).is_ok() && !key.is_empty()).then_some((namespace, key))
}

/// The hash tag of a Redis key, as Cluster picks a slot by: what lies between the first `{` and
/// the first `}` after it, when that is not empty.
fn hash_tag(key: &str) -> Option<&str> {
    let (_, after) = key.split_once('{')?;
    let (tag, _) = after.split_once('}')?;
    (!tag.is_empty()).then_some(tag)
}

/// Escapes the glob characters of `SCAN MATCH` (valid prefixes and namespaces have none; this
/// keeps a pattern literal whatever it is given).
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// How a mark's stamp is stored: 16 lowercase hex digits (big-endian order, so the Lua scripts
/// compare marks as strings).
///
/// ```
/// # use tiered_cache_core::Stamp;
/// # use tiered_cache_redis::layout::{mark_value, parse_mark};
/// let at = Stamp::from_raw(0x0196_0000_0000_0001);
/// assert_eq!(mark_value(at), "0196000000000001");
/// assert_eq!(parse_mark(&mark_value(at)), Some(at));
/// ```
pub fn mark_value(stamp: Stamp) -> String {
    format!("{:016x}", stamp.raw())
}

/// The stamp of a stored mark; `None` when it is not one.
pub fn parse_mark(value: &str) -> Option<Stamp> {
    if value.len() != 16 {
        return None;
    }
    u64::from_str_radix(value, 16).ok().map(Stamp::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_readable_and_unambiguous() {
        let layout = Layout::new("tc");
        assert_eq!(
            layout.entry("products", "product:42"),
            "tc:products:product:42"
        );
        assert_ne!(layout.entry("a", "b:c"), layout.entry("b", "c"));
        assert_eq!(layout.clears(), "tc:{#clears}");
        assert_eq!(layout.clears_log(), "tc:{#clears}:log");
        assert_eq!(layout.tag("team:1"), "tc:#tag:team:1");
        assert_eq!(layout.lock("products", "p:1"), "tc:#lock:{tc:products:p:1}");
        assert_eq!(layout.lock("products", "p}1"), "tc:#lock:products:p}1");
        assert_eq!(layout.bus(), "tc:#bus");
        assert_eq!(Layout::clear_field(None), "*");
        assert_eq!(Layout::clear_field(Some("users")), "ns:users");
    }

    /// Every key the layout builds parses back to what built it.
    #[test]
    fn every_key_parses_back() {
        let layout = Layout::new("tc");
        let entry = layout.entry("users", "user:1:{x}");
        let lock = layout.lock("users", "user:1");
        let tag = layout.tag("team:7");
        let (clears, log, tags) = (layout.clears(), layout.clears_log(), layout.tag_log());
        let cases = [
            (
                entry.as_str(),
                RedisKey::Entry {
                    namespace: "users",
                    key: "user:1:{x}",
                },
            ),
            (
                lock.as_str(),
                RedisKey::Lock {
                    namespace: "users",
                    key: "user:1",
                },
            ),
            (tag.as_str(), RedisKey::TagMark { tag: "team:7" }),
            (clears.as_str(), RedisKey::ClearMarks),
            (log.as_str(), RedisKey::ClearLog),
            (tags.as_str(), RedisKey::TagLog),
        ];
        for (key, expected) in cases {
            assert_eq!(layout.parse(key), Some(expected), "{key}");
            assert_eq!(
                expected.is_bookkeeping(),
                !matches!(expected, RedisKey::Entry { .. })
            );
        }
    }

    #[test]
    fn keys_of_others_are_not_parsed() {
        let layout = Layout::new("tc");
        for key in [
            "tcx:users:1",
            "other:users:1",
            "tc",
            "tc:",
            "tc:users",
            "tc:users:",
            "tc:bad ns:1",
            "tc:#bus",
            "tc:#tag:",
            "tc:#lock:users",
            "tc:#lock:users:no-brace",
            "tc:#lock:{tc:users}",
            "tc:#lock:{tc:users:a}b}",
            "tc:#lock:{other:users:1}",
            "tc:#lock:{tc:users:1",
            "tc:{#clears}:other",
        ] {
            assert_eq!(layout.parse(key), None, "{key}");
        }
    }

    proptest::proptest! {
        /// The lock is where `lock_shares_slot` says, by the slot Redis Cluster computes; and
        /// every lock parses back, braces, `{` and `}` in the user key included.
        #[test]
        fn a_lock_shares_its_entrys_slot_when_the_layout_says_so(
            namespace in "[a-z_.-]{1,8}",
            key in "[a-c{}:]{1,12}",
        ) {
            let layout = Layout::new("tc");
            let entry = layout.entry(&namespace, &key);
            let lock = layout.lock(&namespace, &key);
            let same = fred::util::redis_keyslot(entry.as_bytes())
                == fred::util::redis_keyslot(lock.as_bytes());
            proptest::prop_assert_eq!(same, layout.lock_shares_slot(&key), "{} {}", entry, lock);
            proptest::prop_assert_eq!(
                layout.parse(&lock),
                Some(RedisKey::Lock { namespace: &namespace, key: &key })
            );
            proptest::prop_assert_eq!(
                layout.parse(&entry),
                Some(RedisKey::Entry { namespace: &namespace, key: &key })
            );
        }
    }

    #[test]
    fn patterns_match_only_this_cache() {
        let layout = Layout::new("tc");
        assert_eq!(layout.namespace_pattern("users"), "tc:users:*");
        assert_eq!(layout.all_pattern(), "tc:*");
        assert_eq!(Layout::new("a*b").all_pattern(), "a\\*b:*");
    }

    #[test]
    fn marks_round_trip_and_reject_garbage() {
        let at = Stamp::from_raw(u64::MAX - 7);
        assert_eq!(parse_mark(&mark_value(at)), Some(at));
        assert_eq!(mark_value(Stamp::from_raw(1)), "0000000000000001");
        for bad in ["", "12", "zzzzzzzzzzzzzzzz", "00000000000000001"] {
            assert_eq!(parse_mark(bad), None, "{bad}");
        }
    }
}
