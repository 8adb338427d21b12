//! # Entropy of floating-point-quantized random variables
//!
//! Implements "The Entropy of Floating-Point Numbers" (Daniels, D'Ambrosia, DeWeese, Sahai, 2026):
//!
//! - [`Format`]: binary float formats (float64 … float4, user minifloats) and exact
//!   round-to-nearest-even quantization ([`quantize_into`], [`codes_into`]).
//! - [`Density`]: a continuous law evaluated in batches; [`Law`] the built-in laws with tail-accurate
//!   cdf / sf; [`Scaled`] rescales any density.
//! - [`exact_entropy`]: the entropy in bits of `Q_F(X)` over the format's codes, by enumeration
//!   of every cell (small formats) or by the width-class method (float32, float64).
//! - [`approx_entropy`]: the paper's analytic approximation `p − 1/2 + K` and the refined one with
//!   the boundary / underflow / overflow / KL terms, the wobble and a bound.
//! - [`empirical_entropy`]: bits per value of an array of codes, with its field split.
//! - [`brute_force_entropy`]: the sum over every cell of a format of ≤ 32 bits (validation).

mod approx;
mod brute;
mod density;
mod empirical;
mod exact;
mod format;
mod laws;
mod quad;

pub use approx::{Approx, ApproxTerms, approx_entropy};
pub use brute::{BRUTE_FORCE_MAX_BITS, brute_force_entropy};
pub use density::{Density, PointEval, Scaled};
pub use empirical::{Empirical, Layout, empirical_entropy};
pub use exact::{Entropy, EntropyOptions, Method, exact_entropy};
pub use format::{FORMAT_NAMES, Format, Overflow, ZeroPolicy, pow2, scale2};
pub use laws::{Law, LawKind, MIN_LN_MASS, negligible_density};

use crate::parallel::PoolError;
use rayon::prelude::*;

/// Errors of the floating-point entropy module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FpError {
    /// A format name that is not one of [`FORMAT_NAMES`].
    #[error("fmt: unknown format {0:?}; expected one of {names}", names = FORMAT_NAMES.join(", "))]
    UnknownFormat(String),
    /// An argument outside its domain; `arg` names it.
    #[error("{arg}: {msg}")]
    InvalidArgument {
        /// Name of the offending argument.
        arg: &'static str,
        /// What is wrong with it.
        msg: String,
    },
    /// A computation that would need more memory or time than allowed.
    #[error("{arg}: {what}: {n} exceeds the limit of {limit}")]
    TooLarge {
        /// Public name of the argument that made it too large.
        arg: &'static str,
        /// What was counted.
        what: &'static str,
        /// The count.
        n: u64,
        /// The limit.
        limit: u64,
    },
    /// A user-supplied density returned something unusable (NaN, negative, wrong length) or
    /// raised; the bindings re-raise the original exception when there is one.
    #[error("dist: {0}")]
    Density(String),
    /// A numerical method failed on valid input (its message says why and what to use instead).
    #[error("{0}")]
    Numerical(String),
    /// The thread pool could not be built.
    #[error("threads: {0}")]
    Pool(#[from] PoolError),
}

impl FpError {
    pub(crate) fn invalid(arg: &'static str, msg: impl Into<String>) -> Self {
        FpError::InvalidArgument {
            arg,
            msg: msg.into(),
        }
    }
}

/// Quantizes `x` to `fmt` (round to nearest even, the format's overflow rule), writing the
/// resulting values (as float64) into `out`. Runs in parallel for large inputs.
///
/// # Errors
/// [`FpError::InvalidArgument`] if the lengths differ.
pub fn quantize_into(fmt: &Format, x: &[f64], out: &mut [f64]) -> Result<(), FpError> {
    if x.len() != out.len() {
        return Err(FpError::invalid(
            "out",
            format!("length {} != input length {}", out.len(), x.len()),
        ));
    }
    const CHUNK: usize = 1 << 14;
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, xs)| {
            for (o, &v) in o.iter_mut().zip(xs) {
                *o = fmt.quantize(v);
            }
        });
    Ok(())
}

/// Quantizes `x` to `fmt` and writes the codes (the bit patterns numpy / ml_dtypes store).
///
/// # Errors
/// [`FpError::InvalidArgument`] if the lengths differ.
pub fn codes_into(fmt: &Format, x: &[f64], out: &mut [u64]) -> Result<(), FpError> {
    if x.len() != out.len() {
        return Err(FpError::invalid(
            "out",
            format!("length {} != input length {}", out.len(), x.len()),
        ));
    }
    const CHUNK: usize = 1 << 14;
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, xs)| {
            for (o, &v) in o.iter_mut().zip(xs) {
                *o = fmt.code_of(v);
            }
        });
    Ok(())
}
