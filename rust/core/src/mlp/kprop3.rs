//! kprop `K = 3` with a general diagram sum: kind AUGMENT (and SIMPLE, used as a cross-check of
//! [`super::kprop::kprop2_augment`] with `full3`).
//!
//! Conventions are those of the reference code (`mlp_kprop(…, k_max=3, kind=AUGMENT)`):
//!
//! * After an activation the tower is `κ1 = μ`, `κ2 = C`, `κ3 = T` (all in full) and the fourth
//!   cumulant's part with at least one trace factor, `κ4 = Sym(A ⊗ I)` (AUGMENT: a symmetric
//!   `n × n` core `A`, radial index 1) or its pure trace `c Sym(I ⊗ I)` (SIMPLE: `A = c I`).
//!   Degree 5 is dropped (`K + 2 = 5` is odd).
//! * The linear step is exact on the cores, `μ' = Wμ + b`, `C' = W C Wᵀ`, `T' = T ×₁W ×₂W ×₃W`,
//!   `A' = W A Wᵀ`, and replaces the metric `I` by `M = W Wᵀ` (or `w_var I` with the average
//!   metric), so the pre-activation fourth cumulant is `Sym(A' ⊗ M)`,
//!   `Sym(A ⊗ M)_abcd = (A_ab M_cd + A_ac M_bd + A_ad M_bc + A_bc M_ad + A_bd M_ac + A_cd M_ab)/6`.
//! * The activation step sums, for every joint power cumulant `κ(φ_i^p, φ_j^q, …)` on distinct
//!   indices, the connected, 2-mixed Wick (Edgeworth) diagrams around the independent Gaussian with
//!   the pre-activation means and variances: multisets of cumulant blocks `v ∈ ℕ^d`
//!   (`2 ≤ |v| ≤ 4`, a block with `|v| ≤ 2` must touch two indices) of power-counting cost
//!   `Σ (|v| − 1 − [v all even]) ≤ K − 1 + augment`, each with the weight `Π κ_v / v! / Π mult!`
//!   and the Wick coefficients `E[∂^{k_a} φ^{p_a}]`, `k = Σ v` (`k ≤ 5`). Power cumulants are
//!   turned into cumulants (Leonov–Shiryaev) on the slices `(3) (2,1) (1,1,1)` of degree 3 and
//!   `(4) (3,1) (2,2) (2,1,1)` of degree 4, and degree 4 is projected onto `Sym(A ⊗ I)` through
//!   its trace `B_jk = Σ_i κ4_iijk`: `tr A = 3 tr B / (n + 2)`, `A = (6 B − tr A · I) / (n + 4)`
//!   (SIMPLE: `A = (tr A / n) I`).

use super::estimate::{Estimate, LayerEstimate, mode_products};
use super::gauss::VAR_FLOOR;
use super::kprop::wick;
use super::linalg::{a_wt, w_c};
use super::{Cancel, Input, MlpError, Net};
use rayon::prelude::*;

/// Largest derivative order a diagram puts on one index.
const KMAX: usize = 5;

/// Per-neuron Wick coefficients `E[∂^k φ^p]`, indexed `[p - 1][k]` for `p ≤ 4`, `k ≤ 5`.
type Wicks = [[f64; KMAX + 1]; 4];

/// One Wick diagram on `d` distinct indices (positions `0..d`).
#[derive(Debug, Clone)]
struct Diagram {
    /// Blocks: cumulant degree and the positions of its indices (`pos[..deg]`).
    blocks: Vec<(usize, [usize; 4])>,
    /// `1 / (Π v! Π mult!)`.
    coef: f64,
    /// Total derivative order per position.
    k: [usize; 3],
    /// FLOPs of one evaluation (products, block look-ups, the accumulation).
    flops: f64,
}

fn factorial(n: usize) -> f64 {
    (1..=n).map(|x| x as f64).product()
}

