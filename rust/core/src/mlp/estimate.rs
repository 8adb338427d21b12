//! Deterministic estimators of per-neuron means (and variances, covariances, third cumulants).
//!
//! Every estimator propagates a Gaussian-like summary of the pre-activations through the
//! network: the linear step is exact (`m' = W μ + b`, `S' = W C Wᵀ`, `T' = T ×₁W ×₂W ×₃W`), the
//! activation step uses the 1-D expectations of [`super::gauss`].
//!
//! FLOPs follow one table: GEMM `(a×b)(b×c)` = `2abc`, GEMV `2ab`, elementwise 1 per element,
//! one 1-D Gaussian coefficient of one neuron = [`Act::coef_flops`].

use super::gauss::{Act, MAX_ORDER, Moments, clamp_var};
use super::linalg::{View, a_wt, gemm, w_c};
use super::{Cancel, Cov, Input, MlpError, Net};
use crate::numeric::dot8 as dot;
use rayon::prelude::*;
use std::f64::consts::PI;

/// Which estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// K = 1: mean vector and one isotropic activation variance per layer.
    MeanProp,
    /// K = 2: mean vector and full covariance.
    CovProp,
    /// K = 3: mean, covariance (Mehler order at least 2) and full third cumulant
    /// (n ≤ [`CUMULANT3_MAX_WIDTH`]), plus the diagonal fourth cumulant of the pre-activations
    /// (`q_i = Σ W_ia⁴ κ4_a + 3 Σ_{a≠c} W_ia² W_ic² κ(φ_a,φ_a,φ_c,φ_c)`) for the mean and variance.
    Cumulant3,
    /// The paper's cumulant propagation ("kprop") at `K = 1`: like [`Method::MeanProp`] but with
    /// the reference's conventions: the input covariance enters only through its isotropic
    /// (pure-trace) part `tr Σ / n₀`, and the pre-activation variance is `s ‖W_i‖²` (exact
    /// metric) or `s · init_scale_l` (average metric, [`EstimateOptions::init_scale`]).
    KProp1,
    /// kprop `K = 2`, kind AUGMENT ([`super::kprop::kprop2_augment`]).
    KProp2Augment,
    /// kprop `K = 3`, kind SIMPLE (full third cumulant, kept factored as the reference's
    /// `factor=True`, which keeps every SIMPLE term; n ≤ [`KPROP3_SIMPLE_MAX_WIDTH`]).
    KProp3Simple,
    /// kprop `K = 3`, kind AUGMENT ([`super::kprop4::kprop3_rows`]: also the fourth cumulant's
    /// one-trace part `Sym(A ⊗ I)` and the diagrams of cost 3; n ≤ [`CUMULANT3_MAX_WIDTH`]).
    KProp3Augment,
    /// kprop `K = 3`, kind AUGMENT with the reference's factored term set (`factor=True`: the
    /// augmented diagrams that do not factor are dropped; the third cumulant kept factored).
    KProp3AugmentFactor,
    /// kprop `K = 4`, kind SIMPLE (`κ1 … κ4` in full, the fourth cumulant kept factored as the
    /// reference's `factor=True`, which keeps every SIMPLE term: [`super::kprop4::kprop4_factored`];
    /// n ≤ [`KPROP4_SIMPLE_MAX_WIDTH`]).
    KProp4Simple,
    /// kprop `K = 4`, kind AUGMENT (also `Sym(A ⊗ I)` of degree 5 and the pure trace of degree 6).
    KProp4Augment,
    /// kprop `K = 4`, kind AUGMENT with the reference's factored term set.
    KProp4AugmentFactor,
}

/// Largest width accepted by the `K = 4` AUGMENT kprop methods (the fourth cumulant has `n⁴`
/// entries).
pub const KPROP4_MAX_WIDTH: usize = 128;

/// Largest width accepted by [`Method::KProp4Simple`] (the fourth cumulant factored: rank `2 n`
/// more per layer, `n²` numbers per rank, `O(n³ · rank)` work per layer).
pub const KPROP4_SIMPLE_MAX_WIDTH: usize = 256;

/// Largest width accepted by [`Method::KProp3Simple`] (the third cumulant factored: `~2 n` more
/// rank per layer, `O(n² · rank)` work per layer).
pub const KPROP3_SIMPLE_MAX_WIDTH: usize = 1024;

/// Largest width accepted by [`Method::Cumulant3`] and the dense `K = 3` AUGMENT (the third
/// cumulant has `n³` entries).
pub const CUMULANT3_MAX_WIDTH: usize = 256;

