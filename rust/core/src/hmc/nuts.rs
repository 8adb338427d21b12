//! The No-U-Turn sampler as Stan runs it (Betancourt 2017, arXiv:1701.02434; Stan's
//! `base_nuts.hpp`): multinomial sampling of the trajectory's states, biased progressive
//! sampling between the old tree and a new subtree, the generalised U-turn criterion on the
//! summed momenta with the extra checks across subtrees, a maximum tree depth, and a divergence
//! (energy error above `max_delta_h`, or any non-finite energy, gradient or momentum) that ends
//! the subtree and discards it. Diagonal and dense metrics.
//!
//! Warm-up is Stan's windowed adaptation, per chain: dual averaging of the step size on the mean
//! Metropolis acceptance over the trajectory, the metric from the variances (or covariances) of
//! each slow window, regularised towards `1e-3 · I` as Stan does, and after every metric update
//! Stan's step-size heuristic (`init_stepsize`) and a restart of the dual averaging. With
//! `pooled`, every chain gets the element-wise median of the chains' window estimates, and the
//! median of their final step sizes.
//!
//! Each chain is a state machine that asks for one gradient at a time, so the same code runs per
//! chain on rayon for native targets and in lock step (one batch call per round, every chain
//! that needs a gradient in it) for a batched target; both give the same bits, for any thread
//! count (chain `c` draws from its own stream).

// NaN-aware comparisons (a NaN energy error must count as divergent) and index loops over
// several arrays at once
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

use super::HmcError;
use super::metric::{Metric, Phase};
use super::target::{BatchTarget, Target};
use super::warmup::{DualAveraging, windows};
use crate::numeric::dot8 as dot;
use crate::parallel::with_threads;
use crate::rng::stream_seed;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

/// Stream offset of the NUTS chains (distinct from the other samplers' streams).
const STREAM: u64 = 0x4E55_5453_0000_0000;

/// Values per record after the position: energy, Hamiltonian, acceptance, step size, depth,
/// leapfrog steps, divergent.
const EXTRA: usize = 7;

/// Settings of a NUTS run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NutsConfig {
    /// Maximum tree depth (Stan: 10): at most `2^max_depth − 1` leapfrog steps per draw.
    pub max_depth: usize,
    /// Energy error above which a leapfrog step is divergent (Stan: 1000).
    pub max_delta_h: f64,
}

impl Default for NutsConfig {
    fn default() -> Self {
        NutsConfig {
            max_depth: 10,
            max_delta_h: 1000.0,
        }
    }
}

impl NutsConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), HmcError> {
        if self.max_depth == 0 || self.max_depth > 30 {
            return Err(HmcError::Invalid {
                arg: "max_tree_depth",
                msg: format!("must be between 1 and 30, got {}", self.max_depth),
            });
        }
        if !(self.max_delta_h > 0.0) {
            return Err(HmcError::Invalid {
                arg: "max_energy_error",
                msg: format!("must be > 0, got {}", self.max_delta_h),
            });
        }
        Ok(())
    }
}

/// A NUTS warm-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NutsWarmup {
    /// Warm-up iterations.
    pub n_iter: usize,
    /// Adapt the step size (dual averaging).
    pub adapt_step_size: bool,
    /// Adapt the metric (Stan's windows).
    pub adapt_metric: bool,
    /// Adapt a dense metric (else diagonal).
    pub dense: bool,
    /// Target of the mean acceptance statistic, in (0, 1) (Stan: 0.8).
    pub target_accept: f64,
    /// Share the adapted values between chains (median over chains) instead of adapting each
    /// chain on its own.
    pub pooled: bool,
    /// Keep the warm-up draws.
    pub save: bool,
}

/// Records of a NUTS run (chain order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NutsOutput {
    /// Chains.
    pub n_chains: usize,
    /// Records per chain.
    pub n_records: usize,
    /// Dimension.
    pub dim: usize,
    /// Draws, `n_chains × n_records × dim`.
    pub x: Vec<f64>,
    /// Potential energy `E(x)` of each draw.
    pub energy: Vec<f64>,
    /// Hamiltonian `E(x) + K(p)` of each draw with the momentum it was drawn with (Stan's
    /// `energy__`).
    pub hamiltonian: Vec<f64>,
    /// Mean Metropolis acceptance `min(1, e^{H0 − H})` over the trajectory (Stan's
    /// `accept_stat__`).
    pub accept: Vec<f64>,
    /// Step size of each draw.
    pub step_size: Vec<f64>,
    /// Tree depth of each draw.
    pub depth: Vec<u32>,
    /// Leapfrog steps of each draw.
    pub n_steps: Vec<u32>,
    /// Whether the trajectory of the draw diverged.
    pub diverging: Vec<bool>,
    /// Gradient evaluations per chain while sampling.
    pub grads: Vec<u64>,
    /// Gradient evaluations per chain during warm-up.
    pub warmup_grads: Vec<u64>,
}

/// A finished subtree (or a leaf) on the tree-building stack. A leaf keeps its momentum only in
/// `prop.p` and its velocity only in `s_beg` (`rho`, `p_beg`, `p_end` and `s_end` are stale):
/// read them through the accessors, which saves four vector copies per leapfrog step.
struct Node {
    leaf: bool,
    depth: u32,
    lsw: f64,
    rho: Vec<f64>,
    p_beg: Vec<f64>,
    p_end: Vec<f64>,
    s_beg: Vec<f64>,
    s_end: Vec<f64>,
    prop: Phase,
}

impl Node {
    fn new(d: usize) -> Self {
        Node {
            leaf: false,
            depth: 0,
            lsw: f64::NEG_INFINITY,
            rho: vec![0.0; d],
            p_beg: vec![0.0; d],
            p_end: vec![0.0; d],
            s_beg: vec![0.0; d],
            s_end: vec![0.0; d],
            prop: Phase::zeros(d),
        }
    }

