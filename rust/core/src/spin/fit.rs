//! Fitting objectives: minimum probability flow (MPF) and pseudolikelihood, with gradients.
//!
//! Data are `B` states (`B × n`, ±1). In the ±1 parametrisation (`E = −½sᵀJs − hᵀs`, β = 1)
//! with `z_n = s_n φ_n` and `φ = J s + h`:
//!
//! - MPF (single-flip connectivity, rates `exp((E(x) − E(x'))/2)`):
//!   `K = (1/B) Σ_x Σ_n exp(−z_n)`.
//! - Negative log-pseudolikelihood: `PL = (1/B) Σ_x Σ_n ln(1 + exp(−2 z_n))`.
//!
//! Both have the form `(1/B) Σ f(z_n)`; with `w_n = −f'(z_n)`:
//! `∂/∂h_n = −(1/B) Σ_x w_n s_n`, `∂/∂J_nm = −(1/B) Σ_x (w_n + w_m) s_n s_m` (one symmetric
//! parameter per pair). Like the reference derivation, every single-flip neighbour counts even
//! when it is itself a data state.
//!
//! The `{0,1}` form `E = xᵀWx` (`x = (1+s)/2`, biases on the diagonal of `W`) has
//! `K = (1/B) Σ_x Σ_n exp((2x_n − 1)(Wx)_n − W_nn/2)`, optionally plus the all-flip connection
//! `x ↔ 1 − x`, `exp(1ᵀW(x − ½))`.

use super::{Cancel, SpinError, check_finite, check_states};
use crate::parallel::with_threads;
use rayon::prelude::*;

/// Which objective [`mpf_objective`] evaluates in the ±1 parametrisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitMode {
    /// Minimum probability flow.
    Mpf,
    /// Negative log-pseudolikelihood.
    PseudoLikelihood,
}

/// Value and gradient of an objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// Objective value (per sample).
    pub value: f64,
    /// Gradient with respect to the symmetric coupling parameters, `n × n` (symmetric; zero
    /// diagonal in the ±1 form, the bias derivatives on the diagonal in the `{0,1}` form).
    pub grad_j: Vec<f64>,
    /// Gradient with respect to `h` (empty in the `{0,1}` form).
    pub grad_h: Vec<f64>,
}

/// Number of fixed chunks of samples (independent of the thread count), bounded so the
/// per-chunk `n × n` partial sums stay below 64 MiB.
fn n_chunks(b: usize, n: usize) -> usize {
    let by_size = b.div_ceil(256).max(1);
    let by_mem = ((1usize << 23) / (n * n).max(1)).max(1);
    by_size.min(by_mem).min(256)
}

fn check_data(data: &[i8], n: usize) -> Result<usize, SpinError> {
    let b = check_states("data", data, n)?;
    if b == 0 {
        return Err(SpinError::invalid("data", "needs at least one sample"));
    }
    Ok(b)
}

/// Samples processed together: each row of `J` and of the gradient is loaded once per block
/// instead of once per sample (the per-element summation order over samples is unchanged).
const BLOCK: usize = 8;

/// [`pm1_chunk`] compiled with AVX2 enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pm1_chunk_avx2(
    rows: &[i8],
    j: &[f64],
    h: &[f64],
    mode: FitMode,
) -> (f64, Vec<f64>, Vec<f64>) {
    pm1_chunk(rows, j, h, mode)
}

