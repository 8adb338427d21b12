//! # Hamiltonian Monte Carlo without detailed balance
//!
//! Implements the samplers of "A Markov Jump Process for More Efficient Hamiltonian Monte Carlo"
//! (Berger, Mudigonda, DeWeese, Sohl-Dickstein 2015) and "Hamiltonian Monte Carlo Without
//! Detailed Balance" (Sohl-Dickstein, Mudigonda, DeWeese 2014):
//!
//! - `hmc`: standard HMC with partial momentum refresh and a flip on rejection;
//! - `lahmc`: look-ahead HMC with `K` look-ahead trajectories ([`rates::LookAhead`]);
//! - `ct_hmc`: continuous-time HMC with detailed balance (the papers' control);
//! - `nuts`: the No-U-Turn sampler as Stan runs it ([`nuts`]), with Stan's windowed warm-up
//!   per chain;
//! - `mjhmc`: Markov-jump HMC with the reduced flip rate, caching `L z` and `L⁻¹ z` so that a
//!   flip costs no gradient.
//!
//! Many chains run in parallel on rayon ([`Sampler::run`]); chain `c` draws from its own stream
//! `rng::stream_seed(seed, c)`, so results do not depend on the thread count. A target evaluated
//! for a whole batch of points (a Python callback) runs all chains in lock step instead
//! ([`Sampler::run_batched`]), one batch call per leapfrog step; both drivers give the same bits.
//! [`diag`] holds the diagnostics (FFT autocorrelation, Geyer's initial monotone sequence,
//! multi-chain ESS); [`rates`] the rate and probability functions and the exact finite-space
//! checks; [`target`] the built-in targets.

pub mod diag;
pub mod metric;
pub mod nuts;
pub mod rates;
mod sampler;
pub mod target;
mod warmup;

pub use metric::{Metric, Phase, leapfrog, leapfrog_from};
pub use nuts::{Nuts, NutsConfig, NutsOutput, NutsWarmup};
pub use sampler::{Config, MAX_DELTA_H, MOVE_REFRESH, Method, Output, Sampler, divergent};
pub use target::{AsBatch, BatchTarget, Builtin, DiagGaussian, RoughWell, Target};
pub use warmup::{WarmupPlan, windows};

use crate::parallel::PoolError;

/// Errors of the HMC module. Messages start with the name of the offending argument.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HmcError {
    /// An argument with a bad value.
    #[error("{arg}: {msg}")]
    Invalid {
        /// The argument's name.
        arg: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// A user target failed (its exception is kept by the bindings) or returned garbage.
    #[error("target: {0}")]
    Target(String),
    /// Every jump rate of a chain was zero (both trajectories diverged and no refresh).
    #[error(
        "step_size: chain {chain} is stuck: every jump rate is zero (both trajectories diverged \
         and refresh_rate = 0); lower step_size or n_leapfrog"
    )]
    Stuck {
        /// The chain.
        chain: usize,
    },
    /// Thread-pool failure.
    #[error(transparent)]
    Pool(#[from] PoolError),
}
