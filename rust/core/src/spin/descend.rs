//! Greedy steepest descent.

use super::{Couplings, Real, SpinError, check_states};
use crate::parallel::with_threads;
use rayon::prelude::*;

/// Steepest descent from every state of `states` (`n_states × n`, ±1): repeatedly flips the spin
/// with the most negative `ΔE_i = 2 s_i φ_i` (lowest index on ties) until every `ΔE_i ≥ 0`
/// (a single-flip local minimum). Returns the final states, their energies and the number of
/// flips per state. Each step is an `O(n)` argmin plus the field update.
///
/// # Errors
/// Bad states or a bad thread count.
#[allow(clippy::type_complexity)]
pub fn descend<C: Couplings>(
    model: &C,
    states: &[i8],
    threads: Option<usize>,
) -> Result<(Vec<i8>, Vec<f64>, Vec<u64>), SpinError> {
    let n = model.n();
    let k = check_states("states", states, n)?;
    let outs: Vec<(Vec<i8>, f64, u64)> = with_threads(threads, || {
        states
            .par_chunks(n)
            .map(|s0| {
                let mut s = s0.to_vec();
                let mut phi = vec![C::R::default(); n];
                model.fields(&s, &mut phi);
                let mut steps = 0u64;
                // Every flip lowers the energy, so the walk ends; the cap only guards against a
                // cycle made of rounding errors in f32 fields.
                let cap = 1_000_000u64.saturating_add((n as u64).saturating_mul(n as u64));
                while steps < cap {
                    let mut best = 0.0f64;
                    let mut arg = usize::MAX;
                    for i in 0..n {
                        let de = 2.0 * s[i] as f64 * phi[i].to_f64();
                        if de < best {
                            best = de;
                            arg = i;
                        }
                    }
                    if arg == usize::MAX {
                        break;
                    }
                    s[arg] = -s[arg];
                    model.flip(arg, s[arg], &mut phi);
                    steps += 1;
                }
                let e = model.energy(&s);
                (s, e, steps)
            })
            .collect()
    })?;
    let mut st = Vec::with_capacity(k * n);
    let mut es = Vec::with_capacity(k);
    let mut ns = Vec::with_capacity(k);
    for (s, e, c) in outs {
        st.extend_from_slice(&s);
        es.push(e);
        ns.push(c);
    }
    Ok((st, es, ns))
}
