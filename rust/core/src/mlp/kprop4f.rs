//! kprop `K = 4` SIMPLE with the fourth cumulant kept factored, as the reference's `factor=True`
//! (`factor_k4.py`, `FactoredTensor4`): no `n⁴` tensor and no `5 n⁵` linear step.
//!
//! The fourth cumulant after an activation is `Q = Sym(Σ_r u_r ⊗ v_r ⊗ B_r)` (vectors `u_r`, `v_r`,
//! symmetric `n × n` blocks `B_r`; the reference's `Sym(Σ_r A_r ⊗ B_r)` with `A_r = Sym(u_r ⊗ v_r)`
//! of rank 2, which is what every SIMPLE term produces). Its rank grows by `2 n` per layer:
//!
//! * the all-distinct entries are the hypertree diagrams of the all-distinct slice: the carried `Q`
//!   (the pre-activation factors scaled by the Wick coefficients), and the trees of covariance edges
//!   (paths, stars) and of one third-cumulant block with an edge — each tree has a leaf edge
//!   `S(x_a, x_c)`, so all of them together are one term `Σ_r e_r ⊗ V_r ⊗ B_r` with
//!   `V_r(x) = S(x, r) w(x)` and `B_r` the rest of the tree with its centre at `r`;
//! * the entries with a repeated index (the row engine's slices `(4)`, `(3, 1)`, `(2, 2)`,
//!   `(2, 1, 1)`, Leonov–Shiryaev converted) are set exactly by one more rank-`n` correction term
//!   `Σ_r e_r ⊗ e_r ⊗ B'_r` (the reference's `from_dstensor`).
//!
//! The next layer reads `Q' = Q ×₁W ×₂W ×₃W ×₄W` on repeated indices only, one `n³` table
//! `G_ijk = Q'_iijk` ([`Q4Slices`]) computed from the factors in `O(n³ · rank)`. Everything else —
//! the slices with a repeated index, the Leonov–Shiryaev conversions, the dense mean, covariance
//! and third cumulant — is the row engine of the parent module. SIMPLE keeps every diagram (all of
//! its all-distinct diagrams are hypertrees), so this is also the unfactored `K = 4` SIMPLE; the
//! dense [`super::kprop4`] stays as the cross-check.

use super::{
    Diagram, KMAX, Kap, Linear, PMAX, Pre, Q4Slices, SlicePlan, Tables, Wicks, convert_degree,
    diagrams, fill_dense, is_hypertree, linear_step, tabulate, zeros,
};
use crate::mlp::estimate::Estimate;
use crate::mlp::gauss::VAR_FLOOR;
use crate::mlp::linalg::{View, gemm};
use crate::mlp::{Cancel, Input, MlpError, Net};
use rayon::prelude::*;
use std::sync::OnceLock;

/// `Sym(Σ_r u_r ⊗ v_r ⊗ B_r)`: `u`, `v` by column (`u[r n + i]`), `B_r` symmetric row-major
/// blocks (`b[(r n + i) n + j]`).
#[derive(Clone)]
struct Fq {
    n: usize,
    r: usize,
    u: Vec<f64>,
    v: Vec<f64>,
    b: Vec<f64>,
}

impl Fq {
    fn new(n: usize) -> Self {
        Fq {
            n,
            r: 0,
            u: Vec::new(),
            v: Vec::new(),
            b: Vec::new(),
        }
    }

    /// Appends a term of rank `u.len() / n`.
    fn push(&mut self, u: &[f64], v: &[f64], b: &[f64]) {
        let n = self.n;
        debug_assert!(u.len() == v.len() && b.len() == u.len() * n && u.len().is_multiple_of(n));
        self.r += u.len() / n;
        self.u.extend_from_slice(u);
        self.v.extend_from_slice(v);
        self.b.extend_from_slice(b);
    }

