//! Chains, the four samplers as per-chain state machines, and the two drivers (per-chain on
//! rayon for native targets, lock step for batched targets).

use super::HmcError;
use super::metric::{
    Metric, Phase, hamiltonian, kick_drift, kick_last, leapfrog, leapfrog_from, non_finite,
    sanitize,
};
use super::rates::{
    LookAhead, ct_log_rates, ct_rates, hmc_accept, mjhmc_log_rates, mjhmc_rate_pair,
    mjhmc_rates_of_pair, pick_jump, pick_jump_linear,
};
use super::target::{BatchTarget, Builtin, DiagGaussian, LANES, RoughWell, Target};
use super::warmup::{Adapt, WarmupPlan};
use crate::mem::BigVec;
use crate::parallel::with_threads;
use crate::rng::stream_seed;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp1};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

/// Move code of a full momentum refresh (jump samplers).
pub const MOVE_REFRESH: u8 = 255;

/// Energy error above which a trajectory counts as divergent (Stan's `max_deltaH`).
pub const MAX_DELTA_H: f64 = 1000.0;

/// Whether a trajectory from Hamiltonian `h0` to `h1` diverged (`h1 − h0 > 1000` or not finite).
#[inline]
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub fn divergent(h0: f64, h1: f64) -> bool {
    !(h1 - h0 <= MAX_DELTA_H)
}

/// Values per record after the position: (holding time), statistic, energy, kinetic, divergent.
const ROW_EXTRA: usize = 4;

/// The sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Standard HMC, partial momentum refresh, flip on rejection.
    Hmc,
    /// Look-ahead HMC.
    Lahmc,
    /// Continuous-time HMC with detailed balance.
    CtHmc,
    /// Markov-jump HMC (reduced flip rate).
    Mjhmc,
}

impl Method {
    /// Whether the sampler is a continuous-time jump process.
    pub fn is_jump(self) -> bool {
        matches!(self, Method::CtHmc | Method::Mjhmc)
    }

    /// Parses `"hmc" | "lahmc" | "ct_hmc" | "mjhmc"`.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] for another name.
    pub fn parse(s: &str) -> Result<Self, HmcError> {
        match s {
            "hmc" => Ok(Method::Hmc),
            "lahmc" => Ok(Method::Lahmc),
            "ct_hmc" => Ok(Method::CtHmc),
            "mjhmc" => Ok(Method::Mjhmc),
            _ => Err(HmcError::Invalid {
                arg: "method",
                msg: format!("expected 'hmc', 'lahmc', 'ct_hmc' or 'mjhmc', got {s:?}"),
            }),
        }
    }
}

/// Settings of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Sampler.
    pub method: Method,
    /// Leapfrog step size `ε > 0`.
    pub step_size: f64,
    /// Leapfrog steps per trajectory `M ≥ 1`.
    pub n_leapfrog: usize,
    /// Partial refresh `β ∈ (0, 1]` of the discrete samplers (`hmc`, `lahmc`).
    pub beta: f64,
    /// Full-refresh rate `λ ≥ 0` of the jump samplers (`−ln(1 − β)/2` matches `β`).
    pub refresh_rate: f64,
    /// Look-ahead steps `K ≥ 1` (`lahmc`; `hmc` uses 1).
    pub look_ahead: usize,
    /// Keep `L z` and `L⁻¹ z` between jumps (jump samplers). Off: recompute every time
    /// (identical moves up to round-off; for checks).
    pub cache: bool,
    /// Record every `thin`-th iteration (discrete samplers; 1 for jump samplers).
    pub thin: usize,
}

impl Config {
    /// Checks every field.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), HmcError> {
        let bad = |arg, msg: String| Err(HmcError::Invalid { arg, msg });
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            return bad(
                "step_size",
                format!("must be finite and > 0, got {}", self.step_size),
            );
        }
        if self.n_leapfrog == 0 || self.n_leapfrog > 100_000 {
            return bad(
                "n_leapfrog",
                format!("must be in [1, 100000], got {}", self.n_leapfrog),
            );
        }
        if self.method.is_jump() {
            if !(self.refresh_rate.is_finite() && self.refresh_rate >= 0.0) {
                return bad(
                    "refresh_rate",
                    format!("must be finite and ≥ 0, got {}", self.refresh_rate),
                );
            }
            if self.thin != 1 {
                return bad(
                    "thin",
                    format!(
                        "jump samplers record every jump (thin = 1), got {}",
                        self.thin
                    ),
                );
            }
        } else {
            if !(self.beta > 0.0 && self.beta <= 1.0) {
                return bad("beta", format!("must be in (0, 1], got {}", self.beta));
            }
            if self.thin == 0 {
                return bad("thin", "must be ≥ 1, got 0".into());
            }
        }
        if self.look_ahead == 0 || self.look_ahead > 64 {
            return bad(
                "look_ahead",
                format!("must be in [1, 64], got {}", self.look_ahead),
            );
        }
        Ok(())
    }

    fn k(&self) -> usize {
        match self.method {
            Method::Lahmc => self.look_ahead,
            _ => 1,
        }
    }
}

/// Records of one run, every array in chain order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Number of chains.
    pub n_chains: usize,
    /// Records per chain.
    pub n_records: usize,
    /// Dimension.
    pub dim: usize,
    /// Positions, `n_chains × n_records × dim`: the draws (discrete samplers) or the states
    /// occupied during each holding time (jump samplers).
    pub x: Vec<f64>,
    /// Holding times, `n_chains × n_records` (jump samplers; empty otherwise).
    pub tau: Vec<f64>,
    /// Move codes, `n_chains × n_records`: 0 = flip, `a ≥ 1` = `L^a` (`L` or `FL` for jump
    /// samplers), [`MOVE_REFRESH`] = full refresh.
    pub moves: Vec<u8>,
    /// HMC acceptance statistic `min(1, e^{−ΔH})` of the first trajectory, `n_chains × n_records`.
    pub accept: Vec<f64>,
    /// Potential energy `E(x)` of each record, `n_chains × n_records`.
    pub energy: Vec<f64>,
    /// Kinetic energy `K(p)` of each record (its momentum before the refresh that follows it),
    /// `n_chains × n_records`: `energy + kinetic` is the Hamiltonian (ArviZ's `energy`).
    pub kinetic: Vec<f64>,
    /// Whether the (first) trajectory of the iteration diverged: its energy error
    /// `H(L z) − H(z)` exceeded [`MAX_DELTA_H`] or was not finite, `n_chains × n_records`.
    pub diverging: Vec<bool>,
    /// Gradient evaluations per chain while recording.
    pub grads: Vec<u64>,
    /// Gradient evaluations per chain during warm-up.
    pub warmup_grads: Vec<u64>,
}

