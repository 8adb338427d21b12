//! The Monte Carlo baseline: batched forward passes.
//!
//! Batch `b` draws its standard normals from its own generator seeded with
//! [`crate::rng::stream_seed`]`(seed, b)`, so the samples do not depend on which thread runs the
//! batch. Batches are processed in groups of [`GROUP`] in parallel; each batch produces per-neuron
//! means and centred sums of squares (two-pass within the batch), which are merged sequentially in
//! batch order (Chan's formula, f64). Results are therefore bit-identical for any thread count.

use super::linalg::dgemm_abt_serial;
use super::{Cancel, Cov, Input, MlpError, Net};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

/// Batches processed in parallel between two sequential merges.
pub const GROUP: usize = 32;

/// Options of [`monte_carlo`].
#[derive(Debug, Clone)]
pub struct McOptions {
    /// Number of samples (with `antithetic`, counted as drawn inputs, pairs count twice).
    pub n_samples: u64,
    /// Samples per batch (one GEMM per layer per batch).
    pub batch: usize,
    /// Seed.
    pub seed: u64,
    /// Use antithetic pairs `(ξ, −ξ)` (batch must be even).
    pub antithetic: bool,
}

/// Per-layer sample means and variances of pre-activations and activations.
#[derive(Debug, Clone, Default)]
pub struct McResult {
    /// Per layer: means of the pre-activations.
    pub pre_mean: Vec<Vec<f64>>,
    /// Per layer: sample variances of the pre-activations.
    pub pre_var: Vec<Vec<f64>>,
    /// Per layer: means of the activations.
    pub post_mean: Vec<Vec<f64>>,
    /// Per layer: sample variances of the activations.
    pub post_var: Vec<Vec<f64>>,
    /// Samples used.
    pub n_samples: u64,
    /// FLOPs (`n_samples × flops_per_sample`).
    pub flops: f64,
}

