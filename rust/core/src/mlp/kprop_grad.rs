//! Reverse-mode gradients of kprop `K = 2`, kind AUGMENT ([`super::kprop::kprop2_augment`] with
//! `full3 = false`).
//!
//! The objective is the one of [`super::gradient::gradient`]: `J = Σ_i c_i m_i + Σ_i d_i v_i`
//! at one layer's estimated pre-activation means `m` and variances `v`. The forward pass below
//! repeats `kprop2_augment` keeping its intermediates (the Wick coefficients, the one- and
//! two-index power cumulants, the covariance, `K3[i,i,j]`, the trace cores `a`, `c` and the
//! metric); the backward pass is the exact adjoint of every step (no variance floor active):
//!
//! * the Wick coefficients `G_kp = E[∂^k φ^p]` of a neuron with `∂G_kp/∂m = G_{k+1,p}` and
//!   `∂G_kp/∂v = G_{k+2,p} / 2` (so `k ≤ 6` is evaluated, `k ≤ 4` is used forward);
//! * the diagram sums `pK_p(i)`, `pK_pq(i, j)`, the Leonov–Shiryaev conversions and the trace
//!   projections `a_k = 3/(n+2) Σ_i K3[i,i,k]`, `c = 3/(n(n+2)) Σ_ij K4[i,i,j,j]`, every ordered
//!   pair `(i, j)` as its own variable (as the forward computes it);
//! * the linear step `m = Wμ + b`, `S = W C Wᵀ`, `u = W a`, `c' = c`, and the metric: exact
//!   `M = W Wᵀ` (`∂ → (M̄ + M̄ᵀ) W`), average `w_var_l I` with constant `w_var_l`
//!   ([`KpropMetric::Average`], no weight gradient) or with `w_var_l` the mean squared row norm of
//!   `W_l` ([`KpropMetric::AverageOfRows`], `∂ → 2 tr(M̄) W / n_l`).
//!
//! Work on `n × n` arrays is split by rows on rayon and every reduction runs in index order, so
//! the result is bit-identical for any thread count.

use super::gauss::{Act, VAR_FLOOR};
use super::gradient::{Gradient, matvec_t, weighted};
use super::kprop::wick;
use super::linalg::{View, a_wt, gemm, w_c, wt_s_w};
use super::{Cancel, Input, MlpError, Net};
use rayon::prelude::*;

/// The metric of kprop's trace parts after a linear layer (the `avg_metric` option).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KpropMetric<'a> {
    /// The exact metric `W_l W_lᵀ` (`avg_metric=False`).
    Exact,
    /// The average metric `w_var_l I` with constants `w_var_l`, one per linear layer (the
    /// network's `init_scale`); they carry no gradient.
    Average(&'a [f64]),
    /// The average metric with `w_var_l = ‖W_l‖²_F / n_l`, the mean squared row norm (what
    /// `avg_metric=True` uses when the network has no `init_scale`); differentiated through.
    AverageOfRows,
}

/// Per-neuron Wick coefficients `E[∂^k φ^p]`, indexed `[p - 1][k]`, `p ≤ 4`, `k ≤ 6`.
type Wicks7 = [[f64; 7]; 4];

/// The metric of one layer: a full `n × n` matrix or `w I`.
enum Met {
    Full(Vec<f64>),
    Avg(f64),
}

impl Met {
    fn at(&self, n: usize, i: usize, j: usize) -> f64 {
        match self {
            Met::Full(m) => m[i * n + j],
            Met::Avg(w) => {
                if i == j {
                    *w
                } else {
                    0.0
                }
            }
        }
    }
}

/// The pre-activation trace parts of one layer: `κ3[i,i,j]` from `u`, `κ4[i,i,j,j]` from `c4`.
struct Trace<'a> {
    n: usize,
    u: Option<&'a [f64]>,
    met: Option<&'a Met>,
    c4: f64,
}