    /// Appends the rank-`n` term `Σ_r e_r ⊗ V_r ⊗ B_r` (`v[r n + x] = V_r(x)`) and adds its
    /// repeated-index table to `acc` in `O(n³)`:
    /// `12 G_ijk = 2 V_i(i) B_i(j,k) + V_j(k) B_j(i,i) + V_k(j) B_k(i,i) + 2 V_i(j) B_i(i,k)
    /// + 2 V_j(i) B_j(i,k) + 2 V_i(k) B_i(i,j) + 2 V_k(i) B_k(i,j)`.
    fn push_unit(&mut self, v: &[f64], b: &[f64], acc: &mut [f64]) {
        let n = self.n;
        let n2 = n * n;
        // vt[x n + r] = V_r(x)
        let mut vt = vec![0.0; n2];
        for r in 0..n {
            for x in 0..n {
                vt[x * n + r] = v[r * n + x];
            }
        }
        let vt = &vt;
        acc.par_chunks_mut(n2).enumerate().for_each(|(i, gi)| {
            // per i: d[k] = B_k(i,i), c[j n + k] = B_k(i,j)
            let d: Vec<f64> = (0..n).map(|k| b[(k * n + i) * n + i]).collect();
            let mut c = vec![0.0; n2];
            for k in 0..n {
                for j in 0..n {
                    c[j * n + k] = b[(k * n + i) * n + j];
                }
            }
            let vii = v[i * n + i];
            let (bi, bii) = (
                &b[i * n2..(i + 1) * n2],
                &b[(i * n + i) * n..(i * n + i + 1) * n],
            );
            let (vi, vti) = (&v[i * n..(i + 1) * n], &vt[i * n..(i + 1) * n]);
            for j in 0..n {
                let (s_ji, s_ij, b_jii, b_iij) = (vi[j], vti[j], d[j], bii[j]);
                let bij = &bi[j * n..(j + 1) * n];
                let bji = &b[(j * n + i) * n..(j * n + i + 1) * n];
                let vj = &v[j * n..(j + 1) * n];
                let vtj = &vt[j * n..(j + 1) * n];
                let cj = &c[j * n..(j + 1) * n];
                let row = &mut gi[j * n..(j + 1) * n];
                for k in 0..n {
                    row[k] += (2.0 * vii * bij[k]
                        + vj[k] * b_jii
                        + vtj[k] * d[k]
                        + 2.0 * s_ji * bii[k]
                        + 2.0 * s_ij * bji[k]
                        + 2.0 * vi[k] * b_iij
                        + 2.0 * vti[k] * cj[k])
                        / 12.0;
                }
            }
        });
        self.push(&identity(n), v, b);
    }

    /// `Q ×₁W ×₂W ×₃W ×₄W` (`W` is `rows × cols`, `self.n = cols`): `u, v → W u, W v`,
    /// `B_r → W B_r Wᵀ`.
    fn linear(&self, w: &[f64], rows: usize, cols: usize, flops: &mut f64) -> Fq {
        let r = self.r;
        let lin = |f: &[f64]| {
            let mut out = vec![0.0; r * rows];
            gemm(
                r,
                cols,
                rows,
                View::rows(f, cols),
                View::trans(w, cols),
                0.0,
                &mut out,
            );
            out
        };
        let (u, v) = (lin(&self.u), lin(&self.v));
        // per r: X_r = B_r Wᵀ into a scratch block, then W X_r (no `r n²`-sized intermediate)
        let mut b = zeros(r * rows * rows);
        b.par_chunks_mut(rows * rows)
            .zip(self.b.par_chunks(cols * cols))
            .for_each_init(
                || vec![0.0; cols * rows],
                |xr, (y, br)| {
                    gemm(
                        cols,
                        cols,
                        rows,
                        View::rows(br, cols),
                        View::trans(w, cols),
                        0.0,
                        xr,
                    );
                    gemm(
                        rows,
                        cols,
                        rows,
                        View::rows(w, cols),
                        View::rows(xr, rows),
                        0.0,
                        y,
                    );
                },
            );
        *flops +=
            (4 * r * rows * cols + 2 * r * cols * cols * rows + 2 * r * rows * cols * rows) as f64;
        Fq {
            n: rows,
            r,
            u,
            v,
            b,
        }
    }