/// Options of [`estimate`].
#[derive(Debug, Clone)]
pub struct EstimateOptions {
    /// The estimator.
    pub method: Method,
    /// Order `M` of the Mehler series for off-diagonal covariances (1 = basic `cov_prop`).
    pub mehler_order: usize,
    /// Keep the full pre-activation covariance of every layer in the result.
    pub keep_cov: bool,
    /// Average metric of [`Method::KProp1`]: one `w_var` per linear layer (`E[‖W_i‖²]`); `None`
    /// uses the exact row norms `‖W_i‖²`.
    pub init_scale: Option<Vec<f64>>,
}

/// Per-layer output of an estimator. Layer `l` is linear layer `l` (0-based) followed by its
/// activation (identity for the last layer).
#[derive(Debug, Clone, Default)]
pub struct LayerEstimate {
    /// Means of the pre-activations.
    pub pre_mean: Vec<f64>,
    /// Variances of the pre-activations (the estimator's own, `s ‖W_i‖²` for `mean_prop`).
    pub pre_var: Vec<f64>,
    /// Means of the activations.
    pub post_mean: Vec<f64>,
    /// Variances of the activations.
    pub post_var: Vec<f64>,
    /// Pre-activation covariance (row-major), when asked and available.
    pub pre_cov: Option<Vec<f64>>,
    /// Third cumulants `T_iii` of the pre-activations (`cumulant3` only).
    pub pre_kappa3: Option<Vec<f64>>,
}

/// Result of [`estimate`].
#[derive(Debug, Clone, Default)]
pub struct Estimate {
    /// One entry per linear layer.
    pub layers: Vec<LayerEstimate>,
    /// FLOPs per layer by the FLOP table.
    pub flops_by_layer: Vec<f64>,
    /// Number of variances clamped to the floor.
    pub clamps: u64,
}

impl Estimate {
    /// Records a hidden layer: the pre-activations' mean, variance, covariance (when kept) and
    /// third cumulants, the activations' mean and their variances (the diagonal of `post_cov`),
    /// and the layer's FLOPs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_hidden(
        &mut self,
        pre_mean: Vec<f64>,
        pre_var: Vec<f64>,
        post_mean: Vec<f64>,
        post_cov: &[f64],
        pre_cov: Option<Vec<f64>>,
        pre_kappa3: Option<Vec<f64>>,
        flops: f64,
    ) {
        let n = post_mean.len();
        let post_var = (0..n).map(|i| post_cov[i * n + i]).collect();
        self.layers.push(LayerEstimate {
            pre_mean,
            pre_var,
            post_mean,
            post_var,
            pre_cov,
            pre_kappa3,
        });
        self.flops_by_layer.push(flops);
    }

    /// Total FLOPs.
    pub fn flops(&self) -> f64 {
        self.flops_by_layer.iter().sum()
    }
}

/// `W μ + b` (GEMV).
fn affine(w: &[f64], b: &[f64], mu: &[f64]) -> Vec<f64> {
    let n = mu.len();
    w.par_chunks(n)
        .zip(b.par_iter())
        .map(|(row, bi)| dot(row, mu) + bi)
        .collect()
}

/// `W Σ Wᵀ` for the input covariance, with its FLOPs.
fn input_cov(w: &[f64], rows: usize, input: &Input) -> (Vec<f64>, f64) {
    let n0 = input.dim();
    let a = scaled_factor(w, rows, input);
    let mut s = vec![0.0; rows * rows];
    gemm(
        rows,
        n0,
        rows,
        View::rows(&a, n0),
        View::trans(&a, n0),
        0.0,
        &mut s,
    );
    let f = match &input.cov {
        Cov::Diag(_) => rows as f64 * n0 as f64,
        Cov::Full { .. } => 2.0 * rows as f64 * (n0 * n0) as f64,
    };
    (s, f + 2.0 * (rows * rows) as f64 * n0 as f64)
}

/// `W F` with `F Fᵀ = Σ` (`W diag(√σ)` for a diagonal covariance).
fn scaled_factor(w: &[f64], rows: usize, input: &Input) -> Vec<f64> {
    let n0 = input.dim();
    match &input.cov {
        Cov::Diag(d) => {
            let sd: Vec<f64> = d.iter().map(|v| v.sqrt()).collect();
            w.chunks(n0)
                .flat_map(|row| row.iter().zip(&sd).map(|(a, s)| a * s).collect::<Vec<_>>())
                .collect()
        }
        Cov::Full { factor, .. } => {
            let mut a = vec![0.0; rows * n0];
            gemm(
                rows,
                n0,
                n0,
                View::rows(w, n0),
                View::rows(factor, n0),
                0.0,
                &mut a,
            );
            a
        }
    }
}

