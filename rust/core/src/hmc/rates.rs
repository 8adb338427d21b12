//! The samplers' transition rates and probabilities as pure functions of energies, and a generic
//! finite "state space" on which the exact generator / transition matrix is built from the very
//! same functions (spec §7.1: exact invariance checks without Monte Carlo).
//!
//! A state space has an energy `H(z)`, a deterministic volume-preserving map `L` and the
//! momentum flip `F` with `F L F = L⁻¹` and `H(F z) = H(z)`; a refresh kernel stands for the
//! momentum resample. The samplers call [`hmc_accept`], [`LookAhead`], [`mjhmc_log_rates`] and
//! [`ct_log_rates`] with the Hamiltonians of the states on their trajectories; [`jump_generator`]
//! and [`lahmc_transition`] call them with the energies of a finite space.

/// Acceptance probability of standard HMC: `min(1, exp(H(z) − H(z')))` (0 when `H(z') = +∞`).
#[inline]
pub fn hmc_accept(h0: f64, h1: f64) -> f64 {
    let d = h0 - h1;
    if d >= 0.0 {
        1.0
    } else if d.is_nan() {
        0.0
    } else {
        d.exp()
    }
}

/// `e^{h_i − h_j}` (unbounded; 0 when undefined, i.e. both energies infinite).
#[inline]
fn ratio(hi: f64, hj: f64) -> f64 {
    let d = hi - hj;
    if d.is_nan() { 0.0 } else { d.exp() }
}

/// `ln(1 − e^d)` for `d ≤ 0`, accurate near both ends (`−∞` at `d = 0`).
#[inline]
fn ln1mexp(d: f64) -> f64 {
    if d > -std::f64::consts::LN_2 {
        (-d.exp_m1()).ln()
    } else {
        (-d.exp()).ln_1p()
    }
}

/// Log-rates `[ln r_L, ln r_F, ln r_R]` of Markov-jump HMC (spec §4b) in state `z`:
/// `r_L = exp((H(z) − H(Lz))/2)`, `r_F = max(0, r_{L⁻¹} − r_L)` with
/// `r_{L⁻¹} = exp((H(z) − H(L⁻¹z))/2)`, `r_R = λ` (`ln_lambda = ln λ`, `−∞` for no refresh).
/// A zero rate is `−∞`. `h_fwd = H(Lz)`, `h_bwd = H(L⁻¹z)`, `+∞` for divergent trajectories.
#[inline]
pub fn mjhmc_log_rates(h: f64, h_fwd: f64, h_bwd: f64, ln_lambda: f64) -> [f64; 3] {
    let ll = 0.5 * (h - h_fwd);
    let lli = 0.5 * (h - h_bwd);
    let ll = if ll.is_nan() { f64::NEG_INFINITY } else { ll };
    let lli = if lli.is_nan() { f64::NEG_INFINITY } else { lli };
    let lf = if lli > ll {
        if ll == f64::NEG_INFINITY {
            lli
        } else {
            lli + ln1mexp(ll - lli)
        }
    } else {
        f64::NEG_INFINITY
    };
    [ll, lf, ln_lambda]
}

/// Log-rates `[ln r_FL, ln r_F, ln r_R]` of continuous-time HMC with detailed balance (spec §4a):
/// `r_FL = exp((H(z) − H(FLz))/2)`, `r_F = 1`, `r_R = λ`. `h_fl = H(FLz) = H(Lz)`.
#[inline]
pub fn ct_log_rates(h: f64, h_fl: f64, ln_lambda: f64) -> [f64; 3] {
    let l = 0.5 * (h - h_fl);
    [
        if l.is_nan() { f64::NEG_INFINITY } else { l },
        0.0,
        ln_lambda,
    ]
}