    /// Every slot multiplied by `w` (`Q_ijkl → w_i w_j w_k w_l Q_ijkl`), the whole by `coef`.
    fn scale(&mut self, w: &[f64], coef: f64) {
        let n = self.n;
        for col in self.u.chunks_mut(n) {
            for (x, s) in col.iter_mut().zip(w) {
                *x *= coef * s;
            }
        }
        for col in self.v.chunks_mut(n) {
            for (x, s) in col.iter_mut().zip(w) {
                *x *= s;
            }
        }
        self.b.par_chunks_mut(n * n).for_each(|blk| {
            for (i, row) in blk.chunks_mut(n).enumerate() {
                for (x, s) in row.iter_mut().zip(w) {
                    *x *= w[i] * s;
                }
            }
        });
    }

    /// `G_ijk = Q_iijk` for every `i, j, k`:
    /// `12 G_ijk = Σ_r 2 u_i v_i B(j,k) + (u_j v_k + u_k v_j) B(i,i) + 2 (u_i v_j + u_j v_i) B(i,k)
    /// + 2 (u_i v_k + u_k v_i) B(i,j)`, as one matrix product for the first term
    /// (`(u ∘ v)ᵀ B`, `n × rank × n²`) and one per `i` for the others (`n × 2 rank × n`).
    fn slices(&self, flops: &mut f64) -> Vec<f64> {
        let (n, r) = (self.n, self.r);
        let n2 = n * n;
        let mut g = zeros(n2 * n);
        if r == 0 {
            return g;
        }
        let mut p = vec![0.0; n * r];
        for q in 0..r {
            for i in 0..n {
                p[i * r + q] = self.u[q * n + i] * self.v[q * n + i];
            }
        }
        gemm(
            n,
            r,
            n2,
            View::rows(&p, r),
            View::rows(&self.b, n2),
            0.0,
            &mut g,
        );
        g.par_chunks_mut(n2).enumerate().for_each(|(i, gi)| {
            // L (n × 2r) = [u_r(j) B_r(i,i) | u_r(i) v_r(j) + u_r(j) v_r(i)], M (2r × n) = [v_r; 2 B_r(i, ·)];
            // L is built as its transpose (row q of `lt` is column q of L: contiguous writes)
            let mut lt = vec![0.0; 2 * r * n];
            let mut mm = vec![0.0; 2 * r * n];
            for q in 0..r {
                let (uq, vq) = (&self.u[q * n..(q + 1) * n], &self.v[q * n..(q + 1) * n]);
                let brow = &self.b[q * n2 + i * n..q * n2 + (i + 1) * n];
                let bii = brow[i];
                let (ui, vi) = (uq[i], vq[i]);
                let (l0, l1) = lt.split_at_mut(r * n);
                for (j, (x, y)) in l0[q * n..(q + 1) * n]
                    .iter_mut()
                    .zip(&mut l1[q * n..(q + 1) * n])
                    .enumerate()
                {
                    *x = uq[j] * bii;
                    *y = ui * vq[j] + uq[j] * vi;
                }
                mm[q * n..(q + 1) * n].copy_from_slice(vq);
                for (x, y) in mm[(r + q) * n..(r + q + 1) * n].iter_mut().zip(brow) {
                    *x = 2.0 * y;
                }
            }
            let mut z = vec![0.0; n2];
            gemm(
                n,
                2 * r,
                n,
                View::trans(&lt, n),
                View::rows(&mm, n),
                0.0,
                &mut z,
            );
            for j in 0..n {
                for k in 0..n {
                    gi[j * n + k] = (2.0 * gi[j * n + k] + z[j * n + k] + z[k * n + j]) / 12.0;
                }
            }
        });
        *flops += (2 * n * r * n2 + 4 * n * n2 * r + 8 * n * r * n + 4 * n * n2) as f64;
        g
    }
}

/// The `n × n` identity.
fn identity(n: usize) -> Vec<f64> {
    let mut id = vec![0.0; n * n];
    for i in 0..n {
        id[i * n + i] = 1.0;
    }
    id
}