/// Runs one estimator on `net` with Gaussian input `input`.
///
/// # Errors
/// [`MlpError::InvalidArgument`] if the input dimension does not match or the Mehler order is
/// out of `1..=40`; [`MlpError::TooLarge`] for `cumulant3` above width 256;
/// [`MlpError::Cancelled`].
pub fn estimate(
    net: &Net,
    input: &Input,
    opts: &EstimateOptions,
    cancel: Cancel<'_>,
) -> Result<Estimate, MlpError> {
    if input.dim() != net.widths[0] {
        return Err(MlpError::invalid(
            "input_mean",
            format!(
                "input dimension {} does not match the network's {}",
                input.dim(),
                net.widths[0]
            ),
        ));
    }
    if opts.mehler_order == 0 || opts.mehler_order > MAX_ORDER {
        return Err(MlpError::invalid(
            "mehler_order",
            format!("must be in 1..={MAX_ORDER}, got {}", opts.mehler_order),
        ));
    }
    if matches!(
        opts.method,
        Method::Cumulant3
            | Method::KProp3Simple
            | Method::KProp3Augment
            | Method::KProp3AugmentFactor
    ) {
        let wmax = net.widths.iter().copied().max().unwrap_or(0);
        let limit = if opts.method == Method::KProp3Simple {
            KPROP3_SIMPLE_MAX_WIDTH
        } else {
            CUMULANT3_MAX_WIDTH
        };
        if wmax > limit {
            return Err(MlpError::TooLarge {
                what: "method",
                n: wmax as u64,
                limit: limit as u64,
            });
        }
    }
    let k4 = matches!(
        opts.method,
        Method::KProp4Simple | Method::KProp4Augment | Method::KProp4AugmentFactor
    );
    if k4 {
        let wmax = net.widths.iter().copied().max().unwrap_or(0);
        let limit = if opts.method == Method::KProp4Simple {
            KPROP4_SIMPLE_MAX_WIDTH
        } else {
            KPROP4_MAX_WIDTH
        };
        if wmax > limit {
            return Err(MlpError::TooLarge {
                what: "method",
                n: wmax as u64,
                limit: limit as u64,
            });
        }
    }
    let (sq, wmax) = super::square_sizes(net);
    let need = match opts.method {
        Method::MeanProp | Method::KProp1 => net
            .widths
            .windows(2)
            .map(|w| w[0].checked_mul(w[1]))
            .try_fold(0usize, |a, x| x.map(|x| a.max(x)))
            .and_then(|x| x.checked_mul(2)),
        Method::CovProp
        | Method::Cumulant3
        | Method::KProp2Augment
        | Method::KProp3Simple
        | Method::KProp3Augment
        | Method::KProp3AugmentFactor
        | Method::KProp4Simple
        | Method::KProp4Augment
        | Method::KProp4AugmentFactor => {
            let base = wmax.checked_mul(wmax).and_then(|x| x.checked_mul(6));
            let cubes = if opts.method == Method::KProp4Simple {
                // the factors (rank ≤ 2 n per layer, n² numbers each, twice in the linear step)
                // and five n³ tables (T, its tables, Q's repeated entries, the new terms)
                wmax.checked_pow(3).and_then(|x| {
                    x.checked_mul(4 * net.depth().max(1))
                        .and_then(|y| y.checked_add(x.checked_mul(5)?))
                })
            } else if k4 {
                // Q, Q' and the Leonov–Shiryaev tables: about four n⁴ tensors at the peak
                wmax.checked_pow(4).and_then(|x| x.checked_mul(4))
            } else if matches!(
                opts.method,
                Method::KProp3Simple | Method::KProp3AugmentFactor
            ) {
                // the factors (rank ≤ 9 n per layer) and the slices' stacked copies
                wmax.checked_mul(wmax)
                    .and_then(|x| x.checked_mul(27 * net.depth().max(1)))
            } else if matches!(opts.method, Method::Cumulant3 | Method::KProp3Augment) {
                wmax.checked_pow(3).and_then(|x| x.checked_mul(3))
            } else {
                Some(0)
            };
            let kept = if opts.keep_cov { sq } else { Some(0) };
            base.zip(cubes)
                .and_then(|(a, b)| a.checked_add(b))
                .zip(kept)
                .and_then(|(a, b)| a.checked_add(b))
        }
    };
    super::reserve_probe("weights", need, "the estimate's covariance buffers")?;
    if let Some(sc) = &opts.init_scale
        && (sc.len() != net.depth() || sc.iter().any(|x| !x.is_finite() || *x < 0.0))
    {
        return Err(MlpError::invalid(
            "init_scale",
            format!(
                "expected {} finite non-negative values (one per linear layer), got {:?}",
                net.depth(),
                sc
            ),
        ));
    }
    match opts.method {
        Method::MeanProp => mean_prop(net, input, None, cancel),
        Method::KProp1 => mean_prop(net, input, Some(opts.init_scale.as_deref()), cancel),
        Method::KProp2Augment => super::kprop::kprop2_augment(
            net,
            input,
            opts.init_scale.as_deref(),
            opts.keep_cov,
            false,
            cancel,
        ),
        // SIMPLE keeps every term with the factored third cumulant: the same sums in O(n³)
        Method::KProp3Simple | Method::KProp3AugmentFactor => super::kprop4::kprop3_factored(
            net,
            input,
            opts.init_scale.as_deref(),
            opts.keep_cov,
            opts.method == Method::KProp3AugmentFactor,
            cancel,
        ),
        Method::KProp3Augment => super::kprop4::kprop3_rows(
            net,
            input,
            opts.init_scale.as_deref(),
            opts.keep_cov,
            true,
            false,
            cancel,
        ),
        // SIMPLE keeps every term with the factored fourth cumulant: the same sums in O(n³ · rank)
        Method::KProp4Simple => super::kprop4::kprop4_factored(
            net,
            input,
            opts.init_scale.as_deref(),
            opts.keep_cov,
            cancel,
        ),
        Method::KProp4Augment | Method::KProp4AugmentFactor => super::kprop4::kprop4(
            net,
            input,
            opts.init_scale.as_deref(),
            opts.keep_cov,
            true,
            opts.method == Method::KProp4AugmentFactor,
            cancel,
        ),
        Method::CovProp | Method::Cumulant3 => cov_prop(net, input, opts, cancel),
    }
}