/// Partial sums of [`mpf_objective`] over the samples `rows`: value, `Σ w_n s_n s_m` (`n × n`,
/// not yet symmetrised) and `Σ w_n s_n`.
#[inline(always)]
fn pm1_chunk(rows: &[i8], j: &[f64], h: &[f64], mode: FitMode) -> (f64, Vec<f64>, Vec<f64>) {
    let n = h.len();
    let mut g = vec![0.0; n * n];
    let mut gh = vec![0.0; n];
    let mut val = 0.0;
    let mut phi = vec![0.0; BLOCK * n];
    let mut x = vec![0.0; BLOCK * n];
    let mut ws = vec![0.0; BLOCK * n];
    for blk in rows.chunks(BLOCK * n) {
        let nb = blk.len() / n;
        for t in 0..nb {
            phi[t * n..(t + 1) * n].copy_from_slice(h);
            for (xv, &sv) in x[t * n..(t + 1) * n]
                .iter_mut()
                .zip(&blk[t * n..(t + 1) * n])
            {
                *xv = sv as f64;
            }
        }
        for m in 0..n {
            let row = &j[m * n..(m + 1) * n];
            for t in 0..nb {
                let p = &mut phi[t * n..(t + 1) * n];
                if blk[t * n + m] > 0 {
                    for (pv, a) in p.iter_mut().zip(row) {
                        *pv += a;
                    }
                } else {
                    for (pv, a) in p.iter_mut().zip(row) {
                        *pv -= a;
                    }
                }
            }
        }
        for t in 0..nb {
            for k in 0..n {
                let xk = x[t * n + k];
                let z = xk * phi[t * n + k];
                let (f, w) = match mode {
                    FitMode::Mpf => {
                        let e = (-z).exp();
                        (e, e)
                    }
                    FitMode::PseudoLikelihood => {
                        // ln(1 + e^{−2z}) and 2σ(−2z), overflow-safe.
                        // u = e^{−|t|} ≤ 1, one exponential per element.
                        let t2 = -2.0 * z;
                        let (f, sig) = if t2 > 0.0 {
                            let u = (-t2).exp();
                            (t2 + u.ln_1p(), 1.0 / (1.0 + u))
                        } else {
                            let u = t2.exp();
                            (u.ln_1p(), u / (1.0 + u))
                        };
                        (f, 2.0 * sig)
                    }
                };
                val += f;
                ws[t * n + k] = w * xk;
                gh[k] += ws[t * n + k];
            }
        }
        for k in 0..n {
            let grow = &mut g[k * n..(k + 1) * n];
            for t in 0..nb {
                let a = ws[t * n + k];
                for (gv, xv) in grow.iter_mut().zip(&x[t * n..(t + 1) * n]) {
                    *gv += a * xv;
                }
            }
        }
    }
    (val, g, gh)
}

/// MPF or pseudolikelihood objective and gradient for ±1 data at couplings `j` (`n × n`,
/// symmetric, zero diagonal) and fields `h`.
///
/// # Errors
/// Bad data, parameters of the wrong size or not finite, a nonzero diagonal, a bad thread count.
pub fn mpf_objective(
    data: &[i8],
    j: &[f64],
    h: &[f64],
    mode: FitMode,
    threads: Option<usize>,
) -> Result<Objective, SpinError> {
    mpf_objective_with(data, j, h, mode, threads, Cancel(None))
}

/// [`mpf_objective`], stopping with [`SpinError::Cancelled`] between blocks of samples once
/// `cancel` is requested (one evaluation on a large data set takes seconds).
///
/// # Errors
/// As [`mpf_objective`], and `Cancelled`.
pub fn mpf_objective_with(
    data: &[i8],
    j: &[f64],
    h: &[f64],
    mode: FitMode,
    threads: Option<usize>,
    cancel: Cancel<'_>,
) -> Result<Objective, SpinError> {
    let n = h.len();
    if n == 0 || j.len() != n * n {
        return Err(SpinError::invalid(
            "J",
            format!("expected {n}×{n} values to match h, got {}", j.len()),
        ));
    }
    check_finite("J", j)?;
    check_finite("h", h)?;
    if (0..n).any(|i| j[i * n + i] != 0.0) {
        return Err(SpinError::invalid("J", "the diagonal must be zero"));
    }
    let b = check_data(data, n)?;
    let nc = n_chunks(b, n);
    let per = b.div_ceil(nc);
    let chunk = |c: usize| {
        let lo = (c * per).min(b);
        let hi = ((c + 1) * per).min(b);
        let rows = &data[lo * n..hi * n];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above); no FMA contraction, so the
                // wider vectors give the same bits as the plain path.
                return unsafe { pm1_chunk_avx2(rows, j, h, mode) };
            }
        }
        pm1_chunk(rows, j, h, mode)
    };
    let parts: Vec<(f64, Vec<f64>, Vec<f64>)> = with_threads(threads, || {
        (0..nc)
            .into_par_iter()
            .map(|c| (!cancel.requested()).then(|| chunk(c)))
            .collect::<Option<Vec<_>>>()
    })?
    .ok_or(SpinError::Cancelled)?;
    let mut val = 0.0;
    let mut g = vec![0.0; n * n];
    let mut gh = vec![0.0; n];
    for (v, pg, ph) in &parts {
        val += v;
        for (a, b) in g.iter_mut().zip(pg) {
            *a += b;
        }
        for (a, b) in gh.iter_mut().zip(ph) {
            *a += b;
        }
    }
    let inv = 1.0 / b as f64;
    let mut grad_j = vec![0.0; n * n];
    for a in 0..n {
        for c in (a + 1)..n {
            let v = -(g[a * n + c] + g[c * n + a]) * inv;
            grad_j[a * n + c] = v;
            grad_j[c * n + a] = v;
        }
    }
    Ok(Objective {
        value: val * inv,
        grad_j,
        grad_h: gh.iter().map(|v| -v * inv).collect(),
    })
}

