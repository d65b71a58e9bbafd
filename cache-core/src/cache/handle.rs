//! [`Namespace`]: a cache seen through one namespace, checked once.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::TieredCache;
use super::get_with::GetWith;
use super::many::GetMany;
use super::many_write::{InvalidateMany, SetMany};
use super::read::GetBuilder;
use super::write::{InvalidateBuilder, SetBuilder};
use crate::error::CacheError;
use crate::keys;

/// One namespace of a [`TieredCache`]: every read, write and invalidation made through it goes
/// to that namespace, so a forgotten `.namespace(..)` cannot silently use `"default"`. Made by
/// [`TieredCache::namespace`], which checks the name once.
///
/// Cheap to clone (an `Arc` and the cache handle); keep one per namespace in your app state.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tiered_cache_core::CacheError> {
/// use tiered_cache_core::{CacheConfig, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() })
///     .await
///     .expect("valid config");
/// let users = cache.namespace("users")?;
/// users.set("1", &"Ada".to_owned()).await?;
/// assert_eq!(users.get::<String>("1").await?.as_deref(), Some("Ada"));
/// // The same key in another namespace is another entry.
/// assert_eq!(cache.get::<String>("1").await?, None);
/// users.clear().await?;
/// assert_eq!(users.get::<String>("1").await?, None);
/// assert!(cache.namespace("no spaces").is_err());
/// # Ok(()) }
/// ```
pub struct Namespace<C = crate::l2::NoL2> {
    cache: TieredCache<C>,
    name: Arc<str>,
}

impl<C> Clone for Namespace<C> {
    fn clone(&self) -> Self {
        Namespace {
            cache: self.cache.clone(),
            name: self.name.clone(),
        }
    }
}

impl<C> fmt::Debug for Namespace<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<C> TieredCache<C> {
    /// A handle on `namespace` (see [`Namespace`]).
    ///
    /// # Errors
    /// [`CacheError::InvalidNamespace`] when the name is empty, longer than 64 bytes, or has
    /// characters other than `A-Z a-z 0-9 _ - .`.
    pub fn namespace(&self, namespace: &str) -> Result<Namespace<C>, CacheError> {
        keys::validate_namespace(namespace)?;
        Ok(Namespace {
            cache: self.clone(),
            name: Arc::from(namespace),
        })
    }
}

impl<C> Namespace<C> {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cache this namespace belongs to.
    pub fn cache(&self) -> &TieredCache<C> {
        &self.cache
    }

    /// Reads `key` in this namespace (see [`TieredCache::get`]).
    pub fn get<'a, T>(&'a self, key: &'a str) -> GetBuilder<'a, T> {
        self.cache.get(key).namespace(&self.name)
    }

    /// Reads `key` in this namespace, loading a miss with a loader that cannot fail (see
    /// [`TieredCache::get_with`]).
    pub fn get_with<'a, T, F, Fut>(&'a self, key: &'a str, loader: F) -> GetWith<'a, T, F>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        self.cache.get_with(key, loader).namespace(&self.name)
    }

    /// Reads many keys of this namespace (see [`TieredCache::get_many`]).
    pub fn get_many<'a, T, K: AsRef<str>>(&'a self, keys: &'a [K]) -> GetMany<'a, T> {
        self.cache.get_many(keys).namespace(&self.name)
    }

    /// Writes many entries into this namespace (see [`TieredCache::set_many`]).
    pub fn set_many<'a, K: AsRef<str>, T>(&'a self, entries: &'a [(K, T)]) -> SetMany<'a, K, T> {
        self.cache.set_many(entries).namespace(&self.name)
    }

    /// Invalidates many keys of this namespace (see [`TieredCache::invalidate_many`]).
    pub fn invalidate_many<'a, K: AsRef<str>>(&'a self, keys: &'a [K]) -> InvalidateMany<'a> {
        self.cache.invalidate_many(keys).namespace(&self.name)
    }

    /// Writes `value` under `key` in this namespace (see [`TieredCache::set`]).
    pub fn set<'a, T>(&'a self, key: &'a str, value: &'a T) -> SetBuilder<'a, T> {
        self.cache.set(key, value).namespace(&self.name)
    }

    /// Removes `key` from this namespace (see [`TieredCache::invalidate`]).
    pub fn invalidate<'a>(&'a self, key: &'a str) -> InvalidateBuilder<'a> {
        self.cache.invalidate(key).namespace(&self.name)
    }

    /// Removes every entry of this namespace, in every instance (see
    /// [`TieredCache::clear_namespace`]).
    ///
    /// # Errors
    /// [`CacheError::Closed`].
    pub async fn clear(&self) -> Result<(), CacheError> {
        self.cache.clear_namespace(&self.name).await
    }
}
