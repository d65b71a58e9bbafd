//! What to say about an option `#[cached]` does not have: the option a misspelling most
//! likely meant, or where the job of another caching macro's option is done here.

/// Options of other caching macros whose job is done elsewhere here, and where.
pub(crate) fn elsewhere(name: &str) -> Option<&'static str> {
    Some(match name {
        "size" | "max_size" => {
            "the cache bounds its L1 as a whole (`CacheConfig::l1_max_size`); Redis holds the rest"
        }
        "name" => "each function's entries are named by its key and namespace (`namespace = ...`)",
        "sync_writes" | "sync_writes_buckets" | "sync_lock" | "unsync_reads" => {
            "concurrent calls with the same key always share one run of the body, across \
             instances too; reads take no lock"
        }
        "time_refresh" => {
            "an entry lives its ttl from when it was loaded; `refresh` here is the background \
             refresh of stale entries (`refresh = false` turns it off)"
        }
        "result_fallback" => {
            "when the body fails, the previous value is served (fail-safe, \
             `CacheConfig::fail_safe`, on by default)"
        }
        "with_cached_flag" => {
            "every #[cached] function has a `{fn}_with_meta` companion returning \
             `(value, CallMeta)`, which says whether (and from which tier) the value was cached"
        }
        "force_refresh" => {
            "call `{fn}_prime(args)` to run the body and store its value now, or \
             `{fn}_invalidate(args)` to drop the entry"
        }
        "ty" | "create" | "redis" | "disk" | "shards" | "map_error" => {
            "the store is the `TieredCache` (L1 + Redis) named by `cache = ...` or installed \
             with `tiered_cache::init`; the cache never turns a call into an error"
        }
        "convert" => {
            "the key is a template over the arguments, `key = \"user:{id}\"`, with no key type \
             or conversion of its own"
        }
        "option" => {
            "an `Option` function caches `Some` only by default (`cache_none` caches `None` too)"
        }
        "result" => {
            "a `Result` function caches `Ok` only by default (`cache_err` caches `Err` too)"
        }
        _ => return None,
    })
}

/// The option a misspelled name most likely meant.
pub(crate) fn suggestion(name: &str) -> Option<&'static str> {
    let known = [
        ("key", "key"),
        ("ttl", "ttl"),
        ("namespace", "namespace"),
        ("stale", "stale"),
        ("refresh", "refresh"),
        ("cache", "cache"),
        ("cache_none", "cache_none"),
        ("cache_err", "cache_err"),
        ("in_impl", "in_impl"),
        ("in_trait_impl", "in_trait_impl"),
        ("codec", "codec"),
        ("format", "codec"),
        ("serializer", "codec"),
        ("encoding", "codec"),
        ("trait_impl", "in_trait_impl"),
        ("time", "ttl"),
        ("ttl_millis", "ttl"),
        ("ttl_secs", "ttl"),
        ("expire", "ttl"),
        ("expires", "ttl"),
        ("ns", "namespace"),
        ("convert", "key"),
        ("option", "cache_none"),
        ("result", "cache_err"),
        ("swr", "stale"),
    ];
    let lower = name.to_ascii_lowercase();
    known
        .iter()
        .find(|(alias, _)| *alias == lower || distance(alias, &lower) == 1)
        .map(|(_, option)| *option)
}

/// Whether two names differ by one edit (insert, delete, replace or swap of neighbours).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b {
        return 0;
    }
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    if long.len() - short.len() > 1 {
        return 2;
    }
    let first = short.iter().zip(long.iter()).position(|(x, y)| x != y);
    let Some(i) = first else { return 1 };
    let one_edit = if short.len() == long.len() {
        short[i + 1..] == long[i + 1..]
            || (i + 1 < short.len()
                && short[i] == long[i + 1]
                && short[i + 1] == long[i]
                && short[i + 2..] == long[i + 2..])
    } else {
        short[i..] == long[i + 1..]
    };
    if one_edit { 1 } else { 2 }
}

#[cfg(test)]
mod tests {
    use super::distance;

    #[test]
    fn one_edit_distance() {
        assert_eq!(distance("ttl", "ttl"), 0);
        assert_eq!(distance("ttl", "tll"), 1);
        assert_eq!(distance("ttl", "tl"), 1);
        assert_eq!(distance("stale", "satle"), 1);
        assert_eq!(distance("key", "namespace"), 2);
    }
}
