//! The paper's analytic approximation and its error terms.
//!
//! Headline formula: `H̃ = p − 1/2 + K`, `K = −E[log₂(|X| f(X))] = h(sign, ln|X|)` in bits —
//! exactly scale-invariant. The exact entropy decomposes as
//! `H = H̃ + B + U + V + W + D` (our derivation; each term is computed here by quadrature):
//! - `B` boundary: the power-of-two cells `[2^e − u/4, 2^e + u/2)` have width `3u/4`, not the
//!   `u` / `u/2` of the naive width `2^(⌊log₂|x|⌋ − m)`: `B = Σ_e [log₂(4/3) P(upper part) +
//!   log₂(2/3) P(lower part)]` (≈ `c₀ 2^−m Σ_e 2^e (f(2^e) + f(−2^e))`, `c₀ = 5/4 − ¾ log₂3`).
//! - `U` underflow: `−E[emin − ⌊log₂|X|⌋; |X| < 2^emin]`, plus `P(|X| < s/2)` when the zero is
//!   signed (each zero half-cell has width `s/2`).
//! - `V` overflow: the `−P log P` of the overflow symbols minus what the tail would contribute
//!   to the naive cell model (saturating formats: the ±xmax cells).
//! - `W` wobble: `E[frac(log₂|X|)] − 1/2`, 1-periodic in `log₂(scale)`, with the bound
//!   `|W| ≤ min(TV(g)/12, Σ_{k≤64} |E sin(2πkY)|/(πk) + TV(g)/(128π²))` (`Y = log₂|X|`, `g` its
//!   density, the total variation bounded per sign).
//! - `D ≥ 0`: the within-cell KL terms, `≈ E[(w f'/f)²]/(24 ln 2)`, at most
//!   `E[(e^{|f'/f| w} − 1)²]/(4 ln 2)` (χ² bound), plus the exact KL of cells cut by a
//!   breakpoint of the density.
//!
//! `refined = H̃ + B + U + V + D` and `H − refined = W + (D_true − D)`, so
//! `|H − refined| ≤ w_bound + max(D, D_bound − D)`.

use super::FpError;
use super::density::{Density, PointEval, check_cdf};
use super::exact::masses;
use super::format::{Format, Overflow, ZeroPolicy, pow2};
use super::quad::{self, Piece};
use crate::numeric::{GaussLegendre, Neumaier};
use crate::parallel::with_threads;
use std::f64::consts::LN_2;

/// The error terms of the approximation (all in bits).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ApproxTerms {
    /// `K = h(sign, ln|X|)` in bits.
    pub k: f64,
    /// Whether `k` came from a closed form (else from quadrature).
    pub k_closed_form: bool,
    /// Boundary-cell term (exact, by quadrature).
    pub b: f64,
    /// The spec's point formula `c₀ 2^−m Σ_e 2^e (f(2^e) + f(−2^e))` for comparison.
    pub b_point: f64,
    /// Underflow / subnormal term.
    pub u: f64,
    /// Overflow term.
    pub v: f64,
    /// KL estimate `D`.
    pub d: f64,
    /// χ² upper bound on the true `D`.
    pub d_bound: f64,
    /// Wobble `W` (computed by quadrature; not part of `refined`).
    pub w: f64,
    /// Bound on `|W|` from the total variation of the density of `log₂|X|`.
    pub w_bound: f64,
}

/// Result of [`approx_entropy`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Approx {
    /// The paper's `p − 1/2 + K`.
    pub paper: f64,
    /// `paper + b + u + v + d`.
    pub refined: f64,
    /// Bound on `|H − refined|`: `w_bound + max(d, d_bound − d)`.
    pub bound: f64,
    /// The terms.
    pub terms: ApproxTerms,
}

/// Number of Fourier terms of the wobble bound.
const FOURIER_K: usize = 64;

