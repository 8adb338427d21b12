//! kprop `K = 4`, kinds SIMPLE and AUGMENT, optionally with the reference's factored term set.
//!
//! Conventions are those of the reference code (`mlp_kprop(…, k_max=4, kind, use_avg_metric,
//! factor)`):
//!
//! * After an activation the tower is `κ1 … κ4` in full (`μ`, `C`, `T`, `Q`); AUGMENT also keeps
//!   the fifth cumulant's one-trace part `Sym(A ⊗ I)` (a symmetric order-3 core `A`) and the sixth
//!   cumulant's pure trace `c Sym(I ⊗ I ⊗ I)`.
//! * The linear step is exact on the cores (`Q' = Q ×₁W ×₂W ×₃W ×₄W`, `A' = A ×₁W ×₂W ×₃W`) and
//!   replaces the metric `I` by `M = W Wᵀ` (or `w_var I` with the average metric).
//! * The activation step sums, for every joint power cumulant `κ(φ_i^p, φ_j^q, …)` on distinct
//!   indices, the connected, 2-mixed Wick diagrams of power-counting cost
//!   `Σ (|v| − 1 − [v all even]) ≤ 3 + augment` (blocks of degree ≤ 4, AUGMENT ≤ 6), each weighted
//!   `Π κ_v / v! / Π mult!` times the Wick coefficients `E[∂^{k_a} φ^{p_a}]`. Power cumulants are
//!   turned into cumulants by Leonov–Shiryaev (a sum over the set partitions `π` with
//!   `π ∨ σ = 1̂`), degree 5 is projected onto `Sym(A ⊗ I)` through its trace
//!   `B = tr κ5` (`tr A = 5 tr B / (n + 4)`, `A = (10 B − 3 Sym(tr A ⊗ I)) / (n + 6)`) and degree 6
//!   onto its pure trace (`c = 15 tr³ κ6 / (n (n + 2) (n + 4))`).
//! * `factor = true` keeps the reference's factored term set (`factored_keeps_term`): in the
//!   all-distinct slice of degree 4 only hypertree diagrams, elsewhere no diagram that multiplies
//!   the all-distinct fourth-cumulant block with another block. For SIMPLE this keeps every term.
//!
//! Each slice is evaluated row by row: the last index runs over a contiguous row, the diagrams are
//! grouped by the blocks that touch it, so one group costs one scalar sum and one fused vector
//! pass. Symmetric slices are evaluated once per sorted index tuple.

use super::estimate::{Estimate, LayerEstimate, mode_products, mode_products_diag};
use super::gauss::VAR_FLOOR;
use super::kprop::wick;
use super::linalg::{View, a_wt, gemm, w_c};
use super::{Cancel, Input, MlpError, Net};
use crate::numeric::{dot8 as dot, sum8 as sum};
use rayon::prelude::*;
use std::sync::OnceLock;

#[path = "kprop3f.rs"]
mod kprop3f;
pub use kprop3f::kprop3_factored;
#[path = "kprop4f.rs"]
mod kprop4f;
pub use kprop4f::kprop4_factored;

/// Largest derivative order a diagram puts on one index (cost ≤ 4).
const KMAX: usize = 8;
/// Largest power of one activation in a tracked slice.
const PMAX: usize = 6;
/// The symmetrisation weights of `Sym(A ⊗ M)` (6 and 10 terms) and `Sym(M ⊗ M ⊗ M)` (15).
const SIXTH: f64 = 1.0 / 6.0;
const TENTH: f64 = 1.0 / 10.0;
const FIFTEENTH: f64 = 1.0 / 15.0;

/// A cumulant block: its degree and the positions of its slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Block {
    deg: usize,
    pos: [usize; 6],
}

/// One Wick diagram on `d ≤ 4` distinct positions.
#[derive(Debug, Clone)]
struct Diagram {
    blocks: Vec<Block>,
    /// Block vectors (multiplicity of each position), for the factored filter.
    vecs: Vec<[usize; 4]>,
    coef: f64,
    k: [usize; 4],
}

/// `n` zeros, on huge pages when large (an `n⁴` buffer otherwise spends more time in page faults
/// than in the work that fills it).
fn zeros(n: usize) -> Vec<f64> {
    crate::mem::zeroed_huge(n)
}

fn factorial(n: usize) -> f64 {
    (1..=n).map(|x| x as f64).product()
}

fn block_cost(v: &[usize; 4]) -> usize {
    let s: usize = v.iter().sum();
    s - 1 - usize::from(v.iter().all(|x| x % 2 == 0))
}

/// The connected, 2-mixed diagrams on `d` positions of cost `≤ budget` with block degrees
/// `≤ max_deg`.
fn diagrams(d: usize, budget: usize, max_deg: usize) -> Vec<Diagram> {
    let mut cands: Vec<[usize; 4]> = Vec::new();
    let mut v = [0usize; 4];
    fn rec(a: usize, d: usize, max: usize, v: &mut [usize; 4], out: &mut Vec<[usize; 4]>) {
        if a == d {
            out.push(*v);
            return;
        }
        for x in 0..=max {
            v[a] = x;
            rec(a + 1, d, max, v, out);
        }
        v[a] = 0;
    }
    let mut all = Vec::new();
    rec(0, d, max_deg, &mut v, &mut all);
    for v in all {
        let s: usize = v.iter().sum();
        let supp = v.iter().filter(|&&x| x > 0).count();
        if s < 2 || s > max_deg || (s <= 2 && supp <= 1) || block_cost(&v) > budget {
            continue;
        }
        cands.push(v);
    }
    let mut out = Vec::new();
    let mut chosen: Vec<usize> = Vec::new();
    fn multisets(
        start: usize,
        left: usize,
        cands: &[[usize; 4]],
        chosen: &mut Vec<usize>,
        emit: &mut dyn FnMut(&[usize]),
    ) {
        emit(chosen);
        for c in start..cands.len() {
            let x = block_cost(&cands[c]);
            if x <= left {
                chosen.push(c);
                multisets(c, left - x, cands, chosen, emit);
                chosen.pop();
            }
        }
    }
    let mut emit = |sel: &[usize]| {
        let mut parent: Vec<usize> = (0..d).collect();
        fn find(p: &[usize], mut x: usize) -> usize {
            while p[x] != x {
                x = p[x];
            }
            x
        }
        for &c in sel {
            let v = &cands[c];
            let supp: Vec<usize> = (0..d).filter(|&a| v[a] > 0).collect();
            for &b in &supp[1..] {
                let (ra, rb) = (find(&parent, supp[0]), find(&parent, b));
                parent[ra] = rb;
            }
        }
        let root = find(&parent, 0);
        if (1..d).any(|a| find(&parent, a) != root) {
            return;
        }
        let mut k = [0usize; 4];
        let mut coef = 1.0;
        let mut blocks = Vec::new();
        let mut vecs = Vec::new();
        for (idx, &c) in sel.iter().enumerate() {
            let v = &cands[c];
            let mut pos = [0usize; 6];
            let mut deg = 0;
            for a in 0..d {
                k[a] += v[a];
                coef /= factorial(v[a]);
                for _ in 0..v[a] {
                    pos[deg] = a;
                    deg += 1;
                }
            }
            let mult = sel[..=idx].iter().filter(|&&x| x == c).count();
            coef /= mult as f64;
            blocks.push(Block { deg, pos });
            vecs.push(*v);
        }
        if k.iter().any(|&x| x > KMAX) {
            return;
        }
        out.push(Diagram {
            blocks,
            vecs,
            coef,
            k,
        });
    };
    multisets(0, budget, &cands, &mut chosen, &mut emit);
    out
}

/// The reference's `is_hypertree` on a diagram's blocks (parallel 2-support blocks merged).
pub(super) fn is_hypertree(vecs: &[[usize; 4]], d: usize) -> bool {
    let supports: Vec<u32> = vecs
        .iter()
        .map(|v| (0..d).filter(|&a| v[a] > 0).fold(0u32, |m, a| m | (1 << a)))
        .collect();
    let mut edges: Vec<u32> = Vec::new();
    for &s in &supports {
        let c = supports.iter().filter(|&&x| x == s).count();
        if c > 1 && s.count_ones() != 2 {
            return false;
        }
        if !edges.contains(&s) {
            edges.push(s);
        }
    }
    for (i, a) in edges.iter().enumerate() {
        for b in &edges[i + 1..] {
            if (a & b).count_ones() >= 2 {
                return false;
            }
        }
    }
    let verts = edges.iter().fold(0u32, |m, e| m | e).count_ones() as usize;
    let sum: usize = edges.iter().map(|e| e.count_ones() as usize - 1).sum();
    sum == verts.max(1) - 1
}

/// The reference's `factored_keeps_term` for `K = 4` (`p` the slice's powers).
fn factored_keeps(p: &[usize], dg: &Diagram, k_max: usize) -> bool {
    if p.len() == k_max && p.iter().all(|&x| x == 1) {
        return is_hypertree(&dg.vecs, k_max);
    }
    let mut ones = [0usize; 4];
    ones[..k_max].fill(1);
    dg.vecs.len() == 1 || !dg.vecs.contains(&ones)
}

/// A symmetric third cumulant on its repeated indices: `d3[i] = T_iii`, `d21[i n + j] = T_iij`.
#[derive(Clone, Copy)]
struct T3Slices<'a> {
    n: usize,
    d3: &'a [f64],
    d21: &'a [f64],
}

impl T3Slices<'_> {
    /// `T_ijk` for indices with a repeat; NaN on three distinct indices (never read: the factored
    /// form handles those, and a NaN would surface as a non-finite estimate, not a wrong number).
    #[inline]
    fn get(&self, ix: &[usize]) -> f64 {
        let (a, b, c, n) = (ix[0], ix[1], ix[2], self.n);
        if a == b {
            if b == c {
                self.d3[a]
            } else {
                self.d21[a * n + c]
            }
        } else if a == c {
            self.d21[a * n + b]
        } else if b == c {
            self.d21[b * n + a]
        } else {
            debug_assert!(false, "all-distinct entry of a sliced third cumulant");
            f64::NAN
        }
    }
}

/// A symmetric fourth cumulant on its repeated indices, as one `n³` table
/// `g[(x n + y) n + z] = Q_xxyz` (every `y, z`: `Q_xxxx`, `Q_xxxz`, `Q_xxzz` included).
#[derive(Clone, Copy)]
struct Q4Slices<'a> {
    n: usize,
    g: &'a [f64],
}

impl Q4Slices<'_> {
    /// `Q_ijkl` for indices with a repeat; NaN on four distinct indices (never read: the factored
    /// form handles those).
    #[inline]
    fn get(&self, ix: &[usize]) -> f64 {
        let n = self.n;
        for a in 0..4 {
            for b in a + 1..4 {
                if ix[a] == ix[b] {
                    let mut o = [0usize; 2];
                    let mut c = 0;
                    for (s, &v) in ix.iter().enumerate() {
                        if s != a && s != b {
                            o[c] = v;
                            c += 1;
                        }
                    }
                    return self.g[(ix[a] * n + o[0]) * n + o[1]];
                }
            }
        }
        debug_assert!(false, "all-distinct entry of a sliced fourth cumulant");
        f64::NAN
    }

    /// The row `r[l] = Q(fixed…, l, …, l)` (`nl` slots on the row index) for `l ∈ lo..hi`;
    /// the fixed slots carry a repeated index when `nl = 1`.
    fn row(&self, fixed: &[usize], nl: usize, lo: usize, hi: usize, r: &mut [f64]) {
        let n = self.n;
        let (base, stride) = match (nl, fixed) {
            (1, &[a, b, c]) => {
                let (x, y) = if a == b || a == c {
                    (a, if a == b { c } else { b })
                } else {
                    debug_assert_eq!(b, c, "a row of the all-distinct fourth cumulant");
                    (b, a)
                };
                ((x * n + y) * n, 1)
            }
            (2, &[x, y]) => (x * n + y, n * n),
            (3, &[x]) => (x, n * n + n),
            _ => (0, n * n + n + 1),
        };
        for (l, v) in r.iter_mut().enumerate().take(hi).skip(lo) {
            *v = self.g[base + l * stride];
        }
    }
}

/// Pre-activation cumulants of one layer, read by the diagram sums.
struct Pre<'a> {
    n: usize,
    s: &'a [f64],
    t: Option<&'a [f64]>,
    /// The third cumulant on repeated indices only (`T_iii`, `T_iij`), when it is kept factored
    /// (its all-distinct entries are then never read).
    t3s: Option<T3Slices<'a>>,
    q: Option<&'a [f64]>,
    /// The fourth cumulant on repeated indices only, when it is kept factored.
    q4s: Option<Q4Slices<'a>>,
    /// `K = 3`: the fourth cumulant as `Sym(A ⊗ M)` (this core `A`) instead of `q`.
    a4: Option<&'a [f64]>,
    a5: Option<&'a [f64]>,
    c6: f64,
    metric: Option<&'a [f64]>,
    avg: f64,
    /// The dense tensors' diagonals on the row index, contiguous ([`Diags`]).
    diag: Option<&'a Diags>,
}

/// The diagonals of the dense pre-activation tensors `S`, `T`, `Q` with the row index on
/// `nl ≥ 2` slots, laid out contiguously: `X(f…, l, …, l)` at `[(f…) n + l]` (the fixed slots
/// first: the tensors are symmetric). A row kernel reads them in place instead of gathering
/// `n` entries `n^{nl−1} + … + 1` apart per prefix (a cache miss each in an `n⁴` tensor).
struct Diags {
    n: usize,
    /// `(degree, nl, table)`.
    tabs: Vec<(usize, usize, Vec<f64>)>,
}

impl Diags {
    /// Of the dense covariance `s` and, where kept dense, `T` and `Q`.
    fn new(n: usize, s: &[f64], t: Option<&[f64]>, q: Option<&[f64]>) -> Self {
        let mut tabs = Vec::new();
        let tensors = [(2, Some(s)), (3, t), (4, q)];
        for (deg, x) in tensors.into_iter().filter_map(|(d, x)| x.map(|x| (d, x))) {
            for nl in 2..=deg {
                let nfix = n.pow((deg - nl) as u32);
                let stride = (0..nl).fold(0usize, |acc, _| acc * n + 1);
                let span = n.pow(nl as u32);
                let mut tab = vec![0.0; nfix * n];
                tab.par_chunks_mut(n).enumerate().for_each(|(f, row)| {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = x[f * span + j * stride];
                    }
                });
                tabs.push((deg, nl, tab));
            }
        }
        Diags { n, tabs }
    }

    /// The row `X(f…, l, …, l)` over every `l` at the fixed slots' index `fix = (f…)`.
    #[inline]
    fn row(&self, deg: usize, nl: usize, fix: usize) -> Option<&[f64]> {
        self.tabs
            .iter()
            .find(|(d, k, _)| *d == deg && *k == nl)
            .map(|(_, _, t)| &t[fix * self.n..(fix + 1) * self.n])
    }
}

