//! Per-call options: what `set` and loads take from their builders, and how a loaded value is
//! stored (its plan).

use std::time::Duration;

use super::adapt::{Adapted, Adaptive};
use super::decide::{self, Lifetime};
use crate::codec::CodecKind;
use crate::config::CacheConfig;
use crate::error::CacheError;

/// Per-call write options, shared by `set` and loads.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteOptions {
    pub(crate) ttl: Option<Duration>,
    pub(crate) stale: Option<Duration>,
    pub(crate) tags: Vec<String>,
    pub(crate) skips: Skips,
    /// The codec to write with instead of the config's.
    pub(crate) codec: Option<CodecKind>,
}

/// What one call leaves out of the usual work (every field false by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Skips {
    /// Store in this instance's L1 only: L2 is not written, so no notice goes out either.
    pub(crate) l2_write: bool,
    /// Write L2 but publish no backplane notice: other instances keep their L1 copies until
    /// `l1_ttl`.
    pub(crate) backplane: bool,
    /// Load without the distributed lock: other instances may load the same key at once.
    pub(crate) lock: bool,
}

impl WriteOptions {
    pub(crate) fn set_tags<I, S>(&mut self, tags: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
    }

    /// Validates the options against `config` and draws the ttl jitter.
    pub(crate) fn resolve(&self, config: &CacheConfig) -> Result<Lifetime, CacheError> {
        let mut lifetime =
            decide::lifetime(self.ttl, self.stale, &self.tags, config, crate::rng::unit())?;
        if let Some(codec) = self.codec {
            lifetime.codec = codec;
        }
        Ok(lifetime)
    }
}

/// What a load does with a "not found" value (`None` of an `Option`), when the call chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Absent {
    /// Cache it for this ttl instead of the entry's normal one.
    Ttl(Duration),
    /// Answer it, store nothing, and remove what the tiers held (the record is gone).
    Remove,
}

/// Recognises the absent values of `T` (`Option::is_none`).
pub(crate) type IsAbsent<T> = fn(&T) -> bool;

/// How a loaded value will be stored.
pub(crate) enum Storage {
    Store(Lifetime),
    /// Remove what the tiers hold (the value says the record is gone).
    Remove,
    /// Store nothing and touch nothing (the loader said so).
    Skip,
}

/// How a load runs and stores its result.
pub(crate) struct Plan<T> {
    pub(crate) lifetime: Lifetime,
    pub(crate) absent: Option<(Absent, IsAbsent<T>)>,
    /// Without a fallback, wait for the loader past `hard_timeout` (the caller cannot take
    /// `LoadError::TimedOut`).
    pub(crate) wait_for_loader: bool,
    pub(crate) skips: Skips,
    /// The loader's own choices of how to store its result (adaptive caching).
    pub(crate) adaptive: Option<Adaptive>,
    /// Hand the loader's error to every caller waiting on the load (else only to the caller
    /// that ran it; the waiters run their own loaders).
    pub(crate) share_errors: bool,
}

impl<T> Clone for Plan<T> {
    fn clone(&self) -> Self {
        Plan {
            lifetime: self.lifetime.clone(),
            absent: self.absent,
            wait_for_loader: self.wait_for_loader,
            skips: self.skips,
            adaptive: self.adaptive.clone(),
            share_errors: self.share_errors,
        }
    }
}

impl<T> Plan<T> {
    /// How `value` is stored: the loader's own choices first, then negative caching, then the
    /// call's options.
    pub(crate) fn storage_for(&self, value: &T, config: &CacheConfig) -> Storage {
        match self.adaptive.as_ref().and_then(|a| a.adapted(config)) {
            Some(Ok(Adapted::Skip)) => return Storage::Skip,
            Some(Ok(Adapted::Store(lifetime))) => return Storage::Store(lifetime),
            Some(Err(error)) => {
                tracing::warn!(%error, "the loader chose an invalid lifetime; its value is not cached");
                return Storage::Skip;
            }
            None => {}
        }
        match self.absent {
            Some((Absent::Remove, is_absent)) if is_absent(value) => Storage::Remove,
            Some((Absent::Ttl(ttl), is_absent)) if is_absent(value) => Storage::Store(Lifetime {
                ttl,
                window: if config.enable_swr {
                    config.default_window_for(ttl)
                } else {
                    Duration::ZERO
                },
                ..self.lifetime.clone()
            }),
            _ => Storage::Store(self.lifetime.clone()),
        }
    }
}
