//! # MLP moment propagation
//!
//! The expected output of a fixed MLP under a Gaussian input, layer by layer, without sampling
//! (Wu, Lecomte, Winer et al., "Estimating the expected output of wide random MLPs more
//! efficiently than sampling"), and the Monte Carlo baseline it is compared with at equal FLOPs.
//!
//! - [`gauss`]: 1-D Gaussian expectations of activations (`G_k = E φ^(k)`, moments, Mehler).
//! - [`estimate`]: `mean_field` (NNGP recursion), `mean_prop` (K = 1), `cov_prop` (K = 2, with a
//!   Mehler order), `cumulant3` (K = 3, third cumulant tracked, n ≤ 256).
//! - [`monte_carlo`]: batched forward passes with counter-based streams (bit-identical for any
//!   thread count), per-neuron f64 sums, antithetic option; importance-sampled tail counts.
//! - [`gradient`]: reverse-mode gradients of a `mean_prop` / `cov_prop` objective
//!   `Σ c_i E y_i + Σ d_i Var y_i` with respect to every weight and bias; [`kprop_grad`]: the
//!   same for kprop `K = 2` AUGMENT (exact or average metric).
//!
//! FLOPs are counted analytically from one table (see [`flops`]).
//!
//! Layout: a network has `L` linear layers; `weights[l]` is row-major `n_{l+1} × n_l`, biases
//! have length `n_{l+1}`, `acts` has `L − 1` entries (the last layer is linear).

pub mod estimate;
pub mod gauss;
pub mod gradient;
pub mod kprop;
pub mod kprop3;
pub mod kprop4;
pub mod kprop_grad;
pub mod linalg;
pub mod monte_carlo;

pub use estimate::{Estimate, EstimateOptions, LayerEstimate, Method, estimate, mean_field};
pub use gauss::{Act, Moments};
pub use gradient::{Gradient, gradient};
pub use kprop_grad::{KpropMetric, kprop2_gradient};
pub use monte_carlo::{McOptions, McResult, TailMc, monte_carlo, tail_monte_carlo};

use crate::parallel::PoolError;
use std::borrow::Cow;

/// Errors of the MLP module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MlpError {
    /// An argument outside its domain; `arg` names it.
    #[error("{arg}: {msg}")]
    InvalidArgument {
        /// Name of the offending argument.
        arg: &'static str,
        /// What is wrong with it.
        msg: String,
    },
    /// A computation that would need more memory than allowed.
    #[error("{what}: {n} exceeds the limit of {limit}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The count.
        n: u64,
        /// The limit.
        limit: u64,
    },
    /// The run was cancelled (Ctrl-C in Python).
    #[error("cancelled")]
    Cancelled,
    /// The thread pool could not be built.
    #[error("threads: {0}")]
    Pool(#[from] PoolError),
}

impl MlpError {
    pub(crate) fn invalid(arg: &'static str, msg: impl Into<String>) -> Self {
        MlpError::InvalidArgument {
            arg,
            msg: msg.into(),
        }
    }
}

/// Refuses work whose buffers (`count` f64 values in all, `None` when the count overflowed) cannot
/// be allocated: checked arithmetic, then one reservation of that size (released at once) before
/// any work starts, so a huge request is an error naming `arg`, never an abort mid-run.
pub(crate) fn reserve_probe(
    arg: &'static str,
    count: Option<usize>,
    what: &str,
) -> Result<(), MlpError> {
    let Some(bytes) = count.and_then(|n| n.checked_mul(8)) else {
        return Err(MlpError::invalid(
            arg,
            format!("{what} would need more memory than the address space holds"),
        ));
    };
    crate::mem::try_with_capacity::<u8>(bytes)
        .map(drop)
        .map_err(|_| {
            MlpError::invalid(
                arg,
                format!("{what} would need {bytes} bytes of memory, more than can be allocated"),
            )
        })
}

/// `Σ_l n_l²` and the largest width (checked).
pub(crate) fn square_sizes(net: &Net) -> (Option<usize>, usize) {
    let wmax = net.widths.iter().copied().max().unwrap_or(0);
    let sum = net.widths[1..]
        .iter()
        .try_fold(0usize, |a, &n| a.checked_add(n.checked_mul(n)?));
    (sum, wmax)
}

