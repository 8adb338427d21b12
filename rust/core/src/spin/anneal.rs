//! Simulated annealing with incrementally kept local fields, rayon over reads.

use super::couplings::RowRuns;
use super::lanes::{IntCsr, IntLanes, W, int_table};
use super::tiled::{Rows, TILE, sweep_block};
use super::{Cancel, Couplings, Real, SpinError, check_betas, check_states, random_state};
use crate::parallel::with_threads;
use crate::rng::SplitMix64;
use rayon::prelude::*;

/// Above this value of `β ΔE` a move is rejected without drawing a number
/// (its acceptance `e^{−44} < 2^{−63}` is below the resolution of the uniform variate).
pub(crate) const SKIP: f64 = 44.0;

/// Acceptance rule of a single-spin move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rule {
    /// `min(1, e^{−βΔE})`.
    #[default]
    Metropolis,
    /// Heat bath (Glauber): `1 / (1 + e^{βΔE})`.
    HeatBath,
}

/// Order in which a sweep visits the spins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// `0, 1, …, n−1`.
    #[default]
    Sequential,
    /// `n` uniformly random picks (with replacement).
    Random,
}

/// Settings of [`anneal`].
#[derive(Debug, Clone)]
pub struct AnnealOptions<'a> {
    /// The schedule: inverse temperatures, used in order (each for `sweeps_per_beta` sweeps).
    pub betas: &'a [f64],
    /// Sweeps at each β (≥ 1).
    pub sweeps_per_beta: usize,
    /// Independent reads (≥ 1).
    pub num_reads: usize,
    /// Acceptance rule.
    pub rule: Rule,
    /// Visiting order.
    pub order: Order,
    /// Initial states (`num_reads × n`, ±1); random when `None`.
    pub initial: Option<&'a [i8]>,
    /// Seed; read `r` uses stream `r`.
    pub seed: u64,
    /// Threads (`None`: the global pool).
    pub threads: Option<usize>,
    /// Record the energy after each β step of every read.
    pub trace: bool,
    /// Cancellation flag, polled once per sweep.
    pub cancel: Cancel<'a>,
}

impl Default for AnnealOptions<'_> {
    fn default() -> Self {
        Self {
            betas: &[],
            sweeps_per_beta: 1,
            num_reads: 1,
            rule: Rule::Metropolis,
            order: Order::Sequential,
            initial: None,
            seed: 0,
            threads: None,
            trace: false,
            cancel: Cancel(None),
        }
    }
}

/// Output of [`anneal`]; states are row-major `num_reads × n`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnealResult {
    /// Number of spins.
    pub n: usize,
    /// Lowest-energy state seen at the end of a sweep, per read.
    pub best_states: Vec<i8>,
    /// Its energy, recomputed from the state (storage precision of the couplings).
    pub best_energies: Vec<f64>,
    /// The state at the end of the schedule, per read.
    pub final_states: Vec<i8>,
    /// Its energy, recomputed.
    pub final_energies: Vec<f64>,
    /// `num_reads × betas.len()` energies after each β step (empty unless requested).
    pub trace: Vec<f64>,
    /// Accepted flips per read.
    pub accepted: Vec<u64>,
    /// Attempted flips per read (`n · sweeps`).
    pub attempts: u64,
}

/// A uniform index in `0..n` (multiply-shift; bias below 2^-40 for any realistic n).
#[inline]
pub(crate) fn below(rng: &mut SplitMix64, n: usize) -> usize {
    ((rng.next_u64() as u128 * n as u128) >> 64) as usize
}

/// Whether to accept a move of cost `de` at inverse temperature `beta`: the rule as written,
/// the reference [`Acceptor`] is tested against.
#[cfg(test)]
fn accept(rule: Rule, beta: f64, de: f64, rng: &mut SplitMix64) -> bool {
    let x = beta * de;
    match rule {
        Rule::Metropolis => x <= 0.0 || (x < SKIP && rng.next_f64() < (-x).exp()),
        Rule::HeatBath => {
            if x >= SKIP {
                false
            } else if x <= -SKIP {
                true
            } else {
                rng.next_f64() * (1.0 + x.exp()) < 1.0
            }
        }
    }
}

/// `u < e^{−x}` for `0 < x < SKIP` and `u ∈ [0, 1)`, exactly as `u < (-x).exp()` decides it,
/// mostly without the `exp`: the Taylor bounds `1 − x + x²/2 − x³/6 ≤ e^{−x} ≤ 1 / (1 + x + x²/2
/// + x³/6)` (x ≥ 0) decide every `u` outside them by a margin of `1e-12` relative, far beyond the
/// rounding of the bounds (a few ulp) and of `exp` itself (< 1 ulp); only a `u` in between (a few
/// per cent of the draws) pays for the `exp`.
#[inline(always)]
pub(crate) fn metropolis_below(u: f64, x: f64) -> bool {
    const MARGIN: f64 = 1e-12;
    let x2 = x * x;
    let x3 = x2 * x;
    let q = 1.0 + x + 0.5 * x2 + x3 * (1.0 / 6.0);
    if u * q >= 1.0 + MARGIN {
        return false;
    }
    let lo = 1.0 - x + 0.5 * x2 - x3 * (1.0 / 6.0);
    if u < lo * (1.0 - MARGIN) {
        return true;
    }
    u < (-x).exp()
}

