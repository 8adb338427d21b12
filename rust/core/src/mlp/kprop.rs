//! The paper's cumulant propagation ("kprop", Wu, Lecomte, Winer et al.) beyond what
//! [`super::estimate`] shares with the other estimators: `K = 2`, kind AUGMENT.
//!
//! Conventions are those of the reference code (`mlp_kprop(…, k_max=2, kind=AUGMENT)`):
//!
//! * After an activation the tower is `κ1 = μ`, `κ2 = C` (full), `κ3 = Sym(a ⊗ I)` (the
//!   part of the third cumulant with one trace factor: core vector `a`, radial index 1) and
//!   `κ4 = c Sym(I ⊗ I)` (pure trace: scalar core `c`, radial index 2).
//! * The linear step is exact on the cores, `μ' = Wμ + b`, `C' = W C Wᵀ`, `u = W a`, `c' = c`,
//!   and replaces the metric `I` by `M = W Wᵀ` (or the average `w_var I` with `avg_metric`;
//!   the reference keeps the exact metric for the last layer, which only feeds the cores of
//!   the output's trace parts).
//! * The activation step is the Wick (Edgeworth) expansion of the power cumulants
//!   `κ(φ_i^p, φ_j^q)` around the independent Gaussian with the pre-activation means and
//!   variances, summed over the connected, 2-mixed diagrams of power-counting cost ≤ 2 whose
//!   total degree is ≤ 4 (integer partitions `(1) (2) (3) (4) (1,1) (2,1) (2,2)`):
//!   one index: `{}`, `{κ3_iii}`, `{κ4_iiii}`; two indices: `{S_ij}`, `{S_ij, S_ij}`,
//!   `{κ3_iij}`, `{κ3_ijj}`, `{κ4_iijj}`, each with its symmetry factor and the Wick
//!   coefficients `E[∂^k φ^p(Z_i)]`. Power cumulants are turned into cumulants (Leonov–Shiryaev)
//!   and the degree-3 and 4 cumulants projected onto their trace parts,
//!   `a_k = 3/(n+2) Σ_i κ3_iik`, `c = 3/(n(n+2)) Σ_ij κ4_iijj`.

use super::estimate::{Estimate, LayerEstimate};
use super::gauss::{
    Act, TANH_SPLIT_SD, VAR_FLOOR, gauss_hermite, hermite_he, norm_cdf, norm_pdf,
    tanh_window_panels,
};
use super::linalg::{a_wt, w_c};
use super::{Cancel, Cov, Input, MlpError, Net};
use rayon::prelude::*;
use std::f64::consts::PI;

/// `E[Z^j]`, `Z ~ N(m, v)`, for `j = 0..=jmax`.
fn gauss_moments(m: f64, v: f64, jmax: usize) -> Vec<f64> {
    // E Z^j = m E Z^{j-1} + (j-1) v E Z^{j-2}
    let mut e = vec![0.0; jmax + 1];
    e[0] = 1.0;
    if jmax >= 1 {
        e[1] = m;
    }
    for j in 2..=jmax {
        e[j] = m * e[j - 1] + (j - 1) as f64 * v * e[j - 2];
    }
    e
}

/// Falling factorial `p (p-1) … (p-k+1)`.
fn falling(p: usize, k: usize) -> f64 {
    (0..k).map(|i| (p - i) as f64).product()
}

/// `E[∂^k relu(Z)]` (`k ≥ 0`).
fn relu_g(m: f64, s: f64, k: usize) -> f64 {
    let a = m / s;
    match k {
        0 => s * norm_pdf(a) + m * norm_cdf(a),
        1 => norm_cdf(a),
        _ => {
            let sign = if k.is_multiple_of(2) { 1.0 } else { -1.0 };
            sign * s.powi(1 - k as i32) * hermite_he(k - 2, a) * norm_pdf(a)
        }
    }
}

