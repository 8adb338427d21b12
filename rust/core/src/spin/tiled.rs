//! Sequential sweeps of dense couplings with deferred, fused field updates (issue 18.3).
//!
//! A flip of spin `k` adds `2 s_k J_kj` to every local field `φ_j`. The plain path does it at
//! once: one pass over `φ` (a load and a store per element) for every flip. Here the sweep runs
//! in tiles of [`TILE`] consecutive spins; inside a tile a flip updates only the fields of the
//! tile itself (the only ones the tile still reads), and the tile's flips reach every other
//! field at its end, up to [`GROUP`] flips per pass: `φ_j ← (((φ_j + f₁J₁ⱼ) + f₂J₂ⱼ) + …)`, one
//! load and one store of `φ_j` for the whole group.
//!
//! Every field receives the same terms in the same order as on the plain path (flips in
//! ascending `k` within a sweep, a tile's flips before the next tile's), and no field is read
//! between a flip and its deferred update (a field outside the tile is next read in a later
//! tile, after the update): the results are bit-identical to flipping at once. Rows with
//! nonzero ranges ([`RowRuns`]) are fused only with rows of the same ranges (a layer of a
//! network's map); others are applied one by one in order.

use super::anneal::Acceptor;
use super::couplings::{Real, RowRuns};
use crate::rng::SplitMix64;

/// Spins per tile.
pub(crate) const TILE: usize = 32;
/// Most flips fused into one pass over the fields.
const GROUP: usize = 4;

/// The rows of a dense model: whole rows of a row-major `n × n` matrix, or their nonzero
/// ranges.
pub(crate) enum Rows<'a, R> {
    /// Whole rows.
    Full(Vec<&'a [R]>),
    /// Nonzero ranges.
    Runs(&'a RowRuns<R>),
}

impl<R: Real> Rows<'_, R> {
    /// Rows with the same ranges share a class (whole rows: one class).
    #[inline(always)]
    fn class(&self, i: usize) -> u32 {
        match self {
            Rows::Full(..) => 0,
            Rows::Runs(r) => r.class(i),
        }
    }

    /// Number of ranges of row `i`.
    #[inline(always)]
    fn n_spans(&self, i: usize) -> usize {
        match self {
            Rows::Full(..) => 1,
            Rows::Runs(r) => r.n_spans(i),
        }
    }

    /// Range `q` of row `i`: its first column and its couplings.
    #[inline(always)]
    fn span(&self, i: usize, q: usize) -> (usize, &[R]) {
        match self {
            Rows::Full(r) => {
                let _ = q;
                (0, r[i])
            }
            Rows::Runs(r) => r.span(i, q),
        }
    }
}

/// `φ[c] += f J[c]` for the columns `c` of `[a, a + vals.len())` inside `[lo, hi)`.
#[inline(always)]
fn add_inside<R: Real>(phi: &mut [R], a: usize, vals: &[R], f: R, lo: usize, hi: usize) {
    let c0 = a.max(lo);
    let c1 = (a + vals.len()).min(hi);
    if c0 < c1 {
        for (p, &v) in phi[c0..c1].iter_mut().zip(&vals[c0 - a..c1 - a]) {
            *p += f * v;
        }
    }
}

/// `φ[c] ← (((φ[c] + f₀ r₀[c]) + f₁ r₁[c]) + …)` over `c ∈ [c0, c1)`, the rows `r_g` starting
/// at column `a`.
#[inline(always)]
fn fused<R: Real>(phi: &mut [R], rows: &[&[R]], f: &[R], a: usize, c0: usize, c1: usize) {
    let p = &mut phi[c0..c1];
    let (s0, s1) = (c0 - a, c1 - a);
    match rows.len() {
        1 => {
            for (x, &v0) in p.iter_mut().zip(&rows[0][s0..s1]) {
                *x += f[0] * v0;
            }
        }
        2 => {
            for ((x, &v0), &v1) in p.iter_mut().zip(&rows[0][s0..s1]).zip(&rows[1][s0..s1]) {
                let mut y = *x;
                y += f[0] * v0;
                y += f[1] * v1;
                *x = y;
            }
        }
        3 => {
            for (((x, &v0), &v1), &v2) in p
                .iter_mut()
                .zip(&rows[0][s0..s1])
                .zip(&rows[1][s0..s1])
                .zip(&rows[2][s0..s1])
            {
                let mut y = *x;
                y += f[0] * v0;
                y += f[1] * v1;
                y += f[2] * v2;
                *x = y;
            }
        }
        _ => {
            for ((((x, &v0), &v1), &v2), &v3) in p
                .iter_mut()
                .zip(&rows[0][s0..s1])
                .zip(&rows[1][s0..s1])
                .zip(&rows[2][s0..s1])
                .zip(&rows[3][s0..s1])
            {
                let mut y = *x;
                y += f[0] * v0;
                y += f[1] * v1;
                y += f[2] * v2;
                y += f[3] * v3;
                *x = y;
            }
        }
    }
}