/// A tree diagram of the all-distinct slice, seen from its leaf edge `(a, c)`: the Wick orders
/// on `a, c, p, q` and the other blocks (covariance edges `c–p`, `c–q`, `p–q`, the third
/// cumulant on `c, p, q`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TreeKey {
    k: [usize; 4],
    cp: bool,
    cq: bool,
    pq: bool,
    t: bool,
}

fn tree_key(dg: &Diagram) -> TreeKey {
    let supp = |v: &[usize; 4]| -> Vec<usize> { (0..4).filter(|&a| v[a] > 0).collect() };
    let touching = |a: usize| dg.vecs.iter().filter(|v| v[a] > 0).count();
    let (a, c) = (0..4)
        .find_map(|a| {
            if touching(a) != 1 {
                return None;
            }
            let v = dg.vecs.iter().find(|v| v[a] > 0)?;
            let s = supp(v);
            (v.iter().sum::<usize>() == 2 && s.len() == 2)
                .then(|| (a, if s[0] == a { s[1] } else { s[0] }))
        })
        .expect("a tree diagram with a leaf edge");
    let rest: Vec<usize> = (0..4).filter(|&x| x != a && x != c).collect();
    let (p, q) = (rest[0], rest[1]);
    let mut key = TreeKey {
        k: [dg.k[a], dg.k[c], dg.k[p], dg.k[q]],
        cp: false,
        cq: false,
        pq: false,
        t: false,
    };
    let mut leaf_seen = false;
    for v in &dg.vecs {
        let s = supp(v);
        let deg: usize = v.iter().sum();
        assert!(
            v.iter().all(|&m| m <= 1),
            "a block with a repeated position"
        );
        if !leaf_seen && deg == 2 && s.contains(&a) {
            leaf_seen = true;
            continue;
        }
        let has = |x: usize| s.contains(&x);
        let flag = match (deg, s.len()) {
            (2, 2) if has(c) && has(p) => &mut key.cp,
            (2, 2) if has(c) && has(q) => &mut key.cq,
            (2, 2) if has(p) && has(q) => &mut key.pq,
            (3, 3) if has(c) && has(p) && has(q) => &mut key.t,
            _ => panic!("not a SIMPLE K = 4 tree: {:?}", dg.vecs),
        };
        assert!(!*flag, "a doubled block: {:?}", dg.vecs);
        *flag = true;
    }
    let swapped = TreeKey {
        k: [key.k[0], key.k[1], key.k[3], key.k[2]],
        cp: key.cq,
        cq: key.cp,
        ..key
    };
    key.min(swapped)
}

/// The plans of a factored `K = 4` SIMPLE layer.
struct FacPlans4 {
    /// Every slice but the all-distinct one.
    pats: Vec<Vec<usize>>,
    plans: Vec<SlicePlan>,
    /// The coefficient of the single fourth-cumulant block (every Wick order 1).
    single: f64,
    /// The tree diagrams by shape, their coefficients summed.
    trees: Vec<(TreeKey, f64)>,
    need: [[bool; KMAX + 1]; PMAX],
}

/// `last`: the last hidden layer (the output layer reads `μ`, `C` and `T`): degree ≤ 3 only.
fn fac_plans4(first: bool, last: bool) -> &'static FacPlans4 {
    static CACHE: [OnceLock<FacPlans4>; 4] = [const { OnceLock::new() }; 4];
    CACHE[usize::from(last) * 2 + usize::from(first)].get_or_init(|| {
        let max_deg = if first { 2 } else { 4 };
        let dg: Vec<Vec<Diagram>> = (1..=4).map(|d| diagrams(d, 3, max_deg)).collect();
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
        ];
        if last {
            pats.retain(|p| p.iter().sum::<usize>() <= 3);
        }
        let plans: Vec<SlicePlan> = pats
            .iter()
            .map(|p| SlicePlan::new(&dg[p.len() - 1], p, false, 4))
            .collect();
        let mut single = 0.0;
        let mut trees: Vec<(TreeKey, f64)> = Vec::new();
        for d in &dg[3] {
            assert!(is_hypertree(&d.vecs, 4), "SIMPLE keeps hypertrees only");
            if d.blocks.len() == 1 {
                assert!(d.blocks[0].deg == 4 && d.k == [1; 4], "the single κ4 block");
                single += d.coef;
                continue;
            }
            let key = tree_key(d);
            match trees.iter_mut().find(|(k, _)| *k == key) {
                Some(t) => t.1 += d.coef,
                None => trees.push((key, d.coef)),
            }
        }
        trees.sort_by_key(|x| x.0);
        let mut need = [[false; KMAX + 1]; PMAX];
        for pl in &plans {
            for g in &pl.groups {
                need[pl.p[pl.d - 1] - 1][g.k_l] = true;
                for (_, _, k) in &g.members {
                    for a in 0..pl.d - 1 {
                        need[pl.p[a] - 1][k[a]] = true;
                    }
                }
            }
        }
        need[0][1] = true;
        for (key, _) in &trees {
            for &k in &key.k {
                need[0][k] = true;
            }
        }
        FacPlans4 {
            pats,
            plans,
            single,
            trees,
            need,
        }
    })
}

