//! Batched adaptive Gauss–Legendre quadrature.
//!
//! Every interval is integrated by an `n`-point rule on the whole interval and on its two halves;
//! the halves are accepted when the caller's criterion says the two estimates agree, otherwise
//! each half becomes a new interval. All the points of one round are evaluated in a single batch
//! (one call of [`Density::eval_pdf`]), so a Python-backed density costs one call per round.

use super::FpError;
use super::density::{Density, PointEval, check_pdf};
use crate::numeric::GaussLegendre;

/// Integrand channels computed from one density evaluation at `x`.
pub(crate) type Channels<'a, const N: usize> = &'a (dyn Fn(&PointEval, f64) -> [f64; N] + Sync);

/// Acceptance test `(owner, whole, halves, abs_halves) -> bool` of a piece.
pub(crate) type Accept<'a, const N: usize> =
    &'a (dyn Fn(usize, &[f64; N], &[f64; N], &[f64; N]) -> bool + Sync);

/// An interval to integrate, owned by result slot `owner`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Piece {
    pub owner: usize,
    pub a: f64,
    pub b: f64,
}

/// Result of one owner: the integrals and the sum of accepted |whole − halves| differences.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Integral<const N: usize> {
    pub value: [f64; N],
    pub err: [f64; N],
}

/// Maximum number of halvings of one interval.
pub(crate) const MAX_DEPTH: u32 = 48;

/// Integrates the channels over every piece; results are summed per owner (in a fixed order).
///
/// `accept(owner, whole, halves, abs_halves)` decides whether the two estimates of a piece agree
/// (`abs_halves` integrates the absolute value of each channel: the scale of its rounding noise).
/// Returns the per-owner integrals and the number of density evaluations used.
pub(crate) fn integrate<const N: usize>(
    d: &dyn Density,
    pieces: &[Piece],
    n_owners: usize,
    rule: &GaussLegendre,
    channels: Channels<'_, N>,
    accept: Accept<'_, N>,
) -> Result<(Vec<Integral<N>>, u64), FpError> {
    let mut out = vec![
        Integral {
            value: [0.0; N],
            err: [0.0; N]
        };
        n_owners
    ];
    let mut evals = 0u64;
    let n = rule.len();
    // Round 0 also needs the whole-interval estimate.
    let mut pending: Vec<(Piece, [f64; N], u32)> = Vec::with_capacity(pieces.len());
    {
        let mut xs = Vec::with_capacity(pieces.len() * n);
        for p in pieces {
            rule.push_nodes(p.a, p.b, &mut xs);
        }
        let v = d.eval_pdf(&xs)?;
        check_pdf(&xs, &v)?;
        evals += xs.len() as u64;
        for (k, p) in pieces.iter().enumerate() {
            let (whole, _, _) = apply(
                rule,
                p.a,
                p.b,
                &xs[k * n..(k + 1) * n],
                &v[k * n..(k + 1) * n],
                channels,
            );
            pending.push((*p, whole, 0));
        }
    }
    while !pending.is_empty() {
        let round_points = (pending.len() * 2 * n) as u64;
        if evals + round_points > MAX_EVALS {
            return Err(FpError::TooLarge {
                arg: "dist",
                what: "the adaptive quadrature of its density does not converge (density evaluations)",
                n: evals + round_points,
                limit: MAX_EVALS,
            });
        }
        let mut xs = Vec::with_capacity(pending.len() * 2 * n);
        for (p, _, _) in &pending {
            let m = p.a + (0.5 * p.b - 0.5 * p.a);
            rule.push_nodes(p.a, m, &mut xs);
            rule.push_nodes(m, p.b, &mut xs);
        }
        let v = d.eval_pdf(&xs)?;
        check_pdf(&xs, &v)?;
        evals += xs.len() as u64;
        let mut next = Vec::new();
        for (k, (p, whole, depth)) in pending.iter().enumerate() {
            let m = p.a + (0.5 * p.b - 0.5 * p.a);
            let o = 2 * k * n;
            let (left, labs, lnoise) = apply(rule, p.a, m, &xs[o..o + n], &v[o..o + n], channels);
            let (right, rabs, rnoise) = apply(
                rule,
                m,
                p.b,
                &xs[o + n..o + 2 * n],
                &v[o + n..o + 2 * n],
                channels,
            );
            let mut halves = [0.0; N];
            let mut abs = [0.0; N];
            let mut noise = [0.0; N];
            for c in 0..N {
                halves[c] = left[c] + right[c];
                abs[c] = labs[c] + rabs[c];
                noise[c] = lnoise[c] + rnoise[c];
            }
            if halves.iter().chain(whole.iter()).any(|h| !h.is_finite()) {
                return Err(FpError::Density(format!(
                    "non-finite integrand on [{:e}, {:e}] (density values overflow or are inconsistent)",
                    p.a, p.b
                )));
            }
            let tiny = !(m > p.a && m < p.b);
            // past the relaxed depth the criterion is loosened 100-fold per extra level
            // on pieces only ~2^20 ulps wide the nodes' rounding to float64 moves f by up to
            // |x f'/f| ulp: the two estimates cannot agree better than that noise
            let narrow =
                (p.b - p.a) <= p.a.abs().max(p.b.abs()) * f64::EPSILON * (1u64 << 20) as f64;
            // where the density is subnormal its own rounding sets the noise, whatever the width
            let subnormal = abs[0] < (p.b - p.a) * f64::MIN_POSITIVE;
            let within_noise =
                (narrow || subnormal) && (0..N).all(|c| (whole[c] - halves[c]).abs() <= noise[c]);
            if *depth >= MAX_DEPTH
                || tiny
                || within_noise
                || accept(p.owner, whole, &halves, &abs)
                || relaxed(*depth, whole, &halves, &abs)
            {
                let slot = &mut out[p.owner];
                for c in 0..N {
                    slot.value[c] += halves[c];
                    slot.err[c] += (halves[c] - whole[c]).abs();
                }
            } else {
                next.push((
                    Piece {
                        owner: p.owner,
                        a: p.a,
                        b: m,
                    },
                    left,
                    depth + 1,
                ));
                next.push((
                    Piece {
                        owner: p.owner,
                        a: m,
                        b: p.b,
                    },
                    right,
                    depth + 1,
                ));
            }
        }
        pending = next;
    }
    Ok((out, evals))
}