struct Chain {
    rng: Pcg64Mcg,
    // boxed, so that the swaps of an accepted move exchange pointers, not 80-byte structs (a
    // by-value swap, read back at once, stalls on store forwarding)
    cur: Box<Phase>,
    h: f64,
    #[allow(clippy::vec_box)]
    slots: Vec<Box<Phase>>,
    hs: Vec<f64>,
    have: [bool; 2],
    pending: [usize; 2],
    // where each pending trajectory starts (see `Src`)
    src: [Src; 2],
    n_pending: usize,
    // this iteration leaves its trajectories' starts where they are (`Src`): the per-chain
    // driver, whose `integrate` reads them from there
    lazy: bool,
    bwd_pending: bool,
    // mjhmc: the rate pair (`mjhmc_rate_pair`) of the current state, while it holds
    rate_pair: Option<(f64, f64)>,
    la: LookAhead,
    u: f64,
    a: usize,
    cum: f64,
    scratch: Vec<f64>,
    grads: u64,
    warmup_grads: u64,
    iter: u64,
    stat: f64,
    div: bool,
    // kinetic energy of the state to record (before the refresh that follows)
    kin: f64,
    // the records, one row per record in one stream: `x` (d values), the holding time (jump
    // samplers), the acceptance statistic, the energy; split by `Sampler::output`
    rec: BigVec<f64>,
    moves: BigVec<u8>,
}

/// Where a pending trajectory starts: in its slot already (`Ready`), at the current state (its
/// momentum negated when `flip`), or in another slot. Only the per-chain driver leaves starts
/// outside their slots ([`leapfrog_from`] reads them there, sparing a copy); the other drivers
/// get every start copied into its slot by [`Chain::request`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum Src {
    Ready,
    Cur { flip: bool },
    Slot(usize),
}

/// What the chain logic needs from the run.
struct Ctx<'a> {
    cfg: &'a Config,
    metric: &'a Metric,
    ln_lambda: f64,
    lambda: f64,
    // (fraction, seed) of the step-size and path-length jitter, or None
    jitter: Option<(f64, u64)>,
}

impl Ctx<'_> {
    /// Step size and leapfrog steps of iteration `iter`: the settings, or with a jitter `j`
    /// `ε (1 + j (2u − 1))` and a uniform integer in `[round((1 − j) M), round((1 + j) M)]`
    /// (at least 1), the same for every chain at that iteration (drawn from the run's seed and
    /// the iteration index, so no thread count or driver changes them). Each iteration is then
    /// an exact HMC kernel with its own settings, so the mixture keeps the target invariant,
    /// and a fixed path length cannot resonate with one coordinate.
    #[inline]
    fn steps(&self, iter: u64) -> (f64, usize) {
        let (eps, m) = (self.cfg.step_size, self.cfg.n_leapfrog);
        let Some((j, seed)) = self.jitter else {
            return (eps, m);
        };
        let a = crate::rng::splitmix64(stream_seed(seed, iter ^ 0x4A17_7E12_0000_0000));
        let b = crate::rng::splitmix64(a);
        let (u1, u2) = (
            (a >> 11) as f64 / (1u64 << 53) as f64,
            (b >> 11) as f64 / (1u64 << 53) as f64,
        );
        let lo = (((1.0 - j) * m as f64).round() as usize).max(1);
        let hi = (((1.0 + j) * m as f64).round() as usize).max(lo);
        let n = (lo + (u2 * (hi - lo + 1) as f64) as usize).min(hi);
        (eps * (1.0 + j * (2.0 * u1 - 1.0)), n)
    }
}

impl Chain {
    fn new(d: usize, n_slots: usize, k: usize, seed: u64, stream: u64, x0: &[f64]) -> Self {
        let mut cur = Box::new(Phase::zeros(d));
        cur.x.copy_from_slice(x0);
        Chain {
            rng: Pcg64Mcg::seed_from_u64(stream_seed(seed, stream)),
            cur,
            h: 0.0,
            slots: (0..n_slots).map(|_| Box::new(Phase::zeros(d))).collect(),
            hs: vec![f64::INFINITY; n_slots],
            have: [false; 2],
            pending: [0; 2],
            src: [Src::Ready; 2],
            n_pending: 0,
            lazy: false,
            bwd_pending: false,
            rate_pair: None,
            la: LookAhead::new(k),
            u: 0.0,
            a: 0,
            cum: 0.0,
            scratch: vec![0.0; d],
            grads: 0,
            warmup_grads: 0,
            iter: 0,
            stat: 0.0,
            div: false,
            kin: 0.0,
            rec: BigVec::new(),
            moves: BigVec::new(),
        }
    }

    /// Draws a fresh momentum and recomputes `H`; forgets the cached trajectories.
    fn resample_momentum(&mut self, metric: &Metric) {
        metric.sample_momentum(&mut self.rng, &mut self.cur.p);
        self.h = hamiltonian(metric, &self.cur);
        self.have = [false; 2];
    }

    fn request(&mut self, slot: usize, from_cur: bool, backward: bool) {
        if from_cur && self.lazy {
            self.src[self.n_pending] = Src::Cur { flip: backward };
        } else {
            if from_cur {
                let (cur, slots) = (&self.cur, &mut self.slots);
                slots[slot].copy_from(cur);
            }
            if backward {
                self.slots[slot].flip();
            }
            self.src[self.n_pending] = Src::Ready;
        }
        self.bwd_pending |= backward;
        self.pending[self.n_pending] = slot;
        self.n_pending += 1;
    }

    /// Starts an iteration: sets the trajectories to integrate (possibly none). `lazy`: leave
    /// their starts where they are (see [`Src`]; only for [`Chain::integrate`]).
    fn begin(&mut self, cx: &Ctx, lazy: bool) {
        self.lazy = lazy;
        self.n_pending = 0;
        self.bwd_pending = false;
        match cx.cfg.method {
            Method::Hmc => self.request(0, true, false),
            Method::Lahmc => {
                self.u = self.rng.random();
                self.la.reset(self.h);
                self.a = 0;
                self.cum = 0.0;
                self.request(0, true, false);
            }
            Method::CtHmc | Method::Mjhmc => {
                if !self.have[0] {
                    self.request(0, true, false);
                }
                if cx.cfg.method == Method::Mjhmc && !self.have[1] {
                    self.request(1, true, true);
                }
            }
        }
    }

    /// Integrates the pending trajectories with a native target.
    fn integrate<T: Target + ?Sized>(&mut self, t: &T, metric: &Metric, eps: f64, n: usize) {
        for i in 0..self.n_pending {
            let s = self.pending[i];
            let v = &mut self.scratch;
            self.grads += match std::mem::replace(&mut self.src[i], Src::Ready) {
                Src::Ready => leapfrog(t, metric, eps, n, &mut self.slots[s], v),
                Src::Cur { flip } => {
                    leapfrog_from(t, metric, eps, n, &self.cur, flip, &mut self.slots[s], v)
                }
                Src::Slot(j) => {
                    // (a look-ahead trajectory continues the one before it: j < s)
                    let (lo, hi) = self.slots.split_at_mut(s);
                    leapfrog_from(t, metric, eps, n, &lo[j], false, &mut hi[0], v)
                }
            };
        }
    }