/// The connected, 2-mixed diagrams on `d ≤ 3` indices of cost `≤ budget` whose blocks have degree
/// at most `max_deg` (2 before the first activation: no third / fourth cumulant yet).
fn diagrams(d: usize, budget: usize, max_deg: usize) -> Vec<Diagram> {
    // candidate blocks v ∈ ℕ^d
    let mut cands: Vec<[usize; 3]> = Vec::new();
    let mut v = [0usize; 3];
    fn rec(a: usize, d: usize, v: &mut [usize; 3], out: &mut Vec<[usize; 3]>) {
        if a == d {
            out.push(*v);
            return;
        }
        for x in 0..=4 {
            v[a] = x;
            rec(a + 1, d, v, out);
        }
        v[a] = 0;
    }
    let mut all = Vec::new();
    rec(0, d, &mut v, &mut all);
    let cost = |v: &[usize; 3]| -> usize {
        let s: usize = v.iter().sum();
        s - 1 - usize::from(v.iter().all(|x| x % 2 == 0))
    };
    for v in all {
        let s: usize = v.iter().sum();
        let supp = v.iter().filter(|&&x| x > 0).count();
        if s < 2 || s > max_deg || (s <= 2 && supp <= 1) || cost(&v) > budget {
            continue;
        }
        cands.push(v);
    }
    let mut out = Vec::new();
    let mut chosen: Vec<usize> = Vec::new();
    fn multisets(
        start: usize,
        left: usize,
        cands: &[[usize; 3]],
        cost: &dyn Fn(&[usize; 3]) -> usize,
        chosen: &mut Vec<usize>,
        emit: &mut dyn FnMut(&[usize]),
    ) {
        emit(chosen);
        for c in start..cands.len() {
            let x = cost(&cands[c]);
            if x <= left {
                chosen.push(c);
                multisets(c, left - x, cands, cost, chosen, emit);
                chosen.pop();
            }
        }
    }
    let mut emit = |sel: &[usize]| {
        // connected over the d positions (every position touched when d ≥ 2)
        let mut parent: Vec<usize> = (0..d).collect();
        fn find(p: &mut [usize], x: usize) -> usize {
            let mut x = x;
            while p[x] != x {
                x = p[x];
            }
            x
        }
        for &c in sel {
            let v = &cands[c];
            let supp: Vec<usize> = (0..d).filter(|&a| v[a] > 0).collect();
            for &b in &supp[1..] {
                let (ra, rb) = (find(&mut parent, supp[0]), find(&mut parent, b));
                parent[ra] = rb;
            }
        }
        let root = find(&mut parent, 0);
        if (1..d).any(|a| find(&mut parent, a) != root) {
            return;
        }
        let mut k = [0usize; 3];
        let mut coef = 1.0;
        let mut blocks = Vec::new();
        let mut flops = 1.0 + d as f64;
        for (idx, &c) in sel.iter().enumerate() {
            let v = &cands[c];
            let mut pos = [0usize; 4];
            let mut deg = 0;
            for a in 0..d {
                k[a] += v[a];
                coef /= factorial(v[a]);
                for _ in 0..v[a] {
                    pos[deg] = a;
                    deg += 1;
                }
            }
            // multiplicities: divide by m! once per run of equal blocks
            let mult = sel[..=idx].iter().filter(|&&x| x == c).count();
            coef /= mult as f64;
            flops += if deg == 4 { 13.0 } else { 1.0 };
            blocks.push((deg, pos));
        }
        assert!(k.iter().all(|&x| x <= KMAX));
        out.push(Diagram {
            blocks,
            coef,
            k,
            flops,
        });
    };
    multisets(0, budget, &cands, &cost, &mut chosen, &mut emit);
    out
}

