//! Diagnostics of MCMC output (spec §6).
//!
//! - [`autocorrelation`]: the normalised autocorrelation of a scalar quantity over many chains,
//!   by FFT: the mean over *all* chains is subtracted (no zero-mean assumption), each chain is
//!   zero-padded to ≥ 2T, the biased autocovariance `Σ_t y_t y_{t+k} / T` is averaged over chains
//!   and divided by its lag-0 value.
//! - [`ess`]: the multi-chain effective sample size of the mean as in Stan and ArviZ
//!   (`ess(method="mean")`): optionally split chains, per-chain mean-subtracted FFT autocovariance,
//!   the within/between-chain variance `var⁺`, Geyer's initial positive then initial monotone
//!   sequence, `τ = −1 + 2 Σ ρ̂`, ESS = `m n / τ`.
//! - [`grid`]: a piecewise-constant trajectory (states and holding times) read at the times
//!   `(j + ½) Δt`.
//!
//! The `_multi` functions take `(chain, draw, dim)` arrays and work on every coordinate in
//! parallel.

use crate::parallel::{PoolError, with_threads};
use rayon::prelude::*;
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// Biased autocovariances (lags `0..n`) of each row of `x` (`rows × n`), after subtracting
/// `means[r]` from row `r`.
fn autocov_rows(x: &[f64], rows: usize, n: usize, means: &[f64]) -> Vec<Vec<f64>> {
    let m = 2 * n;
    let mut planner = FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(m);
    let inv = planner.plan_fft_inverse(m);
    let mut buf = vec![Complex::new(0.0, 0.0); m];
    let mut scratch = vec![
        Complex::new(0.0, 0.0);
        fwd.get_inplace_scratch_len()
            .max(inv.get_inplace_scratch_len())
    ];
    (0..rows)
        .map(|r| {
            let row = &x[r * n..(r + 1) * n];
            for (b, &v) in buf.iter_mut().zip(row) {
                *b = Complex::new(v - means[r], 0.0);
            }
            for b in &mut buf[n..] {
                *b = Complex::new(0.0, 0.0);
            }
            fwd.process_with_scratch(&mut buf, &mut scratch);
            for b in &mut buf {
                *b = Complex::new(b.norm_sqr(), 0.0);
            }
            inv.process_with_scratch(&mut buf, &mut scratch);
            // rustfft does not normalise: divide by m for the inverse, by n for the biased form
            let s = 1.0 / (m as f64 * n as f64);
            buf[..n].iter().map(|c| c.re * s).collect()
        })
        .collect()
}

/// Normalised autocorrelation at lags `0..=max_lag` of a scalar quantity `x` (`n_chains × n_draws`,
/// chain-major). The mean over all chains is subtracted; chains are averaged before normalising.
/// `max_lag` is capped at `n_draws − 1`. A constant series gives NaN beyond lag 0.
pub fn autocorrelation(x: &[f64], n_chains: usize, n_draws: usize, max_lag: usize) -> Vec<f64> {
    if n_chains == 0 || n_draws == 0 {
        return Vec::new();
    }
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let acov = autocov_rows(x, n_chains, n_draws, &vec![mean; n_chains]);
    let lags = max_lag.min(n_draws - 1) + 1;
    let mut out = vec![0.0; lags];
    for a in &acov {
        for (o, v) in out.iter_mut().zip(a) {
            *o += v;
        }
    }
    let c0 = out[0];
    if c0 > 0.0 {
        out.iter_mut().for_each(|v| *v /= c0);
    } else {
        out.iter_mut().skip(1).for_each(|v| *v = f64::NAN);
        out[0] = 1.0;
    }
    out
}