/// The 15 perfect matchings of six slots.
const MATCH6: [[(usize, usize); 3]; 15] = [
    [(0, 1), (2, 3), (4, 5)],
    [(0, 1), (2, 4), (3, 5)],
    [(0, 1), (2, 5), (3, 4)],
    [(0, 2), (1, 3), (4, 5)],
    [(0, 2), (1, 4), (3, 5)],
    [(0, 2), (1, 5), (3, 4)],
    [(0, 3), (1, 2), (4, 5)],
    [(0, 3), (1, 4), (2, 5)],
    [(0, 3), (1, 5), (2, 4)],
    [(0, 4), (1, 2), (3, 5)],
    [(0, 4), (1, 3), (2, 5)],
    [(0, 4), (1, 5), (2, 3)],
    [(0, 5), (1, 2), (3, 4)],
    [(0, 5), (1, 3), (2, 4)],
    [(0, 5), (1, 4), (2, 3)],
];

impl Pre<'_> {
    #[inline]
    fn met(&self, i: usize, j: usize) -> f64 {
        match self.metric {
            Some(mm) => mm[i * self.n + j],
            None => {
                if i == j {
                    self.avg
                } else {
                    0.0
                }
            }
        }
    }

    /// One entry of the degree-`ix.len()` pre-activation cumulant.
    #[inline]
    fn block(&self, ix: &[usize]) -> f64 {
        let n = self.n;
        match ix.len() {
            2 => self.s[ix[0] * n + ix[1]],
            3 => match (self.t, &self.t3s) {
                (Some(t), _) => t[(ix[0] * n + ix[1]) * n + ix[2]],
                (None, Some(ts)) => ts.get(ix),
                _ => 0.0,
            },
            4 => match (self.q, self.a4) {
                (Some(q), _) => q[((ix[0] * n + ix[1]) * n + ix[2]) * n + ix[3]],
                (None, _) if self.q4s.is_some() => self.q4s.expect("checked").get(ix),
                (None, Some(a)) => {
                    let (i, j, k, l) = (ix[0], ix[1], ix[2], ix[3]);
                    (a[i * n + j] * self.met(k, l)
                        + a[i * n + k] * self.met(j, l)
                        + a[i * n + l] * self.met(j, k)
                        + a[j * n + k] * self.met(i, l)
                        + a[j * n + l] * self.met(i, k)
                        + a[k * n + l] * self.met(i, j))
                        * SIXTH
                }
                _ => 0.0,
            },
            5 => self.a5.map_or(0.0, |a| {
                // Sym(A ⊗ M) over 5 slots: the metric on one of the 10 pairs
                let mut acc = 0.0;
                for p in 0..5 {
                    for q in p + 1..5 {
                        let mut r = [0usize; 3];
                        let mut c = 0;
                        for (x, &v) in ix.iter().enumerate() {
                            if x != p && x != q {
                                r[c] = v;
                                c += 1;
                            }
                        }
                        acc += self.met(ix[p], ix[q]) * a[(r[0] * n + r[1]) * n + r[2]];
                    }
                }
                acc * TENTH
            }),
            6 => {
                if self.c6 == 0.0 {
                    return 0.0;
                }
                let mut acc = 0.0;
                for m in &MATCH6 {
                    acc += m
                        .iter()
                        .map(|&(a, b)| self.met(ix[a], ix[b]))
                        .product::<f64>();
                }
                self.c6 * acc * FIFTEENTH
            }
            _ => 0.0,
        }
    }
}

/// Per-neuron Wick coefficients, `wk[(p - 1) * (KMAX + 1) + k][i] = E[∂^k φ_i^p]`.
struct Wicks {
    rows: Vec<Vec<f64>>,
    /// How many coefficients per neuron (for the FLOP count).
    ncoef: f64,
}

impl Wicks {
    /// The coefficients `need` marks, for every neuron.
    fn new(need: &[[bool; KMAX + 1]; PMAX], act: super::gauss::Act, m: &[f64], v: &[f64]) -> Self {
        let rows: Vec<Vec<f64>> = (0..PMAX * (KMAX + 1))
            .into_par_iter()
            .map(|pk| {
                let (p, k) = (pk / (KMAX + 1) + 1, pk % (KMAX + 1));
                if need[p - 1][k] {
                    m.iter()
                        .zip(v)
                        .map(|(&mi, &vi)| wick(act, mi, vi, k, p))
                        .collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        let ncoef = need.iter().flatten().filter(|&&x| x).count() as f64;
        Wicks { rows, ncoef }
    }

    #[inline]
    fn row(&self, p: usize, k: usize) -> &[f64] {
        &self.rows[(p - 1) * (KMAX + 1) + k]
    }
}

/// A slice's diagrams grouped by the blocks that touch the row position `L = d − 1`.
struct SlicePlan {
    d: usize,
    p: Vec<usize>,
    /// Distinct blocks touching `L`.
    specs: Vec<Block>,
    /// Per block in `specs`: it does not touch the innermost prefix position `L − 1` (its row
    /// stays while the positions before `L − 1` do).
    outer: Vec<bool>,
    /// Distinct blocks not touching `L` (evaluated once per prefix).
    fspecs: Vec<Block>,
    /// Per block in `fspecs`: as `outer` (its value stays while the positions before `L − 1` do).
    fouter: Vec<bool>,
    groups: Vec<Group>,
    /// The distinct products of per-prefix block values the members use: four factor ids into
    /// the block values (unused: [`ONE`]); evaluated once per prefix.
    fquads: Vec<[u16; 4]>,
    /// The distinct products of per-prefix Wick values: three ids (unused: [`GONE`], 1).
    gtrips: Vec<[u8; 3]>,
    flops_per_entry: f64,
}

struct Group {
    specs: Vec<usize>,
    k_l: usize,
    /// (coefficient, ids of the blocks not touching `L`, k on the positions before `L`)
    members: Vec<(f64, Vec<usize>, [usize; 4])>,
    /// The members flattened for the kernel: coefficient, the id of its product of block values
    /// in [`SlicePlan::fquads`] and of its product of Wick values in [`SlicePlan::gtrips`].
    flat: Vec<(f64, u8, u8)>,
    /// No block of the group touches the innermost prefix position: its row, and its row sum,
    /// stay while the positions before it do.
    outer: bool,
}

impl Group {
    /// The group's scalar at a prefix: `Σ_members coef · Π block values · Π Wick values`.
    #[inline(always)]
    fn scale(&self, fp: &[f64; MEMBER_PRODUCTS], gp: &[f64; MEMBER_PRODUCTS]) -> f64 {
        let mut sc = 0.0;
        for &(coef, f, gi) in &self.flat {
            sc += coef
                * fp[usize::from(f) & (MEMBER_PRODUCTS - 1)]
                * gp[usize::from(gi) & (MEMBER_PRODUCTS - 1)];
        }
        sc
    }

    /// `acc[lo..hi] += sc · w · Π_blocks row` (the Wick row `w` of the row index's order),
    /// each entry `((sc · w) · row₁) · row₂ …` ([`lane_axpy`]).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn axpy<const AVX: bool>(
        &self,
        sc: f64,
        w: &[f64],
        rows: &[&[f64]],
        lo: usize,
        hi: usize,
        acc: &mut [f64],
    ) {
        let (w, out) = (&w[lo..hi], &mut acc[lo..hi]);
        let r = |s: usize| &rows[s][lo..hi];
        match self.specs.as_slice() {
            [] => lane_axpy::<AVX, 0>(sc, w, [], out),
            [a] => lane_axpy::<AVX, 1>(sc, w, [r(*a)], out),
            [a, b] => lane_axpy::<AVX, 2>(sc, w, [r(*a), r(*b)], out),
            [a, b, c] => lane_axpy::<AVX, 3>(sc, w, [r(*a), r(*b), r(*c)], out),
            [a, b, c, e] => lane_axpy::<AVX, 4>(sc, w, [r(*a), r(*b), r(*c), r(*e)], out),
            more => {
                for (j, o) in out.iter_mut().enumerate() {
                    let mut x = sc * w[j];
                    for &s in more {
                        x *= rows[s][lo + j];
                    }
                    *o += x;
                }
            }
        }
    }

    /// `Σ_{l < n} w_l Π_blocks row_l`, in the fixed order of [`lane_sum`] (`AVX`: there).
    #[inline(always)]
    fn dot<const AVX: bool>(&self, w: &[f64], rows: &[&[f64]], n: usize) -> f64 {
        match self.specs.as_slice() {
            [] => lane_sum::<AVX, 0>(w, [], n),
            [a] => lane_sum::<AVX, 1>(w, [rows[*a]], n),
            [a, b] => lane_sum::<AVX, 2>(w, [rows[*a], rows[*b]], n),
            [a, b, c] => lane_sum::<AVX, 3>(w, [rows[*a], rows[*b], rows[*c]], n),
            [a, b, c, e] => lane_sum::<AVX, 4>(w, [rows[*a], rows[*b], rows[*c], rows[*e]], n),
            more => {
                let mut r: [&[f64]; 6] = [&[]; 6];
                assert!(more.len() <= 6, "a group of at most six row blocks");
                for (x, &s) in r.iter_mut().zip(more) {
                    *x = rows[s];
                }
                let mut total = 0.0;
                let mut buf = [0.0f64; 64];
                let mut lo = 0;
                while lo < n {
                    let hi = (lo + 64).min(n);
                    let b = &mut buf[..hi - lo];
                    b.copy_from_slice(&w[lo..hi]);
                    for x in &r[..more.len()] {
                        for (v, y) in b.iter_mut().zip(&x[lo..hi]) {
                            *v *= y;
                        }
                    }
                    total += sum(b);
                    lo = hi;
                }
                total
            }
        }
    }

    /// `w_l Π_blocks row_l` at one `l`.
    #[inline(always)]
    fn at(&self, w: &[f64], rows: &[&[f64]], l: usize) -> f64 {
        self.specs.iter().fold(w[l], |x, &s| x * rows[s][l])
    }
}

/// `Σ_{l < n} w_l Π_k r_k[l]`, fused over the `K` rows, in eight lanes (two four-wide
/// accumulators `lo`, `hi` over blocks of eight, then `t = lo + hi`, `(t₀ + t₂) + (t₁ + t₃)`, then
/// the tail in order): a fixed order, the same bits with and without AVX2 (`AVX`: explicit
/// 256-bit registers; the compiler keeps this loop in 128-bit ones).
#[inline(always)]
fn lane_sum<const AVX: bool, const K: usize>(w: &[f64], r: [&[f64]; K], n: usize) -> f64 {
    let (w, r) = (&w[..n], r.map(|x| &x[..n]));
    let full = n / 8 * 8;
    #[cfg(target_arch = "x86_64")]
    if AVX {
        // SAFETY: `AVX` is set only inside functions compiled for AVX2 that run after the
        // CPU check; every load reads `b..b + 8` with `b + 8 ≤ full ≤ n` on slices of length `n`.
        let head = unsafe { lane_sum_avx2(w, &r, full) };
        return tail_sum(head, w, &r, full, n);
    }
    let (mut lo, mut hi) = ([0.0f64; 4], [0.0f64; 4]);
    for b in (0..full).step_by(8) {
        let mut v: [f64; 8] = w[b..b + 8].try_into().expect("eight");
        for x in &r {
            for (vk, xk) in v.iter_mut().zip(&x[b..b + 8]) {
                *vk *= xk;
            }
        }
        for k in 0..4 {
            lo[k] += v[k];
            hi[k] += v[k + 4];
        }
    }
    let t = [lo[0] + hi[0], lo[1] + hi[1], lo[2] + hi[2], lo[3] + hi[3]];
    tail_sum((t[0] + t[2]) + (t[1] + t[3]), w, &r, full, n)
}

/// `head + Σ_{l ∈ full..n} w_l Π_k r_k[l]`, in order.
#[inline(always)]
fn tail_sum<const K: usize>(head: f64, w: &[f64], r: &[&[f64]; K], full: usize, n: usize) -> f64 {
    let mut s = head;
    for j in full..n {
        let mut v = w[j];
        for x in r {
            v *= x[j];
        }
        s += v;
    }
    s
}

/// `out_l += ((sc · w_l) · r₁[l]) · r₂[l] …` over `out`'s length (every slice that long), four
/// entries at a time (`AVX`: in one 256-bit register; the same operations, the same bits).
#[inline(always)]
fn lane_axpy<const AVX: bool, const K: usize>(sc: f64, w: &[f64], r: [&[f64]; K], out: &mut [f64]) {
    let m = out.len();
    let (w, r) = (&w[..m], r.map(|x| &x[..m]));
    let full = m / 4 * 4;
    #[cfg(target_arch = "x86_64")]
    if AVX {
        // SAFETY: `AVX` is set only inside functions compiled for AVX2 that run after the CPU
        // check; every access is at `b..b + 4` with `b + 4 ≤ full ≤ m`, the slices' length.
        unsafe { lane_axpy_avx2(sc, w, &r, &mut out[..full]) };
    }
    if !AVX || cfg!(not(target_arch = "x86_64")) {
        for b in (0..full).step_by(4) {
            let mut v: [f64; 4] = w[b..b + 4].try_into().expect("four");
            for vk in &mut v {
                *vk *= sc;
            }
            for x in &r {
                for (vk, xk) in v.iter_mut().zip(&x[b..b + 4]) {
                    *vk *= xk;
                }
            }
            for (o, vk) in out[b..b + 4].iter_mut().zip(v) {
                *o += vk;
            }
        }
    }
    for j in full..m {
        let mut v = sc * w[j];
        for x in &r {
            v *= x[j];
        }
        out[j] += v;
    }
}

/// [`lane_axpy`] on `out`'s length (a multiple of 4) in AVX registers.
///
/// # Safety
/// The CPU supports AVX2; `w` and every `r_k` hold at least `out.len()` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn lane_axpy_avx2<const K: usize>(sc: f64, w: &[f64], r: &[&[f64]; K], out: &mut [f64]) {
    use std::arch::x86_64::{
        _mm256_add_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_set1_pd, _mm256_storeu_pd,
    };
    let full = out.len();
    debug_assert!(full.is_multiple_of(4) && w.len() >= full && r.iter().all(|x| x.len() >= full));
    let scv = _mm256_set1_pd(sc);
    let mut b = 0;
    while b < full {
        // SAFETY: b + 4 ≤ full ≤ the length of every slice (the caller's contract).
        unsafe {
            let mut v = _mm256_mul_pd(scv, _mm256_loadu_pd(w.as_ptr().add(b)));
            for x in r {
                v = _mm256_mul_pd(v, _mm256_loadu_pd(x.as_ptr().add(b)));
            }
            let o = out.as_mut_ptr().add(b);
            _mm256_storeu_pd(o, _mm256_add_pd(_mm256_loadu_pd(o), v));
        }
        b += 4;
    }
}

/// The first `full` (a multiple of 8) terms of [`lane_sum`] in AVX registers.
///
/// # Safety
/// The CPU supports AVX2, and `w` and every `r_k` hold at least `full` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn lane_sum_avx2<const K: usize>(w: &[f64], r: &[&[f64]; K], full: usize) -> f64 {
    use std::arch::x86_64::{
        _mm_add_pd, _mm_cvtsd_f64, _mm_unpackhi_pd, _mm256_add_pd, _mm256_castpd256_pd128,
        _mm256_extractf128_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_setzero_pd,
    };
    debug_assert!(full.is_multiple_of(8) && w.len() >= full && r.iter().all(|x| x.len() >= full));
    let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut b = 0;
    while b < full {
        // SAFETY: b + 8 ≤ full ≤ the length of every slice (the caller's contract).
        unsafe {
            let mut v = _mm256_loadu_pd(w.as_ptr().add(b));
            let mut u = _mm256_loadu_pd(w.as_ptr().add(b + 4));
            for x in r {
                v = _mm256_mul_pd(v, _mm256_loadu_pd(x.as_ptr().add(b)));
                u = _mm256_mul_pd(u, _mm256_loadu_pd(x.as_ptr().add(b + 4)));
            }
            lo = _mm256_add_pd(lo, v);
            hi = _mm256_add_pd(hi, u);
        }
        b += 8;
    }
    let t = _mm256_add_pd(lo, hi);
    let p = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
    _mm_cvtsd_f64(p) + _mm_cvtsd_f64(_mm_unpackhi_pd(p, p))
}