impl Trace<'_> {
    fn met(&self, i: usize, j: usize) -> f64 {
        self.met.map_or(0.0, |m| m.at(self.n, i, j))
    }
    /// `κ3[i, i, j]`.
    fn k3(&self, i: usize, j: usize) -> f64 {
        match self.u {
            None => 0.0,
            Some(u) => {
                if i == j {
                    u[i] * self.met(i, i)
                } else {
                    (2.0 * u[i] * self.met(i, j) + u[j] * self.met(i, i)) / 3.0
                }
            }
        }
    }
    /// `κ4[i, i, j, j]`.
    fn k4(&self, i: usize, j: usize) -> f64 {
        if self.u.is_none() {
            return 0.0;
        }
        if i == j {
            self.c4 * self.met(i, i) * self.met(i, i)
        } else {
            let mij = self.met(i, j);
            self.c4 * (self.met(i, i) * self.met(j, j) + 2.0 * mij * mij) / 3.0
        }
    }
}

/// The linear step of one layer.
struct Lin {
    m: Vec<f64>,
    s: Vec<f64>,
    /// `u = W a` (None on the first layer).
    u: Option<Vec<f64>>,
    /// The metric (only where the activation step needs it).
    met: Option<Met>,
    /// `c4` carried into this layer.
    c4: f64,
}

impl Lin {
    fn trace(&self, n: usize) -> Trace<'_> {
        Trace {
            n,
            u: self.u.as_deref(),
            met: self.met.as_ref(),
            c4: self.c4,
        }
    }
}

/// The activation step of one layer.
struct Act2 {
    g: Vec<Wicks7>,
    clamped: Vec<bool>,
    pk1: Vec<[f64; 4]>,
    e: Vec<f64>,
    cn: Vec<f64>,
    k3off: Vec<f64>,
    a: Vec<f64>,
    c4: f64,
}

const PQ: [(usize, usize); 3] = [(1, 1), (2, 1), (2, 2)];

/// `pK_pq(i, j)` for `i ≠ j` (the two-index diagrams of `kprop2_augment`).
fn pk2(gi: &[f64; 7], gj: &[f64; 7], sij: f64, k3ij: f64, k3ji: f64, k4ij: f64) -> f64 {
    sij * gi[1] * gj[1]
        + 0.5 * sij * sij * gi[2] * gj[2]
        + 0.5 * k3ij * gi[2] * gj[1]
        + 0.5 * k3ji * gi[1] * gj[2]
        + 0.25 * k4ij * gi[2] * gj[2]
}

fn act_forward(act: Act, lin: &Lin, n: usize) -> Act2 {
    let first = lin.u.is_none();
    let tr = lin.trace(n);
    let s = &lin.s;
    let (g, clamped): (Vec<Wicks7>, Vec<bool>) = (0..n)
        .into_par_iter()
        .map(|i| {
            let (m, v) = (lin.m[i], s[i * n + i]);
            let mut w = [[0.0; 7]; 4];
            for (pi, row) in w.iter_mut().enumerate() {
                for (k, x) in row.iter_mut().enumerate() {
                    // forward: k = 0 (all p), k ≤ 2 (p ≤ 2), k ≤ 4 (all p, after the first
                    // layer); the backward needs two more derivatives of each
                    let needed = k <= 2 || (pi < 2 && k <= 4) || !first;
                    if needed {
                        *x = wick(act, m, v, k, pi + 1);
                    }
                }
            }
            (w, v < VAR_FLOOR)
        })
        .unzip();
    let pk1: Vec<[f64; 4]> = (0..n)
        .map(|i| {
            let (t3, t4) = (tr.k3(i, i), tr.k4(i, i));
            let mut r = [0.0; 4];
            for (p, x) in r.iter_mut().enumerate() {
                let gp = &g[i][p];
                *x = gp[0] + t3 / 6.0 * gp[3] + t4 / 24.0 * gp[4];
            }
            r
        })
        .collect();
    let e: Vec<f64> = pk1.iter().map(|r| r[0]).collect();
    let pair = |i: usize, j: usize, p: usize, q: usize| {
        pk2(
            &g[i][p - 1],
            &g[j][q - 1],
            s[i * n + j],
            tr.k3(i, j),
            tr.k3(j, i),
            tr.k4(i, j),
        )
    };
    let mut cn = vec![0.0; n * n];
    cn.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (j, x) in row.iter_mut().enumerate() {
            *x = if i == j {
                pk1[i][1] - e[i] * e[i]
            } else {
                pair(i, j, 1, 1)
            };
        }
    });
    let mut k3off = vec![0.0; n * n];
    k3off.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (j, x) in row.iter_mut().enumerate() {
            if i != j {
                *x = pair(i, j, 2, 1) - 2.0 * e[i] * cn[i * n + j];
            }
        }
    });
    let nf = n as f64;
    let a: Vec<f64> = (0..n)
        .map(|k| {
            let (p1, p2, p3) = (pk1[k][0], pk1[k][1], pk1[k][2]);
            let k3d = p3 - 3.0 * p2 * p1 + 2.0 * p1 * p1 * p1;
            let off: f64 = (0..n).map(|i| k3off[i * n + k]).sum();
            3.0 / (nf + 2.0) * (k3d + off)
        })
        .collect();
    let k4d: f64 = pk1
        .iter()
        .map(|r| {
            let (p1, p2, p3, p4) = (r[0], r[1], r[2], r[3]);
            p4 - 4.0 * p3 * p1 - 3.0 * p2 * p2 + 12.0 * p2 * p1 * p1 - 6.0 * p1.powi(4)
        })
        .sum();
    let rows_off: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut acc = 0.0;
            for j in 0..n {
                if i == j {
                    continue;
                }
                let cij = cn[i * n + j];
                acc += pair(i, j, 2, 2)
                    - 2.0 * e[j] * k3off[i * n + j]
                    - 2.0 * e[i] * k3off[j * n + i]
                    - 2.0 * cij * cij
                    - 4.0 * e[i] * e[j] * cij;
            }
            acc
        })
        .collect();
    let k4off: f64 = rows_off.iter().sum();
    let c4 = 3.0 / (nf * (nf + 2.0)) * (k4d + k4off);
    Act2 {
        g,
        clamped,
        pk1,
        e,
        cn,
        k3off,
        a,
        c4,
    }
}

