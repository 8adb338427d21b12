//! Integer-coupling annealing with up to [`W`] reads advanced side by side in vector lanes.
//!
//! When every coupling and field is an integer with `max_i Σ_j |J_ij| + |h_i| = M ≤ 256`
//! ([`Couplings::integral_bound`]), every local field is an exact integer in `[−M, M]`, so the
//! kernel keeps fields and spins as `i32` in lanes `[spin][read]` and the couplings as a compact
//! CSR (`u32` columns, `i16` values). A move of cost `ΔE = 2k` (`k = s φ`) is decided by one
//! table entry per β ([`int_table`]): whether the rule draws a uniform for it, and the exact
//! integer threshold `T` on the draw's top 53 bits `m` (accept iff `m < T`) that is equivalent to
//! the rule's floating-point comparison (`u < e^{−βΔE}` or `u (1 + e^{βΔE}) < 1` with
//! `u = m·2⁻⁵³`). Each read keeps its own SplitMix64 stream, as a raw state in its lane: the
//! candidate draw of every lane is computed at once and only lanes that draw advance their
//! state. Decisions, random numbers and field updates are branch-free and per read exactly those
//! of the scalar path ([`super::anneal`]'s `sweep`), so every read is bit-identical to it.

use super::anneal::{Rule, SKIP};
use super::couplings::INT_TABLE_MAX;
use super::{Couplings, Real};
use crate::rng::{GAMMA, SplitMix64, splitmix64};

/// Lanes (reads) per group: 8 × `i32` fields fill one AVX2 register.
pub(crate) const W: usize = 8;

/// `2⁵³`: the draws' top 53 bits `m` are below it (`u = m / 2⁵³`).
const TOP: u64 = 1 << 53;

/// Entries of an acceptance table ([`int_table`]): `k + M ∈ [0, 2M]`, `M ≤ INT_TABLE_MAX`.
pub(crate) const TABLE_LEN: usize = 2 * INT_TABLE_MAX + 1;

/// An acceptance table of [`int_table`] (fixed size, so that indices clamped to it need no
/// bounds checks and the lookups of all lanes become one gather).
pub(crate) type IntTable = [u64; TABLE_LEN];

/// Table entry of a move accepted without a draw (`m = 0 < T`).
const ALWAYS: u64 = (1 << 62) << 1;

/// Couplings of an integer model as a compact CSR: `u32` columns, `i16` values.
#[derive(Debug, Clone)]
pub(crate) struct IntCsr {
    indptr: Vec<u32>,
    cols: Vec<u32>,
    vals: Vec<i16>,
    /// The bound `M` of the fields.
    m: usize,
}

impl IntCsr {
    /// The compact CSR of `model`, or `None` when its couplings are not integers with a bound
    /// ([`Couplings::integral_bound`]), it does not list its rows ([`Couplings::row_entries`]),
    /// or it is too large for `u32` indices.
    pub(crate) fn new<C: Couplings>(model: &C) -> Option<Self> {
        let m = model.integral_bound()?;
        let n = model.n();
        if n >= u32::MAX as usize {
            return None;
        }
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0u32);
        let (mut cols, mut vals) = (Vec::new(), Vec::new());
        for i in 0..n {
            for (j, v) in model.row_entries(i)? {
                // |v| ≤ M ≤ INT_TABLE_MAX and v is an integer: exact in i16
                if v != 0.0 {
                    cols.push(j as u32);
                    vals.push(v as i16);
                }
            }
            indptr.push(u32::try_from(cols.len()).ok()?);
        }
        Some(Self {
            indptr,
            cols,
            vals,
            m,
        })
    }

    /// The bound `M` of the fields.
    pub(crate) fn bound(&self) -> usize {
        self.m
    }
}

/// The smallest `t ≤ 2⁵³` with `accept(t·2⁻⁵³)` false (`2⁵³` if none), for a predicate that is
/// true below some point and false above it; `guess` is a close estimate.
fn threshold(guess: f64, accept: impl Fn(f64) -> bool) -> u64 {
    let u = |m: u64| m as f64 * (1.0 / TOP as f64);
    let mut t = if guess > 0.0 {
        (guess as u64).min(TOP)
    } else {
        0
    };
    while t > 0 && !accept(u(t - 1)) {
        t -= 1;
    }
    while t < TOP && accept(u(t)) {
        t += 1;
    }
    t
}