    fn push_record(&mut self, mv: u8, tau: Option<f64>) {
        self.rec.extend_from_slice(&self.cur.x);
        let div = if self.div { 1.0 } else { 0.0 };
        match tau {
            Some(t) => self
                .rec
                .extend_from_slice(&[t, self.stat, self.cur.e, self.kin, div]),
            None => self
                .rec
                .extend_from_slice(&[self.stat, self.cur.e, self.kin, div]),
        }
        self.moves.extend_from_slice(&[mv]);
    }

    fn finish_discrete(&mut self, cx: &Ctx, mv: u8, record: bool) {
        if record {
            self.kin = cx.metric.kinetic(&self.cur.p);
        }
        cx.metric.refresh(
            &mut self.rng,
            cx.cfg.beta,
            &mut self.cur.p,
            &mut self.scratch,
        );
        self.h = hamiltonian(cx.metric, &self.cur);
        self.iter += 1;
        if record && self.iter.is_multiple_of(cx.cfg.thin as u64) {
            self.push_record(mv, None);
        }
    }

    /// Continues after the pending trajectories were integrated. `Ok(true)`: more trajectories
    /// are pending; `Ok(false)`: the iteration is done.
    fn resume(&mut self, cx: &Ctx, record: bool, chain: usize) -> Result<bool, HmcError> {
        let metric = cx.metric;
        match cx.cfg.method {
            Method::Hmc => {
                let h1 = hamiltonian(metric, &self.slots[0]);
                let pacc = hmc_accept(self.h, h1);
                let u: f64 = self.rng.random();
                self.stat = pacc;
                self.div = divergent(self.h, h1);
                let mv = if u < pacc {
                    std::mem::swap(&mut self.cur, &mut self.slots[0]);
                    1
                } else {
                    self.cur.flip();
                    0
                };
                self.finish_discrete(cx, mv, record);
                Ok(false)
            }
            Method::Lahmc => {
                self.a += 1;
                let a = self.a;
                let ha = hamiltonian(metric, &self.slots[a - 1]);
                let pa = self.la.push(ha);
                if a == 1 {
                    self.stat = pa;
                    self.div = divergent(self.h, ha);
                }
                self.cum += pa;
                if self.u < self.cum {
                    std::mem::swap(&mut self.cur, &mut self.slots[a - 1]);
                    self.finish_discrete(cx, a as u8, record);
                    Ok(false)
                } else if a < cx.cfg.look_ahead && ha.is_finite() {
                    self.n_pending = 0;
                    if self.lazy {
                        self.request(a, false, false);
                        self.src[0] = Src::Slot(a - 1);
                    } else {
                        let (lo, hi) = self.slots.split_at_mut(a);
                        hi[0].copy_from(&lo[a - 1]);
                        self.request(a, false, false);
                    }
                    Ok(true)
                } else {
                    self.cur.flip();
                    self.finish_discrete(cx, 0, record);
                    Ok(false)
                }
            }
            Method::CtHmc | Method::Mjhmc => {
                let fresh = self.n_pending > 0;
                for i in 0..self.n_pending {
                    let s = self.pending[i];
                    if s == 1 && self.bwd_pending {
                        self.slots[1].flip();
                    }
                    self.hs[s] = hamiltonian(metric, &self.slots[s]);
                    self.have[s] = true;
                }
                self.n_pending = 0;
                self.bwd_pending = false;
                let mj = cx.cfg.method == Method::Mjhmc;
                let e: f64 = Exp1.sample(&mut self.rng);
                let u: f64 = self.rng.random();
                // the rates in linear form when they cannot overflow (two exponentials), else
                // in log form (robust far from equilibrium)
                let fast = if mj {
                    // after an F jump (nothing integrated since) the pair is the last one swapped
                    if fresh || self.rate_pair.is_none() {
                        self.rate_pair = mjhmc_rate_pair(self.h, self.hs[0], self.hs[1]);
                    }
                    self.rate_pair.map(|p| mjhmc_rates_of_pair(p, cx.lambda))
                } else {
                    ct_rates(self.h, self.hs[0], cx.lambda)
                };
                let picked = match fast {
                    Some(r) => {
                        // min(1, e^{H − H(Lz)}) = min(1, r_L²)
                        self.stat = (r[0] * r[0]).min(1.0);
                        pick_jump_linear(&r, e, u)
                    }
                    None => {
                        self.stat = hmc_accept(self.h, self.hs[0]);
                        let lr = if mj {
                            mjhmc_log_rates(self.h, self.hs[0], self.hs[1], cx.ln_lambda)
                        } else {
                            ct_log_rates(self.h, self.hs[0], cx.ln_lambda)
                        };
                        pick_jump(&lr, e, u)
                    }
                };
                let (j, tau) = picked.ok_or(HmcError::Stuck { chain })?;
                self.div = divergent(self.h, self.hs[0]);
                self.kin = self.h - self.cur.e;
                let mv = [1u8, 0, MOVE_REFRESH][j];
                if record {
                    self.push_record(mv, Some(tau));
                }
                self.iter += 1;
                match j {
                    0 if mj => {
                        // L jump: L⁻¹(Lz) = z is known, L(Lz) is not
                        std::mem::swap(&mut self.cur, &mut self.slots[0]);
                        self.slots.swap(0, 1);
                        self.hs[1] = self.h;
                        self.h = self.hs[0];
                        self.have = [false, true];
                    }
                    0 => {
                        // FL jump: L(FLz) = Fz is known
                        std::mem::swap(&mut self.cur, &mut self.slots[0]);
                        self.cur.flip();
                        self.slots[0].flip();
                        std::mem::swap(&mut self.h, &mut self.hs[0]);
                        self.have = [true, false];
                    }
                    1 => {
                        // F jump: L(Fz) = F L⁻¹ z and L⁻¹(Fz) = F L z, no gradient; the rates
                        // trade places too
                        self.rate_pair = self.rate_pair.map(|(a, b)| (b, a));
                        self.cur.flip();
                        self.slots.swap(0, 1);
                        self.slots[0].flip();
                        self.slots[1].flip();
                        self.hs.swap(0, 1);
                        self.have.swap(0, 1);
                    }
                    _ => self.resample_momentum(metric),
                }
                if j != 1 {
                    self.rate_pair = None;
                }
                if !cx.cfg.cache {
                    self.have = [false; 2];
                }
                Ok(false)
            }
        }
    }
}

/// Many chains of one sampler on one target, advanced in chunks of iterations.
pub struct Sampler {
    /// Settings (the step size and metric change during warm-up).
    pub cfg: Config,
    /// The inverse mass matrix.
    pub metric: Metric,
    dim: usize,
    chains: Vec<Chain>,
    adapt: Option<Adapt>,
    initialised: bool,
    jitter: Option<(f64, u64)>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("cfg", &self.cfg)
            .field("dim", &self.dim)
            .field("n_chains", &self.chains.len())
            .finish()
    }
}

