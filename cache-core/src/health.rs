//! [`HealthReport`]: what `health_check` returns. Serializes to JSON; never holds credentials.

use std::time::Duration;

use serde::Serialize;

/// The state of one tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TierStatus {
    /// Answering.
    Up,
    /// Configured but not answering; the cache carries on without it.
    Down,
    /// Not configured.
    Disabled,
}

/// Health of one tier.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct TierHealth {
    /// Up, down or disabled.
    pub status: TierStatus,
    /// What the tier is (for L2: the redacted Redis endpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Round-trip time of the health ping, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Entries held (L1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<usize>,
    /// Capacity in entries (L1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<usize>,
    /// The L2 circuit breaker: `closed`, `open` or `half_open`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<&'static str>,
    /// Settings of the backend's server that put correctness at risk (for L2: an `allkeys-*`
    /// eviction policy), each a sentence saying what to change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl TierHealth {
    fn empty(status: TierStatus) -> Self {
        TierHealth {
            status,
            backend: None,
            latency_ms: None,
            error: None,
            entries: None,
            capacity: None,
            circuit_breaker: None,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn l1(entries: usize, capacity: usize) -> Self {
        TierHealth {
            entries: Some(entries),
            capacity: Some(capacity),
            backend: Some("in-process (quick_cache)".to_owned()),
            ..Self::empty(TierStatus::Up)
        }
    }

    pub(crate) fn disabled() -> Self {
        Self::empty(TierStatus::Disabled)
    }

    pub(crate) fn up(
        backend: String,
        latency: Duration,
        breaker: &'static str,
        warnings: Vec<String>,
    ) -> Self {
        TierHealth {
            backend: Some(backend),
            warnings,
            latency_ms: Some(latency.as_secs_f64() * 1000.0),
            circuit_breaker: Some(breaker),
            ..Self::empty(TierStatus::Up)
        }
    }

    pub(crate) fn down(backend: String, error: String, breaker: &'static str) -> Self {
        TierHealth {
            backend: Some(backend),
            error: Some(error),
            circuit_breaker: Some(breaker),
            ..Self::empty(TierStatus::Down)
        }
    }
}

/// The answer of [`TieredCache::health_check`](crate::TieredCache::health_check).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tiered_cache_core::{CacheConfig, TieredCache};
///
/// let cache: TieredCache = TieredCache::new(CacheConfig { redis_url: None, ..Default::default() }).await?;
/// use tiered_cache_core::TierStatus;
///
/// let report = cache.health_check().await;
/// assert_eq!(report.l2.status, TierStatus::Disabled); // no Redis configured
/// assert!(report.healthy);
/// println!("{}", serde_json::to_string(&report)?); // for a readiness endpoint
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// True when every configured tier is up and the cache is open.
    pub healthy: bool,
    /// `healthy`, `degraded` (L2 down: serving from L1 and loaders) or `closed`.
    pub status: &'static str,
    /// The in-process tier.
    pub l1: TierHealth,
    /// The Redis tier.
    pub l2: TierHealth,
}

impl HealthReport {
    pub(crate) fn new(l1: TierHealth, l2: TierHealth, closed: bool) -> Self {
        let l2_ok = l2.status != TierStatus::Down;
        let status = match (closed, l2_ok) {
            (true, _) => "closed",
            (false, true) => "healthy",
            (false, false) => "degraded",
        };
        HealthReport {
            healthy: !closed && l2_ok,
            status,
            l1,
            l2,
        }
    }
}