/// Holding time and move of a jump process with log-rates `lr`, given `e ~ Exp(1)` and
/// `u ~ U(0, 1)`: the move `j` has probability `r_j / Σr`, the holding time is `e / Σr`
/// (computed relative to the largest rate, so huge rates give a holding time of 0 instead of
/// overflowing). `None` if every rate is zero.
#[inline]
pub fn pick_jump(lr: &[f64; 3], e: f64, u: f64) -> Option<(usize, f64)> {
    let lmax = lr.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lmax == f64::NEG_INFINITY || lmax.is_nan() {
        return None;
    }
    if lmax == f64::INFINITY {
        let j = lr.iter().position(|&l| l == f64::INFINITY).unwrap_or(0);
        return Some((j, 0.0));
    }
    let w = [
        (lr[0] - lmax).exp(),
        (lr[1] - lmax).exp(),
        (lr[2] - lmax).exp(),
    ];
    let total = w[0] + w[1] + w[2];
    let tau = e * (-lmax).exp() / total;
    Some((choose(&w, u * total), tau))
}

/// The move whose cumulative weight first exceeds `t` (`0 ≤ t < Σw`), skipping zero weights;
/// the last positive one if rounding leaves `t` at the top.
#[inline]
fn choose(w: &[f64; 3], t: f64) -> usize {
    let mut acc = 0.0;
    let mut last = 0;
    for (j, &wj) in w.iter().enumerate() {
        if wj > 0.0 {
            acc += wj;
            last = j;
            if t < acc {
                return j;
            }
        }
    }
    last
}

/// Largest log-rate taken in linear form (`e^700 ≈ 1e304`: sums of three rates stay finite).
const LINEAR_MAX_LOG_RATE: f64 = 700.0;

/// The rates of [`mjhmc_log_rates`] in linear form, `[r_L, r_F, r_R]` with
/// `r_F = max(0, r_{L⁻¹} − r_L)`, when they are representable (`None`: use the log form). Equal
/// to the exponentials of the log-rates up to rounding (`r_F` to `ulp(r_{L⁻¹})`, which is
/// negligible against the total rate `≥ r_{L⁻¹}`). `lambda = λ ≥ 0`.
#[inline]
pub fn mjhmc_rates(h: f64, h_fwd: f64, h_bwd: f64, lambda: f64) -> Option<[f64; 3]> {
    mjhmc_rate_pair(h, h_fwd, h_bwd).map(|p| mjhmc_rates_of_pair(p, lambda))
}

/// `(r_L, r_{L⁻¹}) = (e^{(H − H_fwd)/2}, e^{(H − H_bwd)/2})`, the two exponentials behind
/// [`mjhmc_rates`] (`None` where they could overflow). An F jump swaps the pair exactly: `H` is
/// unchanged and the two neighbours trade places.
#[inline]
pub fn mjhmc_rate_pair(h: f64, h_fwd: f64, h_bwd: f64) -> Option<(f64, f64)> {
    let ll = 0.5 * (h - h_fwd);
    let lli = 0.5 * (h - h_bwd);
    // NaN (both energies infinite) is a zero rate, as in the log form
    let ll = if ll.is_nan() { f64::NEG_INFINITY } else { ll };
    let lli = if lli.is_nan() { f64::NEG_INFINITY } else { lli };
    if ll > LINEAR_MAX_LOG_RATE || lli > LINEAR_MAX_LOG_RATE {
        return None;
    }
    Some((ll.exp(), lli.exp()))
}

/// [`mjhmc_rates`] from the pair of [`mjhmc_rate_pair`].
#[inline]
pub fn mjhmc_rates_of_pair((rl, rli): (f64, f64), lambda: f64) -> [f64; 3] {
    [rl, (rli - rl).max(0.0), lambda]
}

/// The rates of [`ct_log_rates`] in linear form, `[r_FL, 1, λ]` (`None`: use the log form).
#[inline]
pub fn ct_rates(h: f64, h_fl: f64, lambda: f64) -> Option<[f64; 3]> {
    let l = 0.5 * (h - h_fl);
    let l = if l.is_nan() { f64::NEG_INFINITY } else { l };
    if l > LINEAR_MAX_LOG_RATE {
        return None;
    }
    Some([l.exp(), 1.0, lambda])
}

/// [`pick_jump`] with linear rates `r` (finite, `≥ 0`): move `j` with probability `r_j / Σr`,
/// holding time `e / Σr`. `None` if every rate is zero.
#[inline]
pub fn pick_jump_linear(r: &[f64; 3], e: f64, u: f64) -> Option<(usize, f64)> {
    let total = r[0] + r[1] + r[2];
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    Some((choose(r, u * total), e / total))
}