/// The all-distinct fourth cumulant of the activations (before the repeated entries are
/// corrected): the carried `Q` and the trees; with its table `G_ijk = Q_iijk` (the carried part's
/// from the pre-activation table `pre_g`, which the Wick coefficients only rescale).
fn all_distinct(
    fp: &FacPlans4,
    pre: &Pre<'_>,
    fourth: Option<Fq>,
    pre_g: Option<&[f64]>,
    wk: &Wicks,
    flops: &mut f64,
) -> (Fq, Vec<f64>) {
    let n = pre.n;
    let n2 = n * n;
    let w = |k: usize| wk.row(1, k);
    let mut acc = zeros(n2 * n);
    let mut out = Fq::new(n);
    if let (Some(mut q), Some(g)) = (fourth, pre_g)
        && fp.single != 0.0
    {
        let w1 = w(1);
        let c = fp.single;
        acc.par_chunks_mut(n2).enumerate().for_each(|(i, ai)| {
            let gi = &g[i * n2..(i + 1) * n2];
            for j in 0..n {
                let s = c * w1[i] * w1[i] * w1[j];
                for k in 0..n {
                    ai[j * n + k] = s * w1[k] * gi[j * n + k];
                }
            }
        });
        q.scale(w1, c);
        *flops += (5 * n2 * n + 3 * q.r * n2) as f64;
        out = q;
    }
    let s = pre.s;
    let third = pre.t;
    // one term per Wick order at the leaf
    let mut kas: Vec<usize> = fp.trees.iter().map(|(k, _)| k.k[0]).collect();
    kas.dedup();
    for ka in kas {
        let wa = w(ka);
        let mut v = vec![0.0; n2];
        for r in 0..n {
            for x in 0..n {
                if x != r {
                    v[r * n + x] = s[x * n + r] * wa[x];
                }
            }
        }
        let group: Vec<&(TreeKey, f64)> = fp.trees.iter().filter(|(k, _)| k.k[0] == ka).collect();
        let mut b = zeros(n2 * n);
        b.par_chunks_mut(n2).enumerate().for_each(|(r, br)| {
            let sr = &s[r * n..(r + 1) * n];
            let mut a = vec![0.0; n];
            for (key, coef) in &group {
                let (wc, wp, wq) = (w(key.k[1]), w(key.k[2]), w(key.k[3]));
                // a_y = w_q(y) S(r, y)^[cq]; the row x adds c_x a_y S(x, y)^[pq] T(r, x, y)^[t]
                for (y, ay) in a.iter_mut().enumerate() {
                    *ay = wq[y] * if key.cq { sr[y] } else { 1.0 };
                }
                let c0 = coef * wc[r];
                for x in 0..n {
                    let cx = c0 * wp[x] * if key.cp { sr[x] } else { 1.0 };
                    let row = &mut br[x * n..(x + 1) * n];
                    let sx = &s[x * n..(x + 1) * n];
                    match (key.pq, key.t) {
                        (false, false) => {
                            for (o, ay) in row.iter_mut().zip(&a) {
                                *o += cx * ay;
                            }
                        }
                        (true, false) => {
                            for ((o, ay), sv) in row.iter_mut().zip(&a).zip(sx) {
                                *o += cx * ay * sv;
                            }
                        }
                        (pq, true) => {
                            let t = third.expect("a third cumulant after the first layer");
                            let tx = &t[(r * n + x) * n..(r * n + x + 1) * n];
                            for (((o, ay), sv), tv) in row.iter_mut().zip(&a).zip(sx).zip(tx) {
                                *o += cx * ay * if pq { sv * tv } else { *tv };
                            }
                        }
                    }
                }
            }
            for x in 0..n {
                for y in x + 1..n {
                    let m = 0.5 * (br[x * n + y] + br[y * n + x]);
                    br[x * n + y] = m;
                    br[y * n + x] = m;
                }
            }
        });
        *flops += (6 * group.len() * n2 * n + 2 * n2 * n) as f64;
        out.push_unit(&v, &b, &mut acc);
        *flops += 20.0 * (n2 * n) as f64;
    }
    (out, acc)
}

