//! Adaptive caching: a loader that chooses how its own result is stored (ttl, stale window,
//! tags, or not at all), from what it loaded. [`LoadContext`] is what the loader is handed;
//! the load reads it once, when it stores the result.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::decide::Lifetime;
use super::options::WriteOptions;
use crate::config::CacheConfig;
use crate::error::CacheError;

/// What a loader said about storing its result.
#[derive(Debug, Default)]
struct Choices {
    ttl: Option<Duration>,
    stale: Option<Duration>,
    tags: Option<Vec<String>>,
    skip: bool,
}

/// Handed to a loader by [`GetBuilder::refresh_with_context`](crate::GetBuilder::refresh_with_context):
/// the loader may set the ttl, stale window and tags of the value it returns, from what it
/// loaded (a record's own expiry, an HTTP `max-age`), or keep it out of the cache. Unset
/// choices keep the call's own options (or the config's defaults). Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tiered_cache_core::{CacheConfig, LoadContext, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// let price: u64 = cache
///     .get("price:7")
///     .refresh_with_context(|ctx: LoadContext| async move {
///         let (price, max_age) = (1250u64, Duration::from_secs(30)); // from the origin's answer
///         ctx.ttl(max_age);
///         ctx.tags(["prices"]);
///         Ok::<_, std::io::Error>(price)
///     })
///     .await?;
/// assert_eq!(price, 1250);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct LoadContext {
    choices: Arc<Mutex<Choices>>,
}

impl LoadContext {
    fn choose(&self, choose: impl FnOnce(&mut Choices)) {
        choose(&mut self.choices.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The lifetime of the value this load returns (at least 1 ms, at most `max_ttl`; an
    /// invalid one keeps the value out of the cache, with a warning).
    pub fn ttl(&self, ttl: Duration) {
        self.choose(|c| c.ttl = Some(ttl));
    }

    /// The stale window of the value this load returns (shorter than its ttl).
    pub fn stale(&self, window: Duration) {
        self.choose(|c| c.stale = Some(window));
    }

    /// The tags of the value this load returns (replacing the call's own).
    pub fn tags<I, S>(&self, tags: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags = tags.into_iter().map(Into::into).collect();
        self.choose(|c| c.tags = Some(tags));
    }

    /// Returns the value this load produces to its callers without storing it anywhere (what
    /// the tiers hold for the key stays as it is).
    pub fn skip_cache(&self) {
        self.choose(|c| c.skip = true);
    }
}

/// The loader's choices, as the load reads them when it stores its result.
#[derive(Clone, Debug)]
pub(crate) struct Adaptive {
    context: LoadContext,
    /// The call's own options, which unset choices keep.
    base: WriteOptions,
}

/// How an adapted value is stored.
pub(crate) enum Adapted {
    /// With this lifetime.
    Store(Lifetime),
    /// Not at all.
    Skip,
}

impl Adaptive {
    pub(crate) fn new(context: LoadContext, base: WriteOptions) -> Self {
        Adaptive { context, base }
    }

    /// The loader's choices applied to the call's options; `None` when it chose nothing.
    pub(crate) fn adapted(&self, config: &CacheConfig) -> Option<Result<Adapted, CacheError>> {
        let choices = self
            .context
            .choices
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if choices.skip {
            return Some(Ok(Adapted::Skip));
        }
        if choices.ttl.is_none() && choices.stale.is_none() && choices.tags.is_none() {
            return None;
        }
        let mut options = self.base.clone();
        if let Some(ttl) = choices.ttl {
            options.ttl = Some(ttl);
            // A window chosen for the call's ttl may not fit the loader's: let it follow.
            if choices.stale.is_none() {
                options.stale = None;
            }
        }
        if let Some(window) = choices.stale {
            options.stale = Some(window);
        }
        if let Some(tags) = &choices.tags {
            options.tags.clone_from(tags);
        }
        Some(options.resolve(config).map(Adapted::Store))
    }
}
