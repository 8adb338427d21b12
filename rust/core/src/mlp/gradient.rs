//! Reverse-mode gradients of `mean_prop` / `cov_prop` estimates.
//!
//! The objective is a linear functional of one layer's estimated pre-activation moments,
//! `J = Σ_i c_i m_i + Σ_i d_i v_i` (`m` the estimated mean, `v` the estimated variance), so any
//! smooth function of them (a Gaussian tail probability, a squared error) is handled by the
//! caller choosing `c = ∂f/∂m`, `d = ∂f/∂v`. The backward pass is the exact adjoint of the
//! forward recursions of [`super::estimate`] (no clamping active), using `∂G_k/∂m = G_{k+1}` and
//! `∂G_k/∂v = G_{k+2}/2`.

use super::estimate::Method;
use super::gauss::{MAX_ORDER, Moments, clamp_var};
use super::linalg::{View, a_wt, gemm, w_c, wt_s_w};
use super::{Cancel, Cov, Input, MlpError, Net};
use rayon::prelude::*;

/// Gradient of an objective with respect to every weight and bias.
#[derive(Debug, Clone, Default)]
pub struct Gradient {
    /// Value of the objective.
    pub value: f64,
    /// `∂J/∂W_l`, row-major like the weights.
    pub d_weights: Vec<Vec<f64>>,
    /// `∂J/∂b_l`.
    pub d_biases: Vec<Vec<f64>>,
}

struct Fwd {
    m: Vec<f64>,
    s: Vec<f64>, // full S (cov_prop) or diagonal v (mean_prop)
    moms: Vec<Moments>,
    mu: Vec<f64>,
    c: Vec<f64>, // post covariance (cov_prop)
    s_act: f64,  // isotropic post variance (mean_prop)
}

pub(crate) fn matvec_t(w: &[f64], rows: usize, cols: usize, x: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; cols];
    for i in 0..rows {
        let xi = x[i];
        for (o, wij) in out.iter_mut().zip(&w[i * cols..(i + 1) * cols]) {
            *o += wij * xi;
        }
    }
    out
}

/// Checks the objective's layer and coefficients (shared with the kprop gradient).
pub(crate) fn check_objective(
    net: &Net,
    input: &Input,
    layer: usize,
    c_mean: &[f64],
    c_var: &[f64],
) -> Result<(), MlpError> {
    if input.dim() != net.widths[0] {
        return Err(MlpError::invalid(
            "input_mean",
            "input dimension does not match the network",
        ));
    }
    if layer >= net.depth() {
        return Err(MlpError::invalid(
            "layer",
            format!("must be < {}, got {layer}", net.depth()),
        ));
    }
    let w_out = net.widths[layer + 1];
    if c_mean.len() != w_out || c_var.len() != w_out {
        return Err(MlpError::invalid(
            "c_mean",
            format!("c_mean and c_var must have length {w_out}"),
        ));
    }
    if c_mean.iter().chain(c_var).any(|v| !v.is_finite()) {
        return Err(MlpError::invalid("c_mean", "coefficients must be finite"));
    }
    Ok(())
}

