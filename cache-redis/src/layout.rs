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
//! tc:#lock:<ns>:<key>   the load lock of an entry (expires after `lock_ttl`)
//! tc:#bus               the pub/sub channel of the backplane
//! ```
//! Namespaces and prefixes cannot contain `:` or `#`, so no entry key collides with another or
//! with the bookkeeping keys.

/// Builds the Redis keys of one cache.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    prefix: String,
}

/// The clear-marks hash field of `clear_all`.
pub(crate) const ALL_FIELD: &str = "*";
/// The clear-marks hash field prefix of `clear_namespace`.
pub(crate) const NAMESPACE_FIELD_PREFIX: &str = "ns:";

impl Layout {
    pub(crate) fn new(prefix: &str) -> Self {
        Layout {
            prefix: prefix.to_owned(),
        }
    }

    /// The key of an entry.
    pub(crate) fn entry(&self, namespace: &str, key: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + namespace.len() + key.len() + 2);
        out.push_str(&self.prefix);
        out.push(':');
        out.push_str(namespace);
        out.push(':');
        out.push_str(key);
        out
    }

    /// The hash holding clear marks.
    pub(crate) fn clears(&self) -> String {
        format!("{}:{{#clears}}", self.prefix)
    }

    /// The log of the clear marks (same cluster slot as the hash, for one script).
    pub(crate) fn clears_log(&self) -> String {
        format!("{}:{{#clears}}:log", self.prefix)
    }

    /// The log of the tag marks, by when each may be forgotten (in the clear marks' slot, so the
    /// sync reads both in one place).
    pub(crate) fn tag_log(&self) -> String {
        format!("{}:{{#clears}}:tags", self.prefix)
    }

    /// The invalidation mark of a tag.
    pub(crate) fn tag(&self, tag: &str) -> String {
        format!("{}:#tag:{tag}", self.prefix)
    }

    /// The load lock of an entry.
    pub(crate) fn lock(&self, namespace: &str, key: &str) -> String {
        format!("{}:#lock:{namespace}:{key}", self.prefix)
    }

    /// The backplane channel.
    pub(crate) fn bus(&self) -> String {
        format!("{}:#bus", self.prefix)
    }
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
        assert_eq!(layout.lock("products", "p:1"), "tc:#lock:products:p:1");
        assert_eq!(layout.bus(), "tc:#bus");
    }
}