/// The linear step every kprop order shares: `m = W μ + b` and `S = W C Wᵀ` of linear layer `l`
/// (`C` = the input covariance on layer 0, else `c_prev`), with their FLOPs.
pub(super) fn mean_cov_step(
    net: &Net,
    input: &Input,
    l: usize,
    mu: &[f64],
    c_prev: Vec<f64>,
) -> (Vec<f64>, Vec<f64>, f64) {
    let (rows, cols) = (net.widths[l + 1], net.widths[l]);
    let (rf, cf) = (rows as f64, cols as f64);
    let w = &net.weights[l];
    let m: Vec<f64> = w
        .par_chunks(cols)
        .zip(net.biases[l].par_iter())
        .map(|(row, bi)| row.iter().zip(mu).map(|(x, y)| x * y).sum::<f64>() + bi)
        .collect();
    let cin: Vec<f64> = if l == 0 {
        match &input.cov {
            Cov::Diag(d) => {
                let mut full = vec![0.0; cols * cols];
                for (i, x) in d.iter().enumerate() {
                    full[i * cols + i] = *x;
                }
                full
            }
            Cov::Full { cov, .. } => cov.clone(),
        }
    } else {
        c_prev
    };
    let s = a_wt(&w_c(w, rows, cols, &cin), w, rows, cols);
    let flops = 2.0 * rf * cf + rf + 2.0 * rf * cf * cf + 2.0 * rf * rf * cf;
    (m, s, flops)
}

/// `E[∂^k φ(Z)^p]`, `Z ~ N(m, v)` (`v` floored at [`VAR_FLOOR`], as the reference does).
/// Closed forms for relu, heaviside, identity, square; the Hermite identity
/// `E[∂^k g(Z)] = s^{-k} E[He_k(ξ) g(m + s ξ)]` with quadrature for erf, gelu (100-node
/// Gauss–Hermite) and tanh (trapezoid rule with a step a quarter of the distance to tanh's poles).
pub fn wick(act: Act, m: f64, v: f64, k: usize, p: usize) -> f64 {
    let v = v.max(VAR_FLOOR);
    let s = v.sqrt();
    match act {
        Act::Identity | Act::Square => {
            let deg = if act == Act::Square { 2 * p } else { p };
            if k > deg {
                return 0.0;
            }
            gauss_moments(m, v, deg - k)[deg - k] * falling(deg, k)
        }
        Act::Heaviside => relu_g(m, s, k + 1),
        Act::Relu => {
            if k >= p {
                (1..=p).map(|x| x as f64).product::<f64>() * relu_g(m, s, k - p + 1)
            } else {
                // (p)_k E[(m + sU)^{p-k} 1{U > -a}], U ~ N(0, 1)
                let q = p - k;
                let a = m / s;
                let (pa, ca) = (norm_pdf(a), norm_cdf(a));
                // t_j = E[U^j 1{U > -a}]: t_0 = Φ(a), t_1 = p(a), t_j = (j-1) t_{j-2} + (-a)^{j-1} p(a)
                let mut t = vec![0.0; q + 1];
                t[0] = ca;
                if q >= 1 {
                    t[1] = pa;
                }
                for j in 2..=q {
                    t[j] = (j - 1) as f64 * t[j - 2] + (-a).powi(j as i32 - 1) * pa;
                }
                let mut acc = 0.0;
                let mut binom = 1.0;
                for (j, tj) in t.iter().enumerate() {
                    acc += binom * m.powi((q - j) as i32) * s.powi(j as i32) * tj;
                    binom = binom * (q - j) as f64 / (j + 1) as f64;
                }
                falling(p, k) * acc
            }
        }
        Act::Erf | Act::Gelu | Act::Tanh => {
            let mut acc = 0.0;
            let mut add = |x: f64, w: f64| {
                let z = m + s * x;
                acc += w * hermite_he(k, x) * act.apply(z).powi(p as i32);
            };
            if act == Act::Tanh && s > TANH_SPLIT_SD {
                // the trapezoid below would need ~23·s nodes (it hung at s = 1e100)
                return tanh_pow_wide(m, s, k, p);
            }
            if act == Act::Tanh {
                let h = (PI / (2.0 * s) / 4.0).min(0.1);
                let half = (9.0 / h).ceil() as i64;
                for i in -half..=half {
                    let x = i as f64 * h;
                    add(x, h * norm_pdf(x));
                }
            } else {
                let gh = gauss_hermite();
                for (&x, &w) in gh.nodes.iter().zip(&gh.weights) {
                    add(x, w);
                }
            }
            acc * s.powi(-(k as i32))
        }
    }
}