/// Bound on `|W|`: the smaller of `TV(g)/12` and the Fourier bound
/// `Σ_{k ≤ K} |E[sin(2πk Y)]|/(πk) + TV(g)/(2π² K)` with `Y = log₂|X|` (`frac(y) − 1/2 =
/// −Σ_k sin(2πky)/(πk)`, and `|E[sin(2πkY)]| ≤ TV(g)/(2πk)` bounds the terms past `K`).
fn wobble_bound(
    d: &dyn Density,
    bps: &[f64],
    rule: &GaussLegendre,
    tv: f64,
) -> Result<f64, FpError> {
    const N: usize = FOURIER_K + 1;
    let mut pieces = Vec::new();
    binade_pieces(0.0, f64::INFINITY, bps, true, 0, &mut pieces);
    let ch = |q: &PointEval, x: f64| {
        let mut out = [0.0; N];
        // binades of mass below ~1e-20 cannot move the bound: skip their trigonometry
        if q.f * x.abs() > 1e-20 {
            let t = x.abs().log2() - floor_log2(x) as f64;
            let (s1, c1) = (2.0 * std::f64::consts::PI * t).sin_cos();
            let (mut s, mut c) = (s1, c1);
            for o in out.iter_mut().take(FOURIER_K) {
                *o = q.f * s;
                (s, c) = (s * c1 + c * s1, c * c1 - s * s1);
            }
            out[FOURIER_K] = q.f;
        }
        out
    };
    // the sine moments only enter a bound: 1e-6 of their scale, or 1e-10 per unit of mass
    let accept = |_: usize, w: &[f64; N], h: &[f64; N], a: &[f64; N]| {
        let mass = h[N - 1].abs();
        (0..N).all(|c| (w[c] - h[c]).abs() <= 1e-6 * a[c] + 1e-10 * mass + quad::ABS_FLOOR)
    };
    let (r, _) = quad::integrate::<N>(d, &pieces, 1, rule, &ch, &accept)?;
    let mut fourier = tv / (2.0 * std::f64::consts::PI.powi(2) * FOURIER_K as f64);
    for (k, v) in r[0].value.iter().take(FOURIER_K).enumerate() {
        fourier += v.abs() / (std::f64::consts::PI * (k + 1) as f64);
    }
    Ok(fourier.min(tv / 12.0))
}

/// Lowest magnitude integrated, 2^-1022 (the mass below it is ignored; it matters only for laws
/// with an extreme singularity at 0).
const E_LO: i32 = -1022;

/// `⌊log₂|x|⌋` for finite non-zero `x` (also for float64 subnormals).
#[inline]
fn floor_log2(x: f64) -> i32 {
    let a = x.abs();
    let bits = a.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i32;
    if e == 0 {
        // subnormal: 2^-1074 · mantissa
        -1074 + (63 - (bits & ((1u64 << 52) - 1)).leading_zeros() as i32)
    } else {
        e - 1023
    }
}

/// Binade pieces `[2^e, 2^(e+1)]` covering magnitudes `[lo, hi]`, both signs when `both`,
/// split at `splits` (breakpoints); owner from `owner(e)`.
fn binade_pieces(lo: f64, hi: f64, splits: &[f64], both: bool, owner: usize, out: &mut Vec<Piece>) {
    let lo = lo.max(pow2(E_LO));
    let hi = hi.min(f64::MAX);
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return;
    }
    let mut cuts: Vec<f64> = vec![lo, hi];
    let mut e = floor_log2(lo) + 1;
    while e <= 1023 && pow2(e) < hi {
        cuts.push(pow2(e));
        e += 1;
    }
    for &s in splits {
        let a = s.abs();
        if a > lo && a < hi {
            cuts.push(a);
        }
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    for w in cuts.windows(2) {
        out.push(Piece {
            owner,
            a: w[0],
            b: w[1],
        });
        if both {
            out.push(Piece {
                owner,
                a: -w[1],
                b: -w[0],
            });
        }
    }
}

/// Criterion for integrands whose last channel is the density `f`: channel `c` must agree to
/// `rel[c]` of the integral of its absolute value, or to 1e-14 times the piece's probability
/// (an absolute error of 1e-14 bits per unit of mass, far below what the entropy resolves).
fn accept_with_mass<const N: usize>(
    rel: [f64; N],
    w: &[f64; N],
    h: &[f64; N],
    a: &[f64; N],
) -> bool {
    let mass = h[N - 1].abs();
    (0..N).all(|c| (w[c] - h[c]).abs() <= rel[c] * a[c] + 1e-14 * mass + quad::ABS_FLOOR)
}