fn lockstep(
    chains: &mut [Chain],
    active: &[bool],
    target: &mut dyn BatchTarget,
    metric: &Metric,
    eps: f64,
    n_steps: usize,
) -> Result<(), HmcError> {
    let d = target.dim();
    let n_chains = chains.len();
    let mut rows: Vec<(usize, &mut Phase)> = Vec::new();
    for (ci, ch) in chains.iter_mut().enumerate() {
        if !active[ci] {
            continue;
        }
        let pend = &ch.pending[..ch.n_pending];
        for (si, s) in ch.slots.iter_mut().enumerate() {
            if pend.contains(&si) {
                rows.push((ci, s));
            }
        }
    }
    let n = rows.len();
    let mut xs = vec![0.0; n * d];
    let mut es = vec![0.0; n];
    let mut gs = vec![0.0; n * d];
    let mut v = vec![0.0; d];
    let mut grads = vec![0u64; n_chains];
    let mut live: Vec<usize> = Vec::with_capacity(n);
    for k in 0..n_steps {
        let kappa = if k == 0 { 0.5 * eps } else { eps };
        live.clear();
        for (r, row) in rows.iter_mut().enumerate() {
            let z = &mut *row.1;
            if !z.ok() {
                continue;
            }
            if kick_drift(metric, kappa, eps, z, &mut v) {
                xs[live.len() * d..(live.len() + 1) * d].copy_from_slice(&z.x);
                live.push(r);
            } else {
                z.e = f64::INFINITY;
            }
        }
        if live.is_empty() {
            break;
        }
        let m = live.len();
        target.energy_grad_batch(&xs[..m * d], &mut es[..m], &mut gs[..m * d])?;
        let last = k + 1 == n_steps;
        for (j, &r) in live.iter().enumerate() {
            let (ci, z) = (rows[r].0, &mut *rows[r].1);
            z.g.copy_from_slice(&gs[j * d..(j + 1) * d]);
            if last {
                z.e = sanitize(es[j]);
                kick_last(eps, z);
            }
            grads[ci] += 1;
        }
    }
    drop(rows);
    for (ch, g) in chains.iter_mut().zip(grads) {
        ch.grads += g;
    }
    Ok(())
}

fn iterate_native<T: Target + ?Sized>(
    ch: &mut Chain,
    cx: &Ctx,
    t: &T,
    record: bool,
    chain: usize,
) -> Result<(), HmcError> {
    ch.begin(cx, true);
    if record {
        // the record row this iteration will write, fetched while the trajectories run
        let row = ch.cur.x.len() + ROW_EXTRA + usize::from(cx.cfg.method.is_jump());
        ch.rec.prefetch_append(row);
    }
    loop {
        let (eps, n) = cx.steps(ch.iter);
        ch.integrate(t, cx.metric, eps, n);
        if !ch.resume(cx, record, chain)? {
            return Ok(());
        }
    }
}

