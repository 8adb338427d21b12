//! Seeded random streams.
//!
//! Parallel stochastic work is split by *logical stream* (a chain, a replica, a block of samples),
//! never by thread. Stream `s` of a run seeded with `seed` draws from its own generator, whose
//! state is derived from `(seed, s)` by [`stream_seed`]. Because the derivation does not involve
//! the thread that happens to run the stream, results are bit-identical for any thread count.

/// The SplitMix64 increment (the golden-ratio constant).
pub(crate) const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64 finaliser: a bijective, well-mixing map on `u64`.
#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed of stream `stream` in a run seeded with `seed`.
///
/// The seed is mixed first and the stream index is added to the mixed value before a second
/// mixing round, so nearby `(seed, stream)` pairs — `(1, 0)` and `(0, 1)` for instance — give
/// unrelated generators (plain `seed ^ stream` would make those two collide).
#[inline]
pub fn stream_seed(seed: u64, stream: u64) -> u64 {
    splitmix64(splitmix64(seed).wrapping_add(splitmix64(stream ^ 0xD1B5_4A32_D192_ED03)))
}

/// A small, fast counter-free generator (SplitMix64 stream) for core algorithms that need
/// uniform variates without pulling in a full RNG crate.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Generator of stream `stream` of a run seeded with `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        Self {
            state: stream_seed(seed, stream),
        }
    }

    /// The raw state: the next draw is [`splitmix64`]`(state)`, after which the state is
    /// `state + GAMMA` (what lets several streams be advanced side by side in vector lanes).
    #[inline]
    pub(crate) fn state(&self) -> u64 {
        self.state
    }

    /// Next 64 random bits.
    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform variate in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn nearby_pairs_do_not_collide() {
        let mut seen = HashSet::new();
        for seed in 0..64u64 {
            for stream in 0..64u64 {
                assert!(
                    seen.insert(stream_seed(seed, stream)),
                    "collision at ({seed}, {stream})"
                );
            }
        }
        assert_ne!(stream_seed(1, 0), stream_seed(0, 1));
    }

    #[test]
    fn uniforms_have_the_right_mean() {
        let mut g = SplitMix64::new(42, 7);
        let n = 200_000;
        let mean: f64 = (0..n).map(|_| g.next_f64()).sum::<f64>() / n as f64;
        // sd of the mean = sqrt(1/12/n) = 6.5e-4; 5 sd
        assert!((mean - 0.5).abs() < 3.3e-3, "mean {mean}");
    }

    #[test]
    fn raw_state_gives_the_next_draw() {
        let mut g = SplitMix64::new(5, 2);
        for _ in 0..5 {
            let s = g.state();
            let z = g.next_u64();
            assert_eq!(z, splitmix64(s));
            assert_eq!(g.state(), s.wrapping_add(GAMMA));
        }
    }

    #[test]
    fn streams_are_reproducible() {
        let a: Vec<u64> = {
            let mut g = SplitMix64::new(9, 3);
            (0..10).map(|_| g.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut g = SplitMix64::new(9, 3);
            (0..10).map(|_| g.next_u64()).collect()
        };
        assert_eq!(a, b);
    }
}