fn accept_rel<const N: usize>(_: usize, w: &[f64; N], h: &[f64; N], a: &[f64; N]) -> bool {
    accept_with_mass([1e-13; N], w, h, a)
}

/// K and W to 1e-13; the total variation (a bound only, and built from the derivative of the
/// log-density, which is a finite difference for laws evaluated through scipy) to 1e-7.
/// The total variation also accepts an absolute error of 1e-9 per unit of mass: for a law whose
/// `1 + x (ln f)'` vanishes (log-uniform), a finite-difference derivative leaves only rounding
/// noise of that size, which no refinement reduces (and 1e-9 / 12 bits is far below the bound).
fn accept_kwt(_: usize, w: &[f64; 4], h: &[f64; 4], a: &[f64; 4]) -> bool {
    let mass = h[3].abs();
    accept_with_mass([1e-13, 1e-13, 1.0, 1e-13], w, h, a)
        && (w[2] - h[2]).abs() <= 1e-7 * a[2] + 1e-9 * mass + quad::ABS_FLOOR
}

/// The KL estimate and bound to 1e-8 (they are O(4^-p) corrections).
fn accept_d(_: usize, w: &[f64; 3], h: &[f64; 3], a: &[f64; 3]) -> bool {
    accept_with_mass([1e-8, 1e-8, 1e-13], w, h, a)
}

/// The paper's approximation, the refined one and the error terms, for `X` with density `d`
/// quantized to `fmt`.
///
/// # Errors
/// [`FpError::Density`] for invalid density values; [`FpError::Pool`] for a bad thread count.
pub fn approx_entropy(
    d: &dyn Density,
    fmt: &Format,
    merge_zero: bool,
    threads: Option<usize>,
) -> Result<Approx, FpError> {
    with_threads(threads, || approx_inner(d, fmt, merge_zero))?
}