    #[inline]
    fn rho(&self) -> &[f64] {
        if self.leaf { &self.prop.p } else { &self.rho }
    }

    #[inline]
    fn p_beg(&self) -> &[f64] {
        if self.leaf { &self.prop.p } else { &self.p_beg }
    }

    #[inline]
    fn p_end(&self) -> &[f64] {
        if self.leaf { &self.prop.p } else { &self.p_end }
    }

    #[inline]
    fn s_end(&self) -> &[f64] {
        if self.leaf { &self.s_beg } else { &self.s_end }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    /// Stan's `init_stepsize`: single leapfrog steps doubling or halving the step size.
    Probe { first: bool, up: bool },
    /// Building the trajectory.
    Tree,
}

/// `log(e^a + e^b)` as Stan computes it.
#[inline]
fn log_sum_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if a == f64::INFINITY && b == f64::INFINITY {
        return f64::INFINITY;
    }
    if a > b {
        a + (b - a).exp().ln_1p()
    } else {
        b + (a - b).exp().ln_1p()
    }
}

/// Whether every value is finite, without an early exit (so the loop vectorises): `x · 0` is
/// `±0` for a finite `x` and NaN otherwise.
#[inline]
fn all_finite(v: &[f64]) -> bool {
    let mut acc = [0.0; 8];
    let c = v.chunks_exact(8);
    let r = c.remainder();
    for x in c {
        for k in 0..8 {
            acc[k] += x[k] * 0.0;
        }
    }
    acc.iter().chain(r).all(|a| a.is_finite())
}

/// Stan's `compute_criterion`: both ends still move along `rho`.
#[inline]
fn criterion(s_minus: &[f64], s_plus: &[f64], rho: &[f64]) -> bool {
    dot(s_plus, rho) > 0.0 && dot(s_minus, rho) > 0.0
}

/// The first half of a leapfrog step from `src` into `dst` (kick and drift; `v` is scratch):
/// the same arithmetic as [`NutsChain::kick_drift`] in place.
#[inline]
fn kick_drift_from(
    metric: &Metric,
    src: &Phase,
    dst: &mut Phase,
    v: &mut [f64],
    sign: f64,
    eps: f64,
) {
    let h = 0.5 * sign * eps;
    for ((pd, ps), g) in dst.p.iter_mut().zip(&src.p).zip(&src.g) {
        *pd = ps - h * g;
    }
    metric.velocity(&dst.p, v);
    let e = sign * eps;
    for ((xd, xs), vi) in dst.x.iter_mut().zip(&src.x).zip(v.iter()) {
        *xd = xs + e * vi;
    }
}

/// `a + b` into `out`.
#[inline]
fn add(a: &[f64], b: &[f64], out: &mut [f64]) {
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x + y;
    }
}

/// Welford estimates of a window's mean and variances (or covariance matrix).
#[derive(Debug, Clone)]
struct Welford {
    n: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
    dense: bool,
    delta: Vec<f64>,
}

impl Welford {
    fn new(d: usize, dense: bool) -> Self {
        Welford {
            n: 0.0,
            mean: vec![0.0; d],
            m2: vec![0.0; if dense { d * d } else { d }],
            dense,
            delta: vec![0.0; d],
        }
    }

    fn restart(&mut self) {
        self.n = 0.0;
        self.mean.fill(0.0);
        self.m2.fill(0.0);
    }

    fn add(&mut self, x: &[f64]) {
        self.n += 1.0;
        let d = x.len();
        for i in 0..d {
            self.delta[i] = x[i] - self.mean[i];
            self.mean[i] += self.delta[i] / self.n;
        }
        if self.dense {
            // Stan: m2 += (x − mean_new)(x − mean_old)ᵀ
            for i in 0..d {
                let a = x[i] - self.mean[i];
                for j in 0..d {
                    self.m2[i * d + j] += a * self.delta[j];
                }
            }
        } else {
            for i in 0..d {
                self.m2[i] += self.delta[i] * (x[i] - self.mean[i]);
            }
        }
    }

    /// The regularised estimate (Stan: `n/(n+5) · S + 1e-3 · 5/(n+5) · I`), or None with fewer
    /// than 3 draws.
    fn estimate(&self) -> Option<Vec<f64>> {
        if self.n < 3.0 {
            return None;
        }
        let n = self.n;
        let d = self.mean.len();
        let (a, b) = (n / (n + 5.0), 1e-3 * (5.0 / (n + 5.0)));
        let mut out: Vec<f64> = self.m2.iter().map(|s| a * (s / (n - 1.0))).collect();
        if self.dense {
            for i in 0..d {
                for j in 0..i {
                    // symmetrise (round-off)
                    let m = 0.5 * (out[i * d + j] + out[j * d + i]);
                    out[i * d + j] = m;
                    out[j * d + i] = m;
                }
                out[i * d + i] += b;
            }
        } else {
            for v in &mut out {
                *v += b;
            }
        }
        out.iter().all(|v| v.is_finite()).then_some(out)
    }
}

/// A metric from an estimate, or None when it is not usable.
fn metric_of(est: Vec<f64>, d: usize, dense: bool) -> Option<Metric> {
    if dense {
        Metric::dense(d, est).ok()
    } else {
        Metric::diag(est).ok()
    }
}

/// Per-chain warm-up state.
#[derive(Debug, Clone)]
struct ChainAdapt {
    da: DualAveraging,
    welford: Welford,
}

