//! The engine of [`tiered-cache`](https://docs.rs/tiered-cache): configuration, the freshness
//! model, the in-process L1, the L2 contract, the stored envelope, single-flight, statistics and
//! health. It knows nothing of Redis; `tiered-cache-redis` implements [`L2Backend`] and the
//! `tiered-cache` facade ties them together. Most users depend on the facade.
//!
//! An entry written with ttl `T` and stale window `W` is *fresh* until `T - W`, *stale* until
//! `T` (served at once while one refresh runs), then *expired* (a miss). See [`entry`].
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]

mod breaker;
mod cache;
pub mod clock;
pub mod codec;
mod config;
mod deadline;
pub mod entry;
pub mod envelope;
mod error;
mod flight;
mod health;
pub mod keys;
mod l1;
pub mod l2;
mod meta;
mod namespaces;
pub mod notice;
mod ns_stats;
mod observe;
mod redact;
mod rng;
pub mod source;
mod stats;
mod tags;

pub use cache::{
    CacheBuilder, Cacheable, GetBuilder, GetEntry, GetFuture, GetMany, GetShared, GetWith,
    GetWithFuture, InvalidateBuilder, InvalidateMany, LoadBuilder, LoadContext, LoadFuture,
    LoadMany, Namespace, SetBuilder, SetMany, Shared, SharedLoad, SharedLoadFuture,
    SourcedLoadFuture, TieredCache, WithSource,
};
pub use clock::{Clock, ManualClock, Stamp};
pub use codec::CodecKind;
pub use config::CacheConfig;
pub use error::{CacheError, ConfigError, LoadError, StartError};
pub use health::{HealthReport, TierHealth, TierStatus};
pub use l2::{ConnectionEvent, L2Backend, L2Connector, L2Error, LockTaken, NoL2, Refusal};
pub use meta::CacheEntry;
pub use ns_stats::{NamespaceStats, OTHER_NAMESPACES};
pub use observe::{L2_OPERATION_SECONDS, LOADER_SECONDS, LOCK_WAIT_SECONDS};
pub use redact::redact_url;
pub use source::{Source, Tier};
pub use stats::{CacheStats, L1Stats, L2Stats, OverallStats, RefusedStats, SwrStats};
