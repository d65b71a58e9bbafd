//! A seeded Zipf trace: key ranks drawn with probability proportional to `1 / rank^s`.

/// SplitMix64: a small, fast, seeded generator (the trace must be the same on every run).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Draws ranks `0..n` (0 the most popular) with Zipf exponent `s`.
#[derive(Debug, Clone)]
pub struct Zipf {
    /// `cdf[k]` = probability of a rank ≤ k.
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks with exponent `s`.
    pub fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += (rank as f64).powf(-s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    /// One rank.
    pub fn sample(&self, rng: &mut SplitMix64) -> u32 {
        let u = rng.next_f64();
        let rank = self.cdf.partition_point(|&c| c < u);
        rank.min(self.cdf.len().saturating_sub(1)) as u32
    }
}

/// `len` ranks over `n` keys with exponent `s`, from `seed`.
pub fn trace(n: usize, s: f64, len: usize, seed: u64) -> Vec<u32> {
    let zipf = Zipf::new(n, s);
    let mut rng = SplitMix64::new(seed);
    (0..len).map(|_| zipf.sample(&mut rng)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_trace() {
        assert_eq!(trace(1000, 1.0, 100, 7), trace(1000, 1.0, 100, 7));
        assert_ne!(trace(1000, 1.0, 100, 7), trace(1000, 1.0, 100, 8));
    }

    #[test]
    fn frequencies_follow_the_exponent() {
        let n = 1000;
        let t = trace(n, 1.0, 200_000, 42);
        let mut counts = vec![0u32; n];
        for &rank in &t {
            counts[rank as usize] += 1;
        }
        // With s = 1, rank 1 is drawn twice as often as rank 2, four times as often as rank 4.
        let r12 = f64::from(counts[0]) / f64::from(counts[1]);
        let r14 = f64::from(counts[0]) / f64::from(counts[3]);
        assert!((1.85..2.15).contains(&r12), "{r12}");
        assert!((3.6..4.4).contains(&r14), "{r14}");
        assert!(t.iter().all(|&r| (r as usize) < n));
    }
}
