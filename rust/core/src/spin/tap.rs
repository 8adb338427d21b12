//! TAP mean-field equations: damped fixed-point iteration with the Onsager reaction term,
//! annealed in temperature, many starts in parallel.

use super::{Cancel, Couplings, SpinError, check_finite};
use crate::parallel::with_threads;
use rayon::prelude::*;

/// Settings of [`tap`].
#[derive(Debug, Clone)]
pub struct TapOptions<'a> {
    /// Temperatures, solved in order, each warm-started from the previous solution (finite, > 0).
    pub temperatures: &'a [f64],
    /// Damping `γ ∈ (0, 1]`: `m ← (1−γ) m + γ F(m)`.
    pub damping: f64,
    /// Convergence when `max_i |F(m)_i − m_i| < tol`.
    pub tol: f64,
    /// Iterations allowed per temperature.
    pub max_iter: usize,
    /// Include the Onsager reaction term (`false`: naive mean field).
    pub onsager: bool,
    /// Initial magnetisations, `n_starts × n`, each in `[−1, 1]`.
    pub inits: &'a [f64],
    /// Threads.
    pub threads: Option<usize>,
    /// Cancellation flag, polled every 64 iterations.
    pub cancel: Cancel<'a>,
    /// Solve each temperature by Newton's method on `G(m) = m − F(m)` (dense Jacobian, LU with
    /// partial pivoting, backtracking on `‖G‖₂` inside `(−1, 1)^n`) instead of damped iteration;
    /// `damping` is then unused. Finds the non-zero TAP solutions of glassy models (SK below
    /// `T = 1`) by continuation from a low-temperature start, where damped iteration oscillates.
    /// Needs `n ≤` [`TAP_NEWTON_MAX_N`].
    pub newton: bool,
}

/// Largest `n` for [`TapOptions::newton`] (an `n × n` Jacobian per start).
pub const TAP_NEWTON_MAX_N: usize = 4096;

/// Output of [`tap`]; arrays are row-major `n_starts × n_T (× n)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TapResult {
    /// Magnetisations `m`.
    pub m: Vec<f64>,
    /// Iterations used.
    pub iterations: Vec<u64>,
    /// Whether the tolerance was reached (an unconverged `m` is the last iterate, flagged).
    pub converged: Vec<bool>,
    /// Final residual `max_i |F(m)_i − m_i|`.
    pub residual: Vec<f64>,
    /// TAP free energy `F(m)` (whole system).
    pub free_energy: Vec<f64>,
    /// Edwards–Anderson parameter `q = mean(m²)`.
    pub q: Vec<f64>,
}

fn entropy_term(m: f64) -> f64 {
    let f = |p: f64| if p > 0.0 { p * p.ln() } else { 0.0 };
    f((1.0 + m) / 2.0) + f((1.0 - m) / 2.0)
}

/// TAP free energy of magnetisations `m` at temperature `t`:
/// `F = T Σ_i [p ln p + (1−p) ln(1−p)]_{p=(1+m_i)/2} − ½ mᵀJm − hᵀm
///      − (1/4T) Σ_{i≠j} J_ij² (1−m_i²)(1−m_j²)` (last term only with `onsager`).
/// Its stationary points are the TAP equations.
pub fn tap_free_energy<C: Couplings>(model: &C, m: &[f64], t: f64, onsager: bool) -> f64 {
    let n = model.n();
    let mut jm = vec![0.0; n];
    model.matvec(m, &mut jm);
    let mut f = 0.0;
    for i in 0..n {
        f += t * entropy_term(m[i]) - 0.5 * m[i] * jm[i] - model.h()[i] * m[i];
    }
    if onsager {
        let u: Vec<f64> = m.iter().map(|v| 1.0 - v * v).collect();
        let mut s = 0.0;
        for i in 0..n {
            s += u[i] * model.row_sq_dot(i, &u);
        }
        f -= s / (4.0 * t);
    }
    f
}