/// The correction term `Σ_r e_r ⊗ e_r ⊗ B_r` whose table is `D = target − acc` on every entry
/// with a repeated index (`target`: the degree-4 cumulant tables of `kt`):
/// `B_i(i,i) = D_iii`, `B_i(i,k) = 2 D_iik`, `B_i(j,j) = 3 (D_ijj + D_jii) / 2`, `B_i(j,k) = 6 D_ijk`.
fn correction(kt: &Tables, acc: &[f64], n: usize) -> Vec<f64> {
    let n2 = n * n;
    let (t4, t31, t22, t211) = (
        kt.get(&[4]),
        kt.get(&[3, 1]),
        kt.get(&[2, 2]),
        kt.get(&[2, 1, 1]),
    );
    let d = |i: usize, j: usize, k: usize| -> f64 {
        let target = if j == i && k == i {
            t4[i]
        } else if j == i {
            t31[i * n + k]
        } else if k == i {
            t31[i * n + j]
        } else if j == k {
            t22[i.min(j) * n + i.max(j)]
        } else {
            t211[(i * n + j.min(k)) * n + j.max(k)]
        };
        target - acc[(i * n + j) * n + k]
    };
    let mut bc = zeros(n2 * n);
    bc.par_chunks_mut(n2).enumerate().for_each(|(i, bi)| {
        for j in 0..n {
            for k in 0..n {
                bi[j * n + k] = if j == i && k == i {
                    d(i, i, i)
                } else if j == i || k == i {
                    2.0 * d(i, i, if j == i { k } else { j })
                } else if j == k {
                    1.5 * (d(i, j, j) + d(j, i, i))
                } else {
                    6.0 * d(i, j, k)
                };
            }
        }
    });
    bc
}

