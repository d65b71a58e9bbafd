//! Which `#[cached]` function builds which keys, to warn when two functions share entries.
//!
//! A function's entries are (namespace, key). Two functions whose key templates have the same
//! shape (`"product:{id}"` and `"product:{product_id}"` both give `product:42`) in the same
//! namespace of the same cache share entries: one returns what the other cached, or, when
//! they store different types, each reads the other's entries as misses and overwrites them.
//! The compiler sees one function at a time, so this is checked at run time: each function
//! registers its shape on its first call, and a second function with the same
//! (cache, namespace, shape) logs one warning naming both.

use std::sync::{Mutex, PoisonError};

use crate::TieredCache;

/// What a function registered.
struct Registration {
    cache: CacheId,
    namespace: String,
    shape: &'static str,
    function: String,
    value_type: &'static str,
}

/// Which entries a cache reads: two instances on the same Redis with the same key prefix share
/// L2 entries; an L1-only cache shares only with its clones.
#[derive(PartialEq, Eq)]
enum CacheId {
    Redis { url: String, prefix: String },
    Local(usize),
}

impl CacheId {
    fn of(cache: &TieredCache) -> Self {
        let config = cache.config();
        match &config.redis_url {
            Some(url) => CacheId::Redis {
                url: url.clone(),
                prefix: config.key_prefix.clone(),
            },
            // The config lives as long as the cache (and its clones), at one address.
            None => CacheId::Local(std::ptr::from_ref(config).addr()),
        }
    }
}

static REGISTERED: Mutex<Vec<Registration>> = Mutex::new(Vec::new());

/// What [`register`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Clash {
    /// Another function builds the same keys: it shares this one's entries.
    Shares { other: String },
    /// Another function builds the same keys for another type: they overwrite each other.
    Overwrites {
        other: String,
        other_type: &'static str,
    },
}

/// Records that `function` (storing `value_type`) builds keys of `shape` in `namespace` of
/// `cache`, and returns the functions registered before it that build the same keys.
pub(crate) fn register(
    cache: &TieredCache,
    namespace: &str,
    shape: &'static str,
    function: String,
    value_type: &'static str,
) -> Vec<Clash> {
    let cache = CacheId::of(cache);
    // Registrations are only pushed, so a panic elsewhere cannot leave one half-written.
    let mut registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    let same_keys =
        |r: &&Registration| r.cache == cache && r.namespace == namespace && r.shape == shape;
    if registered
        .iter()
        .filter(same_keys)
        .any(|r| r.function == function)
    {
        // Registered before (its clashes, if any, were reported then).
        return Vec::new();
    }
    let clashes = registered
        .iter()
        .filter(same_keys)
        .map(|r| {
            if r.value_type == value_type {
                Clash::Shares {
                    other: r.function.clone(),
                }
            } else {
                Clash::Overwrites {
                    other: r.function.clone(),
                    other_type: r.value_type,
                }
            }
        })
        .collect();
    registered.push(Registration {
        cache,
        namespace: namespace.to_owned(),
        shape,
        function,
        value_type,
    });
    clashes
}

/// Logs one warning per clash.
pub(crate) fn warn(
    clashes: &[Clash],
    function: &str,
    namespace: &str,
    shape: &str,
    value_type: &str,
) {
    for clash in clashes {
        match clash {
            Clash::Shares { other } => tracing::warn!(
                function,
                other = other.as_str(),
                namespace,
                key = shape,
                "#[cached] functions `{other}` and `{function}` build the same keys (`{shape}`) \
                 in namespace `{namespace}` of the same cache, so they share entries: each can \
                 return what the other cached. Give each function its own key prefix or namespace"
            ),
            Clash::Overwrites { other, other_type } => tracing::warn!(
                function,
                other = other.as_str(),
                namespace,
                key = shape,
                "#[cached] functions `{other}` ({other_type}) and `{function}` ({value_type}) \
                 build the same keys (`{shape}`) in namespace `{namespace}` of the same cache: \
                 each reads the other's entries as misses and overwrites them. Give each \
                 function its own key prefix or namespace"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CacheConfig;

    #[tokio::test]
    async fn a_second_function_with_the_same_keys_is_named() {
        let config = CacheConfig {
            redis_url: None,
            ..CacheConfig::default()
        };
        let cache = TieredCache::new(config.clone()).await.expect("valid");
        let other = TieredCache::new(config).await.expect("valid");
        let first = register(&cache, "reg-test", "item:{}", "a::first".into(), "u64");
        assert!(first.is_empty());
        // The same function again (another instance of a method, another call): nothing.
        assert!(register(&cache, "reg-test", "item:{}", "a::first".into(), "u64").is_empty());
        // Another namespace, another shape, another cache: nothing shared.
        assert!(register(&cache, "reg-other", "item:{}", "a::second".into(), "u64").is_empty());
        assert!(register(&cache, "reg-test", "item:{}:{}", "a::second".into(), "u64").is_empty());
        assert!(register(&other, "reg-test", "item:{}", "a::second".into(), "u64").is_empty());
        // A clone of the cache is the same cache.
        let same = register(
            &cache.clone(),
            "reg-test",
            "item:{}",
            "a::second".into(),
            "u64",
        );
        assert_eq!(
            same,
            [Clash::Shares {
                other: "a::first".into()
            }]
        );
        let typed = register(&cache, "reg-test", "item:{}", "a::third".into(), "String");
        assert_eq!(typed.len(), 2);
        assert!(typed.contains(&Clash::Overwrites {
            other: "a::first".into(),
            other_type: "u64"
        }));
    }
}
