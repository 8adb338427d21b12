//! kprop `K = 3` with the third cumulant kept factored, as the reference's `factor=True`
//! (`factor_k3.py`): `O(n³)` per layer instead of the dense `n³` tensor and its `3 n⁴` linear step.
//!
//! The third cumulant after an activation is `T = Sym(Σ_r F0_r ⊗ F1_r ⊗ F2_r)` (a CP form whose
//! rank grows by a few `n` per layer). Its all-distinct entries are the sum of the hypertree
//! diagrams of the all-distinct slice, each of rank `≤ n`:
//!
//! * the single `T` block — the pre-activation factors scaled by the Wick coefficients;
//! * the single `κ4 = Sym(A ⊗ M)` block (AUGMENT) — four products `A·M` sharing an index;
//! * paths `X(i, j) Y(j, k)` of 2-position blocks (Hadamard products of parallel blocks), one term
//!   of rank `n` per left leg, the right legs summed into its third factor.
//!
//! Its repeated entries (`T_iii`, `T_iij`: the row engine's slices, Leonov–Shiryaev converted) are
//! set exactly by one more rank-`n` correction term (the reference's `from_dstensor`). Everything
//! else — every slice with a repeated index, the Leonov–Shiryaev conversions, the fourth
//! cumulant's trace — is the row engine of the parent module reading `T` on repeated indices only.
//!
//! Beyond the reference: a factor that is `diag(d)` when made (the paths' middle factor, the
//! correction's two identity factors) costs no product in the next linear step, equal ones are
//! one block for good (propagated once; the slices' products sharing it as right operand are
//! one), and the output layer computes only the `T_iii` it reports.
//!
//! SIMPLE keeps every diagram (all of its all-distinct diagrams are hypertrees), so this is also
//! the unfactored `K = 3` SIMPLE; AUGMENT with `factor = true` drops the non-hypertree diagrams
//! exactly as the reference does. The dense [`super::kprop3_rows`] stays as the cross-check.

use super::{
    Diagram, KMAX, Kap, Linear, PMAX, Pre, SlicePlan, T3Slices, Tables, Wicks, convert_degree,
    diagrams, factored_keeps, fill_dense, is_hypertree, k3_fourth, k3_project, tabulate,
};
use crate::mlp::estimate::Estimate;
use crate::mlp::gauss::VAR_FLOOR;
use crate::mlp::linalg::{View, gemm};
use crate::mlp::{Cancel, Input, MlpError, Net};
use std::sync::OnceLock;

/// `Sym(Σ_r F0_r ⊗ F1_r ⊗ F2_r)`, each factor stored by column: `f[a][r n + i]`.
///
/// `terms` records every pushed term's rank, which of its factors are diagonal (`d_r e_r`, stored
/// dense as well: the next linear step maps those to `d_r W e_r` without a product) and which are
/// the same block as an earlier one (`alias`: the path and correction terms' identity factors are
/// one block, `W` after the next linear step and the same product of maps after every later one;
/// it is propagated once, and the slices' products that share it as their right operand are one).
#[derive(Clone)]
struct Cp {
    n: usize,
    r: usize,
    f: [Vec<f64>; 3],
    terms: Vec<Term>,
}

/// One pushed term of a [`Cp`].
#[derive(Clone)]
struct Term {
    rank: usize,
    /// `Some(d)`: this factor is `diag(d)` (until the next linear step).
    diag: [Option<Vec<f64>>; 3],
    /// `Some((t, b))`: this factor equals factor `b` of term `t`, which is itself no alias and comes
    /// first in the order (slot, term) in which [`Cp::linear`] fills the factors.
    alias: [Option<(usize, usize)>; 3],
}

impl Cp {
    fn new(n: usize) -> Self {
        Cp {
            n,
            r: 0,
            f: [Vec::new(), Vec::new(), Vec::new()],
            terms: Vec::new(),
        }
    }

    /// The first column of term `t`.
    fn offset(&self, t: usize) -> usize {
        self.terms[..t].iter().map(|x| x.rank).sum()
    }

    /// Appends a term of rank `f0.len() / n`, with the diagonals of the factors that are
    /// `diag(d)` (rank-`n` terms only; never the first factor, which the carried term's
    /// coefficient rescales alone). A diagonal factor equal to an earlier one becomes its alias.
    fn push_term(&mut self, f0: &[f64], f1: &[f64], f2: &[f64], diag: [Option<Vec<f64>>; 3]) {
        debug_assert!(
            f0.len() == f1.len() && f1.len() == f2.len() && f0.len().is_multiple_of(self.n)
        );
        debug_assert!(
            diag.iter()
                .flatten()
                .all(|d| d.len() == self.n && f0.len() == self.n * self.n)
        );
        debug_assert!(diag[0].is_none());
        let rank = f0.len() / self.n;
        let me = self.terms.len();
        let mut alias: [Option<(usize, usize)>; 3] = [None, None, None];
        for a in 1..3 {
            let Some(d) = &diag[a] else { continue };
            // the first equal diagonal factor, itself no alias, before (slot a, this term) in the
            // order (slot, term) of the linear step: earlier terms' slots ≤ a, this term's slots < a
            let earlier = (1..=a).flat_map(|b| (0..me).map(move |t| (t, b)));
            let own = (1..a).map(|b| (me, b));
            alias[a] = earlier.chain(own).find(|&(t, b)| {
                let (cand, cand_alias) = if t == me {
                    (&diag[b], alias[b])
                } else {
                    (&self.terms[t].diag[b], self.terms[t].alias[b])
                };
                cand_alias.is_none() && cand.as_ref() == Some(d)
            });
        }
        self.r += rank;
        self.f[0].extend_from_slice(f0);
        self.f[1].extend_from_slice(f1);
        self.f[2].extend_from_slice(f2);
        self.terms.push(Term { rank, diag, alias });
    }

    /// Appends every term of `other` (same `n`).
    fn append(&mut self, other: Cp) {
        debug_assert_eq!(self.n, other.n);
        let shift = self.terms.len();
        self.r += other.r;
        for (a, f) in other.f.into_iter().enumerate() {
            self.f[a].extend_from_slice(&f);
        }
        self.terms.extend(other.terms.into_iter().map(|mut t| {
            for x in t.alias.iter_mut().flatten() {
                x.0 += shift;
            }
            t
        }));
    }