/// A built-in target as the type a run is compiled for: its own type where one exists (the
/// energy inlined into the leapfrog loop, lane kernels), else the enum itself.
enum Specialised<'a> {
    RoughWell(RoughWell),
    Diag(DiagGaussian<'a>),
    Generic(&'a Builtin),
}

impl<'a> Specialised<'a> {
    fn of(t: &'a Builtin) -> Self {
        match t {
            &Builtin::RoughWell { d, a, b } => Specialised::RoughWell(RoughWell { d, a, b }),
            Builtin::GaussianDiag { c } => Specialised::Diag(DiagGaussian { c }),
            _ => Specialised::Generic(t),
        }
    }
}

/// Most chains advanced side by side on one thread by the grouped driver (see [`Sampler::run`]).
const GROUP: usize = 16;
/// Most chains advanced by one lane driver ([`run_lanes`]).
const LANE_GROUP: usize = 2 * LANES;
/// Largest dimension run in groups by the scalar grouped driver (targets without lane kernels).
const GROUP_MAX_DIM: usize = 8;
/// Largest dimension run through a target's lane kernel.
const LANES_MAX_DIM: usize = 8;

/// Group size for `n` chains on `threads` threads: at most `max`, and a number of groups
/// that is a multiple of the thread count where possible (so the threads get equal shares).
/// Chains never interact, so the grouping does not change any result.
fn group_size(n: usize, threads: usize, max: usize) -> usize {
    let t = threads.max(1);
    let n_groups = n.div_ceil(max * t).max(1) * t;
    n.div_ceil(n_groups).clamp(1, max)
}

/// Scratch of the grouped driver: the bookkeeping and the structure-of-arrays buffers of the
/// lane kernels (`d` rows of [`LANES`] values).
struct GroupWork {
    active: Vec<bool>,
    live: Vec<(usize, usize)>,
    grads: Vec<u64>,
    // the queue driver: trajectories waiting for a block, and per chain the trajectories it
    // still waits for and the iterations it has left
    queue: std::collections::VecDeque<(usize, usize)>,
    waiting: Vec<u8>,
    left: Vec<usize>,
    v: Vec<f64>,
    x: Vec<[f64; LANES]>,
    p: Vec<[f64; LANES]>,
    g: Vec<[f64; LANES]>,
}

impl GroupWork {
    fn new(n: usize, d: usize, lanes: bool) -> Self {
        let rows = if lanes { d } else { 0 };
        GroupWork {
            active: vec![false; n],
            live: Vec::with_capacity(2 * n),
            grads: vec![0; n],
            queue: std::collections::VecDeque::with_capacity(2 * n + LANES),
            waiting: vec![0; n],
            left: vec![0; n],
            v: vec![0.0; d],
            x: vec![[0.0; LANES]; rows],
            p: vec![[0.0; LANES]; rows],
            g: vec![[0.0; LANES]; rows],
        }
    }
}

/// Whether the grouped driver runs `t` through its lane kernel with `metric`.
fn uses_lanes<T: Target + ?Sized>(t: &T, metric: &Metric) -> bool {
    matches!(metric, Metric::Diag { .. }) && t.has_lanes() && metric.dim() <= LANES_MAX_DIM
}

/// One iteration of every chain of `group`, their trajectories integrated in lock step with a
/// native target: the same operations per trajectory as [`leapfrog`](super::metric::leapfrog)
/// (and as [`lockstep`]), so the same bits as [`iterate_native`] chain by chain.
fn iterate_group<T: Target + ?Sized>(
    group: &mut [Chain],
    cx: &Ctx,
    t: &T,
    record: bool,
    first: usize,
    w: &mut GroupWork,
) -> Result<(), HmcError> {
    for (a, ch) in w.active.iter_mut().zip(group.iter_mut()) {
        ch.begin(cx, false);
        *a = true;
    }
    // every chain of the group is at the same iteration (look-ahead trajectories of lahmc
    // included: the settings are those of the iteration's start)
    let (eps, n) = cx.steps(group[0].iter);
    loop {
        lockstep_native(group, w, t, cx.metric, eps, n);
        let mut any = false;
        for (c, ch) in group.iter_mut().enumerate() {
            if w.active[c] {
                w.active[c] = ch.resume(cx, record, first + c)?;
                any |= w.active[c];
            }
        }
        if !any {
            return Ok(());
        }
    }
}

/// `n_iter` iterations of every chain of `group` through the target's lane kernel, with full
/// blocks: the chains advance independently, each pending trajectory joins one queue, and the
/// queue is integrated [`LANES`] trajectories at a time; a chain whose trajectories are all back
/// resumes at once and queues its next ones. Chain `c` sees the same operations in the same order
/// as under [`iterate_native`] (its own stream; a lane computes what one chain would), so the
/// same bits; only the interleaving of chains differs. (Rounds in lock step, as
/// [`iterate_group`] runs them, leave blocks ≈ 20 % empty: a jump sampler's iteration needs 0, 1
/// or 2 trajectories.)
fn run_lanes<T: Target + ?Sized>(
    group: &mut [Chain],
    cx: &Ctx,
    t: &T,
    n_iter: usize,
    record: bool,
    first: usize,
    w: &mut GroupWork,
) -> Result<(), HmcError> {
    w.queue.clear();
    w.left.fill(n_iter);
    w.active.fill(false);
    for c in 0..group.len() {
        advance(group, c, cx, record, first, w)?;
    }
    let mut block = [(0usize, 0usize); LANES];
    while !w.queue.is_empty() {
        let n = w.queue.len().min(LANES);
        for (b, q) in block.iter_mut().zip(w.queue.drain(..n)) {
            *b = q;
        }
        let block = &block[..n];
        integrate_lanes(
            group,
            block,
            t,
            cx.metric,
            cx.cfg.step_size,
            cx.cfg.n_leapfrog,
            w,
        );
        for &(ci, _) in block {
            group[ci].grads += std::mem::take(&mut w.grads[ci]);
            w.waiting[ci] -= 1;
            if w.waiting[ci] == 0 {
                advance(group, ci, cx, record, first, w)?;
            }
        }
    }
    Ok(())
}

/// Moves chain `c` of `group` on (resumes its iteration, or begins the next while it has
/// iterations left) until it waits for trajectories, which join `w.queue`, or is done.
/// `w.active[c]`: an iteration of chain `c` is under way.
fn advance(
    group: &mut [Chain],
    c: usize,
    cx: &Ctx,
    record: bool,
    first: usize,
    w: &mut GroupWork,
) -> Result<(), HmcError> {
    let ch = &mut group[c];
    loop {
        if w.active[c] {
            w.active[c] = ch.resume(cx, record, first + c)?;
            if !w.active[c] {
                w.left[c] -= 1;
                continue;
            }
        } else if w.left[c] == 0 {
            return Ok(());
        } else {
            ch.begin(cx, false);
            w.active[c] = true;
        }
        // the trajectories just requested (a diverged state is not integrated: as in
        // `lockstep_native`, it stays divergent)
        let mut k = 0;
        for &s in &ch.pending[..ch.n_pending] {
            if ch.slots[s].ok() {
                w.queue.push_back((c, s));
                k += 1;
            }
        }
        if k > 0 {
            w.waiting[c] = k;
            return Ok(());
        }
    }
}

/// The pending trajectories of the active chains of `group`, `n_steps` leapfrog steps each,
/// step by step across the group (rows that diverge drop out, as in [`lockstep`]).
fn lockstep_native<T: Target + ?Sized>(
    group: &mut [Chain],
    w: &mut GroupWork,
    t: &T,
    metric: &Metric,
    eps: f64,
    n_steps: usize,
) {
    w.live.clear();
    for (ci, ch) in group.iter().enumerate() {
        if w.active[ci] {
            for &s in &ch.pending[..ch.n_pending] {
                if ch.slots[s].ok() {
                    w.live.push((ci, s));
                }
            }
        }
    }
    w.grads.fill(0);
    for k in 0..n_steps {
        if w.live.is_empty() {
            break;
        }
        let kappa = if k == 0 { 0.5 * eps } else { eps };
        let v = &mut w.v;
        w.live.retain(|&(ci, s)| {
            let z = &mut group[ci].slots[s];
            let ok = kick_drift(metric, kappa, eps, z, v);
            if !ok {
                z.e = f64::INFINITY;
            }
            ok
        });
        let last = k + 1 == n_steps;
        for &(ci, s) in &w.live {
            let z = &mut group[ci].slots[s];
            if last {
                z.e = sanitize(t.energy_grad(&z.x, &mut z.g));
                kick_last(eps, z);
            } else {
                t.grad(&z.x, &mut z.g);
            }
            w.grads[ci] += 1;
        }
    }
    for (ch, &g) in group.iter_mut().zip(&w.grads) {
        ch.grads += g;
    }
}

/// Up to [`LANES`] trajectories `(chain, slot)` of `group`, integrated together in
/// structure-of-arrays form with the target's lane kernel and a diagonal metric: lane by lane the
/// operations of [`leapfrog`](super::metric::leapfrog), so the same bits (a block in which any
/// value turns non-finite is redone by `leapfrog` itself, trajectory by trajectory). Adds each
/// trajectory's gradient evaluations to `w.grads[chain]`.
fn integrate_lanes<T: Target + ?Sized>(
    group: &mut [Chain],
    block: &[(usize, usize)],
    t: &T,
    metric: &Metric,
    eps: f64,
    n_steps: usize,
    w: &mut GroupWork,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above); no FMA contraction, so
            // the wider vectors give the same bits as the plain path.
            return unsafe { integrate_lanes_avx512(group, block, t, metric, eps, n_steps, w) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above); no FMA contraction, so the
            // wider vectors give the same bits as the plain path.
            return unsafe { integrate_lanes_avx2(group, block, t, metric, eps, n_steps, w) };
        }
    }
    integrate_lanes_body(group, block, t, metric, eps, n_steps, w)
}

/// The trajectories of `block` one by one with [`leapfrog`].
fn leapfrog_each<T: Target + ?Sized>(
    group: &mut [Chain],
    block: &[(usize, usize)],
    t: &T,
    metric: &Metric,
    eps: f64,
    n_steps: usize,
    w: &mut GroupWork,
) {
    for &(ci, s) in block {
        let ch = &mut group[ci];
        let (z, v) = (&mut ch.slots[s], &mut ch.scratch);
        w.grads[ci] += leapfrog(t, metric, eps, n_steps, z, v);
    }
}

/// [`integrate_lanes`] compiled with AVX2 enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn integrate_lanes_avx2<T: Target + ?Sized>(
    group: &mut [Chain],
    block: &[(usize, usize)],
    t: &T,
    metric: &Metric,
    eps: f64,
    n_steps: usize,
    w: &mut GroupWork,
) {
    integrate_lanes_body(group, block, t, metric, eps, n_steps, w)
}

/// [`integrate_lanes`] compiled with AVX-512F enabled ([`LANES`] = 16 values are two registers).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn integrate_lanes_avx512<T: Target + ?Sized>(
    group: &mut [Chain],
    block: &[(usize, usize)],
    t: &T,
    metric: &Metric,
    eps: f64,
    n_steps: usize,
    w: &mut GroupWork,
) {
    integrate_lanes_body(group, block, t, metric, eps, n_steps, w)
}