/// `E[(tanh^p)^{(k)}(Z)]`, `Z ~ N(m, s²)`, for a wide input (`s > TANH_SPLIT_SD`), with a fixed
/// number of nodes whatever `s`: `tanh^p` and its derivatives as polynomials in `t = tanh z`
/// (`dt/dz = 1 − t²`), which are constant (`sign(z)^p`, or 0 for `k ≥ 1`) to 1e-21 outside
/// `|z| ≤ 25`; the window is integrated by 10-point Gauss–Legendre on panels of width 1/4 (2000
/// nodes) with a boundary at the jump
/// `z = 0`, and the step function's part `E[sign(Z)^p]` is exact.
fn tanh_pow_wide(m: f64, s: f64, k: usize, p: usize) -> f64 {
    let mut c = vec![0.0; p + 1];
    c[p] = 1.0;
    for _ in 0..k {
        // D Σ c_j t^j = Σ j c_j (t^(j−1) − t^(j+1))
        let mut d = vec![0.0; c.len() + 1];
        for (j, &cj) in c.iter().enumerate().skip(1) {
            d[j - 1] += j as f64 * cj;
            d[j + 1] -= j as f64 * cj;
        }
        c = d;
    }
    let poly = |t: f64| c.iter().rev().fold(0.0, |acc, &cj| acc * t + cj);
    let step = |z: f64| if p.is_multiple_of(2) { 1.0 } else { z.signum() };
    let mut acc = 0.0;
    for (z, w) in tanh_window_panels(m, s, 4) {
        let v = poly(z.tanh());
        acc += w * if k == 0 { v - step(z) } else { v };
    }
    if k == 0 {
        let a = m / s;
        acc += if p.is_multiple_of(2) {
            1.0
        } else {
            norm_cdf(a) - norm_cdf(-a)
        };
    }
    acc
}

/// Per-neuron Wick coefficients `E[∂^k φ^p]`, indexed `[p - 1][k]` for `p ≤ 4`, `k ≤ 4`.
type Wicks = [[f64; 5]; 4];

fn wicks(act: Act, m: f64, v: f64, first: bool) -> Wicks {
    let mut w = [[0.0; 5]; 4];
    for (pi, row) in w.iter_mut().enumerate() {
        let p = pi + 1;
        for (k, x) in row.iter_mut().enumerate() {
            // k = 0 for every p; k = 1, 2 for p ≤ 2 (two-index diagrams); k = 3, 4 only when
            // the third / fourth cumulants exist (not on the first layer)
            let needed = k == 0 || (k <= 2 && p <= 2) || (k >= 3 && !first);
            if needed {
                *x = wick(act, m, v, k, p);
            }
        }
    }
    w
}