    /// Appends the rank-`n` term `Σ_r F0_r ⊗ d_r e_r ⊗ F2_r` (`f0`, `f2` by column, `n × n`) and
    /// adds its repeated slices to `acc` in `O(n²)`: `T_iii = F0_ii d_i F2_ii`,
    /// `3 T_iij = F0_ii d_i F2_ij + F0_ji F2_ji d_j + d_i F2_ii F0_ij` (`F_ri`: column `r`, row `i`).
    fn push_diag(&mut self, f0: &[f64], d: &[f64], f2: &[f64], acc: &mut Slices) {
        let n = self.n;
        let mut f1 = vec![0.0; n * n];
        for i in 0..n {
            f1[i * n + i] = d[i];
        }
        self.push_term(f0, &f1, f2, [None, Some(d.to_vec()), None]);
        let (s3, s21) = acc;
        for i in 0..n {
            let (a, c) = (f0[i * n + i], f2[i * n + i]);
            s3[i] += a * d[i] * c;
            for j in 0..n {
                if j != i {
                    s21[i * n + j] += (a * d[i] * f2[i * n + j]
                        + f0[j * n + i] * f2[j * n + i] * d[j]
                        + d[i] * c * f0[i * n + j])
                        / 3.0;
                }
            }
        }
    }

    /// `T ×₁W ×₂W ×₃W`: every factor column `W F_r` (`W` is `rows × cols`, `self.n = cols`); runs
    /// of dense factors as one product each, a diagonal factor `d_r e_r` as `d_r W[·, r]` (the
    /// product's own value: every other term of its sums is an exact zero), an alias as a copy
    /// of its block's image.
    fn linear(&self, w: &[f64], rows: usize, cols: usize, flops: &mut f64) -> Cp {
        let (mut work, mut dwork) = (0usize, 0usize);
        let mut outs: Vec<Vec<f64>> = Vec::with_capacity(3);
        for a in 0..3 {
            let mut out = vec![0.0; self.r * rows];
            let src = &self.f[a];
            let mut run = |c0: usize, c1: usize, out: &mut [f64]| {
                if c1 > c0 {
                    gemm(
                        c1 - c0,
                        cols,
                        rows,
                        View::rows(&src[c0 * cols..c1 * cols], cols),
                        View::trans(w, cols),
                        0.0,
                        &mut out[c0 * rows..c1 * rows],
                    );
                    work += (c1 - c0) * rows * cols;
                }
            };
            let (mut col, mut dense_from) = (0, 0);
            for term in &self.terms {
                let rank = term.rank;
                if let Some((t, b)) = term.alias[a] {
                    run(dense_from, col, &mut out);
                    let o = self.offset(t) * rows;
                    if b == a {
                        out.copy_within(o..o + rank * rows, col * rows);
                    } else {
                        out[col * rows..(col + rank) * rows]
                            .copy_from_slice(&outs[b][o..o + rank * rows]);
                    }
                    dense_from = col + rank;
                } else if let Some(d) = &term.diag[a] {
                    run(dense_from, col, &mut out);
                    for (q, dq) in d.iter().enumerate() {
                        let o = &mut out[(col + q) * rows..(col + q + 1) * rows];
                        for (i, x) in o.iter_mut().enumerate() {
                            *x = w[i * cols + q] * dq;
                        }
                    }
                    dense_from = col + rank;
                    dwork += rank * rows;
                }
                col += rank;
            }
            run(dense_from, self.r, &mut out);
            outs.push(out);
        }
        *flops += (2 * work + dwork) as f64;
        let f2 = outs.pop().expect("three factors");
        let f1 = outs.pop().expect("three factors");
        let f0 = outs.pop().expect("three factors");
        Cp {
            n: rows,
            r: self.r,
            f: [f0, f1, f2],
            terms: self
                .terms
                .iter()
                .map(|t| Term {
                    rank: t.rank,
                    diag: [None, None, None],
                    alias: t.alias,
                })
                .collect(),
        }
    }

    /// `T_iii` alone (the output layer reports only the diagonal of its third cumulant).
    fn diag3(&self, flops: &mut f64) -> Vec<f64> {
        let n = self.n;
        let [f0, f1, f2] = &self.f;
        let mut d3 = vec![0.0; n];
        for q in 0..self.r * n {
            d3[q % n] += f0[q] * f1[q] * f2[q];
        }
        *flops += (3 * self.r * n) as f64;
        d3
    }

    /// `T_iii` and `T_iij` (`i ≠ j`; the diagonal of the second is 0):
    /// `3 T_iij = Σ_r (F0∘F1)_i F2_j + (F0∘F2)_i F1_j + (F1∘F2)_i F0_j`, one matrix product with
    /// the left operands of a shared right block (an alias) summed first.
    fn slices(&self, flops: &mut f64) -> Slices {
        let n = self.n;
        let [f0, f1, f2] = &self.f;
        let mut d3 = vec![0.0; n];
        for q in 0..self.r * n {
            d3[q % n] += f0[q] * f1[q] * f2[q];
        }
        // (right block: term, slot) → its summed left operand, in order of first use
        let mut groups: Vec<((usize, usize), Vec<f64>)> = Vec::new();
        let mut col = 0;
        for (t, term) in self.terms.iter().enumerate() {
            let (c0, c1) = (col * n, (col + term.rank) * n);
            for (x, y, right) in [(0, 1, 2), (0, 2, 1), (1, 2, 0)] {
                let key = term.alias[right].unwrap_or((t, right));
                let (fx, fy) = (&self.f[x][c0..c1], &self.f[y][c0..c1]);
                match groups.iter_mut().find(|g| g.0 == key) {
                    Some(g) => {
                        for ((h, a), b) in g.1.iter_mut().zip(fx).zip(fy) {
                            *h += a * b;
                        }
                    }
                    None => groups.push((key, fx.iter().zip(fy).map(|(a, b)| a * b).collect())),
                }
            }
            col += term.rank;
        }
        let mut left = Vec::new();
        let mut right = Vec::new();
        for ((t, b), h) in &groups {
            let o = self.offset(*t) * n;
            left.extend_from_slice(h);
            right.extend_from_slice(&self.f[*b][o..o + h.len()]);
        }
        let k = left.len() / n.max(1);
        let mut d21 = vec![0.0; n * n];
        gemm(
            n,
            k,
            n,
            View::trans(&left, n),
            View::rows(&right, n),
            0.0,
            &mut d21,
        );
        for (q, x) in d21.iter_mut().enumerate() {
            *x = if q / n == q % n { 0.0 } else { *x / 3.0 };
        }
        *flops += (2 * k * n * n + 9 * self.r * n) as f64;
        (d3, d21)
    }

