//! Parallel tempering (replica exchange) with several independent ladders.

use super::anneal::{Acceptor, sweep};
use super::{Cancel, Couplings, Order, Rule, SpinError, check_betas, random_state};
use crate::parallel::with_threads;
use crate::rng::SplitMix64;
use rayon::prelude::*;

/// Settings of [`tempering`].
#[derive(Debug, Clone)]
pub struct TemperingOptions<'a> {
    /// The ladder of inverse temperatures (`R ≥ 1`); swaps are tried between neighbours in this order.
    pub betas: &'a [f64],
    /// Independent ladders run side by side (`≥ 1`); ladders `2k` and `2k+1` give overlap samples.
    pub n_sets: usize,
    /// Rounds after burn-in; each round is one sweep of every replica and one pass of swaps.
    pub num_sweeps: usize,
    /// Rounds discarded first.
    pub burn_in: usize,
    /// Measure every `thin` rounds.
    pub thin: usize,
    /// Acceptance rule of the single-spin moves.
    pub rule: Rule,
    /// Record the states of every measurement (`n_meas × n_sets × R × n` bytes).
    pub record_states: bool,
    /// Seed: replica `k` of ladder `a` uses stream `a·R + k`, the swaps of ladder `a` stream
    /// `2^32 + a`.
    pub seed: u64,
    /// Threads.
    pub threads: Option<usize>,
    /// Cancellation flag, polled every round.
    pub cancel: Cancel<'a>,
}

impl Default for TemperingOptions<'_> {
    fn default() -> Self {
        Self {
            betas: &[],
            n_sets: 1,
            num_sweeps: 1000,
            burn_in: 100,
            thin: 1,
            rule: Rule::Metropolis,
            record_states: false,
            seed: 0,
            threads: None,
            cancel: Cancel(None),
        }
    }
}

/// Output of [`tempering`]. Measurement arrays are row-major `n_meas × n_sets × R`
/// (overlaps: `n_meas × (n_sets / 2) × R`); column `k` always belongs to `betas[k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TemperingResult {
    /// Number of measurements.
    pub n_meas: usize,
    /// Energies at each measurement.
    pub energies: Vec<f64>,
    /// Magnetisation per spin `Σ s_i / n` at each measurement.
    pub magnetizations: Vec<f64>,
    /// Overlaps `q = s·s'/n` between ladders `2k` and `2k+1` at each measurement.
    pub overlaps: Vec<f64>,
    /// Recorded states (empty unless requested), `n_meas × n_sets × R × n`.
    pub states: Vec<i8>,
    /// Swap acceptance rate of each neighbour pair `(k, k+1)`, pooled over ladders.
    pub swap_acceptance: Vec<f64>,
    /// Lowest-energy state seen at a round's end.
    pub best_state: Vec<i8>,
    /// Its energy (recomputed).
    pub best_energy: f64,
    /// Final states, `n_sets × R × n`.
    pub final_states: Vec<i8>,
}

struct Replica<R> {
    s: Vec<i8>,
    phi: Vec<R>,
    e: f64,
    rng: SplitMix64,
}