/// Running per-neuron mean / centred sum of squares over all neurons of all layers.
#[derive(Clone)]
struct Stats {
    n: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Stats {
    fn new(len: usize) -> Self {
        Stats {
            n: 0.0,
            mean: vec![0.0; len],
            m2: vec![0.0; len],
        }
    }
    fn merge(&mut self, o: &Stats) {
        if o.n == 0.0 {
            return;
        }
        let n = self.n + o.n;
        for i in 0..self.mean.len() {
            let d = o.mean[i] - self.mean[i];
            self.mean[i] += d * o.n / n;
            self.m2[i] += o.m2[i] + d * d * self.n * o.n / n;
        }
        self.n = n;
    }
}

/// Column means and centred sums of squares of a row-major `rows × cols` block, written to
/// `mean` / `m2`.
fn column_stats(z: &[f64], rows: usize, cols: usize, mean: &mut [f64], m2: &mut [f64]) {
    mean.fill(0.0);
    m2.fill(0.0);
    for r in z.chunks(cols).take(rows) {
        for (a, x) in mean.iter_mut().zip(r) {
            *a += x;
        }
    }
    let inv = 1.0 / rows as f64;
    for a in mean.iter_mut() {
        *a *= inv;
    }
    for r in z.chunks(cols).take(rows) {
        for ((a, x), mu) in m2.iter_mut().zip(r).zip(mean.iter()) {
            let d = x - mu;
            *a += d * d;
        }
    }
}

/// Draws the standard normals of batch `b` (`rows × n0`), antithetic when asked.
fn draw(seed: u64, b: u64, rows: usize, n0: usize, antithetic: bool) -> Vec<f64> {
    let mut rng = Pcg64Mcg::seed_from_u64(crate::rng::stream_seed(seed, b));
    let mut xi = vec![0.0; rows * n0];
    if antithetic {
        let half = rows / 2 * n0;
        for v in xi[..half].iter_mut() {
            *v = StandardNormal.sample(&mut rng);
        }
        for k in 0..half {
            xi[half + k] = -xi[k];
        }
        for v in xi[2 * half..].iter_mut() {
            *v = StandardNormal.sample(&mut rng);
        }
    } else {
        for v in xi.iter_mut() {
            *v = StandardNormal.sample(&mut rng);
        }
    }
    xi
}

/// `x = mean + F ξ` row by row.
fn to_input(xi: &[f64], rows: usize, input: &Input) -> Vec<f64> {
    let n0 = input.dim();
    match &input.cov {
        Cov::Diag(d) => {
            let sd: Vec<f64> = d.iter().map(|v| v.sqrt()).collect();
            let mut x = xi.to_vec();
            for r in x.chunks_mut(n0) {
                for ((v, s), m) in r.iter_mut().zip(&sd).zip(&input.mean) {
                    *v = m + s * *v;
                }
            }
            x
        }
        Cov::Full { factor, .. } => {
            let mut x = vec![0.0; rows * n0];
            dgemm_abt_serial(rows, n0, n0, xi, factor, &mut x);
            for r in x.chunks_mut(n0) {
                for (v, m) in r.iter_mut().zip(&input.mean) {
                    *v += m;
                }
            }
            x
        }
    }
}

/// Forward pass of a batch through layers `0..=upto`, calling `visit(l, pre, post)` per layer.
fn forward(
    net: &Net,
    x: Vec<f64>,
    rows: usize,
    upto: usize,
    mut visit: impl FnMut(usize, &[f64], &[f64]),
) {
    let mut h = x;
    for l in 0..=upto {
        let (o, i) = (net.widths[l + 1], net.widths[l]);
        let mut z = vec![0.0; rows * o];
        dgemm_abt_serial(rows, i, o, &h, &net.weights[l], &mut z);
        for r in z.chunks_mut(o) {
            for (v, b) in r.iter_mut().zip(net.biases[l].iter()) {
                *v += b;
            }
        }
        let act = net.act(l);
        let mut post = z.clone();
        if act != super::Act::Identity {
            for v in post.iter_mut() {
                *v = act.apply(*v);
            }
        }
        visit(l, &z, &post);
        h = post;
    }
}

fn check_mc(net: &Net, input: &Input, n_samples: u64, batch: usize) -> Result<(), MlpError> {
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
    if n_samples == 0 {
        return Err(MlpError::invalid("n_samples", "must be >= 1, got 0"));
    }
    if batch == 0 || batch > 1 << 20 {
        return Err(MlpError::invalid(
            "batch",
            format!("must be in 1..=1048576, got {batch}"),
        ));
    }
    // GROUP batches in flight, each with its input and two layers of activations
    let rows = usize::try_from(n_samples).unwrap_or(usize::MAX).min(batch);
    let wsum = net
        .widths
        .iter()
        .try_fold(0usize, |a, &n| a.checked_add(n.checked_mul(2)?));
    let need = wsum
        .and_then(|w| w.checked_mul(rows))
        .and_then(|x| x.checked_mul(GROUP));
    super::reserve_probe("batch", need, "the Monte Carlo batches in flight")
}

/// Plain (or antithetic) Monte Carlo estimate of every neuron's mean and variance.
///
/// # Errors
/// [`MlpError::InvalidArgument`] for zero samples, a bad batch size, an odd batch with
/// `antithetic`, or an input of the wrong dimension; [`MlpError::Cancelled`].
pub fn monte_carlo(
    net: &Net,
    input: &Input,
    opts: &McOptions,
    cancel: Cancel<'_>,
) -> Result<McResult, MlpError> {
    check_mc(net, input, opts.n_samples, opts.batch)?;
    if opts.antithetic && !opts.batch.is_multiple_of(2) {
        return Err(MlpError::invalid(
            "batch",
            "must be even with antithetic=True",
        ));
    }
    let depth = net.depth();
    let offs: Vec<usize> = net.widths[1..]
        .iter()
        .scan(0usize, |acc, w| {
            let o = *acc;
            *acc += 2 * w;
            Some(o)
        })
        .collect();
    let total: usize = net.widths[1..].iter().map(|w| 2 * w).sum();
    let n0 = net.widths[0];
    let n_batches = opts.n_samples.div_ceil(opts.batch as u64);
    // Progress unit: one batch.
    cancel.set_total(n_batches);
    let mut acc = Stats::new(total);
    let mut start = 0u64;
    while start < n_batches {
        cancel.check()?;
        let end = (start + GROUP as u64).min(n_batches);
        let parts: Vec<Stats> = (start..end)
            .into_par_iter()
            .map(|b| {
                let rows = (opts.n_samples - b * opts.batch as u64).min(opts.batch as u64) as usize;
                let anti = opts.antithetic && rows.is_multiple_of(2);
                let xi = draw(opts.seed, b, rows, n0, anti);
                let x = to_input(&xi, rows, input);
                let mut st = Stats::new(total);
                st.n = rows as f64;
                forward(net, x, rows, depth - 1, |l, pre, post| {
                    let w = net.widths[l + 1];
                    let o = offs[l];
                    let (ma, mb) = st.mean[o..o + 2 * w].split_at_mut(w);
                    let (sa, sb) = st.m2[o..o + 2 * w].split_at_mut(w);
                    column_stats(pre, rows, w, ma, sa);
                    column_stats(post, rows, w, mb, sb);
                });
                st
            })
            .collect();
        for p in &parts {
            acc.merge(p);
        }
        cancel.advance(end - start);
        start = end;
    }
    let mut res = McResult {
        n_samples: opts.n_samples,
        flops: opts.n_samples as f64 * net.flops_per_sample(),
        ..Default::default()
    };
    let denom = (acc.n - 1.0).max(1.0);
    for (l, &o) in offs.iter().enumerate() {
        let w = net.widths[l + 1];
        res.pre_mean.push(acc.mean[o..o + w].to_vec());
        res.post_mean.push(acc.mean[o + w..o + 2 * w].to_vec());
        res.pre_var
            .push(acc.m2[o..o + w].iter().map(|v| v / denom).collect());
        res.post_var
            .push(acc.m2[o + w..o + 2 * w].iter().map(|v| v / denom).collect());
    }
    Ok(res)
}

/// Result of [`tail_monte_carlo`], per neuron of the chosen layer.
#[derive(Debug, Clone, Default)]
pub struct TailMc {
    /// Estimated `P(z_i > t)`.
    pub p: Vec<f64>,
    /// Standard error of `p`.
    pub stderr: Vec<f64>,
    /// Number of samples with `z_i > t`.
    pub hits: Vec<u64>,
    /// FLOPs (forward passes up to the layer, plus the weights).
    pub flops: f64,
}

/// One sample in this many (global indices 0, k, 2k, …) of importance sampling is drawn from the
/// unshifted input: the defensive mixture bounds every weight by `1/α ≈ 8`, so a poor shift (high
/// dimension) costs efficiency instead of giving a confident wrong answer.
pub const DEFENSIVE_EVERY: u64 = 8;

/// Monte Carlo estimate of `P(z_{layer,i} > threshold)` for every neuron of a layer's
/// pre-activations, plain (`shift = None`) or importance-sampled with the input `ξ` (whitened
/// coordinates, `x = mean + F ξ`) drawn from the defensive mixture `α N(0, I) + (1 − α) N(a, I)`
/// (deterministic mixture: every [`DEFENSIVE_EVERY`]-th sample unshifted, `α` their fraction) with
/// weights `1 / (α + (1 − α) exp(a·ξ − |a|²/2))`.
///
/// # Errors
/// As [`monte_carlo`], plus a bad layer index, a non-finite threshold or shift.
#[allow(clippy::too_many_arguments)]
pub fn tail_monte_carlo(
    net: &Net,
    input: &Input,
    layer: usize,
    threshold: f64,
    shift: Option<&[f64]>,
    n_samples: u64,
    batch: usize,
    seed: u64,
    cancel: Cancel<'_>,
) -> Result<TailMc, MlpError> {
    check_mc(net, input, n_samples, batch)?;
    if layer >= net.depth() {
        return Err(MlpError::invalid(
            "layer",
            format!("must be < {} (the depth), got {layer}", net.depth()),
        ));
    }
    if !threshold.is_finite() {
        return Err(MlpError::invalid(
            "threshold",
            format!("must be finite, got {threshold}"),
        ));
    }
    let n0 = net.widths[0];
    if let Some(a) = shift
        && (a.len() != n0 || a.iter().any(|v| !v.is_finite()))
    {
        {
            return Err(MlpError::invalid(
                "shift",
                format!("must be {n0} finite values"),
            ));
        }
    }
    let a2: f64 = shift.map_or(0.0, |a| a.iter().map(|v| v * v).sum());
    // the fraction of unshifted samples (every DEFENSIVE_EVERY-th global index, from 0)
    let alpha = n_samples.div_ceil(DEFENSIVE_EVERY) as f64 / n_samples as f64;
    let w = net.widths[layer + 1];
    let n_batches = n_samples.div_ceil(batch as u64);
    cancel.set_total(n_batches);
    let (mut s1, mut s2, mut hits) = (vec![0.0; w], vec![0.0; w], vec![0u64; w]);
    let mut start = 0u64;
    while start < n_batches {
        cancel.check()?;
        let end = (start + GROUP as u64).min(n_batches);
        let parts: Vec<(Vec<f64>, Vec<f64>, Vec<u64>)> = (start..end)
            .into_par_iter()
            .map(|b| {
                let rows = (n_samples - b * batch as u64).min(batch as u64) as usize;
                let mut xi = draw(seed, b, rows, n0, false);
                // importance weights p/q of the defensive mixture q = α N(0, I) + (1 − α) N(a, I)
                let mut wts = vec![1.0; rows];
                if let Some(a) = shift {
                    for (r, (row, wr)) in xi.chunks_mut(n0).zip(wts.iter_mut()).enumerate() {
                        let g = b * batch as u64 + r as u64;
                        let shifted = !g.is_multiple_of(DEFENSIVE_EVERY);
                        let mut dot = 0.0;
                        for (v, ai) in row.iter_mut().zip(a) {
                            if shifted {
                                *v += ai;
                            }
                            dot += ai * *v;
                        }
                        // p/q = 1 / (α + (1 − α) exp(a·ξ − |a|²/2)), at most 1/α
                        *wr = 1.0 / (alpha + (1.0 - alpha) * (dot - 0.5 * a2).exp());
                    }
                }
                let x = to_input(&xi, rows, input);
                let (mut p1, mut p2, mut h) = (vec![0.0; w], vec![0.0; w], vec![0u64; w]);
                forward(net, x, rows, layer, |l, pre, _| {
                    if l != layer {
                        return;
                    }
                    for (r, &wt) in pre.chunks(w).zip(&wts) {
                        for j in 0..w {
                            if r[j] > threshold {
                                p1[j] += wt;
                                p2[j] += wt * wt;
                                h[j] += 1;
                            }
                        }
                    }
                });
                (p1, p2, h)
            })
            .collect();
        for (p1, p2, h) in &parts {
            for j in 0..w {
                s1[j] += p1[j];
                s2[j] += p2[j];
                hits[j] += h[j];
            }
        }
        cancel.advance(end - start);
        start = end;
    }
    let nf = n_samples as f64;
    let p: Vec<f64> = s1.iter().map(|v| v / nf).collect();
    let stderr = p
        .iter()
        .zip(&s2)
        .map(|(pi, q)| ((q / nf - pi * pi).max(0.0) / nf).sqrt())
        .collect();
    let per: f64 = (0..=layer)
        .map(|l| {
            let (o, i) = (net.widths[l + 1] as f64, net.widths[l] as f64);
            2.0 * o * i + o + net.act(l).c_act() * o
        })
        .sum();
    Ok(TailMc {
        p,
        stderr,
        hits,
        flops: nf
            * (per
                + if shift.is_some() {
                    2.0 * n0 as f64
                } else {
                    0.0
                }),
    })
}