    /// `G_jk = Σ_i u_i T_ijk` (every `i`).
    fn contract(&self, u: &[f64], flops: &mut f64) -> Vec<f64> {
        let (n, r) = (self.n, self.r);
        let [f0, f1, f2] = &self.f;
        let s = |f: &[f64]| -> Vec<f64> {
            f.chunks(n)
                .map(|col| col.iter().zip(u).map(|(a, b)| a * b).sum())
                .collect()
        };
        let (s0, s1, s2) = (s(f0), s(f1), s(f2));
        // X = F1ᵀ diag(s0) F2 + F0ᵀ diag(s1) F2 + F0ᵀ diag(s2) F1, G = (X + Xᵀ) / 6
        let mut a = Vec::with_capacity(3 * r * n);
        for (f, sv) in [(f1, &s0), (f0, &s1), (f0, &s2)] {
            for (col, &x) in f.chunks(n).zip(sv.iter()) {
                a.extend(col.iter().map(|v| v * x));
            }
        }
        let x = cross(&a, [f2, f2, f1], n);
        let mut g = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = (x[i * n + j] + x[j * n + i]) / 6.0;
            }
        }
        *flops += (6 * r * n * n + 12 * r * n + 2 * n * n) as f64;
        g
    }
}

/// `X_ij = Σ_q a[q n + i] b[q n + j]` with `b` the three factor blocks stacked (`a` has as many
/// columns of length `n` as the three together).
fn cross(a: &[f64], b: [&[f64]; 3], n: usize) -> Vec<f64> {
    let stacked = b.concat();
    let mut x = vec![0.0; n * n];
    gemm(
        n,
        stacked.len() / n,
        n,
        View::trans(a, n),
        View::rows(&stacked, n),
        0.0,
        &mut x,
    );
    x
}

/// `(T_iii, T_iij)` of a third cumulant.
type Slices = (Vec<f64>, Vec<f64>);

/// A path diagram's leg: `(multiplicity at the end, at the centre)` of each of its blocks, sorted,
/// and the Wick order at the end.
type LegKey = (Vec<(usize, usize)>, usize);

/// One all-distinct diagram, by kind.
enum Shape {
    /// A single block on the three positions: its degree and positions, and `k`.
    Single {
        deg: usize,
        pos: [usize; 6],
        k: [usize; 3],
    },
    /// `X(i_a, i_b) Y(i_b, i_c)`: end `a`, centre `b`, end `c`; the blocks of each leg.
    Path {
        ends: [usize; 3],
        key: LegKey,
        left: Vec<(usize, [usize; 6])>,
        right: Vec<(usize, [usize; 6])>,
        k: [usize; 3],
    },
}

/// The plans of a factored `K = 3` layer.
struct FacPlans {
    /// Every slice but the all-distinct one; the trace rows without the all-distinct `T` block.
    pats: Vec<Vec<usize>>,
    plans: Vec<SlicePlan>,
    plan5: Option<SlicePlan>,
    /// The trace rows' diagrams made of the all-distinct `T` block alone: `(coef, k)`.
    single5: Vec<(f64, [usize; 4])>,
    /// The all-distinct slice's diagrams (coefficient, shape).
    tri: Vec<(f64, Shape)>,
    need: [[bool; KMAX + 1]; PMAX],
}

fn shape(dg: &Diagram) -> Shape {
    let supp =
        |v: &[usize; 4]| -> u32 { (0..3).filter(|&a| v[a] > 0).fold(0, |m, a| m | (1 << a)) };
    let k = [dg.k[0], dg.k[1], dg.k[2]];
    if dg.blocks.len() == 1 && supp(&dg.vecs[0]) == 0b111 {
        return Shape::Single {
            deg: dg.blocks[0].deg,
            pos: dg.blocks[0].pos,
            k,
        };
    }
    let sets: Vec<u32> = dg.vecs.iter().map(supp).collect();
    let mut edges: Vec<u32> = sets.clone();
    edges.sort_unstable();
    edges.dedup();
    assert!(
        edges.len() == 2 && edges.iter().all(|e| e.count_ones() == 2),
        "not a path: {sets:?}"
    );
    let centre = (edges[0] & edges[1]).trailing_zeros() as usize;
    let end = |e: u32| (e & !(1 << centre)).trailing_zeros() as usize;
    let leg = |e: u32, a: usize| -> (Vec<(usize, [usize; 6])>, LegKey) {
        let mut blocks = Vec::new();
        let mut key = Vec::new();
        for ((b, v), &s) in dg.blocks.iter().zip(&dg.vecs).zip(&sets) {
            if s == e {
                blocks.push((b.deg, b.pos));
                key.push((v[a], v[centre]));
            }
        }
        key.sort_unstable();
        (blocks, (key, dg.k[a]))
    };
    let (a, c) = (end(edges[0]), end(edges[1]));
    let (la, ka) = leg(edges[0], a);
    let (lc, kc) = leg(edges[1], c);
    // the lighter leg on the left, so that diagrams group by it
    if ka <= kc {
        Shape::Path {
            ends: [a, centre, c],
            key: ka,
            left: la,
            right: lc,
            k,
        }
    } else {
        Shape::Path {
            ends: [c, centre, a],
            key: kc,
            left: lc,
            right: la,
            k,
        }
    }
}

/// The activations' cumulants with the third on its repeated indices (`d3`, `d21`) and the
/// degree-4 tables in `k5`.
fn kap_sliced<'a>(
    n: usize,
    mu: &'a [f64],
    c: &'a [f64],
    (d3, d21): (&'a [f64], &'a [f64]),
    k5: &'a Tables,
) -> Kap<'a> {
    Kap {
        n,
        mu,
        c,
        t: &[],
        t3s: Some(T3Slices { n, d3, d21 }),
        q: None,
        k5,
    }
}