/// Parallel tempering: `n_sets` ladders of `R` replicas; each round every replica makes one
/// sweep at its β, then neighbours `(k, k+1)` with `k` of the round's parity try to exchange
/// states with probability `min(1, exp((β_k − β_{k+1})(E_k − E_{k+1})))`. Replicas run in
/// parallel; every replica and every ladder's swaps have their own random stream, so results do
/// not depend on the thread count. Energies and fields are recomputed exactly every 1000 rounds.
///
/// # Errors
/// Bad ladder, zero sets / sweeps / thin, too many recorded states, a bad thread count, or
/// [`SpinError::Cancelled`].
pub fn tempering<C: Couplings>(
    model: &C,
    o: &TemperingOptions<'_>,
) -> Result<TemperingResult, SpinError> {
    let n = model.n();
    check_betas("betas", o.betas)?;
    let r = o.betas.len();
    if o.n_sets == 0 || o.n_sets > 1024 {
        return Err(SpinError::invalid("n_sets", "must be between 1 and 1024"));
    }
    if o.num_sweeps == 0 {
        return Err(SpinError::invalid("num_sweeps", "must be >= 1"));
    }
    if o.thin == 0 {
        return Err(SpinError::invalid("thin", "must be >= 1"));
    }
    let n_meas = o.num_sweeps / o.thin;
    let slots = o.n_sets * r;
    let n_pairs = o.n_sets / 2;
    if o.record_states {
        let bytes = (n_meas as u128) * (slots as u128) * (n as u128);
        if bytes > 1 << 30 {
            return Err(SpinError::TooLarge {
                arg: "record_states",
                what: "the recorded states (n_meas x n_sets x R x n bytes)",
                n: bytes.min(u64::MAX as u128) as u64,
                limit: 1 << 30,
            });
        }
    }
    let meas_len = (n_meas as u128) * (slots as u128);
    if meas_len > 1 << 28 {
        return Err(SpinError::TooLarge {
            arg: "num_sweeps",
            what: "the number of measurements (num_sweeps / thin x n_sets x R)",
            n: meas_len.min(u64::MAX as u128) as u64,
            limit: 1 << 28,
        });
    }
    let parallel = n * slots >= 2048;
    with_threads(o.threads, || {
        let mut reps: Vec<Replica<C::R>> = (0..slots)
            .map(|k| {
                let mut rng = SplitMix64::new(o.seed, k as u64);
                let s = random_state(&mut rng, n);
                let mut phi = vec![C::R::default(); n];
                model.fields(&s, &mut phi);
                let e = model.energy(&s);
                Replica { s, phi, e, rng }
            })
            .collect();
        let mut swap_rng: Vec<SplitMix64> = (0..o.n_sets)
            .map(|a| SplitMix64::new(o.seed, (1u64 << 32) + a as u64))
            .collect();
        let mut tried = vec![0u64; r.saturating_sub(1)];
        let mut acc = vec![0u64; r.saturating_sub(1)];
        let mut res = TemperingResult {
            n_meas,
            energies: Vec::with_capacity(n_meas * slots),
            magnetizations: Vec::with_capacity(n_meas * slots),
            overlaps: Vec::with_capacity(n_meas * n_pairs * r),
            states: Vec::new(),
            swap_acceptance: Vec::new(),
            best_state: reps[0].s.clone(),
            best_energy: reps[0].e,
            final_states: Vec::new(),
        };
        let total = o.burn_in + n_meas * o.thin;
        // Progress unit: one round (a sweep of every replica and a swap pass).
        o.cancel.set_total(total as u64);
        let bound = model.integral_bound();
        let acceptors: Vec<Acceptor> = o
            .betas
            .iter()
            .map(|&b| Acceptor::new(o.rule, b, bound))
            .collect();
        for round in 0..total {
            o.cancel.check()?;
            o.cancel.advance(1);
            let step = |(k, rep): (usize, &mut Replica<C::R>)| {
                let (de, _) = sweep(
                    model,
                    None,
                    &mut rep.s,
                    &mut rep.phi,
                    &acceptors[k % r],
                    Order::Sequential,
                    &mut rep.rng,
                );
                rep.e += de;
                if (round + 1).is_multiple_of(1000) {
                    model.fields(&rep.s, &mut rep.phi);
                    rep.e = model.energy(&rep.s);
                }
            };
            if parallel {
                reps.par_iter_mut().enumerate().for_each(step);
            } else {
                reps.iter_mut().enumerate().for_each(step);
            }
            for (a, srng) in swap_rng.iter_mut().enumerate() {
                let mut k = round % 2;
                while k + 1 < r {
                    let (i, j) = (a * r + k, a * r + k + 1);
                    let d = (o.betas[k] - o.betas[k + 1]) * (reps[i].e - reps[j].e);
                    tried[k] += 1;
                    if d >= 0.0 || srng.next_f64() < d.exp() {
                        reps.swap(i, j);
                        // The random streams stay with the slot (temperature), not the state.
                        let (lo, hi) = reps.split_at_mut(j);
                        std::mem::swap(&mut lo[i].rng, &mut hi[0].rng);
                        acc[k] += 1;
                    }
                    k += 2;
                }
            }
            for rep in &reps {
                if rep.e < res.best_energy {
                    res.best_energy = rep.e;
                    res.best_state.copy_from_slice(&rep.s);
                }
            }
            if round >= o.burn_in && (round - o.burn_in + 1).is_multiple_of(o.thin) {
                for rep in &reps {
                    res.energies.push(rep.e);
                    res.magnetizations
                        .push(rep.s.iter().map(|&v| v as i64).sum::<i64>() as f64 / n as f64);
                }
                for p in 0..n_pairs {
                    for k in 0..r {
                        let (x, y) = (&reps[2 * p * r + k].s, &reps[(2 * p + 1) * r + k].s);
                        let q: i64 = x.iter().zip(y).map(|(&a, &b)| (a * b) as i64).sum();
                        res.overlaps.push(q as f64 / n as f64);
                    }
                }
                if o.record_states {
                    for rep in &reps {
                        res.states.extend_from_slice(&rep.s);
                    }
                }
            }
        }
        res.best_energy = model.energy(&res.best_state);
        res.swap_acceptance = tried
            .iter()
            .zip(&acc)
            .map(|(&t, &a)| if t == 0 { 0.0 } else { a as f64 / t as f64 })
            .collect();
        for rep in &reps {
            res.final_states.extend_from_slice(&rep.s);
        }
        Ok(res)
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spin::Dense;

    #[test]
    fn same_result_at_one_and_two_threads() {
        let n = 64;
        let mut g = SplitMix64::new(1, 1);
        let mut j = vec![0.0; n * n];
        for a in 0..n {
            for b in (a + 1)..n {
                let v = (g.next_f64() - 0.5) / 4.0;
                j[a * n + b] = v;
                j[b * n + a] = v;
            }
        }
        let h = vec![0.0; n];
        let m = Dense::new(&j, &h).unwrap();
        let betas = [0.2, 0.5, 1.0, 2.0];
        let mut o = TemperingOptions {
            betas: &betas,
            n_sets: 2,
            num_sweeps: 200,
            burn_in: 10,
            threads: Some(1),
            ..Default::default()
        };
        let a = tempering(&m, &o).unwrap();
        o.threads = Some(2);
        let b = tempering(&m, &o).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.overlaps.len(), 200 * 4);
        assert!(a.swap_acceptance.iter().all(|&p| p > 0.0 && p < 1.0));
    }
}