struct NutsChain {
    rng: Pcg64Mcg,
    metric: Metric,
    eps: f64,
    cur: Phase,
    z: Phase,
    fwd: Phase,
    bck: Phase,
    sample: Phase,
    v: Vec<f64>,
    p_ff: Vec<f64>,
    p_fb: Vec<f64>,
    p_bf: Vec<f64>,
    p_bb: Vec<f64>,
    s_ff: Vec<f64>,
    s_fb: Vec<f64>,
    s_bf: Vec<f64>,
    s_bb: Vec<f64>,
    rho: Vec<f64>,
    tmp: Vec<f64>,
    tmp2: Vec<f64>,
    nodes: Vec<Node>,
    top: usize,
    lsw: f64,
    h0: f64,
    n_leap: u32,
    sum_metro: f64,
    depth: u32,
    divergent: bool,
    forward: bool,
    leaves_left: u64,
    sign: f64,
    stage: Stage,
    probe_pending: bool,
    restart_da: bool,
    probe_init: Phase,
    adapt: Option<ChainAdapt>,
    grads: u64,
    warmup_grads: u64,
    rec: Vec<f64>,
    warm_rec: Vec<f64>,
}

impl NutsChain {
    fn new(d: usize, max_depth: usize, metric: Metric, eps: f64, seed: u64, c: u64) -> Self {
        let z = Phase::zeros(d);
        NutsChain {
            rng: Pcg64Mcg::seed_from_u64(stream_seed(seed, STREAM ^ c)),
            metric,
            eps,
            cur: z.clone(),
            z: z.clone(),
            fwd: z.clone(),
            bck: z.clone(),
            sample: z.clone(),
            v: vec![0.0; d],
            p_ff: vec![0.0; d],
            p_fb: vec![0.0; d],
            p_bf: vec![0.0; d],
            p_bb: vec![0.0; d],
            s_ff: vec![0.0; d],
            s_fb: vec![0.0; d],
            s_bf: vec![0.0; d],
            s_bb: vec![0.0; d],
            rho: vec![0.0; d],
            tmp: vec![0.0; d],
            tmp2: vec![0.0; d],
            nodes: (0..=max_depth + 1).map(|_| Node::new(d)).collect(),
            top: 0,
            lsw: 0.0,
            h0: 0.0,
            n_leap: 0,
            sum_metro: 0.0,
            depth: 0,
            divergent: false,
            forward: true,
            leaves_left: 0,
            sign: 1.0,
            stage: Stage::Tree,
            probe_pending: false,
            restart_da: false,
            probe_init: z,
            adapt: None,
            grads: 0,
            warmup_grads: 0,
            rec: Vec::new(),
            warm_rec: Vec::new(),
        }
    }

    /// `H(z)`, `+∞` for a non-finite energy, momentum or gradient.
    fn hamiltonian(&self, z: &Phase) -> f64 {
        if !z.e.is_finite() || !all_finite(&z.g) {
            return f64::INFINITY;
        }
        let h = z.e + self.metric.kinetic(&z.p);
        if h.is_finite() { h } else { f64::INFINITY }
    }

    /// The first half of a leapfrog step of `z` (kick and drift); the gradient at `z.x` is next.
    fn kick_drift(&mut self) {
        let h = 0.5 * self.sign * self.eps;
        for (p, g) in self.z.p.iter_mut().zip(&self.z.g) {
            *p -= h * g;
        }
        self.metric.velocity(&self.z.p, &mut self.v);
        let e = self.sign * self.eps;
        for (x, v) in self.z.x.iter_mut().zip(&self.v) {
            *x += e * v;
        }
    }

    /// The closing half kick, after the energy and gradient at `z.x` are in `z`.
    fn kick_last(&mut self, e: f64) {
        self.z.e = if e.is_finite() { e } else { f64::INFINITY };
        let h = 0.5 * self.sign * self.eps;
        for (p, g) in self.z.p.iter_mut().zip(&self.z.g) {
            *p -= h * g;
        }
    }

    /// Starts a transition; the gradient at `z.x` is needed next.
    fn start(&mut self) {
        if self.probe_pending {
            self.probe_pending = false;
            if self.eps > 0.0 && self.eps <= 1e7 && self.eps.is_finite() {
                self.stage = Stage::Probe {
                    first: true,
                    up: true,
                };
                self.probe_init.copy_from(&self.cur);
                self.probe_step();
                return;
            }
            self.after_probe();
        }
        self.start_tree();
    }

    fn probe_step(&mut self) {
        self.z.copy_from(&self.probe_init);
        self.metric.sample_momentum(&mut self.rng, &mut self.z.p);
        self.h0 = self.hamiltonian(&self.z);
        self.sign = 1.0;
        self.kick_drift();
    }

    fn after_probe(&mut self) {
        self.stage = Stage::Tree;
        if self.restart_da {
            self.restart_da = false;
            if let Some(a) = self.adapt.as_mut() {
                a.da = DualAveraging::new(self.eps);
            }
        }
    }

    fn start_tree(&mut self) {
        self.stage = Stage::Tree;
        self.metric.sample_momentum(&mut self.rng, &mut self.cur.p);
        self.h0 = self.hamiltonian(&self.cur);
        self.fwd.copy_from(&self.cur);
        self.bck.copy_from(&self.cur);
        self.sample.copy_from(&self.cur);
        let p = &self.cur.p;
        for v in [
            &mut self.p_ff,
            &mut self.p_fb,
            &mut self.p_bf,
            &mut self.p_bb,
        ] {
            v.copy_from_slice(p);
        }
        self.metric.velocity(p, &mut self.s_ff);
        for v in [&mut self.s_fb, &mut self.s_bf, &mut self.s_bb] {
            v.copy_from_slice(&self.s_ff);
        }
        self.rho.copy_from_slice(p);
        self.lsw = 0.0;
        self.n_leap = 0;
        self.sum_metro = 0.0;
        self.depth = 0;
        self.divergent = false;
        self.begin_subtree();
    }

    fn begin_subtree(&mut self) {
        let u: f64 = self.rng.random();
        self.forward = u > 0.5;
        if self.forward {
            self.z.copy_from(&self.fwd);
            self.sign = 1.0;
        } else {
            self.z.copy_from(&self.bck);
            self.sign = -1.0;
        }
        self.leaves_left = 1u64 << self.depth;
        self.top = 0;
        self.kick_drift();
    }