/// The most blocks touching the row position a slice has.
const MAX_SPECS: usize = 64;
/// The most distinct per-prefix products of block values, and of Wick values, a slice's members use
/// (51 and 32 at K = 4; a power of two: the ids are masked into range).
const MEMBER_PRODUCTS: usize = 64;

/// One task's rows of the blocks touching the row position: a buffer per block, or the
/// pre-activation cumulant's own row where it lies contiguously (read in place, not copied).
/// One task's state of [`SlicePlan::row_sums`]: the rows, per group its scalar and kept sum,
/// and the Wick rows zeroed at the prefix's indices.
struct SumState<'p> {
    rows: Rows<'p>,
    sums: Vec<(f64, Option<f64>)>,
    wz: Vec<Vec<f64>>,
}

struct Rows<'p> {
    bufs: Vec<Vec<f64>>,
    direct: Vec<Option<&'p [f64]>>,
    /// The per-prefix values of the blocks not touching the row position (slot [`ONE`]: 1).
    fv: [f64; FV_MASK + 1],
}

impl Rows<'_> {
    fn new(nspec: usize, n: usize) -> Self {
        let mut fv = [0.0; FV_MASK + 1];
        fv[ONE as usize] = 1.0;
        Rows {
            bufs: vec![vec![0.0; n]; nspec],
            direct: vec![None; nspec],
            fv,
        }
    }
}

/// Id of the constant 1 among the per-prefix block values.
const ONE: u16 = 127;
/// Id of the constant 1 among the per-prefix Wick values.
const GONE: u8 = 3 * (KMAX as u8 + 1);
/// Index masks of the per-prefix block and Wick values (the arrays hold `MASK + 1` values).
const FV_MASK: usize = ONE as usize;
const GK_MASK: usize = 31;
const _: () = assert!(
    GONE as usize <= GK_MASK
        && (FV_MASK + 1).is_power_of_two()
        && MEMBER_PRODUCTS.is_power_of_two()
        && MEMBER_PRODUCTS <= 256
);

impl SlicePlan {
    fn new(diags: &[Diagram], p: &[usize], factor: bool, k_max: usize) -> Self {
        let d = p.len();
        let l = d - 1;
        let mut specs: Vec<Block> = Vec::new();
        let mut fspecs: Vec<Block> = Vec::new();
        let mut groups: Vec<Group> = Vec::new();
        let mut flops = 0.0;
        for dg in diags {
            if factor && d == k_max && !factored_keeps(p, dg, k_max) {
                continue;
            }
            let mut ids = Vec::new();
            let mut free = Vec::new();
            for b in &dg.blocks {
                if b.pos[..b.deg].contains(&l) {
                    let id = specs.iter().position(|x| x == b).unwrap_or_else(|| {
                        specs.push(*b);
                        specs.len() - 1
                    });
                    ids.push(id);
                } else {
                    let id = fspecs.iter().position(|x| x == b).unwrap_or_else(|| {
                        fspecs.push(*b);
                        fspecs.len() - 1
                    });
                    free.push(id);
                }
            }
            ids.sort_unstable();
            flops += 1.0 + (free.len() + l) as f64;
            let k_l = dg.k[l];
            match groups.iter_mut().find(|g| g.specs == ids && g.k_l == k_l) {
                Some(g) => g.members.push((dg.coef, free, dg.k)),
                None => {
                    flops += 2.0 + ids.len() as f64;
                    groups.push(Group {
                        specs: ids,
                        k_l,
                        members: vec![(dg.coef, free, dg.k)],
                        flat: Vec::new(),
                        outer: false,
                    });
                }
            }
        }
        let (mut fquads, mut gtrips): (Vec<[u16; 4]>, Vec<[u8; 3]>) = (Vec::new(), Vec::new());
        fn id_of<T: PartialEq>(v: &mut Vec<T>, x: T) -> u8 {
            let id = v.iter().position(|y| *y == x).unwrap_or_else(|| {
                v.push(x);
                v.len() - 1
            });
            assert!(
                id < MEMBER_PRODUCTS,
                "at most {MEMBER_PRODUCTS} distinct member products"
            );
            id as u8
        }
        for g in &mut groups {
            g.flat = g
                .members
                .iter()
                .map(|(coef, free, k)| {
                    let mut f = [ONE; 4];
                    for (x, &id) in f.iter_mut().zip(free) {
                        *x = id as u16;
                    }
                    let mut gi = [GONE; 3];
                    for a in 0..l {
                        gi[a] = (a * (KMAX + 1) + k[a]) as u8;
                    }
                    (*coef, id_of(&mut fquads, f), id_of(&mut gtrips, gi))
                })
                .collect();
            debug_assert!(g.members.iter().all(|(_, free, _)| free.len() <= 4));
        }
        debug_assert!(fspecs.len() < ONE as usize);
        assert!(
            specs.len() <= MAX_SPECS,
            "a slice with more than {MAX_SPECS} row blocks"
        );
        let outer: Vec<bool> = specs
            .iter()
            .map(|b| l >= 1 && !b.pos[..b.deg].contains(&(l - 1)))
            .collect();
        for g in &mut groups {
            g.outer = l >= 1 && g.specs.iter().all(|&s| outer[s]);
        }
        let fouter = fspecs
            .iter()
            .map(|b| l >= 1 && !b.pos[..b.deg].contains(&(l - 1)))
            .collect();
        SlicePlan {
            d,
            p: p.to_vec(),
            specs,
            outer,
            fspecs,
            fouter,
            groups,
            fquads,
            gtrips,
            flops_per_entry: flops,
        }
    }

