//! Layered (network-shaped) couplings and the whole-layer heat-bath kernel.
//!
//! Layers `0..=L` of widths `n_0 … n_L`; `W_l` (`n_{l+1} × n_l`, row-major, PyTorch's
//! out × in) couples layer `l` to layer `l+1`; there are no couplings inside a layer. The energy
//! is `E = −Σ_l s_{l+1}ᵀ W_l s_l − hᵀ s`, the same as the dense form with the blocks placed
//! symmetrically. Given the odd layers the even layers are independent (and vice versa), so a
//! sweep draws every even layer, then every odd layer, exactly from its conditional law.

use super::anneal::SKIP;
use super::{Cancel, Couplings, SpinError, check_betas, check_states, random_state};
use crate::parallel::with_threads;
use crate::rng::SplitMix64;
use rayon::prelude::*;

/// Layered couplings: widths, the blocks `W_l` and fields for every spin.
#[derive(Debug, Clone, PartialEq)]
pub struct Layered {
    widths: Vec<usize>,
    offsets: Vec<usize>,
    weights: Vec<Vec<f64>>,
    h: Vec<f64>,
}

impl Layered {
    /// Checks and stores the blocks: `weights[l]` has `widths[l+1] · widths[l]` values.
    ///
    /// # Errors
    /// Fewer than two layers, a zero width, a block of the wrong size, non-finite values, or `h`
    /// not of length `Σ widths`.
    pub fn new(widths: &[usize], weights: Vec<Vec<f64>>, h: Vec<f64>) -> Result<Self, SpinError> {
        if widths.len() < 2 {
            return Err(SpinError::invalid(
                "weights",
                "need at least one weight matrix",
            ));
        }
        if widths.contains(&0) {
            return Err(SpinError::invalid("weights", "layer widths must be >= 1"));
        }
        if weights.len() + 1 != widths.len() {
            return Err(SpinError::invalid(
                "weights",
                format!(
                    "{} widths need {} matrices, got {}",
                    widths.len(),
                    widths.len() - 1,
                    weights.len()
                ),
            ));
        }
        for (l, w) in weights.iter().enumerate() {
            if w.len() != widths[l] * widths[l + 1] {
                return Err(SpinError::invalid(
                    "weights",
                    format!(
                        "matrix {l} must be {}×{}, got {} values",
                        widths[l + 1],
                        widths[l],
                        w.len()
                    ),
                ));
            }
            if w.iter().any(|v| !v.is_finite()) {
                return Err(SpinError::invalid(
                    "weights",
                    format!("matrix {l} has non-finite values"),
                ));
            }
        }
        let n: usize = widths.iter().sum();
        if h.len() != n {
            return Err(SpinError::invalid(
                "h",
                format!("expected {n} values (one per neuron), got {}", h.len()),
            ));
        }
        super::check_finite("h", &h)?;
        let mut offsets = vec![0];
        for w in widths {
            offsets.push(offsets[offsets.len() - 1] + w);
        }
        Ok(Self {
            widths: widths.to_vec(),
            offsets,
            weights,
            h,
        })
    }

    /// Layer widths.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// Layer of spin `i` and its index inside the layer.
    #[inline]
    fn locate(&self, i: usize) -> (usize, usize) {
        let l = self.offsets.partition_point(|&o| o <= i) - 1;
        (l, i - self.offsets[l])
    }

    /// Fields of layer `l` given the spins (±1 as `f64`): `h_l + W_{l−1} s_{l−1} + W_lᵀ s_{l+1}`.
    fn layer_fields(&self, l: usize, s: &[f64], out: &mut [f64]) {
        let o = self.offsets[l];
        out.copy_from_slice(&self.h[o..o + self.widths[l]]);
        if l > 0 {
            let prev = &s[self.offsets[l - 1]..o];
            let w = &self.weights[l - 1];
            for (k, v) in out.iter_mut().enumerate() {
                let row = &w[k * prev.len()..(k + 1) * prev.len()];
                *v += row.iter().zip(prev).map(|(a, b)| a * b).sum::<f64>();
            }
        }
        if l + 1 < self.widths.len() {
            let nxt = &s[self.offsets[l + 1]..self.offsets[l + 2]];
            let w = &self.weights[l];
            let nl = self.widths[l];
            for (k, &sv) in nxt.iter().enumerate() {
                let row = &w[k * nl..(k + 1) * nl];
                for (v, a) in out.iter_mut().zip(row) {
                    *v += sv * a;
                }
            }
        }
    }
}

