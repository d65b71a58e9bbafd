//! What an entry's state is now: the library's freshness model (`engine::entry`) applied to the
//! decoded envelope, plus the clear and tag marks that remove an entry without deleting its key.

use std::collections::HashMap;

use tiered_cache::engine::Stamp;
use tiered_cache::engine::entry::Freshness;
use tiered_cache::engine::envelope::Envelope;

use crate::timefmt;

/// A mark that removed an entry Redis still holds (clears are O(1): a mark, not a delete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    All(Stamp),
    Namespace(Stamp),
    Tag(String, Stamp),
}

/// Where an entry is now, as every instance would judge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Fresh,
    Stale,
    /// Past its ttl, kept as a fail-safe fallback (`fail_safe_max_stale`).
    ExpiredKept,
    Expired,
    /// An invalidation marker (no value).
    Tombstone,
    Removed(Removal),
}

impl State {
    /// A one-word name, for columns and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            State::Fresh => "fresh",
            State::Stale => "stale",
            State::ExpiredKept => "expired-kept",
            State::Expired => "expired",
            State::Tombstone => "tombstone",
            State::Removed(Removal::Tag(..)) => "invalidated",
            State::Removed(_) => "cleared",
        }
    }

    /// A sentence for `inspect`.
    pub fn describe(&self, now_ms: u64) -> String {
        let at = |stamp: &Stamp| timefmt::wall_and_relative(stamp.millis(), now_ms);
        match self {
            State::Fresh => "fresh (served as is)".to_owned(),
            State::Stale => "stale (served while one refresh runs)".to_owned(),
            State::ExpiredKept => {
                "expired-but-kept (fail-safe: served only when the loader fails)".to_owned()
            }
            State::Expired => "expired (a miss; Redis drops it at its TTL)".to_owned(),
            State::Tombstone => {
                "tombstone (invalidated; keeps older in-flight writes out)".to_owned()
            }
            State::Removed(Removal::All(stamp)) => {
                format!("cleared (a miss: clear_all at {})", at(stamp))
            }
            State::Removed(Removal::Namespace(stamp)) => {
                format!("cleared (a miss: namespace cleared at {})", at(stamp))
            }
            State::Removed(Removal::Tag(tag, stamp)) => {
                format!(
                    "invalidated (a miss: tag `{tag}` invalidated at {})",
                    at(stamp)
                )
            }
        }
    }
}

/// The marks that can cover the entries of one namespace; tag marks are filled in as tags are
/// met (`None`: the tag has no mark).
#[derive(Debug, Default)]
pub struct Marks {
    pub all: Option<Stamp>,
    pub namespace: Option<Stamp>,
    pub tags: HashMap<String, Option<Stamp>>,
}

impl Marks {
    /// The first mark that covers an entry created at `created` carrying `tags`.
    fn removal<'t>(
        &self,
        created: Stamp,
        mut tags: impl Iterator<Item = &'t str>,
    ) -> Option<Removal> {
        let covers = |mark: &Option<Stamp>| mark.filter(|at| created.is_covered_by(*at));
        if let Some(at) = covers(&self.all) {
            return Some(Removal::All(at));
        }
        if let Some(at) = covers(&self.namespace) {
            return Some(Removal::Namespace(at));
        }
        tags.find_map(|tag| {
            let at = covers(self.tags.get(tag)?)?;
            Some(Removal::Tag(tag.to_owned(), at))
        })
    }
}

/// The state of `entry` at `now_ms` (stale windows counted as with `enable_swr` on, the
/// library's default).
pub fn state(entry: &Envelope<'_>, marks: &Marks, now_ms: u64) -> State {
    if entry.tombstone {
        return State::Tombstone;
    }
    if let Some(removal) = marks.removal(entry.meta.created, entry.tags()) {
        return State::Removed(removal);
    }
    match entry.meta.freshness(now_ms, true) {
        Freshness::Fresh => State::Fresh,
        Freshness::Stale => State::Stale,
        Freshness::Expired if entry.meta.is_kept(now_ms) => State::ExpiredKept,
        Freshness::Expired => State::Expired,
    }
}

/// A Redis `PTTL` reply as words.
pub fn redis_ttl(pttl: i64) -> String {
    match pttl {
        -2 => "none (the key is gone)".to_owned(),
        -1 => "none (no expiry set)".to_owned(),
        ms => timefmt::span(u64::try_from(ms).unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tiered_cache::CodecKind;
    use tiered_cache::engine::entry::EntryMeta;
    use tiered_cache::engine::envelope;

    fn bytes(created_ms: u64, grace: Duration, tags: &[&str]) -> Vec<u8> {
        let meta = EntryMeta::new(
            Stamp::from_millis(created_ms),
            created_ms,
            Duration::from_secs(10),
            Duration::from_secs(4),
            grace,
        );
        envelope::encode_value(
            &"v".to_owned(),
            CodecKind::MessagePack,
            &meta,
            tags,
            1 << 20,
        )
        .expect("encodes")
    }

    #[test]
    fn follows_the_librarys_timeline() {
        let stored = bytes(1_000, Duration::from_secs(5), &[]);
        let entry = envelope::decode(&stored).expect("decodes");
        let marks = Marks::default();
        assert_eq!(state(&entry, &marks, 1_000), State::Fresh);
        assert_eq!(state(&entry, &marks, 7_000), State::Stale);
        assert_eq!(state(&entry, &marks, 11_000), State::ExpiredKept);
        assert_eq!(state(&entry, &marks, 16_000), State::Expired);
    }

    #[test]
    fn marks_at_or_after_creation_remove_it() {
        let stored = bytes(1_000, Duration::ZERO, &["team:1", "x"]);
        let entry = envelope::decode(&stored).expect("decodes");
        let mut marks = Marks {
            namespace: Some(Stamp::from_millis(999)),
            ..Marks::default()
        };
        assert_eq!(state(&entry, &marks, 1_000), State::Fresh, "an older mark");
        marks
            .tags
            .insert("x".to_owned(), Some(Stamp::from_millis(1_000)));
        assert_eq!(
            state(&entry, &marks, 1_000),
            State::Removed(Removal::Tag("x".to_owned(), Stamp::from_millis(1_000)))
        );
        marks.all = Some(Stamp::from_millis(2_000));
        assert_eq!(state(&entry, &marks, 1_000).name(), "cleared");
    }

    #[test]
    fn ttl_replies_read_as_words() {
        assert_eq!(redis_ttl(-2), "none (the key is gone)");
        assert_eq!(redis_ttl(-1), "none (no expiry set)");
        assert_eq!(redis_ttl(1_500), "1s 500ms");
    }
}