/// Solves `m_i = tanh(β h_i + β Σ_j J_ij m_j − β² m_i Σ_j J_ij² (1 − m_j²))` (Onsager term
/// optional) by damped iteration from every start, sweeping the temperatures in order with warm
/// starts. Starts run in parallel; each is sequential, so results do not depend on the thread
/// count.
///
/// # Errors
/// Bad temperatures, damping, tolerance, iteration count or starts; a bad thread count; or
/// [`SpinError::Cancelled`].
pub fn tap<C: Couplings>(model: &C, o: &TapOptions<'_>) -> Result<TapResult, SpinError> {
    let n = model.n();
    if o.temperatures.is_empty() {
        return Err(SpinError::invalid("T", "must not be empty"));
    }
    if let Some(t) = o
        .temperatures
        .iter()
        .find(|t| !(t.is_finite() && **t > 0.0))
    {
        return Err(SpinError::invalid(
            "T",
            format!("temperatures must be finite and > 0, got {t}"),
        ));
    }
    if !(o.damping > 0.0 && o.damping <= 1.0) {
        return Err(SpinError::invalid(
            "damping",
            format!("must be in (0, 1], got {}", o.damping),
        ));
    }
    if !(o.tol.is_finite() && o.tol > 0.0) {
        return Err(SpinError::invalid(
            "tol",
            format!("must be finite and > 0, got {}", o.tol),
        ));
    }
    if o.max_iter == 0 {
        return Err(SpinError::invalid("max_iter", "must be >= 1"));
    }
    if o.inits.is_empty() || !o.inits.len().is_multiple_of(n) {
        return Err(SpinError::invalid(
            "init",
            format!("expected n_starts × {n} values, got {}", o.inits.len()),
        ));
    }
    check_finite("init", o.inits)?;
    if let Some(v) = o.inits.iter().find(|v| v.abs() > 1.0) {
        return Err(SpinError::invalid(
            "init",
            format!("magnetisations must be in [-1, 1], got {v}"),
        ));
    }
    if o.newton && n > TAP_NEWTON_MAX_N {
        return Err(SpinError::invalid(
            "solver",
            format!("'newton' needs n <= {TAP_NEWTON_MAX_N} spins, got {n}"),
        ));
    }
    let nt = o.temperatures.len();
    let starts = o.inits.len() / n;
    let h = model.h();
    // dense J and J∘J for the Newton solver (J symmetric: column j = J e_j)
    let (jd, j2) = if o.newton {
        let mut jd = vec![0.0; n * n];
        let mut e = vec![0.0; n];
        let mut col = vec![0.0; n];
        for j in 0..n {
            e[j] = 1.0;
            model.matvec(&e, &mut col);
            e[j] = 0.0;
            jd[j * n..(j + 1) * n].copy_from_slice(&col);
        }
        let j2 = jd.iter().map(|v| v * v).collect::<Vec<_>>();
        (jd, j2)
    } else {
        (Vec::new(), Vec::new())
    };
    type Out = (Vec<f64>, Vec<u64>, Vec<bool>, Vec<f64>, Vec<f64>, Vec<f64>);
    let run = |k: usize| -> Result<Out, SpinError> {
        let mut m = o.inits[k * n..(k + 1) * n].to_vec();
        let mut jm = vec![0.0; n];
        let mut u = vec![0.0; n];
        let mut fm = vec![0.0; n];
        let mut out: Out = (
            Vec::with_capacity(nt * n),
            Vec::with_capacity(nt),
            Vec::with_capacity(nt),
            Vec::with_capacity(nt),
            Vec::with_capacity(nt),
            Vec::with_capacity(nt),
        );
        for &t in o.temperatures {
            let beta = 1.0 / t;
            let mut it = 0u64;
            let mut conv = false;
            let mut res = f64::INFINITY;
            if o.newton {
                let (i, c, r) = newton_solve(model, &jd, &j2, &mut m, beta, o)?;
                (it, conv, res) = (i, c, r);
            }
            while !o.newton && (it as usize) < o.max_iter {
                if it.is_multiple_of(64) {
                    o.cancel.check()?;
                }
                model.matvec(&m, &mut jm);
                if o.onsager {
                    for (ui, mi) in u.iter_mut().zip(&m) {
                        *ui = 1.0 - mi * mi;
                    }
                }
                res = 0.0;
                for i in 0..n {
                    let mut a = beta * (h[i] + jm[i]);
                    if o.onsager {
                        a -= beta * beta * m[i] * model.row_sq_dot(i, &u);
                    }
                    fm[i] = a.tanh();
                    res = f64::max(res, (fm[i] - m[i]).abs());
                }
                it += 1;
                if res < o.tol {
                    m.copy_from_slice(&fm);
                    conv = true;
                    break;
                }
                for (mi, fi) in m.iter_mut().zip(&fm) {
                    *mi = (1.0 - o.damping) * *mi + o.damping * fi;
                }
            }
            out.0.extend_from_slice(&m);
            out.1.push(it);
            out.2.push(conv);
            out.3.push(res);
            out.4.push(tap_free_energy(model, &m, t, o.onsager));
            out.5.push(m.iter().map(|v| v * v).sum::<f64>() / n as f64);
            o.cancel.advance(1);
        }
        Ok(out)
    };
    // Progress unit: one temperature of one start.
    o.cancel
        .set_total((starts as u64).saturating_mul(nt as u64));
    let outs = with_threads(o.threads, || {
        (0..starts)
            .into_par_iter()
            .map(run)
            .collect::<Result<Vec<_>, _>>()
    })??;
    let mut r = TapResult {
        m: Vec::with_capacity(starts * nt * n),
        iterations: Vec::new(),
        converged: Vec::new(),
        residual: Vec::new(),
        free_energy: Vec::new(),
        q: Vec::new(),
    };
    for (m, it, c, res, f, q) in outs {
        r.m.extend(m);
        r.iterations.extend(it);
        r.converged.extend(c);
        r.residual.extend(res);
        r.free_energy.extend(f);
        r.q.extend(q);
    }
    Ok(r)
}