    /// The energy `e` and gradient (already in `z.g`) at `z.x` arrived. Returns true when the
    /// transition is done (then `cur` holds the new draw), false when the gradient at `z.x` is
    /// needed again.
    fn on_grad(&mut self, e: f64, max_depth: u32, max_dh: f64) -> bool {
        match self.stage {
            Stage::Probe { first, up } => {
                self.kick_last(e);
                let h = self.hamiltonian(&self.z);
                let dh = self.h0 - h;
                let ln08 = 0.8f64.ln();
                if first {
                    self.stage = Stage::Probe {
                        first: false,
                        up: dh > ln08,
                    };
                    self.probe_step();
                    return false;
                }
                let stop = if up { !(dh > ln08) } else { !(dh < ln08) };
                if !stop {
                    self.eps *= if up { 2.0 } else { 0.5 };
                    if self.eps > 1e7 || self.eps < 1e-300 {
                        // Stan gives up here (an error); keep the last usable size
                        self.eps = self.eps.clamp(1e-300, 1e7);
                    } else {
                        self.probe_step();
                        return false;
                    }
                }
                self.after_probe();
                self.start_tree();
                false
            }
            Stage::Tree => self.on_leaf(e, max_depth, max_dh),
        }
    }

    fn on_leaf(&mut self, e: f64, max_depth: u32, max_dh: f64) -> bool {
        self.kick_last(e);
        self.n_leap += 1;
        let h = self.hamiltonian(&self.z);
        if h - self.h0 > max_dh || !h.is_finite() {
            self.divergent = true;
        }
        let w = self.h0 - h;
        self.sum_metro += if w > 0.0 {
            1.0
        } else if w.is_nan() {
            0.0
        } else {
            w.exp()
        };
        if self.divergent {
            return self.finish();
        }
        let last = self.leaves_left == 1;
        if last {
            // the subtree's far end: the trajectory's new end once the subtree is merged in
            if self.forward {
                self.fwd.copy_from(&self.z);
            } else {
                self.bck.copy_from(&self.z);
            }
        }
        {
            // the leaf takes `z`'s buffers; the next leapfrog step starts from it into `z`
            let n = &mut self.nodes[self.top];
            n.leaf = true;
            n.depth = 0;
            n.lsw = log_sum_exp(f64::NEG_INFINITY, w);
            std::mem::swap(&mut n.prop, &mut self.z);
            self.metric.velocity(&n.prop.p, &mut n.s_beg);
            if !last {
                kick_drift_from(
                    &self.metric,
                    &n.prop,
                    &mut self.z,
                    &mut self.v,
                    self.sign,
                    self.eps,
                );
            }
        }
        self.top += 1;
        while self.top >= 2 && self.nodes[self.top - 1].depth == self.nodes[self.top - 2].depth {
            if !self.merge() {
                return self.finish();
            }
        }
        self.leaves_left -= 1;
        if self.leaves_left > 0 {
            return false;
        }
        // the subtree is complete: merge it into the trajectory
        debug_assert_eq!(self.top, 1);
        let node = &mut self.nodes[0];
        // rho_bck / rho_fwd of Stan: the old trajectory and the new subtree
        self.tmp.copy_from_slice(&self.rho);
        if self.forward {
            self.p_bf.copy_from_slice(&self.p_ff);
            self.s_bf.copy_from_slice(&self.s_ff);
            self.s_fb.copy_from_slice(&node.s_beg);
            self.s_ff.copy_from_slice(node.s_end());
            self.p_fb.copy_from_slice(node.p_beg());
            self.p_ff.copy_from_slice(node.p_end());
        } else {
            self.p_fb.copy_from_slice(&self.p_bb);
            self.s_fb.copy_from_slice(&self.s_bb);
            self.s_bf.copy_from_slice(&node.s_beg);
            self.s_bb.copy_from_slice(node.s_end());
            self.p_bf.copy_from_slice(node.p_beg());
            self.p_bb.copy_from_slice(node.p_end());
        }
        self.depth += 1;
        // the U-turn criteria first: a leaf's momentum lives in its proposal, which may move next
        let (rho_bck, rho_fwd): (&[f64], &[f64]) = if self.forward {
            (&self.tmp, node.rho())
        } else {
            (node.rho(), &self.tmp)
        };
        add(rho_bck, rho_fwd, &mut self.rho);
        let mut persist = criterion(&self.s_bb, &self.s_ff, &self.rho);
        add(rho_bck, &self.p_fb, &mut self.tmp2);
        persist &= criterion(&self.s_bb, &self.s_fb, &self.tmp2);
        add(rho_fwd, &self.p_bf, &mut self.tmp2);
        persist &= criterion(&self.s_bf, &self.s_ff, &self.tmp2);
        if node.lsw > self.lsw {
            std::mem::swap(&mut self.sample, &mut node.prop);
        } else {
            let a = (node.lsw - self.lsw).exp();
            let u: f64 = self.rng.random();
            if u < a {
                std::mem::swap(&mut self.sample, &mut node.prop);
            }
        }
        self.lsw = log_sum_exp(self.lsw, node.lsw);
        if !persist || self.depth >= max_depth {
            return self.finish();
        }
        self.begin_subtree();
        false
    }