/// Pre-activation cumulants of one layer, read by the diagram sums.
struct Pre<'a> {
    n: usize,
    s: &'a [f64],
    t: Option<&'a [f64]>,
    a: Option<&'a [f64]>,
    /// The exact metric `W Wᵀ`, or `None` for `avg · I`.
    metric: Option<&'a [f64]>,
    avg: f64,
}

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

    #[inline]
    fn block(&self, deg: usize, pos: &[usize; 4], idx: &[usize; 3]) -> f64 {
        let n = self.n;
        match deg {
            2 => self.s[idx[pos[0]] * n + idx[pos[1]]],
            3 => self.t.map_or(0.0, |t| {
                t[(idx[pos[0]] * n + idx[pos[1]]) * n + idx[pos[2]]]
            }),
            _ => self.a.map_or(0.0, |a| {
                let (i, j, k, l) = (idx[pos[0]], idx[pos[1]], idx[pos[2]], idx[pos[3]]);
                let m = |x, y| self.met(x, y);
                (a[i * n + j] * m(k, l)
                    + a[i * n + k] * m(j, l)
                    + a[i * n + l] * m(j, k)
                    + a[j * n + k] * m(i, l)
                    + a[j * n + l] * m(i, k)
                    + a[k * n + l] * m(i, j))
                    / 6.0
            }),
        }
    }

    /// The joint power cumulant `κ(φ_{idx_0}^{p_0}, …)` on distinct indices.
    #[inline]
    fn power_cumulant(
        &self,
        diags: &[Diagram],
        wk: &[Wicks],
        idx: &[usize; 3],
        p: &[usize],
    ) -> f64 {
        let mut acc = 0.0;
        for dg in diags {
            let mut x = dg.coef;
            for (deg, pos) in &dg.blocks {
                x *= self.block(*deg, pos, idx);
            }
            for (a, &pa) in p.iter().enumerate() {
                x *= wk[idx[a]][pa - 1][dg.k[a]];
            }
            acc += x;
        }
        acc
    }
}