/// The acceptance rule at one β, with a table of the acceptance probabilities when every local
/// field is an integer in `[−M, M]` ([`Couplings::integral_bound`]): the table holds exactly
/// the values the rule would compute (`exp(−β ΔE)` for Metropolis, `1 + exp(β ΔE)` for heat
/// bath, each from the same `β·ΔE`) and the same random numbers are drawn, so the results are
/// bit-identical with and without it; it only saves the `exp`.
#[derive(Debug, Clone)]
pub(crate) struct Acceptor {
    rule: Rule,
    beta: f64,
    m: f64,
    table: Vec<f64>,
}

impl Acceptor {
    pub(crate) fn new(rule: Rule, beta: f64, bound: Option<usize>) -> Self {
        let table = match bound {
            None => Vec::new(),
            Some(m) => match rule {
                Rule::Metropolis => (0..=m).map(|k| (-(beta * (2 * k) as f64)).exp()).collect(),
                Rule::HeatBath => (0..=2 * m)
                    .map(|k| 1.0 + (beta * (2.0 * (k as f64 - m as f64))).exp())
                    .collect(),
            },
        };
        Self {
            rule,
            beta,
            m: bound.unwrap_or(0) as f64,
            table,
        }
    }

    /// Whether a move of cost `de` is rejected without drawing a number (`β·ΔE ≥ SKIP`, both
    /// rules); `β·ΔE` is monotone in `ΔE`, so a bound on the smallest cost decides for all.
    #[inline(always)]
    pub(crate) fn rejects_without_draw(&self, de: f64) -> bool {
        self.beta * de >= SKIP
    }

    /// Whether to accept a move of cost `de`: Metropolis `u < exp(−βΔE)`, heat bath
    /// `u (1 + exp(βΔE)) < 1`, no random number drawn when `|βΔE| ≥ SKIP` decides alone (or
    /// `βΔE ≤ 0` for Metropolis); the exponential comes from the table when there is one.
    #[inline(always)]
    pub(crate) fn accept(&self, de: f64, rng: &mut SplitMix64) -> bool {
        let x = self.beta * de;
        match self.rule {
            Rule::Metropolis => {
                x <= 0.0
                    || (x < SKIP && {
                        let u = rng.next_f64();
                        match self.table.get((de * 0.5) as usize) {
                            Some(&p) => u < p,
                            None => metropolis_below(u, x),
                        }
                    })
            }
            Rule::HeatBath => {
                if x >= SKIP {
                    false
                } else if x <= -SKIP {
                    true
                } else {
                    let d = match self.table.get((de * 0.5 + self.m) as usize) {
                        Some(&d) => d,
                        None => 1.0 + x.exp(),
                    };
                    rng.next_f64() * d < 1.0
                }
            }
        }
    }
}

/// [`Couplings::flip`], over the nonzero ranges `runs` of a dense row when given (same bits).
#[inline(always)]
fn flip<C: Couplings>(
    model: &C,
    runs: Option<&RowRuns<C::R>>,
    i: usize,
    s_new: i8,
    phi: &mut [C::R],
) {
    if let Some(r) = runs {
        r.flip(i, s_new, phi);
    } else {
        model.flip(i, s_new, phi);
    }
}

/// One sweep of single-spin moves on `(s, φ)`; returns `(ΔE total, accepted)`. `runs`: the
/// nonzero ranges of a dense model's rows ([`RowRuns`]), used by the flips when given.
#[inline(always)]
pub(crate) fn sweep<C: Couplings>(
    model: &C,
    runs: Option<&RowRuns<C::R>>,
    s: &mut [i8],
    phi: &mut [C::R],
    acceptor: &Acceptor,
    order: Order,
    rng: &mut SplitMix64,
) -> (f64, u64) {
    let n = s.len();
    let mut de_sum = 0.0;
    let mut acc = 0u64;
    for t in 0..n {
        let i = match order {
            Order::Sequential => t,
            Order::Random => below(rng, n),
        };
        let de = 2.0 * s[i] as f64 * phi[i].to_f64();
        if acceptor.accept(de, rng) {
            s[i] = -s[i];
            flip(model, runs, i, s[i], phi);
            de_sum += de;
            acc += 1;
        }
    }
    (de_sum, acc)
}

/// What one read returns: best energy and state, final energy and state, trace, accepted flips.
type ReadOut = (f64, Vec<i8>, f64, Vec<i8>, Vec<f64>, u64);

/// Most reads one thread runs in lockstep (see [`run_block`]); the lanes of [`IntLanes`] hold
/// a whole block.
const MAX_BLOCK: usize = W;

/// What [`anneal`] prepares once for all its blocks: the compact CSR of the integer lane
/// kernel ([`IntLanes`], sequential order on CSR / layered storage with integer couplings) and
/// the nonzero ranges of dense rows ([`RowRuns`]).
struct Prepared<R> {
    int: Option<IntCsr>,
    runs: Option<RowRuns<R>>,
}