#[inline(always)]
fn integrate_lanes_body<T: Target + ?Sized>(
    group: &mut [Chain],
    block: &[(usize, usize)],
    t: &T,
    metric: &Metric,
    eps: f64,
    n_steps: usize,
    w: &mut GroupWork,
) {
    let Metric::Diag { minv, .. } = metric else {
        // (the lane driver runs only with a diagonal metric)
        return leapfrog_each(group, block, t, metric, eps, n_steps, w);
    };
    let d = minv.len();
    let (x, p, g) = (&mut w.x[..d], &mut w.p[..d], &mut w.g[..d]);
    for row in x.iter_mut().chain(p.iter_mut()).chain(g.iter_mut()) {
        *row = [0.0; LANES];
    }
    for (r, &(ci, s)) in block.iter().enumerate().take(LANES) {
        let z = &group[ci].slots[s];
        let (zx, zp, zg) = (&z.x[..d], &z.p[..d], &z.g[..d]);
        for i in 0..d {
            x[i][r] = zx[i];
            p[i][r] = zp[i];
            g[i][r] = zg[i];
        }
    }
    // the plain arithmetic of `leapfrog` lane by lane while every value stays finite; the first
    // non-finite momentum (or a non-finite final energy) in any lane sends the whole block to
    // the scalar `leapfrog` instead, from the starts still in the slots, which stops that
    // trajectory where it diverged: the same bits either way
    let mut en = [0.0; LANES];
    let mut diverged = false;
    for k in 0..n_steps {
        let kappa = if k == 0 { 0.5 * eps } else { eps };
        let mut bad = [0u64; LANES];
        for ((xi, pi), (gi, &m)) in x.iter_mut().zip(p.iter_mut()).zip(g.iter().zip(minv)) {
            for r in 0..LANES {
                pi[r] -= kappa * gi[r];
                bad[r] |= non_finite(pi[r]);
                xi[r] += eps * (m * pi[r]);
            }
        }
        if bad.iter().fold(0, |a, &b| a | b) != 0 {
            diverged = true;
            break;
        }
        let last = k + 1 == n_steps;
        t.grad_lanes(x, g, if last { Some(&mut en) } else { None });
    }
    if !diverged {
        let h = 0.5 * eps;
        let mut bad = [0u64; LANES];
        for (pi, gi) in p.iter_mut().zip(g.iter()) {
            for r in 0..LANES {
                pi[r] -= h * gi[r];
                bad[r] |= non_finite(pi[r]);
            }
        }
        for r in 0..LANES {
            bad[r] |= non_finite(en[r]);
        }
        diverged = bad.iter().fold(0, |a, &b| a | b) != 0;
    }
    if diverged {
        return leapfrog_each(group, block, t, metric, eps, n_steps, w);
    }
    for (r, &(ci, s)) in block.iter().enumerate().take(LANES) {
        let z = &mut group[ci].slots[s];
        let (zx, zp, zg) = (&mut z.x[..d], &mut z.p[..d], &mut z.g[..d]);
        for i in 0..d {
            zx[i] = x[i][r];
            zp[i] = p[i][r];
            zg[i] = g[i][r];
        }
        z.e = en[r];
        w.grads[ci] += n_steps as u64;
    }
}

impl Sampler {
    /// Chains started at the rows of `x0` (`n_chains × dim`); chain `c` uses the stream
    /// `stream_seed(seed, c)`. Call [`Sampler::init`] or [`Sampler::init_batched`] next.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] for bad settings, a metric of the wrong dimension, or a bad `x0`.
    pub fn new(
        cfg: Config,
        metric: Metric,
        x0: &[f64],
        n_chains: usize,
        seed: u64,
    ) -> Result<Self, HmcError> {
        cfg.validate()?;
        let d = metric.dim();
        if n_chains == 0 {
            return Err(HmcError::Invalid {
                arg: "n_chains",
                msg: "must be ≥ 1, got 0".into(),
            });
        }
        if d == 0 || x0.len() != n_chains * d {
            return Err(HmcError::Invalid {
                arg: "x0",
                msg: format!("expected {n_chains} × {d} values, got {}", x0.len()),
            });
        }
        if let Some(i) = x0.iter().position(|v| !v.is_finite()) {
            return Err(HmcError::Invalid {
                arg: "x0",
                msg: format!(
                    "chain {} coordinate {} is not finite ({})",
                    i / d,
                    i % d,
                    x0[i]
                ),
            });
        }
        let k = cfg.k();
        let n_slots = k.max(2);
        // Every chain's state (its phase points, caches, look-ahead slots and bookkeeping) is
        // probed as one allocation first, so a run that does not fit the address space is an
        // error here, not an abort in one of the many small allocations below.
        let per_chain = (n_slots + 2)
            .saturating_mul(3 * d + 8)
            .saturating_add(d)
            .saturating_add(2 * k + 64)
            .saturating_mul(std::mem::size_of::<f64>())
            .saturating_add(std::mem::size_of::<Chain>());
        let too_big = |_| HmcError::Invalid {
            arg: "n_chains",
            msg: format!(
                "{n_chains} chains in dimension {d} need about {} bytes of state, more than \
                 this process may allocate",
                n_chains.saturating_mul(per_chain)
            ),
        };
        drop(
            crate::mem::try_with_capacity::<u8>(n_chains.saturating_mul(per_chain))
                .map_err(too_big)?,
        );
        let mut chains = crate::mem::try_with_capacity(n_chains).map_err(too_big)?;
        chains.extend(
            (0..n_chains)
                .map(|c| Chain::new(d, n_slots, k, seed, c as u64, &x0[c * d..(c + 1) * d])),
        );
        Ok(Sampler {
            cfg,
            metric,
            dim: d,
            chains,
            adapt: None,
            initialised: false,
            jitter: None,
        })
    }

    /// Number of chains.
    pub fn n_chains(&self) -> usize {
        self.chains.len()
    }