/// `K = 1` propagation. `kprop = None`: [`Method::MeanProp`] (exact input covariance);
/// `Some(scale)`: [`Method::KProp1`] (isotropic input part; average metric when `scale` is given).
fn mean_prop(
    net: &Net,
    input: &Input,
    kprop: Option<Option<&[f64]>>,
    cancel: Cancel<'_>,
) -> Result<Estimate, MlpError> {
    let mut out = Estimate::default();
    let mut mu = input.mean.clone();
    let mut s_act = 0.0;
    if kprop.is_some() {
        // the reference keeps only the pure-trace part P_{r>=1} Σ = (tr Σ / n₀) I of the input
        let n0 = input.dim();
        s_act = match &input.cov {
            Cov::Diag(d) => d.iter().sum::<f64>(),
            Cov::Full { cov, .. } => (0..n0).map(|i| cov[i * n0 + i]).sum::<f64>(),
        } / n0 as f64;
    }
    for l in 0..net.depth() {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let (rf, cf) = (rows as f64, cols as f64);
        let w = &net.weights[l];
        let m = affine(w, &net.biases[l], &mu);
        let mut flops = 2.0 * rf * cf + rf;
        let v: Vec<f64> = if let (Some(Some(scale)), true) = (kprop, l + 1 < net.depth()) {
            // average metric: v_i = s · w_var_l (no row norms); the reference keeps the exact
            // metric on the last layer
            flops += rf;
            vec![s_act * scale[l]; rows]
        } else if l == 0 && kprop.is_none() {
            let a = scaled_factor(w, rows, input);
            flops += match &input.cov {
                Cov::Diag(_) => rf * cf,
                Cov::Full { .. } => 2.0 * rf * cf * cf,
            } + 2.0 * rf * cf;
            a.par_chunks(cols).map(|r| dot(r, r)).collect()
        } else {
            flops += 2.0 * rf * cf + rf;
            w.par_chunks(cols).map(|r| s_act * dot(r, r)).collect()
        };
        let act = net.act(l);
        let mut clamps = 0u64;
        let moms: Vec<Moments> = m
            .iter()
            .zip(&v)
            .map(|(&mi, &vi)| {
                let (vc, c) = clamp_var(vi);
                clamps += u64::from(c);
                Moments::compute(act, mi, vc, 3, false)
            })
            .collect::<Vec<_>>();
        out.clamps += clamps;
        let post_mean: Vec<f64> = moms.iter().map(|x| x.g[0]).collect();
        let post_var: Vec<f64> = moms.iter().map(Moments::var).collect();
        if l + 1 < net.depth() {
            flops += 2.0 * act.coef_flops() * rf + rf;
        }
        s_act = post_var.iter().sum::<f64>() / rf;
        mu.clone_from(&post_mean);
        out.flops_by_layer.push(flops);
        out.layers.push(LayerEstimate {
            pre_mean: m,
            pre_var: v,
            post_mean,
            post_var,
            pre_cov: None,
            pre_kappa3: None,
        });
    }
    Ok(out)
}

/// Activation step of `cov_prop` on pre-activation `(m, S)` (+ third cumulant `t`): returns
/// `(μ, C, T_post)`. Also returns the per-neuron moments and FLOPs.
struct ActStep {
    mu: Vec<f64>,
    c: Vec<f64>,
    t: Option<Vec<f64>>,
    /// `K_ac = κ(φ_a, φ_a, φ_c, φ_c)` (diagonal: `κ4(φ_a)`), for the next layer's diagonal
    /// fourth cumulant (`cumulant3` only).
    k4: Option<Vec<f64>>,
    flops: f64,
    clamps: u64,
}