    /// The row `r[l] = pK(φ_{ix_0}^{p_0}, …, φ_l^{p_L})` for `l ∈ start..n` (entries where `l`
    /// equals a prefix index are meaningless, those below `start` too: some are computed, so
    /// that the kernels run in whole registers). With AVX2 where the CPU has it (the same
    /// operations in the same order on wider registers: the same bits; no FMA contraction).
    #[allow(clippy::too_many_arguments)]
    fn row<'p>(
        &self,
        pre: &Pre<'p>,
        wk: &Wicks,
        prefix: &[usize],
        start: usize,
        keep: bool,
        rows: &mut Rows<'p>,
        acc: &mut [f64],
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                unsafe { self.row_avx2(pre, wk, prefix, start, keep, rows, acc) };
                return;
            }
        }
        self.row_generic::<false>(pre, wk, prefix, start, keep, rows, acc);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn row_avx2<'p>(
        &self,
        pre: &Pre<'p>,
        wk: &Wicks,
        prefix: &[usize],
        start: usize,
        keep: bool,
        rows: &mut Rows<'p>,
        acc: &mut [f64],
    ) {
        self.row_generic::<true>(pre, wk, prefix, start, keep, rows, acc);
    }

    /// The sum of the row over `l ∈ 0..n` outside the prefix's own indices (those entries
    /// belong to other slices), without forming the row: each group's `Σ_l w_l Π row_l` with
    /// Wick rows `wz` that are zero at the outer prefix indices (refreshed when those move)
    /// and at the innermost one (set and restored here); a group none of whose blocks touches
    /// the innermost prefix position keeps its sum in `sums` while only that position moves,
    /// less its entry there. AVX2 as in [`Self::row`].
    fn row_sums<'p>(
        &self,
        pre: &Pre<'p>,
        wk: &Wicks,
        prefix: &[usize],
        keep: bool,
        st: &mut SumState<'p>,
    ) -> f64 {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                return unsafe { self.row_sums_avx2(pre, wk, prefix, keep, st) };
            }
        }
        self.row_sums_generic::<false>(pre, wk, prefix, keep, st)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn row_sums_avx2<'p>(
        &self,
        pre: &Pre<'p>,
        wk: &Wicks,
        prefix: &[usize],
        keep: bool,
        st: &mut SumState<'p>,
    ) -> f64 {
        self.row_sums_generic::<true>(pre, wk, prefix, keep, st)
    }

    #[inline(always)]
    fn row_sums_generic<'p, const AVX: bool>(
        &self,
        pre: &Pre<'p>,
        wk: &Wicks,
        prefix: &[usize],
        keep: bool,
        st: &mut SumState<'p>,
    ) -> f64 {
        let SumState { rows, sums, wz } = st;
        let n = pre.n;
        let l = self.d - 1;
        let pl = self.p[l];
        let (outer_ix, inner) = prefix.split_at(l - 1);
        let inner = inner[0];
        let (fp, gp) = self.prefix_products(pre, wk, prefix, keep, &mut rows.fv);
        let refs = self.fill_rows(pre, prefix, 0, keep, rows);
        if !keep {
            for (k, z) in wz.iter_mut().enumerate() {
                let src = wk.row(pl, k);
                if !src.is_empty() {
                    z.copy_from_slice(src);
                    for &i in outer_ix {
                        z[i] = 0.0;
                    }
                }
            }
            for s in sums.iter_mut() {
                s.1 = None;
            }
        }
        // the kept groups' sums first (their Wick rows still hold the innermost entry)
        for (g, s) in self.groups.iter().zip(sums.iter_mut()) {
            s.0 = g.scale(&fp, &gp);
            if g.outer && s.0 != 0.0 && s.1.is_none() {
                s.1 = Some(g.dot::<AVX>(&wz[g.k_l], &refs, n));
            }
        }
        for z in wz.iter_mut().filter(|z| !z.is_empty()) {
            z[inner] = 0.0;
        }
        let mut total = 0.0;
        for (g, &(sc, kept)) in self.groups.iter().zip(sums.iter()) {
            if sc == 0.0 {
                continue;
            }
            total += sc
                * match kept {
                    Some(v) => v - g.at(wk.row(pl, g.k_l), &refs, inner),
                    None => g.dot::<AVX>(&wz[g.k_l], &refs, n),
                };
        }
        for (k, z) in wz.iter_mut().enumerate() {
            if !z.is_empty() {
                z[inner] = wk.row(pl, k)[inner];
            }
        }
        total
    }

    /// The rows of the blocks touching the row position over `start..n` at `prefix` (those
    /// not touching the innermost prefix position kept from the last prefix when `keep`).
    #[inline(always)]
    fn fill_rows<'p, 'r>(
        &self,
        pre: &Pre<'p>,
        prefix: &[usize],
        start: usize,
        keep: bool,
        rows: &'r mut Rows<'p>,
    ) -> [&'r [f64]; MAX_SPECS] {
        let n = pre.n;
        for ((sid, b), &outer) in self.specs.iter().enumerate().zip(&self.outer) {
            if !(keep && outer) {
                rows.direct[sid] = self.fill(pre, b, prefix, start, n, &mut rows.bufs[sid]);
            }
        }
        let mut refs: [&[f64]; MAX_SPECS] = [&[]; MAX_SPECS];
        for ((r, d), buf) in refs.iter_mut().zip(&rows.direct).zip(&rows.bufs) {
            *r = d.unwrap_or(buf);
        }
        refs
    }

    /// The row of block `b` over the row index `l ∈ lo..hi` at `prefix` (entries where `l`
    /// equals a prefix index are meaningless).
    #[inline(always)]
    fn fill<'p>(
        &self,
        pre: &Pre<'p>,
        b: &Block,
        prefix: &[usize],
        lo: usize,
        hi: usize,
        r: &mut [f64],
    ) -> Option<&'p [f64]> {
        let n = pre.n;
        let l = self.d - 1;
        let mut ix = [0usize; 6];
        let nl = b.pos[..b.deg].iter().filter(|&&x| x == l).count();
        let tensor = match b.deg {
            2 => Some(pre.s),
            3 => pre.t,
            4 => pre.q,
            _ => None,
        };
        let sliced = b.deg == 3 && pre.t3s.is_some();
        if let (4, Some(qs)) = (b.deg, &pre.q4s) {
            let mut fx = [0usize; 3];
            let mut nf = 0;
            for &slot in &b.pos[..4] {
                if slot != l {
                    fx[nf] = prefix[slot];
                    nf += 1;
                }
            }
            qs.row(&fx[..nf], nl, lo, hi, r);
        } else if !sliced && b.deg <= 4 && (b.deg < 4 || pre.a4.is_none()) {
            match tensor {
                Some(tn) => {
                    // symmetric: the fixed slots first, then the nl row slots, so the row
                    // is tn[base + l · (n^{nl−1} + … + 1)]
                    let fix = b.pos[..b.deg]
                        .iter()
                        .filter(|&&x| x != l)
                        .fold(0usize, |o, &x| o * n + prefix[x]);
                    if let Some(row) = pre.diag.and_then(|dg| dg.row(b.deg, nl, fix)) {
                        return Some(row);
                    }
                    let base = fix * n.pow(nl as u32);
                    let stride = (0..nl).fold(0usize, |acc, _| acc * n + 1);
                    if stride == 1 {
                        // read in place
                        return Some(&tn[base..base + n]);
                    } else {
                        for (j, x) in r.iter_mut().enumerate().take(hi).skip(lo) {
                            *x = tn[base + j * stride];
                        }
                    }
                }
                None => r[lo..hi].fill(0.0),
            }
        } else if b.deg == 4 && nl >= 2 && pre.a4.is_some() && pre.metric.is_some() {
            // Sym(A ⊗ M) with the row index on 2, 3 or 4 slots
            let (a, mm) = (pre.a4.expect("checked"), pre.metric.expect("checked"));
            let fx: Vec<usize> = b.pos[..b.deg]
                .iter()
                .filter(|&&x| x != l)
                .map(|&x| prefix[x])
                .collect();
            let dg = |t: &[f64], j: usize| t[j * n + j];
            for (j, v) in r.iter_mut().enumerate().take(hi).skip(lo) {
                *v = match nl {
                    2 => {
                        let (x, y) = (fx[0], fx[1]);
                        (a[x * n + y] * dg(mm, j)
                            + mm[x * n + y] * dg(a, j)
                            + 2.0 * a[x * n + j] * mm[y * n + j]
                            + 2.0 * a[y * n + j] * mm[x * n + j])
                            * SIXTH
                    }
                    3 => {
                        let x = fx[0];
                        (a[x * n + j] * dg(mm, j) + dg(a, j) * mm[x * n + j]) * 0.5
                    }
                    _ => dg(a, j) * dg(mm, j),
                };
            }
        } else if nl == 1 && (b.deg == 4 || b.deg == 5 || b.deg == 6) {
            // the fixed slots' indices; the row index is the last slot
            let mut fx = [0usize; 5];
            let mut nf = 0;
            for &slot in &b.pos[..b.deg] {
                if slot != l {
                    fx[nf] = prefix[slot];
                    nf += 1;
                }
            }
            r[lo..hi].fill(0.0);
            // add `c · M[x, ·]` to the row
            let add_met = |r: &mut [f64], x: usize, c: f64| match pre.metric {
                Some(mm) => {
                    for (v, m) in r[lo..hi].iter_mut().zip(&mm[x * n + lo..x * n + hi]) {
                        *v += c * m;
                    }
                }
                None => {
                    if (lo..hi).contains(&x) {
                        r[x] += c * pre.avg;
                    }
                }
            };
            if b.deg == 4 {
                if let Some(a) = pre.a4 {
                    // Sym(A ⊗ M) over the fixed x0 x1 x2 and l
                    let [x0, x1, x2, _, _] = fx;
                    for (mxy, z) in [
                        (pre.met(x0, x1), x2),
                        (pre.met(x0, x2), x1),
                        (pre.met(x1, x2), x0),
                    ] {
                        if mxy != 0.0 {
                            let c = mxy * SIXTH;
                            for (v, av) in r[lo..hi].iter_mut().zip(&a[z * n + lo..z * n + hi]) {
                                *v += c * av;
                            }
                        }
                    }
                    add_met(r, x0, a[x1 * n + x2] * SIXTH);
                    add_met(r, x1, a[x0 * n + x2] * SIXTH);
                    add_met(r, x2, a[x0 * n + x1] * SIXTH);
                }
            } else if b.deg == 5 {
                if let Some(a) = pre.a5 {
                    // Sym(A ⊗ M): the metric on a pair of fixed slots (A's row over l), or on
                    // a fixed slot and l (A's three other fixed slots)
                    for p in 0..4 {
                        for q in p + 1..4 {
                            let mut o = [0usize; 2];
                            let mut c = 0;
                            for (x, &v) in fx[..4].iter().enumerate() {
                                if x != p && x != q {
                                    o[c] = v;
                                    c += 1;
                                }
                            }
                            let mpq = pre.met(fx[p], fx[q]) * TENTH;
                            if mpq != 0.0 {
                                let off = (o[0] * n + o[1]) * n;
                                for (v, av) in r[lo..hi].iter_mut().zip(&a[off + lo..off + hi]) {
                                    *v += mpq * av;
                                }
                            }
                        }
                        let mut o = [0usize; 3];
                        let mut c = 0;
                        for (x, &v) in fx[..4].iter().enumerate() {
                            if x != p {
                                o[c] = v;
                                c += 1;
                            }
                        }
                        add_met(r, fx[p], a[(o[0] * n + o[1]) * n + o[2]] * TENTH);
                    }
                }
            } else if pre.c6 != 0.0 {
                // c Sym(M ⊗ M ⊗ M): l paired with fixed slot p, the other four matched
                for p in 0..5 {
                    let mut o = [0usize; 4];
                    let mut c = 0;
                    for (x, &v) in fx[..5].iter().enumerate() {
                        if x != p {
                            o[c] = v;
                            c += 1;
                        }
                    }
                    let rest = pre.met(o[0], o[1]) * pre.met(o[2], o[3])
                        + pre.met(o[0], o[2]) * pre.met(o[1], o[3])
                        + pre.met(o[0], o[3]) * pre.met(o[1], o[2]);
                    if rest != 0.0 {
                        add_met(r, fx[p], pre.c6 * rest * FIFTEENTH);
                    }
                }
            }
        } else if let (5, 2, Some(a), Some(mm)) = (b.deg, nl, pre.a5, pre.metric) {
            // Sym(A ⊗ M) on (x0, x1, x2, l, l): the metric on (l, l), on (x_p, l) (twice)
            // or on (x_p, x_q), A's rows and its (x, l, l) diagonal

            let mut fx = [0usize; 3];
            let mut nf = 0;
            for &slot in &b.pos[..5] {
                if slot != l {
                    fx[nf] = prefix[slot];
                    nf += 1;
                }
            }
            let [x0, x1, x2] = fx;
            let a_row = |p: usize, q: usize| &a[(p * n + q) * n..(p * n + q + 1) * n];
            let m_row = |p: usize| &mm[p * n..(p + 1) * n];
            let (a12, a02, a01) = (a_row(x1, x2), a_row(x0, x2), a_row(x0, x1));
            let (m0, m1, m2) = (m_row(x0), m_row(x1), m_row(x2));
            let a012 = a01[x2];
            let (m01, m02, m12) = (m0[x1], m0[x2], m1[x2]);
            let (d0, d1, d2) = (x0 * n * n, x1 * n * n, x2 * n * n);
            for j in lo..hi {
                let jj = j * (n + 1);
                r[j] = (mm[jj] * a012
                    + 2.0 * (m0[j] * a12[j] + m1[j] * a02[j] + m2[j] * a01[j])
                    + m01 * a[d2 + jj]
                    + m02 * a[d1 + jj]
                    + m12 * a[d0 + jj])
                    * TENTH;
            }
        } else if let (6, 2, Some(mm)) = (b.deg, nl, pre.metric) {
            // c Sym(M ⊗ M ⊗ M) on (x0, …, x3, l, l): l with l (times the matchings of the
            // x's), or the two l's with x_p and x_q (twice) and the other two x's matched

            let mut x = [0usize; 4];
            let mut nf = 0;
            for &slot in &b.pos[..6] {
                if slot != l {
                    x[nf] = prefix[slot];
                    nf += 1;
                }
            }
            let m = |p: usize, q: usize| mm[x[p] * n + x[q]];
            let pm = m(0, 1) * m(2, 3) + m(0, 2) * m(1, 3) + m(0, 3) * m(1, 2);
            let c = pre.c6 * FIFTEENTH;
            let mr = |p: usize| &mm[x[p] * n..(x[p] + 1) * n];
            let (r0, r1, r2, r3) = (mr(0), mr(1), mr(2), mr(3));
            let (m01, m02, m03, m12, m13, m23) =
                (m(0, 1), m(0, 2), m(0, 3), m(1, 2), m(1, 3), m(2, 3));
            for j in lo..hi {
                r[j] = c
                    * (mm[j * (n + 1)] * pm
                        + 2.0
                            * (r0[j] * r1[j] * m23
                                + r0[j] * r2[j] * m13
                                + r0[j] * r3[j] * m12
                                + r1[j] * r2[j] * m03
                                + r1[j] * r3[j] * m02
                                + r2[j] * r3[j] * m01));
            }
        } else if let Some(x) = sliced
            .then(|| {
                // the fixed slots of a third-cumulant block on a repeated index: none, or
                // all on one position (then its prefix index)
                let mut fixed = b.pos[..3].iter().filter(|&&s| s != l);
                match fixed.next() {
                    None => Some(usize::MAX),
                    Some(&f) => fixed.all(|&s| s == f).then(|| prefix[f]),
                }
            })
            .flatten()
        {
            // a third cumulant kept on its repeated indices (T3Slices::get, a row at a time)
            let ts = pre.t3s.expect("sliced");
            for (j, v) in r.iter_mut().enumerate().take(hi).skip(lo) {
                *v = match (nl, j == x) {
                    (3, _) => ts.d3[j],
                    (_, true) => ts.d3[x],
                    // T_xll
                    (2, false) => ts.d21[j * n + x],
                    // T_xxl
                    _ => ts.d21[x * n + j],
                };
            }
        } else {
            for (j, x) in r.iter_mut().enumerate().take(hi).skip(lo) {
                for (s, slot) in b.pos[..b.deg].iter().enumerate() {
                    ix[s] = if *slot == l { j } else { prefix[*slot] };
                }
                *x = pre.block(&ix[..b.deg]);
            }
        }
        None
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn row_generic<'p, const AVX: bool>(
        &self,
        pre: &Pre<'p>,
        wk: &Wicks,
        prefix: &[usize],
        start: usize,
        keep: bool,
        rows: &mut Rows<'p>,
        acc: &mut [f64],
    ) {
        let n = pre.n;
        let l = self.d - 1;
        // rows from `lo ≤ start` with `n − lo` a multiple of 4 (whole registers; the entries
        // below `start` are computed, finite and never read), growing with `start`, so the
        // kept rows cover it
        let lo = n.saturating_sub((n - start).div_ceil(4) * 4);
        let (fp, gp) = self.prefix_products(pre, wk, prefix, keep, &mut rows.fv);
        let refs = self.fill_rows(pre, prefix, lo, keep, rows);
        acc[lo..n].fill(0.0);
        for g in &self.groups {
            let sc = g.scale(&fp, &gp);
            if sc != 0.0 {
                g.axpy::<AVX>(sc, wk.row(self.p[l], g.k_l), &refs, lo, n, acc);
            }
        }
    }

    /// The per-prefix values the members multiply: the distinct products of the block values
    /// not touching the row index (in `fv`; those not touching the innermost prefix position
    /// kept from the last prefix when `keep`) and of the prefix's Wick values.
    #[inline(always)]
    fn prefix_products(
        &self,
        pre: &Pre<'_>,
        wk: &Wicks,
        prefix: &[usize],
        keep: bool,
        fv: &mut [f64; FV_MASK + 1],
    ) -> ([f64; MEMBER_PRODUCTS], [f64; MEMBER_PRODUCTS]) {
        let l = self.d - 1;
        let mut bix = [0usize; 6];
        // at most 84 distinct blocks on three positions (vectors of ℕ³ with sum ≤ 6); slot ONE
        // holds 1
        debug_assert_eq!(fv[ONE as usize], 1.0);
        for ((f, b), &outer) in self.fspecs.iter().enumerate().zip(&self.fouter) {
            if keep && outer {
                continue;
            }
            for (s, slot) in b.pos[..b.deg].iter().enumerate() {
                bix[s] = prefix[*slot];
            }
            fv[f] = pre.block(&bix[..b.deg]);
        }
        let mut gk = [0.0f64; GK_MASK + 1];
        gk[GONE as usize] = 1.0;
        for a in 0..l {
            for k in 0..=KMAX {
                let r = &wk.rows[(self.p[a] - 1) * (KMAX + 1) + k];
                gk[a * (KMAX + 1) + k] = if r.is_empty() { 0.0 } else { r[prefix[a]] };
            }
        }
        // the distinct products, once per prefix (the masks keep every index in range by
        // construction: no bounds checks in the loops)
        let mut fp = [0.0f64; MEMBER_PRODUCTS];
        for (x, f) in fp.iter_mut().zip(&self.fquads) {
            *x = fv[usize::from(f[0]) & FV_MASK]
                * fv[usize::from(f[1]) & FV_MASK]
                * fv[usize::from(f[2]) & FV_MASK]
                * fv[usize::from(f[3]) & FV_MASK];
        }
        let mut gp = [0.0f64; MEMBER_PRODUCTS];
        for (x, gi) in gp.iter_mut().zip(&self.gtrips) {
            *x = gk[usize::from(gi[0]) & GK_MASK]
                * gk[usize::from(gi[1]) & GK_MASK]
                * gk[usize::from(gi[2]) & GK_MASK];
        }
        (fp, gp)
    }

    /// Every row of the slice over sorted tuples (positions with equal powers carry increasing
    /// indices), handed to `sink(prefix, start, row, out_chunk)`; `out` is split into one chunk of
    /// `per0` values per first index (`d ≥ 2`), or is one chunk (`d = 1`).
    fn run<F>(&self, pre: &Pre<'_>, wk: &Wicks, out: &mut [f64], per0: usize, sink: F)
    where
        F: Fn(&[usize], usize, &[f64], &mut [f64]) + Sync,
    {
        let n = pre.n;
        let nspec = self.specs.len();
        self.visit(
            n,
            out,
            per0,
            || (Rows::new(nspec, n), vec![0.0; n]),
            |(rows, acc), pf, st, keep, chunk| {
                self.row(pre, wk, pf, st, keep, rows, acc);
                sink(pf, st, acc, chunk);
            },
        );
    }

    /// As [`Self::run`] for a slice on at least two prefix positions whose rows are only
    /// summed (no prefix position shares the row position's power: every row spans `0..n`):
    /// `sink(prefix, Σ_{l ∉ prefix} row_l, out_chunk)` ([`Self::row_sums`]).
    fn run_sums<F>(&self, pre: &Pre<'_>, wk: &Wicks, out: &mut [f64], per0: usize, sink: F)
    where
        F: Fn(&[usize], f64, &mut [f64]) + Sync,
    {
        let n = pre.n;
        let nspec = self.specs.len();
        let ngroups = self.groups.len();
        let pl = self.p[self.d - 1];
        assert!(
            (3..=4).contains(&self.d) && self.p[..self.d - 1].iter().all(|&x| x != pl),
            "a summed slice: two or three prefix positions, none with the row's power"
        );
        self.visit(
            n,
            out,
            per0,
            || {
                let wz: Vec<Vec<f64>> =
                    (0..=KMAX).map(|k| vec![0.0; wk.row(pl, k).len()]).collect();
                SumState {
                    rows: Rows::new(nspec, n),
                    sums: vec![(0.0, None); ngroups],
                    wz,
                }
            },
            |state, pf, st, keep, chunk| {
                debug_assert_eq!(st, 0);
                let total = self.row_sums(pre, wk, pf, keep, state);
                sink(pf, total, chunk);
            },
        );
    }

    /// The sorted prefixes of the slice, each with its row start and whether the blocks not
    /// touching the innermost prefix position keep their rows from the last prefix:
    /// `f(state, prefix, start, keep, out_chunk)`, one `state` per first index (in parallel).
    fn visit<S, I, F>(&self, n: usize, out: &mut [f64], per0: usize, init: I, f: F)
    where
        I: Fn() -> S + Sync,
        F: Fn(&mut S, &[usize], usize, bool, &mut [f64]) + Sync,
    {
        let d = self.d;
        let start_of = |prefix: &[usize]| -> usize {
            (0..d - 1)
                .filter(|&a| self.p[a] == self.p[d - 1])
                .map(|a| prefix[a] + 1)
                .max()
                .unwrap_or(0)
        };
        if d == 1 {
            f(&mut init(), &[], 0, false, out);
            return;
        }
        out.par_chunks_mut(per0)
            .enumerate()
            .for_each(|(i0, chunk)| {
                let mut state = init();
                let mut prefix = [i0, 0, 0];
                let ok = |pf: &[usize]| -> bool {
                    for b in 1..pf.len() {
                        for a in 0..b {
                            if pf[a] == pf[b] || (self.p[a] == self.p[b] && pf[a] > pf[b]) {
                                return false;
                            }
                        }
                    }
                    true
                };
                // the prefix positions before the innermost one, and the start, of the last
                // row: blocks not touching the innermost position keep their rows while those
                // positions stay (the start only grows there)
                let mut last: Option<([usize; 3], usize)> = None;
                let mut go = |pf: &[usize], chunk: &mut [f64]| {
                    if !ok(pf) {
                        return;
                    }
                    let st = start_of(pf);
                    if st >= n {
                        return;
                    }
                    let mut head = [usize::MAX; 3];
                    head[..pf.len() - 1].copy_from_slice(&pf[..pf.len() - 1]);
                    let keep = last.is_some_and(|(h, s0)| h == head && st >= s0);
                    if !keep {
                        last = Some((head, st));
                    }
                    f(&mut state, pf, st, keep, chunk);
                };
                match d {
                    2 => go(&prefix[..1], chunk),
                    3 => {
                        for j in 0..n {
                            prefix[1] = j;
                            go(&prefix[..2], chunk);
                        }
                    }
                    _ => {
                        for j in 0..n {
                            for k in 0..n {
                                prefix[1] = j;
                                prefix[2] = k;
                                go(&prefix[..3], chunk);
                            }
                        }
                    }
                }
            });
    }

    /// The number of sorted tuples the slice visits (for the FLOP count).
    fn entries(&self, n: usize) -> f64 {
        let mut count = 1.0;
        let mut run = 1usize;
        for a in 0..self.d {
            count *= (n - a) as f64;
            if a > 0 && self.p[a] == self.p[a - 1] {
                run += 1;
                count /= run as f64;
            } else {
                run = 1;
            }
        }
        count
    }
}

/// Canonical form of an index multiset: distinct indices ordered by (multiplicity desc, index
/// asc) and their multiplicities.
fn canon(ix: &[usize]) -> ([usize; 6], [usize; 6], usize) {
    let mut vals = [0usize; 6];
    let mut mult = [0usize; 6];
    let mut d = 0;
    for &x in ix {
        match vals[..d].iter().position(|&v| v == x) {
            Some(p) => mult[p] += 1,
            None => {
                vals[d] = x;
                mult[d] = 1;
                d += 1;
            }
        }
    }
    // insertion sort by (mult desc, value asc)
    for b in 1..d {
        let mut a = b;
        while a > 0 && (mult[a - 1] < mult[a] || (mult[a - 1] == mult[a] && vals[a - 1] > vals[a]))
        {
            vals.swap(a - 1, a);
            mult.swap(a - 1, a);
            a -= 1;
        }
    }
    (vals, mult, d)
}

/// Tables of one quantity per canonical slice pattern (`n^d` entries, canonical ones filled).
struct Tables {
    n: usize,
    pats: Vec<(u32, Vec<f64>)>,
}

/// A multiplicity pattern as one number (base 8).
#[inline]
fn code(p: &[usize]) -> u32 {
    p.iter().fold(1u32, |c, &m| c * 8 + m as u32)
}

impl Tables {
    fn new(n: usize) -> Self {
        Tables {
            n,
            pats: Vec::new(),
        }
    }
    #[inline]
    fn get(&self, p: &[usize]) -> &[f64] {
        let c = code(p);
        &self
            .pats
            .iter()
            .find(|(q, _)| *q == c)
            .expect("pattern tabulated")
            .1
    }
    fn get_mut(&mut self, p: &[usize]) -> &mut [f64] {
        let c = code(p);
        &mut self
            .pats
            .iter_mut()
            .find(|(q, _)| *q == c)
            .expect("pattern tabulated")
            .1
    }
    fn take(&mut self, p: &[usize]) -> Vec<f64> {
        let c = code(p);
        let slot = self
            .pats
            .iter_mut()
            .find(|(q, _)| *q == c)
            .expect("pattern tabulated");
        std::mem::take(&mut slot.1)
    }
    fn insert(&mut self, p: &[usize], t: Vec<f64>) {
        self.pats.push((code(p), t));
    }
    #[inline]
    fn lookup(&self, ix: &[usize]) -> f64 {
        let (vals, mult, d) = canon(ix);
        let off = vals[..d].iter().fold(0usize, |o, &x| o * self.n + x);
        self.get(&mult[..d])[off]
    }
}

/// The set partitions `π ≠ 1̂` of the slots with `π ∨ σ = 1̂` (`σ`: slots of equal position),
/// each as its blocks' slot lists.
fn ls_partitions(slots: &[usize]) -> Vec<Vec<Vec<usize>>> {
    let m = slots.len();
    let mut out = Vec::new();
    let mut assign = vec![0usize; m];
    fn rec(
        s: usize,
        nb: usize,
        assign: &mut Vec<usize>,
        slots: &[usize],
        out: &mut Vec<Vec<Vec<usize>>>,
    ) {
        let m = slots.len();
        if s == m {
            if nb < 2 {
                return;
            }
            // connectivity of π ∨ σ
            let mut parent: Vec<usize> = (0..m).collect();
            fn find(p: &[usize], mut x: usize) -> usize {
                while p[x] != x {
                    x = p[x];
                }
                x
            }
            for a in 0..m {
                for b in a + 1..m {
                    if assign[a] == assign[b] || slots[a] == slots[b] {
                        let (ra, rb) = (find(&parent, a), find(&parent, b));
                        parent[ra] = rb;
                    }
                }
            }
            let r = find(&parent, 0);
            if (1..m).all(|a| find(&parent, a) == r) {
                let blocks: Vec<Vec<usize>> = (0..nb)
                    .map(|b| (0..m).filter(|&s| assign[s] == b).collect())
                    .collect();
                out.push(blocks);
            }
            return;
        }
        for b in 0..=nb {
            assign[s] = b;
            rec(s + 1, nb.max(b + 1), assign, slots, out);
        }
    }
    rec(0, 0, &mut assign, slots, &mut out);
    out
}

/// A set partition as its blocks' slot lists.
type Partition = Vec<Vec<usize>>;

/// [`ls_partitions`] grouped by what their products read: partitions whose blocks cover the same
/// multisets of positions (`slots[s]`) give the same product `Π_B κ(B)` for any indices, so each
/// group is one representative and its size (`(2, 2, 2)`: 128 partitions in 27 groups; `(6)`: 202 in 10).
fn ls_groups(slots: &[usize]) -> Vec<(f64, Partition)> {
    let mut out: Vec<(Partition, f64, Partition)> = Vec::new();
    for pi in ls_partitions(slots) {
        let mut sig: Vec<Vec<usize>> = pi
            .iter()
            .map(|b| {
                let mut v: Vec<usize> = b.iter().map(|&x| slots[x]).collect();
                v.sort_unstable();
                v
            })
            .collect();
        sig.sort();
        match out.iter_mut().find(|(s, _, _)| *s == sig) {
            Some(g) => g.1 += 1.0,
            None => out.push((sig, 1.0, pi)),
        }
    }
    out.into_iter().map(|(_, c, pi)| (c, pi)).collect()
}

/// [`ls_partitions`] and [`ls_groups`] of a pattern (`slots_of(p)`), computed once per pattern
/// and kept for the process (a few dozen patterns; every layer of every call used to redo them).
struct LsInfo {
    /// The number of Leonov–Shiryaev partitions (the ungrouped count, for the FLOPs).
    count: usize,
    groups: Vec<(f64, Partition)>,
}

fn ls_info(p: &[usize]) -> &'static LsInfo {
    type Memo = std::sync::Mutex<Vec<(Vec<usize>, &'static LsInfo)>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    let mut m = memo
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, info)) = m.iter().find(|(q, _)| q == p) {
        return info;
    }
    let slots = slots_of(p);
    let info: &'static LsInfo = Box::leak(Box::new(LsInfo {
        count: ls_partitions(&slots).len(),
        groups: ls_groups(&slots),
    }));
    m.push((p.to_vec(), info));
    info
}