/// Adjoints of one activation step's inputs.
struct ActBack {
    mbar: Vec<f64>,
    sbar: Vec<f64>,
    ubar: Vec<f64>,
    /// `M̄` (full metric) or `tr M̄` in its first entry (average metric).
    metbar: Vec<f64>,
    c4bar: f64,
}

/// The adjoint of [`act_forward`]: from `μ̄'`, `C̄'`, `ā'`, `c̄'` to `m̄`, `S̄`, `ū`, `M̄`, `c̄4`.
#[allow(clippy::too_many_lines)]
fn act_backward(
    lin: &Lin,
    st: &Act2,
    n: usize,
    mubar: &[f64],
    cbar: &[f64],
    abar: &[f64],
    c4bar_out: f64,
) -> ActBack {
    let nf = n as f64;
    let alpha = 3.0 / (nf + 2.0);
    let gamma = 3.0 / (nf * (nf + 2.0)) * c4bar_out;
    let tr = lin.trace(n);
    let (s, e, cn, k3off, g) = (&lin.s, &st.e, &st.cn, &st.k3off, &st.g);
    let kb = |_i: usize, j: usize| alpha * abar[j] - 4.0 * gamma * e[j];
    // adjoints of pK_11, pK_21, pK_22 for every ordered pair i ≠ j
    let mut pbar = vec![[0.0; 3]; n * n];
    pbar.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (j, x) in row.iter_mut().enumerate() {
            if i != j {
                let ij = i * n + j;
                let k = kb(i, j);
                let c11 =
                    cbar[ij] - 4.0 * gamma * cn[ij] - 4.0 * gamma * e[i] * e[j] - 2.0 * k * e[i];
                *x = [c11, k, gamma];
            }
        }
    });
    // adjoints of the one-index power cumulants pK_p(i)
    let pk1bar: Vec<[f64; 4]> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut eb = mubar[i] - 2.0 * e[i] * cbar[i * n + i];
            for j in 0..n {
                if j == i {
                    continue;
                }
                eb += -4.0 * gamma * k3off[j * n + i]
                    - 4.0 * gamma * e[j] * (cn[i * n + j] + cn[j * n + i])
                    - 2.0 * kb(i, j) * cn[i * n + j];
            }
            let [p1, p2, p3, _] = st.pk1[i];
            let ab = alpha * abar[i];
            [
                eb + ab * (-3.0 * p2 + 6.0 * p1 * p1)
                    + gamma * (-4.0 * p3 + 24.0 * p2 * p1 - 24.0 * p1 * p1 * p1),
                cbar[i * n + i] - 3.0 * ab * p1 + gamma * (-6.0 * p2 + 12.0 * p1 * p1),
                ab - 4.0 * gamma * p1,
                gamma,
            ]
        })
        .collect();
    // per row i: S̄_ij (j ≠ i), K̄3_ij, K̄4_ij (all j), Ḡ_i; then m̄_i and v̄_i = S̄_ii
    let mut sbar = vec![0.0; n * n];
    let mut k3bar = vec![0.0; n * n];
    let mut k4bar = vec![0.0; n * n];
    let mut mbar = vec![0.0; n];
    sbar.par_chunks_mut(n)
        .zip(k3bar.par_chunks_mut(n))
        .zip(k4bar.par_chunks_mut(n))
        .zip(mbar.par_iter_mut())
        .enumerate()
        .for_each(|(i, (((srow, k3row), k4row), mb))| {
            let mut gb = [[0.0; 7]; 4];
            for j in 0..n {
                if j == i {
                    continue;
                }
                let (ij, ji) = (i * n + j, j * n + i);
                let (sij, sji) = (s[ij], s[ji]);
                let (k3ij, k3ji, k4ij, k4ji) = (tr.k3(i, j), tr.k3(j, i), tr.k4(i, j), tr.k4(j, i));
                for (t, &(p, q)) in PQ.iter().enumerate() {
                    // the pair (i, j): i first (power p), j second (power q)
                    let pb = pbar[ij][t];
                    let (a, b) = (&g[i][p - 1], &g[j][q - 1]);
                    srow[j] += pb * (a[1] * b[1] + sij * a[2] * b[2]);
                    k3row[j] += pb * 0.5 * a[2] * b[1];
                    k4row[j] += pb * 0.25 * a[2] * b[2];
                    gb[p - 1][1] += pb * (sij * b[1] + 0.5 * k3ji * b[2]);
                    gb[p - 1][2] +=
                        pb * (0.5 * sij * sij * b[2] + 0.5 * k3ij * b[1] + 0.25 * k4ij * b[2]);
                    // the pair (j, i): j first (power p), i second (power q)
                    let pb = pbar[ji][t];
                    let (a, b) = (&g[j][p - 1], &g[i][q - 1]);
                    k3row[j] += pb * 0.5 * a[1] * b[2];
                    gb[q - 1][1] += pb * (sji * a[1] + 0.5 * k3ji * a[2]);
                    gb[q - 1][2] +=
                        pb * (0.5 * sji * sji * a[2] + 0.5 * k3ij * a[1] + 0.25 * k4ji * a[2]);
                }
            }
            let (t3, t4) = (tr.k3(i, i), tr.k4(i, i));
            let gi = &g[i];
            for p in 0..4 {
                let pb = pk1bar[i][p];
                gb[p][0] += pb;
                gb[p][3] += pb * t3 / 6.0;
                gb[p][4] += pb * t4 / 24.0;
                k3row[i] += pb * gi[p][3] / 6.0;
                k4row[i] += pb * gi[p][4] / 24.0;
            }
            let (mut dm, mut dv) = (0.0, 0.0);
            for p in 0..4 {
                for k in 0..=4 {
                    dm += gb[p][k] * gi[p][k + 1];
                    dv += gb[p][k] * gi[p][k + 2] / 2.0;
                }
            }
            *mb = dm;
            srow[i] = if st.clamped[i] { 0.0 } else { dv };
        });
    // K̄3, K̄4 → ū, M̄, c̄4 (only after the first activation)
    let (mut ubar, mut metbar, mut c4bar) = (vec![0.0; n], Vec::new(), 0.0);
    if let (Some(u), Some(met)) = (lin.u.as_deref(), lin.met.as_ref()) {
        let c4 = lin.c4;
        let m = |i: usize, j: usize| met.at(n, i, j);
        let mut mbfull = vec![0.0; n * n];
        let c4part: Vec<f64> = mbfull
            .par_chunks_mut(n)
            .zip(ubar.par_iter_mut())
            .enumerate()
            .map(|(i, (mrow, ub))| {
                let ii = i * n + i;
                let mii = m(i, i);
                let mut uacc = k3bar[ii] * mii;
                let mut mdiag = k3bar[ii] * u[i] + 2.0 * c4 * k4bar[ii] * mii;
                let mut cacc = k4bar[ii] * mii * mii;
                for j in 0..n {
                    if j == i {
                        continue;
                    }
                    let (ij, ji) = (i * n + j, j * n + i);
                    let (mij, mjj) = (m(i, j), m(j, j));
                    uacc += k3bar[ij] * 2.0 * mij / 3.0 + k3bar[ji] * mjj / 3.0;
                    mdiag += k3bar[ij] * u[j] / 3.0 + (k4bar[ij] + k4bar[ji]) * c4 * mjj / 3.0;
                    mrow[j] = 2.0 * u[i] * k3bar[ij] / 3.0 + 4.0 * c4 * mij * k4bar[ij] / 3.0;
                    cacc += k4bar[ij] * (mii * mjj + 2.0 * mij * mij) / 3.0;
                }
                mrow[i] = mdiag;
                *ub = uacc;
                cacc
            })
            .collect();
        c4bar = c4part.iter().sum();
        metbar = match met {
            Met::Full(_) => mbfull,
            Met::Avg(_) => vec![(0..n).map(|i| mbfull[i * n + i]).sum()],
        };
    }
    ActBack {
        mbar,
        sbar,
        ubar,
        metbar,
        c4bar,
    }
}