/// The look-ahead HMC transition probabilities (spec §3), memoised over pairs of states of the
/// chain `z, Lz, …, L^K z`. Push the Hamiltonians one by one; [`LookAhead::push`] returns
/// `P(z → L^a z)`.
///
/// `p(i, j)` is the probability of jumping from chain state `i` to `j` along the direction from
/// `i` to `j` (the reverse direction is the flipped chain, whose states have the same energies):
/// `p(i, j) = min(1 − Σ_{b<n} p(i, i ± b), e^{H_i − H_j} (1 − Σ_{b<n} p(j, j ∓ b)))`, `n = |j − i|`.
#[derive(Debug, Clone)]
pub struct LookAhead {
    k: usize,
    h: Vec<f64>,
    p: Vec<f64>,
}

impl LookAhead {
    /// A table for at most `k` look-ahead steps.
    pub fn new(k: usize) -> Self {
        LookAhead {
            k,
            h: Vec::with_capacity(k + 1),
            p: vec![0.0; (k + 1) * (k + 1)],
        }
    }

    /// Starts a new chain at a state with Hamiltonian `h0`.
    pub fn reset(&mut self, h0: f64) {
        self.h.clear();
        self.h.push(h0);
    }

    #[inline]
    fn at(&self, i: usize, j: usize) -> f64 {
        self.p[i * (self.k + 1) + j]
    }

    /// Adds `H(L^a z)` (`a` = number of states pushed so far) and returns `P(z → L^a z)`.
    /// Returns 0 once more than `k` states were pushed.
    pub fn push(&mut self, ha: f64) -> f64 {
        let a = self.h.len();
        if a > self.k {
            return 0.0;
        }
        self.h.push(ha);
        let k1 = self.k + 1;
        for n in 1..=a {
            let i = a - n;
            let sf: f64 = (1..n).map(|b| self.at(i, i + b)).sum();
            let sr: f64 = (1..n).map(|b| self.at(a, a - b)).sum();
            let (rf, rr) = ((1.0 - sf).max(0.0), (1.0 - sr).max(0.0));
            let fwd = if rr > 0.0 {
                rf.min(ratio(self.h[i], self.h[a]) * rr)
            } else {
                0.0
            };
            let rev = if rf > 0.0 {
                rr.min(ratio(self.h[a], self.h[i]) * rf)
            } else {
                0.0
            };
            self.p[i * k1 + a] = fwd.clamp(0.0, 1.0);
            self.p[a * k1 + i] = rev.clamp(0.0, 1.0);
        }
        self.at(0, a)
    }
}

/// A finite state space for exact checks (see the module docs). States are `0..n_states()`.
pub trait StateSpace {
    /// Number of states.
    fn n_states(&self) -> usize;
    /// Hamiltonian of state `s` (`π(s) ∝ e^{−H(s)}`).
    fn energy(&self, s: usize) -> f64;
    /// The deterministic map `L`.
    fn leap(&self, s: usize) -> usize;
    /// The flip `F`.
    fn flip(&self, s: usize) -> usize;
    /// The momentum refresh kernel from `s`: `(target, probability)` pairs leaving `π` invariant.
    fn refresh(&self, s: usize) -> Vec<(usize, f64)>;

    /// `L⁻¹ = F L F`.
    fn leap_inv(&self, s: usize) -> usize {
        self.flip(self.leap(self.flip(s)))
    }
}

/// Which continuous-time sampler a generator is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JumpKind {
    /// Markov-jump HMC with the reduced flip rate ([`mjhmc_log_rates`]).
    Mjhmc,
    /// Continuous-time HMC with detailed balance ([`ct_log_rates`]).
    CtHmc,
}

/// The generator `Q` (`n × n`, row-major, rows summing to 0) of a jump process on a finite space
/// whose state `z` jumps to `moves(z).0` with log-rate `moves(z).1[0]`, to `F z` with log-rate
/// `moves(z).1[1]`, and is refreshed (kernel [`StateSpace::refresh`]) with rate `lambda`
/// (`moves(z).1[2]` is ignored: the refresh rate is `lambda`).
pub fn generator_from<S: StateSpace, M: Fn(&S, usize) -> (usize, [f64; 3])>(
    space: &S,
    lambda: f64,
    moves: M,
) -> Vec<f64> {
    let n = space.n_states();
    let mut q = vec![0.0; n * n];
    for z in 0..n {
        let (l_target, lr) = moves(space, z);
        let mut add = |to: usize, r: f64| {
            q[z * n + to] += r;
            q[z * n + z] -= r;
        };
        add(l_target, lr[0].exp());
        add(space.flip(z), lr[1].exp());
        if lambda > 0.0 {
            for (to, pr) in space.refresh(z) {
                add(to, lambda * pr);
            }
        }
    }
    q
}