/// Cumulants of the activations found so far, looked up by index multiset.
struct Kap<'a> {
    n: usize,
    mu: &'a [f64],
    c: &'a [f64],
    t: &'a [f64],
    /// The third cumulant on repeated indices only (then `t` is unused).
    t3s: Option<T3Slices<'a>>,
    /// The full fourth cumulant (`K = 4`); `K = 3` looks degree 4 up in `k5`.
    q: Option<&'a [f64]>,
    k5: &'a Tables,
}

impl Kap<'_> {
    #[inline]
    fn get(&self, ix: &[usize]) -> f64 {
        let n = self.n;
        match ix.len() {
            1 => self.mu[ix[0]],
            2 => self.c[ix[0] * n + ix[1]],
            3 => match &self.t3s {
                Some(ts) => ts.get(ix),
                None => self.t[(ix[0] * n + ix[1]) * n + ix[2]],
            },
            4 => match self.q {
                Some(q) => q[((ix[0] * n + ix[1]) * n + ix[2]) * n + ix[3]],
                None => self.k5.lookup(ix),
            },
            _ => self.k5.lookup(ix),
        }
    }

    /// `Σ_π Π_B κ(B)` over the Leonov–Shiryaev partitions of a slice with slot indices `ix`, in
    /// groups ([`ls_groups`]).
    #[inline]
    fn ls_sum(&self, parts: &[(f64, Partition)], ix: &[usize]) -> f64 {
        let mut total = 0.0;
        for (count, pi) in parts {
            total += self.ls_product(*count, pi, ix);
        }
        total
    }

    /// `c · Π_B κ(B)` (multiplied in that order) over the blocks `blocks` (slot lists) at slot
    /// indices `ix`.
    #[inline]
    fn ls_product(&self, c: f64, blocks: &[Vec<usize>], ix: &[usize]) -> f64 {
        let mut buf = [0usize; 6];
        blocks.iter().fold(c, |prod, b| {
            for (s, &slot) in b.iter().enumerate() {
                buf[s] = ix[slot];
            }
            prod * self.get(&buf[..b.len()])
        })
    }
}

/// Slots of a pattern (position `a` repeated `p_a` times).
fn slots_of(p: &[usize]) -> Vec<usize> {
    p.iter()
        .enumerate()
        .flat_map(|(a, &m)| std::iter::repeat_n(a, m))
        .collect()
}

/// `X ×₁W ×₂W ×₃W ×₄W` for a symmetric `n⁴` tensor and `W` `r × n`, with its FLOPs. The last two
/// modes go pair by pair (`Y_ab = W X_ab Wᵀ` for `a ≤ b`, mirrored), the first two as two GEMMs,
/// the second only for `i ≤ j` (mirrored): `5 n⁵` instead of `8 n⁵` at `r = n`.
fn mode_products4(x: &[f64], w: &[f64], r: usize, n: usize) -> (Vec<f64>, f64) {
    let (n2, r2) = (n * n, r * r);
    // Y[a][b][k][l]
    let mut y = zeros(n2 * r2);
    y.par_chunks_mut(n * r2).enumerate().for_each(|(a, blk)| {
        for b in a..n {
            let xab = &x[(a * n + b) * n2..(a * n + b + 1) * n2];
            let yab = a_wt(&w_c(w, r, n, xab), w, r, n);
            blk[b * r2..(b + 1) * r2].copy_from_slice(&yab);
        }
    });
    for a in 0..n {
        for b in 0..a {
            y.copy_within((b * n + a) * r2..(b * n + a + 1) * r2, (a * n + b) * r2);
        }
    }
    // U[i][b][kl] = Σ_a W_ia Y[a][b kl]
    let mut u = zeros(r * n * r2);
    gemm(
        r,
        n,
        n * r2,
        View::rows(w, n),
        View::rows(&y, n * r2),
        0.0,
        &mut u,
    );
    drop(y);
    // Z[i][j][kl] = Σ_b W_jb U[i][b][kl] for j ≥ i, then mirrored
    let mut out = zeros(r2 * r2);
    out.par_chunks_mut(r * r2).enumerate().for_each(|(i, blk)| {
        gemm(
            r - i,
            n,
            r2,
            View::rows(&w[i * n..], n),
            View::rows(&u[i * n * r2..(i + 1) * n * r2], r2),
            0.0,
            &mut blk[i * r2..],
        );
    });
    for i in 0..r {
        for j in 0..i {
            out.copy_within((j * r + i) * r2..(j * r + i + 1) * r2, (i * r + j) * r2);
        }
    }
    let (rf, nf) = (r as f64, n as f64);
    let phase1 = nf * (nf + 1.0) / 2.0 * (2.0 * rf * nf * nf + 2.0 * rf * rf * nf);
    let phase2 = 2.0 * rf.powi(3) * nf * nf + rf * (rf + 1.0) * nf * rf * rf;
    (out, phase1 + phase2)
}

/// `G_xyz = Q'_xxyz` of `Q' = X ×₁W ×₂W ×₃W ×₄W` (`X` symmetric `n⁴`, `W` `r × n`), with its
/// FLOPs: the repeated-index entries the last hidden layer's slices read (its fourth cumulant
/// goes nowhere), `2 r n⁴` instead of [`mode_products4`]'s `5 n⁵`. Symmetric in `y, z`.
fn q4_repeated(x: &[f64], w: &[f64], r: usize, n: usize) -> (Vec<f64>, f64) {
    let (n2, r2) = (n * n, r * r);
    // P[x][cd] = Σ_ab W_xa W_xb X[ab][cd]
    let mut k = vec![0.0; r * n2];
    for (kx, wx) in k.chunks_mut(n2).zip(w.chunks(n)) {
        for (ka, &wa) in kx.chunks_mut(n).zip(wx) {
            for (v, &wb) in ka.iter_mut().zip(wx) {
                *v = wa * wb;
            }
        }
    }
    let mut p = vec![0.0; r * n2];
    gemm(
        r,
        n2,
        n2,
        View::rows(&k, n2),
        View::rows(x, n2),
        0.0,
        &mut p,
    );
    drop(k);
    // Y[x][c][z] = Σ_d P[x][c][d] W_zd, then G[x] = W Y[x]
    let mut y = vec![0.0; r * n * r];
    gemm(
        r * n,
        n,
        r,
        View::rows(&p, n),
        View::trans(w, n),
        0.0,
        &mut y,
    );
    drop(p);
    let mut g = zeros(r * r2);
    g.par_chunks_mut(r2)
        .zip(y.par_chunks(n * r))
        .for_each(|(gx, yx)| {
            gemm(r, n, r, View::rows(w, n), View::rows(yx, r), 0.0, gx);
            for a in 0..r {
                for b in a + 1..r {
                    let m = 0.5 * (gx[a * r + b] + gx[b * r + a]);
                    gx[a * r + b] = m;
                    gx[b * r + a] = m;
                }
            }
        });
    let (rf, nf) = (r as f64, n as f64);
    (
        g,
        2.0 * rf * nf.powi(4) + 2.0 * rf * rf * nf * nf + 2.0 * rf.powi(3) * nf,
    )
}

/// The slices, their plans and the Wick coefficients they use, for one kind of layer.
struct PlanSet {
    pats: Vec<Vec<usize>>,
    plans: Vec<SlicePlan>,
    plan5: Option<SlicePlan>,
    /// `K = 3`: the trace rows' diagrams without a third-cumulant block on all three positions,
    /// summed as matrix products ([`kprop3f::trace_rows`]); `plan5` keeps the others.
    plan5t: Option<SlicePlan>,
    plan6: Option<SlicePlan>,
    need: [[bool; KMAX + 1]; PMAX],
}