/// Gradient of `J = Σ c_mean_i m_i + Σ c_var_i v_i` at layer `layer`'s pre-activations as
/// estimated by kprop `K = 2`, kind AUGMENT, with the given metric.
///
/// # Errors
/// [`MlpError::InvalidArgument`] for a bad layer, wrong lengths, non-finite coefficients or
/// a bad `init_scale`; [`MlpError::Cancelled`].
#[allow(clippy::too_many_lines, clippy::needless_range_loop)]
pub fn kprop2_gradient(
    net: &Net,
    input: &Input,
    metric: KpropMetric<'_>,
    layer: usize,
    c_mean: &[f64],
    c_var: &[f64],
    cancel: Cancel<'_>,
) -> Result<Gradient, MlpError> {
    super::gradient::check_objective(net, input, layer, c_mean, c_var)?;
    if let KpropMetric::Average(sc) = metric {
        if sc.len() != net.depth() {
            return Err(MlpError::invalid(
                "init_scale",
                format!(
                    "expected {} values (one per linear layer), got {}",
                    net.depth(),
                    sc.len()
                ),
            ));
        }
        if sc.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(MlpError::invalid("init_scale", "must be finite and >= 0"));
        }
    }
    let (sq, wmax) = super::square_sizes(net);
    let need = wmax
        .checked_mul(wmax)
        .and_then(|x| x.checked_mul(12))
        .zip(sq.and_then(|x| x.checked_mul(4)))
        .and_then(|(a, b)| a.checked_add(b));
    super::reserve_probe(
        "weights",
        need,
        "the kprop gradient's forward and reverse buffers",
    )?;
    // ---------- forward, keeping what the backward pass needs ----------
    let mut lins: Vec<Lin> = Vec::new();
    let mut acts: Vec<Act2> = Vec::new();
    for l in 0..=layer {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let w = &net.weights[l];
        let prev_mu = if l == 0 { &input.mean } else { &acts[l - 1].e };
        let m: Vec<f64> = w
            .par_chunks(cols)
            .zip(net.biases[l].par_iter())
            .map(|(row, bi)| row.iter().zip(prev_mu).map(|(x, y)| x * y).sum::<f64>() + bi)
            .collect();
        let a = if l == 0 {
            weighted(w, rows, input)
        } else {
            w_c(w, rows, cols, &acts[l - 1].cn)
        };
        let s = a_wt(&a, w, rows, cols);
        let (u, met, c4) = if l == 0 || l == layer {
            (None, None, 0.0)
        } else {
            let p = &acts[l - 1];
            let u: Vec<f64> = w
                .par_chunks(cols)
                .map(|row| row.iter().zip(&p.a).map(|(x, y)| x * y).sum::<f64>())
                .collect();
            let met = match metric {
                KpropMetric::Exact => {
                    let mm = a_wt(w, w, rows, cols);
                    Met::Full(mm)
                }
                KpropMetric::Average(sc) => Met::Avg(sc[l]),
                KpropMetric::AverageOfRows => {
                    Met::Avg(w.iter().map(|x| x * x).sum::<f64>() / rows as f64)
                }
            };
            (Some(u), Some(met), p.c4)
        };
        let lin = Lin { m, s, u, met, c4 };
        if l < layer {
            cancel.check()?;
            acts.push(act_forward(net.act(l), &lin, rows));
        }
        lins.push(lin);
    }
    // ---------- objective ----------
    let w_out = net.widths[layer + 1];
    let top = &lins[layer];
    let value: f64 = (0..w_out)
        .map(|i| c_mean[i] * top.m[i] + c_var[i] * top.s[i * w_out + i])
        .sum();
    // ---------- backward ----------
    let mut d_weights: Vec<Vec<f64>> = net.weights.iter().map(|w| vec![0.0; w.len()]).collect();
    let mut d_biases: Vec<Vec<f64>> = net.biases.iter().map(|b| vec![0.0; b.len()]).collect();
    let mut mbar = c_mean.to_vec();
    let mut sbar = vec![0.0; w_out * w_out];
    for i in 0..w_out {
        sbar[i * w_out + i] = c_var[i];
    }
    let (mut ubar, mut metbar, mut c4bar): (Vec<f64>, Vec<f64>, f64) =
        (Vec::new(), Vec::new(), 0.0);
    for l in (0..=layer).rev() {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let w = &net.weights[l];
        let prev_mu = if l == 0 { &input.mean } else { &acts[l - 1].e };
        d_biases[l].clone_from(&mbar);
        let dw = &mut d_weights[l];
        for i in 0..rows {
            for j in 0..cols {
                dw[i * cols + j] = mbar[i] * prev_mu[j];
            }
        }
        // S = W C Wᵀ: dW += (S̄ + S̄ᵀ) W C
        let mut ssym = vec![0.0; rows * rows];
        for i in 0..rows {
            for j in 0..rows {
                ssym[i * rows + j] = sbar[i * rows + j] + sbar[j * rows + i];
            }
        }
        let wc = if l == 0 {
            weighted(w, rows, input)
        } else {
            w_c(w, rows, cols, &acts[l - 1].cn)
        };
        gemm(
            rows,
            rows,
            cols,
            View::rows(&ssym, rows),
            View::rows(&wc, cols),
            1.0,
            dw,
        );
        // the metric
        let lin = &lins[l];
        if let Some(met) = &lin.met {
            match met {
                Met::Full(_) => {
                    // M = W Wᵀ: dW += (M̄ + M̄ᵀ) W
                    let mut msym = vec![0.0; rows * rows];
                    for i in 0..rows {
                        for j in 0..rows {
                            msym[i * rows + j] = metbar[i * rows + j] + metbar[j * rows + i];
                        }
                    }
                    gemm(
                        rows,
                        rows,
                        cols,
                        View::rows(&msym, rows),
                        View::rows(w, cols),
                        1.0,
                        dw,
                    );
                }
                Met::Avg(_) => {
                    if metric == KpropMetric::AverageOfRows {
                        let f = 2.0 * metbar[0] / rows as f64;
                        for (d, x) in dw.iter_mut().zip(w.iter()) {
                            *d += f * x;
                        }
                    }
                }
            }
        }
        if l == 0 {
            break;
        }
        let p = &acts[l - 1];
        // u = W a: dW += ū aᵀ, ā = Wᵀ ū
        let abar = if lin.u.is_some() {
            for i in 0..rows {
                for j in 0..cols {
                    dw[i * cols + j] += ubar[i] * p.a[j];
                }
            }
            matvec_t(w, rows, cols, &ubar)
        } else {
            vec![0.0; cols]
        };
        let mubar = matvec_t(w, rows, cols, &mbar);
        // C̄ = Wᵀ S̄ W
        let cbar = wt_s_w(w, rows, cols, &sbar);
        cancel.check()?;
        let b = act_backward(&lins[l - 1], p, cols, &mubar, &cbar, &abar, c4bar);
        mbar = b.mbar;
        sbar = b.sbar;
        ubar = b.ubar;
        metbar = b.metbar;
        c4bar = b.c4bar;
    }
    Ok(Gradient {
        value,
        d_weights,
        d_biases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn met_and_trace_vanish_before_the_first_activation() {
        let tr = Trace {
            n: 2,
            u: None,
            met: None,
            c4: 1.0,
        };
        assert_eq!(tr.k3(0, 1), 0.0);
        assert_eq!(tr.k4(1, 1), 0.0);
        let m = Met::Avg(2.0);
        assert_eq!(m.at(3, 1, 1), 2.0);
        assert_eq!(m.at(3, 1, 2), 0.0);
    }
}