/// MPF objective and gradient in the `{0,1}` form `E = xᵀWx` (`w`: `n × n`, symmetric, biases on
/// the diagonal), with the optional all-flip connection. `data` are ±1 states (`x = (1+s)/2`).
///
/// # Errors
/// As [`mpf_objective`].
pub fn mpf_objective_01(
    data: &[i8],
    w: &[f64],
    n: usize,
    all_flip: bool,
    threads: Option<usize>,
) -> Result<Objective, SpinError> {
    mpf_objective_01_with(data, w, n, all_flip, threads, Cancel(None))
}

/// [`mpf_objective_01`], stopping with [`SpinError::Cancelled`] between blocks of samples once
/// `cancel` is requested.
///
/// # Errors
/// As [`mpf_objective`], and `Cancelled`.
pub fn mpf_objective_01_with(
    data: &[i8],
    w: &[f64],
    n: usize,
    all_flip: bool,
    threads: Option<usize>,
    cancel: Cancel<'_>,
) -> Result<Objective, SpinError> {
    if n == 0 || w.len() != n * n {
        return Err(SpinError::invalid(
            "W",
            format!("expected {n}×{n} values, got {}", w.len()),
        ));
    }
    check_finite("W", w)?;
    let b = check_data(data, n)?;
    let nc = n_chunks(b, n);
    let per = b.div_ceil(nc);
    let colsum: Vec<f64> = (0..n).map(|m| (0..n).map(|k| w[k * n + m]).sum()).collect();
    let total: f64 = colsum.iter().sum();
    let chunk = |c: usize| {
        let lo = (c * per).min(b);
        let hi = ((c + 1) * per).min(b);
        let mut g = vec![0.0; n * n];
        let mut sa = vec![0.0; n];
        let mut bx = vec![0.0; n];
        let mut bsum = 0.0;
        let mut val = 0.0;
        let mut y = vec![0.0; n];
        let mut x = vec![0.0; n];
        let mut ax = vec![0.0; n];
        for s in data[lo * n..hi * n].chunks_exact(n) {
            y.iter_mut().for_each(|v| *v = 0.0);
            for (m, &sm) in s.iter().enumerate() {
                x[m] = if sm > 0 { 1.0 } else { 0.0 };
                if sm > 0 {
                    for (p, a) in y.iter_mut().zip(&w[m * n..(m + 1) * n]) {
                        *p += a;
                    }
                }
            }
            for k in 0..n {
                let a = ((2.0 * x[k] - 1.0) * y[k] - 0.5 * w[k * n + k]).exp();
                val += a;
                sa[k] += a;
                ax[k] = a * (2.0 * x[k] - 1.0);
            }
            for k in 0..n {
                let a = ax[k];
                if a != 0.0 {
                    let row = &mut g[k * n..(k + 1) * n];
                    for (gv, xv) in row.iter_mut().zip(&x) {
                        *gv += a * xv;
                    }
                }
            }
            if all_flip {
                let cexp: f64 =
                    x.iter().zip(&colsum).map(|(xv, cs)| xv * cs).sum::<f64>() - 0.5 * total;
                let bb = cexp.exp();
                val += bb;
                bsum += bb;
                for (v, xv) in bx.iter_mut().zip(&x) {
                    *v += bb * xv;
                }
            }
        }
        (val, g, sa, bx, bsum)
    };
    type Part = (f64, Vec<f64>, Vec<f64>, Vec<f64>, f64);
    let parts: Vec<Part> = with_threads(threads, || {
        (0..nc)
            .into_par_iter()
            .map(|c| (!cancel.requested()).then(|| chunk(c)))
            .collect::<Option<Vec<_>>>()
    })?
    .ok_or(SpinError::Cancelled)?;
    let mut val = 0.0;
    let mut g = vec![0.0; n * n];
    let mut sa = vec![0.0; n];
    let mut bx = vec![0.0; n];
    let mut bsum = 0.0;
    for (v, pg, ps, pb, pbs) in &parts {
        val += v;
        bsum += pbs;
        for (a, b) in g.iter_mut().zip(pg) {
            *a += b;
        }
        for (a, b) in sa.iter_mut().zip(ps) {
            *a += b;
        }
        for (a, b) in bx.iter_mut().zip(pb) {
            *a += b;
        }
    }
    let inv = 1.0 / b as f64;
    let mut grad = vec![0.0; n * n];
    for a in 0..n {
        grad[a * n + a] = (g[a * n + a] - 0.5 * sa[a] + bx[a] - 0.5 * bsum) * inv;
        for c in (a + 1)..n {
            let v = (g[a * n + c] + g[c * n + a] + bx[a] + bx[c] - bsum) * inv;
            grad[a * n + c] = v;
            grad[c * n + a] = v;
        }
    }
    Ok(Objective {
        value: val * inv,
        grad_j: grad,
        grad_h: Vec::new(),
    })
}