fn activation_step(
    act: Act,
    m: &[f64],
    s: &[f64],
    t: Option<&[f64]>,
    q: Option<&[f64]>,
    order: usize,
) -> ActStep {
    let n = m.len();
    let nf = n as f64;
    let mut clamps = 0u64;
    let higher = t.is_some();
    let moms: Vec<Moments> = (0..n)
        .map(|i| {
            let (v, c) = clamp_var(s[i * n + i]);
            clamps += u64::from(c);
            Moments::compute(act, m[i], v, order.max(if higher { 4 } else { 3 }), higher)
        })
        .collect();
    let mut flops = (order as f64 + 2.0) * act.coef_flops() * nf;
    // Off-diagonal covariance by the Mehler series.
    let mut c = vec![0.0; n * n];
    c.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let gi = &moms[i].g;
        for (j, cij) in row.iter_mut().enumerate() {
            if i == j {
                *cij = moms[i].var();
                continue;
            }
            let sij = s[i * n + j];
            let gj = &moms[j].g;
            if order == 1 {
                *cij = sij * gi[1] * gj[1];
            } else {
                let (mut p, mut acc) = (1.0, 0.0);
                for k in 1..=order {
                    p *= sij / k as f64;
                    acc += p * gi[k] * gj[k];
                }
                *cij = acc;
            }
        }
    });
    flops += if order == 1 {
        2.0 * nf * nf
    } else {
        4.0 * order as f64 * nf * nf
    };
    let mut mu: Vec<f64> = moms.iter().map(|x| x.g[0]).collect();
    let mut t_post = None;
    let mut k4_post = None;
    if let Some(t) = t {
        let n2 = n * n;
        let g: Vec<f64> = moms.iter().map(|x| x.g[1]).collect();
        let h: Vec<f64> = moms.iter().map(|x| x.g[2]).collect();
        let e: Vec<f64> = moms.iter().map(Moments::var_dm).collect();
        let f: Vec<f64> = moms
            .iter()
            .map(|x| 2.0 * x.e2_dv - 2.0 * x.g[0] * x.g[2])
            .collect();
        let mut tp = vec![0.0; n * n2];
        tp.par_chunks_mut(n2).enumerate().for_each(|(i, blk)| {
            for j in 0..n {
                for k in 0..n {
                    let tijk = t[i * n2 + j * n + k];
                    let val = if i == j && j == k {
                        moms[i].kappa3() + g[i].powi(3) * tijk
                    } else if i == j || j == k || i == k {
                        // two equal indices a, one distinct b
                        let (a, b) = if i == j {
                            (i, k)
                        } else if j == k {
                            (j, i)
                        } else {
                            (i, j)
                        };
                        let sab = s[a * n + b];
                        e[a] * sab * g[b]
                            + 0.5 * sab * sab * f[a] * h[b]
                            + g[a] * g[a] * g[b] * tijk
                    } else {
                        let (sij, sik, sjk) = (s[i * n + j], s[i * n + k], s[j * n + k]);
                        g[i] * g[j] * g[k] * tijk
                            + h[i] * sij * sik * g[j] * g[k]
                            + h[j] * sij * sjk * g[i] * g[k]
                            + h[k] * sik * sjk * g[i] * g[j]
                    };
                    blk[j * n + k] = val;
                }
            }
        });
        // Corrections of the mean and variance by the pre-activation third cumulant and the
        // diagonal fourth cumulant q (E f(z) ≈ E_G f + κ3 E f'''/6 + κ4 E f''''/24).
        let mu0 = mu.clone();
        for i in 0..n {
            let tiii = t[i * n2 + i * n + i];
            let qi = q.map_or(0.0, |q| q[i]);
            let mo = &moms[i];
            let g4 = if mo.g.len() > 4 { mo.g[4] } else { 0.0 };
            mu[i] += tiii * mo.g[3] / 6.0 + qi * g4 / 24.0;
            c[i * n + i] += tiii * (mo.e2_d3 - 2.0 * mu0[i] * mo.g[3]) / 6.0
                + qi * (mo.e2_d4 - 2.0 * mu0[i] * g4) / 24.0;
        }
        // K_ac = κ(φ_a, φ_a, φ_c, φ_c) to second order in S_ac (Mehler on centred squares):
        // S e_a e_c + S² (f_a f_c / 2 − 2 g_a² g_c²); diagonal: κ4(φ_a) + g_a⁴ q_a.
        let mut k4 = vec![0.0; n * n];
        k4.par_chunks_mut(n).enumerate().for_each(|(a, row)| {
            for (cc, kv) in row.iter_mut().enumerate() {
                *kv = if a == cc {
                    moms[a].kappa4() + g[a].powi(4) * q.map_or(0.0, |q| q[a])
                } else {
                    let sac = s[a * n + cc];
                    sac * e[a] * e[cc]
                        + sac * sac * (0.5 * f[a] * f[cc] - 2.0 * g[a] * g[a] * g[cc] * g[cc])
                };
            }
        });
        k4_post = Some(k4);
        c.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for (j, cij) in row.iter_mut().enumerate() {
                if i != j {
                    let tiij = t[i * n2 + i * n + j];
                    let tijj = t[i * n2 + j * n + j];
                    *cij += 0.5 * (tiij * h[i] * g[j] + tijj * g[i] * h[j]);
                }
            }
        });
        flops += 12.0 * nf * nf * nf + 4.0 * nf * nf;
        t_post = Some(tp);
    }
    ActStep {
        mu,
        c,
        t: t_post,
        k4: k4_post,
        flops,
        clamps,
    }
}