/// `last`: the last hidden layer (the output layer reads `μ`, `C` and `T`): degree ≤ 3, no trace.
fn fac_plans(augment: bool, first: bool, last: bool) -> &'static FacPlans {
    static CACHE: [OnceLock<FacPlans>; 8] = [const { OnceLock::new() }; 8];
    CACHE[usize::from(last) * 4 + usize::from(augment) * 2 + usize::from(first)].get_or_init(|| {
        let budget = 2 + usize::from(augment);
        let max_deg = if first { 2 } else { 4 };
        let dg: Vec<Vec<Diagram>> = (1..=3).map(|d| diagrams(d, budget, max_deg)).collect();
        // SIMPLE reads degree 4 only through its double trace Σ_ij κ4_iijj: no (3, 1) slice
        let mut pats: Vec<Vec<usize>> = vec![
            vec![1],
            vec![2],
            vec![3],
            vec![4],
            vec![1, 1],
            vec![2, 1],
            vec![2, 2],
        ];
        if augment {
            pats.push(vec![3, 1]);
        }
        if last {
            pats.retain(|p| p.iter().sum::<usize>() <= 3);
        }
        let plans: Vec<SlicePlan> = pats
            .iter()
            .map(|p| SlicePlan::new(&dg[p.len() - 1], p, true, 3))
            .collect();
        let all3 = [1usize, 1, 1, 0];
        let (plan5, single5) = if augment && !last {
            let rest: Vec<Diagram> = dg[2]
                .iter()
                .filter(|d| !d.vecs.contains(&all3))
                .cloned()
                .collect();
            let single: Vec<(f64, [usize; 4])> = dg[2]
                .iter()
                .filter(|d| d.vecs.len() == 1 && d.vecs[0] == all3)
                .map(|d| (d.coef, d.k))
                .collect();
            (Some(SlicePlan::new(&rest, &[1, 1, 2], true, 3)), single)
        } else {
            (None, Vec::new())
        };
        let tri: Vec<(f64, Shape)> = dg[2]
            .iter()
            .filter(|d| factored_keeps(&[1, 1, 1], d, 3))
            .map(|d| {
                debug_assert!(is_hypertree(&d.vecs, 3));
                (d.coef, shape(d))
            })
            .collect();
        let mut need = [[false; KMAX + 1]; PMAX];
        for pl in plans.iter().chain(plan5.iter()) {
            for g in &pl.groups {
                need[pl.p[pl.d - 1] - 1][g.k_l] = true;
                for (_, _, k) in &g.members {
                    for a in 0..pl.d - 1 {
                        need[pl.p[a] - 1][k[a]] = true;
                    }
                }
            }
        }
        for (_, k) in &single5 {
            need[0][k[0]] = true;
            need[0][k[1]] = true;
            need[1][k[2]] = true;
        }
        for d in &dg[2] {
            if factored_keeps(&[1, 1, 1], d, 3) {
                for a in 0..3 {
                    need[0][d.k[a]] = true;
                }
            }
        }
        FacPlans {
            pats,
            plans,
            plan5,
            single5,
            tri,
            need,
        }
    })
}