    /// Merges the two subtrees on top of the stack (Stan's `build_tree` after both halves);
    /// returns whether the merged subtree is valid (no U-turn).
    fn merge(&mut self) -> bool {
        let t = self.top;
        let (lo, hi) = self.nodes.split_at_mut(t - 1);
        let (a, b) = (&mut lo[t - 2], &mut hi[0]);
        // the criteria and the merged node's ends first: a leaf's momentum lives in its
        // proposal, which the multinomial choice below may exchange
        add(a.rho(), b.rho(), &mut self.tmp);
        let mut persist = criterion(&a.s_beg, b.s_end(), &self.tmp);
        add(a.rho(), b.p_beg(), &mut self.tmp2);
        persist &= criterion(&a.s_beg, &b.s_beg, &self.tmp2);
        add(b.rho(), a.p_end(), &mut self.tmp2);
        persist &= criterion(a.s_end(), b.s_end(), &self.tmp2);
        if a.leaf {
            a.p_beg.copy_from_slice(&a.prop.p);
        }
        if b.leaf {
            a.p_end.copy_from_slice(&b.prop.p);
            std::mem::swap(&mut a.s_end, &mut b.s_beg);
        } else {
            std::mem::swap(&mut a.s_end, &mut b.s_end);
            std::mem::swap(&mut a.p_end, &mut b.p_end);
        }
        std::mem::swap(&mut a.rho, &mut self.tmp);
        a.leaf = false;
        let lsw_sub = log_sum_exp(a.lsw, b.lsw);
        if b.lsw > lsw_sub {
            std::mem::swap(&mut a.prop, &mut b.prop);
        } else {
            let acc = (b.lsw - lsw_sub).exp();
            let u: f64 = self.rng.random();
            if u < acc {
                std::mem::swap(&mut a.prop, &mut b.prop);
            }
        }
        a.lsw = lsw_sub;
        a.depth += 1;
        self.top -= 1;
        persist
    }

    /// Ends the transition: the draw becomes the current state.
    fn finish(&mut self) -> bool {
        std::mem::swap(&mut self.cur, &mut self.sample);
        true
    }

    fn accept_stat(&self) -> f64 {
        if self.n_leap == 0 {
            0.0
        } else {
            self.sum_metro / f64::from(self.n_leap)
        }
    }

    fn push_record(&mut self, warm: bool) {
        let h = self.hamiltonian(&self.cur);
        let row = [
            self.cur.e,
            h,
            self.accept_stat(),
            self.eps,
            f64::from(self.depth),
            f64::from(self.n_leap),
            if self.divergent { 1.0 } else { 0.0 },
        ];
        let r = if warm {
            &mut self.warm_rec
        } else {
            &mut self.rec
        };
        r.extend_from_slice(&self.cur.x);
        r.extend_from_slice(&row);
    }
}

/// The adaptation schedule shared by the chains.
#[derive(Debug, Clone)]
struct Schedule {
    plan: NutsWarmup,
    it: usize,
    windows: Vec<(usize, usize)>,
}

/// Many NUTS chains on one target.
pub struct Nuts {
    cfg: NutsConfig,
    dim: usize,
    chains: Vec<NutsChain>,
    schedule: Option<Schedule>,
    initialised: bool,
}

impl std::fmt::Debug for Nuts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nuts")
            .field("cfg", &self.cfg)
            .field("dim", &self.dim)
            .field("n_chains", &self.chains.len())
            .finish()
    }
}

impl Nuts {
    /// `n_chains` chains from the starts `x0` (`n_chains × d`), step size `step_size`, metric
    /// `metric` (the same for every chain at first).
    ///
    /// # Errors
    /// [`HmcError::Invalid`] for bad settings or starts.
    pub fn new(
        cfg: NutsConfig,
        metric: Metric,
        step_size: f64,
        x0: &[f64],
        n_chains: usize,
        seed: u64,
    ) -> Result<Self, HmcError> {
        cfg.validate()?;
        let d = metric.dim();
        if n_chains == 0 || d == 0 || x0.len() != n_chains * d {
            return Err(HmcError::Invalid {
                arg: "x0",
                msg: format!(
                    "expected {n_chains} × {d} starting values (chains × dimension), got {}",
                    x0.len()
                ),
            });
        }
        if !(step_size.is_finite() && step_size > 0.0) {
            return Err(HmcError::Invalid {
                arg: "step_size",
                msg: format!("must be finite and > 0, got {step_size}"),
            });
        }
        let chains = (0..n_chains)
            .map(|c| {
                let mut ch =
                    NutsChain::new(d, cfg.max_depth, metric.clone(), step_size, seed, c as u64);
                ch.cur.x.copy_from_slice(&x0[c * d..(c + 1) * d]);
                ch
            })
            .collect();
        Ok(Nuts {
            cfg,
            dim: d,
            chains,
            schedule: None,
            initialised: false,
        })
    }