/// `Ap[i][(b, c)] = Σ_a W_ia T[a][b][c]` on `b ≤ c` (`np = n (n + 1) / 2` per row): the first
/// mode product of a symmetric `n³` tensor, on its packed upper triangle.
fn first_mode_packed(t: &[f64], w: &[f64], r: usize, n: usize) -> Vec<f64> {
    let n2 = n * n;
    let np = n * (n + 1) / 2;
    // Tp[a][(b, c)] = T[a][b][c] for b ≤ c
    let mut tp = vec![0.0; n * np];
    if np > 0 {
        tp.par_chunks_mut(np).enumerate().for_each(|(a, row)| {
            let mut p = 0;
            for b in 0..n {
                let src = &t[a * n2 + b * n + b..a * n2 + (b + 1) * n];
                row[p..p + n - b].copy_from_slice(src);
                p += n - b;
            }
        });
    }
    let mut ap = vec![0.0; r * np];
    gemm(
        r,
        n,
        np,
        View::rows(w, n),
        View::rows(&tp, np),
        0.0,
        &mut ap,
    );
    ap
}

/// `T ×₁ W ×₂ W ×₃ W` for a symmetric `T` `n × n × n` and `W` `r × n` (row-major), with its FLOPs.
///
/// The symmetry halves the work (`3 n⁴` instead of `6 n⁴` at `r = n`): the first product runs on
/// the `n (n + 1) / 2` columns `b ≤ c` of `T`; the other two only on the rows `j ≥ i` of each
/// output block `i` (the rest mirrored), the second one first so that both are restricted. Only
/// the entries `T[a][b][c]` with `b ≤ c` are read.
pub(crate) fn mode_products(t: &[f64], w: &[f64], r: usize, n: usize) -> (Vec<f64>, f64) {
    let n2 = n * n;
    let np = n * (n + 1) / 2;
    let ap = first_mode_packed(t, w, r, n);
    // per output block i: U_i = W[i..] A_i (A_i the symmetric matrix of row i of Ap), then
    // T'[i][j][k] = Σ_c U_i[j][c] W_kc for j ≥ i (T'[i][j] = T'[j][i] for j < i, mirrored below)
    let r2 = r * r;
    let mut out = vec![0.0; r * r2];
    if r > 0 {
        out.par_chunks_mut(r2).enumerate().for_each(|(i, blk)| {
            let row = &ap[i * np..(i + 1) * np];
            let mut a = vec![0.0; n2];
            let mut p = 0;
            for x in 0..n {
                for y in x..n {
                    a[x * n + y] = row[p];
                    a[y * n + x] = row[p];
                    p += 1;
                }
            }
            let mut u = vec![0.0; (r - i) * n];
            gemm(
                r - i,
                n,
                n,
                View::rows(&w[i * n..], n),
                View::rows(&a, n),
                0.0,
                &mut u,
            );
            gemm(
                r - i,
                n,
                r,
                View::rows(&u, n),
                View::trans(w, n),
                0.0,
                &mut blk[i * r..],
            );
        });
        for j in 1..r {
            let (done, rest) = out.split_at_mut(j * r2);
            let blk = &mut rest[..r2];
            for i in 0..j {
                blk[i * r..(i + 1) * r]
                    .copy_from_slice(&done[i * r2 + j * r..i * r2 + (j + 1) * r]);
            }
        }
    }
    let (rf, nf) = (r as f64, n as f64);
    // Σ_i 2 (r − i) n (n + r) for the two restricted products
    (
        out,
        2.0 * rf * nf * np as f64 + rf * (rf + 1.0) * nf * (nf + rf),
    )
}

