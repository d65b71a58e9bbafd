#![doc = include_str!("guide.md")]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]

pub use tiered_cache_core::{
    CacheConfig, CacheEntry, CacheError, CacheStats, Cacheable, Clock, CodecKind, ConfigError,
    GetBuilder, GetEntry, GetFuture, GetMany, GetShared, GetWith, GetWithFuture, HealthReport,
    InvalidateBuilder, InvalidateMany, L1Stats, L2Stats, LoadBuilder, LoadContext, LoadError,
    LoadFuture, LoadMany, ManualClock, OverallStats, RefusedStats, SetBuilder, SetMany, Shared,
    SharedLoad, SharedLoadFuture, Source, SourcedLoadFuture, StartError, SwrStats, Tier,
    TierHealth, TierStatus, WithSource, redact_url, source,
};
pub use tiered_cache_redis::{RedisConnector, RedisL2};

/// The value codecs: [`CodecKind`] names them (in the config and per call), and each built-in
/// implements [`Codec`](codec::Codec), callable directly by tools that read what a cache stored.
pub use tiered_cache_core::codec;

mod cache;
pub use cache::{CacheBuilder, Engine, TieredCache};
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's examples, compiled and run as doctests (the crate documentation is the guide
/// above, not the README).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
mod calls;
mod global;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "testing")]
pub mod testing;
pub use calls::{CallMeta, FnStats};
pub use global::{InitError, global_cache, init, install};
/// Caches an `async fn` through the global cache (or the one named by `cache = ...`): every
/// option, the rules for arguments, `self`, generics and return types, and the expansion are in
/// the README's `#[cached]` section.
///
/// ```
/// use tiered_cache::cached;
///
/// #[cached(key = "greeting:{name}", ttl = 60, namespace = "greetings")]
/// async fn greet(name: &str) -> String {
///     format!("hello {name}")
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(greet("ada").await, "hello ada");
/// # }
/// ```
pub use tiered_cache_macros::cached;

/// Extension points and the stored formats: the L2 contract (to plug in another backend), the
/// stored envelope, the freshness model, backplane notices and where the Redis tier keeps
/// things ([`layout`](engine::layout)), for tools that read what a cache stored.
///
/// ```
/// use tiered_cache::engine::layout::{Layout, RedisKey};
///
/// let layout = Layout::new("tc");
/// assert_eq!(
///     layout.parse("tc:users:user:1"),
///     Some(RedisKey::Entry { namespace: "users", key: "user:1" })
/// );
/// ```
pub mod engine {
    pub use tiered_cache_core::{
        L2Backend, L2Connector, L2Error, LockTaken, NoL2, Refusal, Stamp, entry, envelope, keys,
        l2, notice,
    };
    pub use tiered_cache_redis::layout;
}

/// One namespace of a [`TieredCache`], checked once (`cache.namespace("users")?`): every call
/// through it uses that namespace. Cheap to clone; keep it in your app state.
///
/// Its methods: [`get`](tiered_cache_core::Namespace::get),
/// [`get_with`](tiered_cache_core::Namespace::get_with),
/// [`get_many`](tiered_cache_core::Namespace::get_many),
/// [`set`](tiered_cache_core::Namespace::set), [`set_many`](tiered_cache_core::Namespace::set_many),
/// [`invalidate`](tiered_cache_core::Namespace::invalidate),
/// [`invalidate_many`](tiered_cache_core::Namespace::invalidate_many),
/// [`clear`](tiered_cache_core::Namespace::clear).
pub type Namespace = tiered_cache_core::Namespace<RedisConnector>;

/// The types most code needs: `use tiered_cache::prelude::*;`.
pub mod prelude {
    pub use crate::{CacheConfig, CacheError, LoadError, Namespace, TieredCache};
}