/// Acceptance table at inverse temperature `beta` for fields bounded by `m`: entry `k + m`
/// (`k = s φ ∈ [−m, m]`, the move costs `ΔE = 2k`) is `T << 1 | d`, `d = 1` when the rule draws
/// a uniform `u = m'·2⁻⁵³` for the move (accepting iff `m' < T`), `d = 0` when it decides without
/// one (`T = 2⁶²`: accept, `T = 0`: reject). The cases and the probabilities are computed from
/// the same `x = βΔE` and with the same expressions as `Acceptor::accept`, so the decisions and
/// the draws are identical to it.
pub(crate) fn int_table(rule: Rule, beta: f64, m: usize) -> Box<IntTable> {
    let mi = m.min(INT_TABLE_MAX) as i64;
    let mut table = Box::new([0u64; TABLE_LEN]);
    for (e, k) in table.iter_mut().zip(-mi..=mi) {
        *e = {
            let de = 2.0 * k as f64;
            let x = beta * de;
            match rule {
                Rule::Metropolis => {
                    if x <= 0.0 {
                        ALWAYS
                    } else if x < SKIP {
                        let p = (-x).exp();
                        (threshold(p * TOP as f64, |u| u < p) << 1) | 1
                    } else {
                        0
                    }
                }
                Rule::HeatBath => {
                    if x >= SKIP {
                        0
                    } else if x <= -SKIP {
                        ALWAYS
                    } else {
                        let d = 1.0 + x.exp();
                        (threshold(TOP as f64 / d, |u| u * d < 1.0) << 1) | 1
                    }
                }
            }
        };
    }
    table
}

/// States, fields and random streams of up to [`W`] reads in lanes (`[spin][read]`).
#[derive(Debug, Clone)]
pub(crate) struct IntLanes {
    s: Vec<[i32; W]>,
    phi: Vec<[i32; W]>,
    best: Vec<[i32; W]>,
    rng: [u64; W],
    /// All ones for the lanes that hold a read, 0 for padding (never flips).
    active: [i32; W],
}

impl IntLanes {
    /// Lanes of the reads whose states, fields (exact integers) and generators are given
    /// (at most [`W`]); the best states start as the given ones.
    pub(crate) fn new<R: Real>(states: &[Vec<i8>], fields: &[Vec<R>], rngs: &[SplitMix64]) -> Self {
        let n = states.first().map_or(0, Vec::len);
        let mut s = vec![[1i32; W]; n];
        let mut phi = vec![[0i32; W]; n];
        let mut rng = [0u64; W];
        let mut active = [0i32; W];
        for (b, ((sb, pb), g)) in states.iter().zip(fields).zip(rngs).enumerate().take(W) {
            for i in 0..n {
                s[i][b] = sb[i] as i32;
                phi[i][b] = pb[i].to_f64() as i32;
            }
            rng[b] = g.state();
            active[b] = -1;
        }
        Self {
            best: s.clone(),
            s,
            phi,
            rng,
            active,
        }
    }

    /// One sequential sweep of every lane with the table `table` of [`int_table`]; adds each
    /// read's accepted `ΔE` to `de_sum` and its accepted moves to `accepted`.
    #[inline(always)]
    pub(crate) fn sweep(
        &mut self,
        csr: &IntCsr,
        table: &IntTable,
        de_sum: &mut [i64; W],
        accepted: &mut [u64; W],
    ) {
        let mm = csr.m.min(INT_TABLE_MAX) as i32;
        let mut rng = self.rng;
        let active = self.active;
        let (mut dsum, mut nacc) = (*de_sum, *accepted);
        let (s, phi) = (&mut self.s[..], &mut self.phi[..]);
        // Sign flips are xor / subtract with the sign mask (`s >> 31`: 0 for +1, −1 for −1)
        // rather than multiplies: the chain from one spin's flip to its neighbour's decision
        // is latency-bound.
        for (i, w) in csr.indptr.windows(2).enumerate() {
            let (si, pi) = (s[i], phi[i]);
            let mut k = [0i32; W];
            for b in 0..W {
                let sm = si[b] >> 31;
                k[b] = (pi[b] ^ sm) - sm; // s φ
            }
            let mut ent = [0u64; W];
            for b in 0..W {
                // k ∈ [−M, M] (the bound); the clamp only keeps the index in the table
                ent[b] = table[(k[b] + mm).clamp(0, TABLE_LEN as i32 - 1) as usize];
            }
            // all ones for the lanes that accept
            let mut acc = [0i32; W];
            for b in 0..W {
                let draw = (ent[b] & 1).wrapping_neg(); // all ones when the rule draws
                let z = splitmix64(rng[b]);
                rng[b] = rng[b].wrapping_add(GAMMA & draw);
                let m = ((z >> 11) & draw) as i64;
                // both sides < 2⁶³: a signed compare is the unsigned one
                acc[b] = -i32::from(m < (ent[b] >> 1) as i64) & active[b];
            }
            let mut snew = [0i32; W];
            // the sign mask of the new spin where accepted; the field change 2 s_new J is
            // `(2J ^ sm) − sm` masked to the accepting lanes
            let mut sm = [0i32; W];
            for b in 0..W {
                snew[b] = (si[b] ^ acc[b]) - acc[b]; // −s where accepted
                sm[b] = snew[b] >> 31;
                dsum[b] += i64::from((k[b] << 1) & acc[b]); // ΔE = 2k
                nacc[b] += u64::from(acc[b] as u32 & 1);
            }
            s[i] = snew;
            let (a, e) = (w[0] as usize, w[1] as usize);
            for (&c, &v) in csr.cols[a..e].iter().zip(&csr.vals[a..e]) {
                let p = &mut phi[c as usize];
                let v2 = 2 * i32::from(v);
                for b in 0..W {
                    p[b] += ((v2 ^ sm[b]) - sm[b]) & acc[b];
                }
            }
        }
        self.rng = rng;
        *de_sum = dsum;
        *accepted = nacc;
    }