/// [`run_block`] compiled with AVX2 enabled (the dense field update `φ += 2 s J_i` runs on
/// 256-bit vectors: 4 doubles or 8 floats per instruction instead of 2 or 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_block_avx2<C: Couplings>(
    model: &C,
    o: &AnnealOptions<'_>,
    prep: &Prepared<C::R>,
    reads: std::ops::Range<usize>,
) -> Result<Vec<ReadOut>, SpinError> {
    run_block(model, o, prep, reads)
}

/// [`run_block`] compiled with AVX-512 (8 × 64-bit lanes and a native 64-bit multiply for the
/// random streams of [`IntLanes`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512dq,avx512vl,avx512bw")]
unsafe fn run_block_avx512<C: Couplings>(
    model: &C,
    o: &AnnealOptions<'_>,
    prep: &Prepared<C::R>,
    reads: std::ops::Range<usize>,
) -> Result<Vec<ReadOut>, SpinError> {
    run_block(model, o, prep, reads)
}

/// Reads `reads` of [`anneal`], each with its own random stream `(seed, r)`, start state and
/// schedule, run in lockstep: with sequential order every read visits spin `i` at the same
/// time, so the coupling row `J_i` a flip needs is fetched from memory once for the whole block
/// (dense couplings of large models do not fit in cache). Each read does exactly the operations,
/// in the same order, that it would do alone: results do not depend on the blocking.
#[inline(always)]
fn run_block<C: Couplings>(
    model: &C,
    o: &AnnealOptions<'_>,
    prep: &Prepared<C::R>,
    reads: std::ops::Range<usize>,
) -> Result<Vec<ReadOut>, SpinError> {
    let n = model.n();
    let nb = o.betas.len();
    let k = reads.len();
    let mut rngs: Vec<SplitMix64> = reads
        .clone()
        .map(|r| SplitMix64::new(o.seed, r as u64))
        .collect();
    let mut s: Vec<Vec<i8>> = Vec::with_capacity(k);
    for (b, r) in reads.clone().enumerate() {
        s.push(match o.initial {
            Some(init) => init[r * n..(r + 1) * n].to_vec(),
            None => random_state(&mut rngs[b], n),
        });
    }
    // Fields and energies of dense models over the nonzero ranges of their rows (same bits).
    let runs = prep.runs.as_ref();
    let energy = |st: &[i8]| {
        runs.and_then(|r| r.energy(model, st))
            .unwrap_or_else(|| model.energy(st))
    };
    let mut phi: Vec<Vec<C::R>> = Vec::with_capacity(k);
    for sb in &s {
        let mut p = vec![C::R::default(); n];
        if !runs.is_some_and(|r| r.fields(model, sb, &mut p)) {
            model.fields(sb, &mut p);
        }
        phi.push(p);
    }
    let mut e: Vec<f64> = s.iter().map(|sb| energy(sb)).collect();
    let mut best = s.clone();
    let mut best_e = e.clone();
    let mut trace: Vec<Vec<f64>> = (0..k)
        .map(|_| Vec::with_capacity(if o.trace { nb } else { 0 }))
        .collect();
    let mut accepted = vec![0u64; k];
    let mut de_sum = vec![0.0f64; k];
    let bound = model.integral_bound();
    // Integer couplings: the branch-free lane kernel (fields as exact integers).
    let int = match &prep.int {
        Some(csr) if o.order == Order::Sequential && k > 1 && model.prefers_lanes() => {
            Some((csr, IntLanes::new(&s, &phi, &rngs)))
        }
        _ => None,
    };
    let mut int = int;
    // Dense couplings, sequential order: tiles with deferred, fused field updates.
    let tiled = if int.is_none() && o.order == Order::Sequential {
        match runs {
            Some(r) => Some(Rows::Runs(r)),
            None => (0..n)
                .map(|i| model.dense_row(i))
                .collect::<Option<Vec<_>>>()
                .map(Rows::Full),
        }
    } else {
        None
    };
    let mut pending: Vec<(usize, C::R)> =
        Vec::with_capacity(if tiled.is_some() { TILE } else { 0 });
    // Interleaved lanes: the block's states and fields as `[spin][read]`, so that a flip's
    // scattered field updates share cache lines across the reads (same arithmetic per read).
    let lanes = int.is_none()
        && tiled.is_none()
        && o.order == Order::Sequential
        && k > 1
        && model.prefers_lanes();
    let (mut sl, mut pl) = (Vec::new(), Vec::new());
    if lanes {
        sl = vec![0i8; n * k];
        pl = vec![C::R::default(); n * k];
        for b in 0..k {
            for i in 0..n {
                sl[i * k + b] = s[b][i];
                pl[i * k + b] = phi[b][i];
            }
        }
    }
    for &beta in o.betas {
        let acceptor = Acceptor::new(o.rule, beta, bound);
        let table = int
            .as_ref()
            .map(|(csr, _)| int_table(o.rule, beta, csr.bound()));
        for _ in 0..o.sweeps_per_beta {
            o.cancel.check()?;
            if let (Some((csr, il)), Some(table)) = (&mut int, table.as_deref()) {
                let (mut ds, mut na) = ([0i64; W], [0u64; W]);
                il.sweep(csr, table, &mut ds, &mut na);
                for b in 0..k {
                    // integer sums below 2⁵³: exactly the f64 sums of the scalar path
                    de_sum[b] = ds[b] as f64;
                    accepted[b] += na[b];
                }
            } else if let Some(rows) = &tiled {
                sweep_block(
                    rows,
                    &mut s,
                    &mut phi,
                    &mut pending,
                    &mut de_sum,
                    &mut accepted,
                    &acceptor,
                    &mut rngs,
                );
            } else if lanes {
                de_sum.fill(0.0);
                for i in 0..n {
                    for b in 0..k {
                        let x = i * k + b;
                        let de = 2.0 * sl[x] as f64 * pl[x].to_f64();
                        if acceptor.accept(de, &mut rngs[b]) {
                            sl[x] = -sl[x];
                            model.flip_lane(i, sl[x], &mut pl, k, b);
                            de_sum[b] += de;
                            accepted[b] += 1;
                        }
                    }
                }
            } else if o.order == Order::Sequential && k > 1 {
                de_sum.fill(0.0);
                for i in 0..n {
                    for b in 0..k {
                        let de = 2.0 * s[b][i] as f64 * phi[b][i].to_f64();
                        if acceptor.accept(de, &mut rngs[b]) {
                            s[b][i] = -s[b][i];
                            flip(model, runs, i, s[b][i], &mut phi[b]);
                            de_sum[b] += de;
                            accepted[b] += 1;
                        }
                    }
                }
            } else {
                for b in 0..k {
                    let (de, a) = sweep(
                        model,
                        runs,
                        &mut s[b],
                        &mut phi[b],
                        &acceptor,
                        o.order,
                        &mut rngs[b],
                    );
                    de_sum[b] = de;
                    accepted[b] += a;
                }
            }
            let mut improved = [false; W];
            for b in 0..k {
                e[b] += de_sum[b];
                if e[b] < best_e[b] {
                    best_e[b] = e[b];
                    if int.is_some() {
                        improved[b] = true;
                    } else if lanes {
                        for (i, v) in best[b].iter_mut().enumerate() {
                            *v = sl[i * k + b];
                        }
                    } else {
                        best[b].copy_from_slice(&s[b]);
                    }
                }
            }
            if let Some((_, il)) = &mut int
                && improved.contains(&true)
            {
                il.keep_best(&improved);
            }
            o.cancel.advance(k as u64);
        }
        if o.trace {
            for b in 0..k {
                trace[b].push(e[b]);
            }
        }
    }
    if lanes {
        for (b, sb) in s.iter_mut().enumerate() {
            for (i, v) in sb.iter_mut().enumerate() {
                *v = sl[i * k + b];
            }
        }
    }
    if let Some((_, il)) = &int {
        for b in 0..k {
            s[b] = il.state(b);
            best[b] = il.best_state(b);
        }
    }
    Ok(best
        .into_iter()
        .zip(s)
        .zip(trace)
        .zip(accepted)
        .map(|(((bs, fs), t), a)| (energy(&bs), bs, energy(&fs), fs, t, a))
        .collect())
}