/// The plans of a layer (built once per process: the diagram enumeration costs more than a
/// narrow layer's sums).
///
/// `last`: the last hidden layer, whose activations feed only the output layer (it reads `μ`, `C`
/// and `T`): the slices of degree ≤ 3 alone, no trace plans.
fn plan_set(
    k_max: usize,
    augment: bool,
    factor: bool,
    first: bool,
    last: bool,
) -> &'static PlanSet {
    static CACHE: [OnceLock<PlanSet>; 32] = [const { OnceLock::new() }; 32];
    let idx = usize::from(last) * 16
        + usize::from(k_max == 4) * 8
        + usize::from(augment) * 4
        + usize::from(factor) * 2
        + usize::from(first);
    CACHE[idx].get_or_init(|| {
        if k_max == 3 {
            return plan_set3(augment, factor, first, last);
        }
        let budget = 3 + usize::from(augment);
        let max_deg = if first {
            2
        } else if augment {
            6
        } else {
            4
        };
        let dg: Vec<Vec<Diagram>> = (1..=4).map(|d| diagrams(d, budget, max_deg)).collect();
        // the slices (powers on distinct positions, sorted descending)
        let mut pats: Vec<Vec<usize>> = vec![
            vec![1],
            vec![2],
            vec![3],
            vec![4],
            vec![1, 1],
            vec![2, 1],
            vec![3, 1],
            vec![2, 2],
            vec![1, 1, 1],
            vec![2, 1, 1],
            vec![1, 1, 1, 1],
        ];
        if augment {
            for p in [
                vec![5],
                vec![6],
                vec![4, 1],
                vec![3, 2],
                vec![4, 2],
                vec![3, 1, 1],
                vec![2, 2, 1],
            ] {
                pats.push(p);
            }
        }
        if last {
            pats.retain(|p| p.iter().sum::<usize>() <= 3);
        }
        let traces = augment && !last;
        let trace5 = [1usize, 1, 1, 2];
        let trace6 = [2usize, 2, 2];
        let plans: Vec<SlicePlan> = pats
            .iter()
            .map(|p| SlicePlan::new(&dg[p.len() - 1], p, factor, 4))
            .collect();
        let plan5 = traces.then(|| SlicePlan::new(&dg[3], &trace5, factor, 4));
        let plan6 = traces.then(|| SlicePlan::new(&dg[2], &trace6, factor, 4));
        // the Wick coefficients the plans use
        let mut need = [[false; KMAX + 1]; PMAX];
        for pl in plans.iter().chain(plan5.iter()).chain(plan6.iter()) {
            for g in &pl.groups {
                need[pl.p[pl.d - 1] - 1][g.k_l] = true;
                for (_, _, k) in &g.members {
                    for a in 0..pl.d - 1 {
                        need[pl.p[a] - 1][k[a]] = true;
                    }
                }
            }
        }
        PlanSet {
            pats,
            plans,
            plan5,
            plan5t: None,
            plan6,
            need,
        }
    })
}

/// kprop `K = 4`, kind AUGMENT (`augment = true`) or SIMPLE. `init_scale = Some(w_var)` is the
/// average metric (the exact `W Wᵀ` on the last layer, as the reference).
///
/// # Errors
/// [`MlpError::Cancelled`].
#[allow(clippy::too_many_lines)]
pub fn kprop4(
    net: &Net,
    input: &Input,
    init_scale: Option<&[f64]>,
    keep_cov: bool,
    augment: bool,
    factor: bool,
    cancel: Cancel<'_>,
) -> Result<Estimate, MlpError> {
    let mut out = Estimate::default();
    let mut mu = input.mean.clone();
    let mut c: Vec<f64> = Vec::new();
    let mut t3: Option<Vec<f64>> = None;
    let mut q4: Option<Vec<f64>> = None;
    let mut a5: Option<Vec<f64>> = None;
    let mut c6 = 0.0;
    let depth = net.depth();
    for l in 0..depth {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let (rf, n) = (rows as f64, rows);
        let n2 = n * n;
        let w = &net.weights[l];
        let lin = linear_step(net, input, l, &mu, std::mem::take(&mut c), t3.take());
        let mut flops = lin.flops;
        let Some(Linear {
            m,
            s,
            third,
            pre_var,
            pre_kappa3,
            ..
        }) = lin.hidden(&mut out, keep_cov, l + 1 == depth)
        else {
            break;
        };
        cancel.check()?;
        // the last hidden layer's activations feed only the output layer, which reads μ, C and
        // T: no fourth cumulant or trace parts after it, and before it only Q's repeated entries
        let last = l + 2 == depth;
        let (fourth, fourth_g) = match q4.take() {
            Some(q) if last => {
                let (g, f) = q4_repeated(&q, w, rows, cols);
                flops += f;
                (None, Some(g))
            }
            Some(q) => {
                let (qp, f) = mode_products4(&q, w, rows, cols);
                flops += f;
                (Some(qp), None)
            }
            None => (None, None),
        };
        cancel.check()?;
        let fifth = a5.take().map(|a| {
            let (ap, f) = mode_products(&a, w, rows, cols);
            flops += f;
            ap
        });
        let avg = init_scale.map_or(0.0, |sc| sc[l]);
        let metric = dense_metric(
            fifth.is_some(),
            init_scale.map(|_| avg),
            w,
            rows,
            cols,
            &mut flops,
        );
        cancel.check()?;
        let act = net.act(l);
        let first = third.is_none();
        let ps = plan_set(4, augment, factor, first, last);
        let (pats, plans, need) = (&ps.pats, &ps.plans, &ps.need);
        let trace6 = [2usize, 2, 2];
        let wk = Wicks::new(need, act, &m, &pre_var);
        out.clamps += pre_var.iter().filter(|v| **v < VAR_FLOOR).count() as u64;
        flops += wk.ncoef * act.coef_flops() * rf;
        let diags = Diags::new(n, &s, third.as_deref(), fourth.as_deref());
        let pre = Pre {
            n,
            s: &s,
            t: third.as_deref(),
            t3s: None,
            q: fourth.as_deref(),
            q4s: fourth_g.as_deref().map(|g| Q4Slices { n, g }),
            a4: None,
            a5: fifth.as_deref(),
            c6,
            metric: metric.as_deref(),
            avg,
            diag: Some(&diags),
        };
        // power cumulants on every tabulated slice
        let mut pk = tabulate(plans, &pre, &wk, &mut flops, cancel)?;
        // the all-distinct slice was evaluated on i < j < k < l only; the rows of its sorted
        // prefixes are completed (l below the prefix's last index) so Q is filled by row copies
        if !last {
            complete_rows4(pk.get_mut(&[1, 1, 1, 1]), n);
        }
        // cumulants, degree by degree (Leonov–Shiryaev on each canonical entry)
        let mut kt = Tables::new(n);
        let empty = Tables::new(n);
        let mut cn = vec![0.0; n2];
        let mut tn = zeros(n2 * n);
        let mut qn = zeros(if last { 0 } else { n2 * n2 });
        let e: Vec<f64> = pk.get(&[1]).to_vec();
        let top = if last {
            3
        } else if augment {
            5
        } else {
            4
        };
        for deg in 2..=top {
            cancel.check()?;
            let kap = Kap {
                n,
                mu: &e,
                c: &cn,
                t: &tn,
                t3s: None,
                q: Some(&qn),
                k5: &empty,
            };
            convert_degree(pats, deg, &mut pk, &kap, &mut kt, &mut flops);
            // the full tensor of this degree
            match deg {
                2 => fill_dense(&kt, &mut cn, n),
                3 => fill_dense(&kt, &mut tn, n),
                4 => {
                    let kt = &kt;
                    let q1111 = kt.get(&[1, 1, 1, 1]);
                    let (t211, t31, t22, t4) = (
                        kt.get(&[2, 1, 1]),
                        kt.get(&[3, 1]),
                        kt.get(&[2, 2]),
                        kt.get(&[4]),
                    );
                    // κ4 at the multiset {x, x, y, z} (x, y, z distinct)
                    let k211 =
                        |x: usize, y: usize, z: usize| t211[(x * n + y.min(z)) * n + y.max(z)];
                    qn.par_chunks_mut(n2 * n).enumerate().for_each(|(i, blk)| {
                        for j in 0..n {
                            for k in 0..n {
                                let row = &mut blk[(j * n + k) * n..(j * n + k + 1) * n];
                                if i == j && j == k {
                                    for (ll, x) in row.iter_mut().enumerate() {
                                        *x = if ll == i { t4[i] } else { t31[i * n + ll] };
                                    }
                                    continue;
                                }
                                if i == j || i == k || j == k {
                                    // {x, x, y}
                                    let (x, y) = if i == j {
                                        (i, k)
                                    } else if i == k {
                                        (i, j)
                                    } else {
                                        (j, i)
                                    };
                                    for (ll, v) in row.iter_mut().enumerate() {
                                        *v = if ll == x {
                                            t31[x * n + y]
                                        } else if ll == y {
                                            t22[x.min(y) * n + x.max(y)]
                                        } else {
                                            k211(x, y, ll)
                                        };
                                    }
                                    continue;
                                }
                                let mut v = [i, j, k];
                                v.sort_unstable();
                                let [a, b, c] = v;
                                // the sorted prefix's whole row (its l ∈ {a, b, c} entries are
                                // other slices, set below)
                                let off = ((a * n + b) * n + c) * n;
                                row.copy_from_slice(&q1111[off..off + n]);
                                row[a] = k211(a, b, c);
                                row[b] = k211(b, a, c);
                                row[c] = k211(c, a, b);
                            }
                        }
                    });
                }
                _ => {}
            }
        }
        let post_var: Vec<f64> = (0..n).map(|i| cn[i * n + i]).collect();
        let (mut a_new, mut c_new) = (None, 0.0);
        if augment && !last {
            cancel.check()?;
            let kap = Kap {
                n,
                mu: &e,
                c: &cn,
                t: &tn,
                t3s: None,
                q: Some(&qn),
                k5: &kt,
            };
            // B_jkl = Σ_i κ5_iijkl; j < k < l distinct: the (1,1,1,2) rows summed over i ∉ {j,k,l}
            let plan5 = ps.plan5.as_ref().expect("augment");
            let mut bsum = zeros(n * n2);
            let kapr = &kap;
            plan5.run_sums(&pre, &wk, &mut bsum, n2, |pf, total, chunk| {
                let (j, k, ll) = (pf[0], pf[1], pf[2]);
                // Σ_i of the Leonov–Shiryaev terms 2 μ_i Q_ijkl + 2 (C_ij T_ikl + C_ik T_ijl + C_il T_ijk)
                // (the 8 ways to split {j, k, l} between the two i's), as dot products over i
                let (c, t, q) = (kapr.c, kapr.t, kapr.q.expect("K = 4 keeps Q"));
                let crow = |a: usize| &c[a * n..(a + 1) * n];
                let trow = |a: usize, b: usize| &t[(a * n + b) * n..(a * n + b + 1) * n];
                let qrow = &q[((j * n + k) * n + ll) * n..((j * n + k) * n + ll + 1) * n];
                let (cj, ck, cl) = (crow(j), crow(k), crow(ll));
                let (tkl, tjl, tjk) = (trow(k, ll), trow(j, ll), trow(j, k));
                let ls_all =
                    2.0 * dot(kapr.mu, qrow) + 2.0 * (dot(cj, tkl) + dot(ck, tjl) + dot(cl, tjk));
                // the i ∈ {j, k, l} entries belong to other slices (not in `total`); their
                // terms of the sum above ([`ls5_terms_are_the_trace_partitions`])
                let mut acc = total - ls_all;
                for i in [j, k, ll] {
                    acc += 2.0 * kapr.mu[i] * qrow[i]
                        + 2.0 * (cj[i] * tkl[i] + ck[i] * tjl[i] + cl[i] * tjk[i]);
                }
                chunk[k * n + ll] = acc;
            });
            flops += (plan5.flops_per_entry + 8.0 * 6.0) * plan5.entries(n);
            // B is symmetric: each j ≤ k ≤ l once (into `bsum`'s own place), then mirrored
            // the κ5 tables of the repeated patterns, read directly (the canonical index of
            // each case: multiplicities descending, then indices ascending)
            let (t5, t41, t32) = (kt.get(&[5]), kt.get(&[4, 1]), kt.get(&[3, 2]));
            let (t221, t311) = (kt.get(&[2, 2, 1]), kt.get(&[3, 1, 1]));
            // Σ_i κ5_{i i x x y} (x ≠ y) over every i
            let sum_xxy = |x: usize, y: usize| -> f64 {
                let mut acc = 0.0;
                for i in 0..n {
                    acc += if i == x {
                        t41[x * n + y]
                    } else if i == y {
                        t32[y * n + x]
                    } else {
                        t221[(i.min(x) * n + i.max(x)) * n + y]
                    };
                }
                acc
            };
            bsum.par_chunks_mut(n2).enumerate().for_each(|(j, blk)| {
                for k in j..n {
                    for ll in k..n {
                        blk[k * n + ll] = match (j == k, k == ll) {
                            // κ5_{jjjkl}, κ5_{kkjkl}, κ5_{llljk} beside the i ∉ {j, k, l} sum
                            (false, false) => {
                                blk[k * n + ll]
                                    + t311[(j * n + k) * n + ll]
                                    + t311[(k * n + j) * n + ll]
                                    + t311[(ll * n + j) * n + k]
                            }
                            (true, false) => sum_xxy(j, ll),
                            (false, true) => sum_xxy(k, j),
                            (true, true) => {
                                let mut acc = 0.0;
                                for i in 0..n {
                                    acc += if i == j { t5[j] } else { t32[j * n + i] };
                                }
                                acc
                            }
                        };
                    }
                }
            });
            let bs = &bsum;
            let mut b = zeros(n * n2);
            b.par_chunks_mut(n2).enumerate().for_each(|(j, blk)| {
                for k in 0..n {
                    for ll in 0..n {
                        let mut v = [j, k, ll];
                        v.sort_unstable();
                        blk[k * n + ll] = bs[(v[0] * n + v[1]) * n + v[2]];
                    }
                }
            });
            // A = (10 B − 3 Sym(a ⊗ I)) / (n + 6), a = tr A = 5 tr B / (n + 4)
            let a_vec: Vec<f64> = (0..n)
                .map(|j| 5.0 * (0..n).map(|k| b[(j * n + k) * n + k]).sum::<f64>() / (rf + 4.0))
                .collect();
            let mut an = zeros(n * n2);
            an.par_chunks_mut(n2).enumerate().for_each(|(j, blk)| {
                for k in 0..n {
                    for ll in 0..n {
                        let sym = (if k == ll { a_vec[j] } else { 0.0 }
                            + if j == ll { a_vec[k] } else { 0.0 }
                            + if j == k { a_vec[ll] } else { 0.0 })
                            / 3.0;
                        blk[k * n + ll] = (10.0 * b[(j * n + k) * n + ll] - 3.0 * sym) / (rf + 6.0);
                    }
                }
            });
            a_new = Some(an);
            // tr³ κ6 = 6 Σ_{i<j<k} κ6_iijjkk + 3 Σ_{a≠b} κ6_aaaabb + Σ κ6_aaaaaa
            let plan6 = ps.plan6.as_ref().expect("augment");
            // the Leonov–Shiryaev groups of (i, i, j, j, k, k) split into the blocks without k
            // (slots 4, 5), evaluated once per (i, j), and those with k, per entry
            let split6: Vec<(f64, Partition, Partition)> = ls_info(&trace6)
                .groups
                .iter()
                .map(|(count, pi)| {
                    let (kb, fixed): (Partition, Partition) =
                        pi.iter().cloned().partition(|b| b.iter().any(|&x| x >= 4));
                    (*count, fixed, kb)
                })
                .collect();
            let mut s6 = vec![0.0; n2];
            plan6.run(&pre, &wk, &mut s6, n, |pf, st, row, chunk| {
                let mut ix = [pf[0], pf[0], pf[1], pf[1], 0, 0];
                let fixed: Vec<f64> = split6
                    .iter()
                    .map(|(count, fb, _)| kapr.ls_product(*count, fb, &ix))
                    .collect();
                let mut acc = 0.0;
                for (k, x) in row.iter().enumerate().skip(st) {
                    ix[4] = k;
                    ix[5] = k;
                    let mut ls = 0.0;
                    for ((_, _, kb), &f) in split6.iter().zip(&fixed) {
                        if f != 0.0 {
                            ls += kapr.ls_product(f, kb, &ix);
                        }
                    }
                    acc += x - ls;
                }
                chunk[pf[1]] = acc;
            });
            // counted per partition, as the ungrouped sum (the reference's work)
            let n6 = ls_info(&trace6).count as f64;
            flops += (plan6.flops_per_entry + 6.0 * n6) * plan6.entries(n);
            let parts42 = &ls_info(&[4, 2]).groups;
            let parts6s = &ls_info(&[6]).groups;
            let pk42 = pk.get(&[4, 2]);
            let pk6 = pk.get(&[6]);
            let mut tr6 = 6.0 * s6.iter().sum::<f64>();
            for a in 0..n {
                tr6 += pk6[a] - kap.ls_sum(parts6s, &[a; 6]);
                for bb in 0..n {
                    if bb != a {
                        tr6 +=
                            3.0 * (pk42[a * n + bb] - kap.ls_sum(parts42, &[a, a, a, a, bb, bb]));
                    }
                }
            }
            flops += (ls_info(&[4, 2]).count as f64 * 6.0 + 2.0) * rf * rf;
            c_new = 15.0 * tr6 / (rf * (rf + 2.0) * (rf + 4.0));
        }
        out.layers.push(LayerEstimate {
            pre_mean: m,
            pre_var,
            post_mean: e.clone(),
            post_var,
            pre_cov: if keep_cov { Some(s) } else { None },
            pre_kappa3,
        });
        out.flops_by_layer.push(flops);
        mu = e;
        c = cn;
        t3 = Some(tn);
        q4 = (!last).then_some(qn);
        a5 = a_new;
        c6 = c_new;
    }
    Ok(out)
}