/// kprop `K = 4` SIMPLE with the factored fourth cumulant (every term: equal to the unfactored
/// SIMPLE and to the reference's factored SIMPLE).
///
/// # Errors
/// [`MlpError::Cancelled`].
#[allow(clippy::too_many_lines)]
pub fn kprop4_factored(
    net: &Net,
    input: &Input,
    init_scale: Option<&[f64]>,
    keep_cov: bool,
    cancel: Cancel<'_>,
) -> Result<Estimate, MlpError> {
    let mut out = Estimate::default();
    let mut mu = input.mean.clone();
    let mut c: Vec<f64> = Vec::new();
    let mut t3: Option<Vec<f64>> = None;
    let mut qf: Option<Fq> = None;
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
        let fourth = qf.take().map(|q| q.linear(w, rows, cols, &mut flops));
        let pre_g = fourth.as_ref().map(|q| q.slices(&mut flops));
        cancel.check()?;
        let act = net.act(l);
        let last = l + 2 == depth;
        let fp = fac_plans4(third.is_none(), last);
        let wk = Wicks::new(&fp.need, act, &m, &pre_var);
        out.clamps += pre_var.iter().filter(|v| **v < VAR_FLOOR).count() as u64;
        flops += wk.ncoef * act.coef_flops() * rf;
        let pre = Pre {
            n,
            s: &s,
            t: third.as_deref(),
            t3s: None,
            q: None,
            q4s: pre_g.as_deref().map(|g| Q4Slices { n, g }),
            a4: None,
            a5: None,
            c6: 0.0,
            metric: None,
            avg: init_scale.map_or(0.0, |sc| sc[l]),
            diag: None,
        };
        let mut pk = tabulate(&fp.plans, &pre, &wk, &mut flops, cancel)?;
        // cumulants by Leonov–Shiryaev, degree by degree
        let mut kt = Tables::new(n);
        let empty = Tables::new(n);
        let mut cn = vec![0.0; n2];
        let mut tn = zeros(n2 * n);
        let e: Vec<f64> = pk.get(&[1]).to_vec();
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
            convert_degree(&fp.pats, deg, &mut pk, &kap, &mut kt, &mut flops);
            match deg {
                2 => fill_dense(&kt, &mut cn, n),
                3 => fill_dense(&kt, &mut tn, n),
                _ => {}
            }
        }
        // the fourth cumulant, unless only the output layer follows (it reads μ and C only)
        let qnew = if !last {
            cancel.check()?;
            let (mut q, acc) = all_distinct(fp, &pre, fourth, pre_g.as_deref(), &wk, &mut flops);
            let bc = correction(&kt, &acc, n);
            flops += 12.0 * (n2 * n) as f64;
            let id = identity(n);
            q.push(&id, &id, &bc);
            Some(q)
        } else {
            None
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
        qf = qnew;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand_vec(len: usize, seed: u64) -> Vec<f64> {
        let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            })
            .collect()
    }

    /// The dense `Sym(Σ_r u_r ⊗ v_r ⊗ B_r)` by brute force over the 24 slot permutations.
    fn dense(q: &Fq) -> Vec<f64> {
        let n = q.n;
        let mut out = vec![0.0; n.pow(4)];
        let perms: Vec<[usize; 4]> = {
            let mut v = Vec::new();
            for a in 0..4 {
                for b in 0..4 {
                    for c in 0..4 {
                        for d in 0..4 {
                            let p = [a, b, c, d];
                            if (0..4).all(|x| p.contains(&x)) {
                                v.push(p);
                            }
                        }
                    }
                }
            }
            v
        };
        for (e, o) in out.iter_mut().enumerate() {
            let ix = [e / (n * n * n), e / (n * n) % n, e / n % n, e % n];
            let mut acc = 0.0;
            for p in &perms {
                let (i, j, k, l) = (ix[p[0]], ix[p[1]], ix[p[2]], ix[p[3]]);
                for r in 0..q.r {
                    acc += q.u[r * n + i] * q.v[r * n + j] * q.b[(r * n + k) * n + l];
                }
            }
            *o = acc / 24.0;
        }
        out
    }

    fn sym_blocks(b: &mut [f64], n: usize) {
        for blk in b.chunks_mut(n * n) {
            for x in 0..n {
                for y in x + 1..n {
                    let m = 0.5 * (blk[x * n + y] + blk[y * n + x]);
                    blk[x * n + y] = m;
                    blk[y * n + x] = m;
                }
            }
        }
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn slices_linear_and_scale_match_the_dense_tensor() {
        let (n, r) = (5, 7);
        let mut b = rand_vec(r * n * n, 3);
        sym_blocks(&mut b, n);
        let mut q = Fq::new(n);
        q.push(&rand_vec(r * n, 1), &rand_vec(r * n, 2), &b);
        let mut fl = 0.0;
        let check = |q: &Fq| {
            let n = q.n;
            let d = dense(q);
            let g = q.slices(&mut 0.0);
            for i in 0..n {
                for j in 0..n {
                    for k in 0..n {
                        let want = d[((i * n + i) * n + j) * n + k];
                        assert!((g[(i * n + j) * n + k] - want).abs() < 1e-13, "{i} {j} {k}");
                    }
                }
            }
            d
        };
        let d0 = check(&q);
        // the linear map of the dense tensor, rows = 4, cols = 5
        let rows = 4;
        let w = rand_vec(rows * n, 9);
        let ql = q.linear(&w, rows, n, &mut fl);
        let dl = check(&ql);
        for e in 0..rows.pow(4) {
            let ix = [
                e / (rows * rows * rows),
                e / (rows * rows) % rows,
                e / rows % rows,
                e % rows,
            ];
            let mut want = 0.0;
            for f in 0..n.pow(4) {
                let jx = [f / (n * n * n), f / (n * n) % n, f / n % n, f % n];
                want += (0..4).map(|a| w[ix[a] * n + jx[a]]).product::<f64>() * d0[f];
            }
            assert!((dl[e] - want).abs() < 1e-13);
        }
        let mut qs = q.clone();
        let s = rand_vec(n, 11);
        qs.scale(&s, 1.5);
        let ds = dense(&qs);
        for (e, x) in ds.iter().enumerate() {
            let ix = [e / (n * n * n), e / (n * n) % n, e / n % n, e % n];
            let want = 1.5 * ix.iter().map(|&a| s[a]).product::<f64>() * d0[e];
            assert!((x - want).abs() < 1e-13);
        }
    }

    #[test]
    fn unit_term_table_and_correction_are_exact() {
        let n = 5;
        let mut b = rand_vec(n * n * n, 4);
        sym_blocks(&mut b, n);
        let v = rand_vec(n * n, 5);
        let mut q = Fq::new(n);
        let mut acc = vec![0.0; n * n * n];
        q.push_unit(&v, &b, &mut acc);
        let g = q.slices(&mut 0.0);
        for (x, y) in acc.iter().zip(&g) {
            assert!((x - y).abs() < 1e-13);
        }
        // a correction onto random targets: every repeated entry hits its target
        let mut kt = Tables::new(n);
        kt.insert(&[4], rand_vec(n, 6));
        kt.insert(&[3, 1], rand_vec(n * n, 7));
        let mut t22 = rand_vec(n * n, 8);
        for i in 0..n {
            for j in 0..i {
                t22[i * n + j] = t22[j * n + i];
            }
        }
        kt.insert(&[2, 2], t22);
        kt.insert(&[2, 1, 1], rand_vec(n * n * n, 9));
        let bc = correction(&kt, &acc, n);
        let id = identity(n);
        q.push(&id, &id, &bc);
        let d = dense(&q);
        for i in 0..n {
            for j in 0..n {
                for k in 0..n {
                    let ix = [i, i, j, k];
                    let want = kt.lookup(&ix);
                    assert!(
                        (d[((i * n + i) * n + j) * n + k] - want).abs() < 1e-12,
                        "{i} {j} {k}"
                    );
                }
            }
        }
        // and the all-distinct entries are the unit term's alone
        let mut qu = Fq::new(n);
        qu.push_unit(&v, &b, &mut vec![0.0; n * n * n]);
        let du = dense(&qu);
        for (e, (x, y)) in d.iter().zip(&du).enumerate() {
            let ix = [e / (n * n * n), e / (n * n) % n, e / n % n, e % n];
            let distinct = (0..4).all(|a| (a + 1..4).all(|b| ix[a] != ix[b]));
            if distinct {
                assert!((x - y).abs() < 1e-13);
            }
        }
    }

    #[test]
    fn simple_tree_shapes() {
        // 12 paths, 4 stars and 12 (κ3 + edge) trees besides the single κ4 block: three shapes
        // (two on the first layer, which has no κ3)
        let d4 = diagrams(4, 3, 4);
        assert_eq!(d4.iter().filter(|d| d.blocks.len() > 1).count(), 28);
        let fp = fac_plans4(false, false);
        assert_eq!(fp.trees.len(), 3);
        assert!(fp.single > 0.0);
        assert_eq!(fp.trees.iter().filter(|(k, _)| k.t).count(), 1);
        assert_eq!(fac_plans4(true, false).trees.len(), 2);
        assert!(fac_plans4(true, false).trees.iter().all(|(k, _)| !k.t));
    }
}
