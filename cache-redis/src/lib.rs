//! The Redis second tier of [`tiered-cache`](https://docs.rs/tiered-cache), on
//! [`fred`](https://docs.rs/fred): standalone Redis or Redis Cluster, TLS with the `tls` feature.
//!
//! Writes go through a Lua script that compares created stamps, so a slow or older write never
//! replaces a newer entry or an invalidation. Namespace clears are O(1): a stamped mark in one
//! hash that every instance reads, never a scan. See [`layout`] for the key format.
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![forbid(unsafe_code)]

mod backend;
mod bus;
mod connect;
pub mod layout;
mod reply;
mod scripts;
mod server_check;
mod watch;

use std::sync::Arc;

pub use backend::RedisL2;
pub use connect::fred_config;
use tiered_cache_core::l2::{L2Backend, L2Connector};
use tiered_cache_core::{CacheConfig, ConfigError};

/// Builds a [`RedisL2`] from `CacheConfig::redis_url` (none when it is `None`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RedisConnector;

impl L2Connector for RedisConnector {
    fn connect(config: &CacheConfig) -> Result<Option<Arc<dyn L2Backend>>, ConfigError> {
        match &config.redis_url {
            None => Ok(None),
            Some(url) => Ok(Some(Arc::new(RedisL2::connect(url, config)?))),
        }
    }
}