/// Effective sample size of the mean of `x` (`n_chains × n_draws`, chain-major), ArviZ's
/// `ess(method="mean")` when `split` (chains split in halves first) and its `_ess` otherwise.
/// NaN for fewer than 4 draws or a non-finite value.
pub fn ess(x: &[f64], n_chains: usize, n_draws: usize, split: bool) -> f64 {
    if n_chains == 0 || n_draws < 4 || x.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    let (rows, n, data): (usize, usize, Vec<f64>) = if split {
        let half = n_draws / 2;
        let mut d = Vec::with_capacity(2 * n_chains * half);
        for c in 0..n_chains {
            d.extend_from_slice(&x[c * n_draws..c * n_draws + half]);
        }
        for c in 0..n_chains {
            d.extend_from_slice(&x[(c + 1) * n_draws - half..(c + 1) * n_draws]);
        }
        (2 * n_chains, half, d)
    } else {
        (n_chains, n_draws, x.to_vec())
    };
    let (lo, hi) = data
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if hi - lo < 1e-15 {
        return data.len() as f64;
    }
    let means: Vec<f64> = (0..rows)
        .map(|r| data[r * n..(r + 1) * n].iter().sum::<f64>() / n as f64)
        .collect();
    let acov = autocov_rows(&data, rows, n, &means);
    let nf = n as f64;
    let mean_lag = |t: usize| acov.iter().map(|a| a[t]).sum::<f64>() / rows as f64;
    let mean_var = mean_lag(0) * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if rows > 1 {
        let mm = means.iter().sum::<f64>() / rows as f64;
        var_plus += means.iter().map(|m| (m - mm) * (m - mm)).sum::<f64>() / (rows as f64 - 1.0);
    }
    let mut rho = vec![0.0; n];
    let mut rho_even = 1.0;
    rho[0] = 1.0;
    let mut rho_odd = 1.0 - (mean_var - mean_lag(1)) / var_plus;
    rho[1] = rho_odd;
    let mut t = 1;
    while t + 3 < n && rho_even + rho_odd > 0.0 {
        rho_even = 1.0 - (mean_var - mean_lag(t + 1)) / var_plus;
        rho_odd = 1.0 - (mean_var - mean_lag(t + 2)) / var_plus;
        if rho_even + rho_odd >= 0.0 {
            rho[t + 1] = rho_even;
            rho[t + 2] = rho_odd;
        }
        t += 2;
    }
    let max_t = t - 2; // t ≥ 1 and odd here; ArviZ's max_t may be −1, written as usize below
    let max_t_i = t as isize - 2;
    if rho_even > 0.0 && max_t_i + 1 >= 0 {
        rho[(max_t_i + 1) as usize] = rho_even;
    }
    let mut t = 1;
    while max_t_i >= 2 && t <= max_t - 2 {
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t] {
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0;
            rho[t + 2] = rho[t + 1];
        }
        t += 2;
    }
    let total = (rows * n) as f64;
    let upto = (max_t_i + 1).max(0) as usize;
    let mut tau = -1.0 + 2.0 * rho[..upto].iter().sum::<f64>();
    if upto < n {
        tau += rho[upto];
    }
    let tau = tau.max(1.0 / total.log10());
    if rho.iter().any(|r| r.is_nan()) {
        return f64::NAN;
    }
    total / tau
}

fn column(
    x: &[f64],
    n_chains: usize,
    n_draws: usize,
    dim: usize,
    i: usize,
    square: bool,
) -> Vec<f64> {
    (0..n_chains * n_draws)
        .map(|k| {
            let v = x[k * dim + i];
            if square { v * v } else { v }
        })
        .collect()
}

/// [`ess`] of every coordinate of `x` (`n_chains × n_draws × dim`), or of its square when
/// `square`, coordinates in parallel.
///
/// # Errors
/// Thread-pool errors.
pub fn ess_multi(
    x: &[f64],
    n_chains: usize,
    n_draws: usize,
    dim: usize,
    square: bool,
    split: bool,
    threads: Option<usize>,
) -> Result<Vec<f64>, PoolError> {
    with_threads(threads, || {
        (0..dim)
            .into_par_iter()
            .map(|i| {
                ess(
                    &column(x, n_chains, n_draws, dim, i, square),
                    n_chains,
                    n_draws,
                    split,
                )
            })
            .collect()
    })
}