/// `G(m) = m − tanh(a(m))` with `a = β(h + Jm) − β² m ∘ (J∘J)(1 − m²)` (Onsager term optional);
/// returns `a` in `a_out` and `G` in `g`.
#[allow(clippy::too_many_arguments)]
fn tap_residual(
    jd: &[f64],
    j2: &[f64],
    h: &[f64],
    m: &[f64],
    beta: f64,
    onsager: bool,
    a_out: &mut [f64],
    g: &mut [f64],
) {
    let n = m.len();
    for i in 0..n {
        let row = &jd[i * n..(i + 1) * n];
        let mut a = h[i] + row.iter().zip(m).map(|(x, y)| x * y).sum::<f64>();
        a *= beta;
        if onsager {
            let r2 = &j2[i * n..(i + 1) * n];
            let s: f64 = r2.iter().zip(m).map(|(x, y)| x * (1.0 - y * y)).sum();
            a -= beta * beta * m[i] * s;
        }
        a_out[i] = a;
        g[i] = m[i] - a.tanh();
    }
}

fn norm2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Solves `a x = b` in place (`a` row-major `n × n`, overwritten; `b` becomes `x`) by LU with
/// partial pivoting. Returns `false` for a (numerically) singular matrix.
fn lu_solve(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    for k in 0..n {
        let (mut p, mut best) = (k, a[k * n + k].abs());
        for r in k + 1..n {
            let v = a[r * n + k].abs();
            if v > best {
                (p, best) = (r, v);
            }
        }
        if best.is_nan() || best <= 1e-300 {
            return false;
        }
        if p != k {
            for c in 0..n {
                a.swap(k * n + c, p * n + c);
            }
            b.swap(k, p);
        }
        let piv = a[k * n + k];
        let (top, rest) = a.split_at_mut((k + 1) * n);
        let krow = &top[k * n..];
        for r in 0..n - k - 1 {
            let row = &mut rest[r * n..(r + 1) * n];
            let f = row[k] / piv;
            if f != 0.0 {
                for c in k..n {
                    row[c] -= f * krow[c];
                }
                b[k + 1 + r] -= f * b[k];
            }
        }
    }
    for k in (0..n).rev() {
        let s: f64 = (k + 1..n).map(|c| a[k * n + c] * b[c]).sum();
        b[k] = (b[k] - s) / a[k * n + k];
    }
    b.iter().all(|v| v.is_finite())
}