/// Completes the rows of an all-distinct fourth-cumulant table `q[((a n + b) n + c) n + l]`
/// filled on `a < b < c < l`: each row of a sorted prefix `a < b < c` gets its entries at
/// `l < c` (`l ∉ {a, b}`) from the canonical entry of `{a, b, c, l}`.
fn complete_rows4(q: &mut [f64], n: usize) {
    let at = |a: usize, b: usize, c: usize, d: usize| ((a * n + b) * n + c) * n + d;
    for w in 0..n {
        for x in w + 1..n {
            for y in x + 1..n {
                for z in y + 1..n {
                    let v = q[at(w, x, y, z)];
                    q[at(x, y, z, w)] = v;
                    q[at(w, y, z, x)] = v;
                    q[at(w, x, z, y)] = v;
                }
            }
        }
    }
}

/// The full covariance (`out.len() = n²`) or third cumulant (`n³`) from its canonical tables
/// (read directly: `(2)`, `(1, 1)` on `i < j`; `(3)`, `(2, 1)`, `(1, 1, 1)` on `i < j < k`).
fn fill_dense(kt: &Tables, out: &mut [f64], n: usize) {
    if out.len() == n * n {
        let (c2, c11) = (kt.get(&[2]), kt.get(&[1, 1]));
        out.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for (j, x) in row.iter_mut().enumerate() {
                *x = match i.cmp(&j) {
                    std::cmp::Ordering::Equal => c2[i],
                    std::cmp::Ordering::Less => c11[i * n + j],
                    std::cmp::Ordering::Greater => c11[j * n + i],
                };
            }
        });
        return;
    }
    let (t3, t21, t111) = (kt.get(&[3]), kt.get(&[2, 1]), kt.get(&[1, 1, 1]));
    // block i is the symmetric matrix T_i·· : its upper triangle (j ≤ k) from the tables (reads
    // contiguous in k, or at stride n where i is the largest index), then mirrored inside the block
    out.par_chunks_mut(n * n).enumerate().for_each(|(i, blk)| {
        for j in 0..n {
            let row = &mut blk[j * n..(j + 1) * n];
            // k = j: {j, j, i}
            row[j] = if j == i { t3[i] } else { t21[j * n + i] };
            if i == j {
                // {i, i, k}
                row[j + 1..].copy_from_slice(&t21[i * n + j + 1..(i + 1) * n]);
                continue;
            }
            let (a, b) = (i.min(j), i.max(j));
            // j < k < b (only when j < i: then a = j, b = i): {j, k, i} sorted as (j, k, i)
            for k in j + 1..b {
                row[k] = t111[(a * n + k) * n + b];
            }
            if b > j {
                // k = i (> j): {i, i, j}
                row[b] = t21[b * n + j];
            }
            // k > max(i, j): sorted (a, b, k)
            let from = b.max(j) + 1;
            row[from..].copy_from_slice(&t111[(a * n + b) * n + from..(a * n + b + 1) * n]);
        }
        for j in 1..n {
            for k in 0..j {
                blk[j * n + k] = blk[k * n + j];
            }
        }
    });
}

/// The linear step of one layer on the mean, the covariance and the third cumulant (the part
/// every kprop order shares).
struct Linear {
    m: Vec<f64>,
    s: Vec<f64>,
    third: Option<Vec<f64>>,
    pre_var: Vec<f64>,
    pre_kappa3: Option<Vec<f64>>,
    flops: f64,
}

impl Linear {
    /// On the last layer: records the output in `out` and returns `None`; otherwise `Some(self)`.
    fn hidden(self, out: &mut Estimate, keep_cov: bool, last: bool) -> Option<Self> {
        if !last {
            return Some(self);
        }
        out.layers.push(LayerEstimate {
            pre_mean: self.m.clone(),
            pre_var: self.pre_var.clone(),
            post_mean: self.m,
            post_var: self.pre_var,
            pre_cov: if keep_cov { Some(self.s) } else { None },
            pre_kappa3: self.pre_kappa3,
        });
        out.flops_by_layer.push(self.flops);
        None
    }
}

/// `m = W μ + b`, `S = W C Wᵀ` (`C` the input covariance on layer 0), `T' = T ×₁W ×₂W ×₃W`.
fn linear_step(
    net: &Net,
    input: &Input,
    l: usize,
    mu: &[f64],
    c_prev: Vec<f64>,
    t_prev: Option<Vec<f64>>,
) -> Linear {
    let (rows, cols) = (net.widths[l + 1], net.widths[l]);
    let n = rows;
    let w = &net.weights[l];
    let (m, s, mut flops) = super::kprop::mean_cov_step(net, input, l, mu, c_prev);
    // the output layer reports only the diagonal of its third cumulant
    let (third, pre_kappa3) = match t_prev {
        Some(t) if l + 1 == net.depth() => {
            let (d, f) = mode_products_diag(&t, w, rows, cols);
            flops += f;
            (None, Some(d))
        }
        Some(t) => {
            let (tp, f) = mode_products(&t, w, rows, cols);
            flops += f;
            let d = (0..n).map(|i| tp[i * n * n + i * n + i]).collect();
            (Some(tp), Some(d))
        }
        None => (None, None),
    };
    let pre_var: Vec<f64> = (0..n).map(|i| s[i * n + i]).collect();
    Linear {
        m,
        s,
        third,
        pre_var,
        pre_kappa3,
        flops,
    }
}

/// The power cumulants of every planned slice, as canonical tables.
fn tabulate(
    plans: &[SlicePlan],
    pre: &Pre<'_>,
    wk: &Wicks,
    flops: &mut f64,
    cancel: Cancel<'_>,
) -> Result<Tables, MlpError> {
    let n = pre.n;
    let mut pk = Tables::new(n);
    for pl in plans {
        cancel.check()?;
        let d = pl.d;
        let size = n.pow(d as u32);
        let mut tab = zeros(size);
        let per0 = if d == 1 { size } else { size / n };
        pl.run(pre, wk, &mut tab, per0, |pf, st, row, chunk| {
            if d == 1 {
                chunk[st..].copy_from_slice(&row[st..]);
                return;
            }
            let off = pf[1..].iter().fold(0usize, |o, &x| o * n + x) * n;
            chunk[off + st..off + n].copy_from_slice(&row[st..]);
        });
        *flops += pl.flops_per_entry * pl.entries(n);
        pk.insert(&pl.p, tab);
    }
    Ok(pk)
}

/// The metric of the trace parts after a linear layer, as a dense matrix (the row kernels read
/// its rows): `W Wᵀ`, or `w_var I` with the average metric; `None` when no trace part is tracked.
fn dense_metric(
    needed: bool,
    avg: Option<f64>,
    w: &[f64],
    rows: usize,
    cols: usize,
    flops: &mut f64,
) -> Option<Vec<f64>> {
    if !needed {
        return None;
    }
    Some(match avg {
        Some(v) => {
            let mut m = vec![0.0; rows * rows];
            for i in 0..rows {
                m[i * rows + i] = v;
            }
            m
        }
        None => {
            *flops += 2.0 * (rows * rows * cols) as f64;
            a_wt(w, w, rows, cols)
        }
    })
}

/// `K = 3`: the fourth cumulant's tracked part from its trace `B_jk = Σ_i κ4_iijk`: AUGMENT the
/// core of `Sym(A ⊗ I)` (`tr A = 3 tr B / (n + 2)`, `A = (6 B − tr A · I) / (n + 4)`), SIMPLE the
/// pure trace `c = tr A / n` (one number).
fn k3_project(b: &[f64], augment: bool, n: usize) -> Vec<f64> {
    let rf = n as f64;
    let tr_b: f64 = (0..n).map(|j| b[j * n + j]).sum();
    let tr_a = 3.0 * tr_b / (rf + 2.0);
    if augment {
        (0..n * n)
            .map(|jk| {
                let diag = if jk / n == jk % n { tr_a } else { 0.0 };
                (6.0 * b[jk] - diag) / (rf + 4.0)
            })
            .collect()
    } else {
        vec![tr_a / rf]
    }
}

/// `K = 3` after the linear step of layer `l`: the average-metric scale, the dense metric of the
/// trace parts and the fourth cumulant's core — AUGMENT `A' = W A Wᵀ`, SIMPLE the pure trace
/// `c Sym(M ⊗ M)` as the dense core `A' = c M`.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn k3_fourth(
    a4: Option<Vec<f64>>,
    augment: bool,
    init_scale: Option<&[f64]>,
    l: usize,
    w: &[f64],
    rows: usize,
    cols: usize,
    flops: &mut f64,
) -> (f64, Option<Vec<f64>>, Option<Vec<f64>>) {
    let (rf, cf, n) = (rows as f64, cols as f64, rows);
    let avg = init_scale.map_or(0.0, |sc| sc[l]);
    let metric = dense_metric(a4.is_some(), init_scale.map(|_| avg), w, rows, cols, flops);
    let fourth = a4.map(|a| {
        if augment {
            *flops += 2.0 * rf * cf * cf + 2.0 * rf * rf * cf;
            a_wt(&w_c(w, rows, cols, &a), w, rows, cols)
        } else {
            (0..n * n)
                .map(|ij| {
                    let (i, j) = (ij / n, ij % n);
                    a[0] * metric
                        .as_ref()
                        .map_or(if i == j { avg } else { 0.0 }, |mm| mm[ij])
                })
                .collect()
        }
    });
    (avg, metric, fourth)
}

/// The `K = 3` plans: slices of degree ≤ 3 and the degree-4 slices the trace needs (the
/// all-distinct third cumulant on `i < j < k` only: [`fill_dense`] reads no other entry); the
/// trace rows `(1, 1, 2)` (`j < k`, row over `i`). `last`: as [`plan_set`] (degree ≤ 3, no trace).
fn plan_set3(augment: bool, factor: bool, first: bool, last: bool) -> PlanSet {
    let budget = 2 + usize::from(augment);
    let max_deg = if first { 2 } else { 4 };
    let dg: Vec<Vec<Diagram>> = (1..=3).map(|d| diagrams(d, budget, max_deg)).collect();
    let mut pats: Vec<Vec<usize>> = vec![
        vec![1],
        vec![2],
        vec![3],
        vec![4],
        vec![1, 1],
        vec![2, 1],
        vec![3, 1],
        vec![2, 2],
        vec![1, 1, 1],
    ];
    if last {
        pats.retain(|p| p.iter().sum::<usize>() <= 3);
    }
    let plans: Vec<SlicePlan> = pats
        .iter()
        .map(|p| SlicePlan::new(&dg[p.len() - 1], p, factor, 3))
        .collect();
    let all3 = [1usize, 1, 1, 0];
    let (separable, with_t): (Vec<Diagram>, Vec<Diagram>) =
        dg[2].iter().cloned().partition(|d| !d.vecs.contains(&all3));
    let plan5 = (!last).then(|| SlicePlan::new(&with_t, &[1, 1, 2], factor, 3));
    let plan5t = (!last).then(|| SlicePlan::new(&separable, &[1, 1, 2], factor, 3));
    let mut need = [[false; KMAX + 1]; PMAX];
    for pl in plans.iter().chain(plan5.iter()).chain(plan5t.iter()) {
        for g in &pl.groups {
            need[pl.p[pl.d - 1] - 1][g.k_l] = true;
            for (_, _, k) in &g.members {
                for a in 0..pl.d - 1 {
                    need[pl.p[a] - 1][k[a]] = true;
                }
            }
        }
    }
    PlanSet {
        pats,
        plans,
        plan5,
        plan5t,
        plan6: None,
        need,
    }
}