impl Couplings for Layered {
    type R = f64;
    fn n(&self) -> usize {
        self.h.len()
    }
    fn h(&self) -> &[f64] {
        &self.h
    }
    fn fields(&self, s: &[i8], phi: &mut [f64]) {
        let x: Vec<f64> = s.iter().map(|&v| v as f64).collect();
        for l in 0..self.widths.len() {
            let (a, b) = (self.offsets[l], self.offsets[l + 1]);
            self.layer_fields(l, &x, &mut phi[a..b]);
        }
    }
    fn flip(&self, i: usize, s_new: i8, phi: &mut [f64]) {
        let f = 2.0 * s_new as f64;
        let (l, k) = self.locate(i);
        if l > 0 {
            // Row k of W_{l−1} couples spin i to layer l−1.
            let nprev = self.widths[l - 1];
            let row = &self.weights[l - 1][k * nprev..(k + 1) * nprev];
            let o = self.offsets[l - 1];
            for (p, a) in phi[o..o + nprev].iter_mut().zip(row) {
                *p += f * a;
            }
        }
        if l + 1 < self.widths.len() {
            // Column k of W_l couples spin i to layer l+1.
            let nl = self.widths[l];
            let o = self.offsets[l + 1];
            let w = &self.weights[l];
            for (r, p) in phi[o..o + self.widths[l + 1]].iter_mut().enumerate() {
                *p += f * w[r * nl + k];
            }
        }
    }
    fn flip_lane(&self, i: usize, s_new: i8, phi: &mut [f64], lanes: usize, b: usize) {
        let f = 2.0 * s_new as f64;
        let (l, k) = self.locate(i);
        if l > 0 {
            let nprev = self.widths[l - 1];
            let row = &self.weights[l - 1][k * nprev..(k + 1) * nprev];
            let o = self.offsets[l - 1];
            for (p, a) in phi[o * lanes + b..].iter_mut().step_by(lanes).zip(row) {
                *p += f * a;
            }
        }
        if l + 1 < self.widths.len() {
            let nl = self.widths[l];
            let o = self.offsets[l + 1];
            let w = &self.weights[l];
            let col = w[k..].iter().step_by(nl);
            for (p, a) in phi[o * lanes + b..]
                .iter_mut()
                .step_by(lanes)
                .take(self.widths[l + 1])
                .zip(col)
            {
                *p += f * a;
            }
        }
    }
    fn prefers_lanes(&self) -> bool {
        true
    }
    fn row_entries(&self, i: usize) -> Option<Vec<(usize, f64)>> {
        Some(self.row_iter(i).collect())
    }
    fn integral_bound(&self) -> Option<usize> {
        super::couplings::integral_bound_of(self, self.weights.iter().flatten().copied())
    }
    fn abs_row_sum(&self, i: usize) -> f64 {
        self.row_iter(i).map(|(_, v)| v.abs()).sum()
    }
    fn sq_row_sum(&self, i: usize) -> f64 {
        self.row_iter(i).map(|(_, v)| v * v).sum()
    }
    fn row_dot(&self, i: usize, x: &[f64]) -> f64 {
        self.row_iter(i).map(|(j, v)| v * x[j]).sum()
    }
    fn row_sq_dot(&self, i: usize, x: &[f64]) -> f64 {
        self.row_iter(i).map(|(j, v)| v * v * x[j]).sum()
    }
    fn energy(&self, s: &[i8]) -> f64 {
        let mut e = -self
            .h
            .iter()
            .zip(s)
            .map(|(h, &v)| h * v as f64)
            .sum::<f64>();
        for (l, w) in self.weights.iter().enumerate() {
            let (a, nl) = (self.offsets[l], self.widths[l]);
            let b = self.offsets[l + 1];
            for (r, &so) in s[b..b + self.widths[l + 1]].iter().enumerate() {
                let row = &w[r * nl..(r + 1) * nl];
                let dot: f64 = row
                    .iter()
                    .zip(&s[a..a + nl])
                    .map(|(x, &y)| x * y as f64)
                    .sum();
                e -= so as f64 * dot;
            }
        }
        e
    }
}