/// The diagonal `T'_iii` of `T' = T ×₁W ×₂W ×₃W` (`T` symmetric `n³`, `W` `r × n`), with its
/// FLOPs: what the output layer reports of its third cumulant, `≈ r n³` instead of
/// [`mode_products`]'s `≈ 4 r n³`. `T'_iii = Σ_{b ≤ c} (2 − δ_bc) W_ib W_ic Σ_a W_ia T_abc`.
pub(crate) fn mode_products_diag(t: &[f64], w: &[f64], r: usize, n: usize) -> (Vec<f64>, f64) {
    let np = n * (n + 1) / 2;
    if r == 0 || np == 0 {
        return (vec![0.0; r], 0.0);
    }
    let ap = first_mode_packed(t, w, r, n);
    let d: Vec<f64> = ap
        .par_chunks(np)
        .zip(w.par_chunks(n))
        .map(|(row, wi)| {
            let mut acc = 0.0;
            let mut p = 0;
            for b in 0..n {
                let inner: f64 = row[p + 1..p + n - b]
                    .iter()
                    .zip(&wi[b + 1..])
                    .map(|(x, y)| x * y)
                    .sum();
                acc += wi[b] * (row[p] * wi[b] + 2.0 * inner);
                p += n - b;
            }
            acc
        })
        .collect();
    let (rf, nf) = (r as f64, n as f64);
    (d, 2.0 * rf * nf * np as f64 + 3.0 * rf * np as f64)
}

fn cov_prop(
    net: &Net,
    input: &Input,
    opts: &EstimateOptions,
    cancel: Cancel<'_>,
) -> Result<Estimate, MlpError> {
    let third = opts.method == Method::Cumulant3;
    let mut out = Estimate::default();
    let mut mu = input.mean.clone();
    let mut c: Vec<f64> = Vec::new();
    let mut t: Option<Vec<f64>> = None;
    let mut k4: Option<Vec<f64>> = None;
    for l in 0..net.depth() {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let (rf, cf) = (rows as f64, cols as f64);
        let w = &net.weights[l];
        let m = affine(w, &net.biases[l], &mu);
        let mut flops = 2.0 * rf * cf + rf;
        let s = if l == 0 {
            let (s, f) = input_cov(w, rows, input);
            flops += f;
            s
        } else {
            let a = w_c(w, rows, cols, &c);
            let s = a_wt(&a, w, rows, cols);
            flops += 2.0 * rf * cf * cf + 2.0 * rf * rf * cf;
            s
        };
        let t_pre = if third {
            match &t {
                None => Some(vec![0.0; rows * rows * rows]),
                Some(tp) => {
                    let (tn, f) = mode_products(tp, w, rows, cols);
                    flops += f;
                    Some(tn)
                }
            }
        } else {
            None
        };
        // diagonal fourth cumulant of the pre-activations:
        // q_i = Σ_a W_ia⁴ K_aa + 3 Σ_{a≠c} W_ia² W_ic² K_ac
        let q_pre = k4.as_ref().map(|k| {
            let w2: Vec<f64> = w.iter().map(|x| x * x).collect();
            let mut koff = k.clone();
            for a in 0..cols {
                koff[a * cols + a] = 0.0;
            }
            let mut y = vec![0.0; rows * cols];
            gemm(
                rows,
                cols,
                cols,
                View::rows(&w2, cols),
                View::rows(&koff, cols),
                0.0,
                &mut y,
            );
            flops += 2.0 * rf * cf * cf + 4.0 * rf * cf;
            (0..rows)
                .map(|i| {
                    let r = &w2[i * cols..(i + 1) * cols];
                    let diag: f64 = r
                        .iter()
                        .enumerate()
                        .map(|(a, x)| x * x * k[a * cols + a])
                        .sum();
                    let off: f64 = r
                        .iter()
                        .zip(&y[i * cols..(i + 1) * cols])
                        .map(|(x, yy)| x * yy)
                        .sum();
                    diag + 3.0 * off
                })
                .collect::<Vec<f64>>()
        });
        cancel.check()?;
        let act = net.act(l);
        // K = 3 power counting needs the O(S²) Mehler term of the covariance: order >= 2
        let order = if third {
            opts.mehler_order.max(2)
        } else {
            opts.mehler_order
        };
        let step = activation_step(act, &m, &s, t_pre.as_deref(), q_pre.as_deref(), order);
        if l + 1 < net.depth() {
            flops += step.flops;
        }
        out.clamps += step.clamps;
        let pre_var: Vec<f64> = (0..rows).map(|i| s[i * rows + i]).collect();
        let post_var: Vec<f64> = (0..rows).map(|i| step.c[i * rows + i]).collect();
        let pre_kappa3 = t_pre.as_ref().map(|tp| {
            (0..rows)
                .map(|i| tp[i * rows * rows + i * rows + i])
                .collect()
        });
        out.layers.push(LayerEstimate {
            pre_mean: m,
            pre_var,
            post_mean: step.mu.clone(),
            post_var,
            pre_cov: if opts.keep_cov { Some(s) } else { None },
            pre_kappa3,
        });
        out.flops_by_layer.push(flops);
        mu = step.mu;
        c = step.c;
        t = step.t;
        k4 = step.k4;
    }
    Ok(out)
}