/// A cancellation flag polled between layers / batches; `None` never cancels.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cancel<'a>(pub Option<&'a crate::control::Control>);

impl Cancel<'_> {
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
    pub fn check(&self) -> Result<(), MlpError> {
        if self.0.is_some_and(|c| c.stop_requested()) {
            Err(MlpError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A checked MLP. Its weights and biases are owned or borrowed (`Net<'static>` owns them; the
/// bindings borrow the caller's arrays instead of copying them on every call).
#[derive(Debug, Clone)]
pub struct Net<'a> {
    /// Layer widths `n_0, …, n_L`.
    pub widths: Vec<usize>,
    /// `weights[l]`: row-major `n_{l+1} × n_l`.
    pub weights: Vec<Cow<'a, [f64]>>,
    /// `biases[l]`: length `n_{l+1}`.
    pub biases: Vec<Cow<'a, [f64]>>,
    /// Activations of the `L − 1` hidden layers.
    pub acts: Vec<Act>,
}

fn check_finite(arg: &'static str, what: &str, x: &[f64]) -> Result<(), MlpError> {
    // a branch-free pass first (it vectorises: every call checks all the weights), the position
    // only when one is not finite
    const EXP: u64 = 0x7ff0_0000_0000_0000;
    if !x
        .iter()
        .fold(false, |bad, v| bad | (v.to_bits() & EXP == EXP))
    {
        return Ok(());
    }
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(MlpError::invalid(
            arg,
            format!("{what} must be finite, got {} at flat index {i}", x[i]),
        )),
    }
}

impl<'a> Net<'a> {
    /// Builds a network from `weights` (with their shapes `(rows, cols)`), `biases` and
    /// activation names; each of `weights` and `biases` is owned (`Vec<f64>`) or borrowed
    /// (`&[f64]`).
    ///
    /// # Errors
    /// [`MlpError::InvalidArgument`] if the shapes do not chain, a value is not finite, the
    /// number of activations is not `L − 1` or a name is unknown.
    pub fn new<W: Into<Cow<'a, [f64]>>, B: Into<Cow<'a, [f64]>>>(
        shapes: &[(usize, usize)],
        weights: Vec<W>,
        biases: Vec<B>,
        acts: &[String],
    ) -> Result<Net<'a>, MlpError> {
        let depth = shapes.len();
        if depth == 0 {
            return Err(MlpError::invalid("weights", "need at least one layer"));
        }
        if weights.len() != depth || biases.len() != depth {
            return Err(MlpError::invalid(
                "biases",
                format!("expected {depth} bias vectors, got {}", biases.len()),
            ));
        }
        let weights: Vec<Cow<'a, [f64]>> = weights.into_iter().map(Into::into).collect();
        let biases: Vec<Cow<'a, [f64]>> = biases.into_iter().map(Into::into).collect();
        let mut widths = vec![shapes[0].1];
        for (l, &(r, c)) in shapes.iter().enumerate() {
            if r == 0 || c == 0 {
                return Err(MlpError::invalid(
                    "weights",
                    format!("layer {l} has an empty shape ({r}, {c})"),
                ));
            }
            if c != widths[l] {
                return Err(MlpError::invalid(
                    "weights",
                    format!(
                        "shapes do not chain: layer {l} has {c} columns but the previous layer has {} outputs",
                        widths[l]
                    ),
                ));
            }
            if weights[l].len() != r * c {
                return Err(MlpError::invalid(
                    "weights",
                    format!(
                        "layer {l}: {} values for shape ({r}, {c})",
                        weights[l].len()
                    ),
                ));
            }
            if biases[l].len() != r {
                return Err(MlpError::invalid(
                    "biases",
                    format!("layer {l}: expected length {r}, got {}", biases[l].len()),
                ));
            }
            check_finite("weights", &format!("layer {l}"), &weights[l])?;
            check_finite("biases", &format!("layer {l}"), &biases[l])?;
            widths.push(r);
        }
        if acts.len() != depth - 1 {
            return Err(MlpError::invalid(
                "activations",
                format!(
                    "expected {} names (the last layer is linear), got {}",
                    depth - 1,
                    acts.len()
                ),
            ));
        }
        let acts = acts
            .iter()
            .map(|a| {
                Act::from_name(a).ok_or_else(|| {
                    MlpError::invalid(
                        "activations",
                        format!("unknown activation {a:?}; expected relu, gelu, erf, tanh, identity, heaviside or square"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Net {
            widths,
            weights,
            biases,
            acts,
        })
    }

    /// Number of linear layers `L`.
    pub fn depth(&self) -> usize {
        self.weights.len()
    }

    /// Activation applied after linear layer `l` (identity for the last one).
    pub fn act(&self, l: usize) -> Act {
        self.acts.get(l).copied().unwrap_or(Act::Identity)
    }

    /// Monte Carlo FLOPs per sample: `Σ_l (2 n_l n_{l-1} + n_l + c_act n_l)`.
    pub fn flops_per_sample(&self) -> f64 {
        (0..self.depth())
            .map(|l| {
                let (o, i) = (self.widths[l + 1] as f64, self.widths[l] as f64);
                2.0 * o * i + o + self.act(l).c_act() * o
            })
            .sum()
    }
}

/// A Gaussian input `N(mean, cov)`.
#[derive(Debug, Clone)]
pub struct Input {
    /// Mean, length `n_0`.
    pub mean: Vec<f64>,
    /// Covariance: diagonal (length `n_0`) or full (row-major `n_0 × n_0`).
    pub cov: Cov,
}

/// Input covariance.
#[derive(Debug, Clone)]
pub enum Cov {
    /// Diagonal variances.
    Diag(Vec<f64>),
    /// Full symmetric positive semi-definite matrix, row-major, with its lower Cholesky-like
    /// factor `L` (`cov = L Lᵀ`, from an LDLᵀ-style factorisation that tolerates semi-definite).
    Full {
        /// The matrix.
        cov: Vec<f64>,
        /// A factor `L` with `L Lᵀ = cov`.
        factor: Vec<f64>,
    },
}

impl Input {
    /// Standard normal input of dimension `n`.
    pub fn standard(n: usize) -> Input {
        Input {
            mean: vec![0.0; n],
            cov: Cov::Diag(vec![1.0; n]),
        }
    }

    /// Checks and builds an input. `cov` is either `n` variances or an `n × n` matrix.
    ///
    /// # Errors
    /// [`MlpError::InvalidArgument`] for a wrong length, a non-finite value, a negative
    /// variance, an asymmetric or non-positive-semi-definite matrix.
    pub fn new(n: usize, mean: Vec<f64>, cov: Vec<f64>, full: bool) -> Result<Input, MlpError> {
        if mean.len() != n {
            return Err(MlpError::invalid(
                "input_mean",
                format!("expected length {n} (the input width), got {}", mean.len()),
            ));
        }
        check_finite("input_mean", "the mean", &mean)?;
        check_finite("input_cov", "the covariance", &cov)?;
        if !full {
            if cov.len() != n {
                return Err(MlpError::invalid(
                    "input_cov",
                    format!("expected {n} variances, got {}", cov.len()),
                ));
            }
            if let Some(i) = cov.iter().position(|&v| v < 0.0) {
                return Err(MlpError::invalid(
                    "input_cov",
                    format!("variances must be >= 0, got {} at {i}", cov[i]),
                ));
            }
            return Ok(Input {
                mean,
                cov: Cov::Diag(cov),
            });
        }
        if cov.len() != n * n {
            return Err(MlpError::invalid(
                "input_cov",
                format!("expected a {n} x {n} matrix, got {} values", cov.len()),
            ));
        }
        let scale = cov.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-300);
        for i in 0..n {
            for j in 0..i {
                if (cov[i * n + j] - cov[j * n + i]).abs() > 1e-10 * scale {
                    return Err(MlpError::invalid(
                        "input_cov",
                        format!("matrix is not symmetric at ({i}, {j})"),
                    ));
                }
            }
        }
        // Cholesky with a tolerance for semi-definite pivots.
        let mut f = vec![0.0; n * n];
        let tol = 1e-10 * scale;
        for j in 0..n {
            let mut d = cov[j * n + j];
            for k in 0..j {
                d -= f[j * n + k] * f[j * n + k];
            }
            if d < -tol {
                return Err(MlpError::invalid(
                    "input_cov",
                    format!("matrix is not positive semi-definite (pivot {j} is {d:.3e})"),
                ));
            }
            let d = d.max(0.0).sqrt();
            f[j * n + j] = d;
            for i in j + 1..n {
                let mut s = cov[i * n + j];
                for k in 0..j {
                    s -= f[i * n + k] * f[j * n + k];
                }
                f[i * n + j] = if d > 0.0 { s / d } else { 0.0 };
                if d == 0.0 && s.abs() > tol.sqrt() {
                    return Err(MlpError::invalid(
                        "input_cov",
                        format!("matrix is not positive semi-definite (column {j})"),
                    ));
                }
            }
        }
        Ok(Input {
            mean,
            cov: Cov::Full { cov, factor: f },
        })
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_finite_finds_the_first_bad_value_anywhere() {
        // the branch-free pass against the plain test, at every position of a length that has a
        // tail after the vectorised part, with the extremes that are still finite around it
        let base: Vec<f64> = (0..37)
            .map(|i| match i % 4 {
                0 => f64::MAX,
                1 => -f64::MIN_POSITIVE / 4.0,
                2 => 0.0,
                _ => -1e300,
            })
            .collect();
        assert!(check_finite("weights", "layer 0", &base).is_ok());
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -f64::NAN] {
            for i in 0..base.len() {
                let mut x = base.clone();
                x[i] = bad;
                if i + 2 < x.len() {
                    x[i + 2] = f64::NAN;
                }
                let e = check_finite("weights", "layer 0", &x)
                    .unwrap_err()
                    .to_string();
                assert!(e.starts_with("weights: "), "{e}");
                assert!(e.ends_with(&format!("at flat index {i}")), "{e}");
            }
        }
    }

    #[test]
    fn a_borrowed_net_equals_an_owned_one() {
        let w: Vec<f64> = (0..6).map(|i| 0.3 * f64::from(i) - 0.7).collect();
        let b = vec![0.1, -0.2, 0.05];
        let acts = vec!["tanh".to_string()];
        let shapes = [(3, 2), (1, 3)];
        let w2 = vec![0.5, -0.25, 1.0];
        let owned = Net::new(
            &shapes,
            vec![w.clone(), w2.clone()],
            vec![b.clone(), vec![0.0]],
            &acts,
        )
        .unwrap();
        let borrowed = Net::new(
            &shapes,
            vec![&w[..], &w2[..]],
            vec![&b[..], &[0.0][..]],
            &acts,
        )
        .unwrap();
        assert!(matches!(borrowed.weights[0], Cow::Borrowed(_)));
        let input = Input::new(2, vec![0.2, -0.1], vec![1.0, 0.5], false).unwrap();
        let opts = EstimateOptions {
            method: Method::KProp1,
            mehler_order: 1,
            keep_cov: false,
            init_scale: None,
        };
        let (a, c) = (
            estimate(&owned, &input, &opts, Cancel(None)).unwrap(),
            estimate(&borrowed, &input, &opts, Cancel(None)).unwrap(),
        );
        assert_eq!(a.layers[1].pre_mean, c.layers[1].pre_mean);
        assert_eq!(a.layers[1].pre_var, c.layers[1].pre_var);
    }

    #[test]
    fn reserve_probe_refuses_overflow_and_impossible_sizes_by_name() {
        for count in [None, Some(usize::MAX / 8), Some(1usize << 60)] {
            match reserve_probe("weights", count, "buffers") {
                Err(MlpError::InvalidArgument { arg, .. }) => assert_eq!(arg, "weights"),
                other => panic!("{count:?}: {other:?}"),
            }
        }
        assert!(reserve_probe("weights", Some(1 << 20), "buffers").is_ok());
    }
}