impl Layered {
    /// Nonzero couplings of spin `i` as `(j, J_ij)`.
    fn row_iter(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let (l, k) = self.locate(i);
        let prev = (l > 0).then(|| {
            let nprev = self.widths[l - 1];
            let o = self.offsets[l - 1];
            self.weights[l - 1][k * nprev..(k + 1) * nprev]
                .iter()
                .enumerate()
                .map(move |(j, &v)| (o + j, v))
        });
        let next = (l + 1 < self.widths.len()).then(|| {
            let nl = self.widths[l];
            let o = self.offsets[l + 1];
            let w = &self.weights[l];
            (0..self.widths[l + 1]).map(move |r| (o + r, w[r * nl + k]))
        });
        prev.into_iter().flatten().chain(next.into_iter().flatten())
    }
}

/// Output of [`anneal_layered`] (states `num_reads × n`).
#[derive(Debug, Clone, PartialEq)]
pub struct LayeredResult {
    /// Lowest-energy state at a sweep's end, per read.
    pub best_states: Vec<i8>,
    /// Its energy.
    pub best_energies: Vec<f64>,
    /// Final state per read.
    pub final_states: Vec<i8>,
    /// Its energy.
    pub final_energies: Vec<f64>,
    /// Energy after each β step, `num_reads × betas.len()` (empty unless requested).
    pub trace: Vec<f64>,
}

