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
}

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
    let nt = o.temperatures.len();
    let starts = o.inits.len() / n;
    let h = model.h();
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
            while (it as usize) < o.max_iter {
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
        }
        Ok(out)
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spin::Dense;

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