/// Depth after which pieces are accepted on a looser, depth-dependent criterion (singular or
/// noisy integrands would otherwise split to the maximum depth).
const RELAXED_DEPTH: u32 = 16;
/// Absolute tolerance floor: integrals are probabilities (or bits weighted by probability), and
/// an error of 1e-30 in any of them is far below anything the entropy can resolve.
pub(crate) const ABS_FLOOR: f64 = 1e-30;
/// The smallest subnormal float64 (2^-1074), the absolute resolution of a subnormal density.
const SUBNORMAL_ULP: f64 = f64::from_bits(1);
/// Budget of density evaluations for one call.
const MAX_EVALS: u64 = 50_000_000;

fn relaxed<const N: usize>(
    depth: u32,
    whole: &[f64; N],
    halves: &[f64; N],
    abs: &[f64; N],
) -> bool {
    if depth < RELAXED_DEPTH {
        return false;
    }
    let tol = 1e-12 * 10f64.powi((depth - RELAXED_DEPTH) as i32);
    (0..N).all(|c| (whole[c] - halves[c]).abs() <= tol * abs[c] + ABS_FLOOR)
}

/// The default criterion: every channel agrees to `rel` of the integral of its absolute value.
pub(crate) fn agree<const N: usize>(
    rel: f64,
    whole: &[f64; N],
    halves: &[f64; N],
    abs: &[f64; N],
) -> bool {
    (0..N).all(|c| (whole[c] - halves[c]).abs() <= rel * abs[c] + ABS_FLOOR)
}

fn apply<const N: usize>(
    rule: &GaussLegendre,
    a: f64,
    b: f64,
    xs: &[f64],
    v: &[PointEval],
    channels: Channels<'_, N>,
) -> ([f64; N], [f64; N], [f64; N]) {
    let mut acc = [0.0; N];
    let mut abs = [0.0; N];
    let mut noise = [0.0; N];
    for (i, (x, p)) in xs.iter().zip(v).enumerate() {
        let w = rule.scaled_weight(i, a, b);
        let c = channels(p, *x);
        // relative perturbation of the integrand from rounding the node x (and f) to float64:
        // half an ulp of x moves f by |x g'| ε/2; twice that, as the bound on the estimates' gap
        let mut rel = f64::EPSILON * (1.0 + (x * p.dln_f).abs());
        // a subnormal density value carries an absolute rounding error of up to half the
        // smallest subnormal: relative to f, far more than ε (a law of scale ~1e300 has
        // subnormal densities over much of its bulk)
        if p.f > 0.0 && p.f < f64::MIN_POSITIVE {
            rel += SUBNORMAL_ULP / p.f;
        }
        for j in 0..N {
            acc[j] += w * c[j];
            abs[j] += w * c[j].abs();
            noise[j] += w * c[j].abs() * rel;
        }
    }
    (acc, abs, noise)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpentropy::{Law, LawKind};

    #[test]
    fn adaptive_mass_of_a_sharp_tail_interval() {
        let law = Law::new(LawKind::Normal, 0.0, 1.0).unwrap();
        let rule = GaussLegendre::new(12);
        let pieces = [
            Piece {
                owner: 0,
                a: 8.0,
                b: 16.0,
            },
            Piece {
                owner: 1,
                a: -1.0,
                b: 2.0,
            },
        ];
        let acc = |_: usize, w: &[f64; 1], h: &[f64; 1], a: &[f64; 1]| agree(1e-15, w, h, a);
        let (r, _) =
            integrate::<1>(&law, &pieces, 2, &rule, &|p: &PointEval, _| [p.f], &acc).unwrap();
        let want0 = law.cdf_sf(8.0).1 - law.cdf_sf(16.0).1;
        let want1 = law.cdf_sf(2.0).0 - law.cdf_sf(-1.0).0;
        assert!(
            (r[0].value[0] / want0 - 1.0).abs() < 1e-13,
            "{} vs {want0}",
            r[0].value[0]
        );
        assert!((r[1].value[0] / want1 - 1.0).abs() < 1e-14);
    }
}