/// Negative log-pseudolikelihood and its gradient (±1 form); see [`mpf_objective`].
///
/// # Errors
/// As [`mpf_objective`].
pub fn pseudolikelihood_objective(
    data: &[i8],
    j: &[f64],
    h: &[f64],
    threads: Option<usize>,
) -> Result<Objective, SpinError> {
    mpf_objective(data, j, h, FitMode::PseudoLikelihood, threads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::spin::random_state;

    fn setup(n: usize, b: usize) -> (Vec<i8>, Vec<f64>, Vec<f64>) {
        let mut g = SplitMix64::new(11, 0);
        let mut data = Vec::new();
        for _ in 0..b {
            data.extend(random_state(&mut g, n));
        }
        let mut j = vec![0.0; n * n];
        for a in 0..n {
            for c in (a + 1)..n {
                let v = g.next_f64() - 0.5;
                j[a * n + c] = v;
                j[c * n + a] = v;
            }
        }
        let h = (0..n).map(|_| g.next_f64() - 0.5).collect();
        (data, j, h)
    }

    #[test]
    fn gradients_match_finite_differences() {
        let n = 5;
        let (data, j, h) = setup(n, 300);
        for mode in [FitMode::Mpf, FitMode::PseudoLikelihood] {
            let o = mpf_objective(&data, &j, &h, mode, None).unwrap();
            let eps = 1e-6;
            let (a, c) = (1, 3);
            let mut jp = j.clone();
            jp[a * n + c] += eps;
            jp[c * n + a] += eps;
            let mut jm = j.clone();
            jm[a * n + c] -= eps;
            jm[c * n + a] -= eps;
            let fd = (mpf_objective(&data, &jp, &h, mode, None).unwrap().value
                - mpf_objective(&data, &jm, &h, mode, None).unwrap().value)
                / (2.0 * eps);
            assert!(
                (fd - o.grad_j[a * n + c]).abs() < 1e-7 * (1.0 + fd.abs()),
                "{mode:?} {fd}"
            );
            let mut hp = h.clone();
            hp[2] += eps;
            let mut hm = h.clone();
            hm[2] -= eps;
            let fd = (mpf_objective(&data, &j, &hp, mode, None).unwrap().value
                - mpf_objective(&data, &j, &hm, mode, None).unwrap().value)
                / (2.0 * eps);
            assert!((fd - o.grad_h[2]).abs() < 1e-7 * (1.0 + fd.abs()));
        }
        let mut w = j.clone();
        for i in 0..n {
            w[i * n + i] = h[i];
        }
        for all_flip in [false, true] {
            let o = mpf_objective_01(&data, &w, n, all_flip, None).unwrap();
            for (a, c) in [(0, 4), (2, 2)] {
                let eps = 1e-6;
                let mut wp = w.clone();
                wp[a * n + c] += eps;
                if a != c {
                    wp[c * n + a] += eps;
                }
                let mut wm = w.clone();
                wm[a * n + c] -= eps;
                if a != c {
                    wm[c * n + a] -= eps;
                }
                let fd = (mpf_objective_01(&data, &wp, n, all_flip, None)
                    .unwrap()
                    .value
                    - mpf_objective_01(&data, &wm, n, all_flip, None)
                        .unwrap()
                        .value)
                    / (2.0 * eps);
                assert!(
                    (fd - o.grad_j[a * n + c]).abs() < 1e-7 * (1.0 + fd.abs()),
                    "{all_flip} {a} {c}"
                );
            }
        }
    }

    #[test]
    fn thread_count_does_not_change_the_objective() {
        let (data, j, h) = setup(12, 5000);
        let a = with_threads(Some(1), || mpf_objective(&data, &j, &h, FitMode::Mpf, None)).unwrap();
        let b = with_threads(Some(2), || mpf_objective(&data, &j, &h, FitMode::Mpf, None)).unwrap();
        assert_eq!(a, b);
    }
}