/// kprop `K = 3`, kind AUGMENT (`augment = true`) or SIMPLE, on the row engine of this module
/// (the same sums as [`super::kprop3::kprop3`], which stays as the independent diagram-by-diagram
/// cross-check). The fourth cumulant is `Sym(A ⊗ I)` (AUGMENT, an `n × n` core) or its pure trace
/// `c Sym(I ⊗ I)` (SIMPLE), projected through its trace `B_jk = Σ_i κ4_iijk`.
///
/// # Errors
/// [`MlpError::Cancelled`].
#[allow(clippy::too_many_lines)]
pub fn kprop3_rows(
    net: &Net,
    input: &Input,
    init_scale: Option<&[f64]>,
    keep_cov: bool,
    augment: bool,
    factor: bool,
    cancel: Cancel<'_>,
) -> Result<Estimate, MlpError> {
    let mut out = Estimate::default();
    let mut mu = input.mean.clone();
    let mut c: Vec<f64> = Vec::new();
    let mut t3: Option<Vec<f64>> = None;
    let mut a4: Option<Vec<f64>> = None;
    let depth = net.depth();
    for l in 0..depth {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let (rf, n) = (rows as f64, rows);
        let n2 = n * n;
        let w = &net.weights[l];
        let lin = linear_step(net, input, l, &mu, std::mem::take(&mut c), t3.take());
        let mut flops = lin.flops;
        let Some(Linear {
            m,
            s,
            third,
            pre_var,
            pre_kappa3,
            ..
        }) = lin.hidden(&mut out, keep_cov, l + 1 == depth)
        else {
            break;
        };
        let (avg, metric, fourth) =
            k3_fourth(a4.take(), augment, init_scale, l, w, rows, cols, &mut flops);
        cancel.check()?;
        let act = net.act(l);
        let first = third.is_none();
        let last = l + 2 == depth;
        let ps = plan_set(3, augment, factor, first, last);
        let (pats, plans, need) = (&ps.pats, &ps.plans, &ps.need);
        let wk = Wicks::new(need, act, &m, &pre_var);
        out.clamps += pre_var.iter().filter(|v| **v < VAR_FLOOR).count() as u64;
        flops += wk.ncoef * act.coef_flops() * rf;
        let diags = Diags::new(n, &s, third.as_deref(), None);
        let pre = Pre {
            n,
            s: &s,
            t: third.as_deref(),
            t3s: None,
            q: None,
            q4s: None,
            a4: fourth.as_deref(),
            a5: None,
            c6: 0.0,
            metric: metric.as_deref(),
            avg,
            diag: Some(&diags),
        };
        let mut pk = tabulate(plans, &pre, &wk, &mut flops, cancel)?;
        // cumulants by Leonov–Shiryaev: degree 2 (C), 3 (T in full), 4 (the tables the trace reads)
        let e: Vec<f64> = pk.get(&[1]).to_vec();
        let mut kt = Tables::new(n);
        let empty = Tables::new(n);
        let mut cn = vec![0.0; n2];
        let mut tn = zeros(n2 * n);
        for deg in 2..=if last { 3 } else { 4 } {
            cancel.check()?;
            let kap = Kap {
                n,
                mu: &e,
                c: &cn,
                t: &tn,
                t3s: None,
                q: None,
                k5: &empty,
            };
            convert_degree(pats, deg, &mut pk, &kap, &mut kt, &mut flops);
            match deg {
                2 => fill_dense(&kt, &mut cn, n),
                3 => fill_dense(&kt, &mut tn, n),
                _ => {}
            }
        }
        // (the last hidden layer's fourth cumulant goes nowhere: see [`kprop4`])
        let a_new = if last {
            None
        } else {
            // B_jk = Σ_i κ4_iijk; j < k: the (1, 1, 2) rows summed over i ∉ {j, k}, with the
            // Leonov–Shiryaev terms 2 μ_i T_ijk + 2 C_ij C_ik as dot products over i (the rows of
            // the diagrams with T on all three positions; the others as matrix products)
            let plan = ps.plan5.as_ref().expect("K = 3 trace plan");
            let mut bsum = zeros(n2);
            plan.run_sums(&pre, &wk, &mut bsum, n, |pf, total, chunk| {
                let (j, k) = (pf[0], pf[1]);
                let ls = |i: usize| {
                    2.0 * e[i] * tn[(j * n + k) * n + i] + 2.0 * cn[i * n + j] * cn[i * n + k]
                };
                let ls_all = 2.0 * dot(&e, &tn[(j * n + k) * n..(j * n + k + 1) * n])
                    + 2.0 * dot(&cn[j * n..(j + 1) * n], &cn[k * n..(k + 1) * n]);
                let mut acc = total - ls_all;
                for i in [j, k] {
                    acc += ls(i);
                }
                chunk[k] = acc;
            });
            flops += (plan.flops_per_entry + 6.0) * plan.entries(n);
            if let Some(pt) = &ps.plan5t {
                let ta = kprop3f::trace_rows(pt, &pre, &wk, &mut flops);
                for (x, t) in bsum.iter_mut().zip(&ta) {
                    *x += t;
                }
            }
            // the repeated-index entries read straight from their canonical tables: κ4_iijj from
            // (4) and (2, 2), κ4_jjjk from (3, 1)
            let (t4, t31, t22) = (kt.get(&[4]), kt.get(&[3, 1]), kt.get(&[2, 2]));
            let mut b = vec![0.0; n2];
            for j in 0..n {
                b[j * n + j] = (0..n)
                    .map(|i| {
                        if i == j {
                            t4[j]
                        } else {
                            t22[i.min(j) * n + i.max(j)]
                        }
                    })
                    .sum();
                for k in j + 1..n {
                    let v = bsum[j * n + k] + t31[j * n + k] + t31[k * n + j];
                    b[j * n + k] = v;
                    b[k * n + j] = v;
                }
            }
            flops += 60.0 * rf * rf;
            Some(k3_project(&b, augment, n))
        };
        out.push_hidden(
            m,
            pre_var,
            e.clone(),
            &cn,
            keep_cov.then_some(s),
            pre_kappa3,
            flops,
        );
        mu = e;
        c = cn;
        t3 = Some(tn);
        a4 = a_new;
    }
    Ok(out)
}

/// FLOPs of [`ls_convert`] on slice `p`: per entry, three per Leonov–Shiryaev partition and the
/// subtraction (the all-distinct slices, which need no conversion, count one per entry).
fn ls_flops(p: &[usize], n: usize) -> f64 {
    let parts = ls_info(p).count;
    ((3 * parts + 1) * n.pow(p.len() as u32)) as f64
}

/// The cumulant tables of the degree-`deg` slices of `pats`, from their power cumulants in `pk`
/// (Leonov–Shiryaev, [`ls_convert`]; an all-distinct slice needs none and is moved), into `kt`;
/// every slice is counted at [`ls_flops`].
fn convert_degree(
    pats: &[Vec<usize>],
    deg: usize,
    pk: &mut Tables,
    kap: &Kap<'_>,
    kt: &mut Tables,
    flops: &mut f64,
) {
    let n = kap.n;
    for p in pats.iter().filter(|p| p.iter().sum::<usize>() == deg) {
        *flops += ls_flops(p, n);
        let tab = if p.iter().all(|&x| x == 1) {
            pk.take(p)
        } else {
            ls_convert(p, pk.get(p), kap, n)
        };
        kt.insert(p, tab);
    }
}

/// Cumulants on the canonical entries of slice `p` from its power cumulants `src`:
/// `κ = pK − Σ_π Π_B κ(B)` (Leonov–Shiryaev).
fn ls_convert(p: &[usize], src: &[f64], kap: &Kap<'_>, n: usize) -> Vec<f64> {
    let d = p.len();
    let slots = slots_of(p);
    // each group of partitions: (its size, [(block length, the position of each slot)])
    type Flat = (f64, Vec<(usize, [usize; 6])>);
    let flat: Vec<Flat> = ls_info(p)
        .groups
        .iter()
        .map(|(count, pi)| {
            let blocks = pi
                .iter()
                .map(|b| {
                    let mut pos = [0usize; 6];
                    for (x, &slot) in b.iter().enumerate() {
                        pos[x] = slots[slot];
                    }
                    (b.len(), pos)
                })
                .collect();
            (*count, blocks)
        })
        .collect();
    let size = n.pow(d as u32);
    let mut tab = zeros(size);
    let inner = (size / n).max(1);
    let ls_sum = |pf: &[usize]| -> f64 {
        let mut buf = [0usize; 6];
        let mut total = 0.0;
        for (count, pi) in &flat {
            let mut prod = *count;
            for (len, pos) in pi {
                for x in 0..*len {
                    buf[x] = pf[pos[x]];
                }
                prod *= kap.get(&buf[..*len]);
            }
            total += prod;
        }
        total
    };
    tab.par_chunks_mut(inner)
        .enumerate()
        .for_each(|(i0, chunk)| {
            let base = &src[i0 * inner..(i0 + 1) * inner];
            match d {
                1 => chunk[0] = base[0] - ls_sum(&[i0]),
                2 => {
                    // the canonical entries: distinct indices, increasing where the powers are equal
                    let st = if p[0] == p[1] { i0 + 1 } else { 0 };
                    for j in st..n {
                        if j != i0 {
                            chunk[j] = base[j] - ls_sum(&[i0, j]);
                        }
                    }
                }
                3 => {
                    let st = if p[0] == p[1] { i0 + 1 } else { 0 };
                    for j in st..n {
                        if j == i0 {
                            continue;
                        }
                        let kst = if p[1] == p[2] { j + 1 } else { 0 };
                        for k in kst..n {
                            if k == i0 || k == j || (p[0] == p[2] && i0 > k) {
                                continue;
                            }
                            let off = j * n + k;
                            chunk[off] = base[off] - ls_sum(&[i0, j, k]);
                        }
                    }
                }
                _ => {
                    let mut idx = [i0, 0, 0, 0, 0, 0];
                    for rest in 0..inner {
                        let mut r = rest;
                        for a in (1..d).rev() {
                            idx[a] = r % n;
                            r /= n;
                        }
                        let pf = &idx[..d];
                        let bad = (1..d).any(|b| {
                            (0..b).any(|a| pf[a] == pf[b] || (p[a] == p[b] && pf[a] > pf[b]))
                        });
                        if !bad {
                            chunk[rest] = base[rest] - ls_sum(pf);
                        }
                    }
                }
            }
        });
    tab
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagram_counts_match_the_reference() {
        // the reference's get_all_terms per number of positions (K = 4 SIMPLE / AUGMENT)
        for (d, simple, augment) in [(1, 3, 8), (2, 15, 49), (3, 35, 187), (4, 29, 384)] {
            assert_eq!(diagrams(d, 3, 4).len(), simple, "d = {d}");
            assert_eq!(diagrams(d, 4, 6).len(), augment, "d = {d}");
        }
        // factored AUGMENT keeps 309 of 384 in (1,1,1,1) and 378 in (2,1,1,1)
        let d4 = diagrams(4, 4, 6);
        let keep = |p: &[usize]| d4.iter().filter(|dg| factored_keeps(p, dg, 4)).count();
        assert_eq!(keep(&[1, 1, 1, 1]), 309);
        assert_eq!(keep(&[2, 1, 1, 1]), 378);
        let d4s = diagrams(4, 3, 4);
        assert!(d4s.iter().all(|dg| factored_keeps(&[1, 1, 1, 1], dg, 4)));
    }

    #[test]
    fn every_plan_fits_the_row_kernels_fixed_arrays() {
        // the kernels index fixed-size per-prefix arrays (masked ids): every plan of every
        // (K, kind, factor, first layer) must fit them, or SlicePlan::new refuses it
        for k in [3, 4] {
            for augment in [false, true] {
                for factor in [false, true] {
                    for (first, last) in
                        [(false, false), (true, false), (false, true), (true, true)]
                    {
                        let ps = plan_set(k, augment, factor, first, last);
                        let all = ps
                            .plans
                            .iter()
                            .chain(&ps.plan5)
                            .chain(&ps.plan5t)
                            .chain(&ps.plan6);
                        for pl in all {
                            assert!(pl.specs.len() <= MAX_SPECS, "{k} {:?}", pl.p);
                            assert!(pl.fspecs.len() < ONE as usize, "{k} {:?}", pl.p);
                            assert!(pl.fquads.len() <= MEMBER_PRODUCTS, "{k} {:?}", pl.p);
                            assert!(pl.gtrips.len() <= MEMBER_PRODUCTS, "{k} {:?}", pl.p);
                            assert_eq!(pl.outer.len(), pl.specs.len());
                            assert!(pl.groups.iter().all(|g| g.specs.len() <= 6));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn lane_sums_are_the_same_bits_with_and_without_avx() {
        let mut rng = crate::rng::SplitMix64::new(11, 0);
        let mut v = |m: usize| -> Vec<f64> { (0..m).map(|_| rng.next_f64() - 0.5).collect() };
        for n in [0, 1, 7, 8, 9, 31, 32, 45, 64] {
            let (w, a, b, c) = (v(n), v(n), v(n), v(n));
            let g = lane_sum::<false, 3>(&w, [&a, &b, &c], n);
            let want = (0..n).map(|j| w[j] * a[j] * b[j] * c[j]).sum::<f64>();
            assert!((g - want).abs() <= 1e-12, "{n}: {g} {want}");
            assert_eq!(
                lane_sum::<false, 0>(&w, [], n),
                lane_sum::<false, 0>(&w, [], n)
            );
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                let h = unsafe { avx2_lane_sum3(&w, [&a, &b, &c], n) };
                assert_eq!(g.to_bits(), h.to_bits(), "{n}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2_lane_sum3(w: &[f64], r: [&[f64]; 3], n: usize) -> f64 {
        lane_sum::<true, 3>(w, r, n)
    }

    #[test]
    fn ls5_terms_are_the_trace_partitions() {
        // the trace rows' sink writes the Leonov–Shiryaev sum of κ(φ_j, φ_k, φ_l, φ_i²) as
        // 2 μ_i Q_ijkl + 2 (C_ij T_ikl + C_ik T_ijl + C_il T_ijk): the same as the partitions
        let n: usize = 5;
        let mut rng = crate::rng::SplitMix64::new(7, 0);
        let mut sym = |d: u32| {
            let mut x = vec![0.0; n.pow(d)];
            for v in x.iter_mut() {
                *v = rng.next_f64() - 0.5;
            }
            // symmetrise
            let mut y = vec![0.0; x.len()];
            for (f, v) in y.iter_mut().enumerate() {
                let mut ix: Vec<usize> = (0..d).map(|a| f / n.pow(d - 1 - a) % n).collect();
                ix.sort_unstable();
                *v = x[ix.iter().fold(0, |o, &i| o * n + i)];
            }
            y
        };
        let (mu, c, t, q) = (sym(1), sym(2), sym(3), sym(4));
        let empty = Tables::new(n);
        let kap = Kap {
            n,
            mu: &mu,
            c: &c,
            t: &t,
            t3s: None,
            q: Some(&q),
            k5: &empty,
        };
        let parts = &ls_info(&[1, 1, 1, 2]).groups;
        for (j, k, l) in [(0, 1, 2), (1, 3, 4), (0, 2, 4)] {
            for (i, &mi) in mu.iter().enumerate() {
                let g = |ix: &[usize]| kap.get(ix);
                let want = 2.0 * mi * g(&[i, j, k, l])
                    + 2.0
                        * (g(&[i, j]) * g(&[i, k, l])
                            + g(&[i, k]) * g(&[i, j, l])
                            + g(&[i, l]) * g(&[i, j, k]));
                let got = kap.ls_sum(parts, &[j, k, l, i, i]);
                assert!(
                    (got - want).abs() <= 1e-12 * (1.0 + want.abs()),
                    "{got} {want}"
                );
            }
        }
    }

    #[test]
    fn leonov_shiryaev_partition_counts() {
        // κ(X², Y): π ∨ σ = 1̂ with π ≠ 1̂: {X}{X Y} twice
        assert_eq!(ls_partitions(&[0, 0, 1]).len(), 2);
        // κ(X²): {X}{X}
        assert_eq!(ls_partitions(&[0, 0]).len(), 1);
        // all distinct: none
        assert!(ls_partitions(&[0, 1, 2, 3]).is_empty());
        // κ(X², Y, Z, W): the 8 splits of {Y, Z, W} between the two X's
        assert_eq!(ls_partitions(&[0, 0, 1, 2, 3]).len(), 8);
    }

    #[test]
    fn leonov_shiryaev_groups_keep_every_partition_once() {
        // (2, 2, 2): 128 partitions in 27 groups; (6): 202 in 10; (4, 2): 172 in 18
        for (p, parts, groups) in [
            (&[2, 2, 2][..], 128, 27),
            (&[6], 202, 10),
            (&[4, 2], 172, 18),
        ] {
            let slots = slots_of(p);
            let g = ls_groups(&slots);
            assert_eq!(g.len(), groups, "{p:?}");
            assert_eq!(g.iter().map(|x| x.0).sum::<f64>(), parts as f64, "{p:?}");
            // each group's partitions read the same position multisets: a product of per-block
            // values keyed by the multiset, summed over all partitions, equals the grouped sum
            let val = |b: &[usize]| {
                let mut v: Vec<usize> = b.iter().map(|&x| slots[x]).collect();
                v.sort_unstable();
                1.0 + v
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| ((i + 1) * (x + 2)) as f64)
                    .sum::<f64>()
                    / 7.0
            };
            let prod = |pi: &[Vec<usize>]| pi.iter().map(|b| val(b)).product::<f64>();
            let full: f64 = ls_partitions(&slots).iter().map(|pi| prod(pi)).sum();
            let grouped: f64 = g.iter().map(|(c, pi)| c * prod(pi)).sum();
            assert!(
                (full - grouped).abs() <= 1e-12 * full.abs(),
                "{p:?}: {full} vs {grouped}"
            );
        }
    }
}
