//! Where the answer of a read with a loader came from: [`Source`], reported by
//! [`LoadBuilder::with_source`](crate::LoadBuilder::with_source).
//!
//! The engine decides it where it decides how to answer: the L1 probe of every read, and the
//! load that L1 could not answer (which also hands it to every caller waiting on that load).

/// The tier a value was served from, or the loader that produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tier {
    /// This instance's memory.
    L1,
    /// Redis (or another [`L2Backend`](crate::L2Backend)), including a value another instance
    /// loaded while this one waited for it.
    L2,
    /// A loader ran for this answer (this call's, or one this call waited on).
    Loader,
}

/// How fresh the served value was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Freshness {
    /// Within its fresh period.
    Fresh,
    /// Past its fresh period: in its stale window (a refresh runs), or an older value standing in
    /// for a loader that failed or was slow (fail-safe, soft timeout).
    Stale,
    /// Produced by a loader for this answer.
    Loaded,
}

/// Where one answer came from: the tier (or the loader), its freshness, and whether another
/// caller's load answered it. Small and `Copy`; compare with the constructors' results or read
/// it through the accessors.
///
/// ```
/// use tiered_cache_core::source::{Freshness, Source, Tier};
///
/// let served = Source::new(Tier::L1, Freshness::Stale);
/// assert!(served.was_cached());
/// assert_eq!((served.tier(), served.freshness()), (Tier::L1, Freshness::Stale));
/// assert!(!Source::loaded().was_cached());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    tier: Tier,
    freshness: Freshness,
    coalesced: bool,
}

impl Source {
    /// A value served from `tier` (`L1` or `L2`) with `freshness` (`Fresh` or `Stale`). The
    /// loader's own answers are [`Source::loaded`].
    pub const fn new(tier: Tier, freshness: Freshness) -> Self {
        Source {
            tier,
            freshness,
            coalesced: false,
        }
    }

    /// A value this call's loader produced.
    pub const fn loaded() -> Self {
        Source {
            tier: Tier::Loader,
            freshness: Freshness::Loaded,
            coalesced: false,
        }
    }

    /// The same answer, received by a caller that waited on another caller's load.
    pub const fn coalesced(self) -> Self {
        Source {
            coalesced: true,
            ..self
        }
    }

    /// A value found in `tier`, fresh or stale.
    pub(crate) const fn found(tier: Tier, stale: bool) -> Self {
        Source::new(
            tier,
            if stale {
                Freshness::Stale
            } else {
                Freshness::Fresh
            },
        )
    }

    /// Where the value came from.
    pub const fn tier(&self) -> Tier {
        self.tier
    }

    /// How fresh it was.
    pub const fn freshness(&self) -> Freshness {
        self.freshness
    }

    /// Whether the value was served from a tier (fresh or stale) rather than produced by a loader.
    pub const fn was_cached(&self) -> bool {
        !matches!(self.tier, Tier::Loader)
    }

    /// Whether another caller's load (of the same key, on this instance) answered this call:
    /// this call waited for it instead of reading or loading itself.
    pub const fn is_coalesced(&self) -> bool {
        self.coalesced
    }
}

impl std::fmt::Display for Source {
    /// `L1 fresh`, `L2 stale`, `loaded`, with `(coalesced)` when another caller's load answered.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tier = match self.tier {
            Tier::L1 => "L1 ",
            Tier::L2 => "L2 ",
            Tier::Loader => "",
        };
        let freshness = match self.freshness {
            Freshness::Fresh => "fresh",
            Freshness::Stale => "stale",
            Freshness::Loaded => "loaded",
        };
        let coalesced = if self.coalesced { " (coalesced)" } else { "" };
        write!(f, "{tier}{freshness}{coalesced}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_a_header_would() {
        assert_eq!(Source::found(Tier::L1, false).to_string(), "L1 fresh");
        assert_eq!(Source::found(Tier::L2, true).to_string(), "L2 stale");
        assert_eq!(
            Source::loaded().coalesced().to_string(),
            "loaded (coalesced)"
        );
        assert!(Source::loaded().coalesced().is_coalesced());
        assert!(!Source::found(Tier::L2, true).is_coalesced());
    }
}