/// kprop `K = 3`, kind AUGMENT (`augment = true`) or SIMPLE. `init_scale = Some(w_var)` is the
/// average metric (the exact `W Wᵀ` on the last layer, as the reference).
///
/// # Errors
/// [`MlpError::Cancelled`].
pub fn kprop3(
    net: &Net,
    input: &Input,
    init_scale: Option<&[f64]>,
    keep_cov: bool,
    augment: bool,
    factor: bool,
    cancel: Cancel<'_>,
) -> Result<Estimate, MlpError> {
    let budget = 2 + usize::from(augment);
    let mut out = Estimate::default();
    let mut mu = input.mean.clone();
    let mut c: Vec<f64> = Vec::new();
    // cores after the previous activation (None before the first)
    let mut t3: Option<Vec<f64>> = None;
    let mut a4: Option<Vec<f64>> = None;
    let depth = net.depth();
    for l in 0..depth {
        cancel.check()?;
        let (rows, cols) = (net.widths[l + 1], net.widths[l]);
        let (rf, cf) = (rows as f64, cols as f64);
        let w = &net.weights[l];
        let (m, s, mut flops) =
            super::kprop::mean_cov_step(net, input, l, &mu, std::mem::take(&mut c));
        // W X Wᵀ for a symmetric cols × cols X
        let sandwich = |x: &[f64]| -> Vec<f64> {
            let tmp = w_c(w, rows, cols, x);
            a_wt(&tmp, w, rows, cols)
        };
        let last = l + 1 == depth;
        let third = t3.as_ref().map(|t| {
            let (tp, f) = mode_products(t, w, rows, cols);
            flops += f;
            tp
        });
        let pre_var: Vec<f64> = (0..rows).map(|i| s[i * rows + i]).collect();
        let r2 = rows * rows;
        let pre_kappa3: Option<Vec<f64>> = third
            .as_ref()
            .map(|t| (0..rows).map(|i| t[i * r2 + i * rows + i]).collect());
        if last {
            // the output: the fourth cumulant and the metric are not needed
            out.layers.push(LayerEstimate {
                pre_mean: m.clone(),
                pre_var: pre_var.clone(),
                post_mean: m,
                post_var: pre_var,
                pre_cov: if keep_cov { Some(s) } else { None },
                pre_kappa3,
            });
            out.flops_by_layer.push(flops);
            break;
        }
        let metric: Option<Vec<f64>> = if a4.is_some() && init_scale.is_none() {
            let mm = a_wt(w, w, rows, cols);
            flops += 2.0 * rf * rf * cf;
            Some(mm)
        } else {
            None
        };
        let avg = init_scale.map(|sc| sc[l]).unwrap_or(0.0);
        let met = |i: usize, j: usize| -> f64 {
            match &metric {
                Some(mm) => mm[i * rows + j],
                None => {
                    if i == j {
                        avg
                    } else {
                        0.0
                    }
                }
            }
        };
        // the pre-activation fourth cumulant is Sym(A' ⊗ M): AUGMENT A' = W A Wᵀ; SIMPLE keeps
        // the pure trace c Sym(M ⊗ M) (the scalar core is unchanged by W), A' = c M
        let fourth: Option<Vec<f64>> = a4.as_ref().map(|a| {
            if augment {
                flops += 2.0 * rf * cf * cf + 2.0 * rf * rf * cf;
                sandwich(a)
            } else {
                let c = a[0];
                (0..rows * rows)
                    .map(|ij| c * met(ij / rows, ij % rows))
                    .collect()
            }
        });
        cancel.check()?;
        let act = net.act(l);
        let first = third.is_none();
        let max_deg = if first { 2 } else { 4 };
        let d1 = diagrams(1, budget, max_deg);
        let d2 = diagrams(2, budget, max_deg);
        let d3 = diagrams(3, budget, max_deg);
        // the reference's factored term set: hypertree diagrams only in the all-distinct slice
        // (1,1,1), and no diagram multiplying the block κ3_ijk with another block in (2,1,1)
        let (d3_top, d3_211): (Vec<Diagram>, Vec<Diagram>) = if factor {
            let vecs = |dg: &Diagram| -> Vec<[usize; 4]> {
                dg.blocks
                    .iter()
                    .map(|(deg, pos)| {
                        let mut v = [0usize; 4];
                        for &a in &pos[..*deg] {
                            v[a] += 1;
                        }
                        v
                    })
                    .collect()
            };
            (
                d3.iter()
                    .filter(|dg| super::kprop4::is_hypertree(&vecs(dg), 3))
                    .cloned()
                    .collect(),
                d3.iter()
                    .filter(|dg| dg.blocks.len() == 1 || !vecs(dg).contains(&[1, 1, 1, 0]))
                    .cloned()
                    .collect(),
            )
        } else {
            (d3.clone(), d3.clone())
        };
        // the Wick coefficients the diagrams use: (k, p) with p ≤ 4 on one index, p ≤ 3 on two
        // (int parts (1,1) (2,1) (2,2) (3,1)), p ≤ 2 on three ((1,1,1) (2,1,1))
        let mut need = [[false; KMAX + 1]; 4];
        for (ds, pmax) in [(&d1, 4), (&d2, 3), (&d3, 2)] {
            for dg in ds.iter() {
                for &k in &dg.k {
                    for row in need.iter_mut().take(pmax) {
                        row[k] = true;
                    }
                }
            }
        }
        let ncoef = need.iter().flatten().filter(|&&x| x).count() as f64;
        let wk: Vec<Wicks> = (0..rows)
            .into_par_iter()
            .map(|i| {
                let mut g = [[0.0; KMAX + 1]; 4];
                for (pi, row) in g.iter_mut().enumerate() {
                    for (k, x) in row.iter_mut().enumerate() {
                        if need[pi][k] {
                            *x = wick(act, m[i], pre_var[i], k, pi + 1);
                        }
                    }
                }
                g
            })
            .collect();
        out.clamps += pre_var.iter().filter(|v| **v < VAR_FLOOR).count() as u64;
        flops += ncoef * act.coef_flops() * rf;
        let pre = Pre {
            n: rows,
            s: &s,
            t: third.as_deref(),
            a: fourth.as_deref(),
            metric: metric.as_deref(),
            avg,
        };
        let dflops = |ds: &[Diagram]| ds.iter().map(|d| d.flops).sum::<f64>();
        // one index: pK_p(i), p = 1..4
        let pk1: Vec<[f64; 4]> = (0..rows)
            .map(|i| {
                let mut r = [0.0; 4];
                for (p, x) in r.iter_mut().enumerate() {
                    *x = pre.power_cumulant(&d1, &wk, &[i, 0, 0], &[p + 1]);
                }
                r
            })
            .collect();
        flops += 4.0 * dflops(&d1) * rf;
        let e: Vec<f64> = pk1.iter().map(|r| r[0]).collect();
        // two indices (i ≠ j): C_ij, K3[i,i,j], K4[i,i,j,j], K4[i,i,i,j]
        let pairs: Vec<[f64; 4]> = (0..r2)
            .into_par_iter()
            .map(|ij| {
                let (i, j) = (ij / rows, ij % rows);
                if i == j {
                    return [0.0; 4];
                }
                let idx = [i, j, 0];
                [
                    pre.power_cumulant(&d2, &wk, &idx, &[1, 1]),
                    pre.power_cumulant(&d2, &wk, &idx, &[2, 1]),
                    pre.power_cumulant(&d2, &wk, &idx, &[2, 2]),
                    if augment {
                        pre.power_cumulant(&d2, &wk, &idx, &[3, 1])
                    } else {
                        0.0
                    },
                ]
            })
            .collect();
        flops += (3.0 + f64::from(u8::from(augment))) * dflops(&d2) * rf * (rf - 1.0);
        let mut cn = vec![0.0; r2];
        for i in 0..rows {
            for j in 0..rows {
                cn[i * rows + j] = if i == j {
                    pk1[i][1] - e[i] * e[i]
                } else {
                    pairs[i * rows + j][0]
                };
            }
        }
        // K3[i,i,j] (i ≠ j) and the diagonal
        let k3off: Vec<f64> = (0..r2)
            .map(|ij| {
                let (i, j) = (ij / rows, ij % rows);
                if i == j {
                    let (p1, p2, p3) = (pk1[i][0], pk1[i][1], pk1[i][2]);
                    p3 - 3.0 * p2 * p1 + 2.0 * p1 * p1 * p1
                } else {
                    pairs[ij][1] - 2.0 * e[i] * cn[ij]
                }
            })
            .collect();
        // the full third cumulant; the all-distinct slice is the (1,1,1) power cumulant
        let mut t = vec![0.0; rows * r2];
        t.par_chunks_mut(r2).enumerate().for_each(|(i, blk)| {
            for j in 0..rows {
                for k in 0..rows {
                    blk[j * rows + k] = if i == j && j == k {
                        k3off[i * rows + i]
                    } else if i == j {
                        k3off[i * rows + k]
                    } else if i == k {
                        k3off[i * rows + j]
                    } else if j == k {
                        k3off[j * rows + i]
                    } else {
                        pre.power_cumulant(&d3_top, &wk, &[i, j, k], &[1, 1, 1])
                    };
                }
            }
        });
        flops += dflops(&d3_top) * rf * (rf - 1.0) * (rf - 2.0);
        // K4 on two indices: K4[i,i,j,j] and K4[i,i,i,j]
        let k4_iijj = |i: usize, j: usize| -> f64 {
            let ij = i * rows + j;
            let cij = cn[ij];
            pairs[ij][2]
                - 2.0 * e[j] * k3off[ij]
                - 2.0 * e[i] * k3off[j * rows + i]
                - 2.0 * cij * cij
                - 4.0 * e[i] * e[j] * cij
        };
        let k4_iiij = |i: usize, j: usize| -> f64 {
            let ij = i * rows + j;
            pairs[ij][3] - 3.0 * e[i] * k3off[ij] - 3.0 * cn[ij] * (cn[i * rows + i] + e[i] * e[i])
        };
        let k4d: Vec<f64> = (0..rows)
            .map(|i| {
                let (p1, p2, p3, p4) = (pk1[i][0], pk1[i][1], pk1[i][2], pk1[i][3]);
                p4 - 4.0 * p3 * p1 - 3.0 * p2 * p2 + 12.0 * p2 * p1 * p1 - 6.0 * p1.powi(4)
            })
            .collect();
        // trace B_jk = Σ_i K4[i,i,j,k]
        let b_diag: Vec<f64> = (0..rows)
            .into_par_iter()
            .map(|j| {
                k4d[j]
                    + (0..rows)
                        .filter(|&i| i != j)
                        .map(|i| k4_iijj(i, j))
                        .sum::<f64>()
            })
            .collect();
        let tr_b: f64 = b_diag.iter().sum();
        let tr_a = 3.0 * tr_b / (rf + 2.0);
        let a_new: Vec<f64> = if augment {
            let mut bm = vec![0.0; r2];
            bm.par_chunks_mut(rows).enumerate().for_each(|(j, row)| {
                for (k, x) in row.iter_mut().enumerate() {
                    if j == k {
                        *x = b_diag[j];
                        continue;
                    }
                    let mut acc = k4_iiij(j, k) + k4_iiij(k, j);
                    for i in 0..rows {
                        if i == j || i == k {
                            continue;
                        }
                        // K4[i,i,j,k] = pK211 − 2 μ_i K3[i,j,k] − 2 C_ij C_ik
                        let p211 = pre.power_cumulant(&d3_211, &wk, &[i, j, k], &[2, 1, 1]);
                        acc += p211
                            - 2.0 * e[i] * t[(i * rows + j) * rows + k]
                            - 2.0 * cn[i * rows + j] * cn[i * rows + k];
                    }
                    *x = acc;
                }
            });
            flops += (dflops(&d3_211) + 6.0) * rf * (rf - 1.0) * (rf - 2.0);
            (0..r2)
                .map(|jk| {
                    let diag = if jk / rows == jk % rows { tr_a } else { 0.0 };
                    (6.0 * bm[jk] - diag) / (rf + 4.0)
                })
                .collect()
        } else {
            // the scalar core c of c Sym(I ⊗ I)
            vec![tr_a / rf]
        };
        // the conversions and projections: about 60 FLOPs per (i, j) pair
        flops += 60.0 * rf * rf;
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
        t3 = Some(t);
        a4 = Some(a_new);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagram_counts_and_weights() {
        // K = 3 SIMPLE (budget 2) on two indices: S, S², κ3_iij, κ3_ijj, κ4_iijj (the K = 2
        // augment set); AUGMENT adds S³, κ4_iiij, κ4_ijjj, S κ3 (×2), S κ4_iijj, S κ3_iii (×2),
        // S κ4_iiii (×2)
        assert_eq!(diagrams(2, 2, 4).len(), 5);
        assert_eq!(diagrams(2, 3, 4).len(), 5 + 1 + 2 + 2 + 1 + 2 + 2);
        assert_eq!(diagrams(1, 3, 4).len(), 3);
        let s3 = diagrams(2, 3, 2);
        assert_eq!(s3.len(), 3);
        let cube = s3.iter().find(|d| d.blocks.len() == 3).unwrap();
        assert!((cube.coef - 1.0 / 6.0).abs() < 1e-15);
        // three indices at SIMPLE: the tree S_ij S_jk (3 ways) and κ3_ijk
        assert_eq!(diagrams(3, 2, 4).len(), 4);
    }
}