    /// Jitters the step size and the number of leapfrog steps of every iteration by the fraction
    /// `jitter` in `[0, 1)` (0: off), drawn from `seed` and the iteration index (the same for
    /// every chain); `hmc` and `lahmc` only.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] (`jitter`) outside `[0, 1)` or for a jump sampler.
    pub fn set_jitter(&mut self, jitter: f64, seed: u64) -> Result<(), HmcError> {
        if !(0.0..1.0).contains(&jitter) {
            return Err(HmcError::Invalid {
                arg: "jitter",
                msg: format!("must be in [0, 1), got {jitter}"),
            });
        }
        if jitter > 0.0 && self.cfg.method.is_jump() {
            return Err(HmcError::Invalid {
                arg: "jitter",
                msg: "only for hmc and lahmc (a jump sampler's cached trajectories need fixed settings)"
                    .into(),
            });
        }
        self.jitter = (jitter > 0.0).then_some((jitter, seed));
        Ok(())
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    fn after_init(&mut self) -> Result<(), HmcError> {
        for (c, ch) in self.chains.iter_mut().enumerate() {
            if !ch.cur.e.is_finite() || ch.cur.g.iter().any(|g| !g.is_finite()) {
                return Err(HmcError::Invalid {
                    arg: "x0",
                    msg: format!(
                        "the energy or gradient of the target is not finite at the start of chain {c}"
                    ),
                });
            }
            ch.resample_momentum(&self.metric);
        }
        self.initialised = true;
        Ok(())
    }

    /// Evaluates a native target at the starting points and draws the first momenta.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] if the target's dimension differs, or its energy or gradient is
    /// not finite at a starting point.
    pub fn init<T: Target + ?Sized>(&mut self, t: &T) -> Result<(), HmcError> {
        self.check_dim(t.dim())?;
        for ch in &mut self.chains {
            ch.cur.e = t.energy_grad(&ch.cur.x, &mut ch.cur.g);
        }
        self.after_init()
    }

    /// As [`Sampler::init`] for a batched target (one call for all chains).
    ///
    /// # Errors
    /// As [`Sampler::init`], and the target's own errors.
    pub fn init_batched(&mut self, t: &mut dyn BatchTarget) -> Result<(), HmcError> {
        self.check_dim(t.dim())?;
        let d = self.dim;
        let n = self.chains.len();
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
                arg: "inverse_mass_matrix",
                msg: format!("dimension {} does not match the target's {d}", self.dim),
            });
        }
        Ok(())
    }

    fn check_ready(&self) -> Result<(), HmcError> {
        if self.initialised {
            Ok(())
        } else {
            Err(HmcError::Invalid {
                arg: "sampler",
                msg: "call init before running".into(),
            })
        }
    }

    /// Runs `n_iter` recorded iterations of every chain with a native target, chains in
    /// parallel on `threads` threads (`None`: rayon's global pool).
    ///
    /// # Errors
    /// [`HmcError::Stuck`] when a jump sampler has no move left; pool errors.
    pub fn run<T: Target + ?Sized>(
        &mut self,
        t: &T,
        n_iter: usize,
        threads: Option<usize>,
    ) -> Result<(), HmcError> {
        self.check_ready()?;
        self.reserve(n_iter)?;
        let cx = Ctx {
            cfg: &self.cfg,
            metric: &self.metric,
            ln_lambda: self.cfg.refresh_rate.ln(),
            lambda: self.cfg.refresh_rate,
            jitter: self.jitter,
        };
        let chains = &mut self.chains;
        let lanes = uses_lanes(t, &self.metric) && self.jitter.is_none();
        if lanes || self.dim <= GROUP_MAX_DIM {
            // advance groups of chains side by side: through the target's lane kernel (SIMD
            // across chains), or for small states as independent work for the CPU to overlap
            // (a leapfrog step of one chain is a short dependent chain of operations). Chain c
            // still uses only its own stream, so the bits are those of the per-chain driver.
            let d = self.dim;
            return with_threads(threads, || {
                // the lane driver keeps a queue of at least one trajectory per chain in the
                // group: more chains than lanes, so that every block is full
                let max = if lanes { LANE_GROUP } else { GROUP };
                let gs = group_size(chains.len(), rayon::current_num_threads(), max);
                chains
                    .par_chunks_mut(gs)
                    .enumerate()
                    .try_for_each(|(g, group)| {
                        let mut work = GroupWork::new(group.len(), d, lanes);
                        if lanes {
                            return run_lanes(group, &cx, t, n_iter, true, g * gs, &mut work);
                        }
                        for _ in 0..n_iter {
                            iterate_group(group, &cx, t, true, g * gs, &mut work)?;
                        }
                        Ok(())
                    })
            })?;
        }
        with_threads(threads, || {
            chains.par_iter_mut().enumerate().try_for_each(|(c, ch)| {
                for _ in 0..n_iter {
                    iterate_native(ch, &cx, t, true, c)?;
                }
                Ok(())
            })
        })?
    }

    /// [`Sampler::run`] on a built-in target, compiled for that target where it pays (the rough
    /// well and the diagonal Gaussian: their energy is inlined into the leapfrog loop). The same
    /// bits as `run(t, ..)`.
    ///
    /// # Errors
    /// As [`Sampler::run`].
    pub fn run_builtin(
        &mut self,
        t: &Builtin,
        n_iter: usize,
        threads: Option<usize>,
    ) -> Result<(), HmcError> {
        match Specialised::of(t) {
            Specialised::RoughWell(r) => self.run(&r, n_iter, threads),
            Specialised::Diag(g) => self.run(&g, n_iter, threads),
            Specialised::Generic(b) => self.run(b, n_iter, threads),
        }
    }

    /// Runs `n_iter` recorded iterations with a batched target, all chains in lock step: one
    /// batch call per leapfrog step (rows: the chains that need that trajectory).
    ///
    /// # Errors
    /// The target's errors; [`HmcError::Stuck`].
    pub fn run_batched(&mut self, t: &mut dyn BatchTarget, n_iter: usize) -> Result<(), HmcError> {
        self.check_ready()?;
        self.reserve(n_iter)?;
        for _ in 0..n_iter {
            self.iterate_batched(t, true)?;
        }
        Ok(())
    }

    /// Makes room in every chain's records for `n_iter` more recorded iterations (called by the
    /// runs themselves; calling it once with the whole length first avoids regrowing the
    /// records chunk by chunk). Large record buffers go on huge pages.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] (`n_samples`) when the records do not fit in memory.
    pub fn reserve(&mut self, n_iter: usize) -> Result<(), HmcError> {
        let d = self.dim;
        let per = n_iter / self.cfg.thin + 1;
        let jump = self.cfg.method.is_jump();
        let n_chains = self.chains.len();
        let too_big = |_| HmcError::Invalid {
            arg: "n_samples",
            msg: format!(
                "{per} records of {n_chains} chains in dimension {d} do not fit in memory"
            ),
        };
        let row = d + ROW_EXTRA + usize::from(jump);
        // all of it probed at once first, so that a request that does not fit fails here and
        // leaves the process its memory (not with most chains' records reserved)
        let total = per
            .saturating_mul(row.saturating_mul(8).saturating_add(1))
            .saturating_mul(n_chains);
        let room = |ch: &Chain| {
            ch.rec.capacity() - ch.rec.len() >= per.saturating_mul(row)
                && ch.moves.capacity() - ch.moves.len() >= per
        };
        if self.chains.iter().all(room) {
            return Ok(());
        }
        drop(crate::mem::try_with_capacity::<u8>(total).map_err(too_big)?);
        let mut res = Ok(());
        for ch in &mut self.chains {
            let r = ch
                .rec
                .try_reserve(per.saturating_mul(row))
                .and_then(|()| ch.moves.try_reserve(per));
            if let Err(e) = r {
                res = Err(too_big(e));
                break;
            }
        }
        if res.is_err() {
            // give back what was reserved for chains that have recorded nothing yet
            for ch in &mut self.chains {
                if ch.moves.is_empty() {
                    ch.rec = BigVec::new();
                    ch.moves = BigVec::new();
                }
            }
        }
        res
    }

    fn iterate_batched(&mut self, t: &mut dyn BatchTarget, record: bool) -> Result<(), HmcError> {
        let cx = Ctx {
            cfg: &self.cfg,
            metric: &self.metric,
            ln_lambda: self.cfg.refresh_rate.ln(),
            lambda: self.cfg.refresh_rate,
            jitter: self.jitter,
        };
        let n = self.chains.len();
        let mut active = vec![true; n];
        for ch in &mut self.chains {
            ch.begin(&cx, false);
        }
        let (eps, n_steps) = cx.steps(self.chains[0].iter);
        loop {
            lockstep(&mut self.chains, &active, t, cx.metric, eps, n_steps)?;
            let mut any = false;
            for (c, ch) in self.chains.iter_mut().enumerate() {
                if active[c] {
                    active[c] = ch.resume(&cx, record, c)?;
                    any |= active[c];
                }
            }
            if !any {
                return Ok(());
            }
        }
    }

    /// Starts a warm-up of `plan.n_iter` iterations (step-size dual averaging, windowed
    /// diagonal metric); advance it with [`Sampler::warmup`] / [`Sampler::warmup_batched`].
    ///
    /// # Errors
    /// [`HmcError::Invalid`] for a bad plan (or metric adaptation with a dense metric).
    pub fn start_warmup(&mut self, plan: WarmupPlan) -> Result<(), HmcError> {
        plan.validate()?;
        if plan.adapt_metric && matches!(self.metric, Metric::Dense { .. }) {
            return Err(HmcError::Invalid {
                arg: "inverse_mass_matrix",
                msg: "a dense inverse mass matrix cannot be adapted (diagonal adaptation only); \
                      pass adapt_metric=False or a diagonal matrix"
                    .into(),
            });
        }
        self.adapt = Some(Adapt::new(plan, self.cfg.step_size, self.dim));
        Ok(())
    }

    /// Warm-up iterations left.
    pub fn warmup_left(&self) -> usize {
        self.adapt.as_ref().map_or(0, |a| a.left())
    }

    /// [`Sampler::warmup`] on a built-in target (see [`Sampler::run_builtin`]).
    ///
    /// # Errors
    /// As [`Sampler::warmup`].
    pub fn warmup_builtin(
        &mut self,
        t: &Builtin,
        n_iter: usize,
        threads: Option<usize>,
    ) -> Result<(), HmcError> {
        match Specialised::of(t) {
            Specialised::RoughWell(r) => self.warmup(&r, n_iter, threads),
            Specialised::Diag(g) => self.warmup(&g, n_iter, threads),
            Specialised::Generic(b) => self.warmup(b, n_iter, threads),
        }
    }

    /// Runs up to `n_iter` warm-up iterations with a native target (chains in parallel, adapted
    /// after every iteration in a fixed order).
    ///
    /// # Errors
    /// As [`Sampler::run`].
    pub fn warmup<T: Target + ?Sized>(
        &mut self,
        t: &T,
        n_iter: usize,
        threads: Option<usize>,
    ) -> Result<(), HmcError> {
        self.check_ready()?;
        with_threads(threads, || {
            for _ in 0..n_iter.min(self.warmup_left()) {
                let cx = Ctx {
                    cfg: &self.cfg,
                    metric: &self.metric,
                    ln_lambda: self.cfg.refresh_rate.ln(),
                    lambda: self.cfg.refresh_rate,
                    jitter: self.jitter,
                };
                self.chains
                    .par_iter_mut()
                    .enumerate()
                    .try_for_each(|(c, ch)| iterate_native(ch, &cx, t, false, c))?;
                self.adapt_step();
            }
            Ok(())
        })?
    }

    /// As [`Sampler::warmup`] for a batched target.
    ///
    /// # Errors
    /// As [`Sampler::run_batched`].
    pub fn warmup_batched(
        &mut self,
        t: &mut dyn BatchTarget,
        n_iter: usize,
    ) -> Result<(), HmcError> {
        self.check_ready()?;
        for _ in 0..n_iter.min(self.warmup_left()) {
            self.iterate_batched(t, false)?;
            self.adapt_step();
        }
        Ok(())
    }

    fn adapt_step(&mut self) {
        let Some(ad) = self.adapt.as_mut() else {
            return;
        };
        let stats: Vec<f64> = self.chains.iter().map(|c| c.stat).collect();
        let xs: Vec<&[f64]> = self.chains.iter().map(|c| c.cur.x.as_slice()).collect();
        let upd = ad.update(&stats, &xs);
        self.cfg.step_size = upd.step_size;
        let mut resample = false;
        if let Some(m) = upd.metric.and_then(|minv| Metric::diag(minv).ok()) {
            self.metric = m;
            resample = true;
        }
        let done = ad.left() == 0;
        for ch in &mut self.chains {
            if resample {
                ch.resample_momentum(&self.metric);
            }
            ch.have = [false; 2];
            if done {
                ch.warmup_grads += ch.grads;
                ch.grads = 0;
            }
        }
        if done {
            self.adapt = None;
        }
    }

    /// Copies the records out (chain order).
    pub fn output(&self) -> Output {
        self.try_output()
            .unwrap_or_else(|e| panic!("Sampler::output: {e}"))
    }

    /// As [`Sampler::output`], with an allocation failure as an error.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] (`n_samples`) when the copies of the records do not fit in memory.
    pub fn try_output(&self) -> Result<Output, HmcError> {
        let n_chains = self.chains.len();
        let n_records = self.chains.first().map_or(0, |c| c.moves.len());
        let mut o = Output {
            n_chains,
            n_records,
            dim: self.dim,
            ..Output::default()
        };
        let d = self.dim;
        let jump = usize::from(self.cfg.method.is_jump());
        let too_big = |_| HmcError::Invalid {
            arg: "n_samples",
            msg: format!(
                "the copies of {n_records} records of {n_chains} chains in dimension {d} do not \
                 fit in memory"
            ),
        };
        let total = n_chains.saturating_mul(n_records);
        o.x.try_reserve_exact(total.saturating_mul(d))
            .map_err(too_big)?;
        o.tau.try_reserve_exact(total * jump).map_err(too_big)?;
        o.moves.try_reserve_exact(total).map_err(too_big)?;
        o.accept.try_reserve_exact(total).map_err(too_big)?;
        o.energy.try_reserve_exact(total).map_err(too_big)?;
        o.kinetic.try_reserve_exact(total).map_err(too_big)?;
        o.diverging.try_reserve_exact(total).map_err(too_big)?;
        o.grads.try_reserve_exact(n_chains).map_err(too_big)?;
        o.warmup_grads
            .try_reserve_exact(n_chains)
            .map_err(too_big)?;
        for ch in &self.chains {
            for r in ch.rec.as_slice().chunks_exact(d + ROW_EXTRA + jump) {
                o.x.extend_from_slice(&r[..d]);
                if jump == 1 {
                    o.tau.push(r[d]);
                }
                o.accept.push(r[d + jump]);
                o.energy.push(r[d + jump + 1]);
                o.kinetic.push(r[d + jump + 2]);
                o.diverging.push(r[d + jump + 3] != 0.0);
            }
            o.moves.extend_from_slice(ch.moves.as_slice());
            o.grads.push(ch.grads);
            o.warmup_grads.push(ch.warmup_grads);
        }
        Ok(o)
    }

    /// Current positions, `n_chains × dim`.
    pub fn positions(&self) -> Vec<f64> {
        self.chains
            .iter()
            .flat_map(|c| c.cur.x.iter().copied())
            .collect()
    }
}