/// Newton iterations at one temperature; returns (iterations, converged, residual `max|G|`).
fn newton_solve<C: Couplings>(
    model: &C,
    jd: &[f64],
    j2: &[f64],
    m: &mut [f64],
    beta: f64,
    o: &TapOptions<'_>,
) -> Result<(u64, bool, f64), SpinError> {
    let n = m.len();
    let h = model.h();
    let (mut a, mut g) = (vec![0.0; n], vec![0.0; n]);
    let (mut a2, mut g2, mut trial) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut jac = vec![0.0; n * n];
    let mut u = vec![0.0; n];
    tap_residual(jd, j2, h, m, beta, o.onsager, &mut a, &mut g);
    let mut it = 0u64;
    loop {
        let res = g.iter().fold(0.0f64, |x, y| x.max(y.abs()));
        if res < o.tol {
            return Ok((it, true, res));
        }
        if it as usize >= o.max_iter {
            return Ok((it, false, res));
        }
        o.cancel.check()?;
        it += 1;
        // Jacobian of G: I − diag(1 − tanh² a) · ∂a/∂m, with
        // ∂a_i/∂m_j = β J_ij − δ_ij β² ((J∘J)(1−m²))_i + 2 β² m_i (J∘J)_ij m_j
        for (ui, mi) in u.iter_mut().zip(m.iter()) {
            *ui = 1.0 - mi * mi;
        }
        for i in 0..n {
            let d = 1.0 - a[i].tanh().powi(2);
            let row = &mut jac[i * n..(i + 1) * n];
            let jr = &jd[i * n..(i + 1) * n];
            let j2r = &j2[i * n..(i + 1) * n];
            let mut diag = 0.0;
            for j in 0..n {
                let mut da = beta * jr[j];
                if o.onsager {
                    da += 2.0 * beta * beta * m[i] * j2r[j] * m[j];
                    diag += j2r[j] * u[j];
                }
                row[j] = -d * da;
            }
            if o.onsager {
                row[i] += d * beta * beta * diag;
            }
            row[i] += 1.0;
        }
        let mut step: Vec<f64> = g.iter().map(|v| -v).collect();
        if !lu_solve(&mut jac, &mut step, n) {
            return Ok((it, false, res));
        }
        let g0 = norm2(&g);
        let mut lam = 1.0;
        let mut accepted = false;
        while lam > 1e-10 {
            let inside = m
                .iter()
                .zip(&step)
                .all(|(mi, si)| (mi + lam * si).abs() < 1.0);
            if inside {
                for ((t, mi), si) in trial.iter_mut().zip(m.iter()).zip(&step) {
                    *t = mi + lam * si;
                }
                tap_residual(jd, j2, h, &trial, beta, o.onsager, &mut a2, &mut g2);
                if norm2(&g2) < (1.0 - 1e-4 * lam) * g0 {
                    accepted = true;
                    break;
                }
            }
            lam *= 0.5;
        }
        if !accepted {
            return Ok((it, false, res));
        }
        m.copy_from_slice(&trial);
        std::mem::swap(&mut a, &mut a2);
        std::mem::swap(&mut g, &mut g2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spin::Dense;

    /// LU with pivoting solves a system that needs a row swap; a singular one is reported.
    #[test]
    fn lu_solves_and_detects_singular() {
        let mut a = vec![0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];
        let x = [1.0, -2.0, 0.5];
        let mut b: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|j| a[i * 3 + j] * x[j]).sum())
            .collect();
        assert!(lu_solve(&mut a, &mut b, 3));
        for (u, v) in b.iter().zip(x) {
            assert!((u - v).abs() < 1e-14);
        }
        let mut s = vec![1.0, 2.0, 2.0, 4.0];
        let mut c = vec![1.0, 1.0];
        assert!(!lu_solve(&mut s, &mut c, 2));
    }

    /// Curie–Weiss J_ij = J0/n with field: TAP → m = tanh(β(J0 m + h)) up to O(1/n).
    #[test]
    fn curie_weiss_fixed_point() {
        let n = 400;
        let j0 = 1.0;
        let mut j = vec![j0 / n as f64; n * n];
        for i in 0..n {
            j[i * n + i] = 0.0;
        }
        let h = vec![0.1; n];
        let d = Dense::new(&j, &h).unwrap();
        let inits = vec![0.0; n];
        let r = tap(
            &d,
            &TapOptions {
                temperatures: &[0.8],
                damping: 0.5,
                tol: 1e-12,
                max_iter: 10_000,
                onsager: true,
                inits: &inits,
                threads: None,
                cancel: Cancel(None),
                newton: false,
            },
        )
        .unwrap();
        assert!(r.converged[0]);
        let m = r.m[0];
        let beta = 1.0 / 0.8;
        let fix = (beta * (j0 * m * (n - 1) as f64 / n as f64 + 0.1)).tanh();
        assert!((m - fix).abs() < 1e-3, "{m} {fix}");
    }
}