/// The all-distinct third cumulant of the activations in factored form (before the repeated
/// entries are corrected): the carried `T`, the single `κ4` blocks and the paths; with its
/// repeated slices `(T_iii, T_iij)` (the carried part's from the pre-activation slices `pre_sl`,
/// which the Wick coefficients only rescale).
fn all_distinct(
    fp: &FacPlans,
    pre: &Pre<'_>,
    third: Option<&Cp>,
    pre_sl: Option<&Slices>,
    wk: &Wicks,
    flops: &mut f64,
) -> (Cp, Slices) {
    let n = pre.n;
    let w = |k: usize| wk.row(1, k);
    let mut out = Cp::new(n);
    let mut carried: Option<(Cp, Slices)> = None;
    let mut acc: Slices = (vec![0.0; n], vec![0.0; n * n]);
    // single blocks, merged by (degree, the Wick orders with the doubled position first)
    let mut singles: Vec<(usize, [usize; 3], f64)> = Vec::new();
    // paths grouped by their left leg
    let mut groups: Vec<(LegKey, Vec<(f64, &Shape)>)> = Vec::new();
    for (coef, sh) in &fp.tri {
        match sh {
            Shape::Single { deg, pos, k } => {
                let ks = if *deg == 4 {
                    // the doubled position first, then the other two in order
                    let x = (0..3).find(|&a| pos[..4].iter().filter(|&&p| p == a).count() == 2);
                    let x = x.expect("a (2, 1, 1) block");
                    let o: Vec<usize> = (0..3).filter(|&a| a != x).collect();
                    [k[x], k[o[0]], k[o[1]]]
                } else {
                    *k
                };
                match singles.iter_mut().find(|(d, kk, _)| d == deg && *kk == ks) {
                    Some(s) => s.2 += coef,
                    None => singles.push((*deg, ks, *coef)),
                }
            }
            Shape::Path { key, .. } => match groups.iter_mut().find(|(kk, _)| kk == key) {
                Some(g) => g.1.push((*coef, sh)),
                None => groups.push((key.clone(), vec![(*coef, sh)])),
            },
        }
    }
    let ident = |scale: &[f64]| -> Vec<f64> {
        let mut f = vec![0.0; n * n];
        for i in 0..n {
            f[i * n + i] = scale[i];
        }
        f
    };
    let by = |m: &[f64], scale: &[f64], c: f64| -> Vec<f64> {
        // column r = c · M[r, ·] ∘ scale (M symmetric)
        let mut f = vec![0.0; n * n];
        for r in 0..n {
            for i in 0..n {
                f[r * n + i] = c * m[r * n + i] * scale[i];
            }
        }
        f
    };
    for (deg, ks, coef) in singles {
        match deg {
            3 => {
                if let Some(th) = third {
                    debug_assert!(ks[0] == ks[1] && ks[1] == ks[2]);
                    let wv = w(ks[0]);
                    let mut t = th.clone();
                    for f in &mut t.f {
                        for col in f.chunks_mut(n) {
                            for (x, s) in col.iter_mut().zip(wv) {
                                *x *= s;
                            }
                        }
                    }
                    for x in &mut t.f[0] {
                        *x *= coef;
                    }
                    let (d3, d21) = pre_sl.expect("slices of the carried T");
                    let c3: Vec<f64> = (0..n).map(|i| coef * wv[i].powi(3) * d3[i]).collect();
                    let c21: Vec<f64> = (0..n * n)
                        .map(|q| coef * wv[q / n] * wv[q / n] * wv[q % n] * d21[q])
                        .collect();
                    debug_assert!(carried.is_none());
                    carried = Some((t, (c3, c21)));
                }
            }
            4 => {
                // coef · w_x w_y w_z Sym(A ⊗ M) on (x, x, y, z): (A_xx M_yz + 2 A_xy M_xz
                // + 2 A_xz M_xy + A_yz M_xx) / 6
                let Some(a) = pre.a4 else { continue };
                let (wx, wy, wz) = (w(ks[0]), w(ks[1]), w(ks[2]));
                let mdense: Vec<f64> = match pre.metric {
                    Some(m) => m.to_vec(),
                    None => ident(&vec![pre.avg; n]),
                };
                let mm = &mdense;
                let c6 = coef / 6.0;
                let mdiag: Vec<f64> = (0..n).map(|i| mm[i * n + i] * wx[i]).collect();
                // A_yz M_xx (the only one left on distinct indices with a diagonal metric)
                let fx = (0..n * n).map(|q| c6 * mdiag[q % n]).collect::<Vec<_>>();
                out.push_diag(&fx, wz, &by(a, wy, 1.0), &mut acc);
                if pre.metric.is_some() {
                    let adiag: Vec<f64> = (0..n).map(|i| a[i * n + i] * wx[i]).collect();
                    let fx = (0..n * n).map(|q| c6 * adiag[q % n]).collect::<Vec<_>>();
                    out.push_diag(&fx, wz, &by(mm, wy, 1.0), &mut acc);
                    let dx: Vec<f64> = (0..n).map(|i| 2.0 * c6 * wx[i]).collect();
                    if ks[1] == ks[2] {
                        // the two mixed products are one slot swap apart: one term, twice
                        let dx2: Vec<f64> = dx.iter().map(|x| 2.0 * x).collect();
                        out.push_diag(&by(a, wy, 1.0), &dx2, &by(mm, wz, 1.0), &mut acc);
                    } else {
                        out.push_diag(&by(a, wy, 1.0), &dx, &by(mm, wz, 1.0), &mut acc);
                        out.push_diag(&by(mm, wy, 1.0), &dx, &by(a, wz, 1.0), &mut acc);
                    }
                }
                *flops += 12.0 * (n * n) as f64;
            }
            _ => unreachable!("single blocks of degree 3 or 4"),
        }
    }
    // a leg's matrix L(i_end, r_centre) = Π blocks, 0 on the diagonal
    let mut cache = BlockCache::new(pre);
    let mut leg = |blocks: &[(usize, [usize; 6])], end: usize, centre: usize| -> Vec<f64> {
        let mut x = vec![1.0; n * n];
        for &(deg, pos) in blocks {
            cache.mul_into(Factor::Block(deg, pos), end, centre, &mut x);
        }
        for i in 0..n {
            x[i * n + i] = 0.0;
        }
        x
    };
    for (_, members) in groups {
        let Shape::Path { ends, left, k, .. } = members[0].1 else {
            unreachable!()
        };
        let xl = leg(left, ends[0], ends[1]);
        let wa = w(k[ends[0]]);
        // F_a[r, i] = X(i, r) w_a(i)
        let mut fa = vec![0.0; n * n];
        for i in 0..n {
            for r in 0..n {
                fa[r * n + i] = xl[i * n + r] * wa[i];
            }
        }
        // F_c[r, i] = Σ coef w_b(r) Y(r, i) w_c(i), Y(r, i) the right leg with the centre at r
        let mut fc = vec![0.0; n * n];
        for (coef, sh) in members {
            let Shape::Path { ends, right, k, .. } = sh else {
                unreachable!()
            };
            let y = leg(right, ends[2], ends[1]); // y[i * n + r]: end i, centre r
            let (wb, wc) = (w(k[ends[1]]), w(k[ends[2]]));
            for r in 0..n {
                for i in 0..n {
                    fc[r * n + i] += coef * wb[r] * y[i * n + r] * wc[i];
                }
            }
            *flops += 4.0 * (n * n) as f64;
        }
        let ones = vec![1.0; n];
        out.push_diag(&fa, &ones, &fc, &mut acc);
    }
    let (mut s3, mut s21) = acc;
    *flops += 8.0 * (out.r * n) as f64;
    if let Some((t, (c3, c21))) = carried {
        for (x, y) in s3.iter_mut().zip(&c3) {
            *x += y;
        }
        for (x, y) in s21.iter_mut().zip(&c21) {
            *x += y;
        }
        let mut all = t;
        all.append(out);
        return (all, (s3, s21));
    }
    (out, (s3, s21))
}

/// A factor of one separable term of a trace row: a cumulant block, or an entry of the fourth
/// cumulant's core `A` or of the metric `M`, on positions of `(j, k, i)`.
#[derive(Clone, Copy)]
enum Factor {
    Block(usize, [usize; 6]),
    A(usize, usize),
    M(usize, usize),
}

impl Factor {
    /// The positions it reads, as a bit set.
    fn support(self) -> u32 {
        match self {
            Factor::Block(deg, pos) => pos[..deg].iter().fold(0, |m, &p| m | (1 << p)),
            Factor::A(x, y) | Factor::M(x, y) => (1 << x) | (1 << y),
        }
    }
}

/// The pre-activation cumulant blocks on two indices as `n × n` tables, each built once per layer:
/// `pair(a, b)[x n + y]` is the block with `a` slots at `x` and `b` slots at `y`.
struct BlockCache<'a, 'b> {
    pre: &'a Pre<'b>,
    tabs: Vec<((usize, usize), Vec<f64>)>,
}

impl<'a, 'b> BlockCache<'a, 'b> {
    fn new(pre: &'a Pre<'b>) -> Self {
        BlockCache {
            pre,
            tabs: Vec::new(),
        }
    }