/// The deferred updates of one tile `[lo, hi)` for one read: the flips `(k, f_k)` in order,
/// applied to every field outside the tile.
#[inline(always)]
pub(crate) fn apply_pending<R: Real>(
    rows: &Rows<'_, R>,
    pending: &[(usize, R)],
    phi: &mut [R],
    lo: usize,
    hi: usize,
) {
    let n = phi.len();
    let mut t = 0;
    while t < pending.len() {
        // a group: up to GROUP consecutive flips of one class
        let cls = rows.class(pending[t].0);
        let mut u = t + 1;
        while u < pending.len() && u - t < GROUP && rows.class(pending[u].0) == cls {
            u += 1;
        }
        let group = &pending[t..u];
        let f: [R; GROUP] = std::array::from_fn(|g| group.get(g).map_or(R::default(), |p| p.1));
        for q in 0..rows.n_spans(group[0].0) {
            let (a, first) = rows.span(group[0].0, q);
            let mut rs: [&[R]; GROUP] = [first; GROUP];
            for (g, &(k, _)) in group.iter().enumerate().skip(1) {
                rs[g] = rows.span(k, q).1;
            }
            let b = a + first.len();
            let rs = &rs[..group.len()];
            let f = &f[..group.len()];
            // the range minus the tile: [a, min(b, lo)) and [max(a, hi), b)
            if a < lo.min(b) {
                fused(phi, rs, f, a, a, lo.min(b));
            }
            if hi.max(a) < b {
                fused(phi, rs, f, a, hi.max(a), b.min(n));
            }
        }
        t = u;
    }
}

/// `min_i 2 s_i φ_i`, each cost computed as the sweep computes it.
#[inline(always)]
fn min_cost<R: Real>(s: &[i8], phi: &[R]) -> f64 {
    let mut m = [f64::INFINITY; 8];
    let (sc, pc) = (s.chunks_exact(8), phi.chunks_exact(8));
    let (sr, pr) = (sc.remainder(), pc.remainder());
    for (cs, cp) in sc.zip(pc) {
        for l in 0..8 {
            let de = 2.0 * cs[l] as f64 * cp[l].to_f64();
            m[l] = if de < m[l] { de } else { m[l] };
        }
    }
    for (&si, &pi) in sr.iter().zip(pr) {
        let de = 2.0 * si as f64 * pi.to_f64();
        m[0] = if de < m[0] { de } else { m[0] };
    }
    m.iter()
        .fold(f64::INFINITY, |a, &b| if b < a { b } else { a })
}

/// One sequential sweep of the reads `b` of a block over a dense model, tile by tile; per
/// read the same decisions (`acceptor` with read `b`'s stream `rngs[b]`), flips and sums as
/// [`super::anneal::sweep`] (bit-identical). Within a tile the reads take their turns one
/// after the other (each read's visits keep their order; the reads share nothing), and a read
/// whose every move in the tile is rejected without a draw (`β·ΔE ≥ SKIP` at the tile's
/// smallest cost, `β·ΔE` being monotone in `ΔE`) skips the tile: no visit would flip a spin
/// (so no cost would change) or draw a number.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sweep_block<R: Real>(
    rows: &Rows<'_, R>,
    s: &mut [Vec<i8>],
    phi: &mut [Vec<R>],
    pending: &mut Vec<(usize, R)>,
    de_sum: &mut [f64],
    accepted: &mut [u64],
    acceptor: &Acceptor,
    rngs: &mut [SplitMix64],
) {
    let n = s[0].len();
    de_sum.fill(0.0);
    for lo in (0..n).step_by(TILE) {
        let hi = (lo + TILE).min(n);
        for (b, ((sb, pb), rng)) in s
            .iter_mut()
            .zip(phi.iter_mut())
            .zip(rngs.iter_mut())
            .enumerate()
        {
            let (sb, pb) = (&mut sb[..n], &mut pb[..n]);
            if acceptor.rejects_without_draw(min_cost(&sb[lo..hi], &pb[lo..hi])) {
                continue;
            }
            // the running sum of the sweep, added to in visit order as on the plain path
            let (mut de_b, mut acc_b) = (de_sum[b], 0u64);
            for i in lo..hi {
                let de = 2.0 * sb[i] as f64 * pb[i].to_f64();
                if acceptor.accept(de, rng) {
                    sb[i] = -sb[i];
                    let f = R::from_f64(2.0 * sb[i] as f64);
                    for q in 0..rows.n_spans(i) {
                        let (a, vals) = rows.span(i, q);
                        add_inside(pb, a, vals, f, lo, hi);
                    }
                    pending.push((i, f));
                    de_b += de;
                    acc_b += 1;
                }
            }
            if !pending.is_empty() {
                apply_pending(rows, pending, pb, lo, hi);
                pending.clear();
                de_sum[b] = de_b;
                accepted[b] += acc_b;
            }
        }
    }
}