fn approx_inner(d: &dyn Density, fmt: &Format, merge_zero: bool) -> Result<Approx, FpError> {
    let m = fmt.mantissa_bits as i32;
    let p = fmt.precision() as f64;
    let emin = fmt.emin();
    let s = fmt.min_subnormal();
    let t = fmt.overflow_threshold();
    let bps = d.breakpoints();
    // quadrature intervals split at the breakpoints and where the mass is
    let mut splits = bps.clone();
    splits.extend(d.anchors());
    let rule = GaussLegendre::new(16);
    let mut terms = ApproxTerms::default();

    // (a) K, W, total variation over all magnitudes
    let mut pieces = Vec::new();
    binade_pieces(0.0, f64::INFINITY, &splits, true, 0, &mut pieces);
    let ch_a = |q: &PointEval, x: f64| {
        if q.f > 0.0 {
            let l = x.abs().log2();
            let fl = floor_log2(x) as f64;
            [
                q.f * (-(q.ln_f / LN_2) - l),
                q.f * (l - fl - 0.5),
                LN_2 * q.f * (1.0 + x * q.dln_f).abs(),
                q.f,
            ]
        } else {
            [0.0; 4]
        }
    };
    let (ra, _) = quad::integrate::<4>(d, &pieces, 1, &rule, &ch_a, &accept_kwt)?;
    let (k_quad, w, tv_smooth, mass) = (
        ra[0].value[0],
        ra[0].value[1],
        ra[0].value[2],
        ra[0].value[3],
    );
    if (mass - 1.0).abs() > 1e-6 {
        return Err(FpError::Numerical(format!(
            "approx_entropy: the quadrature over 2^-1022 ≤ |x| ≤ float64 max holds a mass of {mass:.9e}, not 1 \
             (the law has mass outside that range, or is narrower than float64 resolves); use entropy() instead"
        )));
    }
    match d.log_mag_entropy() {
        Some(k) => {
            terms.k = k;
            terms.k_closed_form = true;
        }
        None => terms.k = k_quad,
    }
    // jumps of g at breakpoints add to the total variation
    let mut jump_pts = Vec::new();
    for &b in &bps {
        if b != 0.0 {
            let eps = 1e-12 * b.abs();
            jump_pts.push(b - eps);
            jump_pts.push(b + eps);
        }
    }
    let mut tv = tv_smooth;
    if !jump_pts.is_empty() {
        let v = d.eval_pdf(&jump_pts)?;
        for (k, pair) in v.chunks(2).enumerate() {
            tv += LN_2 * jump_pts[2 * k].abs() * (pair[0].f - pair[1].f).abs();
        }
    }
    terms.w = w;
    terms.w_bound = wobble_bound(d, &splits, &rule, tv)?;

    // (b) boundary cells, exact and point formula
    let mut pieces = Vec::new();
    let mut point_x = Vec::new();
    for e in emin + 1..=fmt.emax() {
        let u = pow2(e - m);
        let (c, lo, hi) = (pow2(e), pow2(e) - 0.25 * u, pow2(e) + 0.5 * u);
        pieces.push(Piece {
            owner: 0,
            a: lo,
            b: c,
        });
        pieces.push(Piece {
            owner: 1,
            a: c,
            b: hi,
        });
        pieces.push(Piece {
            owner: 0,
            a: -c,
            b: -lo,
        });
        pieces.push(Piece {
            owner: 1,
            a: -hi,
            b: -c,
        });
        point_x.push(c);
        point_x.push(-c);
    }
    if !pieces.is_empty() {
        let (rb, _) = quad::integrate::<1>(d, &pieces, 2, &rule, &|q, _| [q.f], &accept_rel::<1>)?;
        terms.b = (2.0f64 / 3.0).log2() * rb[0].value[0] + (4.0f64 / 3.0).log2() * rb[1].value[0];
        let fv = d.eval_pdf(&point_x)?;
        let c0 = 1.25 - 0.75 * 3f64.log2();
        let mut acc = Neumaier::new();
        for (x, q) in point_x.iter().zip(&fv) {
            acc.add(x.abs() * q.f);
        }
        terms.b_point = c0 * pow2(-m) * acc.value();
    }

    // (c) underflow and (e) KL terms share the finite range; zero half-cells by mass
    let mut pieces = Vec::new();
    binade_pieces(0.0, pow2(emin), &splits, true, 0, &mut pieces);
    let ch_u = move |q: &PointEval, x: f64| [q.f * (emin - floor_log2(x)) as f64, q.f];
    let (ru, _) = quad::integrate::<2>(d, &pieces, 1, &rule, &ch_u, &accept_rel::<2>)?;
    let zm = masses(d, &[-0.5 * s, 0.0, 0.5 * s], &[(1, 2), (0, 1)])?;
    let (zp, zn) = (zm.p[0], zm.p[1]);
    terms.u = -ru[0].value[0]
        + if fmt.zero == ZeroPolicy::Signed {
            zp + zn
        } else {
            0.0
        };

    let sat_lo = if fmt.overflow == Overflow::Saturate {
        fmt.xmax() - 0.5 * fmt.ulp_in_binade(fmt.emax())
    } else {
        t
    };
    // cells whose KL is computed exactly: the zero cell(s) and finite cells holding a breakpoint
    let exact_cells = special_cells(fmt, &bps, sat_lo);
    let mut d_splits = splits.clone();
    for &(lo, hi) in &exact_cells {
        d_splits.push(lo);
        d_splits.push(hi);
    }
    let mut pieces = Vec::new();
    binade_pieces(0.5 * s, sat_lo, &d_splits, true, 0, &mut pieces);
    // the smooth KL estimate covers every other finite cell
    pieces.retain(|pc| {
        let mid = pc.a + 0.5 * (pc.b - pc.a);
        !exact_cells.iter().any(|&(lo, hi)| mid > lo && mid < hi)
    });
    let ch_d = move |q: &PointEval, x: f64| {
        if q.f > 0.0 {
            let a = x.abs();
            let w = if a < pow2(emin) {
                s
            } else {
                pow2(floor_log2(x) - m)
            };
            let gw = q.dln_f.abs() * w;
            // per-cell KL ≤ min(χ² bound, log of the max/min density ratio ≤ gw); the second
            // caps cells where the expansion breaks down (singular log-density)
            let bound = if gw < 10.0 {
                (gw.exp_m1().powi(2) / 4.0).min(gw)
            } else {
                gw
            };
            [
                q.f * (gw * gw / 24.0).min(bound) / LN_2,
                q.f * bound / LN_2,
                q.f,
            ]
        } else {
            [0.0; 3]
        }
    };
    let (rd, _) = quad::integrate::<3>(d, &pieces, 1, &rule, &ch_d, &accept_d)?;
    terms.d = rd[0].value[0];
    terms.d_bound = rd[0].value[1];
    let d_edges = cells_kl(d, &exact_cells, &splits)?;
    terms.d += d_edges;
    terms.d_bound += d_edges;

    // (d) overflow
    let mut pieces = Vec::new();
    binade_pieces(sat_lo, f64::INFINITY, &splits, true, 0, &mut pieces);
    let ch_v = move |q: &PointEval, x: f64| {
        if q.f > 0.0 {
            [q.f * (-(q.ln_f / LN_2) - (floor_log2(x) - m) as f64), q.f]
        } else {
            [0.0; 2]
        }
    };
    let (rv, _) = quad::integrate::<2>(d, &pieces, 1, &rule, &ch_v, &accept_rel::<2>)?;
    let tp = [sat_lo, -sat_lo];
    let cs = d.eval_cdf_sf(&tp)?;
    check_cdf(&tp, &cs)?;
    let (pp, pn) = (cs[0].1, cs[1].0);
    let sym = match fmt.overflow {
        Overflow::Inf | Overflow::Saturate => plogp(pp) + plogp(pn),
        Overflow::Nan => plogp(pp + pn),
    };
    terms.v = sym - rv[0].value[0];

    let paper = p - 0.5 + terms.k;
    let mut refined = paper + terms.b + terms.u + terms.v + terms.d;
    if merge_zero && fmt.zero == ZeroPolicy::Signed {
        refined -= plogp(zp) + plogp(zn) - plogp(zp + zn);
    }
    let bound = terms.w_bound + terms.d.max(terms.d_bound - terms.d);
    Ok(Approx {
        paper,
        refined,
        bound,
        terms,
    })
}

