//! Brute-force entropy: every cell of the format, one by one (validation only).
//!
//! Every positive finite code is decoded, its cell `[mid(v_{k−1}, v_k), mid(v_k, v_{k+1}))` is
//! integrated by 2-point Gauss–Legendre on the pdf, and `−P log₂ P` is summed per block of codes
//! with compensation; blocks run in parallel and are merged in code order. For float32 that is
//! 2 × 2^31 cells: seconds on many cores, never the default path of [`super::exact_entropy`].

use super::FpError;
use super::exact::{Entropy, Method};
use super::format::{Format, Overflow, ZeroPolicy};
use super::laws::Law;
use crate::numeric::Neumaier;
use crate::parallel::with_threads;
use rayon::prelude::*;

/// Largest format the brute force accepts (float32).
pub const BRUTE_FORCE_MAX_BITS: u32 = 32;

const BLOCK: u64 = 1 << 20;

/// Entropy of `Q_F(X)` summed over every cell of `fmt` (both signs).
///
/// # Errors
/// [`FpError::TooLarge`] for formats wider than 32 bits; [`FpError::Pool`] for a bad thread count.
pub fn brute_force_entropy(
    law: &Law,
    fmt: &Format,
    merge_zero: bool,
    threads: Option<usize>,
) -> Result<Entropy, FpError> {
    if fmt.bits() > BRUTE_FORCE_MAX_BITS {
        return Err(FpError::TooLarge {
            arg: "fmt",
            what: "bits of a brute-force format",
            n: fmt.bits() as u64,
            limit: 32,
        });
    }
    with_threads(threads, || compute(law, fmt, merge_zero))?
}

fn compute(law: &Law, fmt: &Format, merge_zero: bool) -> Result<Entropy, FpError> {
    let n = fmt.n_positive(); // positive finite codes are 1..=n in the IEEE layout
    let thr = fmt.overflow_threshold();
    let value = |k: u64| if k == 0 { 0.0 } else { fmt.decode(k) };
    let upper_edge = |k: u64| {
        if k == n {
            thr
        } else {
            0.5 * (value(k) + value(k + 1))
        }
    };
    let g = 0.5 / 3f64.sqrt();
    let cell = |a: f64, b: f64| {
        let (c, h) = (0.5 * (a + b), b - a);
        0.5 * h * (law.point(c - g * h).f + law.point(c + g * h).f)
    };
    let n_blocks = n.div_ceil(BLOCK);
    let sat = fmt.overflow == Overflow::Saturate;
    let (tail_p, tail_n) = (law.cdf_sf(thr).1, law.cdf_sf(-thr).0);
    let blocks: Vec<(Neumaier, f64, f64)> = (0..n_blocks)
        .into_par_iter()
        .map(|b| {
            let (lo, hi) = (1 + b * BLOCK, ((b + 1) * BLOCK).min(n));
            let mut h = Neumaier::new();
            let mut mass = 0.0;
            let mut sub = 0.0;
            let mut a = upper_edge(lo - 1);
            for k in lo..=hi {
                let e = upper_edge(k);
                let (mut pp, mut pn) = (cell(a, e), cell(-e, -a));
                if sat && k == n {
                    pp += tail_p;
                    pn += tail_n;
                }
                for p in [pp, pn] {
                    if p > 0.0 {
                        h.add(-p * p.log2());
                    }
                }
                mass += pp + pn;
                if value(k) < fmt.min_normal() {
                    sub += pp + pn;
                }
                a = e;
            }
            (h, mass, sub)
        })
        .collect();
    let mut h = Neumaier::new();
    let mut mass = Neumaier::new();
    let mut sub = 0.0;
    for (bh, bm, bs) in &blocks {
        h.merge(bh);
        mass.add(*bm);
        sub += bs;
    }
    let half = 0.5 * fmt.min_subnormal();
    let (zp, zn) = (cell(0.0, half), cell(-half, 0.0));
    let plogp = |p: f64| if p > 0.0 { -p * p.log2() } else { 0.0 };
    if fmt.zero == ZeroPolicy::Signed && !merge_zero {
        h.add(plogp(zp) + plogp(zn));
    } else {
        h.add(plogp(zp + zn));
    }
    match fmt.overflow {
        Overflow::Inf => h.add(plogp(tail_p) + plogp(tail_n)),
        Overflow::Nan => h.add(plogp(tail_p + tail_n)),
        Overflow::Saturate => {}
    }
    mass.add(zp + zn);
    if !sat {
        mass.add(tail_p + tail_n);
    }
    Ok(Entropy {
        bits: h.value(),
        method: Method::Enumerate,
        error_estimate: f64::NAN,
        p_zero: zp + zn,
        p_overflow: tail_p + tail_n,
        p_subnormal: sub,
        total_mass: mass.value(),
        diff_entropy_part: None,
        n_evaluations: 4 * n + 6,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpentropy::{EntropyOptions, LawKind, exact_entropy};

    #[test]
    fn brute_force_agrees_with_enumeration_on_small_formats() {
        for name in [
            "float16",
            "bfloat16",
            "float8_e4m3fn",
            "float8_e5m2fnuz",
            "float6_e2m3fn",
        ] {
            let fmt = Format::by_name(name).unwrap();
            let law = Law::new(LawKind::Normal, 0.0, 1.0).unwrap();
            let a = brute_force_entropy(&law, &fmt, false, None).unwrap();
            let b = exact_entropy(&law, &fmt, &EntropyOptions::default()).unwrap();
            // 2-point Gauss–Legendre on wide 8-bit cells is only good to ~1e-6
            let tol = if fmt.bits() <= 8 { 1e-3 } else { 1e-9 };
            assert!(
                (a.bits - b.bits).abs() < tol,
                "{name}: {} vs {}",
                a.bits,
                b.bits
            );
        }
    }
}