/// The generator `Q` of a jump sampler with refresh rate `lambda` on a finite space, built from
/// the samplers' own rate functions ([`mjhmc_log_rates`], [`ct_log_rates`]).
pub fn jump_generator<S: StateSpace>(space: &S, kind: JumpKind, lambda: f64) -> Vec<f64> {
    let ll = lambda.ln();
    generator_from(space, lambda, |sp: &S, z| {
        let h = sp.energy(z);
        match kind {
            JumpKind::Mjhmc => {
                let (lz, liz) = (sp.leap(z), sp.leap_inv(z));
                (lz, mjhmc_log_rates(h, sp.energy(lz), sp.energy(liz), ll))
            }
            JumpKind::CtHmc => {
                let flz = sp.flip(sp.leap(z));
                (flz, ct_log_rates(h, sp.energy(flz), ll))
            }
        }
    })
}

/// The transition matrix `T` (`n × n`, row-major) of look-ahead HMC with `k` look-ahead steps
/// (`k = 1`: standard HMC) on a finite space, without the momentum refresh (which leaves `π`
/// invariant on its own), built with [`LookAhead`].
pub fn lahmc_transition<S: StateSpace>(space: &S, k: usize) -> Vec<f64> {
    let n = space.n_states();
    let mut t = vec![0.0; n * n];
    let mut la = LookAhead::new(k);
    for z in 0..n {
        la.reset(space.energy(z));
        let mut cur = z;
        let mut total = 0.0;
        for _ in 1..=k {
            cur = space.leap(cur);
            let pa = la.push(space.energy(cur));
            t[z * n + cur] += pa;
            total += pa;
        }
        t[z * n + space.flip(z)] += (1.0 - total).max(0.0);
    }
    t
}

/// `π` on a finite space, normalised.
pub fn stationary<S: StateSpace>(space: &S) -> Vec<f64> {
    let n = space.n_states();
    let hmin = (0..n)
        .map(|s| space.energy(s))
        .fold(f64::INFINITY, f64::min);
    let w: Vec<f64> = (0..n).map(|s| (hmin - space.energy(s)).exp()).collect();
    let z: f64 = w.iter().sum();
    w.into_iter().map(|v| v / z).collect()
}

/// `π M` for a row vector `π` and an `n × n` matrix.
pub fn row_times(pi: &[f64], m: &[f64]) -> Vec<f64> {
    let n = pi.len();
    (0..n)
        .map(|j| (0..n).map(|i| pi[i] * m[i * n + j]).sum())
        .collect()
}

/// The ladder of spec §7.1: states `(s, k)`, `s ∈ {+, −}`, `k ∈ Z_n`; `L` moves `k` by `+1` for
/// `s = +` and `−1` for `s = −`, `F` flips `s`, `H(s, k) = E_k`; the refresh resamples `s`
/// uniformly. State index `k` for `+`, `n + k` for `−`.
#[derive(Debug, Clone)]
pub struct Ladder {
    /// Energies `E_k`.
    pub energies: Vec<f64>,
}

impl StateSpace for Ladder {
    fn n_states(&self) -> usize {
        2 * self.energies.len()
    }
    fn energy(&self, s: usize) -> f64 {
        self.energies[s % self.energies.len()]
    }
    fn leap(&self, s: usize) -> usize {
        let n = self.energies.len();
        if s < n {
            (s + 1) % n
        } else {
            n + (s - n + n - 1) % n
        }
    }
    fn flip(&self, s: usize) -> usize {
        let n = self.energies.len();
        if s < n { s + n } else { s - n }
    }
    fn refresh(&self, s: usize) -> Vec<(usize, f64)> {
        let n = self.energies.len();
        let k = s % n;
        vec![(k, 0.5), (k + n, 0.5)]
    }
}