/// Annealing (or, with a constant schedule, sampling) with whole-layer heat-bath sweeps: each
/// sweep redraws all even layers from their exact conditional law given the odd ones, then all
/// odd layers. One matrix–vector product per layer and sweep. Reads run in parallel (read `r`:
/// stream `r`).
///
/// # Errors
/// As [`super::anneal`].
#[allow(clippy::too_many_arguments)]
pub fn anneal_layered(
    model: &Layered,
    betas: &[f64],
    sweeps_per_beta: usize,
    num_reads: usize,
    initial: Option<&[i8]>,
    seed: u64,
    trace: bool,
    threads: Option<usize>,
    cancel: Cancel<'_>,
) -> Result<LayeredResult, SpinError> {
    let n = model.n();
    check_betas("beta_schedule", betas)?;
    if num_reads == 0 {
        return Err(SpinError::invalid("num_reads", "must be >= 1"));
    }
    if sweeps_per_beta == 0 {
        return Err(SpinError::invalid("num_sweeps_per_beta", "must be >= 1"));
    }
    if let Some(init) = initial {
        let k = check_states("initial_states", init, n)?;
        if k != num_reads {
            return Err(SpinError::invalid(
                "initial_states",
                format!("expected {num_reads} states (one per read), got {k}"),
            ));
        }
    }
    let nl = model.widths.len();
    // Progress unit: one sweep of one read.
    cancel.set_total(
        (num_reads as u64)
            .saturating_mul((betas.len() as u64).saturating_mul(sweeps_per_beta as u64)),
    );
    let run = |r: usize| -> Result<_, SpinError> {
        let mut rng = SplitMix64::new(seed, r as u64);
        let s0 = match initial {
            Some(init) => init[r * n..(r + 1) * n].to_vec(),
            None => random_state(&mut rng, n),
        };
        let mut x: Vec<f64> = s0.iter().map(|&v| v as f64).collect();
        let mut phi = vec![0.0; *model.widths.iter().max().unwrap_or(&1)];
        let to_i8 =
            |x: &[f64]| -> Vec<i8> { x.iter().map(|&v| if v > 0.0 { 1 } else { -1 }).collect() };
        let mut best = s0.clone();
        let mut best_e = model.energy(&s0);
        let mut tr = Vec::new();
        for &beta in betas {
            for _ in 0..sweeps_per_beta {
                cancel.check()?;
                for parity in 0..2 {
                    for l in (parity..nl).step_by(2) {
                        let w = model.widths[l];
                        let o = model.offsets[l];
                        model.layer_fields(l, &x, &mut phi[..w]);
                        for (xv, &f) in x[o..o + w].iter_mut().zip(&phi[..w]) {
                            // P(s = +1) = 1 / (1 + exp(−2βφ)).
                            let a = 2.0 * beta * f;
                            *xv = if a >= SKIP {
                                1.0
                            } else if a <= -SKIP {
                                -1.0
                            } else if rng.next_f64() * (1.0 + (-a).exp()) < 1.0 {
                                1.0
                            } else {
                                -1.0
                            };
                        }
                    }
                }
                let s = to_i8(&x);
                let e = model.energy(&s);
                if e < best_e {
                    best_e = e;
                    best = s;
                }
                cancel.advance(1);
            }
            if trace {
                tr.push(model.energy(&to_i8(&x)));
            }
        }
        let s = to_i8(&x);
        Ok((best_e, best, model.energy(&s), s, tr))
    };
    let outs: Vec<_> = with_threads(threads, || {
        (0..num_reads)
            .into_par_iter()
            .map(run)
            .collect::<Result<Vec<_>, _>>()
    })??;
    let mut res = LayeredResult {
        best_states: Vec::with_capacity(num_reads * n),
        best_energies: Vec::with_capacity(num_reads),
        final_states: Vec::with_capacity(num_reads * n),
        final_energies: Vec::with_capacity(num_reads),
        trace: Vec::new(),
    };
    for (be, b, fe, f, t) in outs {
        res.best_energies.push(be);
        res.best_states.extend_from_slice(&b);
        res.final_energies.push(fe);
        res.final_states.extend_from_slice(&f);
        res.trace.extend_from_slice(&t);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spin::Dense;

    #[test]
    fn layered_couplings_match_the_dense_form() {
        let widths = [3, 4, 2];
        let mut g = SplitMix64::new(7, 0);
        let weights: Vec<Vec<f64>> = (0..2)
            .map(|l| {
                (0..widths[l] * widths[l + 1])
                    .map(|_| g.next_f64() - 0.5)
                    .collect()
            })
            .collect();
        let h: Vec<f64> = (0..9).map(|_| g.next_f64() - 0.5).collect();
        let lay = Layered::new(&widths, weights.clone(), h.clone()).unwrap();
        let n = 9;
        let mut j = vec![0.0; n * n];
        let off = [0, 3, 7];
        for l in 0..2 {
            for r in 0..widths[l + 1] {
                for c in 0..widths[l] {
                    let (a, b) = (off[l + 1] + r, off[l] + c);
                    j[a * n + b] = weights[l][r * widths[l] + c];
                    j[b * n + a] = weights[l][r * widths[l] + c];
                }
            }
        }
        let d = Dense::new(&j, &h).unwrap();
        let s = random_state(&mut g, n);
        assert!((lay.energy(&s) - d.energy(&s)).abs() < 1e-12);
        let (mut p1, mut p2) = (vec![0.0; n], vec![0.0; n]);
        lay.fields(&s, &mut p1);
        d.fields(&s, &mut p2);
        for i in 0..n {
            assert!((p1[i] - p2[i]).abs() < 1e-12);
            assert!((lay.sq_row_sum(i) - d.sq_row_sum(i)).abs() < 1e-12);
        }
        let mut s2 = s.clone();
        s2[4] = -s2[4];
        lay.flip(4, s2[4], &mut p1);
        d.fields(&s2, &mut p2);
        for i in 0..n {
            assert!((p1[i] - p2[i]).abs() < 1e-12);
        }
    }
}
