//! Timing helpers: per-op means from batches, percentiles from per-call samples, and the
//! runtimes every family builds.

use std::time::Duration;

use crate::BenchResult;

/// Nanoseconds per operation of a batch of `ops` that took `elapsed`.
pub fn ns_per_op(elapsed: Duration, ops: usize) -> f64 {
    elapsed.as_secs_f64() * 1e9 / ops.max(1) as f64
}

/// The median of `values` (0 when empty).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Per-call latencies, for percentiles.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    nanos: Vec<u64>,
    sorted: bool,
}

impl Samples {
    /// Room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Samples {
            nanos: Vec::with_capacity(n),
            sorted: true,
        }
    }

    /// Records one call.
    pub fn push(&mut self, elapsed: Duration) {
        self.nanos
            .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        self.sorted = false;
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: &Samples) {
        self.nanos.extend_from_slice(&other.nanos);
        self.sorted = false;
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.nanos.sort_unstable();
            self.sorted = true;
        }
    }

    /// The `q` quantile (0.0..=1.0) in nanoseconds, nearest rank (0 when empty).
    pub fn quantile_ns(&mut self, q: f64) -> f64 {
        self.sort();
        if self.nanos.is_empty() {
            return 0.0;
        }
        let rank = ((self.nanos.len() as f64 - 1.0) * q.clamp(0.0, 1.0)).round() as usize;
        self.nanos[rank] as f64
    }
}

/// Sub-buckets per power of two: quantiles are within 1/64 (1.6 %) of the true value.
const SUB_BUCKETS: u64 = 64;

/// A log-linear latency histogram for runs with too many calls to keep every sample.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; 64 * 64],
            total: 0,
            max_ns: 0,
        }
    }
}

impl Histogram {
    fn index(ns: u64) -> usize {
        if ns < SUB_BUCKETS {
            return ns as usize;
        }
        let exponent = 63 - u64::from(ns.leading_zeros());
        let shift = exponent - 6;
        let sub = (ns >> shift) - SUB_BUCKETS;
        (SUB_BUCKETS + shift * SUB_BUCKETS + sub) as usize
    }

    /// The smallest value that falls in bucket `index`.
    fn lower_bound(index: usize) -> u64 {
        let index = index as u64;
        if index < SUB_BUCKETS {
            return index;
        }
        let shift = (index - SUB_BUCKETS) / SUB_BUCKETS;
        let sub = (index - SUB_BUCKETS) % SUB_BUCKETS + SUB_BUCKETS;
        sub << shift
    }

    /// Records one call.
    pub fn record(&mut self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let index = Self::index(ns).min(self.counts.len() - 1);
        self.counts[index] += 1;
        self.total += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds every call of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Calls recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile in nanoseconds (the lower bound of its bucket; 0 when empty).
    pub fn quantile_ns(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        if q >= 1.0 {
            return self.max_ns as f64;
        }
        let rank = ((self.total - 1) as f64 * q.clamp(0.0, 1.0)).round() as u64;
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen > rank {
                return Self::lower_bound(index) as f64;
            }
        }
        self.max_ns as f64
    }
}

/// A single-threaded tokio runtime (timers and I/O on).
pub fn current_thread() -> BenchResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A tokio runtime with two worker threads, the shape of a small service on this machine.
pub fn two_workers() -> BenchResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Round `round`'s order of `n` contenders: rotated each round so no contender always runs
/// first (or right after another one).
pub fn rotation(n: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |i| (i + round) % n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut samples = Samples::with_capacity(100);
        for n in (1..=100).rev() {
            samples.push(Duration::from_nanos(n));
        }
        assert_eq!(samples.quantile_ns(0.0), 1.0);
        assert_eq!(samples.quantile_ns(0.5), 51.0);
        assert_eq!(samples.quantile_ns(0.99), 99.0);
        assert_eq!(samples.quantile_ns(1.0), 100.0);
    }

    #[test]
    fn histogram_quantiles_are_within_two_percent() {
        let mut histogram = Histogram::default();
        for n in 1..=100_000u64 {
            histogram.record(Duration::from_nanos(n * 10));
        }
        for (q, exact) in [(0.5, 500_000.0), (0.99, 990_000.0), (0.0, 10.0)] {
            let got = histogram.quantile_ns(q);
            assert!(
                (got - exact).abs() / exact <= 0.02,
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(histogram.quantile_ns(1.0), 1_000_000.0);
        assert_eq!(histogram.count(), 100_000);
        for n in [0u64, 1, 63, 64, 65, 127, 128, 1000, 123_456_789] {
            let index = Histogram::index(n);
            assert!(Histogram::lower_bound(index) <= n);
            assert!(Histogram::lower_bound(index + 1) > n, "{n}");
        }
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn rotation_visits_every_contender_once() {
        let order: Vec<usize> = rotation(3, 1).collect();
        assert_eq!(order, vec![1, 2, 0]);
        assert_eq!(ns_per_op(Duration::from_micros(1), 10), 100.0);
    }
}