/// Gradient of `J = Σ c_mean_i m_i + Σ c_var_i v_i` at layer `layer`'s pre-activations.
///
/// # Errors
/// [`MlpError::InvalidArgument`] for a bad layer, wrong lengths, non-finite coefficients or
/// an unsupported method or order.
#[allow(clippy::too_many_arguments)]
#[allow(clippy::needless_range_loop)]
pub fn gradient(
    net: &Net,
    input: &Input,
    method: Method,
    mehler_order: usize,
    layer: usize,
    c_mean: &[f64],
    c_var: &[f64],
    cancel: Cancel<'_>,
) -> Result<Gradient, MlpError> {
    check_objective(net, input, layer, c_mean, c_var)?;
    let w_out = net.widths[layer + 1];
    if !matches!(method, Method::MeanProp | Method::CovProp) {
        return Err(MlpError::invalid(
            "method",
            "gradients exist for mean_prop and cov_prop here (kprop K = 2 augment: kprop2_gradient)",
        ));
    }
    if mehler_order == 0 || mehler_order + 2 > MAX_ORDER {
        return Err(MlpError::invalid(
            "mehler_order",
            format!("must be in 1..={}", MAX_ORDER - 2),
        ));
    }
    let (sq, wmax) = super::square_sizes(net);
    let need = wmax
        .checked_mul(wmax)
        .and_then(|x| x.checked_mul(8))
        .zip(sq.and_then(|x| x.checked_mul(3)))
        .and_then(|(a, b)| a.checked_add(b));
    super::reserve_probe(
        "weights",
        need,
        "the gradient's forward and reverse buffers",
    )?;
    let cov = method == Method::CovProp;
    let order = if cov { mehler_order } else { 1 };
    // ---------- forward, keeping what the backward pass needs ----------
    let mut fwd: Vec<Fwd> = Vec::new();
    for l in 0..=layer {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let w = &net.weights[l];
        let prev_mu = if l == 0 { &input.mean } else { &fwd[l - 1].mu };
        let m: Vec<f64> = (0..rows)
            .map(|i| {
                w[i * cols..(i + 1) * cols]
                    .iter()
                    .zip(prev_mu)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    + net.biases[l][i]
            })
            .collect();
        let s: Vec<f64> = if l == 0 {
            let a = weighted(w, rows, input);
            if cov {
                a_wt(&a, w, rows, cols)
            } else {
                (0..rows)
                    .map(|i| (0..cols).map(|j| a[i * cols + j] * w[i * cols + j]).sum())
                    .collect()
            }
        } else if cov {
            let c = &fwd[l - 1].c;
            let a = w_c(w, rows, cols, c);
            a_wt(&a, w, rows, cols)
        } else {
            let sa = fwd[l - 1].s_act;
            (0..rows)
                .map(|i| {
                    sa * w[i * cols..(i + 1) * cols]
                        .iter()
                        .map(|x| x * x)
                        .sum::<f64>()
                })
                .collect()
        };
        let act = net.act(l);
        let diag = |i: usize| if cov { s[i * rows + i] } else { s[i] };
        let moms: Vec<Moments> = (0..rows)
            .map(|i| Moments::compute(act, m[i], clamp_var(diag(i)).0, order + 2, false))
            .collect();
        let mu: Vec<f64> = moms.iter().map(|x| x.g[0]).collect();
        let mut c = Vec::new();
        let mut s_act = 0.0;
        if l < layer {
            if cov {
                c = vec![0.0; rows * rows];
                c.par_chunks_mut(rows).enumerate().for_each(|(i, row)| {
                    for (j, cij) in row.iter_mut().enumerate() {
                        *cij = if i == j {
                            moms[i].var()
                        } else {
                            let (mut p, mut acc) = (1.0, 0.0);
                            for k in 1..=order {
                                p *= s[i * rows + j] / k as f64;
                                acc += p * moms[i].g[k] * moms[j].g[k];
                            }
                            acc
                        };
                    }
                });
            } else {
                s_act = moms.iter().map(Moments::var).sum::<f64>() / rows as f64;
            }
        }
        fwd.push(Fwd {
            m,
            s,
            moms,
            mu,
            c,
            s_act,
        });
    }
    // ---------- objective ----------
    let last = &fwd[layer];
    let value: f64 = (0..w_out)
        .map(|i| {
            let v = if cov {
                last.s[i * w_out + i]
            } else {
                last.s[i]
            };
            c_mean[i] * last.m[i] + c_var[i] * v
        })
        .sum();
    // ---------- backward ----------
    let mut d_weights: Vec<Vec<f64>> = net.weights.iter().map(|w| vec![0.0; w.len()]).collect();
    let mut d_biases: Vec<Vec<f64>> = net.biases.iter().map(|b| vec![0.0; b.len()]).collect();
    let mut mbar = c_mean.to_vec();
    // S̄: full symmetric (cov) or diagonal v̄ (mean_prop)
    let mut sbar: Vec<f64> = if cov {
        let mut s = vec![0.0; w_out * w_out];
        for i in 0..w_out {
            s[i * w_out + i] = c_var[i];
        }
        s
    } else {
        c_var.to_vec()
    };
    for l in (0..=layer).rev() {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let w = &net.weights[l];
        let prev_mu = if l == 0 { &input.mean } else { &fwd[l - 1].mu };
        d_biases[l].clone_from(&mbar);
        let dw = &mut d_weights[l];
        for i in 0..rows {
            for j in 0..cols {
                dw[i * cols + j] = mbar[i] * prev_mu[j];
            }
        }
        // variance part of dW
        if l == 0 {
            let a = weighted(w, rows, input); // W Σ
            if cov {
                gemm(
                    rows,
                    rows,
                    cols,
                    View::rows(&sbar, rows),
                    View::rows(&a, cols),
                    1.0,
                    dw,
                );
                gemm(
                    rows,
                    rows,
                    cols,
                    View::rows(&sbar, rows),
                    View::rows(&a, cols),
                    1.0,
                    dw,
                );
            } else {
                for i in 0..rows {
                    for j in 0..cols {
                        dw[i * cols + j] += 2.0 * sbar[i] * a[i * cols + j];
                    }
                }
            }
            break;
        }
        let p = &fwd[l - 1];
        let mubar = matvec_t(w, rows, cols, &mbar);
        let n = cols;
        let act_moms = &p.moms;
        let (mut mb_prev, mut sb_prev);
        if cov {
            // dW += 2 S̄ W C
            let wc = w_c(w, rows, cols, &p.c);
            let mut tmp = vec![0.0; rows * cols];
            gemm(
                rows,
                rows,
                cols,
                View::rows(&sbar, rows),
                View::rows(&wc, cols),
                0.0,
                &mut tmp,
            );
            for (d, t) in dw.iter_mut().zip(&tmp) {
                *d += 2.0 * t;
            }
            // C̄ = Wᵀ S̄ W
            let cbar = wt_s_w(w, rows, cols, &sbar);
            // through the activation
            let s = &p.s;
            let mut gbar = vec![vec![0.0; order + 1]; n];
            sb_prev = vec![0.0; n * n];
            sb_prev
                .par_chunks_mut(n)
                .zip(gbar.par_iter_mut())
                .enumerate()
                .for_each(|(i, (row, gb))| {
                    for j in 0..n {
                        if i == j {
                            continue;
                        }
                        let sij = s[i * n + j];
                        let cb = cbar[i * n + j];
                        let (mut pw, mut dsum) = (1.0, 0.0); // pw = S^(k-1)/(k-1)!
                        for k in 1..=order {
                            let gk = act_moms[i].g[k] * act_moms[j].g[k];
                            dsum += pw * gk;
                            let pk = pw * sij / k as f64; // S^k / k!
                            gb[k] += 2.0 * cb * pk * act_moms[j].g[k];
                            pw = pk;
                        }
                        row[j] = cb * dsum;
                    }
                });
            mb_prev = vec![0.0; n];
            for i in 0..n {
                let mo = &act_moms[i];
                let cb = cbar[i * n + i];
                let mut dm = mubar[i] * mo.g[1] + cb * mo.var_dm();
                let mut dv = mubar[i] * mo.g[2] / 2.0 + cb * mo.var_dv();
                for k in 1..=order {
                    dm += gbar[i][k] * mo.g[k + 1];
                    dv += gbar[i][k] * mo.g[k + 2] / 2.0;
                }
                mb_prev[i] = dm;
                sb_prev[i * n + i] = dv;
            }
        } else {
            let sa = p.s_act;
            let mut sbar_act = 0.0;
            for i in 0..rows {
                let row = &w[i * cols..(i + 1) * cols];
                let r: f64 = row.iter().map(|x| x * x).sum();
                sbar_act += sbar[i] * r;
                for j in 0..cols {
                    dw[i * cols + j] += 2.0 * sbar[i] * sa * row[j];
                }
            }
            let cb = sbar_act / n as f64;
            mb_prev = vec![0.0; n];
            sb_prev = vec![0.0; n];
            for i in 0..n {
                let mo = &act_moms[i];
                mb_prev[i] = mubar[i] * mo.g[1] + cb * mo.var_dm();
                sb_prev[i] = mubar[i] * mo.g[2] / 2.0 + cb * mo.var_dv();
            }
        }
        mbar = mb_prev;
        sbar = sb_prev;
    }
    Ok(Gradient {
        value,
        d_weights,
        d_biases,
    })
}

/// `W Σ` (row-major `rows × n0`).
pub(crate) fn weighted(w: &[f64], rows: usize, input: &Input) -> Vec<f64> {
    let n0 = input.dim();
    match &input.cov {
        Cov::Diag(d) => w
            .chunks(n0)
            .flat_map(|r| r.iter().zip(d).map(|(a, s)| a * s).collect::<Vec<_>>())
            .collect(),
        Cov::Full { cov, .. } => {
            let mut a = vec![0.0; rows * n0];
            gemm(
                rows,
                n0,
                n0,
                View::rows(w, n0),
                View::rows(cov, n0),
                0.0,
                &mut a,
            );
            a
        }
    }
}