/// Infinite-width (NNGP) recursion for a network with i.i.d. weights `N(0, w_var_l / fan_in)`
/// and biases `N(0, b_var_l)`: returns per layer `(q_l, k_l)` where `q_l` is the second moment
/// of a pre-activation for one input with mean squared norm `q_in` per coordinate, and `k_l`
/// the covariance of one neuron's pre-activations under two *independent* such inputs.
///
/// # Errors
/// [`MlpError::InvalidArgument`] for mismatched lengths or negative variances.
pub fn mean_field(
    acts: &[Act],
    w_var: &[f64],
    b_var: &[f64],
    q_in: f64,
) -> Result<Vec<(f64, f64)>, MlpError> {
    let depth = acts.len() + 1;
    if w_var.len() != depth || b_var.len() != depth {
        return Err(MlpError::invalid(
            "w_var",
            format!("expected {depth} values of w_var and b_var"),
        ));
    }
    if w_var
        .iter()
        .chain(b_var)
        .any(|v| !v.is_finite() || *v < 0.0)
        || q_in.is_nan()
        || q_in < 0.0
    {
        return Err(MlpError::invalid(
            "w_var",
            "variances must be finite and >= 0",
        ));
    }
    let mut q = w_var[0] * q_in + b_var[0];
    let mut k = b_var[0];
    let mut out = vec![(q, k)];
    for l in 1..depth {
        let act = acts[l - 1];
        let qv = q.max(super::gauss::VAR_FLOOR);
        let e2 = Moments::compute(act, 0.0, qv, 3, false).e2;
        let cross = bivariate(act, qv, k);
        q = w_var[l] * e2 + b_var[l];
        k = w_var[l] * cross + b_var[l];
        out.push((q, k));
    }
    Ok(out)
}

/// `E[φ(u) φ(u')]` for zero-mean jointly Gaussian `u, u'` with variance `q` and covariance `k`.
fn bivariate(act: Act, q: f64, k: f64) -> f64 {
    let rho = (k / q).clamp(-1.0, 1.0);
    match act {
        Act::Relu => {
            let th = rho.acos();
            q * (th.sin() + (PI - th) * rho) / (2.0 * PI)
        }
        Act::Erf => 2.0 / PI * (2.0 * k / (1.0 + 2.0 * q)).asin(),
        Act::Identity => k,
        _ => {
            // 2-D Gauss–Hermite with a 60-point rule
            let gh = super::gauss::gauss_hermite_rule(60);
            let s = q.sqrt();
            let r2 = (1.0 - rho * rho).max(0.0).sqrt();
            let mut acc = 0.0;
            for (x1, w1) in gh.nodes.iter().zip(&gh.weights) {
                let a = act.apply(s * x1);
                for (x2, w2) in gh.nodes.iter().zip(&gh.weights) {
                    acc += w1 * w2 * a * act.apply(s * (rho * x1 + r2 * x2));
                }
            }
            acc
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{mode_products, mode_products_diag};

    #[test]
    fn mode_products_equal_the_triple_sum() {
        // a symmetric T (n = 7) mapped by W (r = 5 rows, and r = 9) against the naive sum; the
        // diagonal-only map against the same sums
        let n = 7;
        let mut t = vec![0.0; n * n * n];
        for a in 0..n {
            for b in 0..n {
                for c in 0..n {
                    let mut v = [a, b, c];
                    v.sort_unstable();
                    t[(a * n + b) * n + c] =
                        ((v[0] * 31 + v[1] * 17 + v[2] * 5) % 23) as f64 / 7.0 - 1.5;
                }
            }
        }
        for r in [5, 9] {
            let w: Vec<f64> = (0..r * n)
                .map(|i| ((i * 7919) % 19) as f64 / 9.0 - 1.0)
                .collect();
            let (out, flops) = mode_products(&t, &w, r, n);
            let (diag, dflops) = mode_products_diag(&t, &w, r, n);
            assert!(flops > dflops && dflops > 0.0);
            for i in 0..r {
                for j in 0..r {
                    for k in 0..r {
                        let mut s = 0.0;
                        for a in 0..n {
                            for b in 0..n {
                                for c in 0..n {
                                    s += w[i * n + a]
                                        * w[j * n + b]
                                        * w[k * n + c]
                                        * t[(a * n + b) * n + c];
                                }
                            }
                        }
                        let got = out[(i * r + j) * r + k];
                        assert!(
                            (got - s).abs() <= 1e-12 * (1.0 + s.abs()),
                            "({i},{j},{k}): {got} vs {s}"
                        );
                        if i == j && j == k {
                            let d = diag[i];
                            assert!((d - s).abs() <= 1e-12 * (1.0 + s.abs()), "{i}: {d} vs {s}");
                        }
                    }
                }
            }
        }
    }
}