/// [`autocorrelation`] of every coordinate of `x` (`n_chains × n_draws × dim`), or of its square,
/// as a `dim × (max_lag + 1)` row-major array (lags capped at `n_draws − 1`).
///
/// # Errors
/// Thread-pool errors.
pub fn autocorrelation_multi(
    x: &[f64],
    n_chains: usize,
    n_draws: usize,
    dim: usize,
    square: bool,
    max_lag: usize,
    threads: Option<usize>,
) -> Result<Vec<f64>, PoolError> {
    let rows: Vec<Vec<f64>> = with_threads(threads, || {
        (0..dim)
            .into_par_iter()
            .map(|i| {
                autocorrelation(
                    &column(x, n_chains, n_draws, dim, i, square),
                    n_chains,
                    n_draws,
                    max_lag,
                )
            })
            .collect()
    })?;
    Ok(rows.concat())
}

/// Reads each chain's piecewise-constant trajectory (`x`: `n_chains × n_jumps × dim` states,
/// `tau`: their holding times) at the times `(j + ½) dt`, `j = 0 … n_grid − 1`, with
/// `n_grid = min over chains of ⌊T_chain / dt⌋` (so the result is rectangular:
/// `n_chains × n_grid × dim`). Returns the samples and `n_grid`.
///
/// # Errors
/// [`super::HmcError::Invalid`] naming `dt` when the grid's size overflows or its buffer cannot
/// be allocated (a `dt` far below the holding times), or `dt` is not finite and positive.
pub fn grid(
    x: &[f64],
    tau: &[f64],
    n_chains: usize,
    n_jumps: usize,
    dim: usize,
    dt: f64,
) -> Result<(Vec<f64>, usize), super::HmcError> {
    let invalid = |msg: String| super::HmcError::Invalid { arg: "dt", msg };
    if !(dt > 0.0 && dt.is_finite()) {
        return Err(invalid(format!("must be finite and > 0, got {dt}")));
    }
    if n_chains == 0
        || n_jumps == 0
        || x.len() < n_chains * n_jumps * dim
        || tau.len() < n_chains * n_jumps
    {
        return Ok((Vec::new(), 0));
    }
    let totals: Vec<f64> = (0..n_chains)
        .map(|c| crate::numeric::neumaier_sum(&tau[c * n_jumps..(c + 1) * n_jumps]))
        .collect();
    let t_min = totals.iter().copied().fold(f64::INFINITY, f64::min);
    if !t_min.is_finite() || t_min <= 0.0 {
        return Ok((Vec::new(), 0));
    }
    let ratio = (t_min / dt).floor();
    let too_many = || {
        invalid(format!(
            "a grid of {ratio:.3e} points per chain ({n_chains} chains, dimension {dim}) does not \
             fit in memory; use a larger dt (the shortest chain lasts {t_min:.6e})"
        ))
    };
    // `as usize` saturates; the checked products catch what does not fit the address space
    if ratio.is_nan() || ratio >= 2f64.powi(62) {
        return Err(too_many());
    }
    let n_grid = ratio as usize;
    let total = n_chains
        .checked_mul(n_grid)
        .and_then(|v| v.checked_mul(dim))
        .filter(|v| v.checked_mul(8).is_some_and(|b| b <= isize::MAX as usize))
        .ok_or_else(too_many)?;
    let mut out = crate::mem::try_filled(total, 0.0).map_err(|_| too_many())?;
    out.par_chunks_mut((n_grid * dim).max(1))
        .enumerate()
        .for_each(|(c, o)| {
            if n_grid == 0 {
                return;
            }
            let mut k = 0;
            let mut end = tau[c * n_jumps];
            for j in 0..n_grid {
                let t = (j as f64 + 0.5) * dt;
                while t >= end && k + 1 < n_jumps {
                    k += 1;
                    end += tau[c * n_jumps + k];
                }
                let src = &x[(c * n_jumps + k) * dim..(c * n_jumps + k + 1) * dim];
                o[j * dim..(j + 1) * dim].copy_from_slice(src);
            }
        });
    Ok((out, n_grid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar1(n_chains: usize, n: usize, phi: f64, seed: u64) -> Vec<f64> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut out = Vec::with_capacity(n_chains * n);
        for c in 0..n_chains {
            let mut rng =
                rand_pcg::Pcg64Mcg::seed_from_u64(crate::rng::stream_seed(seed, c as u64));
            let s = (1.0 - phi * phi).sqrt();
            let mut v: f64 = StandardNormal.sample(&mut rng);
            for _ in 0..n {
                out.push(v);
                let z: f64 = StandardNormal.sample(&mut rng);
                v = phi * v + s * z;
            }
        }
        out
    }

    #[test]
    fn autocorrelation_of_ar1_is_geometric() {
        let (m, n, phi) = (8, 20_000, 0.7);
        let x = ar1(m, n, phi, 1);
        let rho = autocorrelation(&x, m, n, 10);
        for (k, r) in rho.iter().enumerate() {
            // sd of the lag-k estimate ≈ √((1+φ²)/(1−φ²) / (m n)) ≈ 0.012; 4 sd
            assert!((r - phi.powi(k as i32)).abs() < 0.05, "lag {k}: {r}");
        }
    }

    #[test]
    fn autocorrelation_matches_the_direct_sum() {
        let (m, n) = (3, 50);
        let x = ar1(m, n, 0.5, 2);
        let rho = autocorrelation(&x, m, n, 49);
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let direct = |k: usize| -> f64 {
            (0..m)
                .map(|c| {
                    (0..n - k)
                        .map(|t| (x[c * n + t] - mean) * (x[c * n + t + k] - mean))
                        .sum::<f64>()
                })
                .sum()
        };
        for (k, r) in rho.iter().enumerate() {
            assert!((r - direct(k) / direct(0)).abs() < 1e-12);
        }
    }

    #[test]
    fn ess_of_ar1_matches_theory() {
        // integrated time of AR(1): (1 + φ)/(1 − φ)
        let (m, n, phi) = (4, 50_000, 0.8);
        let x = ar1(m, n, phi, 3);
        let e = ess(&x, m, n, true);
        let expect = (m * n) as f64 * (1.0 - phi) / (1.0 + phi);
        assert!((e / expect - 1.0).abs() < 0.1, "{e} vs {expect}");
        let iid = ar1(m, n, 0.0, 4);
        let e = ess(&iid, m, n, false);
        assert!((e / (m * n) as f64 - 1.0).abs() < 0.1, "{e}");
    }

    #[test]
    fn grid_reads_the_state_occupied() {
        // one chain: states 0, 1, 2 held 1.0, 0.5, 2.0
        let x = [0.0, 1.0, 2.0];
        let tau = [1.0, 0.5, 2.0];
        let (g, n) = grid(&x, &tau, 1, 3, 1, 0.5).unwrap();
        assert_eq!(n, 7);
        assert_eq!(g, vec![0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0]);
    }

    #[test]
    fn grid_with_a_tiny_dt_is_an_error_not_an_abort() {
        let (x, tau) = (vec![1.0, 2.0, 3.0], vec![0.5, 1.0, 0.7]);
        for dt in [1e-13, 1e-100, 5e-324] {
            let e = grid(&x, &tau, 1, 3, 1, dt).unwrap_err();
            assert!(e.to_string().starts_with("dt: "), "{e}");
        }
        assert!(grid(&x, &tau, 1, 3, 1, f64::NAN).is_err());
        assert!(grid(&x, &tau, 1, 3, 1, -1.0).is_err());
    }
}
