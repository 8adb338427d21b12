//! # Spin models: energies, exact enumeration, annealing, tempering, TAP and MPF fitting
//!
//! Ising spins `s_i ∈ {−1, +1}` with the one canonical energy
//!
//! ```text
//! E(s) = −½ sᵀ J s − hᵀ s = −Σ_{i<j} J_ij s_i s_j − Σ_i h_i s_i,      p(s) ∝ exp(−β E(s))
//! ```
//!
//! `J` symmetric with a zero diagonal (a nonzero diagonal is rejected: it would only add a
//! constant). The local field is `φ_i = Σ_j J_ij s_j + h_i` and flipping spin `i` costs
//! `ΔE_i = 2 s_i φ_i`; every kernel keeps `φ` up to date incrementally.
//!
//! - [`Dense`] (row-major `n × n`, `f64` or `f32` storage) and [`Sparse`] (CSR) couplings behind
//!   the [`Couplings`] trait; [`energies`], [`local_fields`].
//! - [`enumerate_exact`]: every state of `n ≤ 26` spins in Gray-code order (rayon over blocks).
//! - [`anneal`]: simulated annealing (Metropolis / heat-bath, sequential / random order, any
//!   β schedule), rayon over reads, lockstep blocks of reads; integer couplings run in a
//!   branch-free vector-lane kernel (`lanes`), dense sequential sweeps run in tiles whose
//!   flips reach the other fields at the tile's end, several fused per pass (`tiled`), dense
//!   rows skip their zero blocks — all bit-identical to the plain path; [`descend`]: greedy
//!   steepest descent.
//! - [`tempering`]: parallel tempering with replica exchange and two-replica overlaps.
//! - [`Layered`] and [`anneal_layered`]: whole-layer heat-bath for network-shaped models.
//! - [`tap`]: damped TAP fixed points with the Onsager term, annealed in temperature, many starts.
//! - [`mpf_objective`] / [`pseudolikelihood_objective`]: fitting objectives and their gradients.
//! - [`perron_hadamard`]: the Perron eigenvalue of `J∘J` (the glass temperature estimate).
//!
//! Stochastic routines take a `seed`; read / replica `r` draws from the stream
//! [`crate::rng::stream_seed`]`(seed, r)`, so results are identical for any thread count.

mod anneal;
mod couplings;
mod descend;
mod enumerate;
mod fit;
mod lanes;
mod layered;
mod tap;
mod tempering;
mod tiled;

pub use anneal::{AnnealOptions, AnnealResult, Order, Rule, anneal};
pub use couplings::{Couplings, Dense, Real, Sparse, energies, local_fields, perron_hadamard};
pub use descend::descend;
pub use enumerate::{ENUMERATE_MAX_N, EnumerateOptions, Enumeration, PQ_MAX_N, enumerate_exact};
pub use fit::{
    FitMode, Objective, mpf_objective, mpf_objective_01, mpf_objective_01_with, mpf_objective_with,
    pseudolikelihood_objective,
};
pub use layered::{Layered, LayeredResult, anneal_layered};
pub use tap::{TapOptions, TapResult, tap, tap_free_energy};
pub use tempering::{TemperingOptions, TemperingResult, tempering};

use crate::parallel::PoolError;

/// Errors of the spin module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpinError {
    /// An argument outside its domain; `arg` names it.
    #[error("{arg}: {msg}")]
    InvalidArgument {
        /// Name of the offending argument.
        arg: &'static str,
        /// What is wrong with it.
        msg: String,
    },
    /// A computation that would need more memory or time than allowed.
    #[error("{arg}: {what} is {n}, more than the limit of {limit}")]
    TooLarge {
        /// Name of the public argument that sets the count.
        arg: &'static str,
        /// What was counted.
        what: &'static str,
        /// The count.
        n: u64,
        /// The limit.
        limit: u64,
    },
    /// The run was cancelled through its cancellation flag (Ctrl-C in Python).
    #[error("cancelled")]
    Cancelled,
    /// The thread pool could not be built.
    #[error("threads: {0}")]
    Pool(#[from] PoolError),
}

impl SpinError {
    pub(crate) fn invalid(arg: &'static str, msg: impl Into<String>) -> Self {
        SpinError::InvalidArgument {
            arg,
            msg: msg.into(),
        }
    }
}

/// A cancellation flag polled by long loops; `None` means "never cancelled".
#[derive(Debug, Clone, Copy, Default)]
pub struct Cancel<'a>(pub Option<&'a crate::control::Control>);

impl Cancel<'_> {
    /// Whether cancellation was requested.
    #[inline]
    pub fn requested(&self) -> bool {
        self.0.is_some_and(|c| c.stop_requested())
    }

    /// Records `n` more work units done (for a progress bar); free when nobody watches.
    #[inline]
    pub fn advance(&self, n: u64) {
        if let Some(c) = self.0 {
            c.advance(n);
        }
    }

    /// Sets the number of work units expected.
    pub fn set_total(&self, total: u64) {
        if let Some(c) = self.0 {
            c.set_total(total);
        }
    }

    /// `Err(Cancelled)` when cancellation was requested.
    #[inline]
    pub fn check(&self) -> Result<(), SpinError> {
        if self.requested() {
            Err(SpinError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Checks that every value of `x` is finite.
pub(crate) fn check_finite(arg: &'static str, x: &[f64]) -> Result<(), SpinError> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(SpinError::invalid(
            arg,
            format!("must be finite, got {} at index {i}", x[i]),
        )),
    }
}

/// Checks a list of inverse temperatures: non-empty, finite, ≥ 0.
pub(crate) fn check_betas(arg: &'static str, betas: &[f64]) -> Result<(), SpinError> {
    if betas.is_empty() {
        return Err(SpinError::invalid(arg, "must not be empty"));
    }
    match betas.iter().position(|b| !(b.is_finite() && *b >= 0.0)) {
        None => Ok(()),
        Some(i) => Err(SpinError::invalid(
            arg,
            format!("must be finite and >= 0, got {} at index {i}", betas[i]),
        )),
    }
}

/// Checks spin states (`n_states × n`, row-major, values ±1).
pub(crate) fn check_states(arg: &'static str, s: &[i8], n: usize) -> Result<usize, SpinError> {
    if n == 0 {
        return Err(SpinError::invalid("J", "the model has no spins"));
    }
    if !s.len().is_multiple_of(n) {
        return Err(SpinError::invalid(
            arg,
            format!("length {} is not a multiple of n = {n}", s.len()),
        ));
    }
    if let Some(i) = s.iter().position(|&v| v != 1 && v != -1) {
        return Err(SpinError::invalid(
            arg,
            format!(
                "spins must be -1 or +1, got {} at state {}, spin {}",
                s[i],
                i / n,
                i % n
            ),
        ));
    }
    Ok(s.len() / n)
}

/// A fresh uniformly random spin state.
pub(crate) fn random_state(rng: &mut crate::rng::SplitMix64, n: usize) -> Vec<i8> {
    let mut s = Vec::with_capacity(n);
    let mut bits = 0u64;
    for i in 0..n {
        if i % 64 == 0 {
            bits = rng.next_u64();
        }
        s.push(if bits & 1 == 1 { 1 } else { -1 });
        bits >>= 1;
    }
    s
}