    /// Chains.
    pub fn n_chains(&self) -> usize {
        self.chains.len()
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Step size of every chain.
    pub fn step_sizes(&self) -> Vec<f64> {
        self.chains.iter().map(|c| c.eps).collect()
    }

    /// Metric of chain `c`.
    pub fn metric(&self, c: usize) -> &Metric {
        &self.chains[c].metric
    }

    fn after_init(&mut self) -> Result<(), HmcError> {
        for (c, ch) in self.chains.iter().enumerate() {
            if !(ch.cur.e.is_finite() && ch.cur.g.iter().all(|g| g.is_finite())) {
                return Err(HmcError::Invalid {
                    arg: "x0",
                    msg: format!(
                        "the energy or its gradient is not finite at the start of chain {c}"
                    ),
                });
            }
        }
        self.initialised = true;
        Ok(())
    }

    /// Evaluates a native target at the starts.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] (`x0`) when the energy or gradient is not finite at a start.
    pub fn init<T: Target + ?Sized>(&mut self, t: &T) -> Result<(), HmcError> {
        self.check_dim(t.dim())?;
        for ch in &mut self.chains {
            ch.cur.e = t.energy_grad(&ch.cur.x, &mut ch.cur.g);
        }
        self.after_init()
    }

    /// As [`Nuts::init`] for a batched target.
    ///
    /// # Errors
    /// As [`Nuts::init`], and what the target reports.
    pub fn init_batched(&mut self, t: &mut dyn BatchTarget) -> Result<(), HmcError> {
        self.check_dim(t.dim())?;
        let (n, d) = (self.chains.len(), self.dim);
        let xs: Vec<f64> = self
            .chains
            .iter()
            .flat_map(|c| c.cur.x.iter().copied())
            .collect();
        let mut es = vec![0.0; n];
        let mut gs = vec![0.0; n * d];
        t.energy_grad_batch(&xs, &mut es, &mut gs)?;
        for (c, ch) in self.chains.iter_mut().enumerate() {
            ch.cur.e = es[c];
            ch.cur.g.copy_from_slice(&gs[c * d..(c + 1) * d]);
        }
        self.after_init()
    }

    fn check_dim(&self, d: usize) -> Result<(), HmcError> {
        if d != self.dim {
            return Err(HmcError::Invalid {
                arg: "target",
                msg: format!("has dimension {d}, the run {}", self.dim),
            });
        }
        Ok(())
    }

    fn check_ready(&self) -> Result<(), HmcError> {
        if !self.initialised {
            return Err(HmcError::Invalid {
                arg: "init",
                msg: "call init before running".into(),
            });
        }
        Ok(())
    }

    /// Starts a warm-up (advance it with [`Nuts::warmup`] / [`Nuts::warmup_batched`]).
    ///
    /// # Errors
    /// [`HmcError::Invalid`] for `target_accept` outside (0, 1).
    pub fn start_warmup(&mut self, plan: NutsWarmup) -> Result<(), HmcError> {
        if !(plan.target_accept > 0.0 && plan.target_accept < 1.0) {
            return Err(HmcError::Invalid {
                arg: "target_accept",
                msg: format!("must be in (0, 1), got {}", plan.target_accept),
            });
        }
        let d = self.dim;
        for ch in &mut self.chains {
            ch.adapt = Some(ChainAdapt {
                da: DualAveraging::new(ch.eps),
                welford: Welford::new(d, plan.dense),
            });
            if plan.adapt_step_size {
                ch.probe_pending = true;
                ch.restart_da = true;
            }
        }
        let windows = if plan.adapt_metric {
            windows(plan.n_iter)
        } else {
            Vec::new()
        };
        self.schedule = Some(Schedule {
            plan,
            it: 0,
            windows,
        });
        Ok(())
    }

    /// Warm-up iterations left.
    pub fn warmup_left(&self) -> usize {
        self.schedule.as_ref().map_or(0, |s| s.plan.n_iter - s.it)
    }

    /// Iterations until the next point where the chains must meet (a window end or the end of
    /// the warm-up).
    fn to_boundary(&self) -> usize {
        let Some(s) = &self.schedule else { return 0 };
        let next = s
            .windows
            .iter()
            .map(|w| w.1)
            .find(|&e| e > s.it)
            .unwrap_or(s.plan.n_iter);
        next.min(s.plan.n_iter) - s.it
    }

    /// Runs up to `n_iter` warm-up iterations with a native target (chains in parallel).
    ///
    /// # Errors
    /// [`HmcError::Invalid`] before `init`; thread-pool errors.
    pub fn warmup<T: Target + ?Sized>(
        &mut self,
        t: &T,
        n_iter: usize,
        threads: Option<usize>,
    ) -> Result<(), HmcError> {
        self.check_ready()?;
        let mut left = n_iter.min(self.warmup_left());
        while left > 0 {
            let k = left.min(self.to_boundary()).max(1);
            self.iterate_native(t, k, threads, true)?;
            left -= k;
        }
        Ok(())
    }

    /// As [`Nuts::warmup`] for a batched target.
    ///
    /// # Errors
    /// As [`Nuts::warmup`], and what the target reports.
    pub fn warmup_batched(
        &mut self,
        t: &mut dyn BatchTarget,
        n_iter: usize,
    ) -> Result<(), HmcError> {
        self.check_ready()?;
        let mut left = n_iter.min(self.warmup_left());
        while left > 0 {
            let k = left.min(self.to_boundary()).max(1);
            self.iterate_batched(t, k, true)?;
            left -= k;
        }
        Ok(())
    }

    /// Runs `n_iter` recorded iterations with a native target (chains in parallel on rayon).
    ///
    /// # Errors
    /// [`HmcError::Invalid`] before `init` or during a warm-up; thread-pool errors.
    pub fn run<T: Target + ?Sized>(
        &mut self,
        t: &T,
        n_iter: usize,
        threads: Option<usize>,
    ) -> Result<(), HmcError> {
        self.check_ready()?;
        self.check_no_warmup()?;
        self.iterate_native(t, n_iter, threads, false)
    }

    /// As [`Nuts::run`] for a batched target: one call per round for every chain that needs a
    /// gradient.
    ///
    /// # Errors
    /// As [`Nuts::run`], and what the target reports.
    pub fn run_batched(&mut self, t: &mut dyn BatchTarget, n_iter: usize) -> Result<(), HmcError> {
        self.check_ready()?;
        self.check_no_warmup()?;
        self.iterate_batched(t, n_iter, false)
    }

    fn check_no_warmup(&self) -> Result<(), HmcError> {
        if self.warmup_left() > 0 {
            return Err(HmcError::Invalid {
                arg: "warmup",
                msg: format!("{} warm-up iterations are left", self.warmup_left()),
            });
        }
        Ok(())
    }

    fn iterate_native<T: Target + ?Sized>(
        &mut self,
        t: &T,
        k: usize,
        threads: Option<usize>,
        warm: bool,
    ) -> Result<(), HmcError> {
        let (md, mdh) = (self.cfg.max_depth as u32, self.cfg.max_delta_h);
        let sched = self.schedule.clone();
        with_threads(threads, || {
            self.chains.par_iter_mut().for_each(|ch| {
                for i in 0..k {
                    ch.start();
                    loop {
                        let e = t.energy_grad(&ch.z.x, &mut ch.z.g);
                        ch.grads += 1;
                        if ch.on_grad(e, md, mdh) {
                            break;
                        }
                    }
                    after_transition(ch, sched.as_ref(), i, warm);
                }
            });
        })?;
        self.after_segment(k, warm);
        Ok(())
    }

    fn iterate_batched(
        &mut self,
        t: &mut dyn BatchTarget,
        k: usize,
        warm: bool,
    ) -> Result<(), HmcError> {
        let (md, mdh) = (self.cfg.max_depth as u32, self.cfg.max_delta_h);
        let (n, d) = (self.chains.len(), self.dim);
        let sched = self.schedule.clone();
        let mut done = vec![0usize; n];
        let mut xs = vec![0.0; n * d];
        let mut es = vec![0.0; n];
        let mut gs = vec![0.0; n * d];
        let mut rows: Vec<usize> = Vec::with_capacity(n);
        if k > 0 {
            for ch in &mut self.chains {
                ch.start();
            }
        }
        loop {
            rows.clear();
            for (c, ch) in self.chains.iter().enumerate() {
                if done[c] < k {
                    xs[rows.len() * d..(rows.len() + 1) * d].copy_from_slice(&ch.z.x);
                    rows.push(c);
                }
            }
            if rows.is_empty() {
                break;
            }
            let m = rows.len();
            t.energy_grad_batch(&xs[..m * d], &mut es[..m], &mut gs[..m * d])?;
            for (j, &c) in rows.iter().enumerate() {
                let ch = &mut self.chains[c];
                ch.z.g.copy_from_slice(&gs[j * d..(j + 1) * d]);
                ch.grads += 1;
                if ch.on_grad(es[j], md, mdh) {
                    after_transition(ch, sched.as_ref(), done[c], warm);
                    done[c] += 1;
                    if done[c] < k {
                        ch.start();
                    }
                }
            }
        }
        self.after_segment(k, warm);
        Ok(())
    }

    /// Shared bookkeeping after `k` iterations of every chain: the schedule's counter, pooled
    /// metric updates at window ends, the end of the warm-up.
    fn after_segment(&mut self, k: usize, warm: bool) {
        if !warm {
            return;
        }
        let Some(s) = self.schedule.as_mut() else {
            return;
        };
        s.it += k;
        let it = s.it;
        let plan = s.plan;
        let window_end = s.windows.iter().any(|w| w.1 == it);
        if window_end && plan.pooled {
            let d = self.dim;
            let ests: Vec<Option<Vec<f64>>> = self
                .chains
                .iter()
                .map(|c| c.adapt.as_ref().and_then(|a| a.welford.estimate()))
                .collect();
            let ok: Vec<&Vec<f64>> = ests.iter().flatten().collect();
            if !ok.is_empty() {
                let len = ok[0].len();
                let med: Vec<f64> = (0..len)
                    .map(|i| median(ok.iter().map(|e| e[i]).collect()))
                    .collect();
                let m = metric_of(med, d, plan.dense).or_else(|| {
                    let mean: Vec<f64> = (0..len)
                        .map(|i| ok.iter().map(|e| e[i]).sum::<f64>() / ok.len() as f64)
                        .collect();
                    metric_of(mean, d, plan.dense)
                });
                if let Some(m) = m {
                    for ch in &mut self.chains {
                        ch.metric = m.clone();
                    }
                }
            }
            for ch in &mut self.chains {
                if let Some(a) = ch.adapt.as_mut() {
                    a.welford.restart();
                }
            }
        }
        if it == plan.n_iter {
            if plan.adapt_step_size {
                for ch in &mut self.chains {
                    if let Some(a) = &ch.adapt
                        && a.da.t > 0.0
                    {
                        ch.eps = a.da.log_eps_bar.exp();
                    }
                    if !(ch.eps.is_finite() && ch.eps > 0.0) {
                        ch.eps = f64::MIN_POSITIVE.sqrt();
                    }
                }
                if plan.pooled {
                    let m = median(self.chains.iter().map(|c| c.eps).collect());
                    for ch in &mut self.chains {
                        ch.eps = m;
                    }
                }
            }
            for ch in &mut self.chains {
                ch.adapt = None;
                ch.probe_pending = false;
                ch.warmup_grads += ch.grads;
                ch.grads = 0;
            }
            self.schedule = None;
        }
    }

    /// Copies the records out.
    pub fn output(&self, warmup: bool) -> NutsOutput {
        let d = self.dim;
        let n_chains = self.chains.len();
        let row = d + EXTRA;
        fn pick(c: &NutsChain, warmup: bool) -> &Vec<f64> {
            if warmup { &c.warm_rec } else { &c.rec }
        }
        let n_records = self
            .chains
            .first()
            .map_or(0, |c| pick(c, warmup).len() / row);
        let mut o = NutsOutput {
            n_chains,
            n_records,
            dim: d,
            ..NutsOutput::default()
        };
        for ch in &self.chains {
            for r in pick(ch, warmup).chunks_exact(row) {
                o.x.extend_from_slice(&r[..d]);
                o.energy.push(r[d]);
                o.hamiltonian.push(r[d + 1]);
                o.accept.push(r[d + 2]);
                o.step_size.push(r[d + 3]);
                o.depth.push(r[d + 4] as u32);
                o.n_steps.push(r[d + 5] as u32);
                o.diverging.push(r[d + 6] != 0.0);
            }
            o.grads.push(ch.grads);
            o.warmup_grads.push(ch.warmup_grads);
        }
        o
    }

    /// Makes room for `n_iter` more records per chain.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] (`n_samples`) when they do not fit in memory.
    pub fn reserve(&mut self, n_iter: usize) -> Result<(), HmcError> {
        let row = self.dim + EXTRA;
        let (n_chains, d) = (self.chains.len(), self.dim);
        for ch in &mut self.chains {
            ch.rec
                .try_reserve_exact(n_iter.saturating_mul(row))
                .map_err(|_| HmcError::Invalid {
                    arg: "n_samples",
                    msg: format!(
                        "{n_iter} draws of {n_chains} chains in dimension {d} do not fit in memory"
                    ),
                })?;
        }
        Ok(())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// A chain's bookkeeping after a transition: its record and (warm-up) its own adaptation.
/// `i`: the index of the transition in the current segment.
fn after_transition(ch: &mut NutsChain, sched: Option<&Schedule>, i: usize, warm: bool) {
    let Some(s) = sched.filter(|_| warm) else {
        ch.push_record(false);
        return;
    };
    let it = s.it + i;
    let plan = s.plan;
    if plan.save {
        ch.push_record(true);
    }
    let stat = ch.accept_stat();
    let d = ch.cur.x.len();
    let Some(a) = ch.adapt.as_mut() else { return };
    if plan.adapt_step_size {
        a.da.update(stat.min(1.0), plan.target_accept);
        let e = a.da.log_eps.exp();
        ch.eps = if e.is_finite() && e > 0.0 {
            e.min(1e7)
        } else {
            f64::MIN_POSITIVE.sqrt()
        };
    }
    if let Some(&(_, end)) = s.windows.iter().find(|w| w.0 <= it && it < w.1) {
        a.welford.add(&ch.cur.x);
        if it + 1 == end {
            if !plan.pooled {
                if let Some(m) = a
                    .welford
                    .estimate()
                    .and_then(|e| metric_of(e, d, plan.dense))
                {
                    ch.metric = m;
                }
                a.welford.restart();
            }
            if plan.adapt_step_size {
                ch.probe_pending = true;
                ch.restart_da = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hmc::Builtin;

    #[test]
    fn vectorised_dot_and_finite_check_match_the_plain_loops() {
        let mut r = Pcg64Mcg::seed_from_u64(3);
        for n in 0..40 {
            let a: Vec<f64> = (0..n).map(|_| r.random::<f64>() - 0.5).collect();
            let b: Vec<f64> = (0..n).map(|_| r.random::<f64>() - 0.5).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let scale: f64 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
            assert!(
                (dot(&a, &b) - plain).abs() <= 1e-15 * (1.0 + scale),
                "n = {n}"
            );
            assert!(all_finite(&a));
            for i in 0..n {
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    let mut c = a.clone();
                    c[i] = bad;
                    assert!(!all_finite(&c), "n = {n}, i = {i}, {bad}");
                }
                let mut c = a.clone();
                c[i] = f64::MAX;
                assert!(all_finite(&c));
            }
        }
    }

    #[test]
    fn log_sum_exp_matches_stan() {
        assert_eq!(log_sum_exp(f64::NEG_INFINITY, 1.5), 1.5);
        assert!((log_sum_exp(0.0, 0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(log_sum_exp(0.0, f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn batched_equals_native_bit_for_bit() {
        let t = Builtin::gaussian_aniso(5, 2.0);
        let x0: Vec<f64> = (0..15).map(|i| 0.1 * i as f64 - 0.7).collect();
        let mk = || Nuts::new(NutsConfig::default(), Metric::identity(5), 0.3, &x0, 3, 7).unwrap();
        let plan = NutsWarmup {
            n_iter: 150,
            adapt_step_size: true,
            adapt_metric: true,
            dense: false,
            target_accept: 0.8,
            pooled: false,
            save: true,
        };
        let mut a = mk();
        a.init(&t).unwrap();
        a.start_warmup(plan).unwrap();
        a.warmup(&t, 150, Some(2)).unwrap();
        a.run(&t, 100, Some(2)).unwrap();
        let mut b = mk();
        let mut bt = crate::hmc::AsBatch(&t);
        b.init_batched(&mut bt).unwrap();
        b.start_warmup(plan).unwrap();
        for _ in 0..3 {
            b.warmup_batched(&mut bt, 50).unwrap();
        }
        b.run_batched(&mut bt, 100).unwrap();
        assert_eq!(a.output(false), b.output(false));
        assert_eq!(a.output(true), b.output(true));
        let mut c = mk();
        c.init(&t).unwrap();
        c.start_warmup(plan).unwrap();
        c.warmup(&t, 150, Some(1)).unwrap();
        c.run(&t, 100, Some(1)).unwrap();
        assert_eq!(a.output(false), c.output(false));
    }

    #[test]
    fn gaussian_moments() {
        // independent truth: N(0, diag(1/c)); 4 chains x 2000 draws, ESS ~ draws for NUTS
        let t = Builtin::gaussian_aniso(3, 1.0);
        let var = [10.0, 10f64.sqrt(), 1.0];
        let x0 = vec![0.5; 12];
        let mut s = Nuts::new(NutsConfig::default(), Metric::identity(3), 0.5, &x0, 4, 3).unwrap();
        s.init(&t).unwrap();
        s.start_warmup(NutsWarmup {
            n_iter: 500,
            adapt_step_size: true,
            adapt_metric: true,
            dense: false,
            target_accept: 0.8,
            pooled: false,
            save: false,
        })
        .unwrap();
        s.warmup(&t, 500, None).unwrap();
        s.run(&t, 2000, None).unwrap();
        let o = s.output(false);
        let n = (o.n_chains * o.n_records) as f64;
        for i in 0..3 {
            let m: f64 = o.x.iter().skip(i).step_by(3).sum::<f64>() / n;
            let v: f64 = o.x.iter().skip(i).step_by(3).map(|x| x * x).sum::<f64>() / n;
            // generous: ESS ≥ n/4
            let se_m = (var[i] / (n / 4.0)).sqrt();
            assert!(m.abs() < 5.0 * se_m, "mean {i}: {m}");
            assert!(
                (v / var[i] - 1.0).abs() < 5.0 * (2.0 / (n / 4.0)).sqrt(),
                "var {i}: {v}"
            );
        }
        assert!(o.diverging.iter().all(|d| !d));
    }
}