    /// Copies the current state of the lanes marked in `improved` to their best states.
    #[inline(always)]
    pub(crate) fn keep_best(&mut self, improved: &[bool; W]) {
        let mask: [i32; W] = std::array::from_fn(|b| -i32::from(improved[b]));
        for (best, s) in self.best.iter_mut().zip(&self.s) {
            for b in 0..W {
                best[b] = (s[b] & mask[b]) | (best[b] & !mask[b]);
            }
        }
    }

    /// Current state of lane `b`.
    pub(crate) fn state(&self, b: usize) -> Vec<i8> {
        self.s.iter().map(|s| s[b] as i8).collect()
    }

    /// Best state of lane `b`.
    pub(crate) fn best_state(&self, b: usize) -> Vec<i8> {
        self.best.iter().map(|s| s[b] as i8).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spin::anneal::Acceptor;

    #[test]
    fn thresholds_are_the_rules_comparisons() {
        let m = 12;
        for rule in [Rule::Metropolis, Rule::HeatBath] {
            for &beta in &[0.0, 1e-18, 0.01, 0.3, 1.7, 5.0, 30.0] {
                let table = int_table(rule, beta, m);
                let acceptor = Acceptor::new(rule, beta, Some(m));
                assert!(table[2 * m + 1..].iter().all(|&e| e == 0));
                for (idx, &e) in table.iter().enumerate().take(2 * m + 1) {
                    let de = 2.0 * (idx as f64 - m as f64);
                    // the draws the acceptor sees: u = mm·2⁻⁵³ for chosen top bits mm
                    let t = e >> 1;
                    let probes = [0, 1, t.saturating_sub(1), t, t + 1, TOP - 1];
                    for &mm in probes.iter().filter(|&&mm| mm < TOP) {
                        // a generator whose next draw has top bits mm: search a raw state
                        // would be slow; feed the acceptor through the decision rule instead
                        let u = mm as f64 * (1.0 / TOP as f64);
                        let want = decide(rule, beta, de, u);
                        match want {
                            None => {
                                assert_eq!(e & 1, 0, "{rule:?} β {beta} ΔE {de}: draws");
                                assert_eq!(t != 0, acceptor_says(&acceptor, de));
                            }
                            Some(acc) => {
                                assert_eq!(e & 1, 1, "{rule:?} β {beta} ΔE {de}: no draw");
                                assert_eq!(mm < t, acc, "{rule:?} β {beta} ΔE {de} m {mm}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// The acceptor's decision on a move it decides without drawing.
    fn acceptor_says(a: &Acceptor, de: f64) -> bool {
        let mut g = SplitMix64::new(0, 0);
        let before = g.state();
        let acc = a.accept(de, &mut g);
        assert_eq!(g.state(), before, "the acceptor drew");
        acc
    }

    /// The rule as `Acceptor::accept` writes it, for a given uniform: `None` when it decides
    /// without one.
    fn decide(rule: Rule, beta: f64, de: f64, u: f64) -> Option<bool> {
        let x = beta * de;
        match rule {
            Rule::Metropolis if x <= 0.0 || x >= SKIP => None,
            Rule::Metropolis => Some(u < (-x).exp()),
            Rule::HeatBath if x >= SKIP || x <= -SKIP => None,
            Rule::HeatBath => Some(u * (1.0 + x.exp()) < 1.0),
        }
    }
}