    fn pair(&mut self, a: usize, b: usize) -> &[f64] {
        let pos = match self.tabs.iter().position(|(k, _)| *k == (a, b)) {
            Some(p) => p,
            None => {
                let n = self.pre.n;
                let mut t = vec![0.0; n * n];
                let mut ix = [0usize; 6];
                for x in 0..n {
                    for y in 0..n {
                        ix[..a].fill(x);
                        ix[a..a + b].fill(y);
                        t[x * n + y] = self.pre.block(&ix[..a + b]);
                    }
                }
                self.tabs.push(((a, b), t));
                self.tabs.len() - 1
            }
        };
        &self.tabs[pos].1
    }

    /// Multiplies `out[x n + y]` by the factor with position `p` at `x` and `q` at `y` (it reads
    /// no other position).
    fn mul_into(&mut self, f: Factor, p: usize, q: usize, out: &mut [f64]) {
        let n = self.pre.n;
        let pick = |pos: usize, x: usize, y: usize| if pos == p { x } else { y };
        match f {
            Factor::Block(deg, pos) => {
                let a = pos[..deg].iter().filter(|&&x| x == p).count();
                debug_assert_eq!(a + pos[..deg].iter().filter(|&&x| x == q).count(), deg);
                let t = self.pair(a, deg - a);
                for (o, v) in out.iter_mut().zip(t) {
                    *o *= v;
                }
            }
            Factor::A(s, t) => {
                let a = self.pre.a4.expect("the fourth cumulant's core");
                for x in 0..n {
                    for y in 0..n {
                        out[x * n + y] *= a[pick(s, x, y) * n + pick(t, x, y)];
                    }
                }
            }
            Factor::M(s, t) => {
                for x in 0..n {
                    for y in 0..n {
                        out[x * n + y] *= self.pre.met(pick(s, x, y), pick(t, x, y));
                    }
                }
            }
        }
    }
}

/// `R_jk = Σ_{i ∉ {j, k}} pK(φ_j, φ_k, φ_i²)` over the diagrams of `plan` (pattern `(1, 1, 2)`,
/// no third-cumulant block on all three positions), by matrix products: a fourth-cumulant block
/// `Sym(A ⊗ M)` on all three positions is split into its six products `A·M`; then every factor
/// of a term reads `(j, k)`, `(j, i)`, `(k, i)` or `i` alone, and the term's sum over `i` is
/// `E(j, k) (P diag(w) Qᵀ)_jk`, times the group's scalar (its other blocks and Wick coefficients).
pub(super) fn trace_rows(plan: &SlicePlan, pre: &Pre<'_>, wk: &Wicks, flops: &mut f64) -> Vec<f64> {
    let n = pre.n;
    let n2 = n * n;
    debug_assert_eq!(plan.p, [1, 1, 2]);
    let mut out = vec![0.0; n2];
    let mut sc = vec![0.0; n2];
    let mut pm = vec![0.0; n2];
    let mut qm = vec![0.0; n2];
    let mut em = vec![0.0; n2];
    let mut prod = vec![0.0; n2];
    let mut tmp = vec![0.0; n2];
    let mut cache = BlockCache::new(pre);
    for g in &plan.groups {
        // the group's scalar on (j < k)
        sc.fill(0.0);
        for (coef, free, k) in &g.members {
            let (w0, w1) = (wk.row(plan.p[0], k[0]), wk.row(plan.p[1], k[1]));
            for j in 0..n {
                for kk in 0..n {
                    tmp[j * n + kk] = coef * w0[j] * w1[kk];
                }
            }
            for &f in free {
                let b = &plan.fspecs[f];
                cache.mul_into(Factor::Block(b.deg, b.pos), 0, 1, &mut tmp);
            }
            for (x, t) in sc.iter_mut().zip(&tmp) {
                *x += t;
            }
        }
        // the blocks touching i, as separable terms (coefficient, factors)
        let mut terms: Vec<(f64, Vec<Factor>)> = vec![(1.0, Vec::new())];
        for &sid in &g.specs {
            let b = plan.specs[sid];
            let f = Factor::Block(b.deg, b.pos);
            if f.support() != 0b111 {
                for t in &mut terms {
                    t.1.push(f);
                }
                continue;
            }
            assert!(
                b.deg == 4 && pre.a4.is_some(),
                "a third-cumulant block on all three positions"
            );
            let sl = &b.pos[..4];
            let mut next = Vec::new();
            for (x, y, z, u) in [
                (0, 1, 2, 3),
                (0, 2, 1, 3),
                (0, 3, 1, 2),
                (1, 2, 0, 3),
                (1, 3, 0, 2),
                (2, 3, 0, 1),
            ] {
                for (c, fs) in &terms {
                    let mut fs = fs.clone();
                    fs.push(Factor::A(sl[x], sl[y]));
                    fs.push(Factor::M(sl[z], sl[u]));
                    next.push((c / 6.0, fs));
                }
            }
            terms = next;
        }
        let wl0 = wk.row(plan.p[2], g.k_l);
        for (coef, fs) in &terms {
            let mut wl: Vec<f64> = wl0.iter().map(|x| coef * x).collect();
            pm.fill(1.0);
            qm.fill(1.0);
            em.fill(1.0);
            let (mut has_p, mut has_q) = (false, false);
            for &f in fs {
                let supp = f.support();
                if supp & 0b100 == 0 {
                    cache.mul_into(f, 0, 1, &mut em);
                } else if supp == 0b100 {
                    tmp.fill(1.0);
                    cache.mul_into(f, 2, 0, &mut tmp);
                    for (i, x) in wl.iter_mut().enumerate() {
                        *x *= tmp[i * n];
                    }
                } else if supp & 0b010 == 0 {
                    has_p = true;
                    cache.mul_into(f, 0, 2, &mut pm);
                } else {
                    debug_assert_eq!(supp & 0b001, 0);
                    has_q = true;
                    cache.mul_into(f, 1, 2, &mut qm);
                }
            }
            // Σ_{i ∉ {j, k}} w_i P(j, i) Q(k, i); with P ≡ 1 or Q ≡ 1 a matrix-vector product
            let mv = |m: &[f64]| -> Vec<f64> {
                (0..n)
                    .map(|a| {
                        (0..n)
                            .filter(|&i| i != a)
                            .map(|i| wl[i] * m[a * n + i])
                            .sum()
                    })
                    .collect()
            };
            match (has_p, has_q) {
                (true, true) => {
                    for j in 0..n {
                        pm[j * n + j] = 0.0;
                        qm[j * n + j] = 0.0;
                        for i in 0..n {
                            pm[j * n + i] *= wl[i];
                        }
                    }
                    gemm(
                        n,
                        n,
                        n,
                        View::rows(&pm, n),
                        View::trans(&qm, n),
                        0.0,
                        &mut prod,
                    );
                    *flops += 2.0 * (n2 * n) as f64;
                }
                (true, false) => {
                    let pw = mv(&pm);
                    for j in 0..n {
                        for kk in j + 1..n {
                            prod[j * n + kk] = pw[j] - wl[kk] * pm[j * n + kk];
                        }
                    }
                }
                (false, true) => {
                    let qw = mv(&qm);
                    for j in 0..n {
                        for kk in j + 1..n {
                            prod[j * n + kk] = qw[kk] - wl[j] * qm[kk * n + j];
                        }
                    }
                }
                (false, false) => {
                    let tot: f64 = wl.iter().sum();
                    for j in 0..n {
                        for kk in j + 1..n {
                            prod[j * n + kk] = tot - wl[j] - wl[kk];
                        }
                    }
                }
            }
            for j in 0..n {
                for q in j * n + j + 1..(j + 1) * n {
                    out[q] += sc[q] * em[q] * prod[q];
                }
            }
            *flops += (fs.len() * 2 + 4) as f64 * n2 as f64;
        }
        *flops += (g.members.len() * 4) as f64 * n2 as f64;
    }
    out
}