#[inline]
fn plogp(p: f64) -> f64 {
    if p > 0.0 { -p * p.log2() } else { 0.0 }
}

/// The cells whose within-cell KL is computed exactly rather than estimated: the zero cell(s)
/// (a density may be singular or kinked at 0) and every finite cell holding a breakpoint `b ≠ 0`.
fn special_cells(fmt: &Format, bps: &[f64], top: f64) -> Vec<(f64, f64)> {
    let half = 0.5 * fmt.min_subnormal();
    let mut cells = if fmt.zero == ZeroPolicy::Signed {
        vec![(-half, 0.0), (0.0, half)]
    } else {
        vec![(-half, half)]
    };
    for &b in bps {
        let a = b.abs();
        if b == 0.0 || a < half || a >= top {
            continue;
        }
        let q = fmt.quantize(a);
        if !q.is_finite() {
            continue;
        }
        let (lo, hi) = cell_of(fmt, q);
        let cell = if b > 0.0 { (lo, hi) } else { (-hi, -lo) };
        if !cells.contains(&cell) {
            cells.push(cell);
        }
    }
    cells
}

/// `Σ_c KL_c = Σ_c [P_c log₂(w_c/P_c) + ∫_c f log₂ f]` over the given cells (integrals split at
/// the breakpoints and anchors inside each cell, so a law much narrower than a cell is resolved).
fn cells_kl(d: &dyn Density, cells: &[(f64, f64)], bps: &[f64]) -> Result<f64, FpError> {
    let mut pts = Vec::new();
    let mut pairs = Vec::new();
    let mut pieces = Vec::new();
    for (k, &(lo, hi)) in cells.iter().enumerate() {
        pairs.push((pts.len(), pts.len() + 1));
        pts.push(lo);
        pts.push(hi);
        let mut a = lo;
        let mut inner: Vec<f64> = bps.iter().copied().filter(|&b| b > lo && b < hi).collect();
        inner.sort_by(f64::total_cmp);
        inner.dedup();
        for b in inner {
            pieces.push(Piece { owner: k, a, b });
            a = b;
        }
        pieces.push(Piece { owner: k, a, b: hi });
    }
    let ms = masses(d, &pts, &pairs)?;
    let rule = GaussLegendre::new(16);
    let ch = |q: &PointEval, _x: f64| {
        if q.f > 0.0 {
            [q.f * q.ln_f / LN_2, q.f]
        } else {
            [0.0; 2]
        }
    };
    let (r, _) = quad::integrate::<2>(d, &pieces, cells.len(), &rule, &ch, &accept_rel::<2>)?;
    let mut acc = Neumaier::new();
    for (k, &(lo, hi)) in cells.iter().enumerate() {
        let pm = ms.p[k];
        if pm > 0.0 {
            // KL ≥ 0 exactly; clip the rounding of nearly uniform cells
            // log2(w) − log2(P) rather than log2(w / P), which overflows for a subnormal P
            acc.add((pm * ((hi - lo).log2() - pm.log2()) + r[k].value[0]).max(0.0));
        }
    }
    Ok(acc.value())
}