/// kprop `K = 2`, kind AUGMENT (`full3 = false`) or `K = 3`, kind SIMPLE (`full3 = true`: the
/// third cumulant is tracked in full, `n³` entries, and the activation step adds the three-index
/// diagrams `T_ijk g_i g_j g_k + Σ S S h g g`). `init_scale = Some(w_var)` is the average metric.
///
/// # Errors
/// [`MlpError::Cancelled`].
pub fn kprop2_augment(
    net: &Net,
    input: &Input,
    init_scale: Option<&[f64]>,
    keep_cov: bool,
    full3: bool,
    cancel: Cancel<'_>,
) -> Result<Estimate, MlpError> {
    let mut out = Estimate::default();
    let mut mu = input.mean.clone();
    let mut c: Vec<f64> = Vec::new();
    // cores of the trace parts after the previous activation (None before the first); with
    // `full3` the "core" is the full third cumulant (n³)
    let mut a3: Option<Vec<f64>> = None;
    let mut c4 = 0.0;
    let depth = net.depth();
    for l in 0..depth {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let (rf, cf) = (rows as f64, cols as f64);
        let w = &net.weights[l];
        // m = W μ + b, S = W C Wᵀ (the input covariance on the first layer)
        let (m, s, mut flops) = mean_cov_step(net, input, l, &mu, std::mem::take(&mut c));
        // third / fourth cumulant cores after the linear step, and the metric
        let last = l + 1 == depth;
        let third = a3.as_ref().map(|a| {
            if full3 {
                let (t, f) = super::estimate::mode_products(a, w, rows, cols);
                flops += f;
                t
            } else {
                let u: Vec<f64> = w
                    .par_chunks(cols)
                    .map(|row| row.iter().zip(a).map(|(x, y)| x * y).sum::<f64>())
                    .collect();
                flops += 2.0 * rf * cf;
                u
            }
        });
        // metric: exact W Wᵀ (always on the last layer), or w_var I
        let metric: Option<Vec<f64>> = if third.is_some() && (init_scale.is_none() || last) {
            let mm = a_wt(w, w, rows, cols);
            flops += 2.0 * rf * rf * cf;
            Some(mm)
        } else {
            None
        };
        let avg = init_scale.map(|sc| sc[l]).unwrap_or(0.0);
        let met = |i: usize, j: usize| -> f64 {
            match &metric {
                Some(mm) => mm[i * rows + j],
                None => {
                    if i == j {
                        avg
                    } else {
                        0.0
                    }
                }
            }
        };
        let pre_var: Vec<f64> = (0..rows).map(|i| s[i * rows + i]).collect();
        let r2 = rows * rows;
        let pre_kappa3: Option<Vec<f64>> = third.as_ref().map(|u| {
            (0..rows)
                .map(|i| {
                    if full3 {
                        u[i * r2 + i * rows + i]
                    } else {
                        u[i] * met(i, i)
                    }
                })
                .collect()
        });
        if last {
            out.layers.push(LayerEstimate {
                pre_mean: m.clone(),
                pre_var: pre_var.clone(),
                post_mean: m,
                post_var: pre_var,
                pre_cov: if keep_cov { Some(s) } else { None },
                pre_kappa3,
            });
            out.flops_by_layer.push(flops);
            break;
        }
        cancel.check()?;
        let act = net.act(l);
        let first = third.is_none();
        let mut clamps = 0u64;
        let wk: Vec<Wicks> = (0..rows)
            .into_par_iter()
            .map(|i| wicks(act, m[i], pre_var[i], first))
            .collect();
        for v in &pre_var {
            if *v < VAR_FLOOR {
                clamps += 1;
            }
        }
        out.clamps += clamps;
        let ncoef = if first { 8.0 } else { 16.0 };
        flops += ncoef * act.coef_flops() * rf;
        // pre-activation κ3, κ4 entries (zero before the first activation)
        // k3(i, j) = κ3[i, i, j]
        let k3 = |i: usize, j: usize| -> f64 {
            match &third {
                None => 0.0,
                Some(t) if full3 => t[i * r2 + i * rows + j],
                Some(u) => {
                    if i == j {
                        u[i] * met(i, i)
                    } else {
                        (2.0 * u[i] * met(i, j) + u[j] * met(i, i)) / 3.0
                    }
                }
            }
        };
        let k4 = |i: usize, j: usize| -> f64 {
            if first {
                return 0.0;
            }
            if i == j {
                c4 * met(i, i) * met(i, i)
            } else {
                let mij = met(i, j);
                c4 * (met(i, i) * met(j, j) + 2.0 * mij * mij) / 3.0
            }
        };
        // one-index power cumulants pK_p = E φ^p + κ3_iii/6 E ∂³φ^p + κ4_iiii/24 E ∂⁴φ^p
        let pk1: Vec<[f64; 4]> = (0..rows)
            .map(|i| {
                let (t3, t4) = (k3(i, i), k4(i, i));
                let mut r = [0.0; 4];
                for (p, x) in r.iter_mut().enumerate() {
                    let g = &wk[i][p];
                    *x = g[0] + t3 / 6.0 * g[3] + t4 / 24.0 * g[4];
                }
                r
            })
            .collect();
        let e: Vec<f64> = pk1.iter().map(|r| r[0]).collect();
        // κ3[i, i, j] and κ4[i, i, j, j] as tables (the n² sums below read them three times
        // each), and the Wick coefficients E ∂ᵏφᵖ (k = 1, 2; p = 1, 2) as one vector each
        let k3m: Option<Vec<f64>> = third.as_ref().map(|_| {
            (0..r2)
                .into_par_iter()
                .map(|ij| k3(ij / rows, ij % rows))
                .collect()
        });
        let k4m: Option<Vec<f64>> = (!first).then(|| {
            (0..r2)
                .into_par_iter()
                .map(|ij| k4(ij / rows, ij % rows))
                .collect()
        });
        let gv: [[Vec<f64>; 3]; 2] =
            std::array::from_fn(|p| std::array::from_fn(|k| wk.iter().map(|x| x[p][k]).collect()));
        // two-index power cumulants pK_{pq}[i, j] (i ≠ j) for (p, q) in (1,1), (2,1), (2,2)
        let pk2 = |i: usize, j: usize, p: usize, q: usize| -> f64 {
            let (gi, gj) = (&gv[p - 1], &gv[q - 1]);
            let (gi1, gi2, gj1, gj2) = (gi[1][i], gi[2][i], gj[1][j], gj[2][j]);
            let sij = s[i * rows + j];
            let (k3ij, k3ji) = k3m
                .as_ref()
                .map_or((0.0, 0.0), |t| (t[i * rows + j], t[j * rows + i]));
            let k4ij = k4m.as_ref().map_or(0.0, |t| t[i * rows + j]);
            sij * gi1 * gj1
                + 0.5 * sij * sij * gi2 * gj2
                + 0.5 * k3ij * gi2 * gj1
                + 0.5 * k3ji * gi1 * gj2
                + 0.25 * k4ij * gi2 * gj2
        };
        // covariance C, and K3[i,i,j] = pK21 - 2 E_i C_ij (i ≠ j)
        let mut cn = vec![0.0; rows * rows];
        cn.par_chunks_mut(rows).enumerate().for_each(|(i, row)| {
            for (j, x) in row.iter_mut().enumerate() {
                *x = if i == j {
                    pk1[i][1] - e[i] * e[i]
                } else {
                    pk2(i, j, 1, 1)
                };
            }
        });
        // third-cumulant trace core a_k = 3/(n+2) (K3_kkk + Σ_{i≠k} K3[i,i,k]),
        // fourth: c = 3/(n(n+2)) (Σ_i K4_iiii + Σ_{i≠j} K4[i,i,j,j])
        let k3d: Vec<f64> = (0..rows)
            .map(|i| {
                let (p1, p2, p3) = (pk1[i][0], pk1[i][1], pk1[i][2]);
                p3 - 3.0 * p2 * p1 + 2.0 * p1 * p1 * p1
            })
            .collect();
        // K3off[i][j] = K3[i,i,j]
        let k3off: Vec<f64> = (0..rows * rows)
            .into_par_iter()
            .map(|ij| {
                let (i, j) = (ij / rows, ij % rows);
                if i == j {
                    0.0
                } else {
                    pk2(i, j, 2, 1) - 2.0 * e[i] * cn[ij]
                }
            })
            .collect();
        let a_new: Vec<f64> = if full3 {
            // the full third cumulant of the activations: slices (3), (2,1) and (1,1,1)
            let g: Vec<f64> = wk.iter().map(|x| x[0][1]).collect();
            let h: Vec<f64> = wk.iter().map(|x| x[0][2]).collect();
            let mut t = vec![0.0; rows * r2];
            t.par_chunks_mut(r2).enumerate().for_each(|(i, blk)| {
                for j in 0..rows {
                    for k in 0..rows {
                        let x = if i == j && j == k {
                            k3d[i]
                        } else if i == j {
                            k3off[i * rows + k]
                        } else if i == k {
                            k3off[i * rows + j]
                        } else if j == k {
                            k3off[j * rows + i]
                        } else {
                            let (sij, sik, sjk) =
                                (s[i * rows + j], s[i * rows + k], s[j * rows + k]);
                            let tijk = third.as_ref().map_or(0.0, |tp| tp[i * r2 + j * rows + k]);
                            tijk * g[i] * g[j] * g[k]
                                + h[j] * sij * sjk * g[i] * g[k]
                                + h[i] * sij * sik * g[j] * g[k]
                                + h[k] * sik * sjk * g[i] * g[j]
                        };
                        blk[j * rows + k] = x;
                    }
                }
            });
            flops += 16.0 * rf * rf * rf;
            t
        } else {
            (0..rows)
                .map(|k| {
                    let off: f64 = (0..rows).map(|i| k3off[i * rows + k]).sum();
                    3.0 / (rf + 2.0) * (k3d[k] + off)
                })
                .collect()
        };
        let k4d: f64 = (0..rows)
            .map(|i| {
                let (p1, p2, p3, p4) = (pk1[i][0], pk1[i][1], pk1[i][2], pk1[i][3]);
                p4 - 4.0 * p3 * p1 - 3.0 * p2 * p2 + 12.0 * p2 * p1 * p1 - 6.0 * p1.powi(4)
            })
            .sum();
        // per-row sums in parallel, their total in row order (a parallel `sum` would associate
        // by the thread count's splits: the same bits for any thread count only this way)
        let k4rows: Vec<f64> = (0..rows)
            .into_par_iter()
            .map(|i| {
                let mut acc = 0.0;
                for j in 0..rows {
                    if i == j {
                        continue;
                    }
                    let cij = cn[i * rows + j];
                    acc += pk2(i, j, 2, 2)
                        - 2.0 * e[j] * k3off[i * rows + j]
                        - 2.0 * e[i] * k3off[j * rows + i]
                        - 2.0 * cij * cij
                        - 4.0 * e[i] * e[j] * cij;
                }
                acc
            })
            .collect();
        let k4off: f64 = k4rows.iter().sum();
        let c_new = 3.0 / (rf * (rf + 2.0)) * (k4d + k4off);
        // about 60 FLOPs per (i, j) pair for the diagram sums and conversions
        flops += 60.0 * rf * rf;
        out.push_hidden(
            m,
            pre_var,
            e.clone(),
            &cn,
            keep_cov.then_some(s),
            pre_kappa3,
            flops,
        );
        mu = e;
        c = cn;
        a3 = Some(a_new);
        c4 = c_new;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_tanh_wicks_agree_with_the_trapezoid_and_mpmath() {
        // just above the switch the trapezoid (Hermite identity) is still affordable: with a
        // step of 1/16 of the poles' distance (error ~ exp(−32π), 4× finer than `wick` uses)
        // it is the truth the window rule must match for every k, p used (checked against
        // mpmath at 40 digits for a few: e.g. k = 2, p = 4, m = 0, s = 70 gives 3.10057412993748e-6)
        let trapezoid = |m: f64, s: f64, k: usize, p: usize| {
            let h = PI / (2.0 * s) / 16.0;
            let half = (9.0 / h).ceil() as i64;
            let mut acc = 0.0;
            for i in -half..=half {
                let x = i as f64 * h;
                acc += h * norm_pdf(x) * hermite_he(k, x) * (m + s * x).tanh().powi(p as i32);
            }
            acc * s.powi(-(k as i32))
        };
        for &s in &[70.0, 150.0] {
            for &m in &[0.0, 0.7, -13.0, 40.0] {
                for p in 1..=4 {
                    for k in 0..=4 {
                        let (a, b) = (tanh_pow_wide(m, s, k, p), trapezoid(m, s, k, p));
                        // the window sums terms of size ~1/s to a result as small as s^-5:
                        // rounding leaves ~1e-15/s absolute (the trapezoid's s^-k is exact)
                        assert!(
                            (a - b).abs() <= 1e-9 * b.abs() + 1e-13 / s,
                            "m {m} s {s} k {k} p {p}: {a} vs {b}"
                        );
                    }
                }
            }
        }
        for (m, s, k, p, truth) in [
            // mpmath, 40 digits: ∫ (tanh^p)^(k)(z) N(z; m, s²) dz
            (0.0, 70.0, 2, 4, 3.100_574_129_937_479e-6),
            (0.7, 70.0, 4, 3, 9.959_308_273_150_644e-10),
            (-13.0, 150.0, 3, 2, 4.071_824_593_104_514e-10),
        ] {
            let a = tanh_pow_wide(m, s, k, p);
            assert!((a / truth - 1.0).abs() < 1e-6, "{a} vs {truth}");
        }
        // s = 1e100 used to hang (2e101 trapezoid nodes); the window rule has a fixed 2000 nodes — for a
        // step-like tanh E tanh^p → E sign^p, E tanh'(Z) → 2 N(0; m, s²), derivatives above vanish
        let (m, s) = (3e99, 1e100);
        let a = m / s;
        assert!((wick(Act::Tanh, m, s * s, 0, 1) - (norm_cdf(a) - norm_cdf(-a))).abs() < 1e-12);
        assert!((wick(Act::Tanh, m, s * s, 0, 2) - 1.0).abs() < 1e-12);
        let d1 = wick(Act::Tanh, m, s * s, 1, 1);
        assert!((d1 / (2.0 * norm_pdf(a) / s) - 1.0).abs() < 1e-9, "{d1}");
    }

    #[test]
    fn wick_closed_forms_match_quadrature() {
        // relu / identity closed forms against the Hermite identity with 100-node Gauss–Hermite
        let gh = gauss_hermite();
        for &(m, v) in &[(0.3, 1.2), (-0.7, 0.4), (1.5, 2.0)] {
            let s: f64 = f64::sqrt(v);
            for p in 1..=4usize {
                for k in 0..p {
                    // smooth for k < p: E[He_k(ξ) relu(m + sξ)^p] s^-k (kink costs accuracy: loose)
                    let q: f64 = gh
                        .nodes
                        .iter()
                        .zip(&gh.weights)
                        .map(|(&x, &w)| w * hermite_he(k, x) * (m + s * x).max(0.0).powi(p as i32))
                        .sum::<f64>()
                        * s.powi(-(k as i32));
                    let c = wick(Act::Relu, m, v, k, p);
                    assert!(
                        (q - c).abs() < 2e-3 * (1.0 + c.abs()),
                        "relu p={p} k={k}: {q} vs {c}"
                    );
                    let qi: f64 = gh
                        .nodes
                        .iter()
                        .zip(&gh.weights)
                        .map(|(&x, &w)| w * hermite_he(k, x) * (m + s * x).powi(p as i32))
                        .sum::<f64>()
                        * s.powi(-(k as i32));
                    let ci = wick(Act::Identity, m, v, k, p);
                    assert!((qi - ci).abs() < 1e-10 * (1.0 + ci.abs()));
                }
            }
        }
    }
}