/// kprop `K = 3` with the factored third cumulant: SIMPLE (every term, so equal to the
/// unfactored SIMPLE) or AUGMENT with the reference's factored term set.
///
/// # Errors
/// [`MlpError::Cancelled`].
#[allow(clippy::too_many_lines)]
pub fn kprop3_factored(
    net: &Net,
    input: &Input,
    init_scale: Option<&[f64]>,
    keep_cov: bool,
    augment: bool,
    cancel: Cancel<'_>,
) -> Result<Estimate, MlpError> {
    let mut out = Estimate::default();
    let mut mu = input.mean.clone();
    let mut c: Vec<f64> = Vec::new();
    let mut tf: Option<Cp> = None;
    let mut a4: Option<Vec<f64>> = None;
    let depth = net.depth();
    for l in 0..depth {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let (rf, n) = (rows as f64, rows);
        let n2 = n * n;
        let w = &net.weights[l];
        let (m, s, mut flops) =
            super::super::kprop::mean_cov_step(net, input, l, &mu, std::mem::take(&mut c));
        let third = tf.take().map(|f| f.linear(w, rows, cols, &mut flops));
        let pre_var: Vec<f64> = (0..n).map(|i| s[i * n + i]).collect();
        // the output layer reports only the diagonal of its third cumulant
        let (pre_sl, pre_kappa3) = if l + 1 == depth {
            (None, third.as_ref().map(|t| t.diag3(&mut flops)))
        } else {
            let sl = third.as_ref().map(|t| t.slices(&mut flops));
            let d3 = sl.as_ref().map(|(d3, _)| d3.clone());
            (sl, d3)
        };
        let lin = Linear {
            m,
            s,
            third: None,
            pre_var,
            pre_kappa3,
            flops,
        };
        let Some(Linear {
            m,
            s,
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
        // the last hidden layer's fourth cumulant goes nowhere (see [`super::kprop4`])
        let last = l + 2 == depth;
        let fp = fac_plans(augment, third.is_none(), last);
        let wk = Wicks::new(&fp.need, act, &m, &pre_var);
        out.clamps += pre_var.iter().filter(|v| **v < VAR_FLOOR).count() as u64;
        flops += wk.ncoef * act.coef_flops() * rf;
        let pre = Pre {
            n,
            s: &s,
            t: None,
            t3s: pre_sl.as_ref().map(|(d3, d21)| T3Slices { n, d3, d21 }),
            q: None,
            q4s: None,
            a4: fourth.as_deref(),
            a5: None,
            c6: 0.0,
            metric: metric.as_deref(),
            avg,
            diag: None,
        };
        let mut pk = tabulate(&fp.plans, &pre, &wk, &mut flops, cancel)?;
        // cumulants by Leonov–Shiryaev: degree 2 (C), 3 (T on repeated indices), 4 (tables)
        let e: Vec<f64> = pk.get(&[1]).to_vec();
        let mut kt = Tables::new(n);
        let empty = Tables::new(n);
        let mut cn = vec![0.0; n2];
        let (mut t3n, mut t21n) = (vec![0.0; n], vec![0.0; n2]);
        for deg in 2..=if last { 3 } else { 4 } {
            cancel.check()?;
            let kap = kap_sliced(n, &e, &cn, (&t3n, &t21n), &empty);
            convert_degree(&fp.pats, deg, &mut pk, &kap, &mut kt, &mut flops);
            if deg == 2 {
                fill_dense(&kt, &mut cn, n);
            } else if deg == 3 {
                t3n.copy_from_slice(kt.get(&[3]));
                t21n.copy_from_slice(kt.get(&[2, 1]));
                for i in 0..n {
                    t21n[i * n + i] = 0.0;
                }
            }
        }
        cancel.check()?;
        // the all-distinct entries, then the repeated ones set exactly
        let (mut tnew, (f3, f21)) =
            all_distinct(fp, &pre, third.as_ref(), pre_sl.as_ref(), &wk, &mut flops);
        let mut fx = vec![0.0; n2];
        for r in 0..n {
            for i in 0..n {
                fx[r * n + i] = if i == r {
                    t3n[r] - f3[r]
                } else {
                    3.0 * (t21n[r * n + i] - f21[r * n + i])
                };
            }
        }
        let id: Vec<f64> = (0..n2)
            .map(|q| if q / n == q % n { 1.0 } else { 0.0 })
            .collect();
        let ones = vec![1.0; n];
        tnew.push_term(&fx, &id, &id, [None, Some(ones.clone()), Some(ones)]);
        let a_new = if last {
            None
        } else {
            let kap = kap_sliced(n, &e, &cn, (&t3n, &t21n), &kt);
            // B_jj = κ4_jjjj + Σ_{i ≠ j} κ4_iijj (the (2, 2) table on i < j)
            let mut b = vec![0.0; n2];
            let (k4, k22) = (kt.get(&[4]), kt.get(&[2, 2]));
            for j in 0..n {
                b[j * n + j] = (0..n)
                    .map(|i| match i.cmp(&j) {
                        std::cmp::Ordering::Equal => k4[i],
                        std::cmp::Ordering::Less => k22[i * n + j],
                        std::cmp::Ordering::Greater => k22[j * n + i],
                    })
                    .sum();
            }
            if let Some(plan) = &fp.plan5 {
                // B_jk = Σ_{i ∉ {j, k}} κ4_iijk: the rows without the all-distinct T block, that block
                // and the Leonov–Shiryaev terms 2 μ_i T_ijk + 2 C_ij C_ik through G_jk = Σ_i u_i T_ijk
                let rsum = trace_rows(plan, &pre, &wk, &mut flops);
                let gnew = tnew.contract(&e, &mut flops);
                let mut cc = vec![0.0; n2];
                gemm(
                    n,
                    n,
                    n,
                    View::rows(&cn, n),
                    View::rows(&cn, n),
                    0.0,
                    &mut cc,
                );
                flops += 2.0 * (n2 * n) as f64;
                let mut single = vec![0.0; n2];
                if let (Some(th), Some((_, d21p))) = (&third, &pre_sl) {
                    for &(coef, k) in &fp.single5 {
                        let u: Vec<f64> = wk.row(2, k[2]).iter().map(|x| coef * x).collect();
                        let g = th.contract(&u, &mut flops);
                        let (wj, wkk) = (wk.row(1, k[0]), wk.row(1, k[1]));
                        for j in 0..n {
                            for k2 in j + 1..n {
                                let inner = g[j * n + k2]
                                    - u[j] * d21p[j * n + k2]
                                    - u[k2] * d21p[k2 * n + j];
                                single[j * n + k2] += wj[j] * wkk[k2] * inner;
                            }
                        }
                    }
                }
                for j in 0..n {
                    for k in j + 1..n {
                        let ls_t =
                            gnew[j * n + k] - e[j] * t21n[j * n + k] - e[k] * t21n[k * n + j];
                        let ls_c = cc[j * n + k]
                            - cn[j * n + j] * cn[j * n + k]
                            - cn[k * n + j] * cn[k * n + k];
                        let v = rsum[j * n + k] + single[j * n + k] - 2.0 * ls_t - 2.0 * ls_c
                            + kap.get(&[j, j, j, k])
                            + kap.get(&[k, k, j, k]);
                        b[j * n + k] = v;
                        b[k * n + j] = v;
                    }
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
        tf = Some(tnew);
        a4 = a_new;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand_vec(len: usize, seed: u64) -> Vec<f64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// The dense symmetric tensor of a [`Cp`] (`Sym` over the three slots).
    fn dense(c: &Cp) -> Vec<f64> {
        let n = c.n;
        let mut t = vec![0.0; n * n * n];
        for q in 0..c.r {
            let col = |a: usize| &c.f[a][q * n..(q + 1) * n];
            let (x, y, z) = (col(0), col(1), col(2));
            for i in 0..n {
                for j in 0..n {
                    for k in 0..n {
                        t[(i * n + j) * n + k] += (x[i] * y[j] * z[k]
                            + x[i] * z[j] * y[k]
                            + y[i] * x[j] * z[k]
                            + y[i] * z[j] * x[k]
                            + z[i] * x[j] * y[k]
                            + z[i] * y[j] * x[k])
                            / 6.0;
                    }
                }
            }
        }
        t
    }

    #[test]
    fn shared_identity_factors_are_aliased_and_linear_and_slices_stay_exact() {
        let (n, rows) = (5, 4);
        let ones = vec![1.0; n];
        let d = rand_vec(n, 9);
        let mut id = vec![0.0; n * n];
        let mut dd = vec![0.0; n * n];
        for i in 0..n {
            id[i * n + i] = 1.0;
            dd[i * n + i] = d[i];
        }
        let mut c = Cp::new(n);
        // a path-like term, a diag(d) term (not equal: no alias), a correction-like term
        c.push_term(
            &rand_vec(n * n, 1),
            &id,
            &rand_vec(n * n, 2),
            [None, Some(ones.clone()), None],
        );
        c.push_term(
            &rand_vec(n * n, 3),
            &dd,
            &rand_vec(n * n, 4),
            [None, Some(d.clone()), None],
        );
        c.push_term(
            &rand_vec(n * n, 5),
            &id,
            &id,
            [None, Some(ones.clone()), Some(ones)],
        );
        assert_eq!(c.terms[1].alias, [None, None, None]);
        assert_eq!(c.terms[2].alias, [None, Some((0, 1)), Some((0, 1))]);
        let w = rand_vec(rows * n, 7);
        let mut fl = 0.0;
        let out = c.linear(&w, rows, n, &mut fl);
        assert_eq!(out.terms[2].alias, c.terms[2].alias);
        // every image equals W F computed directly
        for a in 0..3 {
            for q in 0..c.r {
                for i in 0..rows {
                    let want: f64 = (0..n).map(|x| w[i * n + x] * c.f[a][q * n + x]).sum();
                    assert!((out.f[a][q * rows + i] - want).abs() < 1e-14);
                }
            }
        }
        // the grouped slices equal the dense tensor's, after a second step (aliases carried)
        let w2 = rand_vec(rows * rows, 8);
        let out2 = out.linear(&w2, rows, rows, &mut fl);
        let t = dense(&out2);
        let (d3, d21) = out2.slices(&mut fl);
        for i in 0..rows {
            assert!((d3[i] - t[(i * rows + i) * rows + i]).abs() < 1e-13);
            for j in 0..rows {
                let want = if i == j {
                    0.0
                } else {
                    t[(i * rows + i) * rows + j]
                };
                assert!((d21[i * rows + j] - want).abs() < 1e-13, "{i} {j}");
            }
        }
        let d3b = out2.diag3(&mut fl);
        for i in 0..rows {
            assert!((d3b[i] - d3[i]).abs() < 1e-15);
        }
    }
}