/// The cell `[lo, hi)` of a positive value `q` of the format.
fn cell_of(fmt: &Format, q: f64) -> (f64, f64) {
    let m = fmt.mantissa_bits as i32;
    let s = fmt.min_subnormal();
    if q < fmt.min_normal() {
        return (q - 0.5 * s, q + 0.5 * s);
    }
    let e = floor_log2(q);
    let u = pow2(e - m);
    let lo = if q == pow2(e) && e > fmt.emin() {
        q - 0.25 * u
    } else {
        q - 0.5 * u
    };
    (lo, q + 0.5 * u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpentropy::{EntropyOptions, Law, LawKind, exact_entropy};

    #[test]
    fn closed_form_k_equals_quadrature() {
        let laws = [
            Law::new(LawKind::Normal, 0.0, 1.0).unwrap(),
            Law::new(LawKind::Exponential, 0.0, 2.0).unwrap(),
            Law::new(LawKind::Laplace, 0.0, 1.0).unwrap(),
            Law::new(LawKind::Logistic, 0.0, 1.0).unwrap(),
            Law::new(LawKind::Gamma(2.5), 0.0, 1.0).unwrap(),
            Law::new(LawKind::StudentT(4.5), 0.0, 1.0).unwrap(),
            Law::new(LawKind::Beta(2.0, 3.0), 0.0, 1.0).unwrap(),
            Law::new(LawKind::Uniform, -1.0, 2.0).unwrap(),
        ];
        let fmt = Format::by_name("float32").unwrap();
        for l in laws {
            let a = approx_entropy(&l, &fmt, false, None).unwrap();
            let mut pieces = Vec::new();
            binade_pieces(0.0, f64::INFINITY, &l.breakpoints(), true, 0, &mut pieces);
            let rule = GaussLegendre::new(16);
            let ch = |q: &PointEval, x: f64| {
                if q.f > 0.0 {
                    [q.f * (-(q.ln_f / LN_2) - x.abs().log2()), q.f]
                } else {
                    [0.0; 2]
                }
            };
            let (r, _) =
                quad::integrate::<2>(&l, &pieces, 1, &rule, &ch, &accept_rel::<2>).unwrap();
            assert!(
                (a.terms.k - r[0].value[0]).abs() < 1e-12,
                "{:?}: {} vs {}",
                l.kind,
                a.terms.k,
                r[0].value[0]
            );
        }
    }

    #[test]
    fn refined_plus_wobble_matches_exact_on_bfloat16() {
        let fmt = Format::by_name("bfloat16").unwrap();
        for k in 0..8 {
            let sigma = 2f64.powf(k as f64 / 8.0);
            let l = Law::new(LawKind::Normal, 0.0, sigma).unwrap();
            let a = approx_entropy(&l, &fmt, false, None).unwrap();
            let h = exact_entropy(&l, &fmt, &EntropyOptions::default())
                .unwrap()
                .bits;
            assert!(
                (h - a.refined - a.terms.w).abs() < 1e-5,
                "σ={sigma}: {h} {} {}",
                a.refined,
                a.terms.w
            );
            assert!(
                (h - a.refined).abs() <= a.bound,
                "σ={sigma}: |{}| > {}",
                h - a.refined,
                a.bound
            );
            assert!(a.terms.w.abs() <= a.terms.w_bound);
        }
    }
}