/// Simulated annealing: every read starts from its initial (or a random) state and runs
/// `sweeps_per_beta` sweeps at each β of the schedule; the lowest energy seen at a sweep's end
/// is kept. A constant schedule samples the Boltzmann distribution at that β.
///
/// # Errors
/// Empty or invalid schedule, zero reads / sweeps, bad initial states, a bad thread count, or
/// [`SpinError::Cancelled`].
pub fn anneal<C: Couplings>(model: &C, o: &AnnealOptions<'_>) -> Result<AnnealResult, SpinError> {
    let n = model.n();
    check_betas("beta_schedule", o.betas)?;
    if o.num_reads == 0 {
        return Err(SpinError::invalid("num_reads", "must be >= 1"));
    }
    if o.sweeps_per_beta == 0 {
        return Err(SpinError::invalid("num_sweeps_per_beta", "must be >= 1"));
    }
    if let Some(init) = o.initial {
        let k = check_states("initial_states", init, n)?;
        if k != o.num_reads {
            return Err(SpinError::invalid(
                "initial_states",
                format!("expected {} states (one per read), got {k}", o.num_reads),
            ));
        }
    }
    let nb = o.betas.len();
    // Progress unit: one sweep of one read.
    o.cancel.set_total(
        (o.num_reads as u64).saturating_mul((nb as u64).saturating_mul(o.sweeps_per_beta as u64)),
    );
    let prep = Prepared {
        int: if o.order == Order::Sequential && model.prefers_lanes() {
            IntCsr::new(model)
        } else {
            None
        },
        runs: RowRuns::new(model),
    };
    let prep = &prep;
    let run = |reads: std::ops::Range<usize>| -> Result<Vec<ReadOut>, SpinError> {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            // AVX-512 only for the integer lane kernel (its random streams need the 64-bit
            // multiply); the dense row updates were no faster with it (measured, issue 18.3).
            if prep.int.is_some()
                && has!("avx512f")
                && has!("avx512dq")
                && has!("avx512vl")
                && has!("avx512bw")
            {
                // SAFETY: the CPU supports these AVX-512 subsets (checked just above); as
                // for AVX2 below, wider vectors give the same bits as the plain path.
                return unsafe { run_block_avx512(model, o, prep, reads) };
            }
            if has!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above). Rust never contracts
                // `a * b + c` into an FMA on its own, so the wider vectors of the field update
                // give the same bits as the plain path (results do not depend on the CPU).
                return unsafe { run_block_avx2(model, o, prep, reads) };
            }
        }
        run_block(model, o, prep, reads)
    };
    let outs: Vec<ReadOut> = with_threads(o.threads, || {
        // Blocks of reads run in lockstep (one coupling-row fetch serves the block); enough
        // blocks to keep every thread busy. The blocking never changes a read's result. The
        // integer lane kernel costs the same for 2 reads as for W (its lanes are all computed),
        // so its blocks stay full: a second thread gets work only from W + 1 reads on (a split
        // block of 8 reads took twice the CPU time, issue 18.3).
        let per_thread = o.num_reads.div_ceil(rayon::current_num_threads().max(1));
        let block = if prep.int.is_some() {
            MAX_BLOCK
        } else {
            per_thread.clamp(1, MAX_BLOCK)
        };
        let blocks: Vec<_> = (0..o.num_reads)
            .step_by(block)
            .map(|a| a..(a + block).min(o.num_reads))
            .collect();
        blocks
            .into_par_iter()
            .map(run)
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.into_iter().flatten().collect())
    })??;
    let mut res = AnnealResult {
        n,
        best_states: Vec::with_capacity(o.num_reads * n),
        best_energies: Vec::with_capacity(o.num_reads),
        final_states: Vec::with_capacity(o.num_reads * n),
        final_energies: Vec::with_capacity(o.num_reads),
        trace: Vec::new(),
        accepted: Vec::with_capacity(o.num_reads),
        attempts: (n * o.sweeps_per_beta * nb) as u64,
    };
    for (be, b, fe, f, t, a) in outs {
        // The best-so-far energy was tracked incrementally; the final state may be as good.
        let (be, b) = if fe < be { (fe, f.clone()) } else { (be, b) };
        res.best_energies.push(be);
        res.best_states.extend_from_slice(&b);
        res.final_energies.push(fe);
        res.final_states.extend_from_slice(&f);
        res.trace.extend_from_slice(&t);
        res.accepted.push(a);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spin::Dense;

    fn sk(n: usize, seed: u64) -> Vec<f64> {
        let mut g = SplitMix64::new(seed, 0);
        let mut j = vec![0.0; n * n];
        for a in 0..n {
            for b in (a + 1)..n {
                let v = if g.next_u64() & 1 == 1 { 1.0 } else { -1.0 } / (n as f64).sqrt();
                j[a * n + b] = v;
                j[b * n + a] = v;
            }
        }
        j
    }

    /// Every `Couplings` method of `C` except `integral_bound`, `row_entries` and `dense_row`,
    /// which are `None`: the plain path (no acceptance table, no integer lane kernel, no zero
    /// skipping in dense rows).
    struct NoTable<C>(C);

    impl<C: Couplings> Couplings for NoTable<C> {
        type R = C::R;
        fn n(&self) -> usize {
            self.0.n()
        }
        fn h(&self) -> &[f64] {
            self.0.h()
        }
        fn fields(&self, s: &[i8], phi: &mut [Self::R]) {
            self.0.fields(s, phi)
        }
        fn flip(&self, i: usize, s_new: i8, phi: &mut [Self::R]) {
            self.0.flip(i, s_new, phi)
        }
        fn flip_lane(&self, i: usize, s_new: i8, phi: &mut [Self::R], k: usize, b: usize) {
            self.0.flip_lane(i, s_new, phi, k, b)
        }
        fn prefers_lanes(&self) -> bool {
            self.0.prefers_lanes()
        }
        fn abs_row_sum(&self, i: usize) -> f64 {
            self.0.abs_row_sum(i)
        }
        fn sq_row_sum(&self, i: usize) -> f64 {
            self.0.sq_row_sum(i)
        }
        fn row_dot(&self, i: usize, x: &[f64]) -> f64 {
            self.0.row_dot(i, x)
        }
        fn row_sq_dot(&self, i: usize, x: &[f64]) -> f64 {
            self.0.row_sq_dot(i, x)
        }
        fn energy(&self, s: &[i8]) -> f64 {
            self.0.energy(s)
        }
    }

    #[test]
    fn metropolis_bounds_decide_as_the_exponential_does() {
        let mut g = SplitMix64::new(5, 0);
        let mut exp_calls = 0usize;
        let total = 400_000;
        for t in 0..total {
            // x spread over (0, SKIP) on a log scale, u uniform, and u placed within a few ulp
            // of e^{−x} (where a loose bound would decide wrongly).
            let x =
                SKIP * (-(g.next_f64() * 30.0)).exp2().min(1.0 - 1e-16) * g.next_f64().max(1e-300);
            let p = (-x).exp();
            let u = match t % 3 {
                0 => g.next_f64(),
                1 => f64::from_bits(p.to_bits().saturating_sub(g.next_u64() % 4)),
                _ => f64::from_bits(p.to_bits() + g.next_u64() % 4).min(1.0 - f64::EPSILON / 2.0),
            };
            assert_eq!(metropolis_below(u, x), u < p, "x = {x}, u = {u}, p = {p}");
            let q = 1.0 + x + 0.5 * x * x + x * x * x / 6.0;
            if t % 3 == 0
                && u * q < 1.0 + 1e-12
                && u >= (1.0 - x + 0.5 * x * x - x * x * x / 6.0) * (1.0 - 1e-12)
            {
                exp_calls += 1;
            }
        }
        // the bounds decide most uniform draws alone
        assert!(exp_calls < total / 3 / 5, "{exp_calls}");
    }

    #[test]
    fn acceptance_tables_are_bit_identical_to_computing_exp() {
        // integer couplings ±1, ±2 and integer fields: every ΔE is an even integer
        let n = 30;
        let mut g = SplitMix64::new(9, 0);
        let mut j = vec![0.0; n * n];
        for a in 0..n {
            for b in (a + 1)..n {
                let v = [-2.0, -1.0, 0.0, 1.0, 2.0][(g.next_u64() % 5) as usize];
                j[a * n + b] = v;
                j[b * n + a] = v;
            }
        }
        let h: Vec<f64> = (0..n).map(|i| (i % 3) as f64 - 1.0).collect();
        let m = Dense::new(&j, &h).unwrap();
        let bound = m.integral_bound().expect("an integer model has a bound");
        assert!(bound >= 2 && bound <= 2 * n);
        assert_eq!(NoTable(m).integral_bound(), None);
        let betas: Vec<f64> = (0..40).map(|k| 0.01 + 0.09 * k as f64).collect();
        for rule in [Rule::Metropolis, Rule::HeatBath] {
            for order in [Order::Sequential, Order::Random] {
                for reads in [1, 5] {
                    let o = AnnealOptions {
                        betas: &betas,
                        num_reads: reads,
                        seed: 4,
                        rule,
                        order,
                        trace: true,
                        ..Default::default()
                    };
                    assert_eq!(anneal(&m, &o).unwrap(), anneal(&NoTable(m), &o).unwrap());
                }
            }
            // the acceptor itself: same decision and same random numbers drawn, every ΔE
            for &beta in &[0.0, 0.3, 1.7, 30.0] {
                let t = Acceptor::new(rule, beta, Some(bound));
                for k in -(bound as i64)..=(bound as i64) {
                    let de = 2.0 * k as f64;
                    let (mut r1, mut r2) =
                        (SplitMix64::new(1, k as u64), SplitMix64::new(1, k as u64));
                    for _ in 0..50 {
                        assert_eq!(t.accept(de, &mut r1), accept(rule, beta, de, &mut r2));
                    }
                    assert_eq!(r1.next_u64(), r2.next_u64());
                }
            }
        }
        // non-integer couplings or too large fields: no table
        let jf: Vec<f64> = j.iter().map(|v| v * 0.5).collect();
        assert_eq!(Dense::new(&jf, &h).unwrap().integral_bound(), None);
        let jl: Vec<f64> = j.iter().map(|v| v * 1000.0).collect();
        assert_eq!(Dense::new(&jl, &h).unwrap().integral_bound(), None);
    }

    /// Both runs of every rule and order, 1, 3 and 8 reads, 1 and 2 threads, are identical.
    fn assert_same_runs<A: Couplings, B: Couplings>(a: &A, b: &B, sweeps: usize) {
        let betas: Vec<f64> = (0..sweeps).map(|k| 0.05 * 1.03f64.powi(k as i32)).collect();
        for rule in [Rule::Metropolis, Rule::HeatBath] {
            for order in [Order::Sequential, Order::Random] {
                for (reads, threads) in [(1, 1), (3, 1), (8, 1), (8, 2)] {
                    let o = AnnealOptions {
                        betas: &betas,
                        num_reads: reads,
                        seed: 11,
                        rule,
                        order,
                        trace: true,
                        threads: Some(threads),
                        ..Default::default()
                    };
                    let (x, y) = (anneal(a, &o).unwrap(), anneal(b, &o).unwrap());
                    assert_eq!(x, y, "{rule:?} {order:?} {reads} reads {threads} threads");
                    for (p, q) in x.trace.iter().zip(&y.trace) {
                        assert_eq!(p.to_bits(), q.to_bits());
                    }
                }
            }
        }
    }

    #[test]
    fn integer_lane_kernel_is_bit_identical_to_the_plain_path() {
        // a periodic 12 × 12 lattice with couplings in {−2, −1, 1, 2}, integer fields, and a
        // few longer-range bonds; CSR storage (lanes) and the same model as layered storage
        let side = 12;
        let n = side * side;
        let mut g = SplitMix64::new(21, 0);
        let mut j = vec![0.0; n * n];
        let mut bond = |a: usize, b: usize, g: &mut SplitMix64| {
            let v = [-2.0, -1.0, 1.0, 2.0][(g.next_u64() % 4) as usize];
            j[a * n + b] = v;
            j[b * n + a] = v;
        };
        for r in 0..side {
            for c in 0..side {
                let i = r * side + c;
                bond(i, r * side + (c + 1) % side, &mut g);
                bond(i, ((r + 1) % side) * side + c, &mut g);
                if i % 7 == 0 {
                    bond(i, (i + n / 2 + 1) % n, &mut g);
                }
            }
        }
        let h: Vec<f64> = (0..n).map(|i| [0.0, 1.0, -1.0][i % 3]).collect();
        let (mut indptr, mut indices, mut data) = (vec![0], Vec::new(), Vec::new());
        for a in 0..n {
            for b in 0..n {
                if j[a * n + b] != 0.0 {
                    indices.push(b);
                    data.push(j[a * n + b]);
                }
            }
            indptr.push(indices.len());
        }
        let sp = crate::spin::Sparse::new(&indptr, &indices, &data, &h).unwrap();
        assert!(IntCsr::new(&sp).is_some());
        assert_same_runs(&sp, &NoTable(sp), 60);
        // layered: ±1 / ±3 weights (a binarised network)
        let widths = [30usize, 20, 10];
        let weights: Vec<Vec<f64>> = (0..2)
            .map(|l| {
                (0..widths[l] * widths[l + 1])
                    .map(|_| [-3.0, -1.0, 1.0, 3.0][(g.next_u64() % 4) as usize])
                    .collect()
            })
            .collect();
        let lay = crate::spin::Layered::new(&widths, weights, vec![1.0; 60]).unwrap();
        assert!(IntCsr::new(&lay).is_some());
        assert_same_runs(&lay, &NoTable(lay.clone()), 40);
    }

    #[test]
    fn tiled_sweeps_are_bit_identical_to_flipping_at_once() {
        // whole rows (SK, n not a multiple of the tile), hot to frozen: the deferred fused
        // updates, the Taylor-bounded Metropolis test and the sat-out sweeps of frozen reads
        // against the plain path (`NoTable` hides the dense rows)
        let n = 2 * super::super::tiled::TILE + 7;
        let h: Vec<f64> = (0..n).map(|i| 0.05 * ((i % 7) as f64 - 3.0)).collect();
        let j = sk(n, 4);
        let d = Dense::new(&j, &h).unwrap();
        let j32: Vec<f32> = j.iter().map(|&v| v as f32).collect();
        let d32 = Dense::new(&j32, &h).unwrap();
        let betas: Vec<f64> = (0..60).map(|k| 0.02 * 1.35f64.powi(k)).collect();
        let mut frozen = 0;
        for rule in [Rule::Metropolis, Rule::HeatBath] {
            for (reads, threads) in [(1, 1), (4, 1), (8, 2)] {
                let o = AnnealOptions {
                    betas: &betas,
                    num_reads: reads,
                    seed: 3,
                    rule,
                    trace: true,
                    threads: Some(threads),
                    ..Default::default()
                };
                let x = anneal(&d, &o).unwrap();
                assert_eq!(x, anneal(&NoTable(d), &o).unwrap(), "{rule:?} {reads}");
                assert_eq!(
                    anneal(&d32, &o).unwrap(),
                    anneal(&NoTable(d32), &o).unwrap(),
                    "f32 {rule:?} {reads}"
                );
                // the cold end is frozen: the trace stops moving long before the schedule ends
                frozen += x.trace.windows(2).filter(|w| w[0] == w[1]).count();
            }
        }
        assert!(frozen > 100, "{frozen}");
    }

    #[test]
    fn dense_row_ranges_are_bit_identical_to_whole_rows() {
        // the dense form of a layered model (blocks of zeros), f64 and f32 storage
        let widths = [40usize, 24, 24, 4];
        let n: usize = widths.iter().sum();
        let mut g = SplitMix64::new(8, 0);
        let mut j = vec![0.0; n * n];
        let mut off = 0;
        for l in 0..widths.len() - 1 {
            let nxt = off + widths[l];
            for r in 0..widths[l + 1] {
                for c in 0..widths[l] {
                    let v = (g.next_f64() - 0.5) / (widths[l] as f64).sqrt();
                    j[(nxt + r) * n + off + c] = v;
                    j[(off + c) * n + nxt + r] = v;
                }
            }
            off = nxt;
        }
        let h: Vec<f64> = (0..n).map(|_| 0.1 * (g.next_f64() - 0.5)).collect();
        let d = Dense::new(&j, &h).unwrap();
        assert!(RowRuns::new(&d).is_some());
        assert_same_runs(&d, &NoTable(d), 30);
        let j32: Vec<f32> = j.iter().map(|&v| v as f32).collect();
        let d32 = Dense::new(&j32, &h).unwrap();
        assert!(RowRuns::new(&d32).is_some());
        assert_same_runs(&d32, &NoTable(d32), 30);
        // SK couplings have no zeros to skip
        assert!(RowRuns::new(&Dense::new(&sk(30, 1), &[0.0; 30]).unwrap()).is_none());
    }

    #[test]
    fn thread_count_does_not_change_results() {
        let n = 40;
        let j = sk(n, 1);
        let h = vec![0.1; n];
        let m = Dense::new(&j, &h).unwrap();
        let betas: Vec<f64> = (0..50).map(|k| 0.1 + 0.06 * k as f64).collect();
        let mut o = AnnealOptions {
            betas: &betas,
            num_reads: 7,
            seed: 3,
            trace: true,
            order: Order::Random,
            ..Default::default()
        };
        o.threads = Some(1);
        let a = anneal(&m, &o).unwrap();
        o.threads = Some(2);
        let b = anneal(&m, &o).unwrap();
        assert_eq!(a, b);
        for r in 0..7 {
            let s = &a.best_states[r * n..(r + 1) * n];
            assert!((m.energy(s) - a.best_energies[r]).abs() < 1e-12);
            assert!(a.best_energies[r] <= a.final_energies[r]);
        }
    }

    #[test]
    fn lockstep_blocks_do_not_change_any_read() {
        // Read r's result depends only on (seed, r): blocks of 1, 3 and 8 reads, either order,
        // for every storage (dense rows, and the interleaved lanes of CSR and layered models).
        let n = 60;
        let j = sk(n, 2);
        let h = vec![0.05; n];
        check_blocks(&Dense::new(&j, &h).unwrap());
        let (indptr, indices, data) = to_csr(&j, n);
        check_blocks(&crate::spin::Sparse::new(&indptr, &indices, &data, &h).unwrap());
        // integer couplings: lanes and acceptance tables together
        let ji: Vec<f64> = j.iter().map(|v| (v * (n as f64).sqrt()).round()).collect();
        let (indptr, indices, data) = to_csr(&ji, n);
        let zero = vec![0.0; n];
        let sp = crate::spin::Sparse::new(&indptr, &indices, &data, &zero).unwrap();
        assert!(sp.integral_bound().is_some());
        check_blocks(&sp);
        let mut g = SplitMix64::new(3, 0);
        let widths = [20usize, 25, 15];
        let weights: Vec<Vec<f64>> = (0..2)
            .map(|l| {
                (0..widths[l] * widths[l + 1])
                    .map(|_| g.next_f64() - 0.5)
                    .collect()
            })
            .collect();
        let lay = crate::spin::Layered::new(&widths, weights, vec![0.02; 60]).unwrap();
        assert!(lay.prefers_lanes());
        check_blocks(&lay);
    }

    fn to_csr(j: &[f64], n: usize) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
        let (mut indptr, mut indices, mut data) = (vec![0], Vec::new(), Vec::new());
        for a in 0..n {
            for b in 0..n {
                // a sparse pattern: keep about a third of the pairs (symmetric)
                if a != b && j[a * n + b] != 0.0 && (a * 7 + b * 7) % 3 == 0 {
                    indices.push(b);
                    data.push(j[a * n + b]);
                }
            }
            indptr.push(indices.len());
        }
        (indptr, indices, data)
    }

    fn check_blocks<C: Couplings>(m: &C) {
        let n = m.n();
        let betas: Vec<f64> = (0..30).map(|k| 0.2 + 0.1 * k as f64).collect();
        for rule in [Rule::Metropolis, Rule::HeatBath] {
            for order in [Order::Sequential, Order::Random] {
                let mut o = AnnealOptions {
                    betas: &betas,
                    sweeps_per_beta: 2,
                    num_reads: 8,
                    seed: 5,
                    trace: true,
                    rule,
                    order,
                    threads: Some(1),
                    ..Default::default()
                };
                let whole = anneal(m, &o).unwrap(); // one block of 8
                o.threads = Some(3); // blocks of 3, 3, 2
                assert_eq!(anneal(m, &o).unwrap(), whole);
                o.num_reads = 3;
                o.threads = Some(4); // blocks of 1
                let few = anneal(m, &o).unwrap();
                assert_eq!(few.final_states[..], whole.final_states[..3 * n]);
                assert_eq!(few.best_states[..], whole.best_states[..3 * n]);
                assert_eq!(few.best_energies[..], whole.best_energies[..3]);
                assert_eq!(few.trace[..], whole.trace[..3 * betas.len()]);
                assert_eq!(few.accepted[..], whole.accepted[..3]);
                for r in 0..8 {
                    let st = &whole.best_states[r * n..(r + 1) * n];
                    assert!((m.energy(st) - whole.best_energies[r]).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn f32_storage_finds_the_same_low_energies() {
        let n = 30;
        let j = sk(n, 2);
        let j32: Vec<f32> = j.iter().map(|&v| v as f32).collect();
        let h = vec![0.0; n];
        let m64 = Dense::new(&j, &h).unwrap();
        let m32 = Dense::new(&j32, &h).unwrap();
        let betas: Vec<f64> = (0..200).map(|k| 0.1 * 1.02f64.powi(k)).collect();
        let o = AnnealOptions {
            betas: &betas,
            num_reads: 4,
            ..Default::default()
        };
        let a = anneal(&m64, &o).unwrap();
        let b = anneal(&m32, &o).unwrap();
        let ea = a
            .best_energies
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min);
        let eb = b
            .best_energies
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min);
        assert!((ea - eb).abs() < 1e-4, "{ea} vs {eb}");
    }
}
